/* Forward-mode derivatives (the tangents of Newton shooting in time):
 *   - the MLP's fused f + JVP pass (pni_model_rhs_tangent): its state rows
 *     are bitwise those of the plain evaluation, its tangent rows equal the
 *     complex-step JVP (src/cstep.c, independent of mlp.c) for every
 *     activation, with and without time input, narrow and wide layers;
 *   - user models: through the user's jvp, and without one through D VJPs;
 *   - one RK step with tangents (pni_step_tangent): state rows bitwise those
 *     of pni_step, tangent rows the complex-step JVP of the step, for every
 *     scheme.
 * Tolerance 1e-13 relative (norm-wise): the complex step is exact to
 * rounding (its truncation error is ~1e-60), and both sides sum at most a
 * few hundred terms per entry, so rounding stays below ~1e-14; a wrong
 * derivative term is off by O(1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cstep.h"
#include "model_impl.h"
#include "step.h"
#include "testutil.h"

#define TOL 1e-13

static const pn_activation all_acts[] = {PN_ACT_TANH, PN_ACT_SOFTPLUS, PN_ACT_SIGMOID,
                                         PN_ACT_RELU, PN_ACT_SILU,     PN_ACT_IDENTITY};

/* Rows of zv: nb states, then D blocks of nb directions. */
static double *random_rows(int nb, int D, uint64_t seed)
{
  const size_t n = (size_t)nb * (size_t)D * (size_t)(1 + D);
  double *x = malloc(sizeof(double) * n);
  assert_non_null(x);
  pnt_randn(x, n, seed, 1.0);
  return x;
}

/* The tangent block e of out against the complex-step JVP of block e of zv
 * (jvp(z, v, jv) filling nb×D); returns the worst relative error. */
typedef int (*jvp_ref)(const void *arg, const double *z, const double *v, double *jv);

static double worst_tangent(const double *zv, const double *out, int nb, int D, jvp_ref ref,
                            const void *arg)
{
  const size_t w = (size_t)nb * (size_t)D;
  double *jv = malloc(sizeof(double) * w), worst = 0.0;
  assert_non_null(jv);
  for (int e = 0; e < D; e++) {
    pnt_ok(pnt_ctx, ref(arg, zv, zv + (size_t)(1 + e) * w, jv));
    worst = fmax(worst, pnt_rel_err(out + (size_t)(1 + e) * w, jv, w));
  }
  free(jv);
  return worst;
}

typedef struct mlp_ref {
  const pn_mlp_spec *spec;
  const double *theta;
  double t;
  int nb;
} mlp_ref;

static int mlp_jvp_ref(const void *arg, const double *z, const double *v, double *jv)
{
  const mlp_ref *r = arg;
  return pni_cstep_mlp_jvp(pnt_ctx, r->spec, r->t, r->nb, z, r->theta, v, NULL, jv);
}

/* widths: a narrow layer (< 8 outputs: dot products) and a wide one. */
static void mlp_tangents_every_activation(void **state)
{
  (void)state;
  enum { D = 3, NB = 3 };
  const int widths[2] = {5, 19};
  for (size_t a = 0; a < sizeof all_acts / sizeof all_acts[0]; a++)
    for (int ti = 0; ti <= 1; ti++) {
      const pn_activation acts[2] = {all_acts[a], all_acts[a]};
      const pn_mlp_spec spec = {D, 2, widths, acts, ti};
      pn_model *m = NULL;
      pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &m));
      const int P = pn_model_nparam(m);
      double *theta = malloc(sizeof(double) * (size_t)P);
      assert_non_null(theta);
      pnt_randn(theta, (size_t)P, 40 + a, 0.7);
      double *zv = random_rows(NB, D, 50 + a), *out = random_rows(NB, D, 1);
      double f[NB * D];
      pnt_ok(pnt_ctx, pni_model_reserve(m, NB * (1 + D), 0));
      const double t = -0.61;
      pnt_ok(pnt_ctx, pni_model_rhs_tangent(m, t, NB, D, zv, theta, out));
      pnt_ok(pnt_ctx, pni_model_rhs(m, -1, t, NB, zv, theta, f));
      if (memcmp(f, out, sizeof f) != 0)
        fail_msg("MLP %s, time input %d: the state rows differ from f", pn_activation_name(acts[0]),
                 ti);
      const mlp_ref ref = {&spec, theta, t, NB};
      const double err = worst_tangent(zv, out, NB, D, mlp_jvp_ref, &ref);
      if (!(err <= TOL))
        fail_msg("MLP %s, time input %d: tangent error %.3e", pn_activation_name(acts[0]), ti, err);
      free(zv);
      free(out);
      free(theta);
      pn_model_destroy(&m);
    }
}

/* A user model with only rhs and vjp: f_i = sin(Σ_j A_ij z_j), the JVP
 * (Jacobian cos(Az) ⊙ A) known in closed form. */
enum { UD = 3 };

static int sin_rhs(void *user, double t, int nb, const double *z, const double *A, double *f)
{
  (void)user;
  (void)t;
  for (int b = 0; b < nb; b++)
    for (int i = 0; i < UD; i++) {
      double s = 0.0;
      for (int j = 0; j < UD; j++) s += A[i * UD + j] * z[b * UD + j];
      f[b * UD + i] = sin(s);
    }
  return 0;
}

static int sin_vjp(void *user, double t, int nb, const double *z, const double *A,
                   const double *a, double *zbar, double *Abar)
{
  (void)user;
  (void)t;
  for (int b = 0; b < nb; b++) {
    double g[UD];
    for (int i = 0; i < UD; i++) {
      double s = 0.0;
      for (int j = 0; j < UD; j++) s += A[i * UD + j] * z[b * UD + j];
      g[i] = cos(s) * a[b * UD + i];
    }
    for (int j = 0; j < UD; j++) {
      double s = 0.0;
      for (int i = 0; i < UD; i++) s += g[i] * A[i * UD + j];
      zbar[b * UD + j] = s;
    }
    for (int i = 0; i < UD; i++)
      for (int j = 0; j < UD; j++) Abar[i * UD + j] += g[i] * z[b * UD + j];
  }
  return 0;
}

static int sin_jvp_exact(const void *arg, const double *z, const double *v, double *jv)
{
  const double *A = arg;
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < UD; i++) {
      double s = 0.0, d = 0.0;
      for (int j = 0; j < UD; j++) {
        s += A[i * UD + j] * z[b * UD + j];
        d += A[i * UD + j] * v[b * UD + j];
      }
      jv[b * UD + i] = cos(s) * d;
    }
  return PN_OK;
}

static int sin_jvp(void *user, double t, int nb, const double *z, const double *A,
                   const double *v, double *jv)
{
  (void)user;
  (void)t;
  (void)nb;
  return sin_jvp_exact(A, z, v, jv);
}

/* The same model with and without its jvp: both ways give the JVP. */
static void user_model_tangents(void **state)
{
  (void)state;
  enum { NB = 2 };
  double A[UD * UD];
  pnt_randn(A, UD * UD, 7, 0.8);
  for (int with_jvp = 0; with_jvp <= 1; with_jvp++) {
    const pn_model_ops ops = {.rhs = sin_rhs, .vjp = sin_vjp, .jvp = with_jvp ? sin_jvp : NULL};
    pn_model *m = NULL;
    pnt_ok(pnt_ctx, pn_model_create(pnt_ctx, UD, UD * UD, &ops, NULL, &m));
    pnt_ok(pnt_ctx, pni_model_reserve(m, NB * (1 + UD), 0));
    double *zv = random_rows(NB, UD, 60), *out = random_rows(NB, UD, 2), f[NB * UD];
    pnt_ok(pnt_ctx, pni_model_rhs_tangent(m, 0.2, NB, UD, zv, A, out));
    pnt_ok(pnt_ctx, pni_model_rhs(m, -1, 0.2, NB, zv, A, f));
    assert_memory_equal(f, out, sizeof f);
    const double err = worst_tangent(zv, out, NB, UD, sin_jvp_exact, A);
    if (!(err <= TOL)) fail_msg("user model, jvp %s: tangent error %.3e", with_jvp ? "given" : "from vjp", err);
    free(zv);
    free(out);
    pn_model_destroy(&m);
  }
}

typedef struct step_ref {
  const pn_mlp_spec *spec;
  const pn_tableau *tab;
  const double *theta;
  double t, h;
  int nb;
} step_ref;

static int step_jvp_ref(const void *arg, const double *z, const double *v, double *jv)
{
  const step_ref *r = arg;
  return pni_cstep_step_jvp(pnt_ctx, r->spec, r->tab, r->t, r->h, r->nb, z, r->theta, v, NULL, jv);
}

static void step_tangents_every_scheme(void **state)
{
  (void)state;
  enum { D = 4, NB = 2 };
  const int widths[1] = {11};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {D, 1, widths, acts, 1};
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &m));
  const int P = pn_model_nparam(m);
  double *theta = malloc(sizeof(double) * (size_t)P);
  assert_non_null(theta);
  pnt_randn(theta, (size_t)P, 70, 0.6);
  int nschemes = 0;
  const char *const *names = pn_tableau_names(&nschemes);
  for (int k = 0; k < nschemes; k++) {
    pn_tableau *tab = NULL;
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[k], &tab));
    pni_stepper st, plain;
    pnt_ok(pnt_ctx, pni_stepper_init(&st, pnt_ctx, tab, m, NB * (1 + D)));
    pnt_ok(pnt_ctx, pni_stepper_init(&plain, pnt_ctx, tab, m, NB));
    double *zv = random_rows(NB, D, 80 + (uint64_t)k), *out = random_rows(NB, D, 3);
    double z1[NB * D];
    const double t = 0.37, h = 0.05;
    pnt_ok(pnt_ctx, pni_step_tangent(&st, t, h, NB, D, zv, theta, out));
    pnt_ok(pnt_ctx, pni_step(&plain, t, h, NB, zv, theta, z1));
    if (memcmp(z1, out, sizeof z1) != 0)
      fail_msg("%s: the state rows differ from pni_step", pn_tableau_name(tab));
    const step_ref ref = {&spec, tab, theta, t, h, NB};
    const double err = worst_tangent(zv, out, NB, D, step_jvp_ref, &ref);
    if (!(err <= TOL)) fail_msg("%s: tangent error %.3e", pn_tableau_name(tab), err);
    /* In place, as the Newton sweep steps. */
    pnt_ok(pnt_ctx, pni_step_tangent(&st, t, h, NB, D, zv, theta, zv));
    assert_memory_equal(zv, out, sizeof(double) * NB * D * (1 + D));
    free(zv);
    free(out);
    pni_stepper_free(&st);
    pni_stepper_free(&plain);
    pn_tableau_destroy(&tab);
  }
  free(theta);
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mlp_tangents_every_activation),
    cmocka_unit_test(user_model_tangents),
    cmocka_unit_test(step_tangents_every_scheme),
};

PNT_MAIN("tangent", tests)
