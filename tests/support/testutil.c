#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <unistd.h>

#include "testutil.h"

pn_ctx *pnt_ctx = NULL;

int pnt_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n)
{
  (void)argc;
  (void)argv;
  MPI_Init(&argc, &argv);
  int rank = 0, failed = 0, any = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (pn_ctx_create(MPI_COMM_WORLD, &pnt_ctx) != PN_OK) {
    fprintf(stderr, "cannot create the test context\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (rank != 0) { /* only rank 0 reports */
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) failed = 0;
  }
  failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  pn_ctx_destroy(&pnt_ctx);
  MPI_Finalize();
  return any ? 1 : 0;
}

void pnt_assert_all_impl(int ok, const char *file, int line, const char *fmt, ...)
{
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (all) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  print_error("%s:%d: %s (false on %s)\n", file, line, msg, ok ? "another rank" : "this rank");
  _fail(file, line);
}

void pnt_ok_impl(pn_ctx *ctx, int rc, const char *what, const char *file, int line)
{
  if (rc == PN_OK) return;
  print_error("%s:%d: %s returned %d (%s): %s\n", file, line, what, rc, pn_strerror(rc),
              pn_ctx_last_error(ctx));
  _fail(file, line);
}

void pnt_fails_with_impl(pn_ctx *ctx, int rc, int code, const char *needle, const char *what,
                         const char *file, int line)
{
  if (rc == code && (!needle || strstr(pn_ctx_last_error(ctx), needle))) return;
  print_error("%s:%d: %s returned %d (%s), expected %d (%s) with a message containing '%s'; "
              "message: %s\n",
              file, line, what, rc, pn_strerror(rc), code, pn_strerror(code),
              needle ? needle : "", pn_ctx_last_error(ctx));
  _fail(file, line);
}

double pnt_rel_err(const double *a, const double *b, size_t n)
{
  double d = 0.0, nb = 0.0;
  for (size_t i = 0; i < n; i++) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    nb += b[i] * b[i];
  }
  if (nb == 0.0) return sqrt(d);
  return sqrt(d / nb);
}

void pnt_randn(double *x, size_t n, uint64_t seed, double scale)
{
  pn_rng rng;
  pn_rng_seed(&rng, seed);
  for (size_t i = 0; i < n; i++) x[i] = scale * pn_rng_normal(&rng);
}

void pnt_tmpdir(const char *tag, char *out, size_t n)
{
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  if (snprintf(out, n, "%s/pinode-%s-XXXXXX", base, tag) >= (int)n || !mkdtemp(out))
    fail_msg("cannot make a temporary directory under %s", base);
}

void pnt_write_text(const char *dir, const char *name, const char *text)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) fail_msg("cannot write %s", path);
}

void pnt_rmdir_flat(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}
