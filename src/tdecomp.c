/* Time decomposition of the step grid over ranks (tdecomp.h). */
#include "tdecomp.h"

void pni_split(long n, int parts, int i, long *lo, long *hi)
{
  const long q = n / parts, rem = n % parts;
  *lo = (long)i * q + (i < rem ? i : rem);
  *hi = *lo + q + (i < rem ? 1 : 0);
}

void pni_block(long nsteps, int nranks, int rank, long *lo, long *hi)
{
  pni_split(nsteps, nranks, rank, lo, hi);
}

int pni_owns(long lo, long hi, long m) { return (m > lo && m <= hi) || (m == 0 && lo == 0); }

int pni_owner(long nsteps, int nranks, long m)
{
  if (m <= 0) return 0;
  /* Point m is the right end of the block holding step m − 1. */
  const long q = nsteps / nranks, rem = nsteps % nranks, step = m - 1;
  const long big = rem * (q + 1); /* steps in the first rem blocks of size q + 1 */
  if (step < big) return (int)(step / (q + 1));
  return (int)(rem + (step - big) / q);
}
