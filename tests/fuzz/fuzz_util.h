/* Shared by pinode's fuzz harnesses (tests/fuzz/fuzz_*.c).
 *
 * Each harness defines LLVMFuzzerTestOneInput.  It is linked either with
 * libFuzzer (clang, -fsanitize=fuzzer: scripts/fuzz.sh) or with
 * replay_main.c, a plain driver that runs it over the committed corpus and
 * regression inputs in every build (ctest fuzz_replay_*).
 *
 * The readers under test are collective (rank 0 reads, broadcasts): MPI is
 * initialised once, on the first input, and the context is made over
 * MPI_COMM_SELF.  Inputs are written to files in a private directory on
 * /dev/shm (or $TMPDIR) because the readers take paths.
 *
 * A harness calls fz_fail() when a property is broken (an error without a
 * message, a message that does not name the file, a round trip that changes a
 * value): that aborts, which libFuzzer reports as a crash with the input. */
#ifndef PINODE_FUZZ_UTIL_H
#define PINODE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "pinode.h"

/* The context (MPI initialised on first use). */
pn_ctx *fz_ctx(void);

/* libFuzzer's initialisation hook: initialises MPI and the context. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The private directory the inputs are written to. */
const char *fz_dir(void);

/* Write data[0..n) to fz_dir()/name; its path into path (size CLI paths). */
void fz_write(const char *name, const void *data, size_t n, char *path, size_t cap);

/* Split data at lines equal to FZ_SEP ("----8<----"): at most max parts.
 * Returns the number of parts; part i is data[start[i], start[i] + len[i]). */
#define FZ_SEP "\n----8<----\n"
int fz_split(const uint8_t *data, size_t size, int max, size_t *start, size_t *len);

/* Abort with a message naming the broken property. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* After a failed call: rc must be an error code with a message that names
 * `needle` (the file), else fz_fail. */
void fz_check_error(int rc, const char *needle);

/* Bitwise equal, or both NaN. */
int fz_same_double(double a, double b);

#endif
