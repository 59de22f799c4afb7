/**
 * @file error.h
 * @brief Error codes of libpinode.
 *
 * Every library function returns int: PN_OK (0) or one of the negative codes
 * below.  The human-readable message of the last failure (what went wrong and
 * where: file, line, key, step, rank) is kept in the context, see
 * pn_ctx_last_error().  Depends on nothing.
 */
#ifndef PINODE_ERROR_H
#define PINODE_ERROR_H

#include "pinode/export.h"

/* One list produces both the enum and pn_strerror(). */
#define PN_ERROR_LIST(X)                                                         \
  X(PN_OK, 0, "success")                                                         \
  X(PN_ERR_ARG, -1, "invalid argument")                                          \
  X(PN_ERR_MEM, -2, "out of memory")                                             \
  X(PN_ERR_IO, -3, "input/output error")                                         \
  X(PN_ERR_PARSE, -4, "malformed input")                                         \
  X(PN_ERR_STATE, -5, "wrong call order")                                        \
  X(PN_ERR_USER_CALLBACK, -6, "user callback failed")                            \
  X(PN_ERR_MPI, -7, "MPI error")                                                 \
  X(PN_ERR_NONFINITE, -8, "non-finite value (NaN or Inf)")                       \
  X(PN_ERR_GRID, -9, "time not on the step grid")                                \
  X(PN_ERR_LIMIT, -10, "resource limit exceeded")                                \
  X(PN_ERR_NOT_CONVERGED, -11, "iteration did not converge")                     \
  X(PN_ERR_REMOTE, -12, "another rank failed")                                   \
  X(PN_ERR_INTERRUPTED, -13, "interrupted by a signal")

typedef enum pn_error_code {
#define PN_ERROR_ENUM_(name, value, text) name = value,
  PN_ERROR_LIST(PN_ERROR_ENUM_)
#undef PN_ERROR_ENUM_
} pn_error_code;

/**
 * @brief Short description of an error code ("invalid argument", ...).
 * @param[in] code  a pn_error_code (any int is accepted)
 * @return a static string; "unknown error" for a code not in the list.
 * Not collective.  Thread-safe.
 */
PN_EXPORT const char *pn_strerror(int code);

#endif
