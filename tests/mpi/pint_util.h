/* Helpers shared by the multi-rank solver tests (tests/mpi/test_*.c): run a
 * solve on a context, compare a run on P ranks with the serial run, and build
 * the models the tests use.  Every check here is collective-safe: it goes
 * through pnt_assert_all, so a failure on one rank fails every rank and none
 * is left waiting in a collective.  Header-only (static inline) because each
 * test file is its own program. */
#ifndef PINODE_TESTS_PINT_UTIL_H
#define PINODE_TESTS_PINT_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Loss and gradients of P ranks and of one rank differ only in the order of
 * the final sums (Allreduce of per-rank partial sums instead of one running
 * sum): a relative error of a few ε times the number of summed terms.  For the
 * small problems here that is ≲ 1e-14; 1e-13 leaves a margin of ~10. */
#define PMT_TOL 1e-13

/* A library call that must succeed on every rank (collective-safe pnt_ok). */
#define pmt_ok(ctx, expr)                                                                   \
  do {                                                                                      \
    const int pmt_rc_ = (expr);                                                             \
    pnt_assert_all(pmt_rc_ == PN_OK, "%s returned %d (%s): %s", #expr, pmt_rc_,             \
                   pn_strerror(pmt_rc_), pn_ctx_last_error(ctx));                           \
  } while (0)

/* Everything one solve produces. */
typedef struct pmt_run {
  double loss;        /* from pn_solver_gradient */
  double loss_only;   /* from pn_solver_loss */
  double *grad;       /* P parameters, then B×D initial states */
  double *traj;       /* (N+1)×B×D states at every grid index, or NULL */
  int microbatches;   /* M the solver used */
  size_t np, nz, ntraj;
} pmt_run;

static inline void pmt_run_free(pmt_run *r)
{
  free(r->grad);
  free(r->traj);
  memset(r, 0, sizeof *r);
}

/* Gradient, loss only and (with want_traj) the states at every grid index,
 * with an existing solver of `model`.  Returns the first failing call's code
 * (agreed on by every rank: all solver calls are collective). */
static inline int pmt_run_solver(pn_solver *solver, pn_model *model, const double *theta, int B,
                                 const double *z0, const pn_loss *loss, int want_traj,
                                 pmt_run *out)
{
  const pn_solver_opts *opts = pn_solver_get_opts(solver);
  memset(out, 0, sizeof *out);
  out->np = (size_t)pn_model_nparam(model);
  out->nz = (size_t)B * (size_t)pn_model_dim(model);
  out->ntraj = want_traj ? (size_t)(opts->nsteps + 1) * out->nz : 0;
  long *steps = NULL;
  int rc = PN_OK;
  out->grad = calloc(out->np + out->nz, sizeof(double));
  if (want_traj) {
    out->traj = calloc(out->ntraj, sizeof(double));
    steps = calloc((size_t)opts->nsteps + 1, sizeof(long));
    for (long n = 0; steps && n <= opts->nsteps; n++) steps[n] = n;
  }
  if (!out->grad || (want_traj && (!out->traj || !steps))) rc = PN_ERR_MEM; /* test-only */
  if (rc == PN_OK)
    rc = pn_solver_gradient(solver, theta, B, z0, loss, &out->loss, out->grad, out->grad + out->np);
  pn_stats st;
  if (rc == PN_OK && pn_solver_get_stats(solver, &st) == PN_OK) out->microbatches = st.microbatches;
  if (rc == PN_OK) rc = pn_solver_loss(solver, theta, B, z0, loss, &out->loss_only);
  if (rc == PN_OK && want_traj)
    rc = pn_solver_forward(solver, theta, B, z0, (int)opts->nsteps + 1, steps, out->traj);
  free(steps);
  return rc;
}

/* The same with a solver made on ctx for the call. */
static inline int pmt_solve(pn_ctx *ctx, pn_model *model, const pn_tableau *tab,
                            const pn_solver_opts *opts, const double *theta, int B,
                            const double *z0, const pn_loss *loss, int want_traj, pmt_run *out)
{
  pn_solver *solver = NULL;
  memset(out, 0, sizeof *out);
  int rc = pn_solver_create(ctx, model, tab, opts, &solver);
  if (rc == PN_OK) rc = pmt_run_solver(solver, model, theta, B, z0, loss, want_traj, out);
  pn_solver_destroy(&solver);
  return rc;
}

static inline double pmt_rel(double a, double b)
{
  const double s = fabs(b);
  return s > 0 ? fabs(a - b) / s : fabs(a);
}

static inline double pmt_norm(const double *x, size_t n)
{
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += x[i] * x[i];
  return sqrt(s);
}

/* Index of the first entry where a and b differ as numbers (so +0 == −0:
 * pn_solver_forward gathers states with a sum, which turns −0 into +0), or −1. */
static inline long pmt_first_diff(const double *a, const double *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!(a[i] == b[i])) return (long)i;
  return -1;
}

/* The core invariant (docs/parallel.md): a run on P ranks against the serial run
 * with the same micro-batches: trajectory bitwise equal, ∂L/∂z0 bitwise equal
 * (the adjoint and its label jumps take exactly the serial path; only θ̄ and
 * L are sums whose order changes), loss and ∂L/∂θ to PMT_TOL.  Collective. */
static inline void pmt_expect_serial_z0(const pmt_run *par, const pmt_run *ser, int z0_bitwise,
                                        const char *what);
static inline void pmt_expect_serial(const pmt_run *par, const pmt_run *ser, const char *what)
{
  pmt_expect_serial_z0(par, ser, 1, what);
}

/* The same, with ∂L/∂z0 bitwise or (Parareal, whose adjoint composes the
 * blocks' affine maps in another order) to PMT_TOL like ∂L/∂θ. */
static inline void pmt_expect_serial_z0(const pmt_run *par, const pmt_run *ser, int z0_bitwise,
                                        const char *what)
{
  const long dtraj = par->traj && ser->traj ? pmt_first_diff(par->traj, ser->traj, par->ntraj) : -1;
  const long dz0 =
      z0_bitwise ? pmt_first_diff(par->grad + par->np, ser->grad + ser->np, par->nz) : -1;
  const double ez0 = pnt_rel_err(par->grad + par->np, ser->grad + ser->np, par->nz);
  const double el = pmt_rel(par->loss, ser->loss), elo = pmt_rel(par->loss_only, ser->loss);
  const double eth = pnt_rel_err(par->grad, ser->grad, par->np);
  pnt_assert_all(par->microbatches == ser->microbatches, "%s: %d micro-batches on P ranks, %d serial",
                 what, par->microbatches, ser->microbatches);
  pnt_assert_all(dtraj < 0, "%s: trajectory differs from serial at entry %ld (grid index %ld): "
                 "%.17g vs %.17g", what, dtraj, dtraj / (long)(par->nz ? par->nz : 1),
                 dtraj >= 0 ? par->traj[dtraj] : 0.0, dtraj >= 0 ? ser->traj[dtraj] : 0.0);
  pnt_assert_all(dz0 < 0, "%s: dL/dz0 differs from serial at entry %ld: %.17g vs %.17g", what, dz0,
                 dz0 >= 0 ? par->grad[par->np + (size_t)dz0] : 0.0,
                 dz0 >= 0 ? ser->grad[ser->np + (size_t)dz0] : 0.0);
  pnt_assert_all(el <= PMT_TOL && elo <= PMT_TOL && eth <= PMT_TOL && ez0 <= PMT_TOL,
                 "%s: relative difference from serial: loss %.3e, loss-only %.3e, dL/dtheta %.3e, "
                 "dL/dz0 %.3e (tolerance %.0e)", what, el, elo, eth, ez0, PMT_TOL);
}

/* A context over MPI_COMM_SELF: the serial reference each rank computes for itself. */
static inline pn_ctx *pmt_self_ctx(void)
{
  pn_ctx *self = NULL;
  pnt_assert_all(pn_ctx_create(MPI_COMM_SELF, &self) == PN_OK, "cannot make a context on MPI_COMM_SELF");
  return self;
}

/* ---- models -------------------------------------------------------------- */

/* Built-in MLPs covering every activation, depth 1 and 2, with and without time input. */
typedef struct pmt_mlp {
  const char *name;
  int dim, nhidden, widths[2];
  pn_activation acts[2];
  int time_input;
} pmt_mlp;

static const pmt_mlp pmt_mlps[] = {
    {"mlp tanh", 3, 1, {8, 0}, {PN_ACT_TANH, 0}, 0},
    {"mlp softplus x2 +t", 3, 2, {6, 5}, {PN_ACT_SOFTPLUS, PN_ACT_SOFTPLUS}, 1},
    {"mlp sigmoid +t", 2, 1, {7, 0}, {PN_ACT_SIGMOID, 0}, 1},
    {"mlp relu x2", 3, 2, {6, 6}, {PN_ACT_RELU, PN_ACT_RELU}, 0},
    {"mlp silu +t", 4, 1, {5, 0}, {PN_ACT_SILU, 0}, 1},
    {"mlp identity", 2, 1, {4, 0}, {PN_ACT_IDENTITY, 0}, 0},
    {"mlp tanh,relu +t", 3, 2, {5, 4}, {PN_ACT_TANH, PN_ACT_RELU}, 1},
};
#define PMT_NMLP ((int)(sizeof pmt_mlps / sizeof pmt_mlps[0]))

static inline int pmt_mlp_create(pn_ctx *ctx, const pmt_mlp *c, uint64_t seed, pn_model **model,
                                 double **theta)
{
  const pn_mlp_spec spec = {c->dim, c->nhidden, c->widths, c->acts, c->time_input};
  int rc = pn_model_create_mlp(ctx, &spec, model);
  if (rc != PN_OK) return rc;
  const size_t P = (size_t)pn_model_nparam(*model);
  *theta = calloc(P, sizeof(double));
  double *noise = calloc(P, sizeof(double));
  if (!*theta || !noise) {
    free(noise);
    return PN_ERR_MEM;
  }
  rc = pn_model_init_params(*model, seed, *theta);
  /* Glorot weights with zero biases; the noise makes biases nonzero too. */
  pnt_randn(noise, P, seed + 1, 0.1);
  for (size_t i = 0; i < P; i++) (*theta)[i] += noise[i];
  free(noise);
  return rc;
}

/* A user model with explicit time dependence, written against the public
 * callbacks:  f_i = a sin(t) z_i + b z_{i+1}² + c  (indices mod D), θ = (a, b, c). */
static inline int pmt_wave_rhs(void *user, double t, int nb, const double *z, const double *th,
                               double *f)
{
  const int D = *(const int *)user;
  for (int s = 0; s < nb; s++)
    for (int i = 0; i < D; i++) {
      const double zn = z[s * D + (i + 1) % D];
      f[s * D + i] = th[0] * sin(t) * z[s * D + i] + th[1] * zn * zn + th[2];
    }
  return 0;
}

static inline int pmt_wave_vjp(void *user, double t, int nb, const double *z, const double *th,
                               const double *a, double *zbar, double *thbar)
{
  const int D = *(const int *)user;
  for (int s = 0; s < nb; s++)
    for (int j = 0; j < D; j++) /* z_j enters f_j linearly and f_{j−1} quadratically */
      zbar[s * D + j] = th[0] * sin(t) * a[s * D + j] + 2.0 * th[1] * z[s * D + j] * a[s * D + (j + D - 1) % D];
  for (int s = 0; s < nb; s++)
    for (int i = 0; i < D; i++) {
      const double zn = z[s * D + (i + 1) % D];
      thbar[0] += a[s * D + i] * sin(t) * z[s * D + i];
      thbar[1] += a[s * D + i] * zn * zn;
      thbar[2] += a[s * D + i];
    }
  return 0;
}

/* User models: the library's linear and Lotka–Volterra examples and the wave above. */
enum { PMT_USER_LINEAR, PMT_USER_LV, PMT_USER_WAVE, PMT_NUSER };
static const char *const pmt_user_names[PMT_NUSER] = {"user linear", "user lotka-volterra",
                                                      "user wave (time-dependent)"};

static inline int pmt_user_create(pn_ctx *ctx, int kind, uint64_t seed, pn_model **model,
                                  double **theta)
{
  static const int wave_dim = 3;
  static const pn_model_ops wave_ops = {.rhs = pmt_wave_rhs, .vjp = pmt_wave_vjp};
  int rc = PN_ERR_ARG;
  if (kind == PMT_USER_LINEAR) rc = pn_model_create_linear(ctx, 3, model);
  if (kind == PMT_USER_LV) rc = pn_model_create_lotka_volterra(ctx, model);
  if (kind == PMT_USER_WAVE) rc = pn_model_create(ctx, wave_dim, 3, &wave_ops, (void *)&wave_dim, model);
  if (rc != PN_OK) return rc;
  const int P = pn_model_nparam(*model), D = pn_model_dim(*model);
  *theta = calloc((size_t)P, sizeof(double));
  if (!*theta) return PN_ERR_MEM;
  if (kind == PMT_USER_LINEAR) { /* A = −0.5 I + noise: mildly contracting */
    pnt_randn(*theta, (size_t)P, seed, 0.3);
    for (int i = 0; i < D; i++) (*theta)[i * D + i] -= 0.5;
  } else if (kind == PMT_USER_LV) {
    const double lv[4] = {1.1, 0.4, 0.4, 0.1};
    memcpy(*theta, lv, sizeof lv);
  } else {
    const double wave[3] = {0.7, -0.3, 0.2};
    memcpy(*theta, wave, sizeof wave);
  }
  return PN_OK;
}

/* Initial states: N(0, 0.5²), shifted to positive populations for Lotka–Volterra. */
static inline double *pmt_z0(int B, int D, uint64_t seed, int positive)
{
  double *z0 = calloc((size_t)B * (size_t)D, sizeof(double));
  if (!z0) return NULL;
  pnt_randn(z0, (size_t)B * (size_t)D, seed, 0.5);
  if (positive)
    for (int i = 0; i < B * D; i++) z0[i] = 1.0 + fabs(z0[i]);
  return z0;
}

/* MSE loss with labels at the given grid indices of t_n = t0 + n h and
 * random targets; weights may be NULL. */
static inline int pmt_loss_at(pn_ctx *ctx, const pn_solver_opts *o, int K, const long *steps,
                              const double *weights, int B, int D, uint64_t seed, pn_loss **loss)
{
  const double h = (o->t1 - o->t0) / (double)o->nsteps;
  double *times = calloc((size_t)K + 1, sizeof(double));
  double *targets = calloc((size_t)K * (size_t)B * (size_t)D + 1, sizeof(double));
  int rc = times && targets ? PN_OK : PN_ERR_MEM;
  for (int k = 0; rc == PN_OK && k < K; k++) times[k] = o->t0 + (double)steps[k] * h;
  if (rc == PN_OK) {
    pnt_randn(targets, (size_t)K * (size_t)B * (size_t)D, seed, 0.5);
    rc = pn_loss_create_mse(ctx, K, times, targets, weights, B, D, loss);
  }
  free(times);
  free(targets);
  return rc;
}

#endif
