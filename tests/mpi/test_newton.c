/* Newton shooting in time (docs/parallel.md) on 1..4 ranks.
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

/* A single trajectory of a tanh MLP over a long horizon: nonlinear enough
 * that Newton needs several sweeps from a flat start on four ranks. */
typedef struct long_problem {
  pn_model *m;
  pn_tableau *tab;
  pn_loss *loss;
  double *theta, z0[4];
  pn_solver_opts o;
} long_problem;

static void long_make(long_problem *lp, pn_newton_start start)
{
  static const int widths[1] = {24};
  static const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {4, 1, widths, acts, 0};
  memset(lp, 0, sizeof *lp);
  pmt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &lp->m));
  const int np = pn_model_nparam(lp->m);
  lp->theta = malloc(sizeof(double) * (size_t)np);
  pnt_assert_all(lp->theta != NULL, "out of memory");
  pmt_ok(pnt_ctx, pn_model_init_params(lp->m, 3, lp->theta));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &lp->tab));
  pn_solver_opts_default(&lp->o);
  lp->o.t1 = 20.0;
  lp->o.nsteps = 800;
  lp->o.method = PN_PARALLEL_NEWTON;
  lp->o.newton.start = start;
  const double z0[4] = {1.0, -0.5, 0.3, 0.8};
  memcpy(lp->z0, z0, sizeof z0);
  const long steps[4] = {200, 400, 600, 800};
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &lp->o, 4, steps, NULL, 1, 4, 3, &lp->loss));
}

static void long_free(long_problem *lp)
{
  free(lp->theta);
  pn_loss_destroy(&lp->loss);
  pn_tableau_destroy(&lp->tab);
  pn_model_destroy(&lp->m);
}

/* Newton's defects fall quadratically near the solution: from the block
 * starts of the previous θ after a step of θ (a flat start: no coarse
 * correction), each defect below 1e-2 is followed by one at most 10 times
 * its square (linear convergence at any useful rate would leave far more),
 * until rounding or the exact block starts of P sweeps end the sweeps. */
static void defects_fall_quadratically(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  long_problem lp;
  long_make(&lp, PN_NEWTON_START_FLAT);
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, lp.m, lp.tab, &lp.o, &S));
  nt_result first, r;
  run(S, pnt_ctx, lp.m, lp.theta, 1, lp.z0, lp.loss, 0, &first);
  const int np = pn_model_nparam(lp.m);
  for (int i = 0; i < np; i++) lp.theta[i] -= 1e-3 * (first.grad[i] > 0 ? 1.0 : -1.0);
  run(S, pnt_ctx, lp.m, lp.theta, 1, lp.z0, lp.loss, 0, &r);
  pn_solver_destroy(&S);
  pnt_assert_all(r.rc == PN_OK && r.st.newton_fallback == PN_NEWTON_NO_FALLBACK, "rc %d: %s",
                 r.rc, r.msg);
  const double *d = r.st.newton_defect;
  const int K = r.st.newton_iterations;
  if (pn_ctx_rank(pnt_ctx) == 0) {
    print_message("after a step of theta on %d ranks, %d sweeps, defects:", P, K);
    for (int k = 0; k < K; k++) print_message(" %.2e", d[k]);
    print_message("\n");
  }
  int quadratic_steps = 0;
  for (int k = 1; k < K; k++) {
    if (d[k - 1] > 1e-2 || d[k] < 1e-14) continue; /* not yet local; or at rounding */
    pnt_assert_all(d[k] <= 10.0 * d[k - 1] * d[k - 1], "sweep %d: defect %.3e after %.3e is not "
                   "quadratic", k + 1, d[k], d[k - 1]);
    quadratic_steps++;
  }
  /* On four ranks there are sweeps enough to see it. */
  pnt_assert_all(P < 4 || quadratic_steps >= 1, "no sweep in the quadratic regime (%d sweeps)", K);
  result_free(&first);
  result_free(&r);
  long_free(&lp);
}

/* Warm starts: with the same θ the previous call's block starts are
 * confirmed by one sweep; after a small change of θ (one Adam step of 1e-3)
 * the coarse start from them needs fewer coarse sweeps than from z0 (on
 * four ranks; on fewer both are cut short at P), and no more fine ones. */
static void warm_starts(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  long_problem lp;
  long_make(&lp, PN_NEWTON_START_AUTO);
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, lp.m, lp.tab, &lp.o, &S));
  nt_result cold, same, stepped, fresh;
  run(S, pnt_ctx, lp.m, lp.theta, 1, lp.z0, lp.loss, 0, &cold);
  run(S, pnt_ctx, lp.m, lp.theta, 1, lp.z0, lp.loss, 0, &same);
  const int np = pn_model_nparam(lp.m);
  for (int i = 0; i < np; i++) lp.theta[i] -= 1e-3 * (cold.grad[i] > 0 ? 1.0 : -1.0);
  run(S, pnt_ctx, lp.m, lp.theta, 1, lp.z0, lp.loss, 0, &stepped);
  pn_solver_destroy(&S);
  solve(pnt_ctx, lp.m, lp.tab, &lp.o, lp.theta, 1, lp.z0, lp.loss, &fresh);
  pnt_assert_all(cold.rc == PN_OK && same.rc == PN_OK && stepped.rc == PN_OK && fresh.rc == PN_OK,
                 "a gradient failed: %s", fresh.msg);
  if (pn_ctx_rank(pnt_ctx) == 0)
    print_message("%d ranks: cold %d + %d coarse sweeps, same theta %d, after a step %d + %d "
                  "(a fresh solver %d + %d)\n", P, cold.st.newton_iterations,
                  cold.st.newton_coarse_iterations, same.st.newton_iterations,
                  stepped.st.newton_iterations, stepped.st.newton_coarse_iterations,
                  fresh.st.newton_iterations, fresh.st.newton_coarse_iterations);
  pnt_assert_all(P == 1 || (!cold.st.newton_warm && same.st.newton_warm &&
                             stepped.st.newton_warm && !fresh.st.newton_warm),
                 "warm flags %d %d %d %d", cold.st.newton_warm, same.st.newton_warm,
                 stepped.st.newton_warm, fresh.st.newton_warm);
  pnt_assert_all(P == 1 || same.st.newton_iterations == 1, "same theta: %d sweeps",
                 same.st.newton_iterations);
  /* The same gradient as a fresh solver's at the stepped θ. */
  const double err = worst_error(&stepped, &fresh, (size_t)np, 4);
  pnt_assert_all(err <= NEWTON_TOL, "warm gradient %.3e from a fresh solver's", err);
  pnt_assert_all(stepped.st.newton_iterations <= fresh.st.newton_iterations,
                 "warm: %d fine sweeps, cold: %d", stepped.st.newton_iterations,
                 fresh.st.newton_iterations);
  /* Fewer coarse sweeps where z0's are not cut short by the P-sweep limit. */
  const int cw = stepped.st.newton_coarse_iterations, cc = fresh.st.newton_coarse_iterations;
  pnt_assert_all(cw <= cc && (P < 4 || cw < cc), "warm: %d coarse sweeps, cold: %d", cw, cc);
  result_free(&cold);
  result_free(&same);
  result_free(&stepped);
  result_free(&fresh);
  long_free(&lp);
}

/* dz/dt = A z with A = 5 I + a rotation: a perturbation grows by e^{5 t}.
 * Newton falls back (growth); the result is the pipeline's bit for bit. */
static void expanding_dynamics_fall_back(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  pn_model *m = NULL;
  pmt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, 2, &m));
  const double A[4] = {5.0, 1.0, -1.0, 5.0}, z0[2 * BATCH] = {1, 0, 0, 1, 0.5, -0.5};
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts o;
  base_opts(&o);
  o.t1 = o.t0 + 6.0;
  o.nsteps = 600;
  const long steps[2] = {300, 600};
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &o, 2, steps, NULL, BATCH, 2, 2, &loss));
  nt_result rn, rp;
  o.method = PN_PARALLEL_NEWTON;
  solve(pnt_ctx, m, tab, &o, A, BATCH, z0, loss, &rn);
  o.method = PN_PARALLEL_PIPELINE;
  solve(pnt_ctx, m, tab, &o, A, BATCH, z0, loss, &rp);
  pnt_assert_all(rn.rc == PN_OK && rp.rc == PN_OK, "newton: %s", rn.msg);
  pnt_assert_all(P == 1 || rn.st.newton_fallback == PN_NEWTON_GROWTH,
                 "on %d ranks: fallback %d (%s), growth %.3g", P, rn.st.newton_fallback,
                 pn_newton_fallback_text(rn.st.newton_fallback), rn.st.newton_growth);
  pnt_assert_all(P == 1 || strstr(pn_newton_fallback_text(rn.st.newton_fallback), "expand"),
                 "the reason does not say the dynamics expand: %s",
                 pn_newton_fallback_text(rn.st.newton_fallback));
  const size_t n = 4 + 2 * BATCH;
  pnt_assert_all(rn.loss == rp.loss && memcmp(rn.grad, rp.grad, sizeof(double) * n) == 0 &&
                     memcmp(rn.traj, rp.traj, sizeof(double) * 601 * 2 * BATCH) == 0,
                 "the fallback differs from the pipeline");
  result_free(&rn);
  result_free(&rp);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

/* Batch groups: G groups, each shooting over its own ranks. */
static void with_batch_groups(void **state)
{
  (void)state;
  const int size = pn_ctx_size(pnt_ctx);
  pn_ctx *self = pmt_self_ctx();
  pn_model *mp = NULL, *ms = NULL;
  double *theta = NULL, *theta_s = NULL;
  pmt_ok(pnt_ctx, pmt_mlp_create(pnt_ctx, &pmt_mlps[0], 31, &mp, &theta));
  pmt_ok(self, pmt_mlp_create(self, &pmt_mlps[0], 31, &ms, &theta_s));
  const int D = pn_model_dim(mp);
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts par, ser;
  base_opts(&ser);
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &ser, NLABELS, label_steps, NULL, 4, D, 5, &loss));
  double *z0 = pmt_z0(4, D, 19, 0);
  nt_result rs;
  solve(self, ms, tab, &ser, theta_s, 4, z0, loss, &rs);
  for (int G = 1; G <= size; G++) {
    if (size % G != 0) continue;
    par = ser;
    par.method = PN_PARALLEL_NEWTON;
    par.batch_groups = G;
    nt_result rp;
    solve(pnt_ctx, mp, tab, &par, theta, 4, z0, loss, &rp);
    pnt_assert_all(rp.rc == PN_OK, "G = %d: %s", G, rp.msg);
    const double err = worst_error(&rp, &rs, (size_t)pn_model_nparam(mp), (size_t)4 * D);
    pnt_assert_all(err <= NEWTON_TOL, "%d batch groups on %d ranks: %.3e from one rank", G, size,
                   err);
    result_free(&rp);
  }
  result_free(&rs);
  free(z0);
  free(theta);
  free(theta_s);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&mp);
  pn_model_destroy(&ms);
  pn_ctx_destroy(&self);
}

static void refusals(void **state)
{
  (void)state;
  pn_model *m = NULL;
  double *theta = NULL;
  pmt_ok(pnt_ctx, pmt_user_create(pnt_ctx, PMT_USER_LINEAR, 2, &m, &theta));
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts o;
  base_opts(&o);
  o.method = PN_PARALLEL_NEWTON;
  pn_loss *loss = NULL;
  const long steps[] = {NSTEPS};
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &o, 1, steps, NULL, BATCH, 3, 8, &loss));
  double *z0 = pmt_z0(BATCH, 3, 1, 0), g[9 + 3 * BATCH], L = 0;
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  const int rc = pn_solver_gradient_method(S, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_MULTI,
                                           theta, BATCH, z0, loss, &L, g, g + 9);
  pnt_assert_all(rc == PN_ERR_ARG && strstr(pn_ctx_last_error(pnt_ctx), "discrete multi-point"),
                 "continuous adjoint with newton: rc %d, '%s'", rc, pn_ctx_last_error(pnt_ctx));
  pn_solver_destroy(&S);
  static const struct {
    const char *needle;
    int field;
  } bad[] = {{"stages", 0}, {"tol", 1}, {"growth_limit", 2}, {"max_iter", 3}, {"start", 4},
             {"unknown scheme 'rk9'", 5}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pn_solver_opts b = o;
    if (bad[i].field == 0) b.storage = PN_STORE_STAGES;
    if (bad[i].field == 1) b.newton.tol = -1e-3;
    if (bad[i].field == 2) b.newton.growth_limit = NAN;
    if (bad[i].field == 3) b.newton.max_iter = -2;
    if (bad[i].field == 4) b.newton.start = (pn_newton_start)9;
    if (bad[i].field == 5) snprintf(b.newton.coarse_scheme, sizeof b.newton.coarse_scheme, "rk9");
    const int r = pn_solver_create(pnt_ctx, m, tab, &b, &S);
    pnt_assert_all(r == PN_ERR_ARG && strstr(pn_ctx_last_error(pnt_ctx), bad[i].needle),
                   "bad %s accepted: rc %d, '%s'", bad[i].needle, r, pn_ctx_last_error(pnt_ctx));
  }
  free(z0);
  free(theta);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(exact_when_converged),  cmocka_unit_test(defects_fall_quadratically),
    cmocka_unit_test(warm_starts),           cmocka_unit_test(expanding_dynamics_fall_back),
    cmocka_unit_test(with_batch_groups),     cmocka_unit_test(refusals),
};

PNT_MAIN("newton", tests)
