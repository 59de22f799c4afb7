/* SIGTERM (what SLURM sends before the time limit) and SIGINT only set a flag;
 * the training loop polls it between iterations, agreeing across ranks so
 * that every rank stops after the same iteration, then checkpoints. */
#include <signal.h>
#include <string.h>

#include "run.h"

static volatile sig_atomic_t caught = 0;
static struct sigaction old_term, old_int;

static void on_signal(int sig) { caught = sig; }

void cli_signals_install(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* MPI and file calls continue after the handler */
  caught = 0;
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGINT, &sa, &old_int);
}

void cli_signals_restore(void)
{
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGINT, &old_int, NULL);
}

int cli_signal_agree(MPI_Comm comm)
{
  int mine = (int)caught, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  return any;
}
