/* Affine maps composed across ranks by a parallel prefix.
 *
 * A rank's map is, per sample, x ↦ A x + c (A: D×D row-major, c: D), packed
 * as B consecutive (A, c) records.  Maps compose associatively but not
 * commutatively: (A₂, c₂) ∘ (A₁, c₁) = (A₂A₁, A₂c₁ + c₂).  The exclusive
 * scan gives each of n ranks, in a chosen order, the composition of the maps
 * of the ranks before it (the first one applied first): one Sendrecv per
 * round, ⌈log₂ n⌉ rounds (recursive doubling, the order of the operands kept
 * as the operator requires).  It needs no MPI operator or datatype, so it
 * runs the same on every MPI, simulated ones included.
 *
 * Users: the Parareal affine-map adjoint (right to left: λ_lo = M λ_hi + j)
 * and Newton shooting (left to right: δ_{r+1} = J_r δ_r + d_{r+1}, and its
 * adjoint right to left). */
#ifndef PINODE_SCAN_H
#define PINODE_SCAN_H

#include <stddef.h>

#include "pinode/ctx.h"

typedef struct pni_scan {
  pn_ctx *ctx;
  int B, D;
  size_t len;       /* doubles of one packed set of maps: B·(D² + D) */
  double *mine;     /* this rank's maps: the caller fills them */
  double *result;   /* after the scan: the maps before this rank, composed */
  int has_result;   /* 0 on the first rank of the order (nothing before it) */
  double *partial, *incoming, *tmp; /* work */
  long rounds;      /* Sendrecv rounds taken, summed over calls */
} pni_scan;

size_t pni_scan_bytes(int B, int D);
int pni_scan_init(pni_scan *sc, pn_ctx *ctx, int B, int D);
void pni_scan_free(pni_scan *sc);

/* Record b of a packed set: A (D² doubles), then c (D). */
static inline double *pni_scan_record(const pni_scan *sc, double *maps, int b)
{
  return maps + (size_t)b * ((size_t)sc->D * (size_t)sc->D + (size_t)sc->D);
}

/* out = later ∘ early for every sample (out may not alias either). */
void pni_scan_compose(const pni_scan *sc, const double *early, const double *later, double *out);

/* Collective over the n ranks of the order: this rank is number `me` of it,
 * and number i is the communicator rank first + i·stride (stride ±1).
 * Composes `mine` of the ranks 0..me−1 into `result` (has_result = me > 0). */
int pni_scan_exclusive(pni_scan *sc, int me, int n, int first, int stride, int tag);

#endif
