/* pinode bench --model: the model's formulas (see perfmodel.h), from what
 * perfmodel_measure.c measured.  No MPI, no measurement.
 *
 * Pipeline (docs/parallel.md), P ranks, M micro-batches of sizes b_m (the solver's
 * split: B/M, the first B mod M one larger), n_P = ⌈N/P⌉ steps on the slowest
 * rank, τ(b) = n_P·t(b) + c(b), msg(b) = L + 8(b·D + 1)/W:
 *   T(P, M) = Σ_m τ(b_m) + (P − 1)·(τ(b_0) + 2·msg(b_0)) + C(P)
 * (the last rank finishes its forward after the first micro-batch crossed
 * P − 1 blocks and messages, and the backward drains the same way), with the
 * collectives C(P) = ⌈log2 P⌉·(7·L + 8p/W + 8BD/W): five latency-bound
 * Allreduces (status agreements, loss), the Allreduce of θ̄ (p doubles) and
 * the Bcast of ∂L/∂z0.  Busy time of rank r: Σ_m (n_r·t(b_m) + c(b_m)).
 *
 * Parareal (docs/parallel.md), K forward and K_a adjoint iterations (inputs: given,
 * or measured by a Parareal run), coarse propagator G = g steps of the coarse
 * scheme per block, whole batch (no micro-batches), τ_F = n_P·t_f(B) + c(B),
 * τ_Fa = n_P·(t(B) − t_f(B)) + c(B), τ_G, τ_Ga the coarse forward and adjoint,
 * S = (P − 1)(τ_G + msg(B)) a serial coarse sweep:
 *   T = S + K(τ_F + S + ⌈log2 P⌉·L) + A + C(P)
 * with A = τ_G + K_a(τ_Fa + (P − 1)(τ_Ga + msg(B)) + ⌈log2 P⌉·L) for the
 * iterative adjoint, or one sweep of B(D+1) rows, a prefix scan and τ_Fa for
 * the affine maps (parareal_time below). */
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
  const double L = m->net->L, W = m->net->W;
  return pm_ceil_log2(P) * ((N_SMALL_ALLREDUCES + 2) * L + 8.0 * m->nparam / W +
                            8.0 * (double)m->B * m->D / W);
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
  const double msgB = msg_time(m, m->B), lg = pm_ceil_log2(P) * m->net->L;
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
    "the Allreduce of the p-entry gradient and the Bcast of dL/dz0 per gradient",
    "the trajectory storage is the one measured (recomputation included in t(b)); memory never "
    "binds",
    "Parareal: K forward and K_a adjoint iterations are inputs, given or measured by Parareal "
    "gradients on the ranks the model runs on, and then taken to be the same for every P (in "
    "general K grows with P: measure it at the P of interest); each iteration is one parallel "
    "fine sweep of the blocks, a serial correction from rank to rank (g steps of the coarse "
    "scheme and a message per rank) and a convergence Allreduce; the iterative adjoint the "
    "same from right to left, the affine-map adjoint one sweep of B(D+1) rows and a prefix "
    "scan; the whole batch moves at once (no micro-batches)",
    "weak scaling: N grows as N*P with the same rule for M",
};
const int pm_nassumptions = (int)(sizeof pm_assumptions / sizeof pm_assumptions[0]);
