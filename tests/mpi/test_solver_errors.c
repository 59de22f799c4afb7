/* Failures of the time-parallel solver on 1..4 ranks: every rank returns the
 * same code and the same message (pni_agree shares the message of the lowest
 * failing rank; the other ranks prefix it with "rank r: "), the message says
 * where (step, time, rank), nobody hangs (each test has a ctest timeout), and
 * the solver works again on the next call.  Cases: more ranks than steps, a
 * negative micro-batch count, a NaN appearing mid-trajectory on one rank in
 * the forward or in the adjoint sweep, a user callback failing on one rank,
 * bad input on one rank only, a label off the grid. */
#include "pint_util.h"

#include "tdecomp.h"

enum { BATCH = 6, DIM = 2, NSTEPS = 23 };

/* Every rank got `code`, and every rank's message contains the message of
 * the rank that reported it (`origin`, the lowest failing rank), which
 * contains every string of `needles`.  Collective. */
static void expect_same_failure(pn_ctx *ctx, int rc, int code, int origin, const char *const *needles,
                                int nneedles, const char *what)
{
  char origin_msg[1024];
  snprintf(origin_msg, sizeof origin_msg, "%s", pn_ctx_last_error(ctx));
  MPI_Bcast(origin_msg, (int)sizeof origin_msg, MPI_CHAR, origin, MPI_COMM_WORLD);
  pnt_assert_all(rc == code, "%s: returned %d (%s), expected %d (%s); message: %s", what, rc,
                 pn_strerror(rc), code, pn_strerror(code), pn_ctx_last_error(ctx));
  pnt_assert_all(pn_ctx_last_code(ctx) == code, "%s: context holds code %d", what,
                 pn_ctx_last_code(ctx));
  pnt_assert_all(strstr(pn_ctx_last_error(ctx), origin_msg) != NULL,
                 "%s: message '%s' is not the one of rank %d ('%s')", what, pn_ctx_last_error(ctx),
                 origin, origin_msg);
  char prefix[32];
  snprintf(prefix, sizeof prefix, "rank %d: ", origin);
  const int rank = pn_ctx_rank(ctx);
  pnt_assert_all(rank == origin || strncmp(pn_ctx_last_error(ctx), prefix, strlen(prefix)) == 0,
                 "%s: message on rank %d does not say it comes from rank %d: %s", what, rank,
                 origin, pn_ctx_last_error(ctx));
  for (int i = 0; i < nneedles; i++)
    pnt_assert_all(strstr(origin_msg, needles[i]) != NULL, "%s: message '%s' does not contain '%s'",
                   what, origin_msg, needles[i]);
}

/* ---- option errors -------------------------------------------------------- */

static void more_ranks_than_steps(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_solver *solver = NULL;
  pmt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, DIM, &model));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.nsteps = P - 1; /* 0 on one rank: too few steps for any rank count */
  char need[64];
  if (P > 1)
    snprintf(need, sizeof need, "%d ranks but only %d steps", P, P - 1);
  else
    snprintf(need, sizeof need, "0 steps: need at least 1");
  const char *needles[] = {need};
  const int rc = pn_solver_create(pnt_ctx, model, tab, &opts, &solver);
  expect_same_failure(pnt_ctx, rc, PN_ERR_ARG, 0, needles, 1, "P > N");
  pnt_assert_all(solver == NULL, "a solver was returned after a failure");
  /* N = P is the most ranks allowed: one step each. */
  opts.nsteps = P;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, model, tab, &opts, &solver));
  pn_solver_destroy(&solver);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
}

/* The automatic micro-batch count: round(√((P−1)·B/3)) within [1, B]. */
static void automatic_microbatches(void **state)
{
  (void)state;
  const int cases[][3] = {{1, 16, 1},   {1, 256, 1}, {2, 16, 2},  {2, 256, 9}, {4, 16, 4},
                          {3, 1, 1},    {64, 4, 4},  {8, 300, 26}, {0, 16, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_int_equal(pn_pipeline_auto_microbatches(cases[i][0], cases[i][1]), cases[i][2]);
}

static void negative_microbatches(void **state)
{
  (void)state;
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_solver *solver = NULL;
  pmt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, DIM, &model));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.nsteps = NSTEPS;
  const int counts[] = {-1, -1000};
  for (int i = 0; i < 2; i++) {
    opts.microbatches = counts[i];
    char need[64];
    snprintf(need, sizeof need, "%d micro-batches: need >= 0", counts[i]);
    const char *needles[] = {need};
    expect_same_failure(pnt_ctx, pn_solver_create(pnt_ctx, model, tab, &opts, &solver), PN_ERR_ARG,
                        0, needles, 1, "M < 0");
    pnt_assert_all(solver == NULL, "a solver was returned after a failure");
  }
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
}

/* ---- failures inside the sweeps ------------------------------------------- */

/* dz/dt = −θ z, with faults switched on by the test: from time `after` on
 * the right-hand side returns NaN (RHS_NAN) or an error code (RHS_FAIL); in
 * the time window [vjp_lo, vjp_hi) the VJP returns NaN (VJP_NAN) or an error
 * code (VJP_FAIL). */
enum { FAULT_NONE, FAULT_RHS_NAN, FAULT_VJP_NAN, FAULT_RHS_FAIL, FAULT_VJP_FAIL };
typedef struct faulty {
  int fault;
  double after, vjp_lo, vjp_hi;
} faulty;

static int faulty_rhs(void *user, double t, int nb, const double *z, const double *th, double *f)
{
  const faulty *u = user;
  if (u->fault == FAULT_RHS_FAIL && t > u->after) return -3;
  for (int i = 0; i < nb * DIM; i++) f[i] = -th[i % DIM] * z[i];
  if (u->fault == FAULT_RHS_NAN && t > u->after) f[0] = NAN;
  return 0;
}

static int faulty_vjp(void *user, double t, int nb, const double *z, const double *th,
                      const double *a, double *zbar, double *thbar)
{
  const faulty *u = user;
  if (u->fault == FAULT_VJP_FAIL && t >= u->vjp_lo && t < u->vjp_hi) return -4;
  for (int i = 0; i < nb * DIM; i++) {
    zbar[i] = -th[i % DIM] * a[i];
    thbar[i % DIM] -= a[i] * z[i];
  }
  if (u->fault == FAULT_VJP_NAN && t >= u->vjp_lo && t < u->vjp_hi) zbar[0] = NAN;
  return 0;
}

typedef struct setup {
  faulty fault;
  pn_model *model;
  pn_tableau *tab;
  pn_loss *loss;
  pn_solver *solver;
  pn_solver_opts opts;
  double theta[DIM], *z0, h;
} setup;

static void setup_make(setup *s, int M)
{
  static const pn_model_ops ops = {.rhs = faulty_rhs, .vjp = faulty_vjp};
  memset(s, 0, sizeof *s);
  pmt_ok(pnt_ctx, pn_model_create(pnt_ctx, DIM, DIM, &ops, &s->fault, &s->model));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &s->tab));
  pn_solver_opts_default(&s->opts);
  s->opts.t0 = 0.5;
  s->opts.t1 = 3.0;
  s->opts.nsteps = NSTEPS;
  s->opts.microbatches = M;
  s->h = (s->opts.t1 - s->opts.t0) / NSTEPS;
  s->theta[0] = 0.3;
  s->theta[1] = 0.7;
  s->z0 = pmt_z0(BATCH, DIM, 5, 0);
  const long steps[] = {3, 11, NSTEPS};
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &s->opts, 3, steps, NULL, BATCH, DIM, 6, &s->loss));
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, s->model, s->tab, &s->opts, &s->solver));
}

static void setup_free(setup *s)
{
  pn_solver_destroy(&s->solver);
  pn_loss_destroy(&s->loss);
  pn_tableau_destroy(&s->tab);
  pn_model_destroy(&s->model);
  free(s->z0);
}

static int gradient(setup *s, double *loss, double *grad)
{
  return pn_solver_gradient(s->solver, s->theta, BATCH, s->z0, s->loss, loss, grad, grad + DIM);
}

/* After a failure, the same solver gives the serial gradient again: no
 * message of the failed call is left in flight. */
static void expect_recovery(setup *s, const char *what)
{
  s->fault.fault = FAULT_NONE;
  pmt_run par = {.np = DIM, .nz = BATCH * DIM}, ser;
  par.grad = calloc(DIM + BATCH * DIM, sizeof(double));
  pmt_ok(pnt_ctx, gradient(s, &par.loss, par.grad));
  pn_stats st;
  pmt_ok(pnt_ctx, pn_solver_get_stats(s->solver, &st));
  par.microbatches = st.microbatches;
  pmt_ok(pnt_ctx, pn_solver_loss(s->solver, s->theta, BATCH, s->z0, s->loss, &par.loss_only));
  pn_ctx *self = pmt_self_ctx();
  setup ref;
  static const pn_model_ops ops = {.rhs = faulty_rhs, .vjp = faulty_vjp};
  memset(&ref, 0, sizeof ref);
  pmt_ok(self, pn_model_create(self, DIM, DIM, &ops, &ref.fault, &ref.model));
  pmt_ok(self, pmt_solve(self, ref.model, s->tab, &s->opts, s->theta, BATCH, s->z0, s->loss, 0, &ser));
  char w[160];
  snprintf(w, sizeof w, "the call after %s", what);
  pmt_expect_serial(&par, &ser, w);
  pmt_run_free(&par);
  pmt_run_free(&ser);
  pn_model_destroy(&ref.model);
  pn_ctx_destroy(&self);
}

/* For each rank r, a NaN appears in the state first at a grid point that
 * rank r computes (the last of its block, or the first): every rank reports
 * PN_ERR_NONFINITE naming that step, its time and rank r. */
static void nan_in_forward_sweep_on_one_rank(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  const int counts[] = {1, 4};
  for (int ci = 0; ci < 2; ci++)
    for (int r = 0; r < P; r++)
      for (int end = 0; end <= 1; end++) {
        setup s;
        setup_make(&s, counts[ci]);
        long lo = 0, hi = 0;
        pn_split(NSTEPS, P, r, &lo, &hi);
        const long g = end ? hi : lo + 1; /* first NaN state z_g, computed by step g − 1 on rank r */
        /* RK4 evaluates step g−1 at t_{g−1} + {0, h/2, h}: a NaN after t_{g−1} + h/4
         * first reaches z_g; every earlier stage time is ≤ t_{g−1}. */
        s.fault.fault = FAULT_RHS_NAN;
        s.fault.after = s.opts.t0 + ((double)g - 0.75) * s.h;
        double L = 0.0, *grad = calloc(DIM + BATCH * DIM, sizeof(double));
        const int rc = gradient(&s, &L, grad);
        char step[96], rank[32], what[96];
        snprintf(step, sizeof step, "at step %ld (t = %.17g)", g, s.opts.t0 + (double)g * s.h);
        snprintf(rank, sizeof rank, "on rank %d", r);
        snprintf(what, sizeof what, "NaN state at step %ld on rank %d of %d, M = %d", g, r, P,
                 counts[ci]);
        const char *needles[] = {"the state became", "nan", step, "sample 0, component 0", rank};
        expect_same_failure(pnt_ctx, rc, PN_ERR_NONFINITE, r, needles, 5, what);
        /* The loss alone (no gradient) fails the same way. */
        pn_ctx_clear_error(pnt_ctx);
        expect_same_failure(pnt_ctx, pn_solver_loss(s.solver, s.theta, BATCH, s.z0, s.loss, &L),
                            PN_ERR_NONFINITE, r, needles, 5, what);
        expect_recovery(&s, what);
        free(grad);
        setup_free(&s);
      }
}

/* A NaN appears in the adjoint at step n of rank r's block (the VJP of that
 * step returns NaN, every other one is fine): every rank reports it, with
 * step n, t_n and rank r. */
static void nan_in_adjoint_sweep_on_one_rank(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  for (int r = 0; r < P; r++)
    for (int end = 0; end <= 1; end++) {
      setup s;
      setup_make(&s, 3);
      long lo = 0, hi = 0;
      pn_split(NSTEPS, P, r, &lo, &hi);
      const long n = end ? hi - 1 : lo; /* the adjoint of step n gives λ_n */
      /* Step n's stages sit at t_n + {0, h/2, h}; the window catches t_n + h/2
       * and no stage of steps n+1.. (≥ t_{n+1}), which run first. */
      s.fault.fault = FAULT_VJP_NAN;
      s.fault.vjp_lo = s.opts.t0 + ((double)n + 0.25) * s.h;
      s.fault.vjp_hi = s.opts.t0 + ((double)n + 0.75) * s.h;
      double L = 0.0, *grad = calloc(DIM + BATCH * DIM, sizeof(double));
      const int rc = gradient(&s, &L, grad);
      char step[96], rank[32], what[96];
      snprintf(step, sizeof step, "at step %ld (t = %.17g)", n, s.opts.t0 + (double)n * s.h);
      snprintf(rank, sizeof rank, "on rank %d", r);
      snprintf(what, sizeof what, "NaN adjoint at step %ld on rank %d of %d", n, r, P);
      const char *needles[] = {"the adjoint became", "nan", step, rank};
      expect_same_failure(pnt_ctx, rc, PN_ERR_NONFINITE, r, needles, 4, what);
      expect_recovery(&s, what);
      free(grad);
      setup_free(&s);
    }
}

/* A user callback returns an error code inside rank r's block, in the
 * forward sweep (the right-hand side, from some time on) or in the adjoint
 * sweep (the VJP of one step): PN_ERR_USER_CALLBACK everywhere, naming the
 * callback's time, the sweep, the step and the rank. */
static void callback_failure_on_one_rank(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  for (int r = 0; r < P; r++)
    for (int backward = 0; backward <= 1; backward++) {
      setup s;
      setup_make(&s, 2);
      long lo = 0, hi = 0;
      pn_split(NSTEPS, P, r, &lo, &hi);
      const long n = backward ? lo : hi - 1; /* the failing step; first hit at t_n + h/2 */
      s.fault.fault = backward ? FAULT_VJP_FAIL : FAULT_RHS_FAIL;
      s.fault.after = s.opts.t0 + ((double)n + 0.25) * s.h;
      s.fault.vjp_lo = s.fault.after;
      s.fault.vjp_hi = s.opts.t0 + ((double)n + 0.75) * s.h;
      double L = 0.0, *grad = calloc(DIM + BATCH * DIM, sizeof(double));
      const int rc = gradient(&s, &L, grad);
      char t[64], step[64], rank[32], what[96];
      snprintf(t, sizeof t, "at t = %.17g", s.opts.t0 + (double)n * s.h + 0.5 * s.h);
      snprintf(step, sizeof step, "%s sweep, step %ld", backward ? "backward" : "forward", n);
      snprintf(rank, sizeof rank, "on rank %d", r);
      snprintf(what, sizeof what, "%s failing in step %ld on rank %d of %d",
               backward ? "VJP" : "right-hand side", n, r, P);
      const char *needles[] = {backward ? "returned -4" : "returned -3", t, step, rank};
      expect_same_failure(pnt_ctx, rc, PN_ERR_USER_CALLBACK, r, needles, 4, what);
      expect_recovery(&s, what);
      free(grad);
      setup_free(&s);
    }
}

/* ---- bad input ------------------------------------------------------------ */

/* A NaN in the initial states of the last rank only (the caller broke the
 * "identical on every rank" contract): refused on every rank, not computed
 * with inconsistent data. */
static void nonfinite_input_on_one_rank(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx), rank = pn_ctx_rank(pnt_ctx);
  setup s;
  setup_make(&s, 2);
  double L = 0.0, *grad = calloc(DIM + BATCH * DIM, sizeof(double));
  const double keep = s.z0[7];
  if (rank == P - 1) s.z0[7] = NAN;
  const char *needles[] = {"initial state of sample 3, component 1 is nan"};
  expect_same_failure(pnt_ctx, gradient(&s, &L, grad), PN_ERR_NONFINITE, P - 1, needles, 1,
                      "NaN initial state on the last rank");
  s.z0[7] = keep;
  expect_recovery(&s, "a NaN initial state");
  free(grad);
  setup_free(&s);
}

static void label_off_grid(void **state)
{
  (void)state;
  setup s;
  setup_make(&s, 2);
  const double times[2] = {s.opts.t0 + 4 * s.h, s.opts.t0 + 4.5 * s.h};
  double targets[2 * BATCH * DIM] = {0}, L = 0.0;
  pn_loss *bad = NULL;
  pmt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, times, targets, NULL, BATCH, DIM, &bad));
  const char *needles[] = {"label 1 at t = ", "is not on the grid"};
  expect_same_failure(pnt_ctx, pn_solver_gradient(s.solver, s.theta, BATCH, s.z0, bad, &L, NULL, NULL),
                      PN_ERR_GRID, 0, needles, 2, "label off the grid");
  /* A loss made for another batch size. */
  pn_loss *other = NULL;
  pmt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, times, targets, NULL, BATCH - 1, DIM, &other));
  const char *needles2[] = {"made for batch 5"};
  expect_same_failure(pnt_ctx, pn_solver_gradient(s.solver, s.theta, BATCH, s.z0, other, &L, NULL, NULL),
                      PN_ERR_ARG, 0, needles2, 1, "loss of another batch size");
  expect_recovery(&s, "a label off the grid");
  pn_loss_destroy(&bad);
  pn_loss_destroy(&other);
  setup_free(&s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(more_ranks_than_steps),
    cmocka_unit_test(automatic_microbatches),
    cmocka_unit_test(negative_microbatches),
    cmocka_unit_test(nan_in_forward_sweep_on_one_rank),
    cmocka_unit_test(nan_in_adjoint_sweep_on_one_rank),
    cmocka_unit_test(callback_failure_on_one_rank),
    cmocka_unit_test(nonfinite_input_on_one_rank),
    cmocka_unit_test(label_off_grid),
};

PNT_MAIN("solver_errors", tests)
