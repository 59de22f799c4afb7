/* The step grid t_n = t0 + n·h, h = (t1 − t0)/N: the one owner of the rule
 * that says whether a time lies on it (within a millionth of a step of a
 * grid point), and of the search for step counts that put a set of times on
 * it.  Used by the loss (label times) and the datasets (observation times).
 * No MPI. */
#ifndef PINODE_GRID_H
#define PINODE_GRID_H

/* The grid index of t, or −1 if t is not within a millionth of a step of a
 * grid point of 0..nsteps. */
long pni_grid_index(double t, double t0, double h, long nsteps);

/* Whether t lies within [t0, t1] up to a millionth of a step. */
int pni_grid_inside(double t, double t0, double t1, double h);

/* The smallest step count in [nsteps, 16·nsteps] that puts every one of the
 * n times on the grid, or 0 if none does.  The search is capped at 2·10⁷
 * time checks (a failing one counts too), so that neither many times nor a
 * huge N can stall it. */
long pni_grid_fitting_steps(const double *times, long n, double t0, double t1, long nsteps);

#endif
