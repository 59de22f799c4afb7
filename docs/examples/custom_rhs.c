/* custom_rhs.c: your own right-hand side, with its vector-Jacobian (VJP) and Jacobian-vector
 * (JVP) products, checked and used for exact gradients by the pipeline and by Newton shooting.
 *
 * Compile with (pinode installed under PREFIX):
 *   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
 *   mpicc -std=c11 custom_rhs.c $(pkg-config --cflags --libs pinode) \
 *     -Wl,-rpath,PREFIX/lib -lm -o custom_rhs
 * or build every example with CMake (find_package(pinode)):
 *   cmake -S docs/examples -B build-examples -DCMAKE_PREFIX_PATH=PREFIX
 *   cmake --build build-examples
 *
 * Sample run:
 *   $ mpiexec -n 2 ./custom_rhs
 *   model check: VJP in z 5.3e-11, in theta 4.9e-11; JVP against VJP 7.9e-17
 *   loss 1.6251357678
 *   pipeline  dL/dtheta = (2.4572630664, -9.2215247361)
 *   newton    dL/dtheta = (2.4572630664, -9.2215247361) after 2 sweeps, relative gap 7.7e-16
 *   central difference dL/dmu 2.4572630662 (gap 2.6e-10)
 *
 * Description:
 *   The van der Pol oscillator x' = v, v' = mu (1 - x^2) v - k x with theta = (mu, k), written
 *   as three callbacks over a batch of nb states (row-major, z[b*D + d]):
 *     rhs  f = f(t, z; theta);
 *     vjp  z_bar = (df/dz)^T a, overwritten, and theta_bar += (df/dtheta)^T a, accumulated;
 *     jvp  jv = (df/dz) v, one direction per state (optional: Newton shooting, which
 *          integrates D tangents, forms df/dz from D VJPs without it).
 *   pn_model_check compares both VJPs with central differences of rhs; a dot-product test,
 *   <a, J v> = <J^T a, v>, checks the JVP against the VJP.  Targets come from theta_true = (1, 1)
 *   at four times; the gradient at theta = (1.2, 0.8) is computed by the pipeline (the default
 *   method) and by Newton shooting, which agree to rounding, and dL/dmu is compared with a
 *   central difference of the loss.  Exits 1 if a check fails.
 */
#include <math.h>
#include <stdio.h>

#include <pinode.h>

enum { D = 2, P = 2, B = 4, K = 4 };

/* f(t, z; theta) for nb states. */
static int rhs(void *user, double t, int nb, const double *z, const double *theta, double *f)
{
  (void)user, (void)t;
  const double mu = theta[0], k = theta[1];
  for (int b = 0; b < nb; b++) {
    const double x = z[D * b], v = z[D * b + 1];
    f[D * b] = v;
    f[D * b + 1] = mu * (1.0 - x * x) * v - k * x;
  }
  return 0;
}

/* z_bar = (df/dz)^T a (overwritten); theta_bar += sum over b of (df_b/dtheta)^T a_b. */
static int vjp(void *user, double t, int nb, const double *z, const double *theta,
               const double *a, double *z_bar, double *theta_bar)
{
  (void)user, (void)t;
  const double mu = theta[0], k = theta[1];
  for (int b = 0; b < nb; b++) {
    const double x = z[D * b], v = z[D * b + 1], ax = a[D * b], av = a[D * b + 1];
    z_bar[D * b] = (-2.0 * mu * x * v - k) * av;
    z_bar[D * b + 1] = ax + mu * (1.0 - x * x) * av;
    theta_bar[0] += (1.0 - x * x) * v * av;
    theta_bar[1] -= x * av;
  }
  return 0;
}

/* jv = (df/dz) d, one direction d per state. */
static int jvp(void *user, double t, int nb, const double *z, const double *theta,
               const double *d, double *jv)
{
  (void)user, (void)t;
  const double mu = theta[0], k = theta[1];
  for (int b = 0; b < nb; b++) {
    const double x = z[D * b], v = z[D * b + 1], dx = d[D * b], dv = d[D * b + 1];
    jv[D * b] = dv;
    jv[D * b + 1] = (-2.0 * mu * x * v - k) * dx + mu * (1.0 - x * x) * dv;
  }
  return 0;
}

/* |<a, J d> - <J^T a, d>| / (|<a, J d>| + |<J^T a, d>|) at fixed states and directions. */
static double jvp_dot_test(const double *theta)
{
  const double z[B * D] = {0.3, -1.2, 1.5, 0.4, -0.7, 0.9, 2.0, -0.1};
  const double a[B * D] = {0.5, -0.2, 1.1, 0.7, -0.4, 0.3, 0.9, -1.3};
  const double d[B * D] = {-0.6, 0.8, 0.2, -1.0, 1.4, 0.1, -0.3, 0.5};
  double jd[B * D], ja[B * D], tbar[P] = {0, 0}, lhs = 0, rhs_dot = 0;
  jvp(NULL, 0.0, B, z, theta, d, jd);
  vjp(NULL, 0.0, B, z, theta, a, ja, tbar);
  for (int i = 0; i < B * D; i++) {
    lhs += a[i] * jd[i];
    rhs_dot += ja[i] * d[i];
  }
  return fabs(lhs - rhs_dot) / (fabs(lhs) + fabs(rhs_dot));
}

/* The gradient by one parallel method; *sweeps: Newton's sweeps (0 for the pipeline). */
static int gradient(pn_ctx *ctx, pn_model *model, const pn_tableau *tab, pn_solver_opts opts,
                    pn_parallel_method method, const double *theta, const double *z0,
                    const pn_loss *loss, double *L, double *grad, int *sweeps)
{
  pn_solver *solver = NULL;
  pn_stats stats;
  opts.method = method;
  int rc = pn_solver_create(ctx, model, tab, &opts, &solver);
  if (rc == PN_OK) rc = pn_solver_gradient(solver, theta, B, z0, loss, L, grad, NULL);
  if (rc == PN_OK) rc = pn_solver_get_stats(solver, &stats);
  *sweeps = rc == PN_OK ? stats.newton_iterations : 0;
  pn_solver_destroy(&solver);
  return rc;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const pn_model_ops ops = {.rhs = rhs, .vjp = vjp, .jvp = jvp};
  const double times[K] = {1.0, 2.0, 3.0, 4.0}, z0[B * D] = {2, 0, 1, 1, -1, 0.5, 0.5, -2};
  const long label_steps[K] = {100, 200, 300, 400};
  double theta_true[P] = {1.0, 1.0}, theta[P] = {1.2, 0.8}, targets[K * B * D];
  double z_err = 1, theta_err = 1, L = 0, Lp = 0, Lm = 0, g_pipe[P], g_newton[P], L_newton = 0;
  int sweeps = 0, unused = 0;
  pn_ctx *ctx = NULL;
  pn_model *model = NULL;
  pn_tableau *rk4 = NULL;
  pn_loss *loss = NULL;
  pn_solver *solver = NULL;
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.t1 = 4.0;
  opts.nsteps = 400;

  int rc = pn_ctx_create(MPI_COMM_WORLD, &ctx);
  if (rc == PN_OK) rc = pn_model_create(ctx, D, P, &ops, NULL, &model);
  if (rc == PN_OK) rc = pn_model_check(model, theta, B, 7, &z_err, &theta_err);
  if (rc == PN_OK) rc = pn_tableau_create(ctx, "rk4", &rk4);
  /* The targets: the states under theta_true at the label times. */
  if (rc == PN_OK) rc = pn_solver_create(ctx, model, rk4, &opts, &solver);
  if (rc == PN_OK) rc = pn_solver_forward(solver, theta_true, B, z0, K, label_steps, targets);
  if (rc == PN_OK) rc = pn_loss_create_mse(ctx, K, times, targets, NULL, B, D, &loss);
  if (rc == PN_OK)
    rc = gradient(ctx, model, rk4, opts, PN_PARALLEL_PIPELINE, theta, z0, loss, &L, g_pipe,
                  &unused);
  if (rc == PN_OK)
    rc = gradient(ctx, model, rk4, opts, PN_PARALLEL_NEWTON, theta, z0, loss, &L_newton,
                  g_newton, &sweeps);
  const double h = 1e-5; /* dL/dmu by a central difference of the loss */
  theta[0] += h;
  if (rc == PN_OK) rc = pn_solver_loss(solver, theta, B, z0, loss, &Lp);
  theta[0] -= 2 * h;
  if (rc == PN_OK) rc = pn_solver_loss(solver, theta, B, z0, loss, &Lm);
  theta[0] += h;

  const double fd = (Lp - Lm) / (2 * h), dot = jvp_dot_test(theta);
  const double gap = hypot(g_newton[0] - g_pipe[0], g_newton[1] - g_pipe[1]) /
                     hypot(g_pipe[0], g_pipe[1]);
  if (rc != PN_OK) {
    fprintf(stderr, "pinode: %s\n", ctx ? pn_ctx_last_error(ctx) : pn_strerror(rc));
  } else if (pn_ctx_rank(ctx) == 0) {
    printf("model check: VJP in z %.1e, in theta %.1e; JVP against VJP %.1e\n", z_err, theta_err,
           dot);
    printf("loss %.10f\n", L);
    printf("pipeline  dL/dtheta = (%.10f, %.10f)\n", g_pipe[0], g_pipe[1]);
    printf("newton    dL/dtheta = (%.10f, %.10f) after %d sweeps, relative gap %.1e\n",
           g_newton[0], g_newton[1], sweeps, gap);
    printf("central difference dL/dmu %.10f (gap %.1e)\n", fd, fabs(fd - g_pipe[0]));
  }
  /* 1e-7: the model check's finite differences; 1e-12: two exact gradients, rounding apart;
   * 1e-8: the central difference's O(h^2) error. */
  const int ok = rc == PN_OK && z_err < 1e-7 && theta_err < 1e-7 && dot < 1e-12 &&
                 gap < 1e-12 && L_newton == L && fabs(fd - g_pipe[0]) < 1e-8;
  pn_solver_destroy(&solver);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&rk4);
  pn_model_destroy(&model);
  pn_ctx_destroy(&ctx);
  MPI_Finalize();
  return ok ? 0 : 1;
}
