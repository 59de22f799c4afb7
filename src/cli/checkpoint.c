/* Model files and checkpoints of a training run, in the format of
 * pinode/modelfile.h.  A model file holds the network, θ, the grid and the
 * data scale; a checkpoint adds everything a bitwise-identical continuation
 * needs: the optimiser state, the mini-batch RNG state, the loss history and
 * the configuration it was made with. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static const char *const history_names[5] = {"history.loss", "history.val_loss",
                                             "history.grad_norm", "history.lr",
                                             "history.seconds"};

static void history_arrays(const train_state *st, double *out[5])
{
  out[0] = st->h_loss;
  out[1] = st->h_val;
  out[2] = st->h_gnorm;
  out[3] = st->h_lr;
  out[4] = st->h_sec;
}

/* FNV-1a over `bytes` bytes, from the hash h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t bytes)
{
  const unsigned char *b = data;
  for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

/* A fingerprint of the data a run trains on (times, states and trajectory
 * ids, as read or generated): a resume whose data.file now holds other
 * numbers would be another run under the same keys. */
static uint64_t data_fingerprint(const pn_dataset *d)
{
  uint64_t h = 14695981039346656037ULL;
  h = fnv1a(h, d->traj_id, sizeof(long) * (size_t)d->ntraj);
  h = fnv1a(h, d->offset, sizeof(long) * ((size_t)d->ntraj + 1));
  h = fnv1a(h, d->time, sizeof(double) * (size_t)d->nrows);
  return fnv1a(h, d->z, sizeof(double) * (size_t)d->nrows * (size_t)d->dim);
}

static int fill_state(pn_modelfile *mf, const cli_config *cfg, const cli_problem *p,
                      const train_state *st)
{
  const size_t n = pn_optim_state_size(st->opt);
  double buf[3 + 2 * 4096], *state = buf;
  if (n > sizeof buf / sizeof buf[0] && !(state = malloc(n * sizeof(double))))
    return PN_ERR_MEM;
  pn_optim_get_state(st->opt, state);
  int rc = pn_modelfile_set_array(mf, "optimizer_state", n, state);
  if (state != buf) free(state);
  CLI_TRY(rc);
  CLI_TRY(pn_modelfile_set_u64s(mf, "rng.batch", 4, st->rng.s));
  const uint64_t fingerprint = data_fingerprint(p->data);
  CLI_TRY(pn_modelfile_set_u64s(mf, "data.fingerprint", 1, &fingerprint));
  double *h[5];
  history_arrays(st, h);
  for (int i = 0; i < 5; i++)
    CLI_TRY(pn_modelfile_set_array(mf, history_names[i], (size_t)st->iteration, h[i]));
  for (int i = 0; i < cli_config_nkeys(); i++) {
    const char *name, *def, *acc, *doc;
    char key[96];
    cli_config_key(i, &name, &def, &acc, &doc);
    snprintf(key, sizeof key, "config.%s", name);
    CLI_TRY(pn_modelfile_set(mf, key, cfg->value[i]));
  }
  return PN_OK;
}

int cli_model_fill(pn_ctx *ctx, pn_modelfile *mf, const cli_config *cfg, const cli_problem *p,
                   const train_state *st, int checkpoint)
{
  CLI_TRY(pn_modelfile_set(mf, "content", checkpoint ? "checkpoint" : "model"));
  CLI_TRY(pn_modelfile_set(mf, "written_by", "pinode " PN_VERSION_STRING));
  CLI_TRY(pn_modelfile_set_mlp(mf, &p->spec, st->theta, p->nparam));
  CLI_TRY(pn_modelfile_set(mf, "scheme", cfg->scheme));
  CLI_TRY(pn_modelfile_set_double(mf, "t0", p->sopts.t0));
  CLI_TRY(pn_modelfile_set_double(mf, "t1", p->sopts.t1));
  CLI_TRY(pn_modelfile_set_long(mf, "steps", p->sopts.nsteps));
  CLI_TRY(pn_modelfile_set_double(mf, "data_scale", cfg->scale));
  CLI_TRY(pn_modelfile_set_long(mf, "iteration", st->iteration));
  if (checkpoint) { /* the layout of the run, which a resume keeps (parallel.method = auto) */
    char layout[64];
    snprintf(layout, sizeof layout, "%s %d %d %d", pn_parallel_method_name(p->sopts.method),
             p->sopts.batch_groups > 1 ? p->sopts.batch_groups : 1, p->sopts.microbatches,
             pn_ctx_size(ctx));
    CLI_TRY(pn_modelfile_set(mf, "parallel.layout", layout));
  }
  return checkpoint ? fill_state(mf, cfg, p, st) : PN_OK;
}

int cli_model_write(pn_ctx *ctx, const cli_config *cfg, const cli_problem *p,
                    const train_state *st, int checkpoint, const char *path)
{
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0) {
    pn_modelfile *mf = NULL;
    rc = pn_modelfile_create(ctx, &mf);
    if (rc == PN_OK) rc = cli_model_fill(ctx, mf, cfg, p, st, checkpoint);
    if (rc == PN_OK) rc = pn_modelfile_write(mf, path);
    pn_modelfile_destroy(&mf);
  }
  return pn_ctx_agree(ctx, rc);
}

/* The checkpoint's configuration must be this one, except for the keys that
 * cannot change the trajectory of θ (output, parallel).  The number of
 * iterations may differ only when asked (extend): it sets where the run ends
 * and, unless optimizer.decay_iterations fixes it, the learning-rate
 * schedule, so another number is another run. */
static int same_config(pn_ctx *ctx, const pn_modelfile *mf, const char *path,
                       const cli_config *cfg, int extend)
{
  for (int i = 0; i < cli_config_nkeys(); i++) {
    const char *name, *def, *acc, *doc;
    char key[96];
    cli_config_key(i, &name, &def, &acc, &doc);
    if (strncmp(name, "output.", 7) == 0 || strncmp(name, "parallel.", 9) == 0) continue;
    const int iterations = strcmp(name, "optimizer.iterations") == 0;
    if (iterations && extend) continue;
    snprintf(key, sizeof key, "config.%s", name);
    const char *was = pn_modelfile_get(mf, key);
    if (!was)
      return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: key '%s' is missing: not a checkpoint of this "
                                            "pinode", path, key);
    if (strcmp(was, cfg->value[i]) == 0) continue;
    if (iterations)
      return pn_ctx_fail(ctx, PN_ERR_ARG,
                         "%s was written by a run of optimizer.iterations = %s, but the "
                         "configuration now has %s: that is another run (where it ends, and its "
                         "learning-rate schedule unless optimizer.decay_iterations is set).  "
                         "Resume with the run's own configuration (pinode train --resume DIR "
                         "reads DIR/config.ini), or pass --extend to change the number of "
                         "iterations on purpose",
                         path, was, cfg->value[i]);
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "%s was written with %s = '%s', but the configuration now has '%s': "
                       "resume with the run's own configuration (pinode train --resume DIR reads "
                       "DIR/config.ini)",
                       path, name, was, cfg->value[i]);
  }
  return PN_OK;
}

/* Checkpoints written before the fingerprint existed have none: not checked. */
static int same_data(pn_ctx *ctx, const pn_modelfile *mf, const char *path, const cli_config *cfg,
                     const cli_problem *p)
{
  uint64_t was = 0;
  if (!pn_modelfile_get(mf, "data.fingerprint")) return PN_OK;
  CLI_TRY(pn_modelfile_get_u64s(mf, "data.fingerprint", 1, &was));
  if (was == data_fingerprint(p->data)) return PN_OK;
  return pn_ctx_fail(ctx, PN_ERR_ARG,
                     "%s was written for other data than %s holds now (the fingerprints of its "
                     "times and states differ): resuming would train another run.  Restore the "
                     "run's data (its directory's data.csv holds them, in the data's units), or "
                     "start a new run",
                     path, cfg->source == CLI_SOURCE_CSV ? cfg->file : "the generator");
}

static int restore_state(pn_ctx *ctx, pn_modelfile *mf, const char *path, const cli_problem *p,
                         train_state *st)
{
  long it = 0;
  CLI_TRY(pn_modelfile_get_long(mf, "iteration", 0, 1L << 50, &it));
  if (it > st->cap)
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "%s is at iteration %ld, beyond optimizer.iterations = %ld: raise it to "
                       "continue training",
                       path, it, st->cap);
  pn_mlp_spec spec;
  const double *theta = NULL, *x = NULL;
  int P = 0;
  size_t n = 0;
  CLI_TRY(pn_modelfile_get_mlp(mf, &spec, &theta, &P));
  if (P != p->nparam)
    return pn_ctx_fail(ctx, PN_ERR_ARG, "%s has %d parameters, the model %d", path, P, p->nparam);
  CLI_TRY(pn_modelfile_get_array(mf, "optimizer_state", -1, &x, &n));
  CLI_TRY(pn_optim_set_state(st->opt, x, n));
  if (pn_optim_iteration(st->opt) != it)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: the optimiser state is at update %ld, not %ld",
                       path, pn_optim_iteration(st->opt), it);
  CLI_TRY(pn_modelfile_get_u64s(mf, "rng.batch", 4, st->rng.s));
  double *h[5];
  history_arrays(st, h);
  for (int i = 0; i < 5; i++) {
    CLI_TRY(pn_modelfile_get_array(mf, history_names[i], it, &x, &n));
    if (n > 0) memcpy(h[i], x, n * sizeof(double));
  }
  memcpy(st->theta, theta, sizeof(double) * (size_t)P);
  st->iteration = it;
  st->resumed_from = it;
  return PN_OK;
}

int cli_checkpoint_load(pn_ctx *ctx, const char *path, const cli_config *cfg,
                        const cli_problem *p, train_state *st, int extend)
{
  pn_modelfile *mf = NULL;
  CLI_TRY(pn_modelfile_read(ctx, path, &mf));
  const char *content = pn_modelfile_get(mf, "content");
  int rc = PN_OK;
  if (!content || strcmp(content, "checkpoint") != 0)
    rc = pn_ctx_fail(ctx, PN_ERR_PARSE, "%s is not a checkpoint (content = %s)", path,
                     content ? content : "missing");
  if (rc == PN_OK) rc = same_config(ctx, mf, path, cfg, extend);
  if (rc == PN_OK) rc = same_data(ctx, mf, path, cfg, p);
  if (rc == PN_OK) rc = restore_state(ctx, mf, path, p, st);
  pn_modelfile_destroy(&mf);
  return rc;
}

int cli_checkpoint_layout(pn_ctx *ctx, const char *path, pn_solver_opts *opts, int *found)
{
  pn_modelfile *mf = NULL;
  *found = 0;
  CLI_TRY(pn_modelfile_read(ctx, path, &mf));
  const char *layout = pn_modelfile_get(mf, "parallel.layout");
  char name[32];
  int G = 0, M = 0, ranks = 0;
  pn_parallel_method method = PN_PARALLEL_PIPELINE;
  if (layout && sscanf(layout, "%31s %d %d %d", name, &G, &M, &ranks) == 4 &&
      pn_parallel_method_from_name(name, &method) == PN_OK && G >= 1 && M >= 0 &&
      ranks == pn_ctx_size(ctx)) {
    opts->method = method;
    opts->batch_groups = G;
    opts->microbatches = M;
    *found = 1;
  }
  pn_modelfile_destroy(&mf);
  return PN_OK;
}
