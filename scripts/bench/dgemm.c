/* bench_dgemm: the matrix-product rates the performance lab compares pinode
 * with (scripts/bench.sh; a development tool, not installed).
 *
 *   bench_dgemm [--threads T] [--no-rate] [--shape NAME:B:D:H ...]
 *
 * Prints which BLAS kernel this process runs on and warns when OpenBLAS fell
 * back to a generic one (Debian's OpenBLAS 0.3.21 does not recognise some
 * recent CPUs and then silently runs its "Prescott" kernel, about 5x slower;
 * OPENBLAS_CORETYPE, read when the library loads, overrides the choice, and
 * scripts/blas-env.sh sets it); then the DGEMM rate (OpenBLAS, n = 2048, one
 * thread and T threads) and, for each shape, OpenBLAS's and pinode's own
 * products on a problem's shapes (batch B, dimension D, hidden width H).
 * pinode's products are internal to the library (src/gemm.h): this tool
 * links the static library, as the tests do. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

static double wall(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the BLAS kernel ------------------------------------------------------ */

/* Is name one of the NULL-terminated list? */
static int one_of(const char *name, const char *const *list)
{
  for (; *list; list++)
    if (strcmp(name, *list) == 0) return 1;
  return 0;
}

/* "BLAS: ..." and, when OpenBLAS runs a kernel without vector units this CPU
 * has, a WARNING line with the fix. */
static void print_blas(void)
{
  /* OpenBLAS x86-64 kernels with AVX-512 and with AVX2 (0.3.21's names). */
  static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
  static const char *const avx2_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                           "SapphireRapids", "Excavator", NULL};
  const char *core = openblas_get_corename();
  const int threads = openblas_get_num_threads();
  const int has512 = pni_vmath_isa_supported(PNI_ISA_AVX512);
  const int has2 = pni_vmath_isa_supported(PNI_ISA_AVX2);
  const char *cpu = has512 ? "avx512" : has2 ? "avx2" : "none";
  const char *suggest = has512 && !one_of(core, avx512_cores) ? "SkylakeX"
                        : has2 && !one_of(core, avx2_cores)   ? "Haswell"
                                                              : NULL;
  printf("BLAS: %s, kernel %s, %d thread%s; CPU vector units: %s; pinode's products: %s, tanh: "
         "%s\n",
         openblas_get_config(), core, threads, threads == 1 ? "" : "s", cpu, pni_backend_active()->products,
         pni_vmath_isa_name(pni_vmath_best_isa()));
  if (suggest)
    printf("WARNING: OpenBLAS runs its %s kernel although this CPU has %s: it did not recognise "
           "the CPU and fell back to a slower one.  Set OPENBLAS_CORETYPE=%s before starting "
           "(scripts/blas-env.sh does).\n",
           core, cpu, suggest);
}

/* ---- rates ------------------------------------------------------------------- */

/* GFLOP/s of C = A·B (m×k times k×n) with OpenBLAS (isa < 0) or pinode's
 * products; the best of `reps` timed batches of calls lasting ≥ 20 ms. */
static double gemm_rate(int isa, int m, int n, int k, int reps)
{
  double *a = NULL, *b = NULL, *c = NULL;
  if (pni_calloc_aligned(NULL, (size_t)m * (size_t)k, sizeof(double), &a, "A") != PN_OK ||
      pni_calloc_aligned(NULL, (size_t)k * (size_t)n, sizeof(double), &b, "B") != PN_OK ||
      pni_calloc_aligned(NULL, (size_t)m * (size_t)n, sizeof(double), &c, "C") != PN_OK) {
    free(a);
    free(b);
    return 0.0;
  }
  for (size_t i = 0; i < (size_t)m * (size_t)k; i++) a[i] = sin((double)i);
  for (size_t i = 0; i < (size_t)k * (size_t)n; i++) b[i] = cos((double)i);
  const double flop = 2.0 * m * n * k;
  long calls = 1;
  double best = 0.0;
  for (int r = 0; r < reps; r++) {
    double t;
    for (;;) {
      const double t0 = wall();
      for (long q = 0; q < calls; q++) {
        if (isa < 0)
          cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k, b, n, 0.0, c,
                      n);
        else
          pni_mm_isa((pni_vmath_isa)isa, m, n, k, a, (size_t)k, 1, b, (size_t)n, c, (size_t)n,
                     PNI_MM_ZERO, NULL);
      }
      t = wall() - t0;
      if (t >= 0.02 || calls > (1L << 24)) break;
      calls *= 2;
    }
    const double rate = flop * (double)calls / t * 1e-9;
    if (rate > best) best = rate;
  }
  free(a);
  free(b);
  free(c);
  return best;
}

/* Rates on a problem's own shapes: B×D·D×H, B×H·H×D (forward, z̄ and the
 * hidden-layer gradient), D×B·B×H and H×B·B×D (the weight gradients, summed
 * over the batch), all with the flops of each shape counted once. */
static void print_shape(const char *name, int B, int D, int H)
{
  const int shapes[4][3] = {{B, H, D}, {B, D, H}, {D, H, B}, {H, D, B}};
  double tb = 0.0, tm = 0.0, fl = 0.0;
  for (int i = 0; i < 4; i++) {
    const double f = 2.0 * shapes[i][0] * shapes[i][1] * shapes[i][2];
    fl += f;
    tb += f / (gemm_rate(-1, shapes[i][0], shapes[i][1], shapes[i][2], 3) * 1e9);
    tm += f / (gemm_rate((int)pni_vmath_best_isa(), shapes[i][0], shapes[i][1], shapes[i][2], 3) *
               1e9);
  }
  printf("  on %s's shapes (B=%d, D=%d, H=%d): OpenBLAS %.1f GFLOP/s, pinode's %s %.1f GFLOP/s\n",
         name, B, D, H, fl / tb * 1e-9, pni_backend_active()->products, fl / tm * 1e-9);
}

static int usage(void)
{
  fprintf(stderr, "usage: bench_dgemm [--threads T] [--no-rate] [--shape NAME:B:D:H ...]\n");
  return 2;
}

int main(int argc, char **argv)
{
  enum { MAX_SHAPES = 16 };
  struct {
    char name[64];
    int B, D, H;
  } shape[MAX_SHAPES];
  int threads = 1, rate = 1, nshapes = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = atoi(argv[++i]);
      if (threads < 1 || threads > 256) return usage();
    } else if (strcmp(argv[i], "--no-rate") == 0) {
      rate = 0;
    } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc && nshapes < MAX_SHAPES) {
      int *bdh[3] = {&shape[nshapes].B, &shape[nshapes].D, &shape[nshapes].H};
      if (sscanf(argv[++i], "%63[^:]:%d:%d:%d", shape[nshapes].name, bdh[0], bdh[1], bdh[2]) != 4 ||
          *bdh[0] < 1 || *bdh[1] < 1 || *bdh[2] < 1)
        return usage();
      nshapes++;
    } else {
      return usage();
    }
  }
  openblas_set_num_threads(1);
  print_blas();
  if (rate) {
    const double one = gemm_rate(-1, 2048, 2048, 2048, 3);
    printf("DGEMM (OpenBLAS, 1 thread, n = 2048): %.1f GFLOP/s", one);
    if (threads > 1) {
      openblas_set_num_threads(threads);
      printf("; %d threads: %.1f GFLOP/s", threads, gemm_rate(-1, 2048, 2048, 2048, 3));
      openblas_set_num_threads(1);
    }
    printf("\n");
  }
  for (int i = 0; i < nshapes; i++) print_shape(shape[i].name, shape[i].B, shape[i].D, shape[i].H);
  return 0;
}
