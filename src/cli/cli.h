/* The pinode program: subcommands and what they share. */
#ifndef PINODE_CLI_H
#define PINODE_CLI_H

#include <stdio.h>

#include "pinode.h"

/* A subcommand: argv[0] is its name.  Returns a process exit status. */
typedef int (*cli_command_fn)(pn_ctx *ctx, int argc, char **argv);

int cmd_gradient(pn_ctx *ctx, int argc, char **argv);

/* Print on rank 0 only. */
void cli_print(pn_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report a failed library call on rank 0 ("pinode <cmd>: <message>") and
 * return the exit status for it. */
int cli_fail(pn_ctx *ctx, const char *cmd, int rc);

/* Objects built from a problem directory. */
typedef struct cli_setup {
  pn_problem *problem;
  pn_model *model;
  pn_tableau *tab;
  pn_loss *loss;
  pn_solver *solver;
} cli_setup;

/* Read DIR and build model, tableau, loss and solver (opts: N, t0, t1 filled
 * from the problem; storage and micro-batches from *base). Collective. */
int cli_setup_problem(pn_ctx *ctx, const char *dir, const pn_solver_opts *base, cli_setup *out);
void cli_setup_free(cli_setup *s);

/* Parse "all" or "every:K" into opts->storage / storage_param. */
int cli_parse_storage(const char *text, pn_solver_opts *opts);

#endif
