/* Multi-label losses: MSE per label or a user callback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid.h"
#include "internal.h"
#include "loss_impl.h"
#include "pinode/io.h"

static int create(pn_ctx *ctx, int nlabels, const double *times, int batch, int dim,
                  pn_loss **out)
{
  PN_CHECK(ctx, out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CHECK(ctx, nlabels >= 0 && (nlabels == 0 || times), PN_ERR_ARG, "%d labels without times",
           nlabels);
  PN_CHECK(ctx, batch >= 1 && dim >= 1, PN_ERR_ARG, "loss for batch %d and dimension %d", batch,
           dim);
  for (int k = 0; k < nlabels; k++)
    PN_CHECK(ctx, isfinite(times[k]), PN_ERR_NONFINITE, "label %d has time %g", k, times[k]);
  pn_loss *l = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *l, &l, "loss"));
  int rc = pni_calloc(ctx, (size_t)nlabels, sizeof(double), &l->times, "label times");
  if (rc != PN_OK) {
    free(l);
    return rc;
  }
  if (nlabels > 0) memcpy(l->times, times, sizeof(double) * (size_t)nlabels);
  l->ctx = ctx;
  l->nlabels = nlabels;
  l->batch = batch;
  l->dim = dim;
  *out = l;
  return PN_OK;
}

int pn_loss_create_mse(pn_ctx *ctx, int nlabels, const double *times, const double *targets,
                       const double *weights, int batch, int dim, pn_loss **out)
{
  PN_CALL(create(ctx, nlabels, times, batch, dim, out));
  pn_loss *l = *out;
  const size_t ny = (size_t)nlabels * (size_t)batch * (size_t)dim;
  int rc = PN_OK;
  PN_CHECK_GOTO(rc, ctx, nlabels == 0 || targets, PN_ERR_ARG, "MSE loss without targets");
  PN_CALL_GOTO(rc, pni_calloc(ctx, ny, sizeof(double), &l->targets, "targets"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)nlabels, sizeof(double), &l->weights, "weights"));
  for (size_t i = 0; i < ny; i++) {
    PN_CHECK_GOTO(rc, ctx, isfinite(targets[i]), PN_ERR_NONFINITE,
                  "target of label %zu, sample %zu, component %zu is %g", i / ((size_t)batch * dim),
                  i / (size_t)dim % (size_t)batch, i % (size_t)dim, targets[i]);
    l->targets[i] = targets[i];
  }
  for (int k = 0; k < nlabels; k++) {
    l->weights[k] = weights ? weights[k] : 1.0;
    PN_CHECK_GOTO(rc, ctx, isfinite(l->weights[k]), PN_ERR_NONFINITE, "weight of label %d is %g",
                  k, l->weights[k]);
  }
  return PN_OK;
cleanup:
  pn_loss_destroy(out);
  return rc;
}

int pn_loss_create_custom(pn_ctx *ctx, int nlabels, const double *times, int batch, int dim,
                          pn_loss_fn fn, void *user, pn_loss **out)
{
  PN_CHECK(ctx, fn, PN_ERR_ARG, "custom loss without a callback");
  PN_CALL(create(ctx, nlabels, times, batch, dim, out));
  (*out)->fn = fn;
  (*out)->user = user;
  return PN_OK;
}

int pn_loss_destroy(pn_loss **loss)
{
  if (!loss || !*loss) return PN_OK;
  free((*loss)->times);
  free((*loss)->targets);
  free((*loss)->weights);
  free(*loss);
  *loss = NULL;
  return PN_OK;
}

int pn_loss_nlabels(const pn_loss *loss) { return loss->nlabels; }
const double *pn_loss_times(const pn_loss *loss) { return loss->times; }

int pni_loss_bind(const pn_loss *loss, pn_ctx *ctx, double t0, double t1, long nsteps,
                  long *steps_out)
{
  const double h = (t1 - t0) / (double)nsteps;
  for (int k = 0; k < loss->nlabels; k++) {
    const double t = loss->times[k];
    char num[4][PN_DOUBLE_CHARS];
    PN_CHECK(ctx, pni_grid_inside(t, t0, t1, nsteps), PN_ERR_GRID,
             "label %d at t = %s lies outside the interval [%s, %s]", k,
             pn_format_double(t, num[0]), pn_format_double(t0, num[1]),
             pn_format_double(t1, num[2]));
    steps_out[k] = pni_grid_index(t, t0, t1, nsteps, NULL);
    if (steps_out[k] >= 0) continue;
    const long m = lround((t - t0) / h);
    char hint[320];
    pni_grid_fit_hint(loss->times, loss->nlabels, t0, t1, nsteps, "steps =", "label", hint,
                      sizeof hint);
    return pni_error(ctx, PN_ERR_GRID, __FILE__, __LINE__, __func__,
                     "label %d at t = %s is not on the grid t_n = %s + n*%s (N = %ld steps; "
                     "nearest t_%ld = %s); %s",
                     k, pn_format_double(t, num[0]), pn_format_double(t0, num[1]),
                     pn_format_double(h, num[2]), nsteps, m,
                     pn_format_double(t0 + (double)m * h, num[3]), hint);
  }
  return PN_OK;
}

int pni_loss_eval(const pn_loss *loss, pn_ctx *ctx, int k, int b0, int nb, const double *z,
                  double *value_inout, double *lambda_inout, double *scratch)
{
  const int D = loss->dim;
  const size_t n = (size_t)nb * (size_t)D;
  if (loss->fn) {
    double v = 0.0;
    int rc = loss->fn(loss->user, k, loss->times[k], b0, nb, z, &v, scratch);
    PN_CHECK(ctx, rc == 0, PN_ERR_USER_CALLBACK, "user loss returned %d for label %d (t = %.17g)",
             rc, k, loss->times[k]);
    *value_inout += v;
    if (lambda_inout)
      for (size_t i = 0; i < n; i++) lambda_inout[i] += scratch[i];
    return PN_OK;
  }
  const double *y = loss->targets + ((size_t)k * (size_t)loss->batch + (size_t)b0) * (size_t)D;
  const double scale = loss->weights[k] / ((double)loss->batch * (double)D);
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double r = z[i] - y[i];
    sum += r * r;
  }
  *value_inout += scale * sum;
  if (lambda_inout)
    for (size_t i = 0; i < n; i++) lambda_inout[i] += 2.0 * scale * (z[i] - y[i]);
  return PN_OK;
}
