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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(builtins_are_valid),
    cmocka_unit_test(unknown_name_lists_known_ones),
    cmocka_unit_test(implicit_or_inconsistent_tableaux_are_refused),
};

PNT_MAIN("tableau", tests)
