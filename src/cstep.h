/* Complex-step ground truth for gradients (docs/mathematics.md, "Verification"):
 * pn_cstep_gradient (public, pinode/check.h) and the Jacobian–vector products
 * below (for the tests of the VJPs).
 *
 * An independent re-implementation of the forward map θ, z0 ↦ L of an MLP
 * neural ODE in C99 double complex arithmetic: naive loops, no code shared
 * with mlp.c, step.c or solver.c, so that it can catch their bugs.  Running it
 * with one input perturbed by i·ε (ε = 1e-30) gives Im(L)/ε = ∂L/∂input to
 * machine precision: there is no subtraction, hence no cancellation, and the
 * O(ε²) truncation error is ~1e-60 relative.  Used by the tests and by
 * `pinode gradcheck`.  Depends on ctx, model (spec only), tableau, loss.
 * No MPI. */
#ifndef PINODE_CSTEP_H
#define PINODE_CSTEP_H

#include "pinode/check.h"
#include "pinode/ctx.h"
#include "pinode/loss.h"
#include "pinode/model.h"
#include "pinode/tableau.h"

/* The imaginary perturbation of the complex step. */
#define PNI_CSTEP_EPS 1e-30

/* Complex-step Jacobian–vector product of the MLP right-hand side at (t, z)
 * for nb states: jv_out = (∂f/∂z) v + (∂f/∂θ) dtheta, nb×D (v: nb×D,
 * dtheta: P; either may be NULL for zero).  Exact to rounding; used for the
 * dot-product tests of the VJPs.  Not collective. */
int pni_cstep_mlp_jvp(pn_ctx *ctx, const pn_mlp_spec *spec, double t, int nb, const double *z,
                      const double *theta, const double *v, const double *dtheta, double *jv_out);

/* The same for one RK step z_next = Φ_h(t, z; θ) of tableau `tab`:
 * jv_out = (∂Φ/∂z) v + (∂Φ/∂θ) dtheta.  Not collective. */
int pni_cstep_step_jvp(pn_ctx *ctx, const pn_mlp_spec *spec, const pn_tableau *tab, double t,
                       double h, int nb, const double *z, const double *theta, const double *v,
                       const double *dtheta, double *jv_out);

#endif
