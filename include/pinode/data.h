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
 *     trajectory,time,x,v           optional header line: the states' names (default z1..zD)
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
  char **names;     /**< D names of the states (the CSV header's, a generator's), or NULL for
                         z1..zD; set with pn_dataset_set_names(), read with pn_dataset_name() */
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

/**
 * @brief The defaults of a generator: 16 trajectories of 21 points on [0, t1] (t1 = 2, 5, 5, 1
 * for spiral, lotka_volterra, pendulum, lorenz), no noise, seed 1, 50 RK4 substeps.
 * @param[in]  kind  the generator (another value gives the spiral's t1, and options that
 *                   pn_dataset_generate() refuses)
 * @param[out] opts  the whole struct
 * Not collective.
 */
PN_EXPORT void pn_generator_opts_default(pn_generator_kind kind, pn_generator_opts *opts);

/**
 * @brief Parse a generator's name: "spiral", "lotka_volterra", "pendulum", "lorenz".
 * @param[in]  name  the name
 * @param[out] out   the generator (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_generator_from_name(const char *name, pn_generator_kind *out);

/**
 * @brief The name of a generator.
 * @param[in] kind  the generator
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_generator_name(pn_generator_kind kind);

/**
 * @brief The state dimension of a generator's problem.
 * @param[in] kind  the generator
 * @return 2, 2, 2 or 3; 0 for a value outside the enum.
 * Not collective.
 */
PN_EXPORT int pn_generator_dim(pn_generator_kind kind);

/**
 * @brief Generate a dataset: initial states drawn from the seeded RNG, each trajectory
 * integrated by classical RK4 with @p opts->substeps steps per observation interval, then the
 * noise added.  The same options give bitwise the same data on every machine and rank.
 * @param[in]  ctx   context for errors
 * @param[in]  opts  the options (see pn_generator_opts for their ranges)
 * @param[out] out   the new dataset, to destroy with pn_dataset_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument or an option out of range (named);
 *         PN_ERR_NONFINITE when a trajectory blows up (its time named); PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_dataset_generate(pn_ctx *ctx, const pn_generator_opts *opts, pn_dataset **out);

/**
 * @brief Read a CSV file (the format above); the header's names become the states' names (as
 * pn_dataset_set_names(): none when they are z1..zD).
 * @param[in]  ctx   the context
 * @param[in]  path  the file
 * @param[out] out   the new dataset, to destroy with pn_dataset_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument; PN_ERR_IO; PN_ERR_PARSE (a malformed row, a
 *         wrong column count, a bad name in the header, unsorted times, a trajectory in two
 *         pieces, no rows) or
 *         PN_ERR_NONFINITE, the message naming file and line; PN_ERR_LIMIT (over 1 GiB or
 *         2^31 rows); PN_ERR_MEM; PN_ERR_MPI.  The same on every rank.
 * Collective on ctx: rank 0 reads, every rank parses the shared bytes.
 */
PN_EXPORT int pn_dataset_read_csv(pn_ctx *ctx, const char *path, pn_dataset **out);

/**
 * @brief Name the states of a dataset (the columns after trajectory and time in its CSV).
 * @param[in]     ctx    context for errors
 * @param[in,out] ds     the dataset
 * @param[in]     names  ds->dim names (copied), or NULL for z1..zD; each 1..255 characters, no
 *                       comma or control character, no two alike.  The names z1..zD are kept
 *                       as no names (ds->names NULL)
 * @return PN_OK; PN_ERR_ARG for a NULL dataset or a bad name (the column named; the old names
 *         kept); PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_dataset_set_names(pn_ctx *ctx, pn_dataset *ds, const char *const *names);

/**
 * @brief The name of state @p d of a dataset.
 * @param[in]  ds   the dataset
 * @param[in]  d    0 ≤ d < ds->dim
 * @param[out] buf  room for "z" and the number, when the states have no names
 * @param[in]  n    its size
 * @return ds->names[d], or "z<d+1>" written into buf.
 * Not collective.
 */
PN_EXPORT const char *pn_dataset_name(const pn_dataset *ds, int d, char *buf, size_t n);

/**
 * @brief Write the CSV format (header "trajectory,time," and the states' names, each number by
 * pn_format_double(), so every double round-trips), atomically as pn_write_file_atomic().
 * @param[in] ctx   context for errors
 * @param[in] ds    the dataset
 * @param[in] path  the file
 * @return PN_OK; PN_ERR_ARG for a NULL argument or a path over 4 KiB; PN_ERR_IO; PN_ERR_MEM.
 * Not collective: call it on one rank.
 */
PN_EXPORT int pn_dataset_write_csv(pn_ctx *ctx, const pn_dataset *ds, const char *path);

/**
 * @brief An empty dataset of @p ntraj trajectories of @p nper rows each (times and states 0,
 * ids 0..ntraj−1), to fill (predictions, outputs).
 * @param[in]  ctx    context for errors
 * @param[in]  dim    D, 1..4096
 * @param[in]  ntraj  trajectories, ≥ 1
 * @param[in]  nper   rows per trajectory, ≥ 1
 * @param[out] out    the new dataset, to destroy with pn_dataset_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL @p out or a size out of range; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_dataset_create(pn_ctx *ctx, int dim, int ntraj, long nper, pn_dataset **out);

/**
 * @brief Destroy a dataset and its arrays.
 * @param[in,out] ds  the address of the dataset; NULL or *ds NULL does nothing; *ds is set to
 *                    NULL
 * Not collective.  Destroy a dataset only after the batches that borrow it.
 */
PN_EXPORT void pn_dataset_destroy(pn_dataset **ds);

/**
 * @brief Multiply every state by @p factor (times unchanged).
 * @param[in]     ctx     context for errors
 * @param[in,out] ds      the dataset
 * @param[in]     factor  finite, > 0
 * @return PN_OK; PN_ERR_ARG for a NULL dataset or a bad factor (the dataset unchanged).
 * Not collective.
 */
PN_EXPORT int pn_dataset_scale(pn_ctx *ctx, pn_dataset *ds, double factor);

/**
 * @brief Check a dataset against a solver grid t_n = t0 + n (t1 − t0)/N: every trajectory has
 * a row at t0 (its initial state) and every time lies in [t0, t1] on the grid, at most one row
 * per grid point.  On the grid means within rounding of a grid time (16 ε·max(|t0|, |t1|),
 * whatever N), or within a millionth of a step, when the time is taken as that grid time and a
 * note says so (pn_ctx_notes(): how many, and the farthest with its file, line and distance).
 * @param[in] ctx     context for errors and notes
 * @param[in] ds      the dataset
 * @param[in] t0, t1  the interval, finite, t0 < t1
 * @param[in] nsteps  N ≥ 1
 * @return PN_OK; PN_ERR_ARG for a NULL dataset or a bad grid; PN_ERR_GRID naming the file, line
 *         and trajectory of the first offending row and a step count that would fit every time.
 * Not collective.
 */
PN_EXPORT int pn_dataset_check_grid(pn_ctx *ctx, const pn_dataset *ds, double t0, double t1,
                                    long nsteps);

/**
 * @brief Split the trajectories into training and validation sets: a seeded shuffle, then
 * round(fraction · ntraj) validation trajectories (at least one if fraction > 0), the rest for
 * training.  Both lists come out sorted ascending.
 * @param[in]  ctx       context for errors
 * @param[in]  ds        the dataset
 * @param[in]  fraction  0 ≤ fraction < 1
 * @param[in]  seed      the shuffle's seed: the same split on every rank
 * @param[out] train     room for ntraj indices; the first *ntrain are filled
 * @param[out] ntrain    the training trajectories
 * @param[out] val       room for ntraj indices; the first *nval are filled
 * @param[out] nval      the validation trajectories
 * @return PN_OK; PN_ERR_ARG for a NULL argument, a fraction outside [0, 1) or one that leaves
 *         no training trajectory.
 * Not collective.
 */
PN_EXPORT int pn_dataset_split(pn_ctx *ctx, const pn_dataset *ds, double fraction, uint64_t seed,
                               int *train, int *ntrain, int *val, int *nval);

/**
 * @brief Draw @p size distinct entries of pool[0..npool) by a partial Fisher–Yates shuffle of a
 * copy: the draw depends only on the generator's state, never on earlier draws.  Never
 * allocates.
 * @param[in,out] rng      the generator (advanced)
 * @param[in]     pool     npool entries
 * @param[in]     npool    the pool's size
 * @param[in]     size     the draw's size, ≤ npool (only npool entries are drawn otherwise)
 * @param[out]    out      the drawn entries, min(size, npool) of them
 * @param[out]    scratch  room for npool entries
 * Not collective.  The same generator state gives the same draw on every rank.
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
 * @brief A batch of @p size trajectories of a dataset, with its initial states and its masked
 * MSE loss, to fill with pn_batch_set().
 *
 * The loss has one label per distinct observation time of the dataset after t0; a trajectory
 * without a row at a label time contributes nothing there:
 *   L = s Σ_{observed (b, t)} Σ_d (z_b(t)_d − y_{b,t,d})²,  s = 1/(n_obs · D) (mean) or 1 (sum).
 *
 * @param[in]  ctx        context for errors; it must outlive the batch
 * @param[in]  ds         the dataset; borrowed: it must outlive the batch
 * @param[in]  size       B, 1 ≤ B ≤ ntraj
 * @param[in]  t0         the solver's t0, every trajectory's first time
 * @param[in]  reduction  PN_REDUCE_MEAN or PN_REDUCE_SUM
 * @param[out] out        the new batch, to destroy with pn_batch_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument, B out of range or an unknown reduction;
 *         PN_ERR_GRID when a trajectory's first row is not at @p t0 (pn_dataset_check_grid()
 *         checks it on the solver grid); PN_ERR_LIMIT (over 2^30 distinct times); PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_batch_create(pn_ctx *ctx, const pn_dataset *ds, int size, double t0,
                              pn_reduction reduction, pn_batch **out);

/**
 * @brief Destroy a batch and its loss.
 * @param[in,out] b  the address of the batch; NULL or *b NULL does nothing; *b is set to NULL
 * Not collective.
 */
PN_EXPORT void pn_batch_destroy(pn_batch **b);

/**
 * @brief Fill the batch with trajectories: their initial states and the loss's normalisation.
 * Never allocates.
 * @param[in,out] b        the batch
 * @param[in]     members  B trajectory indices (copied; repeats allowed)
 * @return PN_OK; PN_ERR_ARG for a NULL argument, an index outside the dataset or members with
 *         no observation after their initial states.  After a failure the batch holds a
 *         mixture: set it again before using it.
 * Not collective.
 */
PN_EXPORT int pn_batch_set(pn_batch *b, const int *members);

/**
 * @brief The batch's initial states.
 * @param[in] b  the batch
 * @return B×D numbers owned by the batch, valid until it is set again or destroyed.
 * Not collective.
 */
PN_EXPORT const double *pn_batch_z0(const pn_batch *b);

/**
 * @brief The batch's masked MSE loss (for pn_solver_gradient()).
 * @param[in] b  the batch
 * @return the loss, owned by the batch (do not destroy it); it reads the current members.
 * Not collective.
 */
PN_EXPORT const pn_loss *pn_batch_loss(const pn_batch *b);

/**
 * @brief The batch size B.
 * @param[in] b  the batch
 * @return B.  Not collective.
 */
PN_EXPORT int pn_batch_size(const pn_batch *b);

/**
 * @brief The observations (labelled rows after the initial states) of the current members.
 * @param[in] b  the batch
 * @return n_obs.  Not collective.
 */
PN_EXPORT long pn_batch_observations(const pn_batch *b);

#endif
