/* pinode bench --model: a performance model of the time per gradient of the
 * pipelined and Parareal time-parallel modes, calibrated by quantities this
 * program measures on the machine where it runs (time per step per micro-batch
 * size, fixed cost per micro-batch, a ping-pong for message latency and
 * bandwidth), with predictions for P up to 4096 ranks and, with --validate, a
 * comparison against the real solver on the ranks it runs on.  The formulas
 * and assumptions are printed by the command and described in perfmodel.c. */
#ifndef PINODE_CLI_PERFMODEL_H
#define PINODE_CLI_PERFMODEL_H

#include "cli.h"

/* pinode bench --model [options] DIR (argv[0] is the command's name; a
 * "--model" among the arguments is accepted and ignored, so that the bench
 * command can pass its arguments on unchanged).  Collective on ctx.  Returns
 * a process exit status: 0 ok, 1 failure, 2 usage error. */
int cli_bench_model(pn_ctx *ctx, int argc, char **argv);

#endif
