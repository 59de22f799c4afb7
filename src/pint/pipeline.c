/* The pipeline (docs/parallel.md): contiguous blocks of steps, the batch split
 * into micro-batches that flow through the ranks.  Rank r works on
 * micro-batch m while rank r−1 already works on m+1 (non-blocking messages,
 * one link slot per micro-batch); the backward sweeps drain the same way
 * from right to left.  Exact: the same numbers as one rank.  Every gradient
 * method runs on it: discrete or continuous adjoints, multi- or
 * single-point sweeps.
 *
 * A failure is passed on in the message status so that no rank waits
 * forever; the solver agrees on the outcome. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "internal.h"
#include "loss_impl.h"
#include "solver_state.h"

typedef struct pipeline {
  pni_link link; /* one slot per micro-batch, sized for its rows */
  int batch, nmicro; /* the layout the link was made for */
} pipeline;

/* With M micro-batches the pipeline leaves every rank idle for (P−1) of
 * M+P−1 micro-batch slots (fill and drain), so more micro-batches help; but
 * each one also costs a fixed amount per step, about KAPPA samples' worth of
 * work (smaller matrix products run at a lower rate, and the stepper's
 * per-call work is per micro-batch).  Time ∝ (M+P−1)/M · (KAPPA·M + B) is
 * least at M* = √((P−1)·B/KAPPA): M = 1 on one rank, and e.g. 2 for B = 16
 * (√5.3) or 9 for B = 256 (√85) on two ranks.  KAPPA = 3 fits the one-rank
 * costs of the benchmark problems at M = 1..64 best (docs/parallel.md). */
int pn_pipeline_auto_microbatches(int ranks, int batch)
{
  const double KAPPA = 3.0;
  const long M = lround(sqrt((double)(ranks > 1 ? ranks - 1 : 0) * (double)batch / KAPPA));
  if (M < 1) return 1;
  return M < batch ? (int)M : batch;
}

static int microbatches(const pn_solver *S, int batch)
{
  return S->opts.microbatches > 0 ? S->opts.microbatches
                                  : pn_pipeline_auto_microbatches(S->size, batch);
}

static int validate(pn_ctx *ctx, const pn_solver_opts *opts)
{
  (void)ctx;
  (void)opts;
  return PN_OK;
}

static int supports(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode)
{
  (void)S;
  (void)adjoint;
  (void)mode;
  return PN_OK;
}

static int create(pn_solver *S)
{
  return pni_calloc(S->ctx, 1, sizeof(pipeline), &S->pint_state, "pipeline");
}

static void destroy(pn_solver *S)
{
  pipeline *p = S->pint_state;
  if (p) pni_link_free(&p->link);
  free(p);
  S->pint_state = NULL;
}

static size_t bytes(const pn_solver *S, int batch)
{
  const int M = microbatches(S, batch) < batch ? microbatches(S, batch) : batch;
  return sizeof(pipeline) +
         pni_link_bytes(M, (size_t)batch * (size_t)pn_model_dim(S->model));
}

/* The link for the solver's current micro-batches, made when they change. */
static int ensure_link(pn_solver *S)
{
  pipeline *p = S->pint_state;
  if (p->link.nslots && p->batch == S->batch && p->nmicro == S->nmicro) return PN_OK;
  pni_link_free(&p->link);
  p->batch = p->nmicro = 0;
  size_t *len = NULL;
  PN_CALL(pni_calloc(S->ctx, (size_t)S->nmicro, sizeof(size_t), &len, "message sizes"));
  for (int m = 0; m < S->nmicro; m++)
    len[m] = (size_t)pni_solver_micro(S, m) * (size_t)pn_model_dim(S->model);
  const int rc = pni_link_init(&p->link, S->ctx, S->nmicro, len);
  free(len);
  PN_CALL(rc);
  p->batch = S->batch;
  p->nmicro = S->nmicro;
  return PN_OK;
}

/* Post the receives in the order the sweep visits the micro-batches: MPI
 * matches messages of one sender and tag in posting order. */
static int post_receives(pn_solver *S, int from, int tag, int descending)
{
  pipeline *p = S->pint_state;
  for (int i = 0; i < S->nmicro; i++)
    PN_CALL(pni_link_post(&p->link, descending ? S->nmicro - 1 - i : i, pni_solver_peer(S, from),
                          tag));
  return PN_OK;
}

/* Complete the sends and account the waits of a sweep. */
static int finish_sweep(pn_solver *S)
{
  pipeline *p = S->pint_state;
  const int rc = pni_link_wait_sends(&p->link);
  S->stats.time_wait += p->link.time_wait;
  p->link.time_wait = 0.0;
  return rc;
}

static int forward(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  const size_t D = (size_t)pn_model_dim(S->model);
  const double t = pni_wtime();
  int rc = ensure_link(S), upstream = PN_OK;
  if (rc != PN_OK) return rc;
  pipeline *p = S->pint_state;
  if (S->rank > 0) rc = post_receives(S, S->rank - 1, PNI_TAG_FORWARD, 0);
  for (int m = 0; m < S->nmicro; m++) {
    double *z = S->z + (size_t)S->mb0[m] * D;
    const size_t len = (size_t)pni_solver_micro(S, m) * D;
    if (S->rank == 0) {
      memcpy(z, z0 + (size_t)S->mb0[m] * D, sizeof(double) * len);
    } else if (rc == PN_OK) {
      int status = PN_OK;
      rc = pni_link_receive(&p->link, m, z, &status);
      if (status != PN_OK) upstream = PN_ERR_REMOTE;
    }
    if (sw->zlo) memcpy(sw->zlo + (size_t)S->mb0[m] * D, z, sizeof(double) * len);
    if (rc == PN_OK && upstream == PN_OK) rc = pni_block_forward(S, sw, m, theta, z);
    if (S->rank < S->size - 1) {
      const int sent = pni_link_send(&p->link, m, z, rc != PN_OK ? rc : upstream,
                                     pni_solver_peer(S, S->rank + 1), PNI_TAG_FORWARD);
      if (rc == PN_OK) rc = sent;
    }
  }
  const int done = finish_sweep(S);
  S->stats.time_forward += pni_wtime() - t;
  return rc != PN_OK ? rc : done;
}

/* One pipelined backward sweep.  Rank r takes part if the sweep starts
 * right of its lo (rank 0 always: it holds ∂L/∂z0); it receives λ from
 * r + 1 if the sweep starts right of its hi.  *rc carries this rank's
 * status across sweeps: after a failure it still passes messages on (with
 * the error as status), so that no rank waits forever; a failure upstream
 * only skips the work (the solver's agreement reports the failing rank's
 * own message). */
static void backward_sweep(pn_solver *S, bsweep *bw, const double *theta, int *rc)
{
  const size_t D = (size_t)pn_model_dim(S->model);
  const int take_part = bw->top > S->lo || S->rank == 0;
  const int from_right = S->rank < S->size - 1 && bw->top > S->hi;
  if (!take_part) return;
  pipeline *p = S->pint_state;
  const double t = pni_wtime();
  int upstream = PN_OK, mpi = PN_OK;
  if (from_right) mpi = post_receives(S, S->rank + 1, PNI_TAG_BACKWARD, 1);
  for (int m = S->nmicro - 1; m >= 0; m--) {
    double *lam = S->lam + (size_t)S->mb0[m] * D;
    if (!from_right) {
      memset(lam, 0, sizeof(double) * (size_t)pni_solver_micro(S, m) * D);
    } else if (mpi == PN_OK) {
      int status = PN_OK;
      mpi = pni_link_receive(&p->link, m, lam, &status);
      if (status != PN_OK) upstream = PN_ERR_REMOTE;
    }
    if (*rc == PN_OK && mpi != PN_OK) *rc = mpi;
    if (*rc == PN_OK && upstream == PN_OK) *rc = pni_block_backward(S, bw, m, theta, lam);
    if (S->rank > 0) {
      const int sent = pni_link_send(&p->link, m, lam, *rc != PN_OK ? *rc : upstream,
                                     pni_solver_peer(S, S->rank - 1), PNI_TAG_BACKWARD);
      if (*rc == PN_OK) *rc = sent;
    }
  }
  const int done = finish_sweep(S);
  if (*rc == PN_OK) *rc = done;
  if (bw->zerr_den > 0.0 && sqrt(bw->zerr_num / bw->zerr_den) > S->stats.backsolve_z_err)
    S->stats.backsolve_z_err = sqrt(bw->zerr_num / bw->zerr_den);
  S->stats.sweeps_backward++;
  S->stats.time_backward += pni_wtime() - t;
}

/* Every backward sweep of the call: one with all jumps (multi-point), or one
 * per label from its step back to t0 (single-point), the same on every rank.
 * θ̄ sums over the sweeps; rank 0 sums ∂L/∂z0 into mws.z0bar. */
static int backward(pn_solver *S, const pn_loss *loss, const double *theta)
{
  int rc = PN_OK;
  memset(S->theta_bar, 0, sizeof(double) * (size_t)pn_model_nparam(S->model));
  if (S->sweep == PN_SWEEP_MULTI) {
    bsweep bw = {.label = -1, .top = S->opts.nsteps};
    backward_sweep(S, &bw, theta, &rc);
    return rc;
  }
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  const int K = loss ? loss->nlabels : 0;
  memset(S->mws.z0bar, 0, sizeof(double) * w);
  for (int k = 0; k < K; k++) {
    bsweep bw = {.label = k, .top = pni_solver_label_steps(S)[k]};
    backward_sweep(S, &bw, theta, &rc);
    if (S->rank == 0)
      for (size_t x = 0; x < w; x++) S->mws.z0bar[x] += S->lam[x];
  }
  return rc;
}

const pni_pint_ops pni_pipeline_ops = {
    .name = "pipeline",
    .validate = validate,
    .supports = supports,
    .create = create,
    .destroy = destroy,
    .microbatches = microbatches,
    .bytes = bytes,
    .forward = forward,
    .backward = backward,
};
