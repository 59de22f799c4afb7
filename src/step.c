/* One explicit Runge–Kutta step and its exact discrete adjoint. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "step.h"

size_t pni_stepper_bytes(const pn_tableau *tab, const pn_model *model, int max_batch)
{
  const int s = pn_tableau_stages(tab);
  const size_t w = (size_t)max_batch * (size_t)pn_model_dim(model);
  return sizeof(double) * (3 * (size_t)s + 1) * w +
         pni_model_workspace_bytes(model, max_batch, s);
}

int pni_stepper_init(pni_stepper *st, pn_ctx *ctx, const pn_tableau *tab, pn_model *model,
                     int max_batch)
{
  memset(st, 0, sizeof *st);
  st->ctx = ctx;
  st->tab = tab;
  st->model = model;
  st->s = pn_tableau_stages(tab);
  st->dim = pn_model_dim(model);
  st->max_batch = max_batch;
  const size_t w = (size_t)max_batch * (size_t)st->dim, s = (size_t)st->s;
  int rc = PN_OK;
  /* One slot per stage lets the adjoint reuse each stage's activations. */
  PN_CALL_GOTO(rc, pni_model_reserve(model, max_batch, st->s));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (3 * s + 1) * w, sizeof(double), &st->K, "stage buffers"));
  st->Y = st->K + s * w;
  st->Ybar = st->Y + s * w;
  st->acc = st->Ybar + s * w;
  PN_CALL_GOTO(rc, pni_calloc(ctx, s, sizeof *st->Yp, &st->Yp, "stage pointers"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, s, 1, &st->row_zero, "tableau rows"));
  const double *A = pn_tableau_a(tab);
  for (int i = 0; i < st->s; i++) {
    st->row_zero[i] = 1;
    for (int j = 0; j < i; j++)
      if (A[i * st->s + j] != 0.0) st->row_zero[i] = 0;
  }
  return PN_OK;
cleanup:
  pni_stepper_free(st);
  return rc;
}

void pni_stepper_free(pni_stepper *st)
{
  free(st->K);
  free(st->Yp);
  free(st->row_zero);
  st->K = st->Y = st->Ybar = st->acc = NULL;
  st->Yp = NULL;
  st->row_zero = NULL;
}

/* Stages of the step at (t, z): Y_i and k_i for i < nstages; keep ≥ 0 asks
 * the model to keep each stage's intermediates in slot i for the adjoint. */
static int stages(pni_stepper *st, double t, double h, int nb, const double *z,
                  const double *theta, int nstages, int keep)
{
  const int s = st->s;
  const size_t w = (size_t)nb * (size_t)st->dim, ws = (size_t)st->max_batch * (size_t)st->dim;
  const double *A = pn_tableau_a(st->tab), *c = pn_tableau_c(st->tab);
  for (int i = 0; i < nstages; i++) {
    if (st->row_zero[i]) {
      st->Yp[i] = z;
    } else { /* Y_i = z + Σ_j (h a_ij) k_j, in the order of the reference */
      double *Y = st->Y + (size_t)i * ws;
      memcpy(Y, z, sizeof(double) * w);
      for (int j = 0; j < i; j++) {
        const double ha = h * A[i * s + j];
        if (A[i * s + j] == 0.0) continue;
        const double *k = st->K + (size_t)j * ws;
        for (size_t x = 0; x < w; x++) Y[x] += ha * k[x];
      }
      st->Yp[i] = Y;
    }
    PN_CALL(pni_model_rhs(st->model, keep ? i : -1, t + c[i] * h, nb, st->Yp[i], theta,
                          st->K + (size_t)i * ws));
    st->rhs_evals++;
  }
  return PN_OK;
}

int pni_step(pni_stepper *st, double t, double h, int nb, const double *z, const double *theta,
             double *z_next)
{
  const size_t w = (size_t)nb * (size_t)st->dim, ws = (size_t)st->max_batch * (size_t)st->dim;
  const double *b = pn_tableau_b(st->tab);
  PN_CALL(stages(st, t, h, nb, z, theta, st->s, 0));
  /* z_next = z + h Σ_i b_i k_i */
  double *inc = st->acc;
  memset(inc, 0, sizeof(double) * w);
  for (int i = 0; i < st->s; i++) {
    if (b[i] == 0.0) continue;
    const double *k = st->K + (size_t)i * ws;
    for (size_t x = 0; x < w; x++) inc[x] += b[i] * k[x];
  }
  for (size_t x = 0; x < w; x++) z_next[x] = z[x] + h * inc[x];
  return PN_OK;
}

int pni_step_adjoint(pni_stepper *st, double t, double h, int nb, const double *z,
                     const double *theta, double *lambda, double *theta_bar)
{
  const int s = st->s;
  const size_t w = (size_t)nb * (size_t)st->dim, ws = (size_t)st->max_batch * (size_t)st->dim;
  const double *A = pn_tableau_a(st->tab), *b = pn_tableau_b(st->tab), *c = pn_tableau_c(st->tab);
  /* Recompute all stage inputs (and keep each stage's intermediates in its slot). */
  PN_CALL(stages(st, t, h, nb, z, theta, s, 1));
  for (int i = s - 1; i >= 0; i--) {
    /* k̄_i = h b_i λ + Σ_{j>i} h a_ji Ȳ_j */
    double *kbar = st->acc, *Ybar = st->Ybar + (size_t)i * ws;
    int nonzero = b[i] != 0.0;
    const double hb = h * b[i];
    for (size_t x = 0; x < w; x++) kbar[x] = hb * lambda[x];
    for (int j = i + 1; j < s; j++) {
      if (A[j * s + i] == 0.0) continue;
      const double ha = h * A[j * s + i];
      const double *Yb = st->Ybar + (size_t)j * ws;
      for (size_t x = 0; x < w; x++) kbar[x] += ha * Yb[x];
      nonzero = 1;
    }
    if (!nonzero) { /* stage i does not influence z_next */
      memset(Ybar, 0, sizeof(double) * w);
      continue;
    }
    PN_CALL(pni_model_vjp(st->model, i, t + c[i] * h, nb, st->Yp[i], theta, kbar, Ybar,
                          theta_bar));
    st->vjp_evals++;
  }
  /* λ_n = λ_{n+1} + Σ_i Ȳ_i */
  for (int i = 0; i < s; i++) {
    const double *Yb = st->Ybar + (size_t)i * ws;
    for (size_t x = 0; x < w; x++) lambda[x] += Yb[x];
  }
  return PN_OK;
}
