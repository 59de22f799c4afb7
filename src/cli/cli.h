/* The pinode program: subcommands and what they share. */
#ifndef PINODE_CLI_H
#define PINODE_CLI_H

#include <stdio.h>

#include "pinode.h"

/* Propagate a pinode error code. */
#define CLI_TRY(expr)                               \
  do {                                              \
    const int cli_try_rc_ = (expr);                 \
    if (cli_try_rc_ != PN_OK) return cli_try_rc_;   \
  } while (0)

/* A subcommand: argv[0] is its name.  comm is the program's own
 * communicator, for the program's messages (gathering statistics, sharing a
 * decision of rank 0); ctx is the library context made from it, whose
 * messages go over the context's own duplicate.  Returns a process exit
 * status. */
typedef int (*cli_command_fn)(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv);

int cmd_gradient(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv);  /* cmd_gradient.c */
int cmd_train(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv);     /* cmd_train.c */
int cmd_predict(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv);   /* cmd_predict.c */
int cmd_bench(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv);     /* cmd_bench.c */
int cmd_gradcheck(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv); /* cmd_gradcheck.c */

/* The exit statuses of every command, the end of every --help. */
extern const char cli_exit_status_help[];

/* Print on rank 0 only. */
void cli_print(pn_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print (rank 0, stderr) and forget what library calls noted without
 * failing (pn_ctx_notes): "pinode: note: ..." a line. */
void cli_print_notes(pn_ctx *ctx);

/* A usage error: rank 0 prints "pinode <cmd>: <what is wrong>" on stderr
 * (after the command's usage); returns the exit status 2. */
int cli_usage_error(pn_ctx *ctx, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report a failed library call on rank 0 ("pinode <cmd>: <message>") and
 * return the exit status for it. */
int cli_fail(pn_ctx *ctx, const char *cmd, int rc);

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

/* A number option's text: 1 and *out when it is a finite number with nothing
 * after it, else 0 (*out unchanged); the caller checks the range. */
int cli_parse_double(const char *text, double *out);

/* The storage names users type, for messages. */
#define CLI_STORAGE_NAMES "stages, all, every:K, binomial:C (K, C >= 1) or auto"

/* Parse one of CLI_STORAGE_NAMES into opts->storage / storage_param. */
int cli_parse_storage(const char *text, pn_solver_opts *opts);

/* The text of a storage policy, as cli_parse_storage reads it, into buf;
 * returns buf. */
const char *cli_storage_text(pn_storage_kind kind, long param, char *buf, size_t len);

/* Options of the parallel method shared by the commands: 'P' --parallel,
 * 'I' --parareal-max-iter, 'T' --parareal-tol, 'C' --coarse-steps,
 * 'S' --coarse-scheme (both: Parareal's and Newton's coarse starts),
 * 'A' --parareal-adjoint, 'K' --newton-max-iter, 'X' --newton-tol,
 * 'Y' --newton-growth-limit, 'W' --newton-start (the names of the config
 * keys parallel.*).  PN_OK or PN_ERR_ARG (then see
 * the help text).  "auto" for --parallel is the commands' own. */
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

/* Rank 0 prints the Parareal iterations, residuals and phase times of the
 * last call (the slowest rank's, gathered over comm).  Collective on comm. */
void cli_report_parareal(MPI_Comm comm, pn_ctx *ctx, const pn_solver *solver);

/* Rank 0 prints Newton's sweeps, defects, start and phase times of the last
 * call; a call that fell back to the pipeline says so on stderr instead.
 * Collective on comm. */
void cli_report_newton(MPI_Comm comm, pn_ctx *ctx, const pn_solver *solver);

/* ‖a − b‖ / ‖b‖ (‖a‖ when b is 0). */
double cli_rel_dist(const double *a, const double *b, size_t n);

/* The reference outputs of a gradient, in the order of pinode gradient's
 * files: loss.txt, grad_theta.txt, grad_z0.txt. */
extern const char *const cli_ref_files[3];

/* The norm-wise relative differences (cli_rel_dist) of a gradient's loss,
 * ∂L/∂θ (np entries) and ∂L/∂z0 (nz entries, after ∂L/∂θ in grad) from
 * refdir/cli_ref_files[i], into err[i].  PN_OK, or the error of reading a
 * file (missing, or not holding as many numbers).  Not collective. */
int cli_ref_distance(pn_ctx *ctx, const char *refdir, double loss, const double *grad, size_t np,
                     size_t nz, double err[3]);

/* The median of x[0..n), n >= 1 (sorts x). */
double cli_median(double *x, int n);

/* Seconds of CPU time used by this process (all its threads). */
double cli_cpu_seconds(void);

/* Wait until every rank of comm has arrived, asleep: a waiting rank polls a
 * non-blocking barrier every millisecond instead of spinning inside MPI, so
 * that the ranks still working have the CPUs.  Collective on comm. */
void cli_quiet_barrier(MPI_Comm comm);

/* 1 if path is a regular file (decided on rank 0 of comm, the same answer on
 * every rank).  Collective on comm. */
int cli_is_regular_file(MPI_Comm comm, const char *path);

/* Signals and the watchdog (signals.c), for train and gradient. */

/* SIGTERM and SIGINT set a flag (and SIGALRM is the watchdog's last resort)
 * until cli_signals_restore(); install first, so that no signal finds the
 * default action.  Restoring also stops the watchdog. */
void cli_signals_install(void);
void cli_signals_restore(void);
/* The signal this rank caught (0 if none).  Not collective. */
int cli_signal_caught(void);
/* Collective on comm: the signal caught by any rank (0 if none), so that
 * every rank stops after the same iteration. */
int cli_signal_agree(MPI_Comm comm);
/* For pn_ctx_set_interrupt: 1 once a signal was caught or the watchdog's
 * deadline has passed. */
int cli_interrupt_poll(void *user);
/* Arm the watchdog: cli_interrupt_poll says stop once `seconds` have passed
 * (nothing if seconds <= 0); a rank still running cli_watchdog_grace(seconds)
 * later prints that "what" (e.g. "the gradient") outlived its timeout and
 * exits with status 1, so that a stopped rank cannot keep the others waiting
 * forever. */
void cli_watchdog_start(double seconds, const char *what, int rank);
void cli_watchdog_stop(void);
double cli_watchdog_grace(double seconds);
/* Why a solver call returned PN_ERR_INTERRUPTED, the same answer on every
 * rank.  Collective on comm. */
enum { CLI_STOP_SIGNAL = 1, CLI_STOP_TIMEOUT };
int cli_stop_reason(MPI_Comm comm);

/* 1 if path names an HDF5 file (ends in .h5), 0 for anything else (CSV). */
int cli_is_h5(const char *path);

/* A dataset from an HDF5 trajectory file (a .h5 name) or a CSV file.
 * Collective. */
int cli_read_dataset(pn_ctx *ctx, const char *path, pn_dataset **out);

/* The gradcheck table (gradcheck.c): the seed paper's claims measured on a
 * model, computed from built objects, whatever they were read from (a problem
 * directory, a training configuration: gradcheck_config.c). */
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
 * failed step.  Collective on comm (and ctx, made from it). */
int gradcheck_run(MPI_Comm comm, pn_ctx *ctx, const gradcheck_input *in, const gradcheck_opts *o);

/* gradcheck on a training configuration file (gradcheck_config.c): the
 * network and initial θ, the training trajectories (which must share their
 * observation times: the complex step implements the plain MSE) and the grid
 * of CONFIG.  Collective on comm. */
int cli_gradcheck_config(MPI_Comm comm, pn_ctx *ctx, const char *path, const gradcheck_opts *o,
                         long steps);

#endif
