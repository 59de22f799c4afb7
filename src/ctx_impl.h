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
};

#include "comm.h" /* pni_agree and the other MPI calls */

#endif
