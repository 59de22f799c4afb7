/* pinode: the command-line program.  The only file that names MPI_COMM_WORLD:
 * it initialises MPI, makes the context and dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
  const char *name;
  cli_command_fn fn;
  const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "fit a neural ODE to data (an INI configuration)"},
    {"predict", cmd_predict, "integrate a trained model from initial states"},
    {"gradient", cmd_gradient, "loss and exact gradients of a problem directory"},
    {"gradcheck", cmd_gradcheck, "the seed paper's claims: every gradient method vs complex step"},
    {"bench", cmd_bench, "time per gradient of the benchmarks, against DGEMM, PETSc, PyTorch"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
  fprintf(out,
          "usage: pinode [--version] [--help] COMMAND [ARGS]\n"
          "       mpiexec -n P pinode COMMAND [ARGS]   (time split across P ranks)\n\n"
          "commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n'pinode COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank = 0, status = 2;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  pn_ctx *ctx = NULL;
  if (pn_ctx_create(MPI_COMM_WORLD, &ctx) != PN_OK) {
    fprintf(stderr, "pinode: cannot create the MPI context\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    if (rank == 0) usage(argc < 2 ? stderr : stdout);
    status = argc < 2 ? 2 : 0;
  } else if (strcmp(argv[1], "--version") == 0) {
    if (rank == 0) printf("pinode %s\n", PN_VERSION_STRING);
    status = 0;
  } else {
    const command *cmd = NULL;
    for (size_t i = 0; i < NCOMMANDS; i++)
      if (strcmp(argv[1], commands[i].name) == 0) cmd = &commands[i];
    if (cmd) {
      status = cmd->fn(ctx, argc - 1, argv + 1);
    } else if (rank == 0) {
      fprintf(stderr, "pinode: unknown command '%s'\n", argv[1]);
      usage(stderr);
    }
  }
  pn_ctx_destroy(&ctx);
  MPI_Finalize();
  return status;
}
