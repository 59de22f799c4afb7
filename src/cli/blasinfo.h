/* Which BLAS kernel this process runs on, and whether it is a generic
 * fallback.  Debian's OpenBLAS 0.3.21 does not recognise some recent CPUs
 * and then silently runs its generic "Prescott" kernel (about 5× slower);
 * OPENBLAS_CORETYPE, read when the library is loaded, overrides the choice
 * (scripts/blas-env.sh sets it).  Benchmarks print this and warn. */
#ifndef PINODE_CLI_BLASINFO_H
#define PINODE_CLI_BLASINFO_H

#include <stddef.h>

typedef struct cli_blas_info {
  char config[200];   /* openblas_get_config() */
  char core[64];      /* openblas_get_corename() */
  int threads;        /* openblas_get_num_threads() */
  const char *cpu;    /* best of "avx512", "avx2", "none" the CPU supports */
  const char *suggest; /* OPENBLAS_CORETYPE value that suits the CPU, or NULL */
  int fallback;       /* 1: the kernel lacks vector units the CPU has */
  const char *kernels; /* what pinode's own products run on (gemm.h) */
  const char *tanh;   /* instruction set of pinode's tanh (vmath.h) */
} cli_blas_info;

/* Fill @p out for this process.  Not collective. */
void cli_blas_info_get(cli_blas_info *out);

/* One line "BLAS: ..." and, on a fallback, a WARNING line with the fix,
 * into buf (always terminated). */
void cli_blas_info_format(const cli_blas_info *info, char *buf, size_t cap);

#endif
