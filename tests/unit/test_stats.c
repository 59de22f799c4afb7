/* Reading the solver's statistics across versions (pinode/solver.h): pn_solver_get_stats_sized
 * copies exactly the caller's prefix of pn_stats and zeroes what the caller holds beyond the
 * library's struct, so that programs built against an older or a newer pn_stats read it
 * safely; the macro pn_solver_get_stats passes the caller's size, and the function of the same
 * name (for bindings) fills the whole struct. */
#include <stddef.h>
#include <string.h>

#include "testutil.h"

enum { D = 2, B = 3, N = 8, SPARE = 64, CANARY = 0xA5 };

/* A solver of the linear model after one gradient (its statistics are not all zero). */
static pn_solver *solved(pn_model **model, pn_tableau **tab, pn_loss **loss)
{
  const double theta[D * D] = {-0.5, 1.0, -1.0, -0.2}, z0[B * D] = {1, 0, 0, 1, 1, 1};
  const double times[1] = {1.0}, targets[B * D] = {0};
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.nsteps = N;
  pn_solver *S = NULL;
  double L = 0.0;
  pnt_ok(pnt_ctx, pn_model_create_linear(pnt_ctx, D, model));
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", tab));
  pnt_ok(pnt_ctx, pn_loss_create_mse(pnt_ctx, 1, times, targets, NULL, B, D, loss));
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, *model, *tab, &o, &S));
  pnt_ok(pnt_ctx, pn_solver_gradient(S, theta, B, z0, *loss, &L, NULL, NULL));
  return S;
}

static void sized_reads(void **state)
{
  (void)state;
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pn_solver *S = solved(&model, &tab, &loss);
  pn_stats whole;
  unsigned char buf[sizeof(pn_stats) + SPARE];
  memset(&whole, 0, sizeof whole);
  pnt_ok(pnt_ctx, pn_solver_get_stats(S, &whole));
  assert_true(whole.steps_forward == N && whole.rhs_evals >= 4 * N); /* RK4: 4 stages a step */

  /* An older, shorter struct: the fields up to time_forward, and a cut inside a field. */
  const size_t prefixes[] = {offsetof(pn_stats, time_forward), offsetof(pn_stats, batch_lo) + 2, 1};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    memset(buf, CANARY, sizeof buf);
    pnt_ok(pnt_ctx, pn_solver_get_stats_sized(S, (pn_stats *)(void *)buf, prefixes[i]));
    assert_memory_equal(buf, &whole, prefixes[i]);
    for (size_t j = prefixes[i]; j < sizeof buf; j++) assert_int_equal(buf[j], CANARY);
  }

  /* A newer, longer struct: the library's fields, then zeros, and nothing written beyond. */
  memset(buf, CANARY, sizeof buf);
  pnt_ok(pnt_ctx, pn_solver_get_stats_sized(S, (pn_stats *)(void *)buf, sizeof(pn_stats) + 32));
  assert_memory_equal(buf, &whole, sizeof(pn_stats));
  for (size_t j = sizeof(pn_stats); j < sizeof(pn_stats) + 32; j++) assert_int_equal(buf[j], 0);
  for (size_t j = sizeof(pn_stats) + 32; j < sizeof buf; j++) assert_int_equal(buf[j], CANARY);

  /* The function behind the macro (what a binding calls) fills the whole struct. */
  pn_stats by_symbol;
  memset(&by_symbol, 0, sizeof by_symbol);
  pnt_ok(pnt_ctx, (pn_solver_get_stats)(S, &by_symbol));
  assert_memory_equal(&by_symbol, &whole, sizeof whole);

  assert_int_equal(pn_solver_get_stats_sized(NULL, &whole, sizeof whole), PN_ERR_ARG);
  assert_int_equal(pn_solver_get_stats_sized(S, NULL, sizeof whole), PN_ERR_ARG);
  pn_solver_destroy(&S);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
}

static const struct CMUnitTest tests[] = {cmocka_unit_test(sized_reads)};
PNT_MAIN("stats", tests)
