/* The stepper's tape (src/step.c): pni_step_record + pni_step_adjoint_record
 * must give bitwise the same states, λ and θ̄ as pni_step + pni_step_adjoint
 * (which recomputes the stages), for every scheme, for MLPs whose VJP keeps
 * activations (tanh) or derivatives (softplus), with time input, for several
 * micro-batch sizes sharing one tape; and misuse of records must fail with a
 * message.  (Bitwise, not a tolerance: the kept values are the very ones the
 * recomputation reproduces, so any difference is a bug.) */
#include <stdlib.h>
#include <string.h>

#include "step.h"
#include "testutil.h"

enum { STEPS = 6, BATCH = 7 };

static void compare_schemes(pn_activation act, int time_input)
{
  int nschemes = 0;
  const char *const *names = pn_tableau_names(&nschemes);
  const int widths[2] = {24, 9};
  const pn_activation acts[2] = {act, PN_ACT_TANH};
  const pn_mlp_spec spec = {3, 2, widths, acts, time_input};
  for (int sc = 0; sc < nschemes; sc++) {
    pn_model *m = NULL;
    pn_tableau *tab = NULL;
    pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &m));
    pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, names[sc], &tab));
    const size_t P = (size_t)pn_model_nparam(m), n = (size_t)BATCH * 3;
    double *th = malloc(sizeof(double) * P), *z = malloc(sizeof(double) * n * (STEPS + 1));
    double *zt = malloc(sizeof(double) * n * (STEPS + 1)), *lam = malloc(sizeof(double) * n);
    double *lamt = malloc(sizeof(double) * n), *tb = calloc(P, sizeof(double));
    double *tbt = calloc(P, sizeof(double));
    pnt_randn(th, P, 41, 0.5);
    pnt_randn(z, n, 42, 1.0);
    memcpy(zt, z, sizeof(double) * n);
    pnt_randn(lam, n, 43, 1.0);
    memcpy(lamt, lam, sizeof(double) * n);
    pni_stepper plain, taped;
    pnt_ok(pnt_ctx, pni_stepper_init(&plain, pnt_ctx, tab, m, BATCH));
    pnt_ok(pnt_ctx, pni_stepper_init(&taped, pnt_ctx, tab, m, BATCH));
    pnt_ok(pnt_ctx, pni_stepper_tape(&taped, 2 * STEPS));
    const double h = 0.13, t0 = 0.4;
    /* two micro-batches (rows [0, 4) and [4, 7)) on one tape: records k·STEPS + n */
    const int rows[3] = {0, 4, BATCH};
    for (int mb = 0; mb < 2; mb++) {
      const int nb = rows[mb + 1] - rows[mb];
      const size_t off = (size_t)rows[mb] * 3, stride = n;
      for (int s = 0; s < STEPS; s++) {
        const double t = t0 + s * h;
        pnt_ok(pnt_ctx, pni_step(&plain, t, h, nb, z + s * stride + off, th,
                                 z + (s + 1) * stride + off));
        pnt_ok(pnt_ctx, pni_step_record(&taped, mb * STEPS + s, t, h, nb, zt + s * stride + off,
                                        th, zt + (s + 1) * stride + off));
      }
    }
    assert_memory_equal(z, zt, sizeof(double) * n * (STEPS + 1));
    for (int mb = 1; mb >= 0; mb--) {
      const int nb = rows[mb + 1] - rows[mb];
      const size_t off = (size_t)rows[mb] * 3;
      for (int s = STEPS - 1; s >= 0; s--) {
        const double t = t0 + s * h;
        pnt_ok(pnt_ctx, pni_step_adjoint(&plain, t, h, nb, z + s * n + off, th, lam + off, tb));
        pnt_ok(pnt_ctx, pni_step_adjoint_record(&taped, mb * STEPS + s, t, h, nb, th,
                                                lamt + off, tbt));
      }
    }
    if (memcmp(lam, lamt, sizeof(double) * n) != 0 || memcmp(tb, tbt, sizeof(double) * P) != 0)
      fail_msg("scheme %s, %s, time input %d: the taped adjoint differs from the recomputed one",
               names[sc], pn_activation_name(act), time_input);
    /* Misuse: a record out of range, one never made, one made for other rows. */
    pnt_fails_with(pnt_ctx, pni_step_adjoint_record(&taped, 2 * STEPS, t0, h, 4, th, lamt, tbt),
                   PN_ERR_ARG, "does not exist");
    pnt_fails_with(pnt_ctx, pni_step_adjoint_record(&taped, 0, t0, h, 3, th, lamt, tbt),
                   PN_ERR_ARG, "holds a step of 4 states, not 3");
    pnt_ok(pnt_ctx, pni_stepper_tape(&taped, 3)); /* a new tape forgets the records */
    pnt_fails_with(pnt_ctx, pni_step_adjoint_record(&taped, 1, t0, h, 4, th, lamt, tbt),
                   PN_ERR_ARG, "record the step first");
    pnt_fails_with(pnt_ctx, pni_stepper_tape(&taped, 0), PN_ERR_ARG, "a tape of 0 records");
    pni_stepper_free(&plain);
    pni_stepper_free(&taped);
    pn_tableau_destroy(&tab);
    pn_model_destroy(&m);
    free(th);
    free(z);
    free(zt);
    free(lam);
    free(lamt);
    free(tb);
    free(tbt);
  }
}

static void tape_equals_recompute(void **state)
{
  (void)state;
  compare_schemes(PN_ACT_TANH, 0);
  compare_schemes(PN_ACT_SOFTPLUS, 1);
  compare_schemes(PN_ACT_SILU, 0);
}

/* The size estimate covers what pni_stepper_tape allocates, so the solver
 * can budget memory with it. */
static void tape_bytes_grow_with_records(void **state)
{
  (void)state;
  const int widths[1] = {50};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {2, 1, widths, acts, 0};
  pn_model *m = NULL;
  pn_tableau *tab = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &m));
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  const size_t b10 = pni_stepper_tape_bytes(tab, m, 16, 10);
  const size_t b20 = pni_stepper_tape_bytes(tab, m, 16, 20);
  /* per record: 4 stages × (16×2 inputs + 16×50 activations) doubles at least */
  assert_true(b20 - b10 >= 10 * 4 * (16 * 2 + 16 * 50) * sizeof(double));
  assert_true(pni_stepper_tape_bytes(tab, m, 16, 0) == 0);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tape_equals_recompute),
      cmocka_unit_test(tape_bytes_grow_with_records),
  };
  return pnt_main(argc, argv, "step_tape", tests, sizeof tests / sizeof tests[0]);
}
