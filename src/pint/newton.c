/* Newton shooting in time (docs/parallel.md), for one to a few long trajectories
 * on many ranks, where the pipeline has no micro-batches to overlap and
 * Parareal's coarse sweep is serial across the ranks.
 *
 * Forward.  U_r is the state at the start of rank r's block (U_0 = z0).
 * Every sweep, each rank integrates its block from U_r together with D
 * tangent directions started at the identity (pni_step_tangent: the state
 * rows bitwise those of the plain step), giving F_r = F(U_r) and the block
 * Jacobian J_r = ∂F/∂U (D×D per sample); it records its trajectory and
 * evaluates its labels on the way.  Rank r sends (F_r, J_r) to rank r + 1,
 * which forms its defect d_{r+1} = F_r − U_{r+1}.  Newton's corrections
 * obey δ_0 = 0, δ_{r+1} = J_r δ_r + d_{r+1}: affine maps composed by one
 * exclusive scan across the ranks (scan.h, ⌈log₂ P⌉ rounds), after which
 * U_{r+1} ← F_r + J_r δ_r.  The sweeps stop when the largest relative
 * defect is ≤ tol: that sweep's trajectory, loss and jumps are the answer.
 * A rank whose U_r did not change skips its sweep.  Since δ_r is exactly 0
 * when every defect to its left is, the first k block starts are bitwise
 * those of one rank after k sweeps, and all of them after P.
 *
 * Adjoint.  The block's discrete adjoint is the transpose of the same
 * linearisation: λ_lo = J_rᵀ λ_hi + j_r, j_r = Σ_m T_mᵀ g_m over the block's
 * labels (T_m = ∂z_m/∂U_r, the tangents at the label, g_m its jump), which
 * the forward sweep gathers as it goes.  One exclusive scan from right to
 * left gives every rank its λ_hi; one backward sweep then accumulates θ̄.
 *
 * Starts: warm (the previous call's converged U_r, when z0 repeats), or
 * cold: flat (U_r = z0), a serial coarse sweep, or Newton shooting on the
 * coarse propagator (the default: its cost does not grow with P).
 *
 * Safeguards: when a sweep overflows, the block Jacobians' product grows
 * beyond growth_limit, two sweeps in a row leave the largest defect no
 * smaller (one may, on the way from a poor start to oscillatory dynamics),
 * or max_iter sweeps do not converge, the call falls back to the pipeline:
 * the same numbers as `pipeline` (pn_stats.newton_fallback says why). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "internal.h"
#include "scan.h"
#include "solver_state.h"

typedef struct newton {
  pn_tableau *coarse_tab; /* the coarse starts' scheme */
  void *pipeline;         /* the pipeline's state, for the calls that fall back */
  int full_batch;         /* the caller's batch the buffers were made for */
  pni_stepper fine, coarse; /* B·(1+D) rows each */
  pni_link link;          /* slot 0: F and J to the right; slot 1: coarse starts */
  pni_scan scan;
  double *buf;            /* the buffers below, one allocation */
  double *zt;             /* B(1+D)×D: the states, then D blocks of tangents */
  double *U;              /* B×D: my block start */
  double *mine, *left;    /* B(D + D²) each: F then J (J_b row-major) of my block,
                             and of my left neighbour's */
  double *jsum;           /* B×D: Σ over my labels of T_mᵀ g_m */
  double *warm_U, *warm_z0; /* B×D each: the last converged start, and its z0 */
  double *warm_theta;     /* the parameters it converged for */
  int warm_valid;
  double zscale;          /* ‖z0‖∞: floor of the relative defects */
  pn_newton_fallback fell_back; /* this call runs on the pipeline */
} newton;

/* What a sweep integrates: the real steps of my block (recording, labels)
 * or the coarse propagator over it. */
typedef struct prop {
  pni_stepper *st;
  long steps;
  double H; /* the coarse step (the fine one uses the grid) */
  int fine;
} prop;

/* How an iteration ended, the same on every rank. */
typedef enum outcome { CONVERGED, FAILED, FALL_BACK } outcome;

static int dim(const pn_solver *S) { return pn_model_dim(S->model); }
static size_t width(const pn_solver *S) { return (size_t)S->batch * (size_t)dim(S); }

static double newton_tol(const pn_solver *S)
{
  return S->opts.newton.tol > 0.0 ? S->opts.newton.tol : 1e-13;
}

static long coarse_steps(const pn_solver *S)
{
  const long len = S->hi - S->lo;
  return S->opts.newton.coarse_steps > 0 ? S->opts.newton.coarse_steps : (len + 15) / 16;
}

/* ---- workspace -------------------------------------------------------------- */

static size_t doubles_needed(const pn_solver *S, int batch)
{
  const size_t D = (size_t)dim(S), w = (size_t)batch * D;
  return (1 + D) * w + 2 * (w + D * w) + 4 * w + (size_t)pn_model_nparam(S->model);
}

static size_t bytes(const pn_solver *S, int batch)
{
  const newton *nw = S->pint_state;
  const int D = dim(S);
  const size_t w = (size_t)batch * (size_t)D, len[2] = {w * (1 + (size_t)D), w};
  return sizeof(newton) + sizeof(double) * doubles_needed(S, batch) +
         pni_stepper_bytes(S->tab, S->model, batch * (1 + D)) +
         pni_stepper_bytes(nw->coarse_tab, S->model, batch * (1 + D)) +
         pni_link_bytes(2, len[0] + len[1]) + pni_scan_bytes(batch, D);
}

static void free_buffers(newton *nw)
{
  pni_stepper_free(&nw->fine);
  pni_stepper_free(&nw->coarse);
  pni_link_free(&nw->link);
  pni_scan_free(&nw->scan);
  free(nw->buf);
  nw->buf = NULL;
  nw->full_batch = 0;
  nw->warm_valid = 0;
}

static int setup_local(pn_solver *S)
{
  pn_ctx *ctx = S->ctx;
  newton *nw = S->pint_state;
  free_buffers(nw);
  const int B = S->batch, D = dim(S);
  const size_t w = width(S), len[2] = {w * (1 + (size_t)D), w};
  PN_CHECK(ctx, (size_t)B * (size_t)(D + 1) <= (size_t)INT32_MAX / 2, PN_ERR_LIMIT,
           "batch %d x (dimension %d + 1) tangent rows are too many for Newton shooting", B, D);
  PN_CALL(pni_calloc(ctx, doubles_needed(S, B), sizeof(double), &nw->buf, "Newton buffers"));
  nw->zt = nw->buf;
  nw->U = nw->zt + (1 + (size_t)D) * w;
  nw->mine = nw->U + w;
  nw->left = nw->mine + len[0];
  nw->jsum = nw->left + len[0];
  nw->warm_U = nw->jsum + w;
  nw->warm_z0 = nw->warm_U + w;
  nw->warm_theta = nw->warm_z0 + w;
  PN_CALL(pni_stepper_init(&nw->fine, ctx, S->tab, S->model, B * (1 + D)));
  PN_CALL(pni_stepper_init(&nw->coarse, ctx, nw->coarse_tab, S->model, B * (1 + D)));
  PN_CALL(pni_link_init(&nw->link, ctx, 2, len));
  return pni_scan_init(&nw->scan, ctx, B, D);
}

/* Collective: every rank's buffers, agreed, for the caller's batch. */
static int setup(pn_solver *S)
{
  newton *nw = S->pint_state;
  if (nw->buf && nw->full_batch == S->full_batch) return PN_OK;
  PN_CALL(pni_agree(S->ctx, setup_local(S)));
  nw->full_batch = S->full_batch;
  return PN_OK;
}

static int create(pn_solver *S)
{
  newton *nw = NULL;
  PN_CALL(pni_calloc(S->ctx, 1, sizeof *nw, &nw, "Newton state"));
  S->pint_state = nw;
  const char *name =
      S->opts.newton.coarse_scheme[0] ? S->opts.newton.coarse_scheme : pn_tableau_name(S->tab);
  PN_CALL(pn_tableau_create(S->ctx, name, &nw->coarse_tab));
  /* The pipeline's own state, for the calls that fall back. */
  S->pint_state = NULL;
  const int rc = pni_pipeline_ops.create(S);
  nw->pipeline = S->pint_state;
  S->pint_state = nw;
  return rc;
}

/* ---- running on the pipeline --------------------------------------------------- */

static void as_pipeline(pn_solver *S, newton *nw)
{
  S->pint = &pni_pipeline_ops;
  S->pint_state = nw->pipeline;
}

static void as_newton(pn_solver *S, newton *nw)
{
  S->pint = &pni_newton_ops;
  S->pint_state = nw;
}

static void destroy(pn_solver *S)
{
  newton *nw = S->pint_state;
  if (!nw) return;
  as_pipeline(S, nw);
  pni_pipeline_ops.destroy(S);
  as_newton(S, nw);
  free_buffers(nw);
  pn_tableau_destroy(&nw->coarse_tab);
  free(nw);
  S->pint_state = NULL;
}

/* The forward sweep of this call on the pipeline, with the pipeline's own
 * micro-batches: the same numbers as the pipeline method. */
static int pipeline_forward(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  newton *nw = S->pint_state;
  as_pipeline(S, nw);
  int rc = pni_agree(S->ctx, pni_solver_setup_batch(S, S->batch, sw->store));
  sw->loss_local = 0.0;
  if (rc == PN_OK) rc = pni_pipeline_ops.forward(S, sw, theta, z0);
  as_newton(S, nw);
  return rc;
}

/* ---- one sweep ---------------------------------------------------------------------- */

/* jsum += T_mᵀ g_m for the labels [l0, l1) evaluated at the current state
 * (their jumps g_m in S->jumps, the tangents T_m in zt). */
static void gather_jumps(pn_solver *S, int l0, int l1)
{
  newton *nw = S->pint_state;
  const int B = S->batch, D = dim(S);
  const size_t w = width(S);
  for (int l = l0; l < l1; l++) {
    const double *g = S->jumps + (size_t)l * w;
    for (int b = 0; b < B; b++)
      for (int k = 0; k < D; k++) { /* (T_bᵀ g_b)_k = Σ_i T_b[i][k] g_b[i]; column k is block k */
        const double *col = nw->zt + (size_t)(1 + k) * w + (size_t)b * D;
        double s = 0.0;
        for (int i = 0; i < D; i++) s += col[i] * g[(size_t)b * D + i];
        nw->jsum[(size_t)b * D + k] += s;
      }
  }
}

/* The labels and outputs at grid index `step`, and their jumps' part of the
 * adjoint map. */
static int events(pn_solver *S, sweep *sw, long step, int *li, int *si)
{
  const int l0 = *li;
  PN_CALL(pni_block_events(S, sw, step, 0, ((newton *)S->pint_state)->zt, li, si));
  if (sw->jumps) gather_jumps(S, l0, *li);
  return PN_OK;
}

/* F and J of the block from the state and tangents at its end. */
static void pack_end(pn_solver *S)
{
  newton *nw = S->pint_state;
  const int B = S->batch, D = dim(S);
  const size_t w = width(S);
  memcpy(nw->mine, nw->zt, sizeof(double) * w);
  double *J = nw->mine + w;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < D; i++)
      for (int e = 0; e < D; e++)
        J[(size_t)b * D * D + (size_t)i * D + e] = nw->zt[(size_t)(1 + e) * w + (size_t)b * D + i];
}

/* One sweep of my block from U with D tangents started at the identity.
 * *overflow: a state or tangent is not finite at the block's end (no
 * error: a bad block start can do that; the call then falls back). */
static int sweep_block(pn_solver *S, const prop *pr, sweep *sw, const double *theta, int *overflow)
{
  newton *nw = S->pint_state;
  const int B = S->batch, D = dim(S);
  const size_t w = width(S);
  memcpy(nw->zt, nw->U, sizeof(double) * w);
  memset(nw->zt + w, 0, sizeof(double) * (size_t)D * w);
  for (int e = 0; e < D; e++)
    for (int b = 0; b < B; b++) nw->zt[(size_t)(1 + e) * w + (size_t)b * D + e] = 1.0;
  int li = 0, si = 0;
  if (pr->fine) {
    memset(nw->jsum, 0, sizeof(double) * w);
    sw->loss_local = 0.0;
    if (S->lo == 0) PN_CALL(events(S, sw, 0, &li, &si));
  }
  const double T0 = pni_solver_time(S, S->lo);
  for (long j = 0; j < pr->steps; j++) {
    const long n = S->lo + j;
    const double t = pr->fine ? pni_solver_time(S, n) : T0 + (double)j * pr->H;
    if (pr->fine && sw->store) pni_traj_record(&S->traj[0], n, nw->zt);
    PN_CALL(pni_solver_in_step(
        S, pni_step_tangent(pr->st, t, pr->fine ? S->h : pr->H, B, D, nw->zt, theta, nw->zt),
        "Newton", n));
    if (pr->fine) PN_CALL(events(S, sw, n + 1, &li, &si));
  }
  if (pr->fine) S->stats.steps_forward += pr->steps;
  else S->stats.coarse_steps += pr->steps;
  /* An overflow stays: Inf and NaN do not turn finite through the steps. */
  *overflow = pni_first_nonfinite(nw->zt, (1 + (size_t)D) * w) >= 0;
  pack_end(S);
  return PN_OK;
}

/* ---- one Newton iteration ---------------------------------------------------------- */

/* Send my F and J to the right neighbour, receive my left neighbour's. */
static void exchange(pn_solver *S, int *rc, int *upstream)
{
  newton *nw = S->pint_state;
  int status = PN_OK, step = PN_OK;
  if (S->rank > 0) step = pni_link_post(&nw->link, 0, pni_solver_peer(S, S->rank - 1),
                                        PNI_TAG_NEWTON);
  if (*rc == PN_OK) *rc = step;
  if (S->rank < S->size - 1) {
    step = pni_link_send(&nw->link, 0, nw->mine, *rc != PN_OK ? *rc : *upstream,
                         pni_solver_peer(S, S->rank + 1), PNI_TAG_NEWTON);
    if (*rc == PN_OK) *rc = step;
  }
  if (S->rank > 0 && *rc == PN_OK) {
    *rc = pni_link_receive(&nw->link, 0, nw->left, &status);
    if (status != PN_OK) *upstream = PN_ERR_REMOTE;
  }
}

static double max_abs(const double *x, size_t n)
{
  double m = 0.0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
  return m;
}

/* My map for the scan, and my relative defect: rank 0 has none (its start
 * is z0) and the identity map; rank r the map δ ↦ J_{r−1} δ + d_r.  After a
 * failure (nothing valid to send), the identity: the scan still runs on
 * every rank. */
static double make_map(pn_solver *S, int failed)
{
  newton *nw = S->pint_state;
  const int B = S->batch, D = dim(S);
  const size_t w = width(S);
  double dmax = 0.0;
  for (int b = 0; b < B; b++) {
    double *A = pni_scan_record(&nw->scan, nw->scan.mine, b), *c = A + (size_t)D * D;
    for (int i = 0; i < D; i++) {
      const size_t x = (size_t)b * D + (size_t)i;
      if (S->rank == 0 || failed) {
        for (int k = 0; k < D; k++) A[i * D + k] = i == k ? 1.0 : 0.0;
        c[i] = 0.0;
        continue;
      }
      memcpy(A + (size_t)i * D, nw->left + w + (size_t)b * D * D + (size_t)i * D,
             sizeof(double) * (size_t)D);
      c[i] = nw->left[x] - nw->U[x];
      dmax = fmax(dmax, fabs(c[i]));
    }
  }
  return S->rank == 0 || failed ? 0.0 : dmax / fmax(max_abs(nw->U, w), nw->zscale);
}

/* ‖J_{r−1}⋯J_0‖∞ on rank r: the scan's product of the maps to my left
 * (J_{r−2}⋯J_0) times my left neighbour's J, largest over the samples. */
static double growth(pn_solver *S)
{
  newton *nw = S->pint_state;
  if (S->rank == 0 || !nw->scan.has_result) return 0.0;
  const int B = S->batch, D = dim(S);
  const size_t w = width(S);
  double g = 0.0;
  for (int b = 0; b < B; b++) {
    const double *P = pni_scan_record(&nw->scan, nw->scan.result, b);
    const double *J = nw->left + w + (size_t)b * D * D;
    for (int i = 0; i < D; i++) {
      double row = 0.0;
      for (int j = 0; j < D; j++) {
        double s = 0.0;
        for (int k = 0; k < D; k++) s += J[i * D + k] * P[k * D + j];
        row += fabs(s);
      }
      g = fmax(g, row);
    }
  }
  return g;
}

/* U_r ← F_{r−1} + J_{r−1} δ_{r−1} (δ: the scan's affine part); returns
 * whether U_r changed. */
static int correct(pn_solver *S)
{
  newton *nw = S->pint_state;
  if (S->rank == 0) return 0;
  const int B = S->batch, D = dim(S);
  const size_t w = width(S);
  int changed = 0;
  for (int b = 0; b < B; b++) {
    const double *delta = pni_scan_record(&nw->scan, nw->scan.result, b) + (size_t)D * D;
    const double *J = nw->left + w + (size_t)b * D * D, *F = nw->left + (size_t)b * D;
    double *U = nw->U + (size_t)b * D;
    for (int i = 0; i < D; i++) {
      double s = F[i];
      for (int k = 0; k < D; k++) s += J[i * D + k] * delta[k];
      changed |= s != U[i] || signbit(s) != signbit(U[i]);
      U[i] = s;
    }
  }
  return changed;
}

/* Newton iterations with a propagator, from the block starts in U, until
 * the largest relative defect is ≤ tol.  history: the defects (the first
 * PN_PARAREAL_HISTORY), *grown: the largest growth seen (both may be NULL);
 * *iterations: sweeps taken (collective count);
 * *why: the reason of a FALL_BACK; *rc: this rank's error on FAILED (the
 * caller agrees on it).  Every rank takes part in every exchange, scan and
 * reduction, failed or not, so that none is left waiting. */
static outcome iterate(pn_solver *S, const prop *pr, sweep *sw, const double *theta, double tol,
                       int kmax, double *history, double *grown, int *iterations,
                       pn_newton_fallback *why, int *rc)
{
  newton *nw = S->pint_state;
  const double limit = S->opts.newton.growth_limit > 0 ? S->opts.newton.growth_limit : 1e6;
  int upstream = PN_OK, fresh = 1, overflow = 0;
  double before = INFINITY, last = INFINITY; /* the defects one and two sweeps back */
  for (int k = 0;; k++) {
    if (*rc == PN_OK && upstream == PN_OK && fresh) *rc = sweep_block(S, pr, sw, theta, &overflow);
    else if (pr->fine && *rc == PN_OK && upstream == PN_OK) S->stats.newton_sweeps_skipped++;
    exchange(S, rc, &upstream);
    const int failed = *rc != PN_OK || upstream != PN_OK;
    const double defect = make_map(S, failed);
    const double t = pni_wtime();
    const int scanned = pni_scan_exclusive(&nw->scan, S->rank, S->size, pni_solver_peer(S, 0), 1,
                                           PNI_TAG_SCAN);
    S->stats.time_scan += pni_wtime() - t;
    if (*rc == PN_OK) *rc = scanned;
    const double mine[4] = {defect, growth(S), overflow, *rc != PN_OK || upstream != PN_OK};
    double all[4] = {0.0, 0.0, 0.0, 1.0};
    const int reduced = pni_comm_allreduce(S->ctx, mine, all, 4, MPI_DOUBLE, MPI_MAX,
                                           "agreeing on a Newton iteration");
    if (*rc == PN_OK) *rc = reduced;
    *iterations = k + 1;
    if (history && k < PN_PARAREAL_HISTORY) history[k] = all[0];
    if (grown && all[1] > *grown) *grown = all[1];
    if (all[3] != 0.0) {
      if (*rc == PN_OK) *rc = PN_ERR_REMOTE; /* the failing rank's message is agreed on */
      return FAILED;
    }
    if (all[2] != 0.0) *why = PN_NEWTON_NONFINITE;
    else if (all[1] > limit) *why = PN_NEWTON_GROWTH;
    else if (all[0] <= tol) return CONVERGED;
    else if (all[0] >= before) *why = PN_NEWTON_DIVERGED;
    else if (k + 1 >= kmax) *why = PN_NEWTON_MAX_ITER;
    else {
      before = last;
      last = all[0];
      fresh = correct(S);
      continue;
    }
    return FALL_BACK;
  }
}

/* ---- starts ----------------------------------------------------------------------------- */

/* A serial sweep of the coarse propagator: U_{r+1} = G(U_r), rank by rank. */
static int coarse_serial(pn_solver *S, const double *theta)
{
  newton *nw = S->pint_state;
  const size_t w = width(S);
  int rc = PN_OK, status = PN_OK;
  if (S->rank > 0) {
    rc = pni_link_post(&nw->link, 1, pni_solver_peer(S, S->rank - 1), PNI_TAG_NEWTON_START);
    if (rc == PN_OK) rc = pni_link_receive(&nw->link, 1, nw->U, &status);
    if (rc == PN_OK && status != PN_OK) rc = PN_ERR_REMOTE;
  }
  if (S->rank == S->size - 1) return rc;
  const long nc = coarse_steps(S);
  const double T0 = pni_solver_time(S, S->lo), T1 = pni_solver_time(S, S->hi);
  const double H = (T1 - T0) / (double)nc;
  double *G = nw->zt; /* scratch */
  memcpy(G, nw->U, sizeof(double) * w);
  for (long j = 0; j < nc && rc == PN_OK; j++)
    rc = pni_step(&nw->coarse, T0 + (double)j * H, H, S->batch, G, theta, G);
  S->stats.coarse_steps += nc;
  const int sent = pni_link_send(&nw->link, 1, G, rc, pni_solver_peer(S, S->rank + 1),
                                 PNI_TAG_NEWTON_START);
  return rc != PN_OK ? rc : sent;
}

/* Newton shooting on the coarse propagator from the block starts in U, to
 * the coarse solution's own accuracy; a coarse iteration that fails to
 * converge leaves U as it was and *converged = 0. */
static int coarse_newton(pn_solver *S, sweep *sw, const double *theta, int *converged)
{
  newton *nw = S->pint_state;
  const size_t w = width(S);
  const long nc = coarse_steps(S);
  const prop pr = {&nw->coarse, nc,
                   (pni_solver_time(S, S->hi) - pni_solver_time(S, S->lo)) / (double)nc, 0};
  int rc = PN_OK, k = 0;
  pn_newton_fallback why = PN_NEWTON_NO_FALLBACK;
  const int kmax = S->opts.newton.max_iter > 0 ? S->opts.newton.max_iter : S->size;
  memcpy(nw->warm_U, nw->U, sizeof(double) * w); /* kept in case the coarse iteration fails */
  const outcome out = iterate(S, &pr, sw, theta, 1e-8, kmax, NULL, NULL, &k, &why, &rc);
  S->stats.newton_coarse_iterations = k;
  *converged = out == CONVERGED;
  if (out == FAILED) return rc;
  if (out == FALL_BACK) memcpy(nw->U, nw->warm_U, sizeof(double) * w);
  return PN_OK;
}

/* The block starts a call begins from.  Warm when z0 repeats: the previous
 * call's converged starts, as they are for the same θ (one sweep then
 * confirms them), else as the guess the cold start improves on (the coarse
 * Newton start then needs fewer coarse sweeps).  Cold: from z0.  The
 * automatic start is coarse Newton, whose cost does not grow with P; where
 * it does not converge (oscillations whose phase a flat guess gets wrong
 * over long blocks, or a step of θ that moved the phase), the serial coarse
 * sweep instead. */
static int start(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  newton *nw = S->pint_state;
  const size_t w = width(S), np = (size_t)pn_model_nparam(S->model);
  const pn_newton_start how =
      S->opts.newton.start == PN_NEWTON_START_AUTO ? PN_NEWTON_START_COARSE_NEWTON
                                                   : S->opts.newton.start;
  const int warm = !S->opts.newton.no_warm && nw->warm_valid &&
                   memcmp(nw->warm_z0, z0, sizeof(double) * w) == 0;
  S->stats.newton_warm = warm;
  S->stats.newton_start = how;
  memcpy(nw->U, warm && S->rank > 0 ? nw->warm_U : z0, sizeof(double) * w);
  if (warm && memcmp(nw->warm_theta, theta, sizeof(double) * np) == 0) return PN_OK;
  if (how == PN_NEWTON_START_FLAT) return PN_OK;
  if (how == PN_NEWTON_START_COARSE) return pni_agree(S->ctx, coarse_serial(S, theta));
  int converged = 0;
  PN_CALL(pni_agree(S->ctx, coarse_newton(S, sw, theta, &converged)));
  if (converged || S->opts.newton.start != PN_NEWTON_START_AUTO) return PN_OK;
  S->stats.newton_start = PN_NEWTON_START_COARSE;
  return pni_agree(S->ctx, coarse_serial(S, theta));
}

/* ---- the method ----------------------------------------------------------------------- */

static int forward(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  newton *nw = S->pint_state;
  nw->fell_back = PN_NEWTON_NO_FALLBACK;
  if (S->size == 1) { /* one block: the serial sweep itself, no tangents needed */
    nw->fell_back = PN_NEWTON_NO_FALLBACK;
    return pipeline_forward(S, sw, theta, z0);
  }
  PN_CALL(setup(S));
  const double t0 = pni_wtime();
  nw->zscale = max_abs(z0, width(S));
  nw->warm_valid = nw->warm_valid && !S->opts.newton.no_warm;
  PN_CALL(start(S, sw, theta, z0));
  const prop pr = {&nw->fine, S->hi - S->lo, 0.0, 1};
  const int kmax = S->opts.newton.max_iter > 0 ? S->opts.newton.max_iter : S->size;
  int rc = PN_OK;
  pn_newton_fallback why = PN_NEWTON_NO_FALLBACK;
  const outcome out = iterate(S, &pr, sw, theta, newton_tol(S), kmax, S->stats.newton_defect,
                              &S->stats.newton_growth, &S->stats.newton_iterations, &why, &rc);
  const int sent = pni_link_wait_sends(&nw->link);
  if (rc == PN_OK) rc = sent;
  S->stats.time_wait += nw->link.time_wait;
  nw->link.time_wait = 0.0;
  S->stats.time_forward += pni_wtime() - t0;
  if (out == FAILED || rc != PN_OK) return rc;
  if (out == FALL_BACK) {
    nw->warm_valid = 0;
    nw->fell_back = S->stats.newton_fallback = why;
    return pipeline_forward(S, sw, theta, z0);
  }
  memcpy(nw->warm_U, nw->U, sizeof(double) * width(S));
  memcpy(nw->warm_z0, z0, sizeof(double) * width(S));
  memcpy(nw->warm_theta, theta, sizeof(double) * (size_t)pn_model_nparam(S->model));
  nw->warm_valid = 1;
  return PN_OK;
}

/* The adjoint maps λ ↦ J_rᵀ λ + j_r, composed from the right. */
static int backward(pn_solver *S, const pn_loss *loss, const double *theta)
{
  newton *nw = S->pint_state;
  if (S->size == 1 || nw->fell_back != PN_NEWTON_NO_FALLBACK) {
    as_pipeline(S, nw);
    const int rc = pni_pipeline_ops.backward(S, loss, theta);
    as_newton(S, nw);
    return rc;
  }
  const int B = S->batch, D = dim(S);
  const size_t w = width(S);
  const double t = pni_wtime();
  for (int b = 0; b < B; b++) {
    double *A = pni_scan_record(&nw->scan, nw->scan.mine, b), *c = A + (size_t)D * D;
    const double *J = nw->mine + w + (size_t)b * D * D;
    for (int i = 0; i < D; i++) {
      for (int k = 0; k < D; k++) A[i * D + k] = J[k * D + i];
      c[i] = nw->jsum[(size_t)b * D + i];
    }
  }
  /* Right to left: time rank size−1 is first in the order. */
  PN_CALL(pni_scan_exclusive(&nw->scan, S->size - 1 - S->rank, S->size,
                             pni_solver_peer(S, S->size - 1), -1, PNI_TAG_SCAN));
  S->stats.time_scan += pni_wtime() - t;
  for (int b = 0; b < B; b++) {
    const double *c = pni_scan_record(&nw->scan, nw->scan.result, b) + (size_t)D * D;
    for (int i = 0; i < D; i++) S->lam[(size_t)b * D + i] = nw->scan.has_result ? c[i] : 0.0;
  }
  memset(S->theta_bar, 0, sizeof(double) * (size_t)pn_model_nparam(S->model));
  bsweep bw = {.label = -1, .top = S->opts.nsteps};
  const int rc = pni_block_backward(S, &bw, 0, theta, S->lam);
  S->stats.sweeps_backward++;
  S->stats.time_backward += pni_wtime() - t;
  return rc;
}

static int validate(pn_ctx *ctx, const pn_solver_opts *o)
{
  PN_CHECK(ctx, o->storage != PN_STORE_STAGES, PN_ERR_ARG,
           "storage 'stages' keeps the stage tape of one sweep, which Newton's repeated sweeps "
           "with tangents do not record: use all, every, binomial or auto");
  const pn_newton_opts *nt = &o->newton;
  PN_CHECK(ctx, nt->max_iter >= 0, PN_ERR_ARG,
           "newton max_iter = %d: need >= 0 (0 = the number of ranks)", nt->max_iter);
  PN_CHECK(ctx, isfinite(nt->tol) && nt->tol >= 0.0, PN_ERR_ARG,
           "newton tol = %g: need a finite number >= 0 (0 = 1e-13)", nt->tol);
  PN_CHECK(ctx, isfinite(nt->growth_limit) && nt->growth_limit >= 0.0, PN_ERR_ARG,
           "newton growth_limit = %g: need a finite number >= 0 (0 = 1e6)", nt->growth_limit);
  PN_CHECK(ctx, nt->start >= PN_NEWTON_START_AUTO && nt->start <= PN_NEWTON_START_COARSE_NEWTON,
           PN_ERR_ARG, "unknown newton start %d (auto, flat, coarse or coarse-newton)",
           (int)nt->start);
  PN_CHECK(ctx, nt->coarse_steps >= 0, PN_ERR_ARG,
           "newton coarse_steps = %ld: need >= 0 (0 = a sixteenth of the block)", nt->coarse_steps);
  PN_CHECK(ctx, memchr(nt->coarse_scheme, '\0', sizeof nt->coarse_scheme) != NULL, PN_ERR_ARG,
           "newton coarse_scheme is not a terminated string");
  return PN_OK;
}

/* The whole batch goes through the blocks at once (on one rank: the
 * pipeline's). */
static int microbatches(const pn_solver *S, int batch)
{
  return S->size == 1 ? pni_pipeline_ops.microbatches(S, batch) : 1;
}

const pni_pint_ops pni_newton_ops = {
    .name = "newton",
    .validate = validate,
    .supports = pni_pint_discrete_multi,
    .create = create,
    .destroy = destroy,
    .microbatches = microbatches,
    .bytes = bytes,
    .forward = forward,
    .backward = backward,
};
