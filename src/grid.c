/* The step grid (grid.h). */
#include <limits.h>
#include <math.h>

#include "grid.h"

long pni_grid_index(double t, double t0, double h, long nsteps)
{
  const double x = (t - t0) / h;
  if (!(x > -0.5 && x < (double)nsteps + 0.5)) return -1;
  const long m = lround(x);
  return fabs(t0 + (double)m * h - t) <= 1e-6 * h ? m : -1;
}

int pni_grid_inside(double t, double t0, double t1, double h)
{
  return t >= t0 - 1e-6 * h && t <= t1 + 1e-6 * h;
}

long pni_grid_fitting_steps(const double *times, long n, double t0, double t1, long nsteps)
{
  long budget = 20000000;
  const long last = nsteps > LONG_MAX / 16 ? LONG_MAX : 16 * nsteps;
  for (long steps = nsteps; budget > 0; steps++) {
    const double h = (t1 - t0) / (double)steps;
    long k = 0;
    while (k < n && budget-- > 0 && pni_grid_index(times[k], t0, h, steps) >= 0) k++;
    if (k == n) return steps;
    if (steps == last) break;
  }
  return 0;
}
