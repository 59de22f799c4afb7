/* bench_h5write: the time and size of writing one trajectory of T times ×
 * B × D states as CSV (pn_dataset_write_csv on rank 0, as the program's CSV
 * path does) and as HDF5 (pn_h5_write, each rank its block of times),
 * uncompressed and compressed.  Medians of REPEATS writes; every rank holds
 * the states, as pn_solver_forward leaves them.
 * usage: mpiexec -n P bench_h5write DIR [T B D REPEATS LEVEL] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pinode.h"
#include "median.h"

static long file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Seconds of one write, timed from a barrier to the last rank's return. */
static double timed(pn_ctx *ctx, int (*write)(pn_ctx *, void *), void *arg)
{
  MPI_Barrier(MPI_COMM_WORLD);
  const double t = MPI_Wtime();
  if (write(ctx, arg) != PN_OK) {
    fprintf(stderr, "bench_h5write: %s\n", pn_ctx_last_error(ctx));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return MPI_Wtime() - t;
}

typedef struct job {
  const char *path;
  const pn_dataset *ds;
  const pn_h5_block *block;
  pn_h5_attrs attrs;
} job;

static int write_csv(pn_ctx *ctx, void *arg)
{
  const job *j = arg;
  const int rc = pn_ctx_rank(ctx) == 0 ? pn_dataset_write_csv(ctx, j->ds, j->path) : PN_OK;
  return pn_ctx_agree(ctx, rc);
}

static int write_h5(pn_ctx *ctx, void *arg)
{
  const job *j = arg;
  return pn_h5_write(ctx, j->path, j->block, &j->attrs);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  pn_ctx *ctx = NULL;
  if (argc < 2 || pn_ctx_create(MPI_COMM_WORLD, &ctx) != PN_OK) {
    fprintf(stderr, "usage: mpiexec -n P bench_h5write DIR [T B D REPEATS LEVEL]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const long T = argc > 2 ? atol(argv[2]) : 1000001;
  const int B = argc > 3 ? atoi(argv[3]) : 1, D = argc > 4 ? atoi(argv[4]) : 4;
  const int R = argc > 5 ? atoi(argv[5]) : 5, level = argc > 6 ? atoi(argv[6]) : 1;
  const int rank = pn_ctx_rank(ctx), size = pn_ctx_size(ctx);
  /* A smooth trajectory with full-precision numbers, as an ODE's. */
  pn_dataset *ds = NULL;
  if (pn_dataset_create(ctx, D, B, T, &ds) != PN_OK) MPI_Abort(MPI_COMM_WORLD, 1);
  const size_t BD = (size_t)B * D;
  double *z = malloc((size_t)T * BD * sizeof(double)), *time = malloc((size_t)T * sizeof(double));
  for (long i = 0; i < T; i++) {
    time[i] = (double)i * 1e-3;
    for (size_t k = 0; k < BD; k++) {
      z[(size_t)i * BD + k] = sin(1e-3 * (double)i * (double)(k + 1)) * exp(-1e-7 * (double)i);
      ds->time[(long)(k / D) * T + i] = time[i];
      ds->z[((size_t)(k / D) * T + i) * D + k % D] = z[(size_t)i * BD + k];
    }
  }
  long lo, hi;
  pn_split(T, size, rank, &lo, &hi);
  const pn_h5_block block = {T, B, D, lo, hi - lo, time + lo, z + (size_t)lo * BD, NULL};
  char csv[4096], h5[4096], h5z[4096];
  snprintf(csv, sizeof csv, "%s/bench.csv", argv[1]);
  snprintf(h5, sizeof h5, "%s/bench.h5", argv[1]);
  snprintf(h5z, sizeof h5z, "%s/bench_z.h5", argv[1]);
  job jobs[3] = {{csv, ds, NULL, {0}},
                 {h5, NULL, &block, {"rk4", 1e-3, NULL, NULL, 0}},
                 {h5z, NULL, &block, {"rk4", 1e-3, NULL, NULL, level}}};
  char deflate[32];
  snprintf(deflate, sizeof deflate, "hdf5 (deflate %d)", level);
  const char *names[3] = {"csv", "hdf5", deflate};
  double med[3], *t = malloc((size_t)R * sizeof(double));
  for (int k = 0; k < 3; k++) {
    for (int r = 0; r < R; r++) t[r] = timed(ctx, k == 0 ? write_csv : write_h5, &jobs[k]);
    med[k] = median(t, R);
  }
  if (rank == 0) {
    printf("%ld x %d x %d states on %d rank(s), median of %d writes to %s\n", T, B, D, size, R,
           argv[1]);
    for (int k = 0; k < 3; k++)
      printf("  %-17s %8.3f s  %11ld bytes   (csv / this: time %5.1fx, size %5.1fx)\n",
             names[k], med[k], file_size(jobs[k].path), med[0] / med[k],
             (double)file_size(csv) / (double)file_size(jobs[k].path));
  }
  free(t);
  free(z);
  free(time);
  pn_dataset_destroy(&ds);
  pn_ctx_destroy(&ctx);
  MPI_Finalize();
  return 0;
}
