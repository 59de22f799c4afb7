/* pinode: the command-line program.  The only file that names MPI_COMM_WORLD:
 * it initialises MPI, makes the program's communicator and the library's
 * context from it, and dispatches to a subcommand. */
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
    {"bench", cmd_bench, "time per gradient of problem directories; the performance model"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
  fprintf(out,
          "usage: pinode [--version] [--help] COMMAND [ARGS]\n"
          "       mpiexec -n P pinode COMMAND [ARGS]   (time split across P ranks)\n\n"
          "commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n'pinode COMMAND --help' describes a command.\n%s", cli_exit_status_help);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  /* The program's own communicator: its messages never meet the library's,
   * which go over the context's duplicate. */
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, status = 2;
  pn_ctx *ctx = NULL;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS || pn_ctx_create(comm, &ctx) != PN_OK) {
    fprintf(stderr, "pinode: cannot create the MPI context\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Comm_rank(comm, &rank);
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
      status = cmd->fn(comm, ctx, argc - 1, argv + 1);
    } else if (rank == 0) {
      fprintf(stderr, "pinode: unknown command '%s'\n", argv[1]);
      usage(stderr);
    }
  }
  pn_ctx_destroy(&ctx);
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return status;
}
