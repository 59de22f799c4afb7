/* pinode gradient --repeat R [--json FILE]: timing of repeated gradients, for
 * benchmarks (scripts/scaling.sh). */
#ifndef PINODE_CLI_REPEAT_H
#define PINODE_CLI_REPEAT_H

#include "cli.h"

/* Run R ≥ 1 more gradients of the problem in @p s (the caller's call was the
 * warm-up), each timed on the slowest rank between two barriers; print the
 * median, min and max time per gradient and, per rank, the median forward,
 * backward and waiting times (pn_stats), the process CPU time, the
 * solver's bytes and the peak RSS (unless @p quiet).  With @p json_path (may
 * be NULL) rank 0 also writes all of it as JSON.  Collective on comm (the
 * program's messages) and ctx, made from it.  Returns a pn error code. */
int cli_repeat_gradients(MPI_Comm comm, pn_ctx *ctx, const cli_setup *s, const char *dir,
                         int repeat, const char *json_path, int quiet);

#endif
