/* The discrete adjoint against ground truth (docs/mathematics.md, "Verification").
 *
 * Ground truth is the complex-step derivative of the whole forward map
 * (src/cstep.c: an independent complex MLP + RK + MSE, one solve per input
 * with a perturbation i·1e-30, exact to rounding).  The adjoint gradient of
 * pn_solver_gradient must agree with it to ≤ 1e-12 relative, norm-wise, for
 * every scheme, activation, with and without time input, on deep nets with
 * several labels.  Central finite differences of pn_solver_loss agree to
 * their own (much coarser) accuracy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cstep.h"
#include "loss_impl.h"
#include "testutil.h"

/* Why 1e-12: both sides are exact to rounding.  Each computes the same sums
 * in a different order, so they differ by a few ulps per operation,
 * amplified by at most the conditioning of the map over N ≤ 8 steps of a
 * small net (measured gaps: ≤ 1e-14).  A wrong adjoint term (one missing
 * stage, a transposed weight, a mis-timed stage) moves the gradient by
 * O(h) ≈ 0.1 relative or more, eleven orders above the tolerance. */
#define TOL_EXACT 1e-12

static const pn_activation all_acts[] = {PN_ACT_TANH, PN_ACT_SOFTPLUS, PN_ACT_SIGMOID,
                                         PN_ACT_RELU, PN_ACT_SILU,     PN_ACT_IDENTITY};
#define NACTS ((int)(sizeof all_acts / sizeof all_acts[0]))

/* One random problem: a deep MLP, a batch, labels at t0, twice at an interior
 * time, and at t_f, with unequal weights. */
typedef struct problem {
  pn_mlp_spec spec;
  int widths[2];
  pn_activation acts[2];
  int batch;
  double t0, t1;
  long nsteps;
  int P;
  double *theta, *z0;
  pn_loss *loss;
} problem;

static void problem_make(problem *p, pn_activation a0, pn_activation a1, int time_input,
                         uint64_t seed)
{
  memset(p, 0, sizeof *p);
  p->widths[0] = 5;
  p->widths[1] = 4;
  p->acts[0] = a0;
  p->acts[1] = a1;
  p->spec = (pn_mlp_spec){3, 2, p->widths, p->acts, time_input};
  p->batch = 2;
  p->t0 = 0.25; /* nonzero, so that the time input is not just n·h */
  p->t1 = 1.75;
  p->nsteps = 6;
  const int D = 3, in0 = D + (time_input ? 1 : 0);
  p->P = (in0 * 5 + 5) + (5 * 4 + 4) + (4 * D + D);
  p->theta = malloc(sizeof(double) * (size_t)p->P);
  p->z0 = malloc(sizeof(double) * (size_t)(p->batch * D));
  /* Weights of scale 0.6 keep tanh/sigmoid away from saturation and the
   * trajectories O(1), so that the gradient is not dominated by one entry. */
  pnt_randn(p->theta, (size_t)p->P, seed, 0.6);
  pnt_randn(p->z0, (size_t)(p->batch * D), seed + 1, 1.0);
  const double h = (p->t1 - p->t0) / (double)p->nsteps;
  const double times[4] = {p->t0, p->t0 + 2 * h, p->t0 + 2 * h, p->t1};
  const double weights[4] = {0.7, 1.3, 2.0, 0.4};
  double targets[4 * 2 * 3];
  pnt_randn(targets, 24, seed + 2, 1.0);
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 4, times, targets, weights, p->batch, D, &p->loss));
}

static void problem_free(problem *p)
{
  free(p->theta);
  free(p->z0);
  pn_loss_destroy(&p->loss);
}

/* Loss and gradient of the library's solver (serial on one rank). */
static void adjoint_gradient(const problem *p, const pn_tableau *tab, double *loss, double *g)
{
  pn_model *m = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = p->t0;
  o.t1 = p->t1;
  o.nsteps = p->nsteps;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &p->spec, &m));
  assert_int_equal(pn_model_nparam(m), p->P);
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  pnt_ok(pnt_ctx, pn_solver_gradient(S, p->theta, p->batch, p->z0, p->loss, loss, g, g + p->P));
  pn_solver_destroy(&S);
  pn_model_destroy(&m);
}

static void cstep_gradient(const problem *p, const pn_tableau *tab, double *loss, double *g)
{
  pnt_ok(pnt_ctx, pn_cstep_gradient(pnt_ctx, &p->spec, tab, p->t0, p->t1, p->nsteps, p->batch,
                                    p->z0, p->theta, p->loss, loss, g, g + p->P));
}

/* Worst of the three relative gaps (loss, ∂L/∂θ, ∂L/∂z0). */
static double compare(const problem *p, double la, const double *ga, double lc, const double *gc)
{
  const size_t nz = (size_t)p->batch * (size_t)p->spec.dim;
  double e = fabs(la - lc) / fabs(lc);
  e = fmax(e, pnt_rel_err(ga, gc, (size_t)p->P));
  return fmax(e, pnt_rel_err(ga + p->P, gc + p->P, nz));
}

static double adjoint_vs_cstep(const problem *p, const pn_tableau *tab)
{
  const size_t n = (size_t)p->P + (size_t)p->batch * (size_t)p->spec.dim;
  double *ga = calloc(n, sizeof *ga), *gc = calloc(n, sizeof *gc), la = 0, lc = 0;
  adjoint_gradient(p, tab, &la, ga);
  cstep_gradient(p, tab, &lc, gc);
  const double e = compare(p, la, ga, lc, gc);
  free(ga);
  free(gc);
  return e;
}

/* Heun's third-order method plus a fourth stage of weight zero that nothing
 * uses (it must contribute nothing), while stage 2 has weight zero but feeds
 * stage 3 (it must contribute through A). */
static void user_tableau(pn_tableau **t)
{
  const double A[16] = {0, 0, 0, 0, 1.0 / 3.0, 0, 0, 0, 0, 2.0 / 3.0, 0, 0, 0.5, 0.25, 0.25, 0};
  const double b[4] = {0.25, 0.0, 0.75, 0.0}, c[4] = {0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0};
  pnt_ok(pnt_ctx, pn_tableau_create_custom(pnt_ctx, "heun3+dead", 4, A, b, c, 3, t));
}

/* Every built-in scheme and the user tableau, every activation (on both
 * hidden layers), with and without time input. */
static void every_scheme_activation_and_time_input(void **state)
{
  (void)state;
  int nnames = 0;
  const char *const *names = pn_tableau_names(&nnames);
  double worst = 0.0;
  for (int s = 0; s <= nnames; s++) {
    pn_tableau *tab = NULL;
    if (s < nnames)
      pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[s], &tab));
    else
      user_tableau(&tab);
    for (int a = 0; a < NACTS; a++)
      for (int ti = 0; ti <= 1; ti++) {
        problem p;
        problem_make(&p, all_acts[a], all_acts[a], ti, 100 + (uint64_t)(s * 31 + a * 2 + ti));
        const double e = adjoint_vs_cstep(&p, tab);
        if (!(e <= TOL_EXACT))
          fail_msg("%s, %s, time input %d: adjoint vs complex step %.3e > %.0e",
                   pn_tableau_name(tab), pn_activation_name(all_acts[a]), ti, e, TOL_EXACT);
        worst = fmax(worst, e);
        problem_free(&p);
      }
    pn_tableau_destroy(&tab);
  }
  printf("# worst adjoint vs complex-step gap over %d cases: %.3e\n", (nnames + 1) * NACTS * 2,
         worst);
}

/* Different activations on the two hidden layers (catches a layer using
 * another layer's activation derivative). */
static void mixed_activations(void **state)
{
  (void)state;
  pn_tableau *tab = NULL;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  for (int a = 0; a < NACTS; a++) {
    problem p;
    problem_make(&p, all_acts[a], all_acts[(a + 1) % NACTS], a % 2, 700 + (uint64_t)a);
    const double e = adjoint_vs_cstep(&p, tab);
    if (!(e <= TOL_EXACT))
      fail_msg("%s then %s: gap %.3e", pn_activation_name(all_acts[a]),
               pn_activation_name(all_acts[(a + 1) % NACTS]), e);
    problem_free(&p);
  }
  pn_tableau_destroy(&tab);
}

/* Compare a file of ref/ with x (n entries), norm-wise. */
static double ref_gap(const char *dir, const char *name, const double *x, size_t n)
{
  char path[1200];
  double *ref = NULL;
  size_t nref = 0;
  snprintf(path, sizeof path, "%s/ref/%s", dir, name);
  pnt_ok(pnt_ctx, pn_read_numbers(pnt_ctx, path, (long)n, &ref, &nref));
  const double e = pnt_rel_err(x, ref, n);
  free(ref);
  return e;
}

/* The complex step is itself checked against an outside reference: the
 * PyTorch gradients of the `small` and `deep` bench problems (deep: rk38,
 * softplus, time input, 2 hidden layers, repeated labels at t0 and t_f).
 * For deep only the loss and ∂L/∂z0 are compared (20 solves instead of
 * 1331): a loss equal to PyTorch's to rounding proves the forward map and
 * its θ layout right, and the complex step of a right analytic map is right
 * in every direction; ∂L/∂z0 exercises the derivative through every layer,
 * activation and stage.  Tolerance 1e-11: tests/data/bench/README.md's agreement for
 * two correct implementations (measured here: ≤ 1e-15). */
static void cstep_reproduces_pytorch(void **state)
{
  (void)state;
  const char *names[2] = {"small", "deep"};
  for (int i = 0; i < 2; i++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", PINODE_BENCH_DIR, names[i]);
    pn_problem *pb = NULL;
    pnt_ok(pnt_ctx, pn_problem_read(pnt_ctx, dir, &pb));
    pn_tableau *tab = NULL;
    pn_loss *loss = NULL;
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, pb->scheme, &tab));
    pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, pb->nlabels, pb->times, pb->targets, NULL,
                                       pb->batch, pb->spec.dim, &loss));
    const size_t np = (size_t)pb->nparam, nz = (size_t)pb->batch * (size_t)pb->spec.dim;
    const int with_theta = i == 0;
    double *g = calloc(np + nz, sizeof *g), lc = 0.0;
    pnt_ok(pnt_ctx, pn_cstep_gradient(pnt_ctx, &pb->spec, tab, pb->t0, pb->t1, pb->steps,
                                      pb->batch, pb->z0, pb->theta, loss, &lc,
                                      with_theta ? g : NULL, g + np));
    const double el = ref_gap(dir, "loss.txt", &lc, 1);
    const double et = with_theta ? ref_gap(dir, "grad_theta.txt", g, np) : 0.0;
    const double ez = ref_gap(dir, "grad_z0.txt", g + np, nz);
    printf("# %s: complex step vs PyTorch: loss %.2e, theta %.2e%s, z0 %.2e\n", names[i], el,
           et, with_theta ? "" : " (not computed)", ez);
    assert_true(el <= 1e-11 && et <= 1e-11 && ez <= 1e-11);
    free(g);
    pn_loss_destroy(&loss);
    pn_tableau_destroy(&tab);
    pn_problem_destroy(&pb);
  }
}

/* ---- central finite differences ---------------------------------------- */

/* Central difference of pn_solver_loss in every θ and z0 entry, step
 * δ = 1e-5·max(1, |x|).  Its error is δ²/6·|L'''| (truncation) plus
 * ~ε·|L|/δ (rounding): both ≈ 1e-11 for these O(1) maps, so the
 * norm-wise relative gap to the exact gradient is expected near 1e-10; the
 * tolerance 1e-8 leaves a factor 100 and still fails for any real error. */
#define TOL_FD 1e-8

static void fd_gradient(const problem *p, const pn_tableau *tab, double *g)
{
  pn_model *m = NULL;
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = p->t0;
  o.t1 = p->t1;
  o.nsteps = p->nsteps;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &p->spec, &m));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  const size_t nz = (size_t)p->batch * (size_t)p->spec.dim, n = (size_t)p->P + nz;
  for (size_t i = 0; i < n; i++) {
    double *x = i < (size_t)p->P ? &p->theta[i] : &p->z0[i - (size_t)p->P];
    const double x0 = *x, d = 1e-5 * fmax(1.0, fabs(x0));
    double lp = 0, lm = 0;
    *x = x0 + d;
    pnt_ok(pnt_ctx, pn_solver_loss(S, p->theta, p->batch, p->z0, p->loss, &lp));
    *x = x0 - d;
    pnt_ok(pnt_ctx, pn_solver_loss(S, p->theta, p->batch, p->z0, p->loss, &lm));
    *x = x0;
    g[i] = (lp - lm) / (2.0 * d);
  }
  pn_solver_destroy(&S);
  pn_model_destroy(&m);
}

static void fd_case(const pn_tableau *tab, pn_activation act, int time_input, uint64_t seed,
                    double *worst)
{
  problem p;
  problem_make(&p, act, act, time_input, seed);
  const size_t nz = (size_t)p.batch * (size_t)p.spec.dim, n = (size_t)p.P + nz;
  double *gf = calloc(n, sizeof *gf), *gc = calloc(n, sizeof *gc), *ga = calloc(n, sizeof *ga);
  double lc = 0, la = 0;
  fd_gradient(&p, tab, gf);
  cstep_gradient(&p, tab, &lc, gc);
  adjoint_gradient(&p, tab, &la, ga);
  const double ec = pnt_rel_err(gf, gc, n), ea = pnt_rel_err(gf, ga, n);
  if (!(ec <= TOL_FD && ea <= TOL_FD))
    fail_msg("%s, %s: finite differences vs complex step %.3e, vs adjoint %.3e",
             pn_tableau_name(tab), pn_activation_name(act), ec, ea);
  *worst = fmax(*worst, fmax(ec, ea));
  free(gf);
  free(gc);
  free(ga);
  problem_free(&p);
}

/* Every scheme with tanh and time input; every activation with rk4.  ReLU
 * is included: with these seeds no pre-activation comes within δ of the
 * kink (it would show as an O(1) gap in one entry). */
static void finite_differences_agree(void **state)
{
  (void)state;
  int nnames = 0;
  const char *const *names = pn_tableau_names(&nnames);
  double worst = 0.0;
  for (int s = 0; s < nnames; s++) {
    pn_tableau *tab = NULL;
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[s], &tab));
    fd_case(tab, PN_ACT_TANH, 1, 300 + (uint64_t)s, &worst);
    pn_tableau_destroy(&tab);
  }
  pn_tableau *tab = NULL;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  for (int a = 0; a < NACTS; a++) fd_case(tab, all_acts[a], a % 2, 400 + (uint64_t)a, &worst);
  pn_tableau_destroy(&tab);
  printf("# worst finite-difference gap: %.3e\n", worst);
}

/* ---- the complex step's own contract ------------------------------------ */

static int quartic_loss(void *user, int label, double t, int b0, int nb, const double *z,
                        double *value, double *grad)
{
  (void)user;
  (void)label;
  (void)t;
  (void)b0;
  *value = 0;
  for (int i = 0; i < nb * 3; i++) {
    *value += z[i] * z[i] * z[i] * z[i];
    grad[i] = 4 * z[i] * z[i] * z[i];
  }
  return 0;
}

static void cstep_refuses_bad_input(void **state)
{
  (void)state;
  problem p;
  problem_make(&p, PN_ACT_TANH, PN_ACT_TANH, 0, 5);
  pn_tableau *tab = NULL;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "heun", &tab));
  double l = 0;
  /* A label between grid points fails as in the solver, naming the label. */
  pnt_fails_with(pnt_ctx,
                 pn_cstep_gradient(pnt_ctx, &p.spec, tab, p.t0, p.t1, p.nsteps + 1, p.batch, p.z0,
                                   p.theta, p.loss, &l, NULL, NULL),
                 PN_ERR_GRID, "label 1 at t = ");
  pn_loss *custom = NULL;
  const double t1 = p.t1;
  pnt_ok(pnt_ctx, pn_loss_create_custom(pnt_ctx, 1, &t1, p.batch, 3, quartic_loss, NULL, &custom));
  pnt_fails_with(pnt_ctx,
                 pn_cstep_gradient(pnt_ctx, &p.spec, tab, p.t0, p.t1, p.nsteps, p.batch, p.z0,
                                   p.theta, custom, &l, NULL, NULL),
                 PN_ERR_ARG, "MSE loss only");
  pnt_fails_with(pnt_ctx,
                 pn_cstep_gradient(pnt_ctx, &p.spec, tab, p.t0, p.t1, p.nsteps, p.batch + 1, p.z0,
                                   p.theta, p.loss, &l, NULL, NULL),
                 PN_ERR_ARG, "batch 2");
  pnt_fails_with(pnt_ctx,
                 pn_cstep_gradient(pnt_ctx, &p.spec, tab, p.t1, p.t0, p.nsteps, p.batch, p.z0,
                                   p.theta, p.loss, &l, NULL, NULL),
                 PN_ERR_ARG, "t0 < t1");
  /* A blow-up is reported, naming the perturbed input. */
  double *big = malloc(sizeof(double) * (size_t)p.P);
  for (int j = 0; j < p.P; j++) big[j] = 1e200;
  double g[200];
  pnt_fails_with(pnt_ctx,
                 pn_cstep_gradient(pnt_ctx, &p.spec, tab, p.t0, p.t1, p.nsteps, p.batch, p.z0,
                                   big, p.loss, NULL, g, NULL),
                 PN_ERR_NONFINITE, "theta[0]");
  free(big);
  pn_loss_destroy(&custom);
  pn_tableau_destroy(&tab);
  problem_free(&p);
}

/* Outputs may be NULL, and asking for a part gives the same numbers as
 * asking for all of it. */
static void cstep_partial_outputs(void **state)
{
  (void)state;
  problem p;
  problem_make(&p, PN_ACT_SILU, PN_ACT_SIGMOID, 1, 9);
  pn_tableau *tab = NULL;
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "ssprk3", &tab));
  const size_t nz = 6, n = (size_t)p.P + nz;
  double *all = calloc(n, sizeof *all), *part = calloc(n, sizeof *part), l = 0, l2 = 0;
  cstep_gradient(&p, tab, &l, all);
  pnt_ok(pnt_ctx, pn_cstep_gradient(pnt_ctx, &p.spec, tab, p.t0, p.t1, p.nsteps, p.batch, p.z0,
                                    p.theta, p.loss, NULL, part, NULL));
  pnt_ok(pnt_ctx, pn_cstep_gradient(pnt_ctx, &p.spec, tab, p.t0, p.t1, p.nsteps, p.batch, p.z0,
                                    p.theta, p.loss, &l2, NULL, part + p.P));
  assert_memory_equal(all, part, n * sizeof *all);
  assert_true(l == l2);
  free(all);
  free(part);
  pn_tableau_destroy(&tab);
  problem_free(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(cstep_reproduces_pytorch),
    cmocka_unit_test(every_scheme_activation_and_time_input),
    cmocka_unit_test(mixed_activations),
    cmocka_unit_test(finite_differences_agree),
    cmocka_unit_test(cstep_refuses_bad_input),
    cmocka_unit_test(cstep_partial_outputs),
};

PNT_MAIN("cstep", tests)
