/* Memory facts from the operating system (platform.h). */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "platform.h"

/* A number of bytes in a one-line file ("max" or missing: 0, no limit). */
static size_t read_bytes(const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  unsigned long long v = 0;
  const int ok = fscanf(f, "%llu", &v) == 1;
  fclose(f);
  return ok ? (size_t)v : 0;
}

/* Room left in this process's memory cgroup (exceeding it means an OOM
 * kill), 0 if no limit is found.  cgroup v2 first, then the v1 memory
 * controller. */
static size_t cgroup_room(void)
{
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return 0;
  char line[512], dir[600], path[640];
  size_t room = 0;
  while (!room && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    const char *v2 = strncmp(line, "0::", 3) == 0 ? line + 3 : NULL;
    const char *v1 = strstr(line, ":memory:");
    size_t limit = 0, used = 0;
    if (v2) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", v2);
      snprintf(path, sizeof path, "%s/memory.max", dir);
      limit = read_bytes(path);
      snprintf(path, sizeof path, "%s/memory.current", dir);
      used = read_bytes(path);
    } else if (v1) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup/memory%s", v1 + 8);
      snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
      limit = read_bytes(path);
      snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
      used = read_bytes(path);
      if (limit >= ((size_t)1 << 60)) limit = 0; /* v1 spells "no limit" as a huge number */
    }
    if (limit > 0) room = limit > used ? limit - used : 1;
  }
  fclose(f);
  return room;
}

size_t pni_available_memory(void)
{
  FILE *f = fopen("/proc/meminfo", "r");
  size_t kb = 0;
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
    fclose(f);
  }
  const size_t avail = kb * 1024, room = cgroup_room();
  return room > 0 && (avail == 0 || room < avail) ? room : avail;
}

long pni_peak_rss_kb(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return ru.ru_maxrss; /* kB on Linux */
}
