/**
 * @file optim.h
 * @brief First-order optimisers for the parameters θ: Adam and SGD with
 * momentum, learning-rate schedules with warm-up, gradient-norm clipping and
 * L2 weight decay.  The state is plain numbers and can be saved in a
 * checkpoint and restored bitwise.
 *
 * The optimiser does no communication: the solver already Allreduces the
 * gradient, so every rank holds the same θ and the same gradient, and applying
 * the same deterministic update on every rank keeps θ identical without a
 * broadcast.  Depends on ctx only.
 */
#ifndef PINODE_OPTIM_H
#define PINODE_OPTIM_H

#include <stddef.h>

#include "pinode/ctx.h"
#include "pinode/export.h"

typedef struct pn_optim pn_optim;

/** @brief Update rule. */
typedef enum pn_optim_method {
  PN_OPTIM_ADAM = 0, /**< Adam (Kingma & Ba), bias-corrected, as torch.optim.Adam */
  PN_OPTIM_SGD       /**< SGD with (optionally Nesterov) momentum, as torch.optim.SGD */
} pn_optim_method;

/** @brief Learning-rate schedule; i counts the updates already applied. */
typedef enum pn_lr_schedule {
  PN_LR_CONSTANT = 0, /**< lr */
  PN_LR_STEP,         /**< lr · rate^⌊i / T⌋ */
  PN_LR_EXPONENTIAL,  /**< lr · rate^(i / T) */
  PN_LR_COSINE        /**< lr_min + (lr − lr_min)(1 + cos(π min(i, T)/T))/2 */
} pn_lr_schedule;

/** @brief Options; start from pn_optim_opts_default(). */
typedef struct pn_optim_opts {
  pn_optim_method method;   /**< default Adam */
  double lr;                /**< base learning rate > 0 (default 1e-2) */
  double beta1, beta2, eps; /**< Adam: 0.9, 0.999, 1e-8 */
  double momentum;          /**< SGD: 0 ≤ μ < 1 (default 0.9) */
  int nesterov;             /**< SGD: Nesterov momentum (default 0) */
  double weight_decay;      /**< ≥ 0: adds wd·θ to the (clipped) gradient (default 0) */
  double clip_norm;         /**< > 0: rescale a gradient whose 2-norm exceeds it; 0 = off */
  pn_lr_schedule schedule;  /**< default constant */
  long decay_iterations;    /**< T of the schedule, ≥ 1 (default 100) */
  double decay_rate;        /**< step/exponential factor in (0, 1] (default 0.5) */
  double lr_min;            /**< cosine floor, 0 ≤ lr_min ≤ lr (default 0) */
  long warmup;              /**< ≥ 0: the factor (i+1)/warmup multiplies lr for i < warmup */
} pn_optim_opts;

/** @brief What one update did. */
typedef struct pn_optim_info {
  double grad_norm; /**< 2-norm of the gradient passed in (before clipping) */
  double lr;        /**< learning rate used */
  int clipped;      /**< 1 if the gradient was rescaled */
} pn_optim_info;

/** @brief Defaults (see the fields). Not collective. */
PN_EXPORT void pn_optim_opts_default(pn_optim_opts *opts);

/**
 * @brief Create an optimiser for @p nparam parameters.
 * @param[in]  opts  copied; validated (PN_ERR_ARG names the bad field and its range)
 * @param[out] out   new optimiser; destroy with pn_optim_destroy()
 * @return PN_OK, PN_ERR_ARG, PN_ERR_MEM.  Not collective.
 */
PN_EXPORT int pn_optim_create(pn_ctx *ctx, int nparam, const pn_optim_opts *opts, pn_optim **out);

/** @brief Destroy (NULL-safe, sets *opt to NULL). Not collective. */
PN_EXPORT int pn_optim_destroy(pn_optim **opt);

/**
 * @brief One update θ ← θ − lr_i · step(g).
 * @param[in,out] theta  P parameters
 * @param[in]     grad   P gradient entries (not modified)
 * @param[out]    info   may be NULL
 * @return PN_OK; PN_ERR_NONFINITE (naming the entry) if the gradient holds a
 *         NaN/Inf, and then neither θ nor the state is changed.
 * Not collective; never allocates.
 */
PN_EXPORT int pn_optim_step(pn_optim *opt, double *theta, const double *grad,
                            pn_optim_info *info);

/** @brief Number of updates applied so far. */
PN_EXPORT long pn_optim_iteration(const pn_optim *opt);

/** @brief Learning rate the schedule gives to update number @p i (0-based). */
PN_EXPORT double pn_optim_lr_at(const pn_optim_opts *opts, long i);

/**
 * @brief Size of the serialised state in doubles: 3 + 2P (Adam) or 3 + P (SGD).
 * Layout: [method, P, iteration, moments...].
 */
PN_EXPORT size_t pn_optim_state_size(const pn_optim *opt);

/** @brief Write the state (pn_optim_state_size() doubles) to @p out. */
PN_EXPORT int pn_optim_get_state(const pn_optim *opt, double *out);

/**
 * @brief Restore a state written by pn_optim_get_state(): the optimiser then
 * continues exactly (bitwise) as the one that wrote it.
 * @return PN_OK; PN_ERR_PARSE if @p n, the method or P do not match, or an
 *         entry is not finite.  Not collective.
 */
PN_EXPORT int pn_optim_set_state(pn_optim *opt, const double *state, size_t n);

/** @brief Parse "adam" / "sgd". @return PN_OK or PN_ERR_ARG. */
PN_EXPORT int pn_optim_method_from_name(const char *name, pn_optim_method *out);
/** @brief Parse "constant" / "step" / "exponential" / "cosine". */
PN_EXPORT int pn_lr_schedule_from_name(const char *name, pn_lr_schedule *out);
PN_EXPORT const char *pn_optim_method_name(pn_optim_method m);
PN_EXPORT const char *pn_lr_schedule_name(pn_lr_schedule s);

#endif
