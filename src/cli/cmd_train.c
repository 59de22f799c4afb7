/* pinode train CONFIG: fit a neural ODE to data.  Every rank holds the same θ
 * and applies the same update to the Allreduced gradient; mini-batches come
 * from the same seeded RNG on every rank; so the run is deterministic and
 * can be checkpointed and resumed bitwise. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auto.h"
#include "run.h"

enum { EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };
/* How a run ended: TIMED_OUT when an iteration outlived parallel.timeout. */
enum { FINISHED = 0, INTERRUPTED, DIVERGED, TIMED_OUT };

typedef struct trainer {
  MPI_Comm comm; /* the program's messages */
  pn_ctx *ctx;   /* made from comm */
  const cli_config *cfg;
  cli_problem *p;
  const char *dir;
  pn_solver *S_train, *S_val;
  pn_batch *b_train, *b_val;
  int *members, *scratch;
  double *grad;
  double *opt_saved; /* the optimiser's state before an update that may be undone */
  train_state st;
  train_timers tm;
  progress pr;
  int status;
  char message[1200];
  double final_train, final_val; /* losses over all training / validation trajectories */
  char continue_with[CLI_PATH + 96]; /* the command that continues this run */
  int began; /* the output directory was prepared */
} trainer;

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode train [options] CONFIG\n"
            "       pinode train [options] --resume DIR [CONFIG]\n"
            "\n"
            "Fits a neural ODE to the data of the INI file CONFIG (keys: README, 'Configuration\n"
            "reference', or --list-keys) and writes into output.dir: history.csv, model.pinode,\n"
            "predictions.csv, data.csv, config.ini, summary.json and checkpoint.pinode.\n"
            "Runs on any number of MPI ranks (the time interval is split across them).\n"
            "\n"
            "options:\n"
            "  --set SECTION.KEY=VALUE  override a key of CONFIG (repeatable)\n"
            "  --resume DIR             continue the run in DIR from its checkpoint (bitwise\n"
            "                           the same result as an uninterrupted run); CONFIG may be\n"
            "                           left out: DIR/config.ini, the run's own, is read.  A run\n"
            "                           that stopped before its first checkpoint starts again\n"
            "  --extend                 with --resume: accept an optimizer.iterations other\n"
            "                           than the run's (to train longer, or stop earlier)\n"
            "  --timeout SECONDS        stop when one iteration takes longer (as --set\n"
            "                           parallel.timeout=SECONDS): checkpoint, exit status 1\n"
            "  --quiet                  no progress output\n"
            "  --print-config           print the effective configuration and exit\n"
            "  --list-keys[=markdown]   print every key with its default and exit\n"
            "  -h, --help               this text\n");
  cli_print(ctx, "%s", cli_exit_status_help);
}

/* Every key; as the README's table with "markdown" (a test keeps them equal). */
static void list_keys(pn_ctx *ctx, const char *format)
{
  const int md = format && strcmp(format, "markdown") == 0;
  if (md) cli_print(ctx, "| key | default | accepted values | meaning |\n|---|---|---|---|\n");
  for (int i = 0; i < cli_config_nkeys(); i++) {
    const char *name, *def, *acc, *doc;
    cli_config_key(i, &name, &def, &acc, &doc);
    if (md)
      cli_print(ctx, "| `%s` | %s%s%s | %s | %s |\n", name, def[0] && def[0] != '(' ? "`" : "",
                def[0] ? def : "(empty)", def[0] && def[0] != '(' ? "`" : "", acc, doc);
    else
      cli_print(ctx, "%-28s default %-10s %s (accepted: %s)\n", name, def[0] ? def : "\"\"", doc,
                acc);
  }
}

/* ---- setup ---------------------------------------------------------------- */

static int optim_create(trainer *T)
{
  const cli_config *c = T->cfg;
  pn_optim_opts o;
  pn_optim_opts_default(&o);
  o.method = (pn_optim_method)c->method;
  o.lr = c->lr;
  o.beta1 = c->beta1;
  o.beta2 = c->beta2;
  o.eps = c->eps;
  o.momentum = c->momentum;
  o.nesterov = c->nesterov;
  o.weight_decay = c->weight_decay;
  o.clip_norm = c->clip_norm;
  o.schedule = (pn_lr_schedule)c->schedule;
  o.decay_iterations = c->decay_iterations > 0 ? c->decay_iterations : c->iterations;
  o.decay_rate = c->decay_rate;
  o.lr_min = c->lr_min;
  o.warmup = c->warmup;
  return pn_optim_create(T->ctx, T->p->nparam, &o, &T->st.opt);
}

static int history_alloc(trainer *T)
{
  const size_t n = (size_t)T->cfg->iterations;
  double *h = calloc(5 * n, sizeof(double));
  if (!h) return pn_ctx_fail(T->ctx, PN_ERR_MEM, "out of memory for the loss history");
  T->st.h_loss = h;
  T->st.h_val = h + n;
  T->st.h_gnorm = h + 2 * n;
  T->st.h_lr = h + 3 * n;
  T->st.h_sec = h + 4 * n;
  T->st.cap = (long)n;
  return PN_OK;
}

static int trainer_init(trainer *T)
{
  cli_problem *p = T->p;
  pn_ctx *ctx = T->ctx;
  const double t0 = p->sopts.t0;
  const pn_reduction red = (pn_reduction)T->cfg->reduction;
  T->members = calloc(2 * (size_t)p->ntrain, sizeof(int));
  T->grad = calloc(2 * (size_t)p->nparam, sizeof(double)); /* ∂L/∂θ, then θ before an update */
  T->st.theta = calloc((size_t)p->nparam, sizeof(double));
  if (!T->members || !T->grad || !T->st.theta)
    return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the trainer");
  T->scratch = T->members + p->ntrain;
  memcpy(T->st.theta, p->theta, sizeof(double) * (size_t)p->nparam);
  CLI_TRY(history_alloc(T));
  CLI_TRY(optim_create(T));
  T->opt_saved = calloc(pn_optim_state_size(T->st.opt), sizeof(double));
  if (!T->opt_saved) return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the trainer");
  pn_rng_seed(&T->st.rng, T->cfg->optim_seed);
  CLI_TRY(pn_solver_create(ctx, p->model, p->tab, &p->sopts, &T->S_train));
  CLI_TRY(pn_batch_create(ctx, p->data, p->batch, t0, red, &T->b_train));
  if (p->nval > 0) {
    const pn_solver_opts vopts = cli_opts_for_batch(&p->sopts, pn_ctx_size(ctx), p->nval);
    CLI_TRY(pn_solver_create(ctx, p->model, p->tab, &vopts, &T->S_val));
    CLI_TRY(pn_batch_create(ctx, p->data, p->nval, t0, red, &T->b_val));
    CLI_TRY(pn_batch_set(T->b_val, p->val));
  }
  return PN_OK;
}

static void trainer_free(trainer *T)
{
  pn_solver_destroy(&T->S_train);
  pn_solver_destroy(&T->S_val);
  pn_batch_destroy(&T->b_train);
  pn_batch_destroy(&T->b_val);
  pn_optim_destroy(&T->st.opt);
  free(T->members);
  free(T->grad);
  free(T->opt_saved);
  free(T->st.theta);
  free(T->st.h_loss);
}

/* ---- one iteration ------------------------------------------------------------ */

/* A failure that means the training diverged (not a bug or a bad input). */
static int diverged(trainer *T, int rc, const char *what)
{
  if (rc != PN_ERR_NONFINITE) return rc;
  T->status = DIVERGED;
  snprintf(T->message, sizeof T->message, "training diverged at iteration %ld (%s): %s",
           T->st.iteration + 1, what, pn_ctx_last_error(T->ctx));
  return PN_OK;
}

static void add_solver_stats(trainer *T, const pn_solver *S)
{
  pn_stats s;
  pn_solver_get_stats(S, &s);
  T->tm.forward += s.time_forward;
  T->tm.backward += s.time_backward;
  T->tm.wait += s.time_wait;
  T->tm.rhs += s.rhs_evals;
  T->tm.vjp += s.vjp_evals;
}

/* Newton's sweeps of a training gradient (the validation solves are
 * losses: not counted). */
static void add_newton_stats(trainer *T, const pn_solver *S)
{
  if (pn_solver_get_opts(S)->method != PN_PARALLEL_NEWTON || pn_ctx_size(T->ctx) == 1) return;
  pn_stats s;
  pn_solver_get_stats(S, &s);
  T->tm.newton_gradients++;
  T->tm.newton_sweeps += s.newton_iterations;
  T->tm.newton_coarse_sweeps += s.newton_coarse_iterations;
  T->tm.newton_warm += s.newton_warm;
  if (s.newton_fallback != PN_NEWTON_NO_FALLBACK && T->tm.newton_fallbacks++ == 0 &&
      pn_ctx_rank(T->ctx) == 0) /* said once; summary.json counts them all */
    fprintf(stderr, "pinode train: warning: Newton shooting fell back to the pipeline at "
                    "iteration %ld (%s); the gradients stay exact\n",
            T->st.iteration + 1, pn_newton_fallback_text(s.newton_fallback));
  T->tm.newton_last = s;
}

/* Whether this iteration ends with a validation pass. */
static int validation_due(const trainer *T)
{
  const long it = T->st.iteration + 1;
  return T->S_val && (it % T->cfg->validate_every == 0 || it == T->cfg->iterations);
}

static int validate(trainer *T, double *val)
{
  *val = NAN;
  if (!validation_due(T)) return PN_OK;
  const double t = MPI_Wtime();
  const int rc = pn_solver_loss(T->S_val, T->st.theta, T->p->nval, pn_batch_z0(T->b_val),
                                pn_batch_loss(T->b_val), val);
  add_solver_stats(T, T->S_val);
  T->tm.validation += MPI_Wtime() - t;
  return rc;
}

/* A solver call that returned PN_ERR_INTERRUPTED: a signal or the watchdog
 * (the same verdict on every rank) ends the run after the last completed
 * iteration.  Other codes are returned as they are. */
static int stopped(trainer *T, int rc, const char *during)
{
  if (rc != PN_ERR_INTERRUPTED) return rc;
  if (cli_stop_reason(T->comm) == CLI_STOP_SIGNAL) {
    T->status = INTERRUPTED;
    snprintf(T->message, sizeof T->message, "stopped by a signal during %s; the last completed "
             "iteration is %ld", during, T->st.iteration);
  } else {
    T->status = TIMED_OUT;
    snprintf(T->message, sizeof T->message,
             "iteration %ld took longer than its timeout of %g s (parallel.timeout), in %s: "
             "stopped; the last completed iteration is %ld",
             T->st.iteration + 1, T->cfg->timeout, during, T->st.iteration);
  }
  return PN_OK;
}

/* One update.  An iteration a signal or the watchdog stops is undone
 * whole (the mini-batch draw, θ and the optimiser's state), so that the
 * checkpoint written next holds the last completed iteration and a resume
 * continues as the run would have. */
static int iterate(trainer *T)
{
  const cli_config *c = T->cfg;
  cli_problem *p = T->p;
  train_state *st = &T->st;
  const double t_start = MPI_Wtime();
  const pn_rng rng_before = st->rng;
  pn_draw_batch(&st->rng, p->train, p->ntrain, p->batch, T->members, T->scratch);
  CLI_TRY(pn_batch_set(T->b_train, T->members));
  double loss = NAN, val = NAN;
  int rc = pn_solver_gradient_method(T->S_train, (pn_adjoint_kind)c->adjoint,
                                     (pn_sweep_mode)c->sweep, st->theta, p->batch,
                                     pn_batch_z0(T->b_train), pn_batch_loss(T->b_train), &loss,
                                     T->grad, NULL);
  add_solver_stats(T, T->S_train);
  add_newton_stats(T, T->S_train);
  const double t_grad = MPI_Wtime();
  T->tm.gradient += t_grad - t_start;
  if (rc == PN_ERR_INTERRUPTED) st->rng = rng_before;
  if (rc != PN_OK) return rc == PN_ERR_INTERRUPTED ? stopped(T, rc, "the gradient")
                                                   : diverged(T, rc, "gradient");
  if (!isfinite(loss))
    return diverged(T, pn_ctx_fail(T->ctx, PN_ERR_NONFINITE, "the loss is %g", loss), "loss");
  pn_optim_info info;
  /* An update that fails, or whose θ makes the validation diverge, is undone:
   * model.pinode must hold the weights of the last good iteration. */
  double *theta_prev = T->grad + p->nparam;
  const size_t bytes = sizeof(double) * (size_t)p->nparam;
  memcpy(theta_prev, st->theta, bytes);
  const int validating = validation_due(T);
  if (validating) CLI_TRY(pn_optim_get_state(st->opt, T->opt_saved));
  rc = pn_optim_step(st->opt, st->theta, T->grad, &info);
  T->tm.optimizer += MPI_Wtime() - t_grad;
  const char *what_failed = "update";
  if (rc == PN_OK) {
    what_failed = "validation";
    rc = validate(T, &val);
  }
  if (rc == PN_ERR_INTERRUPTED) {
    memcpy(st->theta, theta_prev, bytes);
    CLI_TRY(pn_optim_set_state(st->opt, T->opt_saved, pn_optim_state_size(st->opt)));
    st->rng = rng_before;
    return stopped(T, rc, "the validation");
  }
  if (rc != PN_OK) {
    memcpy(st->theta, theta_prev, bytes);
    return diverged(T, rc, what_failed);
  }
  const long i = st->iteration++;
  st->h_loss[i] = loss;
  st->h_val[i] = val;
  st->h_gnorm[i] = info.grad_norm;
  st->h_lr[i] = info.lr;
  st->h_sec[i] = MPI_Wtime() - t_start;
  return PN_OK;
}

static int checkpoint(trainer *T)
{
  char path[CLI_PATH + 32];
  const double t = MPI_Wtime();
  snprintf(path, sizeof path, "%s/checkpoint.pinode", T->dir);
  const int rc = cli_model_write(T->ctx, T->cfg, T->p, &T->st, 1, path);
  T->tm.checkpoint += MPI_Wtime() - t;
  return rc;
}

/* Every rank must hold the same θ (same updates of the same Allreduced
 * gradient); a cheap check at each checkpoint catches a violation early. */
static int check_replicated(trainer *T)
{
  double s[2] = {0, 0}, lo[2], hi[2];
  for (int i = 0; i < T->p->nparam; i++) {
    s[0] += T->st.theta[i];
    s[1] += (double)(i % 7 + 1) * T->st.theta[i];
  }
  MPI_Allreduce(s, lo, 2, MPI_DOUBLE, MPI_MIN, T->comm);
  MPI_Allreduce(s, hi, 2, MPI_DOUBLE, MPI_MAX, T->comm);
  if (memcmp(lo, hi, sizeof lo) == 0) return PN_OK;
  return pn_ctx_fail(T->ctx, PN_ERR_STATE,
                     "the ranks' parameters differ at iteration %ld (checksums %.17g vs %.17g): "
                     "the gradient was not identical on every rank",
                     T->st.iteration, lo[0], hi[0]);
}

/* One pass of the loop: the signal check, the iteration, its progress line
 * and checkpoint.  T->status says whether the run goes on. */
static int loop_step(trainer *T, double t0)
{
  const cli_config *c = T->cfg;
  if (cli_signal_agree(T->comm)) {
    T->status = INTERRUPTED;
    snprintf(T->message, sizeof T->message, "stopped by a signal after iteration %ld",
             T->st.iteration);
    return PN_OK;
  }
  CLI_TRY(iterate(T));
  if (T->status != FINISHED) return PN_OK;
  const int last = T->st.iteration == c->iterations;
  cli_progress(T->ctx, &T->pr, &T->st, c->iterations, MPI_Wtime() - t0, last);
  if (c->checkpoint_every > 0 && T->st.iteration % c->checkpoint_every == 0 && !last) {
    CLI_TRY(check_replicated(T));
    CLI_TRY(checkpoint(T));
  }
  return PN_OK;
}

/* Each pass runs under the watchdog (parallel.timeout): its solver calls stop
 * at the deadline, and a rank stopped anywhere in it (a collective of the
 * checkpoint included) cannot keep the others waiting. */
static int train_loop(trainer *T)
{
  const double t0 = MPI_Wtime();
  while (T->st.iteration < T->cfg->iterations && T->status == FINISHED) {
    char what[64];
    snprintf(what, sizeof what, "iteration %ld", T->st.iteration + 1);
    cli_watchdog_start(T->cfg->timeout, what, pn_ctx_rank(T->ctx));
    const int rc = loop_step(T, t0);
    cli_watchdog_stop();
    CLI_TRY(rc);
  }
  if (T->status != FINISHED && T->pr.tty && !T->pr.quiet && pn_ctx_rank(T->ctx) == 0)
    printf("\n");
  return PN_OK;
}

/* ---- the end of a run ------------------------------------------------------------ */

/* Loss over every training trajectory (the mini-batch loss is noisy) and over
 * the validation trajectories, at the final θ. */
static int final_losses(trainer *T)
{
  cli_problem *p = T->p;
  pn_batch *all = NULL;
  pn_solver *S = NULL;
  T->final_val = NAN;
  int rc = pn_batch_create(T->ctx, p->data, p->ntrain, p->sopts.t0,
                           (pn_reduction)T->cfg->reduction, &all);
  if (rc == PN_OK) rc = pn_batch_set(all, p->train);
  if (rc == PN_OK) rc = pn_solver_create(T->ctx, p->model, p->tab, &p->sopts, &S);
  if (rc == PN_OK)
    rc = pn_solver_loss(S, T->st.theta, p->ntrain, pn_batch_z0(all), pn_batch_loss(all),
                        &T->final_train);
  if (rc == PN_OK && T->S_val)
    rc = pn_solver_loss(T->S_val, T->st.theta, p->nval, pn_batch_z0(T->b_val),
                        pn_batch_loss(T->b_val), &T->final_val);
  pn_solver_destroy(&S);
  pn_batch_destroy(&all);
  if (rc == PN_ERR_NONFINITE) { /* the final model blows up on some trajectory */
    T->final_train = NAN;
    rc = PN_OK;
  }
  return rc;
}

static void gather_summary_numbers(trainer *T, double *rss_mb, double *mx, long *cnt)
{
  struct rusage ru;
  double mine = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
  MPI_Gather(&mine, 1, MPI_DOUBLE, rss_mb, 1, MPI_DOUBLE, 0, T->comm);
  const double local[3] = {T->tm.forward, T->tm.backward, T->tm.wait};
  MPI_Reduce(local, mx, 3, MPI_DOUBLE, MPI_MAX, 0, T->comm);
  const long lc[2] = {T->tm.rhs, T->tm.vjp};
  MPI_Reduce(lc, cnt, 2, MPI_LONG, MPI_SUM, 0, T->comm);
}

static void write_config_json(json_writer *w, const cli_config *cfg)
{
  json_open(w, "config", '{');
  char section[32] = "";
  for (int i = 0; i < cli_config_nkeys(); i++) {
    const char *name, *def, *acc, *doc;
    cli_config_key(i, &name, &def, &acc, &doc);
    const size_t len = (size_t)(strchr(name, '.') - name);
    if (strncmp(section, name, len) != 0 || section[len] != '\0') {
      if (section[0]) json_close(w, '}');
      snprintf(section, sizeof section, "%.*s", (int)len, name);
      json_open(w, section, '{');
    }
    json_string(w, name + len + 1, cfg->value[i]);
  }
  if (section[0]) json_close(w, '}');
  json_close(w, '}');
}

/* Newton's sweeps over the run: the mean per training gradient, warm starts
 * and fallbacks, and the last gradient's defects. */
static void write_newton_json(json_writer *w, const train_timers *tm)
{
  const double n = (double)tm->newton_gradients;
  const pn_stats *last = &tm->newton_last;
  json_open(w, "newton", '{');
  json_int(w, "gradients", tm->newton_gradients);
  json_number(w, "sweeps_per_gradient", (double)tm->newton_sweeps / n);
  json_number(w, "coarse_sweeps_per_gradient", (double)tm->newton_coarse_sweeps / n);
  json_int(w, "warm_starts", tm->newton_warm);
  json_int(w, "fallbacks", tm->newton_fallbacks);
  json_open(w, "last_defects", '[');
  for (int k = 0; k < last->newton_iterations && k < PN_PARAREAL_HISTORY; k++)
    json_number(w, NULL, last->newton_defect[k]);
  json_close(w, ']');
  json_close(w, '}');
}

static void write_summary_json(trainer *T, FILE *f, const double *rss, const double *mx,
                               const long *cnt)
{
  static const char *const status[] = {"finished", "interrupted", "diverged", "timed_out"};
  const cli_problem *p = T->p;
  const cli_config *c = T->cfg;
  const double rmse = c->reduction == PN_REDUCE_MEAN ? 1.0 / c->scale : NAN;
  json_writer w = {f, 0, {0}};
  json_open(&w, NULL, '{');
  json_string(&w, "pinode_version", PN_VERSION_STRING);
  json_string(&w, "config_file", c->path);
  json_string(&w, "status", status[T->status]);
  json_string(&w, "message", T->message);
  json_int(&w, "ranks", pn_ctx_size(T->ctx));
  json_open(&w, "parallel", '{'); /* the layout the run used */
  json_string(&w, "method", pn_parallel_method_name(p->sopts.method));
  json_int(&w, "batch_groups", p->sopts.batch_groups > 1 ? p->sopts.batch_groups : 1);
  json_int(&w, "microbatches", p->sopts.microbatches);
  json_bool(&w, "chosen_by_auto", c->parallel_method == CLI_PARALLEL_AUTO);
  json_close(&w, '}');
  json_string(&w, "scheme", c->scheme);
  json_string(&w, "adjoint", pn_adjoint_kind_name((pn_adjoint_kind)c->adjoint));
  json_int(&w, "steps", p->sopts.nsteps);
  json_number(&w, "t0", p->sopts.t0);
  json_number(&w, "t1", p->sopts.t1);
  json_int(&w, "parameters", p->nparam);
  json_int(&w, "train_trajectories", p->ntrain);
  json_int(&w, "validation_trajectories", p->nval);
  json_open(&w, "validation_ids", '[');
  for (int i = 0; i < p->nval; i++) json_int(&w, NULL, p->data->traj_id[p->val[i]]);
  json_close(&w, ']');
  json_int(&w, "batch", p->batch);
  json_int(&w, "iterations_requested", c->iterations);
  json_int(&w, "iterations_done", T->st.iteration);
  json_int(&w, "resumed_from", T->st.resumed_from);
  json_open(&w, "final", '{');
  json_number(&w, "train_loss", T->final_train);
  json_number(&w, "validation_loss", T->final_val);
  json_number(&w, "train_rmse", sqrt(T->final_train) * rmse);
  json_number(&w, "validation_rmse", sqrt(T->final_val) * rmse);
  json_number(&w, "last_batch_loss", T->st.iteration ? T->st.h_loss[T->st.iteration - 1] : NAN);
  json_close(&w, '}');
  json_open(&w, "timings_seconds", '{');
  json_number(&w, "total", T->tm.total);
  json_number(&w, "setup", T->tm.setup);
  json_number(&w, "gradient", T->tm.gradient);
  json_number(&w, "optimizer", T->tm.optimizer);
  json_number(&w, "validation", T->tm.validation);
  json_number(&w, "checkpoint", T->tm.checkpoint);
  json_number(&w, "prediction", T->tm.prediction);
  json_number(&w, "solver_forward_max_rank", mx[0]);
  json_number(&w, "solver_backward_max_rank", mx[1]);
  json_number(&w, "solver_wait_max_rank", mx[2]);
  json_close(&w, '}');
  json_number(&w, "seconds_per_iteration", T->st.iteration ? T->tm.total / T->st.iteration : NAN);
  json_int(&w, "rhs_evaluations", cnt[0]);
  json_int(&w, "vjp_evaluations", cnt[1]);
  if (T->tm.newton_gradients > 0) write_newton_json(&w, &T->tm);
  json_open(&w, "peak_rss_mb_per_rank", '[');
  for (int r = 0; r < pn_ctx_size(T->ctx); r++) json_number(&w, NULL, rss[r]);
  json_close(&w, ']');
  write_config_json(&w, c);
  json_close(&w, '}');
}

static int write_summary(trainer *T)
{
  const int P = pn_ctx_size(T->ctx);
  double *rss = calloc((size_t)P, sizeof(double)), mx[3] = {0, 0, 0};
  long cnt[2] = {0, 0};
  if (!rss) return pn_ctx_fail(T->ctx, PN_ERR_MEM, "out of memory for the summary");
  gather_summary_numbers(T, rss, mx, cnt);
  int rc = PN_OK;
  if (pn_ctx_rank(T->ctx) == 0) {
    char path[CLI_PATH + 32];
    snprintf(path, sizeof path, "%s/summary.json", T->dir);
    cli_membuf m;
    rc = cli_membuf_open(T->ctx, &m, path);
    if (rc == PN_OK) {
      write_summary_json(T, m.f, rss, mx, cnt);
      rc = cli_membuf_commit(T->ctx, &m, path);
    }
  }
  free(rss);
  return pn_ctx_agree(T->ctx, rc);
}

/* The final passes (losses over every trajectory, predictions) are left out
 * after a signal or a timeout, which must end the run promptly; a signal
 * during them ends it the same way. */
static int stopping(const trainer *T) { return T->status == INTERRUPTED || T->status == TIMED_OUT; }

static int final_pass_stopped(trainer *T, int rc, const char *what)
{
  if (rc != PN_ERR_INTERRUPTED || T->status != FINISHED) return rc;
  CLI_TRY(stopped(T, rc, what));
  if (T->status == TIMED_OUT) T->status = INTERRUPTED; /* no watchdog here: a signal */
  return PN_OK;
}

/* Model, history, predictions, summary; a final checkpoint unless diverged
 * (then the last good checkpoint stays, and model.pinode holds the last good
 * θ: a failed iteration never changes θ). */
static int finish(trainer *T, double t_begin)
{
  char path[CLI_PATH + 32];
  if (T->status != DIVERGED) CLI_TRY(checkpoint(T));
  snprintf(path, sizeof path, "%s/model.pinode", T->dir);
  CLI_TRY(cli_model_write(T->ctx, T->cfg, T->p, &T->st, 0, path));
  CLI_TRY(cli_write_history(T->ctx, T->dir, &T->st));
  T->final_train = T->final_val = NAN;
  if (!stopping(T)) CLI_TRY(final_pass_stopped(T, final_losses(T), "the final losses"));
  const double t = MPI_Wtime();
  if (!stopping(T)) {
    snprintf(path, sizeof path, "%s/%s", T->dir, T->cfg->predictions);
    const cli_predict_out o = {path, "model.pinode", T->cfg->predict_every, (int)T->cfg->compress};
    int rc = cli_predict_write(T->ctx, T->p->model, T->p->tab, &T->p->sopts, T->st.theta,
                               T->p->data, T->cfg->scale, &o);
    if (rc == PN_ERR_NONFINITE && T->status == DIVERGED) rc = PN_OK; /* nothing to predict */
    CLI_TRY(final_pass_stopped(T, rc, "the predictions"));
  }
  /* predictions of an earlier θ (a run extended past its end) must not
   * stand next to this model */
  if (stopping(T)) CLI_TRY(cli_remove_output(T->ctx, T->dir, T->cfg->predictions));
  T->tm.prediction = MPI_Wtime() - t;
  T->tm.total = MPI_Wtime() - t_begin;
  return write_summary(T);
}

static void report(trainer *T)
{
  const cli_config *c = T->cfg;
  if (T->status == DIVERGED) {
    char ckpt[CLI_PATH + 32];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.pinode", T->dir);
    const int kept = access(ckpt, F_OK) == 0; /* none yet if it diverged before the first */
    if (pn_ctx_rank(T->ctx) == 0)
      fprintf(stderr,
              "pinode train: %s\nThe last good weights (iteration %ld) are in %s/model.pinode; "
              "%s.  Try a smaller optimizer.lr or optimizer.clip_norm.\n",
              T->message, T->st.iteration, T->dir,
              kept ? "the last good checkpoint is kept"
                   : "no checkpoint had been written yet (output.checkpoint_every)");
    return;
  }
  if (T->status == TIMED_OUT) {
    if (pn_ctx_rank(T->ctx) == 0)
      fprintf(stderr, "pinode train: %s; its checkpoint is written.\ncontinue with: %s\n",
              T->message, T->continue_with);
    return;
  }
  if (T->status == INTERRUPTED && !T->began) {
    cli_print(T->ctx, "%s; run the same command again\n", T->message);
    return;
  }
  if (T->status == INTERRUPTED) /* said even when quiet: the job's log needs it */
    cli_print(T->ctx, "%s; its checkpoint is written\n", T->message);
  if (T->pr.quiet && T->status == FINISHED) return;
  if (!T->pr.quiet) {
    cli_print(T->ctx, "%s: %ld iterations on %d rank(s) in %.2f s (gradient %.2f s)\n",
              T->status == INTERRUPTED ? "interrupted" : "finished", T->st.iteration,
              pn_ctx_size(T->ctx), T->tm.total, T->tm.gradient);
    const double u = c->reduction == PN_REDUCE_MEAN ? 1.0 / c->scale : NAN;
    if (T->status == FINISHED)
      cli_print(T->ctx, "final loss: train %.4e (rmse %.3e), validation %.4e (rmse %.3e)\n",
                T->final_train, sqrt(T->final_train) * u, T->final_val, sqrt(T->final_val) * u);
    cli_print(T->ctx, "outputs in %s/ (model.pinode, history.csv, %s%ssummary.json)\n", T->dir,
              T->status == FINISHED ? c->predictions : "", T->status == FINISHED ? ", " : "");
  }
  if (T->status == INTERRUPTED) cli_print(T->ctx, "continue with: %s\n", T->continue_with);
}

/* ---- the command ------------------------------------------------------------------ */

/* Whether progress may be one updating line.  Under mpiexec (Open MPI, MPICH's
 * Hydra) a rank's stdout is a pseudo-terminal even when mpiexec's own output
 * goes to a file, so there the answer cannot be known and plain lines are
 * printed: they read well on a terminal too. */
static int stdout_is_terminal(void)
{
  static const char *const launcher_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
  for (int i = 0; i < 3; i++)
    if (getenv(launcher_vars[i])) return 0;
  return isatty(STDOUT_FILENO);
}

typedef struct train_args {
  const char *config, *resume;
  char *sets[257]; /* 256 --set, and --timeout's */
  int nsets, quiet, print_config, extend;
  char timeout_set[64];        /* "parallel.timeout=S" */
  char own_config[CLI_PATH + 16]; /* DIR/config.ini when --resume DIR has no CONFIG */
} train_args;

/* Returns −1 to go on, or an exit status. */
static int parse_args(pn_ctx *ctx, int argc, char **argv, train_args *a)
{
  static const struct option longopts[] = {{"set", required_argument, NULL, 's'},
                                           {"resume", required_argument, NULL, 'r'},
                                           {"extend", no_argument, NULL, 'e'},
                                           {"timeout", required_argument, NULL, 't'},
                                           {"quiet", no_argument, NULL, 'q'},
                                           {"print-config", no_argument, NULL, 'p'},
                                           {"list-keys", optional_argument, NULL, 'l'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  memset(a, 0, sizeof *a);
  optind = 1;
  opterr = pn_ctx_rank(ctx) == 0;
  for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
    switch (c) {
    case 's':
      if (a->nsets == 256) {
        cli_print(ctx, "pinode train: at most 256 --set options\n");
        return EXIT_USAGE;
      }
      a->sets[a->nsets++] = optarg;
      break;
    case 'r': a->resume = optarg; break;
    case 'e': a->extend = 1; break;
    case 't': {
      double sec = 0;
      if (!cli_parse_double(optarg, &sec) || !(sec > 0) || sec > 1e9) {
        cli_print(ctx, "pinode train: --timeout needs a number of seconds in (0, 1e9], got "
                       "'%s'\n", optarg);
        return EXIT_USAGE;
      }
      snprintf(a->timeout_set, sizeof a->timeout_set, "parallel.timeout=%.17g", sec);
      break;
    }
    case 'q': a->quiet = 1; break;
    case 'p': a->print_config = 1; break;
    case 'l': list_keys(ctx, optarg); return 0;
    case 'h': usage(ctx); return 0;
    default: usage(ctx); return EXIT_USAGE;
    }
  }
  if (a->extend && !a->resume) {
    cli_print(ctx, "pinode train: --extend goes with --resume DIR\n");
    return EXIT_USAGE;
  }
  /* after every --set: it wins over a parallel.timeout of theirs */
  if (a->timeout_set[0]) a->sets[a->nsets++] = a->timeout_set;
  if (argc - optind == 0 && a->resume) { /* the run's own configuration */
    snprintf(a->own_config, sizeof a->own_config, "%.*s/config.ini", CLI_PATH, a->resume);
    a->config = a->own_config;
    return -1;
  }
  if (argc - optind != 1) {
    usage(ctx);
    return cli_usage_error(ctx, "train", "one CONFIG expected, got %d argument%s", argc - optind,
                           argc - optind == 1 ? "" : "s");
  }
  a->config = argv[optind];
  return -1;
}

/* parallel.method = auto: the layout of the checkpoint when resuming on as
 * many ranks (the run goes on as it began), else the one the model
 * predicts fastest for a mini-batch of this problem on these ranks. */
static int choose_layout(trainer *T, const train_args *a)
{
  cli_problem *p = T->p;
  if (a->resume) {
    char path[CLI_PATH + 32];
    int found = 0;
    snprintf(path, sizeof path, "%s/checkpoint.pinode", a->resume);
    if (!cli_is_regular_file(T->comm, path)) return PN_OK; /* the resume fails, saying why */
    CLI_TRY(cli_checkpoint_layout(T->ctx, path, &p->sopts, &found));
    if (found) {
      if (!a->quiet)
        cli_print(T->ctx, "parallel auto: the checkpoint's layout, method = %s, batch_groups = "
                          "%d, microbatches = %d\n",
                  pn_parallel_method_name(p->sopts.method), p->sopts.batch_groups,
                  p->sopts.microbatches);
      return PN_OK;
    }
  }
  const pn_dataset *ds = p->data;
  const int D = ds->dim;
  double *z0 = calloc((size_t)p->batch * (size_t)D, sizeof(double));
  if (!z0) return pn_ctx_fail(T->ctx, PN_ERR_MEM, "out of memory for the initial states");
  for (int b = 0; b < p->batch; b++) /* the first mini-batch's size, the first trajectories */
    memcpy(z0 + (size_t)b * D, ds->z + (size_t)ds->offset[p->train[b]] * D,
           sizeof(double) * (size_t)D);
  pn_problem view = {.spec = p->spec, .batch = p->batch, .t0 = p->sopts.t0, .t1 = p->sopts.t1,
                     .steps = p->sopts.nsteps, .nparam = p->nparam, .theta = p->theta, .z0 = z0};
  snprintf(view.scheme, sizeof view.scheme, "%.*s", (int)sizeof view.scheme - 1,
           pn_tableau_name(p->tab)); /* a scheme name: it fits */
  const cli_auto_request req = {&view,
                                T->cfg->adjoint == PN_ADJOINT_DISCRETE &&
                                    T->cfg->sweep == PN_SWEEP_MULTI,
                                a->quiet, CLI_AUTO_KEYS, "train"};
  const int rc = cli_auto_choose(T->comm, T->ctx, &req, &p->sopts);
  free(z0);
  return rc;
}

/* The command that continues this run where it stops: its own saved
 * configuration (DIR/config.ini: every --set, the timeout and the number of
 * iterations included) on as many ranks. */
static void set_continue_command(trainer *T)
{
  const int P = pn_ctx_size(T->ctx);
  char launch[48] = "";
  if (P > 1) snprintf(launch, sizeof launch, "mpiexec -n %d ", P);
  snprintf(T->continue_with, sizeof T->continue_with, "%spinode train --resume %.*s", launch,
           CLI_PATH, T->dir);
}

static int stop_now(void *user)
{
  (void)user;
  return 1;
}

/* The memory a gradient and a validation pass need, checked before the
 * output directory is touched: each solver is prepared for a mini-batch
 * (the first training trajectories; the validation set) by a call that the
 * poll stops at its first step.  A refusal (solver.memory_limit_mb, or no
 * memory) comes back as the call's error. */
static int check_memory(trainer *T)
{
  cli_problem *p = T->p;
  int rc = pn_batch_set(T->b_train, p->train);
  pn_ctx_set_interrupt(T->ctx, stop_now, NULL);
  double loss = 0.0;
  if (rc == PN_OK)
    rc = pn_solver_gradient_method(T->S_train, (pn_adjoint_kind)T->cfg->adjoint,
                                   (pn_sweep_mode)T->cfg->sweep, T->st.theta, p->batch,
                                   pn_batch_z0(T->b_train), pn_batch_loss(T->b_train), &loss,
                                   T->grad, NULL);
  if (rc == PN_ERR_INTERRUPTED && T->S_val)
    rc = pn_solver_loss(T->S_val, T->st.theta, p->nval, pn_batch_z0(T->b_val),
                        pn_batch_loss(T->b_val), &loss);
  pn_ctx_set_interrupt(T->ctx, cli_interrupt_poll, NULL);
  return rc == PN_ERR_INTERRUPTED ? PN_OK : rc;
}

/* Everything that can be wrong with the configuration, the data or the
 * memory the training needs is found before the output directory is
 * touched. */
static int setup(trainer *T, const train_args *a)
{
  CLI_TRY(cli_problem_build(T->ctx, T->cfg, T->p));
  if (T->cfg->parallel_method == CLI_PARALLEL_AUTO) CLI_TRY(choose_layout(T, a));
  CLI_TRY(trainer_init(T));
  return check_memory(T);
}

/* Prepare the output directory and the state training starts from. */
static int start_state(trainer *T, const train_args *a)
{
  pn_ctx *ctx = T->ctx;
  const cli_config *cfg = T->cfg;
  cli_outdir_state state;
  CLI_TRY(cli_outdir_prepare(T->comm, ctx, T->dir, cfg->overwrite, a->resume != NULL, &state));
  if (state == CLI_OUTDIR_CHECKPOINT) {
    char path[CLI_PATH + 32];
    snprintf(path, sizeof path, "%s/checkpoint.pinode", a->resume);
    CLI_TRY(cli_checkpoint_load(ctx, path, cfg, T->p, &T->st, a->extend));
    cli_print(ctx, "resuming %s at iteration %ld of %ld\n", a->resume, T->st.iteration,
              cfg->iterations);
  } else if (state == CLI_OUTDIR_RESTART) {
    cli_print(ctx, "%s holds a run that stopped before its first checkpoint: starting it again "
                   "from iteration 0\n", T->dir);
  } else if (state == CLI_OUTDIR_OVERWRITTEN && !a->quiet) {
    cli_print(ctx, "%s: the previous run's files were removed (output.overwrite = true)\n",
              T->dir);
  }
  return cli_write_inputs(ctx, T->dir, cfg, T->p);
}

static int run(pn_ctx *ctx, const train_args *a, const cli_config *cfg, trainer *T)
{
  const double t_begin = MPI_Wtime();
  T->dir = a->resume ? a->resume : cfg->dir;
  set_continue_command(T);
  int rc = setup(T, a);
  if (rc == PN_ERR_INTERRUPTED || (rc == PN_OK && cli_signal_agree(T->comm))) {
    T->status = INTERRUPTED;
    snprintf(T->message, sizeof T->message,
             "stopped by a signal before training began: nothing was written");
    return PN_OK;
  }
  CLI_TRY(rc);
  CLI_TRY(start_state(T, a));
  T->began = 1;
  T->tm.setup = MPI_Wtime() - t_begin;
  if (!a->quiet)
    cli_print(ctx, "%s: %d trajectories (%d train, %d validation) of D = %d, %d parameters, %s "
                   "with %ld steps on [%g, %g], %d rank(s)%s\n",
              cfg->path, T->p->data->ntraj, T->p->ntrain, T->p->nval, T->p->data->dim,
              T->p->nparam, cfg->scheme, T->p->sopts.nsteps, T->p->sopts.t0, T->p->sopts.t1,
              pn_ctx_size(ctx), cli_groups_text(&T->p->sopts));
  rc = train_loop(T);
  if (rc == PN_OK) rc = finish(T, t_begin);
  return rc;
}

static int train_command(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv)
{
  train_args a;
  const int status = parse_args(ctx, argc, argv, &a);
  if (status >= 0) return status;
  cli_config *cfg = calloc(1, sizeof *cfg);
  cli_problem p;
  memset(&p, 0, sizeof p);
  trainer T;
  memset(&T, 0, sizeof T);
  T.comm = comm;
  T.ctx = ctx;
  T.cfg = cfg;
  T.p = &p;
  T.st.resumed_from = 0;
  int rc = cfg ? cli_config_load(ctx, a.config, a.nsets, a.sets, cfg)
               : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the configuration");
  if (rc == PN_OK && a.print_config) {
    if (pn_ctx_rank(ctx) == 0) cli_config_print(cfg, stdout);
  } else if (rc == PN_OK) {
    T.pr = (progress){stdout_is_terminal(), a.quiet, cfg->log_every, -1e9};
    rc = run(ctx, &a, cfg, &T);
    if (rc == PN_OK) report(&T);
  }
  trainer_free(&T);
  cli_problem_free(&p);
  free(cfg);
  if (rc != PN_OK) return cli_fail(ctx, "train", rc);
  return T.status == INTERRUPTED ? EXIT_INTERRUPTED : T.status != FINISHED ? 1 : 0;
}

/* The signal handlers come first, so that no SIGTERM finds the default action
 * (death, leaving a directory half written), and stay until every output is
 * written: a signal during the final writes only sets the flag.  Every solver
 * call polls it (and the watchdog). */
int cmd_train(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv)
{
  cli_signals_install();
  pn_ctx_set_interrupt(ctx, cli_interrupt_poll, NULL);
  const int status = train_command(comm, ctx, argc, argv);
  pn_ctx_set_interrupt(ctx, NULL, NULL);
  cli_signals_restore();
  return status;
}
