/* The time-parallel pipeline reproduces the serial solver (docs/parallel.md):
 * on P ranks, for every scheme, for MLPs (every activation, with and without
 * time input) and user models, for micro-batch counts M = 1, 2, 7, B and the
 * automatic choice, and with checkpointed storage, the trajectory at every
 * grid index and ∂L/∂z0 are bitwise those of one rank (a solver over
 * MPI_COMM_SELF with the same micro-batches) and the loss and ∂L/∂θ agree to
 * 1e-13 relative (see PMT_TOL).  Run with mpiexec -n 1, 2, 3, 4. */
#include "pint_util.h"

/* N = 13 is prime, so blocks are uneven on 2, 3 and 4 ranks (4+3+3+3 on 4);
 * B = 10 makes M = 7 split unevenly (2,2,2,1,1,1,1). */
enum { NSTEPS = 13, BATCH = 10 };
static const long label_steps[] = {0, 5, 9, 13, 13};
#define NLABELS ((int)(sizeof label_steps / sizeof label_steps[0]))

typedef struct model_case {
  int user;  /* 0: pmt_mlps[index], 1: user model `index` */
  int index;
} model_case;

static const char *case_name(model_case mc)
{
  return mc.user ? pmt_user_names[mc.index] : pmt_mlps[mc.index].name;
}

static int make_model(pn_ctx *ctx, model_case mc, pn_model **model, double **theta)
{
  const uint64_t seed = 1000 + (uint64_t)(mc.user * 100 + mc.index);
  return mc.user ? pmt_user_create(ctx, mc.index, seed, model, theta)
                 : pmt_mlp_create(ctx, &pmt_mlps[mc.index], seed, model, theta);
}

/* One configuration: solve on every rank of pnt_ctx and on MPI_COMM_SELF, compare. */
static void compare_case(pn_ctx *self, const char *scheme, model_case mc, int M,
                         pn_storage_kind storage, long storage_param)
{
  pn_model *mpar = NULL, *mser = NULL;
  double *theta = NULL, *theta_ser = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, make_model(pnt_ctx, mc, &mpar, &theta));
  pmt_ok(self, make_model(self, mc, &mser, &theta_ser));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, scheme, &tab));
  const int D = pn_model_dim(mpar);
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.t0 = 0.25;
  opts.t1 = 1.75;
  opts.nsteps = NSTEPS;
  opts.microbatches = M;
  opts.storage = storage;
  opts.storage_param = storage_param;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &opts, NLABELS, label_steps, NULL, BATCH, D, 7, &loss));
  double *z0 = pmt_z0(BATCH, D, 11, mc.user && mc.index == PMT_USER_LV);
  pnt_assert_all(z0 != NULL, "out of memory");

  pmt_run par, ser;
  pmt_ok(pnt_ctx, pmt_solve(pnt_ctx, mpar, tab, &opts, theta, BATCH, z0, loss, 1, &par));
  /* The serial reference uses the micro-batches the parallel run used (an
   * automatic choice depends on P), always storing every state. */
  pn_solver_opts sopts = opts;
  sopts.microbatches = par.microbatches;
  sopts.storage = PN_STORE_ALL;
  pmt_ok(self, pmt_solve(self, mser, tab, &sopts, theta_ser, BATCH, z0, loss, 1, &ser));
  char what[256];
  snprintf(what, sizeof what, "%s, %s, M = %d%s, %d ranks", scheme, case_name(mc), M,
           storage == PN_STORE_EVERY ? ", every-k storage" : "", pn_ctx_size(pnt_ctx));
  pmt_expect_serial(&par, &ser, what);
  pnt_assert_all(M == 0 || par.microbatches == (M < BATCH ? M : BATCH),
                 "%s: asked for %d micro-batches, got %d", what, M, par.microbatches);
  /* The automatic choice: no pipeline on one rank, a pipeline on several. */
  const int P = pn_ctx_size(pnt_ctx);
  pnt_assert_all(M != 0 || (P == 1 ? par.microbatches == 1 : par.microbatches >= 2),
                 "%s: automatic choice of %d micro-batches on %d ranks", what, par.microbatches, P);
  /* A nonzero result: comparing zeros would prove nothing. */
  const double gth = pmt_norm(par.grad, par.np), gz = pmt_norm(par.grad + par.np, par.nz);
  pnt_assert_all(par.loss > 0 && gth > 0 && gz > 0,
                 "%s: degenerate problem (loss %g, |dL/dtheta| %g, |dL/dz0| %g)", what, par.loss,
                 gth, gz);
  pmt_run_free(&par);
  pmt_run_free(&ser);
  free(z0);
  free(theta);
  free(theta_ser);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&mpar);
  pn_model_destroy(&mser);
}

static void for_all_models(pn_ctx *self, const char *scheme, int M, pn_storage_kind storage,
                           long param)
{
  for (int i = 0; i < PMT_NMLP; i++)
    compare_case(self, scheme, (model_case){0, i}, M, storage, param);
  for (int i = 0; i < PMT_NUSER; i++)
    compare_case(self, scheme, (model_case){1, i}, M, storage, param);
}

/* Every scheme × every model, pipelined (M = 2) and not (M = 1). */
static void every_scheme_every_model(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  int nschemes = 0;
  const char *const *names = pn_tableau_names(&nschemes);
  pnt_assert_all(nschemes >= 9, "only %d schemes registered", nschemes);
  for (int s = 0; s < nschemes; s++) {
    for_all_models(self, names[s], 1, PN_STORE_ALL, 0);
    for_all_models(self, names[s], 2, PN_STORE_ALL, 0);
  }
  pn_ctx_destroy(&self);
}

/* Pipelining with M = 7 (uneven micro-batches), M = B (one sample each),
 * M > B (clamped to B) and the automatic M, for a 4-stage and a 7-stage scheme. */
static void microbatch_counts(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  const char *schemes[] = {"rk4", "dopri5", "heun"};
  const int counts[] = {7, BATCH, BATCH + 3, 0};
  for (int s = 0; s < 3; s++)
    for (int c = 0; c < 4; c++) for_all_models(self, schemes[s], counts[c], PN_STORE_ALL, 0);
  pn_ctx_destroy(&self);
}

/* Checkpointed storage (every 2nd / 3rd state, recomputing the rest) on P
 * ranks still reproduces the serial store-all run bit for bit. */
static void checkpointed_storage(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  for (int k = 2; k <= 3; k++) {
    for_all_models(self, "rk4", 2, PN_STORE_EVERY, k);
    for_all_models(self, "ssprk3", 7, PN_STORE_EVERY, k);
  }
  pn_ctx_destroy(&self);
}

/* A solver reused across calls with different batch sizes (its workspaces
 * are rebuilt, or kept when the batch size repeats) keeps reproducing a
 * fresh serial solver: nothing of one call leaks into the next. */
static void solver_reuse_across_batches(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  pn_model *mpar = NULL, *mser = NULL;
  double *theta = NULL, *theta_ser = NULL;
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, pmt_mlp_create(pnt_ctx, &pmt_mlps[1], 5, &mpar, &theta));
  pmt_ok(self, pmt_mlp_create(self, &pmt_mlps[1], 5, &mser, &theta_ser));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk38", &tab));
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.nsteps = NSTEPS;
  opts.microbatches = 3;
  pn_solver *spar = NULL;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, mpar, tab, &opts, &spar));
  const int D = pn_model_dim(mpar);
  const int batches[] = {5, 2, 9, 9, 1, 1};
  for (int i = 0; i < 6; i++) {
    const int B = batches[i];
    pn_loss *loss = NULL;
    pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &opts, NLABELS, label_steps, NULL, B, D, 3 + (uint64_t)i, &loss));
    double *z0 = pmt_z0(B, D, 20 + (uint64_t)i, 0);
    pmt_run par, ser;
    pnt_assert_all(z0 != NULL, "out of memory");
    pmt_ok(pnt_ctx, pmt_run_solver(spar, mpar, theta, B, z0, loss, 0, &par));
    pmt_ok(self, pmt_solve(self, mser, tab, &opts, theta_ser, B, z0, loss, 0, &ser));
    char what[96];
    snprintf(what, sizeof what, "reused solver, call %d (batch %d)", i, B);
    pmt_expect_serial(&par, &ser, what);
    pmt_run_free(&par);
    pmt_run_free(&ser);
    free(z0);
    pn_loss_destroy(&loss);
  }
  pn_solver_destroy(&spar);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&mpar);
  pn_model_destroy(&mser);
  free(theta);
  free(theta_ser);
  pn_ctx_destroy(&self);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_scheme_every_model),
    cmocka_unit_test(microbatch_counts),
    cmocka_unit_test(checkpointed_storage),
    cmocka_unit_test(solver_reuse_across_batches),
};

PNT_MAIN("pipeline_exact", tests)
