/* pinode bench --model: the model's formulas (see perfmodel.h), from what
 * perfmodel_measure.c measured.  No MPI, no measurement.
 *
 * Pipeline (docs/parallel.md), P ranks, M micro-batches of sizes b_m (the solver's
 * split: B/M, the first B mod M one larger), n_P = ⌈N/P⌉ steps on the slowest
 * rank, τ(b) = n_P·t(b) + c(b), msg(b) = L + 8(b·D + 1)/W:
 *   T(P, M) = Σ_m τ(b_m) + (P − 1)·(τ(b_0) + 2·msg(b_0)) + C(P)
 * (the last rank finishes its forward after the first micro-batch crossed
 * P − 1 blocks and messages, and the backward drains the same way), with the
 * collectives C(P) = ⌈log2 P⌉·(5·A_1 + A_p + L + 8BD/W): five latency-bound
 * Allreduces (status agreements, loss), the Allreduce of θ̄ (p doubles) and
 * the Bcast of ∂L/∂z0, with A_1 and A_p the rounds of the Allreduces of one
 * and of p doubles (pm_net_rounds: measured, or L and L + 8p/W).  Busy time of rank r: Σ_m (n_r·t(b_m) + c(b_m)).
 *
 * Parareal (docs/parallel.md), K forward and K_a adjoint iterations (inputs: given,
 * or measured by a Parareal run), coarse propagator G = g steps of the coarse
 * scheme per block, whole batch (no micro-batches), τ_F = n_P·t_f(B) + c(B),
 * τ_Fa = n_P·(t(B) − t_f(B)) + c(B), τ_G, τ_Ga the coarse forward and adjoint,
 * S = (P − 1)(τ_G + msg(B)) a serial coarse sweep:
 *   T = S + K(τ_F + S + ⌈log2 P⌉·A_1) + A + C(P)
 * with A = τ_G + K_a(τ_Fa + (P − 1)(τ_Ga + msg(B)) + ⌈log2 P⌉·A_1) for the
 * iterative adjoint, or one sweep of B(D+1) rows, a prefix scan and τ_Fa for
 * the affine maps (parareal_time below).
 *
 * Newton shooting (docs/parallel.md, docs/clusters.md), K fine sweeps (the
 * last included) after K_c coarse-Newton sweeps, every sweep integrating the
 * block with D tangent directions: B state rows and B·D tangent rows
 * through the model, a tangent row the cost of a row of the network without
 * its activations (the products, no activation), t_T = t_f(B) + t_lin(B·D),
 * so τ_T = n_P·t_T + c(B) and τ_Tc = g·t_f,coarse(B)·t_T/t_f(B), g the
 * coarse steps per block; per sweep the end state and block Jacobian to the
 * right, x = L + 8B(D²+D)/W, one scan of the affine maps,
 * σ = ⌈log2 P⌉·(x + 2B(D³+D²)·μ) (μ: one multiply-add of the composition),
 * and an Allreduce of 4 doubles, ⌈log2 P⌉·A_1:
 *   T = K_c(τ_Tc + x + σ + ⌈log2 P⌉A_1) + K(τ_T + x + σ + ⌈log2 P⌉A_1) + σ + τ_B + C(P)
 * with τ_B = n_P·(t(B) − t_f(B)) + c(B) the backward sweep after the adjoint
 * scan σ, plus S_c = (P − 1)(g·t_f,coarse(B) + msg(B)) where coarse Newton
 * did not converge and the serial coarse sweep started the fine sweeps.
 *
 * Batch groups: G groups of P/G ranks, each the pipeline of its share of
 * the batch (the largest, ⌈B/G⌉) with its collectives over all P ranks. */
#include <math.h>

#include "perfmodel.h"

enum { N_SMALL_ALLREDUCES = 5 }; /* solver: method, setup, forward, backward agreements; loss */

int pm_ceil_log2(long P)
{
  int r = 0;
  while ((1L << r) < P) r++;
  return r;
}

double pm_cal_at(const pm_cal_table *c, double b, pm_quantity what)
{
  const pm_cal_point *pt = c->pt;
  double y[PM_CAL_MAX];
  for (int i = 0; i < c->n; i++)
    y[i] = what == PM_T_STEP ? pt[i].t_step : what == PM_T_FWD ? pt[i].t_fwd : pt[i].fixed;
  if (c->n == 1) return what == PM_FIXED ? y[0] : y[0] * b / pt[0].b;
  int i = 0;
  while (i < c->n - 2 && b > pt[i + 1].b) i++;
  const double x0 = pt[i].b, x1 = pt[i + 1].b;
  double v = y[i] + (y[i + 1] - y[i]) * (b - x0) / (x1 - x0);
  if (b < x0) v = y[i]; /* b below the smallest size (never: sizes start at 1) */
  return v > 0.0 ? v : 0.0;
}

int pm_cal_threshold(const pm_cal_table *c)
{
  const pm_cal_point *last = &c->pt[c->n - 1];
  const double asym = last->t_step / last->b;
  for (int i = 0; i < c->n; i++)
    if (c->pt[i].t_step / c->pt[i].b <= 1.1 * asym) return c->pt[i].b;
  return last->b;
}

void pm_net_rounds(pm_net *net, int p)
{
  net->round_small = net->L;
  net->round_grad = net->L + 8.0 * p / net->W;
  if (net->allreduce_ranks < 2 || net->L_given || net->W_given) return;
  const double rounds = pm_ceil_log2(net->allreduce_ranks);
  net->round_small = net->allreduce1_meas / rounds;
  net->round_grad = net->allreduce_meas / rounds;
}

static double tau(const pm_model *m, long n, int b)
{
  return (double)n * pm_cal_at(m->fine, b, PM_T_STEP) + pm_cal_at(m->fine, b, PM_FIXED);
}

static double msg_time(const pm_model *m, int b)
{
  return m->net->L + 8.0 * ((double)b * m->D + 1.0) / m->net->W;
}

static double coll_time(const pm_model *m, long P)
{
  if (P <= 1) return 0.0;
  const pm_net *net = m->net;
  return pm_ceil_log2(P) * (N_SMALL_ALLREDUCES * net->round_small + net->round_grad + net->L +
                            8.0 * (double)m->B * m->D / net->W);
}

long pm_largest_part(long n, long parts)
{
  long lo = 0, hi = 0;
  pn_split(n, (int)parts, 0, &lo, &hi); /* the first parts are the larger */
  return hi - lo;
}

/* The time of M micro-batches through a block of n steps: the solver's split
 * of the batch (pn_split) has parts of two sizes, q + 1 and q samples. */
static double microbatches_time(const pm_model *m, long n, int M)
{
  const int big = (int)pm_largest_part(m->B, M), q = m->B / M;
  const int nbig = m->B - M * q; /* parts of big samples (none when big = q) */
  double sum = nbig * tau(m, n, big);
  if (q > 0) sum += (M - nbig) * tau(m, n, q);
  return sum;
}

double pm_pipe_time(const pm_model *m, long N, long P, int M)
{
  if (P > N || P < 1) return NAN;
  if (M > m->B) M = m->B;
  if (M < 1) M = 1;
  const long nP = pm_largest_part(N, P);
  const int b0 = (int)pm_largest_part(m->B, M); /* the first micro-batch */
  const double drain = (double)(P - 1) * (tau(m, nP, b0) + 2.0 * msg_time(m, b0));
  return microbatches_time(m, nP, M) + drain + coll_time(m, P);
}

double pm_pipe_busy(const pm_model *m, long n, int M)
{
  return microbatches_time(m, n, M > m->B ? m->B : M);
}

int pm_best_microbatches(const pm_model *m, long N, long P, double *t_out)
{
  int best = 1;
  double tb = pm_pipe_time(m, N, P, 1);
  for (int M = 2; M <= m->B; M = M < 1024 ? M + 1 : M + M / 16) {
    const double t = pm_pipe_time(m, N, P, M);
    if (t < tb) {
      tb = t;
      best = M;
    }
  }
  *t_out = tb;
  return best;
}

/* Parareal's coarse steps per block of n steps (pn_parareal_opts.coarse_steps). */
static long coarse_per_block(const pm_model *m, long n)
{
  return m->coarse_steps > 0 ? m->coarse_steps : (n + 9) / 10;
}

/* The pieces of a Parareal gradient on a block of n steps (whole batch B):
 * fine forward τF and fine adjoint τFa sweeps, one coarse step τG and its
 * adjoint τGa times the coarse steps, the affine-map build (maps adjoint). */
typedef struct par_costs {
  double tauF, tauFa, tauG, tauGa, map;
} par_costs;

static par_costs parareal_costs(const pm_model *m, long n, long nblock)
{
  const int B = m->B;
  const double c = pm_cal_at(m->fine, B, PM_FIXED), tf = pm_cal_at(m->fine, B, PM_T_FWD);
  const double tt = pm_cal_at(m->fine, B, PM_T_STEP);
  const double g = (double)coarse_per_block(m, nblock);
  const double tgf = pm_cal_at(m->coarse, B, PM_T_FWD), tgt = pm_cal_at(m->coarse, B, PM_T_STEP);
  const double wide = (double)B * (m->D + 1); /* the map sweep's rows */
  const double map_step = pm_cal_at(m->fine, wide, PM_T_STEP) - pm_cal_at(m->fine, wide, PM_T_FWD);
  par_costs pc = {(double)n * tf + c, (double)n * (tt - tf) + c, g * tgf, g * (tgt - tgf),
                  (double)n * map_step};
  return pc;
}

/* Predicted Parareal time per gradient with K forward and K_a adjoint
 * iterations (the implementation, parareal.c): a serial coarse sweep, then
 * per iteration a parallel fine sweep, a serial correction G(U_r) + F − G
 * from rank to rank and a convergence Allreduce; the iterative adjoint the
 * same with F* and G* from right to left (after one coarse sweep storing
 * G's states); the maps adjoint one batched sweep of B(D+1) rows, an
 * Exscan of the packed maps and one fine adjoint sweep.  NAN when P > N. */
double pm_parareal_time(const pm_model *m, long N, long P, int K, int KA)
{
  if (P > N || P < 1) return NAN;
  if (P == 1) return pm_pipe_time(m, N, 1, 1);
  const long nP = pm_largest_part(N, P);
  const par_costs pc = parareal_costs(m, nP, nP);
  const double msgB = msg_time(m, m->B), lg = pm_ceil_log2(P) * m->net->round_small;
  const double chain = (double)(P - 1) * (pc.tauG + msgB);
  const double fwd = chain + K * (pc.tauF + chain + lg);
  double adj;
  if (m->maps) {
    const double elem = 8.0 * (2.0 + (double)m->B * ((double)m->D * m->D + m->D));
    adj = pc.map + pm_ceil_log2(P) * (m->net->L + elem / m->net->W) + pc.tauFa;
  } else {
    adj = pc.tauG + KA * (pc.tauFa + (double)(P - 1) * (pc.tauGa + msgB) + lg);
  }
  return fwd + adj + coll_time(m, P);
}

/* Predicted busy time of rank r (of P, owning n steps, blocks of nP) under
 * Parareal: after iteration k the first k block starts are exact, and a
 * rank whose start did not change skips its fine sweep and its correction;
 * so rank r runs F min(K, r+1) times and G 1 + min(K, r) times (none on the
 * last rank), F* min(K_a, P−r) times and G* min(K_a, P−1−r) times. */
double pm_parareal_busy(const pm_model *m, long P, long r, long n, long nP, int K, int KA)
{
  const par_costs pc = parareal_costs(m, n, nP);
  const double nF = (double)(K < r + 1 ? K : r + 1);
  const double nG = r < P - 1 ? 1.0 + (double)(K < r ? K : r) : 0.0;
  double busy = nF * pc.tauF + nG * pc.tauG;
  if (m->maps) {
    busy += pc.map + pc.tauFa;
  } else {
    const double nFa = (double)(KA < P - r ? KA : P - r);
    const double nGa = r > 0 ? (double)(KA < P - 1 - r ? KA : P - 1 - r) : 0.0;
    busy += (r > 0 ? pc.tauG : 0.0) + nFa * pc.tauFa + nGa * pc.tauGa;
  }
  return busy;
}

/* ---- Newton shooting ---- */

/* Newton's coarse steps per block of n steps (pn_newton_opts.coarse_steps). */
static long newton_coarse_per_block(const pm_model *m, long n)
{
  return m->newton_coarse_steps > 0 ? m->newton_coarse_steps : (n + 15) / 16;
}

/* The pieces of a Newton gradient on blocks of nP steps (whole batch B):
 * one fine tangent sweep of n steps τT, one coarse tangent sweep τTc, the
 * backward sweep τB, a plain coarse hop of the serial start τG, and the
 * communication: x the end state and Jacobian to the right neighbour, σ one
 * scan of the affine maps, a the agreement of an iteration. */
typedef struct newton_costs {
  double tauT, tauTc, tauB, tauG, x, sigma, a, compose;
} newton_costs;

/* Seconds per step of B state rows and their B·D tangent rows: the state
 * rows' forward step and the tangent rows' as rows of the network without
 * activations (calibrated at lin.b rows, linear beyond). */
static double tangent_step(const pm_model *m)
{
  const pm_cal_point *lin = &m->fine->lin;
  const double rows = (double)m->B * m->D;
  const double t_lin = lin->b > 0 ? lin->t_fwd * rows / lin->b : 0.0;
  return pm_cal_at(m->fine, m->B, PM_T_FWD) + t_lin;
}

static newton_costs newton_costs_of(const pm_model *m, long P, long n, long nP)
{
  const double B = m->B, D = m->D;
  const double g = (double)newton_coarse_per_block(m, nP);
  const double lg = pm_ceil_log2(P), L = m->net->L, W = m->net->W;
  const double tT = tangent_step(m), tf = pm_cal_at(m->fine, B, PM_T_FWD);
  newton_costs nc;
  nc.tauT = (double)n * tT + pm_cal_at(m->fine, B, PM_FIXED);
  nc.tauTc = g * pm_cal_at(m->coarse, B, PM_T_FWD) * (tf > 0.0 ? tT / tf : 1.0);
  nc.tauB = (double)n * (pm_cal_at(m->fine, B, PM_T_STEP) - pm_cal_at(m->fine, B, PM_T_FWD)) +
            pm_cal_at(m->fine, B, PM_FIXED);
  nc.tauG = g * pm_cal_at(m->coarse, B, PM_T_FWD);
  nc.x = L + 8.0 * B * (D * D + D) / W;
  nc.compose = lg * 2.0 * B * (D * D * D + D * D) * m->fine->madd; /* two per round at most */
  nc.sigma = lg * (L + 8.0 * B * (D * D + D) / W) + nc.compose;
  nc.a = lg * m->net->round_small;
  return nc;
}

int pm_newton_default_K(void) { return 2; }

int pm_newton_default_Kc(long P) { return pm_ceil_log2(P) + 1; }

/* Every sweep of an iteration runs on every rank whose block start moved:
 * the slowest rank sweeps each time, then the exchange, the scan and the
 * agreement.  After the last fine sweep: the adjoint scan from the right
 * and one backward sweep per rank. */
double pm_newton_time(const pm_model *m, long N, long P, int K, int Kc)
{
  if (P > N || P < 1) return NAN;
  if (P == 1) return pm_pipe_time(m, N, 1, 1);
  const long nP = pm_largest_part(N, P);
  const newton_costs nc = newton_costs_of(m, P, nP, nP);
  const double per_iteration = nc.x + nc.sigma + nc.a;
  double T = Kc * (nc.tauTc + per_iteration) + K * (nc.tauT + per_iteration);
  if (m->newton_serial) T += (double)(P - 1) * (nc.tauG + msg_time(m, m->B));
  return T + nc.sigma + nc.tauB + coll_time(m, P);
}

/* A rank sweeps only while its block start moves: after k sweeps the first
 * k block starts are exact, so rank r sweeps min(K, r+1) fine and
 * min(K_c, r+1) coarse times; every rank composes maps in every scan, runs
 * its backward sweep, and all but the last a hop of the serial start. */
double pm_newton_busy(const pm_model *m, long P, long r, long n, long nP, int K, int Kc)
{
  const newton_costs nc = newton_costs_of(m, P, n, nP);
  const double nT = (double)(K < r + 1 ? K : r + 1), nTc = (double)(Kc < r + 1 ? Kc : r + 1);
  double busy = nTc * nc.tauTc + nT * nc.tauT + (K + Kc + 1) * nc.compose + nc.tauB;
  if (m->newton_serial && r < P - 1) busy += nc.tauG;
  return busy;
}

/* ---- batch groups ---- */

/* The model of one group: its share of the batch. */
static pm_model group_model(const pm_model *m, int G)
{
  pm_model g = *m;
  g.B = (int)pm_largest_part(m->B, G);
  return g;
}

double pm_groups_time(const pm_model *m, long N, long P, int G, int M)
{
  if (G < 1 || P % G != 0 || G > m->B) return NAN;
  const pm_model g = group_model(m, G);
  const long Pg = P / G;
  const double t = pm_pipe_time(&g, N, Pg, M);
  return t - coll_time(&g, Pg) + coll_time(m, P);
}

int pm_groups_best_microbatches(const pm_model *m, long N, long P, int G, double *t_out)
{
  if (G < 1 || P % G != 0 || G > m->B) {
    *t_out = NAN;
    return 0;
  }
  const pm_model g = group_model(m, G);
  double t = NAN;
  const int M = pm_best_microbatches(&g, N, P / G, &t);
  *t_out = pm_groups_time(m, N, P, G, M);
  return M;
}

int pm_best_groups(const pm_model *m, long N, long P, int *M_out, double *t_out)
{
  int best = 0;
  *M_out = 0;
  *t_out = NAN;
  for (int G = 2; G <= P && G <= m->B; G++) {
    double t = NAN;
    const int M = P % G == 0 ? pm_groups_best_microbatches(m, N, P, G, &t) : 0;
    if (isfinite(t) && !(t >= *t_out)) {
      best = G;
      *M_out = M;
      *t_out = t;
    }
  }
  return best;
}

const char *const pm_assumptions[] = {
    "every rank computes at the speed measured here on rank 0 running alone: one core and one "
    "BLAS thread per rank, the same CPU on every node, no contention for caches or memory "
    "bandwidth between the ranks of a node",
    "t(b), the forward+backward time per step of a micro-batch of b samples, is interpolated "
    "linearly between the measured b = 1, 2, 4, ..., B (above the largest measured b, "
    "extrapolated linearly); below the threshold b* the cost per sample grows as micro-batches "
    "shrink, above it it is within 10 % of constant",
    "a micro-batch also costs a fixed c per block whatever its number of steps (the median "
    "over b of the intercepts of two step counts); t(b) does not decrease with b (the measured "
    "values are replaced by their least-squares non-decreasing fit)",
    "the slowest rank owns ceil(N/P) steps; P > N is impossible (each rank needs a step)",
    "one message per micro-batch per rank boundary in each sweep, each L + 8(bD+1)/W with the "
    "latency L and bandwidth W of the ping-pong between ranks 0 and 1, the same for every pair "
    "(on a cluster: run the model with ranks 0 and 1 on different nodes); no network "
    "contention; sends overlap computation",
    "collectives take ceil(log2 P) rounds (recursive doubling): five latency-bound Allreduces, "
    "the Allreduce of the p-entry gradient and the Bcast of dL/dz0 per gradient; a round of an "
    "Allreduce takes what one took on the ranks the model ran on divided by its rounds (L and "
    "L + 8p/W when not measured, or with --latency or --bandwidth given)",
    "the trajectory storage is the one measured (recomputation included in t(b)); memory never "
    "binds",
    "Parareal: K forward and K_a adjoint iterations are inputs, given or measured by Parareal "
    "gradients on the ranks the model runs on, and then taken to be the same for every P (in "
    "general K grows with P: measure it at the P of interest); each iteration is one parallel "
    "fine sweep of the blocks, a serial correction from rank to rank (g steps of the coarse "
    "scheme and a message per rank) and a convergence Allreduce; the iterative adjoint the "
    "same from right to left, the affine-map adjoint one sweep of B(D+1) rows and a prefix "
    "scan; the whole batch moves at once (no micro-batches)",
    "Newton shooting: K fine and K_c coarse sweeps are inputs, given, measured by cold Newton "
    "gradients on the ranks the model runs on, or assumed (K = 2, a warm start's; K_c = "
    "ceil(log2 P) + 1), the same for every P; a step with D tangent directions costs the "
    "forward step of the B states plus that of B*D rows of the network without its "
    "activations, t_f(B) + t_lin(BD) (a tangent row takes the products and the derivative "
    "its state row's activation computed: on one trajectory of D = 4 and 32 tanh units 1.9 "
    "plain steps, where 5 rows of the network cost 2.4); the coarse sweeps the same ratio to "
    "their plain steps; with one trajectory on two ranks the pipeline has no micro-batches "
    "to overlap (2n forward+backward steps of one sample in a row), Newton runs K tangent "
    "sweeps and one backward sweep of n steps in parallel: faster where K tangent steps cost "
    "less than a forward+backward step; the slowest "
    "rank sweeps every iteration; a sweep's end state and block Jacobian, the scan's "
    "ceil(log2 P) rounds of B(D^2+D) doubles and two compositions of B D^3 multiply-adds, and "
    "an Allreduce of 4 doubles per iteration; the adjoint one scan and one backward sweep; a "
    "gradient that falls back to the pipeline is not modelled",
    "batch groups: each group the pipeline of its share of the batch on P/G ranks, its "
    "collectives over all P ranks",
    "weak scaling: N grows as N*P with the same rule for M",
};
const int pm_nassumptions = (int)(sizeof pm_assumptions / sizeof pm_assumptions[0]);
