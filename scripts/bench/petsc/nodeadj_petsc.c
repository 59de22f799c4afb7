/*
 * nodeadj_petsc.c -- baseline: discrete adjoint of a batched neural ODE with PETSc TSAdjoint.
 *
 *   dz/dt = f(z; theta) = W2 tanh(W1 z + b1) + b2   (applied row-wise to the B x D batch)
 *   classic RK4 (TSRK, type "4"), fixed step h = (t1-t0)/N, no adaptivity
 *   L = sum_k 1/(B*D) * sum_b ||z_b(t_k) - y_k[b]||^2   (labels on the step grid)
 *
 * The gradient dL/dtheta, dL/dz0 is obtained with TSAdjointSolve (discrete adjoint of RK):
 *   - TSSetSaveTrajectory (default here: TSTRAJECTORYMEMORY, all steps in RAM)
 *   - TSSetRHSJacobian  with a MATSHELL J  (MatMultTranspose = state VJP  lambda -> J^T lambda)
 *   - TSSetRHSJacobianP with a MATSHELL Jp (MatMultTranspose = param VJP  lambda -> Jp^T lambda)
 *   The Jacobian callbacks only (re)compute tanh(W1 z + b1) for the stage state they are given.
 *   Batched matmuls use cblas_dgemm/cblas_dgemv (OpenBLAS), row-major B x D / B x H blocks.
 *
 * Label (multi-time) loss: adjoint jumps lambda += 2/(B*D) (z(t_k) - y_k) at each label step.
 *   -jumps pieces  (default): TSAdjointSetSteps + TSAdjointSolve from label to label, adding the
 *                   jump to the cost-gradient vector between the pieces.
 *   -jumps monitor : one TSAdjointSolve; the jump (from z(t_k)-y_k stored by the forward TSMonitor)
 *                   is added to lambda inside a TSAdjointMonitor callback, which PETSc calls with the
 *                   lambda vector just before each adjoint step.
 *   -jumps monitor_u: as monitor, but z(t_k) taken from the Vec U passed to the adjoint monitor.
 *                   Only correct with -ts_trajectory_type basic (TSTRAJECTORYMEMORY leaves U stale).
 *
 * Options: -data DIR (contains meta.txt theta.txt z0.txt targets.txt times.txt [ref/])
 *          -out DIR (write loss/grad files)  -nrep R  -warm W  -fd M (central FD on M theta + M z0 entries)
 *          -fd_eps e  -nsteps_override n (truncate: run only n steps, keep labels with step <= n)
 *          -jumps pieces|monitor|monitor_u  -check_repeat (compare gradients of all timed runs)
 *          -reset_traj_each (TSResetTrajectory before each forward; needed with -ts_trajectory_stride)
 *          -rescale_time (diagnostic: integrate in s = (t-t0)/h with unit steps and RHS h*f)
 *          plus any PETSc -ts_ / -ts_trajectory_ options (e.g. -ts_trajectory_type basic).
 */
#include <petscts.h>
#include <cblas.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(VEC_TANH)
#include <immintrin.h>
__m512d _ZGVeN8v_tanh(__m512d); /* glibc >= 2.35 libmvec */
#endif

typedef struct {
  PetscInt  D, H, B, N, K, P, n;
  PetscReal t0, t1, h;
  double   *theta; /* P values: W1 (H x D), b1 (H), W2 (D x H), b2 (D) */
  double   *W1, *b1, *W2, *b2;
  double   *z0, *targets, *times;
  PetscInt *label_step;  /* K */
  PetscInt *step_label;  /* N+1 : label index at this step, -1 if none */
  double   *diff;        /* K x n : z(t_k) - y_k (filled by forward monitor) */
  double    loss;
  /* cached stage quantities (set by the Jacobian callbacks) */
  double          *T;  /* B x H : tanh(W1 z + b1) at the cached state */
  double          *S;  /* B x H : 1 - T^2 */
  double          *Z;  /* B x D : copy of the cached state */
  PetscBool        z_valid;
  double          *G;    /* B x H : (lambda W2) .* S  for the cached lambda */
  double          *Glam; /* B x D : the lambda G was computed for */
  PetscBool        g_valid;
  double          *tmpBH; /* B x H scratch for RHS */
  double          *ones;  /* B */
  double           jumpscale; /* 2/(B*D) */
  PetscBool        jump_use_u;
  /* time variable seen by PETSc: default t in [t0,t1] with step h.  -rescale_time: s = (t-t0)/h, step 1,
     RHS h*f (diagnostic: PETSc's adjoint re-derives the step from stored times, which is exact only then) */
  double           fscale, ts_t0, ts_h;
  /* counters */
  long nrhs, njac, njacp, njac_recompute, nJt, nJpt, nJpt_reuseG;
} Ctx;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static PetscErrorCode read_doubles(const char *dir, const char *name, PetscInt n, double *x)
{
  char  path[PETSC_MAX_PATH_LEN];
  FILE *f;
  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(path, sizeof(path), "%s/%s", dir, name));
  f = fopen(path, "r");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  for (PetscInt i = 0; i < n; i++) PetscCheck(fscanf(f, "%lf", &x[i]) == 1, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "short read in %s at %" PetscInt_FMT, path, i);
  fclose(f);
  PetscFunctionReturn(0);
}

/* meta.txt: the key-value problem-directory format (dim, hidden, activation, time_input, batch,
   t0, t1, steps, scheme) or the legacy six numbers "D H B t0 t1 N".  Only one tanh hidden layer,
   no time input and classic rk4 are supported by this driver. */
static PetscErrorCode read_meta(const char *dir, double meta[6])
{
  char  path[PETSC_MAX_PATH_LEN], key[64], rest[256], line[512];
  FILE *f;
  int   kv = 0, seen = 0;
  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(path, sizeof(path), "%s/meta.txt", dir));
  f = fopen(path, "r");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  while (fgets(line, sizeof(line), f)) {
    if (sscanf(line, "%63s %255[^\n]", key, rest) != 2) continue;
    if (key[0] >= '0' && key[0] <= '9') break;
    kv = 1;
    if (!strcmp(key, "dim")) { meta[0] = atof(rest); seen |= 1; }
    else if (!strcmp(key, "hidden")) { int nh = 0; char *p = rest, *e; while (strtol(p, &e, 10), e != p) { nh++; if (nh == 1) meta[1] = atof(p); p = e; } PetscCheck(nh == 1, PETSC_COMM_SELF, PETSC_ERR_SUP, "%s: only one hidden layer is supported", path); seen |= 2; }
    else if (!strcmp(key, "batch")) { meta[2] = atof(rest); seen |= 4; }
    else if (!strcmp(key, "t0")) { meta[3] = atof(rest); seen |= 8; }
    else if (!strcmp(key, "t1")) { meta[4] = atof(rest); seen |= 16; }
    else if (!strcmp(key, "steps")) { meta[5] = atof(rest); seen |= 32; }
    else if (!strcmp(key, "activation")) PetscCheck(!strncmp(rest, "tanh", 4), PETSC_COMM_SELF, PETSC_ERR_SUP, "%s: only tanh is supported", path);
    else if (!strcmp(key, "time_input")) PetscCheck(atoi(rest) == 0, PETSC_COMM_SELF, PETSC_ERR_SUP, "%s: time input is not supported", path);
    else if (!strcmp(key, "scheme")) PetscCheck(!strncmp(rest, "rk4", 3) && (rest[3] == 0 || rest[3] == ' ' || rest[3] == '\r'), PETSC_COMM_SELF, PETSC_ERR_SUP, "%s: only classic rk4 is supported", path);
  }
  fclose(f);
  if (!kv) PetscCall(read_meta(dir, meta));
  else PetscCheck(seen == 63, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: missing one of dim hidden batch t0 t1 steps", path);
  PetscFunctionReturn(0);
}

static PetscErrorCode write_doubles(const char *dir, const char *name, PetscInt n, const double *x)
{
  char  path[PETSC_MAX_PATH_LEN];
  FILE *f;
  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(path, sizeof(path), "%s/%s", dir, name));
  f = fopen(path, "w");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  for (PetscInt i = 0; i < n; i++) fprintf(f, "%.17g\n", x[i]);
  fclose(f);
  PetscFunctionReturn(0);
}

/* ---------------- model ---------------- */

/* T = tanh(Z W1^T + b1), S = 1 - T^2 for state z (B x D) */
static void stage_activations(Ctx *c, const double *z, double *T, double *S)
{
  const int B = (int)c->B, D = (int)c->D, H = (int)c->H;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, D, 1.0, z, D, c->W1, D, 0.0, T, H);
  for (int b = 0; b < B; b++) {
    double *t = T + (size_t)b * H;
#if defined(VEC_TANH) /* build with make VEC=1: glibc libmvec AVX-512 tanh (<= 4 ulp), 8 lanes */
    int j = 0;
    for (; j + 8 <= H; j += 8) _mm512_storeu_pd(t + j, _ZGVeN8v_tanh(_mm512_add_pd(_mm512_loadu_pd(t + j), _mm512_loadu_pd(c->b1 + j))));
    for (; j < H; j++) t[j] = tanh(t[j] + c->b1[j]);
#else
    for (int j = 0; j < H; j++) t[j] = tanh(t[j] + c->b1[j]);
#endif
    if (S) {
      double *s = S + (size_t)b * H;
      for (int j = 0; j < H; j++) s[j] = 1.0 - t[j] * t[j];
    }
  }
}

static PetscErrorCode RHSFunction(TS ts, PetscReal t, Vec U, Vec F, void *vctx)
{
  Ctx          *c = (Ctx *)vctx;
  const double *z;
  double       *f;
  const int     B = (int)c->B, D = (int)c->D, H = (int)c->H;
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(U, &z));
  PetscCall(VecGetArrayWrite(F, &f));
  stage_activations(c, z, c->tmpBH, NULL);
  if (c->fscale == 1.0)
    for (int b = 0; b < B; b++) memcpy(f + (size_t)b * D, c->b2, sizeof(double) * D);
  else
    for (int b = 0; b < B; b++)
      for (int d = 0; d < D; d++) f[(size_t)b * D + d] = c->fscale * c->b2[d];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, D, H, c->fscale, c->tmpBH, H, c->W2, H, 1.0, f, D);
  PetscCall(VecRestoreArrayRead(U, &z));
  PetscCall(VecRestoreArrayWrite(F, &f));
  c->nrhs++;
  PetscFunctionReturn(0);
}

/* (re)compute cached T, S, Z for the state U unless already cached for a bit-identical state
   (PETSc calls the J and Jp callbacks back to back with the same stage vector) */
static PetscErrorCode cache_state(Ctx *c, Vec U)
{
  const double *z;
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(U, &z));
  if (!(c->z_valid && memcmp(z, c->Z, sizeof(double) * c->n) == 0)) {
    memcpy(c->Z, z, sizeof(double) * c->n);
    stage_activations(c, z, c->T, c->S);
    c->z_valid = PETSC_TRUE;
    c->g_valid = PETSC_FALSE;
    c->njac_recompute++;
  }
  PetscCall(VecRestoreArrayRead(U, &z));
  PetscFunctionReturn(0);
}

static PetscErrorCode RHSJacobian(TS ts, PetscReal t, Vec U, Mat A, Mat Bm, void *vctx)
{
  Ctx *c = (Ctx *)vctx;
  PetscFunctionBeginUser;
  c->njac++;
  PetscCall(cache_state(c, U));
  PetscFunctionReturn(0);
}

static PetscErrorCode RHSJacobianP(TS ts, PetscReal t, Vec U, Mat A, void *vctx)
{
  Ctx *c = (Ctx *)vctx;
  PetscFunctionBeginUser;
  c->njacp++;
  PetscCall(cache_state(c, U));
  PetscFunctionReturn(0);
}

/* G = (lam W2) .* S   (B x H); remembers lam so that Jp^T can reuse G for the same lambda */
static PetscErrorCode compute_G(Ctx *c, const double *lam)
{
  const int B = (int)c->B, D = (int)c->D, H = (int)c->H;
  PetscFunctionBeginUser;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, D, 1.0, lam, D, c->W2, H, 0.0, c->G, H);
  for (size_t i = 0; i < (size_t)B * H; i++) c->G[i] *= c->S[i];
  memcpy(c->Glam, lam, sizeof(double) * c->n);
  c->g_valid = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* y = J^T x : state VJP, J_b = W2 diag(S_b) W1 ;  y = ((x W2) .* S) W1 */
static PetscErrorCode JMultTranspose(Mat A, Vec X, Vec Y)
{
  Ctx          *c;
  const double *x;
  double       *y;
  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(A, &c));
  const int D = (int)c->D, H = (int)c->H, B = (int)c->B;
  PetscCall(VecGetArrayRead(X, &x));
  PetscCall(VecGetArrayWrite(Y, &y));
  PetscCall(compute_G(c, x));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, H, c->fscale, c->G, H, c->W1, D, 0.0, y, D);
  PetscCall(VecRestoreArrayRead(X, &x));
  PetscCall(VecRestoreArrayWrite(Y, &y));
  c->nJt++;
  PetscFunctionReturn(0);
}

/* y = J v : state JVP (not used by TSAdjoint, provided for completeness / -ts_rhs_jacobian_test_mult) */
static PetscErrorCode JMult(Mat A, Vec X, Vec Y)
{
  Ctx          *c;
  const double *x;
  double       *y, *g;
  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(A, &c));
  const int B = (int)c->B, D = (int)c->D, H = (int)c->H;
  PetscCall(PetscMalloc1((size_t)B * H, &g));
  PetscCall(VecGetArrayRead(X, &x));
  PetscCall(VecGetArrayWrite(Y, &y));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, D, 1.0, x, D, c->W1, D, 0.0, g, H);
  for (size_t i = 0; i < (size_t)B * H; i++) g[i] *= c->S[i];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, D, H, c->fscale, g, H, c->W2, H, 0.0, y, D);
  PetscCall(VecRestoreArrayRead(X, &x));
  PetscCall(VecRestoreArrayWrite(Y, &y));
  PetscCall(PetscFree(g));
  PetscFunctionReturn(0);
}

/* y = Jp^T x : parameter VJP.  dW1 = G^T Z, db1 = sum_b G, dW2 = x^T T, db2 = sum_b x */
static PetscErrorCode JpMultTranspose(Mat A, Vec X, Vec Y)
{
  Ctx             *c;
  const double    *x;
  double          *y;
  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(A, &c));
  const int B = (int)c->B, D = (int)c->D, H = (int)c->H;
  const size_t oW1 = 0, ob1 = (size_t)H * D, oW2 = ob1 + H, ob2 = oW2 + (size_t)D * H;
  PetscCall(VecGetArrayRead(X, &x));
  PetscCall(VecGetArrayWrite(Y, &y));
  if (c->g_valid && memcmp(x, c->Glam, sizeof(double) * c->n) == 0) c->nJpt_reuseG++;
  else PetscCall(compute_G(c, x));
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, B, c->fscale, c->G, H, c->Z, D, 0.0, y + oW1, D);
  cblas_dgemv(CblasRowMajor, CblasTrans, B, H, c->fscale, c->G, H, c->ones, 1, 0.0, y + ob1, 1);
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, H, B, c->fscale, x, D, c->T, H, 0.0, y + oW2, H);
  cblas_dgemv(CblasRowMajor, CblasTrans, B, D, c->fscale, x, D, c->ones, 1, 0.0, y + ob2, 1);
  PetscCall(VecRestoreArrayRead(X, &x));
  PetscCall(VecRestoreArrayWrite(Y, &y));
  c->nJpt++;
  PetscFunctionReturn(0);
}

/* ---------------- loss / jumps ---------------- */

static PetscErrorCode FwdMonitor(TS ts, PetscInt step, PetscReal t, Vec U, void *vctx)
{
  Ctx          *c = (Ctx *)vctx;
  const double *z;
  PetscInt      k;
  PetscFunctionBeginUser;
  if (step < 0 || step > c->N) PetscFunctionReturn(0);
  k = c->step_label[step];
  if (k < 0) PetscFunctionReturn(0);
  PetscCall(VecGetArrayRead(U, &z));
  double *d = c->diff + (size_t)k * c->n, s = 0.0;
  const double *y = c->targets + (size_t)k * c->n;
  for (PetscInt i = 0; i < c->n; i++) {
    d[i] = z[i] - y[i];
    s += d[i] * d[i];
  }
  c->loss += s / (double)c->n;
  PetscCall(VecRestoreArrayRead(U, &z));
  PetscFunctionReturn(0);
}

static PetscErrorCode add_jump(Ctx *c, Vec lambda, PetscInt k)
{
  double *l;
  PetscFunctionBeginUser;
  PetscCall(VecGetArray(lambda, &l));
  const double *d = c->diff + (size_t)k * c->n;
  for (PetscInt i = 0; i < c->n; i++) l[i] += c->jumpscale * d[i];
  PetscCall(VecRestoreArray(lambda, &l));
  PetscFunctionReturn(0);
}

/* adjoint-monitor variant of the jumps: lambda += 2/(BD) (z(t_k) - y_k), called by TSAdjointSolve just
   before the adjoint step that leaves step k.  use_u = 0: z(t_k) - y_k stored by the forward monitor;
   use_u = 1: uses the Vec U handed to the monitor (state "restored" from the trajectory).
   NOTE: with TSTRAJECTORYMEMORY U is NOT the state of that step (only stage vectors are restored, ts->vec_sol
   stays stale), so use_u = 1 is only correct with TSTRAJECTORYBASIC. */
static PetscErrorCode AdjJumpMonitor(TS ts, PetscInt step, PetscReal t, Vec U, PetscInt numcost, Vec *lambda, Vec *mu, void *vctx)
{
  Ctx          *c = (Ctx *)vctx;
  const double *z;
  double       *l;
  PetscInt      k;
  PetscFunctionBeginUser;
  if (step < 0 || step > c->N) PetscFunctionReturn(0);
  k = c->step_label[step];
  if (k < 0) PetscFunctionReturn(0);
  if (!c->jump_use_u) {
    PetscCall(add_jump(c, lambda[0], k));
    PetscFunctionReturn(0);
  }
  const double *y = c->targets + (size_t)k * c->n;
  PetscCall(VecGetArrayRead(U, &z));
  PetscCall(VecGetArray(lambda[0], &l));
  for (PetscInt i = 0; i < c->n; i++) l[i] += c->jumpscale * (z[i] - y[i]);
  PetscCall(VecRestoreArray(lambda[0], &l));
  PetscCall(VecRestoreArrayRead(U, &z));
  PetscFunctionReturn(0);
}

/* ---------------- TS setup and evaluation ---------------- */

static PetscErrorCode make_ts(Ctx *c, PetscBool adjoint, Mat J, Mat Jp, TS *ts_out)
{
  TS      ts;
  TSAdapt adapt;
  PetscFunctionBeginUser;
  PetscCall(TSCreate(PETSC_COMM_SELF, &ts));
  if (!adjoint) PetscCall(TSSetOptionsPrefix(ts, "fwd_"));
  PetscCall(TSSetProblemType(ts, TS_NONLINEAR));
  PetscCall(TSSetType(ts, TSRK));
  PetscCall(TSRKSetType(ts, TSRK4));
  PetscCall(TSSetRHSFunction(ts, NULL, RHSFunction, c));
  PetscCall(TSSetTime(ts, c->ts_t0));
  PetscCall(TSSetTimeStep(ts, c->ts_h));
  PetscCall(TSSetMaxSteps(ts, c->N));
  PetscCall(TSSetMaxTime(ts, c->ts_t0 + c->N * c->ts_h));
  PetscCall(TSSetExactFinalTime(ts, TS_EXACTFINALTIME_STEPOVER));
  PetscCall(TSGetAdapt(ts, &adapt));
  PetscCall(TSAdaptSetType(adapt, TSADAPTNONE));
  PetscCall(TSMonitorSet(ts, FwdMonitor, c, NULL));
  if (adjoint) {
    TSTrajectory tj;
    PetscCall(TSSetRHSJacobian(ts, J, J, RHSJacobian, c));
    PetscCall(TSSetRHSJacobianP(ts, Jp, RHSJacobianP, c));
    PetscCall(TSSetSaveTrajectory(ts));
    PetscCall(TSGetTrajectory(ts, &tj));
    PetscCall(TSTrajectorySetType(tj, ts, TSTRAJECTORYMEMORY)); /* default of this program; -ts_trajectory_type overrides */
  }
  PetscCall(TSSetFromOptions(ts));
  *ts_out = ts;
  PetscFunctionReturn(0);
}

static PetscBool reset_traj_each = PETSC_FALSE; /* -reset_traj_each: fresh TSTrajectory before every forward solve */

static PetscErrorCode forward(Ctx *c, TS ts, Vec U)
{
  double      *u;
  TSTrajectory tj;
  PetscFunctionBeginUser;
  PetscCall(TSGetTrajectory(ts, &tj));
  if (tj && reset_traj_each) { /* needed for the two-level (stride, disk) checkpointing: 3.18 refuses to reuse its directory */
    PetscCall(TSResetTrajectory(ts));
    PetscCall(TSGetTrajectory(ts, &tj));
    PetscCall(TSTrajectorySetType(tj, ts, TSTRAJECTORYMEMORY));
    PetscCall(TSTrajectorySetFromOptions(tj, ts));
  }
  PetscCall(VecGetArrayWrite(U, &u));
  memcpy(u, c->z0, sizeof(double) * c->n);
  PetscCall(VecRestoreArrayWrite(U, &u));
  PetscCall(TSSetTime(ts, c->ts_t0));
  PetscCall(TSSetStepNumber(ts, 0));
  PetscCall(TSSetTimeStep(ts, c->ts_h));
  c->loss = 0.0;
  c->z_valid = PETSC_FALSE;
  c->g_valid = PETSC_FALSE;
  PetscCall(TSSolve(ts, U));
  PetscFunctionReturn(0);
}

/* full gradient: forward with trajectory + adjoint with jumps */
static PetscErrorCode gradient(Ctx *c, TS ts, Vec U, Vec lambda, Vec mu, PetscBool jump_monitor, double *tfwd, double *tadj)
{
  PetscInt steps, cur;
  double   ta, tb, tc;
  PetscFunctionBeginUser;
  ta = now_s();
  PetscCall(forward(c, ts, U));
  tb = now_s();
  PetscCall(TSGetStepNumber(ts, &steps));
  PetscCheck(steps == c->N, PETSC_COMM_SELF, PETSC_ERR_PLIB, "forward took %" PetscInt_FMT " steps, expected %" PetscInt_FMT, steps, c->N);
  PetscCall(VecSet(lambda, 0.0));
  PetscCall(VecSet(mu, 0.0));
  c->z_valid = PETSC_FALSE;
  c->g_valid = PETSC_FALSE;
  PetscCall(TSSetCostGradients(ts, 1, &lambda, &mu));
  if (jump_monitor) {
    PetscCall(TSAdjointSolve(ts)); /* jumps added by AdjJumpMonitor, incl. the one at t_N */
  } else {
    cur = c->N;
    for (PetscInt k = c->K - 1; k >= 0; k--) {
      PetscInt sk = c->label_step[k];
      if (sk < cur) {
        PetscCall(TSAdjointSetSteps(ts, cur - sk));
        PetscCall(TSAdjointSolve(ts));
        cur = sk;
      }
      PetscCall(add_jump(c, lambda, k));
    }
    if (cur > 0) {
      PetscCall(TSAdjointSetSteps(ts, cur));
      PetscCall(TSAdjointSolve(ts));
    }
  }
  tc = now_s();
  if (tfwd) *tfwd = tb - ta;
  if (tadj) *tadj = tc - tb;
  PetscFunctionReturn(0);
}

static int cmpd(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double relerr(PetscInt n, const double *a, const double *ref, double *maxrel)
{
  double num = 0, den = 0, mr = 0, amax = 0;
  for (PetscInt i = 0; i < n; i++) {
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
    if (fabs(ref[i]) > amax) amax = fabs(ref[i]);
  }
  for (PetscInt i = 0; i < n; i++) { /* elementwise, relative to max(|ref_i|, 1e-3*max|ref|) */
    double s = fabs(ref[i]) > 1e-3 * amax ? fabs(ref[i]) : 1e-3 * amax;
    double r = fabs(a[i] - ref[i]) / s;
    if (r > mr) mr = r;
  }
  if (maxrel) *maxrel = mr;
  return sqrt(num / den);
}

static PetscBool file_exists(const char *dir, const char *name)
{
  char  path[PETSC_MAX_PATH_LEN];
  FILE *f;
  PetscSNPrintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "r");
  if (f) fclose(f);
  return f ? PETSC_TRUE : PETSC_FALSE;
}

int main(int argc, char **argv)
{
  Ctx       c;
  char      dir[PETSC_MAX_PATH_LEN] = "../../../tests/data/bench/spiral", outdir[PETSC_MAX_PATH_LEN] = "", jumps[32] = "pieces", refdir[PETSC_MAX_PATH_LEN];
  PetscInt  nrep = 7, warm = 2, nfd = 0, nover = 0;
  PetscReal fd_eps = 1e-6;
  PetscBool jump_monitor = PETSC_FALSE, check_repeat = PETSC_FALSE, flg;
  double    meta[6];
  TS        ts, tsf;
  Mat       J, Jp;
  Vec       U, lambda, mu;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscMemzero(&c, sizeof(c)));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-data", dir, sizeof(dir), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-out", outdir, sizeof(outdir), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-jumps", jumps, sizeof(jumps), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nrep", &nrep, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-warm", &warm, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-fd", &nfd, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-fd_eps", &fd_eps, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nsteps_override", &nover, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-check_repeat", &check_repeat, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-reset_traj_each", &reset_traj_each, NULL));
  jump_monitor = (strncmp(jumps, "monitor", 7) == 0) ? PETSC_TRUE : PETSC_FALSE;
  c.jump_use_u = (strcmp(jumps, "monitor_u") == 0) ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-ref", refdir, sizeof(refdir), &flg));
  if (!flg) PetscCall(PetscSNPrintf(refdir, sizeof(refdir), "%s/ref", dir));

  /* ---- data ---- */
  PetscCall(read_meta(dir, meta));
  c.D  = (PetscInt)meta[0];
  c.H  = (PetscInt)meta[1];
  c.B  = (PetscInt)meta[2];
  c.t0 = meta[3];
  c.t1 = meta[4];
  c.N  = (PetscInt)meta[5];
  c.h  = (c.t1 - c.t0) / (double)c.N;
  c.n  = c.B * c.D;
  c.P  = 2 * c.H * c.D + c.H + c.D;
  {
    FILE *f;
    char  path[PETSC_MAX_PATH_LEN];
    double tmp;
    PetscCall(PetscSNPrintf(path, sizeof(path), "%s/times.txt", dir));
    f = fopen(path, "r");
    PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
    c.K = 0;
    while (fscanf(f, "%lf", &tmp) == 1) c.K++;
    fclose(f);
  }
  PetscCall(PetscMalloc1(c.P, &c.theta));
  PetscCall(PetscMalloc1(c.n, &c.z0));
  PetscCall(PetscMalloc1(c.K, &c.times));
  PetscCall(PetscMalloc1((size_t)c.K * c.n, &c.targets));
  PetscCall(read_doubles(dir, "theta.txt", c.P, c.theta));
  PetscCall(read_doubles(dir, "z0.txt", c.n, c.z0));
  PetscCall(read_doubles(dir, "times.txt", c.K, c.times));
  PetscCall(read_doubles(dir, "targets.txt", c.K * c.n, c.targets));
  c.W1 = c.theta;
  c.b1 = c.W1 + c.H * c.D;
  c.W2 = c.b1 + c.H;
  c.b2 = c.W2 + c.D * c.H;
  PetscCall(PetscMalloc1(c.K, &c.label_step));
  for (PetscInt k = 0; k < c.K; k++) {
    double s = (c.times[k] - c.t0) / c.h;
    c.label_step[k] = (PetscInt)llround(s);
    PetscCheck(fabs(s - c.label_step[k]) < 1e-6, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "label time %g not on the step grid", c.times[k]);
    if (k) PetscCheck(c.label_step[k] > c.label_step[k - 1], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "label times must be increasing");
  }
  if (nover > 0 && nover < c.N) { /* truncated run for extrapolation: keep labels with step <= nover */
    PetscInt K2 = 0;
    while (K2 < c.K && c.label_step[K2] <= nover) K2++;
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "TRUNCATED: N %" PetscInt_FMT " -> %" PetscInt_FMT ", labels %" PetscInt_FMT " -> %" PetscInt_FMT "\n", c.N, nover, c.K, K2));
    c.N = nover;
    c.K = K2;
    c.t1 = c.t0 + c.N * c.h;
  }
  PetscCall(PetscMalloc1(c.N + 1, &c.step_label));
  for (PetscInt i = 0; i <= c.N; i++) c.step_label[i] = -1;
  for (PetscInt k = 0; k < c.K; k++) c.step_label[c.label_step[k]] = k;
  PetscCall(PetscMalloc1((size_t)c.K * c.n, &c.diff));
  PetscCall(PetscMalloc1((size_t)c.B * c.H, &c.T));
  PetscCall(PetscMalloc1((size_t)c.B * c.H, &c.S));
  PetscCall(PetscMalloc1((size_t)c.B * c.H, &c.G));
  PetscCall(PetscMalloc1((size_t)c.B * c.H, &c.tmpBH));
  PetscCall(PetscMalloc1(c.n, &c.Z));
  PetscCall(PetscMalloc1(c.n, &c.Glam));
  PetscCall(PetscMalloc1(c.B, &c.ones));
  for (PetscInt b = 0; b < c.B; b++) c.ones[b] = 1.0;
  c.jumpscale = 2.0 / (double)c.n;
  {
    PetscBool rescale = PETSC_FALSE;
    PetscCall(PetscOptionsGetBool(NULL, NULL, "-rescale_time", &rescale, NULL));
    c.fscale = rescale ? c.h : 1.0;
    c.ts_t0  = rescale ? 0.0 : c.t0;
    c.ts_h   = rescale ? 1.0 : c.h;
    if (rescale) PetscCall(PetscPrintf(PETSC_COMM_SELF, "RESCALED TIME: PETSc integrates ds = 1, RHS = h*f\n"));
  }

  PetscCall(PetscPrintf(PETSC_COMM_SELF, "problem %s: D=%" PetscInt_FMT " H=%" PetscInt_FMT " B=%" PetscInt_FMT " t=[%g,%g] N=%" PetscInt_FMT " h=%.17g K=%" PetscInt_FMT " P=%" PetscInt_FMT " state=%" PetscInt_FMT "  jumps=%s\n", dir, c.D, c.H, c.B, c.t0, c.t1, c.N, c.h, c.K, c.P, c.n, jumps));

  /* ---- PETSc objects ---- */
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, c.n, &U));
  PetscCall(VecDuplicate(U, &lambda));
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, c.P, &mu));
  PetscCall(MatCreateShell(PETSC_COMM_SELF, c.n, c.n, c.n, c.n, &c, &J));
  PetscCall(MatShellSetOperation(J, MATOP_MULT_TRANSPOSE, (void (*)(void))JMultTranspose));
  PetscCall(MatShellSetOperation(J, MATOP_MULT, (void (*)(void))JMult));
  PetscCall(MatCreateShell(PETSC_COMM_SELF, c.n, c.P, c.n, c.P, &c, &Jp));
  PetscCall(MatShellSetOperation(Jp, MATOP_MULT_TRANSPOSE, (void (*)(void))JpMultTranspose));
  PetscCall(make_ts(&c, PETSC_TRUE, J, Jp, &ts));
  if (jump_monitor) PetscCall(TSAdjointMonitorSet(ts, AdjJumpMonitor, &c, NULL));
  {
    TSRKType     rktype;
    TSTrajectory tj;
    TSTrajectoryType tjtype;
    PetscCall(TSRKGetType(ts, &rktype));
    PetscCall(TSGetTrajectory(ts, &tj));
    PetscCall(TSTrajectoryGetType(tj, ts, &tjtype));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "TSRK type %s, trajectory %s\n", rktype, tjtype ? tjtype : "(unset)"));
  }

  /* ---- first gradient: correctness ---- */
  double *g_theta, *g_z0;
  PetscCall(PetscMalloc1(c.P, &g_theta));
  PetscCall(PetscMalloc1(c.n, &g_z0));
  {
    double tf, tadj;
    const double *a;
    PetscCall(gradient(&c, ts, U, lambda, mu, jump_monitor, &tf, &tadj));
    PetscCall(VecGetArrayRead(mu, &a));
    memcpy(g_theta, a, sizeof(double) * c.P);
    PetscCall(VecRestoreArrayRead(mu, &a));
    PetscCall(VecGetArrayRead(lambda, &a));
    memcpy(g_z0, a, sizeof(double) * c.n);
    PetscCall(VecRestoreArrayRead(lambda, &a));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "loss = %.17g\n", c.loss));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "first eval: forward %.4f s, adjoint %.4f s\n", tf, tadj));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "|dL/dtheta| = %.6e  |dL/dz0| = %.6e\n", cblas_dnrm2((int)c.P, g_theta, 1), cblas_dnrm2((int)c.n, g_z0, 1)));
  }
  if (outdir[0]) {
    PetscCall(write_doubles(outdir, "loss.txt", 1, &c.loss));
    PetscCall(write_doubles(outdir, "grad_theta.txt", c.P, g_theta));
    PetscCall(write_doubles(outdir, "grad_z0.txt", c.n, g_z0));
  }
  if (!nover && file_exists(refdir, "grad_theta.txt")) {
    double *r, mr, rl;
    PetscCall(PetscMalloc1(PetscMax(c.P, c.n), &r));
    PetscCall(read_doubles(refdir, "loss.txt", 1, r));
    rl = r[0];
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "REF %s: loss rel err = %.3e\n", refdir, fabs(c.loss - rl) / fabs(rl)));
    PetscCall(read_doubles(refdir, "grad_theta.txt", c.P, r));
    double e1 = relerr(c.P, g_theta, r, &mr);
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "REF: grad_theta rel err (2-norm) = %.3e  max elementwise rel = %.3e\n", e1, mr));
    PetscCall(read_doubles(refdir, "grad_z0.txt", c.n, r));
    double e2 = relerr(c.n, g_z0, r, &mr);
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "REF: grad_z0    rel err (2-norm) = %.3e  max elementwise rel = %.3e\n", e2, mr));
    PetscCall(PetscFree(r));
  } else PetscCall(PetscPrintf(PETSC_COMM_SELF, "REF: no reference at %s\n", refdir));

  /* ---- finite differences on a few entries (forward-only TS, no trajectory) ---- */
  if (nfd > 0) {
    PetscCall(make_ts(&c, PETSC_FALSE, NULL, NULL, &tsf));
    for (PetscInt which = 0; which < 2; which++) {
      PetscInt nn = which ? c.n : c.P;
      double  *x  = which ? c.z0 : c.theta;
      double  *g  = which ? g_z0 : g_theta;
      for (PetscInt m = 0; m < nfd; m++) {
        PetscInt i = (PetscInt)(((long long)m * 7919 + 13) % nn);
        if (!which && m == 1) i = c.P - 1;       /* last entry of b2 */
        if (!which && m == 2) i = c.H * c.D + 1; /* an entry of b1 */
        double xi = x[i], e = fd_eps * (fabs(xi) > 1 ? fabs(xi) : 1), lp, lm;
        x[i] = xi + e;
        PetscCall(forward(&c, tsf, U));
        lp = c.loss;
        x[i] = xi - e;
        PetscCall(forward(&c, tsf, U));
        lm = c.loss;
        x[i] = xi;
        double fd = (lp - lm) / (2 * e);
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "FD %s[%5" PetscInt_FMT "]: adjoint % .12e  fd % .12e  rel diff %.2e\n", which ? "z0   " : "theta", i, g[i], fd, fabs(fd - g[i]) / PetscMax(fabs(g[i]), 1e-300)));
      }
    }
    PetscCall(TSDestroy(&tsf));
  }

  /* ---- timing ---- */
  if (nrep > 0) {
    double *tt, *tfw, *tad, maxdev = 0;
    long    nrhs0 = c.nrhs, njac0 = c.njac, nrec0 = c.njac_recompute, nJt0 = c.nJt, nJpt0 = c.nJpt, nre0 = c.nJpt_reuseG;
    PetscCall(PetscMalloc3(nrep, &tt, nrep, &tfw, nrep, &tad));
    for (PetscInt r = 0; r < warm + nrep; r++) {
      double tf, ta, t0 = now_s();
      PetscCall(gradient(&c, ts, U, lambda, mu, jump_monitor, &tf, &ta));
      double t1 = now_s();
      if (r >= warm) {
        tt[r - warm]  = t1 - t0;
        tfw[r - warm] = tf;
        tad[r - warm] = ta;
      }
      if (check_repeat) {
        const double *a;
        PetscCall(VecGetArrayRead(mu, &a));
        for (PetscInt i = 0; i < c.P; i++) maxdev = PetscMax(maxdev, fabs(a[i] - g_theta[i]));
        PetscCall(VecRestoreArrayRead(mu, &a));
      }
      if (r == 0) {
        nrhs0 = c.nrhs - nrhs0; njac0 = c.njac - njac0; nrec0 = c.njac_recompute - nrec0; nJt0 = c.nJt - nJt0; nJpt0 = c.nJpt - nJpt0; nre0 = c.nJpt_reuseG - nre0;
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "per gradient: RHS evals %ld, Jacobian callbacks %ld (state recomputes %ld), J^T mults %ld, Jp^T mults %ld (G reused %ld)\n", nrhs0, njac0, nrec0, nJt0, nJpt0, nre0));
      }
    }
    double med = 0, mn, mx, mf = 0, ma = 0;
    qsort(tt, nrep, sizeof(double), cmpd);
    qsort(tfw, nrep, sizeof(double), cmpd);
    qsort(tad, nrep, sizeof(double), cmpd);
    med = (nrep % 2) ? tt[nrep / 2] : 0.5 * (tt[nrep / 2 - 1] + tt[nrep / 2]);
    mf  = (nrep % 2) ? tfw[nrep / 2] : 0.5 * (tfw[nrep / 2 - 1] + tfw[nrep / 2]);
    ma  = (nrep % 2) ? tad[nrep / 2] : 0.5 * (tad[nrep / 2 - 1] + tad[nrep / 2]);
    mn  = tt[0];
    mx  = tt[nrep - 1];
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "TIMING (%" PetscInt_FMT " runs after %" PetscInt_FMT " warm-up): gradient median %.6f s  min %.6f  max %.6f   [forward median %.6f, adjoint median %.6f]\n", nrep, warm, med, mn, mx, mf, ma));
    if (check_repeat) PetscCall(PetscPrintf(PETSC_COMM_SELF, "repeat check: max |grad_theta(run) - grad_theta(first)| = %.3e\n", maxdev));
    PetscCall(PetscFree3(tt, tfw, tad));
  }

  PetscCall(TSDestroy(&ts));
  PetscCall(MatDestroy(&J));
  PetscCall(MatDestroy(&Jp));
  PetscCall(VecDestroy(&U));
  PetscCall(VecDestroy(&lambda));
  PetscCall(VecDestroy(&mu));
  PetscCall(PetscFree(g_theta));
  PetscCall(PetscFree(g_z0));
  PetscCall(PetscFree(c.theta));
  PetscCall(PetscFree(c.z0));
  PetscCall(PetscFree(c.times));
  PetscCall(PetscFree(c.targets));
  PetscCall(PetscFree(c.label_step));
  PetscCall(PetscFree(c.step_label));
  PetscCall(PetscFree(c.diff));
  PetscCall(PetscFree(c.T));
  PetscCall(PetscFree(c.S));
  PetscCall(PetscFree(c.G));
  PetscCall(PetscFree(c.tmpBH));
  PetscCall(PetscFree(c.Z));
  PetscCall(PetscFree(c.Glam));
  PetscCall(PetscFree(c.ones));
  PetscCall(PetscFinalize());
  return 0;
}
