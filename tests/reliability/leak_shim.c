/* Negative control of tests/cli/test_soak.sh: an LD_PRELOAD library that
 * makes pinode leak, so that the soak test shows its measurement sees a leak.
 * Every MPI_Wtime call (a few per training iteration) leaks 4 KiB of touched
 * memory, and every 200th one leaks a file descriptor.  (MPI_Wtime, because
 * pinode itself defines the communication calls, as PMPI wrappers for its
 * timings, so a preloaded MPI_Allreduce would never be called.)  Not part of
 * pinode. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

void *volatile pinode_leak_shim_sink; /* keeps the compiler from eliding the leak */

double MPI_Wtime(void)
{
  static long calls;
  char *leak = malloc(4096);
  if (leak) memset(leak, 1, 4096); /* resident, never freed */
  pinode_leak_shim_sink = leak;
  if (++calls % 200 == 0) (void)open("/dev/null", O_RDONLY);
  return PMPI_Wtime();
}
