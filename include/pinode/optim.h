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

/**
 * @brief Fill @p opts with the defaults (see the fields).
 * @param[out] opts  the whole struct
 * Not collective.
 */
PN_EXPORT void pn_optim_opts_default(pn_optim_opts *opts);

/**
 * @brief Create an optimiser for @p nparam parameters, its moments zero.
 * @param[in]  ctx     context for errors; it must outlive the optimiser
 * @param[in]  nparam  P ≥ 1
 * @param[in]  opts    the options (copied), validated
 * @param[out] out     the new optimiser, to destroy with pn_optim_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument, P < 1 or an option out of range (the field and
 *         its range named); PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_optim_create(pn_ctx *ctx, int nparam, const pn_optim_opts *opts, pn_optim **out);

/**
 * @brief Destroy an optimiser.
 * @param[in,out] opt  the address of the optimiser; NULL or *opt NULL does nothing; *opt is set
 *                     to NULL
 * @return PN_OK.
 * Not collective.
 */
PN_EXPORT int pn_optim_destroy(pn_optim **opt);

/**
 * @brief One update θ ← θ − lr_i · step(g), i the updates applied so far: the gradient's norm
 * clipped to clip_norm, weight decay added, then Adam's or SGD's step.
 * @param[in,out] opt    the optimiser (its moments and iteration advance)
 * @param[in,out] theta  the P parameters, updated in place
 * @param[in]     grad   the P gradient entries (not modified)
 * @param[out]    info   what the update did, or NULL
 * @return PN_OK; PN_ERR_ARG for a NULL argument; PN_ERR_NONFINITE (naming the entry) if the
 *         gradient holds a NaN or Inf: then neither θ nor the optimiser changes.
 * Not collective (every rank applies the same update to the same θ); never allocates.
 */
PN_EXPORT int pn_optim_step(pn_optim *opt, double *theta, const double *grad,
                            pn_optim_info *info);

/**
 * @brief The number of updates applied so far (restored by pn_optim_set_state()).
 * @param[in] opt  the optimiser
 * @return the count.  Not collective.
 */
PN_EXPORT long pn_optim_iteration(const pn_optim *opt);

/**
 * @brief The learning rate that the schedule and warm-up give to update number @p i.
 * @param[in] opts  the options
 * @param[in] i     the update, 0-based
 * @return the rate; NaN for NULL options, decay_iterations < 1 or i < 0.
 * Not collective.  Thread-safe.
 */
PN_EXPORT double pn_optim_lr_at(const pn_optim_opts *opts, long i);

/**
 * @brief The size of the serialised state in doubles: 3 + 2P (Adam) or 3 + P (SGD), laid out
 * as [method, P, iteration, moments...].
 * @param[in] opt  the optimiser
 * @return the count.  Not collective.
 */
PN_EXPORT size_t pn_optim_state_size(const pn_optim *opt);

/**
 * @brief Write the state, to save it (in a checkpoint file, say).
 * @param[in]  opt  the optimiser
 * @param[out] out  pn_optim_state_size() doubles
 * @return PN_OK; PN_ERR_ARG for a NULL argument.
 * Not collective.
 */
PN_EXPORT int pn_optim_get_state(const pn_optim *opt, double *out);

/**
 * @brief Restore a state written by pn_optim_get_state(): the optimiser then continues exactly
 * (bitwise) as the one that wrote it.
 * @param[in,out] opt    an optimiser with the same method and P
 * @param[in]     state  @p n doubles
 * @param[in]     n      pn_optim_state_size()
 * @return PN_OK; PN_ERR_ARG for a NULL optimiser; PN_ERR_PARSE if @p state is NULL, or @p n,
 *         the method, P or the iteration do not fit, or an entry is not finite (the optimiser
 *         then unchanged).
 * Not collective.
 */
PN_EXPORT int pn_optim_set_state(pn_optim *opt, const double *state, size_t n);

/**
 * @brief Parse an update rule's name: "adam", "sgd".
 * @param[in]  name  the name
 * @param[out] out   the method (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_optim_method_from_name(const char *name, pn_optim_method *out);

/**
 * @brief Parse a schedule's name: "constant", "step", "exponential", "cosine".
 * @param[in]  name  the name
 * @param[out] out   the schedule (unchanged on failure)
 * @return PN_OK; PN_ERR_ARG for NULL arguments or an unknown name (no message: no context).
 * Not collective.
 */
PN_EXPORT int pn_lr_schedule_from_name(const char *name, pn_lr_schedule *out);

/**
 * @brief The name of an update rule.
 * @param[in] m  the method
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_optim_method_name(pn_optim_method m);

/**
 * @brief The name of a schedule.
 * @param[in] s  the schedule
 * @return a static string ("?" for a value outside the enum).
 * Not collective.
 */
PN_EXPORT const char *pn_lr_schedule_name(pn_lr_schedule s);

#endif
