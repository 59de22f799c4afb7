/* --parallel auto (see auto.h): a quick calibration of this problem on rank
 * 0 (the sizes the candidates need: micro-batches up to B, Newton's B·D
 * tangent rows; best of 2 short samples), a ping-pong, then the
 * performance model's prediction of every candidate layout; the fastest
 * wins, ties to the earlier in the order pipeline, batch groups, Newton,
 * Parareal (the exact methods first). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "auto.h"
#include "perfmodel.h"

enum {
  MAX_CANDIDATES = 72,
  /* larger micro-batches and tangent rows are extrapolated linearly: the
   * cost per row is flat there (on the bench problems from b = 16-64), and
   * a step of 256 rows of a wide network already costs milliseconds */
  AUTO_CAL_BMAX = 256
};

typedef struct candidate {
  pn_parallel_method method;
  int G, M;  /* batch groups, micro-batches (0: the method takes the whole batch) */
  int K, Kc; /* the iterations assumed (Newton: fine, coarse; Parareal: forward = adjoint) */
  double t;  /* predicted seconds per gradient */
} candidate;

typedef struct choice {
  candidate c[MAX_CANDIDATES];
  int n, best;
  double serial; /* one rank */
  double seconds; /* the calibration's */
} choice;

static void add(choice *ch, candidate c)
{
  if (ch->n == MAX_CANDIDATES || !isfinite(c.t)) return;
  ch->c[ch->n] = c;
  if (ch->best < 0 || c.t < ch->c[ch->best].t) ch->best = ch->n;
  ch->n++;
}

/* Every candidate's prediction on P ranks (rank 0). */
static void predict(const pm_model *m, long N, long P, int iterative, const pn_solver_opts *o,
                    choice *ch)
{
  const int Gfix = o->batch_groups > 1 ? o->batch_groups : 0, Mfix = o->microbatches;
  ch->n = 0;
  ch->best = -1;
  ch->serial = pm_pipe_time(m, N, 1, 1);
  for (int G = 1; G <= P && G <= m->B; G++) {
    if (P % G != 0 || (Gfix && G != Gfix)) continue;
    candidate c = {PN_PARALLEL_PIPELINE, G, Mfix, 0, 0, NAN};
    if (Mfix) c.t = pm_groups_time(m, N, P, G, Mfix);
    else c.M = pm_groups_best_microbatches(m, N, P, G, &c.t);
    add(ch, c);
  }
  if (!iterative || Gfix) return;
  const int K = pm_newton_default_K(), Kc = pm_newton_default_Kc(P);
  add(ch, (candidate){PN_PARALLEL_NEWTON, 1, 0, K, Kc, pm_newton_time(m, N, P, K, Kc)});
  /* Parareal until its block starts stop changing takes up to P iterations */
  const int Kp = o->parareal.max_iter > 0 && o->parareal.max_iter < P ? o->parareal.max_iter
                                                                       : (int)P;
  add(ch, (candidate){PN_PARALLEL_PARAREAL, 1, 0, Kp, Kp, pm_parareal_time(m, N, P, Kp, Kp)});
}

/* A candidate as the options (or keys) that name it. */
static const char *layout_text(const candidate *c, cli_auto_style style, char *buf, size_t len)
{
  const char *name = pn_parallel_method_name(c->method);
  size_t n = 0;
  if (style == CLI_AUTO_OPTIONS) {
    n += (size_t)snprintf(buf, len, "--parallel %s", name);
    if (c->G > 1) n += (size_t)snprintf(buf + n, len - n, " --batch-groups %d", c->G);
    if (c->M > 0) snprintf(buf + n, len - n, " --microbatches %d", c->M);
  } else {
    n += (size_t)snprintf(buf, len, "method = %s", name);
    if (c->G > 1) n += (size_t)snprintf(buf + n, len - n, ", batch_groups = %d", c->G);
    if (c->M > 0) snprintf(buf + n, len - n, ", microbatches = %d", c->M);
  }
  return buf;
}

/* What the prediction assumed about a candidate, into buf. */
static const char *assumed_text(const candidate *c, char *buf, size_t len)
{
  if (c->method == PN_PARALLEL_NEWTON)
    snprintf(buf, len, " (K = %d, K_c = %d sweeps assumed)", c->K, c->Kc);
  else if (c->method == PN_PARALLEL_PARAREAL)
    snprintf(buf, len, " (K = K_a = %d iterations, at most)", c->K);
  else
    buf[0] = '\0';
  return buf;
}

static void print_choice(pn_ctx *ctx, const cli_auto_request *req, const choice *ch, long P)
{
  const pn_problem *p = req->problem;
  char text[128], note[64];
  const candidate *b = &ch->c[ch->best];
  cli_print(ctx,
            "parallel auto on %ld ranks: %s\n"
            "  predicted seconds per gradient (N = %ld, B = %d, D = %d; model calibrated here in "
            "%.2f s):\n",
            P, layout_text(b, req->style, text, sizeof text), p->steps, p->batch, p->spec.dim,
            ch->seconds);
  for (int i = 0; i < ch->n; i++) {
    const candidate *c = &ch->c[i];
    char line[192];
    snprintf(line, sizeof line, "%s%s", layout_text(c, req->style, text, sizeof text),
             assumed_text(c, note, sizeof note));
    cli_print(ctx, "    %-64s %10.4g%s\n", line, c->t, i == ch->best ? "  <- chosen" : "");
  }
  cli_print(ctx, "    %-64s %10.4g\n", "one rank", ch->serial);
}

/* The model of this problem on these ranks: calibration and ping-pong. */
static int calibrate(MPI_Comm comm, pn_ctx *ctx, const cli_auto_request *req,
                     const pn_solver_opts *o, pm_cal_table *fine, pm_cal_table *coarse,
                     pm_net *net)
{
  const pn_problem *p = req->problem;
  const char *coarse_scheme = o->newton.coarse_scheme[0] ? o->newton.coarse_scheme : p->scheme;
  const pm_cal_plan plan = {.bmax = p->batch,
                            .btangent = req->iterative ? p->batch * p->spec.dim : 0,
                            .bcap = AUTO_CAL_BMAX,
                            .share_coarse = 1,
                            .repeat = 2,
                            .min_sample = 2e-3};
  CLI_TRY(pm_calibrate(comm, ctx, p, coarse_scheme, &plan, o, fine, coarse));
  /* latency and bandwidth up to 128 KiB and the Allreduces (a few milliseconds) */
  CLI_TRY(pm_measure_network(comm, ctx, p->nparam, 2, 131072.0, net));
  net->L = net->L_meas;
  net->W = net->W_meas;
  pm_net_rounds(net, p->nparam);
  return PN_OK;
}

int cli_auto_choose(MPI_Comm comm, pn_ctx *ctx, const cli_auto_request *req, pn_solver_opts *opts)
{
  const pn_problem *p = req->problem;
  const long P = pn_ctx_size(ctx);
  if (P == 1) {
    opts->method = PN_PARALLEL_PIPELINE;
    if (!req->quiet) cli_print(ctx, "parallel auto on 1 rank: the pipeline (nothing to split)\n");
    return PN_OK;
  }
  const double t0 = MPI_Wtime();
  pm_cal_table fine, coarse;
  pm_net net;
  CLI_TRY(calibrate(comm, ctx, req, opts, &fine, &coarse, &net));
  int decided[3] = {PN_PARALLEL_PIPELINE, opts->batch_groups, opts->microbatches};
  if (pn_ctx_rank(ctx) == 0) {
    const pm_model m = {.fine = &fine, .coarse = &coarse, .net = &net, .B = p->batch,
                        .D = p->spec.dim, .nparam = p->nparam,
                        .coarse_steps = opts->parareal.coarse_steps,
                        .maps = opts->parareal.adjoint == PN_PARAREAL_ADJOINT_MAPS,
                        .newton_coarse_steps = opts->newton.coarse_steps};
    choice ch;
    predict(&m, p->steps, P, req->iterative, opts, &ch);
    ch.seconds = MPI_Wtime() - t0;
    if (ch.best >= 0) { /* none when P > N: the solver then says why */
      const candidate *b = &ch.c[ch.best];
      decided[0] = (int)b->method;
      decided[1] = b->G;
      decided[2] = b->M;
      if (!req->quiet) print_choice(ctx, req, &ch, P);
      if (b->t >= ch.serial)
        fprintf(stderr,
                "pinode %s: warning: on %ld ranks this problem is predicted slower (%.4g s per "
                "gradient) than on one rank (%.4g s): its steps are too few or too cheap to "
                "split; run it on fewer ranks\n",
                req->command, P, b->t, ch.serial);
    }
  }
  MPI_Bcast(decided, 3, MPI_INT, 0, comm);
  opts->method = (pn_parallel_method)decided[0];
  opts->batch_groups = decided[1];
  opts->microbatches = decided[2];
  return PN_OK;
}
