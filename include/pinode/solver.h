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
  /** The solver chooses: all states if they fit in memory_limit (or, with no
   *  limit, in this node's available memory shared by the ranks), else binomial
   *  with the largest c that fits after everything else the solver holds. */
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

/** @brief Parse "pipeline" / "parareal" / "newton". @return PN_OK or PN_ERR_ARG. */
PN_EXPORT int pn_parallel_method_from_name(const char *name, pn_parallel_method *out);
/** @brief Name of a parallel method (static string). */
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

/** @brief Parse "iterate" / "maps". @return PN_OK or PN_ERR_ARG. */
PN_EXPORT int pn_parareal_adjoint_from_name(const char *name, pn_parareal_adjoint *out);
/** @brief Name of a Parareal adjoint (static string). */
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

/** @brief Parse "auto", "flat", "coarse", "coarse-newton". @return PN_OK or PN_ERR_ARG. */
PN_EXPORT int pn_newton_start_from_name(const char *name, pn_newton_start *out);
/** @brief Name of a Newton start (static string; "?" if unknown). */
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

/** @brief One-line description of a fallback reason (static string). */
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

/** @brief Fill @p opts with defaults (t0 = 0, t1 = 1, N = 1, store all, auto M). */
PN_EXPORT void pn_solver_opts_default(pn_solver_opts *opts);

/** @brief The pipeline's automatic micro-batch count (opts.microbatches = 0)
 *  for a batch of @p batch on @p ranks ranks: round(√((ranks−1)·batch/3)),
 *  within [1, batch]; 1 on one rank (docs/parallel.md, "Choosing M"). */
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

/** @brief Parse "discrete", "continuous-backsolve", "continuous-interp".
 *  @return PN_OK or PN_ERR_ARG.  Not collective. */
PN_EXPORT int pn_adjoint_kind_from_name(const char *name, pn_adjoint_kind *out);
/** @brief Name of an adjoint kind (static string; "?" if unknown). */
PN_EXPORT const char *pn_adjoint_kind_name(pn_adjoint_kind kind);
/** @brief Parse "multi" or "single". @return PN_OK or PN_ERR_ARG. */
PN_EXPORT int pn_sweep_mode_from_name(const char *name, pn_sweep_mode *out);
/** @brief Name of a sweep mode (static string; "?" if unknown). */
PN_EXPORT const char *pn_sweep_mode_name(pn_sweep_mode mode);

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
 * @brief Create a solver.
 * @param[in] ctx    context (its communicator is the time axis, or with
 *                   batch groups the batch axis × the time axis)
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
 * @brief Loss and gradients by a chosen method (see pn_adjoint_kind,
 * pn_sweep_mode); pn_solver_gradient() is this with PN_ADJOINT_DISCRETE,
 * PN_SWEEP_MULTI.  Same arguments, outputs and errors as pn_solver_gradient();
 * every method runs inside the same time-split pipeline (blocks, label
 * ownership, λ passed leftward, one Allreduce of θ̄).
 * @param[in] adjoint, mode  must be the same on every rank (checked:
 *                           PN_ERR_ARG on every rank otherwise)
 * Collective on ctx.
 */
PN_EXPORT int pn_solver_gradient_method(pn_solver *solver, pn_adjoint_kind adjoint,
                                        pn_sweep_mode mode, const double *theta, int nb,
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
