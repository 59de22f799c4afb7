/* Helpers of the fuzz harnesses: see fuzz_util.h. */
#include "fuzz_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pn_ctx *ctx;
static char dir[512];

static void cleanup(void)
{
  pn_ctx_destroy(&ctx);
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
  /* Remove what the harnesses wrote (flat directory). */
  char cmd[600];
  if (dir[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd) {
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", dir);
  }
}

pn_ctx *fz_ctx(void)
{
  if (ctx) return ctx;
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    /* Open MPI installs handlers for SIGABRT, SIGSEGV, ... that would keep
     * libFuzzer's (which write the crashing input) from running. */
    setenv("OMPI_MCA_opal_signal", "", 0);
    int argc = 0;
    char **argv = NULL;
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) fz_fail("MPI_Init failed");
  }
  if (pn_ctx_create(MPI_COMM_SELF, &ctx) != PN_OK) fz_fail("pn_ctx_create failed");
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/pinode-fuzz-%ld", base ? base : "/tmp", (long)getpid());
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) fz_fail("cannot create %s", dir);
  atexit(cleanup);
  return ctx;
}

/* Called by libFuzzer (and replay_main.c) before the first input, so that
 * MPI's own allocations are not counted as leaks of an input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  fz_ctx();
  return 0;
}

const char *fz_dir(void)
{
  fz_ctx();
  return dir;
}

void fz_write(const char *name, const void *data, size_t n, char *path, size_t cap)
{
  snprintf(path, cap, "%s/%s", fz_dir(), name);
  FILE *f = fopen(path, "wb");
  if (!f) fz_fail("cannot write %s", path);
  if (n > 0 && fwrite(data, 1, n, f) != n) fz_fail("cannot write %s", path);
  if (fclose(f) != 0) fz_fail("cannot close %s", path);
}

int fz_split(const uint8_t *data, size_t size, int max, size_t *start, size_t *len)
{
  const size_t seplen = strlen(FZ_SEP);
  int n = 0;
  size_t pos = 0;
  while (n < max) {
    size_t end = size;
    if (n < max - 1) /* the last part takes the rest, separators included */
      for (size_t i = pos; i + seplen <= size; i++)
        if (memcmp(data + i, FZ_SEP, seplen) == 0) {
          end = i;
          break;
        }
    start[n] = pos;
    len[n] = end - pos;
    n++;
    if (end == size) break;
    pos = end + seplen;
  }
  return n;
}

void fz_fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz property broken: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

void fz_check_error(int rc, const char *needle)
{
  if (rc >= 0) fz_fail("failure with a non-error code %d", rc);
  const char *msg = pn_ctx_last_error(ctx);
  if (!msg || !msg[0]) fz_fail("error %d (%s) without a message", rc, pn_strerror(rc));
  /* Messages show a non-printable byte as '?' (ctx.c), so look for the
   * needle's printable beginning. */
  char head[256];
  size_t n = 0;
  while (needle && n + 1 < sizeof head && needle[n] >= 0x20 && needle[n] < 0x7f) {
    head[n] = needle[n];
    n++;
  }
  head[n] = '\0';
  /* Out of memory is the one error that may not know which file it serves. */
  if (rc != PN_ERR_MEM && n > 0 && !strstr(msg, head))
    fz_fail("the message does not name %s: %s", head, msg);
}

int fz_same_double(double a, double b)
{
  return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}
