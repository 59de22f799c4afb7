/* Private layout of pn_solver, shared by the modules of the solver:
 * solver.c (API, workspaces, memory budget, pipelined sweeps) and
 * parareal.c (Parareal forward, parallel affine-map adjoint).  Not installed. */
#ifndef PINODE_SOLVER_IMPL_H
#define PINODE_SOLVER_IMPL_H

#include "adjoint_cont.h"
#include "pinode/solver.h"
#include "step.h"
#include "traj.h"

typedef struct pni_parareal pni_parareal; /* parareal.c */

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
  double *z, *lam;   /* B×D current states and adjoints */
  double *sendbuf, *recvbuf; /* per micro-batch: rows + 1 status slot */
  MPI_Request *sreq, *rreq;
  double *theta_bar, *scratch;

  /* Labels of the loss of the current call, owned by this rank. */
  event *labels; /* sorted by step */
  int nlabels, cap_labels;
  double *jumps; /* ∂ℓ/∂z of each owned label, B×D each */
  size_t cap_jumps;

  /* For the trajectory's recompute callback. */
  const double *cur_theta;
  int cur_nb;

  /* Gradient method of the current call (pn_solver_gradient_method). */
  pn_adjoint_kind adjoint;
  pn_sweep_mode sweep;
  method_ws mws;

  /* Parareal (opts.method == PN_PARALLEL_PARAREAL): G's tableau and the
   * workspaces of parareal.c, made on first use. */
  pn_tableau *coarse_tab;
  pni_parareal *pr;

  pn_stats stats;
};

/* What a forward sweep does besides stepping. */
typedef struct sweep {
  const pn_loss *loss; /* labels to evaluate, or NULL */
  int store;           /* record the trajectory */
  int jumps;           /* keep ∂ℓ/∂z of each label for the backward sweep */
  double *zlo;         /* if set: keep each micro-batch's state at lo (B×D) */
  const event *saves;  /* requested outputs, sorted by step (owned ones only) */
  int nsaves;
  double *states_out;  /* nsave×B×D */
  double loss_local;
} sweep;

/* One backward sweep: where it starts and which labels' jumps it adds. */
typedef struct bsweep {
  int label;        /* single-point: the only label whose jump is added; −1: all */
  long top;         /* grid index it starts from: N, or the single label's step */
  double zerr_num;  /* backsolve: Σ ‖z_backsolved(t_lo) − z_lo‖² on this rank */
  double zerr_den;  /* and Σ ‖z_lo‖² */
} bsweep;

/* Forward through this rank's block for one micro-batch; z: its rows, in place
 * (z_lo on entry, z_hi on exit).  Records the trajectory and evaluates the
 * owned labels as sw asks. */
int pni_solver_forward_block(pn_solver *S, sweep *sw, int m, const double *theta, double *z);

/* Backward through this rank's part of a sweep for one micro-batch; lam: its
 * rows (λ at min(top, hi) on entry, without the jump there; at lo on exit,
 * with the jump at 0 on rank 0, without the jump at lo otherwise). */
int pni_solver_backward_block(pn_solver *S, bsweep *bw, int m, const double *theta, double *lam);

/* The communicator's rank of time rank r of this rank's batch group. */
static inline int pni_solver_peer(const pn_solver *S, int r) { return S->group * S->size + r; }

/* PN_ERR_NONFINITE naming what, step, time, sample, component and rank if x
 * holds a NaN or Inf; PN_OK otherwise. */
int pni_solver_nonfinite(pn_solver *S, const char *what, long step, int b0, const double *x,
                         size_t n);

/* Append "(sweep, step n from t, on rank r)" to the message of a failure. */
int pni_solver_in_step(pn_solver *S, int rc, const char *sweep, long n);

/* ---- Parareal (parareal.c) ---- */

/* Pipelined-or-Parareal dispatch needs no more than these. */
int pni_parareal_forward(pn_solver *S, sweep *sw, const double *theta, const double *z0);
int pni_parareal_backward(pn_solver *S, const double *theta);
size_t pni_parareal_bytes(const pn_solver *S, int batch);
void pni_parareal_free(pni_parareal **pr);

#endif
