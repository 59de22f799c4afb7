/* Fuzz the CSV data reader (pn_dataset_read_csv, data.h) and what training
 * does with a dataset: the grid check, the validation split, a mini-batch and
 * its masked MSE.
 *
 * Properties: no crash, hang or huge allocation; every error names the file;
 * a dataset that reads is consistent (offsets tile the rows, times strictly
 * increase within a trajectory, ids of consecutive trajectories differ, every
 * value finite); writing it and reading it back gives the same dataset
 * bitwise (pn_dataset_write_csv's %.17g round trip). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static void check_dataset(const pn_dataset *ds)
{
  if (ds->dim < 1 || ds->ntraj < 1 || ds->nrows < 1 || ds->offset[0] != 0 ||
      ds->offset[ds->ntraj] != ds->nrows)
    fz_fail("dataset with dim %d, %d trajectories, %ld rows, offsets %ld..%ld", ds->dim,
            ds->ntraj, ds->nrows, ds->offset[0], ds->offset[ds->ntraj]);
  for (int j = 0; j < ds->ntraj; j++) {
    if (ds->offset[j + 1] <= ds->offset[j]) fz_fail("trajectory %d is empty", j);
    if (j > 0 && ds->traj_id[j] == ds->traj_id[j - 1])
      fz_fail("trajectories %d and %d share id %ld", j - 1, j, ds->traj_id[j]);
    for (long r = ds->offset[j]; r < ds->offset[j + 1]; r++) {
      if (!isfinite(ds->time[r])) fz_fail("row %ld: time %g accepted", r, ds->time[r]);
      if (r > ds->offset[j] && !(ds->time[r] > ds->time[r - 1]))
        fz_fail("row %ld: time %.17g after %.17g accepted", r, ds->time[r], ds->time[r - 1]);
      for (int d = 0; d < ds->dim; d++)
        if (!isfinite(ds->z[(size_t)r * ds->dim + d]))
          fz_fail("row %ld: value %g accepted", r, ds->z[(size_t)r * ds->dim + d]);
    }
  }
}

static void check_same(const pn_dataset *a, const pn_dataset *b)
{
  if (a->dim != b->dim || a->ntraj != b->ntraj || a->nrows != b->nrows)
    fz_fail("CSV round trip changed the shape");
  for (int j = 0; j <= a->ntraj; j++)
    if (a->offset[j] != b->offset[j] || (j < a->ntraj && a->traj_id[j] != b->traj_id[j]))
      fz_fail("CSV round trip changed trajectory %d", j);
  for (long r = 0; r < a->nrows; r++) {
    if (!fz_same_double(a->time[r], b->time[r])) fz_fail("CSV round trip changed time %ld", r);
    for (int d = 0; d < a->dim; d++)
      if (!fz_same_double(a->z[(size_t)r * a->dim + d], b->z[(size_t)r * a->dim + d]))
        fz_fail("CSV round trip changed row %ld, value %d", r, d);
  }
}

/* The training-side uses of a dataset: they must work or fail with a message. */
static void use_dataset(pn_ctx *ctx, const pn_dataset *ds)
{
  double t0 = ds->time[0], t1 = t0;
  for (long r = 0; r < ds->nrows; r++) t1 = ds->time[r] > t1 ? ds->time[r] : t1;
  if (t1 > t0) {
    int rc = pn_dataset_check_grid(ctx, ds, t0, t1, 16);
    if (rc != PN_OK) fz_check_error(rc, ds->source);
  }
  int *train = calloc(2 * (size_t)ds->ntraj, sizeof(int)), ntrain = 0, nval = 0;
  if (!train) fz_fail("out of memory in the harness");
  int *val = train + ds->ntraj;
  int rc = pn_dataset_split(ctx, ds, 0.25, 7, train, &ntrain, val, &nval);
  if (rc != PN_OK) {
    fz_check_error(rc, NULL);
  } else {
    if (ntrain < 1 || ntrain + nval != ds->ntraj) fz_fail("split %d + %d of %d", ntrain, nval, ds->ntraj);
    pn_batch *b = NULL;
    rc = pn_batch_create(ctx, ds, ntrain, t0, PN_REDUCE_MEAN, &b);
    if (rc == PN_OK) rc = pn_batch_set(b, train);
    if (rc != PN_OK) fz_check_error(rc, NULL);
    if (rc == PN_OK && pn_batch_observations(b) < 1) fz_fail("a batch set without observations");
    pn_batch_destroy(&b);
  }
  free(train);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  pn_ctx *ctx = fz_ctx();
  char path[700], back[700];
  fz_write("data.csv", data, size, path, sizeof path);
  pn_dataset *ds = NULL, *again = NULL;
  int rc = pn_dataset_read_csv(ctx, path, &ds);
  if (rc != PN_OK) {
    fz_check_error(rc, path);
    if (ds) fz_fail("pn_dataset_read_csv failed but returned a dataset");
  } else {
    check_dataset(ds);
    snprintf(back, sizeof back, "%s/written.csv", fz_dir());
    rc = pn_dataset_write_csv(ctx, ds, back);
    if (rc != PN_OK) fz_fail("cannot write a dataset that was read: %s", pn_ctx_last_error(ctx));
    rc = pn_dataset_read_csv(ctx, back, &again);
    if (rc != PN_OK) fz_fail("cannot read back a written dataset: %s", pn_ctx_last_error(ctx));
    check_same(ds, again);
    use_dataset(ctx, ds);
  }
  pn_dataset_destroy(&ds);
  pn_dataset_destroy(&again);
  pn_ctx_clear_error(ctx);
  return 0;
}
