/* The exclusive scan of affine maps (scan.h). */
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "internal.h"
#include "scan.h"

size_t pni_scan_bytes(int B, int D)
{
  return sizeof(double) * 5 * (size_t)B * ((size_t)D * (size_t)D + (size_t)D);
}

int pni_scan_init(pni_scan *sc, pn_ctx *ctx, int B, int D)
{
  memset(sc, 0, sizeof *sc);
  sc->ctx = ctx;
  sc->B = B;
  sc->D = D;
  sc->len = (size_t)B * ((size_t)D * (size_t)D + (size_t)D);
  PN_CHECK(ctx, sc->len <= (size_t)2147483647, PN_ERR_LIMIT,
           "the affine maps of a block (%zu doubles for batch %d and dimension %d) are too large "
           "for one MPI message",
           sc->len, B, D);
  PN_CALL(pni_calloc(ctx, 5 * sc->len, sizeof(double), &sc->mine, "affine maps"));
  sc->result = sc->mine + sc->len;
  sc->partial = sc->result + sc->len;
  sc->incoming = sc->partial + sc->len;
  sc->tmp = sc->incoming + sc->len;
  return PN_OK;
}

void pni_scan_free(pni_scan *sc)
{
  free(sc->mine);
  memset(sc, 0, sizeof *sc);
}

void pni_scan_compose(const pni_scan *sc, const double *early, const double *later, double *out)
{
  const int D = sc->D;
  const size_t rec = (size_t)D * D + (size_t)D;
  for (int b = 0; b < sc->B; b++) {
    const double *Ae = early + (size_t)b * rec, *ce = Ae + (size_t)D * D;
    const double *Al = later + (size_t)b * rec, *cl = Al + (size_t)D * D;
    double *A = out + (size_t)b * rec, *c = A + (size_t)D * D;
    for (int i = 0; i < D; i++) {
      double s = cl[i];
      for (int k = 0; k < D; k++) s += Al[i * D + k] * ce[k];
      c[i] = s;
      for (int j = 0; j < D; j++) {
        double m = 0.0;
        for (int k = 0; k < D; k++) m += Al[i * D + k] * Ae[k * D + j];
        A[i * D + j] = m;
      }
    }
  }
}

/* x ← x after `early` (early applied first), through tmp. */
static void after(pni_scan *sc, const double *early, double *x)
{
  pni_scan_compose(sc, early, x, sc->tmp);
  memcpy(x, sc->tmp, sizeof(double) * sc->len);
}

/* x ← `later` after x, through tmp. */
static void before(pni_scan *sc, double *x, const double *later)
{
  pni_scan_compose(sc, x, later, sc->tmp);
  memcpy(x, sc->tmp, sizeof(double) * sc->len);
}

/* Recursive doubling: after the round with distance `mask`, `partial` holds
 * the composition of the ranks of this rank's aligned group of 2·mask (its
 * own included) and `result` that of the ones of the group before this rank.
 * The partner's group lies wholly before or after this rank's, which fixes
 * the order of each composition. */
int pni_scan_exclusive(pni_scan *sc, int me, int n, int first, int stride, int tag)
{
  const int count = (int)sc->len;
  memcpy(sc->partial, sc->mine, sizeof(double) * sc->len);
  sc->has_result = 0;
  for (int mask = 1; mask < n; mask <<= 1) {
    const int partner = me ^ mask;
    if (partner >= n) continue;
    PN_CALL(pni_comm_sendrecv(sc->ctx, MPI_COMM_NULL, sc->partial, count, first + partner * stride,
                              sc->incoming, count, first + partner * stride, MPI_DOUBLE, tag,
                              "composing affine maps across the ranks"));
    sc->rounds++;
    if (partner < me) { /* the incoming maps come before mine */
      after(sc, sc->incoming, sc->partial);
      if (sc->has_result) {
        after(sc, sc->incoming, sc->result);
      } else {
        memcpy(sc->result, sc->incoming, sizeof(double) * sc->len);
        sc->has_result = 1;
      }
    } else {
      before(sc, sc->partial, sc->incoming);
    }
  }
  return PN_OK;
}
