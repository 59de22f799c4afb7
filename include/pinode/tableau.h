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
 * @brief Create a built-in tableau by name: euler, midpoint, heun, ralston, kutta3, ssprk3,
 * rk4, rk38, dopri5 (Dormand–Prince's 5th-order weights at a fixed step).
 *
 * Built-in tableaux pass the same checks as user ones.
 *
 * @param[in]  ctx   context for errors
 * @param[in]  name  the scheme's name (compared, not kept)
 * @param[out] out   the new tableau, to destroy with pn_tableau_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument or an unknown name (the message lists the
 *         known ones); PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_tableau_create(pn_ctx *ctx, const char *name, pn_tableau **out);

/**
 * @brief Create a user tableau, after checking it.
 * @param[in]  ctx    context for errors
 * @param[in]  name   its name for messages (copied; the first 31 bytes are kept)
 * @param[in]  s      stages, 1 ≤ s ≤ 16
 * @param[in]  A      s×s, row-major, strictly lower triangular (copied)
 * @param[in]  b, c   s weights and s nodes (copied)
 * @param[in]  order  the order claimed, ≥ 1; the order conditions up to min(order, 4) are
 *                    verified to 1e-12, as are Σ b = 1 and c_i = Σ_j a_ij
 * @param[out] out    the new tableau, to destroy with pn_tableau_destroy(); NULL on failure
 * @return PN_OK; PN_ERR_ARG for a NULL argument, s or order out of range, an entry on or above
 *         the diagonal of A, or a violated condition (named, with its residual);
 *         PN_ERR_NONFINITE for a NaN or Inf coefficient (named); PN_ERR_MEM.
 * Not collective.
 */
PN_EXPORT int pn_tableau_create_custom(pn_ctx *ctx, const char *name, int s, const double *A,
                                       const double *b, const double *c, int order,
                                       pn_tableau **out);

/**
 * @brief Destroy a tableau.
 * @param[in,out] tab  the address of the tableau; NULL or *tab NULL does nothing; *tab is set
 *                     to NULL
 * @return PN_OK.
 * Not collective.  Destroy a tableau only after the solvers that borrow it.
 */
PN_EXPORT int pn_tableau_destroy(pn_tableau **tab);

/**
 * @brief The number of stages s.
 * @param[in] tab  the tableau
 * @return s.  Not collective.
 */
PN_EXPORT int pn_tableau_stages(const pn_tableau *tab);

/**
 * @brief The order claimed (and verified up to 4).
 * @param[in] tab  the tableau
 * @return the order.  Not collective.
 */
PN_EXPORT int pn_tableau_order(const pn_tableau *tab);

/**
 * @brief The tableau's name.
 * @param[in] tab  the tableau
 * @return a string owned by the tableau, valid until it is destroyed.  Not collective.
 */
PN_EXPORT const char *pn_tableau_name(const pn_tableau *tab);

/**
 * @brief The coefficients A, s×s, row-major.
 * @param[in] tab  the tableau
 * @return s·s numbers owned by the tableau (read only), valid until it is destroyed.
 * Not collective.
 */
PN_EXPORT const double *pn_tableau_a(const pn_tableau *tab);

/**
 * @brief The weights b.
 * @param[in] tab  the tableau
 * @return s numbers owned by the tableau (read only), valid until it is destroyed.
 * Not collective.
 */
PN_EXPORT const double *pn_tableau_b(const pn_tableau *tab);

/**
 * @brief The nodes c.
 * @param[in] tab  the tableau
 * @return s numbers owned by the tableau (read only), valid until it is destroyed.
 * Not collective.
 */
PN_EXPORT const double *pn_tableau_c(const pn_tableau *tab);

/**
 * @brief The names of the built-in tableaux.
 * @param[out] count  the number of names (may be NULL)
 * @return a static array of static strings.
 * Not collective.
 */
PN_EXPORT const char *const *pn_tableau_names(int *count);

#endif
