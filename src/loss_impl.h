/* Private interface of losses: binding label times to grid indices and
 * evaluating one label on a range of samples. */
#ifndef PINODE_LOSS_IMPL_H
#define PINODE_LOSS_IMPL_H

#include "pinode/loss.h"

struct pn_loss {
  pn_ctx *ctx;
  int nlabels, batch, dim;
  double *times;   /* K */
  double *targets; /* K×B×D (MSE) */
  double *weights; /* K (MSE) */
  pn_loss_fn fn;   /* custom, or NULL for MSE */
  void *user;
};

/* Grid index of every label on t_n = t0 + n·h, h = (t1−t0)/N; PN_ERR_GRID
 * naming the first label off the grid and a step count that would fit. */
int pni_loss_bind(const pn_loss *loss, pn_ctx *ctx, double t0, double t1, long nsteps,
                  long *steps_out);

/* Label k on samples [b0, b0+nb) with states z (nb×D): adds its value to
 * *value_inout and, if lambda_inout is not NULL, its gradient to lambda_inout
 * (the adjoint jump).  scratch: nb×D doubles for custom losses. */
int pni_loss_eval(const pn_loss *loss, pn_ctx *ctx, int k, int b0, int nb, const double *z,
                  double *value_inout, double *lambda_inout, double *scratch);

#endif
