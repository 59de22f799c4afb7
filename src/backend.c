/* The MLP's kernels behind one table (backend.h). */
#include <string.h>

#include "backend.h"
#include "internal.h"

/* Filled on first use, after vmath.c's constructor has found this CPU's best
 * build; the products then cost one indirect call, not a choice each time
 * (a tiny product costs about as much as the calls that would choose it). */
static pni_backend own, reference;
static const pni_backend *active;
static double mm_flops; /* see pni_mm_flops */

static void fill_tables(void)
{
  const pni_vmath_isa best = pni_vmath_best_isa();
  own = (pni_backend){"own", pni_mm_kernel_name(best), pni_mm_kernel(best),
                      pni_mm_nt_kernel(best), pni_vtanh_kernel(best)};
  reference = (pni_backend){"reference", "reference loops", pni_mm_reference,
                            pni_mm_nt_reference, pni_vtanh_reference};
  active = &own;
}

const pni_backend *pni_backend_named(const char *name)
{
  if (!active) fill_tables();
  if (name && strcmp(name, own.name) == 0) return &own;
  if (name && strcmp(name, reference.name) == 0) return &reference;
  return NULL;
}

const pni_backend *pni_backend_active(void)
{
  if (!active) fill_tables();
  return active;
}

int pni_backend_use(const char *name)
{
  const pni_backend *b = pni_backend_named(name);
  if (!b) return PN_ERR_ARG;
  active = b;
  return PN_OK;
}

void pni_mm(int m, int n, int k, const double *a, size_t sai, size_t sak, const double *b,
            size_t ldb, double *c, size_t ldc, pni_mm_init init, const double *bias)
{
  if (!active) fill_tables();
  mm_flops += 2.0 * m * n * k;
  active->mm(m, n, k, a, sai, sak, b, ldb, c, ldc, init, bias);
}

void pni_mm_nt(int m, int n, int k, const double *a, size_t lda, const double *bt, size_t ldbt,
               double *c, size_t ldc, pni_mm_init init, const double *bias)
{
  if (!active) fill_tables();
  mm_flops += 2.0 * m * n * k;
  active->mm_nt(m, n, k, a, lda, bt, ldbt, c, ldc, init, bias);
}

void pni_vtanh(size_t n, double *y)
{
  if (!active) fill_tables();
  active->tanh(n, y);
}

void pni_mm_isa(pni_vmath_isa isa, int m, int n, int k, const double *a, size_t sai, size_t sak,
                const double *b, size_t ldb, double *c, size_t ldc, pni_mm_init init,
                const double *bias)
{
  mm_flops += 2.0 * m * n * k;
  pni_mm_kernel(isa)(m, n, k, a, sai, sak, b, ldb, c, ldc, init, bias);
}

void pni_mm_nt_isa(pni_vmath_isa isa, int m, int n, int k, const double *a, size_t lda,
                   const double *bt, size_t ldbt, double *c, size_t ldc, pni_mm_init init,
                   const double *bias)
{
  mm_flops += 2.0 * m * n * k;
  pni_mm_nt_kernel(isa)(m, n, k, a, lda, bt, ldbt, c, ldc, init, bias);
}

double pni_mm_flops(void) { return mm_flops; }
