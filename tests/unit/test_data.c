/* Data: the CSV reader (and every malformed-input error with its line), the
 * generators against invariants of their dynamics, the grid check, the split,
 * mini-batch draws and the masked MSE of a batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loss_impl.h"
#include "pinode/data.h"
#include "testutil.h"

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  return path;
}

static void write_text(const char *name, const char *text)
{
  FILE *f = fopen(tmp_path(name), "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static pn_dataset *read_ok(const char *text)
{
  write_text("ok.csv", text);
  pn_dataset *ds = NULL;
  pnt_ok(pnt_ctx, pn_dataset_read_csv(pnt_ctx, tmp_path("ok.csv"), &ds));
  return ds;
}

static void csv_reads_trajectories(void **state)
{
  (void)state;
  pn_dataset *ds = read_ok("# two trajectories, different times\n"
                           "trajectory,time,x,y\r\n"
                           "\n"
                           "7, 0.0, 1.0, 2.0\r\n"
                           "7, 0.5, 1.5, 2.5\n"
                           "  # comment between rows\n"
                           "3,0,-1,-2\n"
                           "3,0.25,-1e-3,4E2\n"
                           "3,1,0,0");
  assert_true(ds->dim == 2 && ds->ntraj == 2 && ds->nrows == 5);
  assert_true(ds->traj_id[0] == 7 && ds->traj_id[1] == 3);
  assert_true(ds->offset[0] == 0 && ds->offset[1] == 2 && ds->offset[2] == 5);
  assert_true(ds->time[3] == 0.25 && ds->z[2 * 3 + 1] == 400.0 && ds->z[2 * 3] == -1e-3);
  assert_true(ds->line[0] == 4 && ds->line[2] == 7 && ds->line[4] == 9);
  pn_dataset_destroy(&ds);
  assert_null(ds);
  /* Without a header, D comes from the first row. */
  ds = read_ok("0,0,1,2,3\n0,1,4,5,6\n");
  assert_true(ds->dim == 3 && ds->ntraj == 1 && ds->nrows == 2 && ds->z[5] == 6.0);
  pn_dataset_destroy(&ds);
  /* A byte-order mark (spreadsheets write one) before the header is skipped. */
  ds = read_ok("\xEF\xBB\xBFtrajectory,time,x\n0,0,1\n0,1,2\n");
  assert_true(ds->dim == 1 && ds->nrows == 2 && ds->line[0] == 2);
  pn_dataset_destroy(&ds);
}

static void expect_csv_error(const char *text, int code, const char *needle)
{
  write_text("bad.csv", text);
  pn_dataset *ds = NULL;
  pnt_fails_with(pnt_ctx, pn_dataset_read_csv(pnt_ctx, tmp_path("bad.csv"), &ds), code, needle);
  assert_null(ds);
}

static void csv_errors_name_the_line(void **state)
{
  (void)state;
  const char *H = "trajectory,time,x,y\n";
  char text[512];
#define BAD(body, code, needle)                   \
  snprintf(text, sizeof text, "%s%s", H, body);   \
  expect_csv_error(text, code, needle)
  BAD("0,0,1,2\n0,1,3\n", PN_ERR_PARSE, "bad.csv:3: expected 4 columns (trajectory,time,z1..z2), found 3");
  BAD("0,0,1,2,5\n", PN_ERR_PARSE, "bad.csv:2: expected 4 columns (trajectory,time,z1..z2), found more than 4");
  BAD("0,0,1,2\n0,1,abc,2\n", PN_ERR_PARSE, "bad.csv:3: column 3 (a state value) is 'abc', not a number");
  BAD("0,0,1,2\n0,,1,2\n", PN_ERR_PARSE, "bad.csv:3: column 2 (time) is '', not a number");
  BAD("0,0,1,2\n0,nan,1,2\n", PN_ERR_NONFINITE, "bad.csv:3: column 2 (time) is nan: values must be finite");
  BAD("0,0,1,2\n0,1,1,-inf\n", PN_ERR_NONFINITE, "bad.csv:3: column 4 (a state value) is -inf");
  BAD("0,0,1,2\n0,1,1,2\n0,0.5,1,2\n", PN_ERR_PARSE,
      "bad.csv:4: trajectory 0: time 0.5 is not after the previous time 1 (line 3)");
  BAD("0,0,1,2\n0,0,1,2\n", PN_ERR_PARSE, "bad.csv:3: trajectory 0: time 0 is not after");
  BAD("0,0,1,2\n1,0,1,2\n0,1,1,2\n", PN_ERR_PARSE,
      "bad.csv:4: trajectory 0 appears again after other trajectories (first rows at line 2)");
  BAD("1.5,0,1,2\n", PN_ERR_PARSE, "bad.csv:2: column 1 (trajectory) is '1.5', not an integer");
  BAD("", PN_ERR_PARSE, "bad.csv: no data rows");
#undef BAD
  expect_csv_error("", PN_ERR_PARSE, "no data rows");
  expect_csv_error("# only a comment\n\n", PN_ERR_PARSE, "no data rows");
  expect_csv_error("traj,t,x\n0,0,1\n", PN_ERR_PARSE, "bad.csv:1: header 'traj,t,x' must start");
  expect_csv_error("trajectory,time\n", PN_ERR_PARSE, "bad.csv:1: expected 'trajectory,time,z1");
  pn_dataset *ds = NULL;
  pnt_fails_with(pnt_ctx, pn_dataset_read_csv(pnt_ctx, tmp_path("nope.csv"), &ds), PN_ERR_IO,
                 "nope.csv");
}

static void csv_round_trip_is_bitwise(void **state)
{
  (void)state;
  pn_generator_opts o;
  pn_generator_opts_default(PN_GEN_LORENZ, &o);
  o.ntraj = 3;
  o.npoints = 7;
  o.noise = 0.1;
  pn_dataset *a = NULL, *b = NULL;
  pnt_ok(pnt_ctx, pn_dataset_generate(pnt_ctx, &o, &a));
  pnt_ok(pnt_ctx, pn_dataset_write_csv(pnt_ctx, a, tmp_path("rt.csv")));
  pnt_ok(pnt_ctx, pn_dataset_read_csv(pnt_ctx, tmp_path("rt.csv"), &b));
  assert_true(b->dim == 3 && b->ntraj == 3 && b->nrows == 21);
  assert_memory_equal(a->z, b->z, sizeof(double) * 63);
  assert_memory_equal(a->time, b->time, sizeof(double) * 21);
  assert_memory_equal(a->offset, b->offset, sizeof(long) * 4);
  pn_dataset_destroy(&a);
  pn_dataset_destroy(&b);
}

/* The header's names are the states' names, written back as read; z1..zD
 * (or no header) are no names; a header with a nameless, duplicated or
 * comma-bearing name is refused with its line. */
static void csv_keeps_state_names(void **state)
{
  (void)state;
  char z[16];
  pn_dataset *ds = read_ok("trajectory, time, x, v\n0,0,1,2\n0,0.05,3,4\n");
  assert_non_null(ds->names);
  assert_string_equal(ds->names[0], "x");
  assert_string_equal(pn_dataset_name(ds, 1, z, sizeof z), "v");
  pnt_ok(pnt_ctx, pn_dataset_write_csv(pnt_ctx, ds, tmp_path("named.csv")));
  pn_dataset_destroy(&ds);
  FILE *f = fopen(tmp_path("named.csv"), "r");
  char line[128] = "";
  assert_non_null(f);
  assert_non_null(fgets(line, sizeof line, f));
  assert_string_equal(line, "trajectory,time,x,v\n");
  assert_non_null(fgets(line, sizeof line, f));
  assert_non_null(fgets(line, sizeof line, f));
  assert_string_equal(line, "0,0.05,3,4\n"); /* the shortest decimals that round-trip */
  fclose(f);
  ds = read_ok("trajectory,time,z1,z2\n0,0,1,2\n");
  assert_null(ds->names);
  assert_string_equal(pn_dataset_name(ds, 1, z, sizeof z), "z2");
  const char *const names[2] = {"position", "velocity"}, *const twice[2] = {"a", "a"};
  pnt_ok(pnt_ctx, pn_dataset_set_names(pnt_ctx, ds, names));
  assert_string_equal(ds->names[1], "velocity");
  pnt_fails_with(pnt_ctx, pn_dataset_set_names(pnt_ctx, ds, twice), PN_ERR_ARG,
                 "columns 3 and 4 are both named 'a'");
  assert_string_equal(ds->names[0], "position"); /* kept */
  pnt_ok(pnt_ctx, pn_dataset_set_names(pnt_ctx, ds, NULL));
  assert_null(ds->names);
  pn_dataset_destroy(&ds);
  expect_csv_error("trajectory,time,x,\n0,0,1,2\n", PN_ERR_PARSE,
                   "bad.csv:1: column 4 (state 2) has no name");
  expect_csv_error("trajectory,time,x,x\n0,0,1,2\n", PN_ERR_PARSE,
                   "bad.csv:1: columns 3 and 4 are both named 'x'");
  /* Generated data names its states. */
  pn_generator_opts o;
  pn_generator_opts_default(PN_GEN_LOTKA_VOLTERRA, &o);
  o.ntraj = 1;
  pnt_ok(pnt_ctx, pn_dataset_generate(pnt_ctx, &o, &ds));
  assert_string_equal(ds->names[0], "prey");
  assert_string_equal(ds->names[1], "predator");
  pn_dataset_destroy(&ds);
}

static pn_dataset *generate(pn_generator_kind kind, int substeps, uint64_t seed, double noise)
{
  pn_generator_opts o;
  pn_generator_opts_default(kind, &o);
  o.substeps = substeps;
  o.seed = seed;
  o.noise = noise;
  pn_dataset *ds = NULL;
  pnt_ok(pnt_ctx, pn_dataset_generate(pnt_ctx, &o, &ds));
  return ds;
}

/* Same seed → bitwise the same data; another seed → other initial states;
 * times are t0 + i·Δ exactly. */
static void generators_are_reproducible(void **state)
{
  (void)state;
  for (int k = 0; k < 4; k++) {
    pn_dataset *a = generate((pn_generator_kind)k, 20, 5, 0.0);
    pn_dataset *b = generate((pn_generator_kind)k, 20, 5, 0.0);
    pn_dataset *c = generate((pn_generator_kind)k, 20, 6, 0.0);
    const size_t n = (size_t)a->nrows * (size_t)a->dim;
    assert_int_equal(a->dim, pn_generator_dim((pn_generator_kind)k));
    assert_memory_equal(a->z, b->z, n * sizeof(double));
    assert_true(memcmp(a->z, c->z, n * sizeof(double)) != 0);
    const double dt = (a->time[a->offset[1] - 1] - a->time[0]) / (a->offset[1] - 1);
    for (long r = 0; r < a->offset[1]; r++) assert_true(a->time[r] == a->time[0] + (double)r * dt);
    pn_dataset_destroy(&a);
    pn_dataset_destroy(&b);
    pn_dataset_destroy(&c);
  }
}

/* The ground truth is converged: halving the default RK4 substep changes the
 * data by < 1e-6 relative (RK4's error shrinks 16x per halving, so the data is
 * within ~1e-6/15 of the exact flow).  Lorenz is chaotic but
 * its horizon (1 time unit, ~1 Lyapunov time) keeps the sensitivity modest. */
static void generators_are_converged(void **state)
{
  (void)state;
  for (int k = 0; k < 4; k++) {
    pn_generator_opts o;
    pn_generator_opts_default((pn_generator_kind)k, &o);
    pn_dataset *a = generate((pn_generator_kind)k, o.substeps, 1, 0.0);
    pn_dataset *b = generate((pn_generator_kind)k, 2 * o.substeps, 1, 0.0);
    const double err = pnt_rel_err(a->z, b->z, (size_t)a->nrows * (size_t)a->dim);
    print_message("%s: substep halving changes the data by %.2e\n",
                  pn_generator_name((pn_generator_kind)k), err);
    assert_true(err < 1e-6);
    pn_dataset_destroy(&a);
    pn_dataset_destroy(&b);
  }
}

/* Invariants of the true dynamics along the generated trajectories:
 * Lotka–Volterra conserves V = x − 3 ln x + y − 1.5 ln y (to the RK4 error,
 * < 1e-7 relative here); the damped pendulum's energy ½ω² + 4(1 − cos θ) and
 * the spiral's x⁴ + y⁴ never increase (dV/dt = −0.3ω² and −0.4(x⁶ + y⁶)). */
static void generators_follow_their_dynamics(void **state)
{
  (void)state;
  pn_dataset *lv = generate(PN_GEN_LOTKA_VOLTERRA, 20, 1, 0.0);
  double worst = 0.0;
  for (int j = 0; j < lv->ntraj; j++) {
    const double *z0 = lv->z + 2 * lv->offset[j];
    const double V0 = z0[0] - 3 * log(z0[0]) + z0[1] - 1.5 * log(z0[1]);
    for (long r = lv->offset[j]; r < lv->offset[j + 1]; r++) {
      const double *z = lv->z + 2 * r;
      worst = fmax(worst, fabs(z[0] - 3 * log(z[0]) + z[1] - 1.5 * log(z[1]) - V0) / fabs(V0));
    }
  }
  print_message("Lotka-Volterra invariant drift %.2e\n", worst);
  assert_true(worst < 1e-7);
  pn_dataset_destroy(&lv);
  for (int k = 0; k < 2; k++) {
    pn_dataset *ds = generate(k == 0 ? PN_GEN_PENDULUM : PN_GEN_SPIRAL, 20, 1, 0.0);
    for (int j = 0; j < ds->ntraj; j++) {
      double prev = INFINITY;
      for (long r = ds->offset[j]; r < ds->offset[j + 1]; r++) {
        const double *z = ds->z + 2 * r;
        const double V = k == 0 ? 0.5 * z[1] * z[1] + 4.0 * (1.0 - cos(z[0]))
                                : pow(z[0], 4) + pow(z[1], 4);
        assert_true(V <= prev * (1 + 1e-12));
        prev = V;
      }
    }
    pn_dataset_destroy(&ds);
  }
}

/* Noise is added after the clean trajectories: noisy − clean has the
 * requested standard deviation (672 samples: the sample std has a relative
 * standard error of 1/sqrt(2·672) = 2.7%, so 10% is 3.7 of them). */
static void generator_noise(void **state)
{
  (void)state;
  pn_dataset *clean = generate(PN_GEN_SPIRAL, 20, 3, 0.0);
  pn_dataset *noisy = generate(PN_GEN_SPIRAL, 20, 3, 0.05);
  const size_t n = (size_t)clean->nrows * 2;
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += pow(noisy->z[i] - clean->z[i], 2);
  const double sd = sqrt(s / (double)n);
  assert_true(fabs(sd / 0.05 - 1.0) < 0.1);
  pn_dataset_destroy(&clean);
  pn_dataset_destroy(&noisy);
  pn_generator_opts o;
  pn_generator_opts_default(PN_GEN_SPIRAL, &o);
  o.npoints = 1;
  pn_dataset *ds = NULL;
  pnt_fails_with(pnt_ctx, pn_dataset_generate(pnt_ctx, &o, &ds), PN_ERR_ARG, "1 points");
  pn_generator_opts_default(PN_GEN_SPIRAL, &o);
  o.noise = -1;
  pnt_fails_with(pnt_ctx, pn_dataset_generate(pnt_ctx, &o, &ds), PN_ERR_ARG, "noise -1");
  pn_generator_kind g;
  assert_int_equal(pn_generator_from_name("lorenz", &g), PN_OK);
  assert_int_equal(g, PN_GEN_LORENZ);
  assert_int_equal(pn_generator_from_name("lorenz96", &g), PN_ERR_ARG);
}

static void grid_check(void **state)
{
  (void)state;
  pn_dataset *ds = read_ok("trajectory,time,x\n0,0,1\n0,0.1,2\n0,0.25,3\n1,0,1\n1,0.5,2\n");
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 0.5, 20));
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 0.5, 10));
  /* h = 0.125 misses 0.1 (line 3); N = 10 is the smallest N that fits 0.1 and 0.25, and
   * none below 4 does. */
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 0.5, 4), PN_ERR_GRID,
                 "ok.csv:3: trajectory 0: time 0.1 is not on the solver grid t_n = 0 + n*0.125 "
                 "(N = 4); solver.steps = 10 (h = 0.05) would put every time on the grid");
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 0.4, 8), PN_ERR_GRID,
                 "ok.csv:6: trajectory 1: time 0.5 lies outside the solver interval [0, 0.4]");
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, -0.5, 0.5, 20), PN_ERR_GRID,
                 "ok.csv:2: trajectory 0: the first time 0 is not t0 = -0.5");
  pn_dataset_destroy(&ds);
  /* Two times within the grid tolerance (1e-6 h) of one grid point. */
  ds = read_ok("trajectory,time,x\n0,0,1\n0,0.5,2\n0,0.500000001,3\n");
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 2), PN_ERR_GRID,
                 "ok.csv:4: trajectory 0: times 0.5 and 0.500000001 fall on the same "
                 "grid point 1");
  pn_dataset_destroy(&ds);
}

/* An off-grid time is answered with the step counts nearest the chosen one
 * that fit every time, below and above, and the fewest: times on the grid
 * of 49 steps with N = 100 fit 98 and 147 (and 49), not just 147. */
static void grid_check_suggests_nearest_steps(void **state)
{
  (void)state;
  char text[4096] = "trajectory,time,x\n";
  size_t len = strlen(text);
  for (int i = 0; i <= 49; i++)
    len += (size_t)snprintf(text + len, sizeof text - len, "0,%.17g,%d\n", i / 49.0, i);
  pn_dataset *ds = read_ok(text);
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 100), PN_ERR_GRID,
                 "ok.csv:3: trajectory 0: time 0.02040816326530612 is not on the solver grid "
                 "t_n = 0 + n*0.01 (N = 100); solver.steps = 98 (h = 0.01020408163265306) or 147 "
                 "(h = 0.006802721088435374) would put every time on the grid; the fewest that "
                 "would: 49");
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 98));
  /* Only above: N = 4 is below the fewest (49). */
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 4), PN_ERR_GRID,
                 "(N = 4); solver.steps = 49 (h = 0.02040816326530612) would put every time on "
                 "the grid");
  pn_dataset_destroy(&ds);
  /* None up to 16 N: 1/pi. */
  ds = read_ok("trajectory,time,x\n0,0,1\n0,0.3183098861837907,2\n");
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 10), PN_ERR_GRID,
                 "no step count from 1 to 16x the current one puts every time on the grid");
  pn_dataset_destroy(&ds);
}

/* The grid's tolerance comes from the arithmetic (src/grid.h): a time within
 * rounding of t0 + m*h is t_m whatever N; one a little farther (up to a
 * millionth of a step) is taken as t_m, and a note says so. */
static void grid_check_at_extreme_steps(void **state)
{
  (void)state;
  /* N = 10^11 on [0, 1]: t = 0.2 is t_{2·10^10}, though t0 + m*h misses it
   * by rounding (h = 1e-11 is 10^4 ulps of 0.2, a millionth of it is not). */
  pn_dataset *ds = read_ok("trajectory,time,x\n0,0,1\n0,0.2,2\n0,0.25,3\n");
  pn_ctx_clear_notes(pnt_ctx);
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 100000000000L));
  assert_string_equal(pn_ctx_notes(pnt_ctx), "");
  /* N = 10^11 + 1 does not hold 0.25; the step counts the message proposes
   * (10^11 and 10^11 + 4: 0.25·N is an integer again) are accepted. */
  pn_dataset_destroy(&ds);
  ds = read_ok("trajectory,time,x\n0,0,1\n0,0.25,3\n");
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 100000000001L),
                 PN_ERR_GRID, "ok.csv:3: trajectory 0: time 0.25 is not on the solver grid");
  const char *hint = strstr(pn_ctx_last_error(pnt_ctx), "solver.steps = ");
  assert_non_null(hint);
  const long below = strtol(hint + strlen("solver.steps = "), NULL, 10);
  assert_int_equal(below, 100000000000L);
  hint = strstr(hint, ") or ");
  assert_non_null(hint);
  const long above = strtol(hint + strlen(") or "), NULL, 10);
  assert_int_equal(above, 100000000004L);
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, below));
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, above));
  pn_dataset_destroy(&ds);
  /* 1.1e-9 off t_50 with h = 0.01: taken as t_50, and said. */
  ds = read_ok("trajectory,time,x\n0,0,1\n0,0.10000000000000001,2\n0,0.5000000011,3\n");
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 100));
  const char *note = pn_ctx_notes(pnt_ctx);
  if (!strstr(note, "ok.csv:4: trajectory 0: time 0.5000000011 was taken as the grid "
                    "time t_50 = 0.5: it lies 1.10e-09 off the grid") ||
      !strstr(note, "1 time of") || strchr(note, '\n') != note + strlen(note) - 1)
    fail_msg("note: '%s'", note);
  pn_ctx_clear_notes(pnt_ctx);
  assert_string_equal(pn_ctx_notes(pnt_ctx), "");
  /* 2e-8 off (two millionths of a step): not on the grid. */
  pn_dataset_destroy(&ds);
  ds = read_ok("trajectory,time,x\n0,0,1\n0,0.50000002,3\n");
  pnt_fails_with(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 100), PN_ERR_GRID,
                 "ok.csv:3: trajectory 0: time 0.50000002 is not on the solver grid");
  pn_dataset_destroy(&ds);
}

static void split_and_draws(void **state)
{
  (void)state;
  pn_dataset *ds = NULL;
  pnt_ok(pnt_ctx, pn_dataset_create(pnt_ctx, 1, 10, 2, &ds));
  int train[10], val[10], nt = 0, nv = 0, train2[10], val2[10], nt2 = 0, nv2 = 0;
  pnt_ok(pnt_ctx, pn_dataset_split(pnt_ctx, ds, 0.25, 9, train, &nt, val, &nv));
  pnt_ok(pnt_ctx, pn_dataset_split(pnt_ctx, ds, 0.25, 9, train2, &nt2, val2, &nv2));
  assert_true(nt == 7 && nv == 3 && nt2 == 7 && nv2 == 3); /* round(2.5) = 3 */
  assert_memory_equal(train, train2, sizeof(int) * 7);
  assert_memory_equal(val, val2, sizeof(int) * 3);
  int seen[10] = {0};
  for (int i = 0; i < nt; i++) seen[train[i]]++;
  for (int i = 0; i < nv; i++) seen[val[i]]++;
  for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
  for (int i = 1; i < nt; i++) assert_true(train[i] > train[i - 1]);
  pnt_ok(pnt_ctx, pn_dataset_split(pnt_ctx, ds, 0.01, 9, train, &nt, val, &nv));
  assert_true(nv == 1 && nt == 9);
  pnt_ok(pnt_ctx, pn_dataset_split(pnt_ctx, ds, 0.0, 9, train, &nt, val, &nv));
  assert_true(nv == 0 && nt == 10);
  pnt_fails_with(pnt_ctx, pn_dataset_split(pnt_ctx, ds, 0.96, 9, train, &nt, val, &nv), PN_ERR_ARG,
                 "leaves none for training");
  pnt_fails_with(pnt_ctx, pn_dataset_split(pnt_ctx, ds, 1.0, 9, train, &nt, val, &nv), PN_ERR_ARG,
                 "need 0 <= fraction < 1");
  pn_dataset_destroy(&ds);

  /* Draws: distinct members of the pool, every member about equally often
   * (20000 draws of 3 of 6: each member expected 10000 times, std ~ 70; a
   * ±5% band is > 7 standard deviations). */
  const int pool[6] = {11, 12, 13, 14, 15, 16};
  int out[3], scratch[6], count[6] = {0};
  pn_rng rng, rng2;
  pn_rng_seed(&rng, 4);
  for (int it = 0; it < 20000; it++) {
    rng2 = rng;
    pn_draw_batch(&rng, pool, 6, 3, out, scratch);
    int again[3];
    pn_draw_batch(&rng2, pool, 6, 3, again, scratch);
    assert_memory_equal(out, again, sizeof out); /* a function of the RNG state only */
    assert_true(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
    for (int i = 0; i < 3; i++) count[out[i] - 11]++;
  }
  for (int i = 0; i < 6; i++) assert_true(abs(count[i] - 10000) < 500);
}

/* The masked MSE of a batch, label by label, against a direct sum; and its
 * gradient through the whole solver against central differences. */
static void batch_loss_is_a_masked_mse(void **state)
{
  (void)state;
  pn_dataset *ds = read_ok("trajectory,time,x,y\n"
                           "0,0,1,0\n0,0.5,0.8,0.3\n0,1,0.5,0.6\n"
                           "1,0,0,1\n1,1,-0.4,0.7\n"
                           "2,0,-1,0\n2,0.25,-0.9,-0.2\n2,0.5,-0.7,-0.4\n");
  pnt_ok(pnt_ctx, pn_dataset_check_grid(pnt_ctx, ds, 0.0, 1.0, 8));
  pn_batch *b = NULL;
  pnt_ok(pnt_ctx, pn_batch_create(pnt_ctx, ds, 2, 0.0, PN_REDUCE_MEAN, &b));
  const pn_loss *loss = pn_batch_loss(b);
  assert_int_equal(pn_loss_nlabels(loss), 3); /* 0.25, 0.5, 1 */
  const int members[2] = {2, 0};
  pnt_ok(pnt_ctx, pn_batch_set(b, members));
  assert_int_equal(pn_batch_observations(b), 4);
  assert_true(pn_batch_z0(b)[0] == -1.0 && pn_batch_z0(b)[2] == 1.0);
  const double z[4] = {0.1, 0.2, 0.3, 0.4};
  double value = 0.0, lam[4] = {0}, scratch[4];
  /* Label 1 (t = 0.5): both members observed there. */
  pnt_ok(pnt_ctx, pni_loss_eval(loss, pnt_ctx, 1, 0, 2, z, &value, lam, scratch));
  const double r[4] = {0.1 + 0.7, 0.2 + 0.4, 0.3 - 0.8, 0.4 - 0.3}, s = 1.0 / (4 * 2);
  assert_true(fabs(value - s * (r[0] * r[0] + r[1] * r[1] + r[2] * r[2] + r[3] * r[3])) < 1e-15);
  for (int i = 0; i < 4; i++) assert_true(fabs(lam[i] - 2 * s * r[i]) < 1e-15);
  /* Label 0 (t = 0.25): only trajectory 2, the first member, is observed. */
  value = 0.0;
  memset(lam, 0, sizeof lam);
  pnt_ok(pnt_ctx, pni_loss_eval(loss, pnt_ctx, 0, 1, 1, z + 2, &value, lam, scratch));
  assert_true(value == 0.0 && lam[0] == 0.0 && lam[1] == 0.0);

  /* Gradient of the whole batch loss by the solver vs central differences
   * (step 1e-6: truncation ~1e-12, rounding ~1e-10 relative → 1e-6). */
  const int widths[1] = {6};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {2, 1, widths, acts, 0};
  pn_model *model = NULL;
  pn_tableau *tab = NULL;
  pn_solver *solver = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &model));
  pnt_ok(pnt_ctx, pn_tableau_create(pnt_ctx, "rk4", &tab));
  pn_solver_opts opts;
  pn_solver_opts_default(&opts);
  opts.nsteps = 8;
  pnt_ok(pnt_ctx, pn_solver_create(pnt_ctx, model, tab, &opts, &solver));
  const int P = pn_model_nparam(model);
  double theta[32], grad[32], lp = 0, lm = 0, L = 0;
  pnt_ok(pnt_ctx, pn_model_init_params(model, 3, theta));
  pnt_ok(pnt_ctx, pn_solver_gradient(solver, theta, 2, pn_batch_z0(b), loss, &L, grad, NULL));
  assert_true(L > 0);
  for (int i = 0; i < P; i += 5) {
    const double keep = theta[i];
    theta[i] = keep + 1e-6;
    pnt_ok(pnt_ctx, pn_solver_loss(solver, theta, 2, pn_batch_z0(b), loss, &lp));
    theta[i] = keep - 1e-6;
    pnt_ok(pnt_ctx, pn_solver_loss(solver, theta, 2, pn_batch_z0(b), loss, &lm));
    theta[i] = keep;
    const double fd = (lp - lm) / 2e-6;
    assert_true(fabs(fd - grad[i]) <= 1e-6 * fabs(grad[i]) + 1e-9);
  }
  pn_solver_destroy(&solver);
  pn_tableau_destroy(&tab);
  pn_model_destroy(&model);

  const int bad[2] = {0, 3};
  pnt_fails_with(pnt_ctx, pn_batch_set(b, bad), PN_ERR_ARG, "trajectory 3, outside 0..2");
  pn_batch_destroy(&b);
  pnt_fails_with(pnt_ctx, pn_batch_create(pnt_ctx, ds, 4, 0.0, PN_REDUCE_MEAN, &b), PN_ERR_ARG,
                 "batch of 4 trajectories from a dataset of 3");
  pn_dataset_destroy(&ds);
  ds = read_ok("trajectory,time,x\n0,0,1\n1,0,2\n1,1,3\n");
  pnt_ok(pnt_ctx, pn_batch_create(pnt_ctx, ds, 1, 0.0, PN_REDUCE_SUM, &b));
  const int only0[1] = {0};
  pnt_fails_with(pnt_ctx, pn_batch_set(b, only0), PN_ERR_ARG, "no observations");
  pn_batch_destroy(&b);
  pn_dataset_destroy(&ds);
  ds = read_ok("trajectory,time,x\n0,0,1\n0,1,2\n1,0.5,1\n1,1,3\n");
  pnt_fails_with(pnt_ctx, pn_batch_create(pnt_ctx, ds, 1, 0.0, PN_REDUCE_MEAN, &b), PN_ERR_GRID,
                 "ok.csv:4: trajectory 1: the first time 0.5 is not t0 = 0");
  assert_null(b);
  pn_dataset_destroy(&ds);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(csv_reads_trajectories),
    cmocka_unit_test(csv_errors_name_the_line),
    cmocka_unit_test(csv_round_trip_is_bitwise),
    cmocka_unit_test(csv_keeps_state_names),
    cmocka_unit_test(generators_are_reproducible),
    cmocka_unit_test(generators_are_converged),
    cmocka_unit_test(generators_follow_their_dynamics),
    cmocka_unit_test(generator_noise),
    cmocka_unit_test(grid_check),
    cmocka_unit_test(grid_check_at_extreme_steps),
    cmocka_unit_test(grid_check_suggests_nearest_steps),
    cmocka_unit_test(split_and_draws),
    cmocka_unit_test(batch_loss_is_a_masked_mse),
};

int main(int argc, char **argv)
{
  snprintf(tmpdir, sizeof tmpdir, "/tmp/pinode_test_data_XXXXXX");
  if (!mkdtemp(tmpdir)) return 1;
  const int rc = pnt_main(argc, argv, "data", tests, sizeof tests / sizeof tests[0]);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? rc : 1;
}
