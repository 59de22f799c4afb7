/* train.c: a training loop on the library's API -- data, mini-batches, exact gradients split
 * over the ranks, Adam with a cosine schedule, validation, and the trained model in a file.
 *
 * Compile with (pinode installed under PREFIX):
 *   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
 *   mpicc -std=c11 train.c $(pkg-config --cflags --libs pinode) \
 *     -Wl,-rpath,PREFIX/lib -o train
 * or build every example with CMake (find_package(pinode)):
 *   cmake -S docs/examples -B build-examples -DCMAKE_PREFIX_PATH=PREFIX
 *   cmake --build build-examples
 *
 * Sample run:
 *   $ mpiexec -n 2 ./train pendulum.model
 *   12 training and 4 validation trajectories, 1218 parameters
 *   iteration    0  loss 1.748460  validation 1.908713  lr 0.0010
 *   iteration  100  loss 0.030057  validation 0.083052  lr 0.0085
 *   iteration  200  loss 0.037959  validation 0.061734  lr 0.0050
 *   iteration  300  loss 0.027948  validation 0.059087  lr 0.0015
 *   after 400 iterations: validation 0.057480 (from 1.908713); model written to pendulum.model
 *
 * Description:
 *   A damped pendulum (theta' = omega, omega' = -4 sin theta - 0.3 omega): 16 trajectories of
 *   21 points on [0, 5] made by the built-in generator, a quarter of them held out for
 *   validation.  The model is a network of two tanh layers of 32 units, integrated by RK4 with
 *   40 steps (h = 0.125, so every observation time lies on the grid).  Each iteration draws a
 *   mini-batch of 8 training trajectories; pn_solver_gradient gives its mean-squared error and
 *   the exact gradient on every rank, and Adam (pn_optim: warm-up, then a cosine schedule)
 *   updates theta.  Nothing is broadcast: every rank draws the same batch from the same seed,
 *   receives the same gradient and applies the same update, so theta stays identical on every
 *   rank.  With an output path, rank 0 writes the network and theta as a pinode model file
 *   (pinode predict reads it).  Exits 1 unless the validation loss fell below a tenth of its
 *   start.
 */
#include <stdio.h>
#include <stdlib.h>

#include <pinode.h>

enum { HIDDEN = 32, BATCH = 8, ITERATIONS = 400, REPORT = 100, STEPS = 40 };

typedef struct run {
  pn_ctx *ctx;
  pn_dataset *data;
  pn_model *model;
  pn_tableau *rk4;
  pn_solver *train, *val; /* one per batch size: a solver keeps the workspaces of its batch */
  pn_batch *batch, *val_batch;
  pn_optim *adam;
  int *train_ids, *val_ids, *members, *scratch, ntrain, nval;
  double *theta, *grad;
} run;

static int setup(run *r, const pn_mlp_spec *spec, const pn_solver_opts *sopts)
{
  pn_generator_opts gen;
  pn_generator_opts_default(PN_GEN_PENDULUM, &gen); /* 16 trajectories, 21 points on [0, 2] */
  int rc = pn_dataset_generate(r->ctx, &gen, &r->data);
  const int n = rc == PN_OK ? r->data->ntraj : 0;
  r->train_ids = calloc(4 * (size_t)n + 1, sizeof(int));
  if (rc == PN_OK && !r->train_ids) rc = PN_ERR_MEM;
  if (rc == PN_OK) {
    r->val_ids = r->train_ids + n;
    r->members = r->val_ids + n;
    r->scratch = r->members + n;
    rc = pn_dataset_split(r->ctx, r->data, 0.25, 7, r->train_ids, &r->ntrain, r->val_ids,
                          &r->nval);
  }
  if (rc == PN_OK) rc = pn_dataset_check_grid(r->ctx, r->data, sopts->t0, sopts->t1, STEPS);
  if (rc == PN_OK) rc = pn_model_create_mlp(r->ctx, spec, &r->model);
  if (rc == PN_OK) rc = pn_tableau_create(r->ctx, "rk4", &r->rk4);
  if (rc == PN_OK) rc = pn_solver_create(r->ctx, r->model, r->rk4, sopts, &r->train);
  if (rc == PN_OK) rc = pn_solver_create(r->ctx, r->model, r->rk4, sopts, &r->val);
  if (rc == PN_OK) rc = pn_batch_create(r->ctx, r->data, BATCH, 0.0, PN_REDUCE_MEAN, &r->batch);
  if (rc == PN_OK)
    rc = pn_batch_create(r->ctx, r->data, r->nval, 0.0, PN_REDUCE_MEAN, &r->val_batch);
  if (rc == PN_OK) rc = pn_batch_set(r->val_batch, r->val_ids);
  const int P = rc == PN_OK ? pn_model_nparam(r->model) : 0;
  r->theta = calloc(2 * (size_t)P + 1, sizeof(double));
  if (rc == PN_OK && !r->theta) rc = PN_ERR_MEM;
  if (rc == PN_OK) {
    r->grad = r->theta + P;
    rc = pn_model_init_params(r->model, 3, r->theta);
  }
  pn_optim_opts o;
  pn_optim_opts_default(&o); /* Adam */
  o.lr = 0.01;
  o.schedule = PN_LR_COSINE;
  o.decay_iterations = ITERATIONS;
  o.warmup = 10;
  if (rc == PN_OK) rc = pn_optim_create(r->ctx, P, &o, &r->adam);
  return rc;
}

static double validation_loss(run *r, int *rc)
{
  double L = 0.0;
  if (*rc == PN_OK)
    *rc = pn_solver_loss(r->val, r->theta, r->nval, pn_batch_z0(r->val_batch),
                         pn_batch_loss(r->val_batch), &L);
  return L;
}

/* Rank 0 writes the model file; its status is then agreed on by every rank. */
static int save(run *r, const pn_mlp_spec *spec, const char *path)
{
  int rc = PN_OK;
  if (pn_ctx_rank(r->ctx) == 0) {
    pn_modelfile *mf = NULL;
    rc = pn_modelfile_create(r->ctx, &mf);
    if (rc == PN_OK) rc = pn_modelfile_set_mlp(mf, spec, r->theta, pn_model_nparam(r->model));
    if (rc == PN_OK) rc = pn_modelfile_write(mf, path);
    pn_modelfile_destroy(&mf);
  }
  return pn_ctx_agree(r->ctx, rc);
}

static void teardown(run *r)
{
  pn_optim_destroy(&r->adam);
  pn_batch_destroy(&r->val_batch);
  pn_batch_destroy(&r->batch);
  pn_solver_destroy(&r->val);
  pn_solver_destroy(&r->train);
  pn_tableau_destroy(&r->rk4);
  pn_model_destroy(&r->model);
  pn_dataset_destroy(&r->data);
  free(r->theta);
  free(r->train_ids);
  pn_ctx_destroy(&r->ctx);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const int widths[2] = {HIDDEN, HIDDEN};
  const pn_activation acts[2] = {PN_ACT_TANH, PN_ACT_TANH};
  const pn_mlp_spec spec = {.dim = 2, .nhidden = 2, .widths = widths, .acts = acts};
  pn_solver_opts sopts;
  pn_solver_opts_default(&sopts);
  sopts.t0 = 0.0;
  sopts.t1 = 5.0;
  sopts.nsteps = STEPS;
  run r = {0};
  int rc = pn_ctx_create(MPI_COMM_WORLD, &r.ctx);
  if (rc == PN_OK) rc = setup(&r, &spec, &sopts);
  const int root = rc == PN_OK && pn_ctx_rank(r.ctx) == 0;
  if (root)
    printf("%d training and %d validation trajectories, %d parameters\n", r.ntrain, r.nval,
           pn_model_nparam(r.model));
  pn_rng rng; /* the same seed on every rank: the same mini-batches */
  pn_rng_seed(&rng, 11);
  const double first_val = validation_loss(&r, &rc);
  for (int it = 0; it < ITERATIONS && rc == PN_OK; it++) {
    double L = 0.0;
    pn_optim_info info;
    pn_draw_batch(&rng, r.train_ids, r.ntrain, BATCH, r.members, r.scratch);
    rc = pn_batch_set(r.batch, r.members);
    if (rc == PN_OK)
      rc = pn_solver_gradient(r.train, r.theta, BATCH, pn_batch_z0(r.batch),
                              pn_batch_loss(r.batch), &L, r.grad, NULL);
    const double val = it % REPORT == 0 ? validation_loss(&r, &rc) : 0.0; /* the same theta */
    if (rc == PN_OK) rc = pn_optim_step(r.adam, r.theta, r.grad, &info);
    if (root && rc == PN_OK && it % REPORT == 0)
      printf("iteration %4d  loss %.6f  validation %.6f  lr %.4f\n", it, L, val, info.lr);
  }
  const double val = validation_loss(&r, &rc);
  if (rc == PN_OK && argc > 1) rc = save(&r, &spec, argv[1]);
  if (rc != PN_OK)
    fprintf(stderr, "pinode: %s\n", r.ctx ? pn_ctx_last_error(r.ctx) : pn_strerror(rc));
  else if (root)
    printf("after %d iterations: validation %.6f (from %.6f)%s%s\n", ITERATIONS, val, first_val,
           argc > 1 ? "; model written to " : "", argc > 1 ? argv[1] : "");
  const int ok = rc == PN_OK && val < 0.1 * first_val;
  teardown(&r);
  MPI_Finalize();
  return ok ? 0 : 1;
}
