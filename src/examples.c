/* Two user models shipped with the library, written against the public
 * callback interface (pn_model_create) exactly as a user would write them. */
#include <stdlib.h>

#include "internal.h"
#include "pinode/model.h"

/* ---- linear ODE dz/dt = A z, θ = A (D×D row-major) --------------------- */

typedef struct linear {
  int dim;
} linear;

static int linear_rhs(void *user, double t, int nb, const double *z, const double *A, double *f)
{
  (void)t;
  const int D = ((linear *)user)->dim;
  for (int b = 0; b < nb; b++)
    for (int i = 0; i < D; i++) {
      double s = 0.0;
      for (int j = 0; j < D; j++) s += A[i * D + j] * z[b * D + j];
      f[b * D + i] = s;
    }
  return 0;
}

static int linear_vjp(void *user, double t, int nb, const double *z, const double *A,
                      const double *a, double *zbar, double *Abar)
{
  (void)t;
  const int D = ((linear *)user)->dim;
  for (int b = 0; b < nb; b++)
    for (int j = 0; j < D; j++) {
      double s = 0.0;
      for (int i = 0; i < D; i++) s += a[b * D + i] * A[i * D + j]; /* (Aᵀ a)_j */
      zbar[b * D + j] = s;
    }
  for (int b = 0; b < nb; b++) /* ∂(A z)_i/∂A_ij = z_j */
    for (int i = 0; i < D; i++)
      for (int j = 0; j < D; j++) Abar[i * D + j] += a[b * D + i] * z[b * D + j];
  return 0;
}

static int linear_jvp(void *user, double t, int nb, const double *z, const double *A,
                      const double *v, double *jv)
{
  (void)z; /* linear: ∂f/∂z = A everywhere */
  return linear_rhs(user, t, nb, v, A, jv);
}

int pn_model_create_linear(pn_ctx *ctx, int dim, pn_model **out)
{
  PN_CHECK(ctx, out, PN_ERR_ARG, "NULL argument");
  PN_CHECK(ctx, dim >= 1 && dim <= 4096, PN_ERR_ARG, "linear model dimension %d (must be 1..4096)",
           dim);
  linear *u = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *u, &u, "linear model"));
  u->dim = dim;
  const pn_model_ops ops = {linear_rhs, linear_vjp, free, linear_jvp};
  return pn_model_create(ctx, dim, dim * dim, &ops, u, out);
}

/* ---- Lotka–Volterra, θ = (α, β, γ, δ) ------------------------------------ */

static int lv_rhs(void *user, double t, int nb, const double *z, const double *p, double *f)
{
  (void)user;
  (void)t;
  for (int b = 0; b < nb; b++) {
    const double x = z[2 * b], y = z[2 * b + 1];
    f[2 * b] = p[0] * x - p[1] * x * y;
    f[2 * b + 1] = p[3] * x * y - p[2] * y;
  }
  return 0;
}

static int lv_vjp(void *user, double t, int nb, const double *z, const double *p,
                  const double *a, double *zbar, double *pbar)
{
  (void)user;
  (void)t;
  for (int b = 0; b < nb; b++) {
    const double x = z[2 * b], y = z[2 * b + 1], ax = a[2 * b], ay = a[2 * b + 1];
    zbar[2 * b] = ax * (p[0] - p[1] * y) + ay * p[3] * y;
    zbar[2 * b + 1] = -ax * p[1] * x + ay * (p[3] * x - p[2]);
    pbar[0] += ax * x;
    pbar[1] -= ax * x * y;
    pbar[2] -= ay * y;
    pbar[3] += ay * x * y;
  }
  return 0;
}

static int lv_jvp(void *user, double t, int nb, const double *z, const double *p,
                  const double *v, double *jv)
{
  (void)user;
  (void)t;
  for (int b = 0; b < nb; b++) {
    const double x = z[2 * b], y = z[2 * b + 1], vx = v[2 * b], vy = v[2 * b + 1];
    jv[2 * b] = (p[0] - p[1] * y) * vx - p[1] * x * vy;
    jv[2 * b + 1] = p[3] * y * vx + (p[3] * x - p[2]) * vy;
  }
  return 0;
}

int pn_model_create_lotka_volterra(pn_ctx *ctx, pn_model **out)
{
  const pn_model_ops ops = {lv_rhs, lv_vjp, NULL, lv_jvp};
  return pn_model_create(ctx, 2, 4, &ops, NULL, out);
}
