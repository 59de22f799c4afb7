/**
 * @file decomp.h
 * @brief How pinode splits work: steps over the ranks of a batch group,
 * samples over batch groups and micro-batches; and which rank owns a grid
 * point (evaluates its label and adds its adjoint jump).
 *
 * N steps over P ranks: rank r owns steps [lo, hi) of pn_split(N, P, r)
 * and the grid points (lo, hi]; rank 0 also owns point 0.  So every label
 * is counted exactly once, wherever it lies (t0, a rank boundary, t_f).
 * Depends on nothing; no MPI.
 */
#ifndef PINODE_DECOMP_H
#define PINODE_DECOMP_H

#include "pinode/export.h"

/**
 * @brief Part @p i of @p n items split into @p parts contiguous parts whose sizes differ by at
 * most one (the first n mod parts are the larger; with more parts than items the last are
 * empty).
 * @param[in]  n       items, ≥ 0
 * @param[in]  parts   number of parts, ≥ 1
 * @param[in]  i       the part, 0 ≤ i < parts
 * @param[out] lo, hi  the part is [*lo, *hi); [0, 0) when an argument is outside its range
 * Not collective.  Thread-safe.
 */
PN_EXPORT void pn_split(long n, int parts, int i, long *lo, long *hi);

/**
 * @brief The rank that owns grid point @p m when @p nsteps steps are split over @p ranks
 * ranks by pn_split(): the rank whose block of steps [lo, hi) has lo < m ≤ hi, and rank 0 for
 * m = 0.
 * @param[in] nsteps  N, the steps
 * @param[in] ranks   the ranks, 1 ≤ ranks ≤ N
 * @param[in] m       the grid point, 0 ≤ m ≤ N
 * @return the rank; −1 when an argument is outside its range.
 * Not collective.  Thread-safe.
 */
PN_EXPORT int pn_owner(long nsteps, int ranks, long m);

#endif
