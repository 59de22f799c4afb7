/* Exclusive scan of an associative, non-commutative operator over the ranks,
 * checked against a serial product, under SimGrid SMPI and real MPI.
 *
 * It shows why the adjoint maps of Parareal cannot use MPI_Exscan under SMPI
 * (SimGrid 3.32): its MPI_Exscan and MPI_Scan with an operator created as
 * non-commutative never apply it (a stale loop index guards the
 * application), so the receive buffer comes back as it went in on every
 * rank; with the operator declared commutative the results arrive in any
 * order.  pni_exscan below, recursive doubling with MPI_Sendrecv, is exact
 * under both, and its operator takes a context, so no static scratch.
 *
 * Run: smpirun -np P -platform PLATFORM ./exscan_check   (or mpiexec -n P)
 * Exit 0 when pni_exscan is exact on every rank; the library collectives'
 * errors are printed, not judged. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

/* The operator: *inout ← in ∘ inout, `in` covering the lower ranks (the
 * MPI convention for user operators). */
typedef void pni_exscan_op(const void *in, void *inout, void *ctx);

/* Exclusive scan: on rank r > 0, recvbuf ← x_0 ∘ x_1 ∘ … ∘ x_{r-1}; rank 0's
 * recvbuf is left as it is.  `count` elements of `type` each buffer; partial
 * and tmp are two more such buffers of the caller (no allocation).  ⌈log2 P⌉
 * rounds of one MPI_Sendrecv each: after the round of `mask`, partial holds
 * the product of the ranks of my aligned group of 2·mask (those that exist),
 * recvbuf that of the ones below me in it. */
static int pni_exscan(const void *sendbuf, void *recvbuf, void *partial, void *tmp, int count,
                      MPI_Datatype type, pni_exscan_op *op, void *ctx, int tag, MPI_Comm comm)
{
  int rank, size, rc;
  MPI_Aint lb, extent;
  if ((rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS) return rc;
  if ((rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS) return rc;
  if ((rc = MPI_Type_get_extent(type, &lb, &extent)) != MPI_SUCCESS) return rc;
  const size_t bytes = (size_t)count * (size_t)extent;
  memcpy(partial, sendbuf, bytes);
  int have = 0; /* recvbuf holds something */
  for (int mask = 1; mask < size; mask <<= 1) {
    const int peer = rank ^ mask;
    if (peer >= size) continue;
    rc = MPI_Sendrecv(partial, count, type, peer, tag, tmp, count, type, peer, tag, comm,
                      MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return rc;
    if (peer < rank) { /* tmp covers the ranks just below mine */
      if (have) op(tmp, recvbuf, ctx);
      else memcpy(recvbuf, tmp, bytes);
      have = 1;
      op(tmp, partial, ctx);
    } else { /* tmp covers the ranks just above mine */
      op(partial, tmp, ctx);
      memcpy(partial, tmp, bytes);
    }
  }
  return MPI_SUCCESS;
}

/* ---- the check ----------------------------------------------------------- */

enum { N = 3, ELEM = N * N }; /* a 3×3 matrix per element */

/* in ∘ inout := inout · in (the later map applied after the earlier, as the
 * adjoint maps compose), through a scratch matrix. */
static void matmul_into(const double *in, double *inout, double *scratch)
{
  for (int i = 0; i < N; i++)
    for (int c = 0; c < N; c++) {
      double s = 0.0;
      for (int k = 0; k < N; k++) s += inout[i * N + k] * in[k * N + c];
      scratch[i * N + c] = s;
    }
  memcpy(inout, scratch, sizeof(double) * ELEM);
}

static void compose_ctx(const void *in, void *inout, void *ctx) { matmul_into(in, inout, ctx); }

static double mpi_scratch[ELEM]; /* MPI's user operators take no context */
static void compose_mpi(void *in, void *inout, int *len, MPI_Datatype *type)
{
  (void)type;
  for (int e = 0; e < *len; e++) matmul_into((double *)in + e * ELEM, (double *)inout + e * ELEM, mpi_scratch);
}

/* pni_exscan through the MPI operator and its static scratch: rules out the
 * scratch (SMPI's privatized globals) as a cause. */
static void compose_static(const void *in, void *inout, void *ctx)
{
  int one = 1;
  compose_mpi((void *)in, inout, &one, ctx);
}

static void element(int r, double *x)
{
  for (int i = 0; i < ELEM; i++) x[i] = (i % (N + 1) == 0 ? 1.0 : 0.0) + 0.1 * sin(1.0 + r * 7.0 + i);
}

static double error_vs_serial(int rank, const double *got)
{
  double want[ELEM], x[ELEM], scratch[ELEM], err = 0.0;
  element(0, want);
  for (int q = 1; q < rank; q++) {
    element(q, x);
    matmul_into(want, x, scratch); /* want ← want ∘ x_q */
    memcpy(want, x, sizeof want);
  }
  for (int i = 0; i < ELEM; i++) err = fmax(err, fabs(got[i] - want[i]));
  return err;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Datatype elem;
  MPI_Type_contiguous(ELEM, MPI_DOUBLE, &elem);
  MPI_Type_commit(&elem);
  double x[ELEM], got[ELEM], partial[ELEM], tmp[ELEM], scratch[ELEM];
  element(rank, x);
  const char *names[] = {"MPI_Exscan, non-commutative op", "MPI_Exscan, op declared commutative",
                         "pni_exscan, static scratch", "pni_exscan (recursive doubling)"};
  double worst[4];
  for (int m = 0; m < 4; m++) {
    for (int i = 0; i < ELEM; i++) got[i] = 42.0; /* what an untouched buffer shows */
    if (m < 2) {
      MPI_Op op;
      MPI_Op_create(compose_mpi, m /* commutative? */, &op);
      MPI_Exscan(x, got, 1, elem, op, MPI_COMM_WORLD);
      MPI_Op_free(&op);
    } else if (m == 2) {
      pni_exscan(x, got, partial, tmp, 1, elem, compose_static, &elem, 77, MPI_COMM_WORLD);
    } else {
      pni_exscan(x, got, partial, tmp, 1, elem, compose_ctx, scratch, 77, MPI_COMM_WORLD);
    }
    const double err = rank > 0 ? error_vs_serial(rank, got) : 0.0;
    MPI_Allreduce(&err, &worst[m], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) printf("P = %d  %-37s max abs error %.3g\n", size, names[m], worst[m]);
  }
  MPI_Type_free(&elem);
  MPI_Finalize();
  return worst[2] <= 1e-14 && worst[3] <= 1e-14 ? 0 : 1;
}
