/* Trajectory storage: storing every k-th state and recomputing the others
 * must not change a single bit of the loss or the gradient (docs/memory.md),
 * whatever k (1, divisors and non-divisors of N, N − 1, N, > N), scheme or
 * micro-batch count.  Tested through the solver, serially. */
#include <string.h>

#include "testutil.h"

enum { D = 3, H = 7, B = 5, N = 23 };

typedef struct run {
  double loss, g[(D + 1) * H + H + H * D + D + B * D];
  pn_stats stats;
} run;

static void solve(pn_model *m, const pn_tableau *tab, const double *theta, const double *z0,
                  const pn_loss *loss, pn_storage_kind kind, long k, int M, run *out)
{
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = -0.5;
  o.t1 = 1.0;
  o.nsteps = N;
  o.storage = kind;
  o.storage_param = k;
  o.microbatches = M;
  pn_solver *S = NULL;
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &o, &S));
  const int P = pn_model_nparam(m);
  pnt_ok(pnt_ctx, pn_solver_gradient(S, theta, B, z0, loss, &out->loss, out->g, out->g + P));
  pnt_ok(pnt_ctx, pn_solver_get_stats(S, &out->stats));
  pn_solver_destroy(&S);
}

static void every_k_equals_store_all_bitwise(void **state)
{
  (void)state;
  const int widths[1] = {H};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {D, 1, widths, acts, 1};
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &m));
  const int P = pn_model_nparam(m);
  double theta[(D + 1) * H + H + H * D + D], z0[B * D], y[3 * B * D];
  pnt_randn(theta, (size_t)P, 1, 0.6);
  pnt_randn(z0, B * D, 2, 1.0);
  pnt_randn(y, 3 * B * D, 3, 1.0);
  const double h = 1.5 / N, times[3] = {-0.5 + 4 * h, -0.5 + 11 * h, 1.0};
  pn_loss *loss = NULL;
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 3, times, y, NULL, B, D, &loss));
  const char *schemes[3] = {"rk4", "dopri5", "midpoint"};
  const long ks[8] = {1, 2, 3, 5, 22, 23, 24, 100};
  for (int s = 0; s < 3; s++) {
    pn_tableau *tab = NULL;
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, schemes[s], &tab));
    for (int M = 1; M <= 2; M++) {
      run all, every;
      solve(m, tab, theta, z0, loss, PN_STORE_ALL, 0, M, &all);
      assert_int_equal(all.stats.steps_recomputed, 0);
      for (int i = 0; i < 8; i++) {
        solve(m, tab, theta, z0, loss, PN_STORE_EVERY, ks[i], M, &every);
        if (all.loss != every.loss || memcmp(all.g, every.g, sizeof all.g) != 0)
          fail_msg("%s, M = %d: every-%ld storage changed the result", schemes[s], M, ks[i]);
        /* Recomputation happened (k > 1), at most once per step. */
        const long nseg = (N + ks[i] - 1) / ks[i];
        if (ks[i] > 1 && M == 1)
          assert_true(every.stats.steps_recomputed > 0 &&
                      every.stats.steps_recomputed <= N - nseg);
      }
    }
    pn_tableau_destroy(&tab);
  }
  pn_loss_destroy(&loss);
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_k_equals_store_all_bitwise),
};

PNT_MAIN("storage", tests)
