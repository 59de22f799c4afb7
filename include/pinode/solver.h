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
  PN_STORE_EVERY,    /**< every k-th state; the others recomputed */
  /** Binomial checkpointing (Griewank–Walther "Revolve", offline): c
   *  checkpoints (z at the block's start included) plus one working state;
   *  recomputes the fewest steps any schedule with c checkpoints can, i.e.
   *  r·N − β(c+1, r−1) − (N − 1) for a block of N steps, where r is the
   *  smallest integer with β(c, r) = C(c+r, c) ≥ N. */
  PN_STORE_BINOMIAL,
  /** The solver chooses, within memory_limit (or, with no limit, this node's
   *  available memory shared by the ranks) after everything else it holds:
   *  the stage tape (PN_STORE_STAGES) if it fits and its estimated cost is
   *  below that of all states (the pipeline's discrete adjoint only;
   *  docs/memory.md), else all states if they fit, else binomial with the
   *  largest c that fits. */
  PN_STORE_AUTO,
  /** Every state and, for every step, what its adjoint needs: the stage
   *  inputs and the network's intermediate values at each stage (for the
   *  built-in MLP, its hidden activations).  The discrete adjoint then
   *  recomputes nothing (no forward evaluation in the backward sweep) and
   *  gives bitwise the gradient of PN_STORE_ALL; the most memory: per step
   *  and sample, s·(D + Σ hidden widths) doubles on top of D (e.g. 2.6 MB a
   *  step for the wide benchmark, 0.13 MB with PN_STORE_ALL). */
  PN_STORE_STAGES
} pn_storage_kind;

/** @brief How the time axis is parallelised across the ranks. */
typedef enum pn_parallel_method {
  /** Exact: contiguous blocks of steps, the batch pipelined through the ranks
   *  in micro-batches (docs/parallel.md).  Same numbers as one rank.  Default. */
  PN_PARALLEL_PIPELINE = 0,
  /** Iterative, for few or single long trajectories: Parareal forward over the
   *  rank blocks (coarse propagator G, fine F = the real steps) and a parallel
   *  adjoint (see pn_parareal_adjoint).  Exact after P iterations; discrete
   *  multi-point adjoint only. */
  PN_PARALLEL_PARAREAL,
  /** For one to a few long trajectories on many ranks: Newton's method on
   *  the block starts (multiple shooting, docs/parallel.md).  Every rank
   *  integrates its block and D tangent directions from its block start;
   *  the Newton correction of all block starts is one parallel scan across
   *  the ranks (⌈log₂ P⌉ rounds), and the adjoint reuses the block
   *  Jacobians (one scan, one backward sweep per block).  Stops when the
   *  block starts agree to rounding (pn_newton_opts.tol): the exact
   *  gradient; bitwise the serial one after at most P sweeps.  Warm-starts
   *  from the previous call's block starts when the initial states repeat
   *  (training).  Falls back to the pipeline for a call whose dynamics
   *  expand too much or whose iteration diverges (pn_stats.newton_fallback
   *  says why).  Discrete multi-point adjoint only. */
  PN_PARALLEL_NEWTON
} pn_parallel_method;

/**
 * @brief Parse the name of a parallel method: "pipeline", "parareal", "newton".
 * @param[in]  name  the name
 * @param[out] out   the value (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_parallel_method_from_name(const char *name, pn_parallel_method *out);

/**
 * @brief The name of a parallel method.
 * @param[in] method  the value
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_parallel_method_name(pn_parallel_method method);

/** @brief How Parareal solves the (linear) backward sweep in parallel. */
typedef enum pn_parareal_adjoint {
  /** Parareal again, on λ: fine adjoint sweeps of every block at once,
   *  corrected by the adjoint of the coarse propagator travelling from rank
   *  to rank; about K_a fine adjoint sweeps per block.  Default. */
  PN_PARAREAL_ADJOINT_ITERATE = 0,
  /** Each block's affine map λ_lo = M λ_hi + j (D + 1 backward passes at
   *  once), composed by one parallel prefix over the ranks: no iterations,
   *  about D + 2 adjoint sweeps per block. */
  PN_PARAREAL_ADJOINT_MAPS
} pn_parareal_adjoint;

/**
 * @brief Parse the name of a Parareal adjoint: "iterate", "maps".
 * @param[in]  name  the name
 * @param[out] out   the value (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_parareal_adjoint_from_name(const char *name, pn_parareal_adjoint *out);

/**
 * @brief The name of a Parareal adjoint.
 * @param[in] kind  the value
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_parareal_adjoint_name(pn_parareal_adjoint kind);

/** @brief Parareal settings (used with PN_PARALLEL_PARAREAL). */
typedef struct pn_parareal_opts {
  int max_iter;           /**< most iterations (fine sweeps); 0 = P, with which
                               the result equals the pipeline's (≤ 1e-13) */
  double tol;             /**< stop when the largest change of a block's
                               initial state (forward) or final adjoint
                               (backward), relative to the larger of its size
                               and the size of z0 (of λ), is ≤ tol; 0:
                               iterate until they stop changing (bitwise) */
  long coarse_steps;      /**< steps of G per rank block; 0 = ⌈block / 10⌉ */
  char coarse_scheme[16]; /**< tableau of G; "" = the fine scheme */
  pn_parareal_adjoint adjoint; /**< default PN_PARAREAL_ADJOINT_ITERATE */
} pn_parareal_opts;

/** @brief Where Newton shooting starts when it cannot warm-start. */
typedef enum pn_newton_start {
  /** The default: the coarse problem solved by Newton itself (COARSE_NEWTON). */
  PN_NEWTON_START_AUTO = 0,
  /** Every block from z0: no extra cost, more sweeps. */
  PN_NEWTON_START_FLAT,
  /** A serial sweep of the coarse propagator over the ranks (Parareal's
   *  predictor): few sweeps after it, but its cost grows with P. */
  PN_NEWTON_START_COARSE,
  /** Newton shooting on the coarse propagator (cheap sweeps, the same
   *  scan): a start whose cost does not grow with P. */
  PN_NEWTON_START_COARSE_NEWTON
} pn_newton_start;

/**
 * @brief Parse the name of a Newton start: "auto", "flat", "coarse", "coarse-newton".
 * @param[in]  name  the name
 * @param[out] out   the value (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_newton_start_from_name(const char *name, pn_newton_start *out);

/**
 * @brief The name of a Newton start.
 * @param[in] start  the value
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_newton_start_name(pn_newton_start start);

/** @brief Newton shooting settings (used with PN_PARALLEL_NEWTON); zeros
 *  are the defaults. */
typedef struct pn_newton_opts {
  int max_iter;          /**< most sweeps; 0 = P (after P sweeps every block
                              start is exact, bitwise) */
  double tol;            /**< stop when the largest defect of a block start,
                              relative to the larger of its size and the
                              size of z0, is ≤ tol; 0 = 1e-13 (rounding
                              level: the gradient is the exact one to ~1e-13) */
  double growth_limit;   /**< fall back to the pipeline when the block
                              Jacobians' product ‖J_{r}⋯J_0‖∞ (how much a
                              perturbation at t0 grows by a block's end)
                              exceeds it; 0 = 1e6 */
  pn_newton_start start; /**< the cold start; default AUTO */
  int no_warm;           /**< 1: never warm-start from the previous call */
  long coarse_steps;     /**< coarse steps per block for the coarse starts;
                              0 = ⌈block / 16⌉ */
  char coarse_scheme[16]; /**< their scheme; "" = the fine scheme */
} pn_newton_opts;

/** @brief Why a Newton call fell back to the pipeline. */
typedef enum pn_newton_fallback {
  PN_NEWTON_NO_FALLBACK = 0, /**< Newton converged */
  PN_NEWTON_GROWTH,          /**< the dynamics expand beyond growth_limit */
  PN_NEWTON_DIVERGED,        /**< two sweeps in a row did not reduce the largest defect */
  PN_NEWTON_NONFINITE,       /**< a state or tangent overflowed from a block start */
  PN_NEWTON_MAX_ITER         /**< not converged in max_iter sweeps */
} pn_newton_fallback;

/**
 * @brief A one-line description of why a Newton call fell back (or "converged").
 * @param[in] reason  pn_stats.newton_fallback
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_newton_fallback_text(pn_newton_fallback reason);

/** @brief Solver options; start from pn_solver_opts_default(). */
typedef struct pn_solver_opts {
  double t0, t1;           /**< time interval, t1 > t0 */
  long nsteps;             /**< N ≥ 1 fixed steps */
  pn_storage_kind storage; /**< default PN_STORE_ALL */
  long storage_param;      /**< k for PN_STORE_EVERY, c for PN_STORE_BINOMIAL */
  size_t memory_limit;     /**< bytes per rank the solver may hold (trajectory,
                                workspaces, buffers, label jumps); 0 = no limit.
                                A gradient whose estimate exceeds it is refused
                                with PN_ERR_LIMIT before anything is allocated
                                (except with PN_STORE_AUTO, which fits into it). */
  int microbatches;        /**< M ≥ 1, or 0 for an automatic choice */
  int check_finite;        /**< 1 (default): stop at the first NaN/Inf state */
  pn_parallel_method method; /**< default PN_PARALLEL_PIPELINE */
  pn_parareal_opts parareal; /**< PN_PARALLEL_PARAREAL only */
  int batch_groups;        /**< G ≥ 1 (0 means 1): the ranks form G groups of
                                P = size/G consecutive ranks; each group takes
                                an even share of the batch (samples split as
                                in micro-batches) and splits time among its P
                                ranks; losses and gradients are summed over
                                all ranks.  Needs size divisible by G, P ≤ N
                                and a batch of at least G samples. */
  pn_newton_opts newton;   /**< PN_PARALLEL_NEWTON only */
} pn_solver_opts;

/** @brief Most Parareal residuals and Newton defects kept in pn_stats. */
#define PN_PARAREAL_HISTORY 64

/**
 * @brief Fill @p opts with the defaults: t0 = 0, t1 = 1, N = 1, every state stored, no memory
 * limit, automatic micro-batches, finiteness checked, the pipeline, one batch group; zero for
 * Parareal's and Newton's options (their own defaults).
 * @param[out] opts  the whole struct (this library version's pn_solver_opts)
 * Not collective.
 */
PN_EXPORT void pn_solver_opts_default(pn_solver_opts *opts);

/**
 * @brief The pipeline's automatic micro-batch count (opts.microbatches = 0):
 * round(√((ranks − 1)·batch/3)) within [1, batch]; 1 on one rank (docs/parallel.md,
 * "Choosing M").
 * @param[in] ranks  the ranks of a batch group, ≥ 1
 * @param[in] batch  the samples, ≥ 1
 * @return M.
 * Not collective.  Thread-safe.
 */
PN_EXPORT int pn_pipeline_auto_microbatches(int ranks, int batch);

/**
 * @brief How the gradient is computed (docs/mathematics.md).  Only the discrete
 * adjoint is the exact gradient of what the solver computes; the continuous
 * ones are there to show, and measure, that they are not.
 */
typedef enum pn_adjoint_kind {
  /** Exact discrete adjoint of the RK scheme: equals backpropagation through
   *  the solver to rounding.  The default. */
  PN_ADJOINT_DISCRETE = 0,
  /** Continuous (optimise-then-discretise) adjoint, z integrated backward
   *  alongside a (torchdiffeq's odeint_adjoint).  Stores no trajectory (only
   *  each block's first state).  Each rank restarts z from its own forward
   *  state at the right end of its block: the time-parallel form of
   *  backsolve.  Its drift is reported in pn_stats.backsolve_z_err. */
  PN_ADJOINT_CONTINUOUS_BACKSOLVE,
  /** Continuous adjoint, z from the stored forward states, cubic Hermite in
   *  between (slopes f at the grid points). */
  PN_ADJOINT_CONTINUOUS_INTERP
} pn_adjoint_kind;

/** @brief Multi-point: one backward sweep with every label's jump.
 *  Single-point: one sweep per label, from its time back to t0, summed
 *  (K times dearer; a reference). */
typedef enum pn_sweep_mode {
  PN_SWEEP_MULTI = 0,
  PN_SWEEP_SINGLE
} pn_sweep_mode;

/**
 * @brief Parse the name of an adjoint kind: "discrete", "continuous-backsolve",
 * "continuous-interp".
 * @param[in]  name  the name
 * @param[out] out   the value (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_adjoint_kind_from_name(const char *name, pn_adjoint_kind *out);

/**
 * @brief The name of an adjoint kind.
 * @param[in] kind  the value
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_adjoint_kind_name(pn_adjoint_kind kind);

/**
 * @brief Parse the name of a sweep mode: "multi", "single".
 * @param[in]  name  the name
 * @param[out] out   the value (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_sweep_mode_from_name(const char *name, pn_sweep_mode *out);

/**
 * @brief The name of a sweep mode.
 * @param[in] mode  the value
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_sweep_mode_name(pn_sweep_mode mode);

/** @brief Counters and timings of the last call on this rank.  Fields are only ever added at
 *  the end (read it with pn_solver_get_stats(), which copies what the caller's struct holds). */
typedef struct pn_stats {
  long rhs_evals;        /**< batched RHS calls (one per stage per micro-batch) */
  long vjp_evals;        /**< batched VJP calls */
  long steps_forward;    /**< steps taken in the forward sweep by this rank */
  long steps_recomputed; /**< extra forward steps taken by checkpointing */
  long states_stored;    /**< most states held at once by the trajectory storage */
  double time_forward;   /**< seconds, forward sweep (including waits) */
  double time_backward;  /**< seconds, backward sweep (including waits) */
  double time_wait;      /**< seconds spent waiting for neighbours */
  double time_mpi;       /**< seconds inside MPI calls (wall clock), every
                              message and collective of the call included */
  size_t bytes_solver;   /**< bytes the solver holds (trajectory + workspaces) */
  long peak_rss_kb;      /**< peak resident set of the process (getrusage) */
  long block_lo, block_hi; /**< this rank's steps [lo, hi) */
  int microbatches;      /**< M used */
  /* Gradient method of the last pn_solver_gradient_method() call. */
  pn_adjoint_kind adjoint; /**< adjoint used */
  pn_sweep_mode sweep;     /**< sweep mode used */
  long sweeps_backward;    /**< backward sweeps this rank took part in */
  long rhs_evals_backward; /**< the part of rhs_evals spent in backward sweeps
                                (stage recomputation, checkpoints, backsolve) */
  double backsolve_z_err;  /**< backsolve only: ‖z_backsolved(t_lo) − z_lo‖ /
                                ‖z_lo‖ over this rank's block, all samples (the
                                largest over single-point sweeps); 0 otherwise */
  /* Trajectory storage of the last gradient on this rank. */
  pn_storage_kind storage;  /**< the policy used (PN_STORE_AUTO resolved) */
  long storage_param;       /**< its k (every) or c (binomial) */
  long steps_recompute_min; /**< the fewest steps any schedule holding
                                 states_stored states per trajectory could
                                 recompute here (the binomial optimum, summed
                                 over micro-batches like steps_recomputed) */
  size_t bytes_limit;       /**< the budget the storage was fitted to:
                                 memory_limit, or the available memory shared
                                 by the ranks (PN_STORE_AUTO); 0 = none */
  /* Parareal (PN_PARALLEL_PARAREAL) of the last call. */
  int parareal_iterations;  /**< forward fine sweeps taken (same on every rank) */
  int parareal_adjoint_iterations; /**< fine adjoint sweeps of the iterative
                                 adjoint (0 with the affine maps) */
  double parareal_residual[PN_PARAREAL_HISTORY]; /**< largest relative change
                                 of a block's initial state after each
                                 iteration (the first PN_PARAREAL_HISTORY) */
  double parareal_adjoint_residual[PN_PARAREAL_HISTORY]; /**< the same for
                                 the λ at the blocks' right ends */
  long coarse_steps;        /**< steps of G taken by this rank */
  long fine_sweeps_skipped; /**< fine sweeps this rank skipped because its
                                 initial state had not changed */
  long adjoint_map_steps;   /**< backward steps of the affine-map sweep
                                 (batch B·(D+1)) taken by this rank */
  double time_coarse;       /**< seconds in G on this rank */
  double time_adjoint_map;  /**< seconds building and composing the affine
                                 adjoint maps on this rank */
  /* Batch groups (pn_solver_opts.batch_groups). */
  int batch_group;          /**< this rank's group, 0..G−1 */
  int batch_lo, batch_hi;   /**< the samples [lo, hi) of the batch it solves */
  /* Newton shooting (PN_PARALLEL_NEWTON) of the last call. */
  int newton_iterations;    /**< fine sweeps with tangents (same on every rank) */
  int newton_warm;          /**< 1: started from the previous call's block starts */
  pn_newton_start newton_start; /**< the cold start used (when not warm) */
  int newton_coarse_iterations; /**< sweeps of the coarse Newton start */
  double newton_defect[PN_PARAREAL_HISTORY]; /**< largest relative defect of a
                                 block start after each fine sweep */
  double newton_growth;     /**< largest ‖J_{r}⋯J_0‖∞ seen (perturbation growth) */
  pn_newton_fallback newton_fallback; /**< why the call ran on the pipeline */
  long newton_sweeps_skipped; /**< fine sweeps skipped: block start unchanged */
  double time_scan;         /**< seconds in the scans across the ranks */
} pn_stats;

/**
 * @brief Create a solver: the time grid, its split over the ranks and the parallel method.
 * Workspaces are made by the first call of each batch size.
 * @param[in]  ctx    the context; its communicator is the time axis (with batch groups, the
 *                    batch groups × the time axis); it must outlive the solver
 * @param[in]  model  borrowed: it must outlive the solver
 * @param[in]  tab    borrowed: it must outlive the solver
 * @param[in]  opts   the options (copied), the same on every rank
 * @param[out] out    the new solver, to destroy with pn_solver_destroy(); unchanged on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument or bad options (t1 ≤ t0, N < 1, more ranks
 *         than steps, batch groups that do not divide the ranks, an unknown storage, method,
 *         coarse scheme or Newton start, an option of Parareal or Newton out of range, ...);
 *         PN_ERR_MEM; PN_ERR_MPI.  Every rank returns the same code and message.
 * Collective on ctx.
 */
PN_EXPORT int pn_solver_create(pn_ctx *ctx, pn_model *model, const pn_tableau *tab,
                               const pn_solver_opts *opts, pn_solver **out);

/**
 * @brief Destroy a solver and its workspaces.
 *
 * It communicates with no rank and frees no communicator: a solver holds none of its own (its
 * messages travel on the context's).  It cancels the receives a failed call left posted and
 * completes the sends of the last call, which its neighbours received in that call.  The
 * model, tableau and context it borrowed are not touched.
 *
 * @param[in,out] solver  the address of the solver; NULL or *solver NULL does nothing; *solver
 *                        is set to NULL
 * @return PN_OK.
 * Not collective: each rank may destroy its solver when it likes (before MPI_Finalize).
 */
PN_EXPORT int pn_solver_destroy(pn_solver **solver);

/**
 * @brief The options in use (after validation).
 * @param[in] solver  the solver
 * @return the solver's copy (read only), valid until the solver is destroyed.
 * Not collective.
 */
PN_EXPORT const pn_solver_opts *pn_solver_get_opts(const pn_solver *solver);

/**
 * @brief The loss and its exact gradient (the discrete adjoint of the Runge–Kutta solve).
 * @param[in,out] solver          the solver (its workspaces and statistics change)
 * @param[in]     theta           the P parameters, the same on every rank (not kept)
 * @param[in]     nb              the batch B, ≥ the batch groups; the loss's batch
 * @param[in]     z0              B×D initial states, the same on every rank (not kept)
 * @param[in]     loss            the labels, whose times must lie on the grid; NULL: L = 0
 * @param[out]    loss_out        L, on every rank (may be NULL)
 * @param[out]    grad_theta_out  ∂L/∂θ, P numbers, on every rank (may be NULL)
 * @param[out]    grad_z0_out     ∂L/∂z0, B×D numbers, on every rank (may be NULL)
 * @return PN_OK; PN_ERR_ARG (NULL θ or z0, B < 1 or below the batch groups, a loss of another
 *         batch or dimension); PN_ERR_GRID (a label time off the grid or outside [t0, t1]: the
 *         message names a step count that fits); PN_ERR_NONFINITE (a non-finite θ or z0 entry,
 *         or with check_finite the first NaN or Inf state: step, time and rank); PN_ERR_LIMIT
 *         (the memory_limit cannot hold the call: the message names settings that would fit);
 *         PN_ERR_MEM; PN_ERR_USER_CALLBACK (a user model or loss failed); PN_ERR_NOT_CONVERGED
 *         (Parareal within its max_iter); PN_ERR_MPI.  Every rank returns the same code and
 *         message (the failing rank's, prefixed "rank r: " elsewhere), and the solver stays
 *         usable.
 * Collective on ctx.  Not thread-safe (nor is any use of one solver or its model from two
 * threads).
 */
PN_EXPORT int pn_solver_gradient(pn_solver *solver, const double *theta, int nb,
                                 const double *z0, const pn_loss *loss, double *loss_out,
                                 double *grad_theta_out, double *grad_z0_out);

/**
 * @brief The loss and a gradient by a chosen method (see pn_adjoint_kind, pn_sweep_mode):
 * pn_solver_gradient() is this with PN_ADJOINT_DISCRETE and PN_SWEEP_MULTI.  Every method runs
 * on the same split of the ranks (blocks, label ownership, λ passed leftward, one Allreduce of
 * θ̄); Parareal and Newton shooting compute the discrete multi-point adjoint only.
 * @param[in,out] solver          the solver
 * @param[in]     adjoint         the adjoint, the same on every rank (checked)
 * @param[in]     mode            the sweep mode, the same on every rank (checked)
 * @param[in]     theta           as pn_solver_gradient()
 * @param[in]     nb              as pn_solver_gradient()
 * @param[in]     z0              as pn_solver_gradient()
 * @param[in]     loss            as pn_solver_gradient()
 * @param[out]    loss_out        as pn_solver_gradient()
 * @param[out]    grad_theta_out  as pn_solver_gradient()
 * @param[out]    grad_z0_out     as pn_solver_gradient()
 * @return the codes of pn_solver_gradient(); PN_ERR_ARG also for an unknown method, ranks
 *         that asked for different ones, or one the parallel method does not compute.
 * Collective on ctx.  Not thread-safe.
 */
PN_EXPORT int pn_solver_gradient_method(pn_solver *solver, pn_adjoint_kind adjoint,
                                        pn_sweep_mode mode, const double *theta, int nb,
                                        const double *z0, const pn_loss *loss, double *loss_out,
                                        double *grad_theta_out, double *grad_z0_out);

/**
 * @brief The loss alone: the forward sweep, no trajectory stored.
 * @param[in,out] solver    the solver
 * @param[in]     theta     as pn_solver_gradient()
 * @param[in]     nb        as pn_solver_gradient()
 * @param[in]     z0        as pn_solver_gradient()
 * @param[in]     loss      as pn_solver_gradient()
 * @param[out]    loss_out  L, on every rank (may be NULL)
 * @return the codes of pn_solver_gradient() that a forward sweep can give.
 * Collective on ctx.  Not thread-safe.
 */
PN_EXPORT int pn_solver_loss(pn_solver *solver, const double *theta, int nb, const double *z0,
                             const pn_loss *loss, double *loss_out);

/**
 * @brief The states at chosen grid indices, gathered on every rank.
 * @param[in,out] solver      the solver
 * @param[in]     theta       as pn_solver_gradient()
 * @param[in]     nb          the batch B, ≥ 1
 * @param[in]     z0          as pn_solver_gradient()
 * @param[in]     nsave       the number of indices, ≥ 0
 * @param[in]     save_steps  @p nsave grid indices in [0, N], in any order, repeats allowed
 * @param[out]    states_out  nsave×B×D numbers: the states z_{save_steps[i]}, in the order asked
 * @return PN_OK; PN_ERR_ARG (a bad request or an index outside [0, N], named; as
 *         pn_solver_gradient() for θ, B and z0); PN_ERR_NONFINITE; PN_ERR_MEM;
 *         PN_ERR_USER_CALLBACK; PN_ERR_NOT_CONVERGED; PN_ERR_MPI.  The same on every rank.
 * Collective on ctx.  Not thread-safe.
 */
PN_EXPORT int pn_solver_forward(pn_solver *solver, const double *theta, int nb,
                                const double *z0, int nsave, const long *save_steps,
                                double *states_out);

/**
 * @brief Counters and timings of the last call on this rank, as much of them as the caller's
 * struct holds.
 *
 * pn_stats grows with the library's features, at its end only (no field is ever removed, moved
 * or retyped), so the struct a program was compiled with is a prefix of every later version's.
 * This function copies the first min(@p size, sizeof(pn_stats)) bytes of the library's
 * statistics and zeroes the rest of the caller's @p size bytes (fields this library does not
 * know read 0): a program built against an older header keeps working with a newer library,
 * and the other way round.  pn_solver_get_stats() is this function with the caller's own
 * sizeof(pn_stats).
 *
 * @param[in]  solver     the solver
 * @param[out] stats_out  the caller's struct, @p size bytes
 * @param[in]  size       sizeof the caller's pn_stats
 * @return PN_OK; PN_ERR_ARG if @p solver or @p stats_out is NULL.
 * Not collective.  Not thread-safe with a call on the same solver.
 */
PN_EXPORT int pn_solver_get_stats_sized(const pn_solver *solver, pn_stats *stats_out,
                                        size_t size);

/**
 * @brief Counters and timings of the last call on this rank (the whole pn_stats of the header
 * the caller was compiled with).
 *
 * A macro over pn_solver_get_stats_sized() with sizeof *(stats_out), so that every caller passes
 * the size of its own struct; the function of the same name (for bindings that cannot expand
 * macros) fills this library's whole pn_stats, so its caller's struct must be this version's.
 *
 * @param[in]  solver     the solver
 * @param[out] stats_out  filled
 * @return PN_OK; PN_ERR_ARG if @p solver or @p stats_out is NULL.
 * Not collective.  Not thread-safe with a call on the same solver.
 */
PN_EXPORT int pn_solver_get_stats(const pn_solver *solver, pn_stats *stats_out);
#define pn_solver_get_stats(solver, stats_out)                                               \
  pn_solver_get_stats_sized((solver), (stats_out), sizeof *(stats_out))

#endif
