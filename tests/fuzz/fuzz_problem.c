/* Fuzz the problem-directory reader (pn_problem_read, io.h) and what
 * `pinode gradient` builds from it.
 *
 * Input: up to five parts separated by FZ_SEP lines, written as meta.txt,
 * theta.txt, z0.txt, times.txt and targets.txt of a fresh directory (absent
 * parts: absent files).  Properties: no crash, hang or huge allocation
 * (libFuzzer's -rss_limit_mb / -malloc_limit_mb / -timeout); every error has a
 * message naming the directory; a problem that reads has the documented
 * shapes, all values finite; building the model, tableau, loss and solver and
 * (when cheap) a gradient under a 64 MiB memory limit either works or fails
 * with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"

static const char *const names[5] = {"meta.txt", "theta.txt", "z0.txt", "times.txt",
                                     "targets.txt"};

static void check_problem(const pn_problem *p)
{
  if (p->spec.dim < 1 || p->batch < 1 || p->steps < 1 || !(p->t1 > p->t0))
    fz_fail("problem read with dim %d, batch %d, steps %ld, [%g, %g]", p->spec.dim, p->batch,
            p->steps, p->t0, p->t1);
  const size_t BD = (size_t)p->batch * (size_t)p->spec.dim;
  for (int i = 0; i < p->nparam; i++)
    if (!isfinite(p->theta[i])) fz_fail("theta[%d] = %g accepted", i, p->theta[i]);
  for (size_t i = 0; i < BD; i++)
    if (!isfinite(p->z0[i])) fz_fail("z0[%zu] = %g accepted", i, p->z0[i]);
  for (int k = 0; k < p->nlabels; k++)
    if (!isfinite(p->times[k])) fz_fail("times[%d] = %g accepted", k, p->times[k]);
  for (size_t i = 0; i < (size_t)p->nlabels * BD; i++)
    if (!isfinite(p->targets[i])) fz_fail("targets[%zu] = %g accepted", i, p->targets[i]);
}

/* What cli_setup_problem + pinode gradient do, bounded in time and memory. */
static void build_and_solve(pn_ctx *ctx, const pn_problem *p, const char *dir)
{
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_loss *loss = NULL;
  pn_solver *S = NULL;
  double *grad = NULL, *gz = NULL;
  int rc = pn_model_create_mlp(ctx, &p->spec, &model);
  if (rc != PN_OK) fz_check_error(rc, NULL);
  if (rc == PN_OK && pn_model_nparam(model) != p->nparam)
    fz_fail("%s: the reader counts %d parameters, the model %d", dir, p->nparam,
            pn_model_nparam(model));
  if (rc == PN_OK && (rc = pn_tableau_create(ctx, p->scheme, &tab)) != PN_OK)
    fz_check_error(rc, p->scheme);
  if (rc == PN_OK &&
      (rc = pn_loss_create_mse(ctx, p->nlabels, p->times, p->targets, NULL, p->batch,
                               p->spec.dim, &loss)) != PN_OK)
    fz_check_error(rc, NULL);
  pn_solver_opts o;
  pn_solver_opts_default(&o);
  o.t0 = p->t0;
  o.t1 = p->t1;
  o.nsteps = p->steps;
  o.memory_limit = (size_t)64 << 20;
  if (rc == PN_OK && (rc = pn_solver_create(ctx, model, tab, &o, &S)) != PN_OK)
    fz_check_error(rc, NULL);
  /* A gradient only when it is cheap: the fuzzer must stay fast. */
  const double work = (double)p->steps * p->batch * (p->nparam + p->spec.dim);
  if (rc == PN_OK && work <= 2e5) {
    grad = calloc((size_t)p->nparam, sizeof *grad);
    gz = calloc((size_t)p->batch * (size_t)p->spec.dim, sizeof *gz);
    if (!grad || !gz) fz_fail("out of memory in the harness");
    double L = 0;
    rc = pn_solver_gradient(S, p->theta, p->batch, p->z0, loss, &L, grad, gz);
    if (rc != PN_OK) fz_check_error(rc, NULL);
  }
  free(grad);
  free(gz);
  pn_solver_destroy(&S);
  pn_loss_destroy(&loss);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  pn_ctx *ctx = fz_ctx();
  char dir[600], path[700];
  snprintf(dir, sizeof dir, "%s/problem", fz_dir());
  mkdir(dir, 0700);
  for (int i = 0; i < 5; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  size_t start[5], len[5];
  const int n = fz_split(data, size, 5, start, len);
  for (int i = 0; i < n; i++) {
    char name[64];
    snprintf(name, sizeof name, "problem/%s", names[i]);
    fz_write(name, data + start[i], len[i], path, sizeof path);
  }
  pn_problem *p = NULL;
  const int rc = pn_problem_read(ctx, dir, &p);
  if (rc != PN_OK) {
    fz_check_error(rc, dir);
    if (p) fz_fail("pn_problem_read failed but returned a problem");
  } else {
    check_problem(p);
    build_and_solve(ctx, p, dir);
  }
  pn_problem_destroy(&p);
  pn_ctx_clear_error(ctx);
  return 0;
}
