/* pinode bench: time per gradient of the benchmark problems (spiral, wide,
 * long) in one table, with the flop rate against the DGEMM rate measured in
 * the same run, peak memory, the BLAS kernel, and (--peers) the ratios
 * against PETSc's TSAdjoint and PyTorch run side by side in the same run.
 *
 * Under mpiexec -n 2 it also times the 2-rank pipeline; the single-rank
 * configurations then run on rank 0 while rank 1 sleeps (it polls a
 * non-blocking barrier every millisecond instead of spinning in MPI), so
 * that rank 0 has the machine to itself. */
#define _DEFAULT_SOURCE /* wait4: the peak memory of a peer process */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blasinfo.h"
#include "cli.h"
#include "gemm.h"
#include "internal.h"
#include "perfmodel.h"
#include "vmath.h"

extern char **environ;

enum { MAX_PROBLEMS = 8, MAX_ROWS = 64 };

typedef struct bench_opts {
  const char *bench_dir;
  const char *dirs[MAX_PROBLEMS];
  int nproblems;
  int repeat, warmup, threads, peers, torch_repeat, dgemm;
  int cpu_clock; /* time by this process's CPU time instead of the wall clock */
  int no_stages, no_all; /* --storage: skip those configurations */
  int micro[8], nmicro;  /* --microbatches: M of the P-rank rows (0: automatic) */
  int pairs;             /* --pairs: paired rounds with the peers */
  int batch_groups;      /* under mpiexec: also a row with one batch group per rank */
  double ckpt_mb;
  long tiny_steps;
  const char *petsc, *torch, *python;
} bench_opts;

/* One line of the table. */
typedef struct row {
  char problem[32], config[48];
  double med, min, max; /* seconds per gradient */
  double flops;         /* matrix-product flops per gradient (0: not counted) */
  double peak_mb;       /* peak resident memory (largest rank) */
  double err;           /* largest relative difference from ref/ (<0: none) */
  int pinode;           /* 1: a pinode configuration, 0: a peer */
  int microbatches;     /* M the solver used */
  int batch;            /* the problem's batch */
} row;

typedef struct bench {
  pn_ctx *world, *self;
  bench_opts o;
  row rows[MAX_ROWS];
  int nrows;
  double dgemm_peak;                 /* GFLOP/s, OpenBLAS, n = 2048, 1 thread */
  double peer_petsc[MAX_PROBLEMS];   /* seconds per gradient, 0 if none */
  double peer_torch[MAX_PROBLEMS];
  /* pinode's median seconds per gradient, 1 thread: with the tape (stages),
   * with every state (all), under the checkpoint budget (auto); and the
   * stages configuration on all the ranks. */
  double stages[MAX_PROBLEMS], all[MAX_PROBLEMS], ckpt[MAX_PROBLEMS];
  double two_ranks[MAX_PROBLEMS];
  int two_ranks_groups[MAX_PROBLEMS]; /* G of the fastest of them (1: pipeline in time) */
  double stages_flops[MAX_PROBLEMS];
  /* paired rounds: medians of PETSc/pinode (fastest storage, every state)
   * and PyTorch/pinode over the rounds, and the range of the first */
  double ratio_best[MAX_PROBLEMS], ratio_all[MAX_PROBLEMS], ratio_torch[MAX_PROBLEMS];
  double range_best[MAX_PROBLEMS][2], range_all[MAX_PROBLEMS][2];
  double tiny_fwd, tiny_grad, tiny_flops_fwd, tiny_flops_grad; /* per step */
} bench;

/* ---- small helpers ------------------------------------------------------- */

/* Seconds of CPU time used by this process (all its threads). */
static double cpu_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The clock of the measurements: the wall clock, or --clock cpu. */
static double now(const bench *b) { return b->o.cpu_clock ? cpu_seconds() : MPI_Wtime(); }

static const char *base_name(const char *path)
{
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  size_t i = n;
  while (i > 0 && path[i - 1] != '/') i--;
  static char buf[32]; /* the table's problem column */
  const int len = (int)(n - i) < 31 ? (int)(n - i) : 31;
  snprintf(buf, sizeof buf, "%.*s", len, path + i);
  return buf;
}

/* Reset this process's peak resident size (Linux: "5" > /proc/self/clear_refs). */
static void reset_peak(void)
{
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return;
  fputs("5", f);
  fclose(f);
}

/* Peak resident size since the last reset, MB (VmHWM), or getrusage's. */
static double peak_mb(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  if (f) fclose(f);
  if (kb < 0) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    kb = ru.ru_maxrss;
  }
  return (double)kb / 1024.0;
}

/* Run fn on rank 0 while the other ranks sleep (polling a non-blocking
 * barrier each millisecond, so that they use no CPU); the status of rank 0
 * is returned on every rank.  Collective on world. */
typedef int (*solo_fn)(bench *b, void *arg);
static int solo(bench *b, solo_fn fn, void *arg)
{
  const MPI_Comm comm = pn_ctx_comm(b->world);
  int rc = PN_OK, done = 0;
  if (pn_ctx_rank(b->world) == 0) rc = fn(b, arg);
  MPI_Request req;
  MPI_Ibarrier(comm, &req);
  const struct timespec ms = {0, 1000000};
  while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) nanosleep(&ms, NULL);
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  return rc;
}

/* ---- DGEMM rates ----------------------------------------------------------- */

/* GFLOP/s of C = A·B (m×k times k×n) with OpenBLAS (isa < 0) or pinode's
 * products; the best of `reps` timed batches of calls lasting ≥ 20 ms. */
static double gemm_rate(int isa, int m, int n, int k, int reps)
{
  double *a = NULL, *bm = NULL, *c = NULL;
  if (pni_calloc_aligned(NULL, (size_t)m * (size_t)k, sizeof(double), &a, "A") != PN_OK ||
      pni_calloc_aligned(NULL, (size_t)k * (size_t)n, sizeof(double), &bm, "B") != PN_OK ||
      pni_calloc_aligned(NULL, (size_t)m * (size_t)n, sizeof(double), &c, "C") != PN_OK) {
    free(a);
    free(bm);
    return 0.0;
  }
  for (size_t i = 0; i < (size_t)m * (size_t)k; i++) a[i] = sin((double)i);
  for (size_t i = 0; i < (size_t)k * (size_t)n; i++) bm[i] = cos((double)i);
  const double flop = 2.0 * m * n * k;
  long calls = 1;
  double best = 0.0;
  for (int r = 0; r < reps; r++) {
    double t;
    for (;;) {
      const double t0 = MPI_Wtime();
      for (long q = 0; q < calls; q++) {
        if (isa < 0)
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k, bm, n, 0.0,
                      c, n);
        else
          pni_mm_isa((pni_vmath_isa)isa, m, n, k, a, (size_t)k, 1, bm, (size_t)n, c, (size_t)n,
                     PNI_MM_ZERO, NULL);
      }
      t = MPI_Wtime() - t0;
      if (t >= 0.02 || calls > (1L << 24)) break;
      calls *= 2;
    }
    const double rate = flop * (double)calls / t * 1e-9;
    if (rate > best) best = rate;
  }
  free(a);
  free(bm);
  free(c);
  return best;
}

/* Rates on a problem's own shapes: B×D·D×H, B×H·H×D (forward, z̄ and the
 * hidden-layer gradient), D×B·B×H and H×B·B×D (the weight gradients, summed
 * over the batch), all with the flops of each shape counted once. */
static void shape_rates(const pn_problem *p, double *blas, double *mine)
{
  const int B = p->batch, D = p->spec.dim, H = p->spec.nhidden > 0 ? p->spec.widths[0] : D;
  const int shapes[4][3] = {{B, H, D}, {B, D, H}, {D, H, B}, {H, D, B}};
  double tb = 0.0, tm = 0.0, fl = 0.0;
  for (int i = 0; i < 4; i++) {
    const double f = 2.0 * shapes[i][0] * shapes[i][1] * shapes[i][2];
    fl += f;
    tb += f / (gemm_rate(-1, shapes[i][0], shapes[i][1], shapes[i][2], 3) * 1e9);
    tm += f / (gemm_rate((int)pni_vmath_best_isa(), shapes[i][0], shapes[i][1], shapes[i][2], 3) *
               1e9);
  }
  *blas = fl / tb * 1e-9;
  *mine = tm > 0 ? fl / tm * 1e-9 : 0.0;
}

static int measure_dgemm(bench *b, void *arg)
{
  (void)arg;
  openblas_set_num_threads(1);
  b->dgemm_peak = gemm_rate(-1, 2048, 2048, 2048, 3);
  printf("DGEMM (OpenBLAS, 1 thread, n = 2048): %.1f GFLOP/s", b->dgemm_peak);
  if (b->o.threads > 1) {
    openblas_set_num_threads(b->o.threads);
    printf("; %d threads: %.1f GFLOP/s", b->o.threads, gemm_rate(-1, 2048, 2048, 2048, 3));
    openblas_set_num_threads(1);
  }
  printf("\n");
  for (int i = 0; i < b->o.nproblems; i++) {
    pn_problem *p = NULL;
    if (pn_problem_read(b->self, b->o.dirs[i], &p) != PN_OK) continue;
    double blas, mine;
    shape_rates(p, &blas, &mine);
    printf("  on %s's shapes (B=%d, D=%d, H=%d): OpenBLAS %.1f GFLOP/s", base_name(b->o.dirs[i]),
           p->batch, p->spec.dim, p->spec.nhidden > 0 ? p->spec.widths[0] : 0, blas);
    if (mine > 0) printf(", pinode's %s %.1f GFLOP/s", pni_mm_backend(), mine);
    printf("\n");
    pn_problem_destroy(&p);
  }
  fflush(stdout);
  return PN_OK;
}

/* ---- timing pinode ----------------------------------------------------------- */

/* Largest norm-wise relative difference of (loss, ∂L/∂θ, ∂L/∂z0) from
 * DIR/ref/, or −1 if there is no reference.  Rank-local (uses ctx self). */
static double ref_error(pn_ctx *self, const char *dir, double loss, const double *grad, size_t np,
                        size_t nz)
{
  const char *names[3] = {"loss.txt", "grad_theta.txt", "grad_z0.txt"};
  const double *vals[3] = {&loss, grad, grad + np};
  const size_t lens[3] = {1, np, nz};
  double worst = 0.0;
  for (int i = 0; i < 3; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ref/%s", dir, names[i]);
    if (access(path, R_OK) != 0) return -1.0;
    double *ref = NULL;
    size_t n = 0;
    if (pn_read_numbers(self, path, (long)lens[i], &ref, &n) != PN_OK) return -1.0;
    double d = 0.0, r = 0.0;
    for (size_t j = 0; j < n; j++) {
      d += (vals[i][j] - ref[j]) * (vals[i][j] - ref[j]);
      r += ref[j] * ref[j];
    }
    free(ref);
    const double e = r > 0 ? sqrt(d / r) : sqrt(d);
    if (e > worst) worst = e;
  }
  return worst;
}

/* Time `repeat` gradients (after `warmup`) of DIR on ctx with opts: each
 * gradient's time is the slowest rank's, between barriers.  Collective on
 * ctx; fills r on every rank. */
static int time_gradient(bench *b, pn_ctx *ctx, const char *dir, const pn_solver_opts *opts,
                         row *r)
{
  cli_setup s;
  const MPI_Comm comm = pn_ctx_comm(ctx);
  reset_peak();
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
  rc = cli_agree(ctx, rc);
  const pn_problem *p = s.problem;
  for (int i = 0; rc == PN_OK && i < b->o.warmup + b->o.repeat; i++) {
    MPI_Barrier(comm);
    const double f0 = pni_mm_flops(), t0 = now(b);
    rc = pn_solver_gradient(s.solver, p->theta, p->batch, p->z0, s.loss, &loss, grad, grad + np);
    double dt = now(b) - t0, fl = pni_mm_flops() - f0;
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, &fl, 1, MPI_DOUBLE, MPI_SUM, comm);
    if (i >= b->o.warmup) t[i - b->o.warmup] = dt;
    r->flops = fl;
    pn_stats st;
    if (rc == PN_OK && pn_solver_get_stats(s.solver, &st) == PN_OK)
      r->microbatches = st.microbatches;
  }
  if (rc == PN_OK) r->batch = p->batch;
  if (rc == PN_OK) {
    r->min = r->max = t[0];
    for (int i = 1; i < b->o.repeat; i++) {
      if (t[i] < r->min) r->min = t[i];
      if (t[i] > r->max) r->max = t[i];
    }
    r->med = cli_median(t, b->o.repeat);
    r->peak_mb = peak_mb();
    MPI_Allreduce(MPI_IN_PLACE, &r->peak_mb, 1, MPI_DOUBLE, MPI_MAX, comm);
    r->err = pn_ctx_rank(ctx) == 0 ? ref_error(b->self, dir, loss, grad, np, nz) : 0.0;
    r->pinode = 1;
  }
  free(grad);
  free(t);
  cli_setup_free(&s);
  return rc;
}

typedef struct config {
  const char *dir;
  int problem;
  pn_storage_kind storage; /* PN_STORE_AUTO: under the memory limit mem_mb */
  double mem_mb;
  const char *label;
} config;

static void config_opts(const config *c, pn_solver_opts *opts)
{
  pn_solver_opts_default(opts);
  opts->storage = c->storage;
  if (c->storage == PN_STORE_AUTO) opts->memory_limit = (size_t)(c->mem_mb * 1048576.0);
}

static row *new_row(bench *b, const char *problem, const char *label)
{
  if (b->nrows >= MAX_ROWS) return NULL;
  row *r = &b->rows[b->nrows++];
  memset(r, 0, sizeof *r);
  snprintf(r->problem, sizeof r->problem, "%s", problem);
  snprintf(r->config, sizeof r->config, "%s", label);
  r->err = -1.0;
  return r;
}

static int run_solo_config(bench *b, void *arg)
{
  const config *c = arg;
  pn_solver_opts opts;
  config_opts(c, &opts);
  row *r = new_row(b, base_name(c->dir), c->label);
  int rc = r ? time_gradient(b, b->self, c->dir, &opts, r) : PN_ERR_LIMIT;
  if (rc != PN_OK) {
    fprintf(stderr, "pinode bench: %s (%s): %s\n", base_name(c->dir), c->label,
            pn_ctx_last_error(b->self));
    if (r) b->nrows--;
    return rc;
  }
  printf("  %-8s %-28s %9.4f s per gradient\n", r->problem, r->config, r->med);
  fflush(stdout);
  if (c->storage == PN_STORE_AUTO) b->ckpt[c->problem] = r->med;
  else if (c->storage == PN_STORE_ALL) b->all[c->problem] = r->med;
  else {
    b->stages[c->problem] = r->med;
    b->stages_flops[c->problem] = r->flops;
  }
  return PN_OK;
}

/* ---- peers ------------------------------------------------------------------ */

/* Is this environment variable one that would make a child MPI program
 * think it belongs to our MPI job? */
static int mpi_job_variable(const char *kv)
{
  static const char *const prefixes[] = {"OMPI_", "PMIX_", "OPAL_", "ORTE_", "PRTE_", "PMI_",
                                         "HYDRA_", "MPI_LOCAL", NULL};
  if (strncmp(kv, "OMPI_ALLOW_RUN_AS_ROOT", 22) == 0) return 0;
  for (const char *const *p = prefixes; *p; p++)
    if (strncmp(kv, *p, strlen(*p)) == 0) return 1;
  return 0;
}

/* Run argv with our environment minus the MPI job's variables and with
 * `extra` (NAME=VALUE strings; a NAME= entry removes NAME); capture its
 * output (stdout and stderr) into *out (malloc'd) and its peak memory.
 * Returns its exit status, or −1 if it could not be run. */
static double peer_cpu; /* CPU seconds of the last peer run (run_peer) */

static int run_peer(char *const argv[], const char *const *extra, char **out, double *peak)
{
  size_t n = 0, ne = 0;
  while (environ[n]) n++;
  while (extra && extra[ne]) ne++;
  char **envp = calloc(n + ne + 1, sizeof *envp);
  if (!envp) return -1;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (mpi_job_variable(environ[i])) continue;
    int overridden = 0;
    for (size_t j = 0; j < ne; j++) {
      const size_t len = strcspn(extra[j], "=") + 1;
      if (strncmp(environ[i], extra[j], len) == 0) overridden = 1;
    }
    if (!overridden) envp[k++] = environ[i];
  }
  for (size_t j = 0; j < ne; j++)
    if (extra[j][strcspn(extra[j], "=") + 1] != '\0') envp[k++] = (char *)extra[j];
  int fd[2];
  if (pipe(fd) != 0) {
    free(envp);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
  posix_spawn_file_actions_addclose(&fa, fd[0]);
  pid_t pid;
  /* The child inherits our peak resident size through the exec (Linux keeps
   * the largest of the old and new address space's): reset ours to what we
   * hold now, a few tens of MB, below any peer's own peak. */
  reset_peak();
  const int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  free(envp);
  close(fd[1]);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (ssize_t got = 1; buf && got > 0;) {
    if (len + 1 >= cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) break;
      buf = nb;
    }
    got = read(fd[0], buf + len, cap - len - 1);
    if (got > 0) len += (size_t)got;
  }
  close(fd[0]);
  if (buf) buf[len] = '\0';
  *out = buf;
  if (err != 0) return -1;
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) return -1;
  *peak = (double)ru.ru_maxrss / 1024.0;
  peer_cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
             (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A peer program that can be run. */
static int executable(const char *path) { return path && *path && access(path, X_OK) == 0; }

/* One run of the PETSc driver on dir (nrep timed gradients after warm):
 * its median, min and max seconds per gradient and its peak memory.  With
 * --clock cpu, t[0..2] are instead its CPU seconds per gradient: the run's
 * CPU time less that of the same run without the timed gradients
 * (petsc_base, measured once per problem), over warm + nrep.
 * Returns 0, or prints why not and returns −1. */
static double petsc_base; /* CPU seconds of the driver with -nrep 0 */

static int petsc_once(const bench *b, const char *dir, int nrep, int warm, double t[3],
                      double *peak)
{
  char rep[32], wrm[32], path[4096];
  snprintf(rep, sizeof rep, "%d", nrep);
  snprintf(wrm, sizeof wrm, "%d", warm);
  snprintf(path, sizeof path, "%s", dir);
  char *argv[] = {(char *)b->o.petsc, "-data", path, "-nrep", rep, "-warm", wrm, NULL};
  const char *extra[] = {"OPENBLAS_NUM_THREADS=1", NULL};
  char *out = NULL;
  const int st = run_peer(argv, extra, &out, peak);
  const char *line = out ? strstr(out, "gradient median") : NULL;
  const int ok = st == 0 && line &&
                 sscanf(line, "gradient median %lf s min %lf max %lf", &t[0], &t[1], &t[2]) == 3;
  if (!ok)
    printf("  %-8s PETSc TSAdjoint: failed (exit %d)%s%.300s\n", base_name(dir), st,
           out ? ":\n" : "", out ? out : "");
  free(out);
  if (ok && b->o.cpu_clock && warm + nrep > 0)
    t[0] = t[1] = t[2] = (peer_cpu - petsc_base) / (double)(warm + nrep);
  return ok ? 0 : -1;
}

/* The driver's CPU time without timed gradients (setup and its first,
 * checked gradient), for petsc_once under --clock cpu. */
static int petsc_baseline(const bench *b, const char *dir)
{
  char path[4096];
  snprintf(path, sizeof path, "%s", dir);
  char *argv[] = {(char *)b->o.petsc, "-data", path, "-nrep", "0", NULL};
  const char *extra[] = {"OPENBLAS_NUM_THREADS=1", NULL};
  char *out = NULL;
  double peak = 0.0;
  const int st = run_peer(argv, extra, &out, &peak);
  free(out);
  petsc_base = st == 0 ? peer_cpu : 0.0;
  return st == 0 ? 0 : -1;
}

/* One run of torch_time.py on dir (median of reps gradients after one). */
static int torch_once(const bench *b, const char *dir, int reps, double *t, double *peak)
{
  char rep[32], path[4096];
  snprintf(rep, sizeof rep, "%d", reps);
  snprintf(path, sizeof path, "%s", dir);
  char *argv[] = {(char *)b->o.python, (char *)b->o.torch, path, rep, NULL};
  /* "Tuned" as in ../shared/peers/torch/README.md: threads that sleep when idle. */
  const char *extra[] = {"OMP_WAIT_POLICY=PASSIVE", "OPENBLAS_NUM_THREADS=", NULL};
  char *out = NULL;
  const int st = run_peer(argv, extra, &out, peak);
  const int ok = st == 0 && out && sscanf(out, "%lf", t) == 1;
  if (!ok)
    printf("  %-8s PyTorch: failed (exit %d)%s%.300s\n", base_name(dir), st, out ? ":\n" : "",
           out ? out : "");
  free(out);
  return ok ? 0 : -1;
}

/* Seconds of one gradient of the problem in s (wall, or --clock cpu). */
static int one_gradient(const bench *b, cli_setup *s, double *grad, double *seconds)
{
  const pn_problem *p = s->problem;
  double loss = 0.0;
  const double t0 = now(b);
  const int rc = pn_solver_gradient(s->solver, p->theta, p->batch, p->z0, s->loss, &loss, grad,
                                    grad + p->nparam);
  *seconds = now(b) - t0;
  return rc;
}

/* A peer's row of the table from its n times t (sorted here); returns their median. */
static double add_peer_row(bench *b, const char *dir, const char *label, double *t, int n,
                           double peak)
{
  const double med = cli_median(t, n);
  row *r = new_row(b, base_name(dir), label);
  if (!r) return med;
  r->med = med;
  r->min = t[0];
  r->max = t[n - 1];
  r->peak_mb = peak;
  return med;
}

/* Paired rounds (--peers): each round times one pinode gradient with the
 * tape, one with every state, one PETSc gradient (a fresh driver, one
 * warm-up) and, for problems short enough, one PyTorch gradient, back to
 * back; a ratio's median over the rounds is then robust to the load of a
 * shared machine changing between the configurations' timings.  Long's
 * PyTorch gradient (~15 s) runs once, after the rounds. */
static int run_pairs(bench *b, void *arg)
{
  const config *c = arg;
  enum { RMAX = 64 };
  const int R = b->o.pairs < RMAX ? b->o.pairs : RMAX, j = c->problem;
  int petsc = executable(b->o.petsc);
  const int torch = executable(b->o.python) && b->o.torch && access(b->o.torch, R_OK) == 0;
  cli_setup sa = {0}, ss = {0};
  pn_solver_opts oa, os;
  const config ca = {c->dir, j, PN_STORE_ALL, 0, ""}, cs = {c->dir, j, PN_STORE_STAGES, 0, ""};
  config_opts(&ca, &oa);
  config_opts(&cs, &os);
  int rc = cli_setup_problem(b->self, c->dir, &oa, &sa);
  if (rc == PN_OK) rc = cli_setup_problem(b->self, c->dir, &os, &ss);
  /* zeroed: cppcheck cannot see that each is read only where a round wrote it */
  double *grad = NULL, ta[RMAX] = {0}, ts[RMAX] = {0}, tp[RMAX] = {0}, tq[RMAX] = {0};
  double rb[RMAX] = {0}, ra[RMAX] = {0}, rq[RMAX] = {0}, peak_p = 0, peak_q = 0;
  if (rc == PN_OK) {
    grad = malloc(sizeof(double) * ((size_t)sa.problem->nparam +
                                     (size_t)sa.problem->batch * (size_t)sa.problem->spec.dim));
    if (!grad) rc = pn_ctx_fail(b->self, PN_ERR_MEM, "out of memory for the paired rounds");
  }
  /* PyTorch runs 2 threads: its CPU time is not comparable, so not with --clock cpu */
  const int torch_paired = torch && !b->o.cpu_clock && rc == PN_OK && sa.problem->steps <= 5000;
  if (petsc && b->o.cpu_clock && petsc_baseline(b, c->dir) != 0) petsc = 0;
  int np = 0, nq = 0;
  for (int r = -1; rc == PN_OK && r < R; r++) { /* r = −1: warm-up of both solvers */
    double t1 = 0, t2 = 0, tt[3], pk = 0, q = 0;
    rc = one_gradient(b, &ss, grad, &t1);
    if (rc == PN_OK) rc = one_gradient(b, &sa, grad, &t2);
    if (rc != PN_OK || r < 0) continue;
    ts[r] = t1;
    ta[r] = t2;
    const double best = t1 < t2 ? t1 : t2;
    if (petsc && petsc_once(b, c->dir, 1, 1, tt, &pk) == 0) {
      tp[np] = tt[0];
      rb[np] = tt[0] / best;
      ra[np++] = tt[0] / t2;
      if (pk > peak_p) peak_p = pk;
    }
    if (torch_paired && torch_once(b, c->dir, 1, &q, &pk) == 0) {
      tq[nq] = q;
      rq[nq++] = q / best;
      if (pk > peak_q) peak_q = pk;
    }
  }
  /* The peers' peak memory: a child starts with our peak resident size (see
   * run_peer), and during the rounds we hold both pinode solvers (740 MB of
   * tape for long); measure theirs again with ours released. */
  const double R_best = rc == PN_OK ? fmin(cli_median(ts, R), cli_median(ta, R)) : 0.0;
  free(grad);
  grad = NULL;
  cli_setup_free(&sa);
  cli_setup_free(&ss);
  double tt[3];
  if (rc == PN_OK && np > 0 && petsc_once(b, c->dir, 1, 0, tt, &peak_p) != 0) peak_p = 0.0;
  const int torch_after = rc == PN_OK && torch && !b->o.cpu_clock && !torch_paired;
  if (torch_after && torch_once(b, c->dir, b->o.torch_repeat, &tq[0], &peak_q) == 0) {
    rq[0] = tq[0] / R_best;
    nq = 1;
  }
  if (np > 0) {
    b->ratio_best[j] = cli_median(rb, np); /* sorts rb */
    b->ratio_all[j] = cli_median(ra, np);
    b->range_best[j][0] = rb[0];
    b->range_best[j][1] = rb[np - 1];
    b->range_all[j][0] = ra[0];
    b->range_all[j][1] = ra[np - 1];
    b->peer_petsc[j] = add_peer_row(b, c->dir, "PETSc TSAdjoint, 1 thr", tp, np, peak_p);
  }
  if (nq > 0) {
    b->ratio_torch[j] = cli_median(rq, nq);
    b->peer_torch[j] = add_peer_row(b, c->dir, "PyTorch autograd, 2 thr", tq, nq, peak_q);
  }
  if (np > 0 || nq > 0)
    printf("  %-8s paired rounds: PETSc %.4f s, PyTorch %.4f s per gradient (medians)\n",
           base_name(c->dir), b->peer_petsc[j], b->peer_torch[j]);
  else if (rc != PN_OK)
    fprintf(stderr, "pinode bench: %s (paired rounds): %s\n", base_name(c->dir),
            pn_ctx_last_error(b->self));
  fflush(stdout);
  return rc;
}


/* ---- the tiny problem: per-step overhead ---------------------------------- */

/* D = 2, H = 16, B = 1, tanh, rk4, a label at the end: seconds per step of
 * the forward sweep and of the gradient, and their product flops. */
static int run_tiny(bench *b, void *arg)
{
  (void)arg;
  pn_ctx *ctx = b->self;
  const int widths[1] = {16};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {2, 1, widths, acts, 0};
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pn_solver *solver = NULL;
  double theta[82], z0[2] = {0.5, -0.25}, target[2] = {0.1, 0.2}, grad[84], L = 0.0;
  const double tlab = 1.0;
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.t0 = 0.0;
  opts.t1 = 1.0;
  opts.nsteps = b->o.tiny_steps;
  opts.storage = PN_STORE_STAGES; /* 1.2 kB a step: the fastest here */
  int rc = pn_model_create_mlp(ctx, &spec, &model);
  if (rc == PN_OK && pn_model_nparam(model) != 82) rc = pn_ctx_fail(ctx, PN_ERR_ARG, "tiny: P");
  if (rc == PN_OK) rc = pn_model_init_params(model, 7, theta);
  if (rc == PN_OK) rc = pn_tableau_create(ctx, "rk4", &tab);
  if (rc == PN_OK) rc = pn_loss_create_mse(ctx, 1, &tlab, target, NULL, 1, 2, &loss);
  if (rc == PN_OK) rc = pn_solver_create(ctx, model, tab, &opts, &solver);
  double tf[64] = {0}, tg[64] = {0};
  const int R = b->o.repeat < 64 ? b->o.repeat : 64;
  for (int i = 0; rc == PN_OK && i < b->o.warmup + R; i++) {
    double f0 = pni_mm_flops(), t0 = now(b);
    rc = pn_solver_loss(solver, theta, 1, z0, loss, &L);
    const double dtf = now(b) - t0;
    b->tiny_flops_fwd = (pni_mm_flops() - f0) / (double)opts.nsteps;
    f0 = pni_mm_flops();
    t0 = now(b);
    if (rc == PN_OK) rc = pn_solver_gradient(solver, theta, 1, z0, loss, &L, grad, grad + 82);
    const double dtg = now(b) - t0;
    b->tiny_flops_grad = (pni_mm_flops() - f0) / (double)opts.nsteps;
    if (i >= b->o.warmup) {
      tf[i - b->o.warmup] = dtf / (double)opts.nsteps;
      tg[i - b->o.warmup] = dtg / (double)opts.nsteps;
    }
  }
  if (rc == PN_OK) {
    b->tiny_fwd = cli_median(tf, R);
    b->tiny_grad = cli_median(tg, R);
  } else {
    fprintf(stderr, "pinode bench: tiny problem: %s\n", pn_ctx_last_error(ctx));
  }
  pn_solver_destroy(&solver);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
  return rc;
}

/* ---- report ------------------------------------------------------------------ */

static void print_table(const bench *b)
{
  const char *time_head = b->o.cpu_clock ? "CPU s per gradient: med [min-max]"
                                          : "time per gradient: median [min-max]";
  printf("\n%-8s %-28s %-30s %8s %7s %8s %8s %9s %9s\n", "problem", "configuration", time_head,
         "GFLOP/s", "%DGEMM", "peak MB", "PETSc/", "PyTorch/", "err vs");
  printf("%-8s %-28s %-30s %8s %7s %8s %8s %9s %9s\n", "", "", "", "", "", "", "pinode",
         "pinode", "ref/");
  for (int i = 0; i < b->nrows; i++) {
    const row *r = &b->rows[i];
    int pi = 0;
    for (int j = 0; j < b->o.nproblems; j++)
      if (strcmp(base_name(b->o.dirs[j]), r->problem) == 0) pi = j;
    char tbuf[64], gf[16] = "-", pct[16] = "-", vp[16] = "-", vt[16] = "-", err[16] = "-";
    snprintf(tbuf, sizeof tbuf, "%.4f s [%.4f-%.4f]", r->med, r->min, r->max);
    if (r->pinode && r->flops > 0) {
      snprintf(gf, sizeof gf, "%.1f", r->flops / r->med * 1e-9);
      if (b->dgemm_peak > 0)
        snprintf(pct, sizeof pct, "%.0f%%", 100.0 * r->flops / r->med * 1e-9 / b->dgemm_peak);
    }
    const int ratios = r->pinode;
    if (ratios && b->peer_petsc[pi] > 0)
      snprintf(vp, sizeof vp, "%.2fx", b->peer_petsc[pi] / r->med);
    if (ratios && b->peer_torch[pi] > 0)
      snprintf(vt, sizeof vt, "%.1fx", b->peer_torch[pi] / r->med);
    if (r->err >= 0) snprintf(err, sizeof err, "%.1e", r->err);
    printf("%-8s %-28s %-30s %8s %7s %8.1f %8s %9s %9s\n", r->problem, r->config, tbuf, gf, pct,
           r->peak_mb, vp, vt, err);
  }
}

/* " (target ≥ x: met)" or "NOT met". */
static const char *verdict(int met) { return met ? "met" : "NOT met"; }

/* The targets, checked on this run's numbers: spiral and wide
 * against the faster of stages and all (1 thread), long with every state
 * kept; the pipeline against the faster one-thread configuration. */
static void print_targets(const bench *b)
{
  printf("\ntargets (issue 9), from this run:\n");
  for (int j = 0; j < b->o.nproblems; j++) {
    const char *name = base_name(b->o.dirs[j]);
    const double ts = b->stages[j], ta = b->all[j], petsc = b->peer_petsc[j];
    const double best = ts > 0 && (ta <= 0 || ts <= ta) ? ts : ta;
    const int is_long = strcmp(name, "long") == 0, is_wide = strcmp(name, "wide") == 0;
    const int is_spiral = strcmp(name, "spiral") == 0, named = is_long || is_wide || is_spiral;
    if (best <= 0) continue;
    printf("  %-8s", name);
    if (b->ratio_best[j] > 0) { /* paired rounds */
      const double r = is_long ? b->ratio_all[j] : b->ratio_best[j];
      const double *range = is_long ? b->range_all[j] : b->range_best[j];
      printf(" PETSc/pinode %.2f [%.2f-%.2f] (%s, %d paired rounds; target >= 2: %s);", r,
             range[0], range[1], is_long ? "all states" : "faster storage", b->o.pairs,
             verdict(r >= 2.0));
    } else if (!b->o.cpu_clock && petsc > 0) {
      const double t = is_long ? ta : best;
      if (t > 0)
        printf(" PETSc/pinode %.2f (%s; target >= 2: %s);", petsc / t,
               is_long ? "all states" : best == ts ? "stages" : "all", verdict(petsc / t >= 2.0));
    }
    if (b->ratio_torch[j] > 0 && (is_spiral || !named))
      printf(" PyTorch/pinode %.1f (paired; target >= 30: %s);", b->ratio_torch[j],
             verdict(b->ratio_torch[j] >= 30.0));
    else if (!b->o.cpu_clock && b->peer_torch[j] > 0 && (is_spiral || !named))
      printf(" PyTorch/pinode %.1f (target >= 30: %s);", b->peer_torch[j] / best,
             verdict(b->peer_torch[j] / best >= 30.0));
    if (b->dgemm_peak > 0 && ts > 0 && (is_wide || !named)) {
      const double f = b->stages_flops[j] / ts * 1e-9 / b->dgemm_peak;
      printf(" stages at %.0f%% of the DGEMM rate (target >= 70%%: %s);", 100 * f,
             verdict(f >= 0.7));
    }
    if (b->ckpt[j] > 0 && ta > 0 && (is_long || !named))
      printf(" checkpointed/all states %.2f (target <= 1.5: %s);", b->ckpt[j] / ta,
             verdict(b->ckpt[j] / ta <= 1.5));
    if (b->two_ranks[j] > 0 && (is_wide || is_long || !named))
      printf(" %d ranks (%s) %.2fx one thread (target >= 1.7: %s);", pn_ctx_size(b->world),
             b->two_ranks_groups[j] > 1 ? "batch groups" : "pipelined in time",
             best / b->two_ranks[j], verdict(best / b->two_ranks[j] >= 1.7));
    printf("\n");
  }
  if (b->tiny_grad > 0) {
    printf("  tiny (D=2, H=16, B=1, rk4, %ld steps): forward %.0f ns per step (%.0f flops), "
           "gradient %.0f ns per step (%.0f flops)",
           b->o.tiny_steps, b->tiny_fwd * 1e9, b->tiny_flops_fwd, b->tiny_grad * 1e9,
           b->tiny_flops_grad);
    if (b->dgemm_peak > 0) { /* the budget: 3x the flops at the DGEMM rate, plus 300 ns */
      const double bf = 3 * b->tiny_flops_fwd / (b->dgemm_peak * 1e9) + 300e-9;
      const double bg = 3 * b->tiny_flops_grad / (b->dgemm_peak * 1e9) + 300e-9;
      printf("; target <= 3x flops at the DGEMM rate + 300 ns: forward %.0f ns (%s), gradient "
             "%.0f ns (%s)",
             bf * 1e9, b->tiny_fwd <= bf ? "met" : "NOT met", bg * 1e9,
             b->tiny_grad <= bg ? "met" : "NOT met");
    }
    printf("\n");
  }
}

/* ---- options ----------------------------------------------------------------- */

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode bench [options] [PROBLEM_DIR ...]\n"
            "       mpiexec -n 2 pinode bench [options]   (adds the 2-rank pipeline)\n"
            "       pinode bench --model --help           (the performance model)\n"
            "\n"
            "Times the exact gradient of benchmark problems (default: spiral, wide and long\n"
            "of --bench-dir) and prints one table: time per gradient (median [min-max]),\n"
            "matrix-product flop rate and its fraction of the DGEMM rate measured in this\n"
            "run, peak memory, agreement with DIR/ref/, and with --peers the speed-ups over\n"
            "PETSc's TSAdjoint and PyTorch measured in this run.  Reports the BLAS kernel\n"
            "and warns when OpenBLAS fell back to a generic one.\n"
            "\n"
            "options:\n"
            "  --bench-dir DIR    where spiral/, wide/ and long/ are (default tests/data/bench)\n"
            "  --repeat R         timed gradients per configuration (default 7)\n"
            "  --warmup W         untimed gradients before them (default 2)\n"
            "  --threads T        also measure DGEMM with T OpenBLAS threads (default 2;\n"
            "                     pinode's own products do not use OpenBLAS)\n"
            "  --storage LIST     storage configurations to time, of stages (the adjoint\n"
            "                     recomputes nothing) and all (every state): default both\n"
            "  --microbatches L   under mpiexec: micro-batch counts of the pipeline rows, a\n"
            "                     list of counts or auto (default auto); the best is used\n"
            "  --no-batch-groups  under mpiexec: no row with one batch group per rank (each\n"
            "                     rank its share of the batch over all the steps)\n"
            "  --checkpoint-mb X  also time each problem with automatic storage (binomial\n"
            "                     checkpointing when needed) under an X MB limit (default 32;\n"
            "                     0: no)\n"
            "  --tiny STEPS       per-step overhead of D=2, H=16, B=1 (default 20000; 0: no)\n"
            "  --no-dgemm         skip the DGEMM rate measurement\n"
            "  --clock cpu        time by CPU time (a loaded machine), PETSc too (its CPU\n"
            "                     time per gradient); PyTorch (2 threads) is then not run\n"
            "  --peers            also run PETSc TSAdjoint and PyTorch on the same problems\n"
            "  --petsc PROG       the PETSc driver (default $PINODE_PETSC_DRIVER)\n"
            "  --torch SCRIPT     torch_time.py (default $PINODE_TORCH_SCRIPT)\n"
            "  --python PROG      Python for it (default /usr/bin/python3)\n"
            "  --pairs R          rounds of one pinode, one PETSc and one PyTorch gradient back\n"
            "                     to back; the ratios are medians over them (default 7)\n"
            "  --torch-repeat R   PyTorch's timed gradients on long (default 3)\n"
            "  -h, --help         this text\n"
            "scripts/bench.sh builds the PETSc driver and runs this with --peers.\n");
}

/* cli_parse_long with a message: NULL if text is an integer in [lo, hi] (then in
 * *out), else msg; *out keeps its value on failure. */
static const char *int_option(const char *text, long lo, long hi, long *out, const char *msg)
{
  return cli_parse_long(text, lo, hi, out) ? NULL : msg;
}

static int parse_options(pn_ctx *ctx, int argc, char **argv, bench_opts *o)
{
  static const struct option longopts[] = {
      {"bench-dir", required_argument, NULL, 'd'}, {"repeat", required_argument, NULL, 'r'},
      {"warmup", required_argument, NULL, 'w'},    {"threads", required_argument, NULL, 't'},
      {"checkpoint-mb", required_argument, NULL, 'c'}, {"tiny", required_argument, NULL, 'y'},
      {"no-dgemm", no_argument, NULL, 'g'},        {"peers", no_argument, NULL, 'p'},
      {"petsc", required_argument, NULL, 'P'},     {"torch", required_argument, NULL, 'T'},
      {"python", required_argument, NULL, 'Y'},    {"torch-repeat", required_argument, NULL, 'R'},
      {"clock", required_argument, NULL, 'k'},     {"storage", required_argument, NULL, 's'},
      {"microbatches", required_argument, NULL, 'm'}, {"pairs", required_argument, NULL, 'a'},
      {"no-batch-groups", no_argument, NULL, 'B'}, {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->bench_dir = "tests/data/bench";
  o->repeat = 7;
  o->warmup = 2;
  o->threads = 2;
  o->ckpt_mb = 32;
  o->tiny_steps = 20000;
  o->dgemm = 1;
  o->torch_repeat = 3;
  o->nmicro = 1; /* automatic */
  o->batch_groups = 1;
  o->pairs = 7;
  o->petsc = getenv("PINODE_PETSC_DRIVER");
  o->torch = getenv("PINODE_TORCH_SCRIPT");
  o->python = "/usr/bin/python3";
  long v = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    const char *bad = NULL;
    switch (c) {
    case 'd': o->bench_dir = optarg; break;
    case 'r': bad = int_option(optarg, 1, 10000, &v, "--repeat needs 1..10000");
      o->repeat = (int)v;
      break;
    case 'w': bad = int_option(optarg, 0, 10000, &v, "--warmup needs 0..10000");
      o->warmup = (int)v;
      break;
    case 't': bad = int_option(optarg, 1, 256, &v, "--threads needs 1..256");
      o->threads = (int)v;
      break;
    case 'c': bad = int_option(optarg, 0, 1 << 20, &v, "--checkpoint-mb needs 0..1048576");
      o->ckpt_mb = (double)v;
      break;
    case 'y': bad = int_option(optarg, 0, 100000000, &v, "--tiny needs 0..100000000");
      o->tiny_steps = v;
      break;
    case 'g': o->dgemm = 0; break;
    case 'B': o->batch_groups = 0; break;
    case 'p': o->peers = 1; break;
    case 'P': o->petsc = optarg; break;
    case 'T': o->torch = optarg; break;
    case 'Y': o->python = optarg; break;
    case 'R': bad = int_option(optarg, 1, 1000, &v, "--torch-repeat needs 1..1000");
      o->torch_repeat = (int)v;
      break;
    case 'a': bad = int_option(optarg, 1, 64, &v, "--pairs needs 1..64");
      o->pairs = (int)v;
      break;
    case 'k':
      if (strcmp(optarg, "cpu") == 0 || strcmp(optarg, "wall") == 0)
        o->cpu_clock = optarg[0] == 'c';
      else bad = "--clock needs cpu or wall";
      break;
    case 'm': {
      char buf[128], *save = NULL;
      snprintf(buf, sizeof buf, "%s", optarg);
      o->nmicro = 0;
      for (char *tok = strtok_r(buf, ",", &save); tok && !bad; tok = strtok_r(NULL, ",", &save)) {
        if (o->nmicro == 8) bad = "--microbatches takes at most 8 values";
        else if (strcmp(tok, "auto") == 0) o->micro[o->nmicro++] = 0;
        else if (cli_parse_long(tok, 1, 1 << 20, &v)) o->micro[o->nmicro++] = (int)v;
        else bad = "--microbatches needs a list of counts >= 1 or auto";
      }
      if (o->nmicro == 0 && !bad) bad = "--microbatches needs a list of counts >= 1 or auto";
      break;
    }
    case 's':
      o->no_stages = !strstr(optarg, "stages");
      o->no_all = !strstr(optarg, "all");
      if (o->no_stages && o->no_all) bad = "--storage needs stages, all or stages,all";
      break;
    case 'h': usage(ctx); return 0;
    default: usage(ctx); return 2;
    }
    if (bad) {
      cli_print(ctx, "pinode bench: %s, got '%s'\n", bad, optarg);
      return 2;
    }
  }
  static char defaults[3][4096];
  if (optind == argc) {
    const char *names[3] = {"spiral", "wide", "long"};
    for (int i = 0; i < 3; i++) {
      snprintf(defaults[i], sizeof defaults[i], "%s/%s", o->bench_dir, names[i]);
      o->dirs[o->nproblems++] = defaults[i];
    }
  }
  for (; optind < argc; optind++) {
    if (o->nproblems >= MAX_PROBLEMS) {
      cli_print(ctx, "pinode bench: at most %d problems\n", MAX_PROBLEMS);
      return 2;
    }
    o->dirs[o->nproblems++] = argv[optind];
  }
  return -1; /* go on */
}

/* ---- the command ----------------------------------------------------------- */

static int print_header(bench *b, void *arg)
{
  (void)arg;
  cli_blas_info info;
  char text[1024], load[128] = "?";
  cli_blas_info_get(&info);
  cli_blas_info_format(&info, text, sizeof text);
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (!fgets(load, sizeof load, f)) snprintf(load, sizeof load, "?\n");
    fclose(f);
  }
  char host[256] = "?";
  gethostname(host, sizeof host);
  printf("pinode bench on %s, %d MPI rank%s, load average %s%s", host, pn_ctx_size(b->world),
         pn_ctx_size(b->world) > 1 ? "s" : "", load, text);
  if (info.fallback) fprintf(stderr, "%s", strstr(text, "WARNING"));
  fflush(stdout);
  return PN_OK;
}

/* One row on all the ranks: M micro-batches (0: automatic) and G batch
 * groups (1: the pipeline in time alone); *batch: the problem's batch. */
static int rank_row(bench *b, int j, int use_stages, int M, int G, int *batch)
{
  const char *dir = b->o.dirs[j];
  const config cp = {dir, j, use_stages ? PN_STORE_STAGES : PN_STORE_ALL, 0.0, ""};
  pn_solver_opts opts;
  config_opts(&cp, &opts);
  opts.microbatches = M;
  opts.batch_groups = G;
  row r;
  memset(&r, 0, sizeof r);
  PN_CALL(time_gradient(b, b->world, dir, &opts, &r));
  *batch = r.batch;
  if (pn_ctx_rank(b->world) != 0) return PN_OK;
  const int P = pn_ctx_size(b->world);
  row *nr = new_row(b, base_name(dir), "");
  if (nr) {
    *nr = r;
    snprintf(nr->problem, sizeof nr->problem, "%s", base_name(dir));
    if (G > 1)
      snprintf(nr->config, sizeof nr->config, "pinode %s, %d ranks, G=%d",
               use_stages ? "stages" : "all", P, G);
    else
      snprintf(nr->config, sizeof nr->config, "pinode %s, %d ranks, M=%d",
               use_stages ? "stages" : "all", P, r.microbatches);
    printf("  %-8s %-28s %9.4f s per gradient\n", nr->problem, nr->config, r.med);
  }
  if (b->two_ranks[j] <= 0 || r.med < b->two_ranks[j]) {
    b->two_ranks[j] = r.med;
    b->two_ranks_groups[j] = G;
  }
  fflush(stdout);
  return PN_OK;
}

/* The rows on all the ranks, one thread each, with the storage that was
 * faster on one rank (rank 0 timed both): the pipeline in time with each
 * micro-batch count asked for, then (if the batch has a sample per rank)
 * one batch group per rank, which splits the batch instead of time. */
static int bench_ranks(bench *b, int j)
{
  const int P = pn_ctx_size(b->world);
  int use_stages = b->stages[j] > 0 && (b->all[j] <= 0 || b->stages[j] <= b->all[j]);
  MPI_Bcast(&use_stages, 1, MPI_INT, 0, pn_ctx_comm(b->world));
  int batch = 0; /* known after the first row (--microbatches gives at least one) */
  for (int q = 0; q < b->o.nmicro; q++)
    PN_CALL(rank_row(b, j, use_stages, b->o.micro[q], 1, &batch));
  if (b->o.batch_groups && batch >= P) PN_CALL(rank_row(b, j, use_stages, 0, P, &batch));
  return PN_OK;
}

static int bench_problem(bench *b, int j)
{
  const char *dir = b->o.dirs[j];
  char label[40];
  config c = {dir, j, PN_STORE_STAGES, 0.0, "pinode stages, 1 thr"};
  if (!b->o.no_stages) PN_CALL(solo(b, run_solo_config, &c));
  config c2 = {dir, j, PN_STORE_ALL, 0.0, "pinode all, 1 thr"};
  if (!b->o.no_all) PN_CALL(solo(b, run_solo_config, &c2));
  if (b->o.ckpt_mb > 0) {
    snprintf(label, sizeof label, "pinode auto<=%.0fMB, 1 thr", b->o.ckpt_mb);
    config c3 = {dir, j, PN_STORE_AUTO, b->o.ckpt_mb, label};
    PN_CALL(solo(b, run_solo_config, &c3));
  }
  const int P = pn_ctx_size(b->world);
  if (P > 1) PN_CALL(bench_ranks(b, j));
  if (b->o.peers) PN_CALL(solo(b, run_pairs, &c));
  return PN_OK;
}

int cmd_bench(pn_ctx *ctx, int argc, char **argv)
{
  for (int i = 1; i < argc; i++) /* the performance model (perfmodel.c) has its own options */
    if (strcmp(argv[i], "--model") == 0) return cli_bench_model(ctx, argc, argv);
  bench *b = calloc(1, sizeof *b);
  if (!b) return cli_fail(ctx, "bench", pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory"));
  const int parsed = parse_options(ctx, argc, argv, &b->o);
  if (parsed >= 0) {
    free(b);
    return parsed;
  }
  b->world = ctx;
  int rc = pn_ctx_create(MPI_COMM_SELF, &b->self);
  if (rc != PN_OK) {
    free(b);
    return cli_fail(ctx, "bench", pn_ctx_fail(ctx, rc, "cannot make a one-rank context"));
  }
  openblas_set_num_threads(1);
  solo(b, print_header, NULL);
  if (b->o.peers && pn_ctx_rank(ctx) == 0) {
    cli_print(ctx, "peers: PETSc %s, PyTorch %s\n",
              executable(b->o.petsc) ? b->o.petsc
                                     : "not available (--petsc or $PINODE_PETSC_DRIVER)",
              executable(b->o.python) && b->o.torch && access(b->o.torch, R_OK) == 0
                  ? b->o.torch
                  : "not available (--torch or $PINODE_TORCH_SCRIPT, and python3-torch)");
  }
  for (int j = 0; rc == PN_OK && j < b->o.nproblems; j++) rc = bench_problem(b, j);
  if (rc == PN_OK && b->o.tiny_steps > 0) rc = solo(b, run_tiny, NULL);
  /* Last, so that OpenBLAS's buffers (tens of MB once it has run an n = 2048
   * product) are not in the peak memory of pinode's rows. */
  if (rc == PN_OK && b->o.dgemm) rc = solo(b, measure_dgemm, NULL);
  if (rc == PN_OK && pn_ctx_rank(ctx) == 0) {
    print_table(b);
    print_targets(b);
  }
  pn_ctx_destroy(&b->self);
  free(b);
  /* A failure on rank 0 alone was reported there; one of all ranks is in ctx. */
  if (rc != PN_OK && pn_ctx_last_code(ctx) != PN_OK) return cli_fail(ctx, "bench", rc);
  return rc == PN_OK ? 0 : 1;
}
