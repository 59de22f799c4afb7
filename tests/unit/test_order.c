/* Observed order of accuracy of every scheme on the linear ODE dz/dt = A z
 * (pn_model_create_linear) against its exact solution exp(A t) z0.
 *
 * A = [[−a, ω], [−ω, −a]] = −a·I + ω·J with J = [[0, 1], [−1, 0]] (a damped
 * rotation).  I and J commute and J² = −I, so
 *   exp(A t) = e^{−a t} (cos(ω t) I + sin(ω t) J)
 *            = e^{−a t} [[cos ωt, sin ωt], [−sin ωt, cos ωt]].
 * With N and 2N steps the error ratio gives the observed order
 * q_obs = log2(err_N / err_2N), required within 0.2 of the nominal order.
 * For a linear autonomous ODE one RK step multiplies by the stability
 * polynomial R(hA); R matches exp to exactly the scheme's order for all the
 * schemes tested (s = q for q ≤ 4; dopri5's z⁶ coefficient is not 1/720),
 * so the nominal order is also the linear order. */
#include <math.h>
#include <stdio.h>

#include "testutil.h"

static const double a_damp = 0.5, omega = 3.0, t_end = 1.0;
static const double z0[4] = {1.0, 0.5, -0.3, 0.8}; /* two samples */

static void exact(double t, const double *z, double *out)
{
  const double e = exp(-a_damp * t), c = cos(omega * t), s = sin(omega * t);
  out[0] = e * (c * z[0] + s * z[1]);
  out[1] = e * (-s * z[0] + c * z[1]);
}

/* Max-norm error at t_end with N steps. */
static double error_with(pn_model *m, const pn_tableau *tab, long N)
{
  const double A[4] = {-a_damp, omega, -omega, -a_damp};
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = 0.0;
  o.t1 = t_end;
  o.nsteps = N;
  pn_solver *S = NULL;
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  double zN[4], ex[4];
  pnt_ok(pnt_ctx, pn_solver_forward(S, A, 2, z0, 1, &N, zN));
  pn_solver_destroy(&S);
  exact(t_end, z0, ex);
  exact(t_end, z0 + 2, ex + 2);
  double err = 0.0;
  for (int i = 0; i < 4; i++) err = fmax(err, fabs(zN[i] - ex[i]));
  return err;
}

/* N chosen per order so that h·|λ| = h·√(a² + ω²) ≈ 3h is in the asymptotic
 * range (the next-order term is ≲ 10% of the leading one) while the error
 * at 2N steps stays ≥ 1e-9, far above rounding (≈ 1e-16·N). */
static long steps_for(int order)
{
  switch (order) {
  case 1: return 400;
  case 2: return 100;
  case 3: return 40;
  case 4: return 20;
  default: return 12;
  }
}

static void check_order(const pn_tableau *tab, pn_model *m)
{
  const int q = pn_tableau_order(tab);
  const long N = steps_for(q);
  const double e1 = error_with(m, tab, N), e2 = error_with(m, tab, 2 * N);
  const double qobs = log2(e1 / e2);
  printf("# %-10s nominal order %d: error %.3e (N = %ld), %.3e (N = %ld), observed %.3f\n",
         pn_tableau_name(tab), q, e1, N, e2, 2 * N, qobs);
  if (!(fabs(qobs - q) <= 0.2))
    fail_msg("%s: observed order %.3f, nominal %d", pn_tableau_name(tab), qobs, q);
  assert_true(e2 >= 1e-12); /* the ratio measured truncation, not rounding */
}

static void every_builtin_scheme(void **state)
{
  (void)state;
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, 2, &m));
  int n = 0;
  const char *const *names = pn_tableau_names(&n);
  for (int i = 0; i < n; i++) {
    pn_tableau *tab = NULL;
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[i], &tab));
    check_order(tab, m);
    pn_tableau_destroy(&tab);
  }
  pn_model_destroy(&m);
}

/* A user tableau (Heun's third-order method with an extra dead stage) and a
 * deliberately first-order user tableau: the test measures, it does not
 * trust the claimed order. */
static void user_tableaux(void **state)
{
  (void)state;
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, 2, &m));
  const double A[16] = {0, 0, 0, 0, 1.0 / 3, 0, 0, 0, 0, 2.0 / 3, 0, 0, 0.5, 0.25, 0.25, 0};
  const double b[4] = {0.25, 0, 0.75, 0}, c[4] = {0, 1.0 / 3, 2.0 / 3, 1};
  pn_tableau *tab = NULL;
  pnt_ok(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "heun3+dead", 4, A, b, c, 3, &tab));
  check_order(tab, m);
  pn_tableau_destroy(&tab);
  /* b = (1, 0): Euler in disguise; claiming order 1 is honest, and the
   * observed order is 1, not 2. */
  const double A2[4] = {0, 0, 1.0, 0}, b2[2] = {1.0, 0.0}, c2[2] = {0.0, 1.0};
  pnt_ok(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "euler2", 2, A2, b2, c2, 1, &tab));
  const double e1 = error_with(m, tab, 400), e2 = error_with(m, tab, 800);
  assert_true(fabs(log2(e1 / e2) - 1.0) <= 0.2);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_builtin_scheme),
    cmocka_unit_test(user_tableaux),
};

PNT_MAIN("order", tests)
