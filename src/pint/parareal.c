/* Parareal over the rank blocks (docs/parallel.md), for few or single long
 * trajectories where the micro-batch pipeline has nothing to overlap.
 *
 * Forward: U_r is the state at the start of rank r's block.  Each iteration
 * every rank runs its fine steps F from its current U_r (in parallel,
 * storing its trajectory and evaluating its labels), then the corrections
 *     U_{r+1} ← G(U_r^new) + F(U_r^old) − G(U_r^old)
 * travel from rank to rank (G: a few steps of a cheap scheme over the
 * block).  A rank whose U_r did not change passes F(U_r) on unchanged, so
 * after k iterations the first k boundary states are bitwise those of one
 * rank, and after P iterations everything is.  The iteration stops when the
 * largest relative change of a U_r is ≤ tol (0: when none changed).
 *
 * Adjoint: the backward sweep is linear in λ.  Two parallel solutions:
 *  - iterate (default): Parareal again, right to left.  Every rank runs its
 *    fine backward block F* from its current λ_hi (all at once; it adds the
 *    block's label jumps and accumulates θ̄), then the corrections
 *        λ_lo ← F*(λ_hi^old) + G*(λ_hi^new − λ_hi^old)
 *    travel from rank to rank, G* being the adjoint of the coarse propagator
 *    (linear, so the jumps cancel in the difference).  The same rule as the
 *    forward makes it exact after P iterations; θ̄ and ∂L/∂z0 come from the
 *    last F* of each rank.
 *  - maps: each block is an affine map λ_lo = M_r λ_hi + j_r (per sample,
 *    M_r is D×D; j_r holds the block's label jumps).  Every rank builds its
 *    (M_r, j_r) from its stored trajectory — all at once, D + 1 backward
 *    passes in one batch — then one exclusive scan over the ranks in reverse
 *    order (scan.h) composes them, giving every rank the exact λ at its
 *    right end, and each rank runs its ordinary backward block once,
 *    accumulating θ̄.  No iterations, exact to rounding; about D + 2 adjoint
 *    sweeps a block. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "internal.h"
#include "model_impl.h"
#include "scan.h"
#include "solver_state.h"

typedef struct pni_parareal {
  pn_tableau *coarse_tab; /* G's scheme */
  int full_batch;     /* the caller's batch the buffers were made for (the
                         group's share follows from it): keyed on it, every
                         group redoes the collective setup when it changes,
                         even one whose own share did not */
  pni_stepper coarse; /* G's stepper */
  pni_stepper wide;   /* the map sweep's stepper: B·(D+1) rows */
  double *zwide;      /* (D+1) copies of z_n, one per column of the map */
  double *buf;        /* the buffers below, one allocation */
  double *U, *Unew, *Gold, *Unext; /* B×D each */
  double *Fstart;     /* B×D: where the last fine sweep started (G* linearises there) */
  double *Lhi, *Lnext; /* B×D: λ at my right end, λ for my left neighbour */
  double *gstates;    /* (g+1) × B×D: G's states from Fstart, for G* */
  long ncoarse;       /* g they were made for */
  double zscale;      /* ‖z0‖∞: floor of the forward's relative changes */
  pni_link link;      /* one slot of B×D: block starts or block-end adjoints */
  double *cols;       /* (D+1) × B×D: λ for each column of the affine map */
  double *tbar;       /* P: θ̄ of the map sweep, discarded */
  pni_scan scan;      /* the maps' scan over the ranks, right to left */
} pni_parareal;

/* ---- workspace ---------------------------------------------------------- */

static long coarse_steps(const pn_solver *S)
{
  const long len = S->hi - S->lo;
  return S->opts.parareal.coarse_steps > 0 ? S->opts.parareal.coarse_steps : (len + 9) / 10;
}

static int uses_maps(const pn_solver *S)
{
  return S->opts.parareal.adjoint == PN_PARAREAL_ADJOINT_MAPS;
}

static size_t doubles_needed(const pn_solver *S, int batch)
{
  const size_t D = (size_t)pn_model_dim(S->model), w = (size_t)batch * D;
  return 7 * w + (size_t)pn_model_nparam(S->model) +
         (uses_maps(S) ? 2 * (D + 1) * w : ((size_t)coarse_steps(S) + 1) * w);
}

static size_t bytes(const pn_solver *S, int batch)
{
  const pni_parareal *p = S->pint_state;
  const int D = pn_model_dim(S->model);
  const size_t w = (size_t)batch * (size_t)D;
  return sizeof(pni_parareal) + sizeof(double) * doubles_needed(S, batch) +
         pni_stepper_bytes(p->coarse_tab, S->model, batch) + pni_link_bytes(1, w) +
         (uses_maps(S) ? pni_stepper_bytes(S->tab, S->model, batch * (D + 1)) +
                             pni_scan_bytes(batch, D)
                       : 0);
}

/* The buffers of a batch (not the coarse scheme, made once). */
static void free_buffers(pni_parareal *p)
{
  pni_link_free(&p->link);
  pni_scan_free(&p->scan);
  pni_stepper_free(&p->coarse);
  pni_stepper_free(&p->wide);
  free(p->buf);
  p->buf = NULL;
  p->full_batch = 0;
}

static int create(pn_solver *S)
{
  pni_parareal *p = NULL;
  PN_CALL(pni_calloc(S->ctx, 1, sizeof *p, &p, "Parareal workspace"));
  S->pint_state = p;
  const char *name = S->opts.parareal.coarse_scheme[0] ? S->opts.parareal.coarse_scheme
                                                       : pn_tableau_name(S->tab);
  return pn_tableau_create(S->ctx, name, &p->coarse_tab);
}

static void destroy(pn_solver *S)
{
  pni_parareal *p = S->pint_state;
  if (!p) return;
  free_buffers(p);
  pn_tableau_destroy(&p->coarse_tab);
  free(p);
  S->pint_state = NULL;
}

/* The buffers and steppers of this rank for the group's batch. */
static int setup_local(pn_solver *S)
{
  pn_ctx *ctx = S->ctx;
  pni_parareal *p = S->pint_state;
  const int B = S->batch;
  free_buffers(p);
  const size_t D = (size_t)pn_model_dim(S->model), w = (size_t)B * D;
  p->ncoarse = coarse_steps(S);
  PN_CALL(pni_calloc(ctx, doubles_needed(S, B), sizeof(double), &p->buf, "Parareal buffers"));
  double *q = p->buf;
  double **slots[] = {&p->U, &p->Unew, &p->Gold, &p->Unext, &p->Fstart, &p->Lhi, &p->Lnext};
  for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++, q += w) *slots[i] = q;
  p->tbar = q;
  q = p->tbar + pn_model_nparam(S->model);
  if (uses_maps(S)) {
    p->cols = q;
    p->zwide = p->cols + (D + 1) * w;
  } else {
    p->gstates = q;
  }
  PN_CALL(pni_link_init(&p->link, ctx, 1, &w));
  PN_CALL(pni_stepper_init(&p->coarse, ctx, p->coarse_tab, S->model, B));
  if (uses_maps(S)) {
    PN_CHECK(ctx, (size_t)B * (D + 1) <= (size_t)INT32_MAX, PN_ERR_LIMIT,
             "batch %d x (dimension %zu + 1) rows are too many for the adjoint-map sweep", B, D);
    PN_CALL(pni_stepper_init(&p->wide, ctx, S->tab, S->model, B * ((int)D + 1)));
    PN_CALL(pni_scan_init(&p->scan, ctx, B, (int)D));
  }
  return PN_OK;
}

/* Collective: every rank's buffers, agreed, so that none goes on alone. */
static int setup(pn_solver *S)
{
  pni_parareal *p = S->pint_state;
  if (p->buf && p->full_batch == S->full_batch) return PN_OK;
  PN_CALL(pni_agree(S->ctx, setup_local(S)));
  p->full_batch = S->full_batch; /* complete: later calls with this batch reuse it */
  return PN_OK;
}

/* ---- forward ------------------------------------------------------------- */

/* out = G(u): the coarse propagator over this rank's block. */
static int coarse(pn_solver *S, const double *theta, const double *u, double *out)
{
  pni_parareal *p = S->pint_state;
  const long nc = coarse_steps(S);
  const double T0 = S->opts.t0 + (double)S->lo * S->h, T1 = S->opts.t0 + (double)S->hi * S->h;
  const double H = (T1 - T0) / (double)nc, t = pni_wtime();
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  memmove(out, u, sizeof(double) * w);
  for (long j = 0; j < nc; j++)
    PN_CALL(pni_step(&p->coarse, T0 + (double)j * H, H, S->batch, out, theta, out));
  S->stats.coarse_steps += nc;
  S->stats.time_coarse += pni_wtime() - t;
  if (pni_first_nonfinite(out, w) >= 0)
    return pni_error(S->ctx, PN_ERR_NONFINITE, __FILE__, __LINE__, __func__,
                     "the coarse propagator (%s, %ld steps of %.3g over [%.17g, %.17g]) diverged "
                     "on rank %d: use more parareal coarse steps or a stabler coarse scheme",
                     pn_tableau_name(p->coarse_tab), nc, H, T0, T1, pn_ctx_rank(S->ctx));
  return PN_OK;
}

/* Largest |a − b| relative to the larger of the largest |b| and `floor` (a
 * scale of the whole solution: a block start that decayed to 1e-80 must not
 * make a change of 1e-85 look large).  Absolute if both are 0. */
static double rel_change(const double *a, const double *b, size_t n, double floor)
{
  double d = 0.0, s = floor;
  for (size_t i = 0; i < n; i++) {
    d = fmax(d, fabs(a[i] - b[i]));
    s = fmax(s, fabs(b[i]));
  }
  return s > 0.0 ? d / s : d;
}

static double max_abs(const double *x, size_t n)
{
  double m = 0.0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
  return m;
}

/* Send B×D doubles and this rank's status (its failure, else one from
 * upstream) to time rank `to`; a failing send becomes this rank's failure. */
static void send_to(pn_solver *S, int to, int tag, const double *u, int *rc, int upstream)
{
  pni_parareal *p = S->pint_state;
  const int sent = pni_link_send(&p->link, 0, u, *rc != PN_OK ? *rc : upstream,
                                 pni_solver_peer(S, to), tag);
  if (*rc == PN_OK) *rc = sent;
}

/* Post the receive of B×D doubles and a status from time rank `from`. */
static void post_receive(pn_solver *S, int from, int tag, int *rc)
{
  pni_parareal *p = S->pint_state;
  const int posted = pni_link_post(&p->link, 0, pni_solver_peer(S, from), tag);
  if (*rc == PN_OK) *rc = posted;
}

/* Complete the posted receive into u; a failure upstream sets *upstream. */
static void finish_receive(pn_solver *S, double *u, int *rc, int *upstream)
{
  pni_parareal *p = S->pint_state;
  int status = PN_OK;
  const int got = pni_link_receive(&p->link, 0, u, &status);
  if (*rc == PN_OK) *rc = got;
  if (got == PN_OK && status != PN_OK) *upstream = PN_ERR_REMOTE;
}

/* Complete the sends of a sweep and account its waits. */
static void finish_sends(pn_solver *S, int *rc)
{
  pni_parareal *p = S->pint_state;
  const int done = pni_link_wait_sends(&p->link);
  if (*rc == PN_OK) *rc = done;
  S->stats.time_wait += p->link.time_wait;
  p->link.time_wait = 0.0;
}

/* Iteration 0: the sequential coarse sweep U_{r+1} = G(U_r). */
static void initial_guess(pn_solver *S, const double *theta, const double *z0, int *rc,
                          int *upstream)
{
  pni_parareal *p = S->pint_state;
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  if (S->rank == 0) {
    memcpy(p->U, z0, sizeof(double) * w);
  } else {
    post_receive(S, S->rank - 1, PNI_TAG_PARAREAL, rc);
    if (*rc == PN_OK) finish_receive(S, p->U, rc, upstream);
  }
  if (S->rank == S->size - 1) return; /* G of the last block would serve nobody */
  if (*rc == PN_OK && *upstream == PN_OK) *rc = coarse(S, theta, p->U, p->Gold);
  send_to(S, S->rank + 1, PNI_TAG_PARAREAL, p->Gold, rc, *upstream);
}

/* One correction: receive the new U_r, pass U_{r+1} on; returns the change of U_r. */
static double correct(pn_solver *S, const double *theta, const double *fend, int *fresh, int *rc,
                      int *upstream)
{
  pni_parareal *p = S->pint_state;
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  double change = 0.0;
  if (S->rank > 0) finish_receive(S, p->Unew, rc, upstream);
  const int changed = S->rank > 0 && *upstream == PN_OK &&
                      memcmp(p->Unew, p->U, sizeof(double) * w) != 0;
  const int last = S->rank == S->size - 1; /* its U_{r+1} would serve nobody */
  if (*rc == PN_OK && *upstream == PN_OK) {
    if (changed) change = rel_change(p->Unew, p->U, w, p->zscale);
    if (!changed && !last) { /* F(U_r) is exact for this U_r: pass it on as it is */
      memcpy(p->Unext, fend, sizeof(double) * w);
    } else if (changed && !last) {
      double *Gnew = p->U; /* U's old value is no longer needed */
      *rc = coarse(S, theta, p->Unew, Gnew);
      for (size_t x = 0; x < w && *rc == PN_OK; x++) p->Unext[x] = Gnew[x] + fend[x] - p->Gold[x];
      memcpy(p->Gold, Gnew, sizeof(double) * w);
    }
    if (changed) {
      memcpy(p->U, p->Unew, sizeof(double) * w);
      *fresh = 1;
    }
  }
  if (S->rank < S->size - 1) send_to(S, S->rank + 1, PNI_TAG_PARAREAL, p->Unext, rc, *upstream);
  return change;
}

/* End of an iteration, the same on every rank: the largest change and
 * whether any rank failed, recorded in history[k]; after a failure elsewhere
 * this rank stops as REMOTE.  Returns 1 when the iteration is over. */
static int iteration_over(pn_solver *S, double change, int *rc, int k, double *history,
                          int *upstream)
{
  const double tol = S->opts.parareal.tol;
  const int failed = *rc != PN_OK || *upstream != PN_OK;
  double mine[2] = {change, failed}, all[2] = {0.0, 1.0};
  const int reduced = pni_comm_allreduce(S->ctx, mine, all, 2, MPI_DOUBLE, MPI_MAX,
                                         "agreeing on a Parareal iteration");
  if (*rc == PN_OK) *rc = reduced;
  if (k < PN_PARAREAL_HISTORY) history[k] = all[0];
  if (all[1] != 0.0 && !failed) *upstream = PN_ERR_REMOTE;
  return all[1] != 0.0 || all[0] == 0.0 || (tol > 0.0 && all[0] <= tol);
}

static int not_converged(pn_solver *S, int iterations)
{
  char hist[512] = "";
  size_t used = 0;
  for (int k = 0; k < iterations && k < PN_PARAREAL_HISTORY && used + 16 < sizeof hist; k++)
    used += (size_t)snprintf(hist + used, sizeof hist - used, "%s%.2e", k ? ", " : "",
                             S->stats.parareal_residual[k]);
  return pni_error(S->ctx, PN_ERR_NOT_CONVERGED, __FILE__, __LINE__, __func__,
                   "Parareal did not converge in %d iterations on %d ranks%s (tol %.3g; largest "
                   "relative change of a block's initial state per iteration: %s): raise "
                   "parareal max_iter (%d = the number of ranks in time is exact), loosen "
                   "parareal tol, use more coarse steps, or use the pipeline method",
                   iterations, S->size, S->ngroups > 1 ? " per batch group" : "",
                   S->opts.parareal.tol, hist, S->size);
}

static int forward(pn_solver *S, sweep *sw, const double *theta, const double *z0)
{
  int rc = setup(S), upstream = PN_OK;
  if (rc != PN_OK) return rc; /* setup agreed: every rank returns here */
  pni_parareal *p = S->pint_state;
  const double t = pni_wtime();
  const int kmax = S->opts.parareal.max_iter > 0 ? S->opts.parareal.max_iter : S->size;
  p->zscale = max_abs(z0, (size_t)S->batch * (size_t)pn_model_dim(S->model));
  initial_guess(S, theta, z0, &rc, &upstream);
  int fresh = 1, k = 0, done = 0;
  while (!done && k < kmax) {
    if (S->rank > 0) post_receive(S, S->rank - 1, PNI_TAG_PARAREAL, &rc); /* arrives while F runs */
    if (rc == PN_OK && upstream == PN_OK && fresh) {
      memcpy(S->z, p->U, sizeof(double) * (size_t)S->batch * (size_t)pn_model_dim(S->model));
      memcpy(p->Fstart, p->U, sizeof(double) * (size_t)S->batch * (size_t)pn_model_dim(S->model));
      sw->loss_local = 0.0;
      rc = pni_block_forward(S, sw, 0, theta, S->z);
      fresh = 0;
    } else if (rc == PN_OK && upstream == PN_OK) {
      S->stats.fine_sweeps_skipped++; /* same U_r: F(U_r) and its trajectory stand */
    }
    const double change = correct(S, theta, S->z, &fresh, &rc, &upstream);
    done = iteration_over(S, change, &rc, k++, S->stats.parareal_residual, &upstream);
  }
  finish_sends(S, &rc);
  S->stats.parareal_iterations = k;
  S->stats.time_forward += pni_wtime() - t;
  if (rc == PN_OK && upstream == PN_OK && !done) rc = not_converged(S, k);
  return rc;
}

/* ---- adjoint --------------------------------------------------------------- */

/* Add the jumps of the owned labels at `step` to column D (the affine part)
 * of the map sweep; *li walks the owned labels downward. */
static void add_map_jumps(pn_solver *S, int *li, long step)
{
  const size_t D = (size_t)pn_model_dim(S->model), w = (size_t)S->batch * D;
  double *jcol = ((pni_parareal *)S->pint_state)->cols + D * w;
  while (*li >= 0 && S->labels[*li].step > step) (*li)--;
  for (; *li >= 0 && S->labels[*li].step == step; (*li)--) {
    const double *jump = S->jumps + (size_t)*li * w;
    for (size_t x = 0; x < w; x++) jcol[x] += jump[x];
  }
}

/* λ_lo = M λ_hi + j over this rank's block: column e < D starts from the
 * unit vector e_e (every sample at once), column D from 0 and gathers the
 * block's label jumps (the one at hi included, the one at lo excluded). */
static int build_map(pn_solver *S, const double *theta)
{
  pni_parareal *p = S->pint_state;
  const int B = S->batch, D = pn_model_dim(S->model);
  const size_t w = (size_t)B * (size_t)D;
  memset(p->cols, 0, sizeof(double) * ((size_t)D + 1) * w);
  for (int e = 0; e < D; e++)
    for (int b = 0; b < B; b++) p->cols[(size_t)e * w + (size_t)b * D + e] = 1.0;
  int li = S->nlabels - 1;
  add_map_jumps(S, &li, S->hi);
  for (long n = S->hi - 1; n >= S->lo; n--) {
    const double *zn = NULL, tn = pni_solver_time(S, n);
    PN_CALL(pni_solver_in_step(S, pni_block_state(S, 0, n, theta, &zn), "adjoint-map", n));
    /* Row e·B + b of the wide batch is column e of sample b: all D + 1
     * columns go through one step adjoint, at z_b each. */
    for (int e = 0; e <= D; e++) memcpy(p->zwide + (size_t)e * w, zn, sizeof(double) * w);
    PN_CALL(pni_solver_in_step(S,
                               pni_step_adjoint(&p->wide, tn, S->h, B * (D + 1), p->zwide, theta,
                                                p->cols, p->tbar),
                               "adjoint-map", n));
    if (S->opts.check_finite)
      PN_CALL(pni_solver_nonfinite(S, "the adjoint map", n, 0, p->cols, ((size_t)D + 1) * w));
    if (n > S->lo) add_map_jumps(S, &li, n);
  }
  S->stats.adjoint_map_steps += S->hi - S->lo;
  return PN_OK;
}

/* This rank's maps for the scan, per sample: M (D×D row-major), then j. */
static void pack_map(pn_solver *S)
{
  pni_parareal *p = S->pint_state;
  const int B = S->batch, D = pn_model_dim(S->model);
  const size_t w = (size_t)B * (size_t)D;
  for (int b = 0; b < B; b++) {
    double *M = pni_scan_record(&p->scan, p->scan.mine, b), *j = M + (size_t)D * D;
    for (int i = 0; i < D; i++) {
      for (int e = 0; e < D; e++) M[i * D + e] = p->cols[(size_t)e * w + (size_t)b * D + i];
      j[i] = p->cols[(size_t)D * w + (size_t)b * D + i];
    }
  }
}

static int adjoint_maps(pn_solver *S, const double *theta)
{
  pni_parareal *p = S->pint_state;
  const int B = S->batch, D = pn_model_dim(S->model);
  int rc = PN_OK;
  const double t = pni_wtime();
  memset(S->theta_bar, 0, sizeof(double) * (size_t)pn_model_nparam(S->model));
  /* Rank 0's map would only serve ranks to its left: there are none. */
  if (S->rank > 0) rc = build_map(S, theta);
  if (rc == PN_OK && S->rank > 0) pack_map(S);
  /* Agree before the scan: a rank that failed would otherwise feed it garbage. */
  PN_CALL(pni_agree(S->ctx, rc));
  /* Right to left: time rank size−1 is first in the order. */
  PN_CALL(pni_scan_exclusive(&p->scan, S->size - 1 - S->rank, S->size,
                             pni_solver_peer(S, S->size - 1), -1, PNI_TAG_SCAN));
  S->stats.time_adjoint_map += pni_wtime() - t;
  /* λ at my right end: the composed map of the ranks to my right applied to
   * λ_N = 0, i.e. its affine part (the last rank has nobody to its right). */
  for (int b = 0; b < B; b++) {
    const double *j = pni_scan_record(&p->scan, p->scan.result, b) + (size_t)D * D;
    for (int i = 0; i < D; i++) S->lam[(size_t)b * D + i] = p->scan.has_result ? j[i] : 0.0;
  }
  bsweep bw = {.label = -1, .top = S->opts.nsteps};
  rc = pni_block_backward(S, &bw, 0, theta, S->lam);
  S->stats.sweeps_backward++;
  S->stats.time_backward += pni_wtime() - t;
  return rc;
}

/* ---- iterative adjoint ------------------------------------------------------ */

/* G's states from where the last fine sweep started: G* is linearised there. */
static int coarse_states(pn_solver *S, const double *theta)
{
  pni_parareal *p = S->pint_state;
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  const double T0 = S->opts.t0 + (double)S->lo * S->h, T1 = S->opts.t0 + (double)S->hi * S->h;
  const double H = (T1 - T0) / (double)p->ncoarse;
  memcpy(p->gstates, p->Fstart, sizeof(double) * w);
  for (long j = 0; j < p->ncoarse; j++)
    PN_CALL(pni_step(&p->coarse, T0 + (double)j * H, H, S->batch, p->gstates + (size_t)j * w, theta,
                     p->gstates + (size_t)(j + 1) * w));
  S->stats.coarse_steps += p->ncoarse;
  return PN_OK;
}

/* v ← G*(v): the coarse propagator's adjoint over my block (linear in v). */
static int coarse_adjoint(pn_solver *S, const double *theta, double *v)
{
  pni_parareal *p = S->pint_state;
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  const double T0 = S->opts.t0 + (double)S->lo * S->h, T1 = S->opts.t0 + (double)S->hi * S->h;
  const double H = (T1 - T0) / (double)p->ncoarse, t = pni_wtime();
  for (long j = p->ncoarse - 1; j >= 0; j--)
    PN_CALL(pni_step_adjoint(&p->coarse, T0 + (double)j * H, H, S->batch,
                             p->gstates + (size_t)j * w, theta, v, p->tbar));
  S->stats.coarse_steps += p->ncoarse;
  S->stats.time_coarse += pni_wtime() - t;
  return PN_OK;
}

/* One correction of the adjoint: receive the new λ_hi from the right, pass
 * λ_lo ≈ F*(λ_hi^old) + G*(λ_hi^new − λ_hi^old) to the left; returns the
 * change of λ_hi.  flo: my last F*(λ_hi^old). */
static double correct_adjoint(pn_solver *S, const double *theta, const double *flo, double lscale,
                              int *fresh, int *rc, int *upstream)
{
  pni_parareal *p = S->pint_state;
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  const int last = S->rank == S->size - 1; /* λ_N = 0: exact from the start */
  double change = 0.0;
  /* Unew: scratch for λ_hi^new */
  if (!last) finish_receive(S, p->Unew, rc, upstream);
  const int changed = !last && *upstream == PN_OK && memcmp(p->Unew, p->Lhi, sizeof(double) * w) != 0;
  if (*rc == PN_OK && *upstream == PN_OK) {
    if (changed) change = rel_change(p->Unew, p->Lhi, w, lscale);
    if (S->rank > 0) {
      memcpy(p->Lnext, flo, sizeof(double) * w);
      if (changed) { /* Lnext += G*(new − old), the coarse estimate of what F* would add */
        for (size_t x = 0; x < w; x++) p->Gold[x] = p->Unew[x] - p->Lhi[x];
        *rc = coarse_adjoint(S, theta, p->Gold);
        for (size_t x = 0; x < w && *rc == PN_OK; x++) p->Lnext[x] += p->Gold[x];
      }
    }
    if (changed) {
      memcpy(p->Lhi, p->Unew, sizeof(double) * w);
      *fresh = 1;
    }
  }
  if (S->rank > 0) send_to(S, S->rank - 1, PNI_TAG_PARAREAL_ADJOINT, p->Lnext, rc, *upstream);
  return change;
}

static int adjoint_iterate(pn_solver *S, const double *theta)
{
  pni_parareal *p = S->pint_state;
  const size_t w = (size_t)S->batch * (size_t)pn_model_dim(S->model);
  const int kmax = S->opts.parareal.max_iter > 0 ? S->opts.parareal.max_iter : S->size;
  const double t = pni_wtime();
  int rc = PN_OK, upstream = PN_OK, fresh = 1, k = 0, done = 0;
  double lscale = 0.0;
  memset(p->Lhi, 0, sizeof(double) * w); /* λ_hi^0 = 0: F* alone brings the block's jumps */
  memset(p->Lnext, 0, sizeof(double) * w);
  if (S->rank > 0) rc = coarse_states(S, theta);
  bsweep bw = {.label = -1, .top = S->opts.nsteps};
  while (!done && k < kmax) {
    if (S->rank < S->size - 1) post_receive(S, S->rank + 1, PNI_TAG_PARAREAL_ADJOINT, &rc);
    if (rc == PN_OK && upstream == PN_OK && fresh) { /* F*: θ̄ of this pass only */
      memcpy(S->lam, p->Lhi, sizeof(double) * w);
      memset(S->theta_bar, 0, sizeof(double) * (size_t)pn_model_nparam(S->model));
      rc = pni_block_backward(S, &bw, 0, theta, S->lam);
      S->stats.sweeps_backward++;
      lscale = fmax(lscale, max_abs(S->lam, w));
      fresh = 0;
    }
    const double change = correct_adjoint(S, theta, S->lam, lscale, &fresh, &rc, &upstream);
    done = iteration_over(S, change, &rc, k++, S->stats.parareal_adjoint_residual, &upstream);
  }
  finish_sends(S, &rc);
  S->stats.parareal_adjoint_iterations = k;
  S->stats.time_backward += pni_wtime() - t;
  if (rc == PN_OK && upstream == PN_OK && !done)
    rc = pni_error(S->ctx, PN_ERR_NOT_CONVERGED, __FILE__, __LINE__, __func__,
                   "the Parareal adjoint did not converge in %d iterations on %d ranks (tol "
                   "%.3g, last change %.2e): raise parareal max_iter (%d = the number of ranks is "
                   "exact), loosen parareal tol, use more coarse steps, the affine-map adjoint, "
                   "or the pipeline method",
                   k, S->size, S->opts.parareal.tol, S->stats.parareal_adjoint_residual[(k - 1) % PN_PARAREAL_HISTORY],
                   S->size);
  return rc;
}

static int backward(pn_solver *S, const pn_loss *loss, const double *theta)
{
  (void)loss;
  if (uses_maps(S)) return adjoint_maps(S, theta);
  return adjoint_iterate(S, theta);
}

/* ---- the method ------------------------------------------------------------- */

static int validate(pn_ctx *ctx, const pn_solver_opts *o)
{
  PN_CHECK(ctx, o->storage != PN_STORE_STAGES, PN_ERR_ARG,
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

/* No pipeline: the whole batch goes through the blocks at once. */
static int microbatches(const pn_solver *S, int batch)
{
  (void)S;
  (void)batch;
  return 1;
}

const pni_pint_ops pni_parareal_ops = {
    .name = "parareal",
    .validate = validate,
    .supports = pni_pint_discrete_multi,
    .create = create,
    .destroy = destroy,
    .microbatches = microbatches,
    .bytes = bytes,
    .forward = forward,
    .backward = backward,
};
