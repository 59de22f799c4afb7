/* SIGTERM (what SLURM sends before the time limit) and SIGINT only set a
 * flag.  The library polls it between the steps of every solver call
 * (pn_ctx_set_interrupt), so a running gradient stops within a step and
 * 10 ms on every rank; the training loop also asks it between iterations,
 * agreeing across ranks so that every rank stops after the same iteration.
 *
 * The watchdog (--timeout) is a deadline the same poll reports, so a call
 * that runs past it stops the same way on every rank that still runs.  A rank
 * that cannot poll (stopped by SIGSTOP, hung in a system call) would keep the
 * others waiting in the agreement that ends the call; so the watchdog also
 * arms a timer for a grace period after the deadline, and a rank still in the
 * call then says so and exits, which ends the job. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "run.h"

static volatile sig_atomic_t caught = 0;
static struct sigaction old_term, old_int, old_alrm;
static double deadline = 0.0; /* MPI_Wtime() at which the watchdog stops a call; 0: none */
static char last_words[512];  /* what the timer's handler writes before exiting */
static size_t last_words_len;

static void on_signal(int sig) { caught = sig; }

static void on_alarm(int sig)
{
  (void)sig;
  /* write() and _exit() only: a handler may interrupt anything */
  if (write(STDERR_FILENO, last_words, last_words_len) < 0) _exit(1);
  _exit(1);
}

void cli_signals_install(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* MPI and file calls continue after the handler */
  caught = 0;
  deadline = 0.0;
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGINT, &sa, &old_int);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, &old_alrm);
}

void cli_signals_restore(void)
{
  cli_watchdog_stop();
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGALRM, &old_alrm, NULL);
}

int cli_signal_caught(void) { return caught; }

int cli_signal_agree(MPI_Comm comm)
{
  int mine = (int)caught, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  return any;
}

int cli_interrupt_poll(void *user)
{
  (void)user;
  return caught != 0 || (deadline > 0.0 && MPI_Wtime() > deadline);
}

double cli_watchdog_grace(double seconds) { return 10.0 + 0.1 * seconds; }

void cli_watchdog_start(double seconds, const char *what, int rank)
{
  if (!(seconds > 0)) return;
  deadline = MPI_Wtime() + seconds;
  const double grace = cli_watchdog_grace(seconds);
  const int n = snprintf(last_words, sizeof last_words,
                         "pinode: rank %d: %s is still running %.3g s after its timeout of %g s: "
                         "another rank is stopped or hung and cannot leave; exiting (status 1) "
                         "so that the job ends\n",
                         rank, what, grace, seconds);
  last_words_len = n < 0 ? 0 : (size_t)n < sizeof last_words ? (size_t)n : sizeof last_words - 1;
  const double t = seconds + grace;
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = (time_t)t;
  it.it_value.tv_usec = (suseconds_t)((t - floor(t)) * 1e6);
  setitimer(ITIMER_REAL, &it, NULL);
}

void cli_watchdog_stop(void)
{
  if (deadline == 0.0) return;
  struct itimerval it;
  memset(&it, 0, sizeof it);
  setitimer(ITIMER_REAL, &it, NULL);
  deadline = 0.0;
}

/* The reason a call stopped, the same on every rank: a signal if any rank
 * caught one, else the watchdog. */
int cli_stop_reason(MPI_Comm comm)
{
  return cli_signal_agree(comm) ? CLI_STOP_SIGNAL : CLI_STOP_TIMEOUT;
}
