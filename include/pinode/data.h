/**
 * @file data.h
 * @brief Training data: trajectories of observed states, from CSV files or
 * from built-in generators, and the mini-batches and masked MSE losses made
 * from them.
 *
 * A dataset is a set of trajectories; trajectory j has rows (time, z ∈ R^D)
 * with strictly increasing times.  Its row at the solver's t0 is its initial
 * state; its later rows are labels.  Trajectories need not share their times.
 *
 * CSV format (one row per observation, comma-separated):
 *
 *     trajectory,time,z1,...,zD     optional header line (the z names are free)
 *     0,0.0,2.0,0.0                 trajectory id (integer), time, D values
 *
 * '#' starts a comment line; blank lines are skipped; the rows of one
 * trajectory are contiguous.  Every error names the file and line.
 * Depends on ctx, loss, rng, io.
 */
#ifndef PINODE_DATA_H
#define PINODE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "pinode/ctx.h"
#include "pinode/export.h"
#include "pinode/loss.h"
#include "pinode/rng.h"

/** @brief Trajectories, plain data owned by the struct. */
typedef struct pn_dataset {
  int dim;          /**< D */
  int ntraj;        /**< number of trajectories */
  long nrows;       /**< total rows */
  long *traj_id;    /**< ntraj: the id in the file (or 0..ntraj−1 when generated) */
  long *offset;     /**< ntraj+1: trajectory j has rows [offset[j], offset[j+1]) */
  double *time;     /**< nrows */
  double *z;        /**< nrows × D, row-major */
  long *line;       /**< nrows: line in the source file (0 when generated) */
  char source[512]; /**< file path or generator name, for messages */
} pn_dataset;

/** @brief Built-in problems. */
typedef enum pn_generator_kind {
  PN_GEN_SPIRAL = 0, /**< dz/dt = (z∘z∘z) A, A = [[−0.1, 2], [−2, −0.1]] (torchdiffeq's ode_demo);
                          trajectories start on the demo's spiral from (2, 0), at times in [0, 25) */
  PN_GEN_LOTKA_VOLTERRA, /**< x' = 1.5x − xy, y' = xy − 3y */
  PN_GEN_PENDULUM,   /**< θ' = ω, ω' = −4 sin θ − 0.3 ω (damped) */
  PN_GEN_LORENZ      /**< Lorenz-63, σ = 10, ρ = 28, β = 8/3, started on the attractor */
} pn_generator_kind;

/** @brief Generator options; start from pn_generator_opts_default(kind). */
typedef struct pn_generator_opts {
  pn_generator_kind kind;
  int ntraj;       /**< trajectories ≥ 1 */
  int npoints;     /**< observations per trajectory ≥ 2, at t0 + i (t1 − t0)/(npoints − 1) */
  double t0, t1;   /**< observation interval */
  double noise;    /**< std of Gaussian noise added to every observed value (≥ 0) */
  uint64_t seed;   /**< initial states and noise */
  int substeps;    /**< RK4 steps per observation interval for the ground truth (≥ 1) */
} pn_generator_opts;

/** @brief Defaults of a generator: 16 trajectories of 21 points on [0, t1] (t1 = 2,
 * 5, 5, 1 for spiral, lotka_volterra, pendulum, lorenz), noise 0, seed 1, 50 substeps. */
PN_EXPORT void pn_generator_opts_default(pn_generator_kind kind, pn_generator_opts *opts);
/** @brief "spiral", "lotka_volterra", "pendulum", "lorenz". @return PN_OK or PN_ERR_ARG. */
PN_EXPORT int pn_generator_from_name(const char *name, pn_generator_kind *out);
PN_EXPORT const char *pn_generator_name(pn_generator_kind kind);
/** @brief State dimension of a generator's problem (2, 2, 2, 3). */
PN_EXPORT int pn_generator_dim(pn_generator_kind kind);

/**
 * @brief Generate a dataset: initial states drawn from the seeded RNG, each
 * trajectory integrated by classical RK4 with @p substeps steps per
 * observation interval, then noise added.  Same options → bitwise the same
 * data on every machine and rank.  Not collective.
 */
PN_EXPORT int pn_dataset_generate(pn_ctx *ctx, const pn_generator_opts *opts, pn_dataset **out);

/**
 * @brief Read a CSV file (format above).  Collective: rank 0 reads, every rank
 * parses the broadcast bytes.
 * @return PN_OK; PN_ERR_IO; PN_ERR_PARSE (malformed row, wrong column count,
 *         unsorted times, non-contiguous trajectory) or PN_ERR_NONFINITE
 *         (NaN/Inf), the message naming file and line.
 */
PN_EXPORT int pn_dataset_read_csv(pn_ctx *ctx, const char *path, pn_dataset **out);

/**
 * @brief Write the CSV format (header "trajectory,time,z1,...,zD", values
 * with 17 significant digits) atomically.  Not collective.
 */
PN_EXPORT int pn_dataset_write_csv(pn_ctx *ctx, const pn_dataset *ds, const char *path);

/** @brief An empty dataset of @p ntraj trajectories × @p nper rows (for outputs). */
PN_EXPORT int pn_dataset_create(pn_ctx *ctx, int dim, int ntraj, long nper, pn_dataset **out);

/** @brief Destroy (NULL-safe, sets *ds to NULL). */
PN_EXPORT void pn_dataset_destroy(pn_dataset **ds);

/** @brief Multiply every state by @p factor (> 0, finite). */
PN_EXPORT int pn_dataset_scale(pn_ctx *ctx, pn_dataset *ds, double factor);

/**
 * @brief Check a dataset against a solver grid t_n = t0 + n (t1 − t0)/N:
 * every trajectory has a row at t0 (its initial state), and every time lies
 * in [t0, t1] on the grid: within rounding of a grid time (16 ε·max(|t0|,
 * |t1|), whatever N), or within a millionth of a step, when the time is
 * taken as that grid time and a note says so (pn_ctx_notes: how many, and
 * the farthest with its file, line and distance).  PN_ERR_GRID names the
 * file, line and trajectory of the first offending row, and a step count N'
 * whose grid holds every time.  Not collective.
 */
PN_EXPORT int pn_dataset_check_grid(pn_ctx *ctx, const pn_dataset *ds, double t0, double t1,
                                    long nsteps);

/**
 * @brief Split the trajectories into training and validation sets: a seeded
 * shuffle, then round(fraction · ntraj) validation trajectories (at least one
 * if fraction > 0, and at least one training trajectory always).  Both lists
 * come out sorted ascending.
 * @param[out] train  ntraj entries reserved; *ntrain filled
 * @param[out] val    ntraj entries reserved; *nval filled
 */
PN_EXPORT int pn_dataset_split(pn_ctx *ctx, const pn_dataset *ds, double fraction, uint64_t seed,
                               int *train, int *ntrain, int *val, int *nval);

/**
 * @brief Draw @p size distinct entries of pool[0..npool) (partial
 * Fisher–Yates on a copy in @p scratch, npool entries): the draw depends only
 * on the RNG state, never on earlier draws.  Never allocates.
 */
PN_EXPORT void pn_draw_batch(pn_rng *rng, const int *pool, int npool, int size, int *out,
                             int *scratch);

/** @brief How the masked MSE is normalised. */
typedef enum pn_reduction {
  PN_REDUCE_MEAN = 0, /**< divide by (observations in the batch) · D */
  PN_REDUCE_SUM       /**< plain sum of squared errors */
} pn_reduction;

typedef struct pn_batch pn_batch;

/**
 * @brief A batch of @p size trajectories of @p ds with its initial states and
 * loss.  The loss has one label per distinct observation time of the dataset
 * after t0; a trajectory without a row at a label time contributes nothing
 * there (masked MSE):  L = s Σ_{observed (b, t)} Σ_d (z_b(t)_d − y_{b,t,d})²,
 * s = 1/(n_obs · D) (mean) or 1 (sum).  Every trajectory's first row must be
 * at @p t0 (PN_ERR_GRID otherwise; pn_dataset_check_grid() checks it on the
 * solver grid).  @p ds is borrowed (must outlive the batch).  Not collective.
 */
PN_EXPORT int pn_batch_create(pn_ctx *ctx, const pn_dataset *ds, int size, double t0,
                              pn_reduction reduction, pn_batch **out);
/** @brief Destroy (NULL-safe). */
PN_EXPORT void pn_batch_destroy(pn_batch **b);

/**
 * @brief Fill the batch with trajectories members[0..size): their initial
 * states and the loss normalisation.  Never allocates.
 * @return PN_OK; PN_ERR_ARG for an index out of range or a trajectory without
 *         a row at t0.
 */
PN_EXPORT int pn_batch_set(pn_batch *b, const int *members);

/** @brief The batch's B×D initial states (owned by the batch). */
PN_EXPORT const double *pn_batch_z0(const pn_batch *b);
/** @brief The batch's loss (owned by the batch). */
PN_EXPORT const pn_loss *pn_batch_loss(const pn_batch *b);
/** @brief Batch size B. */
PN_EXPORT int pn_batch_size(const pn_batch *b);
/** @brief Observations (labels) of the current members. */
PN_EXPORT long pn_batch_observations(const pn_batch *b);

#endif
