/* The pinode program: subcommands and what they share. */
#ifndef PINODE_CLI_H
#define PINODE_CLI_H

#include <stdio.h>

#include "pinode.h"

/* A subcommand: argv[0] is its name.  Returns a process exit status. */
typedef int (*cli_command_fn)(pn_ctx *ctx, int argc, char **argv);

int cmd_gradient(pn_ctx *ctx, int argc, char **argv);
int cmd_train(pn_ctx *ctx, int argc, char **argv);   /* cmd_train.c */
int cmd_predict(pn_ctx *ctx, int argc, char **argv); /* cmd_predict.c */
int cmd_bench(pn_ctx *ctx, int argc, char **argv);   /* cmd_bench.c */

/* Print on rank 0 only. */
void cli_print(pn_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report a failed library call on rank 0 ("pinode <cmd>: <message>") and
 * return the exit status for it. */
int cli_fail(pn_ctx *ctx, const char *cmd, int rc);

/* Collective: every rank passes its status; all return the lowest failing
 * rank's code with its message (PN_OK if none failed). */
int cli_agree(pn_ctx *ctx, int rc);

/* A file's text accumulated in memory (open_memstream, m.f), then written
 * atomically: a reader never sees a partial file, and a failed write leaves
 * the old file whole.  cli_membuf_commit closes m.f, writes `path` and frees
 * the text, whatever happens (call it once after a successful open). */
typedef struct cli_membuf {
  char *text;
  size_t len;
  FILE *f;
} cli_membuf;
int cli_membuf_open(pn_ctx *ctx, cli_membuf *m, const char *path);
int cli_membuf_commit(pn_ctx *ctx, cli_membuf *m, const char *path);

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

/* An integer option's text: 1 and *out when it is an integer in [lo, hi]
 * with nothing after it, else 0 (*out unchanged). */
int cli_parse_long(const char *text, long lo, long hi, long *out);

/* Parse all, every:K, binomial:C or auto into opts->storage / storage_param. */
int cli_parse_storage(const char *text, pn_solver_opts *opts);

/* Options of the parallel method shared by the commands: 'P' --parallel,
 * 'I' --parareal-iters, 'T' --parareal-tol, 'C' --coarse-steps,
 * 'S' --coarse-scheme, 'A' --parareal-adjoint.  PN_OK or PN_ERR_ARG (then see
 * the help text). */
int cli_parse_parallel_option(int which, const char *value, pn_solver_opts *opts);
const char *cli_parallel_option_help(int which, const char *value);

/* The options for a solve of `batch` samples on `ranks` ranks: batch_groups
 * lowered, if the batch has fewer samples, to the largest divisor of the rank
 * count that still gives every group one (a validation set or a prediction
 * may be smaller than the mini-batches). */
pn_solver_opts cli_opts_for_batch(const pn_solver_opts *o, int ranks, int batch);

/* " in G batch groups" when o splits the batch among groups of ranks, else
 * "" (a static string). */
const char *cli_groups_text(const pn_solver_opts *o);

/* Rank 0 prints the Parareal iterations, residuals and phase times of the last call. */
void cli_report_parareal(pn_ctx *ctx, const pn_solver *solver);

/* ‖a − b‖ / ‖b‖ (‖a‖ when b is 0). */
double cli_rel_dist(const double *a, const double *b, size_t n);

/* The median of x[0..n), n >= 1 (sorts x). */
double cli_median(double *x, int n);

/* pinode gradcheck (cmd_gradcheck.c): the seed paper's claims measured on a
 * model.  The table is computed from built objects, whatever they were read
 * from (a problem directory; later a training config). */
int cmd_gradcheck(pn_ctx *ctx, int argc, char **argv);

typedef struct gradcheck_input {
  const pn_mlp_spec *spec; /* the network (the complex step re-implements MLPs) */
  const pn_loss *loss;     /* an MSE loss for batch and spec->dim */
  const double *theta;     /* P parameters */
  const double *z0;        /* batch × D initial states */
  int batch;
  double t0, t1;
  long nsteps;             /* the coarsest grid; level l has nsteps·2^l steps */
} gradcheck_input;

typedef struct gradcheck_opts {
  const char *scheme; /* one scheme (must outlive the call), or NULL for all built-in ones */
  int levels;         /* number of step sizes h, h/2, ... */
  int single;         /* 1: also the single-point rows */
  double tol;         /* the discrete adjoint must match the complex step to tol */
  const char *csv;    /* also write the table there, or NULL */
} gradcheck_opts;

/* Compute, print (rank 0) and optionally write the table, then what it shows
 * about each claim.  PN_OK, or PN_ERR_NOT_CONVERGED if the discrete adjoint
 * missed the complex step by more than tol in some row, or the error of a
 * failed step.  Collective on ctx. */
int gradcheck_run(pn_ctx *ctx, const gradcheck_input *in, const gradcheck_opts *o);

/* gradcheck on a training configuration file (gradcheck_config.c): the
 * network and initial θ, the training trajectories (which must share their
 * observation times: the complex step implements the plain MSE) and the grid
 * of CONFIG.  Collective on ctx. */
int cli_gradcheck_config(pn_ctx *ctx, const char *path, const gradcheck_opts *o, long steps);

/* 1 if path is a regular file (decided on rank 0, same answer on every rank). */
int cli_is_regular_file(pn_ctx *ctx, const char *path);

#endif
