/* Trajectory storage of one rank's block of steps [lo, hi), for one batch of
 * `width` doubles per state.  The forward sweep records z_n for n = lo..hi−1
 * in order; the backward sweep fetches them for n = hi−1 down to lo.
 * The store only stores: where a policy keeps fewer states, it asks its
 * caller to take the steps that recompute the others (pni_traj_need), and
 * the caller takes them with the forward sweep's own step function, so the
 * states are bitwise those of the forward sweep:
 *
 *     pni_traj_advance adv;
 *     while ((rc = pni_traj_need(tr, n, &adv)) == 1) {
 *       step from adv.src at grid index adv.n into adv.dst;
 *       pni_traj_advanced(tr);
 *     }
 *     if (rc == PN_OK) rc = pni_traj_fetch(tr, n, &z);
 *
 *
 * Policies (pn_storage_kind; AUTO is resolved by the solver before this):
 *   ALL       every state: N states, no recomputation.
 *   EVERY     every k-th state plus one recomputed segment of k states:
 *             ⌈N/k⌉ + k states, N − ⌈N/k⌉ steps recomputed.
 *   BINOMIAL  Griewank–Walther binomial checkpointing ("Revolve", offline:
 *             N known) with c checkpoints.  Convention: c counts every
 *             checkpoint including z_lo (so c ≥ 1), and the storage also holds
 *             one working state (Revolve's "current state"): min(c+1, N)
 *             states in all.  With r the smallest integer with
 *             β(c, r) = C(c+r, c) ≥ N, reversing N steps takes
 *             t(N, c) = r·N − β(c+1, r−1) forward steps (Griewank 1992), the
 *             minimum over all schedules; N − 1 of those are the first sweep,
 *             which the solver's forward sweep does anyway (it records while
 *             it computes the loss), so the steps recomputed are exactly
 *             t(N, c) − (N − 1) = pni_binomial_recompute(N, c).
 *             Memory is O(c): c + 1 states and c grid indices, nothing O(N).
 *
 * Not collective; no MPI. */
#ifndef PINODE_TRAJ_H
#define PINODE_TRAJ_H

#include <stddef.h>

#include "pinode/ctx.h"
#include "pinode/solver.h"

/* A step the store asks for: from the state src at grid index n into dst
 * (dst may be src: the binomial policy advances its working state in place). */
typedef struct pni_traj_advance {
  long n;
  const double *src;
  double *dst;
} pni_traj_advance;

typedef struct pni_traj {
  pn_ctx *ctx;
  pn_storage_kind kind;
  long lo, hi, k;   /* k: checkpoint stride (every-k), or c (binomial) */
  size_t width;
  double *store;    /* all states, every k-th state, or the c checkpoint slots */
  double *segment;  /* every-k: recomputed states of the current segment;
                       binomial: the working state */
  long seg_start;   /* every-k: grid index of segment[0], −1 if none;
                       binomial: grid index of the working state, −1 if none */
  long recomputed;  /* steps recomputed since the last record of lo */
  long stored;      /* states held */
  /* Binomial: slots 0..depth−1 hold the checkpoints at grid indices pos[i]
   * (increasing: a stack, since the backward sweep consumes them last-in
   * first-out).  Forward plan: the next index to checkpoint, with the length
   * and checkpoint count of the sub-reversal it splits. */
  long nslots, depth, *pos;
  long plan_next, plan_len, plan_slots;
  /* The recomputation in progress.  Every-k: the segment starting at
   * build_start (−1: none) holds `fill` states.  Binomial: from the
   * checkpoint at job_a, job_len steps with job_slots checkpoints, of which
   * the first split job_j is advanced job_m steps so far, towards z_asked. */
  long build_start, fill;
  long job_a, job_len, job_slots, job_j, job_m;
  const double *job_src;
  /* Order checks: the last index recorded (lo−1: none) and fetched (hi:
   * none); the index asked for (LONG_MIN: none) and whether it is ready. */
  long recorded, fetched, asked;
  const double *ready; /* z_asked, or NULL while steps are missing */
} pni_traj;

/* β(s, r) = C(s + r, s), the most steps s checkpoints can reverse when no
 * step is advanced more than r times; 0 for r < 0; saturates at LONG_MAX. */
long pni_binomial_beta(long s, long r);

/* The repetition number: the smallest r ≥ 0 with β(c, r) ≥ N (N, c ≥ 1). */
long pni_binomial_reps(long nsteps, long c);

/* Minimal steps recomputed to reverse N steps with c checkpoints (convention
 * above): r·N − β(c+1, r−1) − (N − 1). */
long pni_binomial_recompute(long nsteps, long c);

/* An optimal first advance j (1 ≤ j < l) for reversing l ≥ 2 steps from a
 * checkpoint with s ≥ 1 checkpoints (that one included): the largest j with
 * j + t(l−j, s−1) + t(j, s) = t(l, s). */
long pni_binomial_split(long l, long s);

/* States a policy holds for a block of len steps (see the table above). */
long pni_traj_states(pn_storage_kind kind, long param, long len);

/* Steps a policy recomputes in one full backward sweep of len steps. */
long pni_traj_recompute(pn_storage_kind kind, long param, long len);

/* Bytes a trajectory of this shape holds. */
size_t pni_traj_bytes(pn_storage_kind kind, long param, long lo, long hi, size_t width);

/* kind: ALL, EVERY (param = k ≥ 1) or BINOMIAL (param = c ≥ 1); PN_ERR_ARG
 * otherwise, PN_ERR_MEM if out of memory (tr is then freed). */
int pni_traj_init(pni_traj *tr, pn_ctx *ctx, pn_storage_kind kind, long param, long lo, long hi,
                  size_t width);
void pni_traj_free(pni_traj *tr);

/* Forward: remember z_n (n = lo..hi−1, increasing; recording lo starts over). */
void pni_traj_record(pni_traj *tr, long n, const double *z);

/* Backward: what it takes to fetch z_n.  0 (PN_OK): z_n is ready; 1: first
 * take the step *adv describes, then call pni_traj_advanced and ask again.
 * PN_ERR_STATE if the forward sweep did not record all of lo..hi−1 first,
 * PN_ERR_ARG if n is outside [lo, hi).  Asking again without the step hands
 * out the same step.  The steps taken are the fewest the policy allows for
 * n = hi−1, hi−2, ..., lo; any other order is correct too (asking above the
 * previous fetch starts over from z_lo, as a new sweep would). */
int pni_traj_need(pni_traj *tr, long n, pni_traj_advance *adv);

/* The step pni_traj_need asked for has been taken. */
void pni_traj_advanced(pni_traj *tr);

/* *z_out = z_n once pni_traj_need(n) said it is ready (PN_ERR_STATE
 * otherwise), valid until the next pni_traj_need of another index. */
int pni_traj_fetch(pni_traj *tr, long n, const double **z_out);

#endif
