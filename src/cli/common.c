/* Helpers shared by the subcommands. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_print(pn_ctx *ctx, const char *fmt, ...)
{
  if (pn_ctx_rank(ctx) != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

int cli_fail(pn_ctx *ctx, const char *cmd, int rc)
{
  if (pn_ctx_rank(ctx) == 0) fprintf(stderr, "pinode %s: %s\n", cmd, pn_ctx_last_error(ctx));
  (void)rc;
  return 1;
}

int cli_agree(pn_ctx *ctx, int rc)
{
  /* The lowest failing rank's code and message go to every rank. */
  const int size = pn_ctx_size(ctx);
  int mine = rc != PN_OK ? pn_ctx_rank(ctx) : size, first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, pn_ctx_comm(ctx));
  if (first == size) return PN_OK;
  char msg[1024];
  int code = rc;
  snprintf(msg, sizeof msg, "%s", pn_ctx_last_error(ctx));
  MPI_Bcast(&code, 1, MPI_INT, first, pn_ctx_comm(ctx));
  MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, pn_ctx_comm(ctx));
  msg[sizeof msg - 1] = '\0';
  if (pn_ctx_rank(ctx) != first) pn_ctx_fail(ctx, code, "%s", msg);
  return code;
}

int cli_membuf_open(pn_ctx *ctx, cli_membuf *m, const char *path)
{
  m->text = NULL;
  m->len = 0;
  m->f = open_memstream(&m->text, &m->len);
  return m->f ? PN_OK : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for %s", path);
}

int cli_membuf_commit(pn_ctx *ctx, cli_membuf *m, const char *path)
{
  const int written = !ferror(m->f);
  const int ok = fclose(m->f) == 0 && written;
  const int rc = ok ? pn_write_file_atomic(ctx, path, m->text, m->len)
                    : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory writing %s", path);
  free(m->text);
  m->text = NULL;
  m->f = NULL;
  return rc;
}

int cli_setup_problem(pn_ctx *ctx, const char *dir, const pn_solver_opts *base, cli_setup *out)
{
  memset(out, 0, sizeof *out);
  int rc = pn_problem_read(ctx, dir, &out->problem);
  if (rc != PN_OK) return rc;
  const pn_problem *p = out->problem;
  if ((rc = pn_model_create_mlp(ctx, &p->spec, &out->model)) != PN_OK) return rc;
  if ((rc = pn_tableau_create(ctx, p->scheme, &out->tab)) != PN_OK) return rc;
  if ((rc = pn_loss_create_mse(ctx, p->nlabels, p->times, p->targets, NULL, p->batch, p->spec.dim,
                               &out->loss)) != PN_OK)
    return rc;
  pn_solver_opts opts = *base;
  opts.t0 = p->t0;
  opts.t1 = p->t1;
  opts.nsteps = p->steps;
  return pn_solver_create(ctx, out->model, out->tab, &opts, &out->solver);
}

void cli_setup_free(cli_setup *s)
{
  pn_solver_destroy(&s->solver);
  pn_loss_destroy(&s->loss);
  pn_tableau_destroy(&s->tab);
  pn_model_destroy(&s->model);
  pn_problem_destroy(&s->problem);
}

/* A positive count after "prefix:", e.g. every:K, binomial:C. */
static int parse_count(const char *text, const char *prefix, long *out)
{
  const size_t n = strlen(prefix);
  if (strncmp(text, prefix, n) != 0) return 0;
  char *end = NULL;
  const long k = strtol(text + n, &end, 10);
  if (end == text + n || *end != '\0' || k < 1 || k == LONG_MAX) return 0;
  *out = k;
  return 1;
}

int cli_parse_long(const char *text, long lo, long hi, long *out)
{
  char *end = NULL;
  const long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

int cli_parse_storage(const char *text, pn_solver_opts *opts)
{
  long k = 0;
  if (strcmp(text, "all") == 0 || strcmp(text, "auto") == 0) {
    opts->storage = text[1] == 'l' ? PN_STORE_ALL : PN_STORE_AUTO;
    opts->storage_param = 0;
  } else if (parse_count(text, "every:", &k)) {
    opts->storage = PN_STORE_EVERY;
    opts->storage_param = k;
  } else if (parse_count(text, "binomial:", &k)) {
    opts->storage = PN_STORE_BINOMIAL;
    opts->storage_param = k;
  } else {
    return PN_ERR_ARG;
  }
  return PN_OK;
}

int cli_parse_parallel_option(int which, const char *value, pn_solver_opts *opts)
{
  char *end = NULL;
  pn_parareal_opts *pr = &opts->parareal;
  switch (which) {
  case 'P':
    return pn_parallel_method_from_name(value, &opts->method);
  case 'I': {
    const long k = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || k < 0 || k > 1000000) return PN_ERR_ARG;
    pr->max_iter = (int)k;
    return PN_OK;
  }
  case 'T':
    pr->tol = strtod(value, &end);
    return *value != '\0' && *end == '\0' && pr->tol >= 0.0 && pr->tol < 1.0 ? PN_OK : PN_ERR_ARG;
  case 'C':
    pr->coarse_steps = strtol(value, &end, 10);
    return *value != '\0' && *end == '\0' && pr->coarse_steps >= 0 ? PN_OK : PN_ERR_ARG;
  case 'A':
    return pn_parareal_adjoint_from_name(value, &pr->adjoint);
  case 'S':
    if (strlen(value) >= sizeof pr->coarse_scheme) return PN_ERR_ARG;
    snprintf(pr->coarse_scheme, sizeof pr->coarse_scheme, "%s", value);
    return PN_OK;
  }
  return PN_ERR_ARG;
}

pn_solver_opts cli_opts_for_batch(const pn_solver_opts *o, int ranks, int batch)
{
  pn_solver_opts fit = *o;
  while (fit.batch_groups > 1 && (fit.batch_groups > batch || ranks % fit.batch_groups != 0))
    fit.batch_groups--;
  return fit;
}

const char *cli_groups_text(const pn_solver_opts *o)
{
  static char text[48];
  text[0] = '\0';
  if (o->batch_groups > 1) snprintf(text, sizeof text, " in %d batch groups", o->batch_groups);
  return text;
}

const char *cli_parallel_option_help(int which, const char *value)
{
  static char text[256];
  const char *what = which == 'P'   ? "--parallel must be pipeline or parareal"
                     : which == 'I' ? "--parareal-iters needs an integer >= 0 (0: the number of ranks)"
                     : which == 'T' ? "--parareal-tol needs a number in [0, 1)"
                     : which == 'C' ? "--coarse-steps needs an integer >= 0 (0: a tenth of the block)"
                     : which == 'A' ? "--parareal-adjoint must be iterate or maps"
                                    : "--coarse-scheme needs a scheme name (e.g. euler, heun, rk4)";
  snprintf(text, sizeof text, "%s, got '%s'", what, value);
  return text;
}

void cli_report_parareal(pn_ctx *ctx, const pn_solver *solver)
{
  pn_stats st;
  pn_solver_get_stats(solver, &st);
  const pn_solver_opts *o = pn_solver_get_opts(solver);
  double t[3] = {st.time_coarse, st.time_adjoint_map, (double)st.fine_sweeps_skipped}, tmax[3];
  MPI_Reduce(t, tmax, 3, MPI_DOUBLE, MPI_MAX, 0, pn_ctx_comm(ctx));
  char hist[400] = "";
  size_t used = 0;
  for (int k = 0; k < st.parareal_iterations && k < PN_PARAREAL_HISTORY && used + 12 < sizeof hist; k++)
    used += (size_t)snprintf(hist + used, sizeof hist - used, "%s%.1e", k ? " " : "",
                             st.parareal_residual[k]);
  char ahist[400] = "";
  used = 0;
  for (int k = 0; k < st.parareal_adjoint_iterations && k < PN_PARAREAL_HISTORY && used + 12 < sizeof ahist; k++)
    used += (size_t)snprintf(ahist + used, sizeof ahist - used, "%s%.1e", k ? " " : "",
                             st.parareal_adjoint_residual[k]);
  if (o->parareal.adjoint == PN_PARAREAL_ADJOINT_MAPS)
    snprintf(ahist, sizeof ahist, "none (affine maps composed by a parallel prefix)");
  cli_print(ctx,
            "parareal: %d iterations (limit %d, tol %.1e), residual per iteration: %s\n"
            "          adjoint (%s): %d iterations, residuals: %s\n"
            "          coarse %s, %ld steps per block; slowest rank: %.3f s in G, %.3f s building "
            "adjoint maps\n",
            st.parareal_iterations, o->parareal.max_iter > 0 ? o->parareal.max_iter : pn_ctx_size(ctx),
            o->parareal.tol, hist, pn_parareal_adjoint_name(o->parareal.adjoint),
            st.parareal_adjoint_iterations, ahist,
            o->parareal.coarse_scheme[0] ? o->parareal.coarse_scheme : "(fine scheme)",
            st.parareal_iterations > 0 ? st.coarse_steps : 0, tmax[0], tmax[1]);
}

static int cmp_double(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double cli_median(double *x, int n)
{
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

double cli_rel_dist(const double *a, const double *b, size_t n)
{
  double d = 0.0, r = 0.0;
  for (size_t i = 0; i < n; i++) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    r += b[i] * b[i];
  }
  return r > 0 ? sqrt(d / r) : sqrt(d);
}
