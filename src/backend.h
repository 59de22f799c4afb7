/* The kernels of the built-in MLP -- its matrix products and tanh -- behind
 * one table of function pointers, chosen once:
 *   own        pinode's kernels for this CPU (gemm.c, vmath.c): AVX-512
 *              tiles, AVX2 loops, or portable unfused loops on a CPU with
 *              neither.  The default.
 *   reference  the same arithmetic in plain C, every multiply-add one fma():
 *              on any CPU bitwise the results of the AVX-512 and AVX2
 *              kernels, and slow.  The specification the tests hold the own
 *              kernels to (tests/unit/test_mlp_kernels.c).
 * Both keep the property the solver relies on: a row's result never depends
 * on the other rows (the micro-batch split) nor on the vector width.
 * scripts/bench/backends.c measures them against OpenBLAS, libxsmm and SLEEF.
 *
 * The MLP calls pni_mm, pni_mm_nt and pni_vtanh, which go through the
 * backend in use and count the products' flops.  The elementwise loops of
 * vmath.h are not part of a backend: they are unfused and give the same bits
 * in every build.  No MPI, no allocation; the choice is process-wide and not
 * thread-safe, like a model. */
#ifndef PINODE_BACKEND_H
#define PINODE_BACKEND_H

#include <stddef.h>

#include "gemm.h"
#include "vmath.h"

typedef struct pni_backend {
  const char *name;     /* "own" or "reference" */
  const char *products; /* what runs the products ("AVX-512 kernels", ...) */
  pni_mm_fn mm;
  pni_mm_nt_fn mm_nt;
  pni_vtanh_fn tanh;
} pni_backend;

/* The backend called `name`, or NULL. */
const pni_backend *pni_backend_named(const char *name);

/* The backend in use ("own" unless pni_backend_use chose another). */
const pni_backend *pni_backend_active(void);

/* Use the backend called `name` from now on, for every model of the process.
 * PN_OK, or PN_ERR_ARG for an unknown name.  For tests and benchmarks. */
int pni_backend_use(const char *name);

/* The products and tanh of the MLP, by the backend in use (see gemm.h and
 * vmath.h for their arguments). */
void pni_mm(int m, int n, int k, const double *a, size_t sai, size_t sak, const double *b,
            size_t ldb, double *c, size_t ldc, pni_mm_init init, const double *bias);
void pni_mm_nt(int m, int n, int k, const double *a, size_t lda, const double *bt, size_t ldbt,
               double *c, size_t ldc, pni_mm_init init, const double *bias);
void pni_vtanh(size_t n, double *y);

/* The products by the own kernels of a chosen build (the caller checks
 * pni_vmath_isa_supported), counted like the others.  For tests and
 * benchmarks. */
void pni_mm_isa(pni_vmath_isa isa, int m, int n, int k, const double *a, size_t sai, size_t sak,
                const double *b, size_t ldb, double *c, size_t ldc, pni_mm_init init,
                const double *bias);
void pni_mm_nt_isa(pni_vmath_isa isa, int m, int n, int k, const double *a, size_t lda,
                   const double *bt, size_t ldbt, double *c, size_t ldc, pni_mm_init init,
                   const double *bias);

/* Floating-point operations (2·m·n·k per product) of every product above of
 * this process so far: the exact matrix-product flops of the MLP, for flop
 * rates in benchmarks.  A statistic only (no behaviour depends on it); not
 * thread-safe, like the rest of a model. */
double pni_mm_flops(void);

#endif
