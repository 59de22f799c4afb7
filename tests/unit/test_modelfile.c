/* Model files: bitwise round trips, the MLP entries, and every malformed-file
 * error naming its line. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pinode/modelfile.h"
#include "testutil.h"

static char tmpdir[256];

static int setup(void **state)
{
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/pinode_test_modelfile_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  return path;
}

static void write_bytes(const char *name, const char *text, size_t len)
{
  FILE *f = fopen(tmp_path(name), "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  fclose(f);
}

static void write_text(const char *name, const char *text)
{
  write_bytes(name, text, strlen(text));
}

/* Awkward doubles (signed zero, subnormal, extremes, non-finite) and 64-bit
 * integers survive a write and a read bitwise. */
static void round_trip_is_bitwise(void **state)
{
  (void)state;
  const double x[] = {3.141592653589793, -0.0, 4.9e-324, DBL_MAX, -DBL_MIN, 1.0 / 3.0, 1e-300, INFINITY};
  const uint64_t u[4] = {0, 1, UINT64_MAX, 0x9e3779b97f4a7c15ULL};
  pn_modelfile *mf = NULL, *back = NULL;
  pnt_ok(pnt_ctx, pn_modelfile_create(pnt_ctx, &mf));
  pnt_ok(pnt_ctx, pn_modelfile_set_array(mf, "x", 8, x));
  pnt_ok(pnt_ctx, pn_modelfile_set_array(mf, "empty", 0, NULL));
  const double withnan[2] = {NAN, 2.0};
  pnt_ok(pnt_ctx, pn_modelfile_set_array(mf, "history.val", 2, withnan));
  pnt_ok(pnt_ctx, pn_modelfile_set_u64s(mf, "rng", 4, u));
  pnt_ok(pnt_ctx, pn_modelfile_set_double(mf, "t1", 0.1 + 0.2));
  pnt_ok(pnt_ctx, pn_modelfile_set_long(mf, "iteration", -42));
  pnt_ok(pnt_ctx, pn_modelfile_set(mf, "note", "free text, with = and # signs"));
  pnt_ok(pnt_ctx, pn_modelfile_set(mf, "note", "replaced"));
  pnt_ok(pnt_ctx, pn_modelfile_write(mf, tmp_path("a.pinode")));
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("a.pinode"), &back));

  const double *y = NULL;
  size_t n = 0;
  pnt_ok(pnt_ctx, pn_modelfile_get_array(back, "x", 8, &y, &n));
  assert_memory_equal(x, y, sizeof x);
  pnt_ok(pnt_ctx, pn_modelfile_get_array(back, "empty", 0, &y, &n));
  assert_int_equal(n, 0);
  pnt_ok(pnt_ctx, pn_modelfile_get_array(back, "history.val", -1, &y, &n));
  assert_true(n == 2 && isnan(y[0]) && y[1] == 2.0);
  uint64_t v[4];
  pnt_ok(pnt_ctx, pn_modelfile_get_u64s(back, "rng", 4, v));
  assert_memory_equal(u, v, sizeof u);
  double t1 = 0;
  pnt_ok(pnt_ctx, pn_modelfile_get_double(back, "t1", &t1));
  assert_true(t1 == 0.1 + 0.2);
  long it = 0;
  pnt_ok(pnt_ctx, pn_modelfile_get_long(back, "iteration", -100, 100, &it));
  assert_int_equal(it, -42);
  assert_string_equal(pn_modelfile_get(back, "note"), "replaced");
  assert_null(pn_modelfile_get(back, "absent"));
  pn_modelfile_destroy(&mf);
  pn_modelfile_destroy(&back);
  assert_null(back);
}

static void mlp_round_trip(void **state)
{
  (void)state;
  const int widths[2] = {7, 5};
  const pn_activation acts[2] = {PN_ACT_TANH, PN_ACT_SILU};
  const pn_mlp_spec spec = {3, 2, widths, acts, 1};
  pn_model *model = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &model));
  const int P = pn_model_nparam(model);
  double *theta = calloc((size_t)P, sizeof(double));
  pnt_ok(pnt_ctx, pn_model_init_params(model, 7, theta));
  pn_modelfile *mf = NULL, *back = NULL;
  pnt_ok(pnt_ctx, pn_modelfile_create(pnt_ctx, &mf));
  pnt_ok(pnt_ctx, pn_modelfile_set_mlp(mf, &spec, theta, P));
  pnt_ok(pnt_ctx, pn_modelfile_write(mf, tmp_path("m.pinode")));
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("m.pinode"), &back));
  pn_mlp_spec s2;
  const double *t2 = NULL;
  int P2 = 0;
  pnt_ok(pnt_ctx, pn_modelfile_get_mlp(back, &s2, &t2, &P2));
  assert_int_equal(P2, P);
  assert_true(s2.dim == 3 && s2.nhidden == 2 && s2.time_input == 1);
  assert_true(s2.widths[0] == 7 && s2.widths[1] == 5);
  assert_true(s2.acts[0] == PN_ACT_TANH && s2.acts[1] == PN_ACT_SILU);
  assert_memory_equal(theta, t2, sizeof(double) * (size_t)P);

  /* A network without hidden layers (f = W z + b) has an empty 'hidden'. */
  const pn_mlp_spec lin = {2, 0, NULL, NULL, 0};
  const double th[6] = {1, 2, 3, 4, 5, 6};
  pnt_ok(pnt_ctx, pn_modelfile_set_mlp(mf, &lin, th, 6));
  pnt_ok(pnt_ctx, pn_modelfile_write(mf, tmp_path("lin.pinode")));
  pn_modelfile_destroy(&back);
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("lin.pinode"), &back));
  pnt_ok(pnt_ctx, pn_modelfile_get_mlp(back, &s2, &t2, &P2));
  assert_true(P2 == 6 && s2.nhidden == 0 && t2[5] == 6.0);
  pn_modelfile_destroy(&mf);
  pn_modelfile_destroy(&back);
  pn_model_destroy(&model);
  free(theta);
}

/* Read `text` as a model file and expect failure with `needle` in the message. */
static void expect_read_error(const char *text, int code, const char *needle)
{
  write_text("bad.pinode", text);
  pn_modelfile *mf = NULL;
  pnt_fails_with(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("bad.pinode"), &mf), code, needle);
  assert_null(mf);
}

static void malformed_files(void **state)
{
  (void)state;
  expect_read_error("", PN_ERR_PARSE, "bad.pinode:1: not a pinode model file");
  expect_read_error("pinode-model 3\nend\n", PN_ERR_PARSE,
                    ":1: format version 3, but this pinode reads versions 1 and 2");
  expect_read_error("pinode-model 1\ndim 2\n", PN_ERR_PARSE, "ends without its 'end' line");
  expect_read_error("pinode-model 1\narray x 3\n1\n2\n", PN_ERR_PARSE,
                    ":4: the file ends inside array 'x' (2 of 3 numbers)");
  expect_read_error("pinode-model 1\n# c\narray x 2\n1\n2x\nend\n", PN_ERR_PARSE,
                    ":5: expected number 1 of array 'x', found '2x'");
  expect_read_error("pinode-model 1\narray x 99999999\n1\nend\n", PN_ERR_PARSE,
                    ":2: array 'x' announces 99999999 numbers");
  expect_read_error("pinode-model 1\narray x\nend\n", PN_ERR_PARSE,
                    ":2: expected 'array NAME COUNT'");
  expect_read_error("pinode-model 1\ndim 2\ndim 3\nend\n", PN_ERR_PARSE,
                    ":3: key 'dim' appears twice");
  expect_read_error("pinode-model 1\nDim 2\nend\n", PN_ERR_PARSE, ":2: expected 'KEY VALUE'");
  expect_read_error("pinode-model 1\nend\nextra\n", PN_ERR_PARSE, ":3: text after 'end'");
  pn_modelfile *mf = NULL;
  write_bytes("nul.pinode", "pinode-model 1\nx 1\0\nend\n", 24);
  pnt_fails_with(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("nul.pinode"), &mf), PN_ERR_PARSE,
                 "binary data");
  pnt_fails_with(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("missing.pinode"), &mf), PN_ERR_IO,
                 "missing.pinode");
}

/* The whole text of a file in the test directory (free() it). */
static char *slurp(const char *name, size_t *len)
{
  FILE *f = fopen(tmp_path(name), "rb");
  assert_non_null(f);
  char *text = calloc(1 << 16, 1);
  *len = fread(text, 1, (1 << 16) - 1, f);
  fclose(f);
  return text;
}

/* A written file carries the CRC-32 of its lines on its end line: a changed
 * digit is refused, a CRLF copy or a byte-order mark is not a change, and
 * version-1 files (no checksum) are still read. */
static void checksums(void **state)
{
  (void)state;
  const double theta[4] = {0.25, -1.5, 3.0, 1e-300};
  pn_modelfile *mf = NULL, *back = NULL;
  pnt_ok(pnt_ctx, pn_modelfile_create(pnt_ctx, &mf));
  pnt_ok(pnt_ctx, pn_modelfile_set(mf, "note", "ok"));
  pnt_ok(pnt_ctx, pn_modelfile_set_array(mf, "theta", 4, theta));
  pnt_ok(pnt_ctx, pn_modelfile_write(mf, tmp_path("c.pinode")));
  pn_modelfile_destroy(&mf);
  size_t len = 0;
  char *text = slurp("c.pinode", &len);
  /* zlib.crc32(b"pinode-model 2\nnote ok\narray theta 4\n0.25\n-1.5\n3\n1e-300\n") */
  const char *end = strstr(text, "end crc32 ");
  assert_non_null(end);
  assert_string_equal(end, "end crc32 62ccff4c\n");
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("c.pinode"), &back));
  pn_modelfile_destroy(&back);
  /* One digit changed: 3 -> 4. */
  char *three = strstr(text, "\n3\n");
  three[1] = '4';
  write_bytes("c4.pinode", text, len);
  pnt_fails_with(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("c4.pinode"), &back), PN_ERR_PARSE,
                 "c4.pinode:8: checksum mismatch: the lines before the end line give crc32 ");
  assert_null(back);
  three[1] = '3';
  /* CRLF line ends and a byte-order mark: the same lines, the same checksum. */
  char crlf[1 << 12] = "\xEF\xBB\xBF";
  size_t n = 3;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\n') crlf[n++] = '\r';
    crlf[n++] = text[i];
  }
  write_bytes("crlf.pinode", crlf, n);
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("crlf.pinode"), &back));
  pn_modelfile_destroy(&back);
  /* Truncated before its end line, or an end line without the checksum. */
  write_bytes("cut.pinode", text, (size_t)(end - text));
  pnt_fails_with(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("cut.pinode"), &back),
                 PN_ERR_PARSE, "ends without its 'end' line");
  expect_read_error("pinode-model 2\nnote ok\nend\n", PN_ERR_PARSE,
                    ":3: expected the end line 'end crc32 ' and 8 hexadecimal digits");
  expect_read_error("pinode-model 2\nnote ok\nend crc32 12345678x\n", PN_ERR_PARSE,
                    "expected the end line 'end crc32 ' and 8");
  expect_read_error("pinode-model 1\nnote ok\nend crc32 62ccff4c\n", PN_ERR_PARSE,
                    ":3: version 1 files end with 'end' alone");
  /* Version 1: read without a check. */
  write_text("v1.pinode", "pinode-model 1\nnote changed\narray theta 1\n4\nend\n");
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("v1.pinode"), &back));
  assert_string_equal(pn_modelfile_get(back, "note"), "changed");
  pn_modelfile_destroy(&back);
  free(text);
}

static void bad_values_name_their_line(void **state)
{
  (void)state;
  write_text("v.pinode", "pinode-model 1\nkind mlp\ndim 2\nhidden 4\nactivation tanh\n"
                         "time_input 0\nnparam 34\nsteps ten\nrng 1 2 -3\narray theta 2\n1\n2\nend\n");
  pn_modelfile *mf = NULL;
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("v.pinode"), &mf));
  long v = 0;
  pnt_fails_with(pnt_ctx, pn_modelfile_get_long(mf, "steps", 1, 10, &v), PN_ERR_PARSE,
                 "v.pinode:8: key 'steps': 'ten' is not an integer in 1..10");
  pnt_fails_with(pnt_ctx, pn_modelfile_get_long(mf, "dim", 3, 10, &v), PN_ERR_PARSE,
                 ":3: key 'dim': '2' is not an integer in 3..10");
  pnt_fails_with(pnt_ctx, pn_modelfile_get_long(mf, "t0", 0, 1, &v), PN_ERR_PARSE,
                 "required key 't0' is missing");
  uint64_t u[3];
  pnt_fails_with(pnt_ctx, pn_modelfile_get_u64s(mf, "rng", 3, u), PN_ERR_PARSE,
                 ":9: key 'rng': expected 3 unsigned 64-bit integers");
  pnt_fails_with(pnt_ctx, pn_modelfile_get_u64s(mf, "rng", 2, u), PN_ERR_PARSE, "found more");
  pn_mlp_spec spec;
  const double *theta = NULL;
  int P = 0;
  /* 2 inputs → 4 hidden → 2 outputs: 2·4 + 4 + 4·2 + 2 = 22 parameters. */
  pnt_fails_with(pnt_ctx, pn_modelfile_get_mlp(mf, &spec, &theta, &P), PN_ERR_PARSE,
                 ":7: key 'nparam': 34 parameters, but the shape has 22");
  pnt_ok(pnt_ctx, pn_modelfile_set_long(mf, "nparam", 22));
  pnt_fails_with(pnt_ctx, pn_modelfile_get_mlp(mf, &spec, &theta, &P), PN_ERR_PARSE,
                 ":10: array 'theta' has 2 numbers, expected 22");
  pnt_ok(pnt_ctx, pn_modelfile_set(mf, "activation", "tanh gelu"));
  pnt_fails_with(pnt_ctx, pn_modelfile_get_mlp(mf, &spec, &theta, &P), PN_ERR_PARSE,
                 "2 activations for 1 hidden layers");
  pnt_ok(pnt_ctx, pn_modelfile_set(mf, "activation", "gelu"));
  pnt_fails_with(pnt_ctx, pn_modelfile_get_mlp(mf, &spec, &theta, &P), PN_ERR_PARSE,
                 "unknown activation 'gelu'");
  pnt_ok(pnt_ctx, pn_modelfile_set(mf, "kind", "resnet"));
  pnt_fails_with(pnt_ctx, pn_modelfile_get_mlp(mf, &spec, &theta, &P), PN_ERR_PARSE,
                 "model kind 'resnet' is not supported");
  pn_modelfile_destroy(&mf);

  write_text("n.pinode", "pinode-model 1\nkind mlp\ndim 1\nhidden\nactivation\ntime_input 0\n"
                         "nparam 2\narray theta 2\n0.5\nnan\nend\n");
  pnt_ok(pnt_ctx, pn_modelfile_read(pnt_ctx, tmp_path("n.pinode"), &mf));
  pnt_fails_with(pnt_ctx, pn_modelfile_get_mlp(mf, &spec, &theta, &P), PN_ERR_NONFINITE,
                 "n.pinode:10: parameter 1 of 'theta' is nan");
  pn_modelfile_destroy(&mf);
}

static void bad_keys_are_refused(void **state)
{
  (void)state;
  pn_modelfile *mf = NULL;
  pnt_ok(pnt_ctx, pn_modelfile_create(pnt_ctx, &mf));
  pnt_fails_with(pnt_ctx, pn_modelfile_set(mf, "Bad", "1"), PN_ERR_ARG, "model-file key 'Bad'");
  pnt_fails_with(pnt_ctx, pn_modelfile_set(mf, "array", "1"), PN_ERR_ARG, "not 'array'");
  pnt_fails_with(pnt_ctx, pn_modelfile_set(mf, "ok", "two\nlines"), PN_ERR_ARG, "one line");
  pnt_fails_with(pnt_ctx, pn_modelfile_set_array(mf, "9x", 0, NULL), PN_ERR_ARG, "array name");
  pn_modelfile_destroy(&mf);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(round_trip_is_bitwise),   cmocka_unit_test(mlp_round_trip),
    cmocka_unit_test(malformed_files),         cmocka_unit_test(checksums),
    cmocka_unit_test(bad_values_name_their_line),
    cmocka_unit_test(bad_keys_are_refused),
};

int main(int argc, char **argv)
{
  if (setup(NULL) != 0) return 1;
  const int rc = pnt_main(argc, argv, "modelfile", tests, sizeof tests / sizeof tests[0]);
  return teardown(NULL) != 0 ? 1 : rc;
}
