/* Time decomposition: N steps over P ranks in contiguous blocks. */
#include "tdecomp.h"
#include "testutil.h"

/* For N in {1, 7, 100, 1001} and P in 1..5 (P ≤ N): the blocks tile
 * [0, N) in rank order (so every step is owned exactly once), each is
 * non-empty, their sizes differ by at most one, and pn_owner(m) is the rank
 * whose block ends at or after m and starts before it ((lo, hi]; point 0
 * belongs to rank 0). */
static void blocks_tile_the_grid(void **state)
{
  (void)state;
  const long Ns[4] = {1, 7, 100, 1001};
  for (int i = 0; i < 4; i++)
    for (int P = 1; P <= 5 && P <= Ns[i]; P++) {
      const long N = Ns[i];
      long prev_hi = 0, smin = N + 1, smax = -1;
      for (int r = 0; r < P; r++) {
        long lo = -1, hi = -1;
        pn_split(N, P, r, &lo, &hi);
        assert_int_equal(lo, prev_hi); /* contiguous: no gap, no overlap */
        assert_true(hi > lo);
        smin = hi - lo < smin ? hi - lo : smin;
        smax = hi - lo > smax ? hi - lo : smax;
        for (long m = lo + 1; m <= hi; m++) assert_int_equal(pn_owner(N, P, m), r);
        prev_hi = hi;
      }
      assert_int_equal(prev_hi, N);
      assert_true(smax - smin <= 1);
      assert_int_equal(pn_owner(N, P, 0), 0);
    }
}

/* Arguments outside their ranges give an empty part and no owner (-1), never a division by
 * zero; more parts than items give empty parts at the end. */
static void outside_the_ranges(void **state)
{
  (void)state;
  long lo = -1, hi = -1;
  const long n[4] = {10, 10, 10, -1};
  const int parts[4] = {0, 3, 3, 2}, part[4] = {0, -1, 3, 0};
  for (int c = 0; c < 4; c++) {
    lo = hi = -1;
    pn_split(n[c], parts[c], part[c], &lo, &hi);
    assert_true(lo == 0 && hi == 0);
  }
  pn_split(2, 3, 2, &lo, &hi);
  assert_true(lo == 2 && hi == 2);
  assert_int_equal(pn_owner(10, 0, 3), -1);  /* no ranks */
  assert_int_equal(pn_owner(10, 11, 3), -1); /* more ranks than steps */
  assert_int_equal(pn_owner(10, 3, -1), -1);
  assert_int_equal(pn_owner(10, 3, 11), -1);
  assert_int_equal(pn_owner(10, 3, 10), 2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(blocks_tile_the_grid),
    cmocka_unit_test(outside_the_ranges),
};

PNT_MAIN("tdecomp", tests)
