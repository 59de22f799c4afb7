/* The random number generator: reproducible streams, reference values of
 * xoshiro256** seeded through splitmix64, and the ranges and moments of the
 * derived distributions. */
#include <math.h>
#include <string.h>

#include "testutil.h"

/* First outputs for seeds 0 and 42, computed by an independent Python
 * transcription of Vigna's reference splitmix64.c and xoshiro256starstar.c
 * (64-bit arithmetic masked with 2^64 − 1): the same seed must give the same
 * stream on every machine. */
static void reference_values(void **state)
{
  (void)state;
  const uint64_t want[2][4] = {
      {0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL, 0x1a5f849d4933e6e0ULL, 0x6aa594f1262d2d2cULL},
      {0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL, 0xecb8ad4703b360a1ULL}};
  const uint64_t seeds[2] = {0, 42};
  for (int s = 0; s < 2; s++) {
    pn_rng r;
    pn_rng_seed(&r, seeds[s]);
    for (int i = 0; i < 4; i++) assert_true(pn_rng_next(&r) == want[s][i]);
  }
}

/* Same seed, same stream; a copied state resumes the stream; another seed
 * gives another stream. */
static void streams_are_reproducible(void **state)
{
  (void)state;
  pn_rng a, b, c;
  pn_rng_seed(&a, 12345);
  pn_rng_seed(&b, 12345);
  pn_rng_seed(&c, 12346);
  int same_as_c = 0;
  for (int i = 0; i < 1000; i++) {
    const uint64_t x = pn_rng_next(&a);
    assert_true(x == pn_rng_next(&b));
    same_as_c += x == pn_rng_next(&c);
  }
  assert_int_equal(same_as_c, 0);
  pn_rng saved = a;
  double u[100];
  for (int i = 0; i < 100; i++) u[i] = pn_rng_normal(&a);
  for (int i = 0; i < 100; i++) assert_true(pn_rng_normal(&saved) == u[i]);
}

/* Ranges, and moments within 5 standard errors (the stream is fixed, so
 * this is deterministic; 5σ would be a 1-in-10⁶ event for a correct
 * generator and any real bias of the formulas is far larger). */
static void distributions(void **state)
{
  (void)state;
  enum { N = 200000 };
  pn_rng r;
  pn_rng_seed(&r, 7);
  double su = 0, sn = 0, sn2 = 0;
  long count3[3] = {0, 0, 0};
  for (int i = 0; i < N; i++) {
    const double u = pn_rng_uniform(&r);
    assert_true(u >= 0.0 && u < 1.0);
    su += u;
    const double z = pn_rng_normal(&r);
    assert_true(isfinite(z));
    sn += z;
    sn2 += z * z;
    const uint64_t k = pn_rng_below(&r, 3);
    assert_true(k < 3);
    count3[k]++;
  }
  assert_true(fabs(su / N - 0.5) <= 5 * sqrt(1.0 / 12.0 / N));
  assert_true(fabs(sn / N) <= 5 / sqrt((double)N));
  assert_true(fabs(sn2 / N - 1.0) <= 5 * sqrt(2.0 / N));
  for (int k = 0; k < 3; k++) /* binomial(N, 1/3): σ = √(N·2/9) */
    assert_true(fabs((double)count3[k] - N / 3.0) <= 5 * sqrt(N * 2.0 / 9.0));
  for (int i = 0; i < 100; i++) assert_true(pn_rng_below(&r, 1) == 0);
  const uint64_t big = (1ULL << 63) + 1; /* the rejection path is taken about half the time */
  for (int i = 0; i < 1000; i++) assert_true(pn_rng_below(&r, big) < big);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(reference_values),
    cmocka_unit_test(streams_are_reproducible),
    cmocka_unit_test(distributions),
};

PNT_MAIN("rng", tests)
