/* pn_ctx_agree on 1..4 ranks: every rank returns the code of the lowest
 * failing rank and holds its message (prefixed "rank r: " on the others,
 * unchanged on that rank), PN_OK when no rank failed, and the context's code
 * follows. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* Ranks in `failing` (a bit per rank) fail with code -(20 + rank) (outside
 * the list, which holds PN_ERR_REMOTE, treated apart below) and a message
 * naming their rank; the others pass PN_OK. */
static void agree_on(unsigned failing)
{
  const int rank = pn_ctx_rank(pnt_ctx), size = pn_ctx_size(pnt_ctx);
  pn_ctx_clear_error(pnt_ctx);
  int local = PN_OK;
  if (failing & (1u << rank)) local = pn_ctx_fail(pnt_ctx, -(20 + rank), "failed on %d", rank);
  const int rc = pn_ctx_agree(pnt_ctx, local);
  int first = -1;
  for (int r = size - 1; r >= 0; r--)
    if (failing & (1u << r)) first = r;
  if (first < 0) {
    pnt_assert_all(rc == PN_OK && pn_ctx_last_code(pnt_ctx) == PN_OK,
                   "no rank failed (mask %u) but the agreement returned %d", failing, rc);
    return;
  }
  char want[64];
  if (rank == first) snprintf(want, sizeof want, "failed on %d", first);
  else snprintf(want, sizeof want, "rank %d: failed on %d", first, first);
  pnt_assert_all(rc == -(20 + first), "mask %u: returned %d, expected %d", failing, rc,
                 -(20 + first));
  pnt_assert_all(pn_ctx_last_code(pnt_ctx) == rc, "mask %u: the context holds %d", failing,
                 pn_ctx_last_code(pnt_ctx));
  pnt_assert_all(strcmp(pn_ctx_last_error(pnt_ctx), want) == 0, "mask %u: message '%s', expected '%s'",
                 failing, pn_ctx_last_error(pnt_ctx), want);
}

static void every_pattern_of_failures(void **state)
{
  (void)state;
  const unsigned patterns = 1u << pn_ctx_size(pnt_ctx);
  for (unsigned failing = 0; failing < patterns; failing++) agree_on(failing);
}

/* A rank that failed only because another did (PN_ERR_REMOTE, a stale
 * message in its context) is not the origin: the last rank's own failure is
 * agreed on, though lower ranks failed as well. */
static void remote_failures_defer_to_the_cause(void **state)
{
  (void)state;
  const int rank = pn_ctx_rank(pnt_ctx), last = pn_ctx_size(pnt_ctx) - 1;
  pn_ctx_fail(pnt_ctx, PN_ERR_ARG, "a stale message");
  const int local = rank == last ? pn_ctx_fail(pnt_ctx, PN_ERR_NONFINITE, "the cause, on %d", rank)
                                 : PN_ERR_REMOTE;
  const int rc = pn_ctx_agree(pnt_ctx, local);
  char want[64];
  if (rank == last) snprintf(want, sizeof want, "the cause, on %d", last);
  else snprintf(want, sizeof want, "rank %d: the cause, on %d", last, last);
  pnt_assert_all(rc == PN_ERR_NONFINITE && strcmp(pn_ctx_last_error(pnt_ctx), want) == 0,
                 "returned %d with '%s', expected %d with '%s'", rc, pn_ctx_last_error(pnt_ctx),
                 PN_ERR_NONFINITE, want);
  /* Only remote failures: the lowest of them. */
  pnt_assert_all(pn_ctx_agree(pnt_ctx, PN_ERR_REMOTE) == PN_ERR_REMOTE, "all remote");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_pattern_of_failures),
    cmocka_unit_test(remote_failures_defer_to_the_cause),
};

PNT_MAIN("ctx_agree", tests)
