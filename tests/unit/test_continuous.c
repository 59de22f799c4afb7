/* The continuous (optimise-then-discretise) adjoint, docs/mathematics.md, and claim 2 of
 * the seed paper: at finite h it is NOT the gradient of the discrete forward
 * map, and its gap to the exact (discrete-adjoint) gradient shrinks at the
 * scheme's order q.  Also: backsolve's reconstruction error of z is reported
 * and grows on a problem that is unstable backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A smooth problem: tanh MLP with time input, D = 2, one hidden layer of 8,
 * B = 3 samples, labels at t = 0.25, 0.5 (twice), 1 — all on every grid
 * below (N a multiple of 4). */
enum { D = 2, H = 8, B = 3, K = 4 };
static const int widths[1] = {H};
static const pn_activation acts[1] = {PN_ACT_TANH};
static const pn_mlp_spec spec = {D, 1, widths, acts, 1};

typedef struct problem {
  pn_model *model;
  pn_loss *loss;
  int P;
  double theta[(D + 1) * H + H + H * D + D];
  double z0[B * D];
} problem;

static void problem_make(problem *p)
{
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &p->model));
  p->P = pn_model_nparam(p->model);
  assert_int_equal(p->P, (int)(sizeof p->theta / sizeof p->theta[0]));
  pnt_randn(p->theta, (size_t)p->P, 11, 0.6);
  pnt_randn(p->z0, B * D, 12, 1.0);
  const double times[K] = {0.25, 0.5, 0.5, 1.0};
  double targets[K * B * D];
  pnt_randn(targets, K * B * D, 13, 0.5);
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, K, times, targets, NULL, B, D, &p->loss));
}

static void problem_free(problem *p)
{
  pn_loss_destroy(&p->loss);
  pn_model_destroy(&p->model);
}

/* θ-gradient (and loss) of one method on N steps of `scheme` over [0, 1]. */
static void gradient(problem *p, const char *scheme, long N, pn_adjoint_kind adj,
                     pn_sweep_mode mode, double *g, pn_stats *st)
{
  pn_tableau *tab = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = N;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, scheme, &tab));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p->model, tab, &o, &S));
  double loss = 0.0, gz0[B * D];
  pnt_ok(pnt_ctx,
         pn_solver_gradient_method(S, adj, mode, p->theta, B, p->z0, p->loss, &loss, g, gz0));
  if (st) pnt_ok(pnt_ctx, pn_solver_get_stats(S, st));
  pn_solver_destroy(&S);
  pn_tableau_destroy(&tab);
}

static double norm(const double *x, int n)
{
  double s = 0.0;
  for (int i = 0; i < n; i++) s += x[i] * x[i];
  return sqrt(s);
}

static double gap(const double *a, const double *b, int n)
{
  double s = 0.0;
  for (int i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return sqrt(s);
}

typedef struct scheme_order {
  const char *name;
  int q;  /* the order the gap must show */
  long N; /* coarsest grid: the gaps at N, 2N, 4N are asymptotic, far above rounding */
} scheme_order;

/* For each scheme: N, 2N, 4N; the gap ‖g_cont − g_disc‖ must exceed
 * 1e3·eps·‖g‖ (it is a discretisation error, not rounding) and shrink by
 * 2^q per halving of h: the observed order log2(gap(h)/gap(h/2)) must lie
 * within 0.3 of q on both halvings (measured: within 0.03). */
static void check_order(pn_adjoint_kind adj, const scheme_order *schemes, size_t nschemes)
{
  problem p;
  problem_make(&p);
  double *gd = calloc((size_t)p.P, sizeof(double)), *gc = calloc((size_t)p.P, sizeof(double));
  assert_non_null(gd);
  assert_non_null(gc);
  for (size_t s = 0; s < nschemes; s++) {
    double gaps[3];
    for (int l = 0; l < 3; l++) {
      const long N = schemes[s].N << l;
      gradient(&p, schemes[s].name, N, PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI, gd, NULL);
      gradient(&p, schemes[s].name, N, adj, PN_SWEEP_MULTI, gc, NULL);
      gaps[l] = gap(gc, gd, p.P);
      print_message("%-22s %-7s N = %4ld  gap %.3e  (1e3 eps |g| = %.1e)\n",
                    pn_adjoint_kind_name(adj), schemes[s].name, N, gaps[l],
                    1e3 * 2.2e-16 * norm(gd, p.P));
      assert_true(gaps[l] > 1e3 * 2.220446049250313e-16 * norm(gd, p.P));
    }
    for (int l = 1; l < 3; l++) {
      const double order = log2(gaps[l - 1] / gaps[l]);
      print_message("%-22s %-7s observed order %.3f (nominal %d)\n", pn_adjoint_kind_name(adj),
                    schemes[s].name, order, schemes[s].q);
      assert_true(fabs(order - schemes[s].q) <= 0.3);
    }
  }
  free(gd);
  free(gc);
  problem_free(&p);
}

/* Interpolating variant: the gap has exactly the scheme's order q (the
 * Hermite interpolant's O(h⁴) error does not limit these q ≤ 4). */
static void interp_gap_has_scheme_order(void **state)
{
  (void)state;
  static const scheme_order schemes[] = {
      {"euler", 1, 64}, {"heun", 2, 16}, {"kutta3", 3, 8}, {"rk4", 4, 8}};
  check_order(PN_ADJOINT_CONTINUOUS_INTERP, schemes, sizeof schemes / sizeof schemes[0]);
}

/* Backsolve: order q as well, except heun, whose gap is O(h³): the reversed
 * step evaluates the Jacobian at Z_1 = z_{n+1} and Z_2 = z_{n+1} − h f(z_{n+1})
 * where the forward step had Y_2 = z_n + h f(z_n) and Y_1 = z_n; both pairs
 * differ by ±(h²/2) f'f + O(h³), with the same weight b = ½, so the O(h³)
 * local differences cancel and only O(h⁴) per step remains.  (The
 * interpolating variant has Z_2 = z_n exactly but keeps Z_1 = z_{n+1}, so
 * nothing cancels there: order 2.)  Measured 3.000 on both halvings. */
static void backsolve_gap_has_scheme_order(void **state)
{
  (void)state;
  static const scheme_order schemes[] = {
      {"euler", 1, 64}, {"heun", 3, 16}, {"kutta3", 3, 8}, {"rk4", 4, 8}};
  check_order(PN_ADJOINT_CONTINUOUS_BACKSOLVE, schemes, sizeof schemes / sizeof schemes[0]);
}

/* ---- backsolve's reconstruction error of z ------------------------------ */

/* dz/dt = −k (z − sin t), θ = (k): forward, every solution is pulled onto
 * the same curve at rate k; backward, any error is amplified by e^{k t}.
 * The backsolved z therefore leaves the forward trajectory exponentially in
 * the interval's length: the classic failure of backsolve on dissipative
 * dynamics. */
static int relax_rhs(void *user, double t, int nb, const double *z, const double *theta,
                     double *f)
{
  (void)user;
  for (int b = 0; b < nb; b++) f[b] = -theta[0] * (z[b] - sin(t));
  return 0;
}

static int relax_vjp(void *user, double t, int nb, const double *z, const double *theta,
                     const double *a, double *z_bar, double *theta_bar)
{
  (void)user;
  for (int b = 0; b < nb; b++) {
    z_bar[b] = -theta[0] * a[b];
    theta_bar[0] += -(z[b] - sin(t)) * a[b];
  }
  return 0;
}

/* Backsolve drift ‖z_bs(0) − z0‖/‖z0‖ and return code for rk4, h = 0.05 on [0, T]. */
static int relax_backsolve(double T, double *drift, double *gap_out)
{
  const pn_model_ops ops = {.rhs = relax_rhs, .vjp = relax_vjp};
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t1 = T;
  o.nsteps = lround(T / 0.05);
  const double theta[1] = {10.0}, z0[2] = {1.5, -0.5}, targets[2] = {0.3, 0.1};
  pnt_ok(pnt_ctx, pn_model_create(pnt_ctx, 1, 1, &ops, NULL, &model));
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, &T, targets, NULL, 2, 1, &loss));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, model, tab, &o, &S));
  double g[1], gd[1];
  pnt_ok(pnt_ctx, pn_solver_gradient(S, theta, 2, z0, loss, NULL, gd, NULL));
  const int rc = pn_solver_gradient_method(S, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_MULTI,
                                           theta, 2, z0, loss, NULL, g, NULL);
  pn_stats st;
  pnt_ok(pnt_ctx, pn_solver_get_stats(S, &st));
  *drift = st.backsolve_z_err;
  *gap_out = rc == PN_OK ? fabs(g[0] - gd[0]) / fabs(gd[0]) : NAN;
  pn_solver_destroy(&S);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
  return rc;
}

/* The drift is reported in pn_stats and grows like e^{kT}: from T = 1 to 2
 * to 3 it must grow by more than 1e3 each time (e^{10} ≈ 2e4; measured
 * 3e4 and 8e3).  On a long enough interval the backsolved state overflows:
 * that must be an error naming it, never a silent Inf gradient. */
static void backsolve_drift_is_reported_and_grows(void **state)
{
  (void)state;
  double drift[3], gap[3];
  for (int i = 0; i < 3; i++) {
    pnt_ok(pnt_ctx, relax_backsolve(1.0 + i, &drift[i], &gap[i]));
    print_message("T = %d: backsolve drift of z %.3e, gradient gap %.3e\n", 1 + i, drift[i],
                  gap[i]);
  }
  assert_true(drift[0] > 0.0);
  assert_true(drift[1] > 1e3 * drift[0]);
  assert_true(drift[2] > 1e3 * drift[1]);
  double d = 0.0, g = 0.0;
  pnt_fails_with(pnt_ctx, relax_backsolve(80.0, &d, &g), PN_ERR_NONFINITE, "the backsolved state");
}

/* Backsolve keeps no trajectory (that is its point): a fresh solver holds
 * no state of it and fewer bytes than for the discrete adjoint, which then
 * stores all N states of the block. */
static void backsolve_stores_no_trajectory(void **state)
{
  (void)state;
  problem p;
  problem_make(&p);
  pn_tableau *tab = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = 400;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, tab, &o, &S));
  double g[(D + 1) * H + H + H * D + D];
  pn_stats bs, disc;
  pnt_ok(pnt_ctx, pn_solver_gradient_method(S, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_SINGLE,
                                            p.theta, B, p.z0, p.loss, NULL, g, NULL));
  pnt_ok(pnt_ctx, pn_solver_get_stats(S, &bs));
  pn_solver_destroy(&S);
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, tab, &o, &S));
  pnt_ok(pnt_ctx, pn_solver_gradient(S, p.theta, B, p.z0, p.loss, NULL, g, NULL));
  pnt_ok(pnt_ctx, pn_solver_get_stats(S, &disc));
  print_message("backsolve: %ld states, %zu bytes; discrete: %ld states, %zu bytes\n",
                bs.states_stored, bs.bytes_solver, disc.states_stored, disc.bytes_solver);
  assert_int_equal(bs.states_stored, 0);
  assert_int_equal(disc.states_stored, 400);
  assert_true(bs.bytes_solver + 400 * B * D * sizeof(double) / 2 < disc.bytes_solver);
  /* single-point: the labels at t = 0.25, 0.5 (twice) are reached by
   * recomputing the forward from z_lo: 100 + 200 + 200 steps */
  assert_int_equal(bs.steps_recomputed, 500);
  pn_solver_destroy(&S);
  pn_tableau_destroy(&tab);
  problem_free(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(interp_gap_has_scheme_order),
    cmocka_unit_test(backsolve_gap_has_scheme_order),
    cmocka_unit_test(backsolve_drift_is_reported_and_grows),
    cmocka_unit_test(backsolve_stores_no_trajectory),
};

PNT_MAIN("continuous", tests)
