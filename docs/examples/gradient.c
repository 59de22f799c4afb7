/* gradient.c: the loss of a neural ODE and its exact gradient, the time split over the ranks.
 *
 * Compile with (pinode installed under PREFIX):
 *   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
 *   mpicc -std=c11 gradient.c $(pkg-config --cflags --libs pinode) \
 *     -Wl,-rpath,PREFIX/lib -o gradient
 * or build every example with CMake (find_package(pinode)):
 *   cmake -S docs/examples -B build-examples -DCMAKE_PREFIX_PATH=PREFIX
 *   cmake --build build-examples
 *
 * Sample run:
 *   $ mpiexec -n 2 ./gradient
 *   loss 1.548662, dL/dtheta[0] 3.194281e-01, dL/dz0[0] 6.232695e-01 on 2 ranks
 *
 * Description:
 *   A tanh network with 16 hidden units is the right-hand side of dz/dt = f(z; theta) for four
 *   samples of dimension 2; classical RK4 takes 100 steps over [0, 1]; the loss is the mean
 *   squared distance from the origin at t = 0.5 and t = 1.  pn_solver_gradient returns the loss,
 *   dL/dtheta and dL/dz0 on every rank: the exact gradient of what RK4 computed (its discrete
 *   adjoint), the same numbers on any number of ranks.  The library duplicates the
 *   communicator it is given and never exits: every call returns PN_OK or an error code whose
 *   message pn_ctx_last_error() gives, the same on every rank.
 */
#include <stdio.h>
#include <stdlib.h>

#include <pinode.h>

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  pn_ctx *ctx = NULL;
  pn_model *model = NULL;
  pn_tableau *rk4 = NULL;
  pn_loss *loss = NULL;
  pn_solver *solver = NULL;
  enum { D = 2, B = 4, K = 2 };
  const int widths[1] = {16};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {.dim = D, .nhidden = 1, .widths = widths, .acts = acts};
  double z0[B * D] = {1, 0, 0, 1, -1, 0, 0, -1};
  double times[K] = {0.5, 1.0}, targets[K * B * D] = {0};
  int rc = pn_ctx_create(MPI_COMM_WORLD, &ctx); /* the library duplicates the communicator */
  if (rc == PN_OK) rc = pn_model_create_mlp(ctx, &spec, &model);
  if (rc == PN_OK) rc = pn_tableau_create(ctx, "rk4", &rk4);
  if (rc == PN_OK) rc = pn_loss_create_mse(ctx, K, times, targets, NULL, B, D, &loss);
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.t0 = 0.0;
  opts.t1 = 1.0;
  opts.nsteps = 100; /* h = 0.01: both label times lie on the grid */
  if (rc == PN_OK) rc = pn_solver_create(ctx, model, rk4, &opts, &solver);
  const int P = rc == PN_OK ? pn_model_nparam(model) : 0;
  double *theta = calloc((size_t)P + 1, sizeof *theta), *grad = calloc((size_t)P + 1, sizeof *grad);
  double L = 0.0, gz0[B * D];
  if (!theta || !grad) rc = PN_ERR_MEM;
  if (rc == PN_OK) rc = pn_model_init_params(model, 42, theta); /* Glorot, seeded */
  if (rc == PN_OK) rc = pn_solver_gradient(solver, theta, B, z0, loss, &L, grad, gz0);
  if (rc != PN_OK) /* every rank gets the same code and message */
    fprintf(stderr, "pinode: %s\n", ctx ? pn_ctx_last_error(ctx) : pn_strerror(rc));
  else if (pn_ctx_rank(ctx) == 0)
    printf("loss %.6f, dL/dtheta[0] %.6e, dL/dz0[0] %.6e on %d ranks\n", L, grad[0], gz0[0],
           pn_ctx_size(ctx));
  free(theta);
  free(grad);
  pn_solver_destroy(&solver); /* destroy functions are NULL-safe */
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&rk4);
  pn_model_destroy(&model);
  pn_ctx_destroy(&ctx);
  MPI_Finalize();
  return rc == PN_OK ? 0 : 1;
}
