/**
 * @file tableau.h
 * @brief Explicit Runge–Kutta Butcher tableaux: built-in registry and user ones.
 *
 * A tableau (A strictly lower triangular, b, c, s stages, order q) defines
 * the fixed-step scheme  Y_i = z_n + h Σ_{j<i} a_ij k_j,  k_i = f(t_n + c_i h, Y_i),
 * z_{n+1} = z_n + h Σ_i b_i k_i.  Depends on ctx only.
 */
#ifndef PINODE_TABLEAU_H
#define PINODE_TABLEAU_H

#include "pinode/ctx.h"
#include "pinode/export.h"

typedef struct pn_tableau pn_tableau;

/**
 * @brief Create a built-in tableau by name: euler, midpoint, heun, ralston,
 * kutta3, ssprk3, rk4, rk38, dopri5 (Dormand–Prince 5th-order weights at fixed step).
 * @param[in]  ctx   context for errors
 * @param[in]  name  scheme name (copied)
 * @param[out] out   new tableau; caller destroys with pn_tableau_destroy()
 * @return PN_OK; PN_ERR_ARG for an unknown name (the message lists the known ones).
 * Not collective.
 */
PN_EXPORT int pn_tableau_create(pn_ctx *ctx, const char *name, pn_tableau **out);

/**
 * @brief Create a user tableau.
 * @param[in] A      s×s row-major, must be strictly lower triangular (copied)
 * @param[in] b, c   length s (copied)
 * @param[in] order  the order the user claims; the order conditions up to
 *                   min(order, 4) are verified to 1e-12, as are Σ b = 1 and
 *                   c_i = Σ_j a_ij.
 * @return PN_OK; PN_ERR_ARG naming the violated condition.
 * Not collective.
 */
PN_EXPORT int pn_tableau_create_custom(pn_ctx *ctx, const char *name, int s, const double *A,
                                       const double *b, const double *c, int order,
                                       pn_tableau **out);

/** @brief Destroy (NULL-safe, sets *tab to NULL). */
PN_EXPORT int pn_tableau_destroy(pn_tableau **tab);

PN_EXPORT int pn_tableau_stages(const pn_tableau *tab);
PN_EXPORT int pn_tableau_order(const pn_tableau *tab);
PN_EXPORT const char *pn_tableau_name(const pn_tableau *tab);
/** @brief Coefficients, owned by the tableau: A is s×s row-major. */
PN_EXPORT const double *pn_tableau_a(const pn_tableau *tab);
PN_EXPORT const double *pn_tableau_b(const pn_tableau *tab);
PN_EXPORT const double *pn_tableau_c(const pn_tableau *tab);

/**
 * @brief Names of the built-in tableaux.
 * @param[out] count  number of names
 * @return static array of static strings.
 */
PN_EXPORT const char *const *pn_tableau_names(int *count);

#endif
