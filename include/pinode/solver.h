/**
 * @file solver.h
 * @brief Fixed-step explicit Runge–Kutta solves of a neural ODE, with the loss
 * and its exact discrete-adjoint gradient, split in time across the ranks of
 * the context's communicator.
 *
 * The grid is t_n = t0 + n·h, h = (t1 − t0)/N, n = 0..N (always computed as
 * t0 + n*h).  Steps are split into contiguous blocks over the P ranks (sizes
 * differ by at most one); rank r owns the states z_m with n_r < m ≤ n_{r+1}
 * (rank 0 also owns z_0) and evaluates the labels there, so every label is
 * counted and its adjoint jump applied exactly once.  Each rank stores only its
 * own block's trajectory.  The batch is split into micro-batches that flow
 * through the ranks as a pipeline (exact: same numbers as one rank).
 * Depends on ctx, model, tableau, loss.
 */
#ifndef PINODE_SOLVER_H
#define PINODE_SOLVER_H

#include <stddef.h>

#include "pinode/ctx.h"
#include "pinode/export.h"
#include "pinode/loss.h"
#include "pinode/model.h"
#include "pinode/tableau.h"

typedef struct pn_solver pn_solver;

/** @brief Trajectory storage inside each rank's block. */
typedef enum pn_storage_kind {
  PN_STORE_ALL = 0,  /**< every state of the block */
  PN_STORE_EVERY     /**< every k-th state; the others recomputed */
} pn_storage_kind;

/** @brief Solver options; start from pn_solver_opts_default(). */
typedef struct pn_solver_opts {
  double t0, t1;           /**< time interval, t1 > t0 */
  long nsteps;             /**< N ≥ 1 fixed steps */
  pn_storage_kind storage; /**< default PN_STORE_ALL */
  long storage_param;      /**< k for PN_STORE_EVERY */
  size_t memory_limit;     /**< bytes per rank the solver may hold; 0 = no limit */
  int microbatches;        /**< M ≥ 1, or 0 for an automatic choice */
  int check_finite;        /**< 1 (default): stop at the first NaN/Inf state */
} pn_solver_opts;

/** @brief Fill @p opts with defaults (t0 = 0, t1 = 1, N = 1, store all, auto M). */
PN_EXPORT void pn_solver_opts_default(pn_solver_opts *opts);

/** @brief Counters and timings of the last call on this rank. */
typedef struct pn_stats {
  long rhs_evals;        /**< batched RHS calls (one per stage per micro-batch) */
  long vjp_evals;        /**< batched VJP calls */
  long steps_forward;    /**< steps taken in the forward sweep by this rank */
  long steps_recomputed; /**< extra forward steps taken by checkpointing */
  long states_stored;    /**< most states held at once by the trajectory storage */
  double time_forward;   /**< seconds, forward sweep (including waits) */
  double time_backward;  /**< seconds, backward sweep (including waits) */
  double time_wait;      /**< seconds spent waiting for neighbours */
  size_t bytes_solver;   /**< bytes the solver holds (trajectory + workspaces) */
  long peak_rss_kb;      /**< peak resident set of the process (getrusage) */
  long block_lo, block_hi; /**< this rank's steps [lo, hi) */
  int microbatches;      /**< M used */
} pn_stats;

/**
 * @brief Create a solver.
 * @param[in] ctx    context (its communicator is the time axis)
 * @param[in] model  borrowed: must outlive the solver
 * @param[in] tab    borrowed: must outlive the solver
 * @param[in] opts   copied
 * @return PN_OK; PN_ERR_ARG for bad options (t1 ≤ t0, N < 1, more ranks than
 *         steps, ...), with the same message on every rank.
 * Collective on ctx.
 */
PN_EXPORT int pn_solver_create(pn_ctx *ctx, pn_model *model, const pn_tableau *tab,
                               const pn_solver_opts *opts, pn_solver **out);

/** @brief Destroy (NULL-safe, sets *solver to NULL). Not collective. */
PN_EXPORT int pn_solver_destroy(pn_solver **solver);

/** @brief The options in use (after validation). */
PN_EXPORT const pn_solver_opts *pn_solver_get_opts(const pn_solver *solver);

/**
 * @brief Loss and its gradients.
 * @param[in]  theta          P parameters (identical on every rank)
 * @param[in]  nb             batch size B (the loss's batch)
 * @param[in]  z0             B×D initial states (identical on every rank)
 * @param[in]  loss           labels; times must lie on the grid
 * @param[out] loss_out       L, on every rank (may be NULL)
 * @param[out] grad_theta_out ∂L/∂θ (P), on every rank (may be NULL)
 * @param[out] grad_z0_out    ∂L/∂z0 (B×D), on every rank (may be NULL)
 * @return PN_OK, or an error that every rank returns with the same message
 *         (e.g. PN_ERR_NONFINITE naming the step, time and rank).
 * Collective on ctx.
 */
PN_EXPORT int pn_solver_gradient(pn_solver *solver, const double *theta, int nb,
                                 const double *z0, const pn_loss *loss, double *loss_out,
                                 double *grad_theta_out, double *grad_z0_out);

/**
 * @brief Loss only (forward sweep, nothing stored).  Collective on ctx.
 */
PN_EXPORT int pn_solver_loss(pn_solver *solver, const double *theta, int nb, const double *z0,
                             const pn_loss *loss, double *loss_out);

/**
 * @brief States at chosen grid indices, gathered on every rank.
 * @param[in]  nsave        number of requested indices
 * @param[in]  save_steps   grid indices in [0, N]
 * @param[out] states_out   nsave×B×D
 * Collective on ctx.
 */
PN_EXPORT int pn_solver_forward(pn_solver *solver, const double *theta, int nb,
                                const double *z0, int nsave, const long *save_steps,
                                double *states_out);

/** @brief Counters and timings of the last call on this rank. Not collective. */
PN_EXPORT int pn_solver_get_stats(const pn_solver *solver, pn_stats *stats_out);

#endif
