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

/* 1 if dir exists and holds anything but . and .., 0 if empty, −1 if absent. */
static int dir_state(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d) return -1;
  int any = 0;
  for (struct dirent *e; !any && (e = readdir(d));)
    any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return any;
}

static int outdir_rank0(pn_ctx *ctx, const char *dir, int overwrite, int resume)
{
  struct stat st;
  const int exists = stat(dir, &st) == 0;
  if (resume) {
    char ck[CLI_PATH + 32];
    snprintf(ck, sizeof ck, "%s/checkpoint.pinode", dir);
    if (access(ck, R_OK) != 0)
      return pn_ctx_fail(ctx, PN_ERR_IO, "--resume %s: no checkpoint %s to resume from (%s)", dir,
                         ck, strerror(errno));
    return PN_OK;
  }
  if (exists && !S_ISDIR(st.st_mode))
    return pn_ctx_fail(ctx, PN_ERR_IO, "output directory %s exists and is not a directory", dir);
  if (exists && dir_state(dir) > 0 && !overwrite)
    return pn_ctx_fail(ctx, PN_ERR_IO,
                       "output directory %s already exists and is not empty; nothing was "
                       "overwritten.  Continue its run with --resume %s, choose another one with "
                       "--set output.dir=..., or allow it with --set output.overwrite=true",
                       dir, dir);
  return pn_mkdir_p(ctx, dir);
}

int cli_outdir_prepare(pn_ctx *ctx, const char *dir, int overwrite, int resume)
{
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0) rc = outdir_rank0(ctx, dir, overwrite, resume);
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
                      double scale, long every, const char *path)
{
  const int B = init->ntraj, D = init->dim;
  const long N = sopts->nsteps, nmax = N / every + 2;
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
  if (rc == PN_OK) rc = pn_dataset_create(ctx, D, B, ns, &out);
  if (rc == PN_OK) rc = pn_dataset_set_names(ctx, out, (const char *const *)init->names);
  if (rc == PN_OK && !(states = calloc((size_t)ns * B * D, sizeof(double))))
    rc = pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for %ld x %d predicted states", ns, B);
  for (int j = 0; rc == PN_OK && j < B; j++)
    memcpy(z0 + (size_t)j * D, init->z + (size_t)init->offset[j] * D, sizeof(double) * D);
  const pn_solver_opts fit = cli_opts_for_batch(sopts, pn_ctx_size(ctx), B);
  if (rc == PN_OK) rc = pn_solver_create(ctx, model, tab, &fit, &S);
  if (rc == PN_OK) rc = pn_solver_forward(S, theta, B, z0, (int)ns, steps, states);
  if (rc == PN_OK) {
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
    if (pn_ctx_rank(ctx) == 0) rc = pn_dataset_write_csv(ctx, out, path);
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
