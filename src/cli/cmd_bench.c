/* pinode bench DIR...: the time per gradient of problem directories in the
 * configurations a user chooses (trajectory storage, micro-batches, batch
 * groups, parallel method), with the matrix-product flop rate, the peak
 * memory and the agreement with DIR/ref/, in one table (and as JSON).
 * `pinode bench --model` is the performance model (perfmodel.h).
 *
 * On one rank each storage configuration is timed.  Under mpiexec those run
 * on rank 0 alone while the other ranks sleep (they poll a non-blocking
 * barrier instead of spinning in MPI), so that rank 0 has the machine to
 * itself; then each problem is timed on all the ranks. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "memory.h"
#include "perfmodel.h"

enum { MAX_PROBLEMS = 16, MAX_STORAGE = 8, MAX_MICRO = 8 };
/* Per problem: the storage configurations and the checkpointed one on one
 * rank; the micro-batch counts, batch groups and Parareal on all ranks. */
enum { MAX_ROWS = MAX_PROBLEMS * (MAX_STORAGE + MAX_MICRO + 3) };

typedef struct bench_opts {
  const char *dirs[MAX_PROBLEMS];
  int nproblems;
  int repeat, warmup;
  int cpu_clock;                       /* time by this process's CPU time, not the wall clock */
  pn_solver_opts storage[MAX_STORAGE]; /* --storage: the one-rank configurations */
  int nstorage;
  double ckpt_mb;                      /* > 0: also automatic storage under this limit */
  int micro[MAX_MICRO], nmicro;        /* --microbatches: M of the all-rank rows (0: auto) */
  int batch_groups;                    /* all-rank rows: also one batch group per rank */
  unsigned methods;                    /* all-rank rows: bit m for pn_parallel_method m */
  pn_solver_opts parallel;             /* Parareal's settings (--parareal-* options) */
  const char *json;
} bench_opts;

/* One configuration of one problem, timed. */
typedef struct row {
  char problem[32], config[128];
  const char *dir;
  int storage_index;    /* of the --storage list; −1: the checkpointed configuration */
  pn_solver_opts opts;  /* as asked (microbatches 0: automatic) */
  int ranks;            /* 1: rank 0 alone */
  double med, min, max; /* seconds per gradient */
  double flops;         /* matrix-product flops per gradient, all ranks */
  double peak_mb;       /* peak resident memory (largest rank) */
  double err;           /* largest relative difference from DIR/ref/ (< 0: none) */
  int microbatches;     /* M the solver used */
  char storage[40];     /* the storage the solver used (auto resolved) */
  int batch;            /* the problem's batch */
} row;

typedef struct bench {
  MPI_Comm comm;      /* the program's */
  pn_ctx *world;      /* made from comm */
  pn_ctx *self;       /* rank 0 alone (made from MPI_COMM_SELF) */
  bench_opts o;
  row rows[MAX_ROWS];
  int nrows;
} bench;

/* ---- small helpers ------------------------------------------------------- */

/* The clock of the measurements: the wall clock, or --clock cpu. */
static double now(const bench *b) { return b->o.cpu_clock ? cli_cpu_seconds() : MPI_Wtime(); }

/* The last component of a path (the table's problem column). */
static void base_name(const char *path, char *buf, size_t len)
{
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  size_t i = n;
  while (i > 0 && path[i - 1] != '/') i--;
  snprintf(buf, len, "%.*s", (int)(n - i), path + i);
}

/* Run fn on rank 0 while the other ranks sleep; the status of rank 0 is
 * returned on every rank.  Collective on b->comm. */
typedef int (*solo_fn)(bench *b, void *arg);
static int solo(bench *b, solo_fn fn, void *arg)
{
  int rc = PN_OK;
  if (pn_ctx_rank(b->world) == 0) rc = fn(b, arg);
  cli_quiet_barrier(b->comm);
  MPI_Bcast(&rc, 1, MPI_INT, 0, b->comm);
  return rc;
}

/* ---- timing a configuration ------------------------------------------------ */

/* Largest relative difference of a gradient from DIR/ref/, or −1 if DIR has
 * no ref/ (a ref/ that cannot be read is said on stderr).  Rank-local. */
static double ref_error(pn_ctx *self, const char *dir, double loss, const double *grad, size_t np,
                        size_t nz)
{
  char refdir[4096];
  snprintf(refdir, sizeof refdir, "%s/ref", dir);
  if (access(refdir, F_OK) != 0) return -1.0;
  double err[3];
  if (cli_ref_distance(self, refdir, loss, grad, np, nz, err) != PN_OK) {
    fprintf(stderr, "pinode bench: warning: %s: %s\n", refdir, pn_ctx_last_error(self));
    return -1.0;
  }
  return fmax(err[0], fmax(err[1], err[2]));
}

/* Time `repeat` gradients (after `warmup`) of DIR with opts on the ranks of
 * comm (ctx made from it): each gradient's time is the slowest rank's,
 * between barriers.  Collective on comm; fills r on every rank. */
static int time_gradient(bench *b, MPI_Comm comm, pn_ctx *ctx, const char *dir,
                         const pn_solver_opts *opts, row *r)
{
  cli_setup s;
  cli_peak_reset();
  int rc = cli_setup_problem(ctx, dir, opts, &s);
  double *grad = NULL, *t = NULL, loss = 0.0;
  size_t np = 0, nz = 0;
  if (rc == PN_OK) {
    np = (size_t)s.problem->nparam;
    nz = (size_t)s.problem->batch * (size_t)s.problem->spec.dim;
    grad = malloc(sizeof(double) * (np + nz));
    t = malloc(sizeof(double) * (size_t)b->o.repeat);
    if (!grad || !t) rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the benchmark");
  }
  rc = pn_ctx_agree(ctx, rc);
  const pn_problem *p = s.problem;
  for (int i = 0; rc == PN_OK && i < b->o.warmup + b->o.repeat; i++) {
    MPI_Barrier(comm);
    const double f0 = pn_kernels_flops(), t0 = now(b);
    rc = pn_solver_gradient(s.solver, p->theta, p->batch, p->z0, s.loss, &loss, grad, grad + np);
    double dt = now(b) - t0, fl = pn_kernels_flops() - f0;
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, &fl, 1, MPI_DOUBLE, MPI_SUM, comm);
    if (i >= b->o.warmup) t[i - b->o.warmup] = dt;
    r->flops = fl;
  }
  if (rc == PN_OK) {
    pn_stats st;
    pn_solver_get_stats(s.solver, &st);
    r->microbatches = st.microbatches;
    cli_storage_text(st.storage, st.storage_param, r->storage, sizeof r->storage);
    r->batch = p->batch;
    r->med = cli_median(t, b->o.repeat); /* sorts t */
    r->min = t[0];
    r->max = t[b->o.repeat - 1];
    r->peak_mb = (double)cli_peak_bytes() / 1048576.0;
    MPI_Allreduce(MPI_IN_PLACE, &r->peak_mb, 1, MPI_DOUBLE, MPI_MAX, comm);
    r->err = pn_ctx_rank(ctx) == 0 ? ref_error(b->self, dir, loss, grad, np, nz) : -1.0;
  }
  free(grad);
  free(t);
  cli_setup_free(&s);
  return rc;
}

/* A row of problem j with the options it is timed with. */
static void row_init(const bench *b, int j, const pn_solver_opts *opts, int ranks, row *r)
{
  memset(r, 0, sizeof *r);
  r->dir = b->o.dirs[j];
  base_name(r->dir, r->problem, sizeof r->problem);
  r->storage_index = -1;
  r->opts = *opts;
  r->ranks = ranks;
  r->err = -1.0;
}

/* The configuration column: the storage used, by the name --storage takes
 * (what auto chose, and within which limit), then (on all ranks) the method
 * and the split of the work. */
static void label_row(row *r)
{
  char storage[80];
  const pn_solver_opts *o = &r->opts;
  snprintf(storage, sizeof storage, "%s", r->storage);
  if (o->storage == PN_STORE_AUTO && o->memory_limit > 0)
    snprintf(storage, sizeof storage, "%s (auto, %.0f MB)", r->storage,
             (double)o->memory_limit / 1048576.0);
  else if (o->storage == PN_STORE_AUTO)
    snprintf(storage, sizeof storage, "%s (auto)", r->storage);
  if (r->ranks == 1)
    snprintf(r->config, sizeof r->config, "%s, 1 rank", storage);
  else if (o->method != PN_PARALLEL_PIPELINE)
    snprintf(r->config, sizeof r->config, "%s %s, %d ranks", pn_parallel_method_name(o->method),
             storage, r->ranks);
  else if (o->batch_groups > 1)
    snprintf(r->config, sizeof r->config, "%s, %d ranks, G=%d", storage, r->ranks,
             o->batch_groups);
  else
    snprintf(r->config, sizeof r->config, "%s, %d ranks, M=%d", storage, r->ranks,
             r->microbatches);
}

/* Label, print and keep a timed row (rank 0). */
static void keep_row(bench *b, row *r)
{
  label_row(r);
  printf("  %-8s %-34s %9.4f s per gradient\n", r->problem, r->config, r->med);
  fflush(stdout);
  if (b->nrows < MAX_ROWS) b->rows[b->nrows++] = *r;
}

/* A one-rank configuration, on rank 0 (solo). */
typedef struct solo_config {
  int problem;
  int storage_index; /* of the --storage list; −1: checkpointed */
  pn_solver_opts opts;
} solo_config;

static int run_solo_config(bench *b, void *arg)
{
  const solo_config *c = arg;
  row r;
  row_init(b, c->problem, &c->opts, 1, &r);
  r.storage_index = c->storage_index;
  const int rc = time_gradient(b, MPI_COMM_SELF, b->self, r.dir, &c->opts, &r);
  if (rc != PN_OK) {
    fprintf(stderr, "pinode bench: %s: %s\n", r.dir, pn_ctx_last_error(b->self));
    return rc;
  }
  keep_row(b, &r);
  return PN_OK;
}

/* A configuration on all the ranks; rank 0 keeps the row.  *batch: the
 * problem's batch. */
static int run_ranks_config(bench *b, int j, const pn_solver_opts *opts, int *batch)
{
  row r;
  row_init(b, j, opts, pn_ctx_size(b->world), &r);
  CLI_TRY(time_gradient(b, b->comm, b->world, r.dir, opts, &r));
  *batch = r.batch;
  if (pn_ctx_rank(b->world) == 0) keep_row(b, &r);
  return PN_OK;
}

/* The storage configuration that was fastest on one rank for problem j
 * (rank 0 timed them; every rank learns it). */
static pn_solver_opts fastest_storage(bench *b, int j)
{
  int best = 0;
  double tbest = INFINITY;
  for (int i = 0; i < b->nrows; i++) {
    const row *r = &b->rows[i];
    if (r->dir == b->o.dirs[j] && r->ranks == 1 && r->storage_index >= 0 && r->med < tbest) {
      tbest = r->med;
      best = r->storage_index;
    }
  }
  MPI_Bcast(&best, 1, MPI_INT, 0, b->comm);
  return b->o.storage[best];
}

/* The rows on all the ranks with the storage that was fastest on one: the
 * pipeline in time with each micro-batch count asked for, then (if the batch
 * has a sample per rank) one batch group per rank, which splits the batch
 * instead of time, and a row for each other method asked for. */
static int bench_ranks(bench *b, int j)
{
  const int P = pn_ctx_size(b->world);
  pn_solver_opts opts = b->o.parallel;
  const pn_solver_opts storage = fastest_storage(b, j);
  opts.storage = storage.storage;
  opts.storage_param = storage.storage_param;
  int batch = 0; /* known after the first row */
  if (b->o.methods & 1u << PN_PARALLEL_PIPELINE) {
    opts.method = PN_PARALLEL_PIPELINE;
    for (int q = 0; q < b->o.nmicro; q++) {
      opts.microbatches = b->o.micro[q];
      CLI_TRY(run_ranks_config(b, j, &opts, &batch));
    }
    if (b->o.batch_groups && batch >= P) {
      opts.microbatches = 0;
      opts.batch_groups = P;
      CLI_TRY(run_ranks_config(b, j, &opts, &batch));
      opts.batch_groups = 1;
    }
  }
  opts.microbatches = 0;
  for (unsigned m = PN_PARALLEL_PIPELINE + 1; m < 32; m++) /* the iterative methods */
    if (b->o.methods & 1u << m) {
      opts.method = (pn_parallel_method)m;
      CLI_TRY(run_ranks_config(b, j, &opts, &batch));
    }
  return PN_OK;
}

static int bench_problem(bench *b, int j)
{
  solo_config c = {j, 0, b->o.storage[0]};
  for (int s = 0; s < b->o.nstorage; s++) {
    c.storage_index = s;
    c.opts = b->o.storage[s];
    CLI_TRY(solo(b, run_solo_config, &c));
  }
  if (b->o.ckpt_mb > 0) {
    c.storage_index = -1;
    pn_solver_opts_default(&c.opts);
    c.opts.storage = PN_STORE_AUTO;
    c.opts.memory_limit = (size_t)(b->o.ckpt_mb * 1048576.0);
    CLI_TRY(solo(b, run_solo_config, &c));
  }
  if (pn_ctx_size(b->world) > 1) CLI_TRY(bench_ranks(b, j));
  return PN_OK;
}

/* ---- report ------------------------------------------------------------------ */

static int print_header(bench *b, void *arg)
{
  (void)arg;
  char load[128] = "?\n", host[256] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (!fgets(load, sizeof load, f)) snprintf(load, sizeof load, "?\n");
    fclose(f);
  }
  gethostname(host, sizeof host - 1);
  const int P = pn_ctx_size(b->world);
  printf("pinode bench on %s, %d MPI rank%s, load average %s", host, P, P > 1 ? "s" : "", load);
  printf("pinode's products: %s, tanh: %s\n", pn_kernels_products(), pn_kernels_isa());
  fflush(stdout);
  return PN_OK;
}

static void print_table(const bench *b)
{
  const char *time_head = b->o.cpu_clock ? "CPU s per gradient: med [min-max]"
                                          : "time per gradient: median [min-max]";
  printf("\n%-8s %-34s %-30s %8s %8s %9s\n", "problem", "configuration", time_head, "GFLOP/s",
         "peak MB", "err vs");
  printf("%-8s %-34s %-30s %8s %8s %9s\n", "", "", "", "", "", "ref/");
  for (int i = 0; i < b->nrows; i++) {
    const row *r = &b->rows[i];
    char tbuf[64], gf[16] = "-", err[16] = "-";
    snprintf(tbuf, sizeof tbuf, "%.4f s [%.4f-%.4f]", r->med, r->min, r->max);
    if (r->flops > 0) snprintf(gf, sizeof gf, "%.1f", r->flops / r->med * 1e-9);
    if (r->err >= 0) snprintf(err, sizeof err, "%.1e", r->err);
    printf("%-8s %-34s %-30s %8s %8.1f %9s\n", r->problem, r->config, tbuf, gf, r->peak_mb, err);
  }
  fflush(stdout);
}

static void json_row(json_writer *w, const row *r)
{
  char storage[40];
  const pn_solver_opts *o = &r->opts;
  json_open(w, NULL, '{');
  json_string(w, "problem", r->problem);
  json_string(w, "dir", r->dir);
  json_string(w, "configuration", r->config);
  json_int(w, "ranks", r->ranks);
  cli_storage_text(o->storage, o->storage_param, storage, sizeof storage);
  json_string(w, "storage", storage);
  json_string(w, "storage_used", r->storage);
  json_number(w, "memory_limit_mb", (double)o->memory_limit / 1048576.0);
  json_string(w, "method", pn_parallel_method_name(o->method));
  json_int(w, "microbatches", r->microbatches);
  json_int(w, "batch_groups", o->batch_groups > 1 ? o->batch_groups : 1);
  json_int(w, "batch", r->batch);
  json_open(w, "time_per_gradient", '{');
  json_number(w, "median", r->med);
  json_number(w, "min", r->min);
  json_number(w, "max", r->max);
  json_close(w, '}');
  json_number(w, "flops_per_gradient", r->flops);
  json_number(w, "peak_mb", r->peak_mb);
  if (r->err >= 0) json_number(w, "ref_error", r->err);
  else json_null(w, "ref_error");
  json_close(w, '}');
}

/* The table as JSON (rank 0), written atomically. */
static int write_json(bench *b)
{
  cli_membuf m;
  CLI_TRY(cli_membuf_open(b->self, &m, b->o.json));
  json_writer w = {m.f, 0, {0}};
  json_open(&w, NULL, '{');
  json_string(&w, "kind", "pinode-bench");
  json_string(&w, "pinode_version", PN_VERSION_STRING);
  json_int(&w, "ranks", pn_ctx_size(b->world));
  json_string(&w, "clock", b->o.cpu_clock ? "process CPU time" : "wall");
  json_int(&w, "repeat", b->o.repeat);
  json_int(&w, "warmup", b->o.warmup);
  json_open(&w, "kernels", '{');
  json_string(&w, "products", pn_kernels_products());
  json_string(&w, "isa", pn_kernels_isa());
  json_close(&w, '}');
  json_open(&w, "rows", '[');
  for (int i = 0; i < b->nrows; i++) json_row(&w, &b->rows[i]);
  json_close(&w, ']');
  json_close(&w, '}');
  return cli_membuf_commit(b->self, &m, b->o.json);
}

/* ---- options ----------------------------------------------------------------- */

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode bench [options] DIR...\n"
            "       mpiexec -n P pinode bench [options] DIR...   (adds rows on all P ranks)\n"
            "       pinode bench --model --help                  (the performance model)\n"
            "\n"
            "Times the exact gradient of the problem directories DIR (format: docs/formats.md)\n"
            "and prints one table: time per gradient (median [min-max] over --repeat\n"
            "gradients), matrix-product flop rate (flops counted exactly by pinode's kernels),\n"
            "peak resident memory and, when DIR/ref/ holds loss.txt, grad_theta.txt and\n"
            "grad_z0.txt, the largest relative difference from them.  Each storage\n"
            "configuration runs on one rank (rank 0 alone under mpiexec); under mpiexec each\n"
            "problem is then timed on all the ranks with the storage that was fastest.\n"
            "\n"
            "options:\n"
            "  --repeat R         timed gradients per configuration (default 7)\n"
            "  --warmup W         untimed gradients before them (default 2)\n"
            "  --storage LIST     one-rank storage configurations, of stages (the adjoint\n"
            "                     recomputes nothing), all, every:K, binomial:C and auto\n"
            "                     (default stages,all)\n"
            "  --checkpoint-mb X  also storage auto under an X MB limit (default 32; 0: no);\n"
            "                     its row names what auto chose, as --storage takes it\n"
            "  --microbatches L   under mpiexec: micro-batch counts of the pipeline rows, a\n"
            "                     list of counts or auto (default auto)\n"
            "  --no-batch-groups  under mpiexec: no row with one batch group per rank (each\n"
            "                     rank its share of the batch over all the steps)\n"
            "  --parallel LIST    under mpiexec: the methods of the rows on all the ranks, a\n"
            "                     list of those of pinode gradient --parallel (default\n"
            "                     pipeline; one row each for the others)\n"
            "  --parareal-max-iter K, --parareal-tol X, --coarse-steps N, --coarse-scheme S,\n"
            "  --parareal-adjoint A   Parareal's settings, as in pinode gradient\n"
            "  --clock cpu        time by CPU time (on a loaded machine) instead of wall time\n"
            "  --json FILE        also write the table as JSON (rank 0)\n"
            "  -h, --help         this text\n");
  cli_print(ctx, "%s", cli_exit_status_help);
}

/* --storage LIST into o->storage. */
static const char *parse_storage_list(const char *text, bench_opts *o)
{
  static const char *const msg = "--storage needs a list of " CLI_STORAGE_NAMES;
  char buf[256], *save = NULL;
  snprintf(buf, sizeof buf, "%s", text);
  o->nstorage = 0;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (o->nstorage == MAX_STORAGE) return msg;
    pn_solver_opts *s = &o->storage[o->nstorage++];
    pn_solver_opts_default(s);
    if (cli_parse_storage(tok, s) != PN_OK) return msg;
  }
  return o->nstorage > 0 ? NULL : msg;
}

/* --microbatches L into o->micro. */
static const char *parse_micro_list(const char *text, bench_opts *o)
{
  static const char *const msg = "--microbatches needs a list of counts >= 1 or auto";
  char buf[128], *save = NULL;
  long v = 0;
  snprintf(buf, sizeof buf, "%s", text);
  o->nmicro = 0;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (o->nmicro == MAX_MICRO) return "--microbatches takes at most 8 values";
    if (strcmp(tok, "auto") == 0) o->micro[o->nmicro++] = 0;
    else if (cli_parse_long(tok, 1, 1 << 20, &v)) o->micro[o->nmicro++] = (int)v;
    else return msg;
  }
  return o->nmicro > 0 ? NULL : msg;
}

/* --parallel LIST into o->methods. */
static const char *parse_methods(const char *text, bench_opts *o)
{
  static const char *const msg = "--parallel needs a list of parallel methods (pipeline, ...)";
  char buf[128], *save = NULL;
  snprintf(buf, sizeof buf, "%s", text);
  o->methods = 0;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    pn_parallel_method m;
    if (pn_parallel_method_from_name(tok, &m) != PN_OK || (unsigned)m >= 32) return msg;
    o->methods |= 1u << m;
  }
  return o->methods ? NULL : msg;
}

/* One option with a value into o: NULL, or what is wrong with it. */
static const char *parse_value(int c, const char *arg, bench_opts *o)
{
  long v = 0;
  switch (c) {
  case 'r':
    if (!cli_parse_long(arg, 1, 10000, &v)) return "--repeat needs 1..10000";
    o->repeat = (int)v;
    return NULL;
  case 'w':
    if (!cli_parse_long(arg, 0, 10000, &v)) return "--warmup needs 0..10000";
    o->warmup = (int)v;
    return NULL;
  case 'c':
    if (!cli_parse_long(arg, 0, 1 << 20, &v)) return "--checkpoint-mb needs 0..1048576";
    o->ckpt_mb = (double)v;
    return NULL;
  case 'k':
    if (strcmp(arg, "cpu") != 0 && strcmp(arg, "wall") != 0) return "--clock needs cpu or wall";
    o->cpu_clock = arg[0] == 'c';
    return NULL;
  case 's': return parse_storage_list(arg, o);
  case 'm': return parse_micro_list(arg, o);
  case 'P': return parse_methods(arg, o);
  case 'I':
  case 'T':
  case 'C':
  case 'S':
  case 'A':
    return cli_parse_parallel_option(c, arg, &o->parallel) == PN_OK
               ? NULL
               : cli_parallel_option_help(c, arg);
  case 'j': o->json = arg; return NULL;
  }
  return "unknown option";
}

/* Returns −1 to go on, or an exit status. */
static int parse_options(pn_ctx *ctx, int argc, char **argv, bench_opts *o)
{
  static const struct option longopts[] = {{"repeat", required_argument, NULL, 'r'},
                                           {"warmup", required_argument, NULL, 'w'},
                                           {"storage", required_argument, NULL, 's'},
                                           {"checkpoint-mb", required_argument, NULL, 'c'},
                                           {"microbatches", required_argument, NULL, 'm'},
                                           {"no-batch-groups", no_argument, NULL, 'B'},
                                           {"parallel", required_argument, NULL, 'P'},
                                           {"parareal-max-iter", required_argument, NULL, 'I'},
                                           {"parareal-tol", required_argument, NULL, 'T'},
                                           {"coarse-steps", required_argument, NULL, 'C'},
                                           {"coarse-scheme", required_argument, NULL, 'S'},
                                           {"parareal-adjoint", required_argument, NULL, 'A'},
                                           {"clock", required_argument, NULL, 'k'},
                                           {"json", required_argument, NULL, 'j'},
                                           {"help", no_argument, NULL, 'h'},
                                           /* deprecated spellings (docs/configuration.md) */
                                           {"parareal-iters", required_argument, NULL, 'I'},
                                           {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->repeat = 7;
  o->warmup = 2;
  o->ckpt_mb = 32;
  o->nmicro = 1; /* automatic */
  o->batch_groups = 1;
  o->methods = 1u << PN_PARALLEL_PIPELINE;
  pn_solver_opts_default(&o->parallel);
  parse_storage_list("stages,all", o);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (c == 'h' || c == '?') {
      usage(ctx);
      return c == 'h' ? 0 : 2;
    }
    if (c == 'B') {
      o->batch_groups = 0;
      continue;
    }
    const char *bad = parse_value(c, optarg, o);
    if (bad) {
      cli_print(ctx, "pinode bench: %s, got '%s'\n", bad, optarg);
      return 2;
    }
  }
  if (optind == argc) {
    usage(ctx);
    return cli_usage_error(ctx, "bench", "DIR is missing: at least one problem directory");
  }
  if (argc - optind > MAX_PROBLEMS) {
    cli_print(ctx, "pinode bench: at most %d problems\n", MAX_PROBLEMS);
    return 2;
  }
  for (; optind < argc; optind++) o->dirs[o->nproblems++] = argv[optind];
  return -1; /* go on */
}

/* ---- the command ----------------------------------------------------------- */

int cmd_bench(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv)
{
  for (int i = 1; i < argc; i++) /* the performance model has its own options */
    if (strcmp(argv[i], "--model") == 0) return cli_bench_model(comm, ctx, argc, argv);
  bench *b = calloc(1, sizeof *b);
  if (!b) return cli_fail(ctx, "bench", pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory"));
  const int parsed = parse_options(ctx, argc, argv, &b->o);
  if (parsed >= 0) {
    free(b);
    return parsed;
  }
  b->comm = comm;
  b->world = ctx;
  int rc = pn_ctx_create(MPI_COMM_SELF, &b->self);
  if (rc != PN_OK) {
    free(b);
    return cli_fail(ctx, "bench", pn_ctx_fail(ctx, rc, "cannot make a one-rank context"));
  }
  solo(b, print_header, NULL);
  for (int j = 0; rc == PN_OK && j < b->o.nproblems; j++) rc = bench_problem(b, j);
  if (rc == PN_OK && pn_ctx_rank(ctx) == 0) print_table(b);
  if (rc == PN_OK && b->o.json) {
    int ok = pn_ctx_rank(ctx) != 0 || write_json(b) == PN_OK;
    MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    if (!ok) {
      if (pn_ctx_rank(ctx) == 0) fprintf(stderr, "pinode bench: %s\n", pn_ctx_last_error(b->self));
      rc = PN_ERR_IO;
    }
  }
  pn_ctx_destroy(&b->self);
  free(b);
  /* A failure on rank 0 alone was reported there; one of all ranks is in ctx. */
  if (rc != PN_OK && pn_ctx_last_code(ctx) != PN_OK) return cli_fail(ctx, "bench", rc);
  return rc == PN_OK ? 0 : 1;
}
