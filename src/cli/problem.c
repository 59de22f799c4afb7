/* The objects a training configuration describes: data (generated or read,
 * scaled, checked against the grid), the train/validation split, the MLP and
 * its initial θ, the tableau and the solver options. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static int load_data(pn_ctx *ctx, const cli_config *cfg, pn_dataset **out)
{
  if (cfg->source == CLI_SOURCE_CSV) {
    CLI_TRY(cli_read_dataset(ctx, cfg->file, out));
  } else {
    pn_generator_opts g;
    pn_generator_opts_default((pn_generator_kind)cfg->source, &g);
    g.ntraj = (int)cfg->trajectories;
    g.npoints = (int)cfg->points;
    g.t0 = cfg->data_t0;
    if (!isnan(cfg->data_t1)) g.t1 = cfg->data_t1;
    g.noise = cfg->noise;
    g.seed = cfg->data_seed;
    g.substeps = (int)cfg->substeps;
    /* Deterministic: every rank generates the same data, no broadcast needed. */
    CLI_TRY(pn_dataset_generate(ctx, &g, out));
  }
  if (cfg->scale != 1.0) CLI_TRY(pn_dataset_scale(ctx, *out, cfg->scale));
  return PN_OK;
}

/* The interval: from the config, or the data's first and last times. */
static void interval(const cli_config *cfg, const pn_dataset *ds, double *t0, double *t1)
{
  double lo = INFINITY, hi = -INFINITY;
  for (int j = 0; j < ds->ntraj; j++) {
    lo = fmin(lo, ds->time[ds->offset[j]]);
    hi = fmax(hi, ds->time[ds->offset[j + 1] - 1]);
  }
  *t0 = isnan(cfg->t0) ? lo : cfg->t0;
  *t1 = isnan(cfg->t1) ? hi : cfg->t1;
}

/* θ from model.init: a model file of exactly this shape. */
static int init_from_file(pn_ctx *ctx, const cli_config *cfg, const cli_problem *p)
{
  pn_modelfile *mf = NULL;
  CLI_TRY(pn_modelfile_read(ctx, cfg->init, &mf));
  pn_mlp_spec s;
  const double *theta = NULL;
  int P = 0, rc = pn_modelfile_get_mlp(mf, &s, &theta, &P);
  int same = rc == PN_OK && s.dim == p->spec.dim && s.nhidden == p->spec.nhidden &&
             s.time_input == p->spec.time_input && P == p->nparam;
  for (int l = 0; same && l < s.nhidden; l++)
    same = s.widths[l] == p->spec.widths[l] && s.acts[l] == p->spec.acts[l];
  if (rc == PN_OK && !same)
    rc = pn_ctx_fail(ctx, PN_ERR_ARG,
                     "model.init = %s: its network (D = %d, %d hidden layers, %d parameters) is "
                     "not the one of [model] (D = %d, %d hidden layers, %d parameters)",
                     cfg->init, s.dim, s.nhidden, P, p->spec.dim, p->spec.nhidden, p->nparam);
  if (rc == PN_OK) memcpy(p->theta, theta, sizeof(double) * (size_t)P);
  pn_modelfile_destroy(&mf);
  return rc;
}

static int build_model(pn_ctx *ctx, const cli_config *cfg, cli_problem *p)
{
  p->spec.dim = p->data->dim;
  p->spec.nhidden = cfg->nhidden;
  p->spec.widths = cfg->widths;
  for (int l = 0; l < cfg->nhidden; l++)
    p->acts[l] = (pn_activation)cfg->acts[cfg->nacts == 1 ? 0 : l];
  p->spec.acts = p->acts;
  p->spec.time_input = cfg->time_input;
  CLI_TRY(pn_model_create_mlp(ctx, &p->spec, &p->model));
  p->nparam = pn_model_nparam(p->model);
  p->theta = calloc((size_t)p->nparam, sizeof(double));
  if (!p->theta) return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for %d parameters", p->nparam);
  if (cfg->init[0]) return init_from_file(ctx, cfg, p);
  CLI_TRY(pn_model_init_params(p->model, cfg->model_seed, p->theta));
  return PN_OK;
}

static int build_split(pn_ctx *ctx, const cli_config *cfg, cli_problem *p)
{
  const int n = p->data->ntraj;
  p->train = calloc(2 * (size_t)n, sizeof(int));
  if (!p->train) return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the split");
  p->val = p->train + n;
  if (pn_dataset_split(ctx, p->data, cfg->validation, cfg->data_seed, p->train, &p->ntrain,
                       p->val, &p->nval) != PN_OK) {
    char why[1024];
    snprintf(why, sizeof why, "%s", pn_ctx_last_error(ctx));
    return pn_ctx_fail(ctx, PN_ERR_ARG, "data.validation = %g: %s", cfg->validation, why);
  }
  if (cfg->batch_size > p->ntrain)
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "optimizer.batch_size = %ld, but there are only %d training trajectories "
                       "(%d in all, data.validation = %g)",
                       cfg->batch_size, p->ntrain, n, cfg->validation);
  p->batch = cfg->batch_size > 0 ? (int)cfg->batch_size : p->ntrain;
  if (p->batch < cfg->batch_groups)
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "parallel.batch_groups = %ld needs mini-batches of at least %ld "
                       "trajectories, but they have %d (optimizer.batch_size = %ld, %d training "
                       "trajectories)",
                       cfg->batch_groups, cfg->batch_groups, p->batch, cfg->batch_size, p->ntrain);
  return PN_OK;
}

static int solver_options(pn_ctx *ctx, const cli_config *cfg, cli_problem *p)
{
  pn_solver_opts *o = &p->sopts;
  pn_solver_opts_default(o);
  interval(cfg, p->data, &o->t0, &o->t1);
  if (!(o->t1 > o->t0))
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "the interval [%.17g, %.17g] (solver.t0/t1, from the data when 'data') is "
                       "empty",
                       o->t0, o->t1);
  o->nsteps = cfg->steps;
  if (cli_parse_storage(cfg->storage, o) != PN_OK)
    return pn_ctx_fail(ctx, PN_ERR_ARG, "solver.storage = %s is not accepted", cfg->storage);
  o->memory_limit = (size_t)(cfg->memory_limit_mb * 1048576.0);
  o->microbatches = (int)cfg->microbatches;
  const int ranks = pn_ctx_size(ctx);
  if (cfg->batch_groups > ranks || ranks % cfg->batch_groups != 0)
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "parallel.batch_groups = %ld on %d ranks: the groups must be of equal "
                       "size (use a divisor of %d)",
                       cfg->batch_groups, ranks, ranks);
  o->batch_groups = (int)cfg->batch_groups;
  o->check_finite = cfg->check_finite;
  /* auto: the pipeline until the program chooses (cmd_train.c) */
  o->method = cfg->parallel_method == CLI_PARALLEL_AUTO ? PN_PARALLEL_PIPELINE
                                                        : (pn_parallel_method)cfg->parallel_method;
  o->parareal.max_iter = (int)cfg->parareal_max_iter;
  o->parareal.tol = cfg->parareal_tol;
  o->parareal.coarse_steps = cfg->coarse_steps;
  o->parareal.adjoint = (pn_parareal_adjoint)cfg->parareal_adjoint;
  if (strlen(cfg->coarse_scheme) >= sizeof o->parareal.coarse_scheme)
    return pn_ctx_fail(ctx, PN_ERR_ARG, "parallel.coarse_scheme = %.64s is not a scheme name",
                       cfg->coarse_scheme);
  if (strcmp(cfg->coarse_scheme, "same") != 0) {
    snprintf(o->parareal.coarse_scheme, sizeof o->parareal.coarse_scheme, "%.*s",
             (int)sizeof o->parareal.coarse_scheme - 1, cfg->coarse_scheme); /* fits: checked */
    snprintf(o->newton.coarse_scheme, sizeof o->newton.coarse_scheme, "%s",
             o->parareal.coarse_scheme);
  }
  o->newton.max_iter = (int)cfg->newton_max_iter;
  o->newton.tol = cfg->newton_tol;
  o->newton.start = (pn_newton_start)cfg->newton_start;
  o->newton.growth_limit = cfg->newton_growth_limit;
  o->newton.coarse_steps = cfg->coarse_steps;
  if ((o->method == PN_PARALLEL_PARAREAL || o->method == PN_PARALLEL_NEWTON) &&
      (cfg->adjoint != PN_ADJOINT_DISCRETE || cfg->sweep != PN_SWEEP_MULTI))
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "parallel.method = %s computes the discrete multi-point adjoint only: "
                       "set adjoint.method = discrete and adjoint.sweep = multi, or use "
                       "parallel.method = pipeline or auto",
                       pn_parallel_method_name(o->method));
  const int rc = pn_dataset_check_grid(ctx, p->data, o->t0, o->t1, o->nsteps);
  cli_print_notes(ctx);
  return rc;
}

int cli_problem_build(pn_ctx *ctx, const cli_config *cfg, cli_problem *p)
{
  memset(p, 0, sizeof *p);
  CLI_TRY(load_data(ctx, cfg, &p->data));
  CLI_TRY(solver_options(ctx, cfg, p));
  CLI_TRY(build_split(ctx, cfg, p));
  CLI_TRY(build_model(ctx, cfg, p));
  CLI_TRY(pn_tableau_create(ctx, cfg->scheme, &p->tab));
  return PN_OK;
}

void cli_problem_free(cli_problem *p)
{
  pn_tableau_destroy(&p->tab);
  pn_model_destroy(&p->model);
  pn_dataset_destroy(&p->data);
  free(p->train);
  free(p->theta);
  memset(p, 0, sizeof *p);
}

int cli_problem_mse(pn_ctx *ctx, const cli_config *cfg, const cli_problem *p, pn_loss **loss_out,
                    double **z0_out, int *batch_out)
{
  const pn_dataset *ds = p->data;
  const int B = p->ntrain, D = ds->dim;
  const int j0 = p->train[0];
  const long R = ds->offset[j0 + 1] - ds->offset[j0], K = R - 1;
  *loss_out = NULL;
  *z0_out = NULL;
  for (int b = 0; b < B; b++) {
    const int j = p->train[b];
    int same = ds->offset[j + 1] - ds->offset[j] == R;
    for (long r = 0; same && r < R; r++) same = ds->time[ds->offset[j] + r] == ds->time[ds->offset[j0] + r];
    if (!same)
      return pn_ctx_fail(ctx, PN_ERR_ARG,
                         "%s: trajectories %ld and %ld are not observed at the same times; an "
                         "ordinary MSE loss needs common times",
                         ds->source, ds->traj_id[j0], ds->traj_id[j]);
  }
  if (K < 1) return pn_ctx_fail(ctx, PN_ERR_ARG, "%s: no observations after t0", ds->source);
  double *y = calloc((size_t)K * (size_t)B * (size_t)D + (size_t)K, sizeof(double));
  double *z0 = calloc((size_t)B * (size_t)D, sizeof(double));
  if (!y || !z0) {
    free(y);
    free(z0);
    return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the MSE targets");
  }
  double *w = y + (size_t)K * B * D;
  for (int b = 0; b < B; b++) {
    const long r0 = ds->offset[p->train[b]];
    memcpy(z0 + (size_t)b * D, ds->z + (size_t)r0 * D, sizeof(double) * (size_t)D);
    for (long k = 0; k < K; k++)
      memcpy(y + ((size_t)k * B + (size_t)b) * D, ds->z + (size_t)(r0 + 1 + k) * D,
             sizeof(double) * (size_t)D);
  }
  /* pn_loss_create_mse scales each label by w_k/(B·D): w_k = 1/K gives the
   * masked mean over all K·B·D values, w_k = B·D their plain sum. */
  for (long k = 0; k < K; k++) w[k] = cfg->reduction == PN_REDUCE_MEAN ? 1.0 / (double)K : (double)B * D;
  const int rc = pn_loss_create_mse(ctx, (int)K, ds->time + ds->offset[j0] + 1, y, w, B, D, loss_out);
  free(y);
  if (rc != PN_OK) {
    free(z0);
    return rc;
  }
  *z0_out = z0;
  *batch_out = B;
  return PN_OK;
}
