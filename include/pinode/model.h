/**
 * @file model.h
 * @brief Right-hand sides f(t, z; θ) with their vector–Jacobian products.
 *
 * A model has a state dimension D and P parameters θ (time-invariant).  It is
 * evaluated on a batch of nb states at once, stored row-major, batch-major:
 * z[b*D + d].  Two kinds: the built-in multilayer perceptron (the whole
 * batch through each layer's matrix product) and user models given by
 * callbacks.  Depends on ctx only.
 */
#ifndef PINODE_MODEL_H
#define PINODE_MODEL_H

#include <stdint.h>

#include "pinode/ctx.h"
#include "pinode/export.h"

typedef struct pn_model pn_model;

/**
 * @brief User right-hand side: f_out = f(t, z; θ) for nb states.
 * Return 0 on success, >0 recoverable failure, <0 fatal failure (pinode uses
 * fixed steps, so both stop the computation with PN_ERR_USER_CALLBACK).
 */
typedef int (*pn_rhs_fn)(void *user, double t, int nb, const double *z, const double *theta,
                         double *f_out);

/**
 * @brief User vector–Jacobian products at (t, z):
 *   z_bar_out      = (∂f/∂z)ᵀ a          (overwritten, nb×D)
 *   theta_bar_inout += Σ_b (∂f_b/∂θ)ᵀ a_b (accumulated, length P)
 * Fused because both need the same intermediate values.  Same return convention.
 */
typedef int (*pn_vjp_fn)(void *user, double t, int nb, const double *z, const double *theta,
                         const double *a, double *z_bar_out, double *theta_bar_inout);

/**
 * @brief User Jacobian–vector products at (t, z):
 *   jv_out = (∂f/∂z) v   (nb×D; v: nb×D, one direction per state)
 * Optional: the Newton shooting method (PN_PARALLEL_NEWTON) integrates
 * tangents and needs ∂f/∂z along D directions per state; without a jvp it
 * forms ∂f/∂z from D calls of the vjp.  Same return convention as rhs.
 */
typedef int (*pn_jvp_fn)(void *user, double t, int nb, const double *z, const double *theta,
                         const double *v, double *jv_out);

/** @brief Callbacks of a user model.  destroy (optional) releases @p user;
 *  jvp is optional (see pn_jvp_fn). */
typedef struct pn_model_ops {
  pn_rhs_fn rhs;
  pn_vjp_fn vjp;
  void (*destroy)(void *user);
  pn_jvp_fn jvp;
} pn_model_ops;

/**
 * @brief Create a model from user callbacks.
 * @param[in] dim, nparam  D ≥ 1 and P ≥ 0
 * @param[in] ops          copied; rhs and vjp are required
 * @param[in] user         passed to every callback; the model takes ownership
 *                         only if ops->destroy is set (called on destroy)
 * Not collective.
 */
PN_EXPORT int pn_model_create(pn_ctx *ctx, int dim, int nparam, const pn_model_ops *ops,
                              void *user, pn_model **out);

/** @brief Activations of the hidden layers of the built-in MLP. */
typedef enum pn_activation {
  PN_ACT_IDENTITY = 0,
  PN_ACT_TANH,
  PN_ACT_SOFTPLUS,
  PN_ACT_SIGMOID,
  PN_ACT_RELU,
  PN_ACT_SILU
} pn_activation;

/** @brief Parse an activation name ("tanh", ...). @return PN_OK or PN_ERR_ARG. */
PN_EXPORT int pn_activation_from_name(const char *name, pn_activation *out);
/** @brief Name of an activation (static string). */
PN_EXPORT const char *pn_activation_name(pn_activation act);

/**
 * @brief Shape of a multilayer perceptron
 *   x_0 = z (or [z; t] with time_input), x_{l+1} = act_l(W_l x_l + b_l), f = W_L x_L + b_L.
 * θ holds, layer by layer from input to output, W (out×in, row-major) then b;
 * with time_input the first layer has D+1 inputs, t being the last one.
 */
typedef struct pn_mlp_spec {
  int dim;                    /**< state dimension D */
  int nhidden;                /**< number of hidden layers (≥ 0) */
  const int *widths;          /**< nhidden widths */
  const pn_activation *acts;  /**< nhidden activations */
  int time_input;             /**< 1: append t to the input */
} pn_mlp_spec;

/**
 * @brief Create the built-in MLP (arrays of @p spec are copied).
 * Not collective.
 */
PN_EXPORT int pn_model_create_mlp(pn_ctx *ctx, const pn_mlp_spec *spec, pn_model **out);

/**
 * @brief Linear ODE dz/dt = A z with θ = A (D×D row-major).  Exact solution
 * z(t) = exp(A t) z0; used to verify orders of accuracy.  Not collective.
 */
PN_EXPORT int pn_model_create_linear(pn_ctx *ctx, int dim, pn_model **out);

/**
 * @brief Lotka–Volterra  x' = αx − βxy,  y' = δxy − γy,  θ = (α, β, γ, δ).
 * Not collective.
 */
PN_EXPORT int pn_model_create_lotka_volterra(pn_ctx *ctx, pn_model **out);

/** @brief Destroy (NULL-safe, sets *model to NULL). */
PN_EXPORT int pn_model_destroy(pn_model **model);

PN_EXPORT int pn_model_dim(const pn_model *model);
PN_EXPORT int pn_model_nparam(const pn_model *model);

/**
 * @brief Seeded, reproducible initial parameters.  MLP: Glorot (Xavier)
 * uniform weights W ~ U(−√(6/(in+out)), +√(6/(in+out))), zero biases, from
 * xoshiro256** seeded through splitmix64(seed).  Other models: PN_ERR_ARG.
 */
PN_EXPORT int pn_model_init_params(const pn_model *model, uint64_t seed, double *theta_out);

/**
 * @brief Reserve workspace for batches of up to @p max_batch states, so that
 * evaluation never allocates.  The solver calls it; call it yourself before
 * pn_model_rhs()/pn_model_vjp() on larger batches.
 */
PN_EXPORT int pn_model_reserve(pn_model *model, int max_batch);

/** @brief f_out = f(t, z; θ) for nb ≤ reserved states. Not collective. */
PN_EXPORT int pn_model_rhs(pn_model *model, double t, int nb, const double *z,
                           const double *theta, double *f_out);

/** @brief VJPs as in pn_vjp_fn (z_bar overwritten, theta_bar accumulated). */
PN_EXPORT int pn_model_vjp(pn_model *model, double t, int nb, const double *z,
                           const double *theta, const double *a, double *z_bar_out,
                           double *theta_bar_inout);

/**
 * @brief Self-test of a model's VJPs (dot-product test against central
 * finite differences of rhs): returns the worst relative mismatch of
 * ⟨a, J_z v⟩ vs ⟨J_zᵀ a, v⟩ and of ⟨a, J_θ w⟩ vs ⟨J_θᵀ a, w⟩ for random
 * a, v, w from @p seed at @p nb random states.  Expect ≲ 1e-7 for a correct
 * smooth model.  Not collective.
 */
PN_EXPORT int pn_model_check(pn_model *model, const double *theta, int nb, uint64_t seed,
                             double *z_err_out, double *theta_err_out);

#endif
