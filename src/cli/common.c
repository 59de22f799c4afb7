/* Helpers shared by the subcommands. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

void cli_print(pn_ctx *ctx, const char *fmt, ...)
{
  if (pn_ctx_rank(ctx) != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

const char cli_exit_status_help[] =
    "\n"
    "exit status (every command): 0 success; 1 failure, said on stderr (train: also a\n"
    "diverged run or a --timeout); 2 usage error; 3 train stopped by SIGTERM/SIGINT\n"
    "(within a solver step and 10 ms) after checkpointing its last completed iteration\n"
    "(the command that continues the run is printed)\n";

int cli_usage_error(pn_ctx *ctx, const char *cmd, const char *fmt, ...)
{
  if (pn_ctx_rank(ctx) != 0) return 2;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "pinode %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 2;
}

int cli_fail(pn_ctx *ctx, const char *cmd, int rc)
{
  if (pn_ctx_rank(ctx) == 0) fprintf(stderr, "pinode %s: %s\n", cmd, pn_ctx_last_error(ctx));
  (void)rc;
  return 1;
}

void cli_print_notes(pn_ctx *ctx)
{
  const char *s = pn_ctx_notes(ctx);
  while (pn_ctx_rank(ctx) == 0 && *s) {
    const size_t n = strcspn(s, "\n");
    fprintf(stderr, "pinode: note: %.*s\n", (int)n, s);
    s += n + (s[n] == '\n');
  }
  pn_ctx_clear_notes(ctx);
}

int cli_membuf_open(pn_ctx *ctx, cli_membuf *m, const char *path)
{
  m->text = NULL;
  m->len = 0;
  m->f = open_memstream(&m->text, &m->len);
  return m->f ? PN_OK : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for %s", path);
}

int cli_membuf_commit(pn_ctx *ctx, cli_membuf *m, const char *path)
{
  const int written = !ferror(m->f);
  const int ok = fclose(m->f) == 0 && written;
  const int rc = ok ? pn_write_file_atomic(ctx, path, m->text, m->len)
                    : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory writing %s", path);
  free(m->text);
  m->text = NULL;
  m->f = NULL;
  return rc;
}

int cli_setup_problem(pn_ctx *ctx, const char *dir, const pn_solver_opts *base, cli_setup *out)
{
  memset(out, 0, sizeof *out);
  int rc = pn_problem_read(ctx, dir, &out->problem);
  cli_print_notes(ctx);
  if (rc != PN_OK) return rc;
  const pn_problem *p = out->problem;
  if ((rc = pn_model_create_mlp(ctx, &p->spec, &out->model)) != PN_OK) return rc;
  if ((rc = pn_tableau_create(ctx, p->scheme, &out->tab)) != PN_OK) return rc;
  if ((rc = pn_loss_create_mse(ctx, p->nlabels, p->times, p->targets, NULL, p->batch, p->spec.dim,
                               &out->loss)) != PN_OK)
    return rc;
  pn_solver_opts opts = *base;
  opts.t0 = p->t0;
  opts.t1 = p->t1;
  opts.nsteps = p->steps;
  return pn_solver_create(ctx, out->model, out->tab, &opts, &out->solver);
}

void cli_setup_free(cli_setup *s)
{
  pn_solver_destroy(&s->solver);
  pn_loss_destroy(&s->loss);
  pn_tableau_destroy(&s->tab);
  pn_model_destroy(&s->model);
  pn_problem_destroy(&s->problem);
}

/* A positive count after "prefix:", e.g. every:K, binomial:C. */
static int parse_count(const char *text, const char *prefix, long *out)
{
  const size_t n = strlen(prefix);
  return strncmp(text, prefix, n) == 0 && cli_parse_long(text + n, 1, LONG_MAX - 1, out);
}

int cli_parse_long(const char *text, long lo, long hi, long *out)
{
  char *end = NULL;
  errno = 0;
  const long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno == ERANGE || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

int cli_parse_double(const char *text, double *out)
{
  char *end = NULL;
  const double v = strtod(text, &end);
  if (*text == '\0' || *end != '\0') return 0;
  *out = v;
  return 1;
}

int cli_parse_storage(const char *text, pn_solver_opts *opts)
{
  long k = 0;
  if (strcmp(text, "all") == 0 || strcmp(text, "auto") == 0 || strcmp(text, "stages") == 0) {
    opts->storage = text[1] == 'l' ? PN_STORE_ALL : text[1] == 'u' ? PN_STORE_AUTO : PN_STORE_STAGES;
    opts->storage_param = 0;
  } else if (parse_count(text, "every:", &k)) {
    opts->storage = PN_STORE_EVERY;
    opts->storage_param = k;
  } else if (parse_count(text, "binomial:", &k)) {
    opts->storage = PN_STORE_BINOMIAL;
    opts->storage_param = k;
  } else {
    return PN_ERR_ARG;
  }
  return PN_OK;
}

const char *cli_storage_text(pn_storage_kind kind, long param, char *buf, size_t len)
{
  if (kind == PN_STORE_EVERY) snprintf(buf, len, "every:%ld", param);
  else if (kind == PN_STORE_BINOMIAL) snprintf(buf, len, "binomial:%ld", param);
  else if (kind == PN_STORE_STAGES) snprintf(buf, len, "stages");
  else snprintf(buf, len, "%s", kind == PN_STORE_AUTO ? "auto" : "all");
  return buf;
}

int cli_parse_parallel_option(int which, const char *value, pn_solver_opts *opts)
{
  pn_parareal_opts *pr = &opts->parareal;
  pn_newton_opts *nt = &opts->newton;
  long k = 0;
  switch (which) {
  case 'P':
    return pn_parallel_method_from_name(value, &opts->method);
  case 'I':
    if (!cli_parse_long(value, 0, 1000000, &k)) return PN_ERR_ARG;
    pr->max_iter = (int)k;
    return PN_OK;
  case 'T':
    return cli_parse_double(value, &pr->tol) && pr->tol >= 0.0 && pr->tol < 1.0 ? PN_OK
                                                                               : PN_ERR_ARG;
  case 'C': /* the coarse propagator of Parareal and of Newton's coarse starts */
    if (!cli_parse_long(value, 0, LONG_MAX, &pr->coarse_steps)) return PN_ERR_ARG;
    nt->coarse_steps = pr->coarse_steps;
    return PN_OK;
  case 'A':
    return pn_parareal_adjoint_from_name(value, &pr->adjoint);
  case 'S':
    if (strlen(value) >= sizeof pr->coarse_scheme) return PN_ERR_ARG;
    snprintf(pr->coarse_scheme, sizeof pr->coarse_scheme, "%s", value);
    snprintf(nt->coarse_scheme, sizeof nt->coarse_scheme, "%s", value);
    return PN_OK;
  case 'K':
    if (!cli_parse_long(value, 0, 1000000, &k)) return PN_ERR_ARG;
    nt->max_iter = (int)k;
    return PN_OK;
  case 'X':
    return cli_parse_double(value, &nt->tol) && nt->tol >= 0.0 && nt->tol < 1.0 ? PN_OK
                                                                               : PN_ERR_ARG;
  case 'Y':
    return cli_parse_double(value, &nt->growth_limit) && nt->growth_limit >= 0.0 &&
                   isfinite(nt->growth_limit)
               ? PN_OK
               : PN_ERR_ARG;
  case 'W':
    return pn_newton_start_from_name(value, &nt->start);
  }
  return PN_ERR_ARG;
}

pn_solver_opts cli_opts_for_batch(const pn_solver_opts *o, int ranks, int batch)
{
  pn_solver_opts fit = *o;
  while (fit.batch_groups > 1 && (fit.batch_groups > batch || ranks % fit.batch_groups != 0))
    fit.batch_groups--;
  return fit;
}

const char *cli_groups_text(const pn_solver_opts *o)
{
  static char text[48];
  text[0] = '\0';
  if (o->batch_groups > 1) snprintf(text, sizeof text, " in %d batch groups", o->batch_groups);
  return text;
}

const char *cli_parallel_option_help(int which, const char *value)
{
  static char text[256];
  const char *what =
      which == 'P'   ? "--parallel must be pipeline, parareal, newton or auto"
      : which == 'I' ? "--parareal-max-iter needs an integer >= 0 (0: the number of ranks)"
      : which == 'T' ? "--parareal-tol needs a number in [0, 1)"
      : which == 'C' ? "--coarse-steps needs an integer >= 0 (0: the method's default)"
      : which == 'A' ? "--parareal-adjoint must be iterate or maps"
      : which == 'K' ? "--newton-max-iter needs an integer >= 0 (0: the number of ranks)"
      : which == 'X' ? "--newton-tol needs a number in [0, 1) (0: 1e-13)"
      : which == 'Y' ? "--newton-growth-limit needs a finite number >= 0 (0: 1e6)"
      : which == 'W' ? "--newton-start must be auto, flat, coarse or coarse-newton"
                     : "--coarse-scheme needs a scheme name (e.g. euler, heun, rk4)";
  snprintf(text, sizeof text, "%s, got '%s'", what, value);
  return text;
}

void cli_report_parareal(MPI_Comm comm, pn_ctx *ctx, const pn_solver *solver)
{
  pn_stats st;
  pn_solver_get_stats(solver, &st);
  const pn_solver_opts *o = pn_solver_get_opts(solver);
  double t[3] = {st.time_coarse, st.time_adjoint_map, (double)st.fine_sweeps_skipped}, tmax[3];
  MPI_Reduce(t, tmax, 3, MPI_DOUBLE, MPI_MAX, 0, comm);
  char hist[400] = "";
  size_t used = 0;
  for (int k = 0; k < st.parareal_iterations && k < PN_PARAREAL_HISTORY && used + 12 < sizeof hist; k++)
    used += (size_t)snprintf(hist + used, sizeof hist - used, "%s%.1e", k ? " " : "",
                             st.parareal_residual[k]);
  char ahist[400] = "";
  used = 0;
  for (int k = 0; k < st.parareal_adjoint_iterations && k < PN_PARAREAL_HISTORY && used + 12 < sizeof ahist; k++)
    used += (size_t)snprintf(ahist + used, sizeof ahist - used, "%s%.1e", k ? " " : "",
                             st.parareal_adjoint_residual[k]);
  if (o->parareal.adjoint == PN_PARAREAL_ADJOINT_MAPS)
    snprintf(ahist, sizeof ahist, "none (affine maps composed by a parallel prefix)");
  cli_print(ctx,
            "parareal: %d iterations (limit %d, tol %.1e), residual per iteration: %s\n"
            "          adjoint (%s): %d iterations, residuals: %s\n"
            "          coarse %s, %ld steps per block; slowest rank: %.3f s in G, %.3f s building "
            "adjoint maps\n",
            st.parareal_iterations, o->parareal.max_iter > 0 ? o->parareal.max_iter : pn_ctx_size(ctx),
            o->parareal.tol, hist, pn_parareal_adjoint_name(o->parareal.adjoint),
            st.parareal_adjoint_iterations, ahist,
            o->parareal.coarse_scheme[0] ? o->parareal.coarse_scheme : "(fine scheme)",
            st.parareal_iterations > 0 ? st.coarse_steps : 0, tmax[0], tmax[1]);
}

void cli_report_newton(MPI_Comm comm, pn_ctx *ctx, const pn_solver *solver)
{
  pn_stats st;
  pn_solver_get_stats(solver, &st);
  const pn_solver_opts *o = pn_solver_get_opts(solver);
  double t[2] = {st.time_scan, st.time_wait}, tmax[2];
  MPI_Reduce(t, tmax, 2, MPI_DOUBLE, MPI_MAX, 0, comm);
  char hist[400] = "";
  size_t used = 0;
  for (int k = 0; k < st.newton_iterations && k < PN_PARAREAL_HISTORY && used + 12 < sizeof hist; k++)
    used += (size_t)snprintf(hist + used, sizeof hist - used, "%s%.1e", k ? " " : "",
                             st.newton_defect[k]);
  if (st.newton_fallback != PN_NEWTON_NO_FALLBACK) {
    if (pn_ctx_rank(ctx) == 0)
      fprintf(stderr, "pinode: warning: Newton shooting fell back to the pipeline for this "
                      "gradient (%s; defects per sweep: %s); the gradient is the pipeline's, "
                      "exact\n",
              pn_newton_fallback_text(st.newton_fallback), hist);
    return;
  }
  if (pn_ctx_size(ctx) == 1) {
    cli_print(ctx, "newton: one rank: the serial sweep (no tangents)\n");
    return;
  }
  char start[96];
  if (st.newton_warm) snprintf(start, sizeof start, "warm (the previous call's block starts)");
  else snprintf(start, sizeof start, "cold, %s", pn_newton_start_name(st.newton_start));
  if (st.newton_coarse_iterations > 0) {
    const size_t n = strlen(start);
    snprintf(start + n, sizeof start - n, ", %d coarse sweeps", st.newton_coarse_iterations);
  }
  cli_print(ctx,
            "newton: %d sweeps with tangents (limit %d, tol %.1e), largest relative defect per "
            "sweep: %s\n"
            "        start %s; growth of a perturbation %.3g; slowest rank: %.3f s in scans, "
            "%.3f s waiting\n",
            st.newton_iterations, o->newton.max_iter > 0 ? o->newton.max_iter : pn_ctx_size(ctx),
            o->newton.tol > 0 ? o->newton.tol : 1e-13, hist, start, st.newton_growth, tmax[0],
            tmax[1]);
}

static int cmp_double(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double cli_median(double *x, int n)
{
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

double cli_rel_dist(const double *a, const double *b, size_t n)
{
  double d = 0.0, r = 0.0;
  for (size_t i = 0; i < n; i++) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    r += b[i] * b[i];
  }
  return r > 0 ? sqrt(d / r) : sqrt(d);
}

const char *const cli_ref_files[3] = {"loss.txt", "grad_theta.txt", "grad_z0.txt"};

int cli_ref_distance(pn_ctx *ctx, const char *refdir, double loss, const double *grad, size_t np,
                     size_t nz, double err[3])
{
  const double *vals[3] = {&loss, grad, grad + np};
  const size_t lens[3] = {1, np, nz};
  for (int i = 0; i < 3; i++) {
    char path[4096];
    double *ref = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s", refdir, cli_ref_files[i]);
    CLI_TRY(pn_read_numbers(ctx, path, (long)lens[i], &ref, &n));
    err[i] = cli_rel_dist(vals[i], ref, lens[i]);
    free(ref);
  }
  return PN_OK;
}

double cli_cpu_seconds(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_quiet_barrier(MPI_Comm comm)
{
  MPI_Request req;
  int done = 0;
  const struct timespec ms = {0, 1000000};
  MPI_Ibarrier(comm, &req);
  while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) nanosleep(&ms, NULL);
}

int cli_is_regular_file(MPI_Comm comm, const char *path)
{
  /* Rank 0 decides, so that every rank takes the same branch. */
  int yes = 0, rank = 0;
  struct stat st;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) yes = stat(path, &st) == 0 && S_ISREG(st.st_mode);
  MPI_Bcast(&yes, 1, MPI_INT, 0, comm);
  return yes;
}

int cli_is_h5(const char *path)
{
  const size_t n = strlen(path);
  return n > 3 && strcmp(path + n - 3, ".h5") == 0;
}

int cli_read_dataset(pn_ctx *ctx, const char *path, pn_dataset **out)
{
  return cli_is_h5(path) ? pn_h5_read_dataset(ctx, path, out) : pn_dataset_read_csv(ctx, path, out);
}
