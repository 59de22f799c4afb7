/* The performance model's formulas (src/cli/perfmodel_formulas.c) against
 * numbers worked out by hand from a made-up calibration: Newton shooting's
 * time per gradient and busy time per rank, with and without the serial
 * coarse start, and batch groups.  The expected values are exact sums of a
 * few terms, so the formulas must match them to rounding (1e-12 relative). */
#include <math.h>

#include "perfmodel.h"
#include "testutil.h"

/* One sample per trajectory (B = 1), D = 4, 100 parameters; calibrated
 * b = 1 and 5: t = 3 and 8 µs/step, t_f = 1 and 2 µs/step, c = 2 µs; the
 * network without activations at the B·D = 4 tangent rows 0.5 µs/step; a
 * multiply-add 1 ns; L = 1 µs, W = 1 GB/s. */
static pm_cal_table table;
static pm_net net;

static pm_model model(int B)
{
  table.n = 2;
  table.pt[0] = (pm_cal_point){.b = 1, .t_step = 3e-6, .t_fwd = 1e-6, .fixed = 2e-6};
  table.pt[1] = (pm_cal_point){.b = 5, .t_step = 8e-6, .t_fwd = 2e-6, .fixed = 2e-6};
  table.lin = (pm_cal_point){.b = 4, .t_fwd = 0.5e-6};
  table.madd = 1e-9;
  net = (pm_net){.L = 1e-6, .W = 1e9};
  pm_net_rounds(&net, 100);
  return (pm_model){.fine = &table, .coarse = &table, .net = &net, .B = B, .D = 4, .nparam = 100};
}

static void near(double got, double want)
{
  if (!(fabs(got - want) <= 1e-12 * fabs(want)))
    fail_msg("got %.17g, want %.17g (by hand)", got, want);
}

/* N = 1000 on P = 2: n = 500 steps a block, g = ceil(500/16) = 32 coarse
 * steps, K = 2 fine and K_c = 2 coarse sweeps; a tangent step
 * t_T = t_f(1) + t_lin(4) = 1.5e-6.
 *   τ_T  = 500·t_T + c(1)             = 7.52e-4
 *   τ_Tc = 32·t_f(1)·t_T/t_f(1)       = 4.8e-5
 *   τ_B  = 500·(t(1) − t_f(1)) + c(1) = 1.002e-3
 *   x    = L + 8·B(D²+D)/W            = 1.16e-6
 *   μ-part = ⌈log2 2⌉·2B(D³+D²)·μ     = 1.6e-7
 *   σ    = 1·x + 1.6e-7               = 1.32e-6
 *   a    = 1·L                        = 1e-6
 *   C(2) = 7L + 8p/W + 8BD/W          = 7.832e-6
 *   T = 2(τ_Tc + x + σ + a) + 2(τ_T + x + σ + a) + σ + τ_B + C(2) = 2.625072e-3
 * and the serial coarse sweep adds (P−1)(32·t_f(1) + L + 8(BD+1)/W) = 3.304e-5. */
static void newton_time_by_hand(void **state)
{
  (void)state;
  pm_model m = model(1);
  near(pm_newton_time(&m, 1000, 2, 2, 2), 2.625072e-3);
  m.newton_serial = 1;
  near(pm_newton_time(&m, 1000, 2, 2, 2), 2.625072e-3 + 3.304e-5);
  m.newton_serial = 0;
  /* one rank: the serial sweep, 1000·t(1) + c(1) */
  near(pm_newton_time(&m, 1000, 1, 2, 2), 3.002e-3);
  /* given coarse steps: g = 10 instead of 32 takes 2·22·t_T = 6.6e-5 off */
  m.newton_coarse_steps = 10;
  near(pm_newton_time(&m, 1000, 2, 2, 2), 2.625072e-3 - 6.6e-5);
  assert_true(isnan(pm_newton_time(&m, 3, 4, 2, 2))); /* P > N */
  /* defaults: K = 2, K_c = ceil(log2 P) + 1 */
  assert_int_equal(pm_newton_default_K(), 2);
  assert_int_equal(pm_newton_default_Kc(2), 2);
  assert_int_equal(pm_newton_default_Kc(5), 4);
  assert_int_equal(pm_newton_default_Kc(64), 7);
}

/* Busy time: rank r sweeps min(K, r+1) fine and min(K_c, r+1) coarse times,
 * composes in every one of the K + K_c + 1 scans (5·1.6e-7 = 8e-7) and
 * runs its backward sweep:
 *   rank 0: τ_Tc + τ_T + 8e-7 + τ_B   = 1.8028e-3 (+ 32·t_f(1) = 3.2e-5 for the serial start)
 *   rank 1: 2τ_Tc + 2τ_T + 8e-7 + τ_B = 2.6028e-3 (the last rank: no serial hop). */
static void newton_busy_by_hand(void **state)
{
  (void)state;
  pm_model m = model(1);
  near(pm_newton_busy(&m, 2, 0, 500, 500, 2, 2), 1.8028e-3);
  near(pm_newton_busy(&m, 2, 1, 500, 500, 2, 2), 2.6028e-3);
  m.newton_serial = 1;
  near(pm_newton_busy(&m, 2, 0, 500, 500, 2, 2), 1.8028e-3 + 3.2e-5);
  near(pm_newton_busy(&m, 2, 1, 500, 500, 2, 2), 2.6028e-3);
}

/* B = 4 on P = 4 in G = 2 groups of 2 ranks: each group the pipeline of 2
 * samples, M = 1, n = 500: τ(2) = 500·t(2) + c with t(2) = 3e-6 + 5e-6/4
 * (interpolated) = 2.127e-3, msg(2) = L + 8(2D+1)/W = 1.072e-6;
 *   T = τ(2) + (2 − 1)(τ(2) + 2 msg(2)) + C(4),
 *   C(4) = 2(5A_1 + A_p + L + 8BD/W) with A_1 = L, A_p = L + 8p/W (not
 *   measured) = 1.5856e-5, so T = 4.272e-3. */
static void groups_by_hand(void **state)
{
  (void)state;
  pm_model m = model(4);
  near(pm_groups_time(&m, 1000, 4, 2, 1), 2 * 2.127e-3 + 2 * 1.072e-6 + 1.5856e-5);
  /* G = 1 is the pipeline itself */
  near(pm_groups_time(&m, 1000, 4, 1, 2), pm_pipe_time(&m, 1000, 4, 2));
  assert_true(isnan(pm_groups_time(&m, 1000, 4, 3, 1))); /* 3 does not divide 4 */
  assert_true(isnan(pm_groups_time(&m, 1000, 8, 8, 1))); /* more groups than samples */
  double t = 0.0;
  const int M = pm_groups_best_microbatches(&m, 1000, 4, 2, &t);
  assert_true(M >= 1 && M <= 2);
  near(t, pm_groups_time(&m, 1000, 4, 2, M));
  assert_true(t <= pm_groups_time(&m, 1000, 4, 2, 1) && t <= pm_groups_time(&m, 1000, 4, 2, 2));
  /* the best G > 1 on 4 ranks: 2 or 4, whichever is faster at its best M */
  double t2 = 0.0, t4 = 0.0, tb = 0.0;
  const int M2 = pm_groups_best_microbatches(&m, 1000, 4, 2, &t2);
  const int M4 = pm_groups_best_microbatches(&m, 1000, 4, 4, &t4);
  int Mb = 0;
  const int G = pm_best_groups(&m, 1000, 4, &Mb, &tb);
  assert_int_equal(G, t4 < t2 ? 4 : 2);
  assert_int_equal(Mb, t4 < t2 ? M4 : M2);
  near(tb, t4 < t2 ? t4 : t2);
  /* one rank, or one sample: no groups */
  assert_int_equal(pm_best_groups(&m, 1000, 1, &Mb, &tb), 0);
  assert_true(isnan(tb));
  pm_model one = model(1);
  assert_int_equal(pm_best_groups(&one, 1000, 4, &Mb, &tb), 0);
}

/* Allreduces measured on 4 ranks (2 rounds): 4 µs for one double, 6 µs for
 * the p = 100 gradient, so 2 and 3 µs a round against the assumed L = 1 µs
 * and L + 8p/W = 1.8 µs.  On P = 8 (3 rounds) the pipeline's collectives
 * then take 3·(5·(2 − 1) + (3 − 1.8)) µs = 18.6 µs more; a given latency
 * puts the assumed ones back. */
static void measured_allreduces_replace_the_assumed(void **state)
{
  (void)state;
  pm_model m = model(16);
  const double assumed = pm_pipe_time(&m, 1000, 8, 4);
  net.allreduce1_meas = 4e-6;
  net.allreduce_meas = 6e-6;
  net.allreduce_ranks = 4;
  pm_net_rounds(&net, 100);
  near(net.round_small, 2e-6);
  near(net.round_grad, 3e-6);
  near(pm_pipe_time(&m, 1000, 8, 4) - assumed, 18.6e-6);
  net.L_given = 1;
  pm_net_rounds(&net, 100);
  near(pm_pipe_time(&m, 1000, 8, 4), assumed);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(newton_time_by_hand),
    cmocka_unit_test(newton_busy_by_hand),
    cmocka_unit_test(groups_by_hand),
    cmocka_unit_test(measured_allreduces_replace_the_assumed),
};

PNT_MAIN("perfmodel_formulas", tests)
