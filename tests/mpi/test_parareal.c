/* Parareal (docs/parallel.md) on 1..4 ranks.
 *  - With max_iter = P (the default) and tol = 0 it stops after exactly P
 *    iterations (one on one rank) and reproduces one rank: the forward
 *    trajectory bitwise (after k iterations the first k block starts are the
 *    serial ones bit for bit, since a rank whose start did not change passes
 *    F on unchanged), the loss and ∂L/∂θ, ∂L/∂z0 to 1e-13 relative (the
 *    adjoint composes the blocks' affine maps in another order).
 *    Dissipative (contracting linear, tanh MLP) and oscillatory
 *    (Lotka–Volterra, time-dependent wave) problems, several schemes and
 *    storages, labels at t0, t_f, twice, and on every possible block boundary.
 *  - With a tolerance the gradient error is bounded by it (measured here, see
 *    TOL_FACTOR) and fewer iterations are taken.
 *  - Where it cannot converge within the limit (chaotic Lorenz-63, one
 *    iteration on several ranks) every rank gets PN_ERR_NOT_CONVERGED with
 *    the residual history — never a silently wrong gradient.
 * Run with mpiexec -n 1, 2, 3, 4. */
#include "pint_util.h"

/* N = 26: blocks of 26, 13+13, 9+9+8, 7+7+6+6 steps; labels on every block
 * boundary of every P (7, 9, 13, 14, 18, 20), at t0 and twice at t_f. */
enum { NSTEPS = 26, BATCH = 3 };
static const long label_steps[] = {0, 7, 9, 13, 14, 18, 20, 26, 26};
#define NLABELS ((int)(sizeof label_steps / sizeof label_steps[0]))

/* How far the gradient may be from the exact one with Parareal stopped at
 * tol: the error of the block starts is ≤ tol relative, and the gradient's
 * sensitivity to them on these short, mild problems is O(1–10); 100 leaves a
 * margin while still failing if the tolerance were ignored (errors ~1e-2). */
#define TOL_FACTOR 100.0

typedef struct pr_result {
  int rc, iterations;
  double loss, *grad, *traj;
  char msg[1024];
} pr_result;

static void result_free(pr_result *r)
{
  free(r->grad);
  free(r->traj);
  memset(r, 0, sizeof *r);
}

/* Gradient and the states at every grid index with the given options. */
static void solve(pn_ctx *ctx, pn_model *model, const pn_tableau *tab, const pn_solver_opts *o,
                  const double *theta, const double *z0, const pn_loss *loss, pr_result *r)
{
  memset(r, 0, sizeof *r);
  const size_t np = (size_t)pn_model_nparam(model), nz = (size_t)BATCH * pn_model_dim(model);
  r->grad = calloc(np + nz, sizeof(double));
  r->traj = calloc((size_t)(o->nsteps + 1) * nz, sizeof(double));
  long *steps = calloc((size_t)o->nsteps + 1, sizeof(long));
  pnt_assert_all(r->grad && r->traj && steps, "out of memory");
  for (long n = 0; n <= o->nsteps; n++) steps[n] = n;
  pn_solver *S = NULL;
  r->rc = pn_solver_create(ctx, model, tab, o, &S);
  if (r->rc == PN_OK) r->rc = pn_solver_gradient(S, theta, BATCH, z0, loss, &r->loss, r->grad, r->grad + np);
  pn_stats st;
  if (r->rc == PN_OK && pn_solver_get_stats(S, &st) == PN_OK) r->iterations = st.parareal_iterations;
  if (r->rc == PN_OK) r->rc = pn_solver_forward(S, theta, BATCH, z0, (int)o->nsteps + 1, steps, r->traj);
  snprintf(r->msg, sizeof r->msg, "%s", pn_ctx_last_error(ctx));
  free(steps);
  pn_solver_destroy(&S);
}

static void base_opts(pn_solver_opts *o)
{
  pn_solver_opts_default(o);
  o->t0 = 0.5;
  o->t1 = 3.1;
  o->nsteps = NSTEPS;
  o->microbatches = 1;
}

/* Parareal on all ranks vs the pipeline on one rank, for one model/scheme/storage. */
static void exact_case_adjoint(pn_ctx *self, int user, int index, const char *scheme,
                               pn_storage_kind storage, long param, pn_parareal_adjoint adjoint)
{
  const int P = pn_ctx_size(pnt_ctx);
  pn_model *mp = NULL, *ms = NULL;
  double *theta = NULL, *theta_s = NULL;
  const uint64_t seed = 300 + (uint64_t)(10 * user + index);
  if (user) {
    pmt_ok(pnt_ctx, pmt_user_create(pnt_ctx, index, seed, &mp, &theta));
    pmt_ok(self, pmt_user_create(self, index, seed, &ms, &theta_s));
  } else {
    pmt_ok(pnt_ctx, pmt_mlp_create(pnt_ctx, &pmt_mlps[index], seed, &mp, &theta));
    pmt_ok(self, pmt_mlp_create(self, &pmt_mlps[index], seed, &ms, &theta_s));
  }
  const int D = pn_model_dim(mp);
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, scheme, &tab));
  pn_solver_opts par, ser;
  base_opts(&ser);
  par = ser;
  par.method = PN_PARALLEL_PARAREAL;
  par.parareal.adjoint = adjoint;
  par.storage = storage;
  par.storage_param = param;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &ser, NLABELS, label_steps, NULL, BATCH, D, 5, &loss));
  double *z0 = pmt_z0(BATCH, D, 17, user && index == PMT_USER_LV);
  pr_result rp, rs;
  solve(pnt_ctx, mp, tab, &par, theta, z0, loss, &rp);
  solve(self, ms, tab, &ser, theta_s, z0, loss, &rs);
  const char *name = user ? pmt_user_names[index] : pmt_mlps[index].name;
  pnt_assert_all(rp.rc == PN_OK && rs.rc == PN_OK, "%s/%s: parareal rc %d (%s), serial rc %d",
                 name, scheme, rp.rc, rp.msg, rs.rc);
  const size_t np = (size_t)pn_model_nparam(mp), nz = (size_t)BATCH * D;
  const long diff = pmt_first_diff(rp.traj, rs.traj, (size_t)(NSTEPS + 1) * nz);
  pnt_assert_all(diff < 0, "%s/%s: trajectory differs from one rank at grid index %ld", name,
                 scheme, diff / (long)nz);
  const double el = pmt_rel(rp.loss, rs.loss), eth = pnt_rel_err(rp.grad, rs.grad, np);
  const double ez = pnt_rel_err(rp.grad + np, rs.grad + np, nz);
  pnt_assert_all(el <= PMT_TOL && eth <= PMT_TOL && ez <= PMT_TOL,
                 "%s/%s on %d ranks: loss %.3e, dL/dtheta %.3e, dL/dz0 %.3e from one rank", name,
                 scheme, P, el, eth, ez);
  pnt_assert_all(rp.iterations == P, "%s/%s: %d iterations on %d ranks (expected %d)", name,
                 scheme, rp.iterations, P, P);
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

/* Both parallel adjoints must reproduce one rank. */
static void exact_case(pn_ctx *self, int user, int index, const char *scheme,
                       pn_storage_kind storage, long param)
{
  exact_case_adjoint(self, user, index, scheme, storage, param, PN_PARAREAL_ADJOINT_ITERATE);
  exact_case_adjoint(self, user, index, scheme, storage, param, PN_PARAREAL_ADJOINT_MAPS);
}

static void exact_with_p_iterations(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  const char *schemes[] = {"rk4", "heun", "rk38"};
  for (int s = 0; s < 3; s++) {
    exact_case(self, 0, 0, schemes[s], PN_STORE_ALL, 0);       /* tanh MLP */
    exact_case(self, 0, 1, schemes[s], PN_STORE_ALL, 0);       /* softplus x2, time input */
    exact_case(self, 1, PMT_USER_LINEAR, schemes[s], PN_STORE_ALL, 0); /* contracting */
    exact_case(self, 1, PMT_USER_LV, schemes[s], PN_STORE_ALL, 0);     /* oscillatory */
    exact_case(self, 1, PMT_USER_WAVE, schemes[s], PN_STORE_ALL, 0);   /* time-dependent */
  }
  exact_case(self, 0, 0, "rk4", PN_STORE_BINOMIAL, 2);
  exact_case(self, 0, 6, "kutta3", PN_STORE_EVERY, 3);
  exact_case(self, 0, 0, "rk4", PN_STORE_AUTO, 0);
  pn_ctx_destroy(&self);
}

/* With a tolerance: fewer iterations, gradient error within TOL_FACTOR·tol. */
static void tolerance_bounds_the_error(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  pn_model *m = NULL;
  double *theta = NULL;
  pmt_ok(pnt_ctx, pmt_user_create(pnt_ctx, PMT_USER_LV, 9, &m, &theta));
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts exact, o;
  base_opts(&exact);
  exact.nsteps = 240;
  exact.t1 = exact.t0 + 6.0;
  pn_loss *loss = NULL;
  const long steps[] = {0, 60, 120, 180, 240};
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &exact, 5, steps, NULL, BATCH, 2, 3, &loss));
  double *z0 = pmt_z0(BATCH, 2, 4, 1);
  pr_result re;
  solve(pnt_ctx, m, tab, &exact, theta, z0, loss, &re);
  pnt_assert_all(re.rc == PN_OK, "exact run failed: %s", re.msg);
  const size_t n = (size_t)pn_model_nparam(m) + (size_t)BATCH * 2;
  const double tols[] = {1e-4, 1e-7, 1e-10};
  for (int i = 0; i < 6; i++) {
    o = exact;
    o.method = PN_PARALLEL_PARAREAL;
    o.parareal.adjoint = i < 3 ? PN_PARAREAL_ADJOINT_ITERATE : PN_PARAREAL_ADJOINT_MAPS;
    o.parareal.tol = tols[i % 3];
    o.parareal.coarse_steps = 4;
    pr_result r;
    solve(pnt_ctx, m, tab, &o, theta, z0, loss, &r);
    pnt_assert_all(r.rc == PN_OK, "tol %g: %s", tols[i % 3], r.msg);
    const double err = pnt_rel_err(r.grad, re.grad, n);
    pnt_assert_all(err <= TOL_FACTOR * tols[i % 3], "tol %g (%s adjoint) on %d ranks: gradient "
                   "error %.3e", tols[i % 3], pn_parareal_adjoint_name(o.parareal.adjoint), P, err);
    pnt_assert_all(r.iterations >= 1 && r.iterations <= P, "tol %g: %d iterations on %d ranks",
                   tols[i % 3], r.iterations, P);
    print_message("tol %g, %s adjoint, %d ranks: %d iterations, gradient error %.3e\n",
                  tols[i % 3], pn_parareal_adjoint_name(o.parareal.adjoint), P, r.iterations, err);
    result_free(&r);
  }
  result_free(&re);
  free(z0);
  free(theta);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

/* Lorenz-63, θ = (σ, ρ, β): chaotic, so a coarse propagator is useless over long blocks. */
static int lorenz_rhs(void *u, double t, int nb, const double *z, const double *p, double *f)
{
  (void)u;
  (void)t;
  for (int b = 0; b < nb; b++) {
    const double x = z[3 * b], y = z[3 * b + 1], w = z[3 * b + 2];
    f[3 * b] = p[0] * (y - x);
    f[3 * b + 1] = x * (p[1] - w) - y;
    f[3 * b + 2] = x * y - p[2] * w;
  }
  return 0;
}

static int lorenz_vjp(void *u, double t, int nb, const double *z, const double *p, const double *a,
                      double *zbar, double *pbar)
{
  (void)u;
  (void)t;
  for (int b = 0; b < nb; b++) {
    const double x = z[3 * b], y = z[3 * b + 1], w = z[3 * b + 2];
    const double ax = a[3 * b], ay = a[3 * b + 1], aw = a[3 * b + 2];
    zbar[3 * b] = -p[0] * ax + (p[1] - w) * ay + y * aw;
    zbar[3 * b + 1] = p[0] * ax - ay + x * aw;
    zbar[3 * b + 2] = -x * ay - p[2] * aw;
    pbar[0] += (y - x) * ax;
    pbar[1] += x * ay;
    pbar[2] -= w * aw;
  }
  return 0;
}

static void no_silent_wrong_gradient(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  const pn_model_ops ops = {.rhs = lorenz_rhs, .vjp = lorenz_vjp};
  pn_model *m = NULL;
  pmt_ok(pnt_ctx, pn_model_create(pnt_ctx, 3, 3, &ops, NULL, &m));
  const double theta[3] = {10.0, 28.0, 8.0 / 3.0};
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts o;
  base_opts(&o);
  o.t0 = 0.0;
  o.t1 = 8.0;
  o.nsteps = 1600;
  o.method = PN_PARALLEL_PARAREAL;
  o.parareal.max_iter = P > 1 ? P - 1 : 1;
  o.parareal.tol = 1e-10;
  const long steps[] = {1600};
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &o, 1, steps, NULL, BATCH, 3, 8, &loss));
  double z0[3 * BATCH];
  for (int i = 0; i < 3 * BATCH; i++) z0[i] = 1.0 + 0.1 * i;
  pr_result r;
  solve(pnt_ctx, m, tab, &o, theta, z0, loss, &r);
  if (P == 1) { /* one block: its start is z0, exact after one iteration */
    pnt_assert_all(r.rc == PN_OK && r.iterations == 1, "one rank: rc %d, %d iterations: %s",
                   r.rc, r.iterations, r.msg);
  } else {
    pnt_assert_all(r.rc == PN_ERR_NOT_CONVERGED && strstr(r.msg, "did not converge") &&
                       strstr(r.msg, "max_iter"),
                   "Lorenz on %d ranks with %d iterations: rc %d, message '%s'", P,
                   o.parareal.max_iter, r.rc, r.msg);
  }
  result_free(&r);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

static void other_methods_refused(void **state)
{
  (void)state;
  pn_model *m = NULL;
  double *theta = NULL;
  pmt_ok(pnt_ctx, pmt_user_create(pnt_ctx, PMT_USER_LINEAR, 2, &m, &theta));
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts o;
  base_opts(&o);
  o.method = PN_PARALLEL_PARAREAL;
  pn_loss *loss = NULL;
  const long steps[] = {NSTEPS};
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &o, 1, steps, NULL, BATCH, 3, 8, &loss));
  double *z0 = pmt_z0(BATCH, 3, 1, 0), g[9 + 3 * BATCH], L = 0;
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  const int rc = pn_solver_gradient_method(S, PN_ADJOINT_CONTINUOUS_INTERP, PN_SWEEP_MULTI, theta,
                                           BATCH, z0, loss, &L, g, g + 9);
  pnt_assert_all(rc == PN_ERR_ARG && strstr(pn_ctx_last_error(pnt_ctx), "discrete multi-point"),
                 "continuous adjoint with parareal: rc %d, '%s'", rc, pn_ctx_last_error(pnt_ctx));
  pn_solver_destroy(&S);
  o.parareal.tol = -1.0;
  pnt_assert_all(pn_solver_create(pnt_ctx, m, tab, &o, &S) == PN_ERR_ARG &&
                     strstr(pn_ctx_last_error(pnt_ctx), "tol"),
                 "negative tolerance accepted");
  o.parareal.tol = 0.0;
  snprintf(o.parareal.coarse_scheme, sizeof o.parareal.coarse_scheme, "rk7");
  pnt_assert_all(pn_solver_create(pnt_ctx, m, tab, &o, &S) == PN_ERR_ARG &&
                     strstr(pn_ctx_last_error(pnt_ctx), "unknown scheme 'rk7'"),
                 "unknown coarse scheme accepted: %s", pn_ctx_last_error(pnt_ctx));
  free(z0);
  free(theta);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(exact_with_p_iterations),
    cmocka_unit_test(tolerance_bounds_the_error),
    cmocka_unit_test(no_silent_wrong_gradient),
    cmocka_unit_test(other_methods_refused),
};

PNT_MAIN("parareal", tests)
