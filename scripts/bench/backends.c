/* bench_backends: the built-in MLP's kernels against the libraries that could replace them (a
 * development tool, not installed; docs/performance.md, "Kernels and backends").
 *
 *   bench_backends [--repeat R] [--clock wall|cpu] [--detail] [--shape NAME:B:D:H ...]
 *
 * For each shape (default: the bench problems spiral, wide, long and a batch of one), the six
 * matrix products of one forward and one VJP evaluation of a one-hidden-layer network as
 * src/mlp.c forms them (batches of more than a block evaluated in blocks of rows), by
 *   own        pinode's kernels for this CPU (src/gemm.c),
 *   reference  the plain C reference (src/backend.h),
 *   OpenBLAS   cblas_dgemm,
 *   libxsmm    JIT kernels (libxsmm_dmmdispatch; transposed operands by its flags, the bias
 *              copied into C first, as it has no bias initialisation; where it has no kernel,
 *              libxsmm_dgemm, which calls OpenBLAS),
 * in R paired rounds: in each round every product is timed by every backend in turn (calls
 * repeated for >= 20 ms), and the six summed: microseconds per forward + VJP, the median over
 * the rounds, and "vs own" the median of the rounds' ratios to own (a machine whose load changes
 * moves the ratio of back-to-back timings far less than separate medians); --detail: each
 * product too.  --clock cpu times by the thread's CPU time instead of the wall clock (for a
 * shared machine).  And tanh on a layer's activations (B x H values), paired the same way: own,
 * SLEEF's 1-ulp and 3.5-ulp AVX-512 and AVX2 functions: nanoseconds per value, the largest error
 * in ulps against tanhl over 2^20 values, and whether they give the same bits at both widths.
 *
 * The guarantee each must keep to be usable: a row's bits do not depend on the micro-batch split
 * (the rows multiplied with it) or on the vector width.  "rows" says whether every row of each
 * product, computed alone, in every split into two parts and at an offset, is bitwise the row of
 * the whole product ("split": a split changed bits, "align": only the offset did); "widths"
 * whether the AVX2 and AVX-512 code give the same bits (libxsmm's target set to hsw, then
 * back); "= own" whether the bits are pinode's own.
 * Internal kernels: this program links the static library, as the tests do. */
#include <cblas.h>
#include <immintrin.h>
#include <libxsmm.h>
#include <math.h>
#include <sleef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "gemm.h"
#include "vmath.h"
#include "median.h"

enum { MAX_SHAPES = 16, MAX_REPEAT = 101, NPROD = 6 };

static int cpu_clock = 0; /* --clock cpu */

static double now(void)
{
  struct timespec ts;
  clock_gettime(cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the products of one forward and one VJP evaluation ---------------------------------- */

/* C (m x n) = init + A B, A(i, p) = a[i*sai + p*sak] (trans: sai = 1), or with nt the dot
 * products A Bt^T (Bt: n x k row-major). */
typedef struct product {
  int nt, m, n, k, trans;
  pni_mm_init init;
} product;

/* src/mlp.c's choice: dot products for fewer than 8 output columns of at least 8 terms. */
static int narrow(int n, int k) { return n < 8 && k >= 8; }

/* The rows of a block as src/mlp.c makes them (block_rows, batch_block). */
static int block(int B, int D, int H)
{
  const int maxw = D > H ? D : H, rb = 16384 / maxw / 6 * 6 > 6 ? 16384 / maxw / 6 * 6 : 6;
  if (B <= rb) return B;
  const int nblocks = (B + rb - 1) / rb, r = (B + nblocks - 1) / nblocks;
  return (r + 5) / 6 * 6;
}

/* The six products of a block of nb rows: the two layers forward, then backward the output
 * layer's weight gradient and input gradient, and the hidden layer's. */
static void products(int nb, int D, int H, product *p)
{
  p[0] = narrow(H, D) ? (product){1, nb, H, D, 0, PNI_MM_BIAS} : (product){0, nb, H, D, 0, PNI_MM_BIAS};
  p[1] = narrow(D, H) ? (product){1, nb, D, H, 0, PNI_MM_BIAS} : (product){0, nb, D, H, 0, PNI_MM_BIAS};
  p[2] = narrow(H, D) ? (product){0, H, D, nb, 1, PNI_MM_ZERO} : (product){0, D, H, nb, 1, PNI_MM_ACC};
  p[3] = narrow(H, D) ? (product){1, nb, H, D, 0, PNI_MM_ZERO} : (product){0, nb, H, D, 0, PNI_MM_ZERO};
  p[4] = narrow(D, H) ? (product){0, D, H, nb, 1, PNI_MM_ZERO} : (product){0, H, D, nb, 1, PNI_MM_ACC};
  p[5] = narrow(D, H) ? (product){1, nb, D, H, 0, PNI_MM_ZERO} : (product){0, nb, D, H, 0, PNI_MM_ZERO};
}

/* Operands of a product: a, b (or bt), bias and c, with their strides. */
typedef struct operands {
  double *a, *b, *bias, *c;
  size_t sai, sak, ldb, ldc;
} operands;

static double *fill(size_t n, double phase)
{
  double *x = NULL;
  if (pni_calloc_aligned(NULL, n ? n : 1, sizeof(double), &x, "benchmark operand") != PN_OK) exit(1);
  for (size_t i = 0; i < n; i++) x[i] = sin(0.7 * (double)i + phase);
  return x;
}

static operands make(const product *p)
{
  operands o;
  o.sai = p->trans ? 1 : (size_t)p->k;
  o.sak = p->trans ? (size_t)p->m : 1;
  o.ldb = p->nt ? (size_t)p->k : (size_t)p->n;
  o.ldc = (size_t)p->n;
  o.a = fill((size_t)p->m * (size_t)p->k, 0.1);
  o.b = fill((size_t)p->k * (size_t)p->n, 0.2);
  o.bias = fill((size_t)p->n, 0.3);
  o.c = fill((size_t)p->m * (size_t)p->n, 0.4);
  return o;
}

static void release(operands *o)
{
  free(o->a);
  free(o->b);
  free(o->bias);
  free(o->c);
}

/* libxsmm: its kernel looked up at every call, as a backend whose products know nothing of the
 * model would; libxsmm kept: looked up once and kept, as a model could keep it (the timing
 * only: its bits are libxsmm's). */
typedef enum backend { OWN, REFERENCE, OPENBLAS, LIBXSMM, LIBXSMM_KEPT, NBACKENDS } backend;
static const char *const backend_name[NBACKENDS] = {"own", "reference", "OpenBLAS", "libxsmm",
                                                    "libxsmm kept"};

static const pni_backend *own, *reference; /* looked up once, in main */

/* c = bias on every row (for the libraries, which have no bias initialisation). */
static void bias_rows(const product *p, double *c, size_t ldc, const double *bias)
{
  for (int i = 0; i < p->m; i++) memcpy(c + (size_t)i * ldc, bias, sizeof(double) * (size_t)p->n);
}

/* libxsmm is column-major: C^T (n x m) = B^T A^T, i.e. its A is our b, its B our a, its M our n
 * and its N our m (the rows). */
typedef struct xsmm_args {
  libxsmm_blasint M, N, K, lda, ldb, ldc;
  double alpha, beta;
  int flags;
} xsmm_args;

static xsmm_args xsmm_of(const product *q, const operands *o)
{
  const double beta = q->init == PNI_MM_ZERO ? 0.0 : 1.0;
  return (xsmm_args){q->n, q->m, q->k, (libxsmm_blasint)o->ldb,
                     q->trans ? (libxsmm_blasint)o->sak : (libxsmm_blasint)o->sai,
                     (libxsmm_blasint)o->ldc, 1.0, beta,
                     (q->nt ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (q->trans ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) |
                         (beta == 0.0 ? LIBXSMM_GEMM_FLAG_BETA_0 : 0)};
}

/* libxsmm's JIT kernel for the product, or NULL (libxsmm_dgemm would call a BLAS). */
static libxsmm_dmmfunction xsmm_kernel(const product *q, const operands *o)
{
  const xsmm_args x = xsmm_of(q, o);
  return libxsmm_dmmdispatch(x.M, x.N, x.K, &x.lda, &x.ldb, &x.ldc, &x.alpha, &x.beta, &x.flags,
                             NULL);
}

/* The product q (a part of one: its m rows or k terms) of a, b into c, with o's strides; with
 * kernel, libxsmm's kernel for it. */
static void run_with(backend be, const product *q, const double *a, const double *b,
                     const operands *o, double *c, libxsmm_dmmfunction kernel)
{
  if (be == OWN || be == REFERENCE) {
    const pni_backend *k = be == OWN ? own : reference;
    if (q->nt)
      k->mm_nt(q->m, q->n, q->k, a, o->sai, b, o->ldb, c, o->ldc, q->init, o->bias);
    else
      k->mm(q->m, q->n, q->k, a, o->sai, o->sak, b, o->ldb, c, o->ldc, q->init, o->bias);
    return;
  }
  const double beta = q->init == PNI_MM_ZERO ? 0.0 : 1.0;
  if (q->init == PNI_MM_BIAS) bias_rows(q, c, o->ldc, o->bias);
  if (be == OPENBLAS) {
    cblas_dgemm(CblasRowMajor, q->trans ? CblasTrans : CblasNoTrans, q->nt ? CblasTrans : CblasNoTrans,
                q->m, q->n, q->k, 1.0, a, q->trans ? (int)o->sak : (int)o->sai, b, (int)o->ldb, beta,
                c, (int)o->ldc);
    return;
  }
  if (kernel) {
    kernel(b, a, c);
    return;
  }
  /* No JIT kernel for this case: libxsmm_dgemm calls the dgemm_ of the BLAS loaded in the
   * process, here OpenBLAS's (with no BLAS loaded, libxsmmnoblas's stand-in leaves C zero). */
  const xsmm_args x = xsmm_of(q, o);
  const char ta = q->nt ? 't' : 'n', tb = q->trans ? 't' : 'n';
  libxsmm_dgemm(&ta, &tb, &x.M, &x.N, &x.K, &x.alpha, b, &x.lda, a, &x.ldb, &x.beta, c, &x.ldc);
}

static void run(backend be, const product *q, const double *a, const double *b, const operands *o,
                double *c)
{
  run_with(be, q, a, b, o, c, be == LIBXSMM || be == LIBXSMM_KEPT ? xsmm_kernel(q, o) : NULL);
}

/* Seconds per call of the product on o's operands: calls repeated for >= 20 ms (*calls, the
 * number found in the previous round, is kept for the next). */
static double seconds(backend be, const product *p, const operands *o, long *calls)
{
  const libxsmm_dmmfunction kept = be == LIBXSMM_KEPT ? xsmm_kernel(p, o) : NULL;
  for (;; *calls *= 2) {
    const double t0 = now();
    if (kept)
      for (long q = 0; q < *calls; q++) run_with(be, p, o->a, o->b, o, o->c, kept);
    else
      for (long q = 0; q < *calls; q++) run(be, p, o->a, o->b, o, o->c);
    const double dt = now() - t0;
    if (dt >= 0.02 || *calls > (1L << 26)) return dt / (double)*calls;
  }
}

/* The product by backend `be` into c, in two parts cut at `cut` (0: whole; -1: one part per
 * row or term): parts of the rows, which are the batch, or for a weight gradient (trans) parts
 * of the terms summed, which are the batch there, the later parts added to C; with shift, every
 * operand one double further (another alignment). */
static void parts_of(backend be, const product *p, const operands *o, int cut, int shift, double *c)
{
  const size_t sh = shift ? 1 : 0, na = (size_t)p->m * (size_t)p->k, nc = (size_t)p->m * o->ldc;
  const size_t nbm = (size_t)p->k * (size_t)p->n;
  double *a = fill(na + 1, 0.0), *b = fill(nbm + 1, 0.0), *cc = fill(nc + 1, 0.0);
  memcpy(a + sh, o->a, sizeof(double) * na);
  memcpy(b + sh, o->b, sizeof(double) * nbm);
  memcpy(cc + sh, o->c, sizeof(double) * nc);
  const int len = p->trans ? p->k : p->m; /* the batch index */
  for (int lo = 0; lo < len;) {
    const int hi = cut == 0 ? len : cut < 0 ? lo + 1 : lo < cut ? cut : len;
    product q = *p;
    const double *ap = a + sh, *bp = b + sh;
    double *cp = cc + sh;
    if (p->trans) {
      q.k = hi - lo;
      ap += (size_t)lo * o->sak;
      bp += (size_t)lo * (p->nt ? 1 : o->ldb);
      if (lo > 0) q.init = PNI_MM_ACC;
    } else {
      q.m = hi - lo;
      ap += (size_t)lo * o->sai;
      cp += (size_t)lo * o->ldc;
    }
    run(be, &q, ap, bp, o, cp);
    lo = hi;
  }
  memcpy(c, cc + sh, sizeof(double) * nc);
  free(a);
  free(b);
  free(cc);
}

typedef enum rows_verdict { ROWS_SAME, ROWS_ALIGN, ROWS_SPLIT } rows_verdict; /* worse last */
static const char *const rows_name[] = {"yes", "align", "split"};

/* Does the product not depend on how the batch is cut (ROWS_SPLIT), nor on the alignment
 * (ROWS_ALIGN: with every operand one double further, some cut or the whole changes bits)? */
static rows_verdict rows_independent(backend be, const product *p)
{
  operands o = make(p);
  const size_t len = (size_t)p->m * o.ldc;
  double *whole = malloc(sizeof(double) * len), *part = malloc(sizeof(double) * len);
  const int batch = p->trans ? p->k : p->m;
  rows_verdict v = ROWS_SAME;
  parts_of(be, p, &o, 0, 0, whole);
  for (int shift = 0; shift <= 1 && v == ROWS_SAME; shift++)
    for (int cut = -1; cut < batch && v == ROWS_SAME; cut++) {
      if (cut == 0 && shift == 0) continue;
      parts_of(be, p, &o, cut, shift, part);
      if (memcmp(whole, part, sizeof(double) * len) != 0) v = shift ? ROWS_ALIGN : ROWS_SPLIT;
    }
  free(whole);
  free(part);
  release(&o);
  return v;
}

/* Are the product's bits those of backend `other`? */
static int same_bits(backend be, backend other, const product *p)
{
  operands o = make(p);
  const size_t len = (size_t)p->m * o.ldc;
  double *x = malloc(sizeof(double) * len), *y = malloc(sizeof(double) * len);
  parts_of(be, p, &o, 0, 0, x);
  parts_of(other, p, &o, 0, 0, y);
  const int same = memcmp(x, y, sizeof(double) * len) == 0;
  free(x);
  free(y);
  release(&o);
  return same;
}

/* libxsmm's AVX2 kernels give the bits of its AVX-512 ones? */
static int libxsmm_widths_agree(const product *p)
{
  operands o = make(p);
  const size_t len = (size_t)p->m * o.ldc;
  double *x = malloc(sizeof(double) * len), *y = malloc(sizeof(double) * len);
  const char *arch = libxsmm_get_target_arch();
  char saved[32];
  snprintf(saved, sizeof saved, "%s", arch);
  parts_of(LIBXSMM, p, &o, 0, 0, x);
  libxsmm_set_target_arch("hsw");
  parts_of(LIBXSMM, p, &o, 0, 0, y);
  libxsmm_set_target_arch(saved);
  const int same = memcmp(x, y, sizeof(double) * len) == 0;
  free(x);
  free(y);
  release(&o);
  return same;
}

/* For a product whose rows depend on the split: the sizes that change bits, as ranges -- the
 * first m rows multiplied alone against the same rows of the whole product, or for a weight
 * gradient (the batch is its terms) the sum cut after t terms against the whole. */
static void print_split_sizes(backend be, const product *p)
{
  operands o = make(p);
  const size_t len = (size_t)p->m * o.ldc;
  double *whole = malloc(sizeof(double) * len), *part = malloc(sizeof(double) * len);
  const int batch = p->trans ? p->k : p->m;
  int first = -1, any = 0;
  parts_of(be, p, &o, 0, 0, whole);
  printf("      %s: %s", backend_name[be], p->trans ? "cut after t terms, t =" : "m rows alone, m =");
  for (int cut = 1; cut <= batch; cut++) {
    int differ = 0;
    if (cut < batch) {
      parts_of(be, p, &o, cut, 0, part);
      const size_t n = p->trans ? len : (size_t)cut * o.ldc;
      differ = memcmp(whole, part, sizeof(double) * n) != 0;
    }
    if (differ && first < 0) first = cut;
    if (!differ && first >= 0) {
      printf("%s %d", any ? "," : "", first);
      if (cut - 1 > first) printf("-%d", cut - 1);
      first = -1;
      any = 1;
    }
  }
  printf(" change bits\n");
  free(whole);
  free(part);
  release(&o);
}

static int detail = 0;

/* Each product alone: the median microseconds of the rounds, whether its rows keep their bits
 * and whether they are own's ("!=own": not), per backend. */
static void print_detail(const product *p, int repeat, double (*t)[NPROD][MAX_REPEAT])
{
  for (int i = 0; i < NPROD; i++) {
    printf("    %s%4d x%4d x%4d%s:", p[i].nt ? "nt" : "  ", p[i].m, p[i].n, p[i].k,
           p[i].trans ? " (A^T)" : "      ");
    for (int be = 0; be < NBACKENDS; be++) {
      const rows_verdict v = rows_independent((backend)be, &p[i]);
      printf("  %s %.3f%s%s%s%s", backend_name[be], 1e6 * median(t[be][i], repeat),
             v == ROWS_SAME ? "" : " (rows: ", v == ROWS_SAME ? "" : rows_name[v],
             v == ROWS_SAME ? "" : ")", be == OWN || same_bits((backend)be, OWN, &p[i]) ? "" : " !=own");
    }
    printf("\n");
    for (int be = 0; be < LIBXSMM_KEPT; be++) /* kept: libxsmm's bits */
      if (rows_independent((backend)be, &p[i]) == ROWS_SPLIT) print_split_sizes((backend)be, &p[i]);
  }
}

static void print_products(const char *name, int B, int D, int H, int repeat)
{
  const int nb = block(B, D, H), nblocks = (B + nb - 1) / nb;
  product p[NPROD];
  operands o[NPROD];
  products(nb, D, H, p);
  for (int i = 0; i < NPROD; i++) o[i] = make(&p[i]);
  /* t: seconds per call of each product by each backend in each round */
  static double t[NBACKENDS][NPROD][MAX_REPEAT];
  double us[NBACKENDS][MAX_REPEAT], ratio[NBACKENDS][MAX_REPEAT];
  long calls[NBACKENDS][NPROD];
  for (int be = 0; be < NBACKENDS; be++)
    for (int i = 0; i < NPROD; i++) calls[be][i] = 1;
  for (int r = 0; r < repeat; r++) {
    for (int be = 0; be < NBACKENDS; be++) us[be][r] = 0.0;
    for (int i = 0; i < NPROD; i++)
      for (int be = 0; be < NBACKENDS; be++) {
        t[be][i][r] = seconds((backend)be, &p[i], &o[i], &calls[be][i]);
        us[be][r] += 1e6 * (double)nblocks * t[be][i][r];
      }
    for (int be = 0; be < NBACKENDS; be++) ratio[be][r] = us[be][r] / us[OWN][r];
  }
  printf("\n%s (B = %d, D = %d, H = %d; %d block%s of %d rows): microseconds per forward + VJP\n",
         name, B, D, H, nblocks, nblocks == 1 ? "" : "s", nb);
  printf("  %-12s %10s %8s %6s %7s %6s\n", "backend", "us", "vs own", "rows", "widths", "= own");
  for (int be = 0; be < NBACKENDS; be++) {
    rows_verdict rows = ROWS_SAME;
    int eq = 1;
    for (int i = 0; i < NPROD; i++) {
      const rows_verdict v = rows_independent((backend)be, &p[i]);
      if (v > rows) rows = v;
      eq = eq && (be == OWN || same_bits((backend)be, OWN, &p[i]));
    }
    const char *widths = be == OWN || be == REFERENCE ? "yes" : be == OPENBLAS ? "-" : "?";
    if (be == LIBXSMM || be == LIBXSMM_KEPT) {
      int agree = 1;
      for (int i = 0; i < NPROD; i++) agree = agree && libxsmm_widths_agree(&p[i]);
      widths = agree ? "yes" : "no";
    }
    printf("  %-12s %10.3f %8.2f %6s %7s %6s\n", backend_name[be], median(us[be], repeat),
           median(ratio[be], repeat), rows_name[rows], widths, eq ? "yes" : "no");
  }
  if (detail) print_detail(p, repeat, t);
  printf("  libxsmm JIT kernels:");
  for (int i = 0; i < NPROD; i++)
    printf(" %s%dx%dx%d%s", p[i].nt ? "nt " : "", p[i].m, p[i].n, p[i].k,
           xsmm_kernel(&p[i], &o[i]) ? "" : " (none: BLAS)");
  printf("\n");
  for (int i = 0; i < NPROD; i++) release(&o[i]);
}

/* ---- tanh ------------------------------------------------------------------------------- */

/* SLEEF's vector functions (sleef.h declares them only when the whole file is compiled for
 * those instruction sets; here only the two callers are). */
__m512d Sleef_tanhd8_u10avx512f(__m512d x);
__m512d Sleef_tanhd8_u35avx512f(__m512d x);
__m256d Sleef_tanhd4_u10avx2(__m256d x);
__m256d Sleef_tanhd4_u35avx2(__m256d x);

typedef enum tanh_impl { T_OWN, T_U10_512, T_U10_256, T_U35_512, T_U35_256, NTANH } tanh_impl;
static const char *const tanh_name[NTANH] = {"own", "SLEEF u10 avx512f", "SLEEF u10 avx2",
                                             "SLEEF u35 avx512f", "SLEEF u35 avx2"};

__attribute__((target("avx512f"))) static void sleef512(int u35, size_t n, double *y)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512d x = _mm512_loadu_pd(y + i);
    _mm512_storeu_pd(y + i, u35 ? Sleef_tanhd8_u35avx512f(x) : Sleef_tanhd8_u10avx512f(x));
  }
  if (i < n) { /* the last values in a masked vector: each lane is computed alone */
    const __mmask8 k = (__mmask8)((1u << (n - i)) - 1u);
    const __m512d x = _mm512_maskz_loadu_pd(k, y + i);
    _mm512_mask_storeu_pd(y + i, k, u35 ? Sleef_tanhd8_u35avx512f(x) : Sleef_tanhd8_u10avx512f(x));
  }
}

__attribute__((target("avx2"))) static void sleef256(int u35, size_t n, double *y)
{
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d x = _mm256_loadu_pd(y + i);
    _mm256_storeu_pd(y + i, u35 ? Sleef_tanhd4_u35avx2(x) : Sleef_tanhd4_u10avx2(x));
  }
  if (i < n) {
    double pad[4] = {0, 0, 0, 0};
    memcpy(pad, y + i, sizeof(double) * (n - i));
    const __m256d x = _mm256_loadu_pd(pad);
    _mm256_storeu_pd(pad, u35 ? Sleef_tanhd4_u35avx2(x) : Sleef_tanhd4_u10avx2(x));
    memcpy(y + i, pad, sizeof(double) * (n - i));
  }
}

static void tanh_by(tanh_impl t, size_t n, double *y)
{
  switch (t) {
  case T_OWN: own->tanh(n, y); return;
  case T_U10_512: sleef512(0, n, y); return;
  case T_U10_256: sleef256(0, n, y); return;
  case T_U35_512: sleef512(1, n, y); return;
  default: sleef256(1, n, y); return;
  }
}

/* Nanoseconds per value of y = tanh(x) on n values (x copied to y each call, as a layer
 * recomputes its activations): calls repeated for >= 20 ms, *calls kept as in seconds(). */
static double tanh_ns(tanh_impl t, size_t n, const double *x, double *y, long *calls)
{
  for (;; *calls *= 2) {
    const double t0 = now();
    for (long q = 0; q < *calls; q++) {
      memcpy(y, x, sizeof(double) * n);
      tanh_by(t, n, y);
    }
    const double dt = now() - t0;
    if (dt >= 0.02 || *calls > (1L << 26)) return dt / (double)*calls / (double)n * 1e9;
  }
}

/* Largest error in ulps against tanhl over 2^20 values spread over [-20, 20] (denser near 0). */
static double tanh_ulps(tanh_impl t)
{
  enum { N = 1 << 20 };
  double *x = fill(N, 0.0), *y = fill(N, 0.0), worst = 0.0;
  for (size_t i = 0; i < N; i++) {
    const double u = (double)i / N;
    x[i] = y[i] = (i % 2 ? 1 : -1) * (i % 3 ? 20.0 * u * u * u : 1e-3 * u);
  }
  tanh_by(t, N, y);
  for (size_t i = 0; i < N; i++) {
    const long double want = tanhl((long double)x[i]);
    const double ulp = nextafter(fabs((double)want), INFINITY) - fabs((double)want);
    const double err = (double)fabsl((long double)y[i] - want) / ulp;
    if (err > worst) worst = err;
  }
  free(x);
  free(y);
  return worst;
}

/* Do two implementations give the same bits on the same 2^16 values? */
static int tanh_same(tanh_impl a, tanh_impl b)
{
  enum { N = 1 << 16 };
  double *x = fill(N, 0.9), *y = fill(N, 0.9);
  for (size_t i = 0; i < N; i++) x[i] = y[i] = 6.0 * x[i] * (double)(i % 7);
  tanh_by(a, N - 3, x);
  tanh_by(b, N - 3, y);
  const int same = memcmp(x, y, sizeof(double) * N) == 0;
  free(x);
  free(y);
  return same;
}

/* Paired rounds as for the products: in each round every shape's values by every function. */
static void print_tanh(int nshapes, const char (*name)[64], const int *values, int repeat)
{
  static double ns[NTANH][MAX_SHAPES][MAX_REPEAT];
  long calls[NTANH][MAX_SHAPES];
  double *x[MAX_SHAPES], *y[MAX_SHAPES];
  for (int s = 0; s < nshapes; s++) {
    x[s] = fill((size_t)values[s], 0.5);
    y[s] = fill((size_t)values[s], 0.5);
    for (int i = 0; i < values[s]; i++) x[s][i] *= 3.0;
    for (int t = 0; t < NTANH; t++) calls[t][s] = 1;
  }
  for (int r = 0; r < repeat; r++)
    for (int s = 0; s < nshapes; s++)
      for (int t = 0; t < NTANH; t++)
        ns[t][s][r] = tanh_ns((tanh_impl)t, (size_t)values[s], x[s], y[s], &calls[t][s]);
  printf("\ntanh: nanoseconds per value on a layer's activations (B x H values)\n  %-18s", "");
  for (int s = 0; s < nshapes; s++) printf(" %9s", name[s]);
  printf(" %7s %7s %6s\n", "ulps", "widths", "= own");
  for (int t = 0; t < NTANH; t++) {
    printf("  %-18s", tanh_name[t]);
    for (int s = 0; s < nshapes; s++) printf(" %9.2f", median(ns[t][s], repeat));
    const int widths = t == T_OWN ? 1 : tanh_same((tanh_impl)t, (tanh_impl)(t + 1 - 2 * ((t - 1) % 2)));
    printf(" %7.2f %7s %6s\n", tanh_ulps((tanh_impl)t), widths ? "yes" : "no",
           t == T_OWN || tanh_same((tanh_impl)t, T_OWN) ? "yes" : "no");
  }
  for (int s = 0; s < nshapes; s++) {
    free(x[s]);
    free(y[s]);
  }
}

static int usage(void)
{
  fprintf(stderr, "usage: bench_backends [--repeat R] [--clock wall|cpu] [--detail] [--shape NAME:B:D:H ...]\n");
  return 2;
}

int main(int argc, char **argv)
{
  char name[MAX_SHAPES][64] = {"spiral", "wide", "long", "one"};
  int B[MAX_SHAPES] = {16, 256, 16, 1}, D[MAX_SHAPES] = {2, 64, 8, 2}, H[MAX_SHAPES] = {50, 256, 64, 16};
  int nshapes = 4, custom = 0, repeat = 5;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = atoi(argv[++i]);
      if (repeat < 1 || repeat > MAX_REPEAT) return usage();
    } else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc) {
      const char *c = argv[++i];
      if (strcmp(c, "cpu") != 0 && strcmp(c, "wall") != 0) return usage();
      cpu_clock = strcmp(c, "cpu") == 0;
    } else if (strcmp(argv[i], "--detail") == 0) {
      detail = 1;
    } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      if (!custom) nshapes = 0;
      custom = 1;
      if (nshapes == MAX_SHAPES ||
          sscanf(argv[++i], "%63[^:]:%d:%d:%d", name[nshapes], &B[nshapes], &D[nshapes], &H[nshapes]) != 4 ||
          B[nshapes] < 1 || D[nshapes] < 1 || H[nshapes] < 1)
        return usage();
      nshapes++;
    } else {
      return usage();
    }
  }
  own = pni_backend_named("own");
  reference = pni_backend_named("reference");
  libxsmm_init();
  openblas_set_num_threads(1);
  printf("own: %s, tanh %s; OpenBLAS %s (kernel %s); libxsmm %s, target %s; SLEEF %d.%d\n",
         pni_backend_active()->products, pni_vmath_isa_name(pni_vmath_best_isa()), openblas_get_config(),
         openblas_get_corename(), LIBXSMM_VERSION, libxsmm_get_target_arch(), SLEEF_VERSION_MAJOR,
         SLEEF_VERSION_MINOR);
  printf("%s clock, medians of %d paired rounds; rows: a row's bits independent of the split and\n"
         "alignment (else what changed them); widths: AVX2 = AVX-512 bits; = own: pinode's own bits\n",
         cpu_clock ? "CPU" : "wall", repeat);
  int values[MAX_SHAPES];
  for (int s = 0; s < nshapes; s++) {
    print_products(name[s], B[s], D[s], H[s], repeat);
    values[s] = block(B[s], D[s], H[s]) * H[s];
  }
  print_tanh(nshapes, (const char (*)[64])name, values, repeat);
  libxsmm_finalize();
  return 0;
}
