/* Training data: CSV reader/writer, built-in generators, train/validation
 * split, mini-batch draws and the masked MSE loss of a batch (see data.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid.h"
#include "internal.h"
#include "pinode/data.h"
#include "pinode/io.h"
#include "text.h"

#define MAX_FILE_BYTES ((size_t)1 << 30)
#define MAX_DIM 4096
#define MAX_NAME 255 /* characters of a state's name */

/* ---- datasets ------------------------------------------------------------- */

static int alloc_dataset(pn_ctx *ctx, int dim, int ntraj, long nrows, pn_dataset **out)
{
  pn_dataset *ds = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *ds, &ds, "dataset"));
  int rc = PN_OK;
  ds->dim = dim;
  ds->ntraj = ntraj;
  ds->nrows = nrows;
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)ntraj, sizeof(long), &ds->traj_id, "trajectory ids"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)ntraj + 1, sizeof(long), &ds->offset, "offsets"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)nrows, sizeof(double), &ds->time, "times"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)nrows * (size_t)dim, sizeof(double), &ds->z, "states"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)nrows, sizeof(long), &ds->line, "line numbers"));
  *out = ds;
  return PN_OK;
cleanup:
  pn_dataset_destroy(&ds);
  return rc;
}

int pn_dataset_create(pn_ctx *ctx, int dim, int ntraj, long nper, pn_dataset **out)
{
  PN_CHECK(ctx, out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CHECK(ctx, dim >= 1 && dim <= MAX_DIM && ntraj >= 1 && nper >= 1, PN_ERR_ARG,
           "dataset of %d trajectories x %ld rows of dimension %d", ntraj, nper, dim);
  PN_CALL(alloc_dataset(ctx, dim, ntraj, (long)ntraj * nper, out));
  for (int j = 0; j <= ntraj; j++) (*out)->offset[j] = (long)j * nper;
  for (int j = 0; j < ntraj; j++) (*out)->traj_id[j] = j;
  snprintf((*out)->source, sizeof (*out)->source, "(dataset in memory)");
  return PN_OK;
}

void pn_dataset_destroy(pn_dataset **ds)
{
  if (!ds || !*ds) return;
  free((*ds)->traj_id);
  free((*ds)->offset);
  free((*ds)->time);
  free((*ds)->z);
  free((*ds)->line);
  free((*ds)->names);
  free(*ds);
  *ds = NULL;
}

/* The default name of column d (0-based) into buf: "z1", "z2", ... */
static const char *default_name(int d, char *buf, size_t n)
{
  snprintf(buf, n, "z%d", d + 1);
  return buf;
}

/* Whether names are z1..zD, which a dataset keeps as no names at all. */
static int default_names(int dim, const char *const *names)
{
  char z[16];
  for (int d = 0; d < dim; d++)
    if (strcmp(names[d], default_name(d, z, sizeof z)) != 0) return 0;
  return 1;
}

/* Check and copy names into ds (one block: the pointers, then the texts);
 * `where` starts the messages (a file and line, or the function). */
static int set_names(pn_ctx *ctx, pn_dataset *ds, const char *const *names, const char *where,
                     int code)
{
  size_t bytes = 0;
  for (int d = 0; names && d < ds->dim; d++) {
    const char *s = names[d];
    PN_CHECK(ctx, s && *s, code, "%s: column %d (state %d) has no name", where, d + 3,
             d + 1);
    const size_t len = strlen(s);
    PN_CHECK(ctx, len <= MAX_NAME, code,
             "%s: the name of column %d (state %d) has %zu characters, more than %d", where, d + 3,
             d + 1, len, MAX_NAME);
    for (const char *c = s; *c; c++)
      PN_CHECK(ctx, *c != ',' && (unsigned char)*c >= 0x20 && *c != 0x7f, code,
               "%s: the name '%.80s' of column %d holds a comma or a control character", where,
               s, d + 3);
    for (int e = 0; e < d; e++)
      PN_CHECK(ctx, strcmp(names[e], s) != 0, code,
               "%s: columns %d and %d are both named '%.80s': each state needs its own name",
               where, e + 3, d + 3, s);
    bytes += len + 1;
  }
  char **block = NULL;
  if (names && !default_names(ds->dim, names))
    PN_CALL(pni_calloc(ctx, (size_t)ds->dim * sizeof(char *) + bytes, 1, &block, "state names"));
  free(ds->names);
  ds->names = block;
  if (!block) return PN_OK;
  char *text = (char *)(block + ds->dim);
  for (int d = 0; d < ds->dim; d++) {
    const size_t len = strlen(names[d]) + 1;
    block[d] = memcpy(text, names[d], len);
    text += len;
  }
  return PN_OK;
}

int pn_dataset_set_names(pn_ctx *ctx, pn_dataset *ds, const char *const *names)
{
  PN_CHECK(ctx, ds, PN_ERR_ARG, "NULL dataset");
  return set_names(ctx, ds, names, "state names", PN_ERR_ARG);
}

const char *pn_dataset_name(const pn_dataset *ds, int d, char *buf, size_t n)
{
  if (ds->names) return ds->names[d];
  return default_name(d, buf, n);
}

int pn_dataset_scale(pn_ctx *ctx, pn_dataset *ds, double factor)
{
  PN_CHECK(ctx, ds, PN_ERR_ARG, "NULL dataset");
  PN_CHECK(ctx, factor > 0 && isfinite(factor), PN_ERR_ARG,
           "scale factor %g: need a finite number > 0", factor);
  const size_t n = (size_t)ds->nrows * (size_t)ds->dim;
  for (size_t i = 0; i < n; i++) ds->z[i] *= factor;
  return PN_OK;
}

/* ---- generators ------------------------------------------------------------ */

static const char *const gen_names[] = {"spiral", "lotka_volterra", "pendulum", "lorenz", NULL};
static const int gen_dims[] = {2, 2, 2, 3};
static const char *const gen_state_names[4][3] = {
    {"x", "y", NULL}, {"prey", "predator", NULL}, {"angle", "velocity", NULL}, {"x", "y", "z"}};

PNI_ENUM_NAMES(pn_generator_kind, pn_generator, gen_names)

int pn_generator_dim(pn_generator_kind k) { return (unsigned)k < 4 ? gen_dims[k] : 0; }

void pn_generator_opts_default(pn_generator_kind kind, pn_generator_opts *o)
{
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->ntraj = 16;
  o->npoints = 21;
  o->t0 = 0.0;
  /* A fraction of the dynamics' time scale: long enough to show the flow,
   * short enough that fitting whole trajectories is well posed. */
  static const double t1[4] = {2.0, 5.0, 5.0, 1.0};
  o->t1 = t1[(unsigned)kind < 4 ? kind : 0];
  o->noise = 0.0;
  o->seed = 1;
  o->substeps = 50;
}

/* The true right-hand sides (autonomous). */
static void truth_rhs(pn_generator_kind kind, const double *z, double *f)
{
  switch (kind) {
  case PN_GEN_SPIRAL: { /* the row vector z∘z∘z times A */
    const double x3 = z[0] * z[0] * z[0], y3 = z[1] * z[1] * z[1];
    f[0] = -0.1 * x3 - 2.0 * y3;
    f[1] = 2.0 * x3 - 0.1 * y3;
    break;
  }
  case PN_GEN_LOTKA_VOLTERRA:
    f[0] = 1.5 * z[0] - z[0] * z[1];
    f[1] = z[0] * z[1] - 3.0 * z[1];
    break;
  case PN_GEN_PENDULUM:
    f[0] = z[1];
    f[1] = -4.0 * sin(z[0]) - 0.3 * z[1];
    break;
  case PN_GEN_LORENZ:
  default:
    f[0] = 10.0 * (z[1] - z[0]);
    f[1] = z[0] * (28.0 - z[2]) - z[1];
    f[2] = z[0] * z[1] - (8.0 / 3.0) * z[2];
    break;
  }
}

/* Classical RK4 for the ground truth: independent of the library's solver,
 * so generated data does not depend on the code it is used to test. */
static void rk4(pn_generator_kind kind, int D, double dt, long nsteps, double *z)
{
  double k1[3], k2[3], k3[3], k4[3], y[3];
  for (long n = 0; n < nsteps; n++) {
    truth_rhs(kind, z, k1);
    for (int d = 0; d < D; d++) y[d] = z[d] + 0.5 * dt * k1[d];
    truth_rhs(kind, y, k2);
    for (int d = 0; d < D; d++) y[d] = z[d] + 0.5 * dt * k2[d];
    truth_rhs(kind, y, k3);
    for (int d = 0; d < D; d++) y[d] = z[d] + dt * k3[d];
    truth_rhs(kind, y, k4);
    for (int d = 0; d < D; d++) z[d] += dt / 6.0 * (k1[d] + 2.0 * k2[d] + 2.0 * k3[d] + k4[d]);
  }
}

/* Initial state of one trajectory, from the seeded stream. */
static void initial_state(pn_generator_kind kind, pn_rng *rng, double *z)
{
  switch (kind) {
  case PN_GEN_SPIRAL: { /* a point of the demo's trajectory from (2, 0), at a time in [0, 25) */
    const long n = (long)(2500.0 * pn_rng_uniform(rng));
    z[0] = 2.0;
    z[1] = 0.0;
    rk4(kind, 2, 0.01, n, z);
    break;
  }
  case PN_GEN_LOTKA_VOLTERRA:
    z[0] = 1.0 + 4.0 * pn_rng_uniform(rng);
    z[1] = 0.5 + 2.5 * pn_rng_uniform(rng);
    break;
  case PN_GEN_PENDULUM:
    z[0] = -2.5 + 5.0 * pn_rng_uniform(rng);
    z[1] = -1.0 + 2.0 * pn_rng_uniform(rng);
    break;
  case PN_GEN_LORENZ:
  default: /* near a point of the attractor, then 2 time units to settle onto it */
    z[0] = -8.0 + 3.0 * pn_rng_normal(rng);
    z[1] = 7.0 + 3.0 * pn_rng_normal(rng);
    z[2] = 27.0 + 3.0 * pn_rng_normal(rng);
    rk4(kind, 3, 1e-3, 2000, z);
    break;
  }
}

static int check_generator(pn_ctx *ctx, const pn_generator_opts *o)
{
  PN_CHECK(ctx, (unsigned)o->kind < 4, PN_ERR_ARG, "unknown generator %d", (int)o->kind);
  PN_CHECK(ctx, o->ntraj >= 1 && o->ntraj <= 1000000, PN_ERR_ARG,
           "%d trajectories: need 1..1000000", o->ntraj);
  PN_CHECK(ctx, o->npoints >= 2 && o->npoints <= 10000000, PN_ERR_ARG,
           "%d points per trajectory: need 2..10000000", o->npoints);
  PN_CHECK(ctx, (double)o->ntraj * o->npoints <= 1e8, PN_ERR_ARG,
           "%d trajectories x %d points is more than 1e8 rows", o->ntraj, o->npoints);
  PN_CHECK(ctx, isfinite(o->t0) && isfinite(o->t1) && o->t1 > o->t0, PN_ERR_ARG,
           "interval [%g, %g]: need finite t0 < t1", o->t0, o->t1);
  PN_CHECK(ctx, o->noise >= 0 && isfinite(o->noise), PN_ERR_ARG,
           "noise %g: need a finite number >= 0", o->noise);
  PN_CHECK(ctx, o->substeps >= 1 && o->substeps <= 100000, PN_ERR_ARG,
           "%d substeps: need 1..100000", o->substeps);
  return PN_OK;
}

int pn_dataset_generate(pn_ctx *ctx, const pn_generator_opts *o, pn_dataset **out)
{
  PN_CHECK(ctx, o && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CALL(check_generator(ctx, o));
  const int D = gen_dims[o->kind];
  PN_CALL(pn_dataset_create(ctx, D, o->ntraj, o->npoints, out));
  pn_dataset *ds = *out;
  snprintf(ds->source, sizeof ds->source, "generator '%s'", gen_names[o->kind]);
  int rc = set_names(ctx, ds, gen_state_names[o->kind], "generator", PN_ERR_ARG);
  if (rc != PN_OK) {
    pn_dataset_destroy(out);
    return rc;
  }
  pn_rng rng;
  pn_rng_seed(&rng, o->seed);
  const double dt_obs = (o->t1 - o->t0) / (double)(o->npoints - 1);
  for (int j = 0; j < o->ntraj; j++) {
    double z[3];
    initial_state(o->kind, &rng, z);
    for (int i = 0; i < o->npoints; i++) {
      const long r = ds->offset[j] + i;
      if (i > 0) rk4(o->kind, D, dt_obs / o->substeps, o->substeps, z);
      ds->time[r] = o->t0 + (double)i * dt_obs; /* never accumulated (docs/mathematics.md) */
      memcpy(ds->z + (size_t)r * D, z, sizeof(double) * (size_t)D);
    }
    const long bad = pni_first_nonfinite(ds->z + (size_t)ds->offset[j] * D,
                                         (size_t)o->npoints * (size_t)D);
    if (bad >= 0) {
      pn_dataset_destroy(out);
      return pn_ctx_fail(ctx, PN_ERR_NONFINITE,
                         "generator '%s': trajectory %d blew up at t = %g (use more substeps "
                         "or a shorter interval)",
                         gen_names[o->kind], j, o->t0 + (double)(bad / D) * dt_obs);
    }
  }
  /* Noise after all trajectories, so that the noise level does not change
   * the initial states drawn above. */
  for (size_t i = 0; o->noise > 0 && i < (size_t)ds->nrows * (size_t)D; i++)
    ds->z[i] += o->noise * pn_rng_normal(&rng);
  return PN_OK;
}

/* ---- CSV ----------------------------------------------------------------- */

typedef struct csv {
  pn_ctx *ctx;
  const char *path;
  pni_lines r;
  long line; /* of the line being parsed */
} csv;

static char *csv_next_line(csv *c)
{
  char *s = pni_lines_next(&c->r);
  c->line = c->r.line;
  return s;
}

static char *trim(char *s)
{
  while (*s == ' ' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
  return s;
}

/* Split s at commas into at most max trimmed fields; returns the count (max+1 if more). */
static int split_fields(char *s, char **fields, int max)
{
  int n = 0;
  for (;;) {
    char *comma = strchr(s, ',');
    if (comma) *comma = '\0';
    if (n == max) return max + 1;
    fields[n++] = trim(s);
    if (!comma) return n;
    s = comma + 1;
  }
}

static int skip_line(const char *s)
{
  while (*s == ' ' || *s == '\t' || *s == '\r') s++;
  return *s == '\0' || *s == '#';
}

/* The header line, if any, and D.  Leaves c after the header, or before the
 * first data row when there is no header.  *header: a copy of the header
 * that fields[] point into (free() it), or NULL when there is none. */
static int csv_header(csv *c, char **fields, int *dim, char **header)
{
  char *s = csv_next_line(c);
  while (s && skip_line(s)) s = csv_next_line(c);
  PN_CHECK(c->ctx, s, PN_ERR_PARSE, "%s: no data rows (expected 'trajectory,time,z1,...,zD')",
           c->path);
  const size_t len = strlen(s);
  char *copy = NULL;
  PN_CALL(pni_calloc(c->ctx, len + 1, 1, &copy, "CSV header"));
  memcpy(copy, s, len + 1); /* with its NUL */
  const int n = split_fields(copy, fields, MAX_DIM + 2);
  int rc = PN_OK;
  PN_CHECK_GOTO(rc, c->ctx, n >= 3 && n <= MAX_DIM + 2, PN_ERR_PARSE,
                "%s:%ld: expected 'trajectory,time,z1,...,zD' with 1 <= D <= %d, found %d "
                "columns",
                c->path, c->line, MAX_DIM, n);
  *dim = n - 2;
  char *end = NULL;
  strtod(fields[0], &end);
  if (end != fields[0]) { /* no header: re-read this line as a data row */
    pni_lines_back(&c->r);
  } else {
    PN_CHECK_GOTO(rc, c->ctx, strcmp(fields[0], "trajectory") == 0 && strcmp(fields[1], "time") == 0,
                  PN_ERR_PARSE, "%s:%ld: header '%.200s' must start with 'trajectory,time,'",
                  c->path, c->line, s);
    *header = copy;
    return PN_OK;
  }
cleanup:
  free(copy);
  return rc;
}

/* One data row into row r of ds. */
static int csv_row(csv *c, char *s, pn_dataset *ds, long r, char **fields)
{
  const int D = ds->dim;
  const int n = split_fields(s, fields, D + 2);
  PN_CHECK(c->ctx, n == D + 2, PN_ERR_PARSE,
           "%s:%ld: expected %d columns (trajectory,time,z1..z%d), found %s%d", c->path, c->line,
           D + 2, D, n > D + 2 ? "more than " : "", n > D + 2 ? D + 2 : n);
  char *end = NULL;
  errno = 0;
  const long id = strtol(fields[0], &end, 10);
  PN_CHECK(c->ctx, end != fields[0] && *end == '\0' && errno == 0, PN_ERR_PARSE,
           "%s:%ld: column 1 (trajectory) is '%.40s', not an integer", c->path, c->line, fields[0]);
  for (int k = 1; k < D + 2; k++) {
    const double v = strtod(fields[k], &end);
    PN_CHECK(c->ctx, end != fields[k] && *end == '\0', PN_ERR_PARSE,
             "%s:%ld: column %d (%s) is '%.40s', not a number", c->path, c->line, k + 1,
             k == 1 ? "time" : "a state value", fields[k]);
    PN_CHECK(c->ctx, isfinite(v), PN_ERR_NONFINITE,
             "%s:%ld: column %d (%s) is %s: values must be finite", c->path, c->line, k + 1,
             k == 1 ? "time" : "a state value", fields[k]);
    if (k == 1)
      ds->time[r] = v;
    else
      ds->z[(size_t)r * D + (size_t)(k - 2)] = v;
  }
  ds->line[r] = c->line;
  /* A new trajectory starts where the id changes. */
  if (r == 0 || id != ds->traj_id[ds->ntraj - 1]) {
    ds->offset[ds->ntraj] = r;
    ds->traj_id[ds->ntraj++] = id;
  } else {
    PN_CHECK(c->ctx, ds->time[r] > ds->time[r - 1], PN_ERR_PARSE,
             "%s:%ld: trajectory %ld: time %.17g is not after the previous time %.17g (line "
             "%ld): times must increase within a trajectory",
             c->path, c->line, id, ds->time[r], ds->time[r - 1], ds->line[r - 1]);
  }
  return PN_OK;
}

static int cmp_id_index(const void *a, const void *b)
{
  const long *x = a, *y = b; /* pairs (id, trajectory index) */
  if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
  return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Each id must form one contiguous run of rows. */
static int csv_check_contiguous(csv *c, const pn_dataset *ds)
{
  long *pairs = NULL;
  PN_CALL(pni_calloc(c->ctx, 2 * (size_t)ds->ntraj, sizeof(long), &pairs, "trajectory ids"));
  for (int j = 0; j < ds->ntraj; j++) {
    pairs[2 * j] = ds->traj_id[j];
    pairs[2 * j + 1] = j;
  }
  qsort(pairs, (size_t)ds->ntraj, 2 * sizeof(long), cmp_id_index);
  long first = -1, again = -1;
  for (int j = 1; j < ds->ntraj && again < 0; j++)
    if (pairs[2 * j] == pairs[2 * j - 2]) {
      first = pairs[2 * j - 1];
      again = pairs[2 * j + 1];
    }
  const long id = again >= 0 ? ds->traj_id[again] : 0;
  free(pairs);
  PN_CHECK(c->ctx, again < 0, PN_ERR_PARSE,
           "%s:%ld: trajectory %ld appears again after other trajectories (first rows at line "
           "%ld): the rows of a trajectory must be contiguous",
           c->path, ds->line[ds->offset[again < 0 ? 0 : again]], id,
           ds->line[ds->offset[first < 0 ? 0 : first]]);
  return PN_OK;
}

static int csv_parse(csv *c, pn_dataset **out)
{
  char **fields = NULL, *header = NULL;
  pn_dataset *ds = NULL;
  int rc = PN_OK, D = 0;
  PN_CALL(pni_calloc(c->ctx, MAX_DIM + 3, sizeof(char *), &fields, "CSV fields"));
  PN_CALL_GOTO(rc, csv_header(c, fields, &D, &header));
  const long header_line = c->line;
  /* Size the arrays for the lines that can hold a row: neither blank nor a
   * comment (skip_line()), so that blank lines cost no memory (a 200 MB file
   * of them made the reader ask for 8 GB). */
  long maxrows = (long)pni_lines_content(&c->r);
  if (maxrows == 0) maxrows = 1;
  PN_CHECK_GOTO(rc, c->ctx, maxrows <= (1L << 31), PN_ERR_LIMIT, "%s: too many rows", c->path);
  PN_CALL_GOTO(rc, alloc_dataset(c->ctx, D, (int)maxrows, maxrows, &ds));
  if (header) { /* the states' names, before fields[] is reused for the rows */
    char where[600];
    snprintf(where, sizeof where, "%s:%ld", c->path, header_line);
    PN_CALL_GOTO(rc, set_names(c->ctx, ds, (const char *const *)fields + 2, where, PN_ERR_PARSE));
  }
  ds->ntraj = 0;
  long r = 0;
  for (char *s; (s = csv_next_line(c));) {
    if (skip_line(s)) continue;
    PN_CALL_GOTO(rc, csv_row(c, s, ds, r++, fields));
  }
  PN_CHECK_GOTO(rc, c->ctx, r > 0, PN_ERR_PARSE, "%s: no data rows", c->path);
  ds->nrows = r;
  ds->offset[ds->ntraj] = r;
  PN_CALL_GOTO(rc, csv_check_contiguous(c, ds));
  snprintf(ds->source, sizeof ds->source, "%s", c->path);
  *out = ds;
  ds = NULL;
cleanup:
  pn_dataset_destroy(&ds);
  free(header);
  free(fields);
  return rc;
}

int pn_dataset_read_csv(pn_ctx *ctx, const char *path, pn_dataset **out)
{
  PN_CHECK(ctx, path && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  csv c = {.ctx = ctx, .path = path};
  PN_CALL(pni_lines_read(ctx, path, MAX_FILE_BYTES, &c.r));
  const int rc = csv_parse(&c, out);
  pni_lines_free(&c.r);
  return rc;
}

int pn_dataset_write_csv(pn_ctx *ctx, const pn_dataset *ds, const char *path)
{
  PN_CHECK(ctx, ds && path, PN_ERR_ARG, "NULL argument");
  const size_t D = (size_t)ds->dim;
  const size_t cap = 64 + (MAX_NAME + 2) * D + (size_t)ds->nrows * (22 + 26 * (D + 1));
  char *buf = NULL;
  PN_CALL(pni_calloc(ctx, cap, 1, &buf, "CSV text"));
  size_t len = (size_t)snprintf(buf, cap, "trajectory,time");
  char num[PN_DOUBLE_CHARS];
  for (size_t d = 0; d < D; d++)
    len += (size_t)snprintf(buf + len, cap - len, ",%s", pn_dataset_name(ds, (int)d, num, sizeof num));
  buf[len++] = '\n';
  for (int j = 0; j < ds->ntraj; j++)
    for (long r = ds->offset[j]; r < ds->offset[j + 1]; r++) {
      len += (size_t)snprintf(buf + len, cap - len, "%ld,%s", ds->traj_id[j],
                              pn_format_double(ds->time[r], num));
      for (size_t d = 0; d < D; d++)
        len += (size_t)snprintf(buf + len, cap - len, ",%s",
                                pn_format_double(ds->z[(size_t)r * D + d], num));
      buf[len++] = '\n';
    }
  const int rc = pn_write_file_atomic(ctx, path, buf, len);
  free(buf);
  return rc;
}

/* ---- the solver grid ------------------------------------------------------ */

/* "file:line" of row r, or "generator 'x', trajectory j". */
static const char *row_where(const pn_dataset *ds, int j, long r, char *buf, size_t n)
{
  if (ds->line[r] > 0)
    snprintf(buf, n, "%s:%ld: trajectory %ld", ds->source, ds->line[r], ds->traj_id[j]);
  else
    snprintf(buf, n, "%s: trajectory %ld, row %ld", ds->source, ds->traj_id[j], r - ds->offset[j]);
  return buf;
}

static int off_grid(pn_ctx *ctx, const pn_dataset *ds, int j, long r, double t0, double t1,
                    long nsteps)
{
  char w[700], hint[320], num[3][PN_DOUBLE_CHARS];
  const double h = (t1 - t0) / (double)nsteps;
  pni_grid_fit_hint(ds->time, ds->nrows, t0, t1, nsteps, "solver.steps =", "time", hint,
                    sizeof hint);
  return pni_error(ctx, PN_ERR_GRID, __FILE__, __LINE__, __func__,
                   "%s: time %s is not on the solver grid t_n = %s + n*%s (N = %ld); %s",
                   row_where(ds, j, r, w, sizeof w), pn_format_double(ds->time[r], num[0]),
                   pn_format_double(t0, num[1]), pn_format_double(h, num[2]), nsteps, hint);
}

int pn_dataset_check_grid(pn_ctx *ctx, const pn_dataset *ds, double t0, double t1, long nsteps)
{
  PN_CHECK(ctx, ds, PN_ERR_ARG, "NULL dataset");
  PN_CHECK(ctx, isfinite(t0) && isfinite(t1) && t1 > t0 && nsteps >= 1, PN_ERR_ARG,
           "grid [%g, %g] with %ld steps", t0, t1, nsteps);
  const double h = (t1 - t0) / (double)nsteps;
  char w[700], num[3][PN_DOUBLE_CHARS];
  long nmoved = 0, worst = -1, worst_m = 0;
  double most = 0.0;
  for (int j = 0; j < ds->ntraj; j++) {
    long prev = -1;
    for (long r = ds->offset[j]; r < ds->offset[j + 1]; r++) {
      const double t = ds->time[r];
      PN_CHECK(ctx, pni_grid_inside(t, t0, t1, nsteps), PN_ERR_GRID,
               "%s: time %s lies outside the solver interval [%s, %s]",
               row_where(ds, j, r, w, sizeof w), pn_format_double(t, num[0]),
               pn_format_double(t0, num[1]), pn_format_double(t1, num[2]));
      double moved = 0.0;
      const long m = pni_grid_index(t, t0, t1, nsteps, &moved);
      if (m < 0) return off_grid(ctx, ds, j, r, t0, t1, nsteps);
      PN_CHECK(ctx, r > ds->offset[j] || m == 0, PN_ERR_GRID,
               "%s: the first time %s is not t0 = %s: every trajectory needs its initial "
               "state at t0",
               row_where(ds, j, r, w, sizeof w), pn_format_double(t, num[0]),
               pn_format_double(t0, num[1]));
      PN_CHECK(ctx, m != prev, PN_ERR_GRID,
               "%s: times %s and %s fall on the same grid point %ld (use more steps)",
               row_where(ds, j, r, w, sizeof w), pn_format_double(ds->time[r - 1], num[0]),
               pn_format_double(t, num[1]), m);
      prev = m;
      if (moved > 0.0) nmoved++;
      if (moved > most) {
        most = moved;
        worst = r;
        worst_m = m;
      }
    }
  }
  if (nmoved > 0) {
    int j = 0;
    while (ds->offset[j + 1] <= worst) j++;
    pni_note(ctx,
             "%s: time %s was taken as the grid time t_%ld = %s: it lies %.2e off the "
             "grid, more than rounding (%.1e) but within a millionth of a step; %ld time%s of "
             "%s moved so, this one the farthest",
             row_where(ds, j, worst, w, sizeof w), pn_format_double(ds->time[worst], num[0]),
             worst_m, pn_format_double(t0 + (double)worst_m * h, num[1]), most, pni_grid_rounding(t0, t1), nmoved,
             nmoved == 1 ? "" : "s", ds->source);
  }
  return PN_OK;
}

/* ---- split and mini-batches ----------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
  const int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int pn_dataset_split(pn_ctx *ctx, const pn_dataset *ds, double fraction, uint64_t seed,
                     int *train, int *ntrain, int *val, int *nval)
{
  PN_CHECK(ctx, ds && train && ntrain && val && nval, PN_ERR_ARG, "NULL argument");
  PN_CHECK(ctx, fraction >= 0 && fraction < 1, PN_ERR_ARG,
           "validation fraction %g: need 0 <= fraction < 1", fraction);
  const int n = ds->ntraj;
  int nv = (int)lround(fraction * n);
  if (fraction > 0 && nv == 0) nv = 1;
  PN_CHECK(ctx, nv < n, PN_ERR_ARG,
           "validation fraction %g of %d trajectories leaves none for training", fraction, n);
  pn_rng rng;
  pn_rng_seed(&rng, seed);
  /* Fisher–Yates: the validation set is the first nv of a seeded shuffle. */
  for (int i = 0; i < n; i++) train[i] = i;
  for (int i = 0; i < nv; i++) {
    const int k = i + (int)pn_rng_below(&rng, (uint64_t)(n - i));
    const int t = train[i];
    train[i] = train[k];
    train[k] = t;
  }
  memcpy(val, train, sizeof(int) * (size_t)nv);
  memmove(train, train + nv, sizeof(int) * (size_t)(n - nv));
  qsort(val, (size_t)nv, sizeof(int), cmp_int);
  qsort(train, (size_t)(n - nv), sizeof(int), cmp_int);
  *nval = nv;
  *ntrain = n - nv;
  return PN_OK;
}

void pn_draw_batch(pn_rng *rng, const int *pool, int npool, int size, int *out, int *scratch)
{
  memcpy(scratch, pool, sizeof(int) * (size_t)npool);
  for (int i = 0; i < size && i < npool; i++) {
    const int k = i + (int)pn_rng_below(rng, (uint64_t)(npool - i));
    const int t = scratch[i];
    scratch[i] = scratch[k];
    scratch[k] = t;
    out[i] = scratch[i];
  }
}

/* ---- batches and their masked MSE ------------------------------------------ */

struct pn_batch {
  pn_ctx *ctx;
  const pn_dataset *ds;
  int size;
  pn_reduction reduction;
  int *members;  /* size */
  double *z0;    /* size × D */
  double *times; /* K distinct label times */
  int K;
  pn_loss *loss;
  double scale;
  long nobs;
};

/* Row of trajectory j (after its first) at time t exactly, or −1. */
static long find_row(const pn_dataset *ds, int j, double t)
{
  long lo = ds->offset[j] + 1, hi = ds->offset[j + 1] - 1;
  while (lo <= hi) {
    const long mid = lo + (hi - lo) / 2;
    if (ds->time[mid] == t) return mid;
    if (ds->time[mid] < t)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

static int masked_mse(void *user, int label, double t, int b0, int nb, const double *z,
                      double *value_out, double *grad_out)
{
  (void)t;
  const pn_batch *B = user;
  const pn_dataset *ds = B->ds;
  const int D = ds->dim;
  const double tk = B->times[label];
  double sum = 0.0;
  for (int i = 0; i < nb; i++) {
    double *g = grad_out + (size_t)i * D;
    const long r = find_row(ds, B->members[b0 + i], tk);
    if (r < 0) {
      memset(g, 0, sizeof(double) * (size_t)D);
      continue;
    }
    const double *y = ds->z + (size_t)r * D, *zi = z + (size_t)i * D;
    for (int d = 0; d < D; d++) {
      const double diff = zi[d] - y[d];
      sum += diff * diff;
      g[d] = 2.0 * B->scale * diff;
    }
  }
  *value_out = B->scale * sum;
  return 0;
}

static int cmp_double(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The distinct times of all rows after each trajectory's first. */
static int label_times(pn_batch *B)
{
  const pn_dataset *ds = B->ds;
  PN_CALL(pni_calloc(B->ctx, (size_t)ds->nrows, sizeof(double), &B->times, "label times"));
  long n = 0;
  for (int j = 0; j < ds->ntraj; j++)
    for (long r = ds->offset[j] + 1; r < ds->offset[j + 1]; r++) B->times[n++] = ds->time[r];
  qsort(B->times, (size_t)n, sizeof(double), cmp_double);
  long k = 0;
  for (long i = 0; i < n; i++)
    if (k == 0 || B->times[i] != B->times[k - 1]) B->times[k++] = B->times[i];
  PN_CHECK(B->ctx, k <= (1L << 30), PN_ERR_LIMIT, "%s: %ld distinct times", ds->source, k);
  B->K = (int)k;
  return PN_OK;
}

int pn_batch_create(pn_ctx *ctx, const pn_dataset *ds, int size, double t0, pn_reduction red,
                    pn_batch **out)
{
  PN_CHECK(ctx, ds && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  PN_CHECK(ctx, size >= 1 && size <= ds->ntraj, PN_ERR_ARG,
           "batch of %d trajectories from a dataset of %d", size, ds->ntraj);
  PN_CHECK(ctx, red == PN_REDUCE_MEAN || red == PN_REDUCE_SUM, PN_ERR_ARG, "unknown reduction %d",
           (int)red);
  /* Every trajectory's first row is its initial state, at t0 (what
   * pn_dataset_check_grid verifies on the solver's grid; here, for callers
   * that skipped it, to the loosest that rule can be: a millionth of the
   * dataset's time span, one step's tolerance when N = 1, or rounding). */
  double lo = INFINITY, hi = -INFINITY;
  for (long r = 0; r < ds->nrows; r++) {
    lo = fmin(lo, ds->time[r]);
    hi = fmax(hi, ds->time[r]);
  }
  char w[700];
  for (int j = 0; j < ds->ntraj; j++)
    PN_CHECK(ctx,
             fabs(ds->time[ds->offset[j]] - t0) <=
                 fmax(1e-6 * (hi - lo), pni_grid_rounding(fmin(lo, t0), fmax(hi, t0))),
             PN_ERR_GRID,
             "%s: the first time %.17g is not t0 = %.17g", row_where(ds, j, ds->offset[j], w, sizeof w),
             ds->time[ds->offset[j]], t0);
  pn_batch *B = NULL;
  PN_CALL(pni_calloc(ctx, 1, sizeof *B, &B, "batch"));
  int rc = PN_OK;
  B->ctx = ctx;
  B->ds = ds;
  B->size = size;
  B->reduction = red;
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)size, sizeof(int), &B->members, "batch members"));
  PN_CALL_GOTO(rc, pni_calloc(ctx, (size_t)size * (size_t)ds->dim, sizeof(double), &B->z0,
                              "batch initial states"));
  PN_CALL_GOTO(rc, label_times(B));
  PN_CALL_GOTO(rc, pn_loss_create_custom(ctx, B->K, B->times, size, ds->dim, masked_mse, B,
                                         &B->loss));
  *out = B;
  return PN_OK;
cleanup:
  pn_batch_destroy(&B);
  return rc;
}

void pn_batch_destroy(pn_batch **b)
{
  if (!b || !*b) return;
  pn_loss_destroy(&(*b)->loss);
  free((*b)->members);
  free((*b)->z0);
  free((*b)->times);
  free(*b);
  *b = NULL;
}

int pn_batch_set(pn_batch *B, const int *members)
{
  if (!B) return PN_ERR_ARG;
  const pn_dataset *ds = B->ds;
  const size_t D = (size_t)ds->dim;
  PN_CHECK(B->ctx, members, PN_ERR_ARG, "NULL members");
  long nobs = 0;
  for (int i = 0; i < B->size; i++) {
    const int j = members[i];
    PN_CHECK(B->ctx, j >= 0 && j < ds->ntraj, PN_ERR_ARG,
             "batch member %d is trajectory %d, outside 0..%d", i, j, ds->ntraj - 1);
    B->members[i] = j;
    memcpy(B->z0 + (size_t)i * D, ds->z + (size_t)ds->offset[j] * D, sizeof(double) * D);
    nobs += ds->offset[j + 1] - ds->offset[j] - 1;
  }
  PN_CHECK(B->ctx, nobs > 0, PN_ERR_ARG,
           "%s: the batch has no observations after the initial states", ds->source);
  B->nobs = nobs;
  B->scale = B->reduction == PN_REDUCE_MEAN ? 1.0 / ((double)nobs * (double)D) : 1.0;
  return PN_OK;
}

const double *pn_batch_z0(const pn_batch *b) { return b->z0; }
const pn_loss *pn_batch_loss(const pn_batch *b) { return b->loss; }
int pn_batch_size(const pn_batch *b) { return b->size; }
long pn_batch_observations(const pn_batch *b) { return b->nobs; }
