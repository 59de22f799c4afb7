/* An MPI failure inside the library comes back as PN_ERR_MPI with a message
 * that names the MPI call, what the solver was doing and MPI's own words,
 * on every rank; it does not abort the program (the context's communicator
 * returns errors), and the next call works.
 *
 * The failure is real: this program defines MPI_Allreduce (the profiling
 * interface lets a program do that), and while armed it passes the call on
 * to PMPI_Allreduce with an invalid count, so MPI itself reports the error.
 * Only calls on a communicator other than MPI_COMM_WORLD are touched: the
 * test harness's own agreement uses MPI_COMM_WORLD, pinode's duplicate. */
#include "pint_util.h"

static int armed;  /* fail the Allreduce of this number of elements (0: none) */
static long fired; /* failures injected */

int MPI_Allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op,
                  MPI_Comm comm)
{
  if (armed > 0 && count == armed && comm != MPI_COMM_WORLD) {
    fired++;
    return PMPI_Allreduce(in, out, -1, type, op, comm);
  }
  return PMPI_Allreduce(in, out, count, type, op, comm);
}

static void failed_allreduce_is_reported(void **state)
{
  (void)state;
  enum { B = 3, D = 2, N = 40 };
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_solver *solver = NULL;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, D, &model));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.nsteps = N;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, model, tab, &opts, &solver));
  const double times[1] = {1.0}, targets[B * D] = {0};
  pmt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, times, targets, NULL, B, D, &loss));
  const int P = pn_model_nparam(model);
  double theta[64] = {0}, grad[64], gz0[B * D], L = 0.0;
  const double z0[B * D] = {1, 0, 0, 1, -1, 0.5};
  for (int i = 0; i < P; i++) theta[i] = 0.1 * (i + 1) - 0.3;

  /* The Allreduce of dL/dθ (P doubles; P differs from every other count
   * the solver reduces: 1 for the loss and statuses, 2 for agreements). */
  armed = P;
  const int rc = pn_solver_gradient(solver, theta, B, z0, loss, &L, grad, gz0);
  armed = 0;
  pnt_assert_all(fired == 1, "the injected failure fired %ld times", fired);
  pnt_assert_all(rc == PN_ERR_MPI, "returned %d (%s): %s", rc, pn_strerror(rc),
                 pn_ctx_last_error(pnt_ctx));
  const char *msg = pn_ctx_last_error(pnt_ctx);
  pnt_assert_all(strstr(msg, "MPI_Allreduce failed") && strstr(msg, "summing dL/dtheta") &&
                     strstr(msg, "MPI_ERR_COUNT"),
                 "the message does not say which call failed, during what, and why: %s", msg);

  /* The communicator is intact: the next gradient works. */
  pmt_ok(pnt_ctx, pn_solver_gradient(solver, theta, B, z0, loss, &L, grad, gz0));
  pn_loss_destroy(&loss);
  pn_solver_destroy(&solver);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(failed_allreduce_is_reported),
};

PNT_MAIN("mpi_errors", tests)
