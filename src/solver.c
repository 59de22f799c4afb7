/* The solver: fixed-step RK over a grid split in time across the ranks, the
 * loss at label times, and the exact discrete adjoint, with the batch split
 * into micro-batches that flow through the ranks as a pipeline (DESIGN §4). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_impl.h"
#include "internal.h"
#include "loss_impl.h"
#include "model_impl.h"
#include "solver_impl.h"
#include "tdecomp.h"

enum { TAG_FORWARD = 101, TAG_BACKWARD = 102 };

void pn_solver_opts_default(pn_solver_opts *opts)
{
  memset(opts, 0, sizeof *opts);
  opts->t0 = 0.0;
  opts->t1 = 1.0;
  opts->nsteps = 1;
  opts->storage = PN_STORE_ALL;
  opts->storage_param = 0;
  opts->memory_limit = 0;
  opts->microbatches = 0;
  opts->check_finite = 1;
}

static int validate_opts(pn_ctx *ctx, const pn_solver_opts *o)
{
  PN_CHECK(ctx, isfinite(o->t0) && isfinite(o->t1) && o->t1 > o->t0, PN_ERR_ARG,
           "time interval [%g, %g] is invalid: need finite t0 < t1", o->t0, o->t1);
  PN_CHECK(ctx, o->nsteps >= 1, PN_ERR_ARG, "%ld steps: need at least 1", o->nsteps);
  PN_CHECK(ctx, o->batch_groups >= 0 && o->batch_groups <= ctx->size, PN_ERR_ARG,
           "%d batch groups on %d rank%s: need 1..%d (0 = 1)", o->batch_groups, ctx->size,
           ctx->size == 1 ? "" : "s", ctx->size);
  const int G = o->batch_groups > 1 ? o->batch_groups : 1, P = ctx->size / G;
  PN_CHECK(ctx, ctx->size % G == 0, PN_ERR_ARG,
           "%d ranks cannot form %d batch groups of equal size (the rank count must be a "
           "multiple of the group count)",
           ctx->size, G);
  const char *per = G > 1 ? " per batch group" : "";
  PN_CHECK(ctx, P <= o->nsteps, PN_ERR_ARG,
           "%d ranks%s but only %ld steps: every rank needs at least one step (use at most %ld "
           "ranks%s, or more steps)",
           P, per, o->nsteps, o->nsteps, per);
  PN_CHECK(ctx,
           o->storage == PN_STORE_ALL || o->storage == PN_STORE_EVERY ||
               o->storage == PN_STORE_BINOMIAL || o->storage == PN_STORE_AUTO ||
               o->storage == PN_STORE_STAGES,
           PN_ERR_ARG, "unknown trajectory storage %d (all, every, binomial, auto or stages)",
           (int)o->storage);
  PN_CHECK(ctx, o->storage != PN_STORE_EVERY || o->storage_param >= 1, PN_ERR_ARG,
           "storage every k-th state needs k >= 1 (got %ld)", o->storage_param);
  PN_CHECK(ctx, o->storage != PN_STORE_BINOMIAL || o->storage_param >= 1, PN_ERR_ARG,
           "binomial checkpointing needs c >= 1 checkpoints (got %ld)", o->storage_param);
  PN_CHECK(ctx, o->microbatches >= 0, PN_ERR_ARG, "%d micro-batches: need >= 0 (0 = automatic)",
           o->microbatches);
  PN_CHECK(ctx, o->method == PN_PARALLEL_PIPELINE || o->method == PN_PARALLEL_PARAREAL,
           PN_ERR_ARG, "unknown parallel method %d (pipeline or parareal)", (int)o->method);
  PN_CHECK(ctx, o->method != PN_PARALLEL_PARAREAL || o->storage != PN_STORE_STAGES, PN_ERR_ARG,
           "storage 'stages' keeps the stage tape of one sweep, which Parareal's repeated fine "
           "sweeps and adjoint-map sweep cannot share: use all, every, binomial or auto");
  const pn_parareal_opts *pr = &o->parareal;
  PN_CHECK(ctx, pr->max_iter >= 0, PN_ERR_ARG,
           "parareal max_iter = %d: need >= 0 (0 = the number of ranks)", pr->max_iter);
  PN_CHECK(ctx, isfinite(pr->tol) && pr->tol >= 0.0, PN_ERR_ARG,
           "parareal tol = %g: need a finite number >= 0", pr->tol);
  PN_CHECK(ctx, pr->coarse_steps >= 0, PN_ERR_ARG,
           "parareal coarse_steps = %ld: need >= 0 (0 = a tenth of the block)", pr->coarse_steps);
  PN_CHECK(ctx,
           pr->adjoint == PN_PARAREAL_ADJOINT_ITERATE || pr->adjoint == PN_PARAREAL_ADJOINT_MAPS,
           PN_ERR_ARG, "unknown parareal adjoint %d (iterate or maps)", (int)pr->adjoint);
  PN_CHECK(ctx, memchr(pr->coarse_scheme, '\0', sizeof pr->coarse_scheme) != NULL, PN_ERR_ARG,
           "parareal coarse_scheme is not a terminated string");
  return PN_OK;
}

int pn_solver_create(pn_ctx *ctx, pn_model *model, const pn_tableau *tab,
                     const pn_solver_opts *opts, pn_solver **out)
{
  int rc = PN_OK;
  pn_solver *S = NULL;
  if (!ctx) return PN_ERR_ARG;
  if (!model || !tab || !opts || !out)
    rc = pni_error(ctx, PN_ERR_ARG, __FILE__, __LINE__, __func__, "NULL argument");
  if (rc == PN_OK) rc = validate_opts(ctx, opts);
  if (rc == PN_OK) rc = pni_calloc(ctx, 1, sizeof *S, &S, "solver");
  if (rc == PN_OK) {
    S->ctx = ctx;
    S->model = model;
    S->tab = tab;
    S->opts = *opts;
    /* Groups of consecutive ranks: the pipeline's messages stay between
     * neighbours (on one node, as schedulers place consecutive ranks). */
    S->ngroups = opts->batch_groups > 1 ? opts->batch_groups : 1;
    S->size = ctx->size / S->ngroups;
    S->group = ctx->rank / S->size;
    S->rank = ctx->rank % S->size;
    S->h = (opts->t1 - opts->t0) / (double)opts->nsteps;
    pni_block(opts->nsteps, S->size, S->rank, &S->lo, &S->hi);
    rc = pni_calloc(ctx, 2 * (size_t)ctx->size, sizeof(int), &S->gather_counts, "solver");
    if (rc == PN_OK) S->gather_displs = S->gather_counts + ctx->size;
  }
  if (rc == PN_OK && opts->method == PN_PARALLEL_PARAREAL) {
    const char *name = opts->parareal.coarse_scheme[0] ? opts->parareal.coarse_scheme
                                                       : pn_tableau_name(tab);
    rc = pn_tableau_create(ctx, name, &S->coarse_tab);
  }
  /* Same verdict on every rank, so that none proceeds alone. */
  rc = pni_agree(ctx, rc);
  if (rc != PN_OK) {
    pn_solver_destroy(&S);
    return rc;
  }
  *out = S;
  return PN_OK;
}

static void free_workspace(pn_solver *S)
{
  if (S->traj)
    for (int m = 0; m < S->nmicro; m++) pni_traj_free(&S->traj[m]);
  free(S->traj);
  free(S->mb0);
  free(S->z);
  free(S->sreq);
  free(S->theta_bar);
  S->traj = NULL;
  S->mb0 = NULL;
  S->z = S->lam = S->sendbuf = S->recvbuf = S->scratch = NULL;
  S->sreq = S->rreq = NULL;
  S->theta_bar = NULL;
  S->batch = S->nmicro = 0;
  S->traj_ready = 0;
  pni_stepper_free(&S->st);
}

int pn_solver_destroy(pn_solver **solver)
{
  if (!solver || !*solver) return PN_OK;
  free_workspace(*solver);
  pni_parareal_free(&(*solver)->pr);
  pn_tableau_destroy(&(*solver)->coarse_tab);
  pni_cadj_free(&(*solver)->mws.cadj);
  free((*solver)->mws.buf);
  free((*solver)->labels);
  free((*solver)->jumps);
  free((*solver)->gather_counts);
  free(*solver);
  *solver = NULL;
  return PN_OK;
}

const pn_solver_opts *pn_solver_get_opts(const pn_solver *solver) { return &solver->opts; }

int pn_solver_get_stats(const pn_solver *solver, pn_stats *stats_out)
{
  if (!solver || !stats_out) return PN_ERR_ARG;
  *stats_out = solver->stats;
  return PN_OK;
}

/* With M micro-batches the pipeline leaves every rank idle for (P−1) of
 * M+P−1 micro-batch slots (fill and drain, DESIGN §4.1), so more
 * micro-batches help; but each one also costs a fixed amount per step, about
 * KAPPA samples' worth of work (smaller matrix products run at a lower rate,
 * and the stepper's per-call work is per micro-batch).  Time ∝ (M+P−1)/M ·
 * (KAPPA·M + B) is least at M* = √((P−1)·B/KAPPA): M = 1 on one rank, and
 * e.g. 2 for B = 16 (√5.3) or 9 for B = 256 (√85) on two ranks.  KAPPA = 3
 * fits the one-rank costs of the bench problems at M = 1..64 best (README,
 * "Time parallelism": within 2 points of the best M's efficiency for
 * P = 2..4). */
int pn_pipeline_auto_microbatches(int ranks, int batch)
{
  const double KAPPA = 3.0;
  const long M = lround(sqrt((double)(ranks > 1 ? ranks - 1 : 0) * (double)batch / KAPPA));
  if (M < 1) return 1;
  return M < batch ? (int)M : batch;
}

/* Micro-batch count: an explicit opts.microbatches wins; M ≤ B. */
static int choose_microbatches(const pn_solver *S, int batch)
{
  if (S->opts.method == PN_PARALLEL_PARAREAL) return 1; /* no pipeline: the whole batch */
  const int M = S->opts.microbatches > 0 ? S->opts.microbatches
                                         : pn_pipeline_auto_microbatches(S->size, batch);
  return M < batch ? M : batch;
}

/* The trajectory's advance: the forward sweep's own step function, hence
 * bitwise the same states.  pni_step allows z_next == z (binomial storage
 * advances its working state in place). */
static int recompute_step(void *arg, long n, const double *z, double *z_next)
{
  pn_solver *S = arg;
  return pni_step(&S->st, S->opts.t0 + (double)n * S->h, S->h, S->cur_nb, z, S->cur_theta, z_next);
}

static int micro_size(int batch, int M, int m) { return batch / M + (m < batch % M); }

/* First sample of part i of a batch split like micro-batches. */
static int part_start(int batch, int parts, int i)
{
  return i * (batch / parts) + (i < batch % parts ? i : batch % parts);
}

/* The trajectories' own policy: stages keeps every state in them (and the
 * rest in the stepper's tape). */
static pn_storage_kind traj_kind(pn_storage_kind kind)
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
  kind = traj_kind(kind);
  for (int m = 0; m < M; m++)
    bytes += pni_traj_bytes(kind, param, S->lo, S->hi, (size_t)micro_size(batch, M, m) * D);
  return bytes;
}

/* Bytes per rank for a batch: trajectory (as allocated), stepper and model
 * workspaces, state/adjoint/message buffers, bookkeeping. */
static size_t workspace_bytes(const pn_solver *S, int batch, int M, int with_traj)
{
  const size_t D = (size_t)pn_model_dim(S->model), P = (size_t)pn_model_nparam(S->model);
  size_t bytes = pni_stepper_bytes(S->tab, S->model, micro_size(batch, M, 0));
  bytes += sizeof(double) * (5 * (size_t)batch * D + 2 * (size_t)M + P);
  bytes += (size_t)M * (sizeof(pni_traj) + 2 * sizeof(MPI_Request) + sizeof(int));
  if (with_traj) bytes += traj_bytes(S, batch, M, S->store_kind, S->store_param);
  return bytes;
}

/* A number of bytes in a one-line file ("max" or missing: 0, no limit). */
static size_t read_bytes(const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  unsigned long long v = 0;
  const int ok = fscanf(f, "%llu", &v) == 1;
  fclose(f);
  return ok ? (size_t)v : 0;
}

/* Room left in this process's memory cgroup (what a batch system such as
 * SLURM with cgroups enforces: exceeding it means an OOM kill), 0 if no
 * limit is found.  cgroup v2 first, then the v1 memory controller. */
static size_t cgroup_room(void)
{
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return 0;
  char line[512], dir[600];
  size_t room = 0;
  while (!room && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    const char *v2 = strncmp(line, "0::", 3) == 0 ? line + 3 : NULL;
    const char *v1 = strstr(line, ":memory:");
    size_t limit = 0, used = 0;
    if (v2) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", v2);
      char path[640];
      snprintf(path, sizeof path, "%s/memory.max", dir);
      limit = read_bytes(path);
      snprintf(path, sizeof path, "%s/memory.current", dir);
      used = read_bytes(path);
    } else if (v1) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup/memory%s", v1 + 8);
      char path[640];
      snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
      limit = read_bytes(path);
      snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
      used = read_bytes(path);
      if (limit >= ((size_t)1 << 60)) limit = 0; /* v1 spells "no limit" as a huge number */
    }
    if (limit > 0) room = limit > used ? limit - used : 1;
  }
  fclose(f);
  return room;
}

/* Memory this process may still take: MemAvailable of /proc/meminfo, or the
 * room in its memory cgroup if that is smaller; 0 if unknown. */
static size_t available_memory(void)
{
  FILE *f = fopen("/proc/meminfo", "r");
  size_t kb = 0;
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
    fclose(f);
  }
  const size_t avail = kb * 1024, room = cgroup_room();
  return room > 0 && (avail == 0 || room < avail) ? room : avail;
}

/* A policy as the CLI spells it: all, every:K, binomial:C, auto. */
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
  const size_t avail = available_memory();
  if (kind == PN_STORE_AUTO && S->ctx->size > 1) {
    snprintf(what, len, "this node's available memory shared by %d ranks", S->ctx->size);
    return avail / (size_t)S->ctx->size;
  }
  snprintf(what, len, "the memory available on this node");
  return avail;
}

/* Settings whose trajectories fit in `room` bytes, as a phrase.  They keep
 * 4 % of the room to spare, so that they still fit when a caller's budget
 * moves a little between runs (pinode gradient --memory subtracts what the
 * process holds, which varies by a few tenths of a MB: 2 % of a 13 MB room
 * was once too little). */
static void fitting_settings(const pn_solver *S, int batch, int M, size_t room, size_t other,
                             char *buf, size_t len)
{
  room -= room / 25;
  const long n = S->hi - S->lo, c = max_checkpoints(S, batch, M, room);
  if (c < 1) {
    snprintf(buf, len,
             "no storage fits (binomial:1 needs %.1f MB in all): use a smaller batch, fewer "
             "labels or a larger budget",
             (double)(other + traj_bytes(S, batch, M, PN_STORE_BINOMIAL, 1)) / 1048576.0);
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
  const double MB = 1048576.0;
  if (!with_traj)
    return pni_error(S->ctx, PN_ERR_LIMIT, __FILE__, __LINE__, __func__,
                     "rank %d would need %.1f MB of workspaces and buffers for batch %d, more than "
                     "%s (%.1f MB): use a smaller batch or a larger budget",
                     S->rank, (double)other / MB, batch, what, (double)budget / MB);
  if (kind == PN_STORE_AUTO) { /* nothing fitted: show the least any storage needs */
    kind = PN_STORE_BINOMIAL;
    param = 1;
  }
  const size_t traj = traj_bytes(S, batch, M, kind, param);
  char name[64], fits[320];
  fitting_settings(S, batch, M, budget > other ? budget - other : 0, other, fits, sizeof fits);
  return pni_error(S->ctx, PN_ERR_LIMIT, __FILE__, __LINE__, __func__,
                   "rank %d would need %.1f MB for this gradient: trajectory %.1f MB (storage %s, "
                   "%ld of %ld steps, batch %d) plus %.1f MB of workspaces, buffers and %d label "
                   "jumps; that is more than %s (%.1f MB); %s",
                   S->rank, (double)(other + traj) / MB, (double)traj / MB,
                   storage_text(kind, param, name, sizeof name), S->hi - S->lo, S->opts.nsteps,
                   batch, (double)other / MB, S->nlabels, what, (double)budget / MB, fits);
}

/* Bytes of the label jumps a gradient keeps (ensure_jumps), 0 without one. */
static size_t jumps_bytes(const pn_solver *S, int batch, int with_traj)
{
  if (!with_traj) return 0;
  return sizeof(double) * (size_t)S->nlabels * (size_t)batch * (size_t)pn_model_dim(S->model);
}

/* Resolve the storage policy for a batch (auto: all if it fits, else the
 * largest binomial c that fits) and check the estimate against the budget
 * before anything is allocated.  Sets *kind, *param. */
static int check_memory(pn_solver *S, int batch, int M, int with_traj, pn_storage_kind *kind,
                        long *param)
{
  char what[96];
  const size_t other = workspace_bytes(S, batch, M, 0) + jumps_bytes(S, batch, with_traj);
  *kind = with_traj ? S->opts.storage : PN_STORE_ALL;
  *param = S->opts.storage_param;
  const size_t budget = memory_budget(S, *kind, what, sizeof what);
  S->store_budget = S->opts.memory_limit > 0 || *kind == PN_STORE_AUTO ? budget : 0;
  if (!with_traj) {
    if (budget > 0 && other > budget) return refuse(S, batch, M, 0, *kind, 0, other, budget, what);
    return PN_OK;
  }
  if (*kind == PN_STORE_AUTO) {
    *kind = PN_STORE_ALL;
    if (budget > 0 && other + traj_bytes(S, batch, M, PN_STORE_ALL, 0) > budget) {
      *kind = PN_STORE_BINOMIAL;
      *param = max_checkpoints(S, batch, M, budget > other ? budget - other : 0);
      if (*param < 1) return refuse(S, batch, M, 1, PN_STORE_AUTO, 0, other, budget, what);
    }
  }
  if (budget > 0 && other + traj_bytes(S, batch, M, *kind, *param) > budget)
    return refuse(S, batch, M, 1, *kind, *param, other, budget, what);
  return PN_OK;
}

/* What the gradient's storage is and the fewest recomputations possible with
 * the same number of states held (the binomial optimum). */
static void storage_stats(pn_solver *S)
{
  const long len = S->hi - S->lo;
  const long states = pni_traj_states(S->store_kind, S->store_param, len);
  S->stats.storage = S->store_kind;
  S->stats.storage_param = S->store_kind == PN_STORE_ALL ? 0 : S->store_param;
  S->stats.bytes_limit = S->store_budget;
  S->stats.steps_recompute_min =
      (long)S->nmicro * pni_binomial_recompute(len, states > 1 ? states - 1 : 1);
}

/* The workspaces in place still fit the memory limit (more labels than the
 * last call may have grown the jumps). */
static int still_fits(const pn_solver *S, int batch, int M, int with_traj)
{
  return S->opts.memory_limit == 0 ||
         workspace_bytes(S, batch, M, with_traj) + jumps_bytes(S, batch, with_traj) <=
             S->opts.memory_limit;
}

/* (Re)allocate the workspaces for a batch size; nothing is allocated when the
 * batch size, the need for a trajectory and its policy are unchanged. */
static int setup_batch(pn_solver *S, int batch, int with_traj)
{
  const int M = choose_microbatches(S, batch);
  pn_storage_kind kind = S->store_kind;
  long param = S->store_param;
  if (batch == S->batch && M == S->nmicro && (!with_traj || S->traj_ready) &&
      still_fits(S, batch, M, with_traj)) {
    if (with_traj) storage_stats(S);
    return PN_OK;
  }
  PN_CALL(check_memory(S, batch, M, with_traj, &kind, &param));
  free_workspace(S);
  pn_ctx *ctx = S->ctx;
  const size_t D = (size_t)pn_model_dim(S->model), w = (size_t)batch * D;
  int rc = PN_OK;
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)M + 1, sizeof(int), &S->mb0, "micro-batches"));
  S->max_micro = 0;
  for (int m = 0; m < M; m++) {
    const int nb = micro_size(batch, M, m);
    S->mb0[m + 1] = S->mb0[m] + nb;
    if (nb > S->max_micro) S->max_micro = nb;
  }
  PN_CALL_GOTO(rc, pni_calloc(ctx, 5 * w + 2 * (size_t)M, sizeof(double), &S->z, "state buffers"));
  S->lam = S->z + w;
  S->scratch = S->lam + w;
  S->sendbuf = S->scratch + w;
  S->recvbuf = S->sendbuf + w + (size_t)M;
  PN_CALL_GOTO(rc, pni_calloc(ctx, 2 * (size_t)M, sizeof(MPI_Request), &S->sreq, "requests"));
  S->rreq = S->sreq + M;
  for (int m = 0; m < 2 * M; m++) S->sreq[m] = MPI_REQUEST_NULL;
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)pn_model_nparam(S->model), sizeof(double),
                              &S->theta_bar, "parameter gradient"));
  PN_CALL_GOTO(rc, pni_stepper_init(&S->st, ctx, S->tab, S->model, S->max_micro));
  S->batch = batch;
  S->nmicro = M;
  if (with_traj) {
    PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)M, sizeof(pni_traj), &S->traj, "trajectories"));
    for (int m = 0; m < M; m++) {
      const size_t width = (size_t)(S->mb0[m + 1] - S->mb0[m]) * D;
      PN_CALL_GOTO(rc, pni_traj_init(&S->traj[m], ctx, traj_kind(kind), param, S->lo, S->hi,
                                     width, recompute_step, S));
    }
    if (kind == PN_STORE_STAGES) /* record r = m·(hi − lo) + n − lo: step n of micro-batch m */
      PN_CALL_GOTO(rc, pni_stepper_tape(&S->st, (long)M * (S->hi - S->lo)));
    S->store_kind = kind;
    S->store_param = param;
    S->traj_ready = 1;
    storage_stats(S);
  }
  return PN_OK;
cleanup:
  free_workspace(S);
  return rc;
}

static int event_cmp(const void *a, const void *b)
{
  const event *x = a, *y = b;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Is grid point m owned by this rank?  Rank r owns (lo, hi], rank 0 also 0. */
static int owns(const pn_solver *S, long m) { return (m > S->lo && m <= S->hi) || (m == 0 && S->rank == 0); }

/* Bind the loss's labels to the grid and keep those this rank owns, sorted. */
static int bind_labels(pn_solver *S, const pn_loss *loss, int batch)
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
    if (owns(S, steps[k])) S->labels[S->nlabels++] = (event){steps[k], k};
  qsort(S->labels, (size_t)S->nlabels, sizeof(event), event_cmp);
  return PN_OK;
}

static int ensure_jumps(pn_solver *S, int batch)
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

int pni_solver_nonfinite(pn_solver *S, const char *what, long step, int b0, const double *x,
                           size_t n)
{
  const long i = pni_first_nonfinite(x, n);
  if (i < 0) return PN_OK;
  const int D = pn_model_dim(S->model);
  return pni_error(S->ctx, PN_ERR_NONFINITE, __FILE__, __LINE__, __func__,
                   "%s became %g at step %ld (t = %.17g), sample %ld, component %ld, on rank %d: "
                   "the dynamics diverged (reduce the step size or the learning rate)",
                   what, x[i], step, S->opts.t0 + (double)step * S->h, S->row0 + b0 + i / D, i % D,
                   S->ctx->rank);
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

/* A failure inside step n (a model callback, or recomputing a checkpointed
 * state) knows its time but not the step or the rank: append them. */
int pni_solver_in_step(pn_solver *S, int rc, const char *sweep, long n)
{
  if (rc == PN_OK) return rc;
  const size_t len = strlen(S->ctx->msg);
  snprintf(S->ctx->msg + len, sizeof S->ctx->msg - len,
           " (%s sweep, step %ld from t = %.17g, on rank %d)", sweep, n,
           S->opts.t0 + (double)n * S->h, S->ctx->rank);
  return rc;
}

/* Forward through this rank's block for one micro-batch; z: its rows, in place. */
int pni_solver_forward_block(pn_solver *S, sweep *sw, int m, const double *theta, double *z)
{
  const int b0 = S->mb0[m], nb = S->mb0[m + 1] - b0;
  const size_t w = (size_t)nb * (size_t)pn_model_dim(S->model);
  const int tape = sw->store && S->store_kind == PN_STORE_STAGES;
  int li = 0, si = 0;
  if (S->rank == 0) PN_CALL(forward_events(S, sw, 0, b0, nb, z, &li, &si));
  for (long n = S->lo; n < S->hi; n++) {
    const double t = S->opts.t0 + (double)n * S->h;
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

/* Rows of micro-batch m in a per-micro-batch message buffer (rows + status). */
static double *msg_slot(const pn_solver *S, double *buf, int m)
{
  return buf + (size_t)S->mb0[m] * (size_t)pn_model_dim(S->model) + (size_t)m;
}

static size_t msg_len(const pn_solver *S, int m)
{
  return (size_t)(S->mb0[m + 1] - S->mb0[m]) * (size_t)pn_model_dim(S->model);
}

/* Wait for micro-batch m's message; returns the sender's status (PN_OK or its error). */
static int receive(pn_solver *S, int m, double *rows)
{
  const double t = pni_wtime();
  MPI_Wait(&S->rreq[m], MPI_STATUS_IGNORE);
  S->stats.time_wait += pni_wtime() - t;
  const double *slot = msg_slot(S, S->recvbuf, m);
  const size_t len = msg_len(S, m);
  memcpy(rows, slot, sizeof(double) * len);
  return (int)slot[len];
}

/* Post the receives in the order the sweep visits the micro-batches: MPI
 * matches messages of one sender and tag in posting order. */
static void post_receives(pn_solver *S, int from, int tag, int descending)
{
  for (int i = 0; i < S->nmicro; i++) {
    const int m = descending ? S->nmicro - 1 - i : i;
    MPI_Irecv(msg_slot(S, S->recvbuf, m), (int)msg_len(S, m) + 1, MPI_DOUBLE,
              pni_solver_peer(S, from), tag, S->ctx->comm, &S->rreq[m]);
  }
}

static void send(pn_solver *S, int m, const double *rows, int status, int to, int tag)
{
  double *slot = msg_slot(S, S->sendbuf, m);
  const size_t len = msg_len(S, m);
  memcpy(slot, rows, sizeof(double) * len);
  slot[len] = (double)status;
  MPI_Isend(slot, (int)len + 1, MPI_DOUBLE, pni_solver_peer(S, to), tag, S->ctx->comm,
            &S->sreq[m]);
}

static void wait_sends(pn_solver *S)
{
  const double t = pni_wtime();
  MPI_Waitall(S->nmicro, S->sreq, MPI_STATUSES_IGNORE);
  S->stats.time_wait += pni_wtime() - t;
}

/* Pipelined forward sweep over all micro-batches.  A failure is passed
 * downstream in the message status so that no rank waits forever; the
 * caller agrees on the outcome. */
static int forward_sweep(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  const size_t D = (size_t)pn_model_dim(S->model);
  const double t = pni_wtime();
  int rc = PN_OK, upstream = PN_OK;
  S->cur_theta = theta;
  if (S->rank > 0) post_receives(S, S->rank - 1, TAG_FORWARD, 0);
  for (int m = 0; m < S->nmicro; m++) {
    double *z = S->z + (size_t)S->mb0[m] * D;
    if (S->rank == 0)
      memcpy(z, z0 + (size_t)S->mb0[m] * D, sizeof(double) * msg_len(S, m));
    else if (receive(S, m, z) != PN_OK)
      upstream = PN_ERR_REMOTE;
    S->cur_nb = S->mb0[m + 1] - S->mb0[m];
    if (sw->zlo) memcpy(sw->zlo + (size_t)S->mb0[m] * D, z, sizeof(double) * msg_len(S, m));
    if (rc == PN_OK && upstream == PN_OK) rc = pni_solver_forward_block(S, sw, m, theta, z);
    if (S->rank < S->size - 1)
      send(S, m, z, rc != PN_OK ? rc : upstream, S->rank + 1, TAG_FORWARD);
  }
  wait_sends(S);
  S->stats.time_forward += pni_wtime() - t;
  return rc;
}

/* The forward sweep of the solver's parallel method, on the batch group's
 * samples of z0 (the caller's batch). */
static int time_parallel_forward(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  const double *mine = z0 + (size_t)S->row0 * (size_t)pn_model_dim(S->model);
  if (S->opts.method == PN_PARALLEL_PARAREAL) return pni_parareal_forward(S, sw, theta, mine);
  return forward_sweep(S, sw, theta, mine);
}

/* ---- backward sweeps: discrete or continuous adjoint, multi- or single-point ---- */

/* Grid index of every label of the loss (all K, not only the owned ones);
 * bind_labels stores them right after the owned-label array. */
static const long *label_steps(const pn_solver *S)
{
  return (const long *)(S->labels + S->cap_labels);
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
static int state_at(pn_solver *S, int m, long n, const double **z_out)
{
  if (n == S->hi) {
    *z_out = S->z + (size_t)S->mb0[m] * (size_t)pn_model_dim(S->model);
    return PN_OK;
  }
  return pni_traj_fetch(&S->traj[m], n, z_out);
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
      PN_CALL(pni_step(&S->st, S->opts.t0 + (double)n * S->h, S->h, nb, W->znode, theta,
                       W->znode));
    S->stats.steps_recomputed += top - S->lo;
    return PN_OK;
  }
  const double *z = NULL;
  PN_CALL(state_at(S, m, top, &z));
  memcpy(W->znode, z, sizeof(double) * w);
  if (S->adjoint == PN_ADJOINT_CONTINUOUS_INTERP)
    PN_CALL(pni_cadj_rhs(&W->cadj, S->opts.t0 + (double)top * S->h, nb, W->znode, theta, W->fhi));
  return PN_OK;
}

/* Backward step n (from t_{n+1} to t_n) of micro-batch m by the call's method. */
static int backward_step(pn_solver *S, int m, long n, int nb, const double *theta, double *lam)
{
  method_ws *W = &S->mws;
  const double t = S->opts.t0 + (double)n * S->h, t_hi = S->opts.t0 + (double)(n + 1) * S->h;
  const double *zn = NULL;
  if (S->adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE)
    return pni_cadj_step_backsolve(&W->cadj, t_hi, S->h, nb, W->znode, theta, lam, S->theta_bar);
  if (S->adjoint == PN_ADJOINT_DISCRETE && S->store_kind == PN_STORE_STAGES) /* nothing to redo */
    return pni_step_adjoint_record(&S->st, (long)m * (S->hi - S->lo) + (n - S->lo), t, S->h, nb,
                                   theta, lam, S->theta_bar);
  PN_CALL(pni_traj_fetch(&S->traj[m], n, &zn));
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

/* Backward through this rank's part of a sweep for one micro-batch; lam: its
 * rows (λ at min(top, hi) on entry, at lo on exit). */
int pni_solver_backward_block(pn_solver *S, bsweep *bw, int m, const double *theta, double *lam)
{
  const int b0 = S->mb0[m], nb = S->mb0[m + 1] - b0;
  const size_t w = (size_t)nb * (size_t)pn_model_dim(S->model);
  const long top = bw->top < S->hi ? bw->top : S->hi;
  const long recomputed0 = traj_recomputed(S, m);
  const int backsolve = S->adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE;
  int li = S->nlabels - 1;
  S->cur_nb = nb;
  add_jumps(S, bw, &li, top, b0, nb, lam); /* the label where my part starts is mine */
  if (S->adjoint != PN_ADJOINT_DISCRETE && top > S->lo)
    PN_CALL(continuous_start(S, m, top, nb, theta));
  for (long n = top - 1; n >= S->lo; n--) {
    PN_CALL(pni_solver_in_step(S, backward_step(S, m, n, nb, theta, lam), "backward", n));
    if (S->opts.check_finite) {
      PN_CALL(pni_solver_nonfinite(S, "the adjoint", n, b0, lam, w));
      if (backsolve) PN_CALL(pni_solver_nonfinite(S, "the backsolved state", n, b0, S->mws.znode, w));
    }
    if (n > S->lo || S->rank == 0) add_jumps(S, bw, &li, n, b0, nb, lam);
  }
  if (backsolve && top > S->lo) backsolve_drift(S, bw, m, w);
  S->stats.steps_recomputed += traj_recomputed(S, m) - recomputed0;
  return PN_OK;
}

/* One pipelined backward sweep.  Rank r takes part if the sweep starts
 * right of its lo (rank 0 always: it holds ∂L/∂z0); it receives λ from
 * r + 1 if the sweep starts right of its hi.  *rc carries this rank's
 * status across sweeps: after a failure it still passes messages on (with
 * the error as status), so that no rank waits forever; a failure upstream
 * only skips the work (the caller's agreement reports the failing rank's
 * own message). */
static void backward_sweep(pn_solver *S, bsweep *bw, const double *theta, int *rc)
{
  const size_t D = (size_t)pn_model_dim(S->model);
  const int take_part = bw->top > S->lo || S->rank == 0;
  const int from_right = S->rank < S->size - 1 && bw->top > S->hi;
  if (!take_part) return;
  const double t = pni_wtime();
  int upstream = PN_OK;
  if (from_right) post_receives(S, S->rank + 1, TAG_BACKWARD, 1);
  for (int m = S->nmicro - 1; m >= 0; m--) {
    double *lam = S->lam + (size_t)S->mb0[m] * D;
    if (!from_right)
      memset(lam, 0, sizeof(double) * msg_len(S, m));
    else if (receive(S, m, lam) != PN_OK)
      upstream = PN_ERR_REMOTE;
    if (*rc == PN_OK && upstream == PN_OK) *rc = pni_solver_backward_block(S, bw, m, theta, lam);
    if (S->rank > 0) send(S, m, lam, *rc != PN_OK ? *rc : upstream, S->rank - 1, TAG_BACKWARD);
  }
  wait_sends(S);
  if (bw->zerr_den > 0.0 && sqrt(bw->zerr_num / bw->zerr_den) > S->stats.backsolve_z_err)
    S->stats.backsolve_z_err = sqrt(bw->zerr_num / bw->zerr_den);
  S->stats.sweeps_backward++;
  S->stats.time_backward += pni_wtime() - t;
}

/* Every backward sweep of the call: one with all jumps (multi-point), or one
 * per label from its step back to t0 (single-point), the same on every rank.
 * θ̄ sums over the sweeps; rank 0 sums ∂L/∂z0 into mws.z0bar. */
static int backward_sweeps(pn_solver *S, const pn_loss *loss, const double *theta)
{
  int rc = PN_OK;
  memset(S->theta_bar, 0, sizeof(double) * (size_t)pn_model_nparam(S->model));
  S->cur_theta = theta;
  if (S->sweep == PN_SWEEP_MULTI) {
    bsweep bw = {.label = -1, .top = S->opts.nsteps};
    backward_sweep(S, &bw, theta, &rc);
    return rc;
  }
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  const int K = loss ? loss->nlabels : 0;
  memset(S->mws.z0bar, 0, sizeof(double) * w);
  for (int k = 0; k < K; k++) {
    bsweep bw = {.label = k, .top = label_steps(S)[k]};
    backward_sweep(S, &bw, theta, &rc);
    if (S->rank == 0)
      for (size_t x = 0; x < w; x++) S->mws.z0bar[x] += S->lam[x];
  }
  return rc;
}

/* All ranks must use the same method: a mismatch would pair different
 * messages.  One Allreduce of (code, −code) with MAX gives max and −min. */
static int agree_method(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode)
{
  pn_ctx *ctx = S->ctx;
  const int valid = (adjoint == PN_ADJOINT_DISCRETE || adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE ||
                     adjoint == PN_ADJOINT_CONTINUOUS_INTERP) &&
                    (mode == PN_SWEEP_MULTI || mode == PN_SWEEP_SINGLE);
  const int code = valid ? (int)adjoint * 2 + (int)mode : -1;
  int mine[2] = {code, -code}, all[2] = {0, 0};
  PN_CALL_MPI(ctx, MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, ctx->comm));
  int rc = PN_OK;
  if (!valid)
    rc = pni_error(ctx, PN_ERR_ARG, __FILE__, __LINE__, __func__,
                   "unknown gradient method (adjoint %d, sweep mode %d) on rank %d", (int)adjoint,
                   (int)mode, S->ctx->rank);
  else if (all[0] != -all[1])
    rc = pni_error(ctx, PN_ERR_ARG, __FILE__, __LINE__, __func__,
                   "the ranks asked for different gradient methods (this is rank %d, with %s, %s)",
                   S->ctx->rank, pn_adjoint_kind_name(adjoint), pn_sweep_mode_name(mode));
  return pni_agree(ctx, rc);
}

/* The buffers of the method of the current call (see method_ws), made or
 * grown only when the batch or the micro-batch size needs more. */
static int ensure_method_ws(pn_solver *S, int batch)
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

static size_t method_ws_bytes(const pn_solver *S)
{
  const method_ws *W = &S->mws;
  size_t bytes = sizeof(double) * W->cap;
  if (W->cadj.Z) bytes += pni_cadj_bytes(S->tab, S->model, W->cadj.max_batch);
  return bytes;
}

static int check_inputs(pn_solver *S, const double *theta, int nb, const double *z0)
{
  pn_ctx *ctx = S->ctx;
  PN_CHECK(ctx, theta && z0, PN_ERR_ARG, "NULL parameters or initial states");
  PN_CHECK(ctx, nb >= 1, PN_ERR_ARG, "batch of %d states", nb);
  PN_CHECK(ctx, nb >= S->ngroups, PN_ERR_ARG,
           "a batch of %d states cannot be shared by %d batch groups (every group needs at "
           "least one sample: use at most %d groups, or a larger batch)",
           nb, S->ngroups, nb);
  const long bad_theta = pni_first_nonfinite(theta, (size_t)pn_model_nparam(S->model));
  PN_CHECK(ctx, bad_theta < 0, PN_ERR_NONFINITE, "parameter %ld is %g", bad_theta,
           theta[bad_theta < 0 ? 0 : bad_theta]);
  const size_t D = (size_t)pn_model_dim(S->model);
  const long bad_z = pni_first_nonfinite(z0, (size_t)nb * D);
  PN_CHECK(ctx, bad_z < 0, PN_ERR_NONFINITE, "initial state of sample %ld, component %ld is %g",
           bad_z / (long)D, bad_z % (long)D, z0[bad_z < 0 ? 0 : bad_z]);
  return PN_OK;
}

static void begin_stats(pn_solver *S)
{
  memset(&S->stats, 0, sizeof S->stats);
  S->st.rhs_evals = S->st.vjp_evals = 0;
  S->mws.cadj.rhs_evals = S->mws.cadj.vjp_evals = 0;
}

static void end_stats(pn_solver *S)
{
  S->stats.rhs_evals = S->st.rhs_evals + S->mws.cadj.rhs_evals;
  S->stats.vjp_evals = S->st.vjp_evals + S->mws.cadj.vjp_evals;
  S->stats.adjoint = S->adjoint;
  S->stats.sweep = S->sweep;
  S->stats.block_lo = S->lo;
  S->stats.block_hi = S->hi;
  S->stats.microbatches = S->nmicro;
  S->stats.batch_group = S->group;
  S->stats.batch_lo = S->row0;
  S->stats.batch_hi = S->row0 + S->batch;
  S->stats.bytes_solver = workspace_bytes(S, S->batch, S->nmicro, S->traj_ready) +
                          pni_parareal_bytes(S, S->batch) +
                          sizeof(double) * S->cap_jumps + method_ws_bytes(S);
  for (int m = 0; S->traj_ready && m < S->nmicro; m++)
    if (S->traj[m].stored > S->stats.states_stored) S->stats.states_stored = S->traj[m].stored;
  S->stats.peak_rss_kb = pni_peak_rss_kb();
}

/* Everything before a sweep; the outcome is agreed on by all ranks. */
static int prepare(pn_solver *S, const double *theta, int nb, const double *z0,
                   const pn_loss *loss, int gradient)
{
  /* Backsolve stores no trajectory: that is its point. */
  const int with_traj = gradient && S->adjoint != PN_ADJOINT_CONTINUOUS_BACKSOLVE;
  int rc = check_inputs(S, theta, nb, z0);
  if (rc == PN_OK) rc = bind_labels(S, loss, nb);
  if (rc == PN_OK) { /* the group's share: samples [row0, row0 + mine) */
    S->full_batch = nb;
    S->row0 = part_start(nb, S->ngroups, S->group);
    const int mine = part_start(nb, S->ngroups, S->group + 1) - S->row0;
    rc = setup_batch(S, mine, with_traj);
    if (rc == PN_OK && gradient) rc = ensure_jumps(S, mine);
    if (rc == PN_OK && gradient) rc = ensure_method_ws(S, mine);
  }
  return pni_agree(S->ctx, rc);
}

/* ∂L/∂z0 of the caller's batch on every rank, from time rank 0 of each
 * batch group (its rows; the other ranks contribute none): exact copies. */
static int gather_z0bar(pn_solver *S, const double *mine, double *all)
{
  pn_ctx *ctx = S->ctx;
  const int D = pn_model_dim(S->model);
  for (int r = 0; r < ctx->size; r++) {
    const int g = r / S->size, first = part_start(S->full_batch, S->ngroups, g);
    const int rows = part_start(S->full_batch, S->ngroups, g + 1) - first;
    S->gather_counts[r] = r % S->size == 0 ? rows * D : 0;
    S->gather_displs[r] = first * D;
  }
  PN_CALL_MPI(ctx, MPI_Allgatherv(mine, S->gather_counts[ctx->rank], MPI_DOUBLE, all,
                                  S->gather_counts, S->gather_displs, MPI_DOUBLE, ctx->comm));
  return PN_OK;
}

static long backward_rhs_count(const pn_solver *S) { return S->st.rhs_evals + S->mws.cadj.rhs_evals; }

static int gradient_bound(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode,
                          int check_method, const double *theta, int nb, const double *z0,
                          const pn_loss *loss, double *loss_out, double *grad_theta_out,
                          double *grad_z0_out);

/* θ is bound to the model for the call (model_impl.h: the MLP checks it once
 * instead of on every evaluation) and unbound on every way out. */
static int gradient(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode, int check_method,
                    const double *theta, int nb, const double *z0, const pn_loss *loss,
                    double *loss_out, double *grad_theta_out, double *grad_z0_out)
{
  if (!S) return PN_ERR_ARG;
  pni_model_bind(S->model, theta);
  const int rc = gradient_bound(S, adjoint, mode, check_method, theta, nb, z0, loss, loss_out,
                                grad_theta_out, grad_z0_out);
  pni_model_bind(S->model, NULL);
  return rc;
}

/* The default method is the same on every rank by construction: no
 * agreement round for it (the training loop calls this every step). */
int pn_solver_gradient(pn_solver *S, const double *theta, int nb, const double *z0,
                       const pn_loss *loss, double *loss_out, double *grad_theta_out,
                       double *grad_z0_out)
{
  return gradient(S, PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI, 0, theta, nb, z0, loss, loss_out,
                  grad_theta_out, grad_z0_out);
}

int pn_solver_gradient_method(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode,
                              const double *theta, int nb, const double *z0, const pn_loss *loss,
                              double *loss_out, double *grad_theta_out, double *grad_z0_out)
{
  return gradient(S, adjoint, mode, 1, theta, nb, z0, loss, loss_out, grad_theta_out,
                  grad_z0_out);
}

static int gradient_bound(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode,
                          int check_method, const double *theta, int nb, const double *z0,
                          const pn_loss *loss, double *loss_out, double *grad_theta_out,
                          double *grad_z0_out)
{
  pn_ctx *ctx = S->ctx;
  begin_stats(S);
  if (check_method) PN_CALL(agree_method(S, adjoint, mode));
  PN_CHECK(ctx,
           S->opts.method != PN_PARALLEL_PARAREAL ||
               (adjoint == PN_ADJOINT_DISCRETE && mode == PN_SWEEP_MULTI),
           PN_ERR_ARG,
           "the parareal method computes the discrete multi-point adjoint only (asked: %s, %s); "
           "use the pipeline method for the other gradient methods",
           pn_adjoint_kind_name(adjoint), pn_sweep_mode_name(mode));
  S->adjoint = adjoint;
  S->sweep = mode;
  PN_CALL(prepare(S, theta, nb, z0, loss, 1));
  const int backsolve = adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE;
  sweep sw = {.loss = loss, .store = !backsolve, .jumps = 1, .zlo = backsolve ? S->mws.zlo : NULL};
  PN_CALL(pni_agree(ctx, time_parallel_forward(S, &sw, theta, z0)));
  const long rhs_before = backward_rhs_count(S);
  PN_CALL(pni_agree(ctx, S->opts.method == PN_PARALLEL_PARAREAL ? pni_parareal_backward(S, theta)
                                                                : backward_sweeps(S, loss, theta)));
  S->stats.rhs_evals_backward = backward_rhs_count(S) - rhs_before;
  const int P = pn_model_nparam(S->model);
  double total = 0.0;
  PN_CALL_MPI(ctx, MPI_Allreduce(&sw.loss_local, &total, 1, MPI_DOUBLE, MPI_SUM, ctx->comm));
  if (grad_theta_out)
    PN_CALL_MPI(ctx, MPI_Allreduce(S->theta_bar, grad_theta_out, P, MPI_DOUBLE, MPI_SUM, ctx->comm));
  if (grad_z0_out) PN_CALL(gather_z0bar(S, mode == PN_SWEEP_SINGLE ? S->mws.z0bar : S->lam,
                                         grad_z0_out));
  if (loss_out) *loss_out = total;
  end_stats(S);
  return PN_OK;
}

/* The names of the solver's enums, in enum order; one lookup for all of them. */
static const char *const adjoint_names[] = {"discrete", "continuous-backsolve",
                                            "continuous-interp", NULL};
static const char *const sweep_names[] = {"multi", "single", NULL};
static const char *const method_names[] = {"pipeline", "parareal", NULL};
static const char *const parareal_adjoint_names[] = {"iterate", "maps", NULL};

PNI_ENUM_NAMES(pn_adjoint_kind, pn_adjoint_kind, adjoint_names)
PNI_ENUM_NAMES(pn_sweep_mode, pn_sweep_mode, sweep_names)
PNI_ENUM_NAMES(pn_parallel_method, pn_parallel_method, method_names)
PNI_ENUM_NAMES(pn_parareal_adjoint, pn_parareal_adjoint, parareal_adjoint_names)

int pn_solver_loss(pn_solver *S, const double *theta, int nb, const double *z0,
                   const pn_loss *loss, double *loss_out)
{
  if (!S) return PN_ERR_ARG;
  pn_ctx *ctx = S->ctx;
  begin_stats(S);
  sweep sw = {.loss = loss};
  pni_model_bind(S->model, theta); /* for this call only, as in gradient */
  int rc = prepare(S, theta, nb, z0, loss, 0);
  if (rc == PN_OK) rc = pni_agree(ctx, time_parallel_forward(S, &sw, theta, z0));
  pni_model_bind(S->model, NULL);
  PN_CALL(rc);
  double total = 0.0;
  PN_CALL_MPI(ctx, MPI_Allreduce(&sw.loss_local, &total, 1, MPI_DOUBLE, MPI_SUM, ctx->comm));
  if (loss_out) *loss_out = total;
  end_stats(S);
  return PN_OK;
}

int pn_solver_forward(pn_solver *S, const double *theta, int nb, const double *z0, int nsave,
                      const long *save_steps, double *states_out)
{
  if (!S) return PN_ERR_ARG;
  pn_ctx *ctx = S->ctx;
  begin_stats(S);
  event *saves = NULL;
  int rc = PN_OK, nown = 0;
  if (nsave < 0 || (nsave > 0 && (!save_steps || !states_out)))
    rc = pni_error(ctx, PN_ERR_ARG, __FILE__, __LINE__, __func__, "bad output request");
  if (rc == PN_OK) rc = pni_calloc(ctx, (size_t)nsave, sizeof(event), &saves, "outputs");
  for (int i = 0; rc == PN_OK && i < nsave; i++) {
    if (save_steps[i] < 0 || save_steps[i] > S->opts.nsteps)
      rc = pni_error(ctx, PN_ERR_ARG, __FILE__, __LINE__, __func__,
                     "output %d asks for grid index %ld, outside 0..%ld", i, save_steps[i],
                     S->opts.nsteps);
    else if (owns(S, save_steps[i]))
      saves[nown++] = (event){save_steps[i], i};
  }
  if (rc == PN_OK) qsort(saves, (size_t)nown, sizeof(event), event_cmp);
  rc = pni_agree(ctx, rc);
  pni_model_bind(S->model, theta); /* for this call only, as in gradient */
  if (rc == PN_OK) rc = prepare(S, theta, nb, z0, NULL, 0);
  const size_t total = (size_t)(nsave > 0 ? nsave : 0) * (size_t)nb * (size_t)pn_model_dim(S->model);
  if (rc == PN_OK) {
    memset(states_out, 0, sizeof(double) * total);
    sweep sw = {.saves = saves, .nsaves = nown, .states_out = states_out};
    rc = pni_agree(ctx, time_parallel_forward(S, &sw, theta, z0));
  }
  pni_model_bind(S->model, NULL);
  /* Each state was written by its owner only; the others hold zeros, so a
   * sum gathers them exactly. */
  if (rc == PN_OK && ctx->size > 1 && total > 0 &&
      MPI_Allreduce(MPI_IN_PLACE, states_out, (int)total, MPI_DOUBLE, MPI_SUM, ctx->comm) !=
          MPI_SUCCESS)
    rc = pn_ctx_fail(ctx, PN_ERR_MPI, "MPI_Allreduce of the saved states failed");
  free(saves);
  end_stats(S);
  return rc;
}
