/* Losses and labels: labels at t0, at t_f, twice at one time, none at all,
 * weights, custom loss callbacks, labels off the grid, the MSE value and its
 * adjoint jump, and failures of user callbacks (models and losses). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cstep.h"
#include "loss_impl.h"
#include "testutil.h"

#define D 2
#define B 3
#define HID 6
#define NP ((D * HID + HID) + (HID * D + D))

/* A small tanh MLP on [0, 1] with N = 10 rk4 steps. */
typedef struct fixture {
  int widths[1];
  pn_activation acts[1];
  pn_mlp_spec spec;
  pn_model *model;
  pn_tableau *tab;
  pn_solver *solver;
  double theta[NP], z0[B * D];
} fixture;

static void fixture_make(fixture *f, int microbatches)
{
  memset(f, 0, sizeof *f);
  f->widths[0] = HID;
  f->acts[0] = PN_ACT_TANH;
  f->spec = (pn_mlp_spec){D, 1, f->widths, f->acts, 0};
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &f->spec, &f->model));
  assert_int_equal(pn_model_nparam(f->model), NP);
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &f->tab));
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = 10;
  o.microbatches = microbatches;
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, f->model, f->tab, &o, &f->solver));
  pnt_randn(f->theta, NP, 1, 0.7);
  pnt_randn(f->z0, B * D, 2, 1.0);
}

static void fixture_free(fixture *f)
{
  pn_solver_destroy(&f->solver);
  pn_tableau_destroy(&f->tab);
  pn_model_destroy(&f->model);
}

/* Loss and [∂L/∂θ, ∂L/∂z0] of the solver; outputs pre-filled with NaN so
 * that an output the solver forgets to write is caught. */
static void grad(fixture *f, const pn_loss *loss, double *l, double *g)
{
  *l = NAN;
  for (int i = 0; i < NP + B * D; i++) g[i] = NAN;
  pnt_ok(pnt_ctx, pn_solver_gradient(f->solver, f->theta, B, f->z0, loss, l, g, g + NP));
}

static int never_called(void *user, int label, double t, int b0, int nb, const double *z,
                        double *value, double *grad_out)
{
  (void)user, (void)label, (void)t, (void)b0, (void)nb, (void)z, (void)value, (void)grad_out;
  fail_msg("a loss without labels was evaluated");
  return 1;
}

/* K = 0: L = 0 and ∂L = 0 exactly, for the MSE and for a custom loss whose
 * callback must never run. */
static void no_labels_zero_loss_and_gradient(void **state)
{
  (void)state;
  fixture f;
  fixture_make(&f, 0);
  pn_loss *mse = NULL, *custom = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 0, NULL, NULL, NULL, B, D, &mse));
  pnt_ok(pnt_ctx, pn_loss_create_custom(pnt_ctx, 0, NULL, B, D, never_called, NULL, &custom));
  double l, g[NP + B * D];
  grad(&f, mse, &l, g);
  assert_true(l == 0.0);
  for (int i = 0; i < NP + B * D; i++) assert_true(g[i] == 0.0);
  grad(&f, custom, &l, g);
  assert_true(l == 0.0);
  for (int i = 0; i < NP + B * D; i++) assert_true(g[i] == 0.0);
  pn_loss_destroy(&mse);
  pn_loss_destroy(&custom);
  fixture_free(&f);
}

/* One label at t0: L = w/(B·D) Σ (z0 − y)², ∂L/∂θ = 0 exactly (no step lies
 * between z0 and the label), ∂L/∂z0 = 2w/(B·D) (z0 − y): the jump at z_0. */
static void label_at_t0_only(void **state)
{
  (void)state;
  fixture f;
  fixture_make(&f, 0);
  double y[B * D], l, g[NP + B * D], t = 0.0, w = 1.7;
  pnt_randn(y, B * D, 3, 1.0);
  pn_loss *loss = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, &t, y, &w, B, D, &loss));
  grad(&f, loss, &l, g);
  double expect = 0.0;
  for (int i = 0; i < B * D; i++) expect += (f.z0[i] - y[i]) * (f.z0[i] - y[i]);
  expect *= w / (B * D);
  /* 1e-15: the same six squares summed, at most in another order. */
  assert_true(fabs(l - expect) <= 1e-15 * expect);
  for (int j = 0; j < NP; j++) assert_true(g[j] == 0.0);
  for (int i = 0; i < B * D; i++)
    assert_true(fabs(g[NP + i] - 2.0 * w / (B * D) * (f.z0[i] - y[i])) <= 1e-15 * fabs(g[NP + i]));
  pn_loss_destroy(&loss);
  fixture_free(&f);
}

/* A label at t_f, and the same label given twice, equal the label once
 * with weight 2 (1e-15: the same terms, the jump added as g + g instead of
 * 2g, exact in binary); the t_f-only gradient also matches the complex step. */
static void label_at_tf_twice_equals_weight_two(void **state)
{
  (void)state;
  fixture f;
  fixture_make(&f, 0);
  double y[2 * B * D], l1, l2, g1[NP + B * D], g2[NP + B * D];
  pnt_randn(y, B * D, 4, 1.0);
  memcpy(y + B * D, y, sizeof(double) * B * D);
  const double tt[2] = {1.0, 1.0}, w2 = 2.0;
  pn_loss *twice = NULL, *once = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, tt, y, NULL, B, D, &twice));
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, tt, y, &w2, B, D, &once));
  grad(&f, twice, &l1, g1);
  grad(&f, once, &l2, g2);
  assert_true(fabs(l1 - l2) <= 1e-15 * l2);
  assert_true(pnt_rel_err(g1, g2, NP + B * D) <= 1e-15);
  double lc, gc[NP + B * D];
  pnt_ok(pnt_ctx, pn_cstep_gradient(pnt_ctx, &f.spec, f.tab, 0.0, 1.0, 10, B, f.z0, f.theta,
                                    twice, &lc, gc, gc + NP));
  assert_true(pnt_rel_err(g1, gc, NP + B * D) <= 1e-12); /* see test_cstep.c */
  pn_loss_destroy(&twice);
  pn_loss_destroy(&once);
  fixture_free(&f);
}

/* L and its gradient are linear in the weights: w = (3, −0.5) against
 * (1, 0) and (0, 1) combined.  1e-14: a few roundings per entry. */
static void weights_are_linear(void **state)
{
  (void)state;
  fixture f;
  fixture_make(&f, 0);
  double y[2 * B * D];
  pnt_randn(y, 2 * B * D, 5, 1.0);
  const double tt[2] = {0.3, 0.8}, w[3][2] = {{3.0, -0.5}, {1.0, 0.0}, {0.0, 1.0}};
  double l[3], g[3][NP + B * D];
  for (int c = 0; c < 3; c++) {
    pn_loss *loss = NULL;
    pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, tt, y, w[c], B, D, &loss));
    grad(&f, loss, &l[c], g[c]);
    pn_loss_destroy(&loss);
  }
  double combo[NP + B * D];
  for (int i = 0; i < NP + B * D; i++) combo[i] = 3.0 * g[1][i] - 0.5 * g[2][i];
  assert_true(fabs(l[0] - (3.0 * l[1] - 0.5 * l[2])) <= 1e-14 * fabs(l[0]));
  assert_true(pnt_rel_err(g[0], combo, NP + B * D) <= 1e-14);
  fixture_free(&f);
}

/* ---- custom losses ------------------------------------------------------- */

typedef struct custom_user {
  const double *y; /* K×B×D targets */
  int calls[4][B]; /* times each (label, sample) was evaluated */
  int fail_label;  /* return 7 for this label (−1: never) */
  int quartic;     /* Σ (z − y)⁴ instead of the MSE */
} custom_user;

static int custom_loss(void *user, int label, double t, int b0, int nb, const double *z,
                       double *value, double *grad_out)
{
  (void)t;
  custom_user *u = user;
  if (label == u->fail_label) return 7;
  const double *y = u->y + ((size_t)label * B + (size_t)b0) * D;
  double v = 0;
  for (int i = 0; i < nb * D; i++) {
    const double r = z[i] - y[i];
    if (u->quartic) {
      v += r * r * r * r;
      grad_out[i] = 4 * r * r * r;
    } else {
      v += r * r / (B * D);
      grad_out[i] = 2 * r / (B * D);
    }
  }
  for (int b = b0; b < b0 + nb; b++) u->calls[label][b]++;
  *value = v;
  return 0;
}

/* The MSE written as a callback equals the built-in MSE, with one or three
 * micro-batches (the callback then sees sample ranges whose parts must add
 * up); every (label, sample) is evaluated equally often. */
static void custom_loss_equals_mse(void **state)
{
  (void)state;
  double y[3 * B * D];
  pnt_randn(y, 3 * B * D, 6, 1.0);
  const double tt[3] = {0.0, 0.5, 1.0};
  pn_loss *mse = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 3, tt, y, NULL, B, D, &mse));
  for (int M = 1; M <= 3; M += 2) {
    fixture f;
    fixture_make(&f, M);
    custom_user u;
    memset(&u, 0, sizeof u);
    u.y = y;
    u.fail_label = -1;
    pn_loss *custom = NULL;
    pnt_ok(pnt_ctx, pn_loss_create_custom(pnt_ctx, 3, tt, B, D, custom_loss, &u, &custom));
    double l1, l2, g1[NP + B * D], g2[NP + B * D];
    grad(&f, mse, &l1, g1);
    grad(&f, custom, &l2, g2);
    /* 1e-14: same terms, the callback scales each term instead of the sum. */
    assert_true(fabs(l1 - l2) <= 1e-14 * l1);
    assert_true(pnt_rel_err(g2, g1, NP + B * D) <= 1e-14);
    for (int k = 0; k < 3; k++)
      for (int b = 0; b < B; b++) assert_int_equal(u.calls[k][b], u.calls[0][0]);
    assert_true(u.calls[0][0] >= 1);
    pn_loss_destroy(&custom);
    fixture_free(&f);
  }
  pn_loss_destroy(&mse);
}

/* A non-quadratic custom loss: the adjoint against central differences of
 * pn_solver_loss (step 1e-5·max(1,|x|); error ≈ δ²|L'''| + ε|L|/δ ≈ 1e-10
 * relative, tolerance 1e-8 as in test_cstep.c). */
static void custom_quartic_loss_vs_finite_differences(void **state)
{
  (void)state;
  fixture f;
  fixture_make(&f, 0);
  double y[2 * B * D];
  pnt_randn(y, 2 * B * D, 7, 1.0);
  const double tt[2] = {0.4, 1.0};
  custom_user u;
  memset(&u, 0, sizeof u);
  u.y = y;
  u.fail_label = -1;
  u.quartic = 1;
  pn_loss *loss = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_custom(pnt_ctx, 2, tt, B, D, custom_loss, &u, &loss));
  double l, g[NP + B * D], fd[NP + B * D];
  grad(&f, loss, &l, g);
  for (int i = 0; i < NP + B * D; i++) {
    double *x = i < NP ? &f.theta[i] : &f.z0[i - NP];
    const double x0 = *x, d = 1e-5 * fmax(1.0, fabs(x0));
    double lp, lm;
    *x = x0 + d;
    pnt_ok(pnt_ctx, pn_solver_loss(f.solver, f.theta, B, f.z0, loss, &lp));
    *x = x0 - d;
    pnt_ok(pnt_ctx, pn_solver_loss(f.solver, f.theta, B, f.z0, loss, &lm));
    *x = x0;
    fd[i] = (lp - lm) / (2 * d);
  }
  const double e = pnt_rel_err(g, fd, NP + B * D);
  printf("# quartic custom loss: adjoint vs finite differences %.3e\n", e);
  assert_true(e <= 1e-8);
  pn_loss_destroy(&loss);
  fixture_free(&f);
}

/* ---- labels on the grid -------------------------------------------------- */

/* Times written as decimals land on the grid despite rounding (0.3 is not
 * 3·0.1 in binary); the bind gives the grid indices, in label order. */
static void bind_rounds_decimal_times(void **state)
{
  (void)state;
  const double tt[6] = {0.0, 0.3, 0.7, 1.0, 0.3, 0.1 * 3};
  double y[6 * B * D] = {0};
  pn_loss *loss = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 6, tt, y, NULL, B, D, &loss));
  long steps[6];
  pnt_ok(pnt_ctx, pni_loss_bind(loss, pnt_ctx, 0.0, 1.0, 10, steps));
  const long expect[6] = {0, 3, 7, 10, 3, 3};
  for (int k = 0; k < 6; k++) assert_int_equal(steps[k], expect[k]);
  pn_loss_destroy(&loss);
}

static void label_off_grid_names_label_and_fitting_steps(void **state)
{
  (void)state;
  fixture f;
  fixture_make(&f, 0);
  double y[2 * B * D] = {0}, l, g[NP + B * D];
  /* 0.25 is between t_2 and t_3 with h = 0.1; N = 8 and 12 fit both labels, and the fewest
   * is 4. */
  const double tt[2] = {0.5, 0.25};
  pn_loss *loss = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, tt, y, NULL, B, D, &loss));
  pnt_fails_with(pnt_ctx, pn_solver_gradient(f.solver, f.theta, B, f.z0, loss, &l, g, g + NP),
                 PN_ERR_GRID, "label 1 at t = 0.25 is not on the grid");
  assert_non_null(strstr(pn_ctx_last_error(pnt_ctx), "steps = 8 (h = 0.125) or 12 (h = "
                                                      "0.08333333333333333) would put every "
                                                      "label on the grid; the fewest that "
                                                      "would: 4"));
  pnt_fails_with(pnt_ctx, pn_solver_loss(f.solver, f.theta, B, f.z0, loss, &l), PN_ERR_GRID,
                 "steps = 8 (h = 0.125) or 12");
  pn_loss_destroy(&loss);
  /* 1/π fits no step count up to 16N: the message says so. */
  const double tpi = 1.0 / 3.141592653589793;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, &tpi, y, NULL, B, D, &loss));
  pnt_fails_with(pnt_ctx, pn_solver_loss(f.solver, f.theta, B, f.z0, loss, &l), PN_ERR_GRID,
                 "no step count from 1 to 16x");
  pn_loss_destroy(&loss);
  const double tout = 1.5;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, &tout, y, NULL, B, D, &loss));
  pnt_fails_with(pnt_ctx, pn_solver_loss(f.solver, f.theta, B, f.z0, loss, &l), PN_ERR_GRID,
                 "label 0 at t = 1.5 lies outside the interval");
  pn_loss_destroy(&loss);
  /* After the errors the solver works again (label 0 alone is on the grid). */
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, tt, y, NULL, B, D, &loss));
  grad(&f, loss, &l, g);
  pn_loss_destroy(&loss);
  fixture_free(&f);
}

/* pni_loss_eval on samples [1, 3) of a batch of 4: the value part and the
 * jump 2w/(B·D)(z − y), added into lambda (not overwriting it). */
static void mse_value_and_jump(void **state)
{
  (void)state;
  enum { BB = 4 };
  double y[2 * BB * D], z[2 * D], lam[2 * D], t[2] = {0.0, 1.0}, w[2] = {0.5, 2.5};
  pnt_randn(y, 2 * BB * D, 8, 1.0);
  pnt_randn(z, 2 * D, 9, 1.0);
  pn_loss *loss = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, t, y, w, BB, D, &loss));
  for (int i = 0; i < 2 * D; i++) lam[i] = 10.0 + i;
  double v = 1.0;
  pnt_ok(pnt_ctx, pni_loss_eval(loss, pnt_ctx, 1, 1, 2, z, &v, lam, NULL));
  const double *yk = y + (1 * BB + 1) * D, s = w[1] / (BB * D);
  double expect = 0;
  for (int i = 0; i < 2 * D; i++) {
    expect += (z[i] - yk[i]) * (z[i] - yk[i]);
    assert_true(fabs(lam[i] - (10.0 + i + 2 * s * (z[i] - yk[i]))) <= 1e-15 * fabs(lam[i]));
  }
  assert_true(fabs(v - (1.0 + s * expect)) <= 1e-15 * v);
  pn_loss_destroy(&loss);
}

static void loss_creation_refuses_bad_input(void **state)
{
  (void)state;
  pn_loss *loss = NULL;
  double y[2 * B * D] = {0}, t[2] = {0.0, 1.0}, w[2] = {1.0, NAN};
  y[1 * B * D + 0 * D + 1] = NAN;
  pnt_fails_with(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, t, y, NULL, B, D, &loss),
                 PN_ERR_NONFINITE, "target of label 1, sample 0, component 1");
  assert_null(loss);
  y[1 * B * D + 1] = 0.0;
  pnt_fails_with(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, t, y, w, B, D, &loss), PN_ERR_NONFINITE,
                 "weight of label 1");
  t[0] = INFINITY;
  pnt_fails_with(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, t, y, NULL, B, D, &loss),
                 PN_ERR_NONFINITE, "label 0 has time");
  t[0] = 0.0;
  pnt_fails_with(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, t, NULL, NULL, B, D, &loss), PN_ERR_ARG,
                 "without targets");
  pnt_fails_with(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, t, y, NULL, 0, D, &loss), PN_ERR_ARG,
                 "batch 0");
  pnt_fails_with(pnt_ctx, pn_loss_create_custom(pnt_ctx, 2, t, B, D, NULL, NULL, &loss),
                 PN_ERR_ARG, "without a callback");
  assert_null(loss);
  /* A loss for another batch size is refused by the solver. */
  fixture f;
  fixture_make(&f, 0);
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, t, y, NULL, B - 1, D, &loss));
  double l;
  pnt_fails_with(pnt_ctx, pn_solver_loss(f.solver, f.theta, B, f.z0, loss, &l), PN_ERR_ARG,
                 "the loss was made for batch 2");
  pn_loss_destroy(&loss);
  fixture_free(&f);
}

/* ---- failing user callbacks ---------------------------------------------- */

/* Linear model dz/dt = −z whose callbacks fail (or return NaN) on demand. */
typedef struct flaky {
  double fail_after; /* rhs fails for t > fail_after */
  int rhs_code, vjp_code;
  int nan;           /* rhs writes NaN instead of failing */
} flaky;

static int flaky_rhs(void *user, double t, int nb, const double *z, const double *th, double *f)
{
  const flaky *u = user;
  if (t > u->fail_after && !u->nan) return u->rhs_code;
  for (int i = 0; i < nb * D; i++) f[i] = (t > u->fail_after ? NAN : -th[0]) * z[i];
  return 0;
}

static int flaky_vjp(void *user, double t, int nb, const double *z, const double *th,
                     const double *a, double *zbar, double *thbar)
{
  (void)t;
  const flaky *u = user;
  if (u->vjp_code) return u->vjp_code;
  for (int i = 0; i < nb * D; i++) {
    zbar[i] = -th[0] * a[i];
    thbar[0] -= a[i] * z[i];
  }
  return 0;
}

static void user_callback_failures(void **state)
{
  (void)state;
  flaky u = {2.0, 0, 0, 0}; /* never fails on [0, 1] */
  const pn_model_ops ops = {.rhs = flaky_rhs, .vjp = flaky_vjp};
  pn_model *m = NULL;
  pn_tableau *tab = NULL;
  pn_solver *S = NULL;
  pnt_ok(pnt_ctx, pn_model_create(pnt_ctx, D, 1, &ops, &u, &m));
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "heun", &tab));
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = 10;
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  double th = 0.8, z0[B * D], y[B * D] = {0}, t1 = 1.0, l, g[1 + B * D];
  pnt_randn(z0, B * D, 11, 1.0);
  pn_loss *loss = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, &t1, y, NULL, B, D, &loss));
  pnt_ok(pnt_ctx, pn_solver_gradient(S, &th, B, z0, loss, &l, g, g + 1));
  /* Before breaking the model, check it against the exact discrete
   * solution: Heun on z' = −θz multiplies by R = 1 − hθ + (hθ)²/2 per step,
   * so L = R^{2N} Σz0²/(B·D), ∂L/∂θ = 2N R^{2N−1} R'(θ) Σz0²/(B·D) with
   * R' = −h + h²θ, ∂L/∂z0 = 2R^{2N} z0/(B·D).  1e-13: ~2N roundings in the
   * powers and the sums. */
  const double h = 0.1, R = 1 - h * th + 0.5 * h * h * th * th;
  double s2 = 0;
  for (int i = 0; i < B * D; i++) s2 += z0[i] * z0[i];
  assert_true(fabs(l - pow(R, 20) * s2 / (B * D)) <= 1e-13 * l);
  const double dth = 20 * pow(R, 19) * (-h + h * h * th) * s2 / (B * D);
  assert_true(fabs(g[0] - dth) <= 1e-13 * fabs(dth));
  for (int i = 0; i < B * D; i++)
    assert_true(fabs(g[1 + i] - 2 * pow(R, 20) * z0[i] / (B * D)) <= 1e-13 * fabs(g[1 + i]));
  double l0 = l, g0[1 + B * D];
  memcpy(g0, g, sizeof g0);
  u.fail_after = 0.5;
  u.rhs_code = -2;
  pnt_fails_with(pnt_ctx, pn_solver_gradient(S, &th, B, z0, loss, &l, g, g + 1),
                 PN_ERR_USER_CALLBACK, "right-hand side returned -2 at t = 0.59999999999999998");
  pnt_fails_with(pnt_ctx, pn_solver_loss(S, &th, B, z0, loss, &l), PN_ERR_USER_CALLBACK,
                 "returned -2");
  u.rhs_code = 3; /* recoverable (> 0) is reported the same way */
  pnt_fails_with(pnt_ctx, pn_solver_loss(S, &th, B, z0, loss, &l), PN_ERR_USER_CALLBACK,
                 "returned 3");
  u.fail_after = 2.0;
  u.vjp_code = 1;
  pnt_fails_with(pnt_ctx, pn_solver_gradient(S, &th, B, z0, loss, &l, g, g + 1),
                 PN_ERR_USER_CALLBACK, "vector-Jacobian product returned 1");
  u.vjp_code = 0;
  u.fail_after = 0.5;
  u.nan = 1;
  pnt_fails_with(pnt_ctx, pn_solver_gradient(S, &th, B, z0, loss, &l, g, g + 1),
                 PN_ERR_NONFINITE, "at step 6");
  /* A failing custom loss. */
  u.nan = 0;
  u.fail_after = 2.0;
  custom_user cu;
  memset(&cu, 0, sizeof cu);
  cu.y = y;
  cu.fail_label = 0;
  pn_loss *custom = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_custom(pnt_ctx, 1, &t1, B, D, custom_loss, &cu, &custom));
  pnt_fails_with(pnt_ctx, pn_solver_gradient(S, &th, B, z0, custom, &l, g, g + 1),
                 PN_ERR_USER_CALLBACK, "user loss returned 7 for label 0");
  /* Every failure leaves the solver usable: the first result comes back,
   * bit for bit. */
  pnt_ok(pnt_ctx, pn_solver_gradient(S, &th, B, z0, loss, &l, g, g + 1));
  assert_true(l == l0);
  assert_memory_equal(g, g0, sizeof g0);
  pn_loss_destroy(&custom);
  pn_loss_destroy(&loss);
  pn_solver_destroy(&S);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(no_labels_zero_loss_and_gradient),
    cmocka_unit_test(label_at_t0_only),
    cmocka_unit_test(label_at_tf_twice_equals_weight_two),
    cmocka_unit_test(weights_are_linear),
    cmocka_unit_test(custom_loss_equals_mse),
    cmocka_unit_test(custom_quartic_loss_vs_finite_differences),
    cmocka_unit_test(bind_rounds_decimal_times),
    cmocka_unit_test(label_off_grid_names_label_and_fitting_steps),
    cmocka_unit_test(mse_value_and_jump),
    cmocka_unit_test(loss_creation_refuses_bad_input),
    cmocka_unit_test(user_callback_failures),
};

PNT_MAIN("loss", tests)
