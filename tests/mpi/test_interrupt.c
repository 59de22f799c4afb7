/* A caller's request to stop a running solver call (pn_ctx_set_interrupt)
 * on 1..4 ranks: made on every rank, on rank 0 only or on the last rank only,
 * in a gradient by each parallel method, in a loss and in a forward solve.
 * Every rank returns PN_ERR_INTERRUPTED with the requesting rank's message;
 * the same solver then computes bitwise the gradient it computed before (no
 * request is left in flight for a later call to find); and a call that would
 * run for seconds returns within half a second of a request made on one
 * rank only (the others look for it at least every 10 ms), also when that
 * rank is waiting for its neighbour's block (the wait polls). */
#include <time.h>

#include "pint_util.h"

enum { BATCH = 4 };

/* The caller's side: stop on `rank` (−1: every rank) once its poll has been
 * called more than `after` times. */
typedef struct request {
  int rank;
  long after, polls;
  double asked; /* MPI_Wtime() of the request, on the requesting rank */
} request;

static int poll_request(void *user)
{
  request *r = user;
  if (r->rank >= 0 && r->rank != pn_ctx_rank(pnt_ctx)) return 0;
  if (++r->polls <= r->after) return 0;
  if (r->asked == 0.0) r->asked = MPI_Wtime();
  return 1;
}

typedef struct problem {
  pn_model *model;
  pn_tableau *tab;
  pn_loss *loss;
  double *theta, *z0, *targets;
  int D;
} problem;

static void problem_make(problem *p)
{
  memset(p, 0, sizeof *p);
  pmt_ok(pnt_ctx, pmt_mlp_create(pnt_ctx, &pmt_mlps[0], 3, &p->model, &p->theta));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &p->tab));
  p->D = pn_model_dim(p->model);
  const double times[2] = {0.5, 1.0};
  p->z0 = calloc((size_t)BATCH * p->D, sizeof(double));
  p->targets = calloc(2 * (size_t)BATCH * p->D, sizeof(double));
  pnt_randn(p->z0, (size_t)BATCH * p->D, 5, 0.5);
  pnt_randn(p->targets, 2 * (size_t)BATCH * p->D, 6, 0.5);
  pmt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 2, times, p->targets, NULL, BATCH, p->D, &p->loss));
}

static void problem_free(problem *p)
{
  pn_loss_destroy(&p->loss);
  pn_tableau_destroy(&p->tab);
  pn_model_destroy(&p->model);
  free(p->theta);
  free(p->z0);
  free(p->targets);
}

/* Every rank returned PN_ERR_INTERRUPTED, with a message that says so. */
static void expect_interrupted(int rc, const char *what)
{
  const char *msg = pn_ctx_last_error(pnt_ctx);
  pnt_assert_all(rc == PN_ERR_INTERRUPTED, "%s: returned %d (%s): %s", what, rc, pn_strerror(rc),
                 msg);
  pnt_assert_all(strstr(msg, "interrupted at the") != NULL, "%s: message '%s'", what, msg);
}

static const char *const method_names[] = {"pipeline", "parareal", "newton"};

/* For each method and each requester: the gradient is interrupted on every
 * rank, then the same solver gives bitwise its earlier gradient. */
static void gradients_stop_on_every_rank(void **state)
{
  (void)state;
  problem p;
  problem_make(&p);
  const int P = pn_ctx_size(pnt_ctx);
  const size_t np = (size_t)pn_model_nparam(p.model), nz = (size_t)BATCH * p.D;
  double *ref = calloc(np + nz, sizeof(double)), *grad = calloc(np + nz, sizeof(double));
  for (int m = 0; m < 3; m++) {
    pn_solver_opts o;
    pn_solver_opts_default(&o);
    o.nsteps = 400;
    o.method = (pn_parallel_method)m;
    pn_solver *S = NULL;
    pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, p.tab, &o, &S));
    double L = 0.0, L2 = 0.0;
    pmt_ok(pnt_ctx, pn_solver_gradient(S, p.theta, BATCH, p.z0, p.loss, &L, ref, ref + np));
    const int requesters[3] = {-1, 0, P - 1};
    for (int k = 0; k < 3; k++) {
      request r = {requesters[k], 50, 0, 0.0};
      char what[96];
      snprintf(what, sizeof what, "%s, request on %s", method_names[m],
               k == 0 ? "every rank" : k == 1 ? "rank 0" : "the last rank");
      pn_ctx_set_interrupt(pnt_ctx, poll_request, &r);
      expect_interrupted(pn_solver_gradient(S, p.theta, BATCH, p.z0, p.loss, &L2, grad, grad + np),
                         what);
      r.after = 1L << 60; /* no request any more */
      pmt_ok(pnt_ctx, pn_solver_gradient(S, p.theta, BATCH, p.z0, p.loss, &L2, grad, grad + np));
      pn_ctx_set_interrupt(pnt_ctx, NULL, NULL);
      pnt_assert_all(L2 == L && memcmp(grad, ref, sizeof(double) * (np + nz)) == 0,
                     "%s: the next gradient differs from the one before the request", what);
    }
    pn_solver_destroy(&S);
  }
  free(ref);
  free(grad);
  problem_free(&p);
}

/* A loss, a forward solve and the continuous adjoint are interrupted too; a
 * request made while no call runs stops the next call at its first step. */
static void every_call_stops(void **state)
{
  (void)state;
  problem p;
  problem_make(&p);
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = 300;
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, p.tab, &o, &S));
  request r = {pn_ctx_size(pnt_ctx) - 1, 20, 0, 0.0};
  pn_ctx_set_interrupt(pnt_ctx, poll_request, &r);
  double L = 0.0, *states = calloc(2 * (size_t)BATCH * p.D, sizeof(double));
  const long steps[2] = {0, 300};
  expect_interrupted(pn_solver_loss(S, p.theta, BATCH, p.z0, p.loss, &L), "loss");
  expect_interrupted(pn_solver_forward(S, p.theta, BATCH, p.z0, 2, steps, states), "forward");
  expect_interrupted(pn_solver_gradient_method(S, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_MULTI,
                                               p.theta, BATCH, p.z0, p.loss, &L, NULL, NULL),
                     "continuous backsolve");
  r.rank = -1;
  r.after = 0; /* asked before the call: its first step stops */
  expect_interrupted(pn_solver_loss(S, p.theta, BATCH, p.z0, p.loss, &L), "loss asked before");
  pn_ctx_set_interrupt(pnt_ctx, NULL, NULL);
  pmt_ok(pnt_ctx, pn_solver_forward(S, p.theta, BATCH, p.z0, 2, steps, states));
  free(states);
  pn_solver_destroy(&S);
  problem_free(&p);
}

/* The bound: a loss over 4·10^6 steps (seconds of work on any rank count)
 * with a request on the last rank after its 200th step.  Newton shooting
 * keeps every rank stepping at once, so the others can only learn of the
 * request by looking for it; every rank returns within 0.5 s of it (the
 * promise is 10 ms plus a step and an agreement; the margin is for loaded
 * machines and sanitizer builds). */
static void stops_within_the_bound(void **state)
{
  (void)state;
  problem p;
  problem_make(&p);
  const int P = pn_ctx_size(pnt_ctx);
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = 4000000;
  o.method = P > 1 ? PN_PARALLEL_NEWTON : PN_PARALLEL_PIPELINE;
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, p.tab, &o, &S));
  request r = {P - 1, 200, 0, 0.0};
  pn_ctx_set_interrupt(pnt_ctx, poll_request, &r);
  double L = 0.0;
  MPI_Barrier(MPI_COMM_WORLD);
  const int rc = pn_solver_loss(S, p.theta, BATCH, p.z0, p.loss, &L);
  const double returned = MPI_Wtime();
  pn_ctx_set_interrupt(pnt_ctx, NULL, NULL);
  expect_interrupted(rc, "a loss of 4e6 steps");
  double asked = r.asked; /* the ranks of one node share MPI_Wtime's clock */
  MPI_Bcast(&asked, 1, MPI_DOUBLE, P - 1, MPI_COMM_WORLD);
  const double late = returned - asked;
  double latest = 0.0;
  MPI_Allreduce(&late, &latest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (pn_ctx_rank(pnt_ctx) == 0)
    printf("a request on rank %d: every rank returned within %.1f ms of it\n", P - 1,
           1e3 * latest);
  pnt_assert_all(asked > 0.0 && latest < 0.5, "the last rank returned %.3f s after the request",
                 latest);
  pn_solver_destroy(&S);
  problem_free(&p);
}

/* A rank waiting for its neighbour polls its caller: the pipeline's last
 * rank waits for the first block of a 4·10^6-step loss (seconds of work on
 * the ranks before it) and its caller asks to stop at once; every rank
 * returns within 0.5 s of the call's start, long before that block ends. */
static void a_waiting_rank_polls(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx);
  if (P == 1) return; /* nobody waits */
  problem p;
  problem_make(&p);
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = 4000000;
  o.method = PN_PARALLEL_PIPELINE;
  o.microbatches = 1;
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, p.tab, &o, &S));
  request r = {P - 1, 0, 0, 0.0};
  pn_ctx_set_interrupt(pnt_ctx, poll_request, &r);
  double L = 0.0;
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  const int rc = pn_solver_loss(S, p.theta, BATCH, p.z0, p.loss, &L);
  const double took = MPI_Wtime() - start;
  pn_ctx_set_interrupt(pnt_ctx, NULL, NULL);
  expect_interrupted(rc, "a loss whose last rank waits");
  double longest = 0.0;
  MPI_Allreduce(&took, &longest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (pn_ctx_rank(pnt_ctx) == 0)
    printf("a request on rank %d while it waits: every rank returned within %.1f ms\n", P - 1,
           1e3 * longest);
  pnt_assert_all(longest < 0.5, "a rank returned %.3f s after the call began", longest);
  pn_solver_destroy(&S);
  problem_free(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradients_stop_on_every_rank),
    cmocka_unit_test(every_call_stops),
    cmocka_unit_test(stops_within_the_bound),
    cmocka_unit_test(a_waiting_rank_polls),
};

PNT_MAIN("interrupt", tests)
