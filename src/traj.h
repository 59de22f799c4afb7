/* Trajectory storage of one rank's block of steps [lo, hi), for one batch of
 * `width` doubles per state.  The forward sweep records z_n for n = lo..hi−1
 * in order; the backward sweep fetches them for n = hi−1 down to lo.
 * Policies that store fewer states recompute the others with `advance`
 * (the same step function as the forward sweep, so results are bitwise equal). */
#ifndef PINODE_TRAJ_H
#define PINODE_TRAJ_H

#include <stddef.h>

#include "pinode/ctx.h"
#include "pinode/solver.h"

/* z_next = one step from z_n at grid index n. */
typedef int (*pni_advance_fn)(void *arg, long n, const double *z, double *z_next);

typedef struct pni_traj {
  pn_storage_kind kind;
  long lo, hi, k;   /* k: checkpoint stride (every-k) */
  size_t width;
  double *store;    /* checkpoints (or all states) */
  double *segment;  /* every-k: recomputed states of the current segment */
  long seg_start;   /* grid index of segment[0], −1 if none */
  pni_advance_fn advance;
  void *arg;
  long recomputed;  /* steps recomputed since the last record of lo */
  long stored;      /* states held */
} pni_traj;

/* Bytes a trajectory of this shape holds. */
size_t pni_traj_bytes(pn_storage_kind kind, long param, long lo, long hi, size_t width);

int pni_traj_init(pni_traj *tr, pn_ctx *ctx, pn_storage_kind kind, long param, long lo, long hi,
                  size_t width, pni_advance_fn advance, void *arg);
void pni_traj_free(pni_traj *tr);

/* Forward: remember z_n (n = lo..hi−1, increasing). */
void pni_traj_record(pni_traj *tr, long n, const double *z);

/* Backward: *z_out = z_n (n = hi−1..lo, decreasing); valid until the next fetch. */
int pni_traj_fetch(pni_traj *tr, long n, const double **z_out);

#endif
