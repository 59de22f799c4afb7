/* Dot-product tests of every vector–Jacobian product (docs/mathematics.md, "Verification"):
 * ⟨a, J v⟩ = ⟨Jᵀ a, v⟩ for random a, v, with J v computed *exactly* (to
 * rounding), never by finite differences:
 *   - the MLP (each activation, with and without time input) and one RK
 *     step of it (pni_step_adjoint, every scheme): J v by complex step
 *     (src/cstep.c, independent of mlp.c/step.c);
 *   - the linear and Lotka–Volterra user models: they are polynomials of
 *     degree ≤ 2 in z and of degree 1 in θ, so the central difference with
 *     step 1, (f(x+v) − f(x−v))/2, equals J v exactly in real arithmetic.
 * Also pn_model_check on correct models and on a deliberately broken one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cstep.h"
#include "step.h"
#include "testutil.h"

/* Why 1e-13: both sides of each identity are the same bilinear form summed
 * in different orders; with ≤ ~100 terms per entry and per dot product, the
 * rounding is ≤ ~100·ε ≈ 2e-14 of Σ|terms|, which is the scale we divide by
 * (measured: ≤ 1e-15).  Any wrong entry of a VJP changes the dot product by
 * O(1) of that scale. */
#define TOL_DOT 1e-13

static const pn_activation all_acts[] = {PN_ACT_TANH, PN_ACT_SOFTPLUS, PN_ACT_SIGMOID,
                                         PN_ACT_RELU, PN_ACT_SILU,     PN_ACT_IDENTITY};
#define NACTS ((int)(sizeof all_acts / sizeof all_acts[0]))

/* |⟨x, y⟩ − ⟨u, w⟩| relative to the larger of Σ|x_i y_i| and Σ|u_i w_i|
 * (a scale that cancellation inside the sums cannot shrink). */
static double dot_gap(const double *x, const double *y, size_t n, const double *u,
                      const double *w, size_t m)
{
  double s1 = 0, a1 = 0, s2 = 0, a2 = 0;
  for (size_t i = 0; i < n; i++) {
    s1 += x[i] * y[i];
    a1 += fabs(x[i] * y[i]);
  }
  for (size_t i = 0; i < m; i++) {
    s2 += u[i] * w[i];
    a2 += fabs(u[i] * w[i]);
  }
  const double scale = fmax(a1, a2);
  return scale > 0 ? fabs(s1 - s2) / scale : 0.0;
}

typedef struct mlp_case {
  pn_mlp_spec spec;
  int widths[2];
  pn_activation acts[2];
  pn_model *model;
  int P, nb;
  double *theta, *z, *a, *v, *w; /* P, nb×D ×3, P */
} mlp_case;

static void mlp_case_make(mlp_case *c, pn_activation act, int time_input, uint64_t seed)
{
  memset(c, 0, sizeof *c);
  c->widths[0] = 6;
  c->widths[1] = 5;
  c->acts[0] = c->acts[1] = act;
  c->spec = (pn_mlp_spec){3, 2, c->widths, c->acts, time_input};
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &c->spec, &c->model));
  c->P = pn_model_nparam(c->model);
  c->nb = 4;
  const size_t nz = (size_t)c->nb * 3;
  c->theta = malloc(sizeof(double) * (size_t)c->P);
  c->w = malloc(sizeof(double) * (size_t)c->P);
  c->z = malloc(sizeof(double) * 3 * nz);
  c->a = c->z + nz;
  c->v = c->a + nz;
  pnt_randn(c->theta, (size_t)c->P, seed, 0.7);
  pnt_randn(c->w, (size_t)c->P, seed + 1, 1.0);
  pnt_randn(c->z, 3 * nz, seed + 2, 1.0);
}

static void mlp_case_free(mlp_case *c)
{
  pn_model_destroy(&c->model);
  free(c->theta);
  free(c->w);
  free(c->z);
}

/* MLP: z_bar (overwritten: pre-filled with NaN, which would poison any read)
 * and θ̄ (accumulated: pre-filled with ones, subtracted afterwards). */
static void mlp_dot(const mlp_case *c, double t, double *gz, double *gt)
{
  const size_t nz = (size_t)c->nb * 3, P = (size_t)c->P;
  double *zbar = malloc(sizeof(double) * nz), *tbar = malloc(sizeof(double) * P);
  double *jv = malloc(sizeof(double) * nz);
  for (size_t i = 0; i < nz; i++) zbar[i] = NAN;
  for (size_t j = 0; j < P; j++) tbar[j] = 1.0;
  pnt_ok(pnt_ctx, pn_model_reserve(c->model, c->nb));
  pnt_ok(pnt_ctx, pn_model_vjp(c->model, t, c->nb, c->z, c->theta, c->a, zbar, tbar));
  for (size_t j = 0; j < P; j++) tbar[j] -= 1.0;
  pnt_ok(pnt_ctx, pni_cstep_mlp_jvp(pnt_ctx, &c->spec, t, c->nb, c->z, c->theta, c->v, NULL, jv));
  *gz = dot_gap(c->a, jv, nz, zbar, c->v, nz);
  pnt_ok(pnt_ctx, pni_cstep_mlp_jvp(pnt_ctx, &c->spec, t, c->nb, c->z, c->theta, NULL, c->w, jv));
  *gt = dot_gap(c->a, jv, nz, tbar, c->w, P);
  free(zbar);
  free(tbar);
  free(jv);
}

static void mlp_vjp_every_activation(void **state)
{
  (void)state;
  double worst = 0;
  for (int a = 0; a < NACTS; a++)
    for (int ti = 0; ti <= 1; ti++) {
      mlp_case c;
      mlp_case_make(&c, all_acts[a], ti, 10 + (uint64_t)(2 * a + ti));
      double gz = 0, gt = 0;
      mlp_dot(&c, -0.83, &gz, &gt); /* t ≠ 0 so that the time column matters */
      if (!(gz <= TOL_DOT && gt <= TOL_DOT))
        fail_msg("MLP %s, time input %d: state gap %.3e, parameter gap %.3e",
                 pn_activation_name(all_acts[a]), ti, gz, gt);
      worst = fmax(worst, fmax(gz, gt));
      mlp_case_free(&c);
    }
  printf("# worst MLP dot-product gap: %.3e\n", worst);
}

/* A VJP whose dot product is off must fail the measure used above: the
 * test is not blind.  Flip the sign of one θ̄ entry of a correct VJP. */
static void dot_gap_detects_one_wrong_entry(void **state)
{
  (void)state;
  mlp_case c;
  mlp_case_make(&c, PN_ACT_TANH, 1, 77);
  const size_t nz = (size_t)c.nb * 3, P = (size_t)c.P;
  double *zbar = malloc(sizeof(double) * nz), *tbar = calloc(P, sizeof(double));
  double *jv = malloc(sizeof(double) * nz);
  pnt_ok(pnt_ctx, pn_model_reserve(c.model, c.nb));
  pnt_ok(pnt_ctx, pn_model_vjp(c.model, 0.5, c.nb, c.z, c.theta, c.a, zbar, tbar));
  pnt_ok(pnt_ctx, pni_cstep_mlp_jvp(pnt_ctx, &c.spec, 0.5, c.nb, c.z, c.theta, NULL, c.w, jv));
  assert_true(dot_gap(c.a, jv, nz, tbar, c.w, P) <= TOL_DOT);
  tbar[P / 2] = -tbar[P / 2];
  assert_true(dot_gap(c.a, jv, nz, tbar, c.w, P) > 1e-6);
  free(zbar);
  free(tbar);
  free(jv);
  mlp_case_free(&c);
}

/* ---- one RK step: pni_step_adjoint ------------------------------------- */

static void step_dot(const mlp_case *c, const pn_tableau *tab, double *gz, double *gt)
{
  const double t = 0.7, h = 0.3;
  const size_t nz = (size_t)c->nb * 3, P = (size_t)c->P;
  double *lam = malloc(sizeof(double) * nz), *tbar = calloc(P, sizeof(double));
  double *jv = malloc(sizeof(double) * nz);
  pni_stepper st;
  pnt_ok(pnt_ctx, pni_stepper_init(&st, pnt_ctx, tab, c->model, c->nb));
  memcpy(lam, c->a, sizeof(double) * nz);
  pnt_ok(pnt_ctx, pni_step_adjoint(&st, t, h, c->nb, c->z, c->theta, lam, tbar));
  pni_stepper_free(&st);
  pnt_ok(pnt_ctx, pni_cstep_step_jvp(pnt_ctx, &c->spec, tab, t, h, c->nb, c->z, c->theta, c->v,
                                     NULL, jv));
  *gz = dot_gap(c->a, jv, nz, lam, c->v, nz);
  pnt_ok(pnt_ctx, pni_cstep_step_jvp(pnt_ctx, &c->spec, tab, t, h, c->nb, c->z, c->theta, NULL,
                                     c->w, jv));
  *gt = dot_gap(c->a, jv, nz, tbar, c->w, P);
  free(lam);
  free(tbar);
  free(jv);
}

static void step_case(const pn_tableau *tab, pn_activation act, int ti, uint64_t seed,
                      double *worst)
{
  mlp_case c;
  mlp_case_make(&c, act, ti, seed);
  double gz = 0, gt = 0;
  step_dot(&c, tab, &gz, &gt);
  if (!(gz <= TOL_DOT && gt <= TOL_DOT))
    fail_msg("step adjoint %s, %s, time input %d: state gap %.3e, parameter gap %.3e",
             pn_tableau_name(tab), pn_activation_name(act), ti, gz, gt);
  *worst = fmax(*worst, fmax(gz, gt));
  mlp_case_free(&c);
}

/* Every built-in scheme and a user tableau with a zero-weight stage that
 * feeds a later one and a dead stage (b = 0, no successor). */
static void step_adjoint_every_scheme(void **state)
{
  (void)state;
  int n = 0;
  const char *const *names = pn_tableau_names(&n);
  double worst = 0;
  for (int s = 0; s <= n; s++) {
    pn_tableau *tab = NULL;
    if (s < n) {
      pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[s], &tab));
    } else {
      const double A[16] = {0, 0, 0, 0, 1.0 / 3, 0, 0, 0, 0, 2.0 / 3, 0, 0, 0.5, 0.25, 0.25, 0};
      const double b[4] = {0.25, 0, 0.75, 0}, c[4] = {0, 1.0 / 3, 2.0 / 3, 1};
      pnt_ok(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "user", 4, A, b, c, 3, &tab));
    }
    step_case(tab, PN_ACT_TANH, 1, 200 + (uint64_t)s, &worst);
    pn_tableau_destroy(&tab);
  }
  pn_tableau *tab = NULL;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "dopri5", &tab));
  for (int a = 0; a < NACTS; a++) step_case(tab, all_acts[a], a % 2, 250 + (uint64_t)a, &worst);
  pn_tableau_destroy(&tab);
  printf("# worst step-adjoint dot-product gap: %.3e\n", worst);
}

/* ---- user models: exact central differences ----------------------------- */

/* J v by (f(x+v) − f(x−v))/2 in z (dir_theta = 0) or in θ: exact for f of
 * degree ≤ 2 in the varied argument (the cubic Taylor term is what a
 * central difference leaves out). */
static void poly_jv(pn_model *m, int nb, const double *z, const double *th, const double *dir,
                    int dir_theta, double *jv)
{
  const size_t nz = (size_t)nb * (size_t)pn_model_dim(m), P = (size_t)pn_model_nparam(m);
  const size_t n = dir_theta ? P : nz;
  double *xp = malloc(sizeof(double) * n), *xm = malloc(sizeof(double) * n);
  double *fp = malloc(sizeof(double) * nz);
  const double *x = dir_theta ? th : z;
  for (size_t i = 0; i < n; i++) {
    xp[i] = x[i] + dir[i];
    xm[i] = x[i] - dir[i];
  }
  pnt_ok(pnt_ctx, pn_model_rhs(m, 0.4, nb, dir_theta ? z : xp, dir_theta ? xp : th, fp));
  pnt_ok(pnt_ctx, pn_model_rhs(m, 0.4, nb, dir_theta ? z : xm, dir_theta ? xm : th, jv));
  for (size_t i = 0; i < nz; i++) jv[i] = 0.5 * (fp[i] - jv[i]);
  free(xp);
  free(xm);
  free(fp);
}

static void user_model_dot(pn_model *m, uint64_t seed, double *gz, double *gt)
{
  const int nb = 3;
  const size_t nz = (size_t)nb * (size_t)pn_model_dim(m), P = (size_t)pn_model_nparam(m);
  double *buf = malloc(sizeof(double) * (5 * nz + 3 * P));
  double *z = buf, *a = z + nz, *v = a + nz, *zbar = v + nz, *jv = zbar + nz, *th = jv + nz,
         *w = th + P, *tbar = w + P;
  pnt_randn(z, 3 * nz, seed, 1.0);
  pnt_randn(th, 2 * P, seed + 1, 1.0);
  for (size_t j = 0; j < P; j++) tbar[j] = 2.0; /* accumulated into */
  pnt_ok(pnt_ctx, pn_model_reserve(m, nb));
  pnt_ok(pnt_ctx, pn_model_vjp(m, 0.4, nb, z, th, a, zbar, tbar));
  for (size_t j = 0; j < P; j++) tbar[j] -= 2.0;
  poly_jv(m, nb, z, th, v, 0, jv);
  *gz = dot_gap(a, jv, nz, zbar, v, nz);
  poly_jv(m, nb, z, th, w, 1, jv);
  *gt = dot_gap(a, jv, nz, tbar, w, P);
  free(buf);
}

static void user_models_linear_and_lotka_volterra(void **state)
{
  (void)state;
  pn_model *lin = NULL, *lv = NULL;
  pnt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, 4, &lin));
  pnt_ok(pnt_ctx, pn_model_create_lotka_volterra(pnt_ctx, &lv));
  double gz = 0, gt = 0;
  user_model_dot(lin, 31, &gz, &gt);
  printf("# linear: %.3e %.3e\n", gz, gt);
  assert_true(gz <= TOL_DOT && gt <= TOL_DOT);
  user_model_dot(lv, 32, &gz, &gt);
  printf("# Lotka-Volterra: %.3e %.3e\n", gz, gt);
  assert_true(gz <= TOL_DOT && gt <= TOL_DOT);
  pn_model_destroy(&lin);
  pn_model_destroy(&lv);
}

/* ---- pn_model_check ------------------------------------------------------ */

/* Lotka–Volterra with a VJP that forgets the −βy term of ∂ẋ/∂x. */
static int bad_rhs(void *u, double t, int nb, const double *z, const double *p, double *f)
{
  (void)u;
  (void)t;
  for (int b = 0; b < nb; b++) {
    const double x = z[2 * b], y = z[2 * b + 1];
    f[2 * b] = p[0] * x - p[1] * x * y;
    f[2 * b + 1] = p[3] * x * y - p[2] * y;
  }
  return 0;
}

static int bad_vjp(void *u, double t, int nb, const double *z, const double *p, const double *a,
                   double *zbar, double *pbar)
{
  (void)u;
  (void)t;
  for (int b = 0; b < nb; b++) {
    const double x = z[2 * b], y = z[2 * b + 1], ax = a[2 * b], ay = a[2 * b + 1];
    zbar[2 * b] = ax * p[0] + ay * p[3] * y; /* missing −ax·β·y */
    zbar[2 * b + 1] = -ax * p[1] * x + ay * (p[3] * x - p[2]);
    pbar[0] += ax * x;
    pbar[1] -= ax * x * y;
    pbar[2] -= ay * y;
    pbar[3] += ay * x * y;
  }
  return 0;
}

/* The self-test is finite-difference based (step 1e-6): a correct model
 * shows ≲ 1e-7 (its documented level); a wrong VJP shows O(1). */
static void model_check_passes_correct_and_catches_wrong(void **state)
{
  (void)state;
  double ez = 1, et = 1;
  for (int a = 0; a < NACTS; a++) {
    mlp_case c;
    mlp_case_make(&c, all_acts[a], a % 2, 40 + (uint64_t)a);
    pnt_ok(pnt_ctx, pn_model_check(c.model, c.theta, 3, 5, &ez, &et));
    if (!(ez <= 1e-6 && et <= 1e-6))
      fail_msg("pn_model_check of MLP %s: %.3e %.3e", pn_activation_name(all_acts[a]), ez, et);
    mlp_case_free(&c);
  }
  pn_model *lv = NULL, *bad = NULL;
  const double p[4] = {1.1, 0.4, 0.9, 0.3};
  pnt_ok(pnt_ctx, pn_model_create_lotka_volterra(pnt_ctx, &lv));
  pnt_ok(pnt_ctx, pn_model_check(lv, p, 4, 6, &ez, &et));
  assert_true(ez <= 1e-6 && et <= 1e-6);
  const pn_model_ops ops = {.rhs = bad_rhs, .vjp = bad_vjp};
  pnt_ok(pnt_ctx, pn_model_create(pnt_ctx, 2, 4, &ops, NULL, &bad));
  pnt_ok(pnt_ctx, pn_model_check(bad, p, 4, 6, &ez, &et));
  printf("# pn_model_check of a wrong VJP: state %.3e, parameters %.3e\n", ez, et);
  assert_true(ez > 1e-3);
  assert_true(et <= 1e-6); /* the parameter part of that VJP is right */
  pnt_fails_with(pnt_ctx, pn_model_check(bad, p, 0, 6, &ez, &et), PN_ERR_ARG, "batch 0");
  pn_model_destroy(&lv);
  pn_model_destroy(&bad);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mlp_vjp_every_activation),
    cmocka_unit_test(dot_gap_detects_one_wrong_entry),
    cmocka_unit_test(step_adjoint_every_scheme),
    cmocka_unit_test(user_models_linear_and_lotka_volterra),
    cmocka_unit_test(model_check_passes_correct_and_catches_wrong),
};

PNT_MAIN("vjp", tests)
