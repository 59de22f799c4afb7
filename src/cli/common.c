/* Helpers shared by the subcommands. */
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

int cli_parse_storage(const char *text, pn_solver_opts *opts)
{
  if (strcmp(text, "all") == 0) {
    opts->storage = PN_STORE_ALL;
    return PN_OK;
  }
  char *end = NULL;
  if (strncmp(text, "every:", 6) == 0) {
    const long k = strtol(text + 6, &end, 10);
    if (end != text + 6 && *end == '\0' && k >= 1) {
      opts->storage = PN_STORE_EVERY;
      opts->storage_param = k;
      return PN_OK;
    }
  }
  return PN_ERR_ARG;
}
