/* HDF5 trajectory files on 1..4 ranks: every rank writes its own block of
 * times (uneven blocks, empty ones), and the file read back holds the very
 * bits written, with or without compression; blocks that do not fit, files
 * that are not HDF5 or are missing are refused on every rank with a message
 * naming the file, and no file is left behind.  A build without HDF5 says so. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char dir[512];

static void shared_dir(void)
{
  if (dir[0]) return;
  if (pn_ctx_rank(pnt_ctx) == 0) pnt_tmpdir("h5", dir, sizeof dir);
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
}

/* Awkward values: signed zeros, subnormals, extremes, and random numbers. */
static double value(long i, int j, int d)
{
  static const double odd[] = {-0.0, 4.9406564584124654e-324, 1.7976931348623157e308,
                               -2.2250738585072014e-308, 1.0 / 3.0};
  const long k = (i * 7 + j * 3 + d) % 50;
  if (k < 5) return odd[k];
  return sin((double)(i * 131 + j * 17 + d)) * exp((double)(k % 20) - 10);
}

/* T rows of B × D states, rows split over the ranks by `split` (0: pn_split;
 * 1: everything on the last rank, the others empty); written, read back and
 * compared bitwise. */
static void round_trip(long T, int B, int D, int split, int level)
{
  const int rank = pn_ctx_rank(pnt_ctx), size = pn_ctx_size(pnt_ctx);
  long lo = 0, hi = 0;
  if (split == 0) pn_split(T, size, rank, &lo, &hi);
  else if (rank == size - 1) hi = T;
  const size_t BD = (size_t)B * D;
  double *time = calloc((size_t)(hi - lo) + 1, sizeof(double));
  double *z = calloc((size_t)(hi - lo) * BD + 1, sizeof(double));
  long *ids = calloc((size_t)B, sizeof(long));
  for (long i = lo; i < hi; i++) {
    time[i - lo] = 0.25 * (double)i - 3.0;
    for (int j = 0; j < B; j++)
      for (int d = 0; d < D; d++) z[(size_t)(i - lo) * BD + (size_t)j * D + d] = value(i, j, d);
  }
  for (int j = 0; j < B; j++) ids[j] = 100 - 7 * j;
  const pn_h5_block blk = {T, B, D, lo, hi - lo, time, z, ids};
  const char *names[] = {"x", "y", "z", "w"};
  const pn_h5_attrs attrs = {"rk4", 0.25, "model.pinode", D <= 4 ? names : NULL, level};
  char path[600];
  snprintf(path, sizeof path, "%s/t.h5", dir);
  pnt_ok(pnt_ctx, pn_h5_write(pnt_ctx, path, &blk, &attrs));
  pn_dataset *ds = NULL;
  pnt_ok(pnt_ctx, pn_h5_read_dataset(pnt_ctx, path, &ds));
  int same = ds->dim == D && ds->ntraj == B && ds->nrows == T * B;
  for (int j = 0; same && j < B; j++) {
    same = ds->traj_id[j] == ids[j] && ds->offset[j] == (long)j * T;
    for (long i = 0; same && i < T; i++) {
      const long r = ds->offset[j] + i;
      const double t = 0.25 * (double)i - 3.0;
      same = memcmp(&ds->time[r], &t, sizeof t) == 0;
      for (int d = 0; same && d < D; d++) {
        const double v = value(i, j, d);
        same = memcmp(&ds->z[(size_t)r * D + d], &v, sizeof v) == 0;
      }
    }
  }
  pnt_assert_all(same, "%ld x %d x %d (split %d, level %d): not the bits written", T, B, D,
                 split, level);
  for (int d = 0; d < D; d++) {
    char z[32], want[32];
    snprintf(want, sizeof want, "z%d", d + 1);
    same = same && strcmp(pn_dataset_name(ds, d, z, sizeof z), D <= 4 ? names[d] : want) == 0;
  }
  pnt_assert_all(same, "%ld x %d x %d: the states' names were not read back", T, B, D);
  pn_dataset_destroy(&ds);
  free(time);
  free(z);
  free(ids);
}

static void blocks_round_trip_bitwise(void **state)
{
  (void)state;
  shared_dir();
  round_trip(1, 1, 1, 0, 0);      /* fewer rows than ranks: empty blocks */
  round_trip(101, 3, 2, 0, 0);    /* uneven blocks */
  round_trip(101, 3, 2, 1, 0);    /* one rank writes everything */
  round_trip(50000, 2, 4, 0, 6);  /* several chunks, compressed */
  round_trip(7, 40, 4000, 0, 1);  /* a row wider than a chunk's target */
}

static void bad_blocks_are_refused(void **state)
{
  (void)state;
  shared_dir();
  const int rank = pn_ctx_rank(pnt_ctx), size = pn_ctx_size(pnt_ctx);
  char path[600];
  snprintf(path, sizeof path, "%s/bad.h5", dir);
  const double t[2] = {0, 1}, z[4] = {1, 2, 3, 4};
  /* Every rank claims rows [0, 2): with 2+ ranks they overlap. */
  pn_h5_block b = {2, 1, 2, 0, 2, t, z, NULL};
  int rc = pn_h5_write(pnt_ctx, path, &b, NULL);
  if (size > 1)
    pnt_fails_with(pnt_ctx, rc, PN_ERR_ARG, "rows start at 0, not at 2");
  else
    pnt_ok(pnt_ctx, rc);
  /* A gap: the blocks cover fewer rows than T. */
  b.ntimes = 3;
  b.first = 2 * rank;
  b.count = rank == size - 1 ? 0 : 2;
  b.ntimes = 2 * (long)size + 1;
  pnt_fails_with(pnt_ctx, pn_h5_write(pnt_ctx, path, &b, NULL), PN_ERR_ARG, "bad.h5: the ranks'");
  /* Different shapes on different ranks. */
  pn_h5_block c = {2, 1, rank == 0 ? 2 : 1, 0, rank == 0 ? 2 : 0, t, z, NULL};
  rc = pn_h5_write(pnt_ctx, path, &c, NULL);
  if (size > 1)
    pnt_fails_with(pnt_ctx, rc, PN_ERR_ARG, "rank 1 writes 2 x 1 x 1, rank 0 2 x 1 x 2");
  else
    pnt_ok(pnt_ctx, rc);
  const pn_h5_attrs loud = {NULL, 0, NULL, NULL, 10};
  pn_h5_block one = {2, 1, 2, rank == 0 ? 0 : 2, rank == 0 ? 2 : 0, t, z, NULL};
  pnt_fails_with(pnt_ctx, pn_h5_write(pnt_ctx, path, &one, &loud), PN_ERR_ARG,
                 "compression level 10");
  /* No directory: nothing created, the reason named. */
  char nodir[600];
  snprintf(nodir, sizeof nodir, "%s/none/p.h5", dir);
  pnt_fails_with(pnt_ctx, pn_h5_write(pnt_ctx, nodir, &one, NULL), PN_ERR_IO,
                 "none/p.h5: cannot create the temporary file");
  /* No temporary file is left behind. */
  int left = 0;
  if (rank == 0) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -q '[.]tmp[.]'", dir);
    left = system(cmd) == 0;
  }
  pnt_assert_all(!left, "a temporary file was left in %s", dir);
}

static void unreadable_files_are_refused(void **state)
{
  (void)state;
  shared_dir();
  char path[600];
  pn_dataset *ds = NULL;
  snprintf(path, sizeof path, "%s/missing.h5", dir);
  pnt_fails_with(pnt_ctx, pn_h5_read_dataset(pnt_ctx, path, &ds), PN_ERR_IO,
                 "missing.h5: No such file");
  if (pn_ctx_rank(pnt_ctx) == 0) pnt_write_text(dir, "text.h5", "trajectory,time,z1\n0,0,1\n");
  MPI_Barrier(MPI_COMM_WORLD);
  snprintf(path, sizeof path, "%s/text.h5", dir);
  pnt_fails_with(pnt_ctx, pn_h5_read_dataset(pnt_ctx, path, &ds), PN_ERR_IO,
                 "text.h5 is not an HDF5 file");
  pnt_assert_all(ds == NULL, "a dataset on failure");
}

static void remove_files(void **state)
{
  (void)state;
  MPI_Barrier(MPI_COMM_WORLD);
  if (pn_ctx_rank(pnt_ctx) == 0 && dir[0]) pnt_rmdir_flat(dir);
}

static void without_hdf5_the_build_says_so(void **state)
{
  (void)state;
  pn_dataset *ds = NULL;
  pnt_fails_with(pnt_ctx, pn_h5_read_dataset(pnt_ctx, "x.h5", &ds), PN_ERR_ARG,
                 "x.h5: this pinode was built without HDF5");
}

static const struct CMUnitTest with_hdf5[] = {
    cmocka_unit_test(blocks_round_trip_bitwise),
    cmocka_unit_test(bad_blocks_are_refused),
    cmocka_unit_test(unreadable_files_are_refused),
    cmocka_unit_test(remove_files),
};

static const struct CMUnitTest without[] = {
    cmocka_unit_test(without_hdf5_the_build_says_so),
};

int main(int argc, char **argv)
{
  if (pn_h5_available()) return pnt_main(argc, argv, "h5", with_hdf5, 4);
  return pnt_main(argc, argv, "h5", without, 1);
}
