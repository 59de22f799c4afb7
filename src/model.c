/* Models: the generic wrapper, user callbacks and the VJP self-test. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "model_impl.h"

int pni_model_wrap(pn_ctx *ctx, int dim, int nparam, const pni_model_ops *ops, void *impl,
                   const char *kind, pn_model **out)
{
  pn_model *m = NULL;
  int rc = pni_calloc(ctx, 1, sizeof *m, &m, "model");
  if (rc != PN_OK) {
    if (ops->destroy) ops->destroy(impl);
    return rc;
  }
  m->ctx = ctx;
  m->dim = dim;
  m->nparam = nparam;
  m->ops = ops;
  m->impl = impl;
  m->kind = kind;
  *out = m;
  return PN_OK;
}

int pn_model_destroy(pn_model **model)
{
  if (!model || !*model) return PN_OK;
  if ((*model)->ops->destroy) (*model)->ops->destroy((*model)->impl);
  free(*model);
  *model = NULL;
  return PN_OK;
}

int pn_model_dim(const pn_model *model) { return model->dim; }
int pn_model_nparam(const pn_model *model) { return model->nparam; }

int pni_model_reserve(pn_model *m, int max_batch, int nslots)
{
  PN_CHECK(m->ctx, max_batch >= 1 && nslots >= 0, PN_ERR_ARG,
           "cannot reserve a batch of %d states and %d slots", max_batch, nslots);
  if (max_batch <= m->max_batch && nslots <= m->nslots) return PN_OK;
  int want_b = max_batch > m->max_batch ? max_batch : m->max_batch;
  int want_s = nslots > m->nslots ? nslots : m->nslots;
  if (m->ops->reserve) PN_CALL(m->ops->reserve(m->impl, m->ctx, want_b, want_s));
  m->max_batch = want_b;
  m->nslots = want_s;
  return PN_OK;
}

size_t pni_model_workspace_bytes(const pn_model *m, int max_batch, int nslots)
{
  return m->ops->workspace_bytes ? m->ops->workspace_bytes(m->impl, max_batch, nslots) : 0;
}

int pn_model_reserve(pn_model *model, int max_batch)
{
  PN_CHECK(NULL, model, PN_ERR_ARG, "NULL model");
  return pni_model_reserve(model, max_batch, 0);
}

void pni_model_bind(pn_model *m, const double *theta)
{
  if (m->ops->bind) m->ops->bind(m->impl, theta);
}

int pni_model_rhs(pn_model *m, int slot, double t, int nb, const double *z, const double *theta,
                  double *f_out)
{
  return m->ops->rhs(m->impl, slot, t, nb, z, theta, f_out);
}

int pni_model_vjp(pn_model *m, int slot, double t, int nb, const double *z, const double *theta,
                  const double *a, double *z_bar_out, double *theta_bar_inout)
{
  return m->ops->vjp(m->impl, slot, t, nb, z, theta, a, z_bar_out, theta_bar_inout);
}

int pni_model_rhs_tangent(pn_model *m, double t, int nb, int ntan, const double *zv,
                          const double *theta, double *out)
{
  PN_CHECK(m->ctx, nb >= 1 && ntan >= 0 && (long)nb * (1 + ntan) <= m->max_batch, PN_ERR_ARG,
           "%d states with %d tangents each, but the model reserved %d rows", nb, ntan,
           m->max_batch);
  return m->ops->rhs_tangent(m->impl, t, nb, ntan, zv, theta, out);
}

static int check_call(pn_model *m, int nb, const void *z, const void *theta)
{
  PN_CHECK(m->ctx, z && theta, PN_ERR_ARG, "NULL state or parameters");
  PN_CHECK(m->ctx, nb >= 1 && nb <= m->max_batch, PN_ERR_ARG,
           "batch of %d states, but the model reserved %d (call pn_model_reserve first)", nb,
           m->max_batch);
  return PN_OK;
}

int pn_model_rhs(pn_model *model, double t, int nb, const double *z, const double *theta,
                 double *f_out)
{
  PN_CALL(check_call(model, nb, z, theta));
  PN_CHECK(model->ctx, f_out, PN_ERR_ARG, "NULL output");
  return pni_model_rhs(model, -1, t, nb, z, theta, f_out);
}

int pn_model_vjp(pn_model *model, double t, int nb, const double *z, const double *theta,
                 const double *a, double *z_bar_out, double *theta_bar_inout)
{
  PN_CALL(check_call(model, nb, z, theta));
  PN_CHECK(model->ctx, a && z_bar_out && theta_bar_inout, PN_ERR_ARG, "NULL argument");
  return pni_model_vjp(model, -1, t, nb, z, theta, a, z_bar_out, theta_bar_inout);
}

int pn_model_init_params(const pn_model *model, uint64_t seed, double *theta_out)
{
  PN_CHECK(NULL, model && theta_out, PN_ERR_ARG, "NULL argument");
  PN_CHECK(model->ctx, model->ops->init, PN_ERR_ARG,
           "the %s model has no built-in initialisation; supply its parameters", model->kind);
  return model->ops->init(model->impl, seed, theta_out);
}

/* ---- user callbacks ---------------------------------------------------- */

/* User callbacks return 0 / >0 / <0; any failure becomes PN_ERR_USER_CALLBACK
 * with the time at which it happened. */
typedef struct user_model {
  pn_ctx *ctx;
  pn_model_ops ops;
  void *user;
  int dim, nparam;
  /* Without a user jvp, ∂f/∂z comes from D VJPs: unit cotangents, the rows
   * of ∂f/∂z they give, and a θ̄ that is discarded; for max_rows states. */
  int max_rows;
  double *unit, *jrows, *tbar;
} user_model;

static int user_rhs(void *impl, int slot, double t, int nb, const double *z, const double *theta,
                    double *f_out)
{
  (void)slot;
  user_model *u = impl;
  int rc = u->ops.rhs(u->user, t, nb, z, theta, f_out);
  PN_CHECK(u->ctx, rc == 0, PN_ERR_USER_CALLBACK,
           "user model right-hand side returned %d at t = %.17g (batch of %d)", rc, t, nb);
  return PN_OK;
}

static int user_vjp(void *impl, int slot, double t, int nb, const double *z, const double *theta,
                    const double *a, double *z_bar_out, double *theta_bar_inout)
{
  (void)slot;
  user_model *u = impl;
  int rc = u->ops.vjp(u->user, t, nb, z, theta, a, z_bar_out, theta_bar_inout);
  PN_CHECK(u->ctx, rc == 0, PN_ERR_USER_CALLBACK,
           "user model vector-Jacobian product returned %d at t = %.17g (batch of %d)", rc, t, nb);
  return PN_OK;
}

static size_t user_workspace_doubles(const user_model *u, int max_rows)
{
  if (u->ops.jvp) return 0;
  const size_t w = (size_t)max_rows * (size_t)u->dim;
  return w + (size_t)u->dim * w + (size_t)u->nparam;
}

static size_t user_workspace_bytes(const void *impl, int max_batch, int nslots)
{
  (void)nslots;
  return sizeof(double) * user_workspace_doubles(impl, max_batch);
}

static int user_reserve(void *impl, pn_ctx *ctx, int max_batch, int nslots)
{
  (void)nslots;
  user_model *u = impl;
  if (u->ops.jvp || max_batch <= u->max_rows) return PN_OK;
  double *buf = NULL;
  PN_CALL(pni_calloc(ctx, user_workspace_doubles(u, max_batch), sizeof(double), &buf,
                     "user model Jacobian rows"));
  free(u->unit);
  const size_t w = (size_t)max_batch * (size_t)u->dim;
  u->unit = buf;
  u->jrows = buf + w;
  u->tbar = u->jrows + (size_t)u->dim * w;
  u->max_rows = max_batch;
  return PN_OK;
}

/* The JVPs of the state rows' tangents: by the user's jvp, one call per
 * direction; else from ∂f/∂z, whose row i at every state is the VJP of the
 * unit cotangent e_i (D VJPs), times each direction. */
static int user_rhs_tangent(void *impl, double t, int nb, int ntan, const double *zv,
                            const double *theta, double *out)
{
  user_model *u = impl;
  const int D = u->dim;
  const size_t w = (size_t)nb * (size_t)D;
  PN_CALL(user_rhs(u, -1, t, nb, zv, theta, out));
  if (u->ops.jvp) {
    for (int e = 0; e < ntan; e++) {
      const size_t off = (size_t)(1 + e) * w;
      const int rc = u->ops.jvp(u->user, t, nb, zv, theta, zv + off, out + off);
      PN_CHECK(u->ctx, rc == 0, PN_ERR_USER_CALLBACK,
               "user model Jacobian-vector product returned %d at t = %.17g (batch of %d)", rc, t,
               nb);
    }
    return PN_OK;
  }
  for (int i = 0; i < D; i++) {
    memset(u->unit, 0, sizeof(double) * w);
    for (int b = 0; b < nb; b++) u->unit[(size_t)b * D + i] = 1.0;
    PN_CALL(user_vjp(u, -1, t, nb, zv, theta, u->unit, u->jrows + (size_t)i * w, u->tbar));
  }
  for (int e = 0; e < ntan; e++)
    for (int b = 0; b < nb; b++) {
      const double *v = zv + (size_t)(1 + e) * w + (size_t)b * D;
      double *jv = out + (size_t)(1 + e) * w + (size_t)b * D;
      for (int i = 0; i < D; i++) {
        const double *row = u->jrows + (size_t)i * w + (size_t)b * D; /* (∂f_i/∂z) at z_b */
        double s = 0.0;
        for (int k = 0; k < D; k++) s += row[k] * v[k];
        jv[i] = s;
      }
    }
  return PN_OK;
}

static void user_destroy(void *impl)
{
  user_model *u = impl;
  if (u->ops.destroy) u->ops.destroy(u->user);
  free(u->unit);
  free(u);
}

static const pni_model_ops user_ops = {user_rhs,     user_vjp, user_reserve,    user_workspace_bytes,
                                       NULL,         user_destroy, NULL,        user_rhs_tangent};

int pn_model_create(pn_ctx *ctx, int dim, int nparam, const pn_model_ops *ops, void *user,
                    pn_model **out)
{
  PN_CHECK(ctx, ops && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CHECK(ctx, ops->rhs && ops->vjp, PN_ERR_ARG, "a user model needs both rhs and vjp callbacks");
  PN_CHECK(ctx, dim >= 1 && nparam >= 0, PN_ERR_ARG, "dimension %d and %d parameters are invalid",
           dim, nparam);
  user_model *u = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *u, &u, "user model"));
  u->ctx = ctx;
  u->ops = *ops;
  u->ops.destroy = NULL; /* `user` stays the caller's until the model exists */
  u->user = user;
  u->dim = dim;
  u->nparam = nparam;
  PN_CALL(pni_model_wrap(ctx, dim, nparam, &user_ops, u, "user", out));
  u->ops.destroy = ops->destroy;
  return PN_OK;
}

/* ---- self-test ----------------------------------------------------------- */

static double dot(const double *x, const double *y, size_t n)
{
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

static double rel_gap(double x, double y)
{
  double scale = fmax(fabs(x), fabs(y));
  return scale > 0.0 ? fabs(x - y) / scale : 0.0;
}

int pn_model_check(pn_model *m, const double *theta, int nb, uint64_t seed, double *z_err_out,
                   double *theta_err_out)
{
  PN_CHECK(NULL, m && theta && z_err_out && theta_err_out, PN_ERR_ARG, "NULL argument");
  PN_CHECK(m->ctx, nb >= 1, PN_ERR_ARG, "batch %d < 1", nb);
  PN_CALL(pni_model_reserve(m, nb, 0));
  const size_t nz = (size_t)nb * (size_t)m->dim, np = (size_t)m->nparam;
  double *buf = NULL;
  PN_CALL(pni_calloc(m->ctx, 7 * nz + 4 * np + 2, sizeof(double), &buf, "model check"));
  double *z = buf, *a = z + nz, *v = a + nz, *fp = v + nz, *fm = fp + nz, *zp = fm + nz,
         *zbar = zp + nz, *w = zbar + nz, *thp = w + np, *thbar = thp + np;
  pn_rng rng;
  pn_rng_seed(&rng, seed);
  for (size_t i = 0; i < nz; i++) {
    z[i] = pn_rng_normal(&rng);
    a[i] = pn_rng_normal(&rng);
    v[i] = pn_rng_normal(&rng);
  }
  for (size_t i = 0; i < np; i++) w[i] = pn_rng_normal(&rng);
  const double t = 0.3, eps = 1e-6;
  int rc = PN_OK;
  PN_CALL_GOTO(rc, pni_model_vjp(m, -1, t, nb, z, theta, a, zbar, thbar));
  /* State direction: central difference of f along v. */
  for (size_t i = 0; i < nz; i++) zp[i] = z[i] + eps * v[i];
  PN_CALL_GOTO(rc, pni_model_rhs(m, -1, t, nb, zp, theta, fp));
  for (size_t i = 0; i < nz; i++) zp[i] = z[i] - eps * v[i];
  PN_CALL_GOTO(rc, pni_model_rhs(m, -1, t, nb, zp, theta, fm));
  for (size_t i = 0; i < nz; i++) fp[i] = (fp[i] - fm[i]) / (2 * eps);
  *z_err_out = rel_gap(dot(a, fp, nz), dot(zbar, v, nz));
  /* Parameter direction. */
  *theta_err_out = 0.0;
  if (np > 0) {
    for (size_t i = 0; i < np; i++) thp[i] = theta[i] + eps * w[i];
    PN_CALL_GOTO(rc, pni_model_rhs(m, -1, t, nb, z, thp, fp));
    for (size_t i = 0; i < np; i++) thp[i] = theta[i] - eps * w[i];
    PN_CALL_GOTO(rc, pni_model_rhs(m, -1, t, nb, z, thp, fm));
    for (size_t i = 0; i < nz; i++) fp[i] = (fp[i] - fm[i]) / (2 * eps);
    *theta_err_out = rel_gap(dot(a, fp, nz), dot(thbar, w, np));
  }
cleanup:
  free(buf);
  return rc;
}
