/* Private layout of pn_ctx. */
#ifndef PINODE_CTX_IMPL_H
#define PINODE_CTX_IMPL_H

#include "pinode/ctx.h"

struct pn_ctx {
  MPI_Comm comm;   /* duplicate of the caller's communicator; returns errors */
  int rank, size;
  int code;        /* last error code */
  char msg[1024];  /* last error message */
  char notes[1024]; /* what calls noted without failing (pn_ctx_notes), one line each */
  double time_mpi; /* seconds inside MPI calls so far (comm.c) */
  /* The caller's interrupt (pn_ctx_set_interrupt, comm.c). */
  pn_interrupt_fn interrupt;
  void *interrupt_user;
  int stopping, stop_from;  /* this rank leaves its sweeps, at the request of that rank's caller */
  double next_probe;        /* when to look for another rank's request next */
  MPI_Request *announce;    /* size − 1 sends of this rank's request, or NULL */
};

#include "comm.h" /* pni_agree and the other MPI calls */

#endif
