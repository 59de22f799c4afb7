/* Time decomposition, the one owner of two rules: how a range is split into
 * near-equal contiguous parts (steps over ranks, samples over batch groups
 * and micro-batches), and which rank owns a grid point.  N steps over P
 * ranks: rank r owns steps [lo, hi) and the grid points (lo, hi] (rank 0
 * also point 0), so every label is evaluated and its adjoint jump added
 * exactly once.  No MPI here. */
#ifndef PINODE_TDECOMP_H
#define PINODE_TDECOMP_H

/* Part i of n items split into `parts` contiguous parts whose sizes differ
 * by at most one (the first n mod parts are the larger): [*lo, *hi). */
void pni_split(long n, int parts, int i, long *lo, long *hi);

/* Steps [*lo, *hi) of rank r of P for N steps (P ≤ N). */
void pni_block(long nsteps, int nranks, int rank, long *lo, long *hi);

/* Does the rank whose steps are [lo, hi) own grid point m? */
int pni_owns(long lo, long hi, long m);

/* The rank that owns grid point m (0 ≤ m ≤ N). */
int pni_owner(long nsteps, int nranks, long m);

#endif
