/* The built-in multilayer perceptron, evaluated on the whole batch with
 * cblas_dgemm: H = act(X Wᵀ + b) layer by layer (X is nb × in, row-major). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "model_impl.h"

#define MLP_MAX_HIDDEN 64
#define MLP_MAX_LAYERS (MLP_MAX_HIDDEN + 1)

typedef struct mlp {
  pn_ctx *ctx;
  int dim, nlayers, time_input; /* nlayers = hidden layers + 1 (linear output) */
  int in[MLP_MAX_LAYERS];       /* in[0] counts the time column */
  int out[MLP_MAX_LAYERS];
  size_t woff[MLP_MAX_LAYERS];  /* offsets of W_l and b_l in θ */
  size_t boff[MLP_MAX_LAYERS];
  pn_activation act[MLP_MAX_LAYERS]; /* per hidden layer */
  int maxw;                     /* widest layer */
  int max_batch, nsets;         /* sets = slots + 1 scratch set (index 0) */
  /* Per set and hidden layer l: activations post (nb × out[l]) and their
   * derivative dact, both at offset set_stride*set + layer_off[l]. */
  size_t layer_off[MLP_MAX_LAYERS], set_stride;
  double *post, *dact;
  double *g0, *g1; /* backward buffers, nb × maxw */
  double *bias;    /* effective bias of layer 0 (time column folded in), out[0] */
} mlp;

static void mlp_destroy(void *impl)
{
  mlp *p = impl;
  if (!p) return;
  free(p->post);
  free(p->dact);
  free(p->g0);
  free(p->bias);
  free(p);
}

/* y ← act(y + b) row by row; with keep, also d ← act'(y + b). */
static void bias_act(pn_activation act, int nb, int w, const double *b, double *y, double *d,
                     int keep)
{
  for (int r = 0; r < nb; r++) {
    double *yr = y + (size_t)r * w, *dr = keep ? d + (size_t)r * w : NULL;
    switch (act) {
    case PN_ACT_IDENTITY:
      for (int o = 0; o < w; o++) yr[o] += b[o];
      if (keep)
        for (int o = 0; o < w; o++) dr[o] = 1.0;
      break;
    case PN_ACT_TANH:
      for (int o = 0; o < w; o++) yr[o] = tanh(yr[o] + b[o]);
      if (keep)
        for (int o = 0; o < w; o++) dr[o] = 1.0 - yr[o] * yr[o];
      break;
    case PN_ACT_SIGMOID:
      for (int o = 0; o < w; o++) yr[o] = 1.0 / (1.0 + exp(-(yr[o] + b[o])));
      if (keep)
        for (int o = 0; o < w; o++) dr[o] = yr[o] * (1.0 - yr[o]);
      break;
    case PN_ACT_SOFTPLUS:
      for (int o = 0; o < w; o++) {
        double x = yr[o] + b[o];
        /* log(1 + e^x) without overflow; derivative σ(x). */
        yr[o] = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
        if (keep) dr[o] = 1.0 / (1.0 + exp(-x));
      }
      break;
    case PN_ACT_RELU:
      for (int o = 0; o < w; o++) {
        double x = yr[o] + b[o];
        yr[o] = x > 0 ? x : 0.0;
        if (keep) dr[o] = x > 0 ? 1.0 : 0.0;
      }
      break;
    case PN_ACT_SILU:
      for (int o = 0; o < w; o++) {
        double x = yr[o] + b[o], s = 1.0 / (1.0 + exp(-x));
        yr[o] = x * s;
        if (keep) dr[o] = s * (1.0 + x * (1.0 - s));
      }
      break;
    }
  }
}

/* Bias of layer l at time t: layer 0 with time input folds W[:, D]·t into b. */
static const double *layer_bias(mlp *p, int l, double t, const double *theta)
{
  const double *b = theta + p->boff[l];
  if (l > 0 || !p->time_input) return b;
  const double *W = theta + p->woff[0];
  for (int o = 0; o < p->out[0]; o++) p->bias[o] = b[o] + W[(size_t)o * p->in[0] + p->dim] * t;
  return p->bias;
}

/* Hidden layers of the network at (t, z) into activation set `set` (with the
 * derivatives when keep); returns the last hidden activations (z if none). */
static const double *forward_hidden(mlp *p, int set, int keep, double t, int nb, const double *z,
                                    const double *theta)
{
  const double *x = z;
  int in_eff = p->dim;
  for (int l = 0; l + 1 < p->nlayers; l++) {
    double *y = p->post + p->set_stride * set + p->layer_off[l];
    double *d = p->dact + p->set_stride * set + p->layer_off[l];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, p->out[l], in_eff, 1.0, x, in_eff,
                theta + p->woff[l], p->in[l], 0.0, y, p->out[l]);
    bias_act(p->act[l], nb, p->out[l], layer_bias(p, l, t, theta), y, d, keep);
    x = y;
    in_eff = p->out[l];
  }
  return x;
}

static int mlp_rhs(void *impl, int slot, double t, int nb, const double *z, const double *theta,
                   double *f_out)
{
  mlp *p = impl;
  const int L = p->nlayers - 1; /* the output layer */
  const double *x = forward_hidden(p, slot + 1, slot >= 0, t, nb, z, theta);
  const int in_eff = L == 0 ? p->dim : p->out[L - 1];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, p->dim, in_eff, 1.0, x, in_eff,
              theta + p->woff[L], p->in[L], 0.0, f_out, p->dim);
  bias_act(PN_ACT_IDENTITY, nb, p->dim, layer_bias(p, L, t, theta), f_out, NULL, 0);
  return PN_OK;
}

/* Σ_r g[r, o] added into acc[o] (scaled by s). */
static void add_colsum(int nb, int w, const double *g, double s, double *acc)
{
  for (int r = 0; r < nb; r++)
    for (int o = 0; o < w; o++) acc[o] += s * g[(size_t)r * w + o];
}

static int mlp_vjp(void *impl, int slot, double t, int nb, const double *z, const double *theta,
                   const double *a, double *z_bar_out, double *theta_bar_inout)
{
  mlp *p = impl;
  int set = slot + 1;
  if (slot < 0) { /* nothing kept: recompute activations and derivatives in set 0 */
    forward_hidden(p, 0, 1, t, nb, z, theta);
    set = 0;
  }
  const double *g = a;
  double *gbuf[2] = {p->g0, p->g1};
  for (int l = p->nlayers - 1; l >= 0; l--) {
    const int out = p->out[l];
    const int in_eff = l == 0 ? p->dim : p->out[l - 1];
    const double *x = l == 0 ? z : p->post + p->set_stride * set + p->layer_off[l - 1];
    const double *W = theta + p->woff[l];
    double *dW = theta_bar_inout + p->woff[l], *db = theta_bar_inout + p->boff[l];
    /* dW_l += gᵀ x_l;  db_l += Σ_rows g */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in_eff, nb, 1.0, g, out, x, in_eff,
                1.0, dW, p->in[l]);
    add_colsum(nb, out, g, 1.0, db);
    if (l == 0) {
      if (p->time_input) /* the time column: dW[:, D] += t Σ_rows g */
        for (int r = 0; r < nb; r++)
          for (int o = 0; o < out; o++) dW[(size_t)o * p->in[0] + p->dim] += t * g[(size_t)r * out + o];
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, p->dim, out, 1.0, g, out, W,
                  p->in[0], 0.0, z_bar_out, p->dim);
    } else {
      double *gx = gbuf[l & 1];
      const double *d = p->dact + p->set_stride * set + p->layer_off[l - 1];
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, in_eff, out, 1.0, g, out, W,
                  p->in[l], 0.0, gx, in_eff);
      const size_t n = (size_t)nb * (size_t)in_eff;
      for (size_t i = 0; i < n; i++) gx[i] *= d[i];
      g = gx;
    }
  }
  return PN_OK;
}

static size_t mlp_workspace_bytes(const void *impl, int max_batch, int nslots)
{
  const mlp *p = impl;
  size_t per_set = 0;
  for (int l = 0; l + 1 < p->nlayers; l++) per_set += (size_t)p->out[l];
  return sizeof(double) * ((size_t)max_batch * (2 * per_set * (size_t)(nslots + 1) +
                                                2 * (size_t)p->maxw) +
                           (size_t)p->out[0]);
}

static int mlp_reserve(void *impl, pn_ctx *ctx, int max_batch, int nslots)
{
  mlp *p = impl;
  size_t per_set = 0;
  for (int l = 0; l + 1 < p->nlayers; l++) {
    p->layer_off[l] = per_set * (size_t)max_batch;
    per_set += (size_t)p->out[l];
  }
  const size_t stride = per_set * (size_t)max_batch, nsets = (size_t)nslots + 1;
  double *post = NULL, *dact = NULL, *g = NULL;
  int rc = PN_OK;
  PN_CALL_GOTO(rc, pni_calloc(ctx, stride * nsets, sizeof(double), &post, "MLP activations"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, stride * nsets, sizeof(double), &dact, "MLP derivatives"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, 2 * (size_t)max_batch * (size_t)p->maxw, sizeof(double), &g,
                              "MLP backward buffers"));
  free(p->post);
  free(p->dact);
  free(p->g0);
  p->post = post;
  p->dact = dact;
  p->g0 = g;
  p->g1 = g + (size_t)max_batch * (size_t)p->maxw;
  p->set_stride = stride;
  p->max_batch = max_batch;
  p->nsets = (int)nsets;
  return PN_OK;
cleanup:
  free(post);
  free(dact);
  free(g);
  return rc;
}

static int mlp_init(const void *impl, uint64_t seed, double *theta)
{
  const mlp *p = impl;
  pn_rng rng;
  pn_rng_seed(&rng, seed);
  for (int l = 0; l < p->nlayers; l++) {
    const double limit = sqrt(6.0 / (double)(p->in[l] + p->out[l])); /* Glorot uniform */
    const size_t nw = (size_t)p->in[l] * (size_t)p->out[l];
    for (size_t i = 0; i < nw; i++) theta[p->woff[l] + i] = limit * (2.0 * pn_rng_uniform(&rng) - 1.0);
    memset(theta + p->boff[l], 0, sizeof(double) * (size_t)p->out[l]);
  }
  return PN_OK;
}

static const pni_model_ops mlp_ops = {mlp_rhs,             mlp_vjp,  mlp_reserve,
                                      mlp_workspace_bytes, mlp_init, mlp_destroy};

int pn_activation_from_name(const char *name, pn_activation *out)
{
  static const char *names[] = {"identity", "tanh", "softplus", "sigmoid", "relu", "silu"};
  for (int i = 0; i < 6; i++)
    if (name && strcmp(name, names[i]) == 0) {
      *out = (pn_activation)i;
      return PN_OK;
    }
  return PN_ERR_ARG;
}

const char *pn_activation_name(pn_activation act)
{
  static const char *names[] = {"identity", "tanh", "softplus", "sigmoid", "relu", "silu"};
  return (unsigned)act < 6 ? names[act] : "unknown";
}

int pn_model_create_mlp(pn_ctx *ctx, const pn_mlp_spec *spec, pn_model **out)
{
  PN_CHECK(ctx, spec && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CHECK(ctx, spec->dim >= 1, PN_ERR_ARG, "MLP state dimension %d (must be >= 1)", spec->dim);
  PN_CHECK(ctx, spec->nhidden >= 0 && spec->nhidden <= MLP_MAX_HIDDEN, PN_ERR_ARG,
           "MLP with %d hidden layers (must be 0..%d)", spec->nhidden, MLP_MAX_HIDDEN);
  PN_CHECK(ctx, spec->nhidden == 0 || (spec->widths && spec->acts), PN_ERR_ARG,
           "MLP spec lacks widths or activations");
  for (int l = 0; l < spec->nhidden; l++) {
    PN_CHECK(ctx, spec->widths[l] >= 1 && spec->widths[l] <= (1 << 20), PN_ERR_ARG,
             "hidden layer %d has width %d (must be 1..1048576)", l + 1, spec->widths[l]);
    PN_CHECK(ctx, (unsigned)spec->acts[l] <= PN_ACT_SILU, PN_ERR_ARG,
             "hidden layer %d has an unknown activation %d", l + 1, (int)spec->acts[l]);
  }
  mlp *p = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *p, &p, "MLP"));
  const int L = spec->nhidden + 1;
  int rc = PN_OK;
  p->ctx = ctx;
  p->dim = spec->dim;
  p->nlayers = L;
  p->time_input = spec->time_input ? 1 : 0;
  size_t off = 0;
  p->maxw = spec->dim;
  for (int l = 0; l < L; l++) {
    p->in[l] = l == 0 ? spec->dim + p->time_input : spec->widths[l - 1];
    p->out[l] = l == L - 1 ? spec->dim : spec->widths[l];
    if (l < L - 1) p->act[l] = spec->acts[l];
    p->woff[l] = off;
    off += (size_t)p->in[l] * (size_t)p->out[l];
    p->boff[l] = off;
    off += (size_t)p->out[l];
    if (p->out[l] > p->maxw) p->maxw = p->out[l];
  }
  PN_CHECK_GOTO(rc, ctx, off <= (size_t)1 << 30, PN_ERR_ARG, "MLP with %zu parameters is too large",
                off);
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)p->out[0], sizeof(double), &p->bias, "MLP bias"));
  return pni_model_wrap(ctx, spec->dim, (int)off, &mlp_ops, p, "MLP", out);
cleanup:
  mlp_destroy(p);
  return rc;
}
