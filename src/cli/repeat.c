/* pinode gradient --repeat R [--json FILE]: time repeated gradients.  A
 * gradient's time is that of the slowest rank (the ranks start together
 * after a barrier, and the result is ready only when every rank is done);
 * the per-phase times come from pn_stats on each rank and are gathered.
 * Each rank's process CPU time per gradient is reported too: on an idle
 * machine it equals the wall time (waiting ranks spin inside MPI), so a
 * smaller ratio means the ranks shared their cores with other work and the
 * wall times are not to be trusted.
 *
 * A method that warm-starts (Newton shooting) makes a repeat at the same θ
 * look free, which measures nothing a user meets.  It is timed twice:
 * cold, as the first gradient of a run (a solver that never warm-starts),
 * and warm, as in training: each gradient after one Adam step of θ from
 * the previous one (θ −= 1e-3·sign(∂L/∂θ), the size of Adam's first step).
 * The other methods carry nothing from one call to the next: each of their
 * repeats is both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "repeat.h"

/* What each rank reports: medians over the repetitions of its pn_stats. */
enum { R_FWD, R_BWD, R_WAIT, R_CPU, R_BYTES, R_RSS, R_LO, R_HI, R_M, R_S0, R_S1, R_NFIELDS };

/* The learning rate of the Adam step between warm gradients. */
#define WARM_STEP 1e-3

/* Times of R gradients: per gradient the slowest rank's wall time (sorted
 * when done), this rank's phases and CPU time, and the Newton sweeps of the
 * last one. */
typedef struct timing {
  int R;
  double *t, *fwd, *bwd, *wait, *cpu; /* R each */
  double t_med;
  int sweeps, coarse_sweeps, fallbacks;
  pn_stats last;
} timing;

static void json_times(json_writer *w, const char *key, const timing *tm)
{
  json_open(w, key, '{');
  json_number(w, "median", tm->t_med);
  json_number(w, "min", tm->t[0]);
  json_number(w, "max", tm->t[tm->R - 1]);
  json_open(w, "samples_sorted", '[');
  for (int r = 0; r < tm->R; r++) json_number(w, NULL, tm->t[r]);
  json_close(w, ']');
  json_close(w, '}');
}

/* The JSON document (rank 0): problem shape, times per gradient, per rank;
 * formed in memory, then written atomically.  warm: NULL for a method that
 * does not warm-start. */
static void json_body(json_writer *w, const cli_setup *s, const char *dir, int P,
                      const timing *cold, const timing *warm, const double *ranks)
{
  const int R = cold->R;
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
  json_times(w, "time_per_gradient", cold);
  json_times(w, "time_per_gradient_cold", cold);
  if (warm) json_times(w, "time_per_gradient_warm", warm);
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
  if (o->method == PN_PARALLEL_NEWTON) {
    json_open(w, "newton", '{');
    json_int(w, "sweeps_cold", cold->sweeps);
    json_int(w, "coarse_sweeps_cold", cold->coarse_sweeps);
    json_int(w, "sweeps_warm", warm ? warm->sweeps : 0);
    json_int(w, "coarse_sweeps_warm", warm ? warm->coarse_sweeps : 0);
    json_int(w, "fallbacks", cold->fallbacks + (warm ? warm->fallbacks : 0));
    json_number(w, "warm_step", WARM_STEP);
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

static int write_json(pn_ctx *ctx, const char *path, const cli_setup *s, const char *dir,
                      const timing *cold, const timing *warm, const double *ranks)
{
  cli_membuf m;
  const int rc = cli_membuf_open(ctx, &m, path);
  if (rc != PN_OK) return rc;
  json_writer w = {m.f, 0, {0}};
  json_body(&w, s, dir, pn_ctx_size(ctx), cold, warm, ranks);
  return cli_membuf_commit(ctx, &m, path);
}

static void print_summary(pn_ctx *ctx, const timing *cold, const timing *warm,
                          const double *ranks)
{
  const int R = cold->R;
  if (!warm) {
    cli_print(ctx, "repeat %d: time per gradient median %.4g s, min %.4g s, max %.4g s\n", R,
              cold->t_med, cold->t[0], cold->t[R - 1]);
  } else {
    cli_print(ctx,
              "repeat %d: time per gradient cold (as the first of a run) median %.4g s, min "
              "%.4g s, max %.4g s; %d sweeps (+ %d coarse) the last\n"
              "          warm (after an Adam step of %g) median %.4g s, min %.4g s, max %.4g "
              "s; %d sweeps (+ %d coarse) the last%s\n",
              R, cold->t_med, cold->t[0], cold->t[R - 1], cold->sweeps, cold->coarse_sweeps,
              WARM_STEP, warm->t_med, warm->t[0], warm->t[R - 1], warm->sweeps,
              warm->coarse_sweeps,
              cold->fallbacks + warm->fallbacks ? "; some fell back to the pipeline" : "");
  }
  for (int q = 0; q < pn_ctx_size(ctx); q++) {
    const double *x = ranks + (size_t)q * R_NFIELDS;
    cli_print(ctx,
              "  rank %d: steps [%.0f, %.0f), samples [%.0f, %.0f), forward %.4g s, backward %.4g "
              "s, waiting %.4g s, CPU %.4g s (medians), solver %.1f MB, peak RSS %.1f MB\n",
              q, x[R_LO], x[R_HI], x[R_S0], x[R_S1], x[R_FWD], x[R_BWD], x[R_WAIT], x[R_CPU], x[R_BYTES] / 1048576.0,
              x[R_RSS] / 1024.0);
  }
}

static void timing_free(timing *tm)
{
  free(tm->t);
  memset(tm, 0, sizeof *tm);
}

static int timing_alloc(timing *tm, int R)
{
  memset(tm, 0, sizeof *tm);
  tm->R = R;
  tm->t = calloc(5 * (size_t)R, sizeof(double));
  if (!tm->t) return 0;
  tm->fwd = tm->t + R;
  tm->bwd = tm->fwd + R;
  tm->wait = tm->bwd + R;
  tm->cpu = tm->wait + R;
  return 1;
}

/* θ −= lr·sign(g): the first step of Adam (m̂/√v̂ = g/|g|). */
static void adam_step(double *theta, const double *g, size_t n)
{
  for (size_t i = 0; i < n; i++) theta[i] -= WARM_STEP * (g[i] > 0 ? 1.0 : g[i] < 0 ? -1.0 : 0.0);
}

/* R gradients with `solver` at theta; with `step`, θ takes an Adam step
 * from the previous gradient (in grad on entry) before each. */
static int time_gradients(MPI_Comm comm, const cli_setup *s, pn_solver *solver, double *theta,
                          int step, double *grad, timing *tm)
{
  const pn_problem *p = s->problem;
  const size_t np = (size_t)p->nparam;
  double loss = 0.0;
  int rc = PN_OK;
  for (int r = 0; r < tm->R && rc == PN_OK; r++) {
    if (step) adam_step(theta, grad, np);
    MPI_Barrier(comm);
    const double t0 = MPI_Wtime(), c0 = cli_cpu_seconds();
    rc = pn_solver_gradient(solver, theta, p->batch, p->z0, s->loss, &loss, grad, grad + np);
    const double mine = MPI_Wtime() - t0;
    tm->cpu[r] = cli_cpu_seconds() - c0;
    MPI_Allreduce(&mine, &tm->t[r], 1, MPI_DOUBLE, MPI_MAX, comm);
    pn_solver_get_stats(solver, &tm->last);
    tm->fwd[r] = tm->last.time_forward;
    tm->bwd[r] = tm->last.time_backward;
    tm->wait[r] = tm->last.time_wait;
    tm->fallbacks += tm->last.newton_fallback != PN_NEWTON_NO_FALLBACK;
  }
  tm->sweeps = tm->last.newton_iterations;
  tm->coarse_sweeps = tm->last.newton_coarse_iterations;
  tm->t_med = rc == PN_OK ? cli_median(tm->t, tm->R) : 0.0; /* sorts t */
  return rc;
}

/* Newton: cold gradients with a solver that never warm-starts, then warm
 * ones with the caller's, each after an Adam step of θ. */
static int time_newton(MPI_Comm comm, pn_ctx *ctx, const cli_setup *s, double *theta,
                       double *grad, timing *cold, timing *warm)
{
  pn_solver_opts o = *pn_solver_get_opts(s->solver);
  o.newton.no_warm = 1;
  pn_solver *fresh = NULL;
  int rc = pn_solver_create(ctx, s->model, s->tab, &o, &fresh);
  if (rc == PN_OK) rc = time_gradients(comm, s, fresh, theta, 0, grad, cold);
  pn_solver_destroy(&fresh);
  if (rc == PN_OK) rc = time_gradients(comm, s, s->solver, theta, 1, grad, warm);
  return rc;
}

int cli_repeat_gradients(MPI_Comm comm, pn_ctx *ctx, const cli_setup *s, const char *dir,
                         int repeat, const char *json_path, int quiet)
{
  const pn_problem *p = s->problem;
  const int R = repeat, P = pn_ctx_size(ctx), rank = pn_ctx_rank(ctx);
  const int newton = pn_solver_get_opts(s->solver)->method == PN_PARALLEL_NEWTON;
  const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
  double *grad = calloc(2 * np + nz, sizeof(double));
  double *ranks = calloc((size_t)P * R_NFIELDS, sizeof(double));
  timing cold = {0}, warm = {0};
  int rc = PN_OK, ok = grad && ranks && timing_alloc(&cold, R) && timing_alloc(&warm, R), all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm); /* no rank goes on alone */
  if (!all) {
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for --repeat %d (on some rank)", R);
    goto cleanup;
  }
  double *theta = grad + np + nz; /* stepped by the warm gradients: a copy */
  memcpy(theta, p->theta, sizeof(double) * np);
  rc = newton ? time_newton(comm, ctx, s, theta, grad, &cold, &warm)
              : time_gradients(comm, s, s->solver, theta, 0, grad, &cold);
  if (rc != PN_OK) goto cleanup; /* the solver's errors are agreed on by every rank */
  const pn_stats *st = &cold.last;
  const double local[R_NFIELDS] = {cli_median(cold.fwd, R), cli_median(cold.bwd, R),
                                   cli_median(cold.wait, R), cli_median(cold.cpu, R),
                                   (double)st->bytes_solver, (double)st->peak_rss_kb,
                                   (double)st->block_lo, (double)st->block_hi,
                                   (double)st->microbatches, (double)st->batch_lo,
                                   (double)st->batch_hi};
  MPI_Gather(local, R_NFIELDS, MPI_DOUBLE, ranks, R_NFIELDS, MPI_DOUBLE, 0, comm);
  if (!quiet) print_summary(ctx, &cold, newton ? &warm : NULL, ranks);
  ok = 1;
  if (json_path && rank == 0)
    ok = write_json(ctx, json_path, s, dir, &cold, newton ? &warm : NULL, ranks) == PN_OK;
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  if (!ok) rc = rank == 0 ? PN_ERR_IO : pn_ctx_fail(ctx, PN_ERR_IO, "rank 0 could not write %s", json_path);
cleanup:
  timing_free(&cold);
  timing_free(&warm);
  free(grad);
  free(ranks);
  return rc;
}
