/* Ownership when a creation fails (pinode/model.h): pn_model_create takes a user model's
 * `user` pointer only when the model exists.  Each allocation of the call is made to fail in
 * turn (this program's calloc fails the n-th call after being armed): every failure returns
 * PN_ERR_MEM with *out NULL and leaves `user` the caller's (its destroy not called); the
 * successful call hands it to the model, whose destroy calls it exactly once.
 * This program is linked with -Wl,--wrap=calloc (tests/CMakeLists.txt): the library's calls of
 * calloc come here, in plain, sanitizer and valgrind runs alike. */
#include <stddef.h>

#include "testutil.h"

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static int fail_in = 0; /* 0: off; n: the n-th calloc from now fails */

void *__wrap_calloc(size_t n, size_t size)
{
  if (fail_in > 0 && --fail_in == 0) return NULL;
  return __real_calloc(n, size);
}

static int destroyed = 0;

static void count_destroy(void *user)
{
  (void)user;
  destroyed++;
}

static int rhs(void *user, double t, int nb, const double *z, const double *theta, double *f)
{
  (void)user, (void)t, (void)theta;
  for (int i = 0; i < nb; i++) f[i] = -z[i];
  return 0;
}

static int vjp(void *user, double t, int nb, const double *z, const double *theta, const double *a,
               double *z_bar, double *theta_bar)
{
  (void)user, (void)t, (void)z, (void)theta, (void)theta_bar;
  for (int i = 0; i < nb; i++) z_bar[i] = -a[i];
  return 0;
}

static void user_stays_the_callers_when_creation_fails(void **state)
{
  (void)state;
  const pn_model_ops ops = {.rhs = rhs, .vjp = vjp, .destroy = count_destroy};
  int user = 0, failures = 0;
  for (int n = 1;; n++) {
    pn_model *m = (pn_model *)&user; /* must be reset to NULL on failure */
    destroyed = 0;
    fail_in = n;
    const int rc = pn_model_create(pnt_ctx, 1, 0, &ops, &user, &m);
    fail_in = 0;
    if (rc == PN_OK) {
      assert_int_equal(destroyed, 0);
      pn_model_destroy(&m);
      assert_int_equal(destroyed, 1);
      break;
    }
    assert_int_equal(rc, PN_ERR_MEM);
    assert_null(m);
    assert_int_equal(destroyed, 0);
    failures++;
  }
  assert_true(failures >= 2); /* the user model's state, then the model */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(user_stays_the_callers_when_creation_fails),
};

PNT_MAIN("ownership", tests)
