/* Complex-step gradients: an independent complex re-implementation of the
 * MLP + explicit RK + MSE forward map (see cstep.h).  Deliberately naive:
 * one sample at a time, plain loops, C99 complex functions for the
 * activations, so that nothing here shares a bug with mlp.c/step.c/solver.c. */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cstep.h"
#include "internal.h"
#include "loss_impl.h"

/* C11's CMPLX: glibc's <complex.h> defines it for gcc >= 4.7 only; clang has
 * the same builtin (without it, a clang build of pinode does not link). */
#ifndef CMPLX
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#endif

typedef double complex cplx;

/* A label's grid index, for walking the labels in time order. */
typedef struct label_at {
  long step;
  int k;
} label_at;

/* Everything one complex solve needs, allocated once before any solve. */
typedef struct cstep_ws {
  /* network shape and θ layout, derived from the spec here, not from mlp.c */
  int dim, nlayers, time_input, maxw;
  int *in, *out;
  size_t *woff, *boff;
  const pn_activation *act;
  size_t nparam;
  /* scheme and grid */
  const pn_tableau *tab;
  int s;
  double t0, h;
  long nsteps;
  /* loss */
  const pn_loss *loss;
  label_at *labels; /* sorted by (step, k) */
  long *label_step; /* per label k */
  /* complex buffers */
  cplx *theta;  /* P */
  cplx *z0;     /* B×D initial states */
  cplx *z;      /* B×D current states */
  cplx *K;      /* s×D stage derivatives of one sample */
  cplx *Y;      /* D stage input */
  cplx *x0, *x1; /* layer inputs/outputs, maxw each */
} cstep_ws;

static void ws_free(cstep_ws *w)
{
  free(w->in);
  free(w->out);
  free(w->woff);
  free(w->boff);
  free(w->labels);
  free(w->label_step);
  free(w->theta);
  free(w->z0);
  free(w->z);
  free(w->K);
  free(w->Y);
  free(w->x0);
  free(w->x1);
}

static int check_spec(pn_ctx *ctx, const pn_mlp_spec *spec)
{
  PN_CHECK(ctx, spec->dim >= 1, PN_ERR_ARG, "complex step: state dimension %d (must be >= 1)",
           spec->dim);
  PN_CHECK(ctx, spec->nhidden >= 0 && (spec->nhidden == 0 || (spec->widths && spec->acts)),
           PN_ERR_ARG, "complex step: %d hidden layers without widths or activations",
           spec->nhidden);
  for (int l = 0; l < spec->nhidden; l++) {
    PN_CHECK(ctx, spec->widths[l] >= 1, PN_ERR_ARG, "complex step: hidden layer %d has width %d",
             l + 1, spec->widths[l]);
    PN_CHECK(ctx, (unsigned)spec->acts[l] <= PN_ACT_SILU, PN_ERR_ARG,
             "complex step: hidden layer %d has an unknown activation %d", l + 1,
             (int)spec->acts[l]);
  }
  return PN_OK;
}

/* Layer l maps in[l] inputs to out[l] outputs; θ holds W_l (out×in, row-major) then b_l. */
static int ws_network(pn_ctx *ctx, cstep_ws *w, const pn_mlp_spec *spec)
{
  const int L = spec->nhidden + 1;
  w->dim = spec->dim;
  w->nlayers = L;
  w->time_input = spec->time_input ? 1 : 0;
  w->act = spec->acts;
  PN_CALL(pni_calloc(ctx, (size_t)L, sizeof *w->in, &w->in, "complex-step layers"));
  PN_CALL(pni_calloc(ctx, (size_t)L, sizeof *w->out, &w->out, "complex-step layers"));
  PN_CALL(pni_calloc(ctx, (size_t)L, sizeof *w->woff, &w->woff, "complex-step layers"));
  PN_CALL(pni_calloc(ctx, (size_t)L, sizeof *w->boff, &w->boff, "complex-step layers"));
  size_t off = 0;
  w->maxw = spec->dim + w->time_input;
  for (int l = 0; l < L; l++) {
    w->in[l] = l == 0 ? spec->dim + w->time_input : spec->widths[l - 1];
    w->out[l] = l == L - 1 ? spec->dim : spec->widths[l];
    w->woff[l] = off;
    off += (size_t)w->in[l] * (size_t)w->out[l];
    w->boff[l] = off;
    off += (size_t)w->out[l];
    if (w->out[l] > w->maxw) w->maxw = w->out[l];
  }
  w->nparam = off;
  return PN_OK;
}

static int by_step(const void *x, const void *y)
{
  const label_at *a = x, *b = y;
  if (a->step != b->step) return a->step < b->step ? -1 : 1;
  return (a->k > b->k) - (a->k < b->k);
}

/* Grid indices of the labels (the loss module's own rounding rule, so that
 * an off-grid label fails here exactly as in the solver), sorted by step. */
static int ws_labels(pn_ctx *ctx, cstep_ws *w, double t1)
{
  const int K = w->loss->nlabels;
  PN_CALL(pni_calloc(ctx, (size_t)K, sizeof *w->label_step, &w->label_step, "label steps"));
  PN_CALL(pni_calloc(ctx, (size_t)K + 1, sizeof *w->labels, &w->labels, "label order"));
  PN_CALL(pni_loss_bind(w->loss, ctx, w->t0, t1, w->nsteps, w->label_step));
  for (int k = 0; k < K; k++) w->labels[k] = (label_at){w->label_step[k], k};
  if (K > 1) qsort(w->labels, (size_t)K, sizeof *w->labels, by_step);
  w->labels[K] = (label_at){-1, -1}; /* sentinel: no label at a step ≥ 0 */
  return PN_OK;
}

static int ws_buffers(pn_ctx *ctx, cstep_ws *w, int batch)
{
  const size_t nz = (size_t)batch * (size_t)w->dim;
  PN_CALL(pni_calloc(ctx, w->nparam, sizeof(cplx), &w->theta, "complex parameters"));
  PN_CALL(pni_calloc(ctx, nz, sizeof(cplx), &w->z0, "complex initial states"));
  PN_CALL(pni_calloc(ctx, nz, sizeof(cplx), &w->z, "complex states"));
  PN_CALL(pni_calloc(ctx, (size_t)w->s * (size_t)w->dim, sizeof(cplx), &w->K, "complex stages"));
  PN_CALL(pni_calloc(ctx, (size_t)w->dim, sizeof(cplx), &w->Y, "complex stage input"));
  PN_CALL(pni_calloc(ctx, (size_t)w->maxw, sizeof(cplx), &w->x0, "complex layer buffer"));
  PN_CALL(pni_calloc(ctx, (size_t)w->maxw, sizeof(cplx), &w->x1, "complex layer buffer"));
  return PN_OK;
}

/* σ(x) = 1/(1 + e^{−x}), written so that the exponential never overflows. */
static cplx csigmoid(cplx x)
{
  if (creal(x) >= 0.0) return 1.0 / (1.0 + cexp(-x));
  const cplx e = cexp(x);
  return e / (1.0 + e);
}

/* The activations as analytic functions of a complex argument: the complex
 * step differentiates them itself, so no derivative formula appears here. */
static cplx activation(pn_activation act, cplx x)
{
  switch (act) {
  case PN_ACT_IDENTITY:
    return x;
  case PN_ACT_TANH:
    return ctanh(x);
  case PN_ACT_SOFTPLUS: /* log(1 + e^x) = x + log(1 + e^{−x}); exponent ≤ 0 either way */
    return creal(x) > 0.0 ? x + clog(1.0 + cexp(-x)) : clog(1.0 + cexp(x));
  case PN_ACT_SIGMOID:
    return csigmoid(x);
  case PN_ACT_RELU: /* analytic on either side of the kink at 0 */
    return creal(x) > 0.0 ? x : 0.0;
  case PN_ACT_SILU:
    return x * csigmoid(x);
  }
  return NAN;
}

/* x·y by the textbook formula.  For finite operands it is what the `*`
 * operator computes, but `*` also follows C Annex G (recovering infinities
 * from NaN results), which costs a libgcc call per product unless the
 * compiler may inline it; this product is the inner loop of every solve. */
static inline cplx cmul(cplx x, cplx y)
{
  const double a = creal(x), b = cimag(x), c = creal(y), d = cimag(y);
  return CMPLX(a * c - b * d, a * d + b * c);
}

/* f_out = f(t, z; θ) for one sample (D entries), layer by layer. */
static void net_eval(cstep_ws *w, double t, const cplx *z, cplx *f_out)
{
  cplx *x = w->x0, *y = w->x1;
  for (int d = 0; d < w->dim; d++) x[d] = z[d];
  if (w->time_input) x[w->dim] = t;
  for (int l = 0; l < w->nlayers; l++) {
    const int last = l == w->nlayers - 1, in = w->in[l];
    const cplx *W = w->theta + w->woff[l], *b = w->theta + w->boff[l];
    cplx *out = last ? f_out : y;
    for (int o = 0; o < w->out[l]; o++) {
      cplx s = b[o];
      for (int i = 0; i < in; i++) s += cmul(W[(size_t)o * (size_t)in + (size_t)i], x[i]);
      out[o] = last ? s : activation(w->act[l], s);
    }
    cplx *tmp = x; /* this layer's output is the next one's input */
    x = y;
    y = tmp;
  }
}

/* One RK step of one sample, straight from the tableau's definition. */
static void rk_step(cstep_ws *w, double t, cplx *z)
{
  const int s = w->s, D = w->dim;
  const double h = w->h, *A = pn_tableau_a(w->tab), *b = pn_tableau_b(w->tab),
               *c = pn_tableau_c(w->tab);
  for (int i = 0; i < s; i++) {
    for (int d = 0; d < D; d++) {
      cplx y = z[d];
      for (int j = 0; j < i; j++) y += h * A[i * s + j] * w->K[j * D + d];
      w->Y[d] = y;
    }
    net_eval(w, t + c[i] * h, w->Y, w->K + (size_t)i * (size_t)D);
  }
  for (int d = 0; d < D; d++) {
    cplx inc = 0.0;
    for (int i = 0; i < s; i++) inc += b[i] * w->K[i * D + d];
    z[d] += h * inc;
  }
}

/* MSE terms of the labels at grid index n for samples [b0, b0+nb); *next
 * walks the sorted label list. */
static cplx labels_at(const cstep_ws *w, long n, int b0, int nb, const cplx *z, int *next)
{
  const pn_loss *loss = w->loss;
  const size_t D = (size_t)w->dim;
  cplx L = 0.0;
  for (; w->labels[*next].step == n; (*next)++) {
    const int k = w->labels[*next].k;
    const double *y = loss->targets + ((size_t)k * (size_t)loss->batch + (size_t)b0) * D;
    const double scale = loss->weights[k] / ((double)loss->batch * (double)D);
    for (size_t i = 0; i < (size_t)nb * D; i++) {
      const cplx r = z[i] - y[i];
      L += scale * r * r;
    }
  }
  return L;
}

/* L restricted to samples [b0, b0+nb), from their initial states z0 (nb×D)
 * and the current complex θ. */
static cplx solve(cstep_ws *w, int b0, int nb, const cplx *z0)
{
  const size_t D = (size_t)w->dim;
  memcpy(w->z, z0, sizeof(cplx) * (size_t)nb * D);
  int next = 0;
  cplx L = labels_at(w, 0, b0, nb, w->z, &next);
  for (long n = 0; n < w->nsteps; n++) {
    const double t = w->t0 + (double)n * w->h; /* never accumulated (docs/mathematics.md) */
    for (int b = 0; b < nb; b++) rk_step(w, t, w->z + (size_t)b * D);
    L += labels_at(w, n + 1, b0, nb, w->z, &next);
  }
  return L;
}

/* Derivative from one perturbed solve, or PN_ERR_NONFINITE naming the input. */
static int derivative(pn_ctx *ctx, cplx L, const char *what, long index, double *out)
{
  PN_CHECK(ctx, isfinite(creal(L)) && isfinite(cimag(L)), PN_ERR_NONFINITE,
           "complex step: the solve with %s[%ld] perturbed gave a non-finite loss (%g%+gi)", what,
           index, creal(L), cimag(L));
  *out = cimag(L) / PNI_CSTEP_EPS;
  return PN_OK;
}

static int check_args(pn_ctx *ctx, const pn_mlp_spec *spec, const pn_tableau *tab, double t0,
                      double t1, long nsteps, int batch, const double *z0, const double *theta,
                      const pn_loss *loss)
{
  PN_CHECK(ctx, spec && tab && z0 && theta && loss, PN_ERR_ARG, "complex step: NULL argument");
  PN_CALL(check_spec(ctx, spec));
  PN_CHECK(ctx, isfinite(t0) && isfinite(t1) && t1 > t0 && nsteps >= 1, PN_ERR_ARG,
           "complex step: interval [%g, %g] with %ld steps (need finite t0 < t1, N >= 1)", t0, t1,
           nsteps);
  PN_CHECK(ctx, batch >= 1, PN_ERR_ARG, "complex step: batch %d (must be >= 1)", batch);
  PN_CHECK(ctx, !loss->fn, PN_ERR_ARG,
           "complex step supports the MSE loss only (a custom loss has no complex extension)");
  PN_CHECK(ctx, loss->batch == batch && loss->dim == spec->dim, PN_ERR_ARG,
           "complex step: the loss is for batch %d and dimension %d, the problem has %d and %d",
           loss->batch, loss->dim, batch, spec->dim);
  return PN_OK;
}

/* All derivatives, after the workspace is ready. */
static int run(pn_ctx *ctx, cstep_ws *w, int batch, const double *z0, const double *theta,
               double *loss_out, double *grad_theta_out, double *grad_z0_out)
{
  const size_t D = (size_t)w->dim, nz = (size_t)batch * D;
  for (size_t j = 0; j < w->nparam; j++) w->theta[j] = theta[j];
  for (size_t i = 0; i < nz; i++) w->z0[i] = z0[i];
  if (loss_out) {
    const cplx L = solve(w, 0, batch, w->z0);
    PN_CHECK(ctx, isfinite(creal(L)), PN_ERR_NONFINITE, "complex step: the loss is %g", creal(L));
    *loss_out = creal(L);
  }
  for (size_t j = 0; grad_theta_out && j < w->nparam; j++) {
    w->theta[j] = CMPLX(theta[j], PNI_CSTEP_EPS);
    const cplx L = solve(w, 0, batch, w->z0);
    w->theta[j] = theta[j];
    PN_CALL(derivative(ctx, L, "theta", (long)j, &grad_theta_out[j]));
  }
  /* The samples do not interact, so z0[b, d] moves only sample b's loss. */
  for (size_t i = 0; grad_z0_out && i < nz; i++) {
    const size_t b = i / D;
    w->z0[i] = CMPLX(z0[i], PNI_CSTEP_EPS);
    const cplx L = solve(w, (int)b, 1, w->z0 + b * D);
    w->z0[i] = z0[i];
    PN_CALL(derivative(ctx, L, "z0", (long)i, &grad_z0_out[i]));
  }
  return PN_OK;
}

/* Network, scheme (tab may be NULL: s = 0) and buffers for `batch` samples. */
static int ws_setup(pn_ctx *ctx, cstep_ws *w, const pn_mlp_spec *spec, const pn_tableau *tab,
                    int batch)
{
  memset(w, 0, sizeof *w);
  w->tab = tab;
  w->s = tab ? pn_tableau_stages(tab) : 0;
  PN_CALL(ws_network(ctx, w, spec));
  return ws_buffers(ctx, w, batch);
}

int pn_cstep_gradient(pn_ctx *ctx, const pn_mlp_spec *spec, const pn_tableau *tab, double t0,
                      double t1, long nsteps, int batch, const double *z0, const double *theta,
                      const pn_loss *loss, double *loss_out, double *grad_theta_out,
                      double *grad_z0_out)
{
  PN_CALL(check_args(ctx, spec, tab, t0, t1, nsteps, batch, z0, theta, loss));
  cstep_ws w;
  int rc = ws_setup(ctx, &w, spec, tab, batch);
  w.t0 = t0;
  w.h = (t1 - t0) / (double)nsteps;
  w.nsteps = nsteps;
  w.loss = loss;
  if (rc != PN_OK) goto cleanup;
  PN_CALL_GOTO(rc, ws_labels(ctx, &w, t1));
  PN_CALL_GOTO(rc, run(ctx, &w, batch, z0, theta, loss_out, grad_theta_out, grad_z0_out));
cleanup:
  ws_free(&w);
  return rc;
}

/* z + iεv and θ + iεw into the workspace (NULL directions are zero). */
static void perturb(cstep_ws *w, int nb, const double *z, const double *theta, const double *v,
                    const double *dtheta)
{
  const size_t nz = (size_t)nb * (size_t)w->dim;
  for (size_t i = 0; i < nz; i++) w->z[i] = CMPLX(z[i], v ? PNI_CSTEP_EPS * v[i] : 0.0);
  for (size_t j = 0; j < w->nparam; j++)
    w->theta[j] = CMPLX(theta[j], dtheta ? PNI_CSTEP_EPS * dtheta[j] : 0.0);
}

static int check_jvp_args(pn_ctx *ctx, const pn_mlp_spec *spec, int nb, const double *z,
                          const double *theta, const double *jv_out)
{
  PN_CHECK(ctx, spec && z && theta && jv_out, PN_ERR_ARG, "complex step: NULL argument");
  PN_CHECK(ctx, nb >= 1, PN_ERR_ARG, "complex step: batch %d (must be >= 1)", nb);
  return check_spec(ctx, spec);
}

int pni_cstep_mlp_jvp(pn_ctx *ctx, const pn_mlp_spec *spec, double t, int nb, const double *z,
                      const double *theta, const double *v, const double *dtheta, double *jv_out)
{
  PN_CALL(check_jvp_args(ctx, spec, nb, z, theta, jv_out));
  cstep_ws w;
  int rc = ws_setup(ctx, &w, spec, NULL, nb);
  if (rc != PN_OK) goto cleanup;
  perturb(&w, nb, z, theta, v, dtheta);
  const size_t D = (size_t)w.dim;
  for (int b = 0; b < nb; b++) {
    net_eval(&w, t, w.z + (size_t)b * D, w.Y); /* Y: any D-vector buffer */
    for (size_t d = 0; d < D; d++) jv_out[(size_t)b * D + d] = cimag(w.Y[d]) / PNI_CSTEP_EPS;
  }
cleanup:
  ws_free(&w);
  return rc;
}

int pni_cstep_step_jvp(pn_ctx *ctx, const pn_mlp_spec *spec, const pn_tableau *tab, double t,
                       double h, int nb, const double *z, const double *theta, const double *v,
                       const double *dtheta, double *jv_out)
{
  PN_CALL(check_jvp_args(ctx, spec, nb, z, theta, jv_out));
  PN_CHECK(ctx, tab, PN_ERR_ARG, "complex step: NULL tableau");
  cstep_ws w;
  int rc = ws_setup(ctx, &w, spec, tab, nb);
  if (rc != PN_OK) goto cleanup;
  w.h = h;
  perturb(&w, nb, z, theta, v, dtheta);
  const size_t nz = (size_t)nb * (size_t)w.dim;
  for (int b = 0; b < nb; b++) rk_step(&w, t, w.z + (size_t)b * (size_t)w.dim);
  for (size_t i = 0; i < nz; i++) jv_out[i] = cimag(w.z[i]) / PNI_CSTEP_EPS;
cleanup:
  ws_free(&w);
  return rc;
}
