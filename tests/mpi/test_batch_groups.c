/* Batch groups (pn_solver_opts.batch_groups): the ranks form G groups, each
 * solving its share of the batch time-parallel on size/G ranks.  For every
 * G that divides the rank count, for pipelined and Parareal time
 * parallelism, several schemes, models and storages, the result is the
 * serial one: the trajectory at every grid index and ∂L/∂z0 bitwise (a
 * sample's states and adjoint do not depend on which samples share its
 * solve; with Parareal ∂L/∂z0 to PMT_TOL, as on one group), the loss and
 * ∂L/∂θ to PMT_TOL (only the order of their sums changes).  Also: the stats name each rank's samples, a solver reused with
 * batches whose shares change (Parareal's collective setup must be redone
 * by every group), and the options and batches that cannot be split are
 * refused with the same message on every rank.  Run with mpiexec -n 1..4. */
#include "pint_util.h"

/* N = 13 (prime: uneven time blocks); B = 10: shares 4+3+3 on 3 groups,
 * 3+3+2+2 on 4. */
enum { NSTEPS = 13, BATCH = 10 };
static const long label_steps[] = {0, 4, 9, 13, 13};
#define NLABELS ((int)(sizeof label_steps / sizeof label_steps[0]))

typedef struct setting {
  const char *scheme;
  int mlp;       /* index into pmt_mlps, or −1: the user model PMT_USER_WAVE */
  int M;         /* micro-batches per group (0: automatic) */
  pn_storage_kind storage;
  long param;
  pn_parallel_method method;
  pn_parareal_adjoint padj;
} setting;

static int make_model(pn_ctx *ctx, int mlp, pn_model **model, double **theta)
{
  return mlp >= 0 ? pmt_mlp_create(ctx, &pmt_mlps[mlp], 300 + (uint64_t)mlp, model, theta)
                  : pmt_user_create(ctx, PMT_USER_WAVE, 399, model, theta);
}

/* One setting with G groups against the serial solver. */
static void compare(pn_ctx *self, const setting *s, int G)
{
  pn_model *mpar = NULL, *mser = NULL;
  double *theta = NULL, *theta_ser = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, make_model(pnt_ctx, s->mlp, &mpar, &theta));
  pmt_ok(self, make_model(self, s->mlp, &mser, &theta_ser));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, s->scheme, &tab));
  const int D = pn_model_dim(mpar);
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.t0 = 0.5;
  opts.t1 = 1.8;
  opts.nsteps = NSTEPS;
  opts.microbatches = s->M;
  opts.storage = s->storage;
  opts.storage_param = s->param;
  opts.method = s->method;
  opts.parareal.adjoint = s->padj;
  opts.batch_groups = G;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &opts, NLABELS, label_steps, NULL, BATCH, D, 17, &loss));
  double *z0 = pmt_z0(BATCH, D, 19, 0);
  pnt_assert_all(z0 != NULL, "out of memory");
  pmt_run par, ser;
  pmt_ok(pnt_ctx, pmt_solve(pnt_ctx, mpar, tab, &opts, theta, BATCH, z0, loss, 1, &par));
  pn_solver_opts sopts = opts;
  sopts.batch_groups = 1;
  sopts.method = PN_PARALLEL_PIPELINE;
  sopts.microbatches = par.microbatches; /* any split gives the same bits; this one the same M */
  sopts.storage = PN_STORE_ALL;
  pmt_ok(self, pmt_solve(self, mser, tab, &sopts, theta_ser, BATCH, z0, loss, 1, &ser));
  char what[256];
  snprintf(what, sizeof what, "%s, %s, M = %d, %s, %d batch groups on %d ranks", s->scheme,
           s->mlp >= 0 ? pmt_mlps[s->mlp].name : "user model", s->M,
           pn_parallel_method_name(s->method), G, pn_ctx_size(pnt_ctx));
  pmt_expect_serial_z0(&par, &ser, s->method == PN_PARALLEL_PIPELINE, what);
  const double gth = pmt_norm(par.grad, par.np), gz = pmt_norm(par.grad + par.np, par.nz);
  pnt_assert_all(par.loss > 0 && gth > 0 && gz > 0, "%s: degenerate problem", what);
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

/* Every G dividing the rank count (G = 1: the time-parallel solver alone). */
static void every_group_count(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  const setting settings[] = {
      {"rk4", 0, 0, PN_STORE_ALL, 0, PN_PARALLEL_PIPELINE, 0},
      {"rk4", 0, 2, PN_STORE_STAGES, 0, PN_PARALLEL_PIPELINE, 0},
      {"dopri5", 1, 3, PN_STORE_EVERY, 3, PN_PARALLEL_PIPELINE, 0},
      {"ssprk3", 6, 1, PN_STORE_BINOMIAL, 2, PN_PARALLEL_PIPELINE, 0},
      {"heun", -1, 2, PN_STORE_ALL, 0, PN_PARALLEL_PIPELINE, 0},
      {"rk4", 2, 1, PN_STORE_ALL, 0, PN_PARALLEL_PARAREAL, PN_PARAREAL_ADJOINT_ITERATE},
      {"rk4", 0, 1, PN_STORE_ALL, 0, PN_PARALLEL_PARAREAL, PN_PARAREAL_ADJOINT_MAPS},
  };
  const int size = pn_ctx_size(pnt_ctx);
  for (int G = 1; G <= size; G++) {
    if (size % G) continue;
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) compare(self, &settings[i], G);
  }
  pn_ctx_destroy(&self);
}

/* The stats say which samples each rank solved: its group's share. */
static void stats_name_the_samples(void **state)
{
  (void)state;
  const int size = pn_ctx_size(pnt_ctx), rank = pn_ctx_rank(pnt_ctx);
  pn_model *m = NULL;
  double *theta = NULL;
  pn_tableau *tab = NULL;
  pn_solver *S = NULL;
  pmt_ok(pnt_ctx, make_model(pnt_ctx, 0, &m, &theta));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.nsteps = NSTEPS;
  opts.batch_groups = size;
  pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &opts, &S));
  const int D = pn_model_dim(m);
  double *z0 = pmt_z0(BATCH, D, 5, 0), L = 0.0;
  pmt_ok(pnt_ctx, pn_solver_loss(S, theta, BATCH, z0, NULL, &L));
  pn_stats st;
  pmt_ok(pnt_ctx, pn_solver_get_stats(S, &st));
  /* G = size: one rank per group, which solves all N steps of its share */
  const int per = BATCH / size, extra = BATCH % size;
  const int lo = rank * per + (rank < extra ? rank : extra), hi = lo + per + (rank < extra);
  pnt_assert_all(st.batch_group == rank && st.batch_lo == lo && st.batch_hi == hi &&
                     st.block_lo == 0 && st.block_hi == NSTEPS,
                 "rank %d: group %d, samples [%d, %d), steps [%ld, %ld); expected group %d, "
                 "samples [%d, %d), steps [0, %d)",
                 rank, st.batch_group, st.batch_lo, st.batch_hi, st.block_lo, st.block_hi, rank,
                 lo, hi, NSTEPS);
  free(z0);
  free(theta);
  pn_solver_destroy(&S);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

/* A solver reused with batches whose shares change in some groups only
 * (with 2 groups: 5 → 3+2, 4 → 2+2, 7 → 4+3, 2 → 1+1) keeps giving the
 * serial result; with Parareal's maps every group must redo the collective
 * setup whenever the caller's batch changes (one that skipped it would
 * leave the others waiting). */
static void reuse_with_changing_shares(void **state)
{
  (void)state;
  const int size = pn_ctx_size(pnt_ctx);
  if (size % 2) skip();
  pn_ctx *self = pmt_self_ctx();
  pn_model *mpar = NULL, *mser = NULL;
  double *theta = NULL, *theta_ser = NULL;
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, make_model(pnt_ctx, 1, &mpar, &theta));
  pmt_ok(self, make_model(self, 1, &mser, &theta_ser));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  const int D = pn_model_dim(mpar);
  for (int method = 0; method < 2; method++) {
    pn_solver_opts opts;
    pn_solver_opts_default(&opts);
    opts.nsteps = NSTEPS;
    opts.batch_groups = 2;
    opts.method = method ? PN_PARALLEL_PARAREAL : PN_PARALLEL_PIPELINE;
    opts.parareal.adjoint = PN_PARAREAL_ADJOINT_MAPS;
    pn_solver *spar = NULL;
    pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, mpar, tab, &opts, &spar));
    const int batches[] = {5, 4, 7, 2, 2, 5};
    for (int i = 0; i < 6; i++) {
      const int B = batches[i];
      pn_loss *loss = NULL;
      pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &opts, NLABELS, label_steps, NULL, B, D,
                                  40 + (uint64_t)i, &loss));
      double *z0 = pmt_z0(B, D, 50 + (uint64_t)i, 0);
      pmt_run par, ser;
      pnt_assert_all(z0 != NULL, "out of memory");
      pmt_ok(pnt_ctx, pmt_run_solver(spar, mpar, theta, B, z0, loss, 1, &par));
      pn_solver_opts sopts = opts;
      sopts.batch_groups = 1;
      sopts.method = PN_PARALLEL_PIPELINE;
      sopts.microbatches = 1;
      pmt_ok(self, pmt_solve(self, mser, tab, &sopts, theta_ser, B, z0, loss, 1, &ser));
      par.microbatches = ser.microbatches; /* not compared: each group has its own */
      char what[128];
      snprintf(what, sizeof what, "%s, reused solver, call %d (batch %d), 2 groups",
               pn_parallel_method_name(opts.method), i, B);
      pmt_expect_serial_z0(&par, &ser, !method, what);
      pmt_run_free(&par);
      pmt_run_free(&ser);
      free(z0);
      pn_loss_destroy(&loss);
    }
    pn_solver_destroy(&spar);
  }
  pn_tableau_destroy(&tab);
  pn_model_destroy(&mpar);
  pn_model_destroy(&mser);
  free(theta);
  free(theta_ser);
  pn_ctx_destroy(&self);
}

/* Group counts that do not divide the ranks, or exceed them, or leave a
 * group more ranks than steps, and batches smaller than G: PN_ERR_ARG with
 * a message naming the numbers, the same on every rank. */
static void impossible_splits_refused(void **state)
{
  (void)state;
  const int size = pn_ctx_size(pnt_ctx);
  pn_model *m = NULL;
  double *theta = NULL;
  pn_tableau *tab = NULL;
  pmt_ok(pnt_ctx, make_model(pnt_ctx, 0, &m, &theta));
  pmt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  struct {
    int G;
    long N;
    const char *says;
  } bad[] = {{-1, NSTEPS, "batch groups"}, {size + 1, NSTEPS, "batch groups"},
             {size > 2 ? size - 1 : 0, NSTEPS, "cannot form"}, {1, size - 1, "only"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (bad[i].G == 0 || bad[i].N < 1) continue; /* no such case on this rank count */
    pn_solver_opts opts;
    pn_solver_opts_default(&opts);
    opts.nsteps = bad[i].N;
    opts.batch_groups = bad[i].G;
    pn_solver *S = NULL;
    const int rc = pn_solver_create(pnt_ctx, m, tab, &opts, &S);
    pnt_assert_all(rc == PN_ERR_ARG && S == NULL &&
                       strstr(pn_ctx_last_error(pnt_ctx), bad[i].says) != NULL,
                   "G = %d, N = %ld on %d ranks: returned %d, message '%s' (should say '%s')",
                   bad[i].G, bad[i].N, size, rc, pn_ctx_last_error(pnt_ctx), bad[i].says);
  }
  if (size >= 2) { /* a batch of one cannot be shared by 2 groups */
    pn_solver_opts opts;
    pn_solver_opts_default(&opts);
    opts.nsteps = NSTEPS;
    opts.batch_groups = size;
    pn_solver *S = NULL;
    pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, m, tab, &opts, &S));
    const int D = pn_model_dim(m);
    double *z0 = pmt_z0(size, D, 7, 0), L = 0.0;
    const int rc = pn_solver_loss(S, theta, size - 1, z0, NULL, &L);
    pnt_assert_all(rc == PN_ERR_ARG && strstr(pn_ctx_last_error(pnt_ctx), "cannot be shared"),
                   "batch %d on %d groups: returned %d, message '%s'", size - 1, size, rc,
                   pn_ctx_last_error(pnt_ctx));
    pmt_ok(pnt_ctx, pn_solver_loss(S, theta, size, z0, NULL, &L)); /* one sample each: fine */
    free(z0);
    pn_solver_destroy(&S);
  }
  free(theta);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_group_count),
    cmocka_unit_test(stats_name_the_samples),
    cmocka_unit_test(reuse_with_changing_shares),
    cmocka_unit_test(impossible_splits_refused),
};

PNT_MAIN("batch_groups", tests)
