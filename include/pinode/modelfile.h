/**
 * @file modelfile.h
 * @brief pinode's model and checkpoint files: a small, documented, text format
 * that round-trips every double bitwise and that NumPy reads in a few lines
 * (scripts/read_model.py).
 *
 * Format (UTF-8 text, one item a line):
 *
 *     pinode-model 2               magic and format version (first line)
 *     # comment                    ignored, anywhere
 *     KEY VALUE...                 a header entry; KEY is [a-z][a-z0-9_.]*, VALUE the rest
 *     array NAME COUNT             then COUNT lines of one number each (exact; nan/inf allowed)
 *     end crc32 1a2b3c4d           last line: a truncated file is detected, and a changed
 *                                  byte by the checksum
 *
 * The checksum is the CRC-32 (that of zlib and of Python's zlib.crc32) of
 * the lines before the end line, each followed by one '\n' (so that CRLF
 * line ends do not change it).  A file whose checksum does not match is
 * refused.  Files of version 1, written before the checksum, end with "end"
 * alone and are still read: their truncation is still detected, a changed
 * digit is not.  A file edited on purpose can be made a version-1 file
 * (first line "pinode-model 1", last line "end").
 *
 * A model file holds the MLP (keys kind, dim, hidden, activation, time_input,
 * nparam and the array theta; see pn_modelfile_set_mlp()) plus whatever the
 * writer adds (the program adds the training grid and, in checkpoints, the
 * optimiser state, the RNG state and the loss history).  A file holds at
 * most 4096 header entries and 1024 arrays (PN_ERR_LIMIT beyond: setting or
 * reading more).  Readers are collective (rank 0 reads, broadcasts; every
 * rank parses); errors name the file, the line and the key.  Depends on ctx,
 * model, io.
 */
#ifndef PINODE_MODELFILE_H
#define PINODE_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "pinode/ctx.h"
#include "pinode/export.h"
#include "pinode/model.h"

typedef struct pn_modelfile pn_modelfile;

/**
 * @brief An empty model file in memory.
 * @param[in]  ctx  context for errors; it must outlive the object
 * @param[out] out  the new object, to destroy with pn_modelfile_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL @p out; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_create(pn_ctx *ctx, pn_modelfile **out);

/**
 * @brief Destroy a model file in memory (what its getters lent becomes invalid).
 * @param[in,out] mf  the address of the object; NULL or *mf NULL does nothing; *mf is set to
 *                    NULL
 * @return PN_OK.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_destroy(pn_modelfile **mf);

/**
 * @brief Set a header entry, replacing one of the same key.
 * @param[in,out] mf     the object
 * @param[in]     key    [a-z][a-z0-9_.]*, at most 63 characters, not "array" or "end" (copied)
 * @param[in]     value  one line of at most 4095 characters (copied)
 * @return PN_OK; PN_ERR_ARG for a NULL @p mf, a bad key or a value with a newline or too long;
 *         PN_ERR_LIMIT beyond 4096 entries; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_set(pn_modelfile *mf, const char *key, const char *value);

/**
 * @brief Set a header entry to an integer.
 * @param[in,out] mf     the object
 * @param[in]     key    as pn_modelfile_set()
 * @param[in]     value  the integer
 * @return as pn_modelfile_set().
 * Not collective.
 */
PN_EXPORT int pn_modelfile_set_long(pn_modelfile *mf, const char *key, long value);

/**
 * @brief Set a header entry to a double, written with 17 significant digits (exact).
 * @param[in,out] mf     the object
 * @param[in]     key    as pn_modelfile_set()
 * @param[in]     value  the number (nan and inf are written as such)
 * @return as pn_modelfile_set().
 * Not collective.
 */
PN_EXPORT int pn_modelfile_set_double(pn_modelfile *mf, const char *key, double value);

/**
 * @brief Set a header entry to n unsigned 64-bit integers (an RNG state, say).
 * @param[in,out] mf      the object
 * @param[in]     key     as pn_modelfile_set()
 * @param[in]     n       0..64
 * @param[in]     values  n integers
 * @return as pn_modelfile_set(); PN_ERR_ARG also for n out of range or NULL values.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_set_u64s(pn_modelfile *mf, const char *key, int n,
                                    const uint64_t *values);

/**
 * @brief Set an array, replacing one of the same name.
 * @param[in,out] mf    the object
 * @param[in]     name  as a key of pn_modelfile_set() (copied)
 * @param[in]     n     the count
 * @param[in]     x     n numbers (copied; NULL allowed when n = 0)
 * @return PN_OK; PN_ERR_ARG for a NULL @p mf, a bad name or NULL data; PN_ERR_LIMIT beyond
 *         1024 arrays; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_set_array(pn_modelfile *mf, const char *name, size_t n,
                                     const double *x);

/**
 * @brief The value of a header entry.
 * @param[in] mf   the object (NULL: none)
 * @param[in] key  the key (NULL: none)
 * @return the value, owned by @p mf and valid until the entry is set again or @p mf destroyed;
 *         NULL if absent.
 * Not collective.
 */
PN_EXPORT const char *pn_modelfile_get(const pn_modelfile *mf, const char *key);

/**
 * @brief A header entry as an integer in [lo, hi].
 * @param[in]  mf   the object
 * @param[in]  key  the key
 * @param[in]  lo   the least value accepted
 * @param[in]  hi   the greatest value accepted
 * @param[out] out  the value
 * @return PN_OK; PN_ERR_ARG for a NULL @p mf or @p out; PN_ERR_PARSE naming file, line and key
 *         when the key is missing or its value is not an integer in [lo, hi].
 * Not collective.
 */
PN_EXPORT int pn_modelfile_get_long(const pn_modelfile *mf, const char *key, long lo, long hi,
                                    long *out);

/**
 * @brief A header entry as a double.
 * @param[in]  mf   the object
 * @param[in]  key  the key
 * @param[out] out  the value
 * @return PN_OK; PN_ERR_ARG for a NULL @p mf or @p out; PN_ERR_PARSE naming file, line and key
 *         when the key is missing or not a number.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_get_double(const pn_modelfile *mf, const char *key, double *out);

/**
 * @brief A header entry as n unsigned 64-bit integers.
 * @param[in]  mf   the object
 * @param[in]  key  the key
 * @param[in]  n    the count expected
 * @param[out] out  n integers
 * @return PN_OK; PN_ERR_ARG for a NULL @p mf or @p out; PN_ERR_PARSE naming file, line and key
 *         when the key is missing or does not hold exactly n such integers.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_get_u64s(const pn_modelfile *mf, const char *key, int n,
                                    uint64_t *out);

/**
 * @brief An array, lent by @p mf.
 * @param[in]  mf      the object
 * @param[in]  name    the array's name
 * @param[in]  expect  the length required, or −1 for any
 * @param[out] x_out   its numbers, owned by @p mf: valid until the array is set again or @p mf
 *                     destroyed
 * @param[out] n_out   its length (may be NULL)
 * @return PN_OK; PN_ERR_ARG for a NULL @p mf or @p x_out; PN_ERR_PARSE when it is missing or of
 *         another length (file, line and name).
 * Not collective.
 */
PN_EXPORT int pn_modelfile_get_array(const pn_modelfile *mf, const char *name, long expect,
                                     const double **x_out, size_t *n_out);

/**
 * @brief Store an MLP: kind mlp, dim, hidden, activation (one per hidden layer), time_input,
 * nparam and the array theta (P numbers, the layout of pn_mlp_spec).
 * @param[in,out] mf      the object
 * @param[in]     spec    the network (at most 64 hidden layers)
 * @param[in]     theta   its parameters (copied)
 * @param[in]     nparam  P
 * @return PN_OK; PN_ERR_ARG for a NULL argument or a bad shape; PN_ERR_LIMIT; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_set_mlp(pn_modelfile *mf, const pn_mlp_spec *spec,
                                   const double *theta, int nparam);

/**
 * @brief Read the MLP back, checked: its shape, P against the shape (by building the model
 * once) and every parameter finite.
 * @param[in,out] mf          the object (keeps the shape's arrays)
 * @param[out]    spec_out    the shape; its arrays are owned by @p mf (valid until it is
 *                            destroyed)
 * @param[out]    theta_out   the parameters, lent by @p mf
 * @param[out]    nparam_out  P
 * @return PN_OK; PN_ERR_ARG for a NULL argument; PN_ERR_PARSE or PN_ERR_NONFINITE naming file,
 *         line and key; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_modelfile_get_mlp(pn_modelfile *mf, pn_mlp_spec *spec_out,
                                   const double **theta_out, int *nparam_out);

/**
 * @brief Write the file atomically (as pn_write_file_atomic()): a reader sees the old file or
 * the new one, never a mixture.
 * @param[in] mf    the object
 * @param[in] path  the file
 * @return PN_OK; PN_ERR_ARG for a NULL argument or a path over 4 KiB; PN_ERR_IO; PN_ERR_MEM.
 * Not collective: call it on one rank.
 */
PN_EXPORT int pn_modelfile_write(const pn_modelfile *mf, const char *path);

/**
 * @brief Read a model file.
 * @param[in]  ctx   the context; it must outlive the object
 * @param[in]  path  the file
 * @param[out] out   the new object, to destroy with pn_modelfile_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument; PN_ERR_IO; PN_ERR_PARSE naming file, line and
 *         key (a bad magic or version, a malformed or repeated entry or array, a truncated
 *         file); PN_ERR_LIMIT (over 1 GiB, or too many entries or arrays); PN_ERR_MEM;
 *         PN_ERR_MPI.  The same on every rank.
 * Collective on ctx: rank 0 reads and shares the bytes, every rank parses.
 */
PN_EXPORT int pn_modelfile_read(pn_ctx *ctx, const char *path, pn_modelfile **out);

#endif
