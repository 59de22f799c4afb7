/* The step grid (grid.h). */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "grid.h"
#include "pinode/io.h"

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

/* Whether the grid of `steps` holds every time, spending the budget. */
static int fits(const double *times, long n, double t0, double t1, long steps, long *budget)
{
  long k = 0;
  while (k < n && (*budget)-- > 0 && pni_grid_index(times[k], t0, t1, steps, NULL) >= 0) k++;
  return k == n;
}

void pni_grid_fitting_steps(const double *times, long n, double t0, double t1, long nsteps,
                            long fit[3])
{
  long budget = 20000000;
  const long last = nsteps > LONG_MAX / 16 ? LONG_MAX : 16 * nsteps;
  fit[0] = fit[1] = fit[2] = 0;
  /* Below and above in turn, nearest first, so that the budget goes to the
   * counts closest to the one the user chose. */
  for (long d = 1; budget > 0 && (!fit[0] || !fit[1]) && (d < nsteps || d <= last - nsteps);
       d++) {
    if (!fit[0] && d < nsteps && fits(times, n, t0, t1, nsteps - d, &budget)) fit[0] = nsteps - d;
    if (!fit[1] && d <= last - nsteps && fits(times, n, t0, t1, nsteps + d, &budget))
      fit[1] = nsteps + d;
  }
  const long upto = fit[0] ? fit[0] : fit[1];
  for (long steps = 1; upto && budget > 0 && steps <= upto && !fit[2]; steps++)
    if (fits(times, n, t0, t1, steps, &budget)) fit[2] = steps;
}

const char *pni_grid_fit_hint(const double *times, long n, double t0, double t1, long nsteps,
                              const char *key, const char *what, char *buf, size_t len)
{
  long fit[3];
  pni_grid_fitting_steps(times, n, t0, t1, nsteps, fit);
  char h[2][PN_DOUBLE_CHARS], count[2][80] = {"", ""}, fewest[64] = "";
  for (int i = 0; i < 2; i++)
    if (fit[i])
      snprintf(count[i], sizeof count[i], "%ld (h = %s)", fit[i],
               pn_format_double((t1 - t0) / (double)fit[i], h[i]));
  if (fit[2] && fit[2] != fit[0] && fit[2] != fit[1])
    snprintf(fewest, sizeof fewest, "; the fewest that would: %ld", fit[2]);
  if (!fit[0] && !fit[1])
    snprintf(buf, len, "no step count from 1 to 16x the current one puts every %s on the grid",
             what);
  else
    snprintf(buf, len, "%s %s%s%s would put every %s on the grid%s", key, count[0],
             fit[0] && fit[1] ? " or " : "", count[1], what, fewest);
  return buf;
}
