/* Label placement across ranks (docs/parallel.md): rank r owns grid points
 * (n_r, n_{r+1}] (rank 0 also point 0), evaluates the labels there and adds
 * their adjoint jumps, each exactly once.  For labels on every rank boundary,
 * at t0, at t_f, clustered inside one rank (with a repeated time), ranks with
 * no label, uneven blocks (N = 13, 29) and one step per rank (N = P), the run
 * on P ranks must equal the serial run (trajectory and ∂L/∂z0 bitwise, loss
 * and ∂L/∂θ to 1e-13).  The tests also show they are sensitive: a jump
 * applied twice or never is the gradient of the loss with that label's
 * weight 2 or 0, which differs from the correct one by far more than 1e-13. */
#include "pint_util.h"

#include "tdecomp.h"

enum { BATCH = 4, MAXLABELS = 64 };

/* A jump applied twice or never must move the gradient by at least this much
 * (relative), 1e7 times the tolerance of the comparison with serial. */
#define SENSITIVITY 1e-6

typedef struct label_case {
  char name[96];
  long nsteps;
  int K;
  long steps[MAXLABELS];
} label_case;

/* Grid point n_r where rank r's block starts (n_P = N). */
static long block_start(long N, int P, int r)
{
  long lo = 0, hi = 0;
  if (r == P) return N;
  pn_split(N, P, r, &lo, &hi);
  return lo;
}

static void add_label(label_case *c, long m)
{
  pnt_assert_all(c->K < MAXLABELS && m >= 0 && m <= c->nsteps, "bad label %ld in case %s", m, c->name);
  c->steps[c->K++] = m;
}

/* The cases for the current rank count P. */
static int make_cases(int P, label_case *cases)
{
  int n = 0;
  label_case *c;
  for (long N = 13; N <= 29; N += 16) { /* uneven blocks for P = 2, 3, 4 */
    c = &cases[n++];
    *c = (label_case){.nsteps = N};
    snprintf(c->name, sizeof c->name, "every rank boundary, t0 and tf (N = %ld)", N);
    for (int r = 0; r <= P; r++) add_label(c, block_start(N, P, r));
  }
  c = &cases[n++];
  *c = (label_case){.nsteps = 13};
  snprintf(c->name, sizeof c->name, "t0 only");
  add_label(c, 0);
  c = &cases[n++];
  *c = (label_case){.nsteps = 13};
  snprintf(c->name, sizeof c->name, "tf only");
  add_label(c, 13);
  /* Several labels, one of them repeated, inside the last rank's block
   * (n_{P-1}, N]: the other ranks have none. */
  c = &cases[n++];
  *c = (label_case){.nsteps = 29};
  snprintf(c->name, sizeof c->name, "cluster in the last rank, others empty");
  {
    const long lo = block_start(29, P, P - 1); /* blocks of 7 or more points */
    add_label(c, lo + 1);
    add_label(c, lo + 3);
    add_label(c, lo + 3);
    add_label(c, lo + 5);
  }
  /* Labels only in rank 0's block, including its right end and t0. */
  c = &cases[n++];
  *c = (label_case){.nsteps = 29};
  snprintf(c->name, sizeof c->name, "cluster in rank 0, others empty");
  {
    const long hi = block_start(29, P, 1);
    add_label(c, hi);
    add_label(c, 2);
    add_label(c, 0);
    add_label(c, hi - 1);
  }
  /* Each rank's block interior, in a scrambled order, plus the middle boundary. */
  c = &cases[n++];
  *c = (label_case){.nsteps = 29};
  snprintf(c->name, sizeof c->name, "interior of every block, unsorted");
  for (int r = P - 1; r >= 0; r--) add_label(c, block_start(29, P, r) + 2);
  add_label(c, block_start(29, P, P / 2));
  /* One step per rank: every grid point is a block boundary. */
  c = &cases[n++];
  *c = (label_case){.nsteps = P};
  snprintf(c->name, sizeof c->name, "one step per rank (N = P), labels at every grid point");
  for (long m = P; m >= 0; m--) add_label(c, m);
  c = &cases[n++];
  *c = (label_case){.nsteps = 12};
  snprintf(c->name, sizeof c->name, "even blocks (N = 12), labels on boundaries twice");
  for (int r = 0; r <= P; r++) {
    add_label(c, block_start(12, P, r));
    add_label(c, block_start(12, P, r));
  }
  return n;
}

typedef struct problem {
  pn_model *model;
  double *theta, *z0;
  pn_tableau *tab;
  pn_solver_opts opts;
} problem;

static void problem_make(pn_ctx *ctx, long nsteps, int M, problem *p)
{
  static const pmt_mlp net = {"mlp tanh +t", 2, 1, {6, 0}, {PN_ACT_TANH, 0}, 1};
  pmt_ok(ctx, pmt_mlp_create(ctx, &net, 42, &p->model, &p->theta));
  pmt_ok(ctx, pn_tableau_create(ctx, "rk4", &p->tab));
  p->z0 = pmt_z0(BATCH, 2, 43, 0);
  pn_solver_opts_default(&p->opts);
  p->opts.t0 = -1.0;
  p->opts.t1 = 2.0;
  p->opts.nsteps = nsteps;
  p->opts.microbatches = M;
}

static void problem_free(problem *p)
{
  pn_model_destroy(&p->model);
  pn_tableau_destroy(&p->tab);
  free(p->theta);
  free(p->z0);
}

/* Parallel against serial for one case, and the sensitivity of that check. */
static void check_case(pn_ctx *self, const label_case *c, int M)
{
  problem par, ser;
  problem_make(pnt_ctx, c->nsteps, M, &par);
  problem_make(self, c->nsteps, M, &ser);
  pn_loss *loss = NULL;
  pmt_ok(pnt_ctx, pmt_loss_at(pnt_ctx, &par.opts, c->K, c->steps, NULL, BATCH, 2, 9, &loss));
  pmt_run rp, rs;
  pmt_ok(pnt_ctx, pmt_solve(pnt_ctx, par.model, par.tab, &par.opts, par.theta, BATCH, par.z0, loss,
                            1, &rp));
  pmt_ok(self, pmt_solve(self, ser.model, ser.tab, &ser.opts, ser.theta, BATCH, ser.z0, loss, 1, &rs));
  char what[160];
  snprintf(what, sizeof what, "%s, M = %d, %d ranks", c->name, M, pn_ctx_size(pnt_ctx));
  pmt_expect_serial(&rp, &rs, what);

  /* Sensitivity: the gradient with label k's jump applied twice (weight 2)
   * or never (weight 0) is far from the correct one, for every label k. */
  double w[MAXLABELS];
  for (int k = 0; k < c->K; k++) {
    for (int twice = 0; twice <= 1; twice++) {
      for (int j = 0; j < c->K; j++) w[j] = 1.0;
      w[k] = twice ? 2.0 : 0.0;
      pn_loss *wrong = NULL;
      pmt_run rw;
      pmt_ok(self, pmt_loss_at(self, &ser.opts, c->K, c->steps, w, BATCH, 2, 9, &wrong));
      pmt_ok(self, pmt_solve(self, ser.model, ser.tab, &ser.opts, ser.theta, BATCH, ser.z0, wrong, 0,
                             &rw));
      const double dth = pnt_rel_err(rw.grad, rs.grad, rs.np);
      const double dz = pnt_rel_err(rw.grad + rw.np, rs.grad + rs.np, rs.nz);
      /* A label at t0 does not depend on θ: only ∂L/∂z0 can see its jump. */
      pnt_assert_all((dth > SENSITIVITY || c->steps[k] == 0) && dz > SENSITIVITY,
                     "%s: label %d (grid index %ld) applied %s changes dL/dtheta by only %.3e and "
                     "dL/dz0 by %.3e: the comparison with serial could not see it",
                     what, k, c->steps[k], twice ? "twice" : "never", dth, dz);
      pmt_run_free(&rw);
      pn_loss_destroy(&wrong);
    }
  }
  pmt_run_free(&rp);
  pmt_run_free(&rs);
  pn_loss_destroy(&loss);
  problem_free(&par);
  problem_free(&ser);
}

static void placements_match_serial(void **state)
{
  (void)state;
  pn_ctx *self = pmt_self_ctx();
  label_case cases[16];
  const int n = make_cases(pn_ctx_size(pnt_ctx), cases);
  for (int i = 0; i < n; i++) {
    check_case(self, &cases[i], 1);
    check_case(self, &cases[i], 3);
  }
  pn_ctx_destroy(&self);
}

/* Each label is evaluated exactly once per micro-batch, by the rank that owns
 * its grid point: a custom loss counts its calls per label and rank. */
typedef struct counter {
  int calls[MAXLABELS];
  int samples[MAXLABELS];
} counter;

static int counting_loss(void *user, int label, double t, int b0, int nb, const double *z,
                         double *value_out, double *grad_out)
{
  (void)t;
  (void)b0;
  counter *c = user;
  c->calls[label]++;
  c->samples[label] += nb;
  *value_out = 0.0;
  for (int i = 0; i < nb * 2; i++) {
    *value_out += 0.5 * z[i] * z[i];
    grad_out[i] = z[i];
  }
  return 0;
}

static void each_label_evaluated_once_by_its_owner(void **state)
{
  (void)state;
  const int P = pn_ctx_size(pnt_ctx), rank = pn_ctx_rank(pnt_ctx), M = 3;
  label_case cases[16];
  const int n = make_cases(P, cases);
  for (int i = 0; i < n; i++) {
    const label_case *c = &cases[i];
    problem p;
    problem_make(pnt_ctx, c->nsteps, M, &p);
    const double h = (p.opts.t1 - p.opts.t0) / (double)c->nsteps;
    double times[MAXLABELS];
    for (int k = 0; k < c->K; k++) times[k] = p.opts.t0 + (double)c->steps[k] * h;
    counter cnt, total;
    memset(&cnt, 0, sizeof cnt);
    pn_loss *loss = NULL;
    pn_solver *solver = NULL;
    double L = 0.0;
    pmt_ok(pnt_ctx, pn_loss_create_custom(pnt_ctx, c->K, times, BATCH, 2, counting_loss, &cnt, &loss));
    pmt_ok(pnt_ctx, pn_solver_create(pnt_ctx, p.model, p.tab, &p.opts, &solver));
    pmt_ok(pnt_ctx, pn_solver_gradient(solver, p.theta, BATCH, p.z0, loss, &L, NULL, NULL));
    /* Only the owner of a label's grid point may have evaluated it. */
    int stray = -1;
    for (int k = 0; k < c->K; k++)
      if (cnt.calls[k] && pn_owner(c->nsteps, P, c->steps[k]) != rank) stray = k;
    pnt_assert_all(stray < 0, "%s: label %d (grid index %ld) evaluated on rank %d, which does not "
                   "own it", c->name, stray, stray >= 0 ? c->steps[stray] : -1L, rank);
    MPI_Allreduce(&cnt, &total, 2 * MAXLABELS, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int bad = -1;
    for (int k = 0; k < c->K; k++)
      if (total.calls[k] != M || total.samples[k] != BATCH) bad = k;
    pnt_assert_all(bad < 0, "%s, %d ranks: label %d (grid index %ld) evaluated %d times on %d "
                   "samples in all; expected once per micro-batch (%d) on %d samples",
                   c->name, P, bad, bad >= 0 ? c->steps[bad] : -1L, bad >= 0 ? total.calls[bad] : 0,
                   bad >= 0 ? total.samples[bad] : 0, M, BATCH);
    pn_solver_destroy(&solver);
    pn_loss_destroy(&loss);
    problem_free(&p);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(placements_match_serial),
    cmocka_unit_test(each_label_evaluated_once_by_its_owner),
};

PNT_MAIN("label_ownership", tests)
