/* Butcher tableaux: a registry of built-in explicit schemes and validated user ones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pinode/tableau.h"

#define PN_MAX_STAGES 16

struct pn_tableau {
  char name[32];
  int s, order;
  double *A, *b, *c; /* A: s×s row-major, strictly lower triangular */
};

typedef struct builtin {
  const char *name;
  int s, order;
  double A[7 * 7], b[7], c[7];
} builtin;

/* Coefficients as rationals evaluated in double, exactly as the PyTorch program
 * that made the references of tests/data/bench writes them. */
static const builtin builtins[] = {
    {"euler", 1, 1, {0}, {1.0}, {0.0}},
    {"midpoint", 2, 2, {0, 0, 0.5, 0}, {0.0, 1.0}, {0.0, 0.5}},
    {"heun", 2, 2, {0, 0, 1.0, 0}, {0.5, 0.5}, {0.0, 1.0}},
    {"ralston", 2, 2, {0, 0, 2.0 / 3.0, 0}, {0.25, 0.75}, {0.0, 2.0 / 3.0}},
    {"kutta3", 3, 3, {0, 0, 0, 0.5, 0, 0, -1.0, 2.0, 0}, {1.0 / 6.0, 2.0 / 3.0, 1.0 / 6.0},
     {0.0, 0.5, 1.0}},
    {"ssprk3", 3, 3, {0, 0, 0, 1.0, 0, 0, 0.25, 0.25, 0}, {1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0},
     {0.0, 1.0, 0.5}},
    {"rk4", 4, 4, {0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 1.0, 0},
     {1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0}, {0.0, 0.5, 0.5, 1.0}},
    {"rk38", 4, 4, {0, 0, 0, 0, 1.0 / 3.0, 0, 0, 0, -1.0 / 3.0, 1.0, 0, 0, 1.0, -1.0, 1.0, 0},
     {1.0 / 8.0, 3.0 / 8.0, 3.0 / 8.0, 1.0 / 8.0}, {0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0}},
    /* Dormand–Prince 5(4), 5th-order weights at fixed step.  Its 7th stage has
     * b_7 = 0 (it only serves the embedded error estimate), so 6 stages suffice. */
    {"dopri5",
     6,
     5,
     {0, 0, 0, 0, 0, 0,
      1.0 / 5.0, 0, 0, 0, 0, 0,
      3.0 / 40.0, 9.0 / 40.0, 0, 0, 0, 0,
      44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0, 0, 0,
      19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0, 0, 0,
      9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0, 0},
     {35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0},
     {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0}},
};
#define NBUILTIN ((int)(sizeof builtins / sizeof builtins[0]))

const char *const *pn_tableau_names(int *count)
{
  static const char *names[NBUILTIN];
  for (int i = 0; i < NBUILTIN; i++) names[i] = builtins[i].name;
  if (count) *count = NBUILTIN;
  return names;
}

/* Residual of the order conditions of order q (trees with q nodes), q ≤ 4. */
static double order_residual(int s, const double *A, const double *b, const double *c, int q)
{
  double r = 0.0;
  double Ac[PN_MAX_STAGES] = {0}, Ac2[PN_MAX_STAGES] = {0}, AAc[PN_MAX_STAGES] = {0};
  for (int i = 0; i < s; i++)
    for (int j = 0; j < s; j++) {
      Ac[i] += A[i * s + j] * c[j];
      Ac2[i] += A[i * s + j] * c[j] * c[j];
    }
  for (int i = 0; i < s; i++)
    for (int j = 0; j < s; j++) AAc[i] += A[i * s + j] * Ac[j];
  double t[4] = {0};
  switch (q) {
  case 1:
    for (int i = 0; i < s; i++) t[0] += b[i];
    r = fabs(t[0] - 1.0);
    break;
  case 2:
    for (int i = 0; i < s; i++) t[0] += b[i] * c[i];
    r = fabs(t[0] - 0.5);
    break;
  case 3:
    for (int i = 0; i < s; i++) {
      t[0] += b[i] * c[i] * c[i];
      t[1] += b[i] * Ac[i];
    }
    r = fmax(fabs(t[0] - 1.0 / 3.0), fabs(t[1] - 1.0 / 6.0));
    break;
  case 4:
    for (int i = 0; i < s; i++) {
      t[0] += b[i] * c[i] * c[i] * c[i];
      t[1] += b[i] * c[i] * Ac[i];
      t[2] += b[i] * Ac2[i];
      t[3] += b[i] * AAc[i];
    }
    r = fmax(fmax(fabs(t[0] - 0.25), fabs(t[1] - 0.125)),
             fmax(fabs(t[2] - 1.0 / 12.0), fabs(t[3] - 1.0 / 24.0)));
    break;
  }
  return r;
}

static int validate(pn_ctx *ctx, const char *name, int s, const double *A, const double *b,
                    const double *c, int order)
{
  PN_CHECK(ctx, s >= 1 && s <= PN_MAX_STAGES, PN_ERR_ARG,
           "tableau '%s': %d stages (must be 1..%d)", name, s, PN_MAX_STAGES);
  PN_CHECK(ctx, order >= 1, PN_ERR_ARG, "tableau '%s': order %d (must be >= 1)", name, order);
  for (int i = 0; i < s; i++) {
    PN_CHECK(ctx, isfinite(b[i]) && isfinite(c[i]), PN_ERR_NONFINITE,
             "tableau '%s': b[%d] or c[%d] is not finite", name, i, i);
    double rowsum = 0.0;
    for (int j = 0; j < s; j++) {
      double a = A[i * s + j];
      PN_CHECK(ctx, isfinite(a), PN_ERR_NONFINITE, "tableau '%s': a[%d][%d] is not finite", name,
               i, j);
      PN_CHECK(ctx, j < i || a == 0.0, PN_ERR_ARG,
               "tableau '%s': a[%d][%d] = %g, but an explicit scheme needs A strictly lower "
               "triangular",
               name, i, j, a);
      rowsum += a;
    }
    PN_CHECK(ctx, fabs(rowsum - c[i]) <= 1e-12 * fmax(1.0, fabs(c[i])), PN_ERR_ARG,
             "tableau '%s': c[%d] = %.17g but row %d of A sums to %.17g", name, i, c[i], i, rowsum);
  }
  for (int q = 1; q <= order && q <= 4; q++) {
    double r = order_residual(s, A, b, c, q);
    PN_CHECK(ctx, r <= 1e-12, PN_ERR_ARG,
             "tableau '%s' claims order %d but violates an order-%d condition by %.3g", name, order,
             q, r);
  }
  return PN_OK;
}

static int make(pn_ctx *ctx, const char *name, int s, const double *A, const double *b,
                const double *c, int order, pn_tableau **out)
{
  pn_tableau *t = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *t, &t, "tableau"));
  int rc = PN_OK;
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)s * (size_t)s + 2 * (size_t)s, sizeof(double), &t->A,
                              "tableau coefficients"));
  t->b = t->A + s * s;
  t->c = t->b + s;
  memcpy(t->A, A, sizeof(double) * (size_t)(s * s));
  memcpy(t->b, b, sizeof(double) * (size_t)s);
  memcpy(t->c, c, sizeof(double) * (size_t)s);
  t->s = s;
  t->order = order;
  snprintf(t->name, sizeof t->name, "%s", name);
  *out = t;
  return PN_OK;
cleanup:
  pn_tableau_destroy(&t);
  return rc;
}

int pn_tableau_create(pn_ctx *ctx, const char *name, pn_tableau **out)
{
  PN_CHECK(ctx, name && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  for (int i = 0; i < NBUILTIN; i++) {
    const builtin *bt = &builtins[i];
    if (strcmp(bt->name, name) != 0) continue;
    /* Built-ins pass the same checks as user tableaux: a typo cannot hide. */
    PN_CALL(validate(ctx, name, bt->s, bt->A, bt->b, bt->c, bt->order));
    return make(ctx, name, bt->s, bt->A, bt->b, bt->c, bt->order, out);
  }
  char known[256] = "";
  for (int i = 0; i < NBUILTIN; i++) {
    strncat(known, builtins[i].name, sizeof known - strlen(known) - 1);
    if (i + 1 < NBUILTIN) strncat(known, ", ", sizeof known - strlen(known) - 1);
  }
  return pni_error(ctx, PN_ERR_ARG, __FILE__, __LINE__, __func__,
                   "unknown scheme '%s' (known: %s)", name, known);
}

int pn_tableau_create_custom(pn_ctx *ctx, const char *name, int s, const double *A,
                             const double *b, const double *c, int order, pn_tableau **out)
{
  PN_CHECK(ctx, name && A && b && c && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CALL(validate(ctx, name, s, A, b, c, order));
  return make(ctx, name, s, A, b, c, order, out);
}

int pn_tableau_destroy(pn_tableau **tab)
{
  if (!tab || !*tab) return PN_OK;
  free((*tab)->A);
  free(*tab);
  *tab = NULL;
  return PN_OK;
}

int pn_tableau_stages(const pn_tableau *tab) { return tab->s; }
int pn_tableau_order(const pn_tableau *tab) { return tab->order; }
const char *pn_tableau_name(const pn_tableau *tab) { return tab->name; }
const double *pn_tableau_a(const pn_tableau *tab) { return tab->A; }
const double *pn_tableau_b(const pn_tableau *tab) { return tab->b; }
const double *pn_tableau_c(const pn_tableau *tab) { return tab->c; }
