/* The MLP's matrix products (src/gemm.c) and the MLP built on them
 * (src/mlp.c), against plain loops in long double:
 *   - pni_mm and pni_mm_nt, every build this CPU runs (AVX-512 kernels,
 *     AVX2 and generic loops), over shapes that hit every tile size and
 *     edge (1..13 rows, 1..65 columns, k up to 600 so that k is split into
 *     chunks), transposed A, the three initialisations, padded leading
 *     dimensions: values, and no write outside C;
 *   - the same for the reference kernels (src/backend.h);
 *   - the row independence gemm.h promises (a row computed alone is bitwise
 *     the row computed in a batch, and does not depend on alignment), which
 *     keeps the trajectory bitwise the same for every micro-batch split;
 *   - the AVX2 and AVX-512 builds give bitwise the reference's products, and
 *     a model evaluated through the reference backend bitwise the own
 *     backend's f, z̄ and θ̄; the flop counter;
 *   - the MLP's rhs and both VJPs against a naive network, for narrow and
 *     wide layers, one and two hidden layers, time input, each activation;
 *   - the weight cache notices a θ changed in place, also between solver
 *     calls (which bind θ to the model for the call) and after a failed one;
 *   - a batch evaluated in row blocks (large batches of wide layers) gives
 *     bitwise the f and z̄ of each row evaluated alone;
 *   - ranges queued for the products to prefetch (pni_mm_prefetch), more
 *     than the queue holds, unaligned, for reading and writing, change no
 *     bit of a product and no byte of the ranges. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"

/* Why this bound: each entry is a sum of k products computed with one
 * rounding per fused multiply-add, so its error is at most
 * k·2^-53·Σ|a||b| (the standard γ_k bound; the dot-product kernel's tree of
 * 8 partial sums is within it too).  A wrong element, index or edge mask is
 * off by O(Σ|a||b|). */
static int close_enough(double got, long double want, long double scale, int k)
{
  return fabsl((long double)got - want) <= (long double)(k + 2) * 0x1p-53L * scale + 1e-300L;
}

/* The implementations: the builds 0..PNI_ISA_COUNT−1 this CPU runs, then the
 * reference (index PNI_ISA_COUNT; src/backend.h). */
typedef struct impl {
  const char *name;
  pni_mm_fn mm;
  pni_mm_nt_fn mm_nt;
  int fused; /* with fused multiply-adds: bitwise the reference */
} impl;

static int n_impl(void) { return PNI_ISA_COUNT + 1; }
static int usable(int i) { return i == PNI_ISA_COUNT || pni_vmath_isa_supported((pni_vmath_isa)i); }
static impl impl_of(int i)
{
  if (i == PNI_ISA_COUNT) return (impl){"reference", pni_mm_reference, pni_mm_nt_reference, 1};
  const pni_vmath_isa isa = (pni_vmath_isa)i;
  return (impl){pni_vmath_isa_name(isa), pni_mm_kernel(isa), pni_mm_nt_kernel(isa),
                isa != PNI_ISA_GENERIC};
}

/* One product C (m×n) = init + A·B (nt: A·Btᵀ), checked entry by entry. */
static void check_product(int nt, const impl *im, int m, int n, int k, int trans,
                          pni_mm_init init, uint64_t seed)
{
  const size_t lda = (size_t)k + 3, ldb = (size_t)n + 5, ldc = (size_t)n + 2;
  const size_t na = nt || !trans ? (size_t)m * lda : (size_t)k * ((size_t)m + 1);
  const size_t nbm = nt ? (size_t)n * lda : (size_t)k * ldb;
  double *a = malloc(sizeof(double) * (na + 1)), *b = malloc(sizeof(double) * (nbm + 1));
  double *c = malloc(sizeof(double) * ((size_t)m + 1) * ldc);
  double *bias = malloc(sizeof(double) * (size_t)n);
  double *c0 = malloc(sizeof(double) * ((size_t)m + 1) * ldc);
  pnt_randn(a, na + 1, seed, 1.0);
  pnt_randn(b, nbm + 1, seed + 1, 1.0);
  pnt_randn(bias, (size_t)n, seed + 2, 1.0);
  pnt_randn(c0, ((size_t)m + 1) * ldc, seed + 3, 1.0);
  memcpy(c, c0, sizeof(double) * ((size_t)m + 1) * ldc);
  /* A(i, p) and B(p, j) as the kernels read them */
  const size_t sai = trans ? 1 : lda, sak = trans ? (size_t)m + 1 : 1;
  if (nt)
    im->mm_nt(m, n, k, a, lda, b, lda, c, ldc, init, bias);
  else
    im->mm(m, n, k, a, sai, sak, b, ldb, c, ldc, init, bias);
  for (int i = 0; i <= m; i++)
    for (size_t j = 0; j < ldc; j++) {
      const double got = c[(size_t)i * ldc + j], old = c0[(size_t)i * ldc + j];
      if (i == m || j >= (size_t)n) { /* outside C: untouched */
        assert_true(got == old);
        continue;
      }
      long double want = init == PNI_MM_ACC ? old : init == PNI_MM_BIAS ? bias[j] : 0.0;
      long double scale = fabsl(want);
      for (int p = 0; p < k; p++) {
        const double av =
            nt ? a[(size_t)i * lda + (size_t)p] : a[(size_t)i * sai + (size_t)p * sak];
        const double bv = nt ? b[j * lda + (size_t)p] : b[(size_t)p * ldb + j];
        want += (long double)av * bv;
        scale += fabsl((long double)av * bv);
      }
      if (!close_enough(got, want, scale, k))
        fail_msg("%s %s m=%d n=%d k=%d trans=%d init=%d: C[%d][%zu] = %.17g, want %.17Lg",
                 nt ? "pni_mm_nt" : "pni_mm", im->name, m, n, k, trans, (int)init,
                 i, j, got, want);
    }
  free(a);
  free(b);
  free(c);
  free(c0);
  free(bias);
}

static void products_match_loops(void **state)
{
  (void)state;
  const int ms[] = {1, 2, 5, 6, 7, 8, 9, 12, 13};
  const int ns[] = {1, 2, 7, 8, 9, 16, 17, 24, 31, 32, 33, 50, 65};
  const int ks[] = {0, 1, 2, 8, 9, 50, 257, 600};
  uint64_t seed = 1;
  for (int q = 0; q < n_impl(); q++) {
    if (!usable(q)) continue;
    const impl k = impl_of(q);
    for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
      for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
        for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++)
          for (int init = 0; init < 3; init++) {
            if (ks[ik] > 50 && (ms[im] > 9 || ns[in] > 33)) continue; /* keep it quick */
            for (int trans = 0; trans < 2; trans++)
              check_product(0, &k, ms[im], ns[in], ks[ik], trans, (pni_mm_init)init, seed++);
            check_product(1, &k, ms[im], ns[in], ks[ik], 0, (pni_mm_init)init, seed++);
          }
  }
}

/* Rows alone vs in a batch, aligned vs not: bitwise equal. */
static void rows_are_independent(void **state)
{
  (void)state;
  enum { M = 13, N = 37, K = 300, PAD = 3 };
  double *a = malloc(sizeof(double) * (M * K + PAD)), *b = malloc(sizeof(double) * (K * N + PAD));
  double *all = malloc(sizeof(double) * M * N), *one = malloc(sizeof(double) * (N + PAD));
  double *bias = malloc(sizeof(double) * N);
  pnt_randn(a, M * K + PAD, 21, 1.0);
  pnt_randn(b, K * N + PAD, 22, 1.0);
  pnt_randn(bias, N, 23, 1.0);
  for (int q = 0; q < n_impl(); q++) {
    if (!usable(q)) continue;
    const impl k = impl_of(q);
    for (int nt = 0; nt < 2; nt++) {
      const int n = nt ? 5 : N; /* the dot-product kernel serves narrow products */
      if (nt)
        k.mm_nt(M, n, K, a, K, b, K, all, (size_t)n, PNI_MM_BIAS, bias);
      else
        k.mm(M, n, K, a, K, 1, b, (size_t)n, all, (size_t)n, PNI_MM_BIAS, bias);
      for (int i = 0; i < M; i++)
        for (int shift = 0; shift <= PAD; shift += PAD) {
          /* row i of A copied to a position with another alignment */
          double *ai = malloc(sizeof(double) * (K + PAD));
          memcpy(ai + shift, a + (size_t)i * K, sizeof(double) * K);
          if (nt)
            k.mm_nt(1, n, K, ai + shift, K, b, K, one + shift, (size_t)n, PNI_MM_BIAS, bias);
          else
            k.mm(1, n, K, ai + shift, K, 1, b, (size_t)n, one + shift, (size_t)n, PNI_MM_BIAS,
                 bias);
          if (memcmp(one + shift, all + (size_t)i * n, sizeof(double) * (size_t)n) != 0)
            fail_msg("%s, %s: row %d alone differs from the batch", nt ? "pni_mm_nt" : "pni_mm",
                     k.name, i);
          free(ai);
        }
    }
  }
  free(a);
  free(b);
  free(all);
  free(one);
  free(bias);
}

/* Every build with FMA gives bitwise the reference's products (the AVX2
 * loops are its arithmetic vectorised, the AVX-512 tiles the same sequence
 * per entry), over shapes that reach every tile, edge and k chunk, both
 * operand layouts and every initialisation. */
static void fma_builds_are_the_reference(void **state)
{
  (void)state;
  const int ms[] = {1, 5, 6, 11, 13}, ns[] = {1, 6, 8, 17, 32, 45}, ks[] = {1, 9, 290};
  enum { MAXM = 13, MAXN = 45, MAXK = 290 };
  double *a = malloc(sizeof(double) * MAXM * MAXK), *b = malloc(sizeof(double) * MAXK * MAXN);
  double *c1 = malloc(sizeof(double) * MAXM * MAXN), *c2 = malloc(sizeof(double) * MAXM * MAXN);
  pnt_randn(a, MAXM * MAXK, 51, 1.0);
  pnt_randn(b, MAXK * MAXN, 52, 1.0);
  int compared = 0;
  for (int q = 0; q < PNI_ISA_COUNT; q++) {
    const impl k = impl_of(q);
    if (!usable(q) || !k.fused) continue;
    for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
      for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
        for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++)
          for (int init = 0; init < 3; init++)
            for (int form = 0; form < 3; form++) { /* A·B, Aᵀ stored, A·Btᵀ */
              const int m = ms[im], n = ns[in], K = ks[ik];
              const size_t sai = form == 1 ? 1 : (size_t)K, sak = form == 1 ? (size_t)m : 1;
              pnt_randn(c1, (size_t)m * n, 53, 1.0);
              memcpy(c2, c1, sizeof(double) * (size_t)m * n);
              if (form == 2) {
                k.mm_nt(m, n, K, a, K, b, K, c1, (size_t)n, (pni_mm_init)init, b);
                pni_mm_nt_reference(m, n, K, a, K, b, K, c2, (size_t)n, (pni_mm_init)init, b);
              } else {
                k.mm(m, n, K, a, sai, sak, b, (size_t)n, c1, (size_t)n, (pni_mm_init)init, b);
                pni_mm_reference(m, n, K, a, sai, sak, b, (size_t)n, c2, (size_t)n,
                                 (pni_mm_init)init, b);
              }
              if (memcmp(c1, c2, sizeof(double) * (size_t)m * n) != 0)
                fail_msg("%s: %d x %d x %d (form %d, init %d) differs from the reference", k.name,
                         m, n, K, form, init);
              compared++;
            }
  }
  printf("%d products compared with the reference\n", compared);
  free(a);
  free(b);
  free(c1);
  free(c2);
}

/* The products by the backend in use and by a chosen build count 2·m·n·k
 * flops each. */
static void flops_are_counted(void **state)
{
  (void)state;
  enum { M = 3, N = 9, K = 4 };
  double a[M * K] = {0}, b[K * N] = {0}, c[M * N];
  double before = pni_mm_flops();
  pni_mm(M, N, K, a, K, 1, b, N, c, N, PNI_MM_ZERO, NULL);
  pni_mm_nt(M, 2, K, a, K, b, K, c, 2, PNI_MM_ZERO, NULL);
  pni_mm_isa(PNI_ISA_GENERIC, M, N, K, a, K, 1, b, N, c, N, PNI_MM_ZERO, NULL);
  pni_mm_nt_isa(PNI_ISA_GENERIC, M, 2, K, a, K, b, K, c, 2, PNI_MM_ZERO, NULL);
  assert_true(pni_mm_flops() - before == 2.0 * (2.0 * M * N * K + 2.0 * M * 2 * K));
}

/* A model evaluated through the reference backend: bitwise the own kernels'
 * f, z̄ and θ̄ where they have FMA, and then back to the own backend. */
static void backends_agree_on_the_mlp(void **state)
{
  (void)state;
  assert_int_equal(pni_backend_use("none"), PN_ERR_ARG);
  assert_string_equal(pni_backend_active()->name, "own");
  if (pni_vmath_best_isa() == PNI_ISA_GENERIC) skip(); /* the own loops are unfused here */
  const int widths[2] = {40, 7};
  const pn_activation acts[2] = {PN_ACT_TANH, PN_ACT_TANH};
  const pn_mlp_spec sp = {3, 2, widths, acts, 1};
  enum { NB = 21 };
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &sp, &m));
  pnt_ok(pnt_ctx, pn_model_reserve(m, NB));
  const size_t P = (size_t)pn_model_nparam(m), n = (size_t)NB * 3;
  double *th = malloc(sizeof(double) * P), *z = malloc(sizeof(double) * n);
  double *a = malloc(sizeof(double) * n), *out[2][3];
  pnt_randn(th, P, 81, 0.4);
  pnt_randn(z, n, 82, 1.0);
  pnt_randn(a, n, 83, 1.0);
  const char *names[2] = {"own", "reference"};
  for (int be = 0; be < 2; be++) {
    pnt_ok(pnt_ctx, pni_backend_use(names[be]));
    assert_string_equal(pn_kernels_products(), pni_backend_active()->products);
    out[be][0] = malloc(sizeof(double) * n);
    out[be][1] = malloc(sizeof(double) * n);
    out[be][2] = calloc(P, sizeof(double));
    pnt_ok(pnt_ctx, pn_model_rhs(m, 0.3, NB, z, th, out[be][0]));
    pnt_ok(pnt_ctx, pn_model_vjp(m, 0.3, NB, z, th, a, out[be][1], out[be][2]));
  }
  pnt_ok(pnt_ctx, pni_backend_use("own"));
  assert_memory_equal(out[0][0], out[1][0], sizeof(double) * n);
  assert_memory_equal(out[0][1], out[1][1], sizeof(double) * n);
  assert_memory_equal(out[0][2], out[1][2], sizeof(double) * P);
  for (int be = 0; be < 2; be++)
    for (int i = 0; i < 3; i++) free(out[be][i]);
  pn_model_destroy(&m);
  free(th);
  free(z);
  free(a);
}

/* Prefetching is a hint: the same products, bitwise, with ranges queued
 * (one product takes a share of several ranges, the next the rest), and the
 * ranges themselves untouched. */
static void prefetch_changes_nothing(void **state)
{
  (void)state;
  enum { M = 13, N = 70, K = 300, NR = 11, R = 2000 };
  double *a = malloc(sizeof(double) * M * K), *b = malloc(sizeof(double) * K * N);
  double *c1 = malloc(sizeof(double) * M * N), *c2 = malloc(sizeof(double) * M * N);
  double *ranges = malloc(sizeof(double) * NR * R), *copy = malloc(sizeof(double) * NR * R);
  pnt_randn(a, M * K, 61, 1.0);
  pnt_randn(b, K * N, 62, 1.0);
  pnt_randn(ranges, NR * R, 63, 1.0);
  memcpy(copy, ranges, sizeof(double) * NR * R);
  for (int q = 0; q < n_impl(); q++) {
    if (!usable(q)) continue;
    const impl k = impl_of(q);
    for (int init = 0; init < 3; init++) {
      pnt_randn(c1, M * N, 64, 1.0);
      memcpy(c2, c1, sizeof(double) * M * N);
      pni_mm_prefetch_clear();
      k.mm(M, N, K, a, K, 1, b, N, c1, N, (pni_mm_init)init, b);
      for (int r = 0; r < NR; r++) /* 11 > the 8 queued: the last are dropped */
        pni_mm_prefetch(ranges + (size_t)r * R + r % 3, sizeof(double) * (R - 3) - 8u * r, r & 1);
      k.mm(M, N, K, a, K, 1, b, N, c2, N, (pni_mm_init)init, b);
      assert_memory_equal(c1, c2, sizeof(double) * M * N);
      k.mm(M, N, 7, a, K, 1, b, N, c2, N, PNI_MM_ZERO, NULL); /* drains more */
      k.mm(M, N, 7, a, K, 1, b, N, c1, N, PNI_MM_ZERO, NULL);
      assert_memory_equal(c1, c2, sizeof(double) * M * N);
    }
  }
  pni_mm_prefetch(ranges, 0, 0); /* nothing to ask for */
  pni_mm_prefetch_clear();
  assert_memory_equal(ranges, copy, sizeof(double) * NR * R);
  free(a);
  free(b);
  free(c1);
  free(c2);
  free(ranges);
  free(copy);
}

/* ---- the MLP against a naive network ------------------------------------ */

static double act_f(pn_activation act, double x)
{
  switch (act) {
  case PN_ACT_TANH: return tanh(x);
  case PN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case PN_ACT_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
  case PN_ACT_RELU: return x > 0 ? x : 0.0;
  case PN_ACT_SILU: return x / (1.0 + exp(-x));
  default: return x;
  }
}

static double act_d(pn_activation act, double x)
{
  const double s = 1.0 / (1.0 + exp(-x));
  switch (act) {
  case PN_ACT_TANH: return 1.0 - tanh(x) * tanh(x);
  case PN_ACT_SIGMOID: return s * (1.0 - s);
  case PN_ACT_SOFTPLUS: return s;
  case PN_ACT_RELU: return x > 0 ? 1.0 : 0.0;
  case PN_ACT_SILU: return s * (1.0 + x * (1.0 - s));
  default: return 1.0;
  }
}

enum { MAXL = 3, MAXW = 260 };

/* Naive forward and reverse pass of one sample: f, and with a given, z̄ and
 * θ̄ added into the outputs.  Layer sizes as in pn_mlp_spec. */
static void naive(const pn_mlp_spec *sp, double t, const double *z, const double *th,
                  const double *a, double *f, double *zbar, double *thbar)
{
  const int L = sp->nhidden + 1, D = sp->dim;
  int in[MAXL], out[MAXL];
  size_t wo[MAXL], bo[MAXL], off = 0;
  for (int l = 0; l < L; l++) {
    in[l] = l == 0 ? D + sp->time_input : sp->widths[l - 1];
    out[l] = l == L - 1 ? D : sp->widths[l];
    wo[l] = off;
    bo[l] = off += (size_t)in[l] * (size_t)out[l];
    off += (size_t)out[l];
  }
  double x[MAXL + 1][MAXW], pre[MAXL][MAXW], g[MAXW], gx[MAXW];
  for (int d = 0; d < D; d++) x[0][d] = z[d];
  if (sp->time_input) x[0][D] = t;
  for (int l = 0; l < L; l++)
    for (int o = 0; o < out[l]; o++) {
      double s = th[bo[l] + (size_t)o];
      for (int i = 0; i < in[l]; i++)
        s += th[wo[l] + (size_t)o * (size_t)in[l] + (size_t)i] * x[l][i];
      pre[l][o] = s;
      x[l + 1][o] = l < L - 1 ? act_f(sp->acts[l], s) : s;
    }
  for (int d = 0; d < D; d++) f[d] = x[L][d];
  if (!a) return;
  for (int o = 0; o < D; o++) g[o] = a[o];
  for (int l = L - 1; l >= 0; l--) {
    for (int o = 0; o < out[l]; o++) {
      thbar[bo[l] + (size_t)o] += g[o];
      for (int i = 0; i < in[l]; i++)
        thbar[wo[l] + (size_t)o * (size_t)in[l] + (size_t)i] += g[o] * x[l][i];
    }
    for (int i = 0; i < in[l]; i++) {
      double s = 0.0;
      for (int o = 0; o < out[l]; o++)
        s += g[o] * th[wo[l] + (size_t)o * (size_t)in[l] + (size_t)i];
      gx[i] = l > 0 ? s * act_d(sp->acts[l - 1], pre[l - 1][i]) : s;
    }
    memcpy(g, gx, sizeof g);
  }
  for (int d = 0; d < D; d++) zbar[d] = g[d];
}

static double max_rel(const double *x, const double *y, size_t n)
{
  double d = 0.0, s = 0.0;
  for (size_t i = 0; i < n; i++) {
    d = fmax(d, fabs(x[i] - y[i]));
    s = fmax(s, fabs(y[i]));
  }
  return s > 0 ? d / s : d;
}

/* Why 1e-12: each output is a short chain of sums of ≤ 256 products through
 * ≤ 3 layers; the kernels and the naive loops round differently (and the
 * tanh here is libm's, the MLP's is within 3 ulp of it), which moves the
 * result by a few hundred ulps at most relative to the largest entry.  An
 * indexing error is O(1). */
#define TOL_MLP 1e-12

static void mlp_case(int D, int nh, const int *widths, pn_activation act, int time_input, int nb)
{
  pn_activation acts[2] = {act, act};
  const pn_mlp_spec sp = {D, nh, widths, acts, time_input};
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &sp, &m));
  pnt_ok(pnt_ctx, pn_model_reserve(m, nb));
  const size_t P = (size_t)pn_model_nparam(m), n = (size_t)nb * (size_t)D;
  double *th = malloc(sizeof(double) * P), *z = malloc(sizeof(double) * n),
         *a = malloc(sizeof(double) * n), *f = malloc(sizeof(double) * n),
         *fr = malloc(sizeof(double) * n), *zb = malloc(sizeof(double) * n),
         *zbr = malloc(sizeof(double) * n), *tb = calloc(P, sizeof(double)),
         *tbr = calloc(P, sizeof(double));
  pnt_randn(th, P, 31 + (uint64_t)D, 0.4);
  pnt_randn(z, n, 32, 1.0);
  pnt_randn(a, n, 33, 1.0);
  const double t = 0.37;
  for (int round = 0; round < 2; round++) {
    if (round == 1) /* θ changed in place: the kernels' weight copies must follow */
      for (size_t i = 0; i < P; i += 3) th[i] *= -1.5;
    memset(tb, 0, sizeof(double) * P);
    memset(tbr, 0, sizeof(double) * P);
    pnt_ok(pnt_ctx, pn_model_rhs(m, t, nb, z, th, f));
    pnt_ok(pnt_ctx, pn_model_vjp(m, t, nb, z, th, a, zb, tb));
    for (int r = 0; r < nb; r++)
      naive(&sp, t, z + (size_t)r * D, th, a + (size_t)r * D, fr + (size_t)r * D,
            zbr + (size_t)r * D, tbr);
    const double ef = max_rel(f, fr, n), ez = max_rel(zb, zbr, n), et = max_rel(tb, tbr, P);
    if (!(ef < TOL_MLP && ez < TOL_MLP && et < TOL_MLP))
      fail_msg("MLP D=%d hidden=%d (%d) %s time=%d nb=%d round %d: f %.1e, z̄ %.1e, θ̄ %.1e", D,
               nh, nh ? widths[0] : 0, pn_activation_name(act), time_input, nb, round, ef, ez, et);
  }
  pn_model_destroy(&m);
  free(th);
  free(z);
  free(a);
  free(f);
  free(fr);
  free(zb);
  free(zbr);
  free(tb);
  free(tbr);
}

static void mlp_matches_naive(void **state)
{
  (void)state;
  const int w50[2] = {50, 9}, w16[2] = {16, 16}, w64[2] = {64, 3}, w7[2] = {7, 12};
  const pn_activation acts[] = {PN_ACT_TANH, PN_ACT_SOFTPLUS, PN_ACT_SIGMOID,
                                PN_ACT_RELU, PN_ACT_SILU,     PN_ACT_IDENTITY};
  for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
    mlp_case(2, 1, w50, acts[i], 0, 16); /* spiral's shape: narrow first and last layer */
    mlp_case(2, 1, w16, acts[i], 1, 1);  /* the tiny problem, with time input */
    mlp_case(8, 2, w64, acts[i], 0, 13); /* long's first layer, then 64 → 3 → 8 */
    mlp_case(3, 2, w7, acts[i], 1, 5);   /* narrow hidden layers */
    mlp_case(9, 0, NULL, acts[i], 1, 3); /* no hidden layer */
  }
  const int w80[1] = {80}, w256[1] = {256};
  mlp_case(64, 1, w80, PN_ACT_TANH, 0, 20);    /* wide-like: every product on full vectors */
  mlp_case(64, 1, w256, PN_ACT_TANH, 0, 150);  /* several row blocks (54, 54, 42) */
  mlp_case(3, 1, w256, PN_ACT_SILU, 1, 131);   /* row blocks with a derivative array */
}

/* The MLP's row blocks (mlp.c) must not change any row: f and z̄ of a batch
 * equal, bit for bit, those of each row alone (the trajectory's bitwise
 * independence of the micro-batch split rests on it). */
static void mlp_rows_independent(void **state)
{
  (void)state;
  const int widths[2] = {256, 40};
  const pn_activation acts[2] = {PN_ACT_TANH, PN_ACT_SOFTPLUS};
  const pn_mlp_spec sp = {6, 2, widths, acts, 1};
  enum { NB = 133 };
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &sp, &m));
  pnt_ok(pnt_ctx, pn_model_reserve(m, NB));
  const size_t P = (size_t)pn_model_nparam(m), n = (size_t)NB * 6;
  double *th = malloc(sizeof(double) * P), *z = malloc(sizeof(double) * n),
         *a = malloc(sizeof(double) * n), *f = malloc(sizeof(double) * n),
         *zb = malloc(sizeof(double) * n), *tb = calloc(P, sizeof(double)), f1[6], zb1[6];
  pnt_randn(th, P, 61, 0.3);
  pnt_randn(z, n, 62, 1.0);
  pnt_randn(a, n, 63, 1.0);
  pnt_ok(pnt_ctx, pn_model_rhs(m, 0.5, NB, z, th, f));
  pnt_ok(pnt_ctx, pn_model_vjp(m, 0.5, NB, z, th, a, zb, tb));
  for (int r = 0; r < NB; r++) {
    pnt_ok(pnt_ctx, pn_model_rhs(m, 0.5, 1, z + 6 * r, th, f1));
    pnt_ok(pnt_ctx, pn_model_vjp(m, 0.5, 1, z + 6 * r, th, a + 6 * r, zb1, tb));
    if (memcmp(f1, f + 6 * r, sizeof f1) != 0 || memcmp(zb1, zb + 6 * r, sizeof zb1) != 0)
      fail_msg("row %d alone differs from the batch of %d", r, NB);
  }
  pn_model_destroy(&m);
  free(th);
  free(z);
  free(a);
  free(f);
  free(zb);
  free(tb);
}

/* One gradient of a tiny problem (D=2, H=16, rk4, 8 steps) with model m. */
static double tiny_gradient(pn_model *m, const double *th, double *g)
{
  const double T = 1.0, target[2] = {0.1, 0.2}, z0[2] = {0.5, -0.25};
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = 8;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, &T, target, NULL, 1, 2, &loss));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  double L = 0.0, gz[2];
  pnt_ok(pnt_ctx, pn_solver_gradient(S, th, 1, z0, loss, &L, g, gz));
  pn_solver_destroy(&S);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  return L;
}

/* A solver call binds θ to the model (the MLP then checks it once per call):
 * θ changed in place after a call, successful or not, must be noticed by
 * the model's own evaluations and by the next call.  Compared bitwise with
 * a model that never saw the old θ. */
static void theta_changed_between_calls(void **state)
{
  (void)state;
  const int widths[1] = {16};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec sp = {2, 1, widths, acts, 1};
  pn_model *m = NULL, *fresh = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &sp, &m));
  enum { P = 3 * 16 + 16 + 16 * 2 + 2 }; /* with the time column */
  assert_int_equal(pn_model_nparam(m), P);
  double th[P], g[P], gf[P], z[2] = {0.3, -0.7}, f[2], ff[2];
  pnt_randn(th, P, 71, 0.5);
  for (int round = 0; round < 3; round++) {
    if (round == 2) { /* a failed call (no states) binds and must unbind too */
      const double z0[2] = {0, 0};
      pn_solver *S = NULL;
      pn_tableau *tab = NULL;
      pn_solver_opts o;
      pn_solver_opts_default(&o);
      pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
      pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
      assert_int_not_equal(pn_solver_loss(S, th, 0, z0, NULL, NULL), PN_OK);
      pn_solver_destroy(&S);
      pn_tableau_destroy(&tab);
    } else {
      tiny_gradient(m, th, g);
    }
    for (int i = 0; i < P; i += 3) th[i] *= -1.5; /* in place, between calls */
    pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &sp, &fresh));
    pnt_ok(pnt_ctx, pn_model_reserve(fresh, 1));
    pnt_ok(pnt_ctx, pn_model_rhs(m, 0.4, 1, z, th, f));
    pnt_ok(pnt_ctx, pn_model_rhs(fresh, 0.4, 1, z, th, ff));
    if (memcmp(f, ff, sizeof f) != 0) fail_msg("round %d: rhs used the old θ", round);
    const double L = tiny_gradient(m, th, g), Lf = tiny_gradient(fresh, th, gf);
    if (L != Lf || memcmp(g, gf, sizeof g) != 0)
      fail_msg("round %d: gradient used the old θ", round);
    pn_model_destroy(&fresh);
  }
  pn_model_destroy(&m);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(products_match_loops),
      cmocka_unit_test(rows_are_independent),
      cmocka_unit_test(fma_builds_are_the_reference),
      cmocka_unit_test(flops_are_counted),
      cmocka_unit_test(backends_agree_on_the_mlp),
      cmocka_unit_test(prefetch_changes_nothing),
      cmocka_unit_test(mlp_matches_naive),
      cmocka_unit_test(mlp_rows_independent),
      cmocka_unit_test(theta_changed_between_calls),
  };
  return pnt_main(argc, argv, "mlp_kernels", tests, sizeof tests / sizeof tests[0]);
}
