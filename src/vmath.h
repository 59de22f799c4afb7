/* Vectorised elementwise math for the MLP's activations.
 *
 * tanh is the activation of every benchmark problem, and with libm's scalar
 * tanh it took over half of a gradient's time.  pni_vtanh_* evaluate it
 * branch-free, so that the compiler vectorises the loops, in three builds of
 * the same code: generic x86-64 (SSE2, no FMA), AVX2+FMA and AVX-512F+FMA,
 * chosen at run time with __builtin_cpu_supports (no -march=native needed).
 * Accuracy: ≤ 3 ulp from the correctly rounded tanh in every build (2.4–2.5
 * measured by tests/unit/test_vmath.c against libm over dense inputs).  NaN stays NaN,
 * ±inf gives ±1, tanh(−0) = −0.
 *
 * The exact adjoint stays exact: the MLP's VJP uses 1 − y² of the y computed
 * here, the derivative of tanh at x to within a few ulp.
 * Depends on nothing; no MPI, no allocation. */
#ifndef PINODE_VMATH_H
#define PINODE_VMATH_H

#include <stddef.h>

/* Instruction-set builds of the kernels. */
typedef enum pni_vmath_isa {
  PNI_ISA_GENERIC = 0, /* any x86-64 (or any other CPU): plain C */
  PNI_ISA_AVX2,        /* AVX2 + FMA */
  PNI_ISA_AVX512,      /* AVX-512F + FMA */
  PNI_ISA_COUNT
} pni_vmath_isa;

/* The build used on this CPU (the best one it supports). */
pni_vmath_isa pni_vmath_best_isa(void);

/* Whether this CPU can run @p isa. */
int pni_vmath_isa_supported(pni_vmath_isa isa);

/* "generic", "avx2" or "avx512". */
const char *pni_vmath_isa_name(pni_vmath_isa isa);

/* y[i] ← tanh(y[i]) for i < n.  In place: with separate input and output
 * arrays the compiler would have to allow for their overlap, and its overlap
 * check sends in-place calls to the scalar loop.  The MLP calls it through
 * the backend in use (backend.h: pni_vtanh). */
typedef void (*pni_vtanh_fn)(size_t n, double *y);

/* tanh by a chosen build; the caller must check pni_vmath_isa_supported(isa). */
pni_vtanh_fn pni_vtanh_kernel(pni_vmath_isa isa);
void pni_vtanh_isa(pni_vmath_isa isa, size_t n, double *y);

/* The reference: the same formula in plain C, every multiply-add one fma()
 * (slow where the compiler targets no FMA unit, and exact): bitwise the
 * AVX2 and AVX-512 builds' results on any CPU. */
void pni_vtanh_reference(size_t n, double *y);

/* Elementwise vector operations of the stepper and the MLP, in the same
 * three builds (the baseline x86-64 build would run them two doubles at a
 * time).  Plain multiplies and adds, never fused, so every build gives
 * bitwise the same result.  Not in place unless said. */
void pni_vaxpy(size_t n, double a, const double *x, double *y);          /* y += a·x */
void pni_vscale(size_t n, double a, const double *x, double *y);         /* y = a·x */
void pni_vxpay(size_t n, const double *x, double a, const double *y, double *out);
                                                  /* out = x + a·y (out may be x or y) */
void pni_vadd(size_t n, const double *x, double *y);                     /* y += x */
void pni_vmul(size_t n, const double *x, double *y);                     /* y ⊙= x */
void pni_vtanh_grad(size_t n, const double *t, double *g);              /* g ⊙= 1 − t² */
void pni_vsigmoid_grad(size_t n, const double *s, double *g);           /* g ⊙= s(1 − s) */
/* s[o] = Σ_r g[r·w + o] (r in order), then acc[o] += s[o]: a layer's bias
 * gradient (s is kept for the time column's) in one call. */
void pni_vcolsum_add(int rows, int w, const double *g, double *s, double *acc);

#endif
