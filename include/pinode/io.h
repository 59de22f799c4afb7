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
 * @param[in]  ctx  the context
 * @param[in]  dir  the directory's path
 * @param[out] out  the new problem, to destroy with pn_problem_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument; PN_ERR_IO (a missing or unreadable file, or
 *         not a regular file); PN_ERR_PARSE (the message names the file, the line and what was
 *         expected); PN_ERR_NONFINITE; PN_ERR_GRID (a label time of times.txt off the grid of
 *         meta.txt, by the rule of pn_dataset_check_grid(); times moved onto it are noted in
 *         pn_ctx_notes()); PN_ERR_LIMIT (a file over 1 GiB); PN_ERR_MEM; PN_ERR_MPI.
 *         The same on every rank.
 * Collective on ctx: rank 0 reads, every rank parses.
 */
PN_EXPORT int pn_problem_read(pn_ctx *ctx, const char *dir, pn_problem **out);

/**
 * @brief Destroy a problem and its arrays.
 * @param[in,out] problem  the address of the problem; NULL or *problem NULL does nothing;
 *                         *problem is set to NULL
 * Not collective.
 */
PN_EXPORT void pn_problem_destroy(pn_problem **problem);

/**
 * @brief Read a file of numbers, one per line ('#' comments and blank lines skipped), all
 * finite.
 * @param[in]  ctx     the context
 * @param[in]  path    the file (not NULL)
 * @param[in]  expect  the count required, or −1 for any count
 * @param[out] x_out   a new array (free() it); NULL when the count is 0 or on failure
 * @param[out] n_out   the count read (0 on failure)
 * @return PN_OK; PN_ERR_IO; PN_ERR_PARSE (not a number, or not @p expect of them: file and
 *         line named); PN_ERR_NONFINITE; PN_ERR_LIMIT (over 1 GiB); PN_ERR_MEM; PN_ERR_MPI.  The
 *         same on every rank.
 * Collective on ctx: rank 0 reads, every rank parses.
 */
PN_EXPORT int pn_read_numbers(pn_ctx *ctx, const char *path, long expect, double **x_out,
                              size_t *n_out);

/** @brief Room for the text of one double by pn_format_double(), with its NUL. */
#define PN_DOUBLE_CHARS 32

/**
 * @brief The shortest of a double's 15, 16 and 17 significant digits (printf's %g) that reads
 * back (strtod) as bitwise the same double: 0.05 is "0.05", not "0.050000000000000003", and
 * every double round-trips.  Every number pinode writes is written so.
 * @param[in]  x    the number (non-finite: "nan", "inf", "-inf")
 * @param[out] buf  room for PN_DOUBLE_CHARS characters
 * @return buf.
 * Not collective; thread-safe.
 */
PN_EXPORT const char *pn_format_double(double x, char *buf);

/**
 * @brief Write n numbers, one per line by pn_format_double() (every double round-trips),
 * atomically as pn_write_file_atomic().
 * @param[in] ctx   context for errors
 * @param[in] path  the file (not NULL)
 * @param[in] x     n numbers
 * @param[in] n     the count
 * @return PN_OK; PN_ERR_ARG (a path over 4 KiB); PN_ERR_IO; PN_ERR_MEM.
 * Not collective: call it on one rank.
 */
PN_EXPORT int pn_write_numbers(pn_ctx *ctx, const char *path, const double *x, size_t n);

/**
 * @brief Read a whole file on rank 0 and share it with every rank (NUL-terminated).  Only
 * regular files are read (a FIFO is refused without waiting for a writer).
 * @param[in]  ctx        the context
 * @param[in]  path       the file (not NULL)
 * @param[in]  max_bytes  refuse larger files
 * @param[out] buf_out    a new buffer of *len_out + 1 bytes (free() it); NULL on failure
 * @param[out] len_out    the file's bytes (0 on failure)
 * @return PN_OK; PN_ERR_IO (cannot open or read, or not a regular file); PN_ERR_LIMIT (larger
 *         than @p max_bytes); PN_ERR_MEM; PN_ERR_MPI.  The same on every rank.
 * Collective on ctx.
 */
PN_EXPORT int pn_read_file_bcast(pn_ctx *ctx, const char *path, size_t max_bytes, char **buf_out,
                                 size_t *len_out);

/**
 * @brief Write a buffer to a file atomically: a temporary file in the same directory, fsync,
 * rename, fsync of the directory.  A reader sees the old file or the new one, never a part.
 * @param[in] ctx   context for errors
 * @param[in] path  the file (not NULL); its directory must exist
 * @param[in] data  @p len bytes
 * @param[in] len   the bytes to write
 * @return PN_OK; PN_ERR_ARG (a path over 4 KiB); PN_ERR_IO (the temporary file cannot be
 *         created, written, flushed or renamed: removed again, the old file untouched).
 * Not collective: call it on one rank.  Two threads of a process must not write one path at
 * once (they would share the temporary file).
 */
PN_EXPORT int pn_write_file_atomic(pn_ctx *ctx, const char *path, const void *data, size_t len);

/**
 * @brief Create a directory and its missing parents (mkdir -p, mode 0755).
 * @param[in] ctx   context for errors
 * @param[in] path  the directory (not NULL, not empty)
 * @return PN_OK (also when it exists); PN_ERR_ARG (a path over 4 KiB); PN_ERR_IO (cannot
 *         create a part, or @p path exists and is not a directory).
 * Not collective.
 */
PN_EXPORT int pn_mkdir_p(pn_ctx *ctx, const char *path);

#endif
