/* Which BLAS kernel this process runs on (see blasinfo.h). */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "blasinfo.h"
#include "gemm.h"
#include "vmath.h"

/* Is name one of the NULL-terminated list? */
static int one_of(const char *name, const char *const *list)
{
  for (; *list; list++)
    if (strcmp(name, *list) == 0) return 1;
  return 0;
}

void cli_blas_info_get(cli_blas_info *out)
{
  /* OpenBLAS x86-64 kernels with AVX-512 and with AVX2 (0.3.21's names). */
  static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
  static const char *const avx2_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                           "SapphireRapids", "Excavator", NULL};
  memset(out, 0, sizeof *out);
  snprintf(out->config, sizeof out->config, "%s", openblas_get_config());
  snprintf(out->core, sizeof out->core, "%s", openblas_get_corename());
  out->threads = openblas_get_num_threads();
  const int has512 = pni_vmath_isa_supported(PNI_ISA_AVX512);
  const int has2 = pni_vmath_isa_supported(PNI_ISA_AVX2);
  out->cpu = has512 ? "avx512" : has2 ? "avx2" : "none";
  const int core512 = one_of(out->core, avx512_cores), core2 = one_of(out->core, avx2_cores);
  if (has512 && !core512) out->suggest = "SkylakeX";
  else if (has2 && !core2) out->suggest = "Haswell";
  out->fallback = out->suggest != NULL;
  out->kernels = pni_mm_backend();
  out->tanh = pni_vmath_isa_name(pni_vmath_best_isa());
}

void cli_blas_info_format(const cli_blas_info *info, char *buf, size_t cap)
{
  int n = snprintf(buf, cap,
                   "BLAS: %s, kernel %s, %d thread%s; CPU vector units: %s; pinode's products: "
                   "%s, tanh: %s\n",
                   info->config, info->core, info->threads, info->threads == 1 ? "" : "s",
                   info->cpu, info->kernels, info->tanh);
  if (info->fallback && n >= 0 && (size_t)n < cap)
    snprintf(buf + n, cap - (size_t)n,
             "WARNING: OpenBLAS runs its %s kernel although this CPU has %s: it did not "
             "recognise the CPU and fell back to a slower one.  Set OPENBLAS_CORETYPE=%s before "
             "starting pinode (scripts/blas-env.sh does).\n",
             info->core, info->cpu, info->suggest);
}
