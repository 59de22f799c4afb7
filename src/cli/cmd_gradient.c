/* pinode gradient DIR OUTDIR: loss and exact gradients of a problem directory. */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auto.h"
#include "cli.h"
#include "memory.h"
#include "repeat.h"

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode gradient [options] DIR OUTDIR\n"
            "\n"
            "Reads the problem directory DIR (format: docs/formats.md) and writes\n"
            "OUTDIR/loss.txt, OUTDIR/grad_theta.txt and OUTDIR/grad_z0.txt (one number a line,\n"
            "17 significant digits), computed with the exact discrete adjoint (by default).\n"
            "Runs on any number of MPI ranks (the time interval is split across them).\n"
            "\n"
            "options:\n"
            "  --microbatches M   pipeline micro-batches (default: automatic)\n"
            "  --batch-groups G   split the ranks into G groups, each solving an even share\n"
            "                     of the batch on size/G ranks (default 1: all ranks split\n"
            "                     time); G must divide the rank count and be <= the batch\n"
            "  --storage S        trajectory storage: all (default), stages (all states and\n"
            "                     the network's values at every stage: nothing recomputed,\n"
            "                     the most memory), every:K (every K-th state), binomial:C\n"
            "                     (C checkpoints, optimal recomputation) or auto (stages if\n"
            "                     it fits and is estimated faster than all, else all if it\n"
            "                     fits, else the largest C that fits)\n"
            "  --memory SIZE      per-rank budget for the whole process, e.g. 256MB or 1.5G\n"
            "                     (K, M, G, T = powers of 1024); storage defaults to auto;\n"
            "                     a storage that does not fit is refused before it starts\n"
            "  --compare REFDIR   print the relative difference from REFDIR/{loss,grad_theta,\n"
            "                     grad_z0}.txt (e.g. DIR/ref) and fail if one exceeds --tol\n"
            "  --tol X            tolerance of --compare (default 1e-10)\n"
            "  --repeat R         then time R more gradients: median/min/max per gradient,\n"
            "                     per-rank phase times and memory (benchmarks)\n"
            "  --json FILE        with --repeat: also write those numbers to FILE as JSON\n"
            "  --adjoint A        discrete (default: the exact gradient), continuous-backsolve\n"
            "                     or continuous-interp (the optimise-then-discretise adjoint,\n"
            "                     off by O(h^q); see pinode gradcheck)\n"
            "  --sweep M          multi (default: one backward sweep) or single (one sweep\n"
            "                     per label, summed: K times dearer, a reference)\n"
            "  --parallel M       pipeline (default: exact, micro-batches), parareal\n"
            "                     (iterative, for few long trajectories), newton\n"
            "                     (Newton shooting: one to a few long trajectories on many\n"
            "                     ranks; exact when converged) or auto (the layout the\n"
            "                     performance model predicts fastest here, batch groups\n"
            "                     included, after a brief calibration; printed with every\n"
            "                     candidate's prediction); docs/parallel.md\n"
            "  --parareal-max-iter K  most Parareal iterations (default: the number of\n"
            "                     ranks, which is exact)\n"
            "  --parareal-tol X   stop when the block starts change by <= X (relative)\n"
            "  --coarse-steps N   steps of the coarse propagator per block (default: 1/10\n"
            "                     for Parareal, 1/16 for Newton's coarse starts)\n"
            "  --coarse-scheme S  scheme of the coarse propagator (default: the problem's)\n"
            "  --parareal-adjoint A  iterate (default: Parareal on the adjoint) or maps\n"
            "                     (each block's affine map, composed in one pass)\n"
            "  --newton-max-iter K  most Newton sweeps (default: the number of ranks, after\n"
            "                     which every block start is exact)\n"
            "  --newton-tol X     stop when the block starts' relative defects are <= X\n"
            "                     (default 1e-13: rounding level, the exact gradient)\n"
            "  --newton-start S   cold start: auto (coarse-newton), flat, coarse or\n"
            "                     coarse-newton\n"
            "  --newton-growth-limit X  fall back to the pipeline when a perturbation grows\n"
            "                     by more than X over the horizon (default 1e6)\n"
            "  --exact-distance   with parareal or newton: also compute the exact\n"
            "                     (pipeline) gradient and print the distance to it\n"
            "  --timeout S        stop the gradient on every rank once it has run S seconds\n"
            "                     (exit 1, nothing written); a rank that cannot stop\n"
            "                     (stopped, hung) makes the others exit 10 s + S/10 later\n"
            "  --force            write into OUTDIR even if it exists and is not empty\n"
            "                     (its loss.txt, grad_theta.txt, grad_z0.txt are replaced)\n"
            "  --quiet            print nothing on success\n"
            "  -h, --help         this text\n"
            "\n"
            "Options that set what a training configuration key sets are named after it\n"
            "(--parareal-max-iter: parallel.parareal_max_iter).  Deprecated spellings, still\n"
            "accepted: --mode (--sweep), --parareal-iters, --newton-iters, --newton-growth.\n");
  cli_print(ctx, "%s", cli_exit_status_help);
}

static double norm2(const double *x, size_t n)
{
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += x[i] * x[i];
  return sqrt(s);
}

/* Print the agreement table against reference outputs; fail above tol. */
static int compare(pn_ctx *ctx, const char *refdir, double tol, double loss, const double *grad,
                   const pn_problem *p)
{
  const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
  const size_t lens[3] = {1, np, nz};
  double err[3];
  CLI_TRY(cli_ref_distance(ctx, refdir, loss, grad, np, nz, err));
  int worst_ok = 1;
  cli_print(ctx, "\n%-16s %10s %24s\n", "output", "entries", "relative difference");
  for (int i = 0; i < 3; i++) {
    cli_print(ctx, "%-16s %10zu %24.3e %s\n", cli_ref_files[i], lens[i], err[i],
              err[i] <= tol ? "ok" : "TOO LARGE");
    if (!(err[i] <= tol)) worst_ok = 0;
  }
  if (worst_ok) return PN_OK;
  return pn_ctx_fail(ctx, PN_ERR_ARG, "the gradient differs from %s by more than %.1e", refdir, tol);
}

/* A method other than the default says so, and backsolve reports how far its
 * backward-integrated z drifted from the forward states (largest over the
 * ranks' blocks) — on stderr as a warning when large, even with --quiet. */
static void report_method(MPI_Comm comm, pn_ctx *ctx, const pn_solver *S,
                          pn_adjoint_kind adjoint, pn_sweep_mode mode, int quiet)
{
  pn_stats st;
  pn_solver_get_stats(S, &st);
  struct {
    double err;
    int rank;
  } drift = {st.backsolve_z_err, pn_ctx_rank(ctx)};
  MPI_Allreduce(MPI_IN_PLACE, &drift, 1, MPI_DOUBLE_INT, MPI_MAXLOC, comm);
  if (!quiet && (adjoint != PN_ADJOINT_DISCRETE || mode != PN_SWEEP_MULTI))
    cli_print(ctx, "method: %s adjoint, %s-point%s\n", pn_adjoint_kind_name(adjoint),
              pn_sweep_mode_name(mode),
              adjoint == PN_ADJOINT_DISCRETE ? "" : " (not the exact gradient of the solver)");
  if (adjoint != PN_ADJOINT_CONTINUOUS_BACKSOLVE) return;
  if (!quiet)
    cli_print(ctx, "backsolve drift of z: %.3e relative (largest, in the block of rank %d)\n",
              drift.err, drift.rank);
  if (pn_ctx_rank(ctx) == 0 && drift.err > 1e-6)
    fprintf(stderr, "pinode gradient: warning: backsolve's z drifted from the forward states by "
                    "%.1e relative (block of rank %d): its gradient is unreliable here\n",
            drift.err, drift.rank);
}

/* The pipeline's (exact) gradient of the same problem, and how far the
 * computed one is from it: Parareal stopped at a tolerance is not exact. */
static int distance_to_exact(pn_ctx *ctx, const cli_setup *s, double loss, const double *grad)
{
  const pn_problem *p = s->problem;
  const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
  pn_solver_opts opts = *pn_solver_get_opts(s->solver);
  opts.method = PN_PARALLEL_PIPELINE;
  pn_solver *exact = NULL;
  double *g = calloc(np + nz + 1, sizeof(double)), L = 0.0;
  int rc = g ? pn_solver_create(ctx, s->model, s->tab, &opts, &exact) : PN_ERR_MEM;
  if (rc == PN_OK)
    rc = pn_solver_gradient(exact, p->theta, p->batch, p->z0, s->loss, &L, g, g + np);
  if (rc == PN_OK)
    cli_print(ctx, "distance to the exact gradient: loss %.3e, dL/dtheta %.3e, dL/dz0 %.3e "
                   "(relative)\n",
              fabs(loss - L) / fmax(fabs(L), 1e-300), cli_rel_dist(grad, g, np),
              cli_rel_dist(grad + np, g + np, nz));
  pn_solver_destroy(&exact);
  free(g);
  return rc;
}

/* OUTDIR, as train and predict treat theirs: an existing one that is not
 * empty is refused before anything is computed, unless --force.  Collective. */
static int check_outdir(pn_ctx *ctx, const char *outdir, int force)
{
  int rc = PN_OK;
  DIR *d = pn_ctx_rank(ctx) == 0 && !force ? opendir(outdir) : NULL;
  for (struct dirent *e; d && rc == PN_OK && (e = readdir(d));)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      rc = pn_ctx_fail(ctx, PN_ERR_IO,
                       "OUTDIR %s exists and is not empty (it holds %s); nothing was computed or "
                       "overwritten: choose another OUTDIR, or pass --force to replace its "
                       "results",
                       outdir, e->d_name);
  if (d) closedir(d);
  return pn_ctx_agree(ctx, rc);
}

/* A loss or gradient that overflowed is an error, as in training: the
 * states stayed finite (the solver checks them) but the squared error or
 * its derivative did not.  Not collective (the values are the same on
 * every rank). */
static int check_finite(pn_ctx *ctx, double loss, const double *grad, size_t np, size_t nz)
{
  if (!isfinite(loss))
    return pn_ctx_fail(ctx, PN_ERR_NONFINITE,
                       "the loss is %g: the squared error overflowed (states and targets far "
                       "apart, or huge); nothing was written",
                       loss);
  for (size_t i = 0; i < np + nz; i++)
    if (!isfinite(grad[i]))
      return pn_ctx_fail(ctx, PN_ERR_NONFINITE, "%s[%zu] is %g: the gradient overflowed; nothing "
                                                "was written",
                         i < np ? "dL/dtheta" : "dL/dz0", i < np ? i : i - np, grad[i]);
  return PN_OK;
}

/* --parallel auto: the layout the model predicts fastest for DIR on these
 * ranks, into *opts (gradients by other methods than the discrete
 * multi-point adjoint leave only the pipeline and batch groups). */
static int choose_layout(MPI_Comm comm, pn_ctx *ctx, const char *dir, int iterative, int quiet,
                         pn_solver_opts *opts)
{
  pn_problem *p = NULL;
  CLI_TRY(pn_problem_read(ctx, dir, &p));
  const cli_auto_request req = {p, iterative, quiet, CLI_AUTO_OPTIONS, "gradient"};
  const int rc = cli_auto_choose(comm, ctx, &req, opts);
  pn_problem_destroy(&p);
  return rc;
}

/* An option's integer >= 1 into *out; else a message naming it, and 0. */
static int count_option(pn_ctx *ctx, const char *name, const char *text, int *out)
{
  long v = 0;
  if (!cli_parse_long(text, 1, 1000000000, &v)) {
    cli_print(ctx, "pinode gradient: %s needs an integer >= 1, got '%s'\n", name, text);
    return 0;
  }
  *out = (int)v;
  return 1;
}

/* The gradient under the watchdog of --timeout (none if timeout is 0). */
static int timed_gradient(MPI_Comm comm, pn_ctx *ctx, const cli_setup *s, pn_adjoint_kind adjoint,
                          pn_sweep_mode mode, double timeout, double *loss, double *grad)
{
  const pn_problem *p = s->problem;
  if (timeout > 0) {
    cli_signals_install();
    pn_ctx_set_interrupt(ctx, cli_interrupt_poll, NULL);
    cli_watchdog_start(timeout, "the gradient", pn_ctx_rank(ctx));
  }
  int rc = pn_solver_gradient_method(s->solver, adjoint, mode, p->theta, p->batch, p->z0, s->loss,
                                     loss, grad, grad + p->nparam);
  if (timeout > 0) {
    cli_watchdog_stop();
    if (rc == PN_ERR_INTERRUPTED && cli_stop_reason(comm) == CLI_STOP_TIMEOUT)
      rc = pn_ctx_fail(ctx, PN_ERR_INTERRUPTED,
                       "the gradient took longer than --timeout %g s: stopped on every rank, "
                       "nothing written", timeout);
    pn_ctx_set_interrupt(ctx, NULL, NULL);
    cli_signals_restore();
  }
  return rc;
}

int cmd_gradient(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv)
{
  static const struct option longopts[] = {{"microbatches", required_argument, NULL, 'm'},
                                           {"batch-groups", required_argument, NULL, 'G'},
                                           {"storage", required_argument, NULL, 's'},
                                           {"memory", required_argument, NULL, 'B'},
                                           {"quiet", no_argument, NULL, 'q'},
                                           {"compare", required_argument, NULL, 'c'},
                                           {"tol", required_argument, NULL, 't'},
                                           {"repeat", required_argument, NULL, 'r'},
                                           {"json", required_argument, NULL, 'j'},
                                           {"adjoint", required_argument, NULL, 'a'},
                                           {"sweep", required_argument, NULL, 'M'},
                                           {"parallel", required_argument, NULL, 'P'},
                                           {"parareal-max-iter", required_argument, NULL, 'I'},
                                           {"parareal-tol", required_argument, NULL, 'T'},
                                           {"coarse-steps", required_argument, NULL, 'C'},
                                           {"coarse-scheme", required_argument, NULL, 'S'},
                                           {"parareal-adjoint", required_argument, NULL, 'A'},
                                           {"newton-max-iter", required_argument, NULL, 'K'},
                                           {"newton-tol", required_argument, NULL, 'X'},
                                           {"newton-start", required_argument, NULL, 'W'},
                                           {"newton-growth-limit", required_argument, NULL, 'Y'},
                                           {"exact-distance", no_argument, NULL, 'E'},
                                           {"force", no_argument, NULL, 'F'},
                                           {"timeout", required_argument, NULL, 'O'},
                                           {"help", no_argument, NULL, 'h'},
                                           /* deprecated spellings (docs/configuration.md) */
                                           {"mode", required_argument, NULL, 'M'},
                                           {"parareal-iters", required_argument, NULL, 'I'},
                                           {"newton-iters", required_argument, NULL, 'K'},
                                           {"newton-growth", required_argument, NULL, 'Y'},
                                           {NULL, 0, NULL, 0}};
  pn_adjoint_kind adjoint = PN_ADJOINT_DISCRETE;
  pn_sweep_mode mode = PN_SWEEP_MULTI;
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  int quiet = 0, c, exact_distance = 0, auto_layout = 0, force = 0;
  const char *refdir = NULL, *json = NULL;
  int repeat = 0, storage_given = 0;
  size_t budget = 0;
  double tol = 1e-10, timeout = 0.0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'm':
      if (!count_option(ctx, "--microbatches", optarg, &opts.microbatches)) return 2;
      break;
    case 'G':
      if (!count_option(ctx, "--batch-groups", optarg, &opts.batch_groups)) return 2;
      break;
    case 's':
      if (cli_parse_storage(optarg, &opts) != PN_OK) {
        cli_print(ctx, "pinode gradient: --storage must be " CLI_STORAGE_NAMES ", got '%s'\n",
                  optarg);
        return 2;
      }
      storage_given = 1;
      break;
    case 'B':
      if (cli_parse_size(optarg, &budget) != PN_OK) {
        cli_print(ctx, "pinode gradient: --memory needs a size such as 256MB, 1.5G or 1048576, "
                       "got '%s'\n", optarg);
        return 2;
      }
      break;
    case 'q':
      quiet = 1;
      break;
    case 'c':
      refdir = optarg;
      break;
    case 't':
      if (!cli_parse_double(optarg, &tol) || !(tol > 0)) {
        cli_print(ctx, "pinode gradient: --tol needs a positive number, got '%s'\n", optarg);
        return 2;
      }
      break;
    case 'r': {
      long v = 0;
      if (!cli_parse_long(optarg, 1, 100000, &v)) {
        cli_print(ctx, "pinode gradient: --repeat needs an integer in 1..100000, got '%s'\n", optarg);
        return 2;
      }
      repeat = (int)v;
      break;
    }
    case 'j':
      json = optarg;
      break;
    case 'a':
      if (pn_adjoint_kind_from_name(optarg, &adjoint) != PN_OK) {
        cli_print(ctx, "pinode gradient: --adjoint must be discrete, continuous-backsolve or "
                       "continuous-interp, got '%s'\n", optarg);
        return 2;
      }
      break;
    case 'M':
      if (pn_sweep_mode_from_name(optarg, &mode) != PN_OK) {
        cli_print(ctx, "pinode gradient: --sweep must be multi or single, got '%s'\n", optarg);
        return 2;
      }
      break;
    case 'P':
      if (strcmp(optarg, "auto") == 0) {
        auto_layout = 1;
        break;
      }
      /* fall through */
    case 'I':
    case 'T':
    case 'C':
    case 'S':
    case 'A':
    case 'K':
    case 'X':
    case 'W':
    case 'Y':
      if (cli_parse_parallel_option(c, optarg, &opts) != PN_OK) {
        cli_print(ctx, "pinode gradient: %s\n", cli_parallel_option_help(c, optarg));
        return 2;
      }
      break;
    case 'E':
      exact_distance = 1;
      break;
    case 'F':
      force = 1;
      break;
    case 'O':
      if (!cli_parse_double(optarg, &timeout) || !(timeout > 0) || timeout > 1e9) {
        cli_print(ctx, "pinode gradient: --timeout needs a number of seconds in (0, 1e9], got "
                       "'%s'\n", optarg);
        return 2;
      }
      break;
    case 'h':
      usage(ctx);
      return 0;
    default:
      usage(ctx);
      return 2;
    }
  }
  if (argc - optind != 2) {
    usage(ctx);
    return cli_usage_error(ctx, "gradient", "DIR and OUTDIR expected, got %d argument%s",
                           argc - optind, argc - optind == 1 ? "" : "s");
  }
  if (repeat > 0 && (adjoint != PN_ADJOINT_DISCRETE || mode != PN_SWEEP_MULTI)) {
    cli_print(ctx, "pinode gradient: --repeat times the default method only (discrete, multi)\n");
    return 2;
  }
  if (json && repeat == 0) {
    cli_print(ctx, "pinode gradient: --json needs --repeat\n");
    return 2;
  }
  if (budget > 0 && !storage_given) opts.storage = PN_STORE_AUTO;
  const char *dir = argv[optind], *outdir = argv[optind + 1];
  cli_setup s;
  memset(&s, 0, sizeof s);
  int rc = check_outdir(ctx, outdir, force);
  if (rc == PN_OK && auto_layout)
    rc = choose_layout(comm, ctx, dir, adjoint == PN_ADJOINT_DISCRETE && mode == PN_SWEEP_MULTI,
                       quiet, &opts);
  if (rc == PN_OK) rc = cli_setup_problem(ctx, dir, &opts, &s);
  if (rc == PN_OK && budget > 0) rc = cli_fit_budget(comm, ctx, &s, budget);
  double *grad = NULL, loss = 0.0;
  const pn_problem *p = s.problem;
  if (rc == PN_OK) {
    const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
    grad = calloc(np + nz + 1, sizeof(double));
    if (!grad) rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the gradient");
    const double t = MPI_Wtime();
    if (rc == PN_OK)
      rc = timed_gradient(comm, ctx, &s, adjoint, mode, timeout, &loss, grad);
    if (rc == PN_ERR_LIMIT && budget > 0) cli_budget_note(ctx, budget, s.solver);
    if (rc == PN_OK) rc = check_finite(ctx, loss, grad, np, nz);
    const double elapsed = MPI_Wtime() - t;
    int wrc = PN_OK;
    if (rc == PN_OK && pn_ctx_rank(ctx) == 0) {
      char path[4096];
      wrc = pn_mkdir_p(ctx, outdir);
      if (wrc == PN_OK) {
        snprintf(path, sizeof path, "%s/loss.txt", outdir);
        wrc = pn_write_numbers(ctx, path, &loss, 1);
      }
      if (wrc == PN_OK) {
        snprintf(path, sizeof path, "%s/grad_theta.txt", outdir);
        wrc = pn_write_numbers(ctx, path, grad, np);
      }
      if (wrc == PN_OK) {
        snprintf(path, sizeof path, "%s/grad_z0.txt", outdir);
        wrc = pn_write_numbers(ctx, path, grad + np, nz);
      }
    }
    if (rc == PN_OK) {
      int ok = wrc == PN_OK;
      MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
      if (!ok) rc = PN_ERR_IO;
    }
    if (rc == PN_OK && !quiet) {
      pn_stats st;
      pn_solver_get_stats(s.solver, &st);
      cli_print(ctx,
                "%s: %s, N = %ld, B = %d, %d ranks%s, %d micro-batches\n"
                "loss %.17g   |dL/dtheta| %.6e   |dL/dz0| %.6e\n"
                "time %.3f s (forward %.3f s, backward %.3f s on rank 0), peak RSS %.1f MB\n",
                dir, p->scheme, p->steps, p->batch, pn_ctx_size(ctx), cli_groups_text(&opts),
                st.microbatches, loss,
                norm2(grad, np), norm2(grad + np, nz), elapsed, st.time_forward, st.time_backward,
                (double)st.peak_rss_kb / 1024.0);
      cli_print_storage(ctx, s.solver);
    }
    if (rc == PN_OK) report_method(comm, ctx, s.solver, adjoint, mode, quiet);
    if (rc == PN_OK && !quiet && opts.method == PN_PARALLEL_PARAREAL)
      cli_report_parareal(comm, ctx, s.solver);
    if (rc == PN_OK && opts.method == PN_PARALLEL_NEWTON) {
      if (quiet) { /* a fallback is still said, on stderr */
        pn_stats st;
        pn_solver_get_stats(s.solver, &st);
        if (st.newton_fallback != PN_NEWTON_NO_FALLBACK) cli_report_newton(comm, ctx, s.solver);
      } else {
        cli_report_newton(comm, ctx, s.solver);
      }
    }
    if (rc == PN_OK && exact_distance) rc = distance_to_exact(ctx, &s, loss, grad);
  }
  if (rc == PN_OK && refdir) rc = compare(ctx, refdir, tol, loss, grad, s.problem);
  if (rc == PN_OK && repeat > 0)
    rc = cli_repeat_gradients(comm, ctx, &s, dir, repeat, json, quiet);
  free(grad);
  cli_setup_free(&s);
  return rc == PN_OK ? 0 : cli_fail(ctx, "gradient", rc);
}
