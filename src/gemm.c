/* Dense matrix products of the MLP (see gemm.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "internal.h"

int pni_calloc_aligned(pn_ctx *ctx, size_t count, size_t size, void *ptr_out, const char *what)
{
  void **p = ptr_out;
  *p = NULL;
  if (count == 0 || size == 0) count = size = 1; /* valid, freeable pointer */
  if (count > (SIZE_MAX - PNI_ALIGN) / size)
    return pn_ctx_fail(ctx, PN_ERR_MEM, "allocation of %zu x %zu bytes for %s overflows", count,
                       size, what);
  const size_t bytes = (count * size + PNI_ALIGN - 1) / PNI_ALIGN * PNI_ALIGN;
  if (posix_memalign(p, PNI_ALIGN, bytes) != 0) {
    *p = NULL;
    return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory allocating %.1f MB for %s",
                       (double)bytes / 1048576.0, what);
  }
  memset(*p, 0, bytes);
  return PN_OK;
}

#if defined(__GNUC__) && defined(__x86_64__)
#define PNI_HAVE_AVX512_KERNELS 1
#include <immintrin.h>
#else
#define PNI_HAVE_AVX512_KERNELS 0
#endif

/* ---- portable kernels ------------------------------------------------------ */

/* a*b + c, fused when the instantiation has FMA (fused is a constant). */
#define MADD(a, b, c) (fused ? __builtin_fma((a), (b), (c)) : (a) * (b) + (c))

/* Row by row, k in order, the loop over the columns vectorised by the
 * compiler.  With FMA this is, entry for entry, the same arithmetic as the
 * AVX-512 tiles (start from init, one fused multiply-add per k), so both
 * give bitwise the same C. */
static inline __attribute__((always_inline)) void
mm_rows(int m, int n, int k, const double *a, size_t sai, size_t sak, const double *b, size_t ldb,
        double *c, size_t ldc, pni_mm_init init, const double *bias, const int fused)
{
  for (int i = 0; i < m; i++) {
    double *ci = c + (size_t)i * ldc;
    if (init == PNI_MM_ZERO) memset(ci, 0, sizeof(double) * (size_t)n);
    else if (init == PNI_MM_BIAS) memcpy(ci, bias, sizeof(double) * (size_t)n);
    for (int p = 0; p < k; p++) {
      const double av = a[(size_t)i * sai + (size_t)p * sak], *bp = b + (size_t)p * ldb;
      for (int j = 0; j < n; j++) ci[j] = MADD(av, bp[j], ci[j]);
    }
  }
}

/* Dot products with 8 partial sums (lane l takes every 8th term, the last
 * block padded with zeros) added by the same tree as _mm512_reduce_add_pd:
 * ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)).  With FMA, bitwise the AVX-512
 * kernel's result. */
static inline __attribute__((always_inline)) void
mm_nt_rows(int m, int n, int k, const double *a, size_t lda, const double *bt, size_t ldbt,
           double *c, size_t ldc, pni_mm_init init, const double *bias, const int fused)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      const double *ai = a + (size_t)i * lda, *bj = bt + (size_t)j * ldbt;
      double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int p = 0;
      for (; p + 8 <= k; p += 8)
        for (int l = 0; l < 8; l++) s[l] = MADD(ai[p + l], bj[p + l], s[l]);
      if (p < k)
        for (int l = 0; l < 8; l++) {
          const int in = p + l < k;
          s[l] = MADD(in ? ai[p + l] : 0.0, in ? bj[p + l] : 0.0, s[l]);
        }
      const double sum = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
      double *cij = c + (size_t)i * ldc + j;
      const double base = init == PNI_MM_ACC ? *cij : init == PNI_MM_BIAS ? bias[j] : 0.0;
      *cij = base + sum;
    }
}

#define DEFINE_PORTABLE(SUFFIX, ATTR, FUSED)                                                  \
  ATTR static void mm_##SUFFIX(int m, int n, int k, const double *a, size_t sai, size_t sak, \
                               const double *b, size_t ldb, double *c, size_t ldc,           \
                               pni_mm_init init, const double *bias)                         \
  {                                                                                           \
    mm_rows(m, n, k, a, sai, sak, b, ldb, c, ldc, init, bias, FUSED);                        \
  }                                                                                           \
  ATTR static void mm_nt_##SUFFIX(int m, int n, int k, const double *a, size_t lda,          \
                                  const double *bt, size_t ldbt, double *c, size_t ldc,      \
                                  pni_mm_init init, const double *bias)                      \
  {                                                                                           \
    mm_nt_rows(m, n, k, a, lda, bt, ldbt, c, ldc, init, bias, FUSED);                        \
  }

DEFINE_PORTABLE(generic, , 0)
DEFINE_PORTABLE(reference, , 1) /* fused: fma() where the target has no FMA unit */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PNI_HAVE_AVX2_LOOPS 1
DEFINE_PORTABLE(avx2, __attribute__((target("avx2,fma"))), 1)
#else
#define PNI_HAVE_AVX2_LOOPS 0
#endif

/* ---- AVX-512 kernels ------------------------------------------------------ */
#if PNI_HAVE_AVX512_KERNELS

#define AVX512 __attribute__((target("avx512f")))
enum { NV_MAX = 4, NR_MAX = 8 * NV_MAX, KC = 256 };
/* Rows per tile for 1..4 vectors of 8 columns: as many as the 32 registers
 * allow (MR·NV accumulators + NV of B + 1 of A), and at least 8 independent
 * FMA chains so that their latency is hidden. */
static const int mr_max[NV_MAX] = {12, 8, 8, 6};

/* The ranges of pni_mm_prefetch not yet asked for, in order (static like
 * mm_flops: a model is not shared between threads). */
enum { PF_RANGES = 8 };
static struct {
  const char *next[PF_RANGES];
  size_t lines[PF_RANGES];
  int for_write[PF_RANGES], head, count;
} pf_queue;

/* A tile's share of them: `lines` cache lines from `first`. */
typedef struct pf_share {
  const char *first;
  int lines, for_write;
} pf_share;

static inline void prefetch_line(const pf_share *pf, int i)
{
  const char *line = pf->first + (size_t)i * 64;
  if (pf->for_write) __builtin_prefetch(line, 1, 2);
  else __builtin_prefetch(line, 0, 2);
}

/* The next share, from the range at the head, for a tile with k
 * iterations: a line every other one. */
static inline pf_share take_share(int k)
{
  pf_share sh = {NULL, 0, 0};
  while (pf_queue.head < pf_queue.count && pf_queue.lines[pf_queue.head] == 0) pf_queue.head++;
  if (pf_queue.head == pf_queue.count) return sh;
  const int h = pf_queue.head;
  const size_t room = (size_t)(k / 2);
  sh.first = pf_queue.next[h];
  sh.lines = (int)(pf_queue.lines[h] < room ? pf_queue.lines[h] : room);
  sh.for_write = pf_queue.for_write[h];
  pf_queue.lines[h] -= (size_t)sh.lines;
  if (pf_queue.lines[h] > 0) pf_queue.next[h] += (size_t)sh.lines * 64;
  return sh;
}

/* One tile: rows [0, MR) × columns [0, 8·NV) of C (the last vector of 8
 * columns masked by `last`), k innermost.  Accumulators are named variables,
 * not arrays, so that the compiler keeps all MR·NV of them in registers;
 * the `if (MR > r)` and `if (NV > v)` tests are constants and vanish. */
#define ROW_INIT(r)                                                                          \
  if (MR > r) {                                                                              \
    if (init == PNI_MM_ACC) {                                                                \
      const double *cr = c + (size_t)(r) * ldc;                                              \
      c##r##_0 = B_LOAD(0, cr);                                                              \
      if (NV > 1) c##r##_1 = B_LOAD(1, cr);                                                  \
      if (NV > 2) c##r##_2 = B_LOAD(2, cr);                                                  \
      if (NV > 3) c##r##_3 = B_LOAD(3, cr);                                                  \
    } else {                                                                                 \
      c##r##_0 = i0;                                                                         \
      c##r##_1 = i1;                                                                         \
      c##r##_2 = i2;                                                                         \
      c##r##_3 = i3;                                                                         \
    }                                                                                        \
  }
#define ROW_FMA(r)                                                                           \
  if (MR > r) {                                                                              \
    const __m512d av = _mm512_set1_pd(ak[(size_t)(r) * sai]);                                \
    c##r##_0 = _mm512_fmadd_pd(av, b0, c##r##_0);                                            \
    if (NV > 1) c##r##_1 = _mm512_fmadd_pd(av, b1, c##r##_1);                                \
    if (NV > 2) c##r##_2 = _mm512_fmadd_pd(av, b2, c##r##_2);                                \
    if (NV > 3) c##r##_3 = _mm512_fmadd_pd(av, b3, c##r##_3);                                \
  }
#define V_STORE(v, dst, x)                                                                   \
  if (NV > v + 1) _mm512_storeu_pd((dst) + 8 * v, x);                                        \
  else if (NV == v + 1) _mm512_mask_storeu_pd((dst) + 8 * v, last, x);
#define ROW_STORE(r)                                                                         \
  if (MR > r) {                                                                              \
    double *cr = c + (size_t)(r) * ldc;                                                      \
    V_STORE(0, cr, c##r##_0)                                                                 \
    V_STORE(1, cr, c##r##_1)                                                                 \
    V_STORE(2, cr, c##r##_2)                                                                 \
    V_STORE(3, cr, c##r##_3)                                                                 \
  }
/* Vector v of 8 doubles at dst; the last one masked (no access past it). */
#define B_LOAD(v, dst)                                                                       \
  (NV > v + 1 ? _mm512_loadu_pd((dst) + 8 * v) : _mm512_maskz_loadu_pd(last, (dst) + 8 * v))
/* Vector v of 8 doubles at dst, all of them. */
#define FULL_LOAD(v, dst) _mm512_loadu_pd((dst) + 8 * v)
/* The k loop of a tile, B's vectors loaded by LOAD (B_LOAD or FULL_LOAD). */
#define K_LOOP(LOAD)                                                                         \
  for (int p = 0; p < k; p++) {                                                              \
    const double *bk = b + (size_t)p * ldb, *ak = a + (size_t)p * sak;                       \
    if (p < 2 * pf->lines && !(p & 1)) prefetch_line(pf, p / 2);                             \
    const __m512d b0 = LOAD(0, bk);                                                          \
    const __m512d b1 = NV > 1 ? LOAD(1, bk) : z;                                             \
    const __m512d b2 = NV > 2 ? LOAD(2, bk) : z;                                             \
    const __m512d b3 = NV > 3 ? LOAD(3, bk) : z;                                             \
    ROWS(ROW_FMA)                                                                            \
  }
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DECL(r) __m512d c##r##_0 = z, c##r##_1 = z, c##r##_2 = z, c##r##_3 = z;

#define DEFINE_TILE(MR_, NV_)                                                                \
  AVX512 static void tile_##MR_##_##NV_(int k, const double *a, size_t sai, size_t sak,     \
                                        const double *b, size_t ldb, double *c, size_t ldc,  \
                                        pni_mm_init init, const double *bias, __mmask8 last, \
                                        const pf_share *pf)                                  \
  {                                                                                          \
    enum { MR = MR_, NV = NV_ };                                                             \
    const __m512d z = _mm512_setzero_pd();                                                   \
    __m512d i0 = z, i1 = z, i2 = z, i3 = z;                                                  \
    if (init == PNI_MM_BIAS) {                                                               \
      i0 = B_LOAD(0, bias);                                                                  \
      if (NV > 1) i1 = B_LOAD(1, bias);                                                      \
      if (NV > 2) i2 = B_LOAD(2, bias);                                                      \
      if (NV > 3) i3 = B_LOAD(3, bias);                                                      \
    }                                                                                        \
    ROWS(DECL)                                                                               \
    ROWS(ROW_INIT)                                                                           \
    if (last == 0xFF) /* full vectors: plain loads (a masked one costs an FMA port uop) */ \
      K_LOOP(FULL_LOAD)                                                                      \
    else                                                                                     \
      K_LOOP(B_LOAD)                                                                         \
    ROWS(ROW_STORE)                                                                          \
  }

typedef void (*tile_fn)(int, const double *, size_t, size_t, const double *, size_t, double *,
                        size_t, pni_mm_init, const double *, __mmask8, const pf_share *);
#define TILES_UP_TO_6(NV)                                                                    \
  DEFINE_TILE(1, NV) DEFINE_TILE(2, NV) DEFINE_TILE(3, NV) DEFINE_TILE(4, NV)                \
  DEFINE_TILE(5, NV) DEFINE_TILE(6, NV)
#define TILES_7_TO_8(NV) DEFINE_TILE(7, NV) DEFINE_TILE(8, NV)
TILES_UP_TO_6(1) TILES_7_TO_8(1)
DEFINE_TILE(9, 1) DEFINE_TILE(10, 1) DEFINE_TILE(11, 1) DEFINE_TILE(12, 1)
TILES_UP_TO_6(2) TILES_7_TO_8(2)
TILES_UP_TO_6(3) TILES_7_TO_8(3)
TILES_UP_TO_6(4)

/* tiles[nv − 1][mr − 1] */
#define T6(NV) tile_1_##NV, tile_2_##NV, tile_3_##NV, tile_4_##NV, tile_5_##NV, tile_6_##NV
static const tile_fn tiles[NV_MAX][12] = {
    {T6(1), tile_7_1, tile_8_1, tile_9_1, tile_10_1, tile_11_1, tile_12_1},
    {T6(2), tile_7_2, tile_8_2},
    {T6(3), tile_7_3, tile_8_3},
    {T6(4)}};

/* k in chunks of KC (so that a KC × 32 block of B stays in cache), then
 * column blocks, so that such a block is reused by every row block.  A
 * chunk after the first adds to C: each entry is still summed in the order
 * of k, so the result does not depend on KC. */
AVX512 static void mm_avx512(int m, int n, int k, const double *a, size_t sai, size_t sak,
                             const double *b, size_t ldb, double *c, size_t ldc,
                             pni_mm_init init, const double *bias)
{
  if (m >= 1 && n >= 1 && n <= NR_MAX && k <= KC) { /* one tile: call it directly */
    const int nv = (n + 7) / 8;
    if (m <= mr_max[nv - 1]) {
      const __mmask8 last = (__mmask8)((1u << (n - 8 * (nv - 1))) - 1u);
      const pf_share sh = take_share(k);
      tiles[nv - 1][m - 1](k, a, sai, sak, b, ldb, c, ldc, init, bias, last, &sh);
      return;
    }
  }
  int p0 = 0;
  do {
    const int kc = k - p0 < KC ? k - p0 : KC;
    const pni_mm_init how = p0 == 0 ? init : PNI_MM_ACC;
    for (int j0 = 0; j0 < n; j0 += NR_MAX) {
      const int nr = n - j0 < NR_MAX ? n - j0 : NR_MAX;
      const int nv = (nr + 7) / 8, rem = nr - 8 * (nv - 1); /* 1..8 columns in the last vector */
      const __mmask8 last = (__mmask8)((1u << rem) - 1u);
      const double *bj = b + (size_t)p0 * ldb + j0, *biasj = bias ? bias + j0 : NULL;
      const double *ap = a + (size_t)p0 * sak;
      for (int i0 = 0; i0 < m; i0 += mr_max[nv - 1]) {
        const int mr = m - i0 < mr_max[nv - 1] ? m - i0 : mr_max[nv - 1];
        const pf_share sh = take_share(kc);
        tiles[nv - 1][mr - 1](kc, ap + (size_t)i0 * sai, sai, sak, bj, ldb,
                              c + (size_t)i0 * ldc + j0, ldc, how, biasj, last, &sh);
      }
    }
    p0 += kc;
  } while (p0 < k);
}

/* Dot products of R rows of A with C rows of Bt (sums[r·C + c]): R·C
 * independent FMA chains, the last chunk of k masked.  Each lane sums every
 * 8th term; the lanes are then added by a fixed tree (_mm512_reduce_add_pd),
 * so an entry's sum does not depend on R or C.  4 × 1 hides the FMA latency
 * on rows by fours; the last rows (a batch of one: all of them) go 1 × C,
 * sharing each load of the row among C columns. */
#define DEFINE_NT_BLOCK(R, C)                                                                \
  AVX512 static void nt_##R##x##C(int k, const double *a, size_t lda, const double *bt,     \
                                  size_t ldbt, double *sums)                                 \
  {                                                                                          \
    const int kfull = k & ~7;                                                                \
    const __mmask8 tail = (__mmask8)((1u << (k & 7)) - 1u);                                  \
    __m512d s[R][C];                                                                         \
    for (int r = 0; r < R; r++)                                                              \
      for (int c = 0; c < C; c++) s[r][c] = _mm512_setzero_pd();                             \
    for (int p = 0; p < kfull; p += 8)                                                       \
      for (int r = 0; r < R; r++) {                                                          \
        const __m512d av = _mm512_loadu_pd(a + (size_t)r * lda + p);                         \
        for (int c = 0; c < C; c++)                                                          \
          s[r][c] = _mm512_fmadd_pd(av, _mm512_loadu_pd(bt + (size_t)c * ldbt + p), s[r][c]); \
      }                                                                                      \
    if (tail)                                                                                \
      for (int r = 0; r < R; r++) {                                                          \
        const __m512d av = _mm512_maskz_loadu_pd(tail, a + (size_t)r * lda + kfull);         \
        for (int c = 0; c < C; c++)                                                          \
          s[r][c] = _mm512_fmadd_pd(                                                         \
              av, _mm512_maskz_loadu_pd(tail, bt + (size_t)c * ldbt + kfull), s[r][c]);      \
      }                                                                                      \
    for (int r = 0; r < R; r++)                                                              \
      for (int c = 0; c < C; c++) sums[r * C + c] = _mm512_reduce_add_pd(s[r][c]);          \
  }
DEFINE_NT_BLOCK(4, 1)
DEFINE_NT_BLOCK(1, 1)
DEFINE_NT_BLOCK(1, 2)
DEFINE_NT_BLOCK(1, 3)
DEFINE_NT_BLOCK(1, 4)

/* C[i][j] = init + sums[j] for the entries [j0, j0 + nc) of a row. */
static inline void nt_store(double *ci, int j0, int nc, const double *sums, pni_mm_init init,
                            const double *bias)
{
  for (int j = 0; j < nc; j++) {
    const double base = init == PNI_MM_ACC ? ci[j0 + j] : init == PNI_MM_BIAS ? bias[j0 + j] : 0.0;
    ci[j0 + j] = base + sums[j];
  }
}

/* Rows by fours against one column at a time; the last rows one at a time
 * against up to four columns (the tiny benchmark's narrow products: one
 * call and one pass over the row instead of one per column). */
AVX512 static void mm_nt_avx512(int m, int n, int k, const double *a, size_t lda,
                                const double *bt, size_t ldbt, double *c, size_t ldc,
                                pni_mm_init init, const double *bias)
{
  typedef void (*nt_fn)(int, const double *, size_t, const double *, size_t, double *);
  static const nt_fn row_by[4] = {nt_1x1, nt_1x2, nt_1x3, nt_1x4};
  const int m4 = m & ~3;
  for (int i0 = 0; i0 < m4; i0 += 4)
    for (int j = 0; j < n; j++) {
      double sums[4];
      nt_4x1(k, a + (size_t)i0 * lda, lda, bt + (size_t)j * ldbt, ldbt, sums);
      for (int r = 0; r < 4; r++) nt_store(c + (size_t)(i0 + r) * ldc, j, 1, sums + r, init, bias);
    }
  for (int i = m4; i < m; i++)
    for (int j0 = 0; j0 < n; j0 += 4) {
      const int nc = n - j0 < 4 ? n - j0 : 4;
      double sums[4];
      row_by[nc - 1](k, a + (size_t)i * lda, lda, bt + (size_t)j0 * ldbt, ldbt, sums);
      nt_store(c + (size_t)i * ldc, j0, nc, sums, init, bias);
    }
}
#endif

/* ---- the kernels of each build ------------------------------------------- */

pni_mm_fn pni_mm_kernel(pni_vmath_isa isa)
{
#if PNI_HAVE_AVX512_KERNELS
  if (isa == PNI_ISA_AVX512) return mm_avx512;
#endif
#if PNI_HAVE_AVX2_LOOPS
  if (isa == PNI_ISA_AVX2) return mm_avx2;
#endif
  (void)isa;
  return mm_generic;
}

pni_mm_nt_fn pni_mm_nt_kernel(pni_vmath_isa isa)
{
#if PNI_HAVE_AVX512_KERNELS
  if (isa == PNI_ISA_AVX512) return mm_nt_avx512;
#endif
#if PNI_HAVE_AVX2_LOOPS
  if (isa == PNI_ISA_AVX2) return mm_nt_avx2;
#endif
  (void)isa;
  return mm_nt_generic;
}

void pni_mm_reference(int m, int n, int k, const double *a, size_t sai, size_t sak,
                      const double *b, size_t ldb, double *c, size_t ldc, pni_mm_init init,
                      const double *bias)
{
  mm_reference(m, n, k, a, sai, sak, b, ldb, c, ldc, init, bias);
}

void pni_mm_nt_reference(int m, int n, int k, const double *a, size_t lda, const double *bt,
                         size_t ldbt, double *c, size_t ldc, pni_mm_init init,
                         const double *bias)
{
  mm_nt_reference(m, n, k, a, lda, bt, ldbt, c, ldc, init, bias);
}

void pni_mm_prefetch_clear(void)
{
#if PNI_HAVE_AVX512_KERNELS
  pf_queue.head = pf_queue.count = 0;
#endif
}

void pni_mm_prefetch(const void *p, size_t bytes, int for_write)
{
  if (bytes == 0) return;
  const uintptr_t line = 64, first = (uintptr_t)p & ~(line - 1);
  const size_t lines = ((uintptr_t)p + bytes - first + line - 1) / line;
  const char *start = (const char *)p - ((uintptr_t)p - first);
#if PNI_HAVE_AVX512_KERNELS
  if (pni_vmath_best_isa() == PNI_ISA_AVX512) {
    while (pf_queue.head < pf_queue.count && pf_queue.lines[pf_queue.head] == 0) pf_queue.head++;
    if (pf_queue.head == pf_queue.count) pf_queue.head = pf_queue.count = 0; /* all asked for */
    if (pf_queue.count == PF_RANGES) return; /* a hint: dropped */
    const int i = pf_queue.count++;
    pf_queue.next[i] = start;
    pf_queue.lines[i] = lines;
    pf_queue.for_write[i] = for_write;
    return;
  }
#endif
  /* the portable loops take no share: ask for every line now */
  for (size_t i = 0; i < lines; i++)
    if (for_write) __builtin_prefetch(start + i * line, 1, 2);
    else __builtin_prefetch(start + i * line, 0, 2);
}

const char *pni_mm_kernel_name(pni_vmath_isa isa)
{
  switch (isa) {
  case PNI_ISA_AVX512: return "AVX-512 kernels";
  case PNI_ISA_AVX2: return "AVX2 loops";
  default: return "portable loops";
  }
}
