/* One explicit Runge–Kutta step and its exact discrete adjoint (DESIGN §2).
 * No MPI; workspaces are allocated once by pni_stepper_init for a maximum
 * batch, so stepping never allocates. */
#ifndef PINODE_STEP_H
#define PINODE_STEP_H

#include <stddef.h>

#include "model_impl.h"
#include "pinode/tableau.h"

typedef struct pni_stepper {
  pn_ctx *ctx;
  const pn_tableau *tab;
  pn_model *model;
  int s, dim, max_batch;
  double *K;         /* s × (nb×D): stage derivatives k_i */
  double *Y;         /* s × (nb×D): stage inputs Y_i */
  double *Ybar;      /* s × (nb×D): their adjoints */
  double *acc;       /* nb×D: Σ b_i k_i (forward) or k̄_i (adjoint) */
  const double **Yp; /* s: Y_i, or z itself when row i of A is zero */
  unsigned char *row_zero; /* s: row i of A is all zero */
  long rhs_evals, vjp_evals;
} pni_stepper;

/* Bytes pni_stepper_init would allocate (model workspace included). */
size_t pni_stepper_bytes(const pn_tableau *tab, const pn_model *model, int max_batch);

int pni_stepper_init(pni_stepper *st, pn_ctx *ctx, const pn_tableau *tab, pn_model *model,
                     int max_batch);
void pni_stepper_free(pni_stepper *st);

/* z_next = Φ_h(t, z) for nb states; z_next may alias z. */
int pni_step(pni_stepper *st, double t, double h, int nb, const double *z, const double *theta,
             double *z_next);

/* Exact transpose of pni_step at (t, z): lambda ← (∂z_next/∂z)ᵀ lambda and
 * theta_bar += (∂z_next/∂θ)ᵀ lambda.  Recomputes the stages from z. */
int pni_step_adjoint(pni_stepper *st, double t, double h, int nb, const double *z,
                     const double *theta, double *lambda, double *theta_bar);

#endif
