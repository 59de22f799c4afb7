/* Checkpointing inside the time-parallel solver: every storage policy gives
 * a loss and gradient bitwise identical to storing all states (same ranks,
 * same micro-batches), including c = 1, c ≥ N, N prime and labels on the
 * checkpoint positions; the recompute count is the binomial optimum; a
 * memory budget is met by the automatic choice and refused, with a setting
 * that fits, when an explicit one exceeds it.  Run with mpiexec -n 1..4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdecomp.h"
#include "testutil.h"
#include "traj.h"

/* A bench problem, optionally with another step count and other labels. */
typedef struct prob {
  pn_problem *p;
  pn_model *model;
  pn_tableau *tab;
  pn_loss *loss;
  long N;
  int K;
} prob;

static void prob_load(prob *pr, const char *name, long N, int K, const long *label_steps)
{
  memset(pr, 0, sizeof *pr);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", PINODE_BENCH_DIR, name);
  pnt_ok(pnt_ctx, pn_problem_read(pnt_ctx, dir, &pr->p));
  const pn_problem *p = pr->p;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &p->spec, &pr->model));
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, p->scheme, &pr->tab));
  pr->N = N > 0 ? N : p->steps;
  pr->K = label_steps ? K : p->nlabels;
  const size_t w = (size_t)p->batch * (size_t)p->spec.dim;
  double *times = calloc((size_t)pr->K + 1, sizeof(double));
  double *targets = calloc(((size_t)pr->K + 1) * w, sizeof(double));
  assert_true(times && targets);
  const double h = (p->t1 - p->t0) / (double)pr->N;
  for (int k = 0; k < pr->K; k++) {
    times[k] = label_steps ? p->t0 + (double)label_steps[k] * h : p->times[k];
    memcpy(targets + (size_t)k * w, p->targets + (size_t)(k % p->nlabels) * w, sizeof(double) * w);
  }
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, pr->K, times, targets, NULL, p->batch, p->spec.dim,
                                     &pr->loss));
  free(times);
  free(targets);
}

static void prob_free(prob *pr)
{
  pn_loss_destroy(&pr->loss);
  pn_tableau_destroy(&pr->tab);
  pn_model_destroy(&pr->model);
  pn_problem_destroy(&pr->p);
}

typedef struct result {
  double loss;
  double *grad; /* P then B×D */
  pn_stats st;
} result;

static size_t grad_len(const prob *pr)
{
  return (size_t)pr->p->nparam + (size_t)pr->p->batch * (size_t)pr->p->spec.dim;
}

/* One gradient with the given storage and method; returns the library's code. */
static int run_method(const prob *pr, pn_adjoint_kind adjoint, pn_sweep_mode mode,
                      pn_storage_kind kind, long param, int M, size_t limit, result *out)
{
  const pn_problem *p = pr->p;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = p->t0;
  o.t1 = p->t1;
  o.nsteps = pr->N;
  o.storage = kind;
  o.storage_param = param;
  o.microbatches = M;
  o.memory_limit = limit;
  pn_solver *S = NULL;
  out->grad = calloc(grad_len(pr), sizeof(double));
  assert_non_null(out->grad);
  int rc = pn_solver_create(pnt_ctx, pr->model, pr->tab, &o, &S);
  if (rc == PN_OK)
    rc = pn_solver_gradient_method(S, adjoint, mode, p->theta, p->batch, p->z0, pr->loss,
                                   &out->loss, out->grad, out->grad + p->nparam);
  if (rc == PN_OK) pn_solver_get_stats(S, &out->st);
  pn_solver_destroy(&S);
  return rc;
}

static int run(const prob *pr, pn_storage_kind kind, long param, int M, size_t limit, result *out)
{
  return run_method(pr, PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI, kind, param, M, limit, out);
}

/* Loss and gradient bit for bit equal to the reference (every rank holds
 * the same reduced numbers, so the verdict is the same everywhere). */
static void assert_bitwise(const prob *pr, const result *ref, const result *r, const char *what)
{
  const int same = memcmp(&ref->loss, &r->loss, sizeof(double)) == 0 &&
                   memcmp(ref->grad, r->grad, sizeof(double) * grad_len(pr)) == 0;
  pnt_assert_all(same, "%s: loss or gradient differs from all states (loss %.17g vs %.17g)", what,
                 r->loss, ref->loss);
}

/* Policy `kind:param` against all states at the same ranks and M; for
 * binomial, the recompute count must be the optimum for each block. */
static void check_same(const prob *pr, const result *ref, pn_storage_kind kind, long param, int M)
{
  char what[128];
  snprintf(what, sizeof what, "%s:%ld, N = %ld, M = %d, %d ranks",
           kind == PN_STORE_EVERY ? "every" : "binomial", param, pr->N, M, pn_ctx_size(pnt_ctx));
  result r;
  pnt_ok(pnt_ctx, run(pr, kind, param, M, 0, &r));
  assert_bitwise(pr, ref, &r, what);
  const long len = r.st.block_hi - r.st.block_lo;
  const long want = (long)r.st.microbatches * pni_traj_recompute(kind, param, len);
  pnt_assert_all(r.st.steps_recomputed == want, "%s: %ld steps recomputed, expected %ld", what,
                 r.st.steps_recomputed, want);
  pnt_assert_all(r.st.steps_recompute_min <= r.st.steps_recomputed &&
                     (kind != PN_STORE_BINOMIAL || r.st.steps_recompute_min == want),
                 "%s: optimum %ld vs %ld recomputed", what, r.st.steps_recompute_min,
                 r.st.steps_recomputed);
  pnt_assert_all(r.st.storage == kind && r.st.states_stored == pni_traj_states(kind, param, len),
                 "%s: stats report storage %d with %ld states", what, (int)r.st.storage,
                 r.st.states_stored);
  free(r.grad);
}

static void check_all_policies(const prob *pr, const long *cs, int nc, const long *ks, int nk)
{
  const int Ms[] = {1, 3};
  for (int i = 0; i < 2; i++) {
    result ref;
    pnt_ok(pnt_ctx, run(pr, PN_STORE_ALL, 0, Ms[i], 0, &ref));
    pnt_assert_all(ref.st.steps_recomputed == 0 && ref.st.storage == PN_STORE_ALL,
                   "all states recomputed %ld steps", ref.st.steps_recomputed);
    for (int c = 0; c < nc; c++) check_same(pr, &ref, PN_STORE_BINOMIAL, cs[c], Ms[i]);
    for (int k = 0; k < nk; k++) check_same(pr, &ref, PN_STORE_EVERY, ks[k], Ms[i]);
    free(ref.grad);
  }
}

/* The shared bench problems: c = 1, small c, c ≥ N, c ≥ the block. */
static void bench_problems(void **state)
{
  (void)state;
  prob pr;
  prob_load(&pr, "small", 0, 0, NULL); /* N = 10, euler, label at t1 */
  const long cs_small[] = {1, 2, 3, 9, 10, 11, 1000};
  const long ks_small[] = {1, 2, 3, 10};
  check_all_policies(&pr, cs_small, 7, ks_small, 4);
  prob_free(&pr);

  prob_load(&pr, "deep", 0, 0, NULL); /* N = 60, rk38, labels 0 20 30 30 45 60 */
  const long cs_deep[] = {1, 2, 3, 5, 14, 59, 60, 61};
  const long ks_deep[] = {2, 7, 60};
  check_all_policies(&pr, cs_deep, 8, ks_deep, 3);
  prob_free(&pr);

  prob_load(&pr, "spiral", 0, 0, NULL); /* N = 1000, rk4, B = 16, labels every 100 */
  const long cs_spiral[] = {20, 249, 1000}; /* small c: small and deep above */
  const long ks_spiral[] = {50};
  check_all_policies(&pr, cs_spiral, 3, ks_spiral, 1);
  prob_free(&pr);
}

/* Grid indices the binomial forward sweep checkpoints on every rank's block
 * (and where it leaves its working state), found by running the schedule. */
static int checkpoint_positions(long N, long c, long *out)
{
  int n = 0;
  const double z = 0.0;
  for (int r = 0; r < pn_ctx_size(pnt_ctx); r++) {
    long lo, hi;
    pn_split(N, pn_ctx_size(pnt_ctx), r, &lo, &hi);
    pni_traj tr;
    pnt_ok(pnt_ctx, pni_traj_init(&tr, pnt_ctx, PN_STORE_BINOMIAL, c, lo, hi, 1));
    for (long m = lo; m < hi; m++) pni_traj_record(&tr, m, &z);
    for (long i = 0; i < tr.depth; i++) out[n++] = tr.pos[i];
    if (tr.seg_start >= 0) out[n++] = tr.seg_start;
    out[n++] = hi; /* the block's right end, where λ is handed over */
    pni_traj_free(&tr);
  }
  return n;
}

/* N prime, so the blocks are uneven on 2, 3 and 4 ranks; labels on every
 * checkpoint of the schedule, on the working state, on the block ends and on
 * z_0, and on every k-th state for every-k. */
static void labels_on_checkpoints_prime_n(void **state)
{
  (void)state;
  enum { N = 61 };
  const long cs[] = {1, 2, 3, 5};
  for (int i = 0; i < 4; i++) {
    long steps[4 * 64 + 2];
    int K = checkpoint_positions(N, cs[i], steps);
    steps[K++] = 0;
    prob pr;
    prob_load(&pr, "deep", N, K, steps);
    result ref;
    pnt_ok(pnt_ctx, run(&pr, PN_STORE_ALL, 0, 2, 0, &ref));
    check_same(&pr, &ref, PN_STORE_BINOMIAL, cs[i], 2);
    free(ref.grad);
    prob_free(&pr);
  }
  long steps[N + 1];
  int K = 0;
  for (long m = 0; m <= N; m += 4) steps[K++] = m;
  steps[K++] = N;
  prob pr;
  prob_load(&pr, "deep", N, K, steps);
  result ref;
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_ALL, 0, 1, 0, &ref));
  check_same(&pr, &ref, PN_STORE_EVERY, 4, 1);
  check_same(&pr, &ref, PN_STORE_BINOMIAL, 4, 1);
  free(ref.grad);
  prob_free(&pr);
}

/* The other gradient methods read the same storage: single-point sweeps
 * (one per label, each from its label back to t0, so fetches restart inside
 * the block) and the interpolating continuous adjoint (z_n and z_{n+1} per
 * step) give the same bits with checkpoints as with all states. */
static void other_methods_use_the_same_storage(void **state)
{
  (void)state;
  prob pr;
  prob_load(&pr, "deep", 0, 0, NULL); /* labels 0 20 30 30 45 60 */
  const pn_adjoint_kind adj[] = {PN_ADJOINT_DISCRETE, PN_ADJOINT_CONTINUOUS_INTERP,
                                 PN_ADJOINT_CONTINUOUS_INTERP};
  const pn_sweep_mode mode[] = {PN_SWEEP_SINGLE, PN_SWEEP_MULTI, PN_SWEEP_SINGLE};
  const long cs[] = {1, 2, 4, 60};
  for (int i = 0; i < 3; i++) {
    result ref;
    pnt_ok(pnt_ctx, run_method(&pr, adj[i], mode[i], PN_STORE_ALL, 0, 2, 0, &ref));
    for (int c = 0; c < 4; c++) {
      result r;
      char what[128];
      snprintf(what, sizeof what, "%s adjoint, %s-point, binomial:%ld",
               pn_adjoint_kind_name(adj[i]), pn_sweep_mode_name(mode[i]), cs[c]);
      pnt_ok(pnt_ctx, run_method(&pr, adj[i], mode[i], PN_STORE_BINOMIAL, cs[c], 2, 0, &r));
      assert_bitwise(&pr, &ref, &r, what);
      free(r.grad);
    }
    result r;
    pnt_ok(pnt_ctx, run_method(&pr, adj[i], mode[i], PN_STORE_EVERY, 7, 2, 0, &r));
    assert_bitwise(&pr, &ref, &r, "every:7 with another method");
    free(r.grad);
    free(ref.grad);
  }
  prob_free(&pr);
}

static const long spiral_labels[] = {100, 200, 300};

/* Bytes of all states of this rank's block, summed over M micro-batches. */
static size_t traj_bytes(const prob *pr, const pn_stats *st, pn_storage_kind kind, long param)
{
  const int B = pr->p->batch, M = st->microbatches;
  size_t bytes = 0;
  for (int m = 0; m < M; m++)
    bytes += pni_traj_bytes(kind, param, st->block_lo, st->block_hi,
                            (size_t)(B / M + (m < B % M)) * (size_t)pr->p->spec.dim);
  return bytes;
}

static size_t max_over_ranks(size_t x)
{
  unsigned long v = (unsigned long)x, all = 0;
  MPI_Allreduce(&v, &all, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
  return (size_t)all;
}

static size_t min_over_ranks(size_t x)
{
  unsigned long v = (unsigned long)x, least = 0;
  MPI_Allreduce(&v, &least, 1, MPI_UNSIGNED_LONG, MPI_MIN, MPI_COMM_WORLD);
  return (size_t)least;
}

/* A budget below all states: auto picks, on each rank, the largest c whose
 * trajectory fits next to everything else the solver holds, stays within the
 * budget, and gives the same bits; a budget above all states keeps all. */
static void auto_fits_the_budget(void **state)
{
  (void)state;
  prob pr; /* spiral's network over 300 steps, labels at 100, 200, 300 */
  prob_load(&pr, "spiral", 300, 3, spiral_labels);
  const int Ms[] = {1, 2};
  for (int i = 0; i < 2; i++) {
    result ref, r;
    pnt_ok(pnt_ctx, run(&pr, PN_STORE_ALL, 0, Ms[i], 0, &ref));
    const size_t traj_all = traj_bytes(&pr, &ref.st, PN_STORE_ALL, 0);
    const size_t other = ref.st.bytes_solver - traj_all; /* workspaces, buffers, jumps */
    const size_t limit = max_over_ranks(other + traj_all / 5);
    pnt_ok(pnt_ctx, run(&pr, PN_STORE_AUTO, 0, Ms[i], limit, &r));
    assert_bitwise(&pr, &ref, &r, "auto under a budget");
    long c = 1; /* the largest c that fits, by search */
    while (other + traj_bytes(&pr, &ref.st, PN_STORE_BINOMIAL, c + 1) <= limit) c++;
    pnt_assert_all(r.st.storage == PN_STORE_BINOMIAL && r.st.storage_param == c,
                   "auto chose storage %d with c = %ld; expected binomial with c = %ld",
                   (int)r.st.storage, r.st.storage_param, c);
    pnt_assert_all(r.st.bytes_solver <= limit && r.st.bytes_limit == limit,
                   "auto holds %zu bytes, over its budget of %zu", r.st.bytes_solver, limit);
    pnt_assert_all(r.st.steps_recomputed == r.st.steps_recompute_min && r.st.steps_recomputed > 0,
                   "auto recomputed %ld steps, optimum %ld", r.st.steps_recomputed,
                   r.st.steps_recompute_min);
    free(r.grad);
    pnt_ok(pnt_ctx, run(&pr, PN_STORE_AUTO, 0, Ms[i], max_over_ranks(ref.st.bytes_solver), &r));
    pnt_assert_all(r.st.storage == PN_STORE_ALL && r.st.steps_recomputed == 0,
                   "auto with room for all states chose storage %d", (int)r.st.storage);
    assert_bitwise(&pr, &ref, &r, "auto with room");
    free(r.grad);
    free(ref.grad);
  }
  prob_free(&pr);
}

/* The stage tape when it fits and is estimated faster than all states:
 * `wide` (64 → 256 → 64, RK4): the tape saves 2·33088 flops per sample and
 * stage, 3.2 times the cost of its traffic (320 doubles written and read
 * back, at 4 flops a byte); below the tape's estimate all states, below
 * theirs binomial checkpointing; every choice gives the same bits. */
static void auto_prefers_the_tape_when_it_fits(void **state)
{
  (void)state;
  static const long labels[] = {10, 24};
  prob pr; /* wide's network and batch over 24 steps */
  prob_load(&pr, "wide", 24, 2, labels);
  result ref, tape, r;
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_ALL, 0, 1, 0, &ref));
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_STAGES, 0, 1, 0, &tape));
  assert_bitwise(&pr, &ref, &tape, "stages");
  /* Ranks hold different label jumps: limits that decide alike on all. */
  const size_t tape_bytes = max_over_ranks(tape.st.bytes_solver);
  const size_t tape_least = min_over_ranks(tape.st.bytes_solver);
  const size_t all_least = min_over_ranks(ref.st.bytes_solver);
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_BINOMIAL, 1, 1, 0, &r));
  pnt_assert_all(max_over_ranks(ref.st.bytes_solver) < tape_least &&
                     max_over_ranks(r.st.bytes_solver) < all_least,
                 "the tape holds no more than all states, or they no more than binomial:1");
  free(r.grad);
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_AUTO, 0, 1, tape_bytes, &r));
  pnt_assert_all(r.st.storage == PN_STORE_STAGES, "auto with room for the tape chose storage %d",
                 (int)r.st.storage);
  assert_bitwise(&pr, &ref, &r, "auto with room for the tape");
  free(r.grad);
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_AUTO, 0, 1, tape_least - 1, &r));
  pnt_assert_all(r.st.storage == PN_STORE_ALL, "auto with room for all states only chose %d",
                 (int)r.st.storage);
  assert_bitwise(&pr, &ref, &r, "auto with room for all states only");
  free(r.grad);
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_AUTO, 0, 1, all_least - 1, &r));
  pnt_assert_all(r.st.storage == PN_STORE_BINOMIAL, "auto below all states chose %d",
                 (int)r.st.storage);
  assert_bitwise(&pr, &ref, &r, "auto below all states");
  free(r.grad);
  /* A continuous adjoint reads no tape: auto keeps all states for it. */
  pnt_ok(pnt_ctx, run_method(&pr, PN_ADJOINT_CONTINUOUS_INTERP, PN_SWEEP_MULTI, PN_STORE_AUTO, 0,
                             1, tape_bytes, &r));
  pnt_assert_all(r.st.storage == PN_STORE_ALL, "auto for the continuous adjoint chose %d",
                 (int)r.st.storage);
  free(r.grad);
  free(tape.grad);
  free(ref.grad);
  prob_free(&pr);
}

/* An explicit storage over the budget is refused before allocating, with
 * the estimate, the limit, and settings that fit (which then do fit). */
static void over_budget_is_refused_with_a_setting_that_fits(void **state)
{
  (void)state;
  prob pr;
  prob_load(&pr, "spiral", 300, 3, spiral_labels);
  result ref, r;
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_ALL, 0, 1, 0, &ref));
  const size_t limit = max_over_ranks(ref.st.bytes_solver) - 1;
  char msg[1024];
  pnt_fails_with(pnt_ctx, run(&pr, PN_STORE_ALL, 0, 1, limit, &r), PN_ERR_LIMIT,
                 "more than the memory limit");
  free(r.grad);
  snprintf(msg, sizeof msg, "%s", pn_ctx_last_error(pnt_ctx));
  const char *at = strstr(msg, "binomial:");
  pnt_assert_all(at != NULL && strstr(msg, "would need") && (strstr(msg, " MB") || strstr(msg, " KB")),
                 "message lacks an estimate or a setting: %s", msg);
  long c = 0;
  pnt_assert_all(sscanf(at, "binomial:%ld fits", &c) == 1 && c >= 1, "no c in: %s", msg);
  /* The message comes from the lowest rank over its budget; its c fits
   * there (with 4 % to spare: at most auto's largest c, at least 95 % of it),
   * and auto fits everywhere. */
  pnt_ok(pnt_ctx, run(&pr, PN_STORE_AUTO, 0, 1, limit, &r));
  assert_bitwise(&pr, &ref, &r, "auto after a refusal");
  const long c_auto = r.st.storage_param;
  free(r.grad);
  if (pn_ctx_size(pnt_ctx) == 1) {
    pnt_assert_all(c <= c_auto && c >= c_auto - c_auto / 20, "suggested c = %ld, auto's c = %ld",
                   c, c_auto);
    pnt_ok(pnt_ctx, run(&pr, PN_STORE_BINOMIAL, c, 1, limit, &r));
    assert_bitwise(&pr, &ref, &r, "the suggested binomial:c");
    free(r.grad);
    pnt_fails_with(pnt_ctx, run(&pr, PN_STORE_BINOMIAL, c_auto + 1, 1, limit, &r), PN_ERR_LIMIT,
                   "storage binomial:");
    free(r.grad);
    const char *ev = strstr(msg, "every:");
    long k = 0;
    if (ev && sscanf(ev, "every:%ld", &k) == 1) {
      pnt_ok(pnt_ctx, run(&pr, PN_STORE_EVERY, k, 1, limit, &r));
      assert_bitwise(&pr, &ref, &r, "the suggested every:k");
      free(r.grad);
    }
  }
  /* Nothing fits: the workspaces alone exceed a tiny budget. */
  pnt_fails_with(pnt_ctx, run(&pr, PN_STORE_AUTO, 0, 1, 4096, &r), PN_ERR_LIMIT,
                 "no storage fits");
  free(r.grad);
  pnt_fails_with(pnt_ctx, run(&pr, PN_STORE_EVERY, 10, 1, 4096, &r), PN_ERR_LIMIT,
                 "storage every:10");
  free(r.grad);
  free(ref.grad);
  prob_free(&pr);
}

/* Options are checked when the solver is made. */
static void bad_storage_options(void **state)
{
  (void)state;
  prob pr;
  prob_load(&pr, "small", 0, 0, NULL);
  result r;
  pnt_fails_with(pnt_ctx, run(&pr, PN_STORE_BINOMIAL, 0, 1, 0, &r), PN_ERR_ARG, "c >= 1");
  free(r.grad);
  pnt_fails_with(pnt_ctx, run(&pr, (pn_storage_kind)42, 0, 1, 0, &r), PN_ERR_ARG,
                 "unknown trajectory storage 42");
  free(r.grad);
  prob_free(&pr);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(bench_problems),
    cmocka_unit_test(labels_on_checkpoints_prime_n),
    cmocka_unit_test(other_methods_use_the_same_storage),
    cmocka_unit_test(auto_fits_the_budget),
    cmocka_unit_test(auto_prefers_the_tape_when_it_fits),
    cmocka_unit_test(over_budget_is_refused_with_a_setting_that_fits),
    cmocka_unit_test(bad_storage_options),
};

PNT_MAIN("checkpoint", tests)
