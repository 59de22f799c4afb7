/**
 * @file loss.h
 * @brief Multi-label losses L = Σ_k ℓ_k(z(t_k)) at K label times on the step grid.
 *
 * A label time must be a grid point t0 + m·h (checked when a solver uses the
 * loss; the error names the label, its time and a step count that fits).
 * Several labels may share a time; labels may sit at t0 and at t1.
 * Depends on ctx only.
 */
#ifndef PINODE_LOSS_H
#define PINODE_LOSS_H

#include "pinode/ctx.h"
#include "pinode/export.h"

typedef struct pn_loss pn_loss;

/**
 * @brief User loss of one label on the samples [b0, b0 + nb) of the batch.
 *
 * The solver calls it on the rank that owns the label's grid point (pn_owner()), once per
 * micro-batch, during the forward sweep; it must give the same results for the same arguments.
 *
 * @param[in]  user       the pointer given to pn_loss_create_custom()
 * @param[in]  label      the label k, 0 ≤ k < K
 * @param[in]  t          its time t_k
 * @param[in]  b0, nb     the samples [b0, b0 + nb) of the batch
 * @param[in]  z          their states z(t_k), nb×D, row-major
 * @param[out] value_out  that part of ℓ_k (the parts over disjoint ranges of samples must add up
 *                        to ℓ_k)
 * @param[out] grad_out   ∂ℓ_k/∂z for those samples, nb×D, overwritten
 * @return 0 on success; anything else stops the call with PN_ERR_USER_CALLBACK, the value
 *         quoted in the message.
 */
typedef int (*pn_loss_fn)(void *user, int label, double t, int b0, int nb, const double *z,
                          double *value_out, double *grad_out);

/**
 * @brief A mean-squared error per label:
 *   ℓ_k = w_k / (B·D) Σ_{b,d} (z_b(t_k)[d] − y_k[b,d])².
 * @param[in]  ctx      context for errors
 * @param[in]  nlabels  K ≥ 0 (0: the loss is identically zero)
 * @param[in]  times    K label times (copied; NULL allowed when K = 0)
 * @param[in]  targets  K·B·D numbers, label-major, then sample, then component (copied)
 * @param[in]  weights  K weights w_k, or NULL for all 1 (copied)
 * @param[in]  batch    B ≥ 1
 * @param[in]  dim      D ≥ 1
 * @param[out] out      the new loss, to destroy with pn_loss_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL @p out, K < 0, times or targets missing, or B or D < 1;
 *         PN_ERR_NONFINITE naming a non-finite time, target (label, sample, component) or
 *         weight; PN_ERR_MEM.  Whether the times lie on a solver's grid is checked by the
 *         solver (PN_ERR_GRID).
 * Not collective.
 */
PN_EXPORT int pn_loss_create_mse(pn_ctx *ctx, int nlabels, const double *times,
                                 const double *targets, const double *weights, int batch, int dim,
                                 pn_loss **out);

/**
 * @brief A loss given by a callback (see pn_loss_fn).
 * @param[in]  ctx      context for errors
 * @param[in]  nlabels  K ≥ 0
 * @param[in]  times    K label times (copied; NULL allowed when K = 0)
 * @param[in]  batch    B ≥ 1
 * @param[in]  dim      D ≥ 1
 * @param[in]  fn       the callback, called by the solver
 * @param[in]  user     passed to @p fn; borrowed: it must outlive the loss (the loss never frees
 *                      it)
 * @param[out] out      the new loss, to destroy with pn_loss_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL @p fn or @p out, K < 0, missing times, or B or D < 1;
 *         PN_ERR_NONFINITE naming a non-finite time; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_loss_create_custom(pn_ctx *ctx, int nlabels, const double *times, int batch,
                                    int dim, pn_loss_fn fn, void *user, pn_loss **out);

/**
 * @brief Destroy a loss.
 * @param[in,out] loss  the address of the loss; NULL or *loss NULL does nothing; *loss is set to
 *                      NULL
 * @return PN_OK.
 * Not collective.
 */
PN_EXPORT int pn_loss_destroy(pn_loss **loss);

/**
 * @brief The number of labels K.
 * @param[in] loss  the loss
 * @return K.  Not collective.
 */
PN_EXPORT int pn_loss_nlabels(const pn_loss *loss);

/**
 * @brief The label times.
 * @param[in] loss  the loss
 * @return K times owned by the loss (read only), valid until it is destroyed.
 * Not collective.
 */
PN_EXPORT const double *pn_loss_times(const pn_loss *loss);

#endif
