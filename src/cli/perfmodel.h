/* pinode bench --model: a performance model of the time per gradient of the
 * pipelined, Parareal and Newton-shooting time-parallel modes, calibrated by quantities this
 * program measures on the machine where it runs (time per step per micro-batch
 * size, fixed cost per micro-batch, a ping-pong for message latency and
 * bandwidth), with predictions for P up to 4096 ranks and, with --validate, a
 * comparison against the real solver on the ranks it runs on.  The formulas
 * and assumptions are printed by the command and described in
 * perfmodel_formulas.c.  One file per concern:
 *
 *   perfmodel.c           the command: options, the order of a run
 *   perfmodel_measure.c   what is measured here: host, calibration, network
 *   perfmodel_formulas.c  the model's predictions from those measurements
 *   perfmodel_validate.c  the model against timed gradients on these ranks
 *   perfmodel_report.c    the printed report and its JSON
 *
 * Every collective here is on the program's communicator `comm`; the contexts
 * are made from it (or from a part of it). */
#ifndef PINODE_CLI_PERFMODEL_H
#define PINODE_CLI_PERFMODEL_H

#include "cli.h"

/* pinode bench --model [options] DIR (argv[0] is the command's name; a
 * "--model" among the arguments is accepted and ignored, so that the bench
 * command can pass its arguments on unchanged).  Collective on comm.
 * Returns a process exit status: 0 ok, 1 failure, 2 usage error. */
int cli_bench_model(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv);

enum {
  PM_CAL_MAX = 16,     /* calibrated micro-batch sizes: 1, 2, 4, ..., ≤ PM_CAL_BMAX */
  PM_CAL_BMAX = 4096,  /* larger batches are extrapolated linearly */
  PM_NET_MAX = 12,     /* ping-pong message sizes */
  PM_MAX_RANK_ROWS = 64,
  PM_MAX_K = 8
};

/* ---- what is measured (perfmodel_measure.c) ---- */

typedef struct pm_host {
  char name[256];
  char cpu[256];
  long cpus_online;
  double load1;    /* /proc/loadavg at the start */
  int local_ranks; /* ranks of comm on this node */
  int local_cpus;  /* CPUs the node's ranks may run on (union of affinities) */
  char mpi[256];
} pm_host;

/* One micro-batch size: best of R (process CPU seconds) of one call. */
typedef struct pm_cal_point {
  int b;                   /* samples in the micro-batch */
  long n_lo, n_hi;         /* the two step counts timed */
  double grad_lo, grad_hi; /* gradient (forward + backward) */
  double loss_lo, loss_hi; /* forward only */
  double wall_hi;          /* wall seconds of one gradient at n_hi */
  double t_step;           /* derived: forward+backward per step */
  double t_fwd;            /* derived: forward per step */
  double fixed;            /* derived: cost per call whatever the steps (≥ 0) */
  double t_step_raw, t_fwd_raw, fixed_raw; /* before the monotone fits */
} pm_cal_point;

typedef struct pm_cal_table {
  int n;
  pm_cal_point pt[PM_CAL_MAX]; /* ascending b */
  /* Newton's tangent rows: the same network without its activations (its
   * products, no activation: a tangent row takes the derivative of the
   * activation its state row computed) at lin.b = B·D rows (b = 0: not
   * calibrated), and θ = 0 (the same products, no growth) */
  pm_cal_point lin;
  double madd; /* seconds per multiply-add of the D×D products that compose
                  Newton's affine maps (a plain loop, as the scan's) */
} pm_cal_table;

typedef struct pm_net {
  int measured;          /* a ping-pong ran (≥ 2 ranks) */
  int same_node;         /* ranks 0 and 1 share a node */
  char peer[256];        /* rank 1's processor name */
  int n;
  double bytes[PM_NET_MAX], half_rtt[PM_NET_MAX]; /* best of R */
  double L_meas, W_meas; /* fitted */
  double L, W;           /* used by the model (measured or given) */
  int L_given, W_given;
  double allreduce_meas; /* best of R: seconds of one Allreduce of p doubles here */
  double allreduce1_meas; /* the same for one double */
  int allreduce_ranks;   /* the ranks they were measured on (0: not measured) */
  /* Seconds per round (of ⌈log2 P⌉) of the collectives, as the model uses
   * them: a latency-bound Allreduce, and the Allreduce of the p-entry
   * gradient (pm_net_rounds). */
  double round_small, round_grad;
} pm_net;

/* The host (collective on comm: the node's ranks and CPUs). */
void pm_read_host(MPI_Comm comm, pm_host *h);

/* What to calibrate: the problem's scheme at b = 1, 2, 4, ... below bmax
 * and at bmax, the network without activations at btangent rows (Newton's
 * B·D tangent rows; 0: none), and the coarse scheme at bmax, or not at all
 * when it is the problem's scheme and share_coarse is set (the coarse table
 * is then the fine one).  Sizes above bcap (at most PM_CAL_BMAX) are not
 * calibrated (extrapolated).  Each timing is the best of `repeat` samples of
 * at least min_sample CPU seconds. */
typedef struct pm_cal_plan {
  int bmax, btangent, bcap;
  int share_coarse;
  int repeat;
  double min_sample;
} pm_cal_plan;

/* Calibrate as *plan says on rank 0 alone while the other ranks sleep, with
 * the storage of *storage, and time the multiply-adds of the D×D map
 * composition (fine->madd); the tables reach every rank.  Collective on comm. */
int pm_calibrate(MPI_Comm comm, pn_ctx *ctx, const pn_problem *p, const char *coarse_scheme,
                 const pm_cal_plan *plan, const pn_solver_opts *storage, pm_cal_table *fine,
                 pm_cal_table *coarse);

/* Latency and bandwidth of a ping-pong between ranks 0 and 1 of messages
 * from 8 B to max_bytes (≥ 64 KiB for a bandwidth; at most 4 MiB), nothing
 * on one rank, and the times of an Allreduce of p doubles and of one double
 * (p = 0: none).  Collective on comm. */
int pm_measure_network(MPI_Comm comm, pn_ctx *ctx, int p, int repeat, double max_bytes,
                       pm_net *net);

/* Set net->round_small and round_grad once net->L and W are chosen: the
 * measured Allreduces split into their rounds where they were measured and
 * neither L nor W was given, else L and L + 8p/W. */
void pm_net_rounds(pm_net *net, int p);

/* ---- the model (perfmodel_formulas.c) ---- */

typedef enum pm_quantity { PM_T_STEP, PM_T_FWD, PM_FIXED } pm_quantity;

/* The inputs of the formulas. */
typedef struct pm_model {
  const pm_cal_table *fine, *coarse;
  const pm_net *net;
  int B, D, nparam;
  long coarse_steps; /* g: coarse steps per block; 0: ⌈block/10⌉ (the solver's default) */
  int maps;          /* Parareal adjoint by affine maps instead of iterations */
  long newton_coarse_steps; /* Newton's coarse starts: g; 0: ⌈block/16⌉ (the solver's) */
  int newton_serial; /* Newton's start adds the serial coarse sweep (coarse Newton did not
                        converge) */
} pm_model;

/* A calibrated quantity at micro-batch size b: linear interpolation between
 * the calibrated sizes, linear extrapolation beyond the largest. */
double pm_cal_at(const pm_cal_table *c, double b, pm_quantity what);

/* The micro-batch size from which the cost per sample per step is within
 * 10 % of that at the largest calibrated size. */
int pm_cal_threshold(const pm_cal_table *c);

/* ⌈log2 P⌉: the rounds of a collective. */
int pm_ceil_log2(long P);

/* The largest of the solver's near-equal parts of n items (pn_split): the
 * steps of the slowest rank, the samples of the first micro-batch. */
long pm_largest_part(long n, long parts);

/* Predicted time per gradient of the pipeline on P ranks with M
 * micro-batches; NAN when P > N. */
double pm_pipe_time(const pm_model *m, long N, long P, int M);

/* Predicted busy time of a pipeline rank owning n steps (compute only). */
double pm_pipe_busy(const pm_model *m, long n, int M);

/* The micro-batch count with the smallest predicted time (ties: fewer), and
 * that time. */
int pm_best_microbatches(const pm_model *m, long N, long P, double *t_out);

/* Predicted Parareal time per gradient with K forward and KA adjoint
 * iterations; NAN when P > N. */
double pm_parareal_time(const pm_model *m, long N, long P, int K, int KA);

/* Predicted busy time of Parareal rank r of P, owning n steps of blocks of nP. */
double pm_parareal_busy(const pm_model *m, long P, long r, long n, long nP, int K, int KA);

/* Predicted time per gradient of Newton shooting with K fine sweeps (the
 * last included) after a coarse-Newton start of K_c coarse sweeps; NAN when
 * P > N.  On one rank: the serial sweep (the pipeline's). */
double pm_newton_time(const pm_model *m, long N, long P, int K, int Kc);

/* Predicted busy time of Newton rank r of P, owning n steps of blocks of nP. */
double pm_newton_busy(const pm_model *m, long P, long r, long n, long nP, int K, int Kc);

/* Newton's default iterations when neither given nor measured: K = 2 fine
 * sweeps (a warm start's), K_c = ⌈log2 P⌉ + 1 coarse ones. */
int pm_newton_default_K(void);
int pm_newton_default_Kc(long P);

/* Predicted time per gradient of G batch groups of P/G ranks each (G
 * divides P, G ≤ B): the pipeline of the largest share of the batch on P/G
 * ranks with M micro-batches, its collectives over all P ranks; NAN when
 * P/G > N. */
double pm_groups_time(const pm_model *m, long N, long P, int G, int M);

/* The micro-batch count of a group's pipeline with the smallest predicted
 * time (ties: fewer), and that time. */
int pm_groups_best_microbatches(const pm_model *m, long N, long P, int G, double *t_out);

/* Of the batch-group counts G > 1 dividing P (G ≤ B), the one with the
 * smallest predicted time at its best micro-batch count: G (0 if none, with
 * *t_out NAN), *M_out and *t_out. */
int pm_best_groups(const pm_model *m, long N, long P, int *M_out, double *t_out);

/* The model's assumptions, one sentence each, and how many. */
extern const char *const pm_assumptions[];
extern const int pm_nassumptions;

/* ---- the validation (perfmodel_validate.c) ---- */

/* Per rank, best of R then medians: */
enum { V_WALL, V_BUSY, V_BUSYW, V_CPU, V_MPI, V_FWD, V_BWD, V_WAIT, V_LO, V_HI, V_NF };

/* The measurements are compared as the best (smallest) of R gradients, the
 * cost of the computation itself on a shared machine (the calibration is a
 * best of R too); the medians are reported alongside. */
typedef struct pm_validation {
  int done;
  pn_parallel_method method;     /* the method validated */
  int K, KA;                     /* Parareal: the iterations it took (same every gradient);
                                    Newton: K fine and KA = K_c coarse sweeps */
  int serial_start;              /* Newton: the start took the serial coarse sweep */
  int fallback;                  /* Newton: a gradient fell back to the pipeline */
  int P, M, repeat;
  int oversubscribed;
  double wall_best, wall_med;    /* slowest rank per gradient */
  double *ranks;                 /* P × 2·V_NF (rank 0): best of R, then medians */
  double pred_wall;
  double *pred_busy;             /* P (rank 0) */
  double err_wall, err_wall_med; /* (model − measured)/measured */
  double err_busy, err_busy_med; /* the rank with the largest |error| of busy time, signed */
  double err_busy_sum;           /* error of the busy time summed over ranks (best of R) */
  double tol;
  int within;                    /* the criterion's error within tol */
  const char *criterion;
} pm_validation;

/* Time `repeat` gradients of DIR with the options *base on comm's ranks
 * (after one warm-up) and compare them with the model m: the wall time per
 * gradient, or each rank's busy time when the node is oversubscribed.
 * Newton is timed cold (no warm start: every gradient as the first of a
 * run; a repeat at the same θ would only confirm the last one).
 * Collective on comm (ctx is made from it). */
int pm_validate(MPI_Comm comm, pn_ctx *ctx, const char *dir, const pn_solver_opts *base,
                int repeat, const pm_model *m, const pm_host *host, double tol, pm_validation *v);

void pm_validation_free(pm_validation *v);

/* ---- a run and its report (perfmodel.c, perfmodel_report.c) ---- */

typedef struct pm_opts {
  const char *dir;
  long steps;                    /* 0: the problem's */
  int batch;                     /* 0: the problem's */
  int microbatches;              /* 0: the solver's automatic rule */
  pn_solver_opts solver;         /* storage, and Parareal's settings in the measuring runs */
  long max_ranks;
  long ranks[PM_MAX_RANK_ROWS];
  int nranks;
  int K[PM_MAX_K], KA[PM_MAX_K], nK; /* Parareal iterations (forward, adjoint) */
  int K_measured[PM_MAX_K];      /* 1: measured by a Parareal run on these ranks */
  int KA_given;                  /* 0: K_a = K */
  int measure_K;                 /* --parareal-iterations measure */
  int newton_K, newton_Kc;       /* Newton's iterations: given, measured or defaults */
  int newton_given;              /* --newton-iterations K[,Kc] */
  int newton_measure;            /* --newton-iterations measure */
  double latency, bandwidth;     /* > 0: given instead of measured */
  int repeat;
  int do_validate;
  double tol;
  const char *json;
  int quiet;
} pm_opts;

/* One P of the pipeline table. */
typedef struct pm_row {
  long P;
  int M;
  double t, speedup, eff;
  int best_M;
  double best_t, best_speedup;
  double weak_t, weak_eff;
  int newton_K, newton_Kc;      /* Newton's iterations at this P */
  double newton_t;              /* Newton's time */
  int groups_G, groups_M;       /* the best batch groups (G > 1; 0: none) */
  double groups_t;              /* their time */
} pm_row;

/* Everything a run measured and predicted. */
typedef struct pm_run {
  const pm_opts *o;
  const pn_problem *p;
  long N;                        /* modelled steps */
  int B;                         /* modelled batch */
  int ranks;                     /* of comm */
  const char *coarse_scheme;     /* Parareal's (the problem's scheme by default) */
  pm_host host;
  pm_cal_table fine, coarse;
  pm_net net;
  pm_model m;
  pm_row *rows;
  int nrows;
  double *par;                   /* nK × nrows Parareal times */
  pm_validation v, vpar, vnewton; /* pipeline, Parareal and Newton validations */
} pm_run;

/* Print the report on rank 0 (ctx: its rank). */
void pm_print_report(pn_ctx *ctx, const pm_run *r);

/* Write the report as JSON to r->o->json (call on rank 0 only; atomic). */
int pm_write_json(pn_ctx *ctx, const pm_run *r);

#endif
