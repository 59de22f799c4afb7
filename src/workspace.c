/* The solver's workspaces for a batch (micro-batches, trajectories, the
 * stepper, state and adjoint buffers), made only when the batch or what it
 * needs changes, and the labels of a call that this rank owns. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "loss_impl.h"
#include "solver_state.h"
#include "tdecomp.h"

void pni_solver_free_workspace(pn_solver *S)
{
  if (S->traj)
    for (int m = 0; m < S->nmicro; m++) pni_traj_free(&S->traj[m]);
  free(S->traj);
  free(S->mb0);
  free(S->z);
  free(S->theta_bar);
  S->traj = NULL;
  S->mb0 = NULL;
  S->z = S->lam = S->scratch = NULL;
  S->theta_bar = NULL;
  S->batch = S->nmicro = 0;
  S->traj_ready = 0;
  pni_stepper_free(&S->st);
}

/* Micro-batch count: the method's, never more than the batch. */
static int microbatches(const pn_solver *S, int batch)
{
  const int M = S->pint->microbatches(S, batch);
  return M < batch ? M : batch;
}

int pni_solver_setup_batch(pn_solver *S, int batch, int with_traj)
{
  const int M = microbatches(S, batch);
  pn_storage_kind kind = S->store_kind;
  long param = S->store_param;
  if (batch == S->batch && M == S->nmicro && (!with_traj || S->traj_ready) &&
      pni_budget_still_fits(S, batch, M, with_traj)) {
    if (with_traj) pni_budget_stats(S);
    return PN_OK;
  }
  PN_CALL(pni_budget_check(S, batch, M, with_traj, &kind, &param));
  pni_solver_free_workspace(S);
  pn_ctx *ctx = S->ctx;
  const size_t D = (size_t)pn_model_dim(S->model), w = (size_t)batch * D;
  int rc = PN_OK;
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)M + 1, sizeof(int), &S->mb0, "micro-batches"));
  S->max_micro = 0;
  for (int m = 0; m < M; m++) {
    long lo, hi;
    pn_split(batch, M, m, &lo, &hi);
    S->mb0[m + 1] = (int)hi;
    if (hi - lo > S->max_micro) S->max_micro = (int)(hi - lo);
  }
  PN_CALL_GOTO(rc, pni_calloc(ctx, 3 * w, sizeof(double), &S->z, "state buffers"));
  S->lam = S->z + w;
  S->scratch = S->lam + w;
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)pn_model_nparam(S->model), sizeof(double),
                              &S->theta_bar, "parameter gradient"));
  PN_CALL_GOTO(rc, pni_stepper_init(&S->st, ctx, S->tab, S->model, S->max_micro));
  S->batch = batch;
  S->nmicro = M;
  if (with_traj) {
    PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)M, sizeof(pni_traj), &S->traj, "trajectories"));
    for (int m = 0; m < M; m++)
      PN_CALL_GOTO(rc, pni_traj_init(&S->traj[m], ctx, pni_budget_traj_kind(kind), param, S->lo,
                                     S->hi, (size_t)pni_solver_micro(S, m) * D));
    if (kind == PN_STORE_STAGES) /* record r = m·(hi − lo) + n − lo: step n of micro-batch m */
      PN_CALL_GOTO(rc, pni_stepper_tape(&S->st, (long)M * (S->hi - S->lo)));
    S->store_kind = kind;
    S->store_param = param;
    S->traj_ready = 1;
    pni_budget_stats(S);
  }
  return PN_OK;
cleanup:
  pni_solver_free_workspace(S);
  return rc;
}

int pni_event_cmp(const void *a, const void *b)
{
  const event *x = a, *y = b;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

int pni_solver_bind_labels(pn_solver *S, const pn_loss *loss, int batch)
{
  pn_ctx *ctx = S->ctx;
  S->nlabels = 0;
  if (!loss) return PN_OK;
  PN_CHECK(ctx, loss->batch == batch && loss->dim == pn_model_dim(S->model), PN_ERR_ARG,
           "the loss was made for batch %d and dimension %d, but the solve has batch %d and "
           "dimension %d",
           loss->batch, loss->dim, batch, pn_model_dim(S->model));
  const int K = loss->nlabels;
  if (K == 0) return PN_OK;
  if (K > S->cap_labels) {
    free(S->labels);
    S->labels = NULL;
    S->cap_labels = 0;
    PN_CALL(pni_calloc(ctx, (size_t)K, sizeof(event) + sizeof(long), &S->labels, "labels"));
    S->cap_labels = K;
  }
  long *steps = (long *)(S->labels + S->cap_labels);
  PN_CALL(pni_loss_bind(loss, ctx, S->opts.t0, S->opts.t1, S->opts.nsteps, steps));
  for (int k = 0; k < K; k++)
    if (pni_owns(S->lo, S->hi, steps[k])) S->labels[S->nlabels++] = (event){steps[k], k};
  qsort(S->labels, (size_t)S->nlabels, sizeof(event), pni_event_cmp);
  return PN_OK;
}

/* pni_solver_bind_labels stores them right after the owned-label array. */
const long *pni_solver_label_steps(const pn_solver *S)
{
  return (const long *)(S->labels + S->cap_labels);
}

int pni_solver_ensure_jumps(pn_solver *S, int batch)
{
  const size_t need = (size_t)S->nlabels * (size_t)batch * (size_t)pn_model_dim(S->model);
  if (need <= S->cap_jumps && S->jumps) return PN_OK;
  free(S->jumps);
  S->jumps = NULL;
  S->cap_jumps = 0;
  PN_CALL(pni_calloc(S->ctx, need, sizeof(double), &S->jumps, "label jumps"));
  S->cap_jumps = need;
  return PN_OK;
}

int pni_solver_ensure_method_ws(pn_solver *S, int batch)
{
  method_ws *W = &S->mws;
  const int continuous = S->adjoint != PN_ADJOINT_DISCRETE;
  const size_t D = (size_t)pn_model_dim(S->model), mw = (size_t)S->max_micro * D;
  const size_t w = (size_t)batch * D;
  const int single = S->sweep == PN_SWEEP_SINGLE;
  const int backsolve = S->adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE;
  const size_t need = (continuous ? 3 * mw : 0) + (single ? w : 0) + (backsolve ? w : 0);
  if (continuous && (!W->cadj.Z || W->cadj.max_batch < S->max_micro)) {
    pni_cadj_free(&W->cadj);
    PN_CALL(pni_cadj_init(&W->cadj, S->ctx, S->tab, S->model, S->max_micro));
  }
  if (need > W->cap) {
    free(W->buf);
    W->buf = NULL;
    W->cap = 0;
    PN_CALL(pni_calloc(S->ctx, need, sizeof(double), &W->buf, "gradient-method buffers"));
    W->cap = need;
  }
  /* Carve the buffers this method uses (none for the discrete multi-point default). */
  double *p = W->buf;
  W->znode = W->fhi = W->flo = W->z0bar = W->zlo = NULL;
  if (continuous) {
    W->znode = p;
    W->fhi = p + mw;
    W->flo = p + 2 * mw;
    p += 3 * mw;
  }
  if (single) {
    W->z0bar = p;
    p += w;
  }
  if (backsolve) W->zlo = p;
  return PN_OK;
}

size_t pni_solver_method_ws_bytes(const pn_solver *S)
{
  const method_ws *W = &S->mws;
  size_t bytes = sizeof(double) * W->cap;
  if (W->cadj.Z) bytes += pni_cadj_bytes(S->tab, S->model, W->cadj.max_batch);
  return bytes;
}
