/* The floor of the tiny problem's per-step target (the performance lab,
 * scripts/bench/lab.py; a benchmark, not a test): the tiny
 * problem (D = 2, H = 16, B = 1, rk4, no time input) stepped N times forward,
 * and forward with its tape then backward (the exact discrete adjoint, θ̄
 * accumulated), by a hand-fused program: no library, no calls, no dispatch,
 * no bitwise constraints (FMA contraction allowed), pinode's own tanh
 * (src/vmath.c's tanh_one, included).  What pinode's tiny step could cost
 * with every overhead gone; prints medians and minima of CPU time per step.
 *
 *   gcc -O3 -march=native -ffp-contract=fast -I src scripts/bench/tiny_floor.c -o tiny_floor -lm
 *   ./tiny_floor   # compare: build/scripts/bench/bench_tiny --clock cpu --steps 2000 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmath.c" /* tanh_one(x, fused) */

#ifndef STEPS
#define STEPS 2000 /* -DSTEPS=20000: the bench's count (the tape then leaves L2) */
#endif
enum { D = 2, H = 16, N = STEPS };

static double W1[H][D], b1[H], W2[D][H], b2[D];
static double tapeY[N][4][D], tapeA[N][4][H];

static inline void f(const double *z, double *k, double *act)
{
  double a[H];
  for (int o = 0; o < H; o++) a[o] = tanh_one(b1[o] + W1[o][0] * z[0] + W1[o][1] * z[1], 1);
  for (int d = 0; d < D; d++) {
    double s = b2[d];
    for (int o = 0; o < H; o++) s += W2[d][o] * a[o];
    k[d] = s;
  }
  if (act) memcpy(act, a, sizeof a);
}

static void forward(double *z, double h, int record)
{
  static const double A[4] = {0, 0.5, 0.5, 1.0};
  for (int n = 0; n < N; n++) {
    double k[4][D], y[D];
    for (int i = 0; i < 4; i++) {
      for (int d = 0; d < D; d++) y[d] = i ? z[d] + h * A[i] * k[i - 1][d] : z[d];
      if (record) memcpy(tapeY[n][i], y, sizeof y);
      f(y, k[i], record ? tapeA[n][i] : NULL);
    }
    for (int d = 0; d < D; d++) z[d] += h / 6 * (k[0][d] + 2 * k[1][d] + 2 * k[2][d] + k[3][d]);
  }
}

static double gW1[H][D], gb1[H], gW2[D][H], gb2[D];

static void backward(double *lam, double h)
{
  static const double B[4] = {1.0 / 6, 2.0 / 6, 2.0 / 6, 1.0 / 6}, A[4] = {0, 0.5, 0.5, 1.0};
  for (int n = N - 1; n >= 0; n--) {
    double Ybar[4][D];
    for (int i = 3; i >= 0; i--) {
      double g[D];
      for (int d = 0; d < D; d++) g[d] = h * B[i] * lam[d] + (i < 3 ? h * A[i + 1] * Ybar[i + 1][d] : 0);
      const double *a = tapeA[n][i], *y = tapeY[n][i];
      double gp[H];
      for (int o = 0; o < H; o++) {
        double ga = W2[0][o] * g[0] + W2[1][o] * g[1];
        gp[o] = ga * (1 - a[o] * a[o]);
      }
      for (int d = 0; d < D; d++) {
        gb2[d] += g[d];
        for (int o = 0; o < H; o++) gW2[d][o] += g[d] * a[o];
      }
      for (int o = 0; o < H; o++) {
        gb1[o] += gp[o];
        gW1[o][0] += gp[o] * y[0];
        gW1[o][1] += gp[o] * y[1];
      }
      for (int d = 0; d < D; d++) {
        double s = 0;
        for (int o = 0; o < H; o++) s += W1[o][d] * gp[o];
        Ybar[i][d] = s;
      }
    }
    for (int d = 0; d < D; d++) lam[d] += Ybar[0][d] + Ybar[1][d] + Ybar[2][d] + Ybar[3][d];
  }
}

static double cpu_now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(void)
{
  srand(7);
  for (int o = 0; o < H; o++) {
    for (int d = 0; d < D; d++) W1[o][d] = (rand() / (double)RAND_MAX - 0.5), W2[d][o] = (rand() / (double)RAND_MAX - 0.5);
    b1[o] = 0.01 * o;
  }
  enum { R = 301 };
  static double tf[R], tg[R];
  const double h = 1.0 / N;
  double sink = 0;
  for (int r = 0; r < R; r++) {
    double z[D] = {0.5, -0.25};
    double t0 = cpu_now();
    forward(z, h, 0);
    double t1 = cpu_now();
    double z2[D] = {0.5, -0.25}, lam[D];
    forward(z2, h, 1);
    lam[0] = z2[0] - 0.1;
    lam[1] = z2[1] - 0.2;
    backward(lam, h);
    double t2 = cpu_now();
    tf[r] = (t1 - t0) / N * 1e9;
    tg[r] = (t2 - t1) / N * 1e9;
    sink += lam[0] + z[0] + gW1[3][1];
  }
  qsort(tf, R, 8, cmp);
  qsort(tg, R, 8, cmp);
  printf("floor: forward %.0f ns (min %.0f), gradient %.0f ns (min %.0f)  [%g]\n", tf[R / 2], tf[0],
         tg[R / 2], tg[0], sink);
  return 0;
}
