/* Trajectory storage: every state; every k-th state with the states in
 * between recomputed one segment at a time; or binomial checkpointing
 * (Griewank–Walther), which recomputes the fewest steps for c checkpoints.
 * traj.h states the conventions and the counts. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "traj.h"

/* ---- Binomial schedule arithmetic (no state, no allocation). ---- */

static long gcd_l(long a, long b)
{
  while (b != 0) {
    const long t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* b·num/den where den divides b·num exactly, saturated at LONG_MAX.  Dividing
 * by g = gcd(b, den) first keeps it exact: den/g then divides num. */
static long mul_div_exact(long b, long num, long den)
{
  if (b == LONG_MAX) return LONG_MAX;
  const long g = gcd_l(b, den), q = num / (den / g), bg = b / g;
  if (q != 0 && bg > LONG_MAX / q) return LONG_MAX;
  return bg * q;
}

long pni_binomial_beta(long s, long r)
{
  if (r < 0) return 0;
  /* C(s+r, m) with m = min(s, r), built as C(s+r−m+i, i) for i = 1..m: each
   * factor is exact, and the sequence increases, so saturation is final. */
  const long m = r < s ? r : s;
  long b = 1;
  for (long i = 1; i <= m && b < LONG_MAX; i++) b = mul_div_exact(b, s + r - m + i, i);
  return b;
}

long pni_binomial_reps(long nsteps, long c)
{
  long r = 0, b = 1; /* b = β(c, r) */
  while (b < nsteps) {
    r++;
    b = mul_div_exact(b, c + r, r);
  }
  return r;
}

long pni_binomial_recompute(long nsteps, long c)
{
  if (c > nsteps) c = nsteps; /* more cannot help; keeps c + r small */
  const long r = pni_binomial_reps(nsteps, c);
  return r * nsteps - pni_binomial_beta(c + 1, r - 1) - (nsteps - 1);
}

/* t(l, s) is convex and piecewise linear in l with slope r on
 * (β(s, r−1), β(s, r)]; splitting l = j + (l − j) costs
 * j + t(j, s) + t(l−j, s−1), which is minimal exactly when j lies where
 * t(·, s) has slope r−1 and l − j where t(·, s−1) has slope r:
 *   max(β(s, r−2), l − β(s−1, r)) ≤ j ≤ min(β(s, r−1), l − β(s−1, r−1)).
 * (tests/unit/test_traj.c checks this range against a brute-force dynamic
 * program.)  The largest j leaves the fewest steps to the right. */
long pni_binomial_split(long l, long s)
{
  if (l < 2) return 1;
  if (s > l) s = l;
  const long r = pni_binomial_reps(l, s);
  long j = pni_binomial_beta(s, r - 1);
  const long right = l - pni_binomial_beta(s - 1, r - 1);
  if (right < j) j = right;
  return j < 1 ? 1 : (j > l - 1 ? l - 1 : j);
}

/* ---- Shapes. ---- */

static long stride_of(pn_storage_kind kind, long param, long len)
{
  if (kind != PN_STORE_EVERY) return 1;
  return param < 1 ? 1 : (param > len ? len : param);
}

/* Binomial: checkpoint slots (z_lo and up to c − 1 more; never more than
 * N − 1, which already stores every state but the last) and working states
 * (one, unless the block is a single step). */
static long binomial_slots(long c, long len)
{
  const long most = len > 1 ? len - 1 : 1;
  return c < 1 ? 1 : (c > most ? most : c);
}

static long binomial_work(long len) { return len > 1 ? 1 : 0; }

long pni_traj_states(pn_storage_kind kind, long param, long len)
{
  if (kind == PN_STORE_BINOMIAL) return binomial_slots(param, len) + binomial_work(len);
  const long k = stride_of(kind, param, len);
  return (len + k - 1) / k + (k > 1 ? k : 0);
}

long pni_traj_recompute(pn_storage_kind kind, long param, long len)
{
  if (kind == PN_STORE_BINOMIAL) return pni_binomial_recompute(len, binomial_slots(param, len));
  const long k = stride_of(kind, param, len);
  return k > 1 ? len - (len + k - 1) / k : 0; /* each segment but its first state */
}

size_t pni_traj_bytes(pn_storage_kind kind, long param, long lo, long hi, size_t width)
{
  const long len = hi - lo;
  size_t bytes = sizeof(double) * width * (size_t)pni_traj_states(kind, param, len);
  if (kind == PN_STORE_BINOMIAL) bytes += sizeof(long) * (size_t)binomial_slots(param, len);
  return bytes;
}

/* ---- Setup. ---- */

int pni_traj_init(pni_traj *tr, pn_ctx *ctx, pn_storage_kind kind, long param, long lo, long hi,
                  size_t width)
{
  memset(tr, 0, sizeof *tr);
  PN_CHECK(ctx, hi > lo && width > 0, PN_ERR_ARG,
           "trajectory of steps [%ld, %ld) with %zu doubles a state: need a non-empty block and "
           "a state",
           lo, hi, width);
  PN_CHECK(ctx,
           kind == PN_STORE_ALL || ((kind == PN_STORE_EVERY || kind == PN_STORE_BINOMIAL) &&
                                    param >= 1),
           PN_ERR_ARG, "trajectory storage %d with parameter %ld: need all, every:K or binomial:C "
           "with K, C >= 1", (int)kind, param);
  const long len = hi - lo;
  tr->ctx = ctx;
  tr->kind = kind;
  tr->lo = lo;
  tr->hi = hi;
  tr->k = kind == PN_STORE_BINOMIAL ? param : stride_of(kind, param, len);
  tr->width = width;
  tr->seg_start = tr->build_start = -1;
  tr->recorded = lo - 1;
  tr->fetched = hi;
  tr->asked = LONG_MIN;
  tr->stored = pni_traj_states(kind, param, len);
  /* One block: the stored states first, then the segment / working state. */
  const long nseg = kind == PN_STORE_BINOMIAL ? binomial_work(len) : (tr->k > 1 ? tr->k : 0);
  PN_CALL(pni_calloc(ctx, (size_t)tr->stored * width, sizeof(double), &tr->store, "trajectory"));
  tr->segment = nseg > 0 ? tr->store + (size_t)(tr->stored - nseg) * width : NULL;
  if (kind == PN_STORE_BINOMIAL) {
    tr->nslots = binomial_slots(param, len);
    int rc = pni_calloc(ctx, (size_t)tr->nslots, sizeof(long), &tr->pos, "checkpoint indices");
    if (rc != PN_OK) {
      pni_traj_free(tr);
      return rc;
    }
  }
  return PN_OK;
}

void pni_traj_free(pni_traj *tr)
{
  free(tr->store);
  free(tr->pos);
  tr->store = tr->segment = NULL;
  tr->pos = NULL;
}

/* ---- Binomial: forward plan and backward fetch. ---- */

static double *slot(const pni_traj *tr, long i) { return tr->store + (size_t)i * tr->width; }

static void push(pni_traj *tr, long n, const double *z)
{
  memcpy(slot(tr, tr->depth), z, sizeof(double) * tr->width);
  tr->pos[tr->depth++] = n;
}

/* Plan the next checkpoint of a sub-reversal of `len` steps from the top
 * checkpoint with `slots` checkpoints (the top one included). */
static void plan(pni_traj *tr, long len, long slots)
{
  tr->plan_len = len;
  tr->plan_slots = slots;
  tr->plan_next = len >= 2 ? tr->pos[tr->depth - 1] + pni_binomial_split(len, slots) : -1;
}

/* The forward sweep is the first advance of the schedule: it checkpoints
 * where the optimal splits fall and leaves z_{hi−1} in the working state. */
static void binomial_record(pni_traj *tr, long n, const double *z)
{
  if (n == tr->lo) {
    tr->depth = 0;
    push(tr, n, z);
    plan(tr, tr->hi - tr->lo, tr->nslots);
    return;
  }
  if (n != tr->plan_next) return;
  const long rest = tr->plan_len - (n - tr->pos[tr->depth - 1]);
  if (rest == 1) { /* the leaf z_{hi−1}: fetched first, never checkpointed */
    memcpy(tr->segment, z, sizeof(double) * tr->width);
    tr->seg_start = n;
    tr->plan_next = -1;
    return;
  }
  push(tr, n, z);
  plan(tr, rest, tr->plan_slots - 1);
}

/* The next split of the recomputation: advance job_j steps from job_a. */
static void binomial_split(pni_traj *tr)
{
  tr->job_j = pni_binomial_split(tr->job_len, tr->job_slots);
  tr->job_m = 0;
}

/* z_n for the backward sweep: a checkpoint, the working state, or a
 * recomputation from the top checkpoint that checkpoints at the optimal
 * splits of each sub-reversal on the way (Griewank's recursion, unrolled:
 * after the sub-reversal right of a split is done, its checkpoints have
 * been popped and the next fetch resumes with the one left of it). */
static int binomial_need(pni_traj *tr, long n, pni_traj_advance *adv)
{
  if (tr->asked != n) { /* a new request */
    tr->asked = n;
    tr->ready = NULL;
    tr->job_src = NULL;
    if (n >= tr->fetched) tr->depth = 1; /* a new sweep: start over from z_lo in slot 0 */
    if (tr->seg_start == n) {
      tr->ready = tr->segment;
      return 0;
    }
    while (tr->pos[tr->depth - 1] > n) tr->depth--; /* checkpoints the sweep has passed */
    if (tr->pos[tr->depth - 1] == n) {
      /* The last use of this checkpoint: free its slot; the pointer stays
       * valid until the next request, the first that may reuse it. */
      tr->ready = slot(tr, --tr->depth);
      return 0;
    }
    tr->job_a = tr->pos[tr->depth - 1];
    tr->job_len = n + 1 - tr->job_a;
    tr->job_slots = tr->nslots - tr->depth + 1;
    tr->job_src = slot(tr, tr->depth - 1);
    tr->seg_start = -1; /* the working state is overwritten from here on */
    binomial_split(tr);
  }
  if (tr->seg_start == n) {
    tr->ready = tr->segment;
    return 0;
  }
  *adv = (pni_traj_advance){tr->job_a + tr->job_m, tr->job_src, tr->segment};
  return 1;
}

static void binomial_advanced(pni_traj *tr)
{
  tr->job_src = tr->segment;
  if (++tr->job_m < tr->job_j) return;
  tr->job_a += tr->job_j;
  tr->job_len -= tr->job_j;
  if (tr->job_len == 1) { /* z_asked is in the working state */
    tr->seg_start = tr->asked;
    return;
  }
  push(tr, tr->job_a, tr->segment);
  tr->job_slots--;
  binomial_split(tr);
}

/* ---- Record and fetch. ---- */

void pni_traj_record(pni_traj *tr, long n, const double *z)
{
  const long i = n - tr->lo;
  if (i == 0) {
    tr->recomputed = 0;
    tr->seg_start = tr->build_start = -1;
    tr->recorded = tr->lo - 1;
    tr->fetched = tr->hi;
    tr->asked = LONG_MIN;
    tr->ready = NULL;
  }
  if (n != tr->recorded + 1 || n >= tr->hi) { /* out of order: refuse to fetch */
    tr->recorded = LONG_MIN;
    return;
  }
  tr->recorded = n;
  if (tr->kind == PN_STORE_BINOMIAL)
    binomial_record(tr, n, z);
  else if (i % tr->k == 0)
    memcpy(tr->store + (size_t)(i / tr->k) * tr->width, z, sizeof(double) * tr->width);
}

/* Every-k: z_n lies in the segment [start, min(start + k, hi)), recomputed
 * whole from its stored first state the first time one of it is asked for. */
static int every_need(pni_traj *tr, long n, pni_traj_advance *adv)
{
  const long i = n - tr->lo;
  const long start = tr->lo + (i / tr->k) * tr->k;
  const long end = start + tr->k < tr->hi ? start + tr->k : tr->hi;
  if (tr->seg_start != start && tr->build_start != start) {
    tr->seg_start = -1;
    tr->build_start = start;
    tr->fill = 1;
    memcpy(tr->segment, tr->store + (size_t)(i / tr->k) * tr->width, sizeof(double) * tr->width);
  }
  if (tr->seg_start != start && start + tr->fill < end) {
    *adv = (pni_traj_advance){start + tr->fill - 1,
                              tr->segment + (size_t)(tr->fill - 1) * tr->width,
                              tr->segment + (size_t)tr->fill * tr->width};
    return 1;
  }
  tr->seg_start = start;
  tr->build_start = -1;
  tr->ready = tr->segment + (size_t)(n - start) * tr->width;
  return 0;
}

int pni_traj_need(pni_traj *tr, long n, pni_traj_advance *adv)
{
  PN_CHECK(tr->ctx, tr->store && tr->recorded == tr->hi - 1, PN_ERR_STATE,
           "fetch of z_%ld before the forward sweep recorded z_%ld..z_%ld in order (call "
           "pni_traj_record for each, increasing)",
           n, tr->lo, tr->hi - 1);
  PN_CHECK(tr->ctx, n >= tr->lo && n < tr->hi, PN_ERR_ARG,
           "fetch of z_%ld outside this trajectory's steps [%ld, %ld)", n, tr->lo, tr->hi);
  if (n == tr->asked && tr->ready) return 0;
  if (tr->kind == PN_STORE_BINOMIAL) return binomial_need(tr, n, adv);
  tr->asked = n;
  tr->ready = NULL;
  if (tr->k > 1) return every_need(tr, n, adv);
  tr->ready = tr->store + (size_t)(n - tr->lo) * tr->width;
  return 0;
}

void pni_traj_advanced(pni_traj *tr)
{
  tr->recomputed++;
  if (tr->kind == PN_STORE_BINOMIAL) binomial_advanced(tr);
  else tr->fill++;
}

int pni_traj_fetch(pni_traj *tr, long n, const double **z_out)
{
  PN_CHECK(tr->ctx, n == tr->asked && tr->ready, PN_ERR_STATE,
           "fetch of z_%ld before it is ready (take the steps pni_traj_need asks for first)", n);
  *z_out = tr->ready;
  tr->fetched = n;
  return PN_OK;
}
