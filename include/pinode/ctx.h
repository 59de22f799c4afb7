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
 * @brief What calls on this context noted without failing, one line each ("" if nothing): e.g.
 * that pn_dataset_check_grid() or pn_problem_read() took times that were off the step grid by
 * more than rounding as the grid times next to them.
 * @param[in] ctx  the context
 * @return the notes, owned by the context, kept until pn_ctx_clear_notes(); "" for a NULL ctx.
 * Not collective.
 */
PN_EXPORT const char *pn_ctx_notes(const pn_ctx *ctx);

/**
 * @brief Forget the notes.
 * @param[in,out] ctx  the context (NULL: nothing)
 * Not collective.
 */
PN_EXPORT void pn_ctx_clear_notes(pn_ctx *ctx);

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
 * @brief A caller's request to stop the solver call that is running: return
 * nonzero to stop.  Called between the steps of every solver call, so keep
 * it cheap (e.g. read a flag a signal handler sets); it must not call pinode
 * or MPI on the context's communicator.
 */
typedef int (*pn_interrupt_fn)(void *user);

/**
 * @brief Let the caller stop running solver calls (pn_solver_gradient(), pn_solver_loss(),
 * pn_solver_forward(), ...) within a bounded time, as a batch system's time limit needs.
 *
 * Every rank polls @p poll before each step of its sweeps (forward, adjoint, recomputation,
 * coarse and tangent steps); a rank whose poll says stop tells every other rank, and each of them
 * looks for that message between its steps at least every 10 ms.  So every rank leaves its sweep
 * within one step and 10 ms of the first request (a rank waiting for a neighbour is released by
 * the neighbour's stop), and the call returns PN_ERR_INTERRUPTED on every rank, its message
 * naming the rank whose caller asked (unless another error came first).  The call's results are
 * then undefined; the context and the solver stay usable.  A request made while no call runs is
 * seen by the next call's first step.
 *
 * @param[in,out] ctx   the context (NULL: nothing)
 * @param[in]     poll  the caller's poll; NULL removes it.  Set the same (or NULL) on every rank.
 * @param[in]     user  passed to @p poll, borrowed
 * Not collective.
 */
PN_EXPORT void pn_ctx_set_interrupt(pn_ctx *ctx, pn_interrupt_fn poll, void *user);

/**
 * @brief Agree on a status across the context's ranks.
 *
 * One MPI_Allreduce, and two broadcasts when a rank failed, so that every rank takes the same
 * decision and none is left waiting in a later collective.
 *
 * @param[in,out] ctx       the context; on a rank that did not fail first, its message becomes
 *                          that of the lowest failing rank r, prefixed "rank r: " (that rank
 *                          keeps its own)
 * @param[in]     local_rc  this rank's status (PN_OK or a pn_error_code; PN_ERR_REMOTE: it
 *                          failed because another rank did)
 * @return PN_OK if every rank passed PN_OK; otherwise, on every rank, the code of the lowest
 *         failing rank, where a rank that passed PN_ERR_REMOTE counts only if every failing rank
 *         did; PN_ERR_MPI if the agreement itself failed.
 * Collective on ctx: every rank must call it.
 */
PN_EXPORT int pn_ctx_agree(pn_ctx *ctx, int local_rc);

#endif
