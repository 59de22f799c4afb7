/**
 * @file ctx.h
 * @brief The context: the time communicator and the last error.
 *
 * Every pinode object is made from a context.  The context duplicates the
 * caller's communicator, so pinode's messages never collide with the caller's.
 * A failing call writes a message into its context (what went wrong, where:
 * file, line, key, step, rank) and returns a negative pn_error_code.
 * The library never exits or aborts; the caller decides what to do.
 */
#ifndef PINODE_CTX_H
#define PINODE_CTX_H

#include <mpi.h>

#include "pinode/error.h"
#include "pinode/export.h"

typedef struct pn_ctx pn_ctx;

/**
 * @brief Create a context over a communicator.
 *
 * The context holds a duplicate of @p comm whose error handler returns errors (an MPI failure on
 * pinode's messages becomes PN_ERR_MPI instead of aborting), this rank's rank and size, and the
 * last error's code and message.
 *
 * @param[in]  comm     the ranks that share the time axis (duplicated; the caller keeps
 *                      ownership of @p comm and may free it at once)
 * @param[out] ctx_out  the new context, to destroy with pn_ctx_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG if @p ctx_out is NULL, @p comm is MPI_COMM_NULL or MPI is not
 *         initialised; PN_ERR_MEM; PN_ERR_MPI if duplicating the communicator or setting its
 *         error handler failed.  There is no context to hold a message: a failure is said by
 *         its code alone.
 * Collective on @p comm (MPI_Comm_dup).
 */
PN_EXPORT int pn_ctx_create(MPI_Comm comm, pn_ctx **ctx_out);

/**
 * @brief Destroy a context: free its duplicate communicator and its memory.
 *
 * Destroy every object made from the context first.  After MPI_Finalize it frees the memory
 * only (the communicator went with MPI).
 *
 * @param[in,out] ctx  the address of the context; NULL or *ctx NULL does nothing; *ctx is set
 *                     to NULL
 * @return PN_OK.
 * Collective on the context's communicator (MPI_Comm_free), before MPI_Finalize.
 */
PN_EXPORT int pn_ctx_destroy(pn_ctx **ctx);

/**
 * @brief The context's communicator: the duplicate, owned by the context (do not free it).
 *
 * Messages of the caller's own on it may collide with pinode's: duplicate it for those.
 *
 * @param[in] ctx  the context
 * @return the communicator.
 * Not collective.
 */
PN_EXPORT MPI_Comm pn_ctx_comm(const pn_ctx *ctx);

/**
 * @brief This process's rank in the context's communicator.
 * @param[in] ctx  the context
 * @return the rank, 0 ≤ rank < pn_ctx_size().
 * Not collective.
 */
PN_EXPORT int pn_ctx_rank(const pn_ctx *ctx);

/**
 * @brief The number of ranks in the context's communicator.
 * @param[in] ctx  the context
 * @return the number of ranks, ≥ 1.
 * Not collective.
 */
PN_EXPORT int pn_ctx_size(const pn_ctx *ctx);

/**
 * @brief The message of the last failure on this context: what went wrong and where (file,
 * line, key, step, rank), one printable line of at most 1023 bytes.
 * @param[in] ctx  the context, or NULL
 * @return a string owned by the context, valid until the context's next failure or
 *         pn_ctx_clear_error(); "" if nothing failed; "no context" for NULL.
 * Not collective.
 */
PN_EXPORT const char *pn_ctx_last_error(const pn_ctx *ctx);

/**
 * @brief The code of the last failure on this context.
 * @param[in] ctx  the context, or NULL
 * @return the code (a negative pn_error_code); PN_OK if nothing failed since the context was
 *         made or cleared; PN_ERR_ARG for NULL.
 * Not collective.
 */
PN_EXPORT int pn_ctx_last_code(const pn_ctx *ctx);

/**
 * @brief Forget the last failure: the code becomes PN_OK and the message "".
 * @param[in,out] ctx  the context (NULL does nothing)
 * Not collective.
 */
PN_EXPORT void pn_ctx_clear_error(pn_ctx *ctx);

/**
 * @brief Record a failure of the caller's own code (a callback's wrapper, a program) in the
 * context, printf-style, so that it reads as the library's: pn_ctx_last_error() then returns
 * the message (non-printable bytes replaced by '?', cut at 1023 bytes) and pn_ctx_last_code()
 * the code.
 * @param[in,out] ctx   the context (NULL: nothing is recorded)
 * @param[in]     code  the code to record and return
 * @param[in]     fmt   printf format of the message, then its arguments
 * @return @p code, so that `return pn_ctx_fail(ctx, PN_ERR_ARG, "...")` works.
 * Not collective.
 */
PN_EXPORT int pn_ctx_fail(pn_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * @brief Agree on a status across the context's ranks.
 *
 * One MPI_Allreduce, and two broadcasts when a rank failed, so that every rank takes the same
 * decision and none is left waiting in a later collective.
 *
 * @param[in,out] ctx       the context; on a rank that did not fail first, its message becomes
 *                          that of the lowest failing rank r, prefixed "rank r: " (that rank
 *                          keeps its own)
 * @param[in]     local_rc  this rank's status (PN_OK or a pn_error_code)
 * @return PN_OK if every rank passed PN_OK; otherwise, on every rank, the code of the lowest
 *         failing rank; PN_ERR_MPI if the agreement itself failed.
 * Collective on ctx: every rank must call it.
 */
PN_EXPORT int pn_ctx_agree(pn_ctx *ctx, int local_rc);

#endif
