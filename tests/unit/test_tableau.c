/* Tableaux: the registry, validation of user tableaux, error messages. */
#include <math.h>
#include <string.h>

#include "testutil.h"

/* Every built-in scheme passes the checks of a user tableau (row sums, order
 * conditions up to min(order, 4)) when fed back through create_custom. */
static void builtins_are_valid(void **state)
{
  (void)state;
  int n = 0;
  const char *const *names = pn_tableau_names(&n);
  assert_true(n >= 9);
  for (int i = 0; i < n; i++) {
    pn_tableau *t = NULL, *u = NULL;
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[i], &t));
    const int s = pn_tableau_stages(t);
    pnt_ok(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "copy", s, pn_tableau_a(t), pn_tableau_b(t),
                                             pn_tableau_c(t), pn_tableau_order(t), &u));
    pn_tableau_destroy(&t);
    pn_tableau_destroy(&u);
    assert_null(t);
  }
}

static void unknown_name_lists_known_ones(void **state)
{
  (void)state;
  pn_tableau *t = NULL;
  pnt_fails_with(pnt_ctx, pn_tableau_create(pnt_ctx, "rk5", &t), PN_ERR_ARG, "known: euler");
  assert_null(t);
}

static void implicit_or_inconsistent_tableaux_are_refused(void **state)
{
  (void)state;
  pn_tableau *t = NULL;
  const double A_implicit[4] = {0.5, 0.0, 0.0, 0.5}, b[2] = {0.5, 0.5}, c[2] = {0.5, 0.5};
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "x", 2, A_implicit, b, c, 1, &t),
                 PN_ERR_ARG, "strictly lower triangular");
  const double A[4] = {0, 0, 1.0, 0}, c_bad[2] = {0.0, 0.9};
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "x", 2, A, b, c_bad, 2, &t), PN_ERR_ARG,
                 "row 1 of A sums");
  const double c_ok[2] = {0.0, 1.0}, b_first[2] = {1.0, 0.0};
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "x", 2, A, b_first, c_ok, 2, &t),
                 PN_ERR_ARG, "order-2 condition");
  const double A_nan[4] = {0, 0, NAN, 0};
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "x", 2, A_nan, b, c_ok, 1, &t),
                 PN_ERR_NONFINITE, "a[1][0]");
  assert_null(t);
}


/* Residual of the order-q conditions (all rooted trees with q ≤ 5 nodes),
 * written out here independently of tableau.c: Σ b Φ(tree) = 1/γ(tree). */
static double order_residual(const pn_tableau *t, int q)
{
  const int s = pn_tableau_stages(t);
  const double *A = pn_tableau_a(t), *b = pn_tableau_b(t), *c = pn_tableau_c(t);
  double Ac[16] = {0}, Ac2[16] = {0}, Ac3[16] = {0}, AAc[16] = {0}, AcAc[16] = {0},
         AAc2[16] = {0}, AAAc[16] = {0};
  for (int i = 0; i < s; i++)
    for (int j = 0; j < s; j++) {
      Ac[i] += A[i * s + j] * c[j];
      Ac2[i] += A[i * s + j] * c[j] * c[j];
      Ac3[i] += A[i * s + j] * c[j] * c[j] * c[j];
    }
  for (int i = 0; i < s; i++)
    for (int j = 0; j < s; j++) {
      AAc[i] += A[i * s + j] * Ac[j];
      AcAc[i] += A[i * s + j] * c[j] * Ac[j];
      AAc2[i] += A[i * s + j] * Ac2[j];
    }
  for (int i = 0; i < s; i++)
    for (int j = 0; j < s; j++) AAAc[i] += A[i * s + j] * AAc[j];
  double sum[9] = {0}, want[9] = {0};
  int n = 0;
  for (int i = 0; i < s; i++) {
    const double ci = c[i], bi = b[i];
    switch (q) {
    case 1:
      n = 1, sum[0] += bi, want[0] = 1.0;
      break;
    case 2:
      n = 1, sum[0] += bi * ci, want[0] = 0.5;
      break;
    case 3:
      n = 2, sum[0] += bi * ci * ci, sum[1] += bi * Ac[i];
      want[0] = 1.0 / 3, want[1] = 1.0 / 6;
      break;
    case 4:
      n = 4, sum[0] += bi * ci * ci * ci, sum[1] += bi * ci * Ac[i], sum[2] += bi * Ac2[i],
      sum[3] += bi * AAc[i];
      want[0] = 0.25, want[1] = 0.125, want[2] = 1.0 / 12, want[3] = 1.0 / 24;
      break;
    case 5:
      n = 9, sum[0] += bi * ci * ci * ci * ci, sum[1] += bi * ci * ci * Ac[i],
      sum[2] += bi * ci * Ac2[i], sum[3] += bi * ci * AAc[i], sum[4] += bi * Ac[i] * Ac[i],
      sum[5] += bi * Ac3[i], sum[6] += bi * AcAc[i], sum[7] += bi * AAc2[i], sum[8] += bi * AAAc[i];
      want[0] = 0.2, want[1] = 0.1, want[2] = 1.0 / 15, want[3] = 1.0 / 30, want[4] = 0.05,
      want[5] = 0.05, want[6] = 1.0 / 40, want[7] = 1.0 / 60, want[8] = 1.0 / 120;
      break;
    }
  }
  double r = 0.0;
  for (int k = 0; k < n; k++) r = fmax(r, fabs(sum[k] - want[k]));
  return r;
}

/* Each built-in scheme meets every order condition up to its stated order
 * (dopri5: all nine order-5 trees, which tableau.c does not check) to
 * 1e-14 (rational coefficients rounded to double, summed over ≤ 6 stages),
 * and misses order q + 1 by far more (the order is not under-stated), so a
 * mistyped coefficient cannot hide behind a lower claimed order. */
static void builtins_meet_exactly_their_order(void **state)
{
  (void)state;
  int n = 0;
  const char *const *names = pn_tableau_names(&n);
  for (int i = 0; i < n; i++) {
    pn_tableau *t = NULL;
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[i], &t));
    const int q = pn_tableau_order(t);
    assert_string_equal(pn_tableau_name(t), names[i]);
    for (int k = 1; k <= q; k++)
      if (!(order_residual(t, k) <= 1e-14))
        fail_msg("%s: order-%d residual %.3e", names[i], k, order_residual(t, k));
    if (q < 5 && !(order_residual(t, q + 1) > 1e-3))
      fail_msg("%s meets the order-%d conditions: its stated order %d is too low", names[i],
               q + 1, q);
    const double *A = pn_tableau_a(t), *c = pn_tableau_c(t);
    const int s = pn_tableau_stages(t);
    for (int r = 0; r < s; r++) {
      double row = 0.0;
      for (int j = 0; j < s; j++) {
        if (j >= r) assert_true(A[r * s + j] == 0.0); /* explicit */
        row += A[r * s + j];
      }
      assert_true(fabs(row - c[r]) <= 1e-15);
    }
    pn_tableau_destroy(&t);
  }
  assert_int_equal(n, 9);
}

static void bad_stage_counts_and_arguments(void **state)
{
  (void)state;
  pn_tableau *t = NULL;
  double A[17 * 17] = {0}, b[17] = {1.0}, c[17] = {0};
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "big", 17, A, b, c, 1, &t),
                 PN_ERR_ARG, "17 stages");
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "none", 0, A, b, c, 1, &t),
                 PN_ERR_ARG, "0 stages");
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "e", 1, A, b, c, 0, &t), PN_ERR_ARG,
                 "order 0");
  pnt_fails_with(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "e", 1, NULL, b, c, 1, &t),
                 PN_ERR_ARG, "NULL");
  pnt_fails_with(pnt_ctx, pn_tableau_create(pnt_ctx, NULL, &t), PN_ERR_ARG, "NULL");
  assert_null(t);
  pn_tableau_destroy(&t); /* NULL-safe */
  pn_tableau_destroy(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(builtins_are_valid),
    cmocka_unit_test(unknown_name_lists_known_ones),
    cmocka_unit_test(implicit_or_inconsistent_tableaux_are_refused),
    cmocka_unit_test(builtins_meet_exactly_their_order),
    cmocka_unit_test(bad_stage_counts_and_arguments),
};

PNT_MAIN("tableau", tests)
