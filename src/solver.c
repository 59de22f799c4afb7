/* The solver's API and the order of a call: validate the options, prepare
 * the workspaces of a batch, run the parallel method's forward sweep and
 * backward sweeps (pint.h), then sum the loss and θ̄ over the ranks and
 * gather ∂L/∂z0.  Every outcome is agreed on by all ranks, so that they all
 * return the same code and message (docs/parallel.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "ctx_impl.h"
#include "internal.h"
#include "model_impl.h"
#include "platform.h"
#include "solver_state.h"
#include "tdecomp.h"

const pni_pint_ops *pni_pint_method(pn_parallel_method method)
{
  switch (method) {
  case PN_PARALLEL_PIPELINE: return &pni_pipeline_ops;
  case PN_PARALLEL_PARAREAL: return &pni_parareal_ops;
  case PN_PARALLEL_NEWTON: return &pni_newton_ops;
  }
  return NULL;
}

int pni_pint_discrete_multi(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode)
{
  PN_CHECK(S->ctx, adjoint == PN_ADJOINT_DISCRETE && mode == PN_SWEEP_MULTI, PN_ERR_ARG,
           "the %s method computes the discrete multi-point adjoint only (asked: %s, %s); use "
           "the pipeline method for the other gradient methods",
           S->pint->name, pn_adjoint_kind_name(adjoint), pn_sweep_mode_name(mode));
  return PN_OK;
}

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
  const pni_pint_ops *pint = pni_pint_method(o->method);
  PN_CHECK(ctx, pint, PN_ERR_ARG, "unknown parallel method %d (pipeline, parareal or newton)",
           (int)o->method);
  return pint->validate(ctx, o);
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
    S->pint = pni_pint_method(opts->method);
    /* Groups of consecutive ranks: the pipeline's messages stay between
     * neighbours (on one node, as schedulers place consecutive ranks). */
    S->ngroups = opts->batch_groups > 1 ? opts->batch_groups : 1;
    S->size = ctx->size / S->ngroups;
    S->group = ctx->rank / S->size;
    S->rank = ctx->rank % S->size;
    S->h = (opts->t1 - opts->t0) / (double)opts->nsteps;
    pn_split(opts->nsteps, S->size, S->rank, &S->lo, &S->hi);
    rc = pni_calloc(ctx, 2 * (size_t)ctx->size, sizeof(int), &S->gather_counts, "solver");
    if (rc == PN_OK) S->gather_displs = S->gather_counts + ctx->size;
    if (rc == PN_OK) rc = S->pint->create(S);
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

int pn_solver_destroy(pn_solver **solver)
{
  if (!solver || !*solver) return PN_OK;
  pn_solver *S = *solver;
  pni_solver_free_workspace(S);
  if (S->pint) S->pint->destroy(S);
  pni_cadj_free(&S->mws.cadj);
  free(S->mws.buf);
  free(S->labels);
  free(S->jumps);
  free(S->gather_counts);
  free(S);
  *solver = NULL;
  return PN_OK;
}

const pn_solver_opts *pn_solver_get_opts(const pn_solver *solver) { return &solver->opts; }

int pn_solver_get_stats_sized(const pn_solver *solver, pn_stats *stats_out, size_t size)
{
  if (!solver || !stats_out) return PN_ERR_ARG;
  const size_t known = size < sizeof solver->stats ? size : sizeof solver->stats;
  memcpy(stats_out, &solver->stats, known);
  if (size > known) memset((char *)stats_out + known, 0, size - known);
  return PN_OK;
}

/* The function behind the header's macro of the same name (the parentheses
 * keep the macro from expanding): for bindings that call the symbol. */
int(pn_solver_get_stats)(const pn_solver *solver, pn_stats *stats_out)
{
  return pn_solver_get_stats_sized(solver, stats_out, sizeof *stats_out);
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
  PN_CALL(pni_comm_allreduce(ctx, mine, all, 2, MPI_INT, MPI_MAX, "agreeing on a gradient method"));
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
  S->stats.time_mpi = -pni_comm_time(S->ctx);
}

static void end_stats(pn_solver *S)
{
  S->stats.time_mpi += pni_comm_time(S->ctx);
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
  S->stats.bytes_solver = pni_budget_workspace(S, S->batch, S->nmicro, S->traj_ready) +
                          sizeof(double) * S->cap_jumps + pni_solver_method_ws_bytes(S);
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
  if (rc == PN_OK) rc = pni_solver_bind_labels(S, loss, nb);
  if (rc == PN_OK) { /* the group's share: samples [row0, row0 + mine) */
    long lo, hi;
    pn_split(nb, S->ngroups, S->group, &lo, &hi);
    S->full_batch = nb;
    S->row0 = (int)lo;
    rc = pni_solver_setup_batch(S, (int)(hi - lo), with_traj);
    if (rc == PN_OK && gradient) rc = pni_solver_ensure_jumps(S, (int)(hi - lo));
    if (rc == PN_OK && gradient) rc = pni_solver_ensure_method_ws(S, (int)(hi - lo));
  }
  return pni_agree(S->ctx, rc);
}

/* The method's forward sweep on the batch group's samples of z0 (the
 * caller's batch); θ is prepared in the model for the sweep's duration
 * (model_impl.h), and the outcome agreed on. */
static int forward(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  const double *mine = z0 + (size_t)S->row0 * (size_t)pn_model_dim(S->model);
  return pni_agree(S->ctx, S->pint->forward(S, sw, theta, mine));
}

/* ∂L/∂z0 of the caller's batch on every rank, from time rank 0 of each
 * batch group (its rows; the other ranks contribute none): exact copies. */
static int gather_z0bar(pn_solver *S, const double *mine, double *all)
{
  pn_ctx *ctx = S->ctx;
  const int D = pn_model_dim(S->model);
  for (int r = 0; r < ctx->size; r++) {
    long first, end;
    pn_split(S->full_batch, S->ngroups, r / S->size, &first, &end);
    S->gather_counts[r] = r % S->size == 0 ? (int)(end - first) * D : 0;
    S->gather_displs[r] = (int)first * D;
  }
  return pni_comm_allgatherv(ctx, mine, S->gather_counts[ctx->rank], MPI_DOUBLE, all,
                             S->gather_counts, S->gather_displs, "gathering dL/dz0");
}

static long backward_rhs_count(const pn_solver *S) { return S->st.rhs_evals + S->mws.cadj.rhs_evals; }

/* A gradient with θ prepared in the model (model_impl.h). */
static int gradient_prepared(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode,
                             int check_method, const double *theta, int nb, const double *z0,
                             const pn_loss *loss, double *loss_out, double *grad_theta_out,
                             double *grad_z0_out)
{
  pn_ctx *ctx = S->ctx;
  if (check_method) PN_CALL(agree_method(S, adjoint, mode));
  PN_CALL(S->pint->supports(S, adjoint, mode));
  S->adjoint = adjoint;
  S->sweep = mode;
  PN_CALL(prepare(S, theta, nb, z0, loss, 1));
  const int backsolve = adjoint == PN_ADJOINT_CONTINUOUS_BACKSOLVE;
  sweep sw = {.loss = loss, .store = !backsolve, .jumps = 1, .zlo = backsolve ? S->mws.zlo : NULL};
  PN_CALL(forward(S, &sw, theta, z0));
  const long rhs_before = backward_rhs_count(S);
  PN_CALL(pni_agree(ctx, S->pint->backward(S, loss, theta)));
  S->stats.rhs_evals_backward = backward_rhs_count(S) - rhs_before;
  const int P = pn_model_nparam(S->model);
  double total = 0.0;
  PN_CALL(pni_comm_allreduce(ctx, &sw.loss_local, &total, 1, MPI_DOUBLE, MPI_SUM,
                             "summing the loss"));
  if (grad_theta_out)
    PN_CALL(pni_comm_allreduce(ctx, S->theta_bar, grad_theta_out, P, MPI_DOUBLE, MPI_SUM,
                               "summing dL/dtheta"));
  if (grad_z0_out)
    PN_CALL(gather_z0bar(S, mode == PN_SWEEP_SINGLE ? S->mws.z0bar : S->lam, grad_z0_out));
  if (loss_out) *loss_out = total;
  return PN_OK;
}

/* θ is prepared in the model for the call and released on every way out. */
static int gradient(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode, int check_method,
                    const double *theta, int nb, const double *z0, const pn_loss *loss,
                    double *loss_out, double *grad_theta_out, double *grad_z0_out)
{
  if (!S) return PN_ERR_ARG;
  begin_stats(S);
  pni_model_bind(S->model, theta);
  const int rc = gradient_prepared(S, adjoint, mode, check_method, theta, nb, z0, loss, loss_out,
                                   grad_theta_out, grad_z0_out);
  pni_model_bind(S->model, NULL);
  if (rc == PN_OK) end_stats(S);
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

/* The names of the solver's enums, in enum order; one lookup for all of them. */
static const char *const adjoint_names[] = {"discrete", "continuous-backsolve",
                                            "continuous-interp", NULL};
static const char *const sweep_names[] = {"multi", "single", NULL};
static const char *const method_names[] = {"pipeline", "parareal", "newton", NULL};
static const char *const newton_start_names[] = {"auto", "flat", "coarse", "coarse-newton", NULL};
static const char *const parareal_adjoint_names[] = {"iterate", "maps", NULL};

PNI_ENUM_NAMES(pn_adjoint_kind, pn_adjoint_kind, adjoint_names)
PNI_ENUM_NAMES(pn_sweep_mode, pn_sweep_mode, sweep_names)
PNI_ENUM_NAMES(pn_parallel_method, pn_parallel_method, method_names)
PNI_ENUM_NAMES(pn_parareal_adjoint, pn_parareal_adjoint, parareal_adjoint_names)
PNI_ENUM_NAMES(pn_newton_start, pn_newton_start, newton_start_names)

const char *pn_newton_fallback_text(pn_newton_fallback reason)
{
  switch (reason) {
  case PN_NEWTON_NO_FALLBACK: return "converged";
  case PN_NEWTON_GROWTH:
    return "the dynamics expand: a perturbation at t0 grows beyond the newton growth limit";
  case PN_NEWTON_DIVERGED: return "two Newton sweeps in a row did not reduce the largest defect";
  case PN_NEWTON_NONFINITE: return "a state or tangent overflowed from a block start";
  case PN_NEWTON_MAX_ITER: return "no convergence within newton max_iter sweeps";
  }
  return "?";
}

int pn_solver_loss(pn_solver *S, const double *theta, int nb, const double *z0,
                   const pn_loss *loss, double *loss_out)
{
  if (!S) return PN_ERR_ARG;
  pn_ctx *ctx = S->ctx;
  begin_stats(S);
  sweep sw = {.loss = loss};
  pni_model_bind(S->model, theta); /* for this call only, as in gradient */
  int rc = prepare(S, theta, nb, z0, loss, 0);
  if (rc == PN_OK) rc = forward(S, &sw, theta, z0);
  pni_model_bind(S->model, NULL);
  PN_CALL(rc);
  double total = 0.0;
  PN_CALL(pni_comm_allreduce(ctx, &sw.loss_local, &total, 1, MPI_DOUBLE, MPI_SUM,
                             "summing the loss"));
  if (loss_out) *loss_out = total;
  end_stats(S);
  return PN_OK;
}

/* The requested outputs this rank owns, sorted by step; the same verdict on
 * every rank. */
static int own_outputs(pn_solver *S, int nsave, const long *save_steps, double *states_out,
                       event **saves_out, int *nown_out)
{
  pn_ctx *ctx = S->ctx;
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
    else if (pni_owns(S->lo, S->hi, save_steps[i]))
      saves[nown++] = (event){save_steps[i], i};
  }
  if (rc == PN_OK) qsort(saves, (size_t)nown, sizeof(event), pni_event_cmp);
  *saves_out = saves;
  *nown_out = nown;
  return pni_agree(ctx, rc);
}

int pn_solver_forward(pn_solver *S, const double *theta, int nb, const double *z0, int nsave,
                      const long *save_steps, double *states_out)
{
  if (!S) return PN_ERR_ARG;
  pn_ctx *ctx = S->ctx;
  begin_stats(S);
  event *saves = NULL;
  int nown = 0;
  int rc = own_outputs(S, nsave, save_steps, states_out, &saves, &nown);
  pni_model_bind(S->model, theta); /* for this call only, as in gradient */
  if (rc == PN_OK) rc = prepare(S, theta, nb, z0, NULL, 0);
  const size_t total = (size_t)(nsave > 0 ? nsave : 0) * (size_t)nb * (size_t)pn_model_dim(S->model);
  if (rc == PN_OK) {
    memset(states_out, 0, sizeof(double) * total);
    sweep sw = {.saves = saves, .nsaves = nown, .states_out = states_out};
    rc = forward(S, &sw, theta, z0);
  }
  pni_model_bind(S->model, NULL);
  /* Each state was written by its owner only; the others hold zeros, so a
   * sum gathers them exactly. */
  if (rc == PN_OK && ctx->size > 1 && total > 0)
    rc = pni_comm_allreduce(ctx, MPI_IN_PLACE, states_out, (int)total, MPI_DOUBLE, MPI_SUM,
                            "gathering the saved states");
  free(saves);
  end_stats(S);
  return rc;
}
