/* Dense matrix products of the built-in MLP.
 *
 * C (m×n, row-major, leading dimension ldc) = init + A·B, where
 *   A(i, k) = a[i*sai + k*sak]  (so A or Aᵀ stored row-major, sak = 1 or sai = 1),
 *   B(k, j) = b[k*ldb + j]      (row-major, rows contiguous),
 *   init    = 0, C itself, or the row vector `bias` repeated on every row.
 *
 * On CPUs with AVX-512F this runs register-blocked kernels of our own (up to
 * 6 rows × 32 columns of C in 24 registers, the k loop innermost, masked
 * loads for the last columns): on the MLP's shapes they run at 79–81
 * GFLOP/s where OpenBLAS gets 57–63 (it packs both operands on every call, a
 * cost that also dominates small products).  Elsewhere, loops that the
 * compiler vectorises (an AVX2+FMA build and a generic one, chosen at run
 * time).  OpenBLAS is not used: its result for a row depends on how many
 * rows are multiplied (measured), which would break the next property.
 *
 * Every entry of C is computed by a fixed sequence of operations on its row
 * of A (sum over k in increasing order, one fused multiply-add per k, on top
 * of init; pni_mm_nt: a fixed tree), whatever m, n, the entry's position and
 * the alignment: a row of C does not depend on the other rows, so the
 * forward trajectory is bitwise the same for any micro-batch split.  With
 * FMA the AVX-512 and AVX2 builds agree bitwise.  No MPI, no allocation. */
#ifndef PINODE_GEMM_H
#define PINODE_GEMM_H

#include <stddef.h>

#include "pinode/ctx.h"
#include "vmath.h"

/* Bytes of the alignment of the kernels' buffers: a cache line and an
 * AVX-512 vector.  With 16-byte (malloc) alignment every vector load of a
 * row straddles two cache lines; 64-byte alignment measured 79–81 GFLOP/s
 * against 60–74 on the benchmark's products. */
#define PNI_ALIGN 64

/* Round a count of doubles up to a whole number of aligned blocks, so that
 * consecutive sub-arrays of an aligned buffer stay aligned. */
static inline size_t pni_round_up(size_t ndoubles)
{
  const size_t q = PNI_ALIGN / sizeof(double);
  return (ndoubles + q - 1) / q * q;
}

/* Zeroed, PNI_ALIGN-aligned, overflow-checked memory for count × size
 * bytes (freed with free()); on failure *ptr_out = NULL and PN_ERR_MEM is
 * recorded in ctx with `what`. */
int pni_calloc_aligned(pn_ctx *ctx, size_t count, size_t size, void *ptr_out, const char *what);

typedef enum pni_mm_init {
  PNI_MM_ZERO = 0, /* C = A·B */
  PNI_MM_ACC,      /* C += A·B */
  PNI_MM_BIAS      /* C = A·B + 1·biasᵀ (bias has n entries) */
} pni_mm_init;

/* The product above, by the kernels of one build: C = init + A·B.
 * Requires m, n, k ≥ 0, sai = 1 or sak = 1, and ldb ≥ n, ldc ≥ n. */
typedef void (*pni_mm_fn)(int m, int n, int k, const double *a, size_t sai, size_t sak,
                          const double *b, size_t ldb, double *c, size_t ldc, pni_mm_init init,
                          const double *bias);

/* C (m×n) = init + A·Btᵀ with A (m×k) and Bt (n×k) both row-major (rows
 * contiguous, leading dimensions lda ≥ k and ldbt ≥ k): dot products of
 * rows, vectorised over k.  For narrow products (n < 8), where pni_mm
 * would use a fraction of each vector.  Each entry is a fixed reduction of
 * its row of A and row of Bt, independent of the other rows. */
typedef void (*pni_mm_nt_fn)(int m, int n, int k, const double *a, size_t lda, const double *bt,
                             size_t ldbt, double *c, size_t ldc, pni_mm_init init,
                             const double *bias);

/* The kernels of a build (the caller checks pni_vmath_isa_supported):
 * AVX-512 tiles, AVX2 loops or portable unfused loops.  The MLP calls them
 * through the backend in use (backend.h), which also counts their flops. */
pni_mm_fn pni_mm_kernel(pni_vmath_isa isa);
pni_mm_nt_fn pni_mm_nt_kernel(pni_vmath_isa isa);

/* The reference kernels: the loops above in plain C, every multiply-add one
 * fma() (a fused multiply-add of the C library when the compiler targets no
 * FMA unit: slow, and exact), so that on any CPU they give bitwise the
 * results of the AVX-512 and AVX2 kernels. */
void pni_mm_reference(int m, int n, int k, const double *a, size_t sai, size_t sak,
                      const double *b, size_t ldb, double *c, size_t ldc, pni_mm_init init,
                      const double *bias);
void pni_mm_nt_reference(int m, int n, int k, const double *a, size_t lda, const double *bt,
                         size_t ldbt, double *c, size_t ldc, pni_mm_init init,
                         const double *bias);

/* Bytes [p, p + bytes) for the next products to bring into L2 as they go
 * (to be written when for_write), after the ranges already queued (up to 8;
 * more are dropped): the AVX-512 tiles ask for a cache line every other
 * iteration of their k loop until the queue is empty, under their FMAs.
 * Asking for a block's lines in one burst before its products instead
 * waited on memory (~5 % of wide's gradient); the portable builds still do
 * that, here.  pni_mm_prefetch_clear drops what is still queued.  A hint:
 * no result depends on it. */
void pni_mm_prefetch(const void *p, size_t bytes, int for_write);
void pni_mm_prefetch_clear(void);

/* What the kernels of a build are: "AVX-512 kernels", "AVX2 loops" or
 * "portable loops". */
const char *pni_mm_kernel_name(pni_vmath_isa isa);

#endif
