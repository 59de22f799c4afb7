/* The training configuration (see config.h).  libinih splits the INI text into
 * (section, key, value); every value is then checked against the key table
 * below, which is also the documentation of the keys (pinode train
 * --list-keys, README "Configuration reference"). */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"

typedef enum kind { T_INT, T_REAL, T_BOOL, T_ENUM, T_STRING, T_PATH, T_WIDTHS, T_ACTS, T_U64 } kind;

typedef struct key {
  const char *section, *name;
  kind type;
  size_t off;               /* field of cli_config */
  const char *def;          /* default text; NULL: required */
  double lo, hi;            /* T_INT / T_REAL bounds, inclusive (lo exclusive if open) */
  int open;
  const char *word;         /* T_INT / T_REAL: a word accepted instead (stored as −1 / NAN) */
  const char *const *names; /* T_ENUM, NULL-terminated; T_STRING: allowed values or NULL */
  const char *accepted;     /* for messages and the reference */
  const char *doc;
} key;

static const char *const act_names[] = {"identity", "tanh",  "softplus", "sigmoid",
                                        "relu",     "silu", NULL};
static const char *const adjoint_names[] = {"discrete", "continuous-backsolve",
                                            "continuous-interp", NULL};
static const char *const sweep_names[] = {"multi", "single", NULL};
static const char *const source_names[] = {"spiral", "lotka_volterra", "pendulum", "lorenz",
                                           "csv", NULL};
static const char *const loss_names[] = {"mse", NULL};
static const char *const reduction_names[] = {"mean", "sum", NULL};
static const char *const method_names[] = {"adam", "sgd", NULL};
static const char *const schedule_names[] = {"constant", "step", "exponential", "cosine", NULL};
static const char *const parallel_names[] = {"pipeline", "parareal", "newton", "auto", NULL};
static const char *const newton_start_names[] = {"auto", "flat", "coarse", "coarse-newton", NULL};
static const char *const parareal_adjoint_names[] = {"iterate", "maps", NULL};

#define F(field) offsetof(cli_config, field)
#define BIG 1e15
/* Longest line libinih reads (its buffer holds the newline and the NUL). */
#define INI_LINE_MAX (INI_MAX_LINE - 2)
static const key keys[] = {
    {"model", "hidden", T_WIDTHS, F(widths), "32 32", 0, 0, 0, NULL, NULL,
     "widths 1..1048576, at most 64 (empty: no hidden layer)", "widths of the hidden layers"},
    {"model", "activation", T_ACTS, F(acts), "tanh", 0, 0, 0, NULL, act_names,
     "identity, tanh, softplus, sigmoid, relu, silu: one, or one per hidden layer",
     "activation of the hidden layers"},
    {"model", "time_input", T_BOOL, F(time_input), "false", 0, 0, 0, NULL, NULL, "true, false",
     "feed t to the network as an extra input"},
    {"model", "seed", T_U64, F(model_seed), "1", 0, 0, 0, NULL, NULL, "an integer 0..2^64-1",
     "seed of the initial weights (Glorot uniform, zero biases)"},
    {"model", "init", T_PATH, F(init), "", 0, 0, 0, NULL, NULL,
     "a model file of the same shape, or empty", "start from these weights instead"},
    {"solver", "scheme", T_STRING, F(scheme), "rk4", 0, 0, 0, NULL, NULL,
     "euler, midpoint, heun, ralston, kutta3, ssprk3, rk4, rk38, dopri5",
     "explicit Runge-Kutta scheme"},
    {"solver", "steps", T_INT, F(steps), NULL, 1, BIG, 0, NULL, NULL, "an integer >= 1",
     "fixed steps N over [t0, t1]; every observation time must be a grid point"},
    {"solver", "t0", T_REAL, F(t0), "data", -BIG, BIG, 0, "data", NULL,
     "a number, or data (the first observation time)", "start of the interval"},
    {"solver", "t1", T_REAL, F(t1), "data", -BIG, BIG, 0, "data", NULL,
     "a number > t0, or data (the last observation time)", "end of the interval"},
    {"solver", "storage", T_STRING, F(storage), "all", 0, 0, 0, NULL, NULL,
     CLI_STORAGE_NAMES,
     "trajectory storage for the backward sweep: every stage's values, every state, every "
     "K-th, C binomial checkpoints, or the fastest that fits solver.memory_limit_mb (as "
     "pinode gradient --storage)"},
    {"solver", "memory_limit_mb", T_REAL, F(memory_limit_mb), "0", 0, BIG, 0, NULL, NULL,
     "a number >= 0 (0: no limit)", "memory the solver may hold per rank, in MiB"},
    {"solver", "check_finite", T_BOOL, F(check_finite), "true", 0, 0, 0, NULL, NULL,
     "true, false", "stop at the first NaN/Inf state (naming step, time and rank)"},
    {"adjoint", "method", T_ENUM, F(adjoint), "discrete", 0, 0, 0, NULL, adjoint_names,
     "discrete, continuous-backsolve, continuous-interp",
     "gradient: exact discrete adjoint, or a continuous adjoint (not the exact gradient)"},
    {"adjoint", "sweep", T_ENUM, F(sweep), "multi", 0, 0, 0, NULL, sweep_names, "multi, single",
     "one backward sweep with every label, or one per label (K times dearer)"},
    {"data", "source", T_ENUM, F(source), NULL, 0, 0, 0, NULL, source_names,
     "spiral, lotka_volterra, pendulum, lorenz, csv", "a built-in generator or a CSV file"},
    {"data", "file", T_PATH, F(file), "", 0, 0, 0, NULL, NULL,
     "a CSV path, or an HDF5 trajectory file ending in .h5 (relative paths: from the config "
     "file's directory)",
     "the data file (source = csv only)"},
    {"data", "trajectories", T_INT, F(trajectories), "16", 1, 1e6, 0, NULL, NULL,
     "an integer 1..1000000", "generated trajectories (generators only)"},
    {"data", "points", T_INT, F(points), "21", 2, 1e7, 0, NULL, NULL, "an integer 2..10000000",
     "observations per generated trajectory, evenly spaced on [t0, t1] (generators only)"},
    {"data", "t0", T_REAL, F(data_t0), "0", -BIG, BIG, 0, NULL, NULL, "a number",
     "first generated observation time (generators only)"},
    {"data", "t1", T_REAL, F(data_t1), "auto", -BIG, BIG, 0, "auto", NULL,
     "a number > data.t0, or auto (spiral 2, lotka_volterra 5, pendulum 5, lorenz 1)",
     "last generated observation time (generators only)"},
    {"data", "noise", T_REAL, F(noise), "0", 0, BIG, 0, NULL, NULL, "a number >= 0",
     "std of Gaussian noise added to generated observations (generators only)"},
    {"data", "substeps", T_INT, F(substeps), "50", 1, 100000, 0, NULL, NULL,
     "an integer 1..100000", "RK4 steps per observation interval of the ground truth (generators only)"},
    {"data", "seed", T_U64, F(data_seed), "1", 0, 0, 0, NULL, NULL, "an integer 0..2^64-1",
     "seed of generated initial states and noise, and of the validation split"},
    {"data", "validation", T_REAL, F(validation), "0.25", 0, 1, 2, NULL, NULL,
     "a number in [0, 1), leaving >= 1 training trajectory",
     "fraction of trajectories held out for validation"},
    {"data", "scale", T_REAL, F(scale), "1", 0, BIG, 1, NULL, NULL, "a number > 0",
     "multiply every state by this (e.g. to bring Lorenz-63 to O(1))"},
    {"loss", "kind", T_ENUM, F(loss_kind), "mse", 0, 0, 0, NULL, loss_names, "mse",
     "squared error at every observation after t0 (masked where a trajectory has none)"},
    {"loss", "reduction", T_ENUM, F(reduction), "mean", 0, 0, 0, NULL, reduction_names,
     "mean, sum", "mean over observed values, or their plain sum"},
    {"optimizer", "method", T_ENUM, F(method), "adam", 0, 0, 0, NULL, method_names, "adam, sgd",
     "Adam, or SGD with momentum"},
    {"optimizer", "lr", T_REAL, F(lr), "0.01", 0, BIG, 1, NULL, NULL, "a number > 0",
     "learning rate"},
    {"optimizer", "beta1", T_REAL, F(beta1), "0.9", 0, 1, 2, NULL, NULL, "a number in [0, 1)",
     "Adam: decay of the first moment"},
    {"optimizer", "beta2", T_REAL, F(beta2), "0.999", 0, 1, 2, NULL, NULL, "a number in [0, 1)",
     "Adam: decay of the second moment"},
    {"optimizer", "eps", T_REAL, F(eps), "1e-8", 0, BIG, 1, NULL, NULL, "a number > 0",
     "Adam: added to the root of the second moment"},
    {"optimizer", "momentum", T_REAL, F(momentum), "0.9", 0, 1, 2, NULL, NULL,
     "a number in [0, 1)", "SGD: momentum"},
    {"optimizer", "nesterov", T_BOOL, F(nesterov), "false", 0, 0, 0, NULL, NULL, "true, false",
     "SGD: Nesterov momentum"},
    {"optimizer", "weight_decay", T_REAL, F(weight_decay), "0", 0, BIG, 0, NULL, NULL,
     "a number >= 0", "L2 term: adds weight_decay * theta to the gradient"},
    {"optimizer", "clip_norm", T_REAL, F(clip_norm), "0", 0, BIG, 0, NULL, NULL,
     "a number >= 0 (0: off)", "rescale gradients whose 2-norm exceeds this"},
    {"optimizer", "schedule", T_ENUM, F(schedule), "constant", 0, 0, 0, NULL, schedule_names,
     "constant, step, exponential, cosine",
     "learning rate at update i: lr; lr*rate^floor(i/T); lr*rate^(i/T); cosine from lr to lr_min over T"},
    {"optimizer", "decay_iterations", T_INT, F(decay_iterations), "auto", 1, BIG, 0, "auto", NULL,
     "an integer >= 1, or auto (= iterations)", "T of the schedule"},
    {"optimizer", "decay_rate", T_REAL, F(decay_rate), "0.5", 0, 1, 1, NULL, NULL,
     "a number in (0, 1]", "factor of the step and exponential schedules"},
    {"optimizer", "lr_min", T_REAL, F(lr_min), "0", 0, BIG, 0, NULL, NULL, "a number in [0, lr]",
     "floor of the cosine schedule"},
    {"optimizer", "warmup", T_INT, F(warmup), "0", 0, BIG, 0, NULL, NULL, "an integer >= 0",
     "linear warm-up: lr*(i+1)/warmup for the first warmup updates"},
    {"optimizer", "iterations", T_INT, F(iterations), "500", 1, BIG, 0, NULL, NULL,
     "an integer >= 1", "updates to apply"},
    {"optimizer", "batch_size", T_INT, F(batch_size), "0", 0, BIG, 0, NULL, NULL,
     "an integer 0..training trajectories (0: all)",
     "trajectories per mini-batch, drawn without replacement"},
    {"optimizer", "seed", T_U64, F(optim_seed), "1", 0, 0, 0, NULL, NULL, "an integer 0..2^64-1",
     "seed of the mini-batch draws"},
    {"parallel", "microbatches", T_INT, F(microbatches), "0", 0, 1e6, 0, NULL, NULL,
     "an integer >= 0 (0: automatic)", "pipeline micro-batches over the ranks"},
    {"parallel", "batch_groups", T_INT, F(batch_groups), "1", 1, 1e6, 0, NULL, NULL,
     "an integer >= 1 that divides the number of ranks",
     "groups of ranks that split each mini-batch among them (each group splits time among "
     "its ranks)"},
    {"parallel", "method", T_ENUM, F(parallel_method), "auto", 0, 0, 0, NULL, parallel_names,
     "pipeline, parareal, newton, auto",
     "time parallelism: exact micro-batch pipeline, Parareal or Newton shooting (iterative; for "
     "few long trajectories; discrete multi-point adjoint only), or auto: the layout the "
     "performance model predicts fastest on these ranks (pipeline and its micro-batches, batch "
     "groups, Newton, Parareal), chosen and printed at the start"},
    {"parallel", "parareal_max_iter", T_INT, F(parareal_max_iter), "0", 0, 1e6, 0, NULL, NULL,
     "an integer >= 0 (0: the number of ranks, which is exact)", "most Parareal iterations"},
    {"parallel", "parareal_tol", T_REAL, F(parareal_tol), "0", 0, 1, 2, NULL, NULL,
     "a number in [0, 1) (0: until the block starts stop changing)",
     "stop when the largest relative change of a block's initial state is at most this"},
    {"parallel", "coarse_steps", T_INT, F(coarse_steps), "0", 0, BIG, 0, NULL, NULL,
     "an integer >= 0 (0: a tenth of the block's steps for Parareal, a sixteenth for Newton)",
     "steps of the coarse propagator per rank block (Parareal's, and Newton's coarse starts)"},
    {"parallel", "coarse_scheme", T_STRING, F(coarse_scheme), "same", 0, 0, 0, NULL, NULL,
     "same (the solver's scheme) or a scheme name: euler, midpoint, heun, ralston, kutta3, "
     "ssprk3, rk4, rk38, dopri5",
     "scheme of the coarse propagator (Parareal's, and Newton's coarse starts)"},
    {"parallel", "parareal_adjoint", T_ENUM, F(parareal_adjoint), "iterate", 0, 0, 0, NULL,
     parareal_adjoint_names, "iterate, maps",
     "Parareal's backward sweep: iterate (Parareal on the adjoint) or maps (each block's affine "
     "map, composed in one pass; D + 2 adjoint sweeps a block)"},
    {"parallel", "newton_max_iter", T_INT, F(newton_max_iter), "0", 0, 1e6, 0, NULL, NULL,
     "an integer >= 0 (0: the number of ranks, after which every block start is exact)",
     "most Newton sweeps; a gradient not converged by then falls back to the pipeline"},
    {"parallel", "newton_tol", T_REAL, F(newton_tol), "0", 0, 1, 2, NULL, NULL,
     "a number in [0, 1) (0: 1e-13, rounding level: the exact gradient)",
     "stop Newton's sweeps when the largest relative defect of a block start is at most this"},
    {"parallel", "newton_start", T_ENUM, F(newton_start), "auto", 0, 0, 0, NULL,
     newton_start_names, "auto, flat, coarse, coarse-newton",
     "Newton's cold start (a gradient whose initial states differ from the last one's): auto "
     "(coarse-newton, else the serial coarse sweep), flat (every block from z0), coarse (the "
     "serial coarse sweep) or coarse-newton (Newton on the coarse propagator)"},
    {"parallel", "newton_growth_limit", T_REAL, F(newton_growth_limit), "0", 0, BIG, 0, NULL,
     NULL, "a number >= 0 (0: 1e6)",
     "fall back to the pipeline when a perturbation grows by more than this over the horizon"},
    {"parallel", "timeout", T_REAL, F(timeout), "0", 0, BIG, 0, NULL, NULL,
     "a number of seconds >= 0 (0: no limit)",
     "the longest one training iteration may take (gradient, validation, checkpoint): past it "
     "every rank stops, the last completed iteration is checkpointed and the run exits with "
     "status 1; a rank that cannot stop (stopped, hung) makes the others exit 10 s + a tenth "
     "of the timeout later (pinode train --timeout)"},
    {"output", "dir", T_STRING, F(dir), "auto", 0, 0, 0, NULL, NULL,
     "a directory, or auto (out/<config name>)", "where the run writes its files"},
    {"output", "overwrite", T_BOOL, F(overwrite), "false", 0, 0, 0, NULL, NULL, "true, false",
     "allow a run in an existing, non-empty output directory: the files a run writes there "
     "(checkpoint first) are removed before it starts; other files stay"},
    {"output", "checkpoint_every", T_INT, F(checkpoint_every), "100", 0, BIG, 0, NULL, NULL,
     "an integer >= 0 (0: only at the end or on a signal)", "iterations between checkpoints"},
    {"output", "log_every", T_INT, F(log_every), "10", 1, BIG, 0, NULL, NULL, "an integer >= 1",
     "iterations between progress lines (when not on a terminal)"},
    {"output", "validate_every", T_INT, F(validate_every), "10", 1, BIG, 0, NULL, NULL,
     "an integer >= 1", "iterations between validation losses (and always the last one)"},
    {"output", "predict_every", T_INT, F(predict_every), "1", 1, BIG, 0, NULL, NULL,
     "an integer >= 1", "grid steps between rows of predictions.csv"},
    {"output", "predictions", T_STRING, F(predictions), "predictions.csv", 0, 0, 0, NULL, NULL,
     "a file name; .h5: HDF5", "the file of the trained model's predictions in output.dir"},
    {"output", "compress", T_INT, F(compress), "0", 0, 9, 0, NULL, NULL, "an integer 0..9",
     "deflate level of HDF5 predictions (0: none)"},
};
#undef F
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))
_Static_assert(sizeof keys / sizeof keys[0] <= CLI_MAX_KEYS, "cli_config holds CLI_MAX_KEYS keys");

static const char *const sections[] = {"model", "solver", "adjoint", "data", "loss",
                                       "optimizer", "parallel", "output", NULL};

int cli_config_nkeys(void) { return NKEYS; }

void cli_config_key(int i, const char **name, const char **def, const char **accepted,
                    const char **doc)
{
  static char full[NKEYS][64];
  snprintf(full[i], sizeof full[i], "%s.%s", keys[i].section, keys[i].name);
  *name = full[i];
  *def = keys[i].def ? keys[i].def : "(required)";
  *accepted = keys[i].accepted;
  *doc = keys[i].doc;
}

/* ---- one value ---------------------------------------------------------- */

/* Where a value came from, for messages: "file:line: key 'a.b'" or "--set a.b=v". */
typedef struct origin {
  const char *file;
  long line; /* > 0 file line, 0 default, −1 --set */
  const char *text;
} origin;

static int value_error(pn_ctx *ctx, const key *k, const origin *o, const char *value,
                       const char *why)
{
  if (o->line > 0)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s:%ld: key '%s.%s': '%s' %s (accepted: %s)", o->file,
                       o->line, k->section, k->name, value, why, k->accepted);
  if (o->line < 0)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "--set %s: key '%s.%s': '%s' %s (accepted: %s)",
                       o->text, k->section, k->name, value, why, k->accepted);
  return pn_ctx_fail(ctx, PN_ERR_PARSE, "default of key '%s.%s': '%s' %s", k->section, k->name,
                     value, why);
}

static int parse_real(const char *s, double *x)
{
  char *end = NULL;
  errno = 0;
  *x = strtod(s, &end);
  return end != s && *end == '\0' && isfinite(*x);
}

static int parse_int(const char *s, long *x)
{
  char *end = NULL;
  errno = 0;
  *x = strtol(s, &end, 10);
  return end != s && *end == '\0' && errno == 0;
}

static int enum_index(const char *const *names, const char *s)
{
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], s) == 0) return i;
  return -1;
}

static int in_range(const key *k, double x)
{
  const int lo_ok = (k->open & 1) ? x > k->lo : x >= k->lo;
  const int hi_ok = (k->open & 2) ? x < k->hi : x <= k->hi;
  return lo_ok && hi_ok;
}

/* "is not a number in (0, 1e+15]" / "is not an integer in 1..100": the range
 * of a T_REAL or T_INT key, bounds included, so that a value refused for
 * being too large says how large it may be. */
static const char *range_text(const key *k, char *buf, size_t n)
{
  if (k->type == T_INT)
    snprintf(buf, n, "is not an integer in %.0f..%.0f", k->lo, k->hi);
  else
    snprintf(buf, n, "is not a number in %c%g, %g%c", (k->open & 1) ? '(' : '[', k->lo, k->hi,
             (k->open & 2) ? ')' : ']');
  return buf;
}

/* Space- or comma-separated words of s into a copy; returns the count. */
static int words(const char *s, char *copy, size_t cap, char **w, int max)
{
  snprintf(copy, cap, "%s", s);
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
    if (n == max) return max + 1;
    w[n++] = t;
  }
  return n;
}

static int parse_list(pn_ctx *ctx, const key *k, const origin *o, const char *s, cli_config *cfg,
                      char *canon)
{
  char copy[CLI_PATH], *w[CLI_MAX_LAYERS + 1];
  const int n = words(s, copy, sizeof copy, w, CLI_MAX_LAYERS);
  if (n > CLI_MAX_LAYERS) return value_error(ctx, k, o, s, "has too many entries");
  canon[0] = '\0';
  for (int i = 0; i < n; i++) {
    long v = 0;
    if (k->type == T_WIDTHS) {
      if (!parse_int(w[i], &v) || v < 1 || v > (1 << 20))
        return value_error(ctx, k, o, s, "is not a list of widths");
      cfg->widths[i] = (int)v;
    } else {
      const int a = enum_index(k->names, w[i]);
      if (a < 0) return value_error(ctx, k, o, s, "names an unknown activation");
      cfg->acts[i] = a;
    }
    strcat(canon, i ? " " : "");
    strcat(canon, w[i]);
  }
  if (k->type == T_WIDTHS)
    cfg->nhidden = n;
  else if (n == 0)
    return value_error(ctx, k, o, s, "is empty");
  else
    cfg->nacts = n;
  return PN_OK;
}

/* Resolve a relative path from a file against the file's directory. */
/* Keys of [data] that only generators use. */
static const char *const gen_only[] = {"trajectories", "points", "t0", "t1", "noise", "substeps"};

/* Does key i apply to this configuration's data source?  (The others are
 * refused when given, so the effective configuration leaves them out.) */
static int key_applies(const cli_config *cfg, int i)
{
  if (strcmp(keys[i].section, "data") != 0) return 1;
  const int csv = cfg->source == CLI_SOURCE_CSV;
  if (strcmp(keys[i].name, "file") == 0) return csv;
  for (int g = 0; g < 6; g++)
    if (strcmp(keys[i].name, gen_only[g]) == 0) return !csv;
  return 1;
}

static void resolve_path(const origin *o, const char *s, char *out)
{
  const char *slash = o->file ? strrchr(o->file, '/') : NULL;
  char rel[CLI_PATH];
  if (s[0] == '\0' || s[0] == '/' || o->line <= 0 || !slash)
    snprintf(rel, sizeof rel, "%s", s);
  else
    snprintf(rel, sizeof rel, "%.*s/%s", (int)(slash - o->file), o->file, s);
  /* Absolute, so that the config.ini a run writes into its own directory
   * names the same file when it is loaded again from there (resume). */
  char cwd[CLI_PATH / 2];
  if (rel[0] != '\0' && rel[0] != '/' && getcwd(cwd, sizeof cwd))
    snprintf(out, CLI_PATH, "%s/%.*s", cwd, CLI_PATH / 2 - 2, rel);
  else
    snprintf(out, CLI_PATH, "%s", rel);
}

/* Parse `s` for key k into cfg; write its canonical text into canon. */
static int parse_value(pn_ctx *ctx, const key *k, const origin *o, const char *s, cli_config *cfg,
                       char *canon)
{
  char *field = (char *)cfg + k->off;
  double x = 0;
  long v = 0;
  switch (k->type) {
  case T_INT:
    if (k->word && strcmp(s, k->word) == 0) {
      v = -1;
    } else if (!parse_int(s, &v) || !in_range(k, (double)v)) {
      char why[96];
      return value_error(ctx, k, o, s, range_text(k, why, sizeof why));
    }
    *(long *)field = v;
    if (v == -1 && k->word)
      snprintf(canon, CLI_PATH, "%s", k->word);
    else
      snprintf(canon, CLI_PATH, "%ld", v);
    return PN_OK;
  case T_REAL:
    if (k->word && strcmp(s, k->word) == 0) {
      *(double *)field = NAN;
      snprintf(canon, CLI_PATH, "%s", k->word);
      return PN_OK;
    }
    if (!parse_real(s, &x) || !in_range(k, x)) {
      char why[96];
      return value_error(ctx, k, o, s, range_text(k, why, sizeof why));
    }
    *(double *)field = x;
    pn_format_double(x, canon);
    return PN_OK;
  case T_BOOL: {
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    const int t = enum_index(yes, s) >= 0, f = enum_index(no, s) >= 0;
    if (!t && !f) return value_error(ctx, k, o, s, "is not a boolean");
    *(int *)field = t;
    snprintf(canon, CLI_PATH, "%s", t ? "true" : "false");
    return PN_OK;
  }
  case T_ENUM: {
    const int i = enum_index(k->names, s);
    if (i < 0) return value_error(ctx, k, o, s, "is not accepted");
    *(int *)field = i;
    snprintf(canon, CLI_PATH, "%s", s);
    return PN_OK;
  }
  case T_U64: {
    char *end = NULL;
    errno = 0;
    const unsigned long long u = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || s[0] == '-')
      return value_error(ctx, k, o, s, "is not an unsigned 64-bit integer");
    *(uint64_t *)field = (uint64_t)u;
    snprintf(canon, CLI_PATH, "%llu", u);
    return PN_OK;
  }
  case T_STRING:
  case T_PATH:
    if (strlen(s) >= CLI_PATH / 2) return value_error(ctx, k, o, s, "is too long");
    /* Possible only through --set; checkpoints echo values one per line. */
    if (strpbrk(s, "\r\n")) return value_error(ctx, k, o, s, "contains a line break");
    /* Every T_STRING/T_PATH field of cli_config holds CLI_PATH bytes. */
    if (k->type == T_PATH)
      resolve_path(o, s, field);
    else
      snprintf(field, CLI_PATH, "%s", s);
    snprintf(canon, CLI_PATH, "%s", field);
    return PN_OK;
  case T_WIDTHS:
  case T_ACTS:
  default:
    return parse_list(ctx, k, o, s, cfg, canon);
  }
}

static int find_key(const char *section, const char *name)
{
  for (int i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) return i;
  return -1;
}

/* "known: a, b, c" for the keys of one section. */
static void known_keys(const char *section, char *buf, size_t n)
{
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].section, section) == 0)
      len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", keys[i].name);
}

/* Set section.name = value from origin o. */
static int assign(pn_ctx *ctx, cli_config *cfg, const char *section, const char *name,
                  const char *value, const origin *o)
{
  char where[CLI_PATH + 64], list[512];
  if (o->line > 0)
    snprintf(where, sizeof where, "%s:%ld", o->file, o->line);
  else
    snprintf(where, sizeof where, "--set %s", o->text);
  if (section[0] == '\0')
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: key '%s' outside any [section]", where, name);
  if (enum_index(sections, section) < 0)
    return pn_ctx_fail(ctx, PN_ERR_PARSE,
                       "%s: unknown section [%s] (known: model, solver, adjoint, data, loss, "
                       "optimizer, parallel, output)",
                       where, section);
  const int i = find_key(section, name);
  if (i < 0) {
    known_keys(section, list, sizeof list);
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: unknown key '%s' in [%s] (known: %s)", where, name,
                       section, list);
  }
  if (o->line > 0 && cfg->origin[i] > 0)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: key '%s.%s' set twice (first at line %ld)", where,
                       section, name, cfg->origin[i]);
  CLI_TRY(parse_value(ctx, &keys[i], o, value, cfg, cfg->value[i]));
  cfg->origin[i] = o->line;
  return PN_OK;
}

/* ---- the file ----------------------------------------------------------- */

typedef struct ini_state {
  pn_ctx *ctx;
  cli_config *cfg;
  const char *text;
  size_t len, pos;
  long line, too_long;
  long section_line; /* line of the last [section] header */
  int rc;
} ini_state;

/* inih's line reader over the broadcast text.  Leading blanks are dropped so
 * that no line is taken as the continuation of the previous value, and the
 * line count gives every key its line number. */
static char *read_line(char *str, int num, void *stream)
{
  ini_state *st = stream;
  if (st->pos >= st->len || st->rc != PN_OK || st->too_long) return NULL;
  const char *s = st->text + st->pos;
  const char *nl = memchr(s, '\n', st->len - st->pos);
  size_t n = nl ? (size_t)(nl - s) : st->len - st->pos;
  st->pos += n + (nl ? 1 : 0);
  st->line++;
  while (n > 0 && (*s == ' ' || *s == '\t')) {
    s++;
    n--;
  }
  if (n + 2 > (size_t)num) {
    st->too_long = st->line;
    return NULL;
  }
  if (n > 0 && *s == '[') st->section_line = st->line;
  memcpy(str, s, n);
  str[n] = '\n';
  str[n + 1] = '\0';
  return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
  ini_state *st = user;
  if (st->rc != PN_OK) return 1; /* keep the first error */
  char v[CLI_PATH];
  snprintf(v, sizeof v, "%s", value);
  /* '#' starts a comment after a blank, as ';' does for inih. */
  for (char *p = v; *p; p++)
    if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
      *p = '\0';
      break;
    }
  size_t n = strlen(v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r')) v[--n] = '\0';
  /* An unknown section is reported at its header, not at its first key. */
  const int known = section[0] == '\0' || enum_index(sections, section) >= 0;
  const origin o = {st->cfg->path, known ? st->line : st->section_line, NULL};
  st->rc = assign(st->ctx, st->cfg, section, name, v, &o);
  return st->rc == PN_OK;
}

static int parse_file(pn_ctx *ctx, cli_config *cfg, const char *text, size_t len)
{
  ini_state st = {ctx, cfg, text, len, 0, 0, 0, 0, PN_OK};
  const int bad = ini_parse_stream(read_line, &st, on_key, &st);
  if (st.rc != PN_OK) return st.rc;
  if (st.too_long)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s:%ld: line longer than libinih's limit (%d characters)",
                       cfg->path, st.too_long, INI_LINE_MAX);
  if (bad > 0)
    return pn_ctx_fail(ctx, PN_ERR_PARSE,
                       "%s:%d: syntax error: expected '[section]', 'key = value' or a comment",
                       cfg->path, bad);
  if (bad < 0) return pn_ctx_fail(ctx, PN_ERR_MEM, "%s: libinih failed (%d)", cfg->path, bad);
  return PN_OK;
}

static int apply_set(pn_ctx *ctx, cli_config *cfg, const char *text)
{
  char buf[CLI_PATH];
  snprintf(buf, sizeof buf, "%s", text);
  char *eq = strchr(buf, '='), *dot = strchr(buf, '.');
  if (!eq || !dot || dot > eq)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "--set %s: expected section.key=value", text);
  *eq = '\0';
  *dot = '\0';
  const origin o = {cfg->path, -1, text};
  return assign(ctx, cfg, buf, dot + 1, eq + 1, &o);
}

/* ---- defaults, required keys and keys together ------------------------------ */

static int set_defaults(pn_ctx *ctx, cli_config *cfg)
{
  const origin o = {cfg->path, 0, NULL};
  for (int i = 0; i < NKEYS; i++)
    if (keys[i].def) CLI_TRY(parse_value(ctx, &keys[i], &o, keys[i].def, cfg, cfg->value[i]));
  return PN_OK;
}

static int fail_key(pn_ctx *ctx, const cli_config *cfg, const char *section, const char *name,
                    const char *fmt, const char *detail)
{
  const int i = find_key(section, name);
  const long line = cfg->origin[i];
  char where[CLI_PATH + 64];
  if (line > 0)
    snprintf(where, sizeof where, "%s:%ld: key '%s.%s'", cfg->path, line, section, name);
  else if (line < 0)
    snprintf(where, sizeof where, "--set %s.%s", section, name);
  else
    snprintf(where, sizeof where, "%s: key '%s.%s'", cfg->path, section, name);
  return pn_ctx_fail(ctx, PN_ERR_PARSE, fmt, where, detail);
}

/* Why `v`, printed as "key = v", would not read back as v (NULL: it would):
 * libinih strips blanks around a value and takes ';' after a blank as a
 * comment, on_key does the same for '#'.  Only --set can produce these (a
 * file's values are already read that way), except a value a file starts
 * with ';' ("key =;x").  A line break is refused earlier, by parse_value. */
static const char *unprintable_value(const char *v)
{
  const unsigned char *s = (const unsigned char *)v;
  if (!s[0]) return NULL;
  if (isspace(s[0]) || isspace(s[strlen(v) - 1])) return "starts or ends with a blank";
  for (size_t j = 0; s[j]; j++) {
    if ((s[j] == ';' || s[j] == '#') && (j == 0 || isspace(s[j - 1])))
      return "has ';' or '#' at its start or after a blank (a comment in the file format)";
  }
  return NULL;
}

/* The run writes its effective configuration (paths made absolute) into its
 * output directory to be loaded again: every line it will print must be one
 * libinih can read, whatever set the value (file, --set, default). */
static int check_printable(pn_ctx *ctx, const cli_config *cfg)
{
  for (int i = 0; i < NKEYS; i++) {
    if (!key_applies(cfg, i)) continue;
    const char *why = unprintable_value(cfg->value[i]);
    if (why) {
      char detail[CLI_PATH + 160];
      snprintf(detail, sizeof detail, "'%s' %s", cfg->value[i], why);
      return fail_key(ctx, cfg, keys[i].section, keys[i].name,
                      "%s: the value %s, so the configuration the run writes would not read back "
                      "the same",
                      detail);
    }
    const size_t n = strlen(keys[i].name) + 3 + strlen(cfg->value[i]);
    if (n <= INI_LINE_MAX) continue;
    char detail[128];
    snprintf(detail, sizeof detail, "'%s = %.40s...' would be %zu characters (libinih reads at most %d",
             keys[i].name, cfg->value[i], n, INI_LINE_MAX);
    return fail_key(ctx, cfg, keys[i].section, keys[i].name,
                    "%s: its line %s; paths are written absolute: shorten the path or the "
                    "directory)",
                    detail);
  }
  return PN_OK;
}

static int check_together(pn_ctx *ctx, cli_config *cfg)
{
  int n = 0;
  const char *const *schemes = pn_tableau_names(&n);
  int known = 0;
  char list[512] = "";
  for (int i = 0; i < n; i++) {
    known |= strcmp(schemes[i], cfg->scheme) == 0;
    strcat(list, i ? ", " : "");
    strcat(list, schemes[i]);
  }
  if (!known) return fail_key(ctx, cfg, "solver", "scheme", "%s: unknown scheme (accepted: %s)", list);
  pn_solver_opts so;
  pn_solver_opts_default(&so);
  if (cli_parse_storage(cfg->storage, &so) != PN_OK)
    return fail_key(ctx, cfg, "solver", "storage", "%s: '%s' is not accepted (accepted: " CLI_STORAGE_NAMES ")",
                    cfg->storage);
  if (cfg->nacts != 1 && cfg->nacts != cfg->nhidden)
    return fail_key(ctx, cfg, "model", "activation",
                    "%s: give one activation, or one per hidden layer (model.hidden = '%s')",
                    cfg->value[find_key("model", "hidden")]);
  if (cfg->lr_min > cfg->lr)
    return fail_key(ctx, cfg, "optimizer", "lr_min", "%s: must not exceed optimizer.lr = %s",
                    cfg->value[find_key("optimizer", "lr")]);
  if (!isnan(cfg->t0) && !isnan(cfg->t1) && !(cfg->t1 > cfg->t0))
    return fail_key(ctx, cfg, "solver", "t1", "%s: must be greater than solver.t0 = %s",
                    cfg->value[find_key("solver", "t0")]);
  const int csv = cfg->source == CLI_SOURCE_CSV;
  if (csv && cfg->file[0] == '\0')
    return fail_key(ctx, cfg, "data", "source", "%s: csv needs data.file, the path of the CSV file%s", "");
  if (!csv && cfg->file[0] != '\0')
    return fail_key(ctx, cfg, "data", "file", "%s: only used with data.source = csv, not %s",
                    cfg->value[find_key("data", "source")]);
  for (int i = 0; csv && i < 6; i++)
    if (cfg->origin[find_key("data", gen_only[i])] != 0)
      return fail_key(ctx, cfg, "data", gen_only[i], "%s: only used by generators, not with %s",
                      "data.source = csv");
  if (strchr(cfg->predictions, '/') || cfg->predictions[0] == '\0')
    return fail_key(ctx, cfg, "output", "predictions",
                    "%s: '%s' is not a file name (the file is written in output.dir)",
                    cfg->predictions);
  if (cli_is_h5(cfg->predictions) && !pn_h5_available())
    return fail_key(ctx, cfg, "output", "predictions",
                    "%s: %s is HDF5, but this pinode was built without HDF5; use a .csv name",
                    cfg->predictions);
  if (!csv && !isnan(cfg->data_t1) && !(cfg->data_t1 > cfg->data_t0))
    return fail_key(ctx, cfg, "data", "t1", "%s: must be greater than data.t0 = %s",
                    cfg->value[find_key("data", "t0")]);
  return PN_OK;
}

static void set_name(cli_config *cfg, const char *path)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(cfg->name, sizeof cfg->name, "%s", base);
  char *dot = strrchr(cfg->name, '.');
  if (dot && dot != cfg->name) *dot = '\0';
}

int cli_config_load(pn_ctx *ctx, const char *path, int nsets, char *const *sets, cli_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->path, sizeof cfg->path, "%s", path);
  set_name(cfg, path);
  CLI_TRY(set_defaults(ctx, cfg));
  char *text = NULL;
  size_t len = 0;
  CLI_TRY(pn_read_file_bcast(ctx, path, (size_t)1 << 20, &text, &len));
  const size_t bom = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* as the library's readers */
  int rc = memchr(text, '\0', len) ? pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: binary data (a NUL byte)", path)
                                   : parse_file(ctx, cfg, text + bom, len - bom);
  free(text);
  CLI_TRY(rc);
  for (int i = 0; i < nsets; i++) CLI_TRY(apply_set(ctx, cfg, sets[i]));
  for (int i = 0; i < NKEYS; i++)
    if (!keys[i].def && cfg->origin[i] == 0)
      return pn_ctx_fail(ctx, PN_ERR_PARSE,
                         "%s: required key '%s.%s' is missing (accepted: %s); add it under [%s] "
                         "or pass --set %s.%s=...",
                         path, keys[i].section, keys[i].name, keys[i].accepted, keys[i].section,
                         keys[i].section, keys[i].name);
  if (strcmp(cfg->dir, "auto") == 0) {
    /* at most 150 characters of the name: the saved "dir = out/NAME" line
     * must stay readable (INI_LINE_MAX) */
    snprintf(cfg->dir, sizeof cfg->dir, "out/%.150s", cfg->name);
    snprintf(cfg->value[find_key("output", "dir")], CLI_PATH, "%s", cfg->dir);
  }
  CLI_TRY(check_printable(ctx, cfg));
  return check_together(ctx, cfg);
}

void cli_config_print(const cli_config *cfg, FILE *out)
{
  const char *section = "";
  for (int i = 0; i < NKEYS; i++) {
    if (strcmp(section, keys[i].section) != 0) {
      section = keys[i].section;
      fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
    }
    if (key_applies(cfg, i)) fprintf(out, "%s = %s\n", keys[i].name, cfg->value[i]);
  }
}
