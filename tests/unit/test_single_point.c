/* Single-point backpropagation (docs/mathematics.md): one backward sweep per label,
 * from its time back to t0, summed over the labels — against multi-point,
 * one sweep with every jump.  The adjoint is linear in its jumps, so for the
 * discrete and the interpolating continuous adjoint both must agree to
 * rounding; backsolve's sweeps restart z from the label's forward state, so
 * there they differ by a discretisation effect that vanishes as h → 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Labels at t0, twice at the same time, in between and at t1 (grid indices
 * 0, 3, 3, 5, 12 on N = 12 over [0, 1.2]). */
enum { D = 3, H = 7, B = 3, K = 5 };
static const long label_steps[K] = {0, 3, 3, 5, 12};
static const int widths[1] = {H};
static const pn_activation acts[1] = {PN_ACT_TANH};
static const pn_mlp_spec spec = {D, 1, widths, acts, 1};

typedef struct problem {
  pn_model *model;
  pn_loss *loss;
  int P;
  double *theta, z0[B * D];
} problem;

static void problem_make(problem *p, int nlabels)
{
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &p->model));
  p->P = pn_model_nparam(p->model);
  p->theta = calloc((size_t)p->P, sizeof(double));
  assert_non_null(p->theta);
  pnt_randn(p->theta, (size_t)p->P, 31, 0.5);
  pnt_randn(p->z0, B * D, 32, 1.0);
  double times[K], targets[K * B * D];
  for (int k = 0; k < K; k++) times[k] = 0.1 * (double)label_steps[k];
  pnt_randn(targets, K * B * D, 33, 0.5);
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, nlabels, times, targets, NULL, B, D, &p->loss));
}

static void problem_free(problem *p)
{
  pn_loss_destroy(&p->loss);
  pn_model_destroy(&p->model);
  free(p->theta);
}

/* θ-gradient then ∂L/∂z0 in g (P + B·D); N steps over [0, 1.2]. */
static void run(const problem *p, const char *scheme, long N, pn_storage_kind storage,
                pn_adjoint_kind adj, pn_sweep_mode mode, double *loss, double *g, pn_stats *st)
{
  pn_tableau *tab = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t1 = 1.2;
  o.nsteps = N;
  o.storage = storage;
  o.storage_param = 3;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, scheme, &tab));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p->model, tab, &o, &S));
  pnt_ok(pnt_ctx, pn_solver_gradient_method(S, adj, mode, p->theta, B, p->z0, p->loss, loss, g,
                                            g + p->P));
  if (st) pnt_ok(pnt_ctx, pn_solver_get_stats(S, st));
  pn_solver_destroy(&S);
  pn_tableau_destroy(&tab);
}

/* Discrete adjoint, every built-in scheme, stored and recomputed states
 * (every 3rd; binomial with 3 checkpoints, restarted by each sweep):
 * single = multi to 1e-13 relative (the same VJPs, summed in another order:
 * a few ulps; measured ≤ 3e-16). */
static void discrete_single_equals_multi(void **state)
{
  (void)state;
  problem p;
  problem_make(&p, K);
  const size_t n = (size_t)p.P + B * D;
  double *gs = calloc(n, sizeof(double)), *gm = calloc(n, sizeof(double)), ls, lm;
  assert_non_null(gs);
  assert_non_null(gm);
  int count = 0;
  const char *const *names = pn_tableau_names(&count);
  static const pn_storage_kind kinds[3] = {PN_STORE_ALL, PN_STORE_EVERY, PN_STORE_BINOMIAL};
  static const char *const knames[3] = {"", " every:3", " binomial:3"};
  for (int s = 0; s < count; s++)
    for (int k = 0; k < 3; k++) {
      const pn_storage_kind kind = kinds[k];
      run(&p, names[s], 12, kind, PN_ADJOINT_DISCRETE, PN_SWEEP_SINGLE, &ls, gs, NULL);
      run(&p, names[s], 12, kind, PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI, &lm, gm, NULL);
      const double et = pnt_rel_err(gs, gm, (size_t)p.P);
      const double ez = pnt_rel_err(gs + p.P, gm + p.P, B * D);
      if (!(et <= 1e-13 && ez <= 1e-13))
        print_error("%s%s: single vs multi theta %.2e z0 %.2e\n", names[s], knames[k], et, ez);
      assert_true(et <= 1e-13 && ez <= 1e-13);
      assert_true(ls == lm);
    }
  free(gs);
  free(gm);
  problem_free(&p);
}

/* Interpolating continuous adjoint: z comes from the same stored states in
 * every sweep, so single = multi to rounding (1e-13, measured ≤ 3e-16),
 * although both are far from the discrete gradient.  Backsolve: each sweep
 * restarts z from the forward state at its label, so single ≠ multi; the
 * difference comes from the drift of the backsolved z, which for rk4 is
 * O(h⁵) (R(−x)R(x) = 1 + O(x⁶) for an even-order scheme: the leading error
 * terms of the step and of its reverse cancel).  So with rk4 it must lie
 * within the gap to the discrete gradient (which is O(h⁴)) and shrink at
 * least at order 4 − 0.3 (measured 5.0). */
static void continuous_single_vs_multi(void **state)
{
  (void)state;
  problem p;
  problem_make(&p, K);
  const size_t n = (size_t)p.P + B * D;
  double *gs = calloc(n, sizeof(double)), *gm = calloc(n, sizeof(double)), l;
  assert_non_null(gs);
  assert_non_null(gm);
  run(&p, "rk4", 12, PN_STORE_ALL, PN_ADJOINT_CONTINUOUS_INTERP, PN_SWEEP_SINGLE, &l, gs, NULL);
  run(&p, "rk4", 12, PN_STORE_ALL, PN_ADJOINT_CONTINUOUS_INTERP, PN_SWEEP_MULTI, &l, gm, NULL);
  assert_true(pnt_rel_err(gs, gm, n) <= 1e-13);
  double diff[3], *gd = calloc(n, sizeof(double));
  assert_non_null(gd);
  for (int lvl = 0; lvl < 3; lvl++) {
    const long N = 12L << lvl; /* the labels stay on the grid */
    run(&p, "rk4", N, PN_STORE_ALL, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_SINGLE, &l, gs, NULL);
    run(&p, "rk4", N, PN_STORE_ALL, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_MULTI, &l, gm, NULL);
    run(&p, "rk4", N, PN_STORE_ALL, PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI, &l, gd, NULL);
    diff[lvl] = pnt_rel_err(gs, gm, (size_t)p.P);
    const double gap = pnt_rel_err(gm, gd, (size_t)p.P);
    print_message("backsolve rk4 N = %ld: single vs multi %.3e, gap to discrete %.3e\n", N,
                  diff[lvl], gap);
    assert_true(diff[lvl] > 0.0 && diff[lvl] < gap);
  }
  for (int lvl = 1; lvl < 3; lvl++) assert_true(log2(diff[lvl - 1] / diff[lvl]) >= 4.0 - 0.3);
  free(gd);
  free(gs);
  free(gm);
  problem_free(&p);
}

/* The cost: single-point runs K sweeps, sweep k over m_k steps; with rk4
 * every stage has b_i ≠ 0, so each backward step is exactly 4 VJPs:
 * 4·Σ_k m_k = 4·23 VJPs against 4·N = 48 for multi-point. */
static void single_point_costs_one_sweep_per_label(void **state)
{
  (void)state;
  problem p;
  problem_make(&p, K);
  const size_t n = (size_t)p.P + B * D;
  double *g = calloc(n, sizeof(double)), l;
  assert_non_null(g);
  pn_stats st;
  run(&p, "rk4", 12, PN_STORE_ALL, PN_ADJOINT_DISCRETE, PN_SWEEP_SINGLE, &l, g, &st);
  long steps = 0;
  for (int k = 0; k < K; k++) steps += label_steps[k];
  assert_int_equal(st.sweeps_backward, K);
  assert_int_equal(st.vjp_evals, 4 * steps);
  assert_int_equal(st.adjoint, PN_ADJOINT_DISCRETE);
  assert_int_equal(st.sweep, PN_SWEEP_SINGLE);
  run(&p, "rk4", 12, PN_STORE_ALL, PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI, &l, g, &st);
  assert_int_equal(st.sweeps_backward, 1);
  assert_int_equal(st.vjp_evals, 4 * 12);
  free(g);
  problem_free(&p);
}

/* No labels: no sweep, a zero gradient, for every method. */
static void no_labels_gives_zero(void **state)
{
  (void)state;
  problem p;
  problem_make(&p, 0);
  const size_t n = (size_t)p.P + B * D;
  double *g = calloc(n, sizeof(double)), l = 1.0;
  assert_non_null(g);
  for (int a = 0; a < 3; a++) {
    pn_stats st;
    for (size_t i = 0; i < n; i++) g[i] = 1.0;
    run(&p, "heun", 12, PN_STORE_ALL, (pn_adjoint_kind)a, PN_SWEEP_SINGLE, &l, g, &st);
    assert_true(l == 0.0);
    assert_int_equal(st.sweeps_backward, 0);
    for (size_t i = 0; i < n; i++) assert_true(g[i] == 0.0);
  }
  free(g);
  problem_free(&p);
}

/* Method names round-trip; unknown names and values are refused. */
static void method_names_and_bad_methods(void **state)
{
  (void)state;
  for (int a = 0; a < 3; a++) {
    pn_adjoint_kind k;
    assert_int_equal(pn_adjoint_kind_from_name(pn_adjoint_kind_name((pn_adjoint_kind)a), &k), PN_OK);
    assert_int_equal(k, a);
  }
  pn_sweep_mode m;
  assert_int_equal(pn_sweep_mode_from_name("single", &m), PN_OK);
  assert_int_equal(m, PN_SWEEP_SINGLE);
  pn_adjoint_kind k;
  assert_int_equal(pn_adjoint_kind_from_name("continuous", &k), PN_ERR_ARG);
  assert_int_equal(pn_sweep_mode_from_name("both", &m), PN_ERR_ARG);
  problem p;
  problem_make(&p, K);
  pn_tableau *tab = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t1 = 1.2;
  o.nsteps = 12;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, tab, &o, &S));
  double l;
  pnt_fails_with(pnt_ctx,
                 pn_solver_gradient_method(S, (pn_adjoint_kind)7, PN_SWEEP_MULTI, p.theta, B, p.z0,
                                           p.loss, &l, NULL, NULL),
                 PN_ERR_ARG, "unknown gradient method (adjoint 7");
  pnt_fails_with(pnt_ctx,
                 pn_solver_gradient_method(S, PN_ADJOINT_DISCRETE, (pn_sweep_mode)-1, p.theta, B,
                                           p.z0, p.loss, &l, NULL, NULL),
                 PN_ERR_ARG, "sweep mode -1");
  pn_solver_destroy(&S);
  pn_tableau_destroy(&tab);
  problem_free(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(discrete_single_equals_multi),
    cmocka_unit_test(continuous_single_vs_multi),
    cmocka_unit_test(single_point_costs_one_sweep_per_label),
    cmocka_unit_test(no_labels_gives_zero),
    cmocka_unit_test(method_names_and_bad_methods),
};

PNT_MAIN("single_point", tests)
