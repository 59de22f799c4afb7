/* One explicit Runge–Kutta step and its exact discrete adjoint (see step.h). */
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "gemm.h"
#include "internal.h"
#include "step.h"
#include "vmath.h"

/* Doubles of one stage buffer, rounded up so that every stage buffer of an
 * aligned block is aligned (the model's products read them). */
static size_t stage_doubles(const pn_model *model, int max_batch)
{
  return pni_round_up((size_t)max_batch * (size_t)pn_model_dim(model));
}

size_t pni_stepper_bytes(const pn_tableau *tab, const pn_model *model, int max_batch)
{
  const int s = pn_tableau_stages(tab);
  return sizeof(double) * (3 * (size_t)s + 1) * stage_doubles(model, max_batch) +
         pni_model_workspace_bytes(model, max_batch, s);
}

int pni_stepper_init(pni_stepper *st, pn_ctx *ctx, const pn_tableau *tab, pn_model *model,
                     int max_batch)
{
  memset(st, 0, sizeof *st);
  st->ctx = ctx;
  st->tab = tab;
  st->model = model;
  st->s = pn_tableau_stages(tab);
  st->dim = pn_model_dim(model);
  st->max_batch = max_batch;
  st->ws = stage_doubles(model, max_batch);
  const size_t w = st->ws, s = (size_t)st->s;
  int rc = PN_OK;
  /* One slot per stage lets the adjoint reuse each stage's activations. */
  PN_CALL_GOTO(rc, pni_model_reserve(model, max_batch, st->s));
  PN_CALL_GOTO(rc, pni_calloc_aligned(ctx, (3 * s + 1) * w, sizeof(double), &st->K,
                                      "stage buffers"));
  st->Y = st->K + s * w;
  st->Ybar = st->Y + s * w;
  st->acc = st->Ybar + s * w;
  PN_CALL_GOTO(rc, pni_calloc(ctx, s, sizeof *st->Yp, &st->Yp, "stage pointers"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, 2 * s, 1, &st->row_zero, "tableau rows"));
  st->k_used = st->row_zero + s;
  const double *A = pn_tableau_a(tab);
  for (int i = 0; i < st->s; i++) {
    st->row_zero[i] = 1;
    for (int j = 0; j < i; j++)
      if (A[i * st->s + j] != 0.0) {
        st->row_zero[i] = 0;
        st->k_used[j] = 1; /* k_j enters Y_i */
      }
  }
  return PN_OK;
cleanup:
  pni_stepper_free(st);
  return rc;
}

void pni_stepper_free(pni_stepper *st)
{
  free(st->K);
  free(st->Yp);
  free(st->row_zero);
  free(st->tape_Y);
  st->K = st->Y = st->Ybar = st->acc = st->tape_Y = NULL;
  st->Yp = NULL;
  st->row_zero = st->k_used = NULL;
  st->ntape = 0;
}

/* How a stage pass treats the model's intermediates and the k_i. */
typedef struct stage_mode {
  int slot0;      /* keep stage i's intermediates in slot slot0 + i; −1: keep nothing */
  int skip_dead;  /* skip k_i that no later stage uses (the adjoint's recomputation) */
  double *Ydst;   /* stage inputs go to Ydst + i·ws (NULL: the stepper's Y) */
  int ntan;       /* tangent directions per state after the states (0: none) */
} stage_mode;

/* Stages of the step at (t, z): Y_i and k_i.  Y_i = z when row i of A is zero
 * (then Yp[i] = z, unless the inputs must be kept: Ydst).  A k_i that is
 * skipped is never computed: its VJP then evaluates the network's hidden
 * layers itself (slot −1), which saves the output layer's evaluation. */
static int stages(pni_stepper *st, double t, double h, int nb, const double *z,
                  const double *theta, const stage_mode *mode)
{
  const int s = st->s;
  const size_t w = (size_t)nb * (size_t)(1 + mode->ntan) * (size_t)st->dim, ws = st->ws;
  const double *A = pn_tableau_a(st->tab), *c = pn_tableau_c(st->tab);
  double *Ybase = mode->Ydst ? mode->Ydst : st->Y;
  PN_CALL(pni_interrupted(st->ctx)); /* every step starts here: the caller may stop it */
  for (int i = 0; i < s; i++) {
    if (st->row_zero[i] && !mode->Ydst) {
      st->Yp[i] = z;
    } else { /* Y_i = z + Σ_j (h a_ij) k_j, in the order of the reference */
      double *Y = Ybase + (size_t)i * ws;
      int started = 0; /* the first term is added on the way from z (no copy of z first) */
      for (int j = 0; j < i; j++) {
        const double ha = h * A[i * s + j];
        if (A[i * s + j] == 0.0) continue;
        if (started) pni_vaxpy(w, ha, st->K + (size_t)j * ws, Y);
        else pni_vxpay(w, z, ha, st->K + (size_t)j * ws, Y);
        started = 1;
      }
      if (!started) memcpy(Y, z, sizeof(double) * w);
      st->Yp[i] = Y;
    }
    if (mode->skip_dead && !st->k_used[i]) continue;
    if (mode->ntan > 0)
      PN_CALL(pni_model_rhs_tangent(st->model, t + c[i] * h, nb, mode->ntan, st->Yp[i], theta,
                                    st->K + (size_t)i * ws));
    else
      PN_CALL(pni_model_rhs(st->model, mode->slot0 < 0 ? -1 : mode->slot0 + i, t + c[i] * h, nb,
                            st->Yp[i], theta, st->K + (size_t)i * ws));
    st->rhs_evals++;
  }
  return PN_OK;
}

/* Entries per chunk of the stepper's sums of stage vectors: 4 KB a vector,
 * so that a chunk's partial sums stay in L1 while every term is added.  A
 * sum of s vectors is then one pass over memory instead of s, with the same
 * operations on each entry (bitwise the result of whole-vector passes).
 * Wide's stepper sums (axpy, scale, add, xpay) were ~4 % of its profile;
 * one pass made its gradient ~3 % faster (docs/performance.md). */
enum { CHUNK = 512 };

static size_t chunk_len(size_t w, size_t e0) { return w - e0 < CHUNK ? w - e0 : CHUNK; }

/* z_next = z + h Σ_i b_i k_i (z_next may alias z). */
static void combine(pni_stepper *st, double h, int nb, const double *z, double *z_next)
{
  const size_t w = (size_t)nb * (size_t)st->dim, ws = st->ws;
  const double *b = pn_tableau_b(st->tab);
  for (size_t e0 = 0; e0 < w; e0 += CHUNK) {
    const size_t n = chunk_len(w, e0);
    double *inc = st->acc + e0;
    memset(inc, 0, sizeof(double) * n);
    for (int i = 0; i < st->s; i++)
      if (b[i] != 0.0) pni_vaxpy(n, b[i], st->K + (size_t)i * ws + e0, inc);
    pni_vxpay(n, z + e0, h, inc, z_next + e0);
  }
}

int pni_step(pni_stepper *st, double t, double h, int nb, const double *z, const double *theta,
             double *z_next)
{
  const stage_mode plain = {-1, 0, NULL, 0};
  PN_CALL(stages(st, t, h, nb, z, theta, &plain));
  combine(st, h, nb, z, z_next);
  return PN_OK;
}

int pni_step_tangent(pni_stepper *st, double t, double h, int nb, int ntan, const double *z,
                     const double *theta, double *z_next)
{
  PN_CHECK(st->ctx, (long)nb * (1 + ntan) <= st->max_batch, PN_ERR_ARG,
           "a step of %d states with %d tangents each, with a stepper made for %d rows", nb, ntan,
           st->max_batch);
  const stage_mode tangent = {-1, 0, NULL, ntan};
  PN_CALL(stages(st, t, h, nb, z, theta, &tangent));
  combine(st, h, nb * (1 + ntan), z, z_next);
  return PN_OK;
}

/* The reverse stage loop, given the stage inputs st->Yp of the step.  Stage
 * i's VJP uses the intermediates in slot slot0 + i when `kept` says they are
 * there, else it recomputes them (slot −1). */
static int adjoint_stages(pni_stepper *st, double t, double h, int nb, const double *theta,
                          int slot0, const unsigned char *kept, double *lambda, double *theta_bar)
{
  const int s = st->s;
  const size_t w = (size_t)nb * (size_t)st->dim, ws = st->ws;
  const double *A = pn_tableau_a(st->tab), *b = pn_tableau_b(st->tab), *c = pn_tableau_c(st->tab);
  PN_CALL(pni_interrupted(st->ctx)); /* every adjoint step passes here */
  for (int i = s - 1; i >= 0; i--) {
    /* k̄_i = h b_i λ + Σ_{j>i} h a_ji Ȳ_j */
    double *kbar = st->acc, *Ybar = st->Ybar + (size_t)i * ws;
    int nonzero = b[i] != 0.0;
    for (int j = i + 1; j < s; j++) nonzero |= A[j * s + i] != 0.0;
    const double hb = h * b[i];
    for (size_t e0 = 0; nonzero && e0 < w; e0 += CHUNK) {
      const size_t n = chunk_len(w, e0);
      pni_vscale(n, hb, lambda + e0, kbar + e0);
      for (int j = i + 1; j < s; j++)
        if (A[j * s + i] != 0.0)
          pni_vaxpy(n, h * A[j * s + i], st->Ybar + (size_t)j * ws + e0, kbar + e0);
    }
    if (!nonzero) { /* stage i does not influence z_next */
      memset(Ybar, 0, sizeof(double) * w);
      continue;
    }
    PN_CALL(pni_model_vjp(st->model, !kept || kept[i] ? slot0 + i : -1, t + c[i] * h, nb,
                          st->Yp[i], theta, kbar, Ybar, theta_bar));
    st->vjp_evals++;
  }
  /* λ_n = λ_{n+1} + Σ_i Ȳ_i */
  for (size_t e0 = 0; e0 < w; e0 += CHUNK)
    for (int i = 0; i < s; i++)
      pni_vadd(chunk_len(w, e0), st->Ybar + (size_t)i * ws + e0, lambda + e0);
  return PN_OK;
}

int pni_step_adjoint(pni_stepper *st, double t, double h, int nb, const double *z,
                     const double *theta, double *lambda, double *theta_bar)
{
  /* Recompute the stage inputs, keeping each stage's intermediates in slot i. */
  const stage_mode recompute = {0, 1, NULL, 0};
  PN_CALL(stages(st, t, h, nb, z, theta, &recompute));
  return adjoint_stages(st, t, h, nb, theta, 0, st->k_used, lambda, theta_bar);
}

/* ---- tape ------------------------------------------------------------------ */

size_t pni_stepper_tape_bytes(const pn_tableau *tab, const pn_model *model, int max_batch,
                              long nrec)
{
  const size_t s = (size_t)pn_tableau_stages(tab), r = (size_t)(nrec > 0 ? nrec : 0);
  return sizeof(double) * r * (s * stage_doubles(model, max_batch) + 1) +
         pni_model_workspace_bytes(model, max_batch, (int)(s * (r + 1))) -
         pni_model_workspace_bytes(model, max_batch, (int)s);
}

int pni_stepper_tape(pni_stepper *st, long nrec)
{
  pn_ctx *ctx = st->ctx;
  PN_CHECK(ctx, st->K, PN_ERR_ARG, "the stepper is not initialised");
  PN_CHECK(ctx, nrec >= 1 && nrec <= (long)((1u << 30) / (unsigned)st->s) - 1, PN_ERR_ARG,
           "a tape of %ld records (must be 1..%ld)", nrec,
           (long)((1u << 30) / (unsigned)st->s) - 1);
  free(st->tape_Y);
  st->tape_Y = NULL;
  st->ntape = 0;
  const size_t per_rec = (size_t)st->s * st->ws;
  /* Record r's number of states sits after the stage inputs, as a check. */
  PN_CALL(pni_calloc_aligned(ctx, (size_t)nrec * per_rec + (size_t)nrec, sizeof(double),
                             &st->tape_Y, "tape of stage inputs"));
  PN_CALL(pni_model_reserve(st->model, st->max_batch, st->s * (int)(nrec + 1)));
  st->ntape = nrec;
  return PN_OK;
}

/* Number of states record rec was made for (0: not made). */
static double *tape_count(pni_stepper *st, long rec)
{
  return st->tape_Y + (size_t)st->ntape * (size_t)st->s * st->ws + (size_t)rec;
}

static int check_record(pni_stepper *st, long rec, int nb)
{
  PN_CHECK(st->ctx, rec >= 0 && rec < st->ntape, PN_ERR_ARG,
           "tape record %ld does not exist (the tape holds %ld)", rec, st->ntape);
  PN_CHECK(st->ctx, nb >= 1 && nb <= st->max_batch, PN_ERR_ARG,
           "a step of %d states with a stepper made for %d", nb, st->max_batch);
  return PN_OK;
}

int pni_step_record(pni_stepper *st, long rec, double t, double h, int nb, const double *z,
                    const double *theta, double *z_next)
{
  PN_CALL(check_record(st, rec, nb));
  const stage_mode record = {st->s * (int)(rec + 1), 0,
                             st->tape_Y + (size_t)rec * (size_t)st->s * st->ws, 0};
  *tape_count(st, rec) = 0; /* invalid until the step is complete */
  PN_CALL(stages(st, t, h, nb, z, theta, &record));
  combine(st, h, nb, z, z_next);
  *tape_count(st, rec) = nb;
  return PN_OK;
}

int pni_step_adjoint_record(pni_stepper *st, long rec, double t, double h, int nb,
                            const double *theta, double *lambda, double *theta_bar)
{
  PN_CALL(check_record(st, rec, nb));
  PN_CHECK(st->ctx, *tape_count(st, rec) == (double)nb, PN_ERR_ARG,
           "tape record %ld holds a step of %g states, not %d (record the step first)", rec,
           *tape_count(st, rec), nb);
  const double *Yrec = st->tape_Y + (size_t)rec * (size_t)st->s * st->ws;
  for (int i = 0; i < st->s; i++) st->Yp[i] = Yrec + (size_t)i * st->ws;
  /* A backward sweep takes the records in decreasing order: ask for the
   * next one's stage inputs while this one is worked on. */
  const size_t per_rec = (size_t)st->s * st->ws;
  if (rec > 0)
    for (size_t x = 0; x < per_rec; x += 8) __builtin_prefetch(Yrec - per_rec + x);
  return adjoint_stages(st, t, h, nb, theta, st->s * (int)(rec + 1), NULL, lambda, theta_bar);
}
