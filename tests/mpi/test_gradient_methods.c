/* Every gradient method of the paper's comparison runs inside the
 * time-split pipeline exactly like the discrete adjoint (docs/parallel.md): blocks,
 * label jumps applied once by the owner of their grid point, λ passed
 * leftward, one Allreduce of θ̄.  On P ranks each method must reproduce the
 * serial result (computed on this rank alone, over MPI_COMM_SELF) to 1e-13
 * relative — except backsolve, whose time-parallel form restarts z from each
 * rank's own forward state and is checked against its own definition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdecomp.h"
#include "testutil.h"

/* N = 14 steps split unevenly over 3 and 4 ranks (blocks 5,5,4 and
 * 4,4,3,3); labels at t0, on rank boundaries (4, 5, 7, 8, 10, 11), twice at
 * the same time (7) and at t1 (14).  B = 5 samples in micro-batches. */
enum { D = 2, H = 6, B = 5, K = 9, N = 14 };
static const long label_steps[K] = {0, 4, 5, 7, 7, 8, 10, 11, 14};
static const int widths[2] = {H, H};
static const pn_activation acts[2] = {PN_ACT_TANH, PN_ACT_SOFTPLUS};
static const pn_mlp_spec spec = {D, 2, widths, acts, 1};
#define T1 1.4

typedef struct problem {
  pn_model *model;
  pn_loss *loss;
  pn_tableau *tab;
  int P;
  double *theta, z0[B * D];
} problem;

static void problem_make(pn_ctx *ctx, problem *p, const char *scheme)
{
  pnt_ok(ctx, pn_model_create_mlp(ctx, &spec, &p->model));
  pnt_ok(ctx, pn_tableau_create(ctx, scheme, &p->tab));
  p->P = pn_model_nparam(p->model);
  p->theta = calloc((size_t)p->P, sizeof(double));
  assert_non_null(p->theta);
  pnt_randn(p->theta, (size_t)p->P, 21, 0.5);
  pnt_randn(p->z0, B * D, 22, 1.0);
  double times[K], targets[K * B * D];
  for (int k = 0; k < K; k++) times[k] = T1 * (double)label_steps[k] / N;
  pnt_randn(targets, K * B * D, 23, 0.5);
  pnt_ok(ctx, pn_loss_create_mse(ctx, K, times, targets, NULL, B, D, &p->loss));
}

static void problem_free(problem *p)
{
  pn_loss_destroy(&p->loss);
  pn_tableau_destroy(&p->tab);
  pn_model_destroy(&p->model);
  free(p->theta);
}

typedef struct result {
  double loss, *g; /* g: θ-gradient (P) then ∂L/∂z0 (B·D) */
  pn_stats st;
} result;

static void run(pn_ctx *ctx, problem *p, pn_storage_kind storage, long k, pn_adjoint_kind adj,
                pn_sweep_mode mode, result *r)
{
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t1 = T1;
  o.nsteps = N;
  o.storage = storage;
  o.storage_param = k;
  pnt_ok(ctx, pn_solver_create(ctx, p->model, p->tab, &o, &S));
  r->g = calloc((size_t)p->P + B * D, sizeof(double));
  assert_non_null(r->g);
  pnt_ok(ctx, pn_solver_gradient_method(S, adj, mode, p->theta, B, p->z0, p->loss, &r->loss,
                                        r->g, r->g + p->P));
  pnt_ok(ctx, pn_solver_get_stats(S, &r->st));
  pn_solver_destroy(&S);
}

/* Serial reference on this rank alone. */
static void run_serial(problem *p, pn_adjoint_kind adj, pn_sweep_mode mode, result *r)
{
  pn_ctx *self = NULL;
  pnt_ok(NULL, pn_ctx_create(MPI_COMM_SELF, &self));
  problem q;
  problem_make(self, &q, pn_tableau_name(p->tab));
  run(self, &q, PN_STORE_ALL, 0, adj, mode, r);
  problem_free(&q);
  pn_ctx_destroy(&self);
}

static const pn_adjoint_kind adjoints[3] = {
    PN_ADJOINT_DISCRETE, PN_ADJOINT_CONTINUOUS_INTERP, PN_ADJOINT_CONTINUOUS_BACKSOLVE};
static const pn_sweep_mode modes[2] = {PN_SWEEP_MULTI, PN_SWEEP_SINGLE};

/* Discrete and interpolating continuous adjoints, multi- and single-point,
 * stored or recomputed trajectories (every 3rd state; binomial checkpointing
 * with 2 checkpoints, which single-point sweeps restart from z_lo each time):
 * P ranks = serial to 1e-13 relative (the
 * trajectory is bitwise the same for every P; only the order of the sums of
 * θ̄ over ranks and sweeps differs, a few ulps per entry). */
static void methods_match_serial(void **state)
{
  (void)state;
  const char *schemes[3] = {"euler", "kutta3", "rk4"};
  double worst = 0.0;
  for (int s = 0; s < 3; s++) {
    problem p;
    problem_make(pnt_ctx, &p, schemes[s]);
    for (int a = 0; a < 2; a++)
      for (int m = 0; m < 2; m++)
        for (int st = 0; st < 3; st++) {
          static const pn_storage_kind kinds[3] = {PN_STORE_ALL, PN_STORE_EVERY, PN_STORE_BINOMIAL};
          static const long params[3] = {0, 3, 2};
          static const char *const names[3] = {"", " every:3", " binomial:2"};
          result par, ser;
          run(pnt_ctx, &p, kinds[st], params[st], adjoints[a], modes[m], &par);
          run_serial(&p, adjoints[a], modes[m], &ser);
          const double eg = pnt_rel_err(par.g, ser.g, (size_t)p.P);
          const double ez = pnt_rel_err(par.g + p.P, ser.g + p.P, B * D);
          const double el = fabs(par.loss - ser.loss) / fabs(ser.loss);
          pnt_assert_all(eg <= 1e-13 && ez <= 1e-13 && el <= 1e-13,
                         "%s %s %s%s: theta %.2e z0 %.2e loss %.2e vs serial", schemes[s],
                         pn_adjoint_kind_name(adjoints[a]), pn_sweep_mode_name(modes[m]),
                         names[st], eg, ez, el);
          worst = fmax(worst, fmax(eg, fmax(ez, el)));
          free(par.g);
          free(ser.g);
        }
    problem_free(&p);
  }
  print_message("worst relative difference from serial: %.2e\n", worst);
}

/* ---- the time-parallel backsolve, emulated block by block --------------- */

/* Loss of one block of the emulation: MSE of the original labels that the
 * block owns (labels 0..nmse−1, targets copied from the problem), plus, if
 * lambda is set, the linear label λᵀz at the block's right end (label nmse),
 * whose gradient λ is the adjoint handed over by the block to the right. */
typedef struct block_loss {
  int nmse;
  double targets[K * B * D];
  const double *lambda;
} block_loss;

static int block_loss_fn(void *user, int label, double t, int b0, int nb, const double *z,
                         double *value, double *grad)
{
  (void)t;
  const block_loss *bl = user;
  const size_t n = (size_t)nb * D;
  *value = 0.0;
  if (label == bl->nmse) {
    for (size_t i = 0; i < n; i++) {
      grad[i] = bl->lambda[(size_t)b0 * D + i];
      *value += grad[i] * z[i];
    }
    return 0;
  }
  const double *y = bl->targets + ((size_t)label * B + (size_t)b0) * D;
  for (size_t i = 0; i < n; i++) {
    *value += (z[i] - y[i]) * (z[i] - y[i]) / (B * D);
    grad[i] = 2.0 * (z[i] - y[i]) / (B * D);
  }
  return 0;
}

/* Serial emulation of backsolve on `nranks` ranks: for r = P−1 … 0, a
 * separate one-rank solve of block r ([lo, hi] of the grid) from the forward
 * state z_lo, with the labels rank r owns and λ_hi from block r + 1 as a
 * linear label at its right end; θ̄ is the sum over the blocks and ∂L/∂z0
 * comes out of block 0.  This is what docs/mathematics.md calls the time-parallel
 * form of backsolve: each block restarts z from its own forward z_hi. */
static void emulate_backsolve(problem *p, int nranks, double *g)
{
  pn_ctx *self = NULL;
  pnt_ok(NULL, pn_ctx_create(MPI_COMM_SELF, &self));
  problem q;
  problem_make(self, &q, pn_tableau_name(p->tab));
  const double h = T1 / N;
  double zstart[B * D], lambda[B * D], gblock[B * D], all_targets[K * B * D];
  double *gth = calloc((size_t)q.P, sizeof(double));
  assert_non_null(gth);
  pnt_randn(all_targets, K * B * D, 23, 0.5); /* as problem_make */
  memset(g, 0, sizeof(double) * ((size_t)q.P + B * D));
  for (int r = nranks - 1; r >= 0; r--) {
    long lo, hi;
    pn_split(N, nranks, r, &lo, &hi);
    /* z_lo from the serial forward trajectory */
    pn_solver *F = NULL;
    pn_solver_opts o;
    pn_solver_opts_default(&o);
    o.t1 = T1;
    o.nsteps = N;
    pnt_ok(self, pn_solver_create(self, q.model, q.tab, &o, &F));
    pnt_ok(self, pn_solver_forward(F, q.theta, B, q.z0, 1, &lo, zstart));
    pn_solver_destroy(&F);
    /* the block's labels */
    block_loss bl = {.nmse = 0, .lambda = r < nranks - 1 ? lambda : NULL};
    double times[K + 1];
    for (int k = 0; k < K; k++)
      if ((label_steps[k] > lo || (r == 0 && label_steps[k] == 0)) && label_steps[k] <= hi) {
        times[bl.nmse] = h * (double)label_steps[k];
        memcpy(bl.targets + (size_t)bl.nmse * B * D, all_targets + (size_t)k * B * D,
               sizeof(double) * B * D);
        bl.nmse++;
      }
    const int nl = bl.nmse + (bl.lambda ? 1 : 0);
    if (bl.lambda) times[bl.nmse] = h * (double)hi;
    pn_loss *loss = NULL;
    pnt_ok(self, pn_loss_create_custom(self, nl, times, B, D, block_loss_fn, &bl, &loss));
    o.t0 = h * (double)lo;
    o.t1 = h * (double)hi;
    o.nsteps = hi - lo;
    pn_solver *S = NULL;
    pnt_ok(self, pn_solver_create(self, q.model, q.tab, &o, &S));
    pnt_ok(self, pn_solver_gradient_method(S, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_MULTI,
                                           q.theta, B, zstart, loss, NULL, gth, gblock));
    for (int i = 0; i < q.P; i++) g[i] += gth[i];
    memcpy(lambda, gblock, sizeof lambda);
    pn_solver_destroy(&S);
    pn_loss_destroy(&loss);
  }
  memcpy(g + q.P, lambda, sizeof lambda);
  free(gth);
  problem_free(&q);
  pn_ctx_destroy(&self);
}

/* Backsolve on P ranks equals its block-by-block serial emulation to 1e-13
 * (the emulation's blocks have grids t0' + n h' with t0', h' a few ulps off
 * the full grid; measured ≤ 4e-16 relative); every rank
 * reports the drift of its block; on one rank it is the serial backsolve. */
static void backsolve_is_time_parallel_restart(void **state)
{
  (void)state;
  const char *schemes[2] = {"heun", "rk4"};
  int nranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  for (int s = 0; s < 2; s++) {
    problem p;
    problem_make(pnt_ctx, &p, schemes[s]);
    result par, ser;
    run(pnt_ctx, &p, PN_STORE_ALL, 0, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_MULTI, &par);
    run_serial(&p, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_MULTI, &ser);
    double *emu = calloc((size_t)p.P + B * D, sizeof(double));
    assert_non_null(emu);
    emulate_backsolve(&p, nranks, emu);
    const double eg = pnt_rel_err(par.g, emu, (size_t)p.P);
    const double ez = pnt_rel_err(par.g + p.P, emu + p.P, B * D);
    const double vs_serial = pnt_rel_err(par.g, ser.g, (size_t)p.P);
    print_message("%s backsolve on %d ranks: vs emulation theta %.2e z0 %.2e; vs serial %.2e; "
                  "drift of z on rank 0 %.2e\n",
                  schemes[s], nranks, eg, ez, vs_serial, par.st.backsolve_z_err);
    pnt_assert_all(eg <= 1e-13 && ez <= 1e-13, "%s: backsolve vs its emulation: %.2e %.2e",
                   schemes[s], eg, ez);
    pnt_assert_all(nranks > 1 || vs_serial <= 1e-13, "one rank is serial backsolve: %.2e",
                   vs_serial);
    pnt_assert_all(par.st.backsolve_z_err > 0.0 && par.st.backsolve_z_err < 1e-2,
                   "the drift of the block is reported: %.2e", par.st.backsolve_z_err);
    /* Single-point: the owner of a label recomputes the forward state there
     * from its z_lo; the other ranks restart from their z_hi.  Against the
     * serial single-point backsolve the difference is a drift effect: it
     * must stay inside the serial gap to the discrete gradient. */
    result sp, ss, disc;
    run(pnt_ctx, &p, PN_STORE_ALL, 0, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_SINGLE, &sp);
    run_serial(&p, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_SWEEP_SINGLE, &ss);
    run_serial(&p, PN_ADJOINT_DISCRETE, PN_SWEEP_MULTI, &disc);
    const double d_single = pnt_rel_err(sp.g, ss.g, (size_t)p.P);
    const double gap = pnt_rel_err(ss.g, disc.g, (size_t)p.P);
    print_message("%s single-point backsolve on %d ranks vs serial %.2e (gap %.2e)\n", schemes[s],
                  nranks, d_single, gap);
    pnt_assert_all(d_single < gap, "single-point backsolve: %.2e vs gap %.2e", d_single, gap);
    pnt_assert_all(nranks > 1 || d_single <= 1e-13, "one rank: %.2e", d_single);
    free(sp.g);
    free(ss.g);
    free(disc.g);
    free(par.g);
    free(ser.g);
    free(emu);
    problem_free(&p);
  }
}

/* Ranks that ask for different methods would pair different messages: every
 * rank must get PN_ERR_ARG with the same message, and nobody may hang. */
static void mismatched_methods_are_refused(void **state)
{
  (void)state;
  int rank = 0, nranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  problem p;
  problem_make(pnt_ctx, &p, "heun");
  pn_solver *S = NULL;
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t1 = T1;
  o.nsteps = N;
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, p.tab, &o, &S));
  const pn_sweep_mode mode = rank == nranks - 1 ? PN_SWEEP_SINGLE : PN_SWEEP_MULTI;
  double loss = 0.0;
  const int rc = pn_solver_gradient_method(S, PN_ADJOINT_CONTINUOUS_INTERP, mode, p.theta, B,
                                           p.z0, p.loss, &loss, NULL, NULL);
  if (nranks == 1)
    pnt_ok(pnt_ctx, rc);
  else
    pnt_fails_with(pnt_ctx, rc, PN_ERR_ARG, "different gradient methods");
  /* the solver is still usable afterwards */
  pnt_ok(pnt_ctx, pn_solver_gradient(S, p.theta, B, p.z0, p.loss, &loss, NULL, NULL));
  pn_solver_destroy(&S);
  problem_free(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(methods_match_serial),
    cmocka_unit_test(backsolve_is_time_parallel_restart),
    cmocka_unit_test(mismatched_methods_are_refused),
};

PNT_MAIN("gradient_methods", tests)
