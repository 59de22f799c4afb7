/* Private layout of pn_ctx. */
#ifndef PINODE_CTX_IMPL_H
#define PINODE_CTX_IMPL_H

#include "pinode/ctx.h"

struct pn_ctx {
  MPI_Comm comm; /* duplicate of the caller's communicator */
  int rank, size;
  int code;        /* last error code */
  char msg[1024];  /* last error message */
};

/* Collective: every rank passes its local status; all return the status of
 * the lowest failing rank, with that rank's message (prefixed "rank r: " on
 * the others).  PN_OK if every rank succeeded. */
int pni_agree(pn_ctx *ctx, int local_rc);

#endif
