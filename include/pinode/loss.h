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
 * @brief User loss of one label on samples [b0, b0+nb) of the batch:
 *   *value_out = that part of ℓ_k (the parts over disjoint sample ranges must
 *   add up to ℓ_k), grad_out = ∂ℓ_k/∂z for those samples (nb×D, overwritten).
 * Return 0 on success, nonzero on failure.
 */
typedef int (*pn_loss_fn)(void *user, int label, double t, int b0, int nb, const double *z,
                          double *value_out, double *grad_out);

/**
 * @brief Mean-squared error per label:
 *   ℓ_k = w_k / (B·D) Σ_{b,d} (z_b(t_k)[d] − y_k[b,d])².
 * @param[in] nlabels  K ≥ 0 (0: the loss is identically zero)
 * @param[in] times    K label times (copied)
 * @param[in] targets  K·B·D numbers, label-major then sample then component (copied)
 * @param[in] weights  K weights w_k, or NULL for all 1 (copied)
 * @param[in] batch, dim  B and D
 * Non-finite times, targets or weights: PN_ERR_NONFINITE naming the entry.
 * Not collective.
 */
PN_EXPORT int pn_loss_create_mse(pn_ctx *ctx, int nlabels, const double *times,
                                 const double *targets, const double *weights, int batch, int dim,
                                 pn_loss **out);

/**
 * @brief A loss given by a callback (see pn_loss_fn); @p user is borrowed and
 * must outlive the loss.  Not collective.
 */
PN_EXPORT int pn_loss_create_custom(pn_ctx *ctx, int nlabels, const double *times, int batch,
                                    int dim, pn_loss_fn fn, void *user, pn_loss **out);

/** @brief Destroy (NULL-safe, sets *loss to NULL). */
PN_EXPORT int pn_loss_destroy(pn_loss **loss);

PN_EXPORT int pn_loss_nlabels(const pn_loss *loss);
/** @brief The K label times, owned by the loss. */
PN_EXPORT const double *pn_loss_times(const pn_loss *loss);

#endif
