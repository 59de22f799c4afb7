/**
 * @file h5.h
 * @brief Trajectories in HDF5 files (docs/formats.md): written in parallel over MPI-IO, each
 * rank its own block of times into one shared dataset, and read as training data.
 *
 * The layout, time-major so that a block of times is one slab of every dataset:
 *
 *     time        float64 [T]          the output times, increasing
 *     z           float64 [T][B][D]    z[i][j] is the state of trajectory j at time[i]
 *     trajectory  int64   [B]          the trajectories' ids
 *
 * with the attributes `columns` (D names), `pinode_version`, and, when known, `scheme`,
 * `step` and `model`.  z is chunked along time (about 1 MiB a chunk), optionally compressed.
 * A file is written under a temporary name and renamed when complete, so a reader sees the
 * old file or the new one, never a part.  Every error names the file and the dataset.
 * Built without HDF5 (cmake -DPINODE_HDF5=OFF), the functions fail with PN_ERR_ARG and say so.
 * Depends on ctx, data.
 */
#ifndef PINODE_H5_H
#define PINODE_H5_H

#include "pinode/ctx.h"
#include "pinode/data.h"
#include "pinode/export.h"

/** @brief One rank's part of a trajectory file: rows [first, first + count) of T. */
typedef struct pn_h5_block {
  long ntimes;          /**< T, the times of the whole file (the same on every rank), ≥ 1 */
  int nb;               /**< B, trajectories, ≥ 1 (the same on every rank) */
  int dim;              /**< D, 1..4096 (the same on every rank) */
  long first;           /**< this rank's first time row: the blocks of ranks 0, 1, ... follow
                             each other without gaps and together cover [0, T) */
  long count;           /**< this rank's rows, ≥ 0 */
  const double *time;   /**< count times */
  const double *z;      /**< count × B × D states, row-major */
  const long *traj_id;  /**< B ids (rank 0's are written), or NULL for 0..B−1 */
} pn_h5_block;

/** @brief What a trajectory file says about itself; every field may be left 0/NULL. */
typedef struct pn_h5_attrs {
  const char *scheme;          /**< attribute `scheme` (the tableau), or NULL */
  double step;                 /**< attribute `step` (the grid step h), written when > 0 */
  const char *model;           /**< attribute `model` (the model file), or NULL */
  const char *const *columns;  /**< D names of the state's components, or NULL for z1..zD */
  int compress;                /**< deflate level 0 (none) .. 9 */
} pn_h5_attrs;

/**
 * @brief Whether this build reads and writes HDF5.
 * @return 1 with HDF5, 0 without.
 * Not collective.  Thread-safe.
 */
PN_EXPORT int pn_h5_available(void);

/**
 * @brief Write a trajectory file, every rank its own block of times, collectively (MPI-IO),
 * under a temporary name in the same directory, renamed to @p path when every rank's block is
 * on disk.
 * @param[in] ctx    the context; its communicator opens the file
 * @param[in] path   the file (the same on every rank); an existing file is replaced
 * @param[in] block  this rank's block
 * @param[in] attrs  the attributes and compression (the same on every rank), or NULL for none
 * @return PN_OK; PN_ERR_ARG (a NULL argument, a block that does not fit the others', a
 *         compression level outside 0..9, or a build without HDF5); PN_ERR_LIMIT (a time row
 *         over 4 GiB);
 *         PN_ERR_IO (the file cannot be created, written, flushed or renamed, e.g. a full
 *         disk: the message names the file and dataset; the temporary file is removed and an
 *         older @p path left untouched); PN_ERR_MEM; PN_ERR_MPI.  The same on every rank.
 * Collective on ctx.  Not thread-safe (HDF5's error reporting is process-wide).
 */
PN_EXPORT int pn_h5_write(pn_ctx *ctx, const char *path, const pn_h5_block *block,
                          const pn_h5_attrs *attrs);

/**
 * @brief Read a trajectory file (the layout above; `trajectory` may be absent: ids 0..B−1) as a
 * dataset of B trajectories sharing the T times, named by `columns` when it is there (as
 * pn_dataset_set_names()).  Floating-point data of any width is read as double.
 * @param[in]  ctx   the context
 * @param[in]  path  the file
 * @param[out] out   the new dataset, to destroy with pn_dataset_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG (a NULL argument, a build without HDF5); PN_ERR_IO (a missing or
 *         unreadable file, not an HDF5 file); PN_ERR_PARSE (a missing dataset, a wrong rank,
 *         shape or type, times not strictly increasing, `columns` not D variable-length
 *         strings: the message names file and dataset); PN_ERR_ARG also for a bad name;
 *         PN_ERR_NONFINITE (named by dataset and index); PN_ERR_LIMIT (over 2^31 rows);
 *         PN_ERR_MEM; PN_ERR_MPI.  The same on every rank.
 * Collective on ctx: rank 0 reads, the arrays are broadcast.
 */
PN_EXPORT int pn_h5_read_dataset(pn_ctx *ctx, const char *path, pn_dataset **out);

#endif
