/* The gradcheck table: the seed paper's three claims (docs/mathematics.md), measured on
 * the user's own model.  For every scheme (or one) and step sizes h, h/2, …:
 * each gradient method's relative error against the complex-step gradient
 * (an independent complex re-implementation, pinode/check.h), the gap of the
 * continuous adjoints to the exact discrete gradient and its observed order,
 * single- vs multi-point, backsolve's drift of z, and the cost of each.
 *
 * The table is computed by gradcheck_run() from already-built objects
 * (network, loss, θ, z0, grid), whatever they were read from. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* One row: a method on one grid. */
typedef struct gc_row {
  const char *scheme;
  int q;                /* nominal order */
  long N;
  double h;
  pn_adjoint_kind adjoint;
  pn_sweep_mode mode;
  double err_theta;     /* ‖g_θ − g_θ(complex step)‖ / ‖g_θ(cs)‖ */
  double err_z0;        /* the same for ∂L/∂z0 */
  double vs_discrete;   /* ‖g_θ − g_θ(discrete, multi)‖ / ‖…‖, same grid */
  double order;         /* log2 of vs_discrete's ratio to the coarser grid; NAN if n/a */
  double vs_multi;      /* single rows: ‖g_θ − g_θ(same adjoint, multi)‖ / ‖…‖; NAN otherwise */
  double drift;         /* backsolve: largest drift of z over the ranks' blocks; NAN otherwise */
  long rhs_fwd, rhs_bwd, vjp_bwd; /* batched calls, summed over ranks */
  double t_fwd, t_bwd;  /* seconds, slowest rank */
} gc_row;

typedef struct gc_table {
  gc_row *rows;
  int n, cap;
  double cs_seconds;    /* complex-step time, all grids */
} gc_table;

static const pn_adjoint_kind adjoints[3] = {
    PN_ADJOINT_DISCRETE, PN_ADJOINT_CONTINUOUS_BACKSOLVE, PN_ADJOINT_CONTINUOUS_INTERP};

/* Complex-step gradient on rank 0 (it is serial), broadcast to every rank. */
static int cstep_all(MPI_Comm comm, pn_ctx *ctx, const gradcheck_input *in, const pn_tableau *tab,
                     long N, double *g, size_t np, size_t nz)
{
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0)
    rc = pn_cstep_gradient(ctx, in->spec, tab, in->t0, in->t1, N, in->batch, in->z0, in->theta,
                           in->loss, NULL, g, g + np);
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc != PN_OK)
    return pn_ctx_rank(ctx) == 0 ? rc
                                 : pn_ctx_fail(ctx, rc, "the complex step failed on rank 0");
  MPI_Bcast(g, (int)(np + nz), MPI_DOUBLE, 0, comm);
  return PN_OK;
}

/* One method on one grid: its gradient (θ then z0) into g, its costs into row. */
static int run_method(MPI_Comm comm, pn_solver *S, const gradcheck_input *in, size_t np,
                      pn_adjoint_kind adj, pn_sweep_mode mode, double *g, gc_row *row)
{
  CLI_TRY(pn_solver_gradient_method(S, adj, mode, in->theta, in->batch, in->z0, in->loss, NULL, g,
                                    g + np));
  pn_stats st;
  pn_solver_get_stats(S, &st);
  long cnt[3] = {st.rhs_evals - st.rhs_evals_backward, st.rhs_evals_backward, st.vjp_evals};
  double mx[3] = {st.time_forward, st.time_backward, st.backsolve_z_err};
  MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_LONG, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, mx, 3, MPI_DOUBLE, MPI_MAX, comm);
  row->adjoint = adj;
  row->mode = mode;
  row->rhs_fwd = cnt[0];
  row->rhs_bwd = cnt[1];
  row->vjp_bwd = cnt[2];
  row->t_fwd = mx[0];
  row->t_bwd = mx[1];
  row->drift = adj == PN_ADJOINT_CONTINUOUS_BACKSOLVE ? mx[2] : NAN;
  return PN_OK;
}

static int table_push(pn_ctx *ctx, gc_table *t, gc_row **row_out)
{
  if (t->n == t->cap) {
    const int cap = t->cap ? 2 * t->cap : 32;
    gc_row *r = realloc(t->rows, sizeof *r * (size_t)cap);
    if (!r) return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the gradcheck table");
    t->rows = r;
    t->cap = cap;
  }
  *row_out = &t->rows[t->n++];
  memset(*row_out, 0, sizeof **row_out);
  return PN_OK;
}

/* Every method on the grid of N steps of one scheme; g: 3 buffers of np + nz. */
static int run_grid(MPI_Comm comm, pn_ctx *ctx, const gradcheck_input *in,
                    const gradcheck_opts *o, pn_model *model, const char *scheme,
                    const pn_tableau *tab, long N, double *g, gc_table *t)
{
  const size_t np = (size_t)pn_model_nparam(model), nz = (size_t)in->batch * in->spec->dim;
  double *gcs = g, *gd = g + np + nz, *gm = gd + np + nz, *gx = gm + np + nz;
  const double t0 = MPI_Wtime();
  CLI_TRY(cstep_all(comm, ctx, in, tab, N, gcs, np, nz));
  t->cs_seconds += MPI_Wtime() - t0;
  pn_solver_opts so;
  pn_solver_opts_default(&so);
  so.t0 = in->t0;
  so.t1 = in->t1;
  so.nsteps = N;
  pn_solver *S = NULL;
  CLI_TRY(pn_solver_create(ctx, model, tab, &so, &S));
  int rc = PN_OK;
  for (int a = 0; a < 3 && rc == PN_OK; a++)
    for (int m = 0; m < (o->single ? 2 : 1) && rc == PN_OK; m++) {
      gc_row *row = NULL;
      double *gout = a == 0 && m == 0 ? gd : m == 0 ? gm : gx;
      if ((rc = table_push(ctx, t, &row)) != PN_OK) break;
      row->scheme = scheme; /* static (registry or argv): outlives tab */
      row->q = pn_tableau_order(tab);
      row->N = N;
      row->h = (in->t1 - in->t0) / (double)N;
      rc = run_method(comm, S, in, np, adjoints[a], (pn_sweep_mode)m, gout, row);
      if (rc != PN_OK) break;
      if (a == 0 && m == 0) memcpy(gm, gd, sizeof(double) * (np + nz));
      row->err_theta = cli_rel_dist(gout, gcs, np);
      row->err_z0 = cli_rel_dist(gout + np, gcs + np, nz);
      row->vs_discrete = cli_rel_dist(gout, gd, np);
      row->vs_multi = m == 1 ? cli_rel_dist(gout, gm, np) : NAN;
      row->order = NAN;
    }
  pn_solver_destroy(&S);
  return rc;
}

/* Below this the gap is rounding (≈ 500 eps), and its ratio says nothing. */
#define GAP_FLOOR 1e-13

/* Observed order of each continuous row's gap against the same method on
 * the previous (twice coarser) grid of the same scheme. */
static void observed_orders(gc_table *t)
{
  for (int i = 0; i < t->n; i++) {
    gc_row *r = &t->rows[i];
    if (r->adjoint == PN_ADJOINT_DISCRETE) continue;
    for (int j = 0; j < i; j++) {
      const gc_row *p = &t->rows[j];
      if (p->scheme == r->scheme && p->adjoint == r->adjoint && p->mode == r->mode &&
          2 * p->N == r->N && p->vs_discrete >= GAP_FLOOR && r->vs_discrete >= GAP_FLOOR)
        r->order = log2(p->vs_discrete / r->vs_discrete);
    }
  }
}

static const char *adj_short(pn_adjoint_kind a)
{
  return a == PN_ADJOINT_DISCRETE ? "discrete" : a == PN_ADJOINT_CONTINUOUS_BACKSOLVE ? "backsolve" : "interp";
}

/* A number, or "-" when it does not apply. */
static void fmt(char *buf, size_t len, const char *f, double x)
{
  if (isnan(x)) snprintf(buf, len, "-");
  else snprintf(buf, len, f, x);
}

static void print_table(pn_ctx *ctx, const gc_table *t)
{
  cli_print(ctx, "%-8s %2s %6s %9s %-9s %-6s %9s %9s %11s %6s %9s %9s %8s %8s %8s %9s %9s\n",
            "scheme", "q", "N", "h", "adjoint", "mode", "err_theta", "err_z0", "vs_discrete",
            "order", "vs_multi", "z_drift", "rhs_fwd", "rhs_bwd", "vjp_bwd", "t_fwd[s]",
            "t_bwd[s]");
  for (int i = 0; i < t->n; i++) {
    const gc_row *r = &t->rows[i];
    char ord[16], vm[16], dr[16];
    fmt(ord, sizeof ord, "%.2f", r->order);
    fmt(vm, sizeof vm, "%.2e", r->vs_multi);
    fmt(dr, sizeof dr, "%.2e", r->drift);
    cli_print(ctx,
              "%-8s %2d %6ld %9.3e %-9s %-6s %9.2e %9.2e %11.2e %6s %9s %9s %8ld %8ld %8ld %9.2e "
              "%9.2e\n",
              r->scheme, r->q, r->N, r->h, adj_short(r->adjoint), pn_sweep_mode_name(r->mode),
              r->err_theta, r->err_z0, r->vs_discrete, ord, vm, dr, r->rhs_fwd, r->rhs_bwd,
              r->vjp_bwd, r->t_fwd, r->t_bwd);
  }
}

/* The CSV (rank 0 writes it; empty fields where a column does not apply). */
/* fmt of x into buf, or "" when x is NaN (does not apply). */
static void format_or_empty(char *buf, size_t len, const char *fmt, double x)
{
  if (isnan(x))
    buf[0] = '\0';
  else
    snprintf(buf, len, fmt, x);
}

static int write_csv(MPI_Comm comm, pn_ctx *ctx, const gc_table *t, const char *path)
{
  int ok = 1;
  if (pn_ctx_rank(ctx) == 0) {
    FILE *f = fopen(path, "w");
    ok = f != NULL;
    if (f) {
      fprintf(f, "scheme,order,N,h,adjoint,mode,err_theta,err_z0,vs_discrete,observed_order,"
                 "vs_multi,z_drift,rhs_forward,rhs_backward,vjp_backward,time_forward,"
                 "time_backward\n");
      for (int i = 0; i < t->n; i++) {
        const gc_row *r = &t->rows[i];
        char ord[32], vm[32], dr[32], h[PN_DOUBLE_CHARS];
        /* an empty CSV field where a number does not apply */
        format_or_empty(ord, sizeof ord, "%.6g", r->order);
        format_or_empty(vm, sizeof vm, "%.6e", r->vs_multi);
        format_or_empty(dr, sizeof dr, "%.6e", r->drift);
        fprintf(f, "%s,%d,%ld,%s,%s,%s,%.6e,%.6e,%.6e,%s,%s,%s,%ld,%ld,%ld,%.6e,%.6e\n",
                r->scheme, r->q, r->N, pn_format_double(r->h, h), pn_adjoint_kind_name(r->adjoint),
                pn_sweep_mode_name(r->mode), r->err_theta, r->err_z0, r->vs_discrete, ord, vm, dr,
                r->rhs_fwd, r->rhs_bwd, r->vjp_bwd, r->t_fwd, r->t_bwd);
      }
      ok = fclose(f) == 0 && ok;
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  return ok ? PN_OK : pn_ctx_fail(ctx, PN_ERR_IO, "cannot write the CSV file '%s'", path);
}

/* What the table shows about each claim of the paper; PN_OK iff the discrete
 * adjoint matched the complex step to tol in every row. */
/* Claim 2, one line per scheme: the multi-point gaps on the coarsest and
 * finest grids, and the last observed order of each continuous adjoint. */
static void summary_gaps(pn_ctx *ctx, const gc_table *t)
{
  for (int i = 0; i < t->n; i++) {
    const gc_row *first = &t->rows[i];
    if (i > 0 && t->rows[i - 1].scheme == first->scheme) continue;
    double gap[2][2] = {{NAN, NAN}, {NAN, NAN}}, order[2] = {NAN, NAN}; /* [backsolve|interp] */
    for (int j = i; j < t->n && t->rows[j].scheme == first->scheme; j++) {
      const gc_row *r = &t->rows[j];
      if (r->adjoint == PN_ADJOINT_DISCRETE || r->mode != PN_SWEEP_MULTI) continue;
      const int a = r->adjoint == PN_ADJOINT_CONTINUOUS_INTERP;
      if (isnan(gap[a][0])) gap[a][0] = r->vs_discrete;
      gap[a][1] = r->vs_discrete;
      if (!isnan(r->order)) order[a] = r->order;
    }
    char ob[16], oi[16];
    fmt(ob, sizeof ob, "%.2f", order[0]);
    fmt(oi, sizeof oi, "%.2f", order[1]);
    cli_print(ctx, "  %-8s q = %d: gap backsolve %.1e -> %.1e (order %s), interp %.1e -> %.1e (order %s)\n",
              first->scheme, first->q, gap[0][0], gap[0][1], ob, gap[1][0], gap[1][1], oi);
  }
}

static int summary(pn_ctx *ctx, const gc_table *t, double tol)
{
  double worst_d = 0.0, worst_sm[3] = {0, 0, 0}, worst_z = 0.0;
  for (int i = 0; i < t->n; i++) {
    const gc_row *r = &t->rows[i];
    if (r->adjoint == PN_ADJOINT_DISCRETE)
      worst_d = fmax(worst_d, fmax(r->err_theta, r->err_z0));
    if (r->mode == PN_SWEEP_SINGLE) worst_sm[r->adjoint] = fmax(worst_sm[r->adjoint], r->vs_multi);
    if (!isnan(r->drift)) worst_z = fmax(worst_z, r->drift);
  }
  const int ok = worst_d <= tol;
  cli_print(ctx,
            "\nclaim 1 (the gradient is an integral): dL/dtheta is a sum over steps and stages of "
            "VJPs,\n  accumulated per rank and added with one Allreduce over %d rank(s); "
            "rows 'discrete' match the\n  complex step to %.1e (worst over theta and z0).\n",
            pn_ctx_size(ctx), worst_d);
  cli_print(ctx,
            "claim 2 (the continuous adjoint is not backprop): rows 'backsolve'/'interp' differ "
            "from\n  the discrete gradient (column vs_discrete) by a gap that shrinks at the "
            "scheme's order\n  (column order vs q; '-' once the gap is rounding, < %.0e):\n",
            GAP_FLOOR);
  summary_gaps(ctx, t);
  cli_print(ctx, "  backsolve's drift of z (column z_drift): up to %.1e.\n", worst_z);
  cli_print(ctx,
            "claim 3 (the discrete adjoint is backprop): worst error against the complex step "
            "%.2e %s %.0e: %s\n",
            worst_d, ok ? "<=" : ">", tol, ok ? "holds" : "FAILS");
  cli_print(ctx,
            "single- vs multi-point (column vs_multi): discrete %.1e, interp %.1e, backsolve "
            "%.1e\n  (backsolve's sweeps restart z at each label: a drift effect, not rounding).\n",
            worst_sm[0], worst_sm[2], worst_sm[1]);
  cli_print(ctx, "complex step: %.2f s in all.\n", t->cs_seconds);
  if (ok) return PN_OK;
  return pn_ctx_fail(ctx, PN_ERR_NOT_CONVERGED,
                     "the discrete adjoint differs from the complex step by %.2e > %.1e", worst_d,
                     tol);
}

/* Every scheme (or the one named), every grid: the table. */
static int compute_table(MPI_Comm comm, pn_ctx *ctx, const gradcheck_input *in,
                         const gradcheck_opts *o, pn_model *model, gc_table *t)
{
  int nnames = 0;
  const char *const *names = pn_tableau_names(&nnames);
  const char *one[1] = {o->scheme};
  if (o->scheme) {
    names = one;
    nnames = 1;
  }
  const size_t np = (size_t)pn_model_nparam(model), nz = (size_t)in->batch * in->spec->dim;
  double *g = calloc(4 * (np + nz), sizeof(double));
  if (!g) return pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the gradients");
  int rc = PN_OK;
  for (int s = 0; s < nnames && rc == PN_OK; s++) {
    pn_tableau *tab = NULL;
    rc = pn_tableau_create(ctx, names[s], &tab);
    for (int l = 0; l < o->levels && rc == PN_OK; l++)
      rc = run_grid(comm, ctx, in, o, model, names[s], tab, in->nsteps << l, g, t);
    pn_tableau_destroy(&tab);
  }
  free(g);
  return rc;
}

int gradcheck_run(MPI_Comm comm, pn_ctx *ctx, const gradcheck_input *in, const gradcheck_opts *o)
{
  pn_model *model = NULL;
  gc_table t = {0};
  int rc = pn_model_create_mlp(ctx, in->spec, &model);
  if (rc == PN_OK) rc = compute_table(comm, ctx, in, o, model, &t);
  if (rc == PN_OK) {
    observed_orders(&t);
    print_table(ctx, &t);
    if (o->csv) rc = write_csv(comm, ctx, &t, o->csv);
  }
  if (rc == PN_OK) rc = summary(ctx, &t, o->tol);
  free(t.rows);
  pn_model_destroy(&model);
  return rc;
}
