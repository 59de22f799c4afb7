/* Time decomposition of the step grid over ranks (decomp.h, tdecomp.h). */
#include "tdecomp.h"

void pn_split(long n, int parts, int i, long *lo, long *hi)
{
  if (n < 0 || parts < 1 || i < 0 || i >= parts) { /* no such part: an empty one */
    *lo = *hi = 0;
    return;
  }
  const long q = n / parts, rem = n % parts;
  *lo = (long)i * q + (i < rem ? i : rem);
  *hi = *lo + q + (i < rem ? 1 : 0);
}

int pni_owns(long lo, long hi, long m) { return (m > lo && m <= hi) || (m == 0 && lo == 0); }

int pn_owner(long nsteps, int ranks, long m)
{
  if (ranks < 1 || ranks > nsteps || m < 0 || m > nsteps) return -1; /* no such point or split */
  if (m == 0) return 0;
  /* Point m is the right end of the block holding step m − 1. */
  const long q = nsteps / ranks, rem = nsteps % ranks, step = m - 1;
  const long big = rem * (q + 1); /* steps in the first rem blocks of size q + 1 */
  if (step < big) return (int)(step / (q + 1));
  return (int)(rem + (step - big) / q);
}
