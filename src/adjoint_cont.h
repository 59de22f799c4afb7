/* The continuous ("traditional", optimise-then-discretise) adjoint of
 * docs/mathematics.md: one backward step of the augmented system
 *     dz/dt = f(t, z),   da/dt = −(∂f/∂z)ᵀ a,   dg/dt = −(∂f/∂θ)ᵀ a
 * from t_{n+1} to t_n with the forward tableau and step −h, on the forward
 * grid.  g is not stored: its increment h Σ_i b_i (∂f/∂θ)ᵀ A_i is added to
 * theta_bar (g(t_n) − g(t_{n+1}) is exactly that sum; claim 1 of docs/mathematics.md).
 *
 * Two ways to know z at the stage times t_{n+1} − c_i h:
 *   backsolve    — z is integrated backward alongside a (torchdiffeq's
 *                  odeint_adjoint); no trajectory is needed, but z drifts
 *                  away from the forward states (unstable backward for
 *                  dissipative forward dynamics);
 *   interpolate  — cubic Hermite between the stored z_n, z_{n+1} with the
 *                  slopes f(t_n, z_n), f(t_{n+1}, z_{n+1}) (error O(h⁴)).
 * Kept apart from step.c (the exact discrete adjoint) on purpose: the two
 * must not share a formula.  No MPI; workspaces are allocated once by
 * pni_cadj_init, so stepping never allocates. */
#ifndef PINODE_ADJOINT_CONT_H
#define PINODE_ADJOINT_CONT_H

#include <stddef.h>

#include "model_impl.h"
#include "pinode/tableau.h"

typedef struct pni_cadj {
  pn_ctx *ctx;
  const pn_tableau *tab;
  pn_model *model;
  int s, dim, nparam, max_batch;
  double *Z;     /* s × (nb×D): stage states */
  double *F;     /* s × (nb×D): f at the stage states (backsolve) */
  double *A;     /* s × (nb×D): stage adjoints */
  double *V;     /* s × (nb×D): (∂f/∂z)ᵀ A_i */
  double *gtmp;  /* P: (∂f/∂θ)ᵀ A_i of one stage, before its weight h b_i */
  long rhs_evals, vjp_evals;
} pni_cadj;

/* Bytes pni_cadj_init allocates (the model's own workspace excluded: the
 * stepper already reserved it for the same batch and s slots). */
size_t pni_cadj_bytes(const pn_tableau *tab, const pn_model *model, int max_batch);

int pni_cadj_init(pni_cadj *ca, pn_ctx *ctx, const pn_tableau *tab, pn_model *model,
                  int max_batch);
/* NULL-safe; leaves *ca zeroed. */
void pni_cadj_free(pni_cadj *ca);

/* Backsolve step over [t_lo, t_hi], t_lo = t_hi − h (the caller computes
 * t_hi as t0 + (n+1)·h, never by accumulation): on entry z ≈ z(t_hi), a = a(t_hi); on exit
 * z ≈ z(t_lo), a = a(t_lo), theta_bar += g(t_lo) − g(t_hi).  nb ≤ max_batch. */
int pni_cadj_step_backsolve(pni_cadj *ca, double t_hi, double h, int nb, double *z,
                            const double *theta, double *a, double *theta_bar);

/* Interpolating step over [t_lo, t_hi]: z at the stages from the cubic
 * Hermite interpolant of (z_lo, f_lo) at t_lo and (z_hi, f_hi) at t_hi, where
 * f_x = f(t_x, z_x).  a = a(t_hi) on entry, a(t_lo) on exit; theta_bar as above. */
int pni_cadj_step_interp(pni_cadj *ca, double t_hi, double h, int nb,
                         const double *z_lo, const double *f_lo, const double *z_hi,
                         const double *f_hi, const double *theta, double *a, double *theta_bar);

/* f_out = f(t, z), counted as one RHS evaluation (the interpolant's slopes). */
int pni_cadj_rhs(pni_cadj *ca, double t, int nb, const double *z, const double *theta,
                 double *f_out);

#endif
