/* Private layout of pn_model and the internal model interface.
 *
 * Internally a model is an ops table over an implementation pointer.  The
 * built-in MLP uses "slots": rhs(slot ≥ 0) keeps the intermediate values that
 * the VJP needs (activations and their derivatives) and vjp(slot) reuses them,
 * so that the adjoint step does not evaluate the network twice.  slot < 0
 * keeps nothing (rhs) or recomputes (vjp).  User models ignore slots.
 *
 * A solver call binds its θ to the model for the call's duration (bind), so
 * that a model which prepares something from θ (the MLP's weight copies) does
 * it once per call instead of checking θ on every evaluation; it unbinds
 * (bind with NULL) before returning, so that a θ changed between calls is
 * noticed as ever. */
#ifndef PINODE_MODEL_IMPL_H
#define PINODE_MODEL_IMPL_H

#include "pinode/model.h"

typedef struct pni_model_ops {
  int (*rhs)(void *impl, int slot, double t, int nb, const double *z, const double *theta,
             double *f_out);
  int (*vjp)(void *impl, int slot, double t, int nb, const double *z, const double *theta,
             const double *a, double *z_bar_out, double *theta_bar_inout);
  /* Grow workspaces for nb ≤ max_batch and slots 0..nslots-1. */
  int (*reserve)(void *impl, pn_ctx *ctx, int max_batch, int nslots);
  size_t (*workspace_bytes)(const void *impl, int max_batch, int nslots);
  int (*init)(const void *impl, uint64_t seed, double *theta_out); /* optional */
  void (*destroy)(void *impl);
  void (*bind)(void *impl, const double *theta); /* optional; NULL theta: unbind */
  /* f and its Jacobian–vector products in one pass: zv holds nb states,
   * then ntan blocks of nb tangent directions (block e, row b: direction e
   * at state b); out gets the same rows: f(z_b), then (∂f/∂z)(z_b) v_{e,b}.
   * The state rows are bitwise those of rhs.  Needs max_batch ≥ nb·(1+ntan). */
  int (*rhs_tangent)(void *impl, double t, int nb, int ntan, const double *zv,
                     const double *theta, double *out);
} pni_model_ops;

struct pn_model {
  pn_ctx *ctx;
  int dim, nparam;
  int max_batch, nslots; /* reserved so far */
  const pni_model_ops *ops;
  void *impl;
  const char *kind; /* "mlp", "user", ... for messages */
};

/* Create the generic wrapper around an implementation (takes ownership of impl). */
int pni_model_wrap(pn_ctx *ctx, int dim, int nparam, const pni_model_ops *ops, void *impl,
                   const char *kind, pn_model **out);

/* Reserve for max_batch states and nslots slots (never shrinks). */
int pni_model_reserve(pn_model *m, int max_batch, int nslots);

/* Bytes of workspace the model would hold for (max_batch, nslots). */
size_t pni_model_workspace_bytes(const pn_model *m, int max_batch, int nslots);

/* Promise that θ (this pointer, these values) stays fixed until the next
 * pni_model_bind(m, NULL); evaluations at another θ remain correct. */
void pni_model_bind(pn_model *m, const double *theta);

/* Evaluate with slot semantics (see above); errors name step context given by caller. */
int pni_model_rhs(pn_model *m, int slot, double t, int nb, const double *z, const double *theta,
                  double *f_out);
int pni_model_vjp(pn_model *m, int slot, double t, int nb, const double *z, const double *theta,
                  const double *a, double *z_bar_out, double *theta_bar_inout);
int pni_model_rhs_tangent(pn_model *m, double t, int nb, int ntan, const double *zv,
                          const double *theta, double *out);

/* The MLP implementation (mlp.c). */
int pni_mlp_create(pn_ctx *ctx, const pn_mlp_spec *spec, pn_model **out);

#endif
