/* The vectorised tanh (src/vmath.c), every instruction-set build this CPU
 * can run, against libm's long-double tanhl (64-bit mantissa: its error is
 * ~2^-11 of a double ulp, so it serves as the correctly rounded value):
 *   - accuracy in ulps over dense sets of inputs: a uniform grid over
 *     [−25, 25], magnitudes 2^-60..2^6 on a geometric grid (both signs),
 *     [0.15, 0.20] (where 2|x| crosses ln 2 / 2 and the reduction's k steps
 *     from 0 to 1) and the saturation near 19, and random doubles;
 *   - special values (NaN, ±inf, ±0, subnormals);
 *   - an element's result does not depend on its position in the array or
 *     on the array's length (vector body vs scalar tail): bitwise;
 *   - the AVX2 and AVX-512 builds (both with FMA) give bitwise the reference
 *     tanh (plain C, one fma() a multiply-add: src/backend.h), so a machine
 *     of either kind computes the same activations, and the elementwise
 *     operations agree with plain loops;
 *   - every check above holds for the reference too;
 *   - the derivative 1 − y² that the MLP's VJP uses matches the derivative
 *     of the function evaluated here (central difference). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "backend.h"

/* Why 3 ulp: E = expm1(2|x|) carries ~1 ulp (Cody–Waite reduction, Taylor
 * polynomial, the 2^k scaling), E + 2 and E/(E + 2) one rounding each:
 * ≤ 2.5 ulp, measured 2.4–2.5 (glibc's own tanh: 2.1, libmvec's: 4).  A wrong
 * coefficient, reduction or sign shows up as thousands of ulps. */
#define MAX_ULP 3.0

/* |y − ref| in units of the last place of the double nearest to ref. */
static double ulp_error(double y, long double ref)
{
  if (isnan(y) || isinf(y)) return INFINITY;
  const long double a = fabsl(ref);
  long double ulp;
  if (a < (long double)DBL_MIN) {
    ulp = ldexpl(1.0L, -1074);
  } else {
    int e;
    frexpl(a, &e);
    ulp = ldexpl(1.0L, e - 53);
  }
  return (double)(fabsl((long double)y - ref) / ulp);
}

/* The implementations of tanh this CPU runs: each build it supports, then the reference. */
typedef struct impl {
  const char *name;
  pni_vtanh_fn tanh;
  int fused; /* with fused multiply-adds: bitwise the reference */
} impl;

static int implementations(impl out[PNI_ISA_COUNT + 1])
{
  int n = 0;
  for (int isa = 0; isa < PNI_ISA_COUNT; isa++)
    if (pni_vmath_isa_supported((pni_vmath_isa)isa))
      out[n++] = (impl){pni_vmath_isa_name((pni_vmath_isa)isa), pni_vtanh_kernel((pni_vmath_isa)isa),
                        isa != PNI_ISA_GENERIC};
  out[n++] = (impl){"reference", pni_vtanh_reference, 1};
  return n;
}

/* Largest ulp error of an implementation over x[0..n) (x is preserved). */
static double worst_ulp(const impl *im, const double *x, size_t n, double *y, double *where)
{
  memcpy(y, x, n * sizeof *y);
  im->tanh(n, y);
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double u = ulp_error(y[i], tanhl((long double)x[i]));
    if (u > worst) {
      worst = u;
      *where = x[i];
    }
  }
  return worst;
}

static void accuracy(void **state)
{
  (void)state;
  const size_t n = 1 << 21;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  assert_non_null(x);
  assert_non_null(y);
  pn_rng rng;
  impl im[PNI_ISA_COUNT + 1];
  const int nimpl = implementations(im);
  for (int q = 0; q < nimpl; q++) {
    double worst = 0.0, where = 0.0;
    for (int set = 0; set < 5; set++) {
      pn_rng_seed(&rng, 11 + (uint64_t)set);
      for (size_t i = 0; i < n; i++) {
        const double t = (double)i / (double)n;
        switch (set) {
        case 0: x[i] = -25.0 + 50.0 * t; break;
        case 1: x[i] = (i & 1 ? -1.0 : 1.0) * exp2(-60.0 + 66.0 * t); break;
        case 2: x[i] = 0.15 + 0.05 * t; break;
        case 3: x[i] = (i & 1 ? -1.0 : 1.0) * (18.5 + 2.0 * t); break;
        default: x[i] = 8.0 * pn_rng_normal(&rng); break;
        }
      }
      double w = 0.0;
      const double u = worst_ulp(&im[q], x, n, y, &w);
      if (u > worst) {
        worst = u;
        where = w;
      }
    }
    printf("tanh (%s): max error %.3f ulp at x = %.17g\n", im[q].name, worst, where);
    assert_true(worst <= MAX_ULP);
  }
  free(x);
  free(y);
}

static void special_values(void **state)
{
  (void)state;
  const double in[8] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 4.9e-324, -1e-310, 1e300};
  impl im[PNI_ISA_COUNT + 1];
  const int nimpl = implementations(im);
  for (int q = 0; q < nimpl; q++) {
    double y[8];
    memcpy(y, in, sizeof y);
    im[q].tanh(8, y);
    assert_true(isnan(y[0])); /* bad input never passes silently */
    assert_true(y[1] == 1.0 && y[2] == -1.0);
    assert_true(y[3] == 0.0 && !signbit(y[3]));
    assert_true(y[4] == 0.0 && signbit(y[4]));
    assert_true(y[5] == in[5] && y[6] == in[6]); /* tanh x = x below 2^-27 */
    assert_true(y[7] == 1.0);
  }
}

/* The MLP relies on this: a row's activations do not depend on the batch. */
static void position_independent(void **state)
{
  (void)state;
  double x[64], one[64], all[64];
  pnt_randn(x, 64, 5, 3.0);
  impl im[PNI_ISA_COUNT + 1];
  const int nimpl = implementations(im);
  for (int q = 0; q < nimpl; q++) {
    for (int i = 0; i < 64; i++) {
      one[i] = x[i];
      im[q].tanh(1, &one[i]);
    }
    for (size_t n = 1; n <= 64; n++) {
      for (size_t off = 0; off + n <= 64; off += 7) {
        memcpy(all, x, sizeof all);
        im[q].tanh(n, all + off);
        assert_memory_equal(all + off, one + off, n * sizeof(double));
      }
    }
    /* and the MLP's tanh is the best build's */
    memcpy(all, x, sizeof all);
    pni_vtanh(64, all);
    if (strcmp(im[q].name, pni_vmath_isa_name(pni_vmath_best_isa())) == 0)
      assert_memory_equal(all, one, sizeof all);
  }
}

/* Why 1e-8: the central difference with step δ = 1e-5 has truncation error
 * δ²|tanh'''|/6 ≤ 4e-11 and rounding error ~2 ulp/δ ≈ 4e-11 (relative to
 * tanh' ≥ 0.01 on the grid), so a mismatch above 1e-8 means the evaluated
 * function is not the tanh whose derivative the VJP uses (e.g. a jump where
 * the argument reduction's k changes, at 2|x| = ln 2 / 2). */
static void derivative_matches(void **state)
{
  (void)state;
  const double d = 1e-5;
  double worst = 0.0;
  for (double x = -2.7; x <= 2.7; x += 0.0137) {
    double v[3] = {x - d, x, x + d};
    pni_vtanh(3, v);
    const double fd = (v[2] - v[0]) / (2 * d), an = 1.0 - v[1] * v[1];
    const double e = fabs(fd - an) / an;
    if (e > worst) worst = e;
  }
  for (double x = 0.1733 - 3 * d; x <= 0.1733 + 3 * d; x += d / 7) { /* k: 0 → 1 */
    double v[3] = {x - d, x, x + d};
    pni_vtanh(3, v);
    const double e = fabs((v[2] - v[0]) / (2 * d) - (1.0 - v[1] * v[1])) / (1.0 - v[1] * v[1]);
    if (e > worst) worst = e;
  }
  printf("derivative: max relative mismatch %.2e\n", worst);
  assert_true(worst < 1e-8);
}

/* tanh of every build with FMA against the reference: bitwise equal.  Every
 * elementwise operation (the best build's) against plain loops: the
 * operations are unfused, so bitwise equal. */
static void builds_agree(void **state)
{
  (void)state;
  enum { N = 1000 };
  double x[N], y[N], t1[N], t2[N];
  pnt_randn(x, N, 71, 2.0);
  pnt_randn(y, N, 72, 2.0);
  impl im[PNI_ISA_COUNT + 1];
  const int nimpl = implementations(im);
  memcpy(t2, x, sizeof t2);
  pni_vtanh_reference(N, t2);
  for (int q = 0; q < nimpl; q++) {
    if (!im[q].fused) continue;
    memcpy(t1, x, sizeof t1);
    im[q].tanh(N, t1);
    if (memcmp(t1, t2, sizeof t1) != 0) fail_msg("tanh (%s) differs from the reference", im[q].name);
  }
  /* the dispatched operations against plain loops of the same arithmetic */
  double r[N], s[N];
  memcpy(r, y, sizeof r);
  pni_vaxpy(N, 0.37, x, r);
  for (int i = 0; i < N; i++) s[i] = y[i] + 0.37 * x[i];
  assert_memory_equal(r, s, sizeof r);
  pni_vxpay(N, x, -1.5, y, r);
  for (int i = 0; i < N; i++) s[i] = x[i] + -1.5 * y[i];
  assert_memory_equal(r, s, sizeof r);
  memcpy(r, x, sizeof r);
  pni_vxpay(N, r, 0.25, y, r); /* in place, as the stepper's z ← z + h·inc */
  for (int i = 0; i < N; i++) s[i] = x[i] + 0.25 * y[i];
  assert_memory_equal(r, s, sizeof r);
  memcpy(r, y, sizeof r);
  pni_vxpay(N, x, 3.0, r, r); /* in place on the other operand */
  for (int i = 0; i < N; i++) s[i] = x[i] + 3.0 * y[i];
  assert_memory_equal(r, s, sizeof r);
  pni_vscale(N, 0.5, x, r);
  for (int i = 0; i < N; i++) s[i] = 0.5 * x[i];
  assert_memory_equal(r, s, sizeof r);
  memcpy(r, y, sizeof r);
  pni_vadd(N, x, r);
  for (int i = 0; i < N; i++) s[i] = y[i] + x[i];
  assert_memory_equal(r, s, sizeof r);
  memcpy(r, y, sizeof r);
  pni_vmul(N, x, r);
  for (int i = 0; i < N; i++) s[i] = y[i] * x[i];
  assert_memory_equal(r, s, sizeof r);
  memcpy(r, y, sizeof r);
  pni_vtanh_grad(N, x, r);
  for (int i = 0; i < N; i++) s[i] = y[i] * (1.0 - x[i] * x[i]);
  assert_memory_equal(r, s, sizeof r);
  memcpy(r, y, sizeof r);
  pni_vsigmoid_grad(N, x, r);
  for (int i = 0; i < N; i++) s[i] = y[i] * (x[i] * (1.0 - x[i]));
  assert_memory_equal(r, s, sizeof r);
  /* 40 rows of 25, and one row (its own loop): the same sums as a plain
   * loop, -0 included (0 + -0 = +0, as the general loop gives) */
  const int rows[2] = {40, 1};
  x[3] = -0.0;
  for (int c = 0; c < 2; c++) {
    double acc[25], acc_ref[25];
    for (int o = 0; o < 25; o++) acc[o] = acc_ref[o] = o == 3 ? -0.0 : y[o];
    pni_vcolsum_add(rows[c], 25, x, r, acc);
    for (int o = 0; o < 25; o++) {
      s[o] = 0.0;
      for (int q = 0; q < rows[c]; q++) s[o] += x[q * 25 + o];
      acc_ref[o] += s[o];
    }
    assert_memory_equal(r, s, 25 * sizeof(double));
    assert_memory_equal(acc, acc_ref, sizeof acc);
  }
}

static void names(void **state)
{
  (void)state;
  assert_string_equal(pni_vmath_isa_name(PNI_ISA_GENERIC), "generic");
  assert_string_equal(pni_vmath_isa_name(PNI_ISA_COUNT), "unknown");
  assert_true(pni_vmath_isa_supported(PNI_ISA_GENERIC));
  assert_true(pni_vmath_isa_supported(pni_vmath_best_isa()));
  assert_false(pni_vmath_isa_supported(PNI_ISA_COUNT));
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accuracy),           cmocka_unit_test(special_values),
      cmocka_unit_test(position_independent), cmocka_unit_test(derivative_matches),
      cmocka_unit_test(builds_agree),       cmocka_unit_test(names),
  };
  return pnt_main(argc, argv, "vmath", tests, sizeof tests / sizeof tests[0]);
}
