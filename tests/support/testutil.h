/* Shared helpers of pinode's cmocka tests.  Tests are programs, so they may
 * use MPI_COMM_WORLD; the library never does. */
#ifndef PINODE_TESTUTIL_H
#define PINODE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pinode.h"

/* A context over MPI_COMM_WORLD, made by pnt_main before the tests run. */
extern pn_ctx *pnt_ctx;

/* MPI_Init, run the cmocka group on every rank (only rank 0 prints),
 * MPI_Finalize; the exit status is nonzero if any rank failed. */
int pnt_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n);
#define PNT_MAIN(group, tests)                                                   \
  int main(int argc, char **argv)                                                \
  {                                                                              \
    return pnt_main(argc, argv, group, tests, sizeof(tests) / sizeof((tests)[0])); \
  }

/* Collective assertion: fails on every rank if cond is false on any rank, so
 * that no rank is left waiting in a collective.  Prints msg on rank 0. */
#define pnt_assert_all(cond, ...) pnt_assert_all_impl((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)
void pnt_assert_all_impl(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Assert that a library call returned PN_OK; on failure print its message. */
#define pnt_ok(ctx, expr) pnt_ok_impl((ctx), (expr), #expr, __FILE__, __LINE__)
void pnt_ok_impl(pn_ctx *ctx, int rc, const char *what, const char *file, int line);

/* Assert code == expected and that the context's message contains `needle`. */
#define pnt_fails_with(ctx, expr, code, needle) \
  pnt_fails_with_impl((ctx), (expr), (code), (needle), #expr, __FILE__, __LINE__)
void pnt_fails_with_impl(pn_ctx *ctx, int rc, int code, const char *needle, const char *what,
                         const char *file, int line);

/* ‖a − b‖₂ / ‖b‖₂ (0 when both are 0; ‖a‖₂ when only b is 0). */
double pnt_rel_err(const double *a, const double *b, size_t n);

/* Fill x with N(0, scale²) numbers from a seeded stream. */
void pnt_randn(double *x, size_t n, uint64_t seed, double scale);

/* A new empty directory under $TMPDIR (or /tmp), named after `tag`; its
 * path is written to out (size n).  Fails the test if it cannot be made. */
void pnt_tmpdir(const char *tag, char *out, size_t n);

/* Write `text` to dir/name (replacing it); fails the test on error. */
void pnt_write_text(const char *dir, const char *name, const char *text);

/* Remove a directory and the files directly in it (no subdirectories). */
void pnt_rmdir_flat(const char *dir);

#endif
