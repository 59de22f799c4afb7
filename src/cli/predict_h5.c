/* Predictions as an HDF5 trajectory file (include/pinode/h5.h).  The solver
 * gives the saved states on every rank; each rank converts and writes only its
 * own contiguous block of the output times, so the file's bytes are written
 * by all ranks at once and no rank formats the whole trajectory. */
#include <stdlib.h>

#include "run.h"

int cli_predict_write_h5(pn_ctx *ctx, const cli_predict_out *o, const pn_tableau *tab,
                         const pn_solver_opts *sopts, const pn_dataset *init, double scale,
                         const long *steps, long ns, const double *states)
{
  const size_t BD = (size_t)init->ntraj * (size_t)init->dim;
  long lo = 0, hi = 0;
  pn_split(ns, pn_ctx_size(ctx), pn_ctx_rank(ctx), &lo, &hi);
  const size_t n = (size_t)(hi - lo);
  double *time = calloc(n + 1, sizeof(double)), *z = calloc(n * BD + 1, sizeof(double));
  int rc = time && z ? PN_OK
                     : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for %ld predicted states", hi - lo);
  /* The same arithmetic as the CSV rows: the same bits. */
  const double h = (sopts->t1 - sopts->t0) / (double)sopts->nsteps;
  for (size_t i = 0; rc == PN_OK && i < n; i++) {
    time[i] = sopts->t0 + (double)steps[lo + (long)i] * h; /* as the solver's grid */
    for (size_t k = 0; k < BD; k++) z[i * BD + k] = states[((size_t)lo + i) * BD + k] / scale;
  }
  rc = pn_ctx_agree(ctx, rc);
  if (rc == PN_OK) {
    const pn_h5_block b = {.ntimes = ns, .nb = init->ntraj, .dim = init->dim, .first = lo,
                           .count = hi - lo, .time = time, .z = z, .traj_id = init->traj_id};
    const pn_h5_attrs a = {.scheme = pn_tableau_name(tab), .step = h, .model = o->model,
                           .columns = (const char *const *)init->names, /* NULL: z1..zD */
                           .compress = o->compress};
    rc = pn_h5_write(ctx, o->path, &b, &a);
  }
  free(time);
  free(z);
  return rc;
}
