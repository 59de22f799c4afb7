/* Private layout of pn_solver, shared by the modules of the solver:
 *   solver.c     the API and the order of a call (validate, prepare, the
 *                method's sweeps, the sums over the ranks);
 *   workspace.c  the workspaces of a batch, the labels a rank owns;
 *   budget.c     what a batch needs in memory, and the storage that fits;
 *   block.c      one rank's block of steps for one micro-batch, forward and
 *                backward (rank-local: no MPI);
 *   pint/        the parallel methods (pint.h), which move the work between
 *                the ranks (comm.h).
 * Not installed. */
#ifndef PINODE_SOLVER_STATE_H
#define PINODE_SOLVER_STATE_H

#include "adjoint_cont.h"
#include "pinode/solver.h"
#include "pint.h"
#include "step.h"
#include "traj.h"

/* A label (or a requested output) at a grid index. */
typedef struct event {
  long step;
  int id;
} event;

/* Workspace of the gradient methods other than the default one (continuous
 * adjoints, single-point sweeps), made only when such a method is used. */
typedef struct method_ws {
  pni_cadj cadj;    /* continuous-adjoint stage buffers (cadj.Z NULL: not made) */
  double *buf;      /* the buffers below, one allocation */
  size_t cap;       /* doubles in buf */
  double *znode;    /* one micro-batch: backsolved z, or interp's right node z_{n+1} */
  double *fhi, *flo; /* interp: f at the right and left nodes */
  double *z0bar;    /* single-point: Σ over the sweeps of ∂L/∂z0, B×D */
  double *zlo;      /* backsolve: the forward z_lo of every micro-batch, B×D (it
                       stores no trajectory, only this, to report its drift and
                       to recompute the state at a single-point label) */
} method_ws;

struct pn_solver {
  pn_ctx *ctx;
  pn_model *model;
  const pn_tableau *tab;
  pn_solver_opts opts;
  const pni_pint_ops *pint; /* the parallel method */
  void *pint_state;         /* its own state (pint->create), or NULL */
  double h;
  long lo, hi; /* this rank's steps [lo, hi) */
  int rank, size; /* in time: within the batch group (the whole communicator
                     without batch groups) */
  int group, ngroups; /* batch group of this rank, and G */
  int row0;           /* first sample of the group's share of the current batch */
  int full_batch;     /* the caller's batch (S->batch: the group's share) */
  int *gather_counts, *gather_displs; /* per rank of ctx: ∂L/∂z0 rows it holds */
  pni_stepper st;

  /* Workspaces for the current batch size (kept across calls). */
  int batch, nmicro, max_micro; /* batch: this group's samples */
  int *mb0;          /* micro-batch m holds samples [mb0[m], mb0[m+1]) */
  pni_traj *traj;    /* one per micro-batch */
  pn_storage_kind store_kind; /* the trajectories' policy (auto resolved) */
  long store_param;
  size_t store_budget;        /* the budget it was fitted to, 0: none */
  int traj_ready;
  double *z, *lam, *scratch; /* B×D each: states, adjoints, loss scratch */
  double *theta_bar;

  /* Labels of the loss of the current call, owned by this rank. */
  event *labels; /* sorted by step */
  int nlabels, cap_labels;
  double *jumps; /* ∂ℓ/∂z of each owned label, B×D each */
  size_t cap_jumps;

  /* Gradient method of the current call (pn_solver_gradient_method). */
  pn_adjoint_kind adjoint;
  pn_sweep_mode sweep;
  method_ws mws;

  pn_stats stats;
};

/* What a forward sweep does besides stepping. */
struct sweep {
  const pn_loss *loss; /* labels to evaluate, or NULL */
  int store;           /* record the trajectory */
  int jumps;           /* keep ∂ℓ/∂z of each label for the backward sweep */
  double *zlo;         /* if set: keep each micro-batch's state at lo (B×D) */
  const event *saves;  /* requested outputs, sorted by step (owned ones only) */
  int nsaves;
  double *states_out;  /* nsave×B×D */
  double loss_local;
};

/* One backward sweep: where it starts and which labels' jumps it adds. */
typedef struct bsweep {
  int label;        /* single-point: the only label whose jump is added; −1: all */
  long top;         /* grid index it starts from: N, or the single label's step */
  double zerr_num;  /* backsolve: Σ ‖z_backsolved(t_lo) − z_lo‖² on this rank */
  double zerr_den;  /* and Σ ‖z_lo‖² */
} bsweep;

/* The grid time of index n. */
static inline double pni_solver_time(const pn_solver *S, long n)
{
  return S->opts.t0 + (double)n * S->h;
}

/* The communicator's rank of time rank r of this rank's batch group. */
static inline int pni_solver_peer(const pn_solver *S, int r) { return S->group * S->size + r; }

/* Samples in micro-batch m. */
static inline int pni_solver_micro(const pn_solver *S, int m) { return S->mb0[m + 1] - S->mb0[m]; }

/* ---- block.c: one rank's block, one micro-batch ---- */

/* Forward through this rank's block for micro-batch m; z: its rows, in place
 * (z_lo on entry, z_hi on exit).  Records the trajectory and evaluates the
 * owned labels as sw asks. */
int pni_block_forward(pn_solver *S, sweep *sw, int m, const double *theta, double *z);

/* Backward through this rank's part of a sweep for micro-batch m; lam: its
 * rows (λ at min(top, hi) on entry, without the jump there; at lo on exit,
 * with the jump at 0 on rank 0, without the jump at lo otherwise). */
int pni_block_backward(pn_solver *S, bsweep *bw, int m, const double *theta, double *lam);

/* The labels and requested outputs at grid index `step` for micro-batch m
 * at its state z (rows of the micro-batch): the loss, the jumps if sw keeps
 * them, the outputs.  *li and *si walk the owned labels and outputs
 * upward (start both at 0 for a sweep of the block). */
int pni_block_events(pn_solver *S, sweep *sw, long step, int m, const double *z, int *li, int *si);

/* z_n of micro-batch m (lo ≤ n < hi) from its trajectory, recomputing from
 * a stored state with the forward sweep's own steps where the storage keeps
 * fewer states; valid until the next fetch of that micro-batch. */
int pni_block_state(pn_solver *S, int m, long n, const double *theta, const double **z_out);

/* PN_ERR_NONFINITE naming what, step, time, sample, component and rank if x
 * holds a NaN or Inf; PN_OK otherwise. */
int pni_solver_nonfinite(pn_solver *S, const char *what, long step, int b0, const double *x,
                         size_t n);

/* Append "(sweep, step n from t, on rank r)" to the message of a failure. */
int pni_solver_in_step(pn_solver *S, int rc, const char *sweep, long n);

/* ---- workspace.c ---- */

/* (Re)make the workspaces for a group's batch (nothing is made when the
 * batch, its micro-batches and the need for a trajectory are unchanged),
 * after checking the memory budget (budget.c). */
int pni_solver_setup_batch(pn_solver *S, int batch, int with_traj);
void pni_solver_free_workspace(pn_solver *S);

/* Bind the loss's labels to the grid and keep those this rank owns. */
int pni_solver_bind_labels(pn_solver *S, const pn_loss *loss, int batch);
/* Grid index of every label of the loss (all K, not only the owned ones). */
const long *pni_solver_label_steps(const pn_solver *S);
/* Room for the owned labels' jumps of a batch. */
int pni_solver_ensure_jumps(pn_solver *S, int batch);
/* The buffers of the gradient method of the current call (method_ws). */
int pni_solver_ensure_method_ws(pn_solver *S, int batch);
size_t pni_solver_method_ws_bytes(const pn_solver *S);
/* Sort events by step (then id). */
int pni_event_cmp(const void *a, const void *b);

/* ---- budget.c ---- */

/* The trajectories' own policy: stages keeps every state in them (and the
 * rest in the stepper's tape). */
pn_storage_kind pni_budget_traj_kind(pn_storage_kind kind);

/* Bytes per rank of the workspaces for a batch in M micro-batches, with or
 * without the trajectory (its policy: S->store_kind). */
size_t pni_budget_workspace(const pn_solver *S, int batch, int M, int with_traj);

/* Resolve the storage policy for a batch (auto: the stage tape if it fits
 * and is estimated faster, else all if it fits, else the largest binomial c
 * that fits) and check the estimate against the budget
 * before anything is allocated: PN_ERR_LIMIT naming settings that fit. */
int pni_budget_check(pn_solver *S, int batch, int M, int with_traj, pn_storage_kind *kind,
                     long *param);

/* The workspaces in place still fit the memory limit. */
int pni_budget_still_fits(const pn_solver *S, int batch, int M, int with_traj);

/* Storage statistics of the last gradient (policy, fewest recomputations). */
void pni_budget_stats(pn_solver *S);

#endif
