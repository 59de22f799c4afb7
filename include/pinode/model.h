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
 * @param[in]  user   the pointer given to pn_model_create()
 * @param[in]  t      the time
 * @param[in]  nb     the number of states, ≥ 1
 * @param[in]  z      nb×D states, row-major
 * @param[in]  theta  the P parameters
 * @param[out] f_out  nb×D, overwritten
 * @return 0 on success, > 0 a recoverable failure, < 0 a fatal one (pinode takes fixed steps,
 *         so both stop the computation with PN_ERR_USER_CALLBACK, the value and t quoted).
 */
typedef int (*pn_rhs_fn)(void *user, double t, int nb, const double *z, const double *theta,
                         double *f_out);

/**
 * @brief User vector–Jacobian products at (t, z), fused because both need the same
 * intermediate values.
 * @param[in]     user             the pointer given to pn_model_create()
 * @param[in]     t                the time
 * @param[in]     nb               the number of states, ≥ 1
 * @param[in]     z                nb×D states
 * @param[in]     theta            the P parameters
 * @param[in]     a                nb×D cotangents
 * @param[out]    z_bar_out        (∂f/∂z)ᵀ a per state, nb×D, overwritten
 * @param[in,out] theta_bar_inout  Σ_b (∂f_b/∂θ)ᵀ a_b is added to its P entries (accumulated)
 * @return as pn_rhs_fn.
 */
typedef int (*pn_vjp_fn)(void *user, double t, int nb, const double *z, const double *theta,
                         const double *a, double *z_bar_out, double *theta_bar_inout);

/**
 * @brief User Jacobian–vector products at (t, z), one direction per state.  Optional: Newton
 * shooting (PN_PARALLEL_NEWTON) integrates D tangent directions per state; without a jvp it
 * forms ∂f/∂z from D calls of the vjp.
 * @param[in]  user    the pointer given to pn_model_create()
 * @param[in]  t       the time
 * @param[in]  nb      the number of states, ≥ 1
 * @param[in]  z       nb×D states
 * @param[in]  theta   the P parameters
 * @param[in]  v       nb×D directions
 * @param[out] jv_out  (∂f/∂z) v per state, nb×D, overwritten
 * @return as pn_rhs_fn.
 */
typedef int (*pn_jvp_fn)(void *user, double t, int nb, const double *z, const double *theta,
                         const double *v, double *jv_out);

/** @brief Callbacks of a user model: rhs and vjp required; destroy (optional) releases the
 *  model's user pointer when the model is destroyed; jvp optional (see pn_jvp_fn).  The
 *  callbacks are called from the thread that calls the library, one at a time per model. */
typedef struct pn_model_ops {
  pn_rhs_fn rhs;
  pn_vjp_fn vjp;
  void (*destroy)(void *user);
  pn_jvp_fn jvp;
} pn_model_ops;

/**
 * @brief Create a model from user callbacks.
 * @param[in]  ctx     context for errors; it must outlive the model
 * @param[in]  dim     D ≥ 1
 * @param[in]  nparam  P ≥ 0
 * @param[in]  ops     the callbacks (copied); rhs and vjp are required
 * @param[in]  user    passed to every callback.  With ops->destroy set, the model takes it once
 *                     created (destroy(user) is called when the model is destroyed); on
 *                     failure it stays the caller's.  Without, it is borrowed and must outlive
 *                     the model.
 * @param[out] out     the new model, to destroy with pn_model_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL @p ops or @p out, a missing rhs or vjp, D < 1 or P < 0;
 *         PN_ERR_MEM.
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

/**
 * @brief Parse an activation name: "identity", "tanh", "softplus", "sigmoid", "relu", "silu".
 * @param[in]  name  the name
 * @param[out] out   the activation (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_activation_from_name(const char *name, pn_activation *out);

/**
 * @brief The name of an activation.
 * @param[in] act  the activation
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
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
 * @brief Create the built-in MLP.
 * @param[in]  ctx   context for errors; it must outlive the model
 * @param[in]  spec  the shape (its arrays are copied): D ≥ 1, 0..64 hidden layers of 1..2^20
 *                   units, each activation one of pn_activation
 * @param[out] out   the new model, to destroy with pn_model_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument, a shape out of range (the layer named), an
 *         unknown activation or more than 2^30 parameters; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_model_create_mlp(pn_ctx *ctx, const pn_mlp_spec *spec, pn_model **out);

/**
 * @brief The linear ODE dz/dt = A z with θ = A (D×D, row-major): exact solution
 * z(t) = exp(A t) z0, to verify orders of accuracy.  With a JVP.
 * @param[in]  ctx  context for errors; it must outlive the model
 * @param[in]  dim  D, 1..4096
 * @param[out] out  the new model, to destroy with pn_model_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL @p out or D out of range; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_model_create_linear(pn_ctx *ctx, int dim, pn_model **out);

/**
 * @brief Lotka–Volterra, x' = αx − βxy, y' = δxy − γy, θ = (α, β, γ, δ): D = 2, P = 4, with a
 * JVP.
 * @param[in]  ctx  context for errors; it must outlive the model
 * @param[out] out  the new model, to destroy with pn_model_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL @p out; PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_model_create_lotka_volterra(pn_ctx *ctx, pn_model **out);

/**
 * @brief Destroy a model (a user model's destroy callback is called with its user pointer).
 * @param[in,out] model  the address of the model; NULL or *model NULL does nothing; *model is
 *                       set to NULL
 * @return PN_OK.
 * Not collective.  Destroy a model only after the solvers that borrow it.
 */
PN_EXPORT int pn_model_destroy(pn_model **model);

/**
 * @brief The state dimension D.
 * @param[in] model  the model
 * @return D.  Not collective.
 */
PN_EXPORT int pn_model_dim(const pn_model *model);

/**
 * @brief The number of parameters P (for the MLP, implied by its shape).
 * @param[in] model  the model
 * @return P.  Not collective.
 */
PN_EXPORT int pn_model_nparam(const pn_model *model);

/**
 * @brief Seeded, reproducible initial parameters of the built-in MLP: Glorot (Xavier) uniform
 * weights W ~ U(−√(6/(in+out)), +√(6/(in+out))) and zero biases, from xoshiro256** seeded
 * through splitmix64(seed): the same θ on every machine and rank.
 * @param[in]  model      the model
 * @param[in]  seed       the seed
 * @param[out] theta_out  P numbers (the caller's array)
 * @return PN_OK; PN_ERR_ARG for a NULL argument or a model without a built-in initialisation
 *         (every model but the MLP).
 * Not collective.
 */
PN_EXPORT int pn_model_init_params(const pn_model *model, uint64_t seed, double *theta_out);

/**
 * @brief Reserve workspace for batches of up to @p max_batch states, so that evaluations never
 * allocate.  A reservation only grows.  The solver reserves what it needs; call it yourself
 * before pn_model_rhs() and pn_model_vjp().
 * @param[in,out] model      the model
 * @param[in]     max_batch  ≥ 1
 * @return PN_OK; PN_ERR_ARG for a NULL model or @p max_batch < 1; PN_ERR_MEM.
 * Not collective.  Not thread-safe (nor is any use of one model from two threads).
 */
PN_EXPORT int pn_model_reserve(pn_model *model, int max_batch);

/**
 * @brief Evaluate the right-hand side: f_out = f(t, z; θ) for nb states.
 * @param[in,out] model  the model (its workspace is used)
 * @param[in]     t      the time
 * @param[in]     nb     the number of states, 1 ≤ nb ≤ the reserved batch
 * @param[in]     z      nb×D states
 * @param[in]     theta  the P parameters
 * @param[out]    f_out  nb×D, overwritten
 * @return PN_OK; PN_ERR_ARG for a NULL argument or nb outside [1, reserved] (the message
 *         says to call pn_model_reserve()); PN_ERR_USER_CALLBACK when a user rhs failed.
 * Not collective.  Not thread-safe.
 */
PN_EXPORT int pn_model_rhs(pn_model *model, double t, int nb, const double *z,
                           const double *theta, double *f_out);

/**
 * @brief Evaluate the vector–Jacobian products as pn_vjp_fn defines them.
 * @param[in,out] model            the model (its workspace is used)
 * @param[in]     t                the time
 * @param[in]     nb               the number of states, 1 ≤ nb ≤ the reserved batch
 * @param[in]     z                nb×D states
 * @param[in]     theta            the P parameters
 * @param[in]     a                nb×D cotangents
 * @param[out]    z_bar_out        (∂f/∂z)ᵀ a, nb×D, overwritten
 * @param[in,out] theta_bar_inout  Σ_b (∂f_b/∂θ)ᵀ a_b added to its P entries
 * @return PN_OK; PN_ERR_ARG for a NULL argument or nb outside [1, reserved];
 *         PN_ERR_USER_CALLBACK when a user vjp failed.
 * Not collective.  Not thread-safe.
 */
PN_EXPORT int pn_model_vjp(pn_model *model, double t, int nb, const double *z,
                           const double *theta, const double *a, double *z_bar_out,
                           double *theta_bar_inout);

/**
 * @brief Self-test of a model's VJPs: dot-product tests against central differences of its rhs
 * (step 1e-6), at t = 0.3, @p nb random states and random a, v, w from @p seed.  Expect ≲ 1e-7
 * for a correct smooth model.  A JVP is not tested here (test it against the VJP with
 * ⟨a, J v⟩ = ⟨Jᵀa, v⟩, as docs/examples/custom_rhs.c does).
 * @param[in,out] model          the model (reserves @p nb states)
 * @param[in]     theta          the P parameters
 * @param[in]     nb             the number of states, ≥ 1
 * @param[in]     seed           the random states and directions
 * @param[out]    z_err_out      relative mismatch of ⟨a, J_z v⟩ and ⟨J_zᵀ a, v⟩
 * @param[out]    theta_err_out  the same for ⟨a, J_θ w⟩ and ⟨J_θᵀ a, w⟩ (0 when P = 0)
 * @return PN_OK; PN_ERR_ARG for a NULL argument or nb < 1; PN_ERR_MEM; PN_ERR_USER_CALLBACK
 *         when a callback failed.
 * Not collective.
 */
PN_EXPORT int pn_model_check(pn_model *model, const double *theta, int nb, uint64_t seed,
                             double *z_err_out, double *theta_err_out);

#endif
