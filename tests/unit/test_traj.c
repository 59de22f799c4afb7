/* Trajectory storage (src/traj.c): every policy returns exactly the recorded
 * states; binomial checkpointing recomputes exactly the Griewank–Walther
 * optimum, which is checked against a brute-force dynamic program; memory is
 * O(c), not O(N); misuse is refused with a message. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"
#include "traj.h"

enum { W = 3 }; /* doubles per state */

/* A nonlinear step that depends on n, so that a state recomputed from the
 * wrong checkpoint or the wrong index cannot match by accident. */
typedef struct toy {
  long calls;   /* advance calls */
  long fail_at; /* advance from this grid index fails (−1: never) */
} toy;

static int toy_advance(void *arg, long n, const double *z, double *z_next)
{
  toy *t = arg;
  t->calls++;
  if (n == t->fail_at) return pn_ctx_fail(pnt_ctx, PN_ERR_USER_CALLBACK, "toy step %ld fails", n);
  for (int i = 0; i < W; i++) z_next[i] = 0.9 * sin(z[i] + 0.1 * (double)i) + 0.01 * (double)(n % 97);
  return PN_OK;
}

/* The caller's side of a fetch: take the steps the store asks for (with
 * the toy step), then fetch. */
static int fetch(pni_traj *tr, toy *t, long n, const double **z)
{
  pni_traj_advance adv;
  int rc;
  while ((rc = pni_traj_need(tr, n, &adv)) == 1) {
    PN_CALL(toy_advance(t, adv.n, adv.src, adv.dst));
    pni_traj_advanced(tr);
  }
  if (rc != PN_OK) return rc;
  return pni_traj_fetch(tr, n, z);
}

/* Run a forward sweep of [lo, lo+N) through tr, keeping every state in ref. */
static void forward(pni_traj *tr, toy *t, long lo, long N, double *ref)
{
  double z[W] = {0.3, -0.2, 0.7};
  for (long n = lo; n < lo + N; n++) {
    memcpy(ref + (size_t)(n - lo) * W, z, sizeof z);
    pni_traj_record(tr, n, z);
    assert_int_equal(toy_advance(t, n, z, z), PN_OK);
  }
}

/* A full backward sweep; every fetched state must equal the recorded one
 * bit for bit. */
static void backward(pni_traj *tr, toy *t, long lo, long N, const double *ref)
{
  for (long n = lo + N - 1; n >= lo; n--) {
    const double *z = NULL;
    pnt_ok(pnt_ctx, fetch(tr, t, n, &z));
    if (memcmp(z, ref + (size_t)(n - lo) * W, sizeof(double) * W) != 0)
      fail_msg("z_%ld differs from the recorded state (block [%ld, %ld))", n, lo, lo + N);
  }
}

/* One policy on one block: states exact, recompute count as predicted,
 * advance calls = recomputed + the forward sweep's N. */
static void check_policy(pn_storage_kind kind, long param, long lo, long N)
{
  double *ref = malloc(sizeof(double) * W * (size_t)N);
  assert_non_null(ref);
  toy t = {0, -1};
  pni_traj tr;
  pnt_ok(pnt_ctx, pni_traj_init(&tr, pnt_ctx, kind, param, lo, lo + N, W));
  forward(&tr, &t, lo, N, ref);
  backward(&tr, &t, lo, N, ref);
  const long want = pni_traj_recompute(kind, param, N);
  if (tr.recomputed != want || t.calls != N + want)
    fail_msg("kind %d param %ld N %ld: recomputed %ld (advance calls %ld), expected %ld", (int)kind,
             param, N, tr.recomputed, t.calls - N, want);
  assert_int_equal(tr.stored, pni_traj_states(kind, param, N));
  pni_traj_free(&tr);
  free(ref);
}

/* Brute force: F[l][s] = fewest forward steps to reverse l steps from a
 * checkpoint with s checkpoints (that one included) and one working state,
 * over every recursive split: F = min_j j + F(l−j, s−1) + F(j, s), F(1, ·) = 0
 * (the step's own state is at hand), F(l ≥ 2, 0) = ∞. */
enum { LMAX = 90, SMAX = 9 };
static long F[LMAX + 1][SMAX + 1];

static void brute_force(void)
{
  for (int s = 0; s <= SMAX; s++) F[1][s] = 0;
  for (int l = 2; l <= LMAX; l++) {
    F[l][0] = LONG_MAX / 4;
    for (int s = 1; s <= SMAX; s++) {
      long best = LONG_MAX;
      for (int j = 1; j < l; j++) {
        const long cost = j + F[l - j][s - 1] + F[j][s];
        if (cost < best) best = cost;
      }
      F[l][s] = best;
    }
  }
}

/* The closed form r·N − β(c+1, r−1) (minus the first sweep's N − 1, which
 * the forward sweep does anyway) is the brute-force optimum, and the split
 * the schedule takes is one of the optimal ones. */
static void binomial_optimum_matches_brute_force(void **state)
{
  (void)state;
  brute_force();
  for (long l = 1; l <= LMAX; l++)
    for (long s = 1; s <= SMAX; s++) {
      if (pni_binomial_recompute(l, s) != F[l][s] - (l - 1))
        fail_msg("N %ld c %ld: formula %ld, brute force %ld", l, s, pni_binomial_recompute(l, s),
                 F[l][s] - (l - 1));
      if (l < 2) continue;
      const long j = pni_binomial_split(l, s);
      assert_true(j >= 1 && j < l);
      if (j + F[l - j][s - 1] + F[j][s] != F[l][s])
        fail_msg("split %ld of N %ld with c %ld is not optimal", j, l, s);
    }
}

/* β against Pascal's triangle, saturation, and known values. */
static void binomial_numbers(void **state)
{
  (void)state;
  long pascal[41][41] = {{0}};
  for (int n = 0; n <= 40; n++) {
    pascal[n][0] = 1;
    for (int k = 1; k <= n; k++) pascal[n][k] = pascal[n - 1][k - 1] + (k <= n - 1 ? pascal[n - 1][k] : 0);
  }
  for (int s = 0; s <= 20; s++)
    for (int r = 0; r <= 20; r++) assert_int_equal(pni_binomial_beta(s, r), pascal[s + r][s]);
  assert_int_equal(pni_binomial_beta(5, -1), 0);
  assert_int_equal(pni_binomial_beta(1000000, 10), LONG_MAX); /* ~2.8e53: saturates */
  assert_int_equal(pni_binomial_beta(1000000, 2), 500001500001L);
  /* c = 1: only z_lo; z_{N−1} comes from the sweep, the rest cost
   * 1 + 2 + ... + (N−2). */
  assert_int_equal(pni_binomial_recompute(100, 1), 98L * 99 / 2);
  /* c ≥ N − 1: every state fits, nothing is recomputed. */
  assert_int_equal(pni_binomial_recompute(100, 99), 0);
  assert_int_equal(pni_binomial_recompute(100, 1000000000L), 0);
  /* 10^7 steps, 10^6 checkpoints: r = 2, so 2N − β(c+1, 1) − (N − 1). */
  assert_int_equal(pni_binomial_reps(10000000, 1000000), 2);
  assert_int_equal(pni_binomial_recompute(10000000, 1000000), 10000000L - 1000002L + 1L);
}

/* Every policy, many shapes: N = 1, 2, small, prime, larger; c = 1, small,
 * N − 1, N, ≥ N; blocks that do not start at 0. */
static void policies_return_the_recorded_states(void **state)
{
  (void)state;
  const long Ns[] = {1, 2, 3, 5, 7, 13, 64, 97, 100, 257, 1009};
  for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++) {
    const long N = Ns[i], lo = (long)i * 37;
    check_policy(PN_STORE_ALL, 0, lo, N);
    const long ks[] = {1, 2, 3, 10, N, N + 3};
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) check_policy(PN_STORE_EVERY, ks[k], lo, N);
    const long cs[] = {1, 2, 3, 4, 7, 20, N > 2 ? N - 2 : 1, N > 1 ? N - 1 : 1, N, N + 5, 1L << 40};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) check_policy(PN_STORE_BINOMIAL, cs[c], lo, N);
  }
}

/* Property test: the recompute count of the running schedule equals the
 * closed form for every N ≤ 300 and c ≤ 12, and for random larger shapes. */
static void recompute_count_is_optimal(void **state)
{
  (void)state;
  for (long N = 1; N <= 300; N++)
    for (long c = 1; c <= 12; c++) check_policy(PN_STORE_BINOMIAL, c, 5, N);
  pn_rng rng;
  pn_rng_seed(&rng, 2024);
  for (int trial = 0; trial < 40; trial++) {
    const long N = 300 + (long)(pn_rng_next(&rng) % 20000);
    const long c = 1 + (long)(pn_rng_next(&rng) % (trial < 10 ? 8 : 200));
    check_policy(PN_STORE_BINOMIAL, c, 0, N);
  }
}

/* Memory is O(c): the same c holds the same bytes for 10^4 and 10^7 steps;
 * all states grow with N. */
static void binomial_memory_does_not_grow_with_n(void **state)
{
  (void)state;
  const size_t a = pni_traj_bytes(PN_STORE_BINOMIAL, 50, 0, 10000, 32);
  const size_t b = pni_traj_bytes(PN_STORE_BINOMIAL, 50, 0, 10000000, 32);
  assert_int_equal(a, b);
  assert_int_equal(a, 51 * 32 * sizeof(double) + 50 * sizeof(long));
  assert_int_equal(pni_traj_states(PN_STORE_BINOMIAL, 50, 10000000), 51);
  assert_true(pni_traj_bytes(PN_STORE_ALL, 0, 0, 10000000, 32) > 1000 * b);
}

/* Sweeps that start inside the block (single-point backpropagation starts
 * at each label) and repeated sweeps give the recorded states too. */
static void partial_and_repeated_sweeps(void **state)
{
  (void)state;
  const long N = 123, lo = 10;
  double *ref = malloc(sizeof(double) * W * N);
  assert_non_null(ref);
  const long cs[] = {1, 3, 8};
  for (size_t c = 0; c < 3; c++) {
    toy t = {0, -1};
    pni_traj tr;
    pnt_ok(pnt_ctx, pni_traj_init(&tr, pnt_ctx, PN_STORE_BINOMIAL, cs[c], lo, lo + N, W));
    forward(&tr, &t, lo, N, ref);
    const long tops[] = {lo + 70, lo + N - 1, lo + 5, lo + 100, lo, lo + 71};
    for (size_t s = 0; s < 6; s++)
      for (long n = tops[s]; n >= lo; n -= 1 + (long)s) {
        const double *z = NULL, *again = NULL;
        pnt_ok(pnt_ctx, fetch(&tr, &t, n, &z));
        pnt_ok(pnt_ctx, fetch(&tr, &t, n, &again)); /* same n twice: same state */
        assert_ptr_equal(z, again);
        if (memcmp(z, ref + (size_t)(n - lo) * W, sizeof(double) * W) != 0)
          fail_msg("c %ld, sweep from %ld: z_%ld differs", cs[c], tops[s], n);
      }
    pni_traj_free(&tr);
  }
  free(ref);
}

/* Misuse and failures are reported, never silent. */
static void errors_are_reported(void **state)
{
  (void)state;
  toy t = {0, -1};
  pni_traj tr;
  const double z[W] = {0, 0, 0};
  const double *out = NULL;
  pnt_fails_with(pnt_ctx, pni_traj_init(&tr, pnt_ctx, PN_STORE_BINOMIAL, 0, 0, 10, W),
                 PN_ERR_ARG, "binomial:C");
  pnt_fails_with(pnt_ctx, pni_traj_init(&tr, pnt_ctx, PN_STORE_AUTO, 5, 0, 10, W),
                 PN_ERR_ARG, "storage 3");
  pnt_fails_with(pnt_ctx, pni_traj_init(&tr, pnt_ctx, PN_STORE_ALL, 0, 4, 4, W),
                 PN_ERR_ARG, "[4, 4)");
  pni_traj_free(&tr); /* safe after a failed init */

  pnt_ok(pnt_ctx, pni_traj_init(&tr, pnt_ctx, PN_STORE_BINOMIAL, 2, 0, 10, W));
  pnt_fails_with(pnt_ctx, fetch(&tr, &t, 9, &out), PN_ERR_STATE, "before the forward sweep");
  for (long n = 0; n < 10; n++)
    if (n != 4) pni_traj_record(&tr, n, z); /* a gap at 4 */
  pnt_fails_with(pnt_ctx, fetch(&tr, &t, 9, &out), PN_ERR_STATE, "recorded z_0..z_9");
  for (long n = 0; n < 10; n++) pni_traj_record(&tr, n, z);
  pnt_fails_with(pnt_ctx, fetch(&tr, &t, 10, &out), PN_ERR_ARG, "outside");
  pnt_fails_with(pnt_ctx, fetch(&tr, &t, -1, &out), PN_ERR_ARG, "z_-1");
  t.fail_at = 6; /* c = 2: checkpoints at 0 and 6, so z_8 is recomputed from 6 */
  pnt_ok(pnt_ctx, fetch(&tr, &t, 9, &out));
  pnt_fails_with(pnt_ctx, fetch(&tr, &t, 8, &out), PN_ERR_USER_CALLBACK, "toy step 6");
  t.fail_at = -1; /* and the storage recovers on the next fetch */
  pnt_ok(pnt_ctx, fetch(&tr, &t, 8, &out));
  /* A fetch before the steps it needs were taken is refused. */
  pni_traj_advance adv;
  assert_int_equal(pni_traj_need(&tr, 2, &adv), 1);
  pnt_fails_with(pnt_ctx, pni_traj_fetch(&tr, 2, &out), PN_ERR_STATE, "before it is ready");
  pni_traj_free(&tr);
  pni_traj_free(&tr); /* twice is safe */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(binomial_numbers),
    cmocka_unit_test(binomial_optimum_matches_brute_force),
    cmocka_unit_test(policies_return_the_recorded_states),
    cmocka_unit_test(recompute_count_is_optimal),
    cmocka_unit_test(binomial_memory_does_not_grow_with_n),
    cmocka_unit_test(partial_and_repeated_sweeps),
    cmocka_unit_test(errors_are_reported),
};

PNT_MAIN("traj", tests)
