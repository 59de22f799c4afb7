/*
 * Private to libpinode: error macros and helpers shared by the modules.
 * Cross-file internals are named pni_ and stay hidden (default visibility is
 * hidden; only PN_EXPORT symbols are public).
 */
#ifndef PINODE_INTERNAL_H
#define PINODE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pinode/ctx.h"
#include "pinode/error.h"
#include "pinode/rng.h"

/* Record an error with its location in ctx and return its code. */
int pni_error(pn_ctx *ctx, int code, const char *file, int line, const char *func,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Add a line to ctx's notes (pn_ctx_notes): something a call that succeeds
 * wants the caller to know.  Lines beyond the notes' room are dropped. */
void pni_note(pn_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Return code with a formatted message unless cond holds. */
#define PN_CHECK(ctx, cond, code, ...)                                              \
  do {                                                                              \
    if (!(cond)) return pni_error((ctx), (code), __FILE__, __LINE__, __func__, __VA_ARGS__); \
  } while (0)

/* Set rc and jump to the function's cleanup label unless cond holds. */
#define PN_CHECK_GOTO(rc, ctx, cond, code, ...)                                     \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      (rc) = pni_error((ctx), (code), __FILE__, __LINE__, __func__, __VA_ARGS__);   \
      goto cleanup;                                                                 \
    }                                                                               \
  } while (0)

/* Propagate a pinode error code. */
#define PN_CALL(expr)                                                               \
  do {                                                                              \
    int pn_call_rc_ = (expr);                                                       \
    if (pn_call_rc_ != PN_OK) return pn_call_rc_;                                   \
  } while (0)

#define PN_CALL_GOTO(rc, expr)                                                      \
  do {                                                                              \
    (rc) = (expr);                                                                  \
    if ((rc) != PN_OK) goto cleanup;                                                \
  } while (0)

/* Allocation helpers: zeroed, overflow-checked; on failure record PN_ERR_MEM. */
int pni_calloc(pn_ctx *ctx, size_t count, size_t size, void *ptr_out, const char *what);

/* A byte count for messages, in a unit that shows it: "512 bytes",
 * "12.5 KB", "2441.5 MB" (powers of 1024).  Writes into buf; returns buf. */
const char *pni_bytes_text(double bytes, char *buf, size_t n);

/* Make a rename into path's directory durable (fsync of the directory;
 * best effort: a file system without it still has the renamed file). */
void pni_sync_dir(const char *path);

/* Seconds from a monotonic clock. */
double pni_wtime(void);

/* Index of the first non-finite entry of x[0..n), or -1. */
long pni_first_nonfinite(const double *x, size_t n);

/* Names of an enum, in enum order, as a NULL-terminated list: the index of
 * a name (−1 if absent) and the name of an index ("?" if out of range). */
int pni_name_index(const char *const *names, const char *name);
const char *pni_index_name(const char *const *names, int i);

/* Defines prefix_from_name() and prefix_name() of a public enum from its list. */
#define PNI_ENUM_NAMES(type, prefix, names)                                     \
  int prefix##_from_name(const char *name, type *out)                           \
  {                                                                             \
    const int i = pni_name_index(names, name);                                  \
    if (i < 0 || !out) return PN_ERR_ARG;                                       \
    *out = (type)i;                                                             \
    return PN_OK;                                                               \
  }                                                                             \
  const char *prefix##_name(type value) { return pni_index_name(names, (int)value); }

#endif
