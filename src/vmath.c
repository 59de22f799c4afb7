/* Vectorised tanh (see vmath.h).
 *
 * One branch-free formula, so that GCC vectorises the loops:
 *   |x| < 0.625:  tanh x = x + x·z·P(z)/Q(z), z = x², with the Cephes minimax
 *                 rational (relative error < 2e-17 on that interval);
 *   otherwise:    tanh x = sign(x)·(1 − 2/(e^{2|x|} + 1)), with |x| clamped
 *                 to 20 (tanh 20 rounds to 1) so that e^{2|x|} cannot overflow.
 * Both branches are computed for every lane and one is selected; the two
 * divisions share one division instruction.  e^y (1.25 ≤ y ≤ 40) is
 * 2^k·e^r with k = round(y/ln 2), r = y − k·ln 2 (Cody–Waite, exact), and
 * e^r a degree-13 Taylor polynomial (truncation < 5e-18 for |r| ≤ ln2/2).
 *
 * The kernel is written once (tanh_one, always inlined) and instantiated in
 * three loops with different target attributes; with FMA the polynomial uses
 * fused multiply-adds, without it plain a*b + c (the ISO C build does not
 * contract them on its own). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vmath.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PNI_X86 1
#else
#define PNI_X86 0
#endif

#define INLINE static inline __attribute__((always_inline))

/* a*b + c, fused when the instantiation has FMA (fused is a constant). */
#define MADD(a, b, c) (fused ? __builtin_fma((a), (b), (c)) : (a) * (b) + (c))

INLINE uint64_t bits_of(double x)
{
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

INLINE double double_of(uint64_t u)
{
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* e^y for 1.25 ≤ y ≤ 40 (the range tanh needs; no overflow or underflow). */
INLINE double exp_mid(double y, const int fused)
{
  const double log2e = 1.4426950408889634, shifter = 0x1.8p52;
  const double ln2_hi = 6.93147180369123816490e-01; /* 32 bits: k·ln2_hi is exact */
  const double ln2_lo = 1.90821492927058770002e-10;
  /* Adding 1.5·2^52 rounds y/ln2 to an integer k held in the low bits. */
  const double kd_shifted = MADD(y, log2e, shifter);
  const double kd = kd_shifted - shifter;
  const double r = MADD(-kd, ln2_lo, MADD(-kd, ln2_hi, y));
  /* Taylor coefficients 1/j!, j = 13 down to 2, evaluated by Horner. */
  double p = 1.6059043836821613e-10;
  p = MADD(p, r, 2.0876756987868099e-09);
  p = MADD(p, r, 2.5052108385441720e-08);
  p = MADD(p, r, 2.7557319223985893e-07);
  p = MADD(p, r, 2.7557319223985888e-06);
  p = MADD(p, r, 2.4801587301587302e-05);
  p = MADD(p, r, 1.9841269841269841e-04);
  p = MADD(p, r, 1.3888888888888889e-03);
  p = MADD(p, r, 8.3333333333333332e-03);
  p = MADD(p, r, 4.1666666666666664e-02);
  p = MADD(p, r, 1.6666666666666666e-01);
  p = MADD(p, r, 0.5);
  p = MADD(p, r, 1.0);
  p = MADD(p, r, 1.0);
  /* 2^k from the low bits of kd_shifted (k ≤ 58, so the exponent is valid). */
  const double scale = double_of((bits_of(kd_shifted) + 1023u) << 52);
  return p * scale;
}

/* c ? x : y through bit masks: both sides are already computed, so the
 * compiler cannot turn the choice into a branch (which, with floating-point
 * traps honoured, would stop it from vectorising the loop). */
INLINE double pick(int c, double x, double y)
{
  const uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
  return double_of((bits_of(x) & m) | (bits_of(y) & ~m));
}

INLINE double tanh_one(double x, const int fused)
{
  const double a = fabs(x);
  const double z = x * x;
  /* Cephes tanh.c: P(z) and Q(z) (Q monic, degree 3). */
  const double p = MADD(MADD(-9.64399179425052238628e-1, z, -9.92877231001918586564e1), z,
                        -1.61468768441708447952e3) * z;
  const double q = MADD(MADD(z + 1.12811678491632931402e2, z, 2.23548839060100448583e3), z,
                        4.84406305325125486048e3);
  const int small = a < 0.625;
  const double ac = pick(a < 20.0, a, 20.0); /* also maps NaN to 20; fixed below */
  const double e = exp_mid(pick(small, 1.25, 2.0 * ac), fused);
  const double ratio = pick(small, p, 2.0) / pick(small, q, e + 1.0);
  /* copysign also gives tanh(−0) = −0, which x + x·ratio would lose. */
  const double r = copysign(pick(small, MADD(x, ratio, x), 1.0 - ratio), x);
  return pick(x == x, r, x); /* NaN in, NaN out */
}

/* The loop, instantiated per instruction set. */
#define DEFINE_TANH_KERNEL(SUFFIX, ATTR, FUSED)                                            \
  ATTR static void vtanh_##SUFFIX(size_t n, double *y)                                     \
  {                                                                                        \
    for (size_t i = 0; i < n; i++) y[i] = tanh_one(y[i], FUSED);                           \
  }

DEFINE_TANH_KERNEL(generic, , 0)
#if PNI_X86
DEFINE_TANH_KERNEL(avx2, __attribute__((target("avx2,fma"))), 1)
DEFINE_TANH_KERNEL(avx512, __attribute__((target("avx512f,avx512dq,fma"))), 1)
#endif

int pni_vmath_isa_supported(pni_vmath_isa isa)
{
  switch (isa) {
  case PNI_ISA_GENERIC:
    return 1;
#if PNI_X86
  case PNI_ISA_AVX2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case PNI_ISA_AVX512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma");
#endif
  default:
    return 0;
  }
}

/* The best build for this CPU, found once when the library is loaded (the
 * kernels are called millions of times; asking the CPU each time would cost
 * more than a small product). */
static pni_vmath_isa best_isa = PNI_ISA_GENERIC;

__attribute__((constructor)) static void find_best_isa(void)
{
#if PNI_X86
  __builtin_cpu_init(); /* required before __builtin_cpu_supports in a constructor */
#endif
  best_isa = pni_vmath_isa_supported(PNI_ISA_AVX512) ? PNI_ISA_AVX512
             : pni_vmath_isa_supported(PNI_ISA_AVX2) ? PNI_ISA_AVX2
                                                      : PNI_ISA_GENERIC;
}

pni_vmath_isa pni_vmath_best_isa(void) { return best_isa; }

const char *pni_vmath_isa_name(pni_vmath_isa isa)
{
  static const char *names[PNI_ISA_COUNT] = {"generic", "avx2", "avx512"};
  return (unsigned)isa < PNI_ISA_COUNT ? names[isa] : "unknown";
}

void pni_vtanh_isa(pni_vmath_isa isa, size_t n, double *y)
{
  switch (isa) {
#if PNI_X86
  case PNI_ISA_AVX512:
    vtanh_avx512(n, y);
    return;
  case PNI_ISA_AVX2:
    vtanh_avx2(n, y);
    return;
#endif
  default:
    vtanh_generic(n, y);
  }
}

void pni_vtanh(size_t n, double *y) { pni_vtanh_isa(best_isa, n, y); }
