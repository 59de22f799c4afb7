/* Model and checkpoint files: header entries and named arrays of doubles in a
 * line-oriented text format (see modelfile.h).  pn_format_double() + strtod round-trips
 * every double exactly, which bitwise resume relies on. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pinode/io.h"
#include "pinode/modelfile.h"
#include "text.h"

#define MAGIC "pinode-model"
#define VERSION 2          /* with a checksum on the end line */
#define VERSION_UNCHECKED 1 /* before the checksum: still read */
#define MAX_KEY 63
#define MAX_VALUE 4095
#define MAX_FILE_BYTES ((size_t)1 << 30)
#define MAX_LAYERS 64
/* Entries and arrays are found by a linear search: a file of millions of keys
 * would take hours to read (quadratic).  pinode's checkpoints hold ~100
 * entries and 7 arrays. */
#define MAX_ENTRIES 4096
#define MAX_ARRAYS 1024

typedef struct entry {
  char *key, *value;
  long line; /* in the file read, 0 if set in memory */
} entry;

typedef struct array {
  char *name;
  double *x;
  size_t n;
  long line; /* of the "array" line */
} array;

struct pn_modelfile {
  pn_ctx *ctx;
  char path[1024]; /* of the file read, for messages */
  entry *entries;
  int nentries, cap_entries;
  array *arrays;
  int narrays, cap_arrays;
  /* get_mlp's decoded shape, owned here */
  int widths[MAX_LAYERS];
  pn_activation acts[MAX_LAYERS];
};

int pn_modelfile_create(pn_ctx *ctx, pn_modelfile **out)
{
  PN_CHECK(ctx, out, PN_ERR_ARG, "NULL argument");
  PN_CALL(pni_calloc(ctx, 1, sizeof **out, out, "model file"));
  (*out)->ctx = ctx;
  snprintf((*out)->path, sizeof (*out)->path, "(model file in memory)");
  return PN_OK;
}

int pn_modelfile_destroy(pn_modelfile **mf)
{
  if (!mf || !*mf) return PN_OK;
  pn_modelfile *m = *mf;
  for (int i = 0; i < m->nentries; i++) {
    free(m->entries[i].key);
    free(m->entries[i].value);
  }
  for (int i = 0; i < m->narrays; i++) {
    free(m->arrays[i].name);
    free(m->arrays[i].x);
  }
  free(m->entries);
  free(m->arrays);
  free(m);
  *mf = NULL;
  return PN_OK;
}

static int valid_key(const char *k)
{
  if (!k || !(*k >= 'a' && *k <= 'z') || strlen(k) > MAX_KEY) return 0;
  for (; *k; k++)
    if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '.')) return 0;
  return 1;
}

static char *dup_str(pn_ctx *ctx, const char *s, size_t n)
{
  char *d = NULL;
  if (pni_calloc(ctx, n + 1, 1, &d, "model file text") != PN_OK) return NULL;
  memcpy(d, s, n);
  return d;
}

/* Grow an array of `size`-byte items to hold one more. */
static int grow(pn_ctx *ctx, void **items, int n, int *cap, size_t size)
{
  if (n < *cap) return PN_OK;
  const int want = *cap ? 2 * *cap : 16;
  void *p = realloc(*items, (size_t)want * size);
  PN_CHECK(ctx, p, PN_ERR_MEM, "out of memory growing a model file");
  *items = p;
  *cap = want;
  return PN_OK;
}

static entry *find_entry(const pn_modelfile *mf, const char *key)
{
  for (int i = 0; i < mf->nentries; i++)
    if (strcmp(mf->entries[i].key, key) == 0) return &mf->entries[i];
  return NULL;
}

static array *find_array(const pn_modelfile *mf, const char *name)
{
  for (int i = 0; i < mf->narrays; i++)
    if (strcmp(mf->arrays[i].name, name) == 0) return &mf->arrays[i];
  return NULL;
}

/* Add or replace; takes ownership of value (freed on failure). */
static int put_entry(pn_modelfile *mf, const char *key, char *value, long line)
{
  entry *e = find_entry(mf, key);
  if (e) {
    free(e->value);
    e->value = value;
    e->line = line;
    return PN_OK;
  }
  if (mf->nentries >= MAX_ENTRIES) {
    free(value);
    return pn_ctx_fail(mf->ctx, PN_ERR_LIMIT, "%s:%ld: key '%s': more than %d entries in a model file",
                       mf->path, line, key, MAX_ENTRIES);
  }
  int rc = grow(mf->ctx, (void **)&mf->entries, mf->nentries, &mf->cap_entries, sizeof(entry));
  char *k = rc == PN_OK ? dup_str(mf->ctx, key, strlen(key)) : NULL;
  if (!k) {
    free(value);
    return rc != PN_OK ? rc : PN_ERR_MEM;
  }
  mf->entries[mf->nentries++] = (entry){k, value, line};
  return PN_OK;
}

int pn_modelfile_set(pn_modelfile *mf, const char *key, const char *value)
{
  if (!mf) return PN_ERR_ARG;
  PN_CHECK(mf->ctx, valid_key(key) && strcmp(key, "array") != 0 && strcmp(key, "end") != 0,
           PN_ERR_ARG, "model-file key '%s': need [a-z][a-z0-9_.]*, at most %d characters, not "
           "'array' or 'end'", key ? key : "(null)", MAX_KEY);
  PN_CHECK(mf->ctx, value && !strpbrk(value, "\r\n") && strlen(value) <= MAX_VALUE, PN_ERR_ARG,
           "model-file key '%s': the value must be one line of at most %d characters", key,
           MAX_VALUE);
  char *v = dup_str(mf->ctx, value, strlen(value));
  if (!v) return PN_ERR_MEM;
  return put_entry(mf, key, v, 0);
}

int pn_modelfile_set_long(pn_modelfile *mf, const char *key, long value)
{
  char buf[32];
  snprintf(buf, sizeof buf, "%ld", value);
  return pn_modelfile_set(mf, key, buf);
}

int pn_modelfile_set_double(pn_modelfile *mf, const char *key, double value)
{
  char buf[PN_DOUBLE_CHARS];
  return pn_modelfile_set(mf, key, pn_format_double(value, buf));
}

int pn_modelfile_set_u64s(pn_modelfile *mf, const char *key, int n, const uint64_t *values)
{
  char buf[21 * 64 + 1];
  if (!mf) return PN_ERR_ARG;
  PN_CHECK(mf->ctx, n >= 0 && n <= 64 && (n == 0 || values), PN_ERR_ARG,
           "model-file key '%s': %d integers (at most 64)", key ? key : "(null)", n);
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%" PRIu64, i ? " " : "", values[i]);
  return pn_modelfile_set(mf, key, buf);
}

/* Takes ownership of x (freed on failure). */
static int put_array(pn_modelfile *mf, const char *name, size_t n, double *x, long line)
{
  array *a = find_array(mf, name);
  if (a) {
    free(a->x);
    *a = (array){a->name, x, n, line};
    return PN_OK;
  }
  if (mf->narrays >= MAX_ARRAYS) {
    free(x);
    return pn_ctx_fail(mf->ctx, PN_ERR_LIMIT, "%s:%ld: array '%s': more than %d arrays in a model file",
                       mf->path, line, name, MAX_ARRAYS);
  }
  int rc = grow(mf->ctx, (void **)&mf->arrays, mf->narrays, &mf->cap_arrays, sizeof(array));
  char *nm = rc == PN_OK ? dup_str(mf->ctx, name, strlen(name)) : NULL;
  if (!nm) {
    free(x);
    return rc != PN_OK ? rc : PN_ERR_MEM;
  }
  mf->arrays[mf->narrays++] = (array){nm, x, n, line};
  return PN_OK;
}

int pn_modelfile_set_array(pn_modelfile *mf, const char *name, size_t n, const double *x)
{
  if (!mf) return PN_ERR_ARG;
  PN_CHECK(mf->ctx, valid_key(name), PN_ERR_ARG,
           "model-file array name '%s': need [a-z][a-z0-9_.]*, at most %d characters",
           name ? name : "(null)", MAX_KEY);
  PN_CHECK(mf->ctx, n == 0 || x, PN_ERR_ARG, "array '%s': NULL data", name);
  double *copy = NULL;
  PN_CALL(pni_calloc(mf->ctx, n, sizeof(double), &copy, name));
  if (n > 0) memcpy(copy, x, n * sizeof(double));
  return put_array(mf, name, n, copy, 0);
}

const char *pn_modelfile_get(const pn_modelfile *mf, const char *key)
{
  const entry *e = mf && key ? find_entry(mf, key) : NULL;
  return e ? e->value : NULL;
}

/* "path:line: key 'k'" or "path: key 'k'" for messages. */
static const char *where(const pn_modelfile *mf, const char *key, long line, char *buf, size_t n)
{
  if (line > 0)
    snprintf(buf, n, "%s:%ld: key '%s'", mf->path, line, key);
  else
    snprintf(buf, n, "%s: key '%s'", mf->path, key);
  return buf;
}

static int lookup(const pn_modelfile *mf, const char *key, const entry **out)
{
  *out = find_entry(mf, key);
  PN_CHECK(mf->ctx, *out, PN_ERR_PARSE, "%s: required key '%s' is missing", mf->path, key);
  return PN_OK;
}

int pn_modelfile_get_long(const pn_modelfile *mf, const char *key, long lo, long hi, long *out)
{
  if (!mf || !out) return PN_ERR_ARG;
  const entry *e = NULL;
  char w[1200];
  PN_CALL(lookup(mf, key, &e));
  char *end = NULL;
  errno = 0;
  const long v = strtol(e->value, &end, 10);
  PN_CHECK(mf->ctx, end != e->value && *end == '\0' && errno == 0 && v >= lo && v <= hi,
           PN_ERR_PARSE, "%s: '%s' is not an integer in %ld..%ld",
           where(mf, key, e->line, w, sizeof w), e->value, lo, hi);
  *out = v;
  return PN_OK;
}

int pn_modelfile_get_double(const pn_modelfile *mf, const char *key, double *out)
{
  if (!mf || !out) return PN_ERR_ARG;
  const entry *e = NULL;
  char w[1200];
  PN_CALL(lookup(mf, key, &e));
  char *end = NULL;
  const double v = strtod(e->value, &end);
  PN_CHECK(mf->ctx, end != e->value && *end == '\0', PN_ERR_PARSE, "%s: '%s' is not a number",
           where(mf, key, e->line, w, sizeof w), e->value);
  *out = v;
  return PN_OK;
}

int pn_modelfile_get_u64s(const pn_modelfile *mf, const char *key, int n, uint64_t *out)
{
  if (!mf || !out) return PN_ERR_ARG;
  const entry *e = NULL;
  char w[1200];
  PN_CALL(lookup(mf, key, &e));
  const char *s = e->value;
  for (int i = 0; i < n; i++) {
    char *end = NULL;
    errno = 0;
    while (*s == ' ') s++;
    const unsigned long long v = strtoull(s, &end, 10);
    PN_CHECK(mf->ctx, end != s && *s != '-' && errno == 0 && (*end == ' ' || *end == '\0'),
             PN_ERR_PARSE, "%s: expected %d unsigned 64-bit integers, found '%s'",
             where(mf, key, e->line, w, sizeof w), n, e->value);
    out[i] = (uint64_t)v;
    s = end;
  }
  while (*s == ' ') s++;
  PN_CHECK(mf->ctx, *s == '\0', PN_ERR_PARSE, "%s: expected %d integers, found more in '%s'",
           where(mf, key, e->line, w, sizeof w), n, e->value);
  return PN_OK;
}

int pn_modelfile_get_array(const pn_modelfile *mf, const char *name, long expect,
                           const double **x_out, size_t *n_out)
{
  if (!mf || !x_out) return PN_ERR_ARG;
  const array *a = find_array(mf, name);
  PN_CHECK(mf->ctx, a, PN_ERR_PARSE, "%s: required array '%s' is missing", mf->path, name);
  PN_CHECK(mf->ctx, expect < 0 || a->n == (size_t)expect, PN_ERR_PARSE,
           "%s:%ld: array '%s' has %zu numbers, expected %ld", mf->path, a->line, name, a->n,
           expect);
  *x_out = a->x;
  if (n_out) *n_out = a->n;
  return PN_OK;
}

/* ---- the MLP ----------------------------------------------------------- */

int pn_modelfile_set_mlp(pn_modelfile *mf, const pn_mlp_spec *spec, const double *theta,
                         int nparam)
{
  if (!mf) return PN_ERR_ARG;
  PN_CHECK(mf->ctx, spec && theta && spec->nhidden >= 0 && spec->nhidden <= MAX_LAYERS,
           PN_ERR_ARG, "bad MLP for a model file");
  char hidden[MAX_LAYERS * 9 + 1] = "", acts[MAX_LAYERS * 10 + 1] = "";
  size_t lh = 0, la = 0;
  for (int l = 0; l < spec->nhidden; l++) {
    lh += (size_t)snprintf(hidden + lh, sizeof hidden - lh, "%s%d", l ? " " : "", spec->widths[l]);
    la += (size_t)snprintf(acts + la, sizeof acts - la, "%s%s", l ? " " : "",
                           pn_activation_name(spec->acts[l]));
  }
  PN_CALL(pn_modelfile_set(mf, "kind", "mlp"));
  PN_CALL(pn_modelfile_set_long(mf, "dim", spec->dim));
  PN_CALL(pn_modelfile_set(mf, "hidden", hidden));
  PN_CALL(pn_modelfile_set(mf, "activation", acts));
  PN_CALL(pn_modelfile_set_long(mf, "time_input", spec->time_input ? 1 : 0));
  PN_CALL(pn_modelfile_set_long(mf, "nparam", nparam));
  return pn_modelfile_set_array(mf, "theta", (size_t)nparam, theta);
}

/* Split a value into whitespace-separated words (in a copy); count them. */
static int split_words(const char *value, char *copy, size_t cap, char **words, int max)
{
  snprintf(copy, cap, "%s", value);
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
    if (n == max) return max + 1;
    words[n++] = t;
  }
  return n;
}

static int get_shape(pn_modelfile *mf, pn_mlp_spec *spec)
{
  char w[1200], copy[MAX_VALUE + 1];
  char *words[MAX_LAYERS];
  long v = 0;
  const entry *e = NULL;
  PN_CALL(lookup(mf, "kind", &e));
  PN_CHECK(mf->ctx, strcmp(e->value, "mlp") == 0, PN_ERR_PARSE,
           "%s: model kind '%s' is not supported (accepted: mlp)",
           where(mf, "kind", e->line, w, sizeof w), e->value);
  memset(spec, 0, sizeof *spec);
  PN_CALL(pn_modelfile_get_long(mf, "dim", 1, 1 << 20, &v));
  spec->dim = (int)v;
  PN_CALL(pn_modelfile_get_long(mf, "time_input", 0, 1, &v));
  spec->time_input = (int)v;
  PN_CALL(lookup(mf, "hidden", &e));
  const int L = split_words(e->value, copy, sizeof copy, words, MAX_LAYERS);
  PN_CHECK(mf->ctx, L <= MAX_LAYERS, PN_ERR_PARSE, "%s: more than %d hidden layers",
           where(mf, "hidden", e->line, w, sizeof w), MAX_LAYERS);
  for (int l = 0; l < L; l++) {
    char *end = NULL;
    const long width = strtol(words[l], &end, 10);
    PN_CHECK(mf->ctx, *end == '\0' && width >= 1 && width <= (1 << 20), PN_ERR_PARSE,
             "%s: width '%s' is not an integer in 1..1048576",
             where(mf, "hidden", e->line, w, sizeof w), words[l]);
    mf->widths[l] = (int)width;
  }
  PN_CALL(lookup(mf, "activation", &e));
  const int na = split_words(e->value, copy, sizeof copy, words, MAX_LAYERS);
  PN_CHECK(mf->ctx, na == L, PN_ERR_PARSE, "%s: %d activations for %d hidden layers",
           where(mf, "activation", e->line, w, sizeof w), na, L);
  for (int l = 0; l < L; l++)
    PN_CHECK(mf->ctx, pn_activation_from_name(words[l], &mf->acts[l]) == PN_OK, PN_ERR_PARSE,
             "%s: unknown activation '%s' (accepted: identity, tanh, softplus, sigmoid, relu, "
             "silu)",
             where(mf, "activation", e->line, w, sizeof w), words[l]);
  spec->nhidden = L;
  spec->widths = mf->widths;
  spec->acts = mf->acts;
  return PN_OK;
}

int pn_modelfile_get_mlp(pn_modelfile *mf, pn_mlp_spec *spec_out, const double **theta_out,
                         int *nparam_out)
{
  if (!mf || !spec_out || !theta_out || !nparam_out) return PN_ERR_ARG;
  PN_CALL(get_shape(mf, spec_out));
  long np = 0;
  PN_CALL(pn_modelfile_get_long(mf, "nparam", 0, 1L << 30, &np));
  const entry *e = find_entry(mf, "nparam");
  char w[1200];
  /* The count the shape implies, before building the model: a few bytes of
   * shape must not make pinode allocate more than the file's θ holds. */
  long implied = 0;
  for (int l = 0, in = spec_out->dim + spec_out->time_input; l <= spec_out->nhidden; l++) {
    const int out = l == spec_out->nhidden ? spec_out->dim : spec_out->widths[l];
    implied += (long)in * out + out;
    in = out;
  }
  PN_CHECK(mf->ctx, np == implied, PN_ERR_PARSE, "%s: %ld parameters, but the shape has %ld",
           where(mf, "nparam", e->line, w, sizeof w), np, implied);
  const double *theta = NULL;
  PN_CALL(pn_modelfile_get_array(mf, "theta", np, &theta, NULL));
  /* The model itself knows its parameter count: build it once to ask. */
  pn_model *model = NULL;
  PN_CALL(pn_model_create_mlp(mf->ctx, spec_out, &model));
  const int P = pn_model_nparam(model);
  pn_model_destroy(&model);
  PN_CHECK(mf->ctx, np == P, PN_ERR_PARSE, "%s: %ld parameters, but the model has %d",
           where(mf, "nparam", e->line, w, sizeof w), np, P);
  const long bad = pni_first_nonfinite(theta, (size_t)P);
  PN_CHECK(mf->ctx, bad < 0, PN_ERR_NONFINITE, "%s:%ld: parameter %ld of 'theta' is %g",
           mf->path, find_array(mf, "theta")->line + 1 + bad, bad, theta[bad < 0 ? 0 : bad]);
  *theta_out = theta;
  *nparam_out = P;
  return PN_OK;
}

/* ---- writing and reading ------------------------------------------------ */

/* CRC-32 (reflected polynomial 0xEDB88320, as zlib's crc32) of n more bytes
 * after a running value crc (0 to start). */
static uint32_t crc32_update(uint32_t crc, const char *s, size_t n)
{
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= (unsigned char)s[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* The checksum of a line's content and its '\n'. */
static uint32_t crc32_line(uint32_t crc, const char *line, size_t n)
{
  return crc32_update(crc32_update(crc, line, n), "\n", 1);
}

int pn_modelfile_write(const pn_modelfile *mf, const char *path)
{
  if (!mf) return PN_ERR_ARG;
  PN_CHECK(mf->ctx, path, PN_ERR_ARG, "NULL path");
  size_t cap = 80;
  for (int i = 0; i < mf->nentries; i++)
    cap += strlen(mf->entries[i].key) + strlen(mf->entries[i].value) + 2;
  for (int i = 0; i < mf->narrays; i++) cap += strlen(mf->arrays[i].name) + 40 + 26 * mf->arrays[i].n;
  char *buf = NULL;
  PN_CALL(pni_calloc(mf->ctx, cap, 1, &buf, "model file text"));
  size_t len = (size_t)snprintf(buf, cap, "%s %d\n", MAGIC, VERSION);
  for (int i = 0; i < mf->nentries; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s %s\n", mf->entries[i].key,
                            mf->entries[i].value);
  for (int i = 0; i < mf->narrays; i++) {
    const array *a = &mf->arrays[i];
    len += (size_t)snprintf(buf + len, cap - len, "array %s %zu\n", a->name, a->n);
    char num[PN_DOUBLE_CHARS];
    for (size_t j = 0; j < a->n; j++)
      len += (size_t)snprintf(buf + len, cap - len, "%s\n", pn_format_double(a->x[j], num));
  }
  /* Every line ends in '\n': the checksum of the lines is that of the text. */
  len += (size_t)snprintf(buf + len, cap - len, "end crc32 %08" PRIx32 "\n", crc32_update(0, buf, len));
  const int rc = pn_write_file_atomic(mf->ctx, path, buf, len);
  free(buf);
  return rc;
}

typedef struct reader {
  pn_modelfile *mf;
  pni_lines lines;
  long line;          /* of the line being parsed */
  uint32_t crc, before; /* checksum of the lines so far, and before the last one */
} reader;

/* Next line (NUL-terminated in place, '\r' stripped), or NULL at the end;
 * its content enters the checksum before anyone parses it in place. */
static char *next_line(reader *r)
{
  char *s = pni_lines_next(&r->lines);
  r->line = r->lines.line;
  r->before = r->crc;
  if (s) r->crc = crc32_line(r->crc, s, strlen(s));
  return s;
}

/* The end line ("end" of version 1, "end crc32 X" of version 2) against the
 * checksum of every line before it. */
static int check_end(reader *r, int version, const char *s)
{
  pn_modelfile *mf = r->mf;
  if (version == VERSION_UNCHECKED) {
    PN_CHECK(mf->ctx, strcmp(s, "end") == 0, PN_ERR_PARSE,
             "%s:%ld: version %d files end with 'end' alone, found '%.40s'", mf->path, r->line,
             VERSION_UNCHECKED, s);
    return PN_OK;
  }
  unsigned long said = 0;
  char *rest = NULL;
  int ok = strncmp(s, "end crc32 ", 10) == 0 && strlen(s) == 18;
  if (ok) said = strtoul(s + 10, &rest, 16);
  ok = ok && *rest == '\0' && strspn(s + 10, "0123456789abcdefABCDEF") == 8;
  PN_CHECK(mf->ctx, ok, PN_ERR_PARSE,
           "%s:%ld: expected the end line 'end crc32 ' and 8 hexadecimal digits, found "
           "'%.40s'",
           mf->path, r->line, s);
  PN_CHECK(mf->ctx, (uint32_t)said == r->before, PN_ERR_PARSE,
           "%s:%ld: checksum mismatch: the lines before the end line give crc32 %08" PRIx32
           ", the end line says %08lx: the file was changed or damaged after it was written "
           "(see docs/formats.md to edit a model file on purpose)",
           mf->path, r->line, r->before, said);
  return PN_OK;
}

static int read_array(reader *r, char *rest)
{
  pn_modelfile *mf = r->mf;
  const long at = r->line;
  char name[MAX_KEY + 2];
  unsigned long long n = 0;
  char extra;
  PN_CHECK(mf->ctx, sscanf(rest, "%64s %llu %c", name, &n, &extra) == 2 && valid_key(name),
           PN_ERR_PARSE, "%s:%ld: expected 'array NAME COUNT', found 'array %.60s'", mf->path,
           at, rest);
  PN_CHECK(mf->ctx, !find_array(mf, name), PN_ERR_PARSE, "%s:%ld: array '%s' appears twice",
           mf->path, at, name);
  /* Every number takes at least two bytes ("0\n"): a bound before allocating. */
  PN_CHECK(mf->ctx, n <= (r->lines.len - r->lines.pos) / 2 + 1, PN_ERR_PARSE,
           "%s:%ld: array '%s' announces %llu numbers, more than the rest of the file holds",
           mf->path, at, name, n);
  double *x = NULL;
  PN_CALL(pni_calloc(mf->ctx, (size_t)n, sizeof(double), &x, name));
  for (size_t j = 0; j < n; j++) {
    char *s = next_line(r), *end = NULL;
    if (!s || (x[j] = strtod(s, &end), end == s || *end != '\0')) {
      free(x);
      if (!s)
        return pn_ctx_fail(mf->ctx, PN_ERR_PARSE,
                           "%s:%ld: the file ends inside array '%s' (%zu of %llu numbers)",
                           mf->path, r->line, name, j, n);
      return pn_ctx_fail(mf->ctx, PN_ERR_PARSE,
                         "%s:%ld: expected number %zu of array '%s', found '%.40s'", mf->path,
                         r->line, j, name, s);
    }
  }
  return put_array(mf, name, (size_t)n, x, at);
}

static int read_entry(reader *r, char *s)
{
  pn_modelfile *mf = r->mf;
  char *sp = s + strcspn(s, " \t");
  const char c = *sp;
  *sp = '\0';
  char *value = c ? sp + 1 : sp;
  while (*value == ' ' || *value == '\t') value++;
  /* 'array' and 'end' begin the lines of their own (as pn_modelfile_set refuses them). */
  PN_CHECK(mf->ctx, valid_key(s) && strcmp(s, "array") != 0 && strcmp(s, "end") != 0,
           PN_ERR_PARSE,
           "%s:%ld: expected 'KEY VALUE' (KEY in [a-z][a-z0-9_.]*) or 'array NAME COUNT', found "
           "'%.40s'",
           mf->path, r->line, s);
  PN_CHECK(mf->ctx, !find_entry(mf, s), PN_ERR_PARSE, "%s:%ld: key '%s' appears twice", mf->path,
           r->line, s);
  /* A carriage return is only accepted as part of a CRLF line end (stripped
   * by next_line): inside a value it would not survive a write and a read. */
  PN_CHECK(mf->ctx, !strchr(value, '\r'), PN_ERR_PARSE,
           "%s:%ld: key '%s': a carriage return inside the value", mf->path, r->line, s);
  char *v = dup_str(mf->ctx, value, strlen(value));
  if (!v) return PN_ERR_MEM;
  return put_entry(mf, s, v, r->line);
}

static int parse(reader *r)
{
  pn_modelfile *mf = r->mf;
  char *s = next_line(r);
  int version = 0;
  char extra;
  PN_CHECK(mf->ctx, s && sscanf(s, MAGIC " %d %c", &version, &extra) == 1, PN_ERR_PARSE,
           "%s:1: not a pinode model file (the first line must be '" MAGIC " %d')", mf->path,
           VERSION);
  PN_CHECK(mf->ctx, version == VERSION || version == VERSION_UNCHECKED, PN_ERR_PARSE,
           "%s:1: format version %d, but this pinode reads versions %d and %d", mf->path,
           version, VERSION_UNCHECKED, VERSION);
  while ((s = next_line(r))) {
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '\0' || *s == '#') continue;
    if (strncmp(s, "end", 3) == 0 && (s[3] == '\0' || s[3] == ' ' || s[3] == '\t')) {
      PN_CALL(check_end(r, version, s));
      for (char *t; (t = next_line(r));)
        PN_CHECK(mf->ctx, t[strspn(t, " \t")] == '\0', PN_ERR_PARSE,
                 "%s:%ld: text after 'end'", mf->path, r->line);
      return PN_OK;
    }
    if (strncmp(s, "array ", 6) == 0)
      PN_CALL(read_array(r, s + 6));
    else
      PN_CALL(read_entry(r, s));
  }
  return pn_ctx_fail(mf->ctx, PN_ERR_PARSE,
                     "%s: the file ends without its 'end' line (truncated?)", mf->path);
}

int pn_modelfile_read(pn_ctx *ctx, const char *path, pn_modelfile **out)
{
  PN_CHECK(ctx, path && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  reader r = {0};
  PN_CALL(pni_lines_read(ctx, path, MAX_FILE_BYTES, &r.lines));
  int rc = pn_modelfile_create(ctx, &r.mf);
  if (rc == PN_OK) {
    snprintf(r.mf->path, sizeof r.mf->path, "%s", path);
    rc = parse(&r);
  }
  pni_lines_free(&r.lines);
  if (rc != PN_OK) {
    pn_modelfile_destroy(&r.mf);
    return rc;
  }
  *out = r.mf;
  return PN_OK;
}
