/* Optimisers on replicated parameters: Adam and SGD with momentum, schedules,
 * clipping.  Deterministic and communication-free, so identical inputs on every
 * rank give identical θ (see optim.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pinode/optim.h"

struct pn_optim {
  pn_ctx *ctx;
  pn_optim_opts opts;
  int nparam;
  long iteration; /* updates applied */
  double *m;      /* Adam first moment, or SGD momentum buffer */
  double *v;      /* Adam second moment (NULL for SGD) */
};

static const char *const method_names[] = {"adam", "sgd", NULL};
static const char *const schedule_names[] = {"constant", "step", "exponential", "cosine", NULL};

void pn_optim_opts_default(pn_optim_opts *o)
{
  memset(o, 0, sizeof *o);
  o->method = PN_OPTIM_ADAM;
  o->lr = 1e-2;
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->momentum = 0.9;
  o->nesterov = 0;
  o->weight_decay = 0.0;
  o->clip_norm = 0.0;
  o->schedule = PN_LR_CONSTANT;
  o->decay_iterations = 100;
  o->decay_rate = 0.5;
  o->lr_min = 0.0;
  o->warmup = 0;
}

/* NaN fails every comparison below, so "!(x in range)" also rejects NaN. */
static int validate(pn_ctx *ctx, const pn_optim_opts *o)
{
  PN_CHECK(ctx, o->method == PN_OPTIM_ADAM || o->method == PN_OPTIM_SGD, PN_ERR_ARG,
           "unknown optimiser method %d (known: adam, sgd)", (int)o->method);
  PN_CHECK(ctx, o->lr > 0 && isfinite(o->lr), PN_ERR_ARG, "lr = %g: need a finite number > 0",
           o->lr);
  PN_CHECK(ctx, o->beta1 >= 0 && o->beta1 < 1, PN_ERR_ARG, "beta1 = %g: need 0 <= beta1 < 1",
           o->beta1);
  PN_CHECK(ctx, o->beta2 >= 0 && o->beta2 < 1, PN_ERR_ARG, "beta2 = %g: need 0 <= beta2 < 1",
           o->beta2);
  PN_CHECK(ctx, o->eps > 0 && isfinite(o->eps), PN_ERR_ARG, "eps = %g: need a finite number > 0",
           o->eps);
  PN_CHECK(ctx, o->momentum >= 0 && o->momentum < 1, PN_ERR_ARG,
           "momentum = %g: need 0 <= momentum < 1", o->momentum);
  PN_CHECK(ctx, o->weight_decay >= 0 && isfinite(o->weight_decay), PN_ERR_ARG,
           "weight_decay = %g: need a finite number >= 0", o->weight_decay);
  PN_CHECK(ctx, o->clip_norm >= 0 && isfinite(o->clip_norm), PN_ERR_ARG,
           "clip_norm = %g: need a finite number >= 0 (0 = no clipping)", o->clip_norm);
  PN_CHECK(ctx, (int)o->schedule >= 0 && (int)o->schedule <= (int)PN_LR_COSINE, PN_ERR_ARG,
           "unknown schedule %d (known: constant, step, exponential, cosine)", (int)o->schedule);
  PN_CHECK(ctx, o->decay_iterations >= 1, PN_ERR_ARG, "decay_iterations = %ld: need >= 1",
           o->decay_iterations);
  PN_CHECK(ctx, o->decay_rate > 0 && o->decay_rate <= 1, PN_ERR_ARG,
           "decay_rate = %g: need 0 < decay_rate <= 1", o->decay_rate);
  PN_CHECK(ctx, o->lr_min >= 0 && o->lr_min <= o->lr, PN_ERR_ARG,
           "lr_min = %g: need 0 <= lr_min <= lr = %g", o->lr_min, o->lr);
  PN_CHECK(ctx, o->warmup >= 0, PN_ERR_ARG, "warmup = %ld: need >= 0", o->warmup);
  return PN_OK;
}

int pn_optim_create(pn_ctx *ctx, int nparam, const pn_optim_opts *opts, pn_optim **out)
{
  PN_CHECK(ctx, opts && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CHECK(ctx, nparam >= 1, PN_ERR_ARG, "optimiser for %d parameters: need >= 1", nparam);
  PN_CALL(validate(ctx, opts));
  pn_optim *o = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *o, &o, "optimiser"));
  o->ctx = ctx;
  o->opts = *opts;
  o->nparam = nparam;
  const size_t nvec = opts->method == PN_OPTIM_ADAM ? 2 : 1;
  int rc = pni_calloc(ctx, nvec * (size_t)nparam, sizeof(double), &o->m, "optimiser state");
  if (rc != PN_OK) {
    free(o);
    return rc;
  }
  o->v = nvec == 2 ? o->m + nparam : NULL;
  *out = o;
  return PN_OK;
}

int pn_optim_destroy(pn_optim **opt)
{
  if (!opt || !*opt) return PN_OK;
  free((*opt)->m);
  free(*opt);
  *opt = NULL;
  return PN_OK;
}

long pn_optim_iteration(const pn_optim *opt) { return opt->iteration; }

double pn_optim_lr_at(const pn_optim_opts *o, long i)
{
  if (!o || o->decay_iterations < 1 || i < 0) return NAN; /* options pn_optim_create refuses */
  const double T = (double)o->decay_iterations;
  double lr = o->lr;
  switch (o->schedule) {
  case PN_LR_STEP:
    lr = o->lr * pow(o->decay_rate, (double)(i / o->decay_iterations));
    break;
  case PN_LR_EXPONENTIAL:
    lr = o->lr * pow(o->decay_rate, (double)i / T);
    break;
  case PN_LR_COSINE: {
    const double x = (double)(i < o->decay_iterations ? i : o->decay_iterations) / T;
    lr = o->lr_min + (o->lr - o->lr_min) * 0.5 * (1.0 + cos(3.141592653589793 * x));
    break;
  }
  case PN_LR_CONSTANT:
  default:
    break;
  }
  if (i < o->warmup) lr *= (double)(i + 1) / (double)o->warmup;
  return lr;
}

/* 2-norm; the plain sum of squares overflows for entries above ~1e154, and
 * then the norm is recomputed with scaling (still finite up to DBL_MAX·√n). */
static double norm2(const double *x, int n)
{
  double s = 0.0, big = 0.0;
  for (int i = 0; i < n; i++) s += x[i] * x[i];
  if (isfinite(s)) return sqrt(s);
  for (int i = 0; i < n; i++) big = fmax(big, fabs(x[i]));
  s = 0.0;
  for (int i = 0; i < n; i++) s += (x[i] / big) * (x[i] / big);
  return big * sqrt(s);
}

/* Adam as torch.optim.Adam: bias-corrected moments, eps added to sqrt(v̂). */
static void adam_update(pn_optim *o, double *theta, const double *grad, double scale, double lr)
{
  const pn_optim_opts *p = &o->opts;
  const double t = (double)(o->iteration + 1);
  const double c1 = 1.0 - pow(p->beta1, t), c2 = 1.0 - pow(p->beta2, t);
  for (int i = 0; i < o->nparam; i++) {
    const double g = scale * grad[i] + p->weight_decay * theta[i];
    o->m[i] = p->beta1 * o->m[i] + (1.0 - p->beta1) * g;
    o->v[i] = p->beta2 * o->v[i] + (1.0 - p->beta2) * g * g;
    theta[i] -= lr * (o->m[i] / c1) / (sqrt(o->v[i] / c2) + p->eps);
  }
}

/* SGD as torch.optim.SGD (dampening 0): buf ← μ buf + g; the first buf is g,
 * which a zero-initialised buffer gives without a special case. */
static void sgd_update(pn_optim *o, double *theta, const double *grad, double scale, double lr)
{
  const pn_optim_opts *p = &o->opts;
  for (int i = 0; i < o->nparam; i++) {
    const double g = scale * grad[i] + p->weight_decay * theta[i];
    o->m[i] = p->momentum * o->m[i] + g;
    theta[i] -= lr * (p->nesterov ? g + p->momentum * o->m[i] : o->m[i]);
  }
}

int pn_optim_step(pn_optim *opt, double *theta, const double *grad, pn_optim_info *info)
{
  if (!opt) return PN_ERR_ARG;
  pn_ctx *ctx = opt->ctx;
  PN_CHECK(ctx, theta && grad, PN_ERR_ARG, "NULL parameters or gradient");
  const long bad = pni_first_nonfinite(grad, (size_t)opt->nparam);
  PN_CHECK(ctx, bad < 0, PN_ERR_NONFINITE,
           "gradient entry %ld is %g at update %ld: the training diverged (lower the learning "
           "rate, or clip the gradient norm)",
           bad, grad[bad < 0 ? 0 : bad], opt->iteration);
  const double norm = norm2(grad, opt->nparam);
  const int clip = opt->opts.clip_norm > 0 && !(norm <= opt->opts.clip_norm);
  const double scale = clip ? opt->opts.clip_norm / norm : 1.0;
  const double lr = pn_optim_lr_at(&opt->opts, opt->iteration);
  if (opt->opts.method == PN_OPTIM_ADAM)
    adam_update(opt, theta, grad, scale, lr);
  else
    sgd_update(opt, theta, grad, scale, lr);
  opt->iteration++;
  if (info) *info = (pn_optim_info){norm, lr, clip};
  return PN_OK;
}

size_t pn_optim_state_size(const pn_optim *opt)
{
  return 3 + (size_t)opt->nparam * (opt->v ? 2 : 1);
}

int pn_optim_get_state(const pn_optim *opt, double *out)
{
  if (!opt || !out) return PN_ERR_ARG;
  out[0] = (double)opt->opts.method;
  out[1] = (double)opt->nparam;
  out[2] = (double)opt->iteration; /* exact below 2^53 updates */
  memcpy(out + 3, opt->m, sizeof(double) * (pn_optim_state_size(opt) - 3));
  return PN_OK;
}

int pn_optim_set_state(pn_optim *opt, const double *state, size_t n)
{
  if (!opt) return PN_ERR_ARG;
  pn_ctx *ctx = opt->ctx;
  const size_t want = pn_optim_state_size(opt);
  PN_CHECK(ctx, state && n == want, PN_ERR_PARSE,
           "optimiser state has %zu numbers, expected %zu for %s with %d parameters", n, want,
           method_names[opt->opts.method], opt->nparam);
  PN_CHECK(ctx, state[0] == (double)opt->opts.method, PN_ERR_PARSE,
           "optimiser state is for method %g, not %s (%d)", state[0],
           method_names[opt->opts.method], (int)opt->opts.method);
  PN_CHECK(ctx, state[1] == (double)opt->nparam, PN_ERR_PARSE,
           "optimiser state is for %g parameters, not %d", state[1], opt->nparam);
  PN_CHECK(ctx, state[2] >= 0 && state[2] <= 9007199254740992.0 && state[2] == floor(state[2]),
           PN_ERR_PARSE, "optimiser state has iteration %g: need an integer >= 0", state[2]);
  const long bad = pni_first_nonfinite(state + 3, want - 3);
  PN_CHECK(ctx, bad < 0, PN_ERR_PARSE, "optimiser state entry %ld is not finite", bad + 3);
  opt->iteration = (long)state[2];
  memcpy(opt->m, state + 3, sizeof(double) * (want - 3));
  return PN_OK;
}

PNI_ENUM_NAMES(pn_optim_method, pn_optim_method, method_names)
PNI_ENUM_NAMES(pn_lr_schedule, pn_lr_schedule, schedule_names)
