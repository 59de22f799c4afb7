/* The parallel-in-time method interface: how the ranks of a batch group
 * drive their blocks through the forward sweep and the backward sweeps of a
 * solver call.  The solver (solver.c) validates, prepares the workspaces,
 * calls the method's forward and backward, then sums the loss and θ̄ and
 * gathers ∂L/∂z0; the method owns the order of the work and every message
 * between the ranks of the group (through comm.h).
 *
 * Methods (src/pint/): the pipeline (exact, micro-batches; the default),
 * Parareal (iterative over the rank blocks) and Newton shooting (a parallel
 * scan over the rank blocks). */
#ifndef PINODE_PINT_H
#define PINODE_PINT_H

#include <stddef.h>

#include "pinode/solver.h"

typedef struct sweep sweep;
typedef struct pni_pint_ops {
  const char *name;
  /* Options this method cannot run with (checked at pn_solver_create, not
   * collective: the options are the same on every rank). */
  int (*validate)(pn_ctx *ctx, const pn_solver_opts *opts);
  /* Gradient methods it cannot compute: PN_ERR_ARG with a message, or PN_OK. */
  int (*supports)(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode);
  /* Its state, made at pn_solver_create (may be NULL) and freed at destroy. */
  int (*create)(pn_solver *S);
  void (*destroy)(pn_solver *S);
  /* Micro-batches it splits a group's batch of `batch` samples into. */
  int (*microbatches)(const pn_solver *S, int batch);
  /* Bytes it holds for a batch, beyond the solver's workspaces. */
  size_t (*bytes)(const pn_solver *S, int batch);
  /* Forward sweep from the group's initial states z0 (its rows of the
   * caller's batch), as sw asks: trajectory, loss, jumps, outputs.  Not
   * agreed: the solver agrees on the outcome. */
  int (*forward)(pn_solver *S, sweep *sw, const double *theta, const double *z0);
  /* Backward sweeps after a gradient's forward: θ̄ of this rank into
   * S->theta_bar and, on time rank 0, ∂L/∂z0 into S->lam (S->mws.z0bar for
   * single-point sweeps).  Not agreed. */
  int (*backward)(pn_solver *S, const pn_loss *loss, const double *theta);
} pni_pint_ops;

extern const pni_pint_ops pni_pipeline_ops;
extern const pni_pint_ops pni_parareal_ops;
extern const pni_pint_ops pni_newton_ops;

/* `supports` of a method that computes the discrete multi-point adjoint
 * only: PN_ERR_ARG for any other, naming the method. */
int pni_pint_discrete_multi(pn_solver *S, pn_adjoint_kind adjoint, pn_sweep_mode mode);

/* The ops of a method, or NULL for an unknown one. */
const pni_pint_ops *pni_pint_method(pn_parallel_method method);

#endif
