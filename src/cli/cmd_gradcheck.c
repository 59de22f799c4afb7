/* pinode gradcheck DIR|CONFIG: the command (options, and the problem directory
 * or training configuration the gradcheck table is computed on: gradcheck.c,
 * gradcheck_config.c). */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>

#include "cli.h"

static void usage(pn_ctx *ctx)
{
  cli_print(ctx,
            "usage: pinode gradcheck [options] DIR|CONFIG\n"
            "\n"
            "The three claims of 'A note on the adjoint method for neural ordinary differential\n"
            "equation network' (arXiv 2402.15141), on the problem directory DIR: for every\n"
            "scheme and step sizes h, h/2, h/4, ... (h from DIR's step count), each gradient\n"
            "method's relative error against the complex-step gradient (err_theta, err_z0):\n"
            "the discrete adjoint, the continuous adjoint (backsolve and interpolating), each\n"
            "multi-point and single-point; the continuous adjoint's gap to the discrete\n"
            "gradient (vs_discrete) and its observed order; single- vs multi-point\n"
            "(vs_multi); backsolve's drift of z; the cost of each (batched RHS and VJP calls\n"
            "summed over ranks; seconds on the slowest rank).  Fails (exit 1) if the discrete\n"
            "adjoint misses the complex step by more than --tol.  Any number of MPI ranks.\n"
            "CONFIG (a pinode train configuration file) instead of DIR: its network with its\n"
            "initial weights, its training trajectories as one batch and its grid.\n"
            "\n"
            "options:\n"
            "  --scheme NAME   one scheme instead of all built-in ones\n"
            "  --levels L      number of step sizes (default 3)\n"
            "  --steps N       the coarsest step count (default: DIR's)\n"
            "  --no-single     leave out the single-point rows (K sweeps each)\n"
            "  --csv FILE      also write the table as CSV (scripts/plot_gradcheck.py plots it)\n"
            "  --tol X         tolerance of the discrete adjoint (default 1e-12)\n"
            "  -h, --help      this text\n");
  cli_print(ctx, "%s", cli_exit_status_help);
}

/* Options into o; returns −1 to go on, or an exit status. */
static int parse(pn_ctx *ctx, int argc, char **argv, gradcheck_opts *o, long *steps)
{
  static const struct option longopts[] = {{"scheme", required_argument, NULL, 's'},
                                           {"levels", required_argument, NULL, 'l'},
                                           {"steps", required_argument, NULL, 'n'},
                                           {"no-single", no_argument, NULL, 'x'},
                                           {"csv", required_argument, NULL, 'c'},
                                           {"tol", required_argument, NULL, 't'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 's': o->scheme = optarg; break;
    case 'l': {
      long v = 0;
      if (!cli_parse_long(optarg, 1, 12, &v)) {
        cli_print(ctx, "pinode gradcheck: --levels needs an integer in 1..12, got '%s'\n", optarg);
        return 2;
      }
      o->levels = (int)v;
      break;
    }
    case 'n':
      if (!cli_parse_long(optarg, 1, LONG_MAX, steps)) {
        cli_print(ctx, "pinode gradcheck: --steps needs an integer >= 1, got '%s'\n", optarg);
        return 2;
      }
      break;
    case 'x': o->single = 0; break;
    case 'c': o->csv = optarg; break;
    case 't':
      if (!cli_parse_double(optarg, &o->tol) || !(o->tol > 0)) {
        cli_print(ctx, "pinode gradcheck: --tol needs a positive number, got '%s'\n", optarg);
        return 2;
      }
      break;
    case 'h': usage(ctx); return 0;
    default: usage(ctx); return 2;
    }
  }
  if (argc - optind != 1) {
    usage(ctx);
    return cli_usage_error(ctx, "gradcheck", "one DIR or CONFIG expected, got %d argument%s",
                           argc - optind, argc - optind == 1 ? "" : "s");
  }
  return -1;
}

int cmd_gradcheck(MPI_Comm comm, pn_ctx *ctx, int argc, char **argv)
{
  gradcheck_opts o = {.scheme = NULL, .levels = 3, .single = 1, .tol = 1e-12, .csv = NULL};
  long steps = 0;
  const int status = parse(ctx, argc, argv, &o, &steps);
  if (status >= 0) return status;
  const char *dir = argv[optind];
  if (cli_is_regular_file(comm, dir)) { /* a training configuration (gradcheck_config.c) */
    const int crc = cli_gradcheck_config(comm, ctx, dir, &o, steps);
    return crc == PN_OK ? 0 : cli_fail(ctx, "gradcheck", crc);
  }
  pn_problem *p = NULL;
  pn_loss *loss = NULL;
  pn_tableau *tab = NULL;
  int rc = pn_problem_read(ctx, dir, &p);
  if (rc == PN_OK)
    rc = pn_loss_create_mse(ctx, p->nlabels, p->times, p->targets, NULL, p->batch, p->spec.dim,
                            &loss);
  if (rc == PN_OK && o.scheme) rc = pn_tableau_create(ctx, o.scheme, &tab); /* name check */
  if (rc == PN_OK) {
    const gradcheck_input in = {&p->spec, loss, p->theta, p->z0, p->batch,
                                p->t0, p->t1, steps > 0 ? steps : p->steps};
    cli_print(ctx, "%s: D = %d, P = %d, B = %d, K = %d labels, t in [%g, %g], %d rank(s)\n\n", dir,
              p->spec.dim, p->nparam, p->batch, p->nlabels, p->t0, p->t1, pn_ctx_size(ctx));
    rc = gradcheck_run(comm, ctx, &in, &o);
  }
  pn_tableau_destroy(&tab);
  pn_loss_destroy(&loss);
  pn_problem_destroy(&p);
  return rc == PN_OK ? 0 : cli_fail(ctx, "gradcheck", rc);
}
