/* Transport: checked and timed MPI calls, rank agreement, and the links
 * between neighbouring ranks (comm.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "ctx_impl.h"
#include "internal.h"

double pni_comm_time(const pn_ctx *ctx) { return ctx->time_mpi; }

/* Time the MPI call `expr` into ctx's clock; a failure becomes PN_ERR_MPI
 * naming `what` (the caller's words) and the call. */
#define COMM_CALL(ctx, what, expr)                                                      \
  do {                                                                                  \
    const double comm_t0_ = pni_wtime();                                                \
    const int comm_rc_ = (expr);                                                        \
    (ctx)->time_mpi += pni_wtime() - comm_t0_;                                          \
    if (comm_rc_ != MPI_SUCCESS) return mpi_failure((ctx), comm_rc_, (what), #expr);   \
  } while (0)

static int mpi_failure(pn_ctx *ctx, int mpirc, const char *what, const char *call)
{
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(mpirc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", mpirc);
  const char *paren = strchr(call, '(');
  return pn_ctx_fail(ctx, PN_ERR_MPI, "%.*s failed on rank %d while %s: %s",
                     paren ? (int)(paren - call) : (int)strlen(call), call, ctx->rank, what, text);
}

static MPI_Comm comm_of(const pn_ctx *ctx, MPI_Comm comm)
{
  return comm == MPI_COMM_NULL ? ctx->comm : comm;
}

int pni_comm_allreduce(pn_ctx *ctx, const void *in, void *out, int count, MPI_Datatype type,
                       MPI_Op op, const char *what)
{
  COMM_CALL(ctx, what, MPI_Allreduce(in, out, count, type, op, ctx->comm));
  return PN_OK;
}

int pni_comm_bcast(pn_ctx *ctx, void *buf, int count, MPI_Datatype type, int root,
                   const char *what)
{
  COMM_CALL(ctx, what, MPI_Bcast(buf, count, type, root, ctx->comm));
  return PN_OK;
}

int pni_comm_allgatherv(pn_ctx *ctx, const void *in, int count, MPI_Datatype type, void *out,
                        const int *counts, const int *displs, const char *what)
{
  COMM_CALL(ctx, what,
            MPI_Allgatherv(in, count, type, out, counts, displs, type, ctx->comm));
  return PN_OK;
}

int pni_comm_sendrecv(pn_ctx *ctx, MPI_Comm comm, const void *out, int nout, int to, void *in,
                      int nin, int from, MPI_Datatype type, int tag, const char *what)
{
  COMM_CALL(ctx, what,
            MPI_Sendrecv(out, nout, type, to, tag, in, nin, type, from, tag, comm_of(ctx, comm),
                         MPI_STATUS_IGNORE));
  return PN_OK;
}

/* ---- interrupts ---- */

void pn_ctx_set_interrupt(pn_ctx *ctx, pn_interrupt_fn poll, void *user)
{
  if (!ctx) return;
  ctx->interrupt = poll;
  ctx->interrupt_user = user;
}

/* Tell every other rank that this one stops (one int each, non-blocking;
 * received when the failure is agreed on). */
static void announce(pn_ctx *ctx)
{
  static const int note = 1;
  if (ctx->size == 1 || ctx->announce) return;
  ctx->announce = calloc((size_t)ctx->size - 1, sizeof(MPI_Request));
  if (!ctx->announce) return; /* the others stop at their next exchange with this rank */
  for (int r = 0, i = 0; r < ctx->size; r++)
    if (r != ctx->rank)
      MPI_Isend(&note, 1, MPI_INT, r, PNI_TAG_INTERRUPT, ctx->comm, &ctx->announce[i++]);
}

/* The message of a stop asked by rank `from`'s caller. */
static int stopped(pn_ctx *ctx, int from)
{
  if (from == ctx->rank)
    return pn_ctx_fail(ctx, PN_ERR_INTERRUPTED, "interrupted at the caller's request");
  return pn_ctx_fail(ctx, PN_ERR_INTERRUPTED, "interrupted at the request of rank %d's caller",
                     from);
}

int pni_interrupted(pn_ctx *ctx)
{
  if (!ctx->interrupt) return PN_OK;
  if (ctx->stopping) return stopped(ctx, ctx->stop_from);
  if (ctx->interrupt(ctx->interrupt_user)) {
    ctx->stopping = 1;
    ctx->stop_from = ctx->rank;
    announce(ctx);
    return stopped(ctx, ctx->rank);
  }
  const double now = ctx->size > 1 ? pni_wtime() : 0.0;
  if (ctx->size == 1 || now < ctx->next_probe) return PN_OK;
  ctx->next_probe = now + 0.01;
  int arrived = 0;
  MPI_Status st;
  if (MPI_Iprobe(MPI_ANY_SOURCE, PNI_TAG_INTERRUPT, ctx->comm, &arrived, &st) != MPI_SUCCESS ||
      !arrived)
    return PN_OK;
  ctx->stopping = 1;
  ctx->stop_from = st.MPI_SOURCE;
  return stopped(ctx, st.MPI_SOURCE);
}

/* After a failure every rank agrees on: receive every request the ranks
 * sent each other and complete the sends, so that none is left for a later
 * call to find.  Collective. */
static int settle_interrupts(pn_ctx *ctx)
{
  const int mine = ctx->announce != NULL;
  int senders = 0;
  PN_CALL(pni_comm_allreduce(ctx, &mine, &senders, 1, MPI_INT, MPI_SUM,
                             "counting the ranks that asked to stop"));
  for (int i = 0; i < senders - mine; i++) {
    int note = 0;
    COMM_CALL(ctx, "receiving a request to stop",
              MPI_Recv(&note, 1, MPI_INT, MPI_ANY_SOURCE, PNI_TAG_INTERRUPT, ctx->comm,
                       MPI_STATUS_IGNORE));
  }
  if (ctx->announce) {
    const int rc = MPI_Waitall(ctx->size - 1, ctx->announce, MPI_STATUSES_IGNORE);
    free(ctx->announce);
    ctx->announce = NULL;
    if (rc != MPI_SUCCESS) return mpi_failure(ctx, rc, "sending a request to stop", "MPI_Waitall(");
  }
  ctx->stopping = 0;
  ctx->next_probe = 0.0;
  return PN_OK;
}

int pni_agree(pn_ctx *ctx, int local_rc)
{
  /* Agree on the failing rank and share its code and message, so that every
   * rank returns the same error and none is left waiting.  The origin is the
   * lowest rank that failed of its own accord; a rank that failed only
   * because another did (PN_ERR_REMOTE: it may hold no message of its own)
   * is the origin only when no rank says more. */
  const int n = ctx->size;
  const int mine = local_rc == PN_OK ? 2 * n : local_rc == PN_ERR_REMOTE ? n + ctx->rank : ctx->rank;
  int least = 2 * n;
  PN_CALL(pni_comm_allreduce(ctx, &mine, &least, 1, MPI_INT, MPI_MIN, "agreeing on a status"));
  if (least == 2 * n) return PN_OK;
  PN_CALL(settle_interrupts(ctx));
  const int first = least % n;
  char msg[sizeof ctx->msg];
  int code = local_rc;
  if (ctx->rank == first) memcpy(msg, ctx->msg, sizeof msg);
  PN_CALL(pni_comm_bcast(ctx, &code, 1, MPI_INT, first, "sharing a failing rank's status"));
  PN_CALL(pni_comm_bcast(ctx, msg, (int)sizeof msg, MPI_CHAR, first,
                         "sharing a failing rank's message"));
  msg[sizeof msg - 1] = '\0';
  if (ctx->rank != first) snprintf(ctx->msg, sizeof ctx->msg, "rank %d: %.1000s", first, msg);
  ctx->code = code;
  return code;
}

/* The same for callers: agreement on a status of their own work with the
 * library's objects (pinode/ctx.h). */
int pn_ctx_agree(pn_ctx *ctx, int local_rc) { return pni_agree(ctx, local_rc); }

/* ---- Links ---- */

size_t pni_link_bytes(int nslots, size_t total_len)
{
  return sizeof(double) * 2 * (total_len + (size_t)nslots) +
         (size_t)nslots * (2 * sizeof(size_t) + 2 * sizeof(MPI_Request));
}

int pni_link_init(pni_link *link, pn_ctx *ctx, int nslots, const size_t *len)
{
  memset(link, 0, sizeof *link);
  link->ctx = ctx;
  size_t total = 0;
  for (int i = 0; i < nslots; i++) total += len[i] + 1;
  int rc = pni_calloc(ctx, 2 * (size_t)nslots, sizeof(size_t), &link->len, "message slots");
  if (rc == PN_OK) rc = pni_calloc(ctx, 2 * total, sizeof(double), &link->sendbuf, "message buffers");
  if (rc == PN_OK)
    rc = pni_calloc(ctx, 2 * (size_t)nslots, sizeof(MPI_Request), &link->sreq, "message requests");
  if (rc != PN_OK) {
    pni_link_free(link);
    return rc;
  }
  link->nslots = nslots;
  link->off = link->len + nslots;
  link->recvbuf = link->sendbuf + total;
  link->rreq = link->sreq + nslots;
  for (int i = 0, at = 0; i < nslots; i++) {
    link->len[i] = len[i];
    link->off[i] = (size_t)at;
    at += (int)(len[i] + 1);
    link->sreq[i] = link->rreq[i] = MPI_REQUEST_NULL;
  }
  return PN_OK;
}

void pni_link_free(pni_link *link)
{
  int finalized = 0;
  MPI_Finalized(&finalized);
  for (int i = 0; !finalized && i < 2 * link->nslots; i++) /* sreq, then rreq */
    if (link->sreq[i] != MPI_REQUEST_NULL) {
      if (i >= link->nslots) MPI_Cancel(&link->sreq[i]);
      MPI_Wait(&link->sreq[i], MPI_STATUS_IGNORE);
    }
  free(link->len);
  free(link->sendbuf);
  free(link->sreq);
  memset(link, 0, sizeof *link);
}

int pni_link_post(pni_link *link, int i, int from, int tag)
{
  pn_ctx *ctx = link->ctx;
  COMM_CALL(ctx, "posting the receive of a neighbour's message",
            MPI_Irecv(link->recvbuf + link->off[i], (int)link->len[i] + 1, MPI_DOUBLE, from, tag,
                      ctx->comm, &link->rreq[i]));
  return PN_OK;
}

/* Wait for a receive.  With a caller's interrupt the wait polls it: a rank
 * whose neighbour is stopped, hung or busy with a long block still sees its
 * own caller's request (or another rank's), leaves and tells the others.  The
 * receive then stays posted: the neighbour still sends (a failing rank passes
 * its messages on) and the message lands in the slot. */
static int wait_polling(pn_ctx *ctx, MPI_Request *req)
{
  if (!ctx->interrupt) {
    COMM_CALL(ctx, "waiting for a neighbour's message", MPI_Wait(req, MPI_STATUS_IGNORE));
    return PN_OK;
  }
  for (int done = 0;;) {
    COMM_CALL(ctx, "waiting for a neighbour's message", MPI_Test(req, &done, MPI_STATUS_IGNORE));
    if (done) return PN_OK;
    PN_CALL(pni_interrupted(ctx));
  }
}

int pni_link_receive(pni_link *link, int i, double *rows, int *status)
{
  pn_ctx *ctx = link->ctx;
  const double t = pni_wtime();
  const int rc = wait_polling(ctx, &link->rreq[i]);
  link->time_wait += pni_wtime() - t;
  PN_CALL(rc);
  const double *slot = link->recvbuf + link->off[i];
  memcpy(rows, slot, sizeof(double) * link->len[i]);
  *status = (int)slot[link->len[i]];
  return PN_OK;
}

int pni_link_send(pni_link *link, int i, const double *rows, int status, int to, int tag)
{
  pn_ctx *ctx = link->ctx;
  const double t = pni_wtime();
  COMM_CALL(ctx, "completing a send to a neighbour", MPI_Wait(&link->sreq[i], MPI_STATUS_IGNORE));
  link->time_wait += pni_wtime() - t;
  double *slot = link->sendbuf + link->off[i];
  memcpy(slot, rows, sizeof(double) * link->len[i]);
  slot[link->len[i]] = (double)status;
  COMM_CALL(ctx, "sending to a neighbour",
            MPI_Isend(slot, (int)link->len[i] + 1, MPI_DOUBLE, to, tag, ctx->comm, &link->sreq[i]));
  return PN_OK;
}

int pni_link_wait_sends(pni_link *link)
{
  pn_ctx *ctx = link->ctx;
  const double t = pni_wtime();
  COMM_CALL(ctx, "completing the sends to a neighbour",
            MPI_Waitall(link->nslots, link->sreq, MPI_STATUSES_IGNORE));
  link->time_wait += pni_wtime() - t;
  return PN_OK;
}
