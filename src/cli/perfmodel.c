/* pinode bench --model: predicted time per gradient of the pipelined and
 * Parareal time-parallel modes for P up to thousands of ranks, calibrated by
 * what this program measures on the machine where it runs, and (--validate)
 * checked against the real solver on the ranks it runs on.
 *
 * Measured here (rank 0 alone on a one-rank communicator split off the
 * context's while the other ranks sleep, process CPU time, the best of R
 * samples, so that a shared or oversubscribed machine does not inflate it):
 *   t(b)  forward+backward time per step of one micro-batch of b samples, for
 *         b = 1, 2, 4, ... and the batch (interpolated in between), and its
 *         forward part t_f(b);
 *   c(b)  the fixed cost of one micro-batch through a block, whatever its
 *         number of steps (intercept of two step counts);
 *   L, W  latency and bandwidth: a ping-pong between ranks 0 and 1 of the
 *         context's communicator (MPI_Wtime), fitted as T(s) = L + s/W;
 *   the coarse scheme's t_f, t(b) for the Parareal model.
 *
 * Pipeline (DESIGN §4.1), P ranks, M micro-batches of sizes b_m (the solver's
 * split: B/M, the first B mod M one larger), n_P = ⌈N/P⌉ steps on the slowest
 * rank, τ(b) = n_P·t(b) + c(b), msg(b) = L + 8(b·D + 1)/W:
 *   T(P, M) = Σ_m τ(b_m) + (P − 1)·(τ(b_0) + 2·msg(b_0)) + C(P)
 * (the last rank finishes its forward after the first micro-batch crossed
 * P − 1 blocks and messages, and the backward drains the same way), with the
 * collectives C(P) = ⌈log2 P⌉·(7·L + 8p/W + 8BD/W): five latency-bound
 * Allreduces (status agreements, loss), the Allreduce of θ̄ (p doubles) and
 * the Bcast of ∂L/∂z0.  Busy time of rank r: Σ_m (n_r·t(b_m) + c(b_m)).
 *
 * Parareal (DESIGN §4.2), K forward and K_a adjoint iterations (inputs: they
 * are measured by a Parareal run), coarse propagator G = g steps of the coarse
 * scheme per block, whole batch (no micro-batches), τ_F = n_P·t_f(B),
 * τ_Fa = n_P·(t(B) − t_f(B)), τ_G, τ_Ga the coarse forward and adjoint:
 *   T = (K+1)(P·τ_G + (P−1)·msg(B)) + K(τ_F + ⌈log2 P⌉·L)
 *     + (K_a+1)(P·τ_Ga + (P−1)·msg(B)) + K_a(τ_Fa + ⌈log2 P⌉·L)
 *     + n_P·t(B) + c(B) + C(P)
 * (a serial coarse sweep before and after each parallel fine sweep, one
 * convergence Allreduce per iteration, the fine trajectory kept from the last
 * fine sweep, then one fine adjoint per block accumulating θ̄).
 *
 * The validation's busy time is the process CPU time of a gradient minus the
 * CPU time spent inside MPI calls, which this file counts through the MPI
 * profiling interface (PMPI wrappers below, active only while measuring):
 * waiting ranks spin inside MPI, and on an oversubscribed node a rank's wall
 * time also includes the time other ranks had its core. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "perfmodel.h"

#define TRY(expr)                           \
  do {                                      \
    const int try_rc_ = (expr);             \
    if (try_rc_ != PN_OK) return try_rc_;   \
  } while (0)

enum {
  CAL_MAX = 16,         /* calibrated micro-batch sizes: 1, 2, 4, ..., ≤ CAL_BMAX */
  CAL_BMAX = 4096,      /* larger batches are extrapolated linearly */
  NET_MAX = 12,         /* ping-pong message sizes */
  MAX_RANK_ROWS = 64,
  MAX_K = 8,
  N_SMALL_ALLREDUCES = 5 /* solver: method, setup, forward, backward agreements; loss */
};

/* ---------------- clocks; CPU time spent inside MPI (PMPI) ---------------- */

static double cpu_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static struct {
  int on;       /* count only while measuring */
  int depth;    /* MPI calls do not nest in pinode, but be safe */
  double cpu;   /* process CPU seconds inside MPI calls */
  double wall;  /* wall seconds inside MPI calls */
} mpi_acct;

typedef struct acct_mark {
  double cpu, wall;
  int counted;
} acct_mark;

static acct_mark acct_enter(void)
{
  acct_mark m = {0.0, 0.0, 0};
  if (mpi_acct.on && mpi_acct.depth == 0) {
    m.counted = 1;
    m.cpu = cpu_now();
    m.wall = PMPI_Wtime();
  }
  mpi_acct.depth++;
  return m;
}

static void acct_leave(acct_mark m)
{
  mpi_acct.depth--;
  if (m.counted) {
    mpi_acct.cpu += cpu_now() - m.cpu;
    mpi_acct.wall += PMPI_Wtime() - m.wall;
  }
}

/* The MPI calls pinode's solver and program make (MPI profiling interface:
 * these definitions take the MPI library's place in this program and call
 * its PMPI_ entry points). */
int MPI_Wait(MPI_Request *request, MPI_Status *status)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Wait(request, status);
  acct_leave(m);
  return rc;
}

int MPI_Waitall(int count, MPI_Request array_of_requests[], MPI_Status *array_of_statuses)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Waitall(count, array_of_requests, array_of_statuses);
  acct_leave(m);
  return rc;
}

int MPI_Waitany(int count, MPI_Request array_of_requests[], int *index, MPI_Status *status)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Waitany(count, array_of_requests, index, status);
  acct_leave(m);
  return rc;
}

int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
              MPI_Request *request)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Isend(buf, count, datatype, dest, tag, comm, request);
  acct_leave(m);
  return rc;
}

int MPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
              MPI_Request *request)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Irecv(buf, count, datatype, source, tag, comm, request);
  acct_leave(m);
  return rc;
}

int MPI_Send(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Send(buf, count, datatype, dest, tag, comm);
  acct_leave(m);
  return rc;
}

int MPI_Recv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
             MPI_Status *status)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Recv(buf, count, datatype, source, tag, comm, status);
  acct_leave(m);
  return rc;
}

int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag,
                 void *recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag,
                 MPI_Comm comm, MPI_Status *status)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Sendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
                               recvtype, source, recvtag, comm, status);
  acct_leave(m);
  return rc;
}

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                  MPI_Comm comm)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
  acct_leave(m);
  return rc;
}

int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
               int root, MPI_Comm comm)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Reduce(sendbuf, recvbuf, count, datatype, op, root, comm);
  acct_leave(m);
  return rc;
}

int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Bcast(buffer, count, datatype, root, comm);
  acct_leave(m);
  return rc;
}

int MPI_Barrier(MPI_Comm comm)
{
  const acct_mark m = acct_enter();
  const int rc = PMPI_Barrier(comm);
  acct_leave(m);
  return rc;
}

int MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
               int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm)
{
  const acct_mark m = acct_enter();
  const int rc =
      PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
  acct_leave(m);
  return rc;
}

/* ------------------------------- helpers -------------------------------- */

static int cmp_long(const void *a, const void *b)
{
  const long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* Smallest of x[0..n). */
static double min_of(const double *x, int n)
{
  double m = x[0];
  for (int i = 1; i < n; i++)
    if (x[i] < m) m = x[i];
  return m;
}

/* A barrier that sleeps: the ranks that wait while others measure poll a
 * non-blocking barrier every millisecond instead of spinning inside MPI, so
 * that the measuring ranks have the CPUs to themselves. */
static void quiet_barrier(MPI_Comm comm)
{
  MPI_Request req;
  int done = 0;
  const struct timespec ms = {0, 1000000};
  MPI_Ibarrier(comm, &req);
  for (MPI_Test(&req, &done, MPI_STATUS_IGNORE); !done; MPI_Test(&req, &done, MPI_STATUS_IGNORE))
    nanosleep(&ms, NULL);
}

static int ceil_log2(long P)
{
  int r = 0;
  while ((1L << r) < P) r++;
  return r;
}

/* --------------------------- the host we run on -------------------------- */

typedef struct host_info {
  char name[256];
  char cpu[256];
  long cpus_online;
  double load1;          /* /proc/loadavg at the start */
  int local_ranks;       /* ranks of the context on this node */
  int local_cpus;        /* CPUs the node's ranks may run on (union of affinities) */
  char mpi[256];
} host_info;

static void read_host(pn_ctx *ctx, host_info *h)
{
  memset(h, 0, sizeof *h);
  if (gethostname(h->name, sizeof h->name - 1) != 0) snprintf(h->name, sizeof h->name, "?");
  snprintf(h->cpu, sizeof h->cpu, "?");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10) == 0) {
        const char *v = strchr(line, ':');
        if (v) {
          v++;
          while (*v == ' ') v++;
          snprintf(h->cpu, sizeof h->cpu, "%s", v);
          h->cpu[strcspn(h->cpu, "\n")] = '\0';
        }
        break;
      }
    }
    fclose(f);
  }
  h->cpus_online = sysconf(_SC_NPROCESSORS_ONLN);
  f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &h->load1) != 1) h->load1 = NAN;
    fclose(f);
  } else {
    h->load1 = NAN;
  }
  int len = 0;
  MPI_Get_library_version(h->mpi, &len);
  h->mpi[strcspn(h->mpi, "\n,")] = '\0';
  /* ranks sharing this node, and the CPUs they may use between them */
  MPI_Comm node;
  MPI_Comm_split_type(pn_ctx_comm(ctx), MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &h->local_ranks);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    CPU_ZERO(&set);
    for (long c = 0; c < h->cpus_online && c < CPU_SETSIZE; c++) CPU_SET((int)c, &set);
  }
  cpu_set_t all;
  CPU_ZERO(&all);
  MPI_Allreduce(&set, &all, (int)(sizeof set / sizeof(unsigned long)), MPI_UNSIGNED_LONG, MPI_BOR,
                node);
  h->local_cpus = CPU_COUNT(&all);
  MPI_Comm_free(&node);
}

/* ------------------------------ calibration ------------------------------ */

/* One micro-batch size: best of R (process CPU seconds) of one call. */
typedef struct cal_point {
  int b;                      /* samples in the micro-batch */
  long n_lo, n_hi;            /* the two step counts timed */
  double grad_lo, grad_hi;    /* gradient (forward + backward) */
  double loss_lo, loss_hi;    /* forward only */
  double wall_hi;             /* wall seconds of one gradient at n_hi */
  double t_step;              /* derived: forward+backward per step */
  double t_fwd;               /* derived: forward per step */
  double fixed;               /* derived: cost per call whatever the steps (≥ 0) */
  double t_step_raw, t_fwd_raw, fixed_raw; /* before cal_clean() */
} cal_point;

typedef struct cal_table {
  int n;
  cal_point pt[CAL_MAX]; /* ascending b */
} cal_table;

typedef struct cal_env {
  pn_ctx *self;               /* one-rank context (rank 0) */
  const pn_problem *p;
  pn_model *model;
  pn_storage_kind storage;
  long storage_param;
  int repeat;
  double min_sample;          /* seconds of CPU per timed sample */
} cal_env;

/* Linear interpolation in b of a derived quantity (0 t_step, 1 t_fwd, 2
 * fixed); linear extrapolation beyond the largest calibrated size. */
static double cal_at(const cal_table *c, double b, int what)
{
  const cal_point *pt = c->pt;
  double y[CAL_MAX];
  for (int i = 0; i < c->n; i++) y[i] = what == 0 ? pt[i].t_step : what == 1 ? pt[i].t_fwd : pt[i].fixed;
  if (c->n == 1) return what == 2 ? y[0] : y[0] * b / pt[0].b;
  int i = 0;
  while (i < c->n - 2 && b > pt[i + 1].b) i++;
  const double x0 = pt[i].b, x1 = pt[i + 1].b;
  double v = y[i] + (y[i + 1] - y[i]) * (b - x0) / (x1 - x0);
  if (b < x0) v = y[i]; /* b below the smallest size (never: sizes start at 1) */
  return v > 0.0 ? v : 0.0;
}

/* The micro-batch size from which the cost per sample per step is within 10 %
 * of that at the largest calibrated size. */
static int cal_threshold(const cal_table *c)
{
  const cal_point *last = &c->pt[c->n - 1];
  const double asym = last->t_step / last->b;
  for (int i = 0; i < c->n; i++)
    if (c->pt[i].t_step / c->pt[i].b <= 1.1 * asym) return c->pt[i].b;
  return last->b;
}

/* Time a call (gradient or loss only) of a solver: the best (smallest) of
 * repeat samples of process CPU (and wall) seconds per call; each sample
 * repeats the call until it has used min_sample seconds of CPU.  The best of
 * several is the cost of the call itself: on a shared machine, other
 * processes only ever add to it (cache and TLB misses after preemption). */
static int time_calls(const cal_env *E, pn_solver *S, const pn_loss *loss, int b, const double *z0,
                      int gradient, double *cpu_out, double *wall_out)
{
  const pn_problem *p = E->p;
  const size_t np = (size_t)p->nparam;
  double *g = malloc(sizeof(double) * (np + (size_t)b * (size_t)p->spec.dim));
  double *cs = malloc(sizeof(double) * 2 * (size_t)E->repeat);
  if (!g || !cs) {
    free(g);
    free(cs);
    return pn_ctx_fail(E->self, PN_ERR_MEM, "out of memory timing the calibration");
  }
  double *ws = cs + E->repeat, L = 0.0;
  int rc = PN_OK;
#define ONE_CALL()                                                                       \
  (gradient ? pn_solver_gradient(S, p->theta, b, z0, loss, &L, g, g + np)                 \
            : pn_solver_loss(S, p->theta, b, z0, loss, &L))
  double c0 = cpu_now();
  rc = ONE_CALL(); /* warm-up and probe */
  const double probe = cpu_now() - c0;
  long k = probe > 0.0 ? (long)ceil(E->min_sample / probe) : 1000;
  if (k < 1) k = 1;
  if (k > 100000) k = 100000;
  for (int r = 0; r < E->repeat && rc == PN_OK; r++) {
    c0 = cpu_now();
    const double w0 = MPI_Wtime();
    for (long i = 0; i < k && rc == PN_OK; i++) rc = ONE_CALL();
    cs[r] = (cpu_now() - c0) / (double)k;
    ws[r] = (MPI_Wtime() - w0) / (double)k;
  }
#undef ONE_CALL
  if (rc == PN_OK) {
    *cpu_out = min_of(cs, E->repeat);
    *wall_out = min_of(ws, E->repeat);
  }
  free(g);
  free(cs);
  return rc;
}

/* A solver over n steps of the problem's h for a batch of b samples (the
 * problem's initial states, repeated as needed), with one label at its end. */
typedef struct cal_case {
  pn_solver *solver;
  pn_loss *loss;
  double *z0;
} cal_case;

static void cal_case_free(cal_case *k)
{
  pn_solver_destroy(&k->solver);
  pn_loss_destroy(&k->loss);
  free(k->z0);
  k->z0 = NULL;
}

static int cal_case_make(const cal_env *E, const pn_tableau *tab, int b, long n, cal_case *k)
{
  const pn_problem *p = E->p;
  const int D = p->spec.dim;
  memset(k, 0, sizeof *k);
  k->z0 = calloc((size_t)b * (size_t)D * 2, sizeof(double)); /* z0, then zero targets */
  if (!k->z0) return pn_ctx_fail(E->self, PN_ERR_MEM, "out of memory for a calibration batch");
  for (int s = 0; s < b; s++)
    memcpy(k->z0 + (size_t)s * (size_t)D, p->z0 + (size_t)(s % p->batch) * (size_t)D,
           sizeof(double) * (size_t)D);
  const double h = (p->t1 - p->t0) / (double)p->steps, t1 = p->t0 + (double)n * h;
  TRY(pn_loss_create_mse(E->self, 1, &t1, k->z0 + (size_t)b * D, NULL, b, D, &k->loss));
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = p->t0;
  o.t1 = t1;
  o.nsteps = n;
  o.storage = E->storage;
  o.storage_param = E->storage_param;
  o.microbatches = 1;
  return pn_solver_create(E->self, E->model, tab, &o, &k->solver);
}

/* Calibrate one micro-batch size: gradient and forward at two step counts. */
static int cal_point_measure(const cal_env *E, const pn_tableau *tab, int b, cal_point *pt)
{
  const long N = E->p->steps;
  cal_case k;
  memset(pt, 0, sizeof *pt);
  pt->b = b;
  /* step counts: n_hi such that one gradient takes ~min_sample of CPU, ≤ N
   * (the problem's own horizon, where its states are known to stay finite),
   * and n_lo = n_hi/8: the slope between them is the cost per step, the
   * intercept the cost per call whatever the steps */
  long n = N < 8 ? N : 8;
  int rc = cal_case_make(E, tab, b, n, &k);
  double cpu = 0.0, wall = 0.0;
  if (rc == PN_OK) {
    const double c0 = cpu_now();
    double L = 0.0;
    rc = pn_solver_loss(k.solver, E->p->theta, b, k.z0, k.loss, &L);
    cpu = cpu_now() - c0;
  }
  cal_case_free(&k);
  TRY(rc);
  const double want = E->min_sample / 3.0; /* a gradient is ~3 forward sweeps */
  if (cpu > 0.0 && cpu < want) n = (long)((double)n * want / cpu);
  if (n > N) n = N;
  if (n < 2 && N >= 2) n = 2;
  pt->n_hi = n;
  pt->n_lo = n >= 8 ? n / 8 : n >= 2 ? 1 : n;
  for (int i = 0; i < 2; i++) {
    const long steps = i ? pt->n_hi : pt->n_lo;
    rc = cal_case_make(E, tab, b, steps, &k);
    double *g = i ? &pt->grad_hi : &pt->grad_lo, *l = i ? &pt->loss_hi : &pt->loss_lo;
    if (rc == PN_OK) rc = time_calls(E, k.solver, k.loss, b, k.z0, 1, g, i ? &pt->wall_hi : &wall);
    if (rc == PN_OK) rc = time_calls(E, k.solver, k.loss, b, k.z0, 0, l, &wall);
    cal_case_free(&k);
    TRY(rc);
  }
  if (pt->n_hi > pt->n_lo) {
    const double dn = (double)(pt->n_hi - pt->n_lo);
    pt->t_step = (pt->grad_hi - pt->grad_lo) / dn;
    pt->t_fwd = (pt->loss_hi - pt->loss_lo) / dn;
    pt->fixed = pt->grad_hi - (double)pt->n_hi * pt->t_step;
  } else { /* N = 1: no intercept to fit; the fixed cost is counted per step */
    pt->t_step = pt->grad_hi / (double)pt->n_hi;
    pt->t_fwd = pt->loss_hi / (double)pt->n_hi;
    pt->fixed = 0.0;
  }
  /* noise can make a difference of two timings non-positive at tiny sizes */
  if (!(pt->t_step > 0.0)) pt->t_step = pt->grad_hi / (double)pt->n_hi;
  if (!(pt->t_fwd > 0.0) || pt->t_fwd > pt->t_step) pt->t_fwd = pt->loss_hi / (double)pt->n_hi;
  if (pt->t_fwd > pt->t_step) pt->t_fwd = pt->t_step;
  if (!(pt->fixed > 0.0)) pt->fixed = 0.0;
  return PN_OK;
}

/* Pool adjacent violators: the least-squares non-decreasing fit of y[0..n). */
static void monotone_fit(double *y, int n)
{
  double val[CAL_MAX], w[CAL_MAX];
  int len[CAL_MAX], k = 0;
  for (int i = 0; i < n; i++) {
    val[k] = y[i];
    w[k] = 1.0;
    len[k] = 1;
    while (k > 0 && val[k - 1] > val[k]) {
      val[k - 1] = (w[k - 1] * val[k - 1] + w[k] * val[k]) / (w[k - 1] + w[k]);
      w[k - 1] += w[k];
      len[k - 1] += len[k];
      k--;
    }
    k++;
  }
  for (int b = 0, i = 0; b < k; b++)
    for (int j = 0; j < len[b]; j++) y[i++] = val[b];
}

/* Measurement noise on a shared machine can make a smaller micro-batch look
 * dearer per step than a larger one, and scatters the small intercepts: the
 * model uses the least-squares non-decreasing fits of t(b) and t_f(b) over
 * b, and one fixed cost per micro-batch, the median of the intercepts (the
 * raw values stay in the JSON). */
static void cal_clean(cal_table *c)
{
  double ts[CAL_MAX], tf[CAL_MAX], fx[CAL_MAX];
  for (int i = 0; i < c->n; i++) {
    cal_point *q = &c->pt[i];
    q->t_step_raw = q->t_step;
    q->t_fwd_raw = q->t_fwd;
    q->fixed_raw = q->fixed;
    ts[i] = q->t_step;
    tf[i] = q->t_fwd;
    fx[i] = q->fixed;
  }
  monotone_fit(ts, c->n);
  monotone_fit(tf, c->n);
  const double med = cli_median(fx, c->n);
  for (int i = 0; i < c->n; i++) {
    c->pt[i].t_step = ts[i];
    c->pt[i].t_fwd = tf[i] < ts[i] ? tf[i] : ts[i];
    c->pt[i].fixed = med;
  }
}

/* Calibrate the main scheme at b = 1, 2, 4, ... up to bmax (and bmax), and the
 * coarse scheme at bmax, on rank 0 alone; the tables are broadcast. */
static int calibrate(pn_ctx *ctx, const pn_problem *p, const char *coarse_scheme, int bmax,
                     pn_storage_kind storage, long storage_param, int repeat, cal_table *fine,
                     cal_table *coarse)
{
  MPI_Comm one;
  const int rank = pn_ctx_rank(ctx);
  int rc = PN_OK;
  MPI_Comm_split(pn_ctx_comm(ctx), rank == 0 ? 0 : MPI_UNDEFINED, 0, &one);
  memset(fine, 0, sizeof *fine);
  memset(coarse, 0, sizeof *coarse);
  if (rank == 0) {
    cal_env E = {.p = p, .storage = storage, .storage_param = storage_param, .repeat = repeat,
                 .min_sample = 8e-3};
    pn_tableau *tab = NULL, *ctab = NULL;
    rc = pn_ctx_create(one, &E.self);
    if (rc == PN_OK) rc = pn_model_create_mlp(E.self, &p->spec, &E.model);
    if (rc == PN_OK) rc = pn_tableau_create(E.self, p->scheme, &tab);
    if (rc == PN_OK) rc = pn_tableau_create(E.self, coarse_scheme, &ctab);
    for (int b = 1; rc == PN_OK && fine->n < CAL_MAX; b *= 2) {
      const int bb = b < bmax ? b : bmax;
      rc = cal_point_measure(&E, tab, bb, &fine->pt[fine->n++]);
      if (bb == bmax) break;
    }
    if (rc == PN_OK) {
      coarse->n = 1;
      rc = cal_point_measure(&E, ctab, bmax, &coarse->pt[0]);
    }
    if (rc == PN_OK) {
      cal_clean(fine);
      cal_clean(coarse);
    }
    if (rc != PN_OK)
      pn_ctx_fail(ctx, rc, "calibration: %s", E.self ? pn_ctx_last_error(E.self) : "no context");
    pn_tableau_destroy(&tab);
    pn_tableau_destroy(&ctab);
    pn_model_destroy(&E.model);
    pn_ctx_destroy(&E.self);
    MPI_Comm_free(&one);
  }
  MPI_Comm comm = pn_ctx_comm(ctx);
  quiet_barrier(comm);
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc != PN_OK)
    return rank == 0 ? rc : pn_ctx_fail(ctx, rc, "the calibration failed on rank 0");
  MPI_Bcast(fine, (int)sizeof *fine, MPI_BYTE, 0, comm);
  MPI_Bcast(coarse, (int)sizeof *coarse, MPI_BYTE, 0, comm);
  return PN_OK;
}

/* ---------------------------- the network -------------------------------- */

typedef struct net_info {
  int measured;           /* a ping-pong ran (≥ 2 ranks) */
  int same_node;          /* ranks 0 and 1 share a node */
  char peer[256];         /* rank 1's processor name */
  int n;
  double bytes[NET_MAX], half_rtt[NET_MAX]; /* best of R */
  double L_meas, W_meas;  /* fitted */
  double L, W;            /* used by the model (measured or given) */
  int L_given, W_given;
  double allreduce_meas;  /* best of R: seconds of one Allreduce of p doubles here */
} net_info;

/* Least-squares fit of half round trip = L + s/W over the sizes ≥ 32 KiB
 * (bandwidth-bound); L is the half round trip of the smallest message. */
static void net_fit(net_info *net)
{
  net->L_meas = net->half_rtt[0];
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int m = 0;
  for (int i = 0; i < net->n; i++) {
    if (net->bytes[i] < 32768) continue;
    sx += net->bytes[i];
    sy += net->half_rtt[i];
    sxx += net->bytes[i] * net->bytes[i];
    sxy += net->bytes[i] * net->half_rtt[i];
    m++;
  }
  const double den = m * sxx - sx * sx;
  const double slope = m >= 2 && den > 0 ? (m * sxy - sx * sy) / den : NAN;
  net->W_meas = slope > 0 ? 1.0 / slope : INFINITY;
}

static int pingpong(pn_ctx *ctx, int repeat, net_info *net)
{
  MPI_Comm comm = pn_ctx_comm(ctx);
  const int rank = pn_ctx_rank(ctx), size = pn_ctx_size(ctx);
  if (size < 2) return PN_OK;
  static const double sizes[NET_MAX] = {8, 64, 512, 4096, 32768, 65536, 131072, 262144, 524288,
                                        1048576, 2097152, 4194304};
  const size_t maxb = 4194304;
  char *buf = rank <= 1 ? calloc(maxb, 1) : NULL;
  double *t = calloc((size_t)repeat, sizeof(double));
  int ok = (rank > 1 || buf) && t, all = 0;
  PMPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  if (!all) {
    free(buf);
    free(t);
    return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the ping-pong");
  }
  char name[MPI_MAX_PROCESSOR_NAME] = {0}, other[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  if (rank <= 1) {
    const int peer = 1 - rank;
    MPI_Sendrecv(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, peer, 7, other, MPI_MAX_PROCESSOR_NAME,
                 MPI_CHAR, peer, 7, comm, MPI_STATUS_IGNORE);
    for (int i = 0; i < NET_MAX; i++) {
      const int s = (int)sizes[i];
      int iters = (int)(4194304.0 / (sizes[i] + 4096.0));
      if (iters < 8) iters = 8;
      if (iters > 1000) iters = 1000;
      for (int r = -1; r < repeat; r++) { /* r = −1: warm-up */
        const double t0 = MPI_Wtime();
        for (int it = 0; it < iters; it++) {
          if (rank == 0) {
            MPI_Send(buf, s, MPI_BYTE, 1, 8, comm);
            MPI_Recv(buf, s, MPI_BYTE, 1, 8, comm, MPI_STATUS_IGNORE);
          } else {
            MPI_Recv(buf, s, MPI_BYTE, 0, 8, comm, MPI_STATUS_IGNORE);
            MPI_Send(buf, s, MPI_BYTE, 0, 8, comm);
          }
        }
        if (r >= 0) t[r] = (MPI_Wtime() - t0) / (2.0 * iters);
      }
      net->bytes[i] = sizes[i];
      net->half_rtt[i] = min_of(t, repeat);
    }
    net->n = NET_MAX;
    net->measured = 1;
    net->same_node = strcmp(name, other) == 0;
    snprintf(net->peer, sizeof net->peer, "%s", rank == 0 ? other : name);
    net_fit(net);
  }
  free(buf);
  free(t);
  quiet_barrier(comm);
  MPI_Bcast(net, (int)sizeof *net, MPI_BYTE, 0, comm);
  return PN_OK;
}

/* One Allreduce of p doubles, as the solver's θ̄ reduction: the best of
 * repeat samples (each 20 calls) of the slowest rank's time per call. */
static int measure_allreduce(pn_ctx *ctx, int p, int repeat, net_info *net)
{
  MPI_Comm comm = pn_ctx_comm(ctx);
  double *x = calloc(2 * (size_t)p + (size_t)repeat, sizeof(double));
  int ok = x != NULL, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  if (!all) {
    free(x);
    return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the Allreduce timing");
  }
  double *y = x + p, *t = y + p;
  for (int r = -1; r < repeat; r++) {
    MPI_Barrier(comm);
    const double t0 = MPI_Wtime();
    for (int i = 0; i < 20; i++) MPI_Allreduce(x, y, p, MPI_DOUBLE, MPI_SUM, comm);
    const double mine = (MPI_Wtime() - t0) / 20.0;
    double slowest = 0.0;
    MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);
    if (r >= 0) t[r] = slowest;
  }
  net->allreduce_meas = min_of(t, repeat);
  free(x);
  return PN_OK;
}

/* ------------------------------- the model ------------------------------- */

typedef struct model {
  const cal_table *fine, *coarse;
  const net_info *net;
  int B, D, nparam;
  long coarse_steps;      /* g: coarse steps per block; 0: ⌈block/10⌉ (the solver's default) */
  int maps;               /* Parareal adjoint by affine maps instead of iterations */
} model;

static double tau(const model *m, long n, int b)
{
  return (double)n * cal_at(m->fine, b, 0) + cal_at(m->fine, b, 2);
}

static double msg_time(const model *m, int b)
{
  return m->net->L + 8.0 * ((double)b * m->D + 1.0) / m->net->W;
}

static double coll_time(const model *m, long P)
{
  if (P <= 1) return 0.0;
  const double L = m->net->L, W = m->net->W;
  return ceil_log2(P) * ((N_SMALL_ALLREDUCES + 2) * L + 8.0 * m->nparam / W +
                         8.0 * (double)m->B * m->D / W);
}

/* The solver's automatic micro-batch count (a copy of the rule in solver.c,
 * choose_microbatches: M = round(sqrt((P-1)·B/3)), 1 ≤ M ≤ B).  The
 * validation reports it when the solver chose otherwise. */
/* Predicted time per gradient of the pipeline; NAN when P > N. */
static double pipe_time(const model *m, long N, long P, int M)
{
  if (P > N || P < 1) return NAN;
  if (M > m->B) M = m->B;
  if (M < 1) M = 1;
  const long nP = (N + P - 1) / P;
  const int q = m->B / M, r = m->B % M, b0 = q + (r > 0);
  double sum = r * tau(m, nP, q + 1);
  if (q > 0) sum += (M - r) * tau(m, nP, q);
  return sum + (double)(P - 1) * (tau(m, nP, b0) + 2.0 * msg_time(m, b0)) + coll_time(m, P);
}

/* Predicted busy time of a rank owning n steps (compute only). */
static double pipe_busy(const model *m, long n, int M)
{
  if (M > m->B) M = m->B;
  const int q = m->B / M, r = m->B % M;
  double sum = r * tau(m, n, q + 1);
  if (q > 0) sum += (M - r) * tau(m, n, q);
  return sum;
}

/* The micro-batch count with the smallest predicted time (ties: fewer). */
static int best_microbatches(const model *m, long N, long P, double *t_out)
{
  int best = 1;
  double tb = pipe_time(m, N, P, 1);
  for (int M = 2; M <= m->B; M = M < 1024 ? M + 1 : M + M / 16) {
    const double t = pipe_time(m, N, P, M);
    if (t < tb) {
      tb = t;
      best = M;
    }
  }
  *t_out = tb;
  return best;
}

/* Parareal's coarse steps per block of n steps (solver: parareal.c, coarse_steps). */
static long coarse_per_block(const model *m, long n)
{
  return m->coarse_steps > 0 ? m->coarse_steps : (n + 9) / 10;
}

/* The pieces of a Parareal gradient on a block of n steps (whole batch B):
 * fine forward τF and fine adjoint τFa sweeps, one coarse step τG and its
 * adjoint τGa times the coarse steps, the affine-map build (maps adjoint). */
typedef struct par_costs {
  double tauF, tauFa, tauG, tauGa, map;
} par_costs;

static par_costs parareal_costs(const model *m, long n, long nblock)
{
  const int B = m->B;
  const double c = cal_at(m->fine, B, 2), tf = cal_at(m->fine, B, 1), tt = cal_at(m->fine, B, 0);
  const double g = (double)coarse_per_block(m, nblock);
  const double tgf = cal_at(m->coarse, B, 1), tgt = cal_at(m->coarse, B, 0);
  const double wide = (double)B * (m->D + 1); /* the map sweep's rows */
  par_costs pc = {(double)n * tf + c, (double)n * (tt - tf) + c, g * tgf, g * (tgt - tgf),
                  (double)n * (cal_at(m->fine, wide, 0) - cal_at(m->fine, wide, 1))};
  return pc;
}

/* Predicted Parareal time per gradient with K forward and K_a adjoint
 * iterations (the implementation, parareal.c): a serial coarse sweep, then
 * per iteration a parallel fine sweep, a serial correction G(U_r) + F − G
 * from rank to rank and a convergence Allreduce; the iterative adjoint the
 * same with F* and G* from right to left (after one coarse sweep storing
 * G's states); the maps adjoint one batched sweep of B(D+1) rows, an
 * Exscan of the packed maps and one fine adjoint sweep.  NAN when P > N. */
static double parareal_time(const model *m, long N, long P, int K, int KA)
{
  if (P > N || P < 1) return NAN;
  if (P == 1) return pipe_time(m, N, 1, 1);
  const long nP = (N + P - 1) / P;
  const par_costs pc = parareal_costs(m, nP, nP);
  const double msgB = msg_time(m, m->B), lg = ceil_log2(P) * m->net->L;
  const double chain = (double)(P - 1) * (pc.tauG + msgB);
  const double fwd = chain + K * (pc.tauF + chain + lg);
  double adj;
  if (m->maps) {
    const double elem = 8.0 * (2.0 + (double)m->B * ((double)m->D * m->D + m->D));
    adj = pc.map + ceil_log2(P) * (m->net->L + elem / m->net->W) + pc.tauFa;
  } else {
    adj = pc.tauG + KA * (pc.tauFa + (double)(P - 1) * (pc.tauGa + msgB) + lg);
  }
  return fwd + adj + coll_time(m, P);
}

/* Predicted busy time of rank r (of P, owning n steps, blocks of nP) under
 * Parareal: after iteration k the first k block starts are exact, and a
 * rank whose start did not change skips its fine sweep and its correction;
 * so rank r runs F min(K, r+1) times and G 1 + min(K, r) times (none on the
 * last rank), F* min(K_a, P−r) times and G* min(K_a, P−1−r) times. */
static double parareal_busy(const model *m, long P, long r, long n, long nP, int K, int KA)
{
  const par_costs pc = parareal_costs(m, n, nP);
  const double nF = (double)(K < r + 1 ? K : r + 1);
  const double nG = r < P - 1 ? 1.0 + (double)(K < r ? K : r) : 0.0;
  double busy = nF * pc.tauF + nG * pc.tauG;
  if (m->maps) {
    busy += pc.map + pc.tauFa;
  } else {
    const double nFa = (double)(KA < P - r ? KA : P - r);
    const double nGa = r > 0 ? (double)(KA < P - 1 - r ? KA : P - 1 - r) : 0.0;
    busy += (r > 0 ? pc.tauG : 0.0) + nFa * pc.tauFa + nGa * pc.tauGa;
  }
  return busy;
}

/* ------------------------------ validation ------------------------------- */

enum { V_WALL, V_BUSY, V_BUSYW, V_CPU, V_MPICPU, V_FWD, V_BWD, V_WAIT, V_LO, V_HI, V_NF };

/* The measurements are compared as the best (smallest) of R gradients, the
 * cost of the computation itself on a shared machine (the calibration is a
 * best of R too); the medians are reported alongside. */
typedef struct validation {
  int done;
  int parareal;                  /* 0: the pipeline; 1: Parareal */
  int K, KA;                     /* Parareal: the iterations it took (same every gradient) */
  int P, M, repeat;
  int oversubscribed;
  double wall_best, wall_med;    /* slowest rank per gradient */
  double *ranks;                 /* P × 2·V_NF (rank 0): best of R, then medians */
  double pred_wall;
  double *pred_busy;             /* P */
  double err_wall, err_wall_med; /* (model − measured)/measured */
  double err_busy, err_busy_med; /* the rank with the largest |error| of busy time, signed */
  double err_busy_sum;           /* error of the busy time summed over ranks (best of R) */
  double tol;
  int within;                    /* the criterion's error within tol */
  const char *criterion;
} validation;

static int validate(pn_ctx *ctx, const char *dir, const pn_solver_opts *base, int repeat,
                    const model *m, const host_info *host, double tol, validation *v)
{
  MPI_Comm comm = pn_ctx_comm(ctx);
  const int P = pn_ctx_size(ctx), rank = pn_ctx_rank(ctx);
  cli_setup s;
  int rc = cli_setup_problem(ctx, dir, base, &s);
  double *buf = NULL, *grad = NULL;
  if (rc != PN_OK) goto cleanup;
  const pn_problem *p = s.problem;
  const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
  grad = malloc(sizeof(double) * (np + nz));
  buf = calloc((size_t)repeat * V_NF + 2 * (size_t)P * V_NF + (size_t)repeat, sizeof(double));
  int ok = grad && buf, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  if (!all) {
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the validation");
    goto cleanup;
  }
  double *samples = buf, *ranks = buf + (size_t)repeat * V_NF, *wall = ranks + 2 * (size_t)P * V_NF;
  double loss = 0.0;
  pn_stats st;
  memset(&st, 0, sizeof st);
  rc = pn_solver_gradient(s.solver, p->theta, p->batch, p->z0, s.loss, &loss, grad, grad + np);
  for (int r = 0; r < repeat && rc == PN_OK; r++) {
    MPI_Barrier(comm);
    mpi_acct.cpu = mpi_acct.wall = 0.0;
    mpi_acct.on = 1;
    const double w0 = MPI_Wtime(), c0 = cpu_now();
    rc = pn_solver_gradient(s.solver, p->theta, p->batch, p->z0, s.loss, &loss, grad, grad + np);
    const double w = MPI_Wtime() - w0, c = cpu_now() - c0;
    mpi_acct.on = 0;
    pn_solver_get_stats(s.solver, &st);
    double *x = samples + (size_t)r * V_NF;
    x[V_WALL] = w;
    x[V_CPU] = c;
    x[V_MPICPU] = mpi_acct.cpu;
    x[V_BUSY] = c - mpi_acct.cpu;
    x[V_BUSYW] = st.time_forward + st.time_backward - st.time_wait;
    x[V_FWD] = st.time_forward;
    x[V_BWD] = st.time_backward;
    x[V_WAIT] = st.time_wait;
    MPI_Allreduce(&w, &wall[r], 1, MPI_DOUBLE, MPI_MAX, comm);
  }
  if (rc != PN_OK) goto cleanup; /* the solver's errors are agreed on by every rank */
  double mine[2 * V_NF];
  double *tmp = malloc(sizeof(double) * (size_t)repeat);
  ok = tmp != NULL;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
  if (!ok) {
    free(tmp);
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the validation");
    goto cleanup;
  }
  for (int f = 0; f < V_NF; f++) {
    for (int r = 0; r < repeat; r++) tmp[r] = samples[(size_t)r * V_NF + f];
    mine[f] = min_of(tmp, repeat);
    mine[V_NF + f] = cli_median(tmp, repeat);
  }
  free(tmp);
  mine[V_LO] = mine[V_NF + V_LO] = (double)st.block_lo;
  mine[V_HI] = mine[V_NF + V_HI] = (double)st.block_hi;
  MPI_Gather(mine, 2 * V_NF, MPI_DOUBLE, ranks, 2 * V_NF, MPI_DOUBLE, 0, comm);
  v->done = 1;
  v->parareal = base->method == PN_PARALLEL_PARAREAL;
  v->K = st.parareal_iterations;
  v->KA = st.parareal_adjoint_iterations;
  v->P = P;
  v->M = v->parareal ? 1 : st.microbatches;
  v->repeat = repeat;
  v->oversubscribed = host->local_ranks > host->local_cpus;
  v->wall_med = cli_median(wall, repeat);
  v->wall_best = wall[0]; /* sorted by cli_median() */
  v->tol = tol;
  v->pred_wall = v->parareal ? parareal_time(m, p->steps, P, v->K, v->KA)
                             : pipe_time(m, p->steps, P, v->M);
  v->err_wall = (v->pred_wall - v->wall_best) / v->wall_best;
  v->err_wall_med = (v->pred_wall - v->wall_med) / v->wall_med;
  if (rank == 0) {
    v->ranks = malloc(sizeof(double) * 2 * (size_t)P * V_NF);
    v->pred_busy = malloc(sizeof(double) * (size_t)P);
    if (!v->ranks || !v->pred_busy) {
      rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the validation");
    } else {
      memcpy(v->ranks, ranks, sizeof(double) * 2 * (size_t)P * V_NF);
      double sp = 0.0, sm = 0.0;
      for (int q = 0; q < P; q++) {
        const double *x = ranks + 2 * (size_t)q * V_NF, *xm = x + V_NF;
        const long nq = (long)(x[V_HI] - x[V_LO]), nP = (p->steps + P - 1) / P;
        v->pred_busy[q] = v->parareal ? parareal_busy(m, P, q, nq, nP, v->K, v->KA)
                                      : pipe_busy(m, nq, v->M);
        const double e = (v->pred_busy[q] - x[V_BUSY]) / x[V_BUSY];
        const double em = (v->pred_busy[q] - xm[V_BUSY]) / xm[V_BUSY];
        if (q == 0 || fabs(e) > fabs(v->err_busy)) v->err_busy = e;
        if (q == 0 || fabs(em) > fabs(v->err_busy_med)) v->err_busy_med = em;
        sp += v->pred_busy[q];
        sm += x[V_BUSY];
      }
      v->err_busy_sum = (sp - sm) / sm;
    }
  }
  MPI_Bcast(&v->err_busy, 1, MPI_DOUBLE, 0, comm);
  v->criterion = v->oversubscribed ? "busy time per rank (oversubscribed: more ranks than CPUs)"
                                   : "wall time per gradient";
  v->within = v->oversubscribed ? fabs(v->err_busy) <= tol : fabs(v->err_wall) <= tol;
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc != PN_OK && rank != 0) rc = pn_ctx_fail(ctx, rc, "rank 0 ran out of memory");
cleanup:
  free(buf);
  free(grad);
  cli_setup_free(&s);
  return rc;
}

/* ------------------------------- options --------------------------------- */

typedef struct model_opts {
  const char *dir;
  long steps;                 /* 0: the problem's */
  int batch;                  /* 0: the problem's */
  int microbatches;           /* 0: the solver's automatic rule */
  pn_solver_opts solver;      /* storage (calibration and validation) */
  long max_ranks;
  long ranks[MAX_RANK_ROWS];
  int nranks;
  int K[MAX_K], KA[MAX_K], nK; /* Parareal iterations (forward, adjoint) */
  int K_measured[MAX_K];      /* 1: measured by a Parareal run on these ranks */
  int KA_given;               /* 0: K_a = K */
  int measure_K;              /* --parareal-iterations measure */
  const char *coarse_scheme;  /* NULL: the problem's scheme (the solver's default) */
  long coarse_steps;          /* 0: ⌈block/10⌉ (the solver's default) */
  double par_tol;             /* Parareal tolerance of the measuring runs */
  int par_max_iter;
  int par_maps;               /* adjoint by affine maps */
  double latency, bandwidth;  /* > 0: given instead of measured */
  int repeat;
  int do_validate;
  double tol;
  const char *json;
  int quiet;
} model_opts;

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode bench --model [options] DIR\n"
            "\n"
            "Predicts the time per gradient of the pipelined (exact) and Parareal time-parallel\n"
            "modes for P = 1, 2, 4, ... ranks, for the problem directory DIR (or the same network\n"
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
            "  --storage S              trajectory storage: all (default) or every:K\n"
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
            "  --parareal-adjoint A     iterate (default) or maps, as pinode gradient\n"
            "  --coarse-scheme NAME     Parareal's coarse scheme (default: the problem's)\n"
            "  --coarse-steps G         its steps per block (default: a tenth of the block)\n"
            "  --latency S              message latency in seconds instead of the ping-pong's\n"
            "  --bandwidth BYTES_PER_S  bandwidth instead of the ping-pong's\n"
            "  --repeat R               timed samples per measurement (default 7; the best\n"
            "                           of them is used, the cost without interference)\n"
            "  --validate               also time the real pipelined gradient of DIR on these\n"
            "                           ranks and compare with the model (wall time; per-rank\n"
            "                           busy time when the node is oversubscribed)\n"
            "  --tol X                  the validation's tolerance (default 0.15)\n"
            "  --json FILE              write everything as JSON (rank 0)\n"
            "  --quiet                  print nothing\n"
            "  -h, --help               this text\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
  char *end = NULL;
  const long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

static int parse_list(const char *s, long lo, long hi, long *out, int cap, int *n)
{
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", s);
  *n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (*n >= cap || !parse_long(tok, lo, hi, &out[*n])) return 0;
    (*n)++;
  }
  return *n > 0;
}

static int parse_opts(pn_ctx *ctx, int argc, char **argv, model_opts *o)
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
      {"coarse-scheme", required_argument, NULL, 'c'},
      {"coarse-steps", required_argument, NULL, 'g'},
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
  o->max_ranks = 4096;
  o->repeat = 7;
  o->tol = 0.15;
  long v = 0;
  int c, li = 0;
  char *end = NULL;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
    switch (c) {
    case 'Z':
      break;
    case 'n':
      if (!parse_long(optarg, 1, 1L << 40, &o->steps)) goto bad;
      break;
    case 'b':
      if (!parse_long(optarg, 1, 1L << 30, &v)) goto bad;
      o->batch = (int)v;
      break;
    case 'm':
      if (!parse_long(optarg, 1, 1L << 30, &v)) goto bad;
      o->microbatches = (int)v;
      break;
    case 's':
      if (cli_parse_storage(optarg, &o->solver) != PN_OK) goto bad;
      break;
    case 'P':
      if (!parse_long(optarg, 1, 1L << 24, &o->max_ranks)) goto bad;
      break;
    case 'r':
      if (!parse_list(optarg, 1, 1L << 24, o->ranks, MAX_RANK_ROWS, &o->nranks)) goto bad;
      break;
    case 'k': { /* K[,K2,...], any of them "measure" */
      char tmp[256], *save = NULL;
      snprintf(tmp, sizeof tmp, "%s", optarg);
      o->nK = 0;
      for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "measure") == 0) {
          o->measure_K = 1;
        } else {
          if (o->nK >= MAX_K - 1 || !parse_long(tok, 1, 100000, &v)) goto bad;
          o->K[o->nK++] = (int)v;
        }
      }
      if (o->nK == 0 && !o->measure_K) goto bad;
      break;
    }
    case 'a':
      if (!parse_long(optarg, 1, 100000, &v)) goto bad;
      o->KA_given = (int)v;
      break;
    case 'T':
      o->par_tol = strtod(optarg, &end);
      if (*optarg == '\0' || *end != '\0' || !(o->par_tol >= 0) || !(o->par_tol < 1)) goto bad;
      break;
    case 'I':
      if (!parse_long(optarg, 1, 1000000, &v)) goto bad;
      o->par_max_iter = (int)v;
      break;
    case 'A':
      if (strcmp(optarg, "maps") != 0 && strcmp(optarg, "iterate") != 0) goto bad;
      o->par_maps = strcmp(optarg, "maps") == 0;
      break;
    case 'c':
      o->coarse_scheme = optarg;
      break;
    case 'g':
      if (!parse_long(optarg, 1, 1L << 30, &o->coarse_steps)) goto bad;
      break;
    case 'L':
      o->latency = strtod(optarg, &end);
      if (*optarg == '\0' || *end != '\0' || !(o->latency > 0) || !isfinite(o->latency)) goto bad;
      break;
    case 'W':
      o->bandwidth = strtod(optarg, &end);
      if (*optarg == '\0' || *end != '\0' || !(o->bandwidth > 0) || !isfinite(o->bandwidth))
        goto bad;
      break;
    case 'R':
      if (!parse_long(optarg, 1, 1000, &v)) goto bad;
      o->repeat = (int)v;
      break;
    case 'V':
      o->do_validate = 1;
      break;
    case 't':
      o->tol = strtod(optarg, &end);
      if (*optarg == '\0' || *end != '\0' || !(o->tol > 0)) goto bad;
      break;
    case 'j':
      o->json = optarg;
      break;
    case 'q':
      o->quiet = 1;
      break;
    case 'h':
      usage(ctx);
      return 0;
    default:
      usage(ctx);
      return 2;
    }
  }
  if (argc - optind != 1) {
    usage(ctx);
    return 2;
  }
  o->dir = argv[optind];
  for (int i = 0; i < o->nK; i++) o->KA[i] = o->KA_given ? o->KA_given : o->K[i];
  return -1;
bad:
  cli_print(ctx, "pinode bench --model: invalid value '%s' for --%s (see --help)\n", optarg,
            longopts[li].name);
  return 2;
}

/* ------------------------------- reporting ------------------------------- */

typedef struct row {
  long P;
  int M;
  double t, speedup, eff;
  int best_M;
  double best_t, best_speedup;
  double weak_t, weak_eff;
} row;

static const char *const assumptions[] = {
    "every rank computes at the speed measured here on rank 0 running alone: one core and one "
    "BLAS thread per rank, the same CPU on every node, no contention for caches or memory "
    "bandwidth between the ranks of a node",
    "t(b), the forward+backward time per step of a micro-batch of b samples, is interpolated "
    "linearly between the measured b = 1, 2, 4, ..., B (above the largest measured b, "
    "extrapolated linearly); below the threshold b* the cost per sample grows as micro-batches "
    "shrink, above it it is within 10 % of constant",
    "a micro-batch also costs a fixed c per block whatever its number of steps (the median "
    "over b of the intercepts of two step counts); t(b) does not decrease with b (the measured "
    "values are replaced by their least-squares non-decreasing fit)",
    "the slowest rank owns ceil(N/P) steps; P > N is impossible (each rank needs a step)",
    "one message per micro-batch per rank boundary in each sweep, each L + 8(bD+1)/W with the "
    "latency L and bandwidth W of the ping-pong between ranks 0 and 1, the same for every pair "
    "(on a cluster: run the model with ranks 0 and 1 on different nodes); no network "
    "contention; sends overlap computation",
    "collectives take ceil(log2 P) rounds (recursive doubling): five latency-bound Allreduces, "
    "the Allreduce of the p-entry gradient and the Bcast of dL/dz0 per gradient",
    "the trajectory storage is the one measured (recomputation included in t(b)); memory never "
    "binds",
    "Parareal: K forward and K_a adjoint iterations are inputs, given or measured by Parareal "
    "gradients on the ranks the model runs on, and then taken to be the same for every P (in "
    "general K grows with P: measure it at the P of interest); each iteration is one parallel "
    "fine sweep of the blocks, a serial correction from rank to rank (g steps of the coarse "
    "scheme and a message per rank) and a convergence Allreduce; the iterative adjoint the "
    "same from right to left, the affine-map adjoint one sweep of B(D+1) rows and a prefix "
    "scan; the whole batch moves at once (no micro-batches)",
    "weak scaling: N grows as N*P with the same rule for M",
};
#define N_ASSUMPTIONS (sizeof assumptions / sizeof assumptions[0])

static void print_validation(pn_ctx *ctx, const model_opts *o, const host_info *host,
                             const validation *v)
{
  if (!v->done || pn_ctx_rank(ctx) != 0) return;
  {
    if (v->parareal)
      cli_print(ctx, "\nvalidation: the real Parareal gradient of %s on these %d ranks (K = %d, "
                "K_a = %d iterations, %d timed gradients after one warm-up; best of them, median "
                "in brackets)\n", o->dir, v->P, v->K, v->KA, v->repeat);
    else
      cli_print(ctx, "\nvalidation: the real pipelined gradient of %s on these %d ranks (M = %d, "
                "%d timed gradients after one warm-up; best of them, median in brackets)\n",
                o->dir, v->P, v->M, v->repeat);
    cli_print(ctx, "  wall time per gradient: measured %.4g s [%.4g s], model %.4g s: %+.1f %% "
              "[%+.1f %%]\n", v->wall_best, v->wall_med, v->pred_wall, 100 * v->err_wall,
              100 * v->err_wall_med);
    for (int q = 0; q < v->P; q++) {
      const double *x = v->ranks + 2 * (size_t)q * V_NF, *xm = x + V_NF;
      cli_print(ctx, "  rank %d, steps [%.0f, %.0f): busy (CPU outside MPI) %.4g s [%.4g s], "
                "model %.4g s: %+.1f %% [%+.1f %%]; wall fwd+bwd-wait %.4g s\n", q, x[V_LO],
                x[V_HI], x[V_BUSY], xm[V_BUSY], v->pred_busy[q],
                100 * (v->pred_busy[q] - x[V_BUSY]) / x[V_BUSY],
                100 * (v->pred_busy[q] - xm[V_BUSY]) / xm[V_BUSY], x[V_BUSYW]);
    }
    cli_print(ctx, "  criterion: %s; model within %.0f %%: %s\n", v->criterion, 100 * v->tol,
              v->within ? "yes" : "NO");
    if (host->load1 > host->cpus_online)
      cli_print(ctx, "  note: this machine is busy (load %.1f on %ld CPUs): wall times include "
                "waiting for CPUs\n", host->load1, host->cpus_online);
  }
}

static void print_report(pn_ctx *ctx, const model_opts *o, const pn_problem *p, long N, int B,
                         const host_info *host, const cal_table *fine, const cal_table *coarse,
                         const net_info *net, const model *m, const row *rows, int nrows,
                         const double *par, const validation *v, const validation *vpar)
{
  cli_print(ctx, "pinode performance model: %s (D = %d, %d parameters, %s, N = %ld, B = %d)\n",
            o->dir, p->spec.dim, p->nparam, p->scheme, N, B);
  cli_print(ctx, "host %s: %s, %ld CPUs online, load %.2f; %d ranks here, %d on this node with %d CPUs\n",
            host->name, host->cpu, host->cpus_online, host->load1, pn_ctx_size(ctx),
            host->local_ranks, host->local_cpus);
  cli_print(ctx, "\nmeasured on rank 0 alone (process CPU time, best of %d samples):\n", o->repeat);
  cli_print(ctx, "  %8s %8s %14s %14s %14s %14s\n", "b", "steps", "t(b) us/step", "fwd us/step",
            "us/sample/step", "fixed c(b) us");
  for (int i = 0; i < fine->n; i++) {
    const cal_point *q = &fine->pt[i];
    cli_print(ctx, "  %8d %4ld,%-3ld %14.3f %14.3f %14.4f %14.2f\n", q->b, q->n_lo, q->n_hi,
              1e6 * q->t_step, 1e6 * q->t_fwd, 1e6 * q->t_step / q->b, 1e6 * q->fixed);
  }
  cli_print(ctx, "  (t(b) and t_f(b): non-decreasing least-squares fits of the measured values; "
                 "c: the median intercept)\n");
  cli_print(ctx, "  threshold b* = %d (cost per sample within 10 %% of that at b = %d)\n",
            cal_threshold(fine), fine->pt[fine->n - 1].b);
  cli_print(ctx, "  Parareal's coarse scheme %s at b = %d: %.3f us/step (forward %.3f us/step)\n",
            o->coarse_scheme ? o->coarse_scheme : p->scheme, coarse->pt[0].b,
            1e6 * coarse->pt[0].t_step, 1e6 * coarse->pt[0].t_fwd);
  if (net->measured)
    cli_print(ctx, "network (ping-pong ranks 0-1, %s): latency %.3g us, bandwidth %.3g GB/s; "
              "Allreduce of %d doubles on %d ranks %.3g us (model %.3g us)\n",
              net->same_node ? "same node" : "different nodes", 1e6 * net->L_meas,
              net->W_meas / 1e9, p->nparam, pn_ctx_size(ctx), 1e6 * net->allreduce_meas,
              1e6 * ceil_log2(pn_ctx_size(ctx)) * (net->L + 8.0 * p->nparam / net->W));
  else
    cli_print(ctx, "network: not measured (one rank: run on 2 or more ranks for a ping-pong)\n");
  cli_print(ctx, "network used by the model: latency %.3g us (%s), bandwidth %.3g GB/s (%s)\n",
            1e6 * net->L, net->L_given ? "given" : net->measured ? "measured" : "none: 0",
            net->W / 1e9, net->W_given ? "given" : net->measured ? "measured" : "none: infinite");
  cli_print(ctx, "\npipeline (exact), M = %s:\n",
            o->microbatches ? "as given" : "automatic, round(sqrt((P-1)B/3))");
  cli_print(ctx, "  %6s %6s %12s %9s %7s | %6s %12s %9s | %12s %7s\n", "P", "M", "T s/grad",
            "speedup", "effic.", "best M", "T s/grad", "speedup", "weak T(NP)", "w.eff.");
  for (int i = 0; i < nrows; i++) {
    const row *r = &rows[i];
    if (!isfinite(r->t)) {
      cli_print(ctx, "  %6ld %6s %12s %9s %7s | %6s %12s %9s | %12.4g %6.1f%%\n", r->P, "-",
                "P > N", "", "", "", "", "", r->weak_t, 100 * r->weak_eff);
      continue;
    }
    cli_print(ctx, "  %6ld %6d %12.4g %9.2f %6.1f%% | %6d %12.4g %9.2f | %12.4g %6.1f%%\n", r->P,
              r->M, r->t, r->speedup, 100 * r->eff, r->best_M, r->best_t, r->best_speedup,
              r->weak_t, 100 * r->weak_eff);
  }
  char coarse_txt[64];
  if (o->coarse_steps > 0)
    snprintf(coarse_txt, sizeof coarse_txt, "%ld", o->coarse_steps);
  else
    snprintf(coarse_txt, sizeof coarse_txt, "ceil(block/10)");
  for (int k = 0; k < o->nK; k++) {
    cli_print(ctx, "\nParareal, K = %d forward", o->K[k]);
    if (o->par_maps)
      cli_print(ctx, " iterations (%s), adjoint by affine maps", o->K_measured[k]
                ? "measured on these ranks" : "given");
    else
      cli_print(ctx, " and K_a = %d adjoint iterations (%s)", o->KA[k],
                o->K_measured[k] ? "measured on these ranks" : "given");
    cli_print(ctx, ", coarse: %s steps of %s per block:\n", coarse_txt,
              o->coarse_scheme ? o->coarse_scheme : p->scheme);
    cli_print(ctx, "  %6s %12s %9s %7s\n", "P", "T s/grad", "speedup", "effic.");
    for (int i = 0; i < nrows; i++) {
      const double t = par[(size_t)k * nrows + i];
      if (isfinite(t))
        cli_print(ctx, "  %6ld %12.4g %9.2f %6.1f%%\n", rows[i].P, t, rows[0].t / t,
                  100 * rows[0].t / t / (double)rows[i].P);
      else
        cli_print(ctx, "  %6ld %12s\n", rows[i].P, "P > N");
    }
  }
  if (o->nK == 0)
    cli_print(ctx, "\nParareal: give --parareal-iterations K (or 'measure', on 2 or more ranks) "
                   "for its prediction\n");
  cli_print(ctx, "\nmodel: T(P,M) = sum_m tau(b_m) + (P-1)(tau(b_0) + 2 msg(b_0)) + C(P), "
                 "tau(b) = ceil(N/P) t(b) + c(b),\n"
                 "       msg(b) = L + 8(bD+1)/W, C(P) = ceil(log2 P)(7L + 8p/W + 8BD/W)\n");
  if (o->nK > 0) {
    cli_print(ctx, "Parareal: T = S + K(tau_F + S + log2(P) L) + A + C(P), S = (P-1)(tau_G + "
                   "msg(B)) the serial coarse sweep,\n"
                   "       tau_F = ceil(N/P) t_f(B) + c(B), tau_G = g t_f,coarse(B), g the "
                   "coarse steps per block,\n");
    if (o->par_maps)
      cli_print(ctx, "       A = ceil(N/P) t_b(B(D+1)) + log2(P)(L + 8(2 + B(D^2+D))/W) + "
                     "tau_Fa (the affine-map adjoint)\n");
    else
      cli_print(ctx, "       A = tau_G + K_a(tau_Fa + (P-1)(tau_Ga + msg(B)) + log2(P) L) (the "
                     "iterative adjoint), t_b = t - t_f\n");
  }
  cli_print(ctx, "assumptions:\n");
  for (size_t i = 0; i < N_ASSUMPTIONS; i++) cli_print(ctx, "  %zu. %s\n", i + 1, assumptions[i]);
  print_validation(ctx, o, host, v);
  print_validation(ctx, o, host, vpar);
  (void)m;
}

/* A validation as a JSON object, or null. */
static void json_validation(json_writer *w, const char *key, const validation *v)
{
  if (!v->done) {
    json_null(w, key);
    return;
  }
  json_open(w, key, '{');
  json_string(w, "method", v->parareal ? "parareal" : "pipeline");
  json_int(w, "ranks", v->P);
  json_int(w, "microbatches", v->M);
  json_int(w, "K", v->K);
  json_int(w, "K_adjoint", v->KA);
  json_int(w, "repeat", v->repeat);
  json_bool(w, "oversubscribed", v->oversubscribed);
  json_string(w, "criterion", v->criterion);
  json_number(w, "tolerance", v->tol);
  json_bool(w, "within_tolerance", v->within);
  json_string(w, "statistic", "best of repeat");
  json_number(w, "wall_measured", v->wall_best);
  json_number(w, "wall_measured_median", v->wall_med);
  json_number(w, "wall_model", v->pred_wall);
  json_number(w, "wall_error", v->err_wall);
  json_number(w, "wall_error_median", v->err_wall_med);
  json_number(w, "busy_error", v->err_busy);
  json_number(w, "busy_error_median", v->err_busy_med);
  json_number(w, "busy_error_sum", v->err_busy_sum);
  json_open(w, "per_rank", '[');
  for (int q = 0; q < v->P; q++) {
    const double *x = v->ranks + 2 * (size_t)q * V_NF, *xm = x + V_NF;
    json_open(w, NULL, '{');
    json_int(w, "rank", q);
    json_int_pair(w, "block", lround(x[V_LO]), lround(x[V_HI]));
    json_number(w, "busy_measured", x[V_BUSY]);
    json_number(w, "busy_measured_median", xm[V_BUSY]);
    json_number(w, "busy_model", v->pred_busy[q]);
    json_number(w, "busy_wall", x[V_BUSYW]);
    json_number(w, "cpu", x[V_CPU]);
    json_number(w, "cpu_in_mpi", x[V_MPICPU]);
    json_number(w, "wall", x[V_WALL]);
    json_number(w, "time_forward", x[V_FWD]);
    json_number(w, "time_backward", x[V_BWD]);
    json_number(w, "time_wait", x[V_WAIT]);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_close(w, '}');
}

static void json_report(json_writer *w, pn_ctx *ctx, const model_opts *o, const pn_problem *p,
                        long N, int B, const host_info *host, const cal_table *fine,
                        const cal_table *coarse, const net_info *net, const row *rows, int nrows,
                        const double *par, const validation *v, const validation *vpar)
{
  const char *coarse_scheme = o->coarse_scheme ? o->coarse_scheme : p->scheme;
  json_open(w, NULL, '{');
  json_string(w, "kind", "pinode-perfmodel");
  json_string(w, "problem", o->dir);
  json_open(w, "shape", '{');
  json_int(w, "dim", p->spec.dim);
  json_int(w, "nparam", p->nparam);
  json_string(w, "scheme", p->scheme);
  json_int(w, "steps", N);
  json_int(w, "batch", B);
  json_int(w, "problem_steps", p->steps);
  json_int(w, "problem_batch", p->batch);
  json_close(w, '}');
  json_open(w, "host", '{');
  json_string(w, "hostname", host->name);
  json_string(w, "cpu", host->cpu);
  json_int(w, "cpus_online", host->cpus_online);
  json_number(w, "load1", host->load1);
  json_int(w, "ranks", pn_ctx_size(ctx));
  json_int(w, "local_ranks", host->local_ranks);
  json_int(w, "local_cpus", host->local_cpus);
  json_string(w, "mpi", host->mpi);
  json_close(w, '}');
  json_open(w, "calibration", '{');
  json_string(w, "clock", "process CPU time");
  json_int(w, "repeat", o->repeat);
  json_int(w, "threshold_b", cal_threshold(fine));
  json_open(w, "points", '[');
  for (int i = 0; i < fine->n; i++) {
    const cal_point *q = &fine->pt[i];
    json_open(w, NULL, '{');
    json_int(w, "b", q->b);
    json_int_pair(w, "steps", q->n_lo, q->n_hi);
    json_number_pair(w, "gradient", q->grad_lo, q->grad_hi);
    json_number_pair(w, "forward", q->loss_lo, q->loss_hi);
    json_number(w, "wall_gradient", q->wall_hi);
    json_number(w, "t_step", q->t_step);
    json_number(w, "t_forward", q->t_fwd);
    json_number(w, "fixed", q->fixed);
    json_number(w, "t_step_raw", q->t_step_raw);
    json_number(w, "t_forward_raw", q->t_fwd_raw);
    json_number(w, "fixed_raw", q->fixed_raw);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_open(w, "coarse", '{');
  json_string(w, "scheme", coarse_scheme);
  json_int(w, "b", coarse->pt[0].b);
  json_number(w, "t_step", coarse->pt[0].t_step);
  json_number(w, "t_forward", coarse->pt[0].t_fwd);
  json_close(w, '}');
  json_close(w, '}');
  json_open(w, "network", '{');
  json_bool(w, "measured", net->measured);
  json_bool(w, "same_node", net->same_node);
  json_number(w, "latency", net->L);
  json_number(w, "bandwidth", net->W);
  json_bool(w, "latency_given", net->L_given);
  json_bool(w, "bandwidth_given", net->W_given);
  json_number(w, "latency_measured", net->measured ? net->L_meas : NAN);
  json_number(w, "bandwidth_measured", net->measured ? net->W_meas : NAN);
  json_number(w, "allreduce_measured", net->measured ? net->allreduce_meas : NAN);
  json_open(w, "pingpong", '[');
  for (int i = 0; i < net->n; i++) {
    json_open(w, NULL, '{');
    json_int(w, "bytes", lround(net->bytes[i]));
    json_number(w, "half_round_trip", net->half_rtt[i]);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_close(w, '}');
  if (o->microbatches)
    json_int(w, "microbatches", o->microbatches);
  else
    json_string(w, "microbatches", "auto");
  json_open(w, "pipeline", '[');
  for (int i = 0; i < nrows; i++) {
    const row *r = &rows[i];
    json_open(w, NULL, '{');
    json_int(w, "P", r->P);
    json_int(w, "M", isfinite(r->t) ? r->M : 0);
    json_number(w, "time", r->t);
    json_number(w, "speedup", r->speedup);
    json_number(w, "efficiency", r->eff);
    json_int(w, "best_M", isfinite(r->t) ? r->best_M : 0);
    json_number(w, "best_time", r->best_t);
    json_number(w, "best_speedup", r->best_speedup);
    json_number(w, "weak_time", r->weak_t);
    json_number(w, "weak_efficiency", r->weak_eff);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_open(w, "parareal", '[');
  for (int k = 0; k < o->nK; k++) {
    json_open(w, NULL, '{');
    json_int(w, "K", o->K[k]);
    json_int(w, "K_adjoint", o->par_maps ? 0 : o->KA[k]);
    json_bool(w, "measured", o->K_measured[k]);
    json_string(w, "adjoint", o->par_maps ? "maps" : "iterate");
    json_string(w, "coarse_scheme", coarse_scheme);
    json_int(w, "coarse_steps", o->coarse_steps);
    json_open(w, "rows", '[');
    for (int i = 0; i < nrows; i++) {
      const double t = par[(size_t)k * nrows + i];
      json_open(w, NULL, '{');
      json_int(w, "P", rows[i].P);
      json_number(w, "time", t);
      json_number(w, "speedup", rows[0].t / t);
      json_number(w, "efficiency", rows[0].t / t / (double)rows[i].P);
      json_close(w, '}');
    }
    json_close(w, ']');
    json_close(w, '}');
  }
  json_close(w, ']');
  json_open(w, "assumptions", '[');
  for (size_t i = 0; i < N_ASSUMPTIONS; i++) json_string(w, NULL, assumptions[i]);
  json_close(w, ']');
  json_validation(w, "validation", v);
  json_validation(w, "parareal_validation", vpar);
  json_close(w, '}');
}

/* The report as JSON, written atomically to o->json (rank 0); 1 if written. */
static int write_json(pn_ctx *ctx, const model_opts *o, const pn_problem *p, long N, int B,
                      const host_info *host, const cal_table *fine, const cal_table *coarse,
                      const net_info *net, const row *rows, int nrows, const double *par,
                      const validation *v, const validation *vpar)
{
  cli_membuf m;
  if (cli_membuf_open(ctx, &m, o->json) != PN_OK) return 0;
  json_writer w = {m.f, 0, {0}};
  json_report(&w, ctx, o, p, N, B, host, fine, coarse, net, rows, nrows, par, v, vpar);
  return cli_membuf_commit(ctx, &m, o->json) == PN_OK;
}

/* --------------------------------- entry --------------------------------- */

int cli_bench_model(pn_ctx *ctx, int argc, char **argv)
{
  model_opts o;
  const int prc = parse_opts(ctx, argc, argv, &o);
  if (prc >= 0) return prc;
  pn_problem *p = NULL;
  validation v, vpar;
  memset(&v, 0, sizeof v);
  memset(&vpar, 0, sizeof vpar);
  row *rows = NULL;
  double *par = NULL;
  int rc = pn_problem_read(ctx, o.dir, &p);
  if (rc != PN_OK) return cli_fail(ctx, "bench --model", rc);
  const long N = o.steps ? o.steps : p->steps;
  const int B = o.batch ? o.batch : p->batch;
  const char *cscheme = o.coarse_scheme ? o.coarse_scheme : p->scheme;
  pn_tableau *probe = NULL;
  rc = pn_tableau_create(ctx, cscheme, &probe); /* a clear error before measuring */
  pn_tableau_destroy(&probe);
  if (rc == PN_OK && o.measure_K && pn_ctx_size(ctx) < 2)
    rc = pn_ctx_fail(ctx, PN_ERR_ARG, "--parareal-iterations measure needs 2 or more ranks "
                                      "(Parareal on one rank takes no iterations)");
  host_info host;
  read_host(ctx, &host);
  cal_table fine, coarse;
  net_info net;
  memset(&net, 0, sizeof net);
  if (rc == PN_OK)
    rc = calibrate(ctx, p, cscheme, B < CAL_BMAX ? B : CAL_BMAX, o.solver.storage,
                   o.solver.storage_param, o.repeat, &fine, &coarse);
  if (rc == PN_OK) rc = pingpong(ctx, o.repeat, &net);
  if (rc == PN_OK && net.measured) rc = measure_allreduce(ctx, p->nparam, o.repeat, &net);
  if (rc != PN_OK) goto done;
  net.L = net.measured ? net.L_meas : 0.0;
  net.W = net.measured ? net.W_meas : INFINITY;
  if (o.latency > 0) {
    net.L = o.latency;
    net.L_given = 1;
  }
  if (o.bandwidth > 0) {
    net.W = o.bandwidth;
    net.W_given = 1;
  }
  const model m = {.fine = &fine, .coarse = &coarse, .net = &net, .B = B, .D = p->spec.dim,
                   .nparam = p->nparam, .coarse_steps = o.coarse_steps, .maps = o.par_maps};
  /* the model of the problem as it is, for the validations */
  const model mv = {.fine = &fine, .coarse = &coarse, .net = &net, .B = p->batch,
                    .D = p->spec.dim, .nparam = p->nparam, .coarse_steps = o.coarse_steps,
                    .maps = o.par_maps};
  if (o.measure_K) { /* Parareal's iterations, timed: they also validate its model */
    pn_solver_opts base = o.solver;
    base.method = PN_PARALLEL_PARAREAL;
    base.parareal.tol = o.par_tol;
    base.parareal.max_iter = o.par_max_iter;
    base.parareal.coarse_steps = o.coarse_steps;
    base.parareal.adjoint = o.par_maps ? PN_PARAREAL_ADJOINT_MAPS : PN_PARAREAL_ADJOINT_ITERATE;
    snprintf(base.parareal.coarse_scheme, sizeof base.parareal.coarse_scheme, "%s",
             o.coarse_scheme ? o.coarse_scheme : "");
    rc = validate(ctx, o.dir, &base, o.repeat, &mv, &host, o.tol, &vpar);
    if (rc != PN_OK) goto done;
    o.K[o.nK] = vpar.K;
    o.KA[o.nK] = vpar.KA;
    o.K_measured[o.nK++] = 1;
  }
  /* the rows: P = 1 first (the serial reference), then the list */
  long Ps[MAX_RANK_ROWS + 2];
  int nP = 0;
  Ps[nP++] = 1;
  if (o.nranks) {
    for (int i = 0; i < o.nranks; i++)
      if (o.ranks[i] != 1) Ps[nP++] = o.ranks[i];
  } else {
    for (long P = 2; P <= o.max_ranks && nP < MAX_RANK_ROWS; P *= 2) Ps[nP++] = P;
    int have = 0;
    for (int i = 0; i < nP; i++) have |= Ps[i] == pn_ctx_size(ctx);
    if (!have) Ps[nP++] = pn_ctx_size(ctx);
    qsort(Ps, (size_t)nP, sizeof Ps[0], cmp_long);
  }
  rows = calloc((size_t)nP, sizeof *rows);
  par = calloc((size_t)(o.nK ? o.nK : 1) * (size_t)nP, sizeof *par);
  if (!rows || !par) {
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the table");
    goto done;
  }
  const double T1 = pipe_time(&m, N, 1, 1);
  for (int i = 0; i < nP; i++) {
    row *r = &rows[i];
    r->P = Ps[i];
    r->M = o.microbatches ? (o.microbatches < B ? o.microbatches : B)
                          : pn_pipeline_auto_microbatches((int)r->P, B);
    r->t = pipe_time(&m, N, r->P, r->M);
    r->speedup = T1 / r->t;
    r->eff = r->speedup / (double)r->P;
    r->best_M = isfinite(r->t) ? best_microbatches(&m, N, r->P, &r->best_t) : 0;
    if (!isfinite(r->t)) r->best_t = NAN;
    r->best_speedup = T1 / r->best_t;
    r->weak_t = pipe_time(&m, N * r->P, r->P, r->M);
    r->weak_eff = T1 / r->weak_t;
    for (int k = 0; k < o.nK; k++)
      par[(size_t)k * nP + i] = parareal_time(&m, N, r->P, o.K[k], o.KA[k]);
  }
  if (o.do_validate) {
    pn_solver_opts base = o.solver;
    base.microbatches = o.microbatches;
    rc = validate(ctx, o.dir, &base, o.repeat, &mv, &host, o.tol, &v);
    if (rc != PN_OK) goto done;
  }
  if (!o.quiet)
    print_report(ctx, &o, p, N, B, &host, &fine, &coarse, &net, &m, rows, nP, par, &v, &vpar);
  if (o.json) {
    int ok = 1;
    if (pn_ctx_rank(ctx) == 0) {
      ok = write_json(ctx, &o, p, N, B, &host, &fine, &coarse, &net, rows, nP, par, &v, &vpar);
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, pn_ctx_comm(ctx));
    if (!ok)
      rc = pn_ctx_rank(ctx) == 0 ? PN_ERR_IO
                                 : pn_ctx_fail(ctx, PN_ERR_IO, "rank 0 could not write %s", o.json);
  }
done:
  free(v.ranks);
  free(v.pred_busy);
  free(vpar.ranks);
  free(vpar.pred_busy);
  free(rows);
  free(par);
  pn_problem_destroy(&p);
  return rc == PN_OK ? 0 : cli_fail(ctx, "bench --model", rc);
}
