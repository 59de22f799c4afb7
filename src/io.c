/* Files: the problem-directory format, number vectors, atomic writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx_impl.h"
#include "grid.h"
#include "internal.h"
#include "pinode/io.h"
#include "text.h"

#define MAX_FILE_BYTES ((size_t)1 << 30)

/* Skip spaces; true if the rest is empty or a comment. */
static int blank_or_comment(const char *s)
{
  while (*s == ' ' || *s == '\t' || *s == '\r') s++;
  return *s == '\0' || *s == '#';
}

/* Parse a finite double filling the whole token; 0 on failure. */
static int parse_double(const char *s, double *x)
{
  char *end = NULL;
  errno = 0;
  *x = strtod(s, &end);
  if (end == s) return 0;
  while (*end == ' ' || *end == '\t' || *end == '\r') end++;
  return *end == '\0' || *end == '#';
}

/* The numbers of r into *x_out (and, with lines_out, the line of each). */
static int parse_numbers(pn_ctx *ctx, pni_lines *r, long expect, double **x_out, size_t *n_out,
                         long **lines_out)
{
  /* Count first, so that the allocation is bounded by the file's size
   * (blank lines cost no memory). */
  const char *path = r->path;
  double *x = NULL;
  long *at = NULL;
  PN_CALL(pni_calloc(ctx, pni_lines_content(r), sizeof(double), &x, path));
  if (lines_out && pni_calloc(ctx, pni_lines_content(r), sizeof(long), &at, path) != PN_OK) {
    free(x);
    return PN_ERR_MEM;
  }
  size_t n = 0;
  char *s;
  while ((s = pni_lines_next(r))) {
    const long line = r->line;
    if (blank_or_comment(s)) continue;
    double v;
    if (!parse_double(s, &v)) {
      free(x);
      free(at);
      return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s:%ld: expected one number, found '%.40s'", path,
                         line, s);
    }
    if (!isfinite(v)) {
      free(x);
      free(at);
      return pn_ctx_fail(ctx, PN_ERR_NONFINITE, "%s:%ld: value %s is not finite", path, line, s);
    }
    if (at) at[n] = line;
    x[n++] = v;
  }
  if (expect >= 0 && n != (size_t)expect) {
    free(x);
    free(at);
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: found %zu numbers, expected %ld", path, n, expect);
  }
  if (n == 0) {
    free(x);
    free(at);
    x = NULL;
    at = NULL;
  }
  *x_out = x;
  *n_out = n;
  if (lines_out) *lines_out = at;
  return PN_OK;
}

int pn_read_numbers(pn_ctx *ctx, const char *path, long expect, double **x_out, size_t *n_out)
{
  pni_lines r;
  *x_out = NULL;
  *n_out = 0;
  PN_CALL(pni_lines_read(ctx, path, MAX_FILE_BYTES, &r));
  const int rc = parse_numbers(ctx, &r, expect, x_out, n_out, NULL);
  pni_lines_free(&r);
  return rc;
}

/* times.txt: every label time on the grid of meta.txt, checked here where
 * the file and line are known (the solver would only know label k). */
static int read_times(pn_ctx *ctx, const char *path, pn_problem *p)
{
  pni_lines r;
  size_t n = 0;
  long *lines = NULL;
  PN_CALL(pni_lines_read(ctx, path, MAX_FILE_BYTES, &r));
  int rc = parse_numbers(ctx, &r, -1, &p->times, &n, &lines);
  pni_lines_free(&r);
  PN_CALL(rc);
  if (n > (size_t)INT_MAX / 2) rc = pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: too many label times", path);
  p->nlabels = (int)n;
  const double t0 = p->t0, t1 = p->t1, h = (t1 - t0) / (double)p->steps;
  long nmoved = 0, worst = -1;
  double most = 0.0;
  for (size_t k = 0; rc == PN_OK && k < n; k++) {
    const double t = p->times[k], fromt0 = (t - t0) / h;
    double moved = 0.0;
    if (!pni_grid_inside(t, t0, t1, p->steps)) {
      char num[3][PN_DOUBLE_CHARS];
      rc = pn_ctx_fail(ctx, PN_ERR_GRID,
                       "%s:%ld: label time %s lies outside [t0, t1] = [%s, %s] of meta.txt", path,
                       lines[k], pn_format_double(t, num[0]), pn_format_double(t0, num[1]),
                       pn_format_double(t1, num[2]));
    } else if (pni_grid_index(t, t0, t1, p->steps, &moved) < 0) {
      char hint[320], num[4][PN_DOUBLE_CHARS];
      pni_grid_fit_hint(p->times, (long)n, t0, t1, p->steps, "steps in meta.txt =", "label time",
                        hint, sizeof hint);
      const long m = lround(fromt0);
      rc = pn_ctx_fail(ctx, PN_ERR_GRID,
                       "%s:%ld: label time %s is not on the grid t_n = %s + n*%s of meta.txt "
                       "(steps %ld; nearest t_%ld = %s); %s",
                       path, lines[k], pn_format_double(t, num[0]), pn_format_double(t0, num[1]),
                       pn_format_double(h, num[2]), p->steps, m,
                       pn_format_double(t0 + (double)m * h, num[3]), hint);
    } else if (moved > most) {
      most = moved;
      worst = (long)k;
    }
    nmoved += moved > 0.0;
  }
  if (rc == PN_OK && nmoved > 0) {
    const long m = lround((p->times[worst] - t0) / h);
    char num[2][PN_DOUBLE_CHARS];
    pni_note(ctx,
             "%s:%ld: label time %s was taken as the grid time t_%ld = %s: it lies %.2e off the "
             "grid, more than rounding (%.1e) but within a millionth of a step; %ld label "
             "time%s moved so, this one the farthest",
             path, lines[worst], pn_format_double(p->times[worst], num[0]), m,
             pn_format_double(t0 + (double)m * h, num[1]), most, pni_grid_rounding(t0, t1),
             nmoved, nmoved == 1 ? "" : "s");
  }
  free(lines);
  return rc;
}

/* ---- meta.txt -------------------------------------------------------- */

/* The line each key was read on (0: not yet). */
typedef struct meta_seen {
  long dim, hidden, activation, time_input, batch, t0, t1, steps, scheme;
} meta_seen;

static int parse_long_token(const char *tok, long lo, long hi, long *out)
{
  char *end = NULL;
  errno = 0;
  const long v = strtol(tok, &end, 10);
  if (end == tok || *end != '\0' || errno == ERANGE || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

static int meta_error(pn_ctx *ctx, const char *path, long line, const char *key, const char *what)
{
  return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s:%ld: key '%s': %s", path, line, key, what);
}

/* A key may appear once: a second value would silently win. */
static int first_time(pn_ctx *ctx, const char *path, long line, const char *key, long *seen)
{
  if (*seen)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s:%ld: key '%s' appears twice (first on line %ld)",
                       path, line, key, *seen);
  *seen = line;
  return PN_OK;
}

/* One "key value..." line of meta.txt into p. */
static int meta_line(pn_ctx *ctx, const char *path, long line, char *s, pn_problem *p,
                     meta_seen *seen, int *widths, pn_activation *acts, int *nacts)
{
  char *save = NULL;
  char *key = strtok_r(s, " \t\r", &save);
  if (!key || key[0] == '#') return PN_OK;
  char *tok[70];
  int ntok = 0;
  char *t;
  while ((t = strtok_r(NULL, " \t\r", &save)) && t[0] != '#') {
    if (ntok == 70) return meta_error(ctx, path, line, key, "too many values");
    tok[ntok++] = t;
  }
  long v = 0;
  double x = 0.0;
  if (strcmp(key, "dim") == 0) {
    PN_CALL(first_time(ctx, path, line, key, &seen->dim));
    if (ntok != 1 || !parse_long_token(tok[0], 1, 1 << 20, &v))
      return meta_error(ctx, path, line, key, "expected one integer in 1..1048576");
    p->spec.dim = (int)v;
  } else if (strcmp(key, "hidden") == 0) {
    PN_CALL(first_time(ctx, path, line, key, &seen->hidden));
    if (ntok > 64) return meta_error(ctx, path, line, key, "at most 64 hidden layers");
    for (int i = 0; i < ntok; i++) {
      if (!parse_long_token(tok[i], 1, 1 << 20, &v))
        return meta_error(ctx, path, line, key, "expected widths, integers in 1..1048576");
      widths[i] = (int)v;
    }
    p->spec.nhidden = ntok;
  } else if (strcmp(key, "activation") == 0) {
    PN_CALL(first_time(ctx, path, line, key, &seen->activation));
    if (ntok < 1 || ntok > 64)
      return meta_error(ctx, path, line, key,
                        "expected one activation for all hidden layers or one per layer");
    for (int i = 0; i < ntok; i++)
      if (pn_activation_from_name(tok[i], &acts[i]) != PN_OK)
        return meta_error(ctx, path, line, key,
                          "unknown activation (known: tanh, softplus, sigmoid, relu, silu, identity)");
    *nacts = ntok;
  } else if (strcmp(key, "time_input") == 0) {
    PN_CALL(first_time(ctx, path, line, key, &seen->time_input));
    if (ntok != 1 || !parse_long_token(tok[0], 0, 1, &v))
      return meta_error(ctx, path, line, key, "expected 0 or 1");
    p->spec.time_input = (int)v;
  } else if (strcmp(key, "batch") == 0) {
    PN_CALL(first_time(ctx, path, line, key, &seen->batch));
    if (ntok != 1 || !parse_long_token(tok[0], 1, 1 << 24, &v))
      return meta_error(ctx, path, line, key, "expected one integer in 1..16777216");
    p->batch = (int)v;
  } else if (strcmp(key, "t0") == 0 || strcmp(key, "t1") == 0) {
    if (ntok != 1 || !parse_double(tok[0], &x) || !isfinite(x))
      return meta_error(ctx, path, line, key, "expected one finite number");
    PN_CALL(first_time(ctx, path, line, key, key[1] == '0' ? &seen->t0 : &seen->t1));
    if (key[1] == '0') p->t0 = x;
    else p->t1 = x;
  } else if (strcmp(key, "steps") == 0) {
    PN_CALL(first_time(ctx, path, line, key, &seen->steps));
    if (ntok != 1 || !parse_long_token(tok[0], 1, 1L << 40, &v))
      return meta_error(ctx, path, line, key, "expected one integer in 1..2^40");
    p->steps = v;
  } else if (strcmp(key, "scheme") == 0) {
    PN_CALL(first_time(ctx, path, line, key, &seen->scheme));
    if (ntok != 1 || strlen(tok[0]) >= sizeof p->scheme)
      return meta_error(ctx, path, line, key, "expected one scheme name");
    snprintf(p->scheme, sizeof p->scheme, "%s", tok[0]);
  } else {
    return pn_ctx_fail(ctx, PN_ERR_PARSE,
                       "%s:%ld: unknown key '%s' (known: dim, hidden, activation, time_input, "
                       "batch, t0, t1, steps, scheme)",
                       path, line, key);
  }
  return PN_OK;
}

static int read_meta(pn_ctx *ctx, const char *path, pn_problem *p)
{
  pni_lines r;
  PN_CALL(pni_lines_read(ctx, path, (size_t)1 << 20, &r));
  meta_seen seen = {0};
  int widths[64] = {0}, nacts = 0;
  pn_activation acts[64];
  int rc = PN_OK;
  char *s;
  while (rc == PN_OK && (s = pni_lines_next(&r)))
    rc = meta_line(ctx, path, r.line, s, p, &seen, widths, acts, &nacts);
  pni_lines_free(&r);
  PN_CALL(rc);
  const char *missing = !seen.dim ? "dim" : !seen.hidden ? "hidden" : !seen.batch ? "batch"
                        : !seen.t1 ? "t1" : !seen.steps ? "steps" : !seen.scheme ? "scheme"
                        : (!seen.activation && p->spec.nhidden > 0) ? "activation" : NULL;
  if (missing) return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: required key '%s' is missing", path, missing);
  if (!(p->t1 > p->t0))
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: t1 = %g must be greater than t0 = %g", path, p->t1, p->t0);
  const int L = p->spec.nhidden;
  if (nacts != 1 && nacts != L && L > 0)
    return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s: %d activations for %d hidden layers", path, nacts, L);
  int *w = NULL;
  pn_activation *a = NULL;
  PN_CALL(pni_calloc(ctx, (size_t)L, sizeof *w, &w, "widths"));
  if (pni_calloc(ctx, (size_t)L, sizeof *a, &a, "activations") != PN_OK) {
    free(w);
    return PN_ERR_MEM;
  }
  for (int l = 0; l < L; l++) {
    w[l] = widths[l];
    a[l] = acts[nacts == 1 ? 0 : l];
  }
  p->spec.widths = w;
  p->spec.acts = a;
  return PN_OK;
}

static long count_params(const pn_mlp_spec *s)
{
  long n = 0, in = s->dim + s->time_input;
  for (int l = 0; l <= s->nhidden; l++) {
    const long out = l == s->nhidden ? s->dim : s->widths[l];
    n += in * out + out;
    in = out;
  }
  return n;
}

int pn_problem_read(pn_ctx *ctx, const char *dir, pn_problem **out)
{
  PN_CHECK(ctx, dir && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  pn_problem *p = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *p, &p, "problem"));
  char path[4096];
  size_t n = 0;
  int rc = PN_OK;
#define PATH(name) (snprintf(path, sizeof path, "%s/%s", dir, name), path)
  PN_CALL_GOTO(rc, read_meta(ctx, PATH("meta.txt"), p));
  const long P = count_params(&p->spec), BD = (long)p->batch * p->spec.dim;
  PN_CHECK_GOTO(rc, ctx, P <= (1L << 30) && BD <= (1L << 31), PN_ERR_PARSE,
                "%s/meta.txt: the network (%ld parameters) or batch x dim (%ld) is too large", dir,
                P, BD);
  p->nparam = (int)P;
  PN_CALL_GOTO(rc, pn_read_numbers(ctx, PATH("theta.txt"), P, &p->theta, &n));
  PN_CALL_GOTO(rc, pn_read_numbers(ctx, PATH("z0.txt"), BD, &p->z0, &n));
  PN_CALL_GOTO(rc, read_times(ctx, PATH("times.txt"), p));
  PN_CALL_GOTO(rc, pn_read_numbers(ctx, PATH("targets.txt"), (long)p->nlabels * BD, &p->targets, &n));
#undef PATH
  *out = p;
  return PN_OK;
cleanup:
  pn_problem_destroy(&p);
  return rc;
}

void pn_problem_destroy(pn_problem **problem)
{
  if (!problem || !*problem) return;
  pn_problem *p = *problem;
  free((void *)p->spec.widths);
  free((void *)p->spec.acts);
  free(p->theta);
  free(p->z0);
  free(p->times);
  free(p->targets);
  free(p);
  *problem = NULL;
}

/* ---- writing ----------------------------------------------------------- */

int pn_write_file_atomic(pn_ctx *ctx, const char *path, const void *data, size_t len)
{
  char tmp[4096];
  PN_CHECK(ctx, snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) < (int)sizeof tmp,
           PN_ERR_ARG, "path too long: %s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return pn_ctx_fail(ctx, PN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return pn_ctx_fail(ctx, PN_ERR_IO, "cannot write %s: %s", tmp, strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return pn_ctx_fail(ctx, PN_ERR_IO, "cannot flush %s: %s", tmp, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return pn_ctx_fail(ctx, PN_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
  }
  pni_sync_dir(path);
  return PN_OK;
}

void pni_sync_dir(const char *path)
{
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

int pn_write_numbers(pn_ctx *ctx, const char *path, const double *x, size_t n)
{
  char *buf = NULL;
  PN_CALL(pni_calloc(ctx, n * 26 + 1, 1, &buf, "number text"));
  size_t len = 0;
  char num[PN_DOUBLE_CHARS];
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(buf + len, 26, "%s\n", pn_format_double(x[i], num));
  int rc = pn_write_file_atomic(ctx, path, buf, len);
  free(buf);
  return rc;
}

int pn_mkdir_p(pn_ctx *ctx, const char *path)
{
  char buf[4096];
  PN_CHECK(ctx, strlen(path) < sizeof buf, PN_ERR_ARG, "path too long: %s", path);
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      const char c = *p;
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return pn_ctx_fail(ctx, PN_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
      *p = c;
      if (c == '\0') break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return pn_ctx_fail(ctx, PN_ERR_IO, "%s exists and is not a directory", path);
  return PN_OK;
}
