/* One explicit Runge–Kutta step and its exact discrete adjoint (docs/mathematics.md).
 * No MPI; workspaces are allocated once by pni_stepper_init for a maximum
 * batch, so stepping never allocates.
 *
 * The adjoint step needs the stage inputs Y_i of its step and, for the
 * model's VJPs, the network's intermediate values at each stage.  By default
 * pni_step_adjoint recomputes them from z_n (one more forward evaluation per
 * step).  A "tape" trades memory for that work: pni_step_record keeps both
 * for a step in record r, and pni_step_adjoint_record uses them.  The two
 * adjoints give bitwise the same λ and θ̄ (the kept values are those the
 * recomputation reproduces exactly). */
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
  size_t ws;         /* doubles per stage buffer: max_batch×D rounded up to alignment */
  double *K;         /* s × ws: stage derivatives k_i */
  double *Y;         /* s × ws: stage inputs Y_i */
  double *Ybar;      /* s × ws: their adjoints */
  double *acc;       /* ws: Σ b_i k_i (forward) or k̄_i (adjoint) */
  const double **Yp; /* s: Y_i, or z itself when row i of A is zero */
  unsigned char *row_zero; /* s: row i of A is all zero */
  unsigned char *k_used;   /* s: k_i enters a later stage (column i of A not zero) */
  long rhs_evals, vjp_evals;
  /* Tape (optional): ntape records, each the s stage inputs (s × ws at
   * tape_Y + r·s·ws) and the model's intermediates of stage i in model slot
   * s·(r+1) + i (slots 0..s−1 serve pni_step_adjoint). */
  long ntape;
  double *tape_Y;
} pni_stepper;

/* Bytes pni_stepper_init would allocate (model workspace included). */
size_t pni_stepper_bytes(const pn_tableau *tab, const pn_model *model, int max_batch);

int pni_stepper_init(pni_stepper *st, pn_ctx *ctx, const pn_tableau *tab, pn_model *model,
                     int max_batch);
void pni_stepper_free(pni_stepper *st);

/* z_next = Φ_h(t, z) for nb states; z_next may alias z. */
int pni_step(pni_stepper *st, double t, double h, int nb, const double *z, const double *theta,
             double *z_next);

/* pni_step of nb states and, in the same pass, of ntan tangent directions
 * per state: z holds the nb states, then ntan blocks of nb directions (block
 * e, row b: direction e at state b), and z_next gets the same rows, the
 * directions carried by the exact derivative of the step (forward mode:
 * z_next's block e is (∂Φ/∂z) of block e).  The state rows are bitwise
 * those of pni_step.  The stepper must hold nb·(1+ntan) rows. */
int pni_step_tangent(pni_stepper *st, double t, double h, int nb, int ntan, const double *z,
                     const double *theta, double *z_next);

/* Exact transpose of pni_step at (t, z): lambda ← (∂z_next/∂z)ᵀ lambda and
 * theta_bar += (∂z_next/∂θ)ᵀ lambda.  Recomputes the stages from z. */
int pni_step_adjoint(pni_stepper *st, double t, double h, int nb, const double *z,
                     const double *theta, double *lambda, double *theta_bar);

/* Extra bytes a tape of nrec records adds to a stepper for max_batch states
 * (its stage inputs and the model's intermediates). */
size_t pni_stepper_tape_bytes(const pn_tableau *tab, const pn_model *model, int max_batch,
                              long nrec);

/* Give an initialised stepper a tape of nrec ≥ 1 records (replacing any
 * earlier one; its contents are lost).  PN_ERR_MEM if it cannot be had. */
int pni_stepper_tape(pni_stepper *st, long nrec);

/* pni_step (bitwise the same z_next) that also keeps record `rec` of the
 * tape for pni_step_adjoint_record. */
int pni_step_record(pni_stepper *st, long rec, double t, double h, int nb, const double *z,
                    const double *theta, double *z_next);

/* pni_step_adjoint of the step kept in record `rec` (same t, h, nb and θ as
 * when it was recorded), without recomputing anything: bitwise the same
 * lambda and theta_bar as pni_step_adjoint at that step's z. */
int pni_step_adjoint_record(pni_stepper *st, long rec, double t, double h, int nb,
                            const double *theta, double *lambda, double *theta_bar);

#endif
