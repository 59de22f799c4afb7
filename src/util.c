/* Small shared helpers: allocation, clocks, memory, the RNG, number text. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "pinode/io.h"

int pni_calloc(pn_ctx *ctx, size_t count, size_t size, void *ptr_out, const char *what)
{
  void **p = ptr_out;
  *p = NULL;
  if (count == 0 || size == 0) count = size = 1; /* valid, freeable pointer */
  if (count > SIZE_MAX / size)
    return pn_ctx_fail(ctx, PN_ERR_MEM, "allocation of %zu x %zu bytes for %s overflows", count,
                       size, what);
  *p = calloc(count, size);
  if (!*p)
    return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory allocating %.1f MB for %s",
                       (double)count * (double)size / 1048576.0, what);
  return PN_OK;
}

const char *pni_bytes_text(double bytes, char *buf, size_t n)
{
  if (bytes < 1024.0) snprintf(buf, n, "%.0f bytes", bytes);
  else if (bytes < 1048576.0) snprintf(buf, n, "%.1f KB", bytes / 1024.0);
  else snprintf(buf, n, "%.1f MB", bytes / 1048576.0);
  return buf;
}

double pni_wtime(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long pni_first_nonfinite(const double *x, size_t n)
{
  /* Branch-free scan first (vectorises); locate only on failure. */
  double acc = 0.0;
  for (size_t i = 0; i < n; i++) acc += x[i] * 0.0;
  if (acc == 0.0) return -1;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return (long)i;
  return -1;
}

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void pn_rng_seed(pn_rng *rng, uint64_t seed)
{
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pn_rng_next(pn_rng *rng)
{
  uint64_t *s = rng->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double pn_rng_uniform(pn_rng *rng) { return (double)(pn_rng_next(rng) >> 11) * 0x1.0p-53; }

double pn_rng_normal(pn_rng *rng)
{
  double u1 = pn_rng_uniform(rng), u2 = pn_rng_uniform(rng);
  return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

uint64_t pn_rng_below(pn_rng *rng, uint64_t n)
{
  if (n == 0) return 0; /* no integer below 0: nothing drawn */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
  uint64_t x;
  do x = pn_rng_next(rng);
  while (x >= limit);
  return x % n;
}

int pni_name_index(const char *const *names, const char *name)
{
  for (int i = 0; name && names[i]; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

const char *pni_index_name(const char *const *names, int i)
{
  for (int k = 0; names[k]; k++)
    if (k == i) return names[k];
  return "?";
}

/* The number text every writer and message uses (declared in pinode/io.h): here, below
 * both the readers and the grid rules that print numbers. */
const char *pn_format_double(double x, char *buf)
{
  /* 17 significant digits always round-trip; fewer often do, and then
   * the shorter text is the one a reader expects (0.05, not 0.0500...03). */
  for (int digits = 15; digits < 17; digits++) {
    snprintf(buf, PN_DOUBLE_CHARS, "%.*g", digits, x);
    const double back = strtod(buf, NULL);
    if (memcmp(&back, &x, sizeof x) == 0) return buf;
  }
  snprintf(buf, PN_DOUBLE_CHARS, "%.17g", x);
  return buf;
}
