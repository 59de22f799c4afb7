/* PN_STORE_STAGES (the stepper's tape: the adjoint recomputes nothing) gives
 * bitwise the loss and gradients of PN_STORE_ALL (which recomputes each
 * step's stages), on P ranks, for every scheme, for MLPs of every
 * activation, with 1, 3 and the automatic number of micro-batches; also for
 * single-point sweeps (the tape serves several backward sweeps) and for the
 * continuous adjoint (which uses the stored states only).  It holds more
 * (pn_stats.bytes_solver) and, under a memory limit it does not fit, is
 * refused with a message naming it.  Bitwise, not a tolerance: the taped
 * values are the ones the recomputation reproduces.  Run with mpiexec -n
 * 1, 2, 3, 4. */
#include "pint_util.h"

enum { NSTEPS = 13, BATCH = 10 };
static const long label_steps[] = {0, 5, 9, 13};
#define NLABELS ((int)(sizeof label_steps / sizeof label_steps[0]))

typedef struct outcome {
  double loss, *grad;
  size_t bytes;
} outcome;

static int solve(pn_model *model, const pn_tableau *tab, const pn_solver_opts *opts,
                 pn_adjoint_kind adjoint, pn_sweep_mode mode, const double *theta,
                 const double *z0, const pn_loss *loss, outcome *out)
{
  const size_t n = (size_t)pn_model_nparam(model) + (size_t)BATCH * (size_t)pn_model_dim(model);
  pn_solver *solver = NULL;
  out->grad = calloc(n, sizeof(double));
  int rc = pn_solver_create(pnt_ctx, model, tab, opts, &solver);
  if (rc == PN_OK)
    rc = pn_solver_gradient_method(solver, adjoint, mode, theta, BATCH, z0, loss, &out->loss,
                                   out->grad, out->grad + pn_model_nparam(model));
  pn_stats st;
  if (rc == PN_OK && pn_solver_get_stats(solver, &st) == PN_OK) out->bytes = st.bytes_solver;
  pn_solver_destroy(&solver);
  return rc;
}

static void compare(const char *scheme, int mlp, int M, pn_adjoint_kind adjoint,
                    pn_sweep_mode mode)
{
  pn_model *model = NULL;
  double *theta = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_mlp_create(pnt_ctx, &pmt_mlps[mlp], 77 + (uint64_t)mlp, &model, &theta));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, scheme, &tab));
  const int D = pn_model_dim(model);
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.t0 = -0.5;
  opts.t1 = 1.0;
  opts.nsteps = NSTEPS;
  opts.microbatches = M;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &opts, NLABELS, label_steps, NULL, BATCH, D, 5, &loss));
  double *z0 = pmt_z0(BATCH, D, 13, 0);
  outcome all = {0}, stages = {0};
  opts.storage = PN_STORE_ALL;
  pmt_ok(pnt_ctx, solve(model, tab, &opts, adjoint, mode, theta, z0, loss, &all));
  opts.storage = PN_STORE_STAGES;
  pmt_ok(pnt_ctx, solve(model, tab, &opts, adjoint, mode, theta, z0, loss, &stages));
  const size_t n = (size_t)pn_model_nparam(model) + (size_t)BATCH * (size_t)D;
  const long diff = pmt_first_diff(all.grad, stages.grad, n);
  pnt_assert_all(all.loss == stages.loss && diff < 0,
                 "%s, %s, M = %d, %s %s, %d ranks: stages differs from all (loss %.17g vs %.17g, "
                 "first gradient entry differing: %ld)",
                 scheme, pmt_mlps[mlp].name, M, pn_adjoint_kind_name(adjoint),
                 pn_sweep_mode_name(mode), pn_ctx_size(pnt_ctx), all.loss, stages.loss, diff);
  pnt_assert_all(stages.bytes > all.bytes, "%s: stages holds %zu bytes, all %zu", scheme,
                 stages.bytes, all.bytes);
  pnt_assert_all(pmt_norm(all.grad, n) > 0, "degenerate problem");
  free(all.grad);
  free(stages.grad);
  free(z0);
  free(theta);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
}

static void stages_equal_all(void **state)
{
  (void)state;
  int nschemes = 0;
  const char *const *schemes = pn_tableau_names(&nschemes);
  const int Ms[3] = {1, 3, 0};
  for (int sc = 0; sc < nschemes; sc++)
    for (int mlp = 0; mlp < PMT_NMLP; mlp++)
      compare(schemes[sc], mlp, Ms[(sc + mlp) % 3], PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI);
  compare("rk4", 0, 3, PN_ADJOINT_DISCRETE, PN_SWEEP_SINGLE);
  compare("rk38", 1, 2, PN_ADJOINT_CONTINUOUS_INTERP, PN_SWEEP_MULTI);
}

static void refused_when_too_big(void **state)
{
  (void)state;
  pn_model *model = NULL;
  double *theta = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_mlp_create(pnt_ctx, &pmt_mlps[0], 3, &model, &theta));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.nsteps = 2000;
  opts.storage = PN_STORE_STAGES;
  opts.memory_limit = 200000; /* the states fit, the tape (~1.8 MB) does not */
  const long at[1] = {2000};
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &opts, 1, at, NULL, BATCH, 3, 5, &loss));
  double *z0 = pmt_z0(BATCH, 3, 13, 0);
  pn_solver *solver = NULL;
  double L = 0.0, *g = calloc((size_t)pn_model_nparam(model) + BATCH * 3, sizeof(double));
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, model, tab, &opts, &solver));
  const int rc = pn_solver_gradient(solver, theta, BATCH, z0, loss, &L, g,
                                    g + pn_model_nparam(model));
  pnt_assert_all(rc == PN_ERR_LIMIT && strstr(pn_ctx_last_error(pnt_ctx), "stages"),
                 "a tape over the limit: code %d, message '%s'", rc, pn_ctx_last_error(pnt_ctx));
  pn_solver_destroy(&solver);
  free(g);
  free(z0);
  free(theta);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stages_equal_all),
      cmocka_unit_test(refused_when_too_big),
  };
  return pnt_main(argc, argv, "storage_stages", tests, sizeof tests / sizeof tests[0]);
}
