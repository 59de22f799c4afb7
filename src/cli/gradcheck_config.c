/* pinode gradcheck CONFIG: the gradcheck table on the model and data of a
 * training configuration (its network with its initial θ, its training
 * trajectories as one batch, its grid), built by the same code as train. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

int cli_gradcheck_config(MPI_Comm comm, pn_ctx *ctx, const char *path, const gradcheck_opts *o,
                         long steps)
{
  cli_config *cfg = calloc(1, sizeof *cfg);
  cli_problem p;
  memset(&p, 0, sizeof p);
  pn_loss *loss = NULL;
  double *z0 = NULL;
  int B = 0;
  int rc = cfg ? cli_config_load(ctx, path, 0, NULL, cfg)
               : pn_ctx_fail(ctx, PN_ERR_MEM, "out of memory for the configuration");
  if (rc == PN_OK) rc = cli_problem_build(ctx, cfg, &p);
  if (rc == PN_OK) rc = cli_problem_mse(ctx, cfg, &p, &loss, &z0, &B);
  if (rc == PN_OK) {
    const gradcheck_input in = {&p.spec, loss,        p.theta,     z0, B, p.sopts.t0,
                                p.sopts.t1, steps > 0 ? steps : p.sopts.nsteps};
    cli_print(ctx,
              "%s: D = %d, P = %d, B = %d training trajectories, K = %d labels, t in [%g, %g], "
              "%d rank(s)\n\n",
              path, p.spec.dim, p.nparam, B, pn_loss_nlabels(loss), p.sopts.t0, p.sopts.t1,
              pn_ctx_size(ctx));
    rc = gradcheck_run(comm, ctx, &in, o);
  }
  pn_loss_destroy(&loss);
  free(z0);
  cli_problem_free(&p);
  free(cfg);
  return rc;
}
