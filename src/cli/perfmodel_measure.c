/* pinode bench --model: what is measured on the machine where it runs (see
 * perfmodel.h): the host, the calibration of the time per step of a
 * micro-batch on rank 0 alone, and the network between ranks 0 and 1.
 *
 * Calibration: rank 0 alone on a one-rank communicator split off the
 * program's while the other ranks sleep, process CPU time, the best of R
 * samples, so that a shared or oversubscribed machine does not inflate it:
 *   t(b)  forward+backward time per step of one micro-batch of b samples, for
 *         b = 1, 2, 4, ... and the batch (interpolated in between), and its
 *         forward part t_f(b);
 *   c(b)  the fixed cost of one micro-batch through a block, whatever its
 *         number of steps (intercept of two step counts);
 *   t_lin(B·D) the forward time per step of Newton's B·D tangent rows: the
 *         same network without its activations (a tangent row takes the
 *         derivative its state row's activation computed), θ = 0;
 *   the coarse scheme's t_f, t(b) for Parareal's and Newton's coarse
 *         propagators, at B;
 *   μ     a multiply-add of the D×D products composing Newton's maps.
 * Network: L, W, latency and bandwidth of a ping-pong between ranks 0 and 1
 * (MPI_Wtime), fitted as T(s) = L + s/W, and an Allreduce of the gradient. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perfmodel.h"

/* Smallest of x[0..n). */
static double min_of(const double *x, int n)
{
  double m = x[0];
  for (int i = 1; i < n; i++)
    if (x[i] < m) m = x[i];
  return m;
}

/* --------------------------- the host we run on -------------------------- */

void pm_read_host(MPI_Comm comm, pm_host *h)
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
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
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

typedef struct cal_env {
  pn_ctx *self;               /* one-rank context (rank 0) */
  const pn_problem *p;
  pn_model *model;
  const pn_solver_opts *storage; /* its storage and storage_param */
  int repeat;
  double min_sample;          /* seconds of CPU per timed sample */
} cal_env;

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
  double c0 = cli_cpu_seconds();
  rc = ONE_CALL(); /* warm-up and probe */
  const double probe = cli_cpu_seconds() - c0;
  long k = probe > 0.0 ? (long)ceil(E->min_sample / probe) : 1000;
  if (k < 1) k = 1;
  if (k > 100000) k = 100000;
  for (int r = 0; r < E->repeat && rc == PN_OK; r++) {
    c0 = cli_cpu_seconds();
    const double w0 = MPI_Wtime();
    for (long i = 0; i < k && rc == PN_OK; i++) rc = ONE_CALL();
    cs[r] = (cli_cpu_seconds() - c0) / (double)k;
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
  CLI_TRY(pn_loss_create_mse(E->self, 1, &t1, k->z0 + (size_t)b * D, NULL, b, D, &k->loss));
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = p->t0;
  o.t1 = t1;
  o.nsteps = n;
  o.storage = E->storage->storage;
  o.storage_param = E->storage->storage_param;
  o.microbatches = 1;
  return pn_solver_create(E->self, E->model, tab, &o, &k->solver);
}

/* Calibrate one micro-batch size: gradient and forward at two step counts. */
static int cal_point_measure(const cal_env *E, const pn_tableau *tab, int b, pm_cal_point *pt)
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
    const double c0 = cli_cpu_seconds();
    double L = 0.0;
    rc = pn_solver_loss(k.solver, E->p->theta, b, k.z0, k.loss, &L);
    cpu = cli_cpu_seconds() - c0;
  }
  cal_case_free(&k);
  CLI_TRY(rc);
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
    CLI_TRY(rc);
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
  double val[PM_CAL_MAX], w[PM_CAL_MAX];
  int len[PM_CAL_MAX], k = 0;
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
static void cal_clean(pm_cal_table *c)
{
  double ts[PM_CAL_MAX], tf[PM_CAL_MAX], fx[PM_CAL_MAX];
  for (int i = 0; i < c->n; i++) {
    pm_cal_point *q = &c->pt[i];
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

/* Seconds per multiply-add of composing affine maps of dimension D: the
 * plain loop of an out = A·B product of D×D matrices, as the scan composes
 * them (best of `repeat` samples of at least min_sample CPU seconds, each
 * reading the clock only between batches of products). */
static double time_madd(int D, int repeat, double min_sample)
{
  const size_t n = (size_t)D * (size_t)D;
  double *a = malloc(sizeof(double) * 3 * n);
  if (!a) return 0.0; /* the composition is then left out: it is never the larger cost */
  double *b = a + n, *c = b + n, best = INFINITY;
  for (size_t i = 0; i < n; i++) a[i] = b[i] = 1.0 / (double)(i + 1);
  const long batch = 1 + 100000 / ((long)n * D);
  for (int r = 0; r < repeat; r++) {
    long k = 0;
    const double c0 = cli_cpu_seconds();
    double used = 0.0;
    do {
      for (long q = 0; q < batch; q++, k++) {
        for (int i = 0; i < D; i++)
          for (int j = 0; j < D; j++) {
            double m = 0.0;
            for (int l = 0; l < D; l++) m += a[i * D + l] * b[l * D + j];
            c[i * D + j] = m;
          }
        b[k % (long)n] = 1.0 / (double)(k + 2) + 1e-3 * c[k % (long)n]; /* no product repeats */
      }
      used = cli_cpu_seconds() - c0;
    } while (used < min_sample);
    best = fmin(best, used / ((double)k * (double)n * D));
  }
  free(a);
  return isfinite(best) ? best : 0.0;
}

/* The sizes of *plan for the fine scheme, ascending, into b[]; how many. */
static int fine_sizes(const pm_cal_plan *plan, int b[PM_CAL_MAX])
{
  const int cap = plan->bcap < PM_CAL_BMAX ? plan->bcap : PM_CAL_BMAX;
  const int bmax = plan->bmax < cap ? plan->bmax : cap;
  int n = 0;
  for (int x = 1; x < bmax && n < PM_CAL_MAX - 1; x *= 2) b[n++] = x;
  b[n++] = bmax;
  return n;
}

/* Newton's tangent rows: the problem's network without activations, θ = 0,
 * forward at b rows (rank 0's one-rank context of E). */
static int cal_tangent_rows(const cal_env *E, const pn_tableau *tab, int b, int cap,
                            pm_cal_point *pt)
{
  const pn_problem *p = E->p;
  pn_problem lin = *p;
  pn_activation *none = calloc((size_t)p->spec.nhidden + 1, sizeof *none);
  lin.spec.acts = none;
  lin.theta = calloc((size_t)p->nparam, sizeof(double));
  if (!none || !lin.theta) {
    free(none);
    free(lin.theta);
    return pn_ctx_fail(E->self, PN_ERR_MEM, "out of memory for the tangent rows");
  }
  for (int l = 0; l < p->spec.nhidden; l++) none[l] = PN_ACT_IDENTITY;
  cal_env L = *E;
  L.p = &lin;
  L.model = NULL;
  int rc = pn_model_create_mlp(E->self, &lin.spec, &L.model);
  cap = cap < PM_CAL_BMAX ? cap : PM_CAL_BMAX;
  if (rc == PN_OK) rc = cal_point_measure(&L, tab, b < cap ? b : cap, pt);
  pn_model_destroy(&L.model);
  free(lin.theta);
  free(none);
  return rc;
}

int pm_calibrate(MPI_Comm comm, pn_ctx *ctx, const pn_problem *p, const char *coarse_scheme,
                 const pm_cal_plan *plan, const pn_solver_opts *storage, pm_cal_table *fine,
                 pm_cal_table *coarse)
{
  MPI_Comm one;
  const int rank = pn_ctx_rank(ctx);
  int rc = PN_OK;
  MPI_Comm_split(comm, rank == 0 ? 0 : MPI_UNDEFINED, 0, &one);
  memset(fine, 0, sizeof *fine);
  memset(coarse, 0, sizeof *coarse);
  if (rank == 0) {
    cal_env E = {.p = p, .storage = storage, .repeat = plan->repeat,
                 .min_sample = plan->min_sample};
    const int share = plan->share_coarse && strcmp(coarse_scheme, p->scheme) == 0;
    pn_tableau *tab = NULL, *ctab = NULL;
    int sizes[PM_CAL_MAX];
    const int nsizes = fine_sizes(plan, sizes);
    rc = pn_ctx_create(one, &E.self);
    if (rc == PN_OK) rc = pn_model_create_mlp(E.self, &p->spec, &E.model);
    if (rc == PN_OK) rc = pn_tableau_create(E.self, p->scheme, &tab);
    if (rc == PN_OK && !share) rc = pn_tableau_create(E.self, coarse_scheme, &ctab);
    for (int i = 0; rc == PN_OK && i < nsizes; i++)
      rc = cal_point_measure(&E, tab, sizes[i], &fine->pt[fine->n++]);
    if (rc == PN_OK && plan->btangent > 0)
      rc = cal_tangent_rows(&E, tab, plan->btangent, plan->bcap, &fine->lin);
    if (rc == PN_OK && !share) {
      coarse->n = 1;
      rc = cal_point_measure(&E, ctab, sizes[nsizes - 1], &coarse->pt[0]);
    }
    if (rc == PN_OK) {
      cal_clean(fine);
      if (share) *coarse = *fine; /* (coarse.lin is not used) */
      else cal_clean(coarse);
      fine->madd = coarse->madd = time_madd(p->spec.dim, plan->repeat, plan->min_sample / 4);
    }
    if (rc != PN_OK)
      pn_ctx_fail(ctx, rc, "calibration: %s", E.self ? pn_ctx_last_error(E.self) : "no context");
    pn_tableau_destroy(&tab);
    pn_tableau_destroy(&ctab);
    pn_model_destroy(&E.model);
    pn_ctx_destroy(&E.self);
    MPI_Comm_free(&one);
  }
  cli_quiet_barrier(comm);
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc != PN_OK)
    return rank == 0 ? rc : pn_ctx_fail(ctx, rc, "the calibration failed on rank 0");
  MPI_Bcast(fine, (int)sizeof *fine, MPI_BYTE, 0, comm);
  MPI_Bcast(coarse, (int)sizeof *coarse, MPI_BYTE, 0, comm);
  return PN_OK;
}

/* ---------------------------- the network -------------------------------- */

/* Least-squares fit of half round trip = L + s/W over the sizes ≥ 32 KiB
 * (bandwidth-bound); L is the half round trip of the smallest message. */
static void net_fit(pm_net *net)
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

/* The ping-pong between ranks 0 and 1, 8 B to max_bytes (at most 4 MiB;
 * each size about max_bytes of round trips), and its fit. */
static int pingpong(MPI_Comm comm, pn_ctx *ctx, int repeat, double max_bytes, pm_net *net)
{
  const int rank = pn_ctx_rank(ctx);
  static const double sizes[PM_NET_MAX] = {8,      64,      512,     4096,    32768,   65536,
                                           131072, 262144,  524288,  1048576, 2097152, 4194304};
  if (max_bytes > sizes[PM_NET_MAX - 1]) max_bytes = sizes[PM_NET_MAX - 1];
  /* no larger than the messages: freeing a large block raises glibc's mmap
   * threshold, and a training run after --parallel auto would then keep
   * its checkpoints' buffers on the heap, its resident memory higher */
  char *buf = rank <= 1 ? calloc((size_t)max_bytes, 1) : NULL;
  double *t = calloc((size_t)repeat, sizeof(double));
  int ok = (rank > 1 || buf) && t, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
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
    int n = 0;
    for (int i = 0; i < PM_NET_MAX && sizes[i] <= max_bytes; i++, n++) {
      const int s = (int)sizes[i];
      int iters = (int)(max_bytes / (sizes[i] + 4096.0));
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
    net->n = n;
    net->measured = 1;
    net->same_node = strcmp(name, other) == 0;
    snprintf(net->peer, sizeof net->peer, "%s", rank == 0 ? other : name);
    net_fit(net);
  }
  free(buf);
  free(t);
  cli_quiet_barrier(comm);
  MPI_Bcast(net, (int)sizeof *net, MPI_BYTE, 0, comm);
  return PN_OK;
}

/* One Allreduce of p doubles: the best of repeat samples (each 20 calls) of
 * the slowest rank's time per call. */
static int measure_allreduce(MPI_Comm comm, pn_ctx *ctx, int p, int repeat, double *seconds)
{
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
  *seconds = min_of(t, repeat);
  free(x);
  return PN_OK;
}

int pm_measure_network(MPI_Comm comm, pn_ctx *ctx, int p, int repeat, double max_bytes,
                       pm_net *net)
{
  memset(net, 0, sizeof *net);
  if (pn_ctx_size(ctx) < 2) return PN_OK;
  CLI_TRY(pingpong(comm, ctx, repeat, max_bytes, net));
  if (p <= 0) return PN_OK;
  /* as the solver's θ̄ reduction, and as its agreements and loss sum */
  CLI_TRY(measure_allreduce(comm, ctx, p, repeat, &net->allreduce_meas));
  CLI_TRY(measure_allreduce(comm, ctx, 1, repeat, &net->allreduce1_meas));
  net->allreduce_ranks = pn_ctx_size(ctx);
  return PN_OK;
}

