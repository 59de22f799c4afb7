/* The memory budget of a solver call: what a batch needs on this rank
 * (trajectory, stepper and model workspaces, buffers, the parallel method's
 * own, label jumps), the storage policy that fits (auto), and the refusal,
 * made before anything is allocated, that names the settings that would fit. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "platform.h"
#include "solver_state.h"
#include "tdecomp.h"

static int micro_size(int batch, int M, int m)
{
  long lo, hi;
  pn_split(batch, M, m, &lo, &hi);
  return (int)(hi - lo);
}

pn_storage_kind pni_budget_traj_kind(pn_storage_kind kind)
{
  return kind == PN_STORE_STAGES ? PN_STORE_ALL : kind;
}

/* Bytes of the trajectories (one per micro-batch) under a storage policy;
 * stages adds the stepper's tape (step.h): one record per step and
 * micro-batch, sized for the largest micro-batch. */
static size_t traj_bytes(const pn_solver *S, int batch, int M, pn_storage_kind kind, long param)
{
  const size_t D = (size_t)pn_model_dim(S->model);
  size_t bytes = 0;
  if (kind == PN_STORE_STAGES)
    bytes = pni_stepper_tape_bytes(S->tab, S->model, micro_size(batch, M, 0),
                                   (long)M * (S->hi - S->lo));
  kind = pni_budget_traj_kind(kind);
  for (int m = 0; m < M; m++)
    bytes += pni_traj_bytes(kind, param, S->lo, S->hi, (size_t)micro_size(batch, M, m) * D);
  return bytes;
}

size_t pni_budget_workspace(const pn_solver *S, int batch, int M, int with_traj)
{
  const size_t D = (size_t)pn_model_dim(S->model), P = (size_t)pn_model_nparam(S->model);
  size_t bytes = pni_stepper_bytes(S->tab, S->model, micro_size(batch, M, 0));
  bytes += sizeof(double) * (3 * (size_t)batch * D + P);
  bytes += (size_t)M * (sizeof(pni_traj) + sizeof(int));
  bytes += S->pint->bytes(S, batch);
  if (with_traj) bytes += traj_bytes(S, batch, M, S->store_kind, S->store_param);
  return bytes;
}

/* A policy as the program spells it: all, every:K, binomial:C, auto. */
static const char *storage_text(pn_storage_kind kind, long param, char *buf, size_t len)
{
  if (kind == PN_STORE_EVERY) snprintf(buf, len, "every:%ld", param);
  else if (kind == PN_STORE_BINOMIAL) snprintf(buf, len, "binomial:%ld", param);
  else snprintf(buf, len, "%s",
                kind == PN_STORE_AUTO ? "auto" : kind == PN_STORE_STAGES ? "stages" : "all");
  return buf;
}

/* The largest c whose binomial trajectories fit in `room` bytes (0: none);
 * more than N − 1 checkpoints per block would hold nothing more. */
static long max_checkpoints(const pn_solver *S, int batch, int M, size_t room)
{
  long lo = 0, hi = S->hi - S->lo > 1 ? S->hi - S->lo - 1 : 1;
  while (lo < hi) { /* bytes grow with c: bisect */
    const long mid = lo + (hi - lo + 1) / 2;
    if (traj_bytes(S, batch, M, PN_STORE_BINOMIAL, mid) <= room) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* The budget a gradient must fit: the limit the caller gave, else this node's
 * available memory (for auto storage shared by all ranks of the
 * communicator, since they may all sit on this node); 0 if none is known. */
static size_t memory_budget(const pn_solver *S, pn_storage_kind kind, char *what, size_t len)
{
  if (S->opts.memory_limit > 0) {
    snprintf(what, len, "the memory limit");
    return S->opts.memory_limit;
  }
  const size_t avail = pni_available_memory();
  const int ranks = pn_ctx_size(S->ctx);
  if (kind == PN_STORE_AUTO && ranks > 1) {
    snprintf(what, len, "this node's available memory shared by %d ranks", ranks);
    return avail / (size_t)ranks;
  }
  snprintf(what, len, "the memory available on this node");
  return avail;
}

/* Settings whose trajectories fit in `room` bytes, as a phrase.  They keep
 * 4 % of the room to spare, so that they still fit when a caller's budget
 * moves a little between runs (pinode gradient --memory subtracts what the
 * process holds, which varies by a few tenths of a MB). */
static void fitting_settings(const pn_solver *S, int batch, int M, size_t room, size_t other,
                             char *buf, size_t len)
{
  room -= room / 25;
  const long n = S->hi - S->lo, c = max_checkpoints(S, batch, M, room);
  if (c < 1) {
    char need[32];
    snprintf(buf, len,
             "no storage fits (binomial:1 needs %s in all): use a smaller batch, fewer labels or "
             "a larger budget",
             pni_bytes_text((double)(other + traj_bytes(S, batch, M, PN_STORE_BINOMIAL, 1)), need,
                            sizeof need));
    return;
  }
  const double steps = 1.0 + (double)pni_traj_recompute(PN_STORE_BINOMIAL, c, n) / (double)n;
  const int used = snprintf(buf, len,
                            "storage binomial:%ld fits (%.2f forward steps per step), as does "
                            "auto",
                            c, steps);
  const long k = (long)ceil(sqrt((double)n));
  size_t at = used > 0 && (size_t)used < len ? (size_t)used : len;
  if (k > 1 && traj_bytes(S, batch, M, PN_STORE_EVERY, k) <= room && at < len) {
    const int more = snprintf(buf + at, len - at, ", or every:%ld", k);
    at = more > 0 && at + (size_t)more < len ? at + (size_t)more : len;
  }
  /* Each rank holds its block only: all states fit on enough ranks. */
  const double ranks = ceil((double)S->size * (double)traj_bytes(S, batch, M, PN_STORE_ALL, 0) /
                            (double)(room > 0 ? room : 1));
  if (ranks > S->size && ranks <= (double)S->opts.nsteps && at < len)
    snprintf(buf + at, len - at, ", or all states on about %.0f ranks", ranks);
}

/* The refusal: the estimate, the budget it exceeds, and settings that fit.
 * with_traj = 0: the workspaces alone (loss, forward). */
static int refuse(pn_solver *S, int batch, int M, int with_traj, pn_storage_kind kind, long param,
                  size_t other, size_t budget, const char *what)
{
  char all[32], traj_text[32], other_text[32], budget_text[32];
  pni_bytes_text((double)budget, budget_text, sizeof budget_text);
  pni_bytes_text((double)other, other_text, sizeof other_text);
  if (!with_traj)
    return pni_error(S->ctx, PN_ERR_LIMIT, __FILE__, __LINE__, __func__,
                     "rank %d would need %s of workspaces and buffers for batch %d, more than %s "
                     "(%s): use a smaller batch or a larger budget",
                     S->rank, other_text, batch, what, budget_text);
  if (kind == PN_STORE_AUTO) { /* nothing fitted: show the least any storage needs */
    kind = PN_STORE_BINOMIAL;
    param = 1;
  }
  const size_t traj = traj_bytes(S, batch, M, kind, param);
  char name[64], fits[320];
  fitting_settings(S, batch, M, budget > other ? budget - other : 0, other, fits, sizeof fits);
  return pni_error(S->ctx, PN_ERR_LIMIT, __FILE__, __LINE__, __func__,
                   "rank %d would need %s for this gradient: trajectory %s (storage %s, %ld of %ld "
                   "steps, batch %d) plus %s of workspaces, buffers and %d label jumps; that is "
                   "more than %s (%s); %s",
                   S->rank, pni_bytes_text((double)(other + traj), all, sizeof all),
                   pni_bytes_text((double)traj, traj_text, sizeof traj_text),
                   storage_text(kind, param, name, sizeof name), S->hi - S->lo, S->opts.nsteps,
                   batch, other_text, S->nlabels, what, budget_text, fits);
}

/* Flops that a byte of memory traffic costs as much time as: a core's
 * matrix-product rate over its share of the memory bandwidth (about 40
 * GFLOP/s against 10 GB/s). */
#define FLOPS_PER_BYTE 4.0

/* The estimated cost, in flops, by which the backward sweep differs between
 * the stage tape and all states: with all states it evaluates the network
 * again at every stage of every step (about 2 flops per parameter and
 * sample); with the tape it evaluates nothing but writes the tape in the
 * forward sweep and reads it back, at FLOPS_PER_BYTE a byte.  The bytes are
 * those the budget counts. */
static double redo_cost(const pn_solver *S, int batch, int M, pn_storage_kind kind)
{
  if (kind == PN_STORE_STAGES)
    return FLOPS_PER_BYTE * 2.0 * (double)(traj_bytes(S, batch, M, PN_STORE_STAGES, 0) -
                                           traj_bytes(S, batch, M, PN_STORE_ALL, 0));
  return 2.0 * (double)pn_model_nparam(S->model) * (double)batch *
         (double)pn_tableau_stages(S->tab) * (double)(S->hi - S->lo);
}

/* What auto stores: the stage tape if it fits and is estimated faster than
 * all states (the pipeline's discrete adjoint only: nothing else reads the
 * tape), else all states if they fit, else binomial checkpointing. */
static pn_storage_kind auto_kind(const pn_solver *S, int batch, int M, size_t budget,
                                 size_t other)
{
  const int tape = S->opts.method == PN_PARALLEL_PIPELINE && S->adjoint == PN_ADJOINT_DISCRETE;
  if (tape && (budget == 0 || other + traj_bytes(S, batch, M, PN_STORE_STAGES, 0) <= budget) &&
      redo_cost(S, batch, M, PN_STORE_STAGES) < redo_cost(S, batch, M, PN_STORE_ALL))
    return PN_STORE_STAGES;
  if (budget == 0 || other + traj_bytes(S, batch, M, PN_STORE_ALL, 0) <= budget)
    return PN_STORE_ALL;
  return PN_STORE_BINOMIAL;
}

/* Bytes of the label jumps a gradient keeps, 0 without one. */
static size_t jumps_bytes(const pn_solver *S, int batch, int with_traj)
{
  if (!with_traj) return 0;
  return sizeof(double) * (size_t)S->nlabels * (size_t)batch * (size_t)pn_model_dim(S->model);
}

int pni_budget_check(pn_solver *S, int batch, int M, int with_traj, pn_storage_kind *kind,
                     long *param)
{
  char what[96];
  const size_t other = pni_budget_workspace(S, batch, M, 0) + jumps_bytes(S, batch, with_traj);
  *kind = with_traj ? S->opts.storage : PN_STORE_ALL;
  *param = S->opts.storage_param;
  const size_t budget = memory_budget(S, *kind, what, sizeof what);
  S->store_budget = S->opts.memory_limit > 0 || *kind == PN_STORE_AUTO ? budget : 0;
  if (!with_traj) {
    if (budget > 0 && other > budget) return refuse(S, batch, M, 0, *kind, 0, other, budget, what);
    return PN_OK;
  }
  if (*kind == PN_STORE_AUTO) {
    *kind = auto_kind(S, batch, M, budget, other);
    *param = 0;
    if (*kind == PN_STORE_BINOMIAL) {
      *param = max_checkpoints(S, batch, M, budget > other ? budget - other : 0);
      if (*param < 1) return refuse(S, batch, M, 1, PN_STORE_AUTO, 0, other, budget, what);
    }
  }
  if (budget > 0 && other + traj_bytes(S, batch, M, *kind, *param) > budget)
    return refuse(S, batch, M, 1, *kind, *param, other, budget, what);
  return PN_OK;
}

int pni_budget_still_fits(const pn_solver *S, int batch, int M, int with_traj)
{
  return S->opts.memory_limit == 0 ||
         pni_budget_workspace(S, batch, M, with_traj) + jumps_bytes(S, batch, with_traj) <=
             S->opts.memory_limit;
}

void pni_budget_stats(pn_solver *S)
{
  const long len = S->hi - S->lo;
  const long states = pni_traj_states(S->store_kind, S->store_param, len);
  S->stats.storage = S->store_kind;
  S->stats.storage_param = S->store_kind == PN_STORE_ALL ? 0 : S->store_param;
  S->stats.bytes_limit = S->store_budget;
  S->stats.steps_recompute_min =
      (long)S->nmicro * pni_binomial_recompute(len, states > 1 ? states - 1 : 1);
}
