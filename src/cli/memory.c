/* The --memory budget and the storage report of pinode gradient. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "memory.h"

int cli_parse_size(const char *text, size_t *bytes_out)
{
  char *end = NULL;
  errno = 0;
  const double x = strtod(text, &end);
  if (end == text || errno != 0 || !(x > 0) || !isfinite(x)) return PN_ERR_ARG;
  static const char units[] = "KMGT";
  double scale = 1.0;
  const char *u = *end ? strchr(units, *end) : NULL;
  if (u) {
    for (const char *v = units; v <= u; v++) scale *= 1024.0;
    end++;
    if (strcmp(end, "iB") == 0) end += 2;
  }
  if (strcmp(end, "B") == 0) end++;
  const double bytes = x * scale;
  if (*end != '\0' || bytes < 1.0 || bytes > 4611686018427387904.0) return PN_ERR_ARG;
  *bytes_out = (size_t)bytes;
  return PN_OK;
}

/* A "Name: N kB" line of /proc/self/status in bytes, 0 if there is none. */
static size_t status_bytes(const char *format)
{
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, format, &kb) == 1) break;
  fclose(f);
  return kb * 1024;
}

size_t cli_resident_bytes(void) { return status_bytes("VmRSS: %zu kB"); }

size_t cli_peak_bytes(void)
{
  const size_t peak = status_bytes("VmHWM: %zu kB");
  struct rusage ru;
  if (peak > 0 || getrusage(RUSAGE_SELF, &ru) != 0) return peak;
  return (size_t)ru.ru_maxrss * 1024;
}

void cli_peak_reset(void)
{
  FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5": reset the peak resident size */
  if (!f) return;
  fputs("5", f);
  fclose(f);
}

/* Slack for what the gradient touches besides the solver (output arrays,
 * MPI and BLAS buffers): 1 MB and 1 % of the budget. */
static size_t slack_of(size_t budget) { return ((size_t)1 << 20) + budget / 100; }

const char *cli_bytes_text(double bytes, char *buf, size_t n)
{
  if (bytes < 1024.0) snprintf(buf, n, "%.0f bytes", bytes);
  else if (bytes < 1048576.0) snprintf(buf, n, "%.1f KB", bytes / 1024.0);
  else snprintf(buf, n, "%.1f MB", bytes / 1048576.0);
  return buf;
}

int cli_fit_budget(MPI_Comm comm, pn_ctx *ctx, cli_setup *s, size_t budget)
{
  const double MB = 1048576.0;
  /* The rank that holds the most decides whether anything is left (the
   * same verdict and message on every rank). */
  struct {
    double mb;
    int rank;
  } held = {(double)cli_resident_bytes() / MB, pn_ctx_rank(ctx)};
  const size_t mine = (size_t)(held.mb * MB);
  MPI_Allreduce(MPI_IN_PLACE, &held, 1, MPI_DOUBLE_INT, MPI_MAXLOC, comm);
  char given[32], holds[32];
  if (held.mb * MB + (double)slack_of(budget) >= (double)budget)
    return pn_ctx_fail(ctx, PN_ERR_LIMIT,
                       "--memory %s: rank %d already holds %s (MPI, BLAS, the problem) before the "
                       "gradient starts, and 1 MB + 1 %% is kept as slack; give it more memory",
                       cli_bytes_text((double)budget, given, sizeof given), held.rank,
                       cli_bytes_text(held.mb * MB, holds, sizeof holds));
  pn_solver_opts opts = *pn_solver_get_opts(s->solver);
  const size_t slack = slack_of(budget);
  opts.memory_limit = budget > mine + slack ? budget - mine - slack : 1;
  /* Remade, not adjusted: a solver's options are fixed at creation, and
   * nothing but the options is allocated yet. */
  pn_solver *solver = NULL;
  const int rc = pn_solver_create(ctx, s->model, s->tab, &opts, &solver);
  if (rc != PN_OK) return rc;
  pn_solver_destroy(&s->solver);
  s->solver = solver;
  return PN_OK;
}

void cli_budget_note(pn_ctx *ctx, size_t budget, const pn_solver *solver)
{
  if (pn_ctx_last_code(ctx) != PN_ERR_LIMIT) return;
  const size_t limit = pn_solver_get_opts(solver)->memory_limit;
  char msg[1024], given[32], held[32];
  snprintf(msg, sizeof msg, "%s", pn_ctx_last_error(ctx));
  pn_ctx_fail(ctx, PN_ERR_LIMIT,
              "%s [the memory limit is --memory %s minus the %s this rank held before the "
              "gradient, and 1 MB + 1 %% slack]",
              msg, cli_bytes_text((double)budget, given, sizeof given),
              cli_bytes_text(budget > limit + slack_of(budget)
                                 ? (double)(budget - limit - slack_of(budget))
                                 : 0.0,
                             held, sizeof held));
}

void cli_print_storage(pn_ctx *ctx, const pn_solver *solver)
{
  pn_stats st;
  if (pn_solver_get_stats(solver, &st) != PN_OK || st.steps_forward <= 0) return;
  char name[64], budget[96] = "", limit[32];
  if (st.bytes_limit > 0)
    snprintf(budget, sizeof budget, ", within %s for the solver",
             cli_bytes_text((double)st.bytes_limit, limit, sizeof limit));
  cli_print(ctx,
            "storage %s%s: %ld states stored, %ld steps recomputed (optimum for that memory "
            "%ld), %.3f forward steps per step, solver %.1f MB (rank 0)\n",
            cli_storage_text(st.storage, st.storage_param, name, sizeof name), budget,
            st.states_stored, st.steps_recomputed, st.steps_recompute_min,
            1.0 + (double)st.steps_recomputed / (double)st.steps_forward,
            (double)st.bytes_solver / 1048576.0);
}
