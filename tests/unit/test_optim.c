/* Optimisers: update rules against closed forms, schedules, clipping,
 * convergence, bitwise save/restore, and every error path. */
#include <math.h>
#include <string.h>

#include "pinode/optim.h"
#include "testutil.h"

static pn_optim *make(pn_optim_method method, double lr, int P)
{
  pn_optim_opts o;
  pn_optim_opts_default(&o);
  o.method = method;
  o.lr = lr;
  pn_optim *opt = NULL;
  pnt_ok(pnt_ctx, pn_optim_create(pnt_ctx, P, &o, &opt));
  return opt;
}

/* With a constant gradient the bias-corrected moments are exactly m̂ = g and
 * v̂ = g², so every Adam step moves θ by lr·g/(|g| + eps).  This checks the
 * bias correction (without it the first steps would be 10x / 30x off).
 * Tolerance: 100 steps of rounding ~1e-16 relative each → 1e-13. */
static void adam_constant_gradient_closed_form(void **state)
{
  (void)state;
  const double g[3] = {2.5, -1e-3, 7.0}, lr = 0.01;
  double theta[3] = {1.0, 2.0, -3.0}, theta0[3];
  memcpy(theta0, theta, sizeof theta);
  pn_optim *opt = make(PN_OPTIM_ADAM, lr, 3);
  const int T = 100;
  for (int t = 0; t < T; t++) pnt_ok(pnt_ctx, pn_optim_step(opt, theta, g, NULL));
  for (int i = 0; i < 3; i++) {
    const double expect = theta0[i] - T * lr * g[i] / (fabs(g[i]) + 1e-8);
    assert_true(fabs(theta[i] - expect) <= 1e-13 * fabs(theta0[i]) + 1e-15);
  }
  assert_int_equal(pn_optim_iteration(opt), T);
  pn_optim_destroy(&opt);
  assert_null(opt);
}

/* SGD with momentum μ and a constant gradient: buf_t = g (1 − μ^t)/(1 − μ),
 * θ_T = θ0 − lr Σ_t buf_t; Nesterov moves by g + μ buf_t instead.  Tolerance
 * as above. */
static void sgd_momentum_closed_form(void **state)
{
  (void)state;
  for (int nesterov = 0; nesterov <= 1; nesterov++) {
    pn_optim_opts o;
    pn_optim_opts_default(&o);
    o.method = PN_OPTIM_SGD;
    o.lr = 0.05;
    o.momentum = 0.8;
    o.nesterov = nesterov;
    pn_optim *opt = NULL;
    pnt_ok(pnt_ctx, pn_optim_create(pnt_ctx, 1, &o, &opt));
    const double g = 3.0;
    double theta = 1.0, expect = 1.0;
    for (int t = 1; t <= 40; t++) {
      pnt_ok(pnt_ctx, pn_optim_step(opt, &theta, &g, NULL));
      const double buf = g * (1.0 - pow(0.8, t)) / (1.0 - 0.8);
      expect -= 0.05 * (nesterov ? g + 0.8 * buf : buf);
    }
    assert_true(fabs(theta - expect) <= 1e-13 * fabs(expect));
    pn_optim_destroy(&opt);
  }
}

static void schedules_and_warmup(void **state)
{
  (void)state;
  pn_optim_opts o;
  pn_optim_opts_default(&o);
  o.lr = 0.1;
  o.decay_iterations = 10;
  o.decay_rate = 0.5;
  assert_true(pn_optim_lr_at(&o, 12345) == 0.1); /* constant */
  o.schedule = PN_LR_STEP;
  assert_true(pn_optim_lr_at(&o, 9) == 0.1);
  assert_true(pn_optim_lr_at(&o, 10) == 0.05);
  assert_true(pn_optim_lr_at(&o, 25) == 0.025);
  o.schedule = PN_LR_EXPONENTIAL;
  assert_true(fabs(pn_optim_lr_at(&o, 5) - 0.1 * sqrt(0.5)) < 1e-16);
  assert_true(fabs(pn_optim_lr_at(&o, 20) - 0.025) < 1e-16);
  o.schedule = PN_LR_COSINE;
  o.lr_min = 0.02;
  assert_true(fabs(pn_optim_lr_at(&o, 0) - 0.1) < 1e-16);
  assert_true(fabs(pn_optim_lr_at(&o, 5) - 0.06) < 1e-16);
  assert_true(fabs(pn_optim_lr_at(&o, 10) - 0.02) < 1e-16);
  assert_true(fabs(pn_optim_lr_at(&o, 99) - 0.02) < 1e-16);
  o.schedule = PN_LR_CONSTANT;
  o.warmup = 4;
  assert_true(pn_optim_lr_at(&o, 0) == 0.025);
  assert_true(pn_optim_lr_at(&o, 3) == 0.1);
  assert_true(pn_optim_lr_at(&o, 4) == 0.1);
  /* no schedule without a period (no division by zero), nor before the first update */
  assert_true(isnan(pn_optim_lr_at(&o, -1)));
  assert_true(isnan(pn_optim_lr_at(NULL, 0)));
  o.schedule = PN_LR_STEP;
  o.decay_iterations = 0;
  assert_true(isnan(pn_optim_lr_at(&o, 5)));
}

/* Plain SGD (μ = 0) moves by exactly lr·g·min(1, c/|g|). */
static void clipping(void **state)
{
  (void)state;
  pn_optim_opts o;
  pn_optim_opts_default(&o);
  o.method = PN_OPTIM_SGD;
  o.momentum = 0.0;
  o.lr = 1.0;
  o.clip_norm = 1.0;
  pn_optim *opt = NULL;
  pnt_ok(pnt_ctx, pn_optim_create(pnt_ctx, 2, &o, &opt));
  double theta[2] = {0.0, 0.0};
  const double big[2] = {6.0, 8.0}, small[2] = {0.3, 0.4};
  pn_optim_info info;
  pnt_ok(pnt_ctx, pn_optim_step(opt, theta, big, &info));
  assert_true(info.clipped == 1 && info.grad_norm == 10.0 && info.lr == 1.0);
  assert_true(fabs(theta[0] + 0.6) < 1e-15 && fabs(theta[1] + 0.8) < 1e-15);
  pnt_ok(pnt_ctx, pn_optim_step(opt, theta, small, &info));
  assert_true(info.clipped == 0);
  assert_true(fabs(theta[0] + 0.9) < 1e-15 && fabs(theta[1] + 1.2) < 1e-15);
  /* Entries near DBL_MAX overflow the plain sum of squares; the norm is
   * still finite and clipping still gives a step of length exactly 1. */
  const double huge[2] = {3e300, 4e300};
  theta[0] = theta[1] = 0.0;
  pnt_ok(pnt_ctx, pn_optim_step(opt, theta, huge, &info));
  assert_true(fabs(info.grad_norm / 5e300 - 1.0) < 1e-15);
  assert_true(fabs(theta[0] + 0.6) < 1e-15 && fabs(theta[1] + 0.8) < 1e-15);
  pn_optim_destroy(&opt);
}

/* f(θ) = ½ Σ a_i (θ_i − c_i)², condition number 100.  Heavy-ball SGD with
 * lr = 1/L, μ = 0.8 contracts by ≤ √μ ≈ 0.9 per step → 1e-12 within 400
 * steps; Adam with cosine decay to 0 settles to its step size, ≤ 1e-3. */
static void converges_on_a_quadratic(void **state)
{
  (void)state;
  enum { P = 6 };
  const double a[P] = {1, 3, 10, 30, 60, 100}, c[P] = {1, -2, 0.5, 3, -1, 0.25};
  for (int method = 0; method < 2; method++) {
    pn_optim_opts o;
    pn_optim_opts_default(&o);
    o.method = method == 0 ? PN_OPTIM_SGD : PN_OPTIM_ADAM;
    o.lr = method == 0 ? 0.01 : 0.05;
    o.momentum = 0.8;
    o.schedule = method == 0 ? PN_LR_CONSTANT : PN_LR_COSINE;
    o.decay_iterations = 2000;
    pn_optim *opt = NULL;
    pnt_ok(pnt_ctx, pn_optim_create(pnt_ctx, P, &o, &opt));
    double theta[P] = {0}, g[P];
    for (int it = 0; it < 2000; it++) {
      for (int i = 0; i < P; i++) g[i] = a[i] * (theta[i] - c[i]);
      pnt_ok(pnt_ctx, pn_optim_step(opt, theta, g, NULL));
    }
    const double err = pnt_rel_err(theta, c, P);
    assert_true(err < (method == 0 ? 1e-12 : 1e-3));
    pn_optim_destroy(&opt);
  }
}

/* Interrupting after 7 updates, saving and restoring into a fresh optimiser
 * gives bitwise the same θ after 12 updates as never stopping. */
static void save_restore_is_bitwise(void **state)
{
  (void)state;
  enum { P = 5 };
  for (int method = 0; method < 2; method++) {
    pn_optim_opts o;
    pn_optim_opts_default(&o);
    o.method = method ? PN_OPTIM_SGD : PN_OPTIM_ADAM;
    o.schedule = PN_LR_COSINE;
    o.decay_iterations = 12;
    o.warmup = 3;
    o.weight_decay = 1e-3;
    o.clip_norm = 2.0;
    pn_optim *a = NULL, *b = NULL;
    pnt_ok(pnt_ctx, pn_optim_create(pnt_ctx, P, &o, &a));
    pnt_ok(pnt_ctx, pn_optim_create(pnt_ctx, P, &o, &b));
    double ta[P], tb[P], g[P], saved[3 + 2 * P];
    pnt_randn(ta, P, 1, 1.0);
    for (int it = 0; it < 12; it++) {
      if (it == 7) {
        assert_int_equal(pn_optim_state_size(a), method ? 3 + P : 3 + 2 * P);
        pnt_ok(pnt_ctx, pn_optim_get_state(a, saved));
        memcpy(tb, ta, sizeof ta);
      }
      pnt_randn(g, P, 100 + (uint64_t)it, 1.5);
      pnt_ok(pnt_ctx, pn_optim_step(a, ta, g, NULL));
    }
    pnt_ok(pnt_ctx, pn_optim_set_state(b, saved, pn_optim_state_size(b)));
    assert_int_equal(pn_optim_iteration(b), 7);
    for (int it = 7; it < 12; it++) {
      pnt_randn(g, P, 100 + (uint64_t)it, 1.5);
      pnt_ok(pnt_ctx, pn_optim_step(b, tb, g, NULL));
    }
    assert_memory_equal(ta, tb, sizeof ta);
    pn_optim_destroy(&a);
    pn_optim_destroy(&b);
  }
}

static void errors(void **state)
{
  (void)state;
  pn_optim_opts o;
  pn_optim *opt = NULL;
  pn_optim_opts_default(&o);
  o.lr = 0;
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt), PN_ERR_ARG, "lr = 0");
  pn_optim_opts_default(&o);
  o.lr = NAN;
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt), PN_ERR_ARG, "lr = nan");
  pn_optim_opts_default(&o);
  o.beta2 = 1.0;
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt), PN_ERR_ARG, "beta2");
  pn_optim_opts_default(&o);
  o.momentum = -0.1;
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt), PN_ERR_ARG, "momentum");
  pn_optim_opts_default(&o);
  o.decay_rate = 1.5;
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt), PN_ERR_ARG, "decay_rate");
  pn_optim_opts_default(&o);
  o.lr_min = 1.0;
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt), PN_ERR_ARG, "lr_min");
  pn_optim_opts_default(&o);
  o.clip_norm = -1;
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt), PN_ERR_ARG, "clip_norm");
  pn_optim_opts_default(&o);
  pnt_fails_with(pnt_ctx, pn_optim_create(pnt_ctx, 0, &o, &opt), PN_ERR_ARG, "0 parameters");
  assert_null(opt);

  /* A non-finite gradient changes nothing. */
  pnt_ok(pnt_ctx, pn_optim_create(pnt_ctx, 3, &o, &opt));
  double theta[3] = {1, 2, 3};
  const double g[3] = {0.5, INFINITY, 0.1};
  pnt_fails_with(pnt_ctx, pn_optim_step(opt, theta, g, NULL), PN_ERR_NONFINITE,
                 "gradient entry 1 is inf");
  assert_true(theta[0] == 1 && theta[1] == 2 && theta[2] == 3);
  assert_int_equal(pn_optim_iteration(opt), 0);

  /* Mismatched states are refused. */
  double st[3 + 2 * 3] = {0};
  pnt_fails_with(pnt_ctx, pn_optim_set_state(opt, st, 5), PN_ERR_PARSE, "expected 9");
  st[0] = PN_OPTIM_SGD;
  pnt_fails_with(pnt_ctx, pn_optim_set_state(opt, st, 9), PN_ERR_PARSE, "not adam");
  st[0] = PN_OPTIM_ADAM;
  st[1] = 4;
  pnt_fails_with(pnt_ctx, pn_optim_set_state(opt, st, 9), PN_ERR_PARSE, "4 parameters");
  st[1] = 3;
  st[2] = 1.5;
  pnt_fails_with(pnt_ctx, pn_optim_set_state(opt, st, 9), PN_ERR_PARSE, "iteration 1.5");
  st[2] = 2;
  st[6] = NAN;
  pnt_fails_with(pnt_ctx, pn_optim_set_state(opt, st, 9), PN_ERR_PARSE, "entry 6");
  pn_optim_destroy(&opt);
}

static void names(void **state)
{
  (void)state;
  pn_optim_method m;
  pn_lr_schedule s;
  assert_int_equal(pn_optim_method_from_name("sgd", &m), PN_OK);
  assert_int_equal(m, PN_OPTIM_SGD);
  assert_int_equal(pn_optim_method_from_name("rmsprop", &m), PN_ERR_ARG);
  assert_int_equal(pn_lr_schedule_from_name("cosine", &s), PN_OK);
  assert_int_equal(s, PN_LR_COSINE);
  assert_int_equal(pn_lr_schedule_from_name("linear", &s), PN_ERR_ARG);
  assert_string_equal(pn_optim_method_name(PN_OPTIM_ADAM), "adam");
  assert_string_equal(pn_lr_schedule_name(PN_LR_EXPONENTIAL), "exponential");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(adam_constant_gradient_closed_form),
    cmocka_unit_test(sgd_momentum_closed_form),
    cmocka_unit_test(schedules_and_warmup),
    cmocka_unit_test(clipping),
    cmocka_unit_test(converges_on_a_quadratic),
    cmocka_unit_test(save_restore_is_bitwise),
    cmocka_unit_test(errors),
    cmocka_unit_test(names),
};

PNT_MAIN("optim", tests)
