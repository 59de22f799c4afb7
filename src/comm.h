/* Transport: every MPI call the library makes, on the context's communicator
 * (the library makes no communicator of its own, so that destroying a solver
 * is never collective).
 *
 * pn_ctx_create sets MPI_ERRORS_RETURN on its duplicate, so an MPI failure
 * comes back here as a code: each call below turns it into PN_ERR_MPI with
 * MPI's own message and what was being done.  Every call is timed into the
 * context's MPI clock (pni_comm_time), from which the solver reports the
 * seconds a rank spent inside MPI (pn_stats.time_mpi).  The tags of the
 * messages between neighbouring ranks are all in one enum here.
 *
 * Neighbour messages travel through a link: a few slots, each a row block of
 * doubles followed by one status slot, so that a failing rank can tell the
 * next one to stop instead of leaving it waiting (the status is PN_OK or the
 * sender's error code).  Sends are non-blocking; a slot's previous send is
 * completed before the slot is reused. */
#ifndef PINODE_COMM_H
#define PINODE_COMM_H

#include <stddef.h>

#include "pinode/ctx.h"

/* Tags of neighbour messages, one per kind of sweep: a sweep's messages can
 * never be taken for another's. */
enum pni_tag {
  PNI_TAG_FORWARD = 101,     /* pipeline: states, left to right */
  PNI_TAG_BACKWARD,          /* pipeline: adjoints, right to left */
  PNI_TAG_PARAREAL,          /* Parareal: corrected block starts */
  PNI_TAG_PARAREAL_ADJOINT,  /* Parareal: corrected block-end adjoints */
  PNI_TAG_NEWTON,            /* Newton: block ends and Jacobians, left to right */
  PNI_TAG_NEWTON_START,      /* Newton: the serial coarse start */
  PNI_TAG_SCAN,              /* explicit scans (scan.c) */
  PNI_TAG_INTERRUPT          /* a rank's caller asked to stop (pn_ctx_set_interrupt) */
};

/* Seconds this process has spent inside the context's MPI calls so far. */
double pni_comm_time(const pn_ctx *ctx);

/* Collectives on ctx's communicator (sendrecv's comm: MPI_COMM_NULL for
 * ctx's own). */
int pni_comm_allreduce(pn_ctx *ctx, const void *in, void *out, int count, MPI_Datatype type,
                       MPI_Op op, const char *what);
int pni_comm_bcast(pn_ctx *ctx, void *buf, int count, MPI_Datatype type, int root,
                   const char *what);
int pni_comm_allgatherv(pn_ctx *ctx, const void *in, int count, MPI_Datatype type, void *out,
                        const int *counts, const int *displs, const char *what);
int pni_comm_sendrecv(pn_ctx *ctx, MPI_Comm comm, const void *out, int nout, int to, void *in,
                      int nin, int from, MPI_Datatype type, int tag, const char *what);

/* Collective: every rank passes its local status; all return the status of
 * the lowest failing rank (a rank that passes PN_ERR_REMOTE only if all the
 * failing ranks do), with that rank's message (prefixed "rank r: " on the
 * others).  PN_OK if every rank succeeded.  A failure also settles the
 * interrupt requests the ranks sent each other (every message received). */
int pni_agree(pn_ctx *ctx, int local_rc);

/* Between steps: PN_ERR_INTERRUPTED if the caller's poll says stop on this
 * rank (then every other rank is told) or another rank's request has
 * arrived (looked for at most every 10 ms), else PN_OK.  Once stopping, a
 * rank keeps returning it until the call's failure is agreed on.  Not
 * collective. */
int pni_interrupted(pn_ctx *ctx);

/* ---- Links between neighbours ---- */

typedef struct pni_link {
  pn_ctx *ctx;
  int nslots;
  size_t *len;     /* doubles of slot i's rows */
  size_t *off;     /* offset of slot i in the buffers (rows + status) */
  double *sendbuf, *recvbuf;
  MPI_Request *sreq, *rreq;
  double time_wait; /* seconds waiting for messages and sends, accumulated */
} pni_link;

/* A link with nslots slots of len[i] doubles each (plus a status). */
int pni_link_init(pni_link *link, pn_ctx *ctx, int nslots, const size_t *len);
void pni_link_free(pni_link *link);
size_t pni_link_bytes(int nslots, size_t total_len);

/* Post the receive of slot i from rank `from` (a rank of ctx's communicator). */
int pni_link_post(pni_link *link, int i, int from, int tag);

/* Complete slot i's posted receive; copies its rows to `rows` and the
 * sender's status to *status. */
int pni_link_receive(pni_link *link, int i, double *rows, int *status);

/* Send rows (len[i] doubles) and a status from slot i to rank `to`. */
int pni_link_send(pni_link *link, int i, const double *rows, int status, int to, int tag);

/* Complete every send in flight. */
int pni_link_wait_sends(pni_link *link);

#endif
