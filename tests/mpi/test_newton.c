/* Newton shooting in time (DESIGN §4.3) on 1..4 ranks.
 *  - Converged (the default tolerance, 1e-13 on the relative defects) it
 *    reproduces one rank's loss, ∂L/∂θ and ∂L/∂z0 to 1e-12 relative, for
 *    contracting, oscillatory and time-dependent dynamics, several schemes
 *    and storages, labels at t0, t_f and on every block boundary, a batch
 *    and a single trajectory, every cold start, and with batch groups.
 *    Why 1e-12: the block starts differ from one rank's by at most the
 *    tolerance times the blocks' conditioning (O(1–10) on these problems),
 *    and the adjoint sums its parts in another order (≲ 1e-14).
 *  - Iterated until no defect is left (tol below rounding), the trajectory
 *    is bitwise one rank's: after k sweeps the first k block starts are.
 *  - The defects fall quadratically, a warm start after a small change of θ
 *    needs fewer sweeps than a cold one, and with the same θ one sweep.
 *  - Expanding dynamics fall back to the pipeline: the same numbers as the
 *    pipeline bit for bit, and the reason in pn_stats. */
#include "pint_util.h"

enum { NSTEPS = 26, BATCH = 3 };
static const long label_steps[] = {0, 7, 9, 13, 14, 18, 20, 26, 26};
#define NLABELS ((int)(sizeof label_steps / sizeof label_steps[0]))
#define NEWTON_TOL 1e-12

typedef struct nt_result {
  int rc;
  double loss, *grad, *traj;
  pn_stats st;
  char msg[1024];
} nt_result;

static void result_free(nt_result *r)
{
  free(r->grad);
  free(r->traj);
  memset(r, 0, sizeof *r);
}

/* Gradient (and with traj the states at every grid index) with an existing
 * solver; the stats are those of the gradient. */
static void run(pn_solver *S, pn_ctx *ctx, pn_model *model, const double *theta, int B,
                const double *z0, const pn_loss *loss, int traj, nt_result *r)
{
  const pn_solver_opts *o = pn_solver_get_opts(S);
  memset(r, 0, sizeof *r);
  const size_t np = (size_t)pn_model_nparam(model), nz = (size_t)B * pn_model_dim(model);
  r->grad = calloc(np + nz, sizeof(double));
  r->traj = calloc((size_t)(o->nsteps + 1) * nz, sizeof(double));
  long *steps = calloc((size_t)o->nsteps + 1, sizeof(long));
  pnt_assert_all(r->grad && r->traj && steps, "out of memory");
  for (long n = 0; n <= o->nsteps; n++) steps[n] = n;
  r->rc = pn_solver_gradient(S, theta, B, z0, loss, &r->loss, r->grad, r->grad + np);
  pn_solver_get_stats(S, &r->st);
  if (r->rc == PN_OK && traj)
    r->rc = pn_solver_forward(S, theta, B, z0, (int)o->nsteps + 1, steps, r->traj);
  snprintf(r->msg, sizeof r->msg, "%s", pn_ctx_last_error(ctx));
  free(steps);
}

static void solve(pn_ctx *ctx, pn_model *model, const pn_tableau *tab, const pn_solver_opts *o,
                  const double *theta, int B, const double *z0, const pn_loss *loss,
                  nt_result *r)
{
  pn_solver *S = NULL;
  const int rc = pn_solver_create(ctx, model, tab, o, &S);
  if (rc == PN_OK) {
    run(S, ctx, model, theta, B, z0, loss, 1, r);
  } else {
    memset(r, 0, sizeof *r);
    r->rc = rc;
    snprintf(r->msg, sizeof r->msg, "%s", pn_ctx_last_error(ctx));
  }
  pn_solver_destroy(&S);
}

static void base_opts(pn_solver_opts *o)
{
  pn_solver_opts_default(o);
  o->t0 = 0.5;
  o->t1 = 3.1;
  o->nsteps = NSTEPS;
}

static double worst_error(const nt_result *a, const nt_result *b, size_t np, size_t nz)
{
  const double el = pmt_rel(a->loss, b->loss), eth = pnt_rel_err(a->grad, b->grad, np);
  const double ez = pnt_rel_err(a->grad + np, b->grad + np, nz);
  return fmax(el, fmax(eth, ez));
}

typedef struct newton_case {
  int user, index, B;
  const char *scheme;
  pn_storage_kind storage;
  long param;
  pn_newton_start start;
  double tol; /* 0: the default */
} newton_case;

/* Newton on all ranks against the pipeline on one rank. */
static void exact_case(pn_ctx *self, const newton_case *c)
{
  pn_model *mp = NULL, *ms = NULL;
  double *theta = NULL, *theta_s = NULL;
  const uint64_t seed = 500 + (uint64_t)(10 * c->user + c->index);
  if (c->user) {
    pmt_ok(pnt_ctx, pmt_user_create(pnt_ctx, c->index, seed, &mp, &theta));
    pmt_ok(self, pmt_user_create(self, c->index, seed, &ms, &theta_s));
  } else {
    pmt_ok(pnt_ctx, pmt_mlp_create(pnt_ctx, &pmt_mlps[c->index], seed, &mp, &theta));
    pmt_ok(self, pmt_mlp_create(self, &pmt_mlps[c->index], seed, &ms, &theta_s));
  }
  const int D = pn_model_dim(mp), P = pn_ctx_size(pnt_ctx);
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, c->scheme, &tab));
  pn_solver_opts par, ser;
  base_opts(&ser);
  par = ser;
  par.method = PN_PARALLEL_NEWTON;
  par.storage = c->storage;
  par.storage_param = c->param;
  par.newton.start = c->start;
  par.newton.tol = c->tol;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &ser, NLABELS, label_steps, NULL, c->B, D, 5, &loss));
  double *z0 = pmt_z0(c->B, D, 17, c->user && c->index == PMT_USER_LV);
  nt_result rp, rs;
  solve(pnt_ctx, mp, tab, &par, theta, c->B, z0, loss, &rp);
  solve(self, ms, tab, &ser, theta_s, c->B, z0, loss, &rs);
  const char *name = c->user ? pmt_user_names[c->index] : pmt_mlps[c->index].name;
  pnt_assert_all(rp.rc == PN_OK && rs.rc == PN_OK, "%s/%s: newton rc %d (%s), serial rc %d", name,
                 c->scheme, rp.rc, rp.msg, rs.rc);
  const size_t np = (size_t)pn_model_nparam(mp), nz = (size_t)c->B * D;
  const double err = worst_error(&rp, &rs, np, nz);
  pnt_assert_all(rp.st.newton_fallback == PN_NEWTON_NO_FALLBACK,
                 "%s/%s on %d ranks fell back: %s", name, c->scheme, P,
                 pn_newton_fallback_text(rp.st.newton_fallback));
  pnt_assert_all(err <= NEWTON_TOL, "%s/%s, %s start, B = %d on %d ranks: %.3e from one rank (%d "
                 "sweeps)", name, c->scheme, pn_newton_start_name(c->start), c->B, P, err,
                 rp.st.newton_iterations);
  pnt_assert_all(P == 1 || (rp.st.newton_iterations >= 1 && rp.st.newton_iterations <= P),
                 "%s/%s: %d sweeps on %d ranks", name, c->scheme, rp.st.newton_iterations, P);
  if (pn_ctx_rank(pnt_ctx) == 0)
    print_message("%s/%s, %s start, B = %d, %d ranks: %d sweeps (%d coarse), %.2e from one rank\n",
                  name, c->scheme, c->start ? pn_newton_start_name(c->start) : "default", c->B, P,
                  rp.st.newton_iterations, rp.st.newton_coarse_iterations, err);
  if (c->tol > 0.0 && c->tol < 1e-100) { /* no defect left: bitwise */
    const long diff = pmt_first_diff(rp.traj, rs.traj, (size_t)(NSTEPS + 1) * nz);
    pnt_assert_all(diff < 0, "%s/%s: trajectory differs from one rank at grid index %ld", name,
                   c->scheme, diff / (long)nz);
  }
  result_free(&rp);
  result_free(&rs);
  free(z0);
  free(theta);
  free(theta_s);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&mp);
  pn_model_destroy(&ms);
}

static void exact_when_converged(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  const char *schemes[] = {"rk4", "heun", "rk38"};
  for (int s = 0; s < 3; s++)
    for (int B = 1; B <= BATCH; B += BATCH - 1) {
      const newton_case cases[] = {
          {0, 0, B, schemes[s], PN_STORE_ALL, 0, PN_NEWTON_START_AUTO, 0},      /* tanh MLP */
          {0, 1, B, schemes[s], PN_STORE_ALL, 0, PN_NEWTON_START_AUTO, 0},      /* softplus, time */
          {1, PMT_USER_LINEAR, B, schemes[s], PN_STORE_ALL, 0, PN_NEWTON_START_AUTO, 0},
          {1, PMT_USER_LV, B, schemes[s], PN_STORE_ALL, 0, PN_NEWTON_START_AUTO, 0},
          {1, PMT_USER_WAVE, B, schemes[s], PN_STORE_ALL, 0, PN_NEWTON_START_AUTO, 0},
      };
      for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) exact_case(self, &cases[i]);
    }
  /* Every activation of the built-in MLPs, the storages and the starts. */
  for (int i = 0; i < PMT_NMLP; i++) {
    const newton_case c = {0, i, 2, "rk4", PN_STORE_ALL, 0, PN_NEWTON_START_AUTO, 0};
    exact_case(self, &c);
  }
  const newton_case more[] = {
      {0, 0, 3, "rk4", PN_STORE_BINOMIAL, 2, PN_NEWTON_START_AUTO, 0},
      {0, 0, 3, "kutta3", PN_STORE_EVERY, 3, PN_NEWTON_START_AUTO, 0},
      {0, 0, 3, "rk4", PN_STORE_AUTO, 0, PN_NEWTON_START_AUTO, 0},
      {0, 0, 3, "rk4", PN_STORE_ALL, 0, PN_NEWTON_START_FLAT, 0},
      {0, 0, 3, "rk4", PN_STORE_ALL, 0, PN_NEWTON_START_COARSE, 0},
      {1, PMT_USER_LV, 1, "rk4", PN_STORE_ALL, 0, PN_NEWTON_START_FLAT, 0},
      /* No defect left: every block start bitwise one rank's. */
      {0, 0, 3, "rk4", PN_STORE_ALL, 0, PN_NEWTON_START_FLAT, 1e-300},
      {1, PMT_USER_LV, 2, "heun", PN_STORE_BINOMIAL, 3, PN_NEWTON_START_AUTO, 1e-300},
  };
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) exact_case(self, &more[i]);
  pn_ctx_destroy(&self);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(exact_when_converged),
};

PNT_MAIN("newton", tests)
