/* pinode bench --model: the command (see perfmodel.h for its files): its
 * options, and the order of a run: calibrate on this machine, measure the
 * network, measure Parareal's and Newton's iterations if asked, predict the
 * table, validate, report. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfmodel.h"

/* ------------------------------- options --------------------------------- */

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode bench --model [options] DIR\n"
            "\n"
            "Predicts the time per gradient of the pipelined (exact), Parareal and Newton-shooting\n"
            "time-parallel modes for P = 1, 2, 4, ... ranks, for the problem directory DIR (or the same network\n"
            "with --steps/--batch), from what it measures on this machine: the time per step\n"
            "of a micro-batch of b samples (b = 1, 2, 4, ..., B), the fixed cost of a\n"
            "micro-batch, and, on 2 or more ranks, a ping-pong between ranks 0 and 1 (latency,\n"
            "bandwidth).  Prints speedup and parallel efficiency (strong scaling; weak scaling\n"
            "with N growing as P), the formulas and the assumptions.  Run it with 2 ranks on\n"
            "2 nodes to measure the network between nodes.\n"
            "\n"
            "options:\n"
            "  --steps N                model N steps (default: the problem's)\n"
            "  --batch B                model a batch of B samples (default: the problem's)\n"
            "  --microbatches M         micro-batches of the pipeline (default: the solver's\n"
            "                           automatic choice, round(sqrt((P-1)B/3))); the best M\n"
            "                           is also shown\n"
            "  --storage S              trajectory storage, as pinode gradient's (default all)\n"
            "  --max-ranks P            largest P of the table (default 4096)\n"
            "  --ranks P1,P2,...        the P of the table instead of powers of two\n"
            "  --parareal-iterations K[,K2,...] | measure\n"
            "                           Parareal iterations to converge: given, or measured by\n"
            "                           timed Parareal gradients of DIR on these ranks (>= 2;\n"
            "                           the same K then assumed for every P); without it, no\n"
            "                           Parareal prediction\n"
            "  --parareal-adjoint-iterations KA  (default: K; measured with 'measure')\n"
            "  --parareal-tol X         Parareal's tolerance in the measuring runs (default 0:\n"
            "                           until nothing changes, i.e. K = P)\n"
            "  --parareal-max-iter K    most Parareal iterations in the measuring runs\n"
            "                           (default 0: the number of ranks)\n"
            "  --parareal-adjoint A     iterate (default) or maps, as pinode gradient\n"
            "  --newton-iterations K[,KC] | measure\n"
            "                           Newton's fine sweeps K and coarse-Newton sweeps KC:\n"
            "                           given, or measured by timed cold Newton gradients of\n"
            "                           DIR on these ranks (>= 2); default K = 2 (a warm\n"
            "                           start's), KC = ceil(log2 P) + 1, said to be assumed\n"
            "  --coarse-scheme NAME     the coarse scheme of Parareal and of Newton's starts\n"
            "                           (default: the problem's)\n"
            "  --coarse-steps G         its steps per block (default: a tenth of the block for\n"
            "                           Parareal, a sixteenth for Newton)\n"
            "  --latency S              message latency in seconds instead of the ping-pong's\n"
            "  --bandwidth BYTES_PER_S  bandwidth instead of the ping-pong's\n"
            "  --repeat R               timed samples per measurement (default 7; the best\n"
            "                           of them is used, the cost without interference)\n"
            "  --validate               also time the real pipelined gradient of DIR on these\n"
            "                           ranks, and on 2 or more a cold Newton gradient, and\n"
            "                           compare them with the model (wall time; per-rank busy\n"
            "                           time when the node is oversubscribed)\n"
            "  --tol X                  the validation's tolerance (default 0.15)\n"
            "  --json FILE              write everything as JSON (rank 0)\n"
            "  --quiet                  print nothing\n"
            "  -h, --help               this text\n");
  cli_print(ctx, "%s", cli_exit_status_help);
}

/* A comma-separated list of integers in [lo, hi], at most cap of them. */
static int parse_list(const char *s, long lo, long hi, long *out, int cap, int *n)
{
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", s);
  *n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (*n >= cap || !cli_parse_long(tok, lo, hi, &out[*n])) return 0;
    (*n)++;
  }
  return *n > 0;
}

/* --parareal-iterations K[,K2,...], any of them "measure". */
static int parse_iterations(const char *s, pm_opts *o)
{
  char tmp[256], *save = NULL;
  long v = 0;
  snprintf(tmp, sizeof tmp, "%s", s);
  o->nK = 0;
  for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (strcmp(tok, "measure") == 0) {
      o->measure_K = 1;
    } else {
      if (o->nK >= PM_MAX_K - 1 || !cli_parse_long(tok, 1, 100000, &v)) return 0;
      o->K[o->nK++] = (int)v;
    }
  }
  return o->nK > 0 || o->measure_K;
}

/* --newton-iterations K[,Kc] or measure. */
static int parse_newton_iterations(const char *s, pm_opts *o)
{
  if (strcmp(s, "measure") == 0) {
    o->newton_measure = 1;
    return 1;
  }
  long v[2] = {0, 0};
  int n = 0;
  if (!parse_list(s, 0, 100000, v, 2, &n) || v[0] < 1) return 0;
  o->newton_K = (int)v[0];
  o->newton_Kc = n == 2 ? (int)v[1] : -1; /* −1: the default for each P */
  o->newton_given = 1;
  return 1;
}

/* One option's value into o; 0 if it is not valid. */
static int parse_value(int c, const char *arg, pm_opts *o)
{
  long v = 0;
  switch (c) {
  case 'n': return cli_parse_long(arg, 1, 1L << 40, &o->steps);
  case 'b':
    if (!cli_parse_long(arg, 1, 1L << 30, &v)) return 0;
    o->batch = (int)v;
    return 1;
  case 'm':
    if (!cli_parse_long(arg, 1, 1L << 30, &v)) return 0;
    o->microbatches = (int)v;
    return 1;
  case 's': return cli_parse_storage(arg, &o->solver) == PN_OK;
  case 'P': return cli_parse_long(arg, 1, 1L << 24, &o->max_ranks);
  case 'r': return parse_list(arg, 1, 1L << 24, o->ranks, PM_MAX_RANK_ROWS, &o->nranks);
  case 'k': return parse_iterations(arg, o);
  case 'N': return parse_newton_iterations(arg, o);
  case 'a':
    if (!cli_parse_long(arg, 1, 100000, &v)) return 0;
    o->KA_given = (int)v;
    return 1;
  case 'T': /* Parareal's settings in the measuring runs: as pinode gradient's */
  case 'I':
  case 'A':
  case 'S':
  case 'C': return cli_parse_parallel_option(c, arg, &o->solver) == PN_OK;
  case 'L': return cli_parse_double(arg, &o->latency) && o->latency > 0 && isfinite(o->latency);
  case 'W':
    return cli_parse_double(arg, &o->bandwidth) && o->bandwidth > 0 && isfinite(o->bandwidth);
  case 'R':
    if (!cli_parse_long(arg, 1, 1000, &v)) return 0;
    o->repeat = (int)v;
    return 1;
  case 't': return cli_parse_double(arg, &o->tol) && o->tol > 0;
  case 'j': o->json = arg; return 1;
  }
  return 0;
}

/* Returns −1 to go on, or an exit status. */
static int parse_opts(pn_ctx *ctx, int argc, char **argv, pm_opts *o)
{
  static const struct option longopts[] = {
      {"model", no_argument, NULL, 'Z'},
      {"steps", required_argument, NULL, 'n'},
      {"batch", required_argument, NULL, 'b'},
      {"microbatches", required_argument, NULL, 'm'},
      {"storage", required_argument, NULL, 's'},
      {"max-ranks", required_argument, NULL, 'P'},
      {"ranks", required_argument, NULL, 'r'},
      {"parareal-iterations", required_argument, NULL, 'k'},
      {"parareal-adjoint-iterations", required_argument, NULL, 'a'},
      {"parareal-tol", required_argument, NULL, 'T'},
      {"parareal-max-iter", required_argument, NULL, 'I'},
      {"parareal-adjoint", required_argument, NULL, 'A'},
      {"newton-iterations", required_argument, NULL, 'N'},
      {"coarse-scheme", required_argument, NULL, 'S'},
      {"coarse-steps", required_argument, NULL, 'C'},
      {"latency", required_argument, NULL, 'L'},
      {"bandwidth", required_argument, NULL, 'W'},
      {"repeat", required_argument, NULL, 'R'},
      {"validate", no_argument, NULL, 'V'},
      {"tol", required_argument, NULL, 't'},
      {"json", required_argument, NULL, 'j'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  pn_solver_opts_default(&o->solver);
  o->newton_Kc = -1;
  o->max_ranks = 4096;
  o->repeat = 7;
  o->tol = 0.15;
  int c, li = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
    if (c == 'Z') continue;
    if (c == 'V' || c == 'q') {
      *(c == 'V' ? &o->do_validate : &o->quiet) = 1;
      continue;
    }
    if (c == 'h' || c == '?') {
      usage(ctx);
      return c == 'h' ? 0 : 2;
    }
    if (!parse_value(c, optarg, o)) {
      cli_print(ctx, "pinode bench --model: invalid value '%s' for --%s (see --help)\n", optarg,
                longopts[li].name);
      return 2;
    }
  }
  if (argc - optind != 1) {
    usage(ctx);
    return cli_usage_error(ctx, "bench --model", "one DIR expected, got %d argument%s",
                           argc - optind, argc - optind == 1 ? "" : "s");
  }
  o->dir = argv[optind];
  for (int i = 0; i < o->nK; i++) o->KA[i] = o->KA_given ? o->KA_given : o->K[i];
  return -1;
}

/* --------------------------------- a run ---------------------------------- */

static int cmp_long(const void *a, const void *b)
{
  const long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* The P of the table into Ps (P = 1 first, the serial reference); returns
 * how many. */
static int table_ranks(const pm_opts *o, int ranks, long Ps[PM_MAX_RANK_ROWS + 2])
{
  int nP = 0;
  Ps[nP++] = 1;
  if (o->nranks) {
    for (int i = 0; i < o->nranks; i++)
      if (o->ranks[i] != 1) Ps[nP++] = o->ranks[i];
    return nP;
  }
  for (long P = 2; P <= o->max_ranks && nP < PM_MAX_RANK_ROWS; P *= 2) Ps[nP++] = P;
  int have = 0;
  for (int i = 0; i < nP; i++) have |= Ps[i] == ranks;
  if (!have) Ps[nP++] = ranks;
  qsort(Ps, (size_t)nP, sizeof Ps[0], cmp_long);
  return nP;
}

/* Newton's K and K_c at P: given, measured, or the defaults. */
static void newton_iterations_at(const pm_opts *o, long P, int *K, int *Kc)
{
  *K = o->newton_K > 0 ? o->newton_K : pm_newton_default_K();
  *Kc = o->newton_Kc >= 0 ? o->newton_Kc : pm_newton_default_Kc(P);
}

/* The predictions of every row: pipeline (automatic or given M, the best M,
 * weak scaling), Parareal for each K and Newton. */
static int predict(pn_ctx *ctx, pm_run *r)
{
  const pm_opts *o = r->o;
  long Ps[PM_MAX_RANK_ROWS + 2];
  r->nrows = table_ranks(o, r->ranks, Ps);
  r->rows = calloc((size_t)r->nrows, sizeof *r->rows);
  r->par = calloc((size_t)(o->nK ? o->nK : 1) * (size_t)r->nrows, sizeof *r->par);
  if (!r->rows || !r->par)
    return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the table");
  const pm_model *m = &r->m;
  const long N = r->N;
  const int B = r->B;
  const double T1 = pm_pipe_time(m, N, 1, 1);
  for (int i = 0; i < r->nrows; i++) {
    pm_row *w = &r->rows[i];
    w->P = Ps[i];
    w->M = o->microbatches ? (o->microbatches < B ? o->microbatches : B)
                           : pn_pipeline_auto_microbatches((int)w->P, B);
    w->t = pm_pipe_time(m, N, w->P, w->M);
    w->speedup = T1 / w->t;
    w->eff = w->speedup / (double)w->P;
    w->best_M = isfinite(w->t) ? pm_best_microbatches(m, N, w->P, &w->best_t) : 0;
    if (!isfinite(w->t)) w->best_t = NAN;
    w->best_speedup = T1 / w->best_t;
    w->weak_t = pm_pipe_time(m, N * w->P, w->P, w->M);
    w->weak_eff = T1 / w->weak_t;
    for (int k = 0; k < o->nK; k++)
      r->par[(size_t)k * r->nrows + i] = pm_parareal_time(m, N, w->P, o->K[k], o->KA[k]);
    newton_iterations_at(o, w->P, &w->newton_K, &w->newton_Kc);
    w->newton_t = pm_newton_time(m, N, w->P, w->newton_K, w->newton_Kc);
    w->groups_G = pm_best_groups(m, N, w->P, &w->groups_M, &w->groups_t);
  }
  return PN_OK;
}

/* Everything measured here: host, calibration and network (given latency
 * and bandwidth replace the measured ones). */
static int measure(MPI_Comm comm, pn_ctx *ctx, pm_run *r)
{
  const pm_opts *o = r->o;
  const pn_problem *p = r->p;
  pm_read_host(comm, &r->host);
  /* and Newton's B·D tangent rows */
  const pm_cal_plan plan = {.bmax = r->B, .btangent = r->B * p->spec.dim, .bcap = PM_CAL_BMAX,
                            .share_coarse = 0,
                            .repeat = o->repeat, .min_sample = 8e-3};
  CLI_TRY(pm_calibrate(comm, ctx, p, r->coarse_scheme, &plan, &o->solver, &r->fine, &r->coarse));
  CLI_TRY(pm_measure_network(comm, ctx, p->nparam, o->repeat, 4194304.0, &r->net));
  pm_net *net = &r->net;
  net->L = net->measured ? net->L_meas : 0.0;
  net->W = net->measured ? net->W_meas : INFINITY;
  if (o->latency > 0) {
    net->L = o->latency;
    net->L_given = 1;
  }
  if (o->bandwidth > 0) {
    net->W = o->bandwidth;
    net->W_given = 1;
  }
  pm_net_rounds(net, p->nparam);
  return PN_OK;
}

/* The model of the problem as it is (not --steps, --batch): the validations'. */
static pm_model problem_model(const pm_run *r)
{
  pm_model m = r->m;
  m.B = r->p->batch;
  return m;
}

/* Parareal's iterations measured by timed Parareal gradients on these ranks
 * (they also validate its model); they become one more K of the table. */
static int measure_iterations(MPI_Comm comm, pn_ctx *ctx, pm_run *r, pm_opts *o)
{
  pn_solver_opts base = o->solver;
  base.method = PN_PARALLEL_PARAREAL;
  const pm_model mv = problem_model(r);
  CLI_TRY(pm_validate(comm, ctx, o->dir, &base, o->repeat, &mv, &r->host, o->tol, &r->vpar));
  o->K[o->nK] = r->vpar.K;
  o->KA[o->nK] = r->vpar.KA;
  o->K_measured[o->nK++] = 1;
  return PN_OK;
}

/* Newton's iterations measured by timed cold Newton gradients on these
 * ranks, which also validate its model; with --validate alone they validate
 * it and the table keeps the given or default iterations. */
static int measure_newton(MPI_Comm comm, pn_ctx *ctx, pm_run *r, pm_opts *o)
{
  pn_solver_opts base = o->solver;
  base.method = PN_PARALLEL_NEWTON;
  const pm_model mv = problem_model(r);
  CLI_TRY(pm_validate(comm, ctx, o->dir, &base, o->repeat, &mv, &r->host, o->tol, &r->vnewton));
  if (!o->newton_measure) return PN_OK;
  o->newton_K = r->vnewton.K;
  o->newton_Kc = r->vnewton.KA;
  r->m.newton_serial = r->vnewton.serial_start;
  return PN_OK;
}

static int run(MPI_Comm comm, pn_ctx *ctx, pm_opts *o, pm_run *r)
{
  const pn_problem *p = r->p;
  r->N = o->steps ? o->steps : p->steps;
  r->B = o->batch ? o->batch : p->batch;
  r->ranks = pn_ctx_size(ctx);
  r->coarse_scheme = o->solver.parareal.coarse_scheme[0] ? o->solver.parareal.coarse_scheme
                                                         : p->scheme;
  pn_tableau *probe = NULL;
  const int rc = pn_tableau_create(ctx, r->coarse_scheme, &probe); /* a clear error first */
  pn_tableau_destroy(&probe);
  CLI_TRY(rc);
  if (o->measure_K && r->ranks < 2)
    return pn_ctx_fail(ctx, PN_ERR_ARG, "--parareal-iterations measure needs 2 or more ranks "
                                        "(Parareal on one rank takes no iterations)");
  if (o->newton_measure && r->ranks < 2)
    return pn_ctx_fail(ctx, PN_ERR_ARG, "--newton-iterations measure needs 2 or more ranks "
                                        "(Newton on one rank is the serial sweep)");
  CLI_TRY(measure(comm, ctx, r));
  r->m = (pm_model){.fine = &r->fine, .coarse = &r->coarse, .net = &r->net, .B = r->B,
                    .D = p->spec.dim, .nparam = p->nparam,
                    .coarse_steps = o->solver.parareal.coarse_steps,
                    .maps = o->solver.parareal.adjoint == PN_PARAREAL_ADJOINT_MAPS,
                    .newton_coarse_steps = o->solver.newton.coarse_steps};
  if (o->measure_K) CLI_TRY(measure_iterations(comm, ctx, r, o));
  if (o->newton_measure || (o->do_validate && r->ranks >= 2))
    CLI_TRY(measure_newton(comm, ctx, r, o));
  CLI_TRY(predict(ctx, r));
  if (o->do_validate) {
    pn_solver_opts base = o->solver;
    base.microbatches = o->microbatches;
    const pm_model mv = problem_model(r);
    CLI_TRY(pm_validate(comm, ctx, o->dir, &base, o->repeat, &mv, &r->host, o->tol, &r->v));
  }
  if (!o->quiet) pm_print_report(ctx, r);
  if (!o->json) return PN_OK;
  int ok = pn_ctx_rank(ctx) != 0 || pm_write_json(ctx, r) == PN_OK;
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  if (ok) return PN_OK;
  return pn_ctx_rank(ctx) == 0 ? PN_ERR_IO
                               : pn_ctx_fail(ctx, PN_ERR_IO, "rank 0 could not write %s", o->json);
}

int cli_bench_model(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv)
{
  pm_opts o;
  const int status = parse_opts(ctx, argc, argv, &o);
  if (status >= 0) return status;
  pn_problem *p = NULL;
  pm_run r;
  memset(&r, 0, sizeof r);
  r.o = &o;
  int rc = pn_problem_read(ctx, o.dir, &p);
  r.p = p;
  if (rc == PN_OK) rc = run(comm, ctx, &o, &r);
  pm_validation_free(&r.v);
  pm_validation_free(&r.vpar);
  pm_validation_free(&r.vnewton);
  free(r.rows);
  free(r.par);
  pn_problem_destroy(&p);
  return rc == PN_OK ? 0 : cli_fail(ctx, "bench --model", rc);
}
