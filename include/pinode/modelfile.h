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
 *     array NAME COUNT             then COUNT lines of one number each (%.17g; nan/inf allowed)
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

/** @brief An empty file in memory. Not collective. */
PN_EXPORT int pn_modelfile_create(pn_ctx *ctx, pn_modelfile **out);

/** @brief Destroy (NULL-safe, sets *mf to NULL). */
PN_EXPORT int pn_modelfile_destroy(pn_modelfile **mf);

/**
 * @brief Set a header entry (copied; replaces an entry of the same key).
 * @return PN_OK; PN_ERR_ARG for a key outside [a-z][a-z0-9_.]* (≤ 63
 *         characters) or a value holding a newline.  Not collective.
 */
PN_EXPORT int pn_modelfile_set(pn_modelfile *mf, const char *key, const char *value);
/** @brief Set an entry to an integer. */
PN_EXPORT int pn_modelfile_set_long(pn_modelfile *mf, const char *key, long value);
/** @brief Set an entry to a double, written with 17 significant digits (exact). */
PN_EXPORT int pn_modelfile_set_double(pn_modelfile *mf, const char *key, double value);
/** @brief Set an entry to n unsigned 64-bit integers (e.g. an RNG state). */
PN_EXPORT int pn_modelfile_set_u64s(pn_modelfile *mf, const char *key, int n,
                                    const uint64_t *values);
/** @brief Set an array (copied; replaces one of the same name). */
PN_EXPORT int pn_modelfile_set_array(pn_modelfile *mf, const char *name, size_t n,
                                     const double *x);

/** @brief The value of a key, or NULL if absent (owned by @p mf). */
PN_EXPORT const char *pn_modelfile_get(const pn_modelfile *mf, const char *key);
/**
 * @brief Typed getters: PN_ERR_PARSE naming file, line and key if the key is
 * missing or its value is not of the type or outside [lo, hi].
 */
PN_EXPORT int pn_modelfile_get_long(const pn_modelfile *mf, const char *key, long lo, long hi,
                                    long *out);
PN_EXPORT int pn_modelfile_get_double(const pn_modelfile *mf, const char *key, double *out);
PN_EXPORT int pn_modelfile_get_u64s(const pn_modelfile *mf, const char *key, int n,
                                    uint64_t *out);
/**
 * @brief An array, borrowed from @p mf.
 * @param[in] expect  required length, or −1 for any
 * @return PN_OK; PN_ERR_PARSE if missing or of another length.
 */
PN_EXPORT int pn_modelfile_get_array(const pn_modelfile *mf, const char *name, long expect,
                                     const double **x_out, size_t *n_out);

/**
 * @brief Store an MLP: kind mlp, dim, hidden, activation (one per hidden
 * layer), time_input, nparam and the array theta (P numbers, layout of
 * pn_mlp_spec).  Not collective.
 */
PN_EXPORT int pn_modelfile_set_mlp(pn_modelfile *mf, const pn_mlp_spec *spec,
                                   const double *theta, int nparam);

/**
 * @brief Read the MLP back.
 * @param[out] spec_out   its arrays are owned by @p mf (valid until destroy)
 * @param[out] theta_out  borrowed from @p mf; every entry checked finite
 * @param[out] nparam_out P, checked against the shape (by building the model)
 * @return PN_OK; PN_ERR_PARSE / PN_ERR_NONFINITE naming file, line and key.
 */
PN_EXPORT int pn_modelfile_get_mlp(pn_modelfile *mf, pn_mlp_spec *spec_out,
                                   const double **theta_out, int *nparam_out);

/**
 * @brief Write atomically (temporary file, fsync, rename): a reader sees the
 * old file or the new one, never a mixture.  Not collective: call on one rank.
 */
PN_EXPORT int pn_modelfile_write(const pn_modelfile *mf, const char *path);

/**
 * @brief Read a file.  Collective on ctx: rank 0 reads and broadcasts, every
 * rank parses and returns the same result or the same error.
 * @param[out] out  new object; destroy with pn_modelfile_destroy()
 */
PN_EXPORT int pn_modelfile_read(pn_ctx *ctx, const char *path, pn_modelfile **out);

#endif
