/* Time decomposition inside the library: the split and ownership rules of
 * include/pinode/decomp.h (their one owner, tdecomp.c) and the ownership
 * test of a rank that knows its block.  No MPI. */
#ifndef PINODE_TDECOMP_H
#define PINODE_TDECOMP_H

#include "pinode/decomp.h"

/* Does the rank whose steps are [lo, hi) own grid point m?  (lo, hi], and
 * point 0 for the rank whose block starts at 0. */
int pni_owns(long lo, long hi, long m);

#endif
