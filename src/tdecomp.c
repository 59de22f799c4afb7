/* Time decomposition of the step grid over ranks. */
#include "tdecomp.h"

void pni_block(long nsteps, int nranks, int rank, long *lo, long *hi)
{
  const long q = nsteps / nranks, rem = nsteps % nranks;
  *lo = (long)rank * q + (rank < rem ? rank : rem);
  *hi = *lo + q + (rank < rem ? 1 : 0);
}

int pni_owner(long nsteps, int nranks, long m)
{
  if (m <= 0) return 0;
  /* Point m is the right end of the block holding step m − 1. */
  const long q = nsteps / nranks, rem = nsteps % nranks, step = m - 1;
  const long big = rem * (q + 1); /* steps in the first rem blocks of size q + 1 */
  if (step < big) return (int)(step / (q + 1));
  return (int)(rem + (step - big) / q);
}
