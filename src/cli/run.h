/* Internals of pinode train and predict: the training state, checkpoints and
 * model files, the run's output files, and a small JSON writer. */
#ifndef PINODE_CLI_RUN_H
#define PINODE_CLI_RUN_H

#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "json.h"

/* ---- the training state (train.c) ---- */

/* Everything a checkpoint must restore for a bitwise-identical continuation. */
typedef struct train_state {
  long iteration;   /* updates applied */
  long resumed_from;
  double *theta;    /* P, identical on every rank */
  pn_optim *opt;
  pn_rng rng;       /* mini-batch draws */
  long cap;         /* history capacity (optimizer.iterations) */
  double *h_loss, *h_val, *h_gnorm, *h_lr, *h_sec; /* one entry per update */
} train_state;

/* Wall-clock seconds per phase on this rank, and solver counters. */
typedef struct train_timers {
  double setup, gradient, optimizer, validation, checkpoint, prediction, total;
  double forward, backward, wait; /* inside the solver */
  long rhs, vjp;
  /* Newton shooting's training gradients: how many, their fine and coarse
   * sweeps, how many started warm and how many fell back; the last one's
   * sweeps and defects. */
  long newton_gradients, newton_sweeps, newton_coarse_sweeps, newton_warm, newton_fallbacks;
  pn_stats newton_last;
} train_timers;

/* ---- model files and checkpoints (checkpoint.c) ---- */

/* Fill a model file with the network, θ, the grid and the data scale (what
 * predict needs); with `state`, also the optimiser, the RNG, the history and
 * the configuration echo (a checkpoint). */
int cli_model_fill(pn_ctx *ctx, pn_modelfile *mf, const cli_config *cfg, const cli_problem *p,
                   const train_state *st, int checkpoint);

/* Write DIR/name from rank 0 (atomically); the outcome is agreed by all ranks. */
int cli_model_write(pn_ctx *ctx, const cli_config *cfg, const cli_problem *p,
                    const train_state *st, int checkpoint, const char *path);

/* Restore a checkpoint into st (θ, optimiser, RNG, history) after checking
 * that it was written for the same configuration: all keys except output.*
 * and parallel.* must be equal, optimizer.iterations too unless extend.
 * Collective. */
int cli_checkpoint_load(pn_ctx *ctx, const char *path, const cli_config *cfg,
                        const cli_problem *p, train_state *st, int extend);

/* The parallel layout a checkpoint was written with (method, batch groups,
 * micro-batches), into *opts with *found = 1 when it was written on as many
 * ranks as ctx has; else *opts unchanged and *found = 0.  Collective. */
int cli_checkpoint_layout(pn_ctx *ctx, const char *path, pn_solver_opts *opts, int *found);

/* ---- outputs (outputs.c) ---- */

/* What cli_outdir_prepare found: a new (or empty) directory, a run's
 * checkpoint to resume, a run that stopped before its first checkpoint (its
 * files removed: it starts from iteration 0), or a previous run's files
 * removed (output.overwrite). */
typedef enum cli_outdir_state {
  CLI_OUTDIR_NEW,
  CLI_OUTDIR_CHECKPOINT,
  CLI_OUTDIR_RESTART,
  CLI_OUTDIR_OVERWRITTEN
} cli_outdir_state;

/* Prepare the output directory on rank 0.  A new run creates it; a
 * directory that holds a run's results or other files is refused unless
 * overwrite, which removes every file a run writes there (the checkpoint
 * first) and no other.  A resume needs the run's checkpoint, or its
 * config.ini alone (a run that stopped before its first checkpoint: started
 * again).  Collective on comm and ctx (the verdict and *state are shared). */
int cli_outdir_prepare(MPI_Comm comm, pn_ctx *ctx, const char *dir, int overwrite, int resume,
                       cli_outdir_state *state);

/* Remove DIR/name if it exists (rank 0).  Collective. */
int cli_remove_output(pn_ctx *ctx, const char *dir, const char *name);

/* Write text to a file atomically from rank 0; collective verdict. */
int cli_write_text(pn_ctx *ctx, const char *path, const char *text, size_t len);

/* DIR/config.ini (effective configuration) and DIR/data.csv (in the data's
 * original units).  Collective. */
int cli_write_inputs(pn_ctx *ctx, const char *dir, const cli_config *cfg, const cli_problem *p);

/* DIR/history.csv from the state's history.  Collective. */
int cli_write_history(pn_ctx *ctx, const char *dir, const train_state *st);

/* Where predictions go: every `every` grid steps to `path`, HDF5 when it ends
 * in .h5 (deflate level `compress`, the model file `model` or NULL as an
 * attribute), CSV otherwise. */
typedef struct cli_predict_out {
  const char *path, *model;
  long every;
  int compress;
} cli_predict_out;

/* Integrate the model from the first row of every trajectory of `init` over
 * the grid of `sopts` and write the states as `o` says, in original units
 * (states divided by `scale`).  Collective. */
int cli_predict_write(pn_ctx *ctx, pn_model *model, const pn_tableau *tab,
                      const pn_solver_opts *sopts, const double *theta, const pn_dataset *init,
                      double scale, const cli_predict_out *o);

/* The saved states `states` (ns × B × D, at grid indices `steps`, as
 * pn_solver_forward gives them on every rank) as an HDF5 trajectory file:
 * each rank writes its own block of the output times.  Collective. */
int cli_predict_write_h5(pn_ctx *ctx, const cli_predict_out *o, const pn_tableau *tab,
                         const pn_solver_opts *sopts, const pn_dataset *init, double scale,
                         const long *steps, long ns, const double *states);

/* One progress line (rank 0): a single updating line on a terminal, plain
 * lines otherwise; nothing when quiet. */
typedef struct progress {
  int tty, quiet;
  long every;
  double last_print;
} progress;
void cli_progress(pn_ctx *ctx, progress *pr, const train_state *st, long total, double seconds,
                  int last);

#endif
