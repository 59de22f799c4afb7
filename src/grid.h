/* The step grid t_n = t0 + n·h, h = (t1 − t0)/N: the one owner of the rule
 * that says whether a time lies on it, and of the search for step counts
 * that put a set of times on it.  Used by the loss (label times), the
 * datasets (observation times) and problem directories (times.txt).  No MPI.
 *
 * The rule, from the arithmetic.  The solver computes t_m as t0 + m*h: h
 * carries a relative rounding error of at most ε (the difference t1 − t0,
 * then the division), m*h another ε/2, and the sum with t0 ε/2 of the
 * result, so t_m is off the exact grid time by at most 3.5 ε·max(|t0|, |t1|)
 * (ε = 2^-52).  A caller's own computation of the same time (t0 + i·dt,
 * linspace, a decimal printed with 17 digits) is off by as much again.  So
 * a time within 16 ε·max(|t0|, |t1|) of t_m — the rounding band — IS the
 * grid time t_m, whatever N.  A time farther than that but within a
 * millionth of a step (e.g. a time stored in single precision) is taken as
 * t_m too, but it was moved: the readers say so (pn_ctx_notes).  Farther
 * still, it is not on the grid. */
#ifndef PINODE_GRID_H
#define PINODE_GRID_H

/* How far a computed time may be from the grid time it stands for by
 * rounding alone: 16 ε·max(|t0|, |t1|). */
double pni_grid_rounding(double t0, double t1);

/* The grid index m ∈ 0..nsteps of t, or −1 if t is farther than
 * max(rounding band, h/10⁶) from every grid point.  *moved (may be NULL):
 * |t − t_m| if t was taken as t_m from beyond the rounding band, else 0. */
long pni_grid_index(double t, double t0, double t1, long nsteps, double *moved);

/* Whether t lies within [t0, t1] up to the same tolerance. */
int pni_grid_inside(double t, double t0, double t1, long nsteps);

/* The step counts whose grid holds every one of the n times (by
 * pni_grid_index) nearest nsteps: fit[0] the largest below it, fit[1] the
 * smallest above it (up to 16·nsteps), fit[2] the smallest of all; 0 where
 * none is found.  The search is capped at 2·10⁷ time checks (a failing one
 * counts too), so that neither many times nor a huge N can stall it. */
void pni_grid_fitting_steps(const double *times, long n, double t0, double t1, long nsteps,
                            long fit[3]);

/* The end of every off-grid message, into buf (returned): the fitting step
 * counts as `key` N (h = ...) or M (h = ...), and the fewest, that "would put
 * every `what` on the grid"; or that none up to 16·nsteps does. */
const char *pni_grid_fit_hint(const double *times, long n, double t0, double t1, long nsteps,
                              const char *key, const char *what, char *buf, size_t len);

#endif
