/* The files of a run (written by rank 0, atomically, the verdict shared by
 * all ranks) and the progress line. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

int cli_write_text(pn_ctx *ctx, const char *path, const char *text, size_t len)
{
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0) rc = pn_write_file_atomic(ctx, path, text, len);
  return pn_ctx_agree(ctx, rc);
}

/* Every file a training run writes into its directory, the checkpoint first:
 * overwriting removes them in this order, so that from the first removal on
 * no checkpoint of the old run can be resumed. */
static const char *const run_files[] = {"checkpoint.pinode", "summary.json", "model.pinode",
                                        "history.csv",       "predictions.csv", "data.csv",
                                        "config.ini"};
enum { NRUN_FILES = sizeof run_files / sizeof run_files[0] };

/* The run file `name` is, or is a temporary of (NAME.tmp.PID, left by a
 * kill during an atomic write): its index in run_files, else −1. */
static int run_file_index(const char *name)
{
  for (int i = 0; i < NRUN_FILES; i++) {
    const size_t n = strlen(run_files[i]);
    if (strncmp(name, run_files[i], n) == 0 &&
        (name[n] == '\0' || strncmp(name + n, ".tmp.", 5) == 0))
      return i;
  }
  return -1;
}

/* What an existing directory holds. */
typedef struct dir_contents {
  int any;       /* anything but . and .. */
  int foreign;   /* a file no run writes */
  int results;   /* a checkpoint, model, history, summary or predictions */
  int checkpoint;
} dir_contents;

static int survey(pn_ctx *ctx, const char *dir, dir_contents *c)
{
  memset(c, 0, sizeof *c);
  DIR *d = opendir(dir);
  if (!d) return pn_ctx_fail(ctx, PN_ERR_IO, "cannot read the directory %s: %s", dir, strerror(errno));
  for (struct dirent *e; (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    const int i = run_file_index(e->d_name);
    c->any = 1;
    if (i < 0) c->foreign = 1;
    if (i >= 0 && strcmp(e->d_name, run_files[i]) == 0 && i <= 4) c->results = 1;
    if (i == 0 && strcmp(e->d_name, run_files[0]) == 0) c->checkpoint = 1;
  }
  closedir(d);
  return PN_OK;
}

/* Remove every file of a previous run from dir (and their temporaries),
 * the checkpoint first; other files stay. */
static int remove_run_files(pn_ctx *ctx, const char *dir)
{
  for (int i = 0; i < NRUN_FILES; i++) {
    DIR *d = opendir(dir);
    if (!d) return pn_ctx_fail(ctx, PN_ERR_IO, "cannot read the directory %s: %s", dir, strerror(errno));
    int rc = PN_OK;
    for (struct dirent *e; rc == PN_OK && (e = readdir(d));) {
      if (run_file_index(e->d_name) != i) continue;
      char path[CLI_PATH + 300];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      if (unlink(path) != 0 && errno != ENOENT)
        rc = pn_ctx_fail(ctx, PN_ERR_IO, "cannot remove %s, a file of the previous run in the "
                                         "output directory: %s", path, strerror(errno));
    }
    closedir(d);
    CLI_TRY(rc);
  }
  return PN_OK;
}

static int outdir_rank0(pn_ctx *ctx, const char *dir, int overwrite, int resume,
                        cli_outdir_state *state)
{
  struct stat st;
  const int exists = stat(dir, &st) == 0;
  dir_contents c = {0, 0, 0, 0};
  *state = CLI_OUTDIR_NEW;
  if (exists && !S_ISDIR(st.st_mode))
    return pn_ctx_fail(ctx, PN_ERR_IO, "output directory %s exists and is not a directory", dir);
  if (exists) CLI_TRY(survey(ctx, dir, &c));
  if (resume) {
    if (c.checkpoint) {
      *state = CLI_OUTDIR_CHECKPOINT;
      return PN_OK;
    }
    char ini[CLI_PATH + 32];
    snprintf(ini, sizeof ini, "%s/config.ini", dir);
    if (!exists || access(ini, R_OK) != 0)
      return pn_ctx_fail(ctx, PN_ERR_IO, "--resume %s: no checkpoint %s/checkpoint.pinode to "
                                         "resume from, and no run's config.ini there", dir, dir);
    if (c.results)
      return pn_ctx_fail(ctx, PN_ERR_IO,
                         "--resume %s: the run there ended without a checkpoint (it diverged "
                         "before its first; see its summary.json): nothing to resume.  Start it "
                         "again with --set output.overwrite=true",
                         dir);
    *state = CLI_OUTDIR_RESTART; /* stopped before its first checkpoint */
    return remove_run_files(ctx, dir);
  }
  if (exists && c.any) {
    if (!overwrite && (c.foreign || c.results)) {
      char resume_hint[CLI_PATH + 64] = "";
      if (c.checkpoint)
        snprintf(resume_hint, sizeof resume_hint, "Continue its run with --resume %s, ", dir);
      return pn_ctx_fail(ctx, PN_ERR_IO,
                         "output directory %s already exists and is not empty; nothing was "
                         "overwritten.  %schoose another one with --set output.dir=..., or "
                         "allow it with --set output.overwrite=true (which removes the files of "
                         "the run there, and no others)",
                         dir, resume_hint);
    }
    /* A run that stopped before its first checkpoint left only its inputs:
     * it starts again, as with overwrite. */
    *state = c.results ? CLI_OUTDIR_OVERWRITTEN : CLI_OUTDIR_RESTART;
    CLI_TRY(remove_run_files(ctx, dir));
  }
  return pn_mkdir_p(ctx, dir);
}

int cli_outdir_prepare(MPI_Comm comm, pn_ctx *ctx, const char *dir, int overwrite, int resume,
                       cli_outdir_state *state)
{
  int rc = PN_OK, s = CLI_OUTDIR_NEW;
  cli_outdir_state mine = CLI_OUTDIR_NEW;
  if (pn_ctx_rank(ctx) == 0) rc = outdir_rank0(ctx, dir, overwrite, resume, &mine);
  rc = pn_ctx_agree(ctx, rc);
  s = (int)mine;
  MPI_Bcast(&s, 1, MPI_INT, 0, comm);
  *state = (cli_outdir_state)s;
  return rc;
}

int cli_remove_output(pn_ctx *ctx, const char *dir, const char *name)
{
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0) {
    char path[CLI_PATH + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
      rc = pn_ctx_fail(ctx, PN_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
  }
  return pn_ctx_agree(ctx, rc);
}

int cli_write_inputs(pn_ctx *ctx, const char *dir, const cli_config *cfg, const cli_problem *p)
{
  char path[CLI_PATH + 32];
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0) {
    cli_membuf m;
    snprintf(path, sizeof path, "%s/config.ini", dir);
    rc = cli_membuf_open(ctx, &m, path);
    if (rc == PN_OK) {
      fprintf(m.f, "; effective configuration of this run (%s with every default and --set)\n",
              cfg->path);
      cli_config_print(cfg, m.f);
      rc = cli_membuf_commit(ctx, &m, path);
    }
    /* The data in its original units (the model sees it scaled); the
     * training data itself is left untouched, bit for bit. */
    const size_t n = (size_t)p->data->nrows * (size_t)p->data->dim;
    double *scaled = p->data->z, *orig = calloc(n, sizeof(double));
    if (rc == PN_OK && !orig) rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for data.csv");
    for (size_t i = 0; rc == PN_OK && i < n; i++) orig[i] = scaled[i] / cfg->scale;
    snprintf(path, sizeof path, "%s/data.csv", dir);
    p->data->z = orig;
    if (rc == PN_OK) rc = pn_dataset_write_csv(ctx, p->data, path);
    p->data->z = scaled;
    free(orig);
  }
  return pn_ctx_agree(ctx, rc);
}

int cli_write_history(pn_ctx *ctx, const char *dir, const train_state *st)
{
  char path[CLI_PATH + 32];
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0) {
    cli_membuf m;
    snprintf(path, sizeof path, "%s/history.csv", dir);
    rc = cli_membuf_open(ctx, &m, path);
    if (rc == PN_OK) {
      fprintf(m.f, "iteration,loss,val_loss,grad_norm,lr,seconds\n");
      char num[4][PN_DOUBLE_CHARS];
      for (long i = 0; i < st->iteration; i++)
        fprintf(m.f, "%ld,%s,%s,%s,%s,%.6g\n", i + 1, pn_format_double(st->h_loss[i], num[0]),
                pn_format_double(st->h_val[i], num[1]), pn_format_double(st->h_gnorm[i], num[2]),
                pn_format_double(st->h_lr[i], num[3]), st->h_sec[i]);
      rc = cli_membuf_commit(ctx, &m, path);
    }
  }
  return pn_ctx_agree(ctx, rc);
}

/* Grid indices 0, every, 2·every, ..., and N. */
static long save_steps(long N, long every, long *steps)
{
  long n = 0;
  for (long m = 0; m < N; m += every) steps[n++] = m;
  steps[n++] = N;
  return n;
}

int cli_predict_write(pn_ctx *ctx, pn_model *model, const pn_tableau *tab,
                      const pn_solver_opts *sopts, const double *theta, const pn_dataset *init,
                      double scale, const cli_predict_out *o)
{
  const int B = init->ntraj, D = init->dim, h5 = cli_is_h5(o->path);
  const long N = sopts->nsteps, every = o->every, nmax = N / every + 2;
  CLI_TRY(nmax <= (1L << 24) ? PN_OK
                              : pn_ctx_fail(ctx, PN_ERR_LIMIT, "%ld output times: raise "
                                                               "output.predict_every", nmax));
  long *steps = calloc((size_t)nmax, sizeof(long));
  double *z0 = calloc((size_t)B * D, sizeof(double));
  pn_dataset *out = NULL;
  pn_solver *S = NULL;
  double *states = NULL;
  int rc = steps && z0 ? PN_OK : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for predictions");
  const long ns = rc == PN_OK ? save_steps(N, every, steps) : 0;
  if (rc == PN_OK && !h5) rc = pn_dataset_create(ctx, D, B, ns, &out);
  if (rc == PN_OK && !h5) rc = pn_dataset_set_names(ctx, out, (const char *const *)init->names);
  if (rc == PN_OK && !(states = calloc((size_t)ns * B * D, sizeof(double))))
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for %ld x %d predicted states", ns, B);
  for (int j = 0; rc == PN_OK && j < B; j++)
    memcpy(z0 + (size_t)j * D, init->z + (size_t)init->offset[j] * D, sizeof(double) * D);
  const pn_solver_opts fit = cli_opts_for_batch(sopts, pn_ctx_size(ctx), B);
  if (rc == PN_OK) rc = pn_solver_create(ctx, model, tab, &fit, &S);
  if (rc == PN_OK) rc = pn_solver_forward(S, theta, B, z0, (int)ns, steps, states);
  if (rc == PN_OK && h5) {
    rc = cli_predict_write_h5(ctx, o, tab, sopts, init, scale, steps, ns, states);
  } else if (rc == PN_OK) {
    const double h = (sopts->t1 - sopts->t0) / (double)N;
    for (int j = 0; j < B; j++) {
      out->traj_id[j] = init->traj_id[j];
      for (long i = 0; i < ns; i++) {
        const long r = out->offset[j] + i;
        out->time[r] = sopts->t0 + (double)steps[i] * h; /* as the solver's grid */
        for (int d = 0; d < D; d++)
          out->z[(size_t)r * D + d] = states[((size_t)i * B + j) * D + d] / scale;
      }
    }
    if (pn_ctx_rank(ctx) == 0) rc = pn_dataset_write_csv(ctx, out, o->path);
    rc = pn_ctx_agree(ctx, rc);
  }
  pn_solver_destroy(&S);
  pn_dataset_destroy(&out);
  free(states);
  free(steps);
  free(z0);
  return rc;
}

static void format_seconds(double s, char *buf, size_t n)
{
  if (!(s >= 0) || !isfinite(s))
    snprintf(buf, n, "?");
  else if (s < 60)
    snprintf(buf, n, "%.1fs", s);
  else if (s < 3600)
    snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
  else
    snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void cli_progress(pn_ctx *ctx, progress *pr, const train_state *st, long total, double seconds,
                  int last)
{
  if (pr->quiet || pn_ctx_rank(ctx) != 0 || st->iteration == 0) return;
  const long it = st->iteration, done = it - st->resumed_from;
  const double now = seconds;
  /* A terminal gets at most ~10 updates a second; a log gets every k-th line. */
  if (!last && (pr->tty ? now - pr->last_print < 0.1 : (it % pr->every != 0 && it != 1))) return;
  pr->last_print = now;
  const double per = done > 0 ? seconds / (double)done : 0.0;
  char eta[32], val[32];
  format_seconds(per * (double)(total - it), eta, sizeof eta);
  /* The most recent validation loss, if any. */
  double v = NAN;
  for (long i = it - 1; i >= 0 && isnan(v); i--) v = st->h_val[i];
  if (isnan(v))
    snprintf(val, sizeof val, "%9s", "-");
  else
    snprintf(val, sizeof val, "%9.3e", v);
  char line[200];
  snprintf(line, sizeof line, "it %*ld/%ld  loss %9.3e  val %s  |g| %9.3e  %.3gs/it  ETA %s",
           (int)snprintf(NULL, 0, "%ld", total), it, total, st->h_loss[it - 1], val,
           st->h_gnorm[it - 1], per, eta);
  if (pr->tty)
    printf("\r%-90s%s", line, last ? "\n" : "");
  else
    printf("%s\n", line);
  fflush(stdout);
}
