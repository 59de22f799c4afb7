/* Trajectory storage: every state, or every k-th state with the states in
 * between recomputed one segment at a time. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "traj.h"

static long stride_of(pn_storage_kind kind, long param, long len)
{
  if (kind != PN_STORE_EVERY) return 1;
  return param < 1 ? 1 : (param > len ? len : param);
}

size_t pni_traj_bytes(pn_storage_kind kind, long param, long lo, long hi, size_t width)
{
  const long len = hi - lo, k = stride_of(kind, param, len);
  const long nstore = (len + k - 1) / k;
  const long nseg = k > 1 ? k : 0;
  return sizeof(double) * width * (size_t)(nstore + nseg);
}

int pni_traj_init(pni_traj *tr, pn_ctx *ctx, pn_storage_kind kind, long param, long lo, long hi,
                  size_t width, pni_advance_fn advance, void *arg)
{
  memset(tr, 0, sizeof *tr);
  const long len = hi - lo;
  tr->kind = kind;
  tr->lo = lo;
  tr->hi = hi;
  tr->k = stride_of(kind, param, len);
  tr->width = width;
  tr->advance = advance;
  tr->arg = arg;
  tr->seg_start = -1;
  const long nstore = (len + tr->k - 1) / tr->k;
  PN_CALL(pni_calloc(ctx, (size_t)nstore * width, sizeof(double), &tr->store, "trajectory"));
  tr->stored = nstore;
  if (tr->k > 1) {
    int rc = pni_calloc(ctx, (size_t)tr->k * width, sizeof(double), &tr->segment,
                        "recomputed segment");
    if (rc != PN_OK) {
      pni_traj_free(tr);
      return rc;
    }
    tr->stored += tr->k;
  }
  return PN_OK;
}

void pni_traj_free(pni_traj *tr)
{
  free(tr->store);
  free(tr->segment);
  tr->store = tr->segment = NULL;
}

void pni_traj_record(pni_traj *tr, long n, const double *z)
{
  const long i = n - tr->lo;
  if (i == 0) {
    tr->recomputed = 0;
    tr->seg_start = -1;
  }
  if (i % tr->k == 0) memcpy(tr->store + (size_t)(i / tr->k) * tr->width, z, sizeof(double) * tr->width);
}

int pni_traj_fetch(pni_traj *tr, long n, const double **z_out)
{
  const long i = n - tr->lo;
  if (tr->k == 1) {
    *z_out = tr->store + (size_t)i * tr->width;
    return PN_OK;
  }
  const long start = tr->lo + (i / tr->k) * tr->k;
  if (tr->seg_start != start) { /* recompute the segment [start, min(start+k, hi)) once */
    const long end = start + tr->k < tr->hi ? start + tr->k : tr->hi;
    memcpy(tr->segment, tr->store + (size_t)(i / tr->k) * tr->width, sizeof(double) * tr->width);
    for (long m = start; m + 1 < end; m++) {
      PN_CALL(tr->advance(tr->arg, m, tr->segment + (size_t)(m - start) * tr->width,
                          tr->segment + (size_t)(m + 1 - start) * tr->width));
      tr->recomputed++;
    }
    tr->seg_start = start;
  }
  *z_out = tr->segment + (size_t)(n - start) * tr->width;
  return PN_OK;
}
