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
 * @param[in]  comm     the ranks that share the time axis (duplicated; the
 *                      caller keeps ownership of @p comm and may free it)
 * @param[out] ctx_out  new context; caller destroys with pn_ctx_destroy()
 * @return PN_OK, PN_ERR_ARG (MPI_COMM_NULL or MPI not initialised), PN_ERR_MPI,
 *         PN_ERR_MEM.
 * Collective on @p comm.
 */
PN_EXPORT int pn_ctx_create(MPI_Comm comm, pn_ctx **ctx_out);

/**
 * @brief Destroy a context (NULL-safe; sets *ctx to NULL).
 * Collective on the context's communicator (frees the duplicate).
 */
PN_EXPORT int pn_ctx_destroy(pn_ctx **ctx);

/** @brief The context's (duplicated) communicator. Not collective. */
PN_EXPORT MPI_Comm pn_ctx_comm(const pn_ctx *ctx);
/** @brief This process's rank in the context's communicator. Not collective. */
PN_EXPORT int pn_ctx_rank(const pn_ctx *ctx);
/** @brief Number of ranks in the context's communicator. Not collective. */
PN_EXPORT int pn_ctx_size(const pn_ctx *ctx);

/**
 * @brief Message of the last failure on this context ("" if none).
 * The string is owned by the context and valid until its next failing call.
 * Not collective.
 */
PN_EXPORT const char *pn_ctx_last_error(const pn_ctx *ctx);

/** @brief Code of the last failure on this context (PN_OK if none). */
PN_EXPORT int pn_ctx_last_code(const pn_ctx *ctx);

/** @brief Forget the last error. Not collective. */
PN_EXPORT void pn_ctx_clear_error(pn_ctx *ctx);

/**
 * @brief What calls on this context noted without failing, one line each
 * ("" if nothing): e.g. that pn_dataset_check_grid() or pn_problem_read()
 * took times that were off the step grid by more than rounding as the grid
 * times next to them.  Kept until pn_ctx_clear_notes(); owned by the context.
 * Not collective.
 */
PN_EXPORT const char *pn_ctx_notes(const pn_ctx *ctx);

/** @brief Forget the notes. Not collective. */
PN_EXPORT void pn_ctx_clear_notes(pn_ctx *ctx);

/**
 * @brief Record a failure from caller code (e.g. a user callback wrapper or a
 * program) in the context, printf-style.  Returns @p code, so that
 * `return pn_ctx_fail(ctx, PN_ERR_ARG, "...")` works.  Not collective.
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
 * @brief Let the caller stop running solver calls (pn_solver_gradient(),
 * pn_solver_loss(), pn_solver_forward(), ...) within a bounded time, as a
 * batch system's time limit needs.  Every rank polls @p poll before each
 * step of its sweeps (forward, adjoint, recomputation, coarse and tangent
 * steps); a rank whose poll says stop tells every other rank, and each of
 * them looks for that message between its steps at least every 10 ms.  So
 * every rank leaves its sweep within one step and 10 ms of the first
 * request (a rank waiting for a neighbour is released by the neighbour's
 * stop), and the call returns PN_ERR_INTERRUPTED on every rank, its message
 * naming the rank, step and time where the request was seen (unless another
 * error came first).  The call's results are then undefined; the context
 * and the solver stay usable.  Requests made while no call runs are seen by
 * the next call's first step.
 * @param poll  NULL removes it; set the same (or NULL) on every rank
 * Not collective.
 */
PN_EXPORT void pn_ctx_set_interrupt(pn_ctx *ctx, pn_interrupt_fn poll, void *user);

/**
 * @brief Agree on a status across the context's ranks.
 * @param[in,out] ctx       the context; on a rank that did not fail first, its
 *                          message becomes that of the lowest failing rank r,
 *                          prefixed "rank r: " (that rank keeps its own)
 * @param[in]     local_rc  this rank's status (PN_OK or a pn_error_code;
 *                          PN_ERR_REMOTE: it failed because another rank did)
 * @return PN_OK if every rank passed PN_OK; otherwise, on every rank, the code
 *         of the lowest failing rank, where a rank that passed PN_ERR_REMOTE
 *         counts only if every failing rank did (PN_ERR_MPI if the agreement
 *         itself failed).
 * Collective on ctx: every rank must call it, so that a failure on one rank
 * never leaves the others waiting in a later collective.
 */
PN_EXPORT int pn_ctx_agree(pn_ctx *ctx, int local_rc);

#endif
