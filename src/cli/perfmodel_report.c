/* pinode bench --model: the printed report and its JSON (see perfmodel.h). */
#include <math.h>
#include <string.h>

#include "json.h"
#include "perfmodel.h"

/* ------------------------------ the printout ------------------------------ */

static int maps_adjoint(const pm_opts *o)
{
  return o->solver.parareal.adjoint == PN_PARAREAL_ADJOINT_MAPS;
}

/* The host, what rank 0 measured and the network. */
static void print_measurements(pn_ctx *ctx, const pm_run *r)
{
  const pm_host *host = &r->host;
  const pm_cal_table *fine = &r->fine, *coarse = &r->coarse;
  const pm_net *net = &r->net;
  const pn_problem *p = r->p;
  cli_print(ctx, "pinode performance model: %s (D = %d, %d parameters, %s, N = %ld, B = %d)\n",
            r->o->dir, p->spec.dim, p->nparam, p->scheme, r->N, r->B);
  cli_print(ctx,
            "host %s: %s, %ld CPUs online, load %.2f; %d ranks here, %d on this node with %d "
            "CPUs\n",
            host->name, host->cpu, host->cpus_online, host->load1, r->ranks, host->local_ranks,
            host->local_cpus);
  cli_print(ctx, "\nmeasured on rank 0 alone (process CPU time, best of %d samples):\n",
            r->o->repeat);
  cli_print(ctx, "  %8s %7s %7s %14s %14s %14s %14s\n", "b", "steps n1", "n2", "t(b) us/step",
            "fwd us/step", "us/sample/step", "fixed c(b) us");
  for (int i = 0; i < fine->n; i++) {
    const pm_cal_point *q = &fine->pt[i];
    cli_print(ctx, "  %8d %7ld %7ld %14.3f %14.3f %14.4f %14.2f\n", q->b, q->n_lo, q->n_hi,
              1e6 * q->t_step, 1e6 * q->t_fwd, 1e6 * q->t_step / q->b, 1e6 * q->fixed);
  }
  cli_print(ctx, "  (n1, n2: the two step counts timed; t(b) and t_f(b): non-decreasing "
                 "least-squares fits of the measured values; c: the median intercept)\n");
  cli_print(ctx, "  threshold b* = %d (cost per sample within 10 %% of that at b = %d)\n",
            pm_cal_threshold(fine), fine->pt[fine->n - 1].b);
  for (int i = 0; i < coarse->n; i++)
    cli_print(ctx, "  coarse scheme %s (Parareal, Newton's starts) at b = %d: %.3f us/step "
                   "(forward %.3f us/step)\n",
              r->coarse_scheme, coarse->pt[i].b, 1e6 * coarse->pt[i].t_step,
              1e6 * coarse->pt[i].t_fwd);
  if (fine->lin.b > 0)
    cli_print(ctx, "  Newton's tangent rows (the network without activations) at b = %d: forward "
                   "%.3f us/step\n",
              fine->lin.b, 1e6 * fine->lin.t_fwd);
  cli_print(ctx, "  composing Newton's %dx%d maps: %.3g ns per multiply-add\n", p->spec.dim,
            p->spec.dim, 1e9 * fine->madd);
  if (net->measured)
    cli_print(ctx,
              "network (ping-pong ranks 0-1, %s): latency %.3g us, bandwidth %.3g GB/s; "
              "Allreduce on %d ranks: %.3g us of %d doubles, %.3g us of one\n",
              net->same_node ? "same node" : "different nodes", 1e6 * net->L_meas,
              net->W_meas / 1e9, r->ranks, 1e6 * net->allreduce_meas, p->nparam,
              1e6 * net->allreduce1_meas);
  else
    cli_print(ctx, "network: not measured (one rank: run on 2 or more ranks for a ping-pong)\n");
  cli_print(ctx, "network used by the model: latency %.3g us (%s), bandwidth %.3g GB/s (%s)\n",
            1e6 * net->L, net->L_given ? "given" : net->measured ? "measured" : "none: 0",
            net->W / 1e9, net->W_given ? "given" : net->measured ? "measured" : "none: infinite");
  const int from_allreduce = net->allreduce_ranks > 1 && !net->L_given && !net->W_given;
  cli_print(ctx,
            "  and per round of an Allreduce: %.3g us (A1) of one double, %.3g us (Ap) of the "
            "gradient (%s)\n",
            1e6 * net->round_small, 1e6 * net->round_grad,
            from_allreduce ? "the measured Allreduces over their ceil(log2 P) rounds"
                           : "L and L + 8p/W");
}

static void print_pipeline(pn_ctx *ctx, const pm_run *r)
{
  cli_print(ctx, "\npipeline (exact); M: %s; best M: the model's fastest, which --parallel "
                 "auto and method = auto in training choose:\n",
            r->o->microbatches ? "as given"
                               : "the solver's default round(sqrt((P-1)B/3)) (--parallel "
                                 "pipeline without --microbatches)");
  cli_print(ctx, "  %6s %6s %12s %9s %7s | %6s %12s %9s | %12s %7s\n", "P", "M", "T s/grad",
            "speedup", "effic.", "best M", "T s/grad", "speedup", "weak T(NP)", "w.eff.");
  for (int i = 0; i < r->nrows; i++) {
    const pm_row *w = &r->rows[i];
    if (!isfinite(w->t)) {
      cli_print(ctx, "  %6ld %6s %12s %9s %7s | %6s %12s %9s | %12.4g %6.1f%%\n", w->P, "-",
                "P > N", "", "", "", "", "", w->weak_t, 100 * w->weak_eff);
      continue;
    }
    cli_print(ctx, "  %6ld %6d %12.4g %9.2f %6.1f%% | %6d %12.4g %9.2f | %12.4g %6.1f%%\n", w->P,
              w->M, w->t, w->speedup, 100 * w->eff, w->best_M, w->best_t, w->best_speedup,
              w->weak_t, 100 * w->weak_eff);
  }
}

static void print_parareal(pn_ctx *ctx, const pm_run *r)
{
  const pm_opts *o = r->o;
  char coarse_txt[64];
  if (o->solver.parareal.coarse_steps > 0)
    snprintf(coarse_txt, sizeof coarse_txt, "%ld", o->solver.parareal.coarse_steps);
  else
    snprintf(coarse_txt, sizeof coarse_txt, "ceil(block/10)");
  for (int k = 0; k < o->nK; k++) {
    const char *how = o->K_measured[k] ? "measured on these ranks" : "given";
    cli_print(ctx, "\nParareal, K = %d forward", o->K[k]);
    if (maps_adjoint(o))
      cli_print(ctx, " iterations (%s), adjoint by affine maps", how);
    else
      cli_print(ctx, " and K_a = %d adjoint iterations (%s)", o->KA[k], how);
    cli_print(ctx, ", coarse: %s steps of %s per block:\n", coarse_txt, r->coarse_scheme);
    cli_print(ctx, "  %6s %12s %9s %7s\n", "P", "T s/grad", "speedup", "effic.");
    for (int i = 0; i < r->nrows; i++) {
      const double t = r->par[(size_t)k * r->nrows + i], T1 = r->rows[0].t;
      if (isfinite(t))
        cli_print(ctx, "  %6ld %12.4g %9.2f %6.1f%%\n", r->rows[i].P, t, T1 / t,
                  100 * T1 / t / (double)r->rows[i].P);
      else
        cli_print(ctx, "  %6ld %12s\n", r->rows[i].P, "P > N");
    }
  }
  if (o->nK == 0)
    cli_print(ctx, "\nParareal: give --parareal-iterations K (or 'measure', on 2 or more ranks) "
                   "for its prediction\n");
}

/* How Newton's iterations at P were obtained, into buf. */
static const char *newton_how(const pm_run *r, long P, char *buf, size_t len)
{
  const pm_opts *o = r->o;
  if (o->newton_measure)
    snprintf(buf, len, "K = %d, K_c = %d measured on these ranks%s", o->newton_K, o->newton_Kc,
             r->m.newton_serial ? ", then the serial coarse sweep" : "");
  else if (o->newton_given && o->newton_Kc >= 0)
    snprintf(buf, len, "K = %d, K_c = %d given", o->newton_K, o->newton_Kc);
  else if (o->newton_given)
    snprintf(buf, len, "K = %d given, K_c = ceil(log2 P) + 1 = %d assumed", o->newton_K,
             pm_newton_default_Kc(P));
  else
    snprintf(buf, len, "K = %d, K_c = ceil(log2 P) + 1 assumed (--newton-iterations to give "
                       "or measure them)",
             pm_newton_default_K());
  return buf;
}

static void print_newton(pn_ctx *ctx, const pm_run *r)
{
  char how[160], g[32];
  if (r->o->solver.newton.coarse_steps > 0)
    snprintf(g, sizeof g, "%ld", r->o->solver.newton.coarse_steps);
  else
    snprintf(g, sizeof g, "ceil(block/16)");
  cli_print(ctx, "\nNewton shooting, %s, coarse: %s steps of %s per block:\n",
            newton_how(r, r->ranks, how, sizeof how), g, r->coarse_scheme);
  cli_print(ctx, "  %6s %12s %9s %7s %12s\n", "P", "T s/grad", "speedup", "effic.", "vs pipeline");
  for (int i = 0; i < r->nrows; i++) {
    const double t = r->rows[i].newton_t, T1 = r->rows[0].t;
    if (isfinite(t))
      cli_print(ctx, "  %6ld %12.4g %9.2f %6.1f%% %11.2fx\n", r->rows[i].P, t, T1 / t,
                100 * T1 / t / (double)r->rows[i].P, r->rows[i].best_t / t);
    else
      cli_print(ctx, "  %6ld %12s\n", r->rows[i].P, "P > N");
  }
}

static void print_formulas(pn_ctx *ctx, const pm_run *r)
{
  cli_print(ctx, "\nmodel: T(P,M) = sum_m tau(b_m) + (P-1)(tau(b_0) + 2 msg(b_0)) + C(P), "
                 "tau(b) = ceil(N/P) t(b) + c(b),\n"
                 "       msg(b) = L + 8(bD+1)/W, C(P) = ceil(log2 P)(5 A1 + Ap + L + 8BD/W)\n");
  if (r->o->nK > 0) {
    cli_print(ctx, "Parareal: T = S + K(tau_F + S + log2(P) A1) + A + C(P), S = (P-1)(tau_G + "
                   "msg(B)) the serial coarse sweep,\n"
                   "       tau_F = ceil(N/P) t_f(B) + c(B), tau_G = g t_f,coarse(B), g the "
                   "coarse steps per block,\n");
    if (maps_adjoint(r->o))
      cli_print(ctx, "       A = ceil(N/P) t_b(B(D+1)) + log2(P)(L + 8(2 + B(D^2+D))/W) + "
                     "tau_Fa (the affine-map adjoint)\n");
    else
      cli_print(ctx, "       A = tau_G + K_a(tau_Fa + (P-1)(tau_Ga + msg(B)) + log2(P) A1) (the "
                     "iterative adjoint), t_b = t - t_f\n");
  }
  cli_print(ctx, "Newton: T = K_c(tau_Tc + x + s + log2(P) A1) + K(tau_T + x + s + log2(P) A1) "
                 "+ s + tau_B + C(P) [+ S_c],\n"
                 "       tau_T = ceil(N/P) t_T + c(B), t_T = t_f(B) + t_lin(BD) (tangent rows: "
                 "the network without activations),\n"
                 "       tau_Tc = g t_f,coarse(B) t_T/t_f(B), x = L + 8B(D^2+D)/W, "
                 "s = log2(P)(x + 2B(D^3+D^2) mu) the scan,\n"
                 "       tau_B = ceil(N/P) t_b(B) + c(B), S_c = (P-1)(g t_f,coarse(B) + msg(B)) "
                 "the serial coarse sweep where coarse Newton did not converge\n");
  cli_print(ctx, "assumptions:\n");
  for (int i = 0; i < pm_nassumptions; i++) cli_print(ctx, "  %d. %s\n", i + 1, pm_assumptions[i]);
}

static void print_validation(pn_ctx *ctx, const pm_run *r, const pm_validation *v)
{
  if (!v->done || pn_ctx_rank(ctx) != 0) return;
  if (v->method == PN_PARALLEL_NEWTON)
    cli_print(ctx,
              "\nvalidation: the real Newton gradient of %s on these %d ranks, cold (K = %d fine, "
              "K_c = %d coarse sweeps%s; %d timed gradients after one warm-up; best of them, "
              "median in brackets)\n",
              r->o->dir, v->P, v->K, v->KA, v->serial_start ? ", then the serial coarse sweep" : "",
              v->repeat);
  else if (v->method == PN_PARALLEL_PARAREAL)
    cli_print(ctx,
              "\nvalidation: the real Parareal gradient of %s on these %d ranks (K = %d, "
              "K_a = %d iterations, %d timed gradients after one warm-up; best of them, median "
              "in brackets)\n",
              r->o->dir, v->P, v->K, v->KA, v->repeat);
  else
    cli_print(ctx,
              "\nvalidation: the real pipelined gradient of %s on these %d ranks (M = %d, "
              "%d timed gradients after one warm-up; best of them, median in brackets)\n",
              r->o->dir, v->P, v->M, v->repeat);
  cli_print(ctx,
            "  wall time per gradient: measured %.4g s [%.4g s], model %.4g s: %+.1f %% "
            "[%+.1f %%]\n",
            v->wall_best, v->wall_med, v->pred_wall, 100 * v->err_wall, 100 * v->err_wall_med);
  for (int q = 0; q < v->P; q++) {
    const double *x = v->ranks + 2 * (size_t)q * V_NF, *xm = x + V_NF;
    cli_print(ctx,
              "  rank %d, steps [%.0f, %.0f): busy (least of CPU, wall outside MPI) %.4g s [%.4g s], "
              "model %.4g s: %+.1f %% [%+.1f %%]; wall fwd+bwd-wait %.4g s\n",
              q, x[V_LO], x[V_HI], x[V_BUSY], xm[V_BUSY], v->pred_busy[q],
              100 * (v->pred_busy[q] - x[V_BUSY]) / x[V_BUSY],
              100 * (v->pred_busy[q] - xm[V_BUSY]) / xm[V_BUSY], x[V_BUSYW]);
  }
  if (v->fallback)
    cli_print(ctx, "  a gradient fell back to the pipeline, which the Newton model does not "
                   "describe\n");
  cli_print(ctx, "  criterion: %s; model within %.0f %%: %s\n", v->criterion, 100 * v->tol,
            v->within ? "yes" : "NO");
  if (r->host.load1 > r->host.cpus_online)
    cli_print(ctx,
              "  note: this machine is busy (load %.1f on %ld CPUs): wall times include waiting "
              "for CPUs\n",
              r->host.load1, r->host.cpus_online);
}

static void print_groups(pn_ctx *ctx, const pm_run *r)
{
  cli_print(ctx, "\nbatch groups (exact; G groups of P/G ranks, each the pipeline of its share of "
                 "the batch), the best G > 1 dividing P, G <= B, at its best M:\n");
  cli_print(ctx, "  %6s %6s %6s %12s %9s %7s %12s\n", "P", "G", "M", "T s/grad", "speedup",
            "effic.", "vs pipeline");
  for (int i = 0; i < r->nrows; i++) {
    const pm_row *w = &r->rows[i];
    const double T1 = r->rows[0].t;
    if (w->groups_G > 0)
      cli_print(ctx, "  %6ld %6d %6d %12.4g %9.2f %6.1f%% %11.2fx\n", w->P, w->groups_G,
                w->groups_M, w->groups_t, T1 / w->groups_t,
                100 * T1 / w->groups_t / (double)w->P, w->best_t / w->groups_t);
    else
      cli_print(ctx, "  %6ld %6s %s\n", w->P, "-",
                w->P == 1 ? "one rank: no groups" : "no G > 1 divides P with G <= B and P/G <= N");
  }
}

void pm_print_report(pn_ctx *ctx, const pm_run *r)
{
  print_measurements(ctx, r);
  print_pipeline(ctx, r);
  print_groups(ctx, r);
  print_parareal(ctx, r);
  print_newton(ctx, r);
  print_formulas(ctx, r);
  print_validation(ctx, r, &r->v);
  print_validation(ctx, r, &r->vpar);
  print_validation(ctx, r, &r->vnewton);
}

/* --------------------------------- JSON ----------------------------------- */

/* A validation as a JSON object, or null. */
static void json_validation(json_writer *w, const char *key, const pm_validation *v)
{
  if (!v->done) {
    json_null(w, key);
    return;
  }
  json_open(w, key, '{');
  json_string(w, "method", pn_parallel_method_name(v->method));
  json_int(w, "ranks", v->P);
  json_int(w, "microbatches", v->M);
  json_int(w, "K", v->K);
  json_int(w, v->method == PN_PARALLEL_NEWTON ? "K_coarse" : "K_adjoint", v->KA);
  if (v->method == PN_PARALLEL_NEWTON) {
    json_bool(w, "serial_start", v->serial_start);
    json_bool(w, "fallback", v->fallback);
  }
  json_int(w, "repeat", v->repeat);
  json_bool(w, "oversubscribed", v->oversubscribed);
  json_string(w, "criterion", v->criterion);
  json_number(w, "tolerance", v->tol);
  json_bool(w, "within_tolerance", v->within);
  json_string(w, "statistic", "best of repeat");
  json_number(w, "wall_measured", v->wall_best);
  json_number(w, "wall_measured_median", v->wall_med);
  json_number(w, "wall_model", v->pred_wall);
  json_number(w, "wall_error", v->err_wall);
  json_number(w, "wall_error_median", v->err_wall_med);
  json_number(w, "busy_error", v->err_busy);
  json_number(w, "busy_error_median", v->err_busy_med);
  json_number(w, "busy_error_sum", v->err_busy_sum);
  json_open(w, "per_rank", '[');
  for (int q = 0; q < v->P; q++) {
    const double *x = v->ranks + 2 * (size_t)q * V_NF, *xm = x + V_NF;
    json_open(w, NULL, '{');
    json_int(w, "rank", q);
    json_int_pair(w, "block", lround(x[V_LO]), lround(x[V_HI]));
    json_number(w, "busy_measured", x[V_BUSY]);
    json_number(w, "busy_measured_median", xm[V_BUSY]);
    json_number(w, "busy_model", v->pred_busy[q]);
    json_number(w, "busy_wall", x[V_BUSYW]);
    json_number(w, "cpu", x[V_CPU]);
    json_number(w, "time_mpi", x[V_MPI]);
    json_number(w, "wall", x[V_WALL]);
    json_number(w, "time_forward", x[V_FWD]);
    json_number(w, "time_backward", x[V_BWD]);
    json_number(w, "time_wait", x[V_WAIT]);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_close(w, '}');
}

static void json_measurements(json_writer *w, const pm_run *r)
{
  const pn_problem *p = r->p;
  const pm_host *host = &r->host;
  const pm_cal_table *fine = &r->fine, *coarse = &r->coarse;
  const pm_net *net = &r->net;
  json_open(w, "shape", '{');
  json_int(w, "dim", p->spec.dim);
  json_int(w, "nparam", p->nparam);
  json_string(w, "scheme", p->scheme);
  json_int(w, "steps", r->N);
  json_int(w, "batch", r->B);
  json_int(w, "problem_steps", p->steps);
  json_int(w, "problem_batch", p->batch);
  json_close(w, '}');
  json_open(w, "host", '{');
  json_string(w, "hostname", host->name);
  json_string(w, "cpu", host->cpu);
  json_int(w, "cpus_online", host->cpus_online);
  json_number(w, "load1", host->load1);
  json_int(w, "ranks", r->ranks);
  json_int(w, "local_ranks", host->local_ranks);
  json_int(w, "local_cpus", host->local_cpus);
  json_string(w, "mpi", host->mpi);
  json_close(w, '}');
  json_open(w, "calibration", '{');
  json_string(w, "clock", "process CPU time");
  json_int(w, "repeat", r->o->repeat);
  json_int(w, "threshold_b", pm_cal_threshold(fine));
  json_open(w, "points", '[');
  for (int i = 0; i < fine->n; i++) {
    const pm_cal_point *q = &fine->pt[i];
    json_open(w, NULL, '{');
    json_int(w, "b", q->b);
    json_int_pair(w, "steps", q->n_lo, q->n_hi);
    json_number_pair(w, "gradient", q->grad_lo, q->grad_hi);
    json_number_pair(w, "forward", q->loss_lo, q->loss_hi);
    json_number(w, "wall_gradient", q->wall_hi);
    json_number(w, "t_step", q->t_step);
    json_number(w, "t_forward", q->t_fwd);
    json_number(w, "fixed", q->fixed);
    json_number(w, "t_step_raw", q->t_step_raw);
    json_number(w, "t_forward_raw", q->t_fwd_raw);
    json_number(w, "fixed_raw", q->fixed_raw);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_open(w, "coarse", '{');
  json_string(w, "scheme", r->coarse_scheme);
  json_int(w, "b", coarse->pt[0].b);
  json_number(w, "t_step", coarse->pt[0].t_step);
  json_number(w, "t_forward", coarse->pt[0].t_fwd);
  json_open(w, "points", '[');
  for (int i = 0; i < coarse->n; i++) {
    json_open(w, NULL, '{');
    json_int(w, "b", coarse->pt[i].b);
    json_number(w, "t_step", coarse->pt[i].t_step);
    json_number(w, "t_forward", coarse->pt[i].t_fwd);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_close(w, '}');
  json_open(w, "tangent_rows", '{');
  json_string(w, "network", "the problem's without activations, theta = 0");
  json_int(w, "b", fine->lin.b);
  json_number(w, "t_forward", fine->lin.t_fwd);
  json_close(w, '}');
  json_number(w, "multiply_add", fine->madd);
  json_close(w, '}');
  json_open(w, "network", '{');
  json_bool(w, "measured", net->measured);
  json_bool(w, "same_node", net->same_node);
  json_number(w, "latency", net->L);
  json_number(w, "bandwidth", net->W);
  json_bool(w, "latency_given", net->L_given);
  json_bool(w, "bandwidth_given", net->W_given);
  json_number(w, "latency_measured", net->measured ? net->L_meas : NAN);
  json_number(w, "bandwidth_measured", net->measured ? net->W_meas : NAN);
  json_number(w, "allreduce_measured", net->measured ? net->allreduce_meas : NAN);
  json_number(w, "allreduce_one_measured", net->measured ? net->allreduce1_meas : NAN);
  json_number(w, "allreduce_round_one", net->round_small);
  json_number(w, "allreduce_round_gradient", net->round_grad);
  json_open(w, "pingpong", '[');
  for (int i = 0; i < net->n; i++) {
    json_open(w, NULL, '{');
    json_int(w, "bytes", lround(net->bytes[i]));
    json_number(w, "half_round_trip", net->half_rtt[i]);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_close(w, '}');
}

static void json_predictions(json_writer *w, const pm_run *r)
{
  const pm_opts *o = r->o;
  if (o->microbatches)
    json_int(w, "microbatches", o->microbatches);
  else
    json_string(w, "microbatches", "auto");
  json_open(w, "pipeline", '[');
  for (int i = 0; i < r->nrows; i++) {
    const pm_row *x = &r->rows[i];
    json_open(w, NULL, '{');
    json_int(w, "P", x->P);
    json_int(w, "M", isfinite(x->t) ? x->M : 0);
    json_number(w, "time", x->t);
    json_number(w, "speedup", x->speedup);
    json_number(w, "efficiency", x->eff);
    json_int(w, "best_M", isfinite(x->t) ? x->best_M : 0);
    json_number(w, "best_time", x->best_t);
    json_number(w, "best_speedup", x->best_speedup);
    json_number(w, "weak_time", x->weak_t);
    json_number(w, "weak_efficiency", x->weak_eff);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_open(w, "batch_groups", '[');
  for (int i = 0; i < r->nrows; i++) {
    const pm_row *x = &r->rows[i];
    json_open(w, NULL, '{');
    json_int(w, "P", x->P);
    json_int(w, "G", x->groups_G);
    json_int(w, "M", x->groups_M);
    json_number(w, "time", x->groups_t);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_open(w, "parareal", '[');
  for (int k = 0; k < o->nK; k++) {
    json_open(w, NULL, '{');
    json_int(w, "K", o->K[k]);
    json_int(w, "K_adjoint", maps_adjoint(o) ? 0 : o->KA[k]);
    json_bool(w, "measured", o->K_measured[k]);
    json_string(w, "adjoint", pn_parareal_adjoint_name(o->solver.parareal.adjoint));
    json_string(w, "coarse_scheme", r->coarse_scheme);
    json_int(w, "coarse_steps", o->solver.parareal.coarse_steps);
    json_open(w, "rows", '[');
    for (int i = 0; i < r->nrows; i++) {
      const double t = r->par[(size_t)k * r->nrows + i], T1 = r->rows[0].t;
      json_open(w, NULL, '{');
      json_int(w, "P", r->rows[i].P);
      json_number(w, "time", t);
      json_number(w, "speedup", T1 / t);
      json_number(w, "efficiency", T1 / t / (double)r->rows[i].P);
      json_close(w, '}');
    }
    json_close(w, ']');
    json_close(w, '}');
  }
  json_close(w, ']');
  json_open(w, "newton", '{');
  json_string(w, "iterations", o->newton_measure ? "measured" : o->newton_given ? "given"
                                                                               : "assumed");
  json_int(w, "coarse_steps", o->solver.newton.coarse_steps);
  json_string(w, "coarse_scheme", r->coarse_scheme);
  json_bool(w, "serial_start", r->m.newton_serial);
  json_open(w, "rows", '[');
  for (int i = 0; i < r->nrows; i++) {
    const double t = r->rows[i].newton_t, T1 = r->rows[0].t;
    json_open(w, NULL, '{');
    json_int(w, "P", r->rows[i].P);
    json_int(w, "K", r->rows[i].newton_K);
    json_int(w, "K_coarse", r->rows[i].newton_Kc);
    json_number(w, "time", t);
    json_number(w, "speedup", T1 / t);
    json_number(w, "efficiency", T1 / t / (double)r->rows[i].P);
    json_number(w, "over_pipeline", r->rows[i].best_t / t);
    json_close(w, '}');
  }
  json_close(w, ']');
  json_close(w, '}');
  json_open(w, "assumptions", '[');
  for (int i = 0; i < pm_nassumptions; i++) json_string(w, NULL, pm_assumptions[i]);
  json_close(w, ']');
}

int pm_write_json(pn_ctx *ctx, const pm_run *r)
{
  cli_membuf m;
  CLI_TRY(cli_membuf_open(ctx, &m, r->o->json));
  json_writer w = {m.f, 0, {0}};
  json_open(&w, NULL, '{');
  json_string(&w, "kind", "pinode-perfmodel");
  json_string(&w, "problem", r->o->dir);
  json_measurements(&w, r);
  json_predictions(&w, r);
  json_validation(&w, "validation", &r->v);
  json_validation(&w, "parareal_validation", &r->vpar);
  json_validation(&w, "newton_validation", &r->vnewton);
  json_close(&w, '}');
  return cli_membuf_commit(ctx, &m, r->o->json);
}
