/* One rank's block of steps [lo, hi) for one micro-batch: the forward steps
 * (recording the trajectory, evaluating the labels this rank owns, keeping
 * requested states) and the backward steps of every gradient method
 * (discrete, continuous backsolve or interpolated; all labels or one).
 * Rank-local: no MPI; the parallel methods (pint.h) move the states and
 * adjoints between the blocks. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctx_impl.h"
#include "internal.h"
#include "loss_impl.h"
#include "solver_state.h"

int pni_solver_nonfinite(pn_solver *S, const char *what, long step, int b0, const double *x,
                         size_t n)
{
  const long i = pni_first_nonfinite(x, n);
  if (i < 0) return PN_OK;
  const int D = pn_model_dim(S->model);
  return pni_error(S->ctx, PN_ERR_NONFINITE, __FILE__, __LINE__, __func__,
                   "%s became %g at step %ld (t = %.17g), sample %ld, component %ld, on rank %d: "
                   "the dynamics diverged (reduce the step size or the learning rate)",
                   what, x[i], step, pni_solver_time(S, step), S->row0 + b0 + i / D, i % D,
                   S->ctx->rank);
}

/* A failure inside step n (a model callback, or recomputing a checkpointed
 * state) knows its time but not the step or the rank: append them. */
int pni_solver_in_step(pn_solver *S, int rc, const char *sweep, long n)
{
  if (rc == PN_OK) return rc;
  const size_t len = strlen(S->ctx->msg);
  snprintf(S->ctx->msg + len, sizeof S->ctx->msg - len,
           " (%s sweep, step %ld from t = %.17g, on rank %d)", sweep, n, pni_solver_time(S, n),
           S->ctx->rank);
  return rc;
}

/* Labels and outputs at grid index `step` for micro-batch rows [b0, b0+nb). */
static int forward_events(pn_solver *S, sweep *sw, long step, int b0, int nb, const double *z,
                          int *li, int *si)
{
  const size_t D = (size_t)pn_model_dim(S->model), w = (size_t)nb * D, B = (size_t)S->batch;
  const int sample0 = S->row0 + b0; /* in the caller's batch */
  for (; *li < S->nlabels && S->labels[*li].step == step; (*li)++) {
    double *jump = NULL;
    if (sw->jumps) {
      jump = S->jumps + ((size_t)*li * B + (size_t)b0) * D;
      memset(jump, 0, sizeof(double) * w);
    }
    PN_CALL(pni_loss_eval(sw->loss, S->ctx, S->labels[*li].id, sample0, nb, z, &sw->loss_local,
                          jump, S->scratch));
  }
  for (; *si < sw->nsaves && sw->saves[*si].step == step; (*si)++)
    memcpy(sw->states_out +
               ((size_t)sw->saves[*si].id * (size_t)S->full_batch + (size_t)sample0) * D,
           z, sizeof(double) * w);
  return PN_OK;
}

int pni_block_events(pn_solver *S, sweep *sw, long step, int m, const double *z, int *li, int *si)
{
  return forward_events(S, sw, step, S->mb0[m], pni_solver_micro(S, m), z, li, si);
}

int pni_block_forward(pn_solver *S, sweep *sw, int m, const double *theta, double *z)
{
  const int b0 = S->mb0[m], nb = pni_solver_micro(S, m);
  const size_t w = (size_t)nb * (size_t)pn_model_dim(S->model);
  const int tape = sw->store && S->store_kind == PN_STORE_STAGES;
  int li = 0, si = 0;
  if (S->lo == 0) PN_CALL(forward_events(S, sw, 0, b0, nb, z, &li, &si));
  for (long n = S->lo; n < S->hi; n++) {
    const double t = pni_solver_time(S, n);
    if (sw->store) pni_traj_record(&S->traj[m], n, z);
    const long rec = (long)m * (S->hi - S->lo) + (n - S->lo);
    PN_CALL(pni_solver_in_step(S, tape ? pni_step_record(&S->st, rec, t, S->h, nb, z, theta, z)
                                       : pni_step(&S->st, t, S->h, nb, z, theta, z),
                               "forward", n));
    if (S->opts.check_finite) PN_CALL(pni_solver_nonfinite(S, "the state", n + 1, b0, z, w));
    PN_CALL(forward_events(S, sw, n + 1, b0, nb, z, &li, &si));
  }
  S->stats.steps_forward += S->hi - S->lo;
  return PN_OK;
}

int pni_block_state(pn_solver *S, int m, long n, const double *theta, const double **z_out)
{
  pni_traj *tr = &S->traj[m];
  pni_traj_advance adv;
  int rc;
  while ((rc = pni_traj_need(tr, n, &adv)) == 1) {
    PN_CALL(pni_step(&S->st, pni_solver_time(S, adv.n), S->h, pni_solver_micro(S, m), adv.src,
                     theta, adv.dst));
    pni_traj_advanced(tr);
  }
  if (rc != PN_OK) return rc;
  return pni_traj_fetch(tr, n, z_out);
}

/* Add to lam (rows of one micro-batch) the jumps at grid index `step` of the
 * owned labels the sweep selects.  *li walks the owned labels (sorted by step)
 * downward; labels after the sweep's start are passed over. */
static void add_jumps(pn_solver *S, const bsweep *bw, int *li, long step, int b0, int nb,
                      double *lam)
{
  const size_t D = (size_t)pn_model_dim(S->model), w = (size_t)nb * D;
  while (*li >= 0 && S->labels[*li].step > step) (*li)--;
  for (; *li >= 0 && S->labels[*li].step == step; (*li)--) {
    if (bw->label >= 0 && S->labels[*li].id != bw->label) continue;
    const double *jump = S->jumps + ((size_t)*li * (size_t)S->batch + (size_t)b0) * D;
    for (size_t x = 0; x < w; x++) lam[x] += jump[x];
  }
}

/* The forward state of micro-batch m at grid index n ∈ [lo, hi]: z_hi is
 * what the forward sweep left in S->z, the others come from the trajectory
 * (valid until its next fetch). */
static int state_at(pn_solver *S, int m, long n, const double *theta, const double **z_out)
{
  if (n == S->hi) {
    *z_out = S->z + (size_t)S->mb0[m] * (size_t)pn_model_dim(S->model);
    return PN_OK;
  }
  return pni_block_state(S, m, n, theta, z_out);
}

/* Before the first step of a block, the continuous adjoints need z (and for
 * interp f) at the grid index `top` where this rank's part of the sweep
 * starts.  Backsolve starts from this rank's own forward state there (the
 * time-parallel form of backsolve: z is not passed between ranks); having no
 * trajectory, it recomputes that state from z_lo when top < hi (a
 * single-point sweep), with the forward sweep's own step: the same bits. */
static int continuous_start(pn_solver *S, int m, long top, int nb, const double *theta)
{
  method_ws *W = &S->mws;
  const size_t w = (size_t)nb * (size_t)pn_model_dim(S->model);
  if (S->adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE && top < S->hi) {
    memcpy(W->znode, W->zlo + (size_t)S->mb0[m] * (size_t)pn_model_dim(S->model),
           sizeof(double) * w);
    for (long n = S->lo; n < top; n++)
      PN_CALL(pni_step(&S->st, pni_solver_time(S, n), S->h, nb, W->znode, theta, W->znode));
    S->stats.steps_recomputed += top - S->lo;
    return PN_OK;
  }
  const double *z = NULL;
  PN_CALL(state_at(S, m, top, theta, &z));
  memcpy(W->znode, z, sizeof(double) * w);
  if (S->adjoint == PN_ADJOINT_CONTINUOUS_INTERP)
    PN_CALL(pni_cadj_rhs(&W->cadj, pni_solver_time(S, top), nb, W->znode, theta, W->fhi));
  return PN_OK;
}

/* Backward step n (from t_{n+1} to t_n) of micro-batch m by the call's method. */
static int backward_step(pn_solver *S, int m, long n, int nb, const double *theta, double *lam)
{
  method_ws *W = &S->mws;
  const double t = pni_solver_time(S, n), t_hi = pni_solver_time(S, n + 1);
  const double *zn = NULL;
  if (S->adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE)
    return pni_cadj_step_backsolve(&W->cadj, t_hi, S->h, nb, W->znode, theta, lam, S->theta_bar);
  if (S->adjoint == PN_ADJOINT_DISCRETE && S->store_kind == PN_STORE_STAGES) /* nothing to redo */
    return pni_step_adjoint_record(&S->st, (long)m * (S->hi - S->lo) + (n - S->lo), t, S->h, nb,
                                   theta, lam, S->theta_bar);
  PN_CALL(pni_block_state(S, m, n, theta, &zn));
  if (S->adjoint == PN_ADJOINT_DISCRETE)
    return pni_step_adjoint(&S->st, t, S->h, nb, zn, theta, lam, S->theta_bar);
  PN_CALL(pni_cadj_rhs(&W->cadj, t, nb, zn, theta, W->flo));
  PN_CALL(pni_cadj_step_interp(&W->cadj, t_hi, S->h, nb, zn, W->flo, W->znode, W->fhi, theta,
                               lam, S->theta_bar));
  /* z_n and f_n become the right node of step n − 1 (zn is only valid until
   * the next fetch, so it is copied). */
  memcpy(W->znode, zn, sizeof(double) * (size_t)nb * (size_t)pn_model_dim(S->model));
  double *f = W->fhi;
  W->fhi = W->flo;
  W->flo = f;
  return PN_OK;
}

/* Backsolve: how far the backsolved z drifted from the forward z_lo. */
static void backsolve_drift(pn_solver *S, bsweep *bw, int m, size_t w)
{
  const double *zlo = S->mws.zlo + (size_t)S->mb0[m] * (size_t)pn_model_dim(S->model);
  for (size_t x = 0; x < w; x++) {
    const double d = S->mws.znode[x] - zlo[x];
    bw->zerr_num += d * d;
    bw->zerr_den += zlo[x] * zlo[x];
  }
}

/* Steps the trajectory of micro-batch m recomputed so far (0 without one). */
static long traj_recomputed(const pn_solver *S, int m)
{
  return S->traj_ready ? S->traj[m].recomputed : 0;
}

int pni_block_backward(pn_solver *S, bsweep *bw, int m, const double *theta, double *lam)
{
  const int b0 = S->mb0[m], nb = pni_solver_micro(S, m);
  const size_t w = (size_t)nb * (size_t)pn_model_dim(S->model);
  const long top = bw->top < S->hi ? bw->top : S->hi;
  const long recomputed0 = traj_recomputed(S, m);
  const int backsolve = S->adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE;
  int li = S->nlabels - 1;
  add_jumps(S, bw, &li, top, b0, nb, lam); /* the label where my part starts is mine */
  if (S->adjoint != PN_ADJOINT_DISCRETE && top > S->lo)
    PN_CALL(continuous_start(S, m, top, nb, theta));
  for (long n = top - 1; n >= S->lo; n--) {
    PN_CALL(pni_solver_in_step(S, backward_step(S, m, n, nb, theta, lam), "backward", n));
    if (S->opts.check_finite) {
      PN_CALL(pni_solver_nonfinite(S, "the adjoint", n, b0, lam, w));
      if (backsolve)
        PN_CALL(pni_solver_nonfinite(S, "the backsolved state", n, b0, S->mws.znode, w));
    }
    if (n > S->lo || S->lo == 0) add_jumps(S, bw, &li, n, b0, nb, lam);
  }
  if (backsolve && top > S->lo) backsolve_drift(S, bw, m, w);
  S->stats.steps_recomputed += traj_recomputed(S, m) - recomputed0;
  return PN_OK;
}
