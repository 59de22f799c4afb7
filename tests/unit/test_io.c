/* Files: the problem-directory reader (every key, every error path with a
 * message naming file:line and key) and bitwise round trips of numbers.
 * Bad problem directories are written into a temporary directory. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A valid problem: D = 2, one hidden layer of 3 with time input, so
 * P = (3·3 + 3) + (2·3 + 2) = 20; B = 2; K = 2 labels. */
static const char *good_meta =
    "# a comment line\n"
    "dim 2\n"
    "hidden 3\n"
    "activation silu\n"
    "time_input 1\n"
    "batch 2\n"
    "t0 0.5\n"
    "t1 1.5   # trailing comment\n"
    "steps 4\n"
    "scheme heun\n";

static void write_good(const char *dir)
{
  char theta[512] = "";
  for (int j = 0; j < 20; j++) {
    char line[32];
    snprintf(line, sizeof line, "%.17g\n", 0.05 * j - 0.3);
    strcat(theta, line);
  }
  pnt_write_text(dir, "meta.txt", good_meta);
  pnt_write_text(dir, "theta.txt", theta);
  pnt_write_text(dir, "z0.txt", "1.0\n-2.0\n\n# blank lines and comments are skipped\n3e-1\n4\n");
  pnt_write_text(dir, "times.txt", "0.75\n1.5\n");
  pnt_write_text(dir, "targets.txt", "1\n2\n3\n4\n5\n6\n7\n8\n");
}

static void reads_every_key(void **state)
{
  (void)state;
  char dir[512];
  pnt_tmpdir("io", dir, sizeof dir);
  write_good(dir);
  pn_problem *p = NULL;
  pnt_ok(pnt_ctx, pn_problem_read(pnt_ctx, dir, &p));
  assert_int_equal(p->spec.dim, 2);
  assert_int_equal(p->spec.nhidden, 1);
  assert_int_equal(p->spec.widths[0], 3);
  assert_int_equal(p->spec.acts[0], PN_ACT_SILU);
  assert_int_equal(p->spec.time_input, 1);
  assert_int_equal(p->batch, 2);
  assert_true(p->t0 == 0.5 && p->t1 == 1.5);
  assert_int_equal(p->steps, 4);
  assert_string_equal(p->scheme, "heun");
  assert_int_equal(p->nparam, 20);
  assert_true(p->theta[19] == 0.05 * 19 - 0.3);
  assert_true(p->z0[2] == 0.3 && p->z0[3] == 4.0);
  assert_int_equal(p->nlabels, 2);
  assert_true(p->times[0] == 0.75 && p->targets[7] == 8.0);
  pn_problem_destroy(&p);
  assert_null(p);
  pnt_rmdir_flat(dir);
}

/* Every bench problem parses into the shape tests/data/bench/README.md states. */
static void reads_bench_problems(void **state)
{
  (void)state;
  static const struct {
    const char *name;
    int dim, nhidden, width, batch, time_input;
    long steps;
    const char *scheme;
  } want[] = {{"small", 2, 1, 8, 1, 0, 10, "euler"},
              {"deep", 3, 2, 32, 5, 1, 60, "rk38"},
              {"spiral", 2, 1, 50, 16, 0, 1000, "rk4"},
              {"wide", 64, 1, 256, 256, 0, 100, "rk4"},
              {"long", 8, 1, 64, 16, 0, 20000, "rk4"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", PINODE_BENCH_DIR, want[i].name);
    pn_problem *p = NULL;
    pnt_ok(pnt_ctx, pn_problem_read(pnt_ctx, dir, &p));
    assert_int_equal(p->spec.dim, want[i].dim);
    assert_int_equal(p->spec.nhidden, want[i].nhidden);
    assert_int_equal(p->spec.widths[0], want[i].width);
    assert_int_equal(p->batch, want[i].batch);
    assert_int_equal(p->spec.time_input, want[i].time_input);
    assert_int_equal(p->steps, want[i].steps);
    assert_string_equal(p->scheme, want[i].scheme);
    pn_model *m = NULL; /* the reader's count agrees with the MLP's */
    pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &p->spec, &m));
    assert_int_equal(pn_model_nparam(m), p->nparam);
    pn_model_destroy(&m);
    pn_problem_destroy(&p);
  }
}

/* Write the good problem, replace one file's text (NULL: delete it), read,
 * and expect `code` with a message containing every needle. */
static void expect_bad(const char *file, const char *text, int code, const char *n1,
                       const char *n2)
{
  char dir[512], path[600];
  pnt_tmpdir("io-bad", dir, sizeof dir);
  write_good(dir);
  if (text) {
    pnt_write_text(dir, file, text);
  } else {
    snprintf(path, sizeof path, "%s/%s", dir, file);
    remove(path);
  }
  pn_problem *p = NULL;
  pnt_fails_with(pnt_ctx, pn_problem_read(pnt_ctx, dir, &p), code, n1);
  const char *msg = pn_ctx_last_error(pnt_ctx);
  if (n2 && !strstr(msg, n2)) fail_msg("message '%s' lacks '%s'", msg, n2);
  assert_null(p);
  pnt_rmdir_flat(dir);
}

static void missing_files(void **state)
{
  (void)state;
  const char *files[5] = {"meta.txt", "theta.txt", "z0.txt", "times.txt", "targets.txt"};
  for (int i = 0; i < 5; i++) expect_bad(files[i], NULL, PN_ERR_IO, files[i], "cannot open");
}

/* meta.txt with line `n` (1-based, counting the good file's lines) replaced. */
static void bad_meta_line(int n, const char *line, int code, const char *n1, const char *n2)
{
  char text[1024] = "";
  const char *s = good_meta;
  for (int i = 1; *s; i++) {
    const char *nl = strchr(s, '\n');
    if (i == n) {
      strcat(text, line);
      strcat(text, "\n");
    } else {
      strncat(text, s, (size_t)(nl - s + 1));
    }
    s = nl + 1;
  }
  expect_bad("meta.txt", text, code, n1, n2);
}

static void meta_errors_name_line_and_key(void **state)
{
  (void)state;
  bad_meta_line(3, "hiden 3", PN_ERR_PARSE, "meta.txt:3: unknown key 'hiden'", "known: dim");
  bad_meta_line(9, "steps ten", PN_ERR_PARSE, "meta.txt:9: key 'steps'", "integer");
  bad_meta_line(9, "steps 4 5", PN_ERR_PARSE, "meta.txt:9: key 'steps'", NULL);
  bad_meta_line(6, "batch 0", PN_ERR_PARSE, "meta.txt:6: key 'batch'", NULL);
  bad_meta_line(2, "dim -1", PN_ERR_PARSE, "meta.txt:2: key 'dim'", NULL);
  bad_meta_line(4, "activation gelu", PN_ERR_PARSE, "meta.txt:4: key 'activation'",
                "unknown activation");
  bad_meta_line(5, "time_input 2", PN_ERR_PARSE, "meta.txt:5: key 'time_input'", "0 or 1");
  bad_meta_line(7, "t0 nan", PN_ERR_PARSE, "meta.txt:7: key 't0'", "finite");
  bad_meta_line(8, "t1 1.5x", PN_ERR_PARSE, "meta.txt:8: key 't1'", NULL);
  bad_meta_line(3, "hidden 3 x", PN_ERR_PARSE, "meta.txt:3: key 'hidden'", NULL);
  bad_meta_line(9, "# steps removed", PN_ERR_PARSE, "required key 'steps' is missing", NULL);
  bad_meta_line(8, "t1 0.5", PN_ERR_PARSE, "t1 = 0.5 must be greater than t0 = 0.5", NULL);
  bad_meta_line(4, "activation tanh relu", PN_ERR_PARSE, "2 activations for 1 hidden layers",
                NULL);
  /* A repeated key would silently win: refused, naming both lines. */
  bad_meta_line(1, "steps 20", PN_ERR_PARSE, "meta.txt:9: key 'steps' appears twice",
                "first on line 1");
  bad_meta_line(1, "t1 2.5", PN_ERR_PARSE, "meta.txt:8: key 't1' appears twice", NULL);
}

static void number_file_errors_name_file_and_line(void **state)
{
  (void)state;
  expect_bad("theta.txt", "0.1\n0.2\n", PN_ERR_PARSE, "theta.txt: found 2 numbers, expected 20",
             NULL);
  expect_bad("targets.txt", "1\n2\n3\n4\n5\n6\n7\n", PN_ERR_PARSE,
             "targets.txt: found 7 numbers, expected 8", NULL);
  expect_bad("z0.txt", "1\nnan\n3\n4\n", PN_ERR_NONFINITE, "z0.txt:2: value nan is not finite",
             NULL);
  expect_bad("z0.txt", "1\n2\n-inf\n4\n", PN_ERR_NONFINITE, "z0.txt:3: value -inf", NULL);
  expect_bad("z0.txt", "1\n2\n1e999\n4\n", PN_ERR_NONFINITE, "z0.txt:3", NULL);
  expect_bad("z0.txt", "1\n2\n3 4\n", PN_ERR_PARSE, "z0.txt:3: expected one number, found '3 4'",
             NULL);
  expect_bad("times.txt", "0.75\n1.5abc\n", PN_ERR_PARSE, "times.txt:2: expected one number",
             NULL);
  expect_bad("z0.txt", "1,\n2\n3\n4\n", PN_ERR_PARSE, "z0.txt:1", NULL);
  /* K = 3 times but targets for 2 labels. */
  expect_bad("times.txt", "0.75\n1.5\n1.0\n", PN_ERR_PARSE, "found 8 numbers, expected 12", NULL);
}

/* Label times are checked against the grid of meta.txt where the file is
 * read, so that the message names times.txt and the line. */
static void label_times_name_times_txt(void **state)
{
  (void)state;
  expect_bad("times.txt", "0.75\n1.6\n", PN_ERR_GRID,
             "times.txt:2: label time 1.6 lies outside [t0, t1] = [0.5, 1.5]",
             NULL);
  /* 0.75 and 0.8 lie on the grids of 20, 40, ... steps, none below 4. */
  expect_bad("times.txt", "# t = 0.5 + 0.25 m\n0.75\n0.8\n", PN_ERR_GRID,
             "times.txt:3: label time 0.8 is not on the grid t_n = 0.5 + n*0.25 of meta.txt "
             "(steps 4; nearest t_1 = 0.75)",
             "steps in meta.txt = 20 (h = 0.05) would put every label time on the grid");
  /* 1e-10 off t_3 = 1.25 (a millionth of a step is 2.5e-7): taken as t_3, and noted. */
  char dir[512];
  pnt_tmpdir("io-snap", dir, sizeof dir);
  write_good(dir);
  pnt_write_text(dir, "times.txt", "0.75\n1.2500000001\n");
  pn_problem *p = NULL;
  pn_ctx_clear_notes(pnt_ctx);
  pnt_ok(pnt_ctx, pn_problem_read(pnt_ctx, dir, &p));
  const char *note = pn_ctx_notes(pnt_ctx);
  if (!strstr(note, "times.txt:2: label time 1.2500000001 was taken as the grid time t_3 = 1.25"))
    fail_msg("note: '%s'", note);
  pn_ctx_clear_notes(pnt_ctx);
  pn_problem_destroy(&p);
  pnt_rmdir_flat(dir);
}

/* A byte-order mark at the start of a file (editors on Windows write one)
 * is skipped by every reader; anywhere else it is named in the message. */
static void byte_order_marks(void **state)
{
  (void)state;
  char dir[512], text[1024];
  pnt_tmpdir("io-bom", dir, sizeof dir);
  write_good(dir);
  snprintf(text, sizeof text, "\xEF\xBB\xBF%s", good_meta);
  pnt_write_text(dir, "meta.txt", text);
  pnt_write_text(dir, "times.txt", "\xEF\xBB\xBF" "0.75\n1.5\n");
  pn_problem *p = NULL;
  pnt_ok(pnt_ctx, pn_problem_read(pnt_ctx, dir, &p));
  assert_int_equal(p->spec.dim, 2);
  assert_int_equal(p->nlabels, 2);
  pn_problem_destroy(&p);
  pnt_rmdir_flat(dir);
  bad_meta_line(2, "\xEF\xBB\xBF" "dim 2", PN_ERR_PARSE,
                "meta.txt:2: unknown key '<U+FEFF byte-order mark>dim'", NULL);
  expect_bad("z0.txt", "1\n2\n\xEF\xBB\xBF" "3\n4\n", PN_ERR_PARSE,
             "z0.txt:3: expected one number, found '<U+FEFF byte-order mark>3'", NULL);
}

/* A NUL byte would cut a line short as a C string and let what follows it
 * pass unread ("steps 4\0 junk" read as 4 steps): every file is refused,
 * naming the file and the line. */
static void nul_bytes_are_refused(void **state)
{
  (void)state;
  static const struct {
    const char *file, *text;
    size_t len;
    const char *needle;
  } cases[] = {
      {"meta.txt", "dim 2\nhidden 3\nactivation silu\ntime_input 1\nbatch 2\nt0 0.5\nt1 1.5\n"
                   "steps 4\0 junk\nscheme heun\n", 92, "meta.txt:8: binary data"},
      {"z0.txt", "1\n0.5\0garbage\n3\n4\n", 18, "z0.txt:2: binary data"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char dir[512], path[600];
    pnt_tmpdir("io-nul", dir, sizeof dir);
    write_good(dir);
    snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(cases[i].text, 1, cases[i].len, f), cases[i].len);
    fclose(f);
    pn_problem *p = NULL;
    pnt_fails_with(pnt_ctx, pn_problem_read(pnt_ctx, dir, &p), PN_ERR_PARSE, cases[i].needle);
    assert_null(p);
    pnt_rmdir_flat(dir);
  }
}

/* ---- numbers ------------------------------------------------------------- */

/* The text of a double is the shortest of 15, 16, 17 digits that reads back
 * bitwise: random bit patterns (every exponent, subnormals) and the
 * decimals a user types, which keep their short form. */
static void format_double_is_shortest_and_exact(void **state)
{
  (void)state;
  char buf[PN_DOUBLE_CHARS], fewest[PN_DOUBLE_CHARS];
  pn_rng rng;
  pn_rng_seed(&rng, 7);
  for (int i = 0; i < 200000; i++) {
    const uint64_t bits = pn_rng_next(&rng);
    double x;
    memcpy(&x, &bits, sizeof x);
    if (!isfinite(x)) continue;
    const double back = strtod(pn_format_double(x, buf), NULL);
    if (memcmp(&back, &x, sizeof x) != 0) fail_msg("%s reads back as %a, not %a", buf, back, x);
    /* the fewest digits that round-trip */
    for (int digits = 15; digits <= 17; digits++) {
      snprintf(fewest, sizeof fewest, "%.*g", digits, x);
      const double y = strtod(fewest, NULL);
      if (memcmp(&y, &x, sizeof x) == 0) break;
    }
    assert_string_equal(buf, fewest);
  }
  const struct {
    double x;
    const char *text;
  } cases[] = {{0.05, "0.05"}, {0.1, "0.1"}, {-2.5e-8, "-2.5e-08"}, {1e22, "1e+22"},
               {-0.0, "-0"}, {0.0, "0"}, {1.0 / 3.0, "0.3333333333333333"},
               {0.1 + 0.2, "0.30000000000000004"}, {DBL_MAX, "1.7976931348623157e+308"},
               {INFINITY, "inf"}, {-INFINITY, "-inf"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_string_equal(pn_format_double(cases[i].x, buf), cases[i].text);
}

/* pn_write_numbers and strtod round-trip every finite double exactly, including −0,
 * subnormals and the extremes: compare bit patterns, not values. */
static void write_read_numbers_bitwise(void **state)
{
  (void)state;
  enum { N = 1000 };
  double x[N];
  pnt_randn(x, N, 99, 1.0);
  const double special[] = {0.0,      -0.0,     1.0 / 3.0, -3.141592653589793,   DBL_MAX, -DBL_MAX,
                            DBL_MIN,  -DBL_MIN, 5e-324,    -1e-310, 1e300,   0.1,
                            1e22,     9007199254740993.0};
  const int ns = (int)(sizeof special / sizeof special[0]);
  for (int i = 0; i < ns; i++) x[i] = special[i];
  for (int i = ns; i < 100; i++) x[i] = ldexp(x[i], (i * 37) % 2000 - 1000); /* wide exponents */
  char dir[512], path[600];
  pnt_tmpdir("io-num", dir, sizeof dir);
  snprintf(path, sizeof path, "%s/x.txt", dir);
  pnt_ok(pnt_ctx, pn_write_numbers(pnt_ctx, path, x, N));
  double *y = NULL;
  size_t n = 0;
  pnt_ok(pnt_ctx, pn_read_numbers(pnt_ctx, path, N, &y, &n));
  assert_int_equal(n, N);
  assert_memory_equal(x, y, sizeof x);
  free(y);
  pnt_fails_with(pnt_ctx, pn_read_numbers(pnt_ctx, path, N + 1, &y, &n), PN_ERR_PARSE,
                 "found 1000 numbers, expected 1001");
  /* An empty vector round-trips to no numbers and a NULL array. */
  pnt_ok(pnt_ctx, pn_write_numbers(pnt_ctx, path, x, 0));
  pnt_ok(pnt_ctx, pn_read_numbers(pnt_ctx, path, -1, &y, &n));
  assert_int_equal(n, 0);
  assert_null(y);
  pnt_rmdir_flat(dir);
}

static void write_and_mkdir_errors(void **state)
{
  (void)state;
  char dir[512], path[700];
  pnt_tmpdir("io-w", dir, sizeof dir);
  const double x = 1.0;
  snprintf(path, sizeof path, "%s/no/such/dir/x.txt", dir);
  pnt_fails_with(pnt_ctx, pn_write_numbers(pnt_ctx, path, &x, 1), PN_ERR_IO, "cannot create");
  snprintf(path, sizeof path, "%s/a/b/c", dir);
  pnt_ok(pnt_ctx, pn_mkdir_p(pnt_ctx, path));
  pnt_ok(pnt_ctx, pn_mkdir_p(pnt_ctx, path)); /* existing: fine */
  snprintf(path, sizeof path, "%s/a/b/c/x.txt", dir);
  pnt_ok(pnt_ctx, pn_write_numbers(pnt_ctx, path, &x, 1));
  pnt_fails_with(pnt_ctx, pn_mkdir_p(pnt_ctx, path), PN_ERR_IO, "not a directory");
  char *buf = NULL;
  size_t len = 0;
  pnt_fails_with(pnt_ctx, pn_read_file_bcast(pnt_ctx, path, 1, &buf, &len), PN_ERR_LIMIT,
                 "more than the limit of 1");
  assert_null(buf);
  snprintf(path, sizeof path, "%s/a/b/c", dir);
  pnt_fails_with(pnt_ctx, pn_read_file_bcast(pnt_ctx, path, 100, &buf, &len), PN_ERR_IO,
                 "not a regular file");
  /* Clean up the nested directories by hand (pnt_rmdir_flat is flat). */
  snprintf(path, sizeof path, "%s/a/b/c/x.txt", dir);
  remove(path);
  const char *sub[3] = {"a/b/c", "a/b", "a"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, sub[i]);
    remove(path);
  }
  pnt_rmdir_flat(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(reads_every_key),
    cmocka_unit_test(reads_bench_problems),
    cmocka_unit_test(missing_files),
    cmocka_unit_test(meta_errors_name_line_and_key),
    cmocka_unit_test(number_file_errors_name_file_and_line),
    cmocka_unit_test(label_times_name_times_txt),
    cmocka_unit_test(byte_order_marks),
    cmocka_unit_test(nul_bytes_are_refused),
    cmocka_unit_test(format_double_is_shortest_and_exact),
    cmocka_unit_test(write_read_numbers_bitwise),
    cmocka_unit_test(write_and_mkdir_errors),
};

PNT_MAIN("io", tests)
