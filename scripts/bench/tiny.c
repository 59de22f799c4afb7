/* bench_tiny: the per-step cost of a tiny problem, where every overhead of a
 * step shows (the performance lab, scripts/bench.sh; a development tool, not
 * installed).  A user of the public API like any other.
 *
 *   bench_tiny [--steps N] [--repeat R] [--warmup W] [--clock cpu|wall]
 *
 * D = 2, H = 16 (tanh), B = 1, rk4, N steps (default 20000), a label at the
 * end, every stage kept (the fastest storage here): the median over R runs
 * (default 7, after W = 2) of the seconds per step of the forward sweep and of
 * the gradient, and their matrix-product flops per step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pinode.h>
#include "median.h"

enum { D = 2, H = 16, NP = H * D + H + D * H + D, MAX_REPEAT = 1000 };

static int cpu_clock = 0;

static double now(void)
{
  struct timespec ts;
  clock_gettime(cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct tiny {
  pn_model *model;
  pn_tableau *tab;
  pn_loss *loss;
  pn_solver *solver;
  double theta[NP];
} tiny;

static int tiny_make(pn_ctx *ctx, long steps, tiny *t)
{
  static const int widths[1] = {H};
  static const pn_activation acts[1] = {PN_ACT_TANH};
  static const double target[D] = {0.1, 0.2}, t_label = 1.0;
  const pn_mlp_spec spec = {D, 1, widths, acts, 0};
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.t0 = 0.0;
  opts.t1 = 1.0;
  opts.nsteps = steps;
  opts.storage = PN_STORE_STAGES; /* 1.2 kB a step */
  int rc = pn_model_create_mlp(ctx, &spec, &t->model);
  if (rc == PN_OK) rc = pn_model_init_params(t->model, 7, t->theta);
  if (rc == PN_OK) rc = pn_tableau_create(ctx, "rk4", &t->tab);
  if (rc == PN_OK) rc = pn_loss_create_mse(ctx, 1, &t_label, target, NULL, 1, D, &t->loss);
  if (rc == PN_OK) rc = pn_solver_create(ctx, t->model, t->tab, &opts, &t->solver);
  return rc;
}

static void tiny_free(tiny *t)
{
  pn_solver_destroy(&t->solver);
  pn_loss_destroy(&t->loss);
  pn_tableau_destroy(&t->tab);
  pn_model_destroy(&t->model);
}

static int usage(void)
{
  fprintf(stderr, "usage: bench_tiny [--steps N] [--repeat R] [--warmup W] [--clock cpu|wall]\n");
  return 2;
}

int main(int argc, char **argv)
{
  long steps = 20000;
  int repeat = 7, warmup = 2;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(argv[i], "--steps") == 0) steps = atol(v);
    else if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(v);
    else if (strcmp(argv[i], "--warmup") == 0) warmup = atoi(v);
    else if (strcmp(argv[i], "--clock") == 0 && (strcmp(v, "cpu") == 0 || strcmp(v, "wall") == 0))
      cpu_clock = v[0] == 'c';
    else return usage();
    i++;
  }
  if (steps < 1 || repeat < 1 || repeat > MAX_REPEAT || warmup < 0) return usage();
  MPI_Init(&argc, &argv);
  pn_ctx *ctx = NULL;
  tiny t = {0};
  int rc = pn_ctx_create(MPI_COMM_SELF, &ctx);
  if (rc == PN_OK) rc = tiny_make(ctx, steps, &t);
  static double tf[MAX_REPEAT], tg[MAX_REPEAT];
  const double z0[D] = {0.5, -0.25};
  double grad[NP + D], L = 0.0, flops_fwd = 0.0, flops_grad = 0.0;
  for (int i = 0; rc == PN_OK && i < warmup + repeat; i++) {
    double f0 = pn_kernels_flops(), t0 = now();
    rc = pn_solver_loss(t.solver, t.theta, 1, z0, t.loss, &L);
    const double dtf = now() - t0;
    flops_fwd = (pn_kernels_flops() - f0) / (double)steps;
    f0 = pn_kernels_flops();
    t0 = now();
    if (rc == PN_OK) rc = pn_solver_gradient(t.solver, t.theta, 1, z0, t.loss, &L, grad, grad + NP);
    const double dtg = now() - t0;
    flops_grad = (pn_kernels_flops() - f0) / (double)steps;
    if (i >= warmup) {
      tf[i - warmup] = dtf / (double)steps;
      tg[i - warmup] = dtg / (double)steps;
    }
  }
  if (rc == PN_OK)
    printf("tiny (D=%d, H=%d, B=1, rk4, %ld steps): forward %.0f ns per step (%.0f flops), "
           "gradient %.0f ns per step (%.0f flops)\n",
           D, H, steps, 1e9 * median(tf, repeat), flops_fwd, 1e9 * median(tg, repeat), flops_grad);
  else
    fprintf(stderr, "bench_tiny: %s\n", pn_ctx_last_error(ctx));
  tiny_free(&t);
  pn_ctx_destroy(&ctx);
  MPI_Finalize();
  return rc == PN_OK ? 0 : 1;
}
