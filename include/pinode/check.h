/**
 * @file check.h
 * @brief Ground truth for gradients: the complex step.
 *
 * An independent re-implementation of the forward map (θ, z0) ↦ L of a
 * built-in MLP neural ODE with an MSE loss, in C99 double complex arithmetic:
 * naive loops, no code shared with the solver, the MLP or the stepper, so that
 * it can catch their bugs.  Solving it with one input perturbed by i·ε
 * (ε = 1e-30) gives Im(L)/ε = ∂L/∂input to machine precision: there is no
 * subtraction, hence no cancellation, and the O(ε²) truncation error is
 * ~1e-60 relative.  Use it to check a gradient of pn_solver_gradient() on a
 * small problem (`pinode gradcheck` does, for every gradient method).
 */
#ifndef PINODE_CHECK_H
#define PINODE_CHECK_H

#include "pinode/ctx.h"
#include "pinode/export.h"
#include "pinode/loss.h"
#include "pinode/model.h"
#include "pinode/tableau.h"

/**
 * @brief The gradient of an MSE-loss MLP neural ODE by the complex step.
 *
 * The ODE is solved with the tableau @p tab on the grid t0 + n·(t1 − t0)/nsteps,
 * n = 0..nsteps, serially on this rank; every θ_j and every z0 entry takes one
 * complex solve with a perturbation of i·1e-30 (a z0 entry of sample b moves
 * only sample b, so its solve integrates that sample alone).
 *
 * @param[in]  ctx            context for error messages (nothing else of it is used)
 * @param[in]  spec           the network, as for pn_model_create_mlp(); θ is laid
 *                            out the same way (borrowed for the call)
 * @param[in]  tab            the Runge–Kutta scheme (borrowed)
 * @param[in]  t0, t1         the interval, t1 > t0
 * @param[in]  nsteps         fixed steps, ≥ 1
 * @param[in]  batch          samples, ≥ 1
 * @param[in]  z0             batch × D initial states (row-major)
 * @param[in]  theta          the P parameters
 * @param[in]  loss           an MSE loss (pn_loss_create_mse(), weights honoured)
 *                            for @p batch samples of dimension D
 * @param[out] loss_out       L, or NULL
 * @param[out] grad_theta_out ∂L/∂θ, P entries (caller's array), or NULL
 * @param[out] grad_z0_out    ∂L/∂z0, batch × D entries (caller's array), or NULL
 * @return PN_OK; PN_ERR_ARG for a bad argument or a loss that is not an MSE
 *         loss of this batch and D; PN_ERR_GRID when a label time is not on
 *         the grid (as in the solver); PN_ERR_MEM; PN_ERR_NONFINITE naming the
 *         input whose solve produced a non-finite loss.
 *
 * Cost: P + 1 solves of the whole batch and batch·D solves of one sample, in
 * complex arithmetic; memory is allocated once, up front.  Not collective (no
 * MPI): run it on one rank and share the result if others need it.
 */
PN_EXPORT int pn_cstep_gradient(pn_ctx *ctx, const pn_mlp_spec *spec, const pn_tableau *tab,
                                double t0, double t1, long nsteps, int batch, const double *z0,
                                const double *theta, const pn_loss *loss, double *loss_out,
                                double *grad_theta_out, double *grad_z0_out);

#endif
