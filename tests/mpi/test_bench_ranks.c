/* The bench references (tests/data/bench, PyTorch autograd through a plain RK
 * loop in float64, see tests/data/bench/README.md) reproduced on 1..4 ranks: loss, ∂L/∂θ and
 * ∂L/∂z0 each to ≤ 1e-11 norm-wise relative, ≤ 1e-10 for `long`, whose
 * 20,000 steps accumulate rounding differently in any two correct
 * implementations (the agreement that README states).  The small problems run
 * with the automatic micro-batch count, M = 1 and M = B; `long` (20,000 RK4
 * steps) runs once, with the automatic M, to keep the test short. */
#include "pint_util.h"

typedef struct bench {
  const char *name;
  double tol;
  int all_m; /* also M = 1 and M = B */
} bench;

static const bench benches[] = {
    {"small", 1e-11, 1}, {"deep", 1e-11, 1}, {"spiral", 1e-11, 1},
    {"wide", 1e-11, 0},  {"long", 1e-10, 0},
};

static double *read_ref(const char *name, const char *file, size_t n)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/ref/%s", PINODE_BENCH_DIR, name, file);
  double *x = NULL;
  size_t got = 0;
  pmt_ok(pnt_ctx, pn_read_numbers(pnt_ctx, path, (long)n, &x, &got));
  pnt_assert_all(got == n, "%s: %zu numbers, expected %zu", path, got, n);
  return x;
}

static void run_bench(const bench *b)
{
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", PINODE_BENCH_DIR, b->name);
  pn_problem *p = NULL;
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pn_problem_read(pnt_ctx, dir, &p));
  pmt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &p->spec, &model));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, p->scheme, &tab));
  pmt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, p->nlabels, p->times, p->targets, NULL, p->batch,
                                     p->spec.dim, &loss));
  const size_t np = (size_t)p->nparam, nz = (size_t)p->batch * (size_t)p->spec.dim;
  double *ref_loss = read_ref(b->name, "loss.txt", 1);
  double *ref_theta = read_ref(b->name, "grad_theta.txt", np);
  double *ref_z0 = read_ref(b->name, "grad_z0.txt", nz);
  const int counts[3] = {0, 1, p->batch};
  for (int i = 0; i < (b->all_m ? 3 : 1); i++) {
    pn_solver_opts opts;
    pn_solver_opts_default(&opts);
    opts.t0 = p->t0;
    opts.t1 = p->t1;
    opts.nsteps = p->steps;
    opts.microbatches = counts[i];
    pmt_run r;
    pmt_ok(pnt_ctx, pmt_solve(pnt_ctx, model, tab, &opts, p->theta, p->batch, p->z0, loss, 0, &r));
    const double el = pmt_rel(r.loss, ref_loss[0]);
    const double eth = pnt_rel_err(r.grad, ref_theta, np), ez = pnt_rel_err(r.grad + np, ref_z0, nz);
    pnt_assert_all(el <= b->tol && eth <= b->tol && ez <= b->tol,
                   "%s on %d ranks, %d micro-batches: relative difference from the reference: "
                   "loss %.3e, dL/dtheta %.3e, dL/dz0 %.3e (tolerance %.0e)",
                   b->name, pn_ctx_size(pnt_ctx), r.microbatches, el, eth, ez, b->tol);
    pmt_run_free(&r);
  }
  free(ref_loss);
  free(ref_theta);
  free(ref_z0);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
  pn_problem_destroy(&p);
}

static void bench_small(void **state) { (void)state; run_bench(&benches[0]); }
static void bench_deep(void **state) { (void)state; run_bench(&benches[1]); }
static void bench_spiral(void **state) { (void)state; run_bench(&benches[2]); }
static void bench_wide(void **state) { (void)state; run_bench(&benches[3]); }
static void bench_long(void **state) { (void)state; run_bench(&benches[4]); }

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(bench_small), cmocka_unit_test(bench_deep), cmocka_unit_test(bench_spiral),
    cmocka_unit_test(bench_wide),  cmocka_unit_test(bench_long),
};

PNT_MAIN("bench_ranks", tests)
