/* The public queries of include/pinode/kernels.h, answered by the kernels
 * themselves (gemm.c, vmath.c). */
#include "pinode/kernels.h"

#include "backend.h"

const char *pn_kernels_products(void) { return pni_backend_active()->products; }

const char *pn_kernels_isa(void) { return pni_vmath_isa_name(pni_vmath_best_isa()); }

double pn_kernels_flops(void) { return pni_mm_flops(); }
