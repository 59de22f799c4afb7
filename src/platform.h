/* What the operating system says about memory: how much this process may
 * still take, and its peak so far.  Linux: /proc/meminfo and the process's
 * memory cgroup (what a batch system such as SLURM with cgroups enforces),
 * getrusage.  No MPI. */
#ifndef PINODE_PLATFORM_H
#define PINODE_PLATFORM_H

#include <stddef.h>

/* Bytes this process may still take: MemAvailable, or the room left in its
 * memory cgroup if that is smaller; 0 if unknown. */
size_t pni_available_memory(void);

/* Peak resident set size of this process in kB, 0 if unknown. */
long pni_peak_rss_kb(void);

#endif
