/**
 * @file io.h
 * @brief Reading and writing pinode's files: the problem-directory format of
 * docs/formats.md (meta.txt, theta.txt, z0.txt, times.txt, targets.txt) and
 * vectors of numbers, one per line.
 *
 * Readers are collective: rank 0 reads the bytes and broadcasts them, every
 * rank parses them, so every rank returns the same result or the same error
 * (naming file, line and key).  Files larger than 1 GiB are refused before
 * anything is allocated for them.  Depends on ctx, model.
 */
#ifndef PINODE_IO_H
#define PINODE_IO_H

#include <stddef.h>

#include "pinode/ctx.h"
#include "pinode/export.h"
#include "pinode/model.h"

/** @brief A problem directory, parsed.  Plain data, owned by the struct. */
typedef struct pn_problem {
  pn_mlp_spec spec;       /**< network shape (arrays owned by the problem) */
  int batch;              /**< B */
  double t0, t1;          /**< interval */
  long steps;             /**< N */
  char scheme[32];        /**< tableau name */
  int nparam;             /**< P, implied by spec */
  double *theta;          /**< P */
  double *z0;             /**< B×D */
  int nlabels;            /**< K */
  double *times;          /**< K */
  double *targets;        /**< K×B×D */
} pn_problem;

/**
 * @brief Read a problem directory (every key of docs/formats.md).
 * @param[out] out  new problem; destroy with pn_problem_destroy()
 * @return PN_OK, PN_ERR_IO (missing/unreadable file), PN_ERR_PARSE (the
 *         message names file, line and what was expected), PN_ERR_NONFINITE,
 *         PN_ERR_GRID (a label time of times.txt off the grid of meta.txt,
 *         by the rule of pn_dataset_check_grid(); times moved onto it are
 *         noted in pn_ctx_notes()).
 * Collective on ctx.
 */
PN_EXPORT int pn_problem_read(pn_ctx *ctx, const char *dir, pn_problem **out);

/** @brief Destroy (NULL-safe, sets *problem to NULL). */
PN_EXPORT void pn_problem_destroy(pn_problem **problem);

/**
 * @brief Read a file of numbers, one per line ('#' comments and blank lines
 * skipped), all finite.
 * @param[in]  expect  the count required, or −1 for any count
 * @param[out] x_out   new array (free() it); NULL when the count is 0
 * @param[out] n_out   count read
 * Collective on ctx.
 */
PN_EXPORT int pn_read_numbers(pn_ctx *ctx, const char *path, long expect, double **x_out,
                              size_t *n_out);

/**
 * @brief Write n numbers, one per line with 17 significant digits, atomically
 * (temporary file, fsync, rename): a reader never sees a partial file.
 * Not collective: call it on one rank.
 */
PN_EXPORT int pn_write_numbers(pn_ctx *ctx, const char *path, const double *x, size_t n);

/**
 * @brief Read a whole file on rank 0 and broadcast it (NUL-terminated).
 * @param[in]  max_bytes  refuse larger files (PN_ERR_LIMIT)
 * @param[out] buf_out    new buffer (free() it)
 * Collective on ctx.
 */
PN_EXPORT int pn_read_file_bcast(pn_ctx *ctx, const char *path, size_t max_bytes, char **buf_out,
                                 size_t *len_out);

/**
 * @brief Write a buffer to a file atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory).  Not collective.
 */
PN_EXPORT int pn_write_file_atomic(pn_ctx *ctx, const char *path, const void *data, size_t len);

/** @brief mkdir -p.  Not collective. */
PN_EXPORT int pn_mkdir_p(pn_ctx *ctx, const char *path);

#endif
