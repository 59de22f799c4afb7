/* The training configuration: one INI file (parsed by libinih) plus
 * --set section.key=value overrides, checked key by key against a table that
 * also documents every key (pinode train --list-keys prints it), and the
 * objects built from it (data, split, model, tableau, solver options, θ).
 * Other subcommands (predict, gradcheck) reuse cli_config_load() and
 * cli_problem_build(). */
#ifndef PINODE_CLI_CONFIG_H
#define PINODE_CLI_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"

#define CLI_MAX_LAYERS 64
#define CLI_MAX_KEYS 96
#define CLI_PATH 1024

/* Data sources: the four generators (pn_generator_kind order), then CSV. */
enum { CLI_SOURCE_CSV = 4 };

/* parallel.method: the library's methods (pn_parallel_method order), then
 * auto, the program's choice (auto.h). */
enum { CLI_PARALLEL_AUTO = 3 };

typedef struct cli_config {
  char path[CLI_PATH]; /* the config file */
  char name[256];      /* its base name without extension (default output dir) */
  /* [model] */
  int widths[CLI_MAX_LAYERS], nhidden;
  int acts[CLI_MAX_LAYERS], nacts; /* pn_activation; 1 or nhidden entries */
  int time_input;
  uint64_t model_seed;
  char init[CLI_PATH]; /* model file to start from, "" = random init */
  /* [solver] */
  char scheme[CLI_PATH];
  long steps;
  double t0, t1; /* NAN = from the data */
  char storage[CLI_PATH];
  double memory_limit_mb;
  int check_finite;
  /* [adjoint] */
  int adjoint; /* pn_adjoint_kind */
  int sweep;   /* pn_sweep_mode */
  /* [data] */
  int source; /* pn_generator_kind, or CLI_SOURCE_CSV */
  char file[CLI_PATH];
  long trajectories, points, substeps;
  double data_t0, data_t1; /* data_t1 NAN = the generator's default */
  double noise, validation, scale;
  uint64_t data_seed;
  /* [loss] */
  int loss_kind; /* 0 = mse */
  int reduction; /* pn_reduction */
  /* [optimizer] */
  int method, schedule, nesterov;
  double lr, beta1, beta2, eps, momentum, weight_decay, clip_norm, decay_rate, lr_min;
  long decay_iterations; /* −1 = optimizer.iterations */
  long warmup, iterations, batch_size;
  uint64_t optim_seed;
  /* [parallel] */
  long microbatches, batch_groups;
  int parallel_method; /* pn_parallel_method, or CLI_PARALLEL_AUTO */
  int parareal_adjoint; /* pn_parareal_adjoint */
  long parareal_max_iter, coarse_steps;
  double parareal_tol;
  char coarse_scheme[CLI_PATH]; /* "same": the solver's scheme */
  long newton_max_iter;
  double newton_tol, newton_growth_limit;
  int newton_start; /* pn_newton_start */
  double timeout; /* seconds an iteration may take, 0 = no limit */
  /* [output] */
  char dir[CLI_PATH]; /* "" = out/<name> */
  int overwrite;
  long checkpoint_every, log_every, validate_every, predict_every;
  char predictions[CLI_PATH]; /* a file name in dir: .h5 is HDF5, else CSV */
  long compress;              /* deflate level of HDF5 outputs, 0 (none) to 9 */

  /* Canonical text of every key's effective value, in table order, and where
   * it came from: 0 default, > 0 a line of the file, −1 a --set option. */
  char value[CLI_MAX_KEYS][CLI_PATH];
  long origin[CLI_MAX_KEYS];
} cli_config;

/* Read CONFIG (rank 0 reads, broadcast; every rank parses), apply the
 * "section.key=value" overrides, check every key and the keys together.
 * Errors name the file, line and key, and list the accepted values.
 * Collective on ctx. */
int cli_config_load(pn_ctx *ctx, const char *path, int nsets, char *const *sets, cli_config *cfg);

/* Number of keys, and the i-th key's "section.key" and its description, its
 * default, and its accepted values (static strings). */
int cli_config_nkeys(void);
void cli_config_key(int i, const char **name, const char **def, const char **accepted,
                    const char **doc);

/* Write the effective configuration as INI text (canonical values). */
void cli_config_print(const cli_config *cfg, FILE *out);

/* The objects a config describes. */
typedef struct cli_problem {
  pn_dataset *data; /* every trajectory (scaled) */
  int *train, ntrain, *val, nval;
  pn_mlp_spec spec; /* arrays point into the config */
  pn_activation acts[CLI_MAX_LAYERS];
  pn_model *model;
  pn_tableau *tab;
  pn_solver_opts sopts; /* t0, t1, N, storage, micro-batches, memory */
  int nparam;
  double *theta; /* initial parameters (seeded init or model.init) */
  int batch;     /* mini-batch size (≤ ntrain) */
} cli_problem;

/* Build them.  Collective on ctx (reads files). */
int cli_problem_build(pn_ctx *ctx, const cli_config *cfg, cli_problem *out);
void cli_problem_free(cli_problem *p);

/* An ordinary MSE loss (pn_loss_create_mse) over the training trajectories,
 * equal to the masked mean-squared error of their batch when all of them are
 * observed at the same times; PN_ERR_ARG otherwise.  z0_out: B×D (free()),
 * loss_out: destroy with pn_loss_destroy().  For gradcheck, whose complex-step
 * reference implements the MSE.  Not collective. */
int cli_problem_mse(pn_ctx *ctx, const cli_config *cfg, const cli_problem *p, pn_loss **loss_out,
                    double **z0_out, int *batch_out);

#endif
