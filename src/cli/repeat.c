/* pinode gradient --repeat R [--json FILE]: time repeated gradients.  A
 * gradient's time is that of the slowest rank (the ranks start together
 * after a barrier, and the result is ready only when every rank is done);
 * the per-phase times come from pn_stats on each rank and are gathered.
 * Each rank's process CPU time per gradient is reported too: on an idle
 * machine it equals the wall time (waiting ranks spin inside MPI), so a
 * smaller ratio means the ranks shared their cores with other work and the
 * wall times are not to be trusted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "repeat.h"

/* What each rank reports: medians over the repetitions of its pn_stats. */
enum { R_FWD, R_BWD, R_WAIT, R_CPU, R_BYTES, R_RSS, R_LO, R_HI, R_M, R_S0, R_S1, R_NFIELDS };

/* The JSON document (rank 0): problem shape, times per gradient, per rank;
 * formed in memory, then written atomically. */
static void json_body(json_writer *w, const cli_setup *s, const char *dir, int P, int R,
                      const double *t_sorted, double t_med, const double *ranks)
{
  const pn_problem *p = s->problem;
  json_open(w, NULL, '{');
  json_string(w, "problem", dir);
  json_string(w, "scheme", p->scheme);
  const pn_solver_opts *o = pn_solver_get_opts(s->solver);
  json_int(w, "ranks", P);
  json_int(w, "batch_groups", o->batch_groups > 1 ? o->batch_groups : 1);
  json_int(w, "microbatches", (long)ranks[R_M]);
  json_int(w, "steps", p->steps);
  json_int(w, "batch", p->batch);
  json_int(w, "dim", p->spec.dim);
  json_int(w, "nparam", p->nparam);
  json_int(w, "repeat", R);
  json_open(w, "time_per_gradient", '{');
  json_number(w, "median", t_med);
  json_number(w, "min", t_sorted[0]);
  json_number(w, "max", t_sorted[R - 1]);
  json_open(w, "samples_sorted", '[');
  for (int r = 0; r < R; r++) json_number(w, NULL, t_sorted[r]);
  json_close(w, ']');
  json_close(w, '}');
  /* The parallel method, and Parareal's iterations (of the last gradient). */
  pn_stats st;
  pn_solver_get_stats(s->solver, &st);
  json_string(w, "method", pn_parallel_method_name(o->method));
  if (o->method == PN_PARALLEL_PARAREAL) {
    json_open(w, "parareal", '{');
    json_int(w, "iterations", st.parareal_iterations);
    json_string(w, "adjoint", pn_parareal_adjoint_name(o->parareal.adjoint));
    json_int(w, "adjoint_iterations", st.parareal_adjoint_iterations);
    json_number(w, "tol", o->parareal.tol);
    json_int(w, "coarse_steps", o->parareal.coarse_steps);
    json_close(w, '}');
  }
  json_open(w, "per_rank", '[');
  for (int q = 0; q < P; q++) {
    const double *x = ranks + (size_t)q * R_NFIELDS;
    json_open(w, NULL, '{');
    json_int(w, "rank", q);
    json_int_pair(w, "block", (long)x[R_LO], (long)x[R_HI]);
    json_int_pair(w, "samples", (long)x[R_S0], (long)x[R_S1]);
    json_number(w, "time_forward", x[R_FWD]);
    json_number(w, "time_backward", x[R_BWD]);
    json_number(w, "time_wait", x[R_WAIT]);
    json_number(w, "cpu_time", x[R_CPU]);
    json_int(w, "bytes_solver", (long)x[R_BYTES]);
    json_int(w, "peak_rss_kb", (long)x[R_RSS]);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_close(w, '}');
}

static int write_json(pn_ctx *ctx, const char *path, const cli_setup *s, const char *dir, int R,
                      const double *t_sorted, double t_med, const double *ranks)
{
  cli_membuf m;
  const int rc = cli_membuf_open(ctx, &m, path);
  if (rc != PN_OK) return rc;
  json_writer w = {m.f, 0, {0}};
  json_body(&w, s, dir, pn_ctx_size(ctx), R, t_sorted, t_med, ranks);
  return cli_membuf_commit(ctx, &m, path);
}

static void print_summary(pn_ctx *ctx, int R, const double *t_sorted, double t_med,
                          const double *ranks)
{
  cli_print(ctx, "repeat %d: time per gradient median %.4g s, min %.4g s, max %.4g s\n", R, t_med,
            t_sorted[0], t_sorted[R - 1]);
  for (int q = 0; q < pn_ctx_size(ctx); q++) {
    const double *x = ranks + (size_t)q * R_NFIELDS;
    cli_print(ctx,
              "  rank %d: steps [%.0f, %.0f), samples [%.0f, %.0f), forward %.4g s, backward %.4g "
              "s, waiting %.4g s, CPU %.4g s (medians), solver %.1f MB, peak RSS %.1f MB\n",
              q, x[R_LO], x[R_HI], x[R_S0], x[R_S1], x[R_FWD], x[R_BWD], x[R_WAIT], x[R_CPU], x[R_BYTES] / 1048576.0,
              x[R_RSS] / 1024.0);
  }
}

int cli_repeat_gradients(MPI_Comm comm, pn_ctx *ctx, const cli_setup *s, const char *dir,
                         int repeat, const char *json_path, int quiet)
{
  const pn_problem *p = s->problem;
  const int R = repeat, P = pn_ctx_size(ctx), rank = pn_ctx_rank(ctx);
  const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
  double *grad = calloc(np + nz + 5 * (size_t)R, sizeof(double));
  double *ranks = calloc((size_t)P * R_NFIELDS, sizeof(double));
  int rc = PN_OK, ok = grad && ranks, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm); /* no rank goes on alone */
  if (!all) {
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for --repeat %d (on some rank)", R);
    goto cleanup;
  }
  double *t = grad + np + nz, *fwd = t + R, *bwd = fwd + R, *wait = bwd + R, *cpu = wait + R;
  pn_stats st;
  memset(&st, 0, sizeof st);
  double loss = 0.0;
  for (int r = 0; r < R && rc == PN_OK; r++) {
    MPI_Barrier(comm);
    const double t0 = MPI_Wtime(), c0 = cli_cpu_seconds();
    rc = pn_solver_gradient(s->solver, p->theta, p->batch, p->z0, s->loss, &loss, grad, grad + np);
    const double mine = MPI_Wtime() - t0;
    cpu[r] = cli_cpu_seconds() - c0;
    MPI_Allreduce(&mine, &t[r], 1, MPI_DOUBLE, MPI_MAX, comm);
    pn_solver_get_stats(s->solver, &st);
    fwd[r] = st.time_forward;
    bwd[r] = st.time_backward;
    wait[r] = st.time_wait;
  }
  if (rc != PN_OK) goto cleanup; /* the solver's errors are agreed on by every rank */
  const double local[R_NFIELDS] = {cli_median(fwd, R), cli_median(bwd, R), cli_median(wait, R),
                                   cli_median(cpu, R), (double)st.bytes_solver, (double)st.peak_rss_kb,
                                   (double)st.block_lo, (double)st.block_hi, (double)st.microbatches,
                                   (double)st.batch_lo, (double)st.batch_hi};
  MPI_Gather(local, R_NFIELDS, MPI_DOUBLE, ranks, R_NFIELDS, MPI_DOUBLE, 0, comm);
  const double t_med = cli_median(t, R); /* sorts t */
  if (!quiet) print_summary(ctx, R, t, t_med, ranks);
  ok = 1;
  if (json_path && rank == 0) ok = write_json(ctx, json_path, s, dir, R, t, t_med, ranks) == PN_OK;
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  if (!ok) rc = rank == 0 ? PN_ERR_IO : pn_ctx_fail(ctx, PN_ERR_IO, "rank 0 could not write %s", json_path);
cleanup:
  free(grad);
  free(ranks);
  return rc;
}
