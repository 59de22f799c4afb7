/* pinode predict CONFIG --model FILE: integrate a trained model from initial
 * states (the config's data, or a CSV) over the config's grid and write the
 * trajectories. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode predict [options] CONFIG --model FILE\n"
            "\n"
            "Integrates the network of the model file FILE (written by pinode train) from the\n"
            "first row of every trajectory of CONFIG's data, or of --initial CSV, over the grid\n"
            "of CONFIG's [solver] section, and writes the states every output.predict_every\n"
            "steps as CSV (trajectory, time and the states named as the data names them, in the\n"
            "data's units; scripts/plot_predictions.py draws them), or as HDF5 when --out ends\n"
            "in .h5 (datasets time and z, each rank writing its block of times; deflate level\n"
            "output.compress).  Runs on any number of MPI ranks.\n"
            "\n"
            "options:\n"
            "  --model FILE             the trained model (required)\n"
            "  --initial CSV            initial states: the first row of each trajectory (its\n"
            "                           time must be solver.t0)\n"
            "  --out FILE               output CSV, or HDF5 if FILE ends in .h5 (default\n"
            "                           predictions.csv)\n"
            "  --force                  overwrite --out if it exists\n"
            "  --set SECTION.KEY=VALUE  override a key of CONFIG (e.g. solver.t1 to extrapolate)\n"
            "  --quiet                  print nothing on success\n"
            "  -h, --help               this text\n");
  cli_print(ctx, "%s", cli_exit_status_help);
}

typedef struct predict_args {
  const char *config, *model, *initial, *out;
  char *sets[256];
  int nsets, force, quiet;
} predict_args;

static int parse_args(pn_ctx *ctx, int argc, char **argv, predict_args *a)
{
  static const struct option longopts[] = {
      {"model", required_argument, NULL, 'm'}, {"initial", required_argument, NULL, 'i'},
      {"out", required_argument, NULL, 'o'},   {"force", no_argument, NULL, 'f'},
      {"set", required_argument, NULL, 's'},   {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
  memset(a, 0, sizeof *a);
  a->out = "predictions.csv";
  optind = 1;
  opterr = pn_ctx_rank(ctx) == 0;
  for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
    switch (c) {
    case 'm': a->model = optarg; break;
    case 'i': a->initial = optarg; break;
    case 'o': a->out = optarg; break;
    case 'f': a->force = 1; break;
    case 'q': a->quiet = 1; break;
    case 's':
      if (a->nsets == 256) return 2;
      a->sets[a->nsets++] = optarg;
      break;
    case 'h': usage(ctx); return 0;
    default: usage(ctx); return 2;
    }
  }
  if (argc - optind != 1 || !a->model) {
    usage(ctx);
    if (argc == optind)
      return cli_usage_error(ctx, "predict", "CONFIG is missing: the configuration the model was "
                                             "trained with (its grid, data and scale)");
    if (argc - optind > 1)
      return cli_usage_error(ctx, "predict", "one CONFIG expected, got %d arguments",
                             argc - optind);
    return cli_usage_error(ctx, "predict", "--model FILE is missing: the model to integrate "
                                           "(pinode train writes OUTDIR/model.pinode)");
  }
  a->config = argv[optind];
  return -1;
}

/* The network and θ of a model file, and the scale of the data it was
 * trained on. */
typedef struct loaded {
  pn_modelfile *mf;
  pn_model *model;
  const double *theta;
  double scale;
} loaded;

static int load_model(pn_ctx *ctx, const char *path, int dim, loaded *L)
{
  pn_mlp_spec spec;
  int P = 0;
  CLI_TRY(pn_modelfile_read(ctx, path, &L->mf));
  CLI_TRY(pn_modelfile_get_mlp(L->mf, &spec, &L->theta, &P));
  CLI_TRY(pn_modelfile_get_double(L->mf, "data_scale", &L->scale));
  if (!(L->scale > 0) || !isfinite(L->scale))
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: data_scale = %g: need a number > 0", path, L->scale);
  if (spec.dim != dim)
    return pn_ctx_fail(ctx, PN_ERR_ARG, "%s is a model of dimension %d, but the data has D = %d",
                       path, spec.dim, dim);
  return pn_model_create_mlp(ctx, &spec, &L->model);
}

/* The states' names of ds, comma-separated, into buf (cut short if long). */
static const char *names_text(const pn_dataset *ds, char *buf, size_t n)
{
  size_t len = 0;
  buf[0] = '\0';
  for (int d = 0; d < ds->dim && len < n; d++) {
    char z[32];
    len += (size_t)snprintf(buf + len, n - len, "%s%s", d ? "," : "",
                            pn_dataset_name(ds, d, z, sizeof z));
  }
  return buf;
}

/* The states of --initial are the data's, column by column, and the
 * output names them as the data does; other names in its header are said
 * (a reordered header would mix up the states); data without names takes
 * those of --initial. */
static int match_names(pn_ctx *ctx, pn_dataset *initial, const pn_dataset *data)
{
  for (int d = 0; initial->names && data->names && d < data->dim; d++)
    if (strcmp(initial->names[d], data->names[d]) != 0) {
      char a[256], b[256];
      if (pn_ctx_rank(ctx) == 0)
        fprintf(stderr,
                "pinode predict: warning: %s names its states %s, the data of the "
                "configuration (%s) %s: states are matched by column, and named as the data "
                "names them\n",
                initial->source, names_text(initial, a, sizeof a), data->source,
                names_text(data, b, sizeof b));
      break;
    }
  if (!data->names) return PN_OK;
  return pn_dataset_set_names(ctx, initial, (const char *const *)data->names);
}

/* Initial states from a CSV: the first row of each trajectory, at t0 (by
 * the grid's own rule: pn_dataset_check_grid on those rows). */
static int load_initial(pn_ctx *ctx, const char *path, const pn_solver_opts *so,
                        const pn_dataset *data, double scale, pn_dataset **out)
{
  const int dim = data->dim;
  CLI_TRY(cli_read_dataset(ctx, path, out));
  const pn_dataset *ds = *out;
  if (ds->dim != dim)
    return pn_ctx_fail(ctx, PN_ERR_ARG, "%s has D = %d, the model %d", path, ds->dim, dim);
  CLI_TRY(match_names(ctx, *out, data));
  pn_dataset *first = NULL;
  CLI_TRY(pn_dataset_create(ctx, dim, ds->ntraj, 1, &first));
  snprintf(first->source, sizeof first->source, "%s", ds->source);
  for (int j = 0; j < ds->ntraj; j++) {
    first->traj_id[j] = ds->traj_id[j];
    first->time[j] = ds->time[ds->offset[j]];
    first->line[j] = ds->line[ds->offset[j]];
  }
  const int rc = pn_dataset_check_grid(ctx, first, so->t0, so->t1, so->nsteps);
  pn_dataset_destroy(&first);
  cli_print_notes(ctx);
  CLI_TRY(rc);
  return pn_dataset_scale(ctx, *out, scale);
}

static int check_out(pn_ctx *ctx, const predict_args *a)
{
  int rc = PN_OK;
  if (cli_is_h5(a->out) && !pn_h5_available())
    return pn_h5_write(ctx, a->out, NULL, NULL); /* the message of a build without HDF5 */
  if (pn_ctx_rank(ctx) == 0 && !a->force && access(a->out, F_OK) == 0)
    rc = pn_ctx_fail(ctx, PN_ERR_IO, "%s exists; nothing was overwritten (pass --force to replace it)",
                     a->out);
  return pn_ctx_agree(ctx, rc);
}

static int predict(pn_ctx *ctx, const predict_args *a, cli_config *cfg, cli_problem *p,
                   loaded *L, pn_dataset **initial)
{
  CLI_TRY(cli_config_load(ctx, a->config, a->nsets, a->sets, cfg));
  CLI_TRY(check_out(ctx, a));
  CLI_TRY(cli_problem_build(ctx, cfg, p));
  CLI_TRY(load_model(ctx, a->model, p->data->dim, L));
  const pn_dataset *init = p->data;
  double scale = cfg->scale;
  if (a->initial) {
    CLI_TRY(load_initial(ctx, a->initial, &p->sopts, p->data, L->scale, initial));
    init = *initial;
    scale = L->scale;
  } else if (scale != L->scale) {
    char num[PN_DOUBLE_CHARS];
    return pn_ctx_fail(ctx, PN_ERR_ARG,
                       "%s was trained on data scaled by %g, but data.scale = %g in %s: set "
                       "--set data.scale=%s",
                       a->model, L->scale, scale, a->config, pn_format_double(L->scale, num));
  }
  const double t = MPI_Wtime();
  const cli_predict_out o = {a->out, a->model, cfg->predict_every, (int)cfg->compress};
  CLI_TRY(cli_predict_write(ctx, L->model, p->tab, &p->sopts, L->theta, init, scale, &o));
  if (!a->quiet)
    cli_print(ctx, "%s: %d trajectories over [%g, %g] (%s, %ld steps) in %.3f s on %d rank(s) -> %s\n",
              a->model, init->ntraj, p->sopts.t0, p->sopts.t1, cfg->scheme, p->sopts.nsteps,
              MPI_Wtime() - t, pn_ctx_size(ctx), a->out);
  return PN_OK;
}

int cmd_predict(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv)
{
  (void)comm; /* predict's agreements are on the library's status (pn_ctx_agree) */
  predict_args a;
  const int status = parse_args(ctx, argc, argv, &a);
  if (status >= 0) return status;
  cli_config *cfg = calloc(1, sizeof *cfg);
  cli_problem p;
  memset(&p, 0, sizeof p);
  loaded L = {NULL, NULL, NULL, 1.0};
  pn_dataset *initial = NULL;
  int rc = cfg ? predict(ctx, &a, cfg, &p, &L, &initial)
               : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the configuration");
  pn_dataset_destroy(&initial);
  pn_model_destroy(&L.model);
  pn_modelfile_destroy(&L.mf);
  cli_problem_free(&p);
  free(cfg);
  return rc == PN_OK ? 0 : cli_fail(ctx, "predict", rc);
}
