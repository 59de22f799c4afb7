/* pinode bench --model --validate: the model against the real gradient on
 * the ranks the command runs on (see perfmodel.h).
 *
 * On an oversubscribed node a rank's wall time also counts the time other
 * ranks held its core, so there the model is held against each rank's busy
 * time: the smaller of two upper bounds of the time it computed, its process
 * CPU time (which also counts a waiting rank spinning inside MPI) and its
 * wall time outside MPI calls (the gradient's wall time less the solver's
 * pn_stats.time_mpi; it also counts the time the core was held by others
 * while the rank computed).  CPU time less the wall time inside MPI would not
 * do: a rank that yields its core while it waits uses less CPU than the wall
 * time it spends inside MPI. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "perfmodel.h"

/* The model's time per gradient of the method validated, at the iterations
 * it took. */
static double pred_time(const pm_model *m, const pm_validation *v, long N)
{
  switch (v->method) {
  case PN_PARALLEL_PARAREAL: return pm_parareal_time(m, N, v->P, v->K, v->KA);
  case PN_PARALLEL_NEWTON: return pm_newton_time(m, N, v->P, v->K, v->KA);
  default: return pm_pipe_time(m, N, v->P, v->M);
  }
}

/* The model's busy time of rank q owning n steps (blocks of nP). */
static double pred_busy(const pm_model *m, const pm_validation *v, int q, long n, long nP)
{
  switch (v->method) {
  case PN_PARALLEL_PARAREAL: return pm_parareal_busy(m, v->P, q, n, nP, v->K, v->KA);
  case PN_PARALLEL_NEWTON: return pm_newton_busy(m, v->P, q, n, nP, v->K, v->KA);
  default: return pm_pipe_busy(m, n, v->M);
  }
}

int pm_validate(MPI_Comm comm, pn_ctx *ctx, const char *dir, const pn_solver_opts *base,
                int repeat, const pm_model *m, const pm_host *host, double tol, pm_validation *v)
{
  const int P = pn_ctx_size(ctx), rank = pn_ctx_rank(ctx);
  pn_solver_opts opts = *base;
  opts.newton.no_warm = 1; /* every Newton gradient cold, as the first of a run */
  cli_setup s;
  int rc = cli_setup_problem(ctx, dir, &opts, &s);
  double *buf = NULL, *grad = NULL;
  if (rc != PN_OK) goto cleanup;
  const pn_problem *p = s.problem;
  const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
  grad = malloc(sizeof(double) * (np + nz));
  buf = calloc((size_t)repeat * V_NF + 2 * (size_t)P * V_NF + (size_t)repeat, sizeof(double));
  int ok = grad && buf, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  if (!all) {
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the validation");
    goto cleanup;
  }
  double *samples = buf, *ranks = buf + (size_t)repeat * V_NF;
  double *wall = ranks + 2 * (size_t)P * V_NF;
  double loss = 0.0;
  pn_stats st;
  memset(&st, 0, sizeof st);
  int fallbacks = 0;
  rc = pn_solver_gradient(s.solver, p->theta, p->batch, p->z0, s.loss, &loss, grad, grad + np);
  for (int r = 0; r < repeat && rc == PN_OK; r++) {
    MPI_Barrier(comm);
    const double w0 = MPI_Wtime(), c0 = cli_cpu_seconds();
    rc = pn_solver_gradient(s.solver, p->theta, p->batch, p->z0, s.loss, &loss, grad, grad + np);
    const double w = MPI_Wtime() - w0, c = cli_cpu_seconds() - c0;
    pn_solver_get_stats(s.solver, &st);
    fallbacks += st.newton_fallback != PN_NEWTON_NO_FALLBACK;
    double *x = samples + (size_t)r * V_NF;
    x[V_WALL] = w;
    x[V_CPU] = c;
    x[V_MPI] = st.time_mpi;
    x[V_BUSY] = fmin(c, w - st.time_mpi);
    x[V_BUSYW] = st.time_forward + st.time_backward - st.time_wait;
    x[V_FWD] = st.time_forward;
    x[V_BWD] = st.time_backward;
    x[V_WAIT] = st.time_wait;
    MPI_Allreduce(&w, &wall[r], 1, MPI_DOUBLE, MPI_MAX, comm);
  }
  if (rc != PN_OK) goto cleanup; /* the solver's errors are agreed on by every rank */
  double mine[2 * V_NF];
  double *tmp = malloc(sizeof(double) * (size_t)repeat);
  ok = tmp != NULL;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
  if (!ok) {
    free(tmp);
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the validation");
    goto cleanup;
  }
  for (int f = 0; f < V_NF; f++) {
    for (int r = 0; r < repeat; r++) tmp[r] = samples[(size_t)r * V_NF + f];
    mine[V_NF + f] = cli_median(tmp, repeat);
    mine[f] = tmp[0]; /* sorted by cli_median() */
  }
  free(tmp);
  mine[V_LO] = mine[V_NF + V_LO] = (double)st.block_lo;
  mine[V_HI] = mine[V_NF + V_HI] = (double)st.block_hi;
  MPI_Gather(mine, 2 * V_NF, MPI_DOUBLE, ranks, 2 * V_NF, MPI_DOUBLE, 0, comm);
  v->done = 1;
  v->method = base->method;
  const int newton = v->method == PN_PARALLEL_NEWTON;
  v->K = newton ? st.newton_iterations : st.parareal_iterations;
  v->KA = newton ? st.newton_coarse_iterations : st.parareal_adjoint_iterations;
  v->serial_start = newton && !st.newton_warm && st.newton_start == PN_NEWTON_START_COARSE;
  v->fallback = fallbacks > 0; /* the same on every rank: the solver agrees on it */
  v->P = P;
  v->M = v->method == PN_PARALLEL_PIPELINE ? st.microbatches : 1;
  v->repeat = repeat;
  v->oversubscribed = host->local_ranks > host->local_cpus;
  v->wall_med = cli_median(wall, repeat);
  v->wall_best = wall[0]; /* sorted by cli_median() */
  v->tol = tol;
  pm_model mv = *m;
  mv.newton_serial = v->serial_start;
  v->pred_wall = pred_time(&mv, v, p->steps);
  v->err_wall = (v->pred_wall - v->wall_best) / v->wall_best;
  v->err_wall_med = (v->pred_wall - v->wall_med) / v->wall_med;
  if (rank == 0) {
    v->ranks = malloc(sizeof(double) * 2 * (size_t)P * V_NF);
    v->pred_busy = malloc(sizeof(double) * (size_t)P);
    if (!v->ranks || !v->pred_busy) {
      rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the validation");
    } else {
      memcpy(v->ranks, ranks, sizeof(double) * 2 * (size_t)P * V_NF);
      double sp = 0.0, sm = 0.0;
      for (int q = 0; q < P; q++) {
        const double *x = ranks + 2 * (size_t)q * V_NF, *xm = x + V_NF;
        const long nq = (long)(x[V_HI] - x[V_LO]), nP = pm_largest_part(p->steps, P);
        v->pred_busy[q] = pred_busy(&mv, v, q, nq, nP);
        const double e = (v->pred_busy[q] - x[V_BUSY]) / x[V_BUSY];
        const double em = (v->pred_busy[q] - xm[V_BUSY]) / xm[V_BUSY];
        if (q == 0 || fabs(e) > fabs(v->err_busy)) v->err_busy = e;
        if (q == 0 || fabs(em) > fabs(v->err_busy_med)) v->err_busy_med = em;
        sp += v->pred_busy[q];
        sm += x[V_BUSY];
      }
      v->err_busy_sum = (sp - sm) / sm;
    }
  }
  MPI_Bcast(&v->err_busy, 1, MPI_DOUBLE, 0, comm);
  v->criterion = v->oversubscribed ? "busy time per rank (oversubscribed: more ranks than CPUs)"
                                   : "wall time per gradient";
  v->within = !v->fallback &&
              (v->oversubscribed ? fabs(v->err_busy) <= tol : fabs(v->err_wall) <= tol);
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc != PN_OK && rank != 0) rc = pn_ctx_fail(ctx, rc, "rank 0 ran out of memory");
cleanup:
  free(buf);
  free(grad);
  cli_setup_free(&s);
  return rc;
}

void pm_validation_free(pm_validation *v)
{
  free(v->ranks);
  free(v->pred_busy);
  v->ranks = v->pred_busy = NULL;
}
