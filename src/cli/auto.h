/* --parallel auto (pinode gradient) and [parallel] method = auto (pinode
 * train): the program chooses the parallel layout of a gradient from the
 * performance model (perfmodel.h) calibrated briefly on the problem itself.
 * The library never chooses: its users name a method. */
#ifndef PINODE_CLI_AUTO_H
#define PINODE_CLI_AUTO_H

#include "cli.h"

/* How the choice is printed: as pinode gradient's options or as the
 * training configuration's keys. */
typedef enum cli_auto_style { CLI_AUTO_OPTIONS, CLI_AUTO_KEYS } cli_auto_style;

typedef struct cli_auto_request {
  const pn_problem *problem; /* network, scheme, grid, θ and the batch's B initial states */
  int iterative;             /* Parareal and Newton may be chosen (the discrete multi-point
                                adjoint, a storage other than stages) */
  int quiet;                 /* print only the warning of a layout slower than one rank */
  cli_auto_style style;
  const char *command;       /* "gradient", "train": the warning's prefix */
} cli_auto_request;

/* Choose among the pipeline (its best micro-batch count), batch groups (G
 * dividing the rank count, G ≤ B), Newton shooting and Parareal the layout
 * with the smallest predicted time per gradient, and set opts->method,
 * batch_groups and microbatches to it.  A batch_groups > 1 or microbatches
 * > 0 already in *opts is kept (the choice is among the rest).  On one rank:
 * the pipeline, without calibration.  Rank 0 decides and prints the choice
 * with every candidate's prediction (unless quiet), and, on stderr, when the
 * layout is predicted slower than one rank; the choice reaches every rank of
 * comm.  Collective on comm (ctx is made from it). */
int cli_auto_choose(MPI_Comm comm, pn_ctx *ctx, const cli_auto_request *req, pn_solver_opts *opts);

#endif
