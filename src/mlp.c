/* The built-in multilayer perceptron, evaluated on the whole batch:
 * H = act(X Wᵀ + b) layer by layer (X is nb × in, row-major), the products
 * by pni_mm (gemm.h) with the bias added in the product, tanh vectorised
 * (vmath.h).  The forward products read the weights transposed (Wᵀ, in × out,
 * rows contiguous, as pni_mm wants its right operand) and the backward ones
 * as they are; both are kept in 64-byte aligned copies, rebuilt only when θ
 * changes: checked once per solver call for the θ it binds (model_impl.h),
 * and by a memcmp of θ on any other evaluation (measured 6 % of the long
 * benchmark's gradient when done on every evaluation).  All work buffers are
 * aligned too (gemm.h, PNI_ALIGN). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
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
  int block;                    /* rows of a block, block_rows(): fixed with maxw */
  int max_batch, nsets;         /* sets = slots + 1 scratch set (index 0) */
  int need_dact;                /* a hidden activation keeps its derivative */
  /* Per set and hidden layer l: activations post (nb × out[l]) and, if
   * need_dact, their derivative dact, both at offset set_stride*set +
   * layer_off[l]. */
  size_t layer_off[MLP_MAX_LAYERS], set_stride;
  double *post, *dact;
  double *g0, *g1; /* backward buffers, nb × maxw */
  double *bias;    /* effective bias of layer 0 (time column folded in), out[0] */
  double *colsum;  /* Σ_rows g of one layer, maxw */
  double *dwt;     /* transposed weight gradient of a layer with < 8 inputs, 8 × maxw */
  /* Aligned copies of the weights of the parameters saved in theta_seen
   * (nparam, θ's layout), valid once w_valid is set: W_l (out[l] × in[l]) at
   * w + w_off[l], and Wᵀ_l (in_eff × out[l], in_eff = D for layer 0, the
   * time column being folded into the bias) at wt + wt_off[l]. */
  double *w, *wt, *theta_seen;
  size_t w_off[MLP_MAX_LAYERS], wt_off[MLP_MAX_LAYERS], nparam;
  int w_valid;
  const double *bound; /* θ bound by the solver (w, wt are its weights), or NULL */
} mlp;

static void mlp_destroy(void *impl)
{
  mlp *p = impl;
  if (!p) return;
  free(p->post);
  free(p->dact);
  free(p->g0);
  free(p->bias);
  free(p->colsum);
  free(p->dwt);
  free(p->w);
  free(p->wt);
  free(p->theta_seen);
  free(p);
}

/* Activations whose derivative is a function of their output y (tanh:
 * 1 − y², sigmoid: y(1 − y), identity: 1), so the VJP needs only y; the
 * others keep act'(x) in dact. */
static int derivative_from_output(pn_activation act)
{
  return act == PN_ACT_TANH || act == PN_ACT_SIGMOID || act == PN_ACT_IDENTITY;
}

/* y ← act(y) for n entries (the bias is already in y); with keep, and an
 * activation whose derivative is not a function of y, also d ← act'(y). */
static void apply_act(pn_activation act, size_t n, double *y, double *d, int keep)
{
  keep = keep && !derivative_from_output(act);
  switch (act) {
  case PN_ACT_IDENTITY:
    break;
  case PN_ACT_TANH: /* the benchmarks' activation: vectorised */
    pni_vtanh(n, y);
    break;
  case PN_ACT_SIGMOID:
    for (size_t i = 0; i < n; i++) y[i] = 1.0 / (1.0 + exp(-y[i]));
    break;
  case PN_ACT_SOFTPLUS:
    for (size_t i = 0; i < n; i++) {
      const double x = y[i];
      /* log(1 + e^x) without overflow; derivative σ(x). */
      y[i] = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
      if (keep) d[i] = 1.0 / (1.0 + exp(-x));
    }
    break;
  case PN_ACT_RELU:
    for (size_t i = 0; i < n; i++) {
      const double x = y[i];
      y[i] = x > 0 ? x : 0.0;
      if (keep) d[i] = x > 0 ? 1.0 : 0.0;
    }
    break;
  case PN_ACT_SILU:
    for (size_t i = 0; i < n; i++) {
      const double x = y[i], s = 1.0 / (1.0 + exp(-x));
      y[i] = x * s;
      if (keep) d[i] = s * (1.0 + x * (1.0 - s));
    }
    break;
  }
}

/* g ← g ⊙ act'(x) for n entries, from the kept output y or derivative d.
 * The derivative is that of the function evaluated in bias_act (for tanh,
 * 1 − y² of the very y computed), so the adjoint stays exact. */
static void act_backward(pn_activation act, size_t n, const double *y, const double *d, double *g)
{
  switch (act) {
  case PN_ACT_IDENTITY:
    return;
  case PN_ACT_TANH:
    pni_vtanh_grad(n, y, g);
    return;
  case PN_ACT_SIGMOID:
    pni_vsigmoid_grad(n, y, g);
    return;
  default:
    pni_vmul(n, d, g);
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

/* Make p->w and p->wt the weights of θ, unless they already are (compared
 * bitwise with the θ they were made from: a changed θ is always noticed). */
static void refresh_weights(mlp *p, const double *theta)
{
  if (p->w_valid && memcmp(theta, p->theta_seen, sizeof(double) * p->nparam) == 0) return;
  p->bound = NULL; /* the copies no longer hold the bound θ's weights */
  memcpy(p->theta_seen, theta, sizeof(double) * p->nparam);
  for (int l = 0; l < p->nlayers; l++) {
    const int in_eff = l == 0 ? p->dim : p->out[l - 1], out = p->out[l];
    const double *W = theta + p->woff[l];
    double *WT = p->wt + p->wt_off[l];
    memcpy(p->w + p->w_off[l], W, sizeof(double) * (size_t)out * (size_t)p->in[l]);
    for (int o = 0; o < out; o++)
      for (int i = 0; i < in_eff; i++) WT[(size_t)i * out + o] = W[(size_t)o * p->in[l] + i];
  }
  p->w_valid = 1;
}

/* The weights of θ, current: nothing to check for the bound θ. */
static void use_weights(mlp *p, const double *theta)
{
  if (theta != p->bound) refresh_weights(p, theta);
}

static void mlp_bind(void *impl, const double *theta)
{
  mlp *p = impl;
  p->bound = NULL;
  if (!theta) return;
  refresh_weights(p, theta);
  p->bound = theta;
}

/* A product with n < 8 output columns and k ≥ 8 terms is done as dot
 * products (pni_mm_nt), where pni_mm would fill a fraction of each vector.
 * The choice depends on the layer's shape only, never on the batch, so that
 * a row's result does not depend on how the batch is split. */
static int narrow(int n, int k) { return n < 8 && k >= 8; }

/* y = x Wᵀ_l + b_l for nb rows (x: nb × in_eff); p->w, p->wt current. */
static void layer_product(mlp *p, int l, double t, int nb, const double *x, const double *theta,
                          double *y)
{
  const int in_eff = l == 0 ? p->dim : p->out[l - 1], out = p->out[l];
  const double *b = layer_bias(p, l, t, theta);
  if (narrow(out, in_eff)) /* rows of W are the rows of Bt */
    pni_mm_nt(nb, out, in_eff, x, (size_t)in_eff, p->w + p->w_off[l], (size_t)p->in[l], y,
              (size_t)out, PNI_MM_BIAS, b);
  else
    pni_mm(nb, out, in_eff, x, (size_t)in_eff, 1, p->wt + p->wt_off[l], (size_t)out, y,
           (size_t)out, PNI_MM_BIAS, b);
}

/* dW_l += gᵀ x (dW: out × in_eff, leading dimension ldw).  With few inputs
 * (the first layer of a low-dimensional ODE) the transpose (x)ᵀ g, whose
 * rows are long, is formed instead and added transposed. */
static void weight_gradient(mlp *p, int out, int in_eff, int ldw, int nb, const double *g,
                            const double *x, double *dW)
{
  if (!narrow(in_eff, out)) {
    pni_mm(out, in_eff, nb, g, 1, (size_t)out, x, (size_t)in_eff, dW, (size_t)ldw, PNI_MM_ACC,
           NULL);
    return;
  }
  double *dWT = p->dwt; /* in_eff × out */
  pni_mm(in_eff, out, nb, x, 1, (size_t)in_eff, g, (size_t)out, dWT, (size_t)out, PNI_MM_ZERO,
         NULL);
  /* one addition per entry, so the loop order is free: the long rows of dWT
   * inside (with in_eff < 8 inside, the loop cost 7 instructions an entry) */
  for (int i = 0; i < in_eff; i++) {
    const double *restrict row = dWT + (size_t)i * out;
    double *restrict col = dW + i;
    for (int o = 0; o < out; o++) col[(size_t)o * ldw] += row[o];
  }
}

/* gx = g W_l (g: nb × out; W_l without the time column); p->w, p->wt current. */
static void input_gradient(mlp *p, int l, int nb, const double *g, double *gx)
{
  const int out = p->out[l], in_eff = l == 0 ? p->dim : p->out[l - 1];
  if (narrow(in_eff, out))
    pni_mm_nt(nb, in_eff, out, g, (size_t)out, p->wt + p->wt_off[l], (size_t)out, gx,
              (size_t)in_eff, PNI_MM_ZERO, NULL);
  else
    pni_mm(nb, in_eff, out, g, (size_t)out, 1, p->w + p->w_off[l], (size_t)p->in[l], gx,
           (size_t)in_eff, PNI_MM_ZERO, NULL);
}

/* Rows of a block: a large batch is evaluated block after block, so that a
 * block's activations, gradients and the weights stay in the core's caches
 * through the whole chain of products (measured on wide, 256 rows of width
 * 256: the products ran at 57 GFLOP/s on the whole batch, whose arrays
 * spill out of the 2 MB L2, and at ~80 on their own).  ~128 KB per array.
 * Rows are independent in the forward products, and a weight gradient
 * accumulates the blocks in row order (pni_mm adds to C one row term after
 * another), so blocking changes no result bit of z, f or z̄. */
static int block_rows(const mlp *p) /* once, at creation (p->block) */
{
  /* a multiple of 6, the rows of pni_mm's widest tiles */
  const int rb = 16384 / p->maxw / 6 * 6;
  return rb > 6 ? rb : 6;
}

/* Rows of each block of a batch of nb: at most p->block, as even as
 * multiples of 6 allow (wide's 256 rows: 54, 54, 54, 54, 40, not 60, 60,
 * 60, 60, 16, whose last products ran at 45–60 GFLOP/s). */
static int batch_block(const mlp *p, int nb)
{
  if (nb <= p->block) return nb;
  const int nblocks = (nb + p->block - 1) / p->block, rb = (nb + nblocks - 1) / nblocks;
  return (rb + 5) / 6 * 6;
}

/* Activations of hidden layer l in set `set`, from row r0 (d: derivatives). */
static double *act_rows(const mlp *p, double *base, int set, int l, int r0)
{
  return base + p->set_stride * (size_t)set + p->layer_off[l] + (size_t)r0 * (size_t)p->out[l];
}

/* Queue the rows [r0, min(r0 + rb, nb)) of the activations (and
 * derivatives) of set `set`, to be read (for_write = 0) or written (1) by
 * the next block (none when r0 ≥ nb), for this block's products to bring
 * into L2 (pni_mm_prefetch).
 * A tape's sets are far larger than the caches and cold when a block's
 * products reach them, 32 columns of a row at a time.  Measured on wide
 * (each product timed inside the gradient, one window): the forward product
 * that writes a tape slot 42–44 → 52–56 GFLOP/s, the weight gradients that
 * read one +3–8 % (82 GFLOP/s when all operands are cached). */
static void prefetch_block(const mlp *p, int set, int r0, int rb, int nb, int for_write)
{
  const int rows = nb - r0 < rb ? nb - r0 : rb;
  pni_mm_prefetch_clear();
  for (int l = 0; rows > 0 && l + 1 < p->nlayers; l++) {
    const size_t bytes = sizeof(double) * (size_t)rows * (size_t)p->out[l];
    pni_mm_prefetch(act_rows(p, p->post, set, l, r0), bytes, for_write);
    if (p->need_dact) pni_mm_prefetch(act_rows(p, p->dact, set, l, r0), bytes, for_write);
  }
}

/* Hidden layers of the network at (t, z) for rows [r0, r0 + nb) (z: those
 * rows) into activation set `set` (with the derivatives when keep); returns
 * the last hidden activations of those rows (z if none).  p->w current. */
static const double *forward_hidden(mlp *p, int set, int keep, double t, int r0, int nb,
                                    const double *z, const double *theta)
{
  const double *x = z;
  for (int l = 0; l + 1 < p->nlayers; l++) {
    double *y = act_rows(p, p->post, set, l, r0);
    double *d = p->need_dact ? act_rows(p, p->dact, set, l, r0) : NULL;
    layer_product(p, l, t, nb, x, theta, y);
    apply_act(p->act[l], (size_t)nb * (size_t)p->out[l], y, d, keep);
    x = y;
  }
  return x;
}

static int mlp_rhs(void *impl, int slot, double t, int nb, const double *z, const double *theta,
                   double *f_out)
{
  mlp *p = impl;
  const int RB = batch_block(p, nb);
  use_weights(p, theta);
  for (int r0 = 0; r0 < nb; r0 += RB) {
    const int rb = nb - r0 < RB ? nb - r0 : RB;
    const size_t off = (size_t)r0 * (size_t)p->dim;
    if (slot >= 0) prefetch_block(p, slot + 1, r0 + rb, RB, nb, 1); /* a tape slot: cold */
    const double *x = forward_hidden(p, slot + 1, slot >= 0, t, r0, rb, z + off, theta);
    layer_product(p, p->nlayers - 1, t, rb, x, theta, f_out + off); /* linear output layer */
  }
  return PN_OK;
}

/* y = x Wᵀ_l + b_l on the first nb of R rows and x Wᵀ_l on the others (the
 * tangent rows): one product of all R rows, added onto y set to the bias or
 * to zero row by row, which gives the state rows the very bits of
 * layer_product (the product adds its terms onto its initial value either
 * way). */
static void tangent_product(mlp *p, int l, double t, int nb, int R, const double *x,
                            const double *theta, double *y)
{
  const int in_eff = l == 0 ? p->dim : p->out[l - 1], out = p->out[l];
  const double *b = layer_bias(p, l, t, theta);
  for (int r = 0; r < nb; r++) memcpy(y + (size_t)r * out, b, sizeof(double) * (size_t)out);
  memset(y + (size_t)nb * out, 0, sizeof(double) * (size_t)(R - nb) * (size_t)out);
  if (narrow(out, in_eff))
    pni_mm_nt(R, out, in_eff, x, (size_t)in_eff, p->w + p->w_off[l], (size_t)p->in[l], y,
              (size_t)out, PNI_MM_ACC, NULL);
  else
    pni_mm(R, out, in_eff, x, (size_t)in_eff, 1, p->wt + p->wt_off[l], (size_t)out, y,
           (size_t)out, PNI_MM_ACC, NULL);
}

/* Forward-mode through the network (model_impl.h): the tangent rows go
 * through every layer's product with the states, then take the derivative
 * of the activation at their state, kept by the state rows (activation set
 * 0).  Rows are not blocked: the Newton method that uses this has small
 * batches. */
static int mlp_rhs_tangent(void *impl, double t, int nb, int ntan, const double *zv,
                           const double *theta, double *out)
{
  mlp *p = impl;
  const int R = nb * (1 + ntan);
  use_weights(p, theta);
  const double *x = zv;
  for (int l = 0; l < p->nlayers; l++) {
    const int last = l + 1 == p->nlayers;
    const size_t n = (size_t)nb * (size_t)p->out[l];
    double *y = last ? out : act_rows(p, p->post, 0, l, 0);
    double *d = !last && p->need_dact ? act_rows(p, p->dact, 0, l, 0) : NULL;
    tangent_product(p, l, t, nb, R, x, theta, y);
    if (!last) {
      apply_act(p->act[l], n, y, d, 1);
      for (int e = 1; e <= ntan; e++) act_backward(p->act[l], n, y, d, y + (size_t)e * n);
    }
    x = y;
  }
  return PN_OK;
}

/* Ask the cache for activation set `set` (first nb rows of each layer).  A
 * backward sweep over a tape (step.h) visits the slots in decreasing order,
 * so the set below the one in use is the next one needed; without this its
 * first accesses wait on memory (the tape of spiral is 26 MB: measured 5 %
 * slower than recomputing).  Large sets are left to the hardware prefetcher,
 * which follows their long contiguous rows by itself. */
static void prefetch_set(const mlp *p, int set, int nb)
{
  if (set < 0 || set >= p->nsets) return;
  for (int l = 0; l + 1 < p->nlayers; l++) {
    const size_t n = (size_t)nb * (size_t)p->out[l];
    if (n > 8192) continue; /* 64 KB */
    const double *y = p->post + p->set_stride * (size_t)set + p->layer_off[l];
    const double *d = p->need_dact ? p->dact + p->set_stride * (size_t)set + p->layer_off[l] : NULL;
    for (size_t i = 0; i < n; i += 8) {
      __builtin_prefetch(y + i);
      if (d) __builtin_prefetch(d + i);
    }
  }
}

/* The VJPs of rows [r0, r0 + nb) (z, a, z̄: those rows) from activation
 * set `set`, θ̄ accumulated. */
static void vjp_rows(mlp *p, int set, double t, int r0, int nb, const double *z, const double *a,
                     double *z_bar_out, double *theta_bar_inout)
{
  const double *g = a;
  double *gbuf[2] = {p->g0, p->g1};
  for (int l = p->nlayers - 1; l >= 0; l--) {
    const int out = p->out[l], ldw = p->in[l];
    const int in_eff = l == 0 ? p->dim : p->out[l - 1];
    const double *x = l == 0 ? z : act_rows(p, p->post, set, l - 1, r0);
    double *dW = theta_bar_inout + p->woff[l], *db = theta_bar_inout + p->boff[l];
    /* dW_l += gᵀ x_l;  db_l += Σ_rows g */
    weight_gradient(p, out, in_eff, ldw, nb, g, x, dW);
    pni_vcolsum_add(nb, out, g, p->colsum, db);
    if (l == 0) {
      if (p->time_input) /* the time column: dW[:, D] += t Σ_rows g */
        for (int o = 0; o < out; o++) dW[(size_t)o * ldw + p->dim] += t * p->colsum[o];
      input_gradient(p, 0, nb, g, z_bar_out); /* z̄ = g W_0 (no time column) */
    } else {
      double *gx = gbuf[l & 1];
      const double *d = p->need_dact ? act_rows(p, p->dact, set, l - 1, r0) : NULL;
      input_gradient(p, l, nb, g, gx);
      act_backward(p->act[l - 1], (size_t)nb * (size_t)in_eff, x, d, gx);
      g = gx;
    }
  }
}

static int mlp_vjp(void *impl, int slot, double t, int nb, const double *z, const double *theta,
                   const double *a, double *z_bar_out, double *theta_bar_inout)
{
  mlp *p = impl;
  const int RB = batch_block(p, nb), set = slot < 0 ? 0 : slot + 1;
  use_weights(p, theta);
  if (slot >= 0) prefetch_set(p, set - 1, nb);
  for (int r0 = 0; r0 < nb; r0 += RB) {
    const int rb = nb - r0 < RB ? nb - r0 : RB;
    const size_t off = (size_t)r0 * (size_t)p->dim;
    if (slot >= 0) prefetch_block(p, set, r0 + rb, RB, nb, 0);
    if (slot < 0) /* nothing kept: recompute the block's activations in set 0 */
      forward_hidden(p, 0, 1, t, r0, rb, z + off, theta);
    vjp_rows(p, set, t, r0, rb, z + off, a + off, z_bar_out + off, theta_bar_inout);
  }
  return PN_OK;
}

/* Doubles of one activation set for max_batch rows (each layer's block aligned). */
static size_t set_doubles(const mlp *p, int max_batch)
{
  size_t n = 0;
  for (int l = 0; l + 1 < p->nlayers; l++) n += pni_round_up((size_t)p->out[l] * (size_t)max_batch);
  return n;
}

static size_t mlp_workspace_bytes(const void *impl, int max_batch, int nslots)
{
  const mlp *p = impl;
  const size_t sets = (size_t)(p->need_dact ? 2 : 1); /* post (+ dact) */
  const size_t gbuf = pni_round_up((size_t)max_batch * (size_t)p->maxw);
  return sizeof(double) * (sets * set_doubles(p, max_batch) * (size_t)(nslots + 1) + 2 * gbuf +
                           (size_t)p->out[0] + 9 * (size_t)p->maxw + 3 * p->nparam);
}

static int mlp_reserve(void *impl, pn_ctx *ctx, int max_batch, int nslots)
{
  mlp *p = impl;
  size_t off = 0;
  for (int l = 0; l + 1 < p->nlayers; l++) {
    p->layer_off[l] = off;
    off += pni_round_up((size_t)p->out[l] * (size_t)max_batch);
  }
  const size_t stride = off, nsets = (size_t)nslots + 1;
  const size_t gbuf = pni_round_up((size_t)max_batch * (size_t)p->maxw);
  double *post = NULL, *dact = NULL, *g = NULL;
  int rc = PN_OK;
  PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, stride * nsets, sizeof(double), &post,
                                      "MLP activations"));
  if (p->need_dact)
    PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, stride * nsets, sizeof(double), &dact,
                                        "MLP derivatives"));
  PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, 2 * gbuf, sizeof(double), &g, "MLP backward buffers"));
  free(p->post);
  free(p->dact);
  free(p->g0);
  p->post = post;
  p->dact = dact;
  p->g0 = g;
  p->g1 = g + gbuf;
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
    for (size_t i = 0; i < nw; i++)
      theta[p->woff[l] + i] = limit * (2.0 * pn_rng_uniform(&rng) - 1.0);
    memset(theta + p->boff[l], 0, sizeof(double) * (size_t)p->out[l]);
  }
  return PN_OK;
}

static const pni_model_ops mlp_ops = {mlp_rhs,  mlp_vjp,     mlp_reserve, mlp_workspace_bytes,
                                      mlp_init, mlp_destroy, mlp_bind,    mlp_rhs_tangent};

static const char *const activation_names[] = {"identity", "tanh", "softplus", "sigmoid",
                                               "relu",     "silu", NULL};
PNI_ENUM_NAMES(pn_activation, pn_activation, activation_names)

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
    if (l < L - 1) {
      p->act[l] = spec->acts[l];
      if (!derivative_from_output(p->act[l])) p->need_dact = 1;
    }
    p->woff[l] = off;
    off += (size_t)p->in[l] * (size_t)p->out[l];
    p->boff[l] = off;
    off += (size_t)p->out[l];
    if (p->out[l] > p->maxw) p->maxw = p->out[l];
  }
  p->block = block_rows(p);
  PN_CHECK_GOTO(rc, ctx, off <= (size_t)1 << 30, PN_ERR_ARG, "MLP with %zu parameters is too large",
                off);
  PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, (size_t)p->out[0], sizeof(double), &p->bias,
                                      "MLP bias"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)p->maxw, sizeof(double), &p->colsum, "MLP sums"));
  PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, 8 * (size_t)p->maxw, sizeof(double), &p->dwt,
                                      "MLP scratch"));
  p->nparam = off;
  PN_CALL_GOTO(rc, pni_calloc(ctx, off, sizeof(double), &p->theta_seen, "MLP parameters"));
  size_t nw = 0, nwt = 0; /* aligned blocks: W_l (out × in[l]), Wᵀ_l ((in[l] − time) × out) */
  for (int l = 0; l < L; l++) {
    p->w_off[l] = nw;
    p->wt_off[l] = nwt;
    nw += pni_round_up((size_t)p->out[l] * (size_t)p->in[l]);
    nwt += pni_round_up((size_t)p->out[l] * (size_t)(l == 0 ? spec->dim : p->in[l]));
  }
  PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, nw, sizeof(double), &p->w, "MLP weights"));
  PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, nwt, sizeof(double), &p->wt, "MLP transposed weights"));
  return pni_model_wrap(ctx, spec->dim, (int)off, &mlp_ops, p, "MLP", out);
cleanup:
  mlp_destroy(p);
  return rc;
}
