/* The step grid (grid.h). */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>

#include "grid.h"

double pni_grid_rounding(double t0, double t1) { return 16.0 * DBL_EPSILON * fmax(fabs(t0), fabs(t1)); }

/* The tolerance of grid membership: the rounding band, or a millionth of a
 * step where that is wider. */
static double tolerance(double t0, double t1, double h)
{
  return fmax(pni_grid_rounding(t0, t1), 1e-6 * h);
}

long pni_grid_index(double t, double t0, double t1, long nsteps, double *moved)
{
  const double h = (t1 - t0) / (double)nsteps; /* as the solver computes it */
  const double x = (t - t0) / h;
  if (moved) *moved = 0.0;
  if (!(x > -0.5 && x < (double)nsteps + 0.5)) return -1;
  const long m = lround(x);
  const double off = fabs(t0 + (double)m * h - t);
  if (off > tolerance(t0, t1, h)) return -1;
  if (moved && off > pni_grid_rounding(t0, t1)) *moved = off;
  return m;
}

int pni_grid_inside(double t, double t0, double t1, long nsteps)
{
  const double tol = tolerance(t0, t1, (t1 - t0) / (double)nsteps);
  return t >= t0 - tol && t <= t1 + tol;
}

long pni_grid_fitting_steps(const double *times, long n, double t0, double t1, long nsteps)
{
  long budget = 20000000;
  const long last = nsteps > LONG_MAX / 16 ? LONG_MAX : 16 * nsteps;
  for (long steps = nsteps; budget > 0; steps++) {
    long k = 0;
    while (k < n && budget-- > 0 && pni_grid_index(times[k], t0, t1, steps, NULL) >= 0) k++;
    if (k == n) return steps;
    if (steps == last) break;
  }
  return 0;
}
