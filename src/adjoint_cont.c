/* The continuous adjoint: one backward RK step of the augmented system
 * (see adjoint_cont.h).  With the tableau (A, b, c) and step −h from t_hi:
 *     τ_i = t_hi − c_i h
 *     A_i = a + h Σ_{j<i} a_ij V_j,      V_i = (∂f/∂z)(τ_i, Z_i)ᵀ A_i
 *     a  ← a + h Σ_i b_i V_i,            θ̄ += h Σ_i b_i (∂f/∂θ)(τ_i, Z_i)ᵀ A_i
 * (the signs: da/dt = −Jᵀa integrated with step −h gives +h), and, for
 * backsolve, Z_i = z − h Σ_{j<i} a_ij F_j, F_i = f(τ_i, Z_i), z ← z − h Σ b_i F_i.
 * This is the optimise-then-discretise gradient: it differs from the exact
 * gradient of the discrete forward map by O(h^q) (docs/mathematics.md, claim 2). */
#include <stdlib.h>
#include <string.h>

#include "adjoint_cont.h"
#include "comm.h"
#include "internal.h"

size_t pni_cadj_bytes(const pn_tableau *tab, const pn_model *model, int max_batch)
{
  const size_t s = (size_t)pn_tableau_stages(tab);
  const size_t w = (size_t)max_batch * (size_t)pn_model_dim(model);
  return sizeof(double) * (4 * s * w + (size_t)pn_model_nparam(model));
}

int pni_cadj_init(pni_cadj *ca, pn_ctx *ctx, const pn_tableau *tab, pn_model *model,
                  int max_batch)
{
  memset(ca, 0, sizeof *ca);
  ca->ctx = ctx;
  ca->tab = tab;
  ca->model = model;
  ca->s = pn_tableau_stages(tab);
  ca->dim = pn_model_dim(model);
  ca->nparam = pn_model_nparam(model);
  ca->max_batch = max_batch;
  const size_t w = (size_t)max_batch * (size_t)ca->dim, s = (size_t)ca->s;
  int rc = PN_OK;
  /* Backsolve keeps stage i's activations in slot i between its rhs and vjp. */
  PN_CALL_GOTO(rc, pni_model_reserve(model, max_batch, ca->s));
  PN_CALL_GOTO(rc, pni_calloc(ctx, 4 * s * w + (size_t)ca->nparam, sizeof(double), &ca->Z,
                              "continuous-adjoint stages"));
  ca->F = ca->Z + s * w;
  ca->A = ca->F + s * w;
  ca->V = ca->A + s * w;
  ca->gtmp = ca->V + s * w;
  return PN_OK;
cleanup:
  pni_cadj_free(ca);
  return rc;
}

void pni_cadj_free(pni_cadj *ca)
{
  if (!ca) return;
  free(ca->Z);
  memset(ca, 0, sizeof *ca);
}

/* out = base + scale Σ_{j<i} a_ij X_j over the stage buffers X (stride ws). */
static void combine(const pni_cadj *ca, int i, double scale, size_t w, const double *base,
                    const double *X, double *out)
{
  const double *Atab = pn_tableau_a(ca->tab);
  const size_t ws = (size_t)ca->max_batch * (size_t)ca->dim;
  memcpy(out, base, sizeof(double) * w);
  for (int j = 0; j < i; j++) {
    const double aij = Atab[i * ca->s + j];
    if (aij == 0.0) continue;
    const double c = scale * aij;
    const double *x = X + (size_t)j * ws;
    for (size_t k = 0; k < w; k++) out[k] += c * x[k];
  }
}

/* x += scale Σ_i b_i X_i. */
static void add_weighted(const pni_cadj *ca, double scale, size_t w, const double *X, double *x)
{
  const double *b = pn_tableau_b(ca->tab);
  const size_t ws = (size_t)ca->max_batch * (size_t)ca->dim;
  for (int i = 0; i < ca->s; i++) {
    if (b[i] == 0.0) continue;
    const double c = scale * b[i];
    const double *xi = X + (size_t)i * ws;
    for (size_t k = 0; k < w; k++) x[k] += c * xi[k];
  }
}

/* Stage i's VJPs at (τ, Z_i) with cotangent A_i: V_i, and θ̄ += h b_i Jθᵀ A_i.
 * The θ part goes through gtmp so that no formula ever divides by b_i. */
static int stage_vjp(pni_cadj *ca, int i, int slot, double tau, double h, int nb,
                     const double *theta, double *theta_bar)
{
  const size_t ws = (size_t)ca->max_batch * (size_t)ca->dim, off = (size_t)i * ws;
  const double hb = h * pn_tableau_b(ca->tab)[i];
  memset(ca->gtmp, 0, sizeof(double) * (size_t)ca->nparam);
  PN_CALL(pni_model_vjp(ca->model, slot, tau, nb, ca->Z + off, theta, ca->A + off, ca->V + off,
                        ca->gtmp));
  ca->vjp_evals++;
  if (hb != 0.0)
    for (int p = 0; p < ca->nparam; p++) theta_bar[p] += hb * ca->gtmp[p];
  return PN_OK;
}

int pni_cadj_step_backsolve(pni_cadj *ca, double t_hi, double h, int nb, double *z,
                            const double *theta, double *a, double *theta_bar)
{
  const size_t w = (size_t)nb * (size_t)ca->dim, ws = (size_t)ca->max_batch * (size_t)ca->dim;
  const double *c = pn_tableau_c(ca->tab);
  PN_CALL(pni_interrupted(ca->ctx));
  for (int i = 0; i < ca->s; i++) {
    const size_t off = (size_t)i * ws;
    const double tau = t_hi - c[i] * h;
    combine(ca, i, -h, w, z, ca->F, ca->Z + off);
    combine(ca, i, h, w, a, ca->V, ca->A + off);
    PN_CALL(pni_model_rhs(ca->model, i, tau, nb, ca->Z + off, theta, ca->F + off));
    ca->rhs_evals++;
    PN_CALL(stage_vjp(ca, i, i, tau, h, nb, theta, theta_bar));
  }
  add_weighted(ca, -h, w, ca->F, z);
  add_weighted(ca, h, w, ca->V, a);
  return PN_OK;
}

/* Z = cubic Hermite interpolant at t_lo + u·h (u ∈ [0, 1]).  At u = 0 and
 * u = 1 the weights are exactly (1, 0, 0, 0) and (0, 0, 1, 0). */
static void hermite(double u, double h, size_t w, const double *z_lo, const double *f_lo,
                    const double *z_hi, const double *f_hi, double *Z)
{
  const double u2 = u * u, u3 = u2 * u;
  const double h00 = 2.0 * u3 - 3.0 * u2 + 1.0, h10 = (u3 - 2.0 * u2 + u) * h;
  const double h01 = -2.0 * u3 + 3.0 * u2, h11 = (u3 - u2) * h;
  for (size_t k = 0; k < w; k++)
    Z[k] = h00 * z_lo[k] + h10 * f_lo[k] + h01 * z_hi[k] + h11 * f_hi[k];
}

int pni_cadj_step_interp(pni_cadj *ca, double t_hi, double h, int nb,
                         const double *z_lo, const double *f_lo, const double *z_hi,
                         const double *f_hi, const double *theta, double *a, double *theta_bar)
{
  const size_t w = (size_t)nb * (size_t)ca->dim, ws = (size_t)ca->max_batch * (size_t)ca->dim;
  const double *c = pn_tableau_c(ca->tab);
  PN_CALL(pni_interrupted(ca->ctx));
  for (int i = 0; i < ca->s; i++) {
    const size_t off = (size_t)i * ws;
    const double tau = t_hi - c[i] * h;
    hermite(1.0 - c[i], h, w, z_lo, f_lo, z_hi, f_hi, ca->Z + off);
    combine(ca, i, h, w, a, ca->V, ca->A + off);
    /* slot −1: the model recomputes its intermediates inside the VJP. */
    PN_CALL(stage_vjp(ca, i, -1, tau, h, nb, theta, theta_bar));
  }
  add_weighted(ca, h, w, ca->V, a);
  return PN_OK;
}

int pni_cadj_rhs(pni_cadj *ca, double t, int nb, const double *z, const double *theta,
                 double *f_out)
{
  PN_CALL(pni_model_rhs(ca->model, -1, t, nb, z, theta, f_out));
  ca->rhs_evals++;
  return PN_OK;
}
