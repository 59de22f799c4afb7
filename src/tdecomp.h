/* Time decomposition: N steps over P ranks in contiguous blocks whose sizes
 * differ by at most one; rank r owns steps [lo, hi) and the grid points
 * (lo, hi] (rank 0 also owns point 0).  No MPI here. */
#ifndef PINODE_TDECOMP_H
#define PINODE_TDECOMP_H

/* Steps [*lo, *hi) of rank r of P for N steps (P ≤ N). */
void pni_block(long nsteps, int nranks, int rank, long *lo, long *hi);

/* The rank that owns grid point m (0 ≤ m ≤ N). */
int pni_owner(long nsteps, int nranks, long m);

#endif
