/* Trajectory files in HDF5 (see h5.h).  Writes are collective over MPI-IO,
 * each rank its own slab of times, in phases after each of which the ranks
 * agree, so that a failure on one rank stops all of them at the same HDF5
 * call and none is left waiting in a collective.  Reads are on rank 0 and
 * broadcast, as the text readers do: training data is small next to a
 * trajectory and every rank needs all of it. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "comm.h"
#include "internal.h"
#include "pinode/h5.h"
#include "pinode/version.h"

#define MAX_DIM 4096

#ifndef PINODE_HAVE_HDF5

int pn_h5_available(void) { return 0; }

static int unavailable(pn_ctx *ctx, const char *path)
{
  return pn_ctx_fail(ctx, PN_ERR_ARG,
                     "%s: this pinode was built without HDF5 and reads and writes CSV only "
                     "(install libhdf5-openmpi-dev and configure with -DPINODE_HDF5=ON)",
                     path ? path : "(NULL path)");
}

int pn_h5_write(pn_ctx *ctx, const char *path, const pn_h5_block *block, const pn_h5_attrs *attrs)
{
  (void)block;
  (void)attrs;
  return unavailable(ctx, path);
}

int pn_h5_read_dataset(pn_ctx *ctx, const char *path, pn_dataset **out)
{
  if (out) *out = NULL;
  return unavailable(ctx, path);
}

#else

#include <hdf5.h>

int pn_h5_available(void) { return 1; }

/* ---- HDF5's errors -------------------------------------------------------- */

/* HDF5 prints its error stack unless told not to.  pinode reports an error
 * itself, with the most specific reason HDF5 gave: a callback that HDF5 calls
 * when one of its functions fails (before a later call clears the stack)
 * keeps that reason.  Process-wide, as HDF5's error reporting is. */
enum { REASON = 240 };
static char last_reason[REASON];

typedef struct h5_quiet {
  H5E_auto2_t func;
  void *data;
} h5_quiet;

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *why)
{
  if (n == 0 && e->desc && e->desc[0]) snprintf(why, REASON, "%s", e->desc);
  return 0;
}

static herr_t remember(hid_t stack, void *unused)
{
  (void)unused;
  H5Ewalk2(stack, H5E_WALK_UPWARD, innermost, last_reason);
  return 0;
}

static void quiet_begin(h5_quiet *q)
{
  H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
  H5Eset_auto2(H5E_DEFAULT, remember, NULL);
  last_reason[0] = '\0';
}

static void quiet_end(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

/* " (reason)" of HDF5's last failure, or "" when it gave none; forgets it. */
static const char *h5_reason(char *buf)
{
  snprintf(buf, REASON + 4, last_reason[0] ? " (%s)" : "%s", last_reason);
  last_reason[0] = '\0';
  return buf;
}

static void close_id(hid_t *id)
{
  if (*id >= 0) H5Oclose(*id);
  *id = -1;
}

static void close_plist(hid_t *id)
{
  if (*id >= 0) H5Pclose(*id);
  *id = -1;
}

static void close_space(hid_t *id)
{
  if (*id >= 0) H5Sclose(*id);
  *id = -1;
}

static void close_type(hid_t *id)
{
  if (*id >= 0) H5Tclose(*id);
  *id = -1;
}

/* ---- writing -------------------------------------------------------------- */

enum { D_TIME, D_Z, D_TRAJ, NDSETS };
static const char *const dset_name[NDSETS] = {"time", "z", "trajectory"};

typedef struct writer {
  pn_ctx *ctx;
  const char *path;
  char tmp[4096];
  const pn_h5_block *b;
  hid_t file, dset[NDSETS];
} writer;

/* "; only N free on its file system" when the temporary file's file system
 * has less room than the states need (HDF5 reports a full disk only as a
 * failed write), else "". */
static const char *room(const writer *w, char *buf, size_t n)
{
  struct statvfs fs;
  const double need = 8.0 * (double)w->b->ntimes * w->b->nb * (w->b->dim + 1.0);
  char dir[4096], a[32], b[32];
  snprintf(dir, sizeof dir, "%s", w->tmp);
  char *slash = strrchr(dir, '/');
  snprintf(buf, n, "%s", "");
  if (slash) *slash = '\0';
  if (statvfs(slash ? dir : ".", &fs) == 0 && (double)fs.f_bavail * fs.f_frsize < need)
    snprintf(buf, n, "; only %s free on its file system, the states need %s",
             pni_bytes_text((double)fs.f_bavail * fs.f_frsize, a, sizeof a),
             pni_bytes_text(need, b, sizeof b));
  return buf;
}

/* PN_ERR_IO naming the file and, unless NULL, the dataset. */
static int write_fail(writer *w, const char *dataset, const char *what)
{
  char why[REASON + 4], free_[160];
  h5_reason(why);
  room(w, free_, sizeof free_);
  if (dataset)
    return pn_ctx_fail(w->ctx, PN_ERR_IO, "%s: cannot %s dataset '%s'%s%s; nothing was written to %s",
                       w->path, what, dataset, why, free_, w->path);
  return pn_ctx_fail(w->ctx, PN_ERR_IO, "%s: cannot %s%s%s; nothing was written to %s", w->path,
                     what, why, free_, w->path);
}

static int check_block(pn_ctx *ctx, const char *path, const pn_h5_block *b,
                       const pn_h5_attrs *a)
{
  PN_CHECK(ctx, path && b, PN_ERR_ARG, "NULL argument");
  PN_CHECK(ctx, strlen(path) < 4000, PN_ERR_ARG, "path too long: %.64s...", path);
  PN_CHECK(ctx, b->ntimes >= 1 && b->nb >= 1 && b->dim >= 1 && b->dim <= MAX_DIM, PN_ERR_ARG,
           "%s: %ld times x %d trajectories x %d components: need T >= 1, B >= 1 and 1 <= D <= %d",
           path, b->ntimes, b->nb, b->dim, MAX_DIM);
  PN_CHECK(ctx, b->first >= 0 && b->count >= 0 && b->count <= b->ntimes - b->first, PN_ERR_ARG,
           "%s: a block of rows [%ld, %ld) outside [0, %ld)", path, b->first,
           b->first + b->count, b->ntimes);
  PN_CHECK(ctx, b->count == 0 || (b->time && b->z), PN_ERR_ARG, "%s: NULL times or states", path);
  PN_CHECK(ctx, !a || (a->compress >= 0 && a->compress <= 9), PN_ERR_ARG,
           "%s: compression level %d: need 0 (none) to 9", path, a ? a->compress : 0);
  PN_CHECK(ctx, (double)b->nb * b->dim * sizeof(double) < 4294967296.0, PN_ERR_LIMIT,
           "%s: one time row of %d x %d states is over 4 GiB, HDF5's chunk limit", path, b->nb,
           b->dim);
  return PN_OK;
}

/* Every rank's block against the others': the same T, B and D, and blocks in
 * rank order without gaps covering [0, T).  The same verdict on every rank. */
static int check_fit(pn_ctx *ctx, const char *path, const pn_h5_block *b)
{
  const int P = pn_ctx_size(ctx);
  const long mine[5] = {b->ntimes, b->nb, b->dim, b->first, b->count};
  long *all = NULL;
  int *counts = NULL, *displs = NULL;
  int rc = pni_calloc(ctx, (size_t)P * 5, sizeof(long), &all, "block table");
  if (rc == PN_OK) rc = pni_calloc(ctx, (size_t)P, sizeof(int), &counts, "block table");
  if (rc == PN_OK) rc = pni_calloc(ctx, (size_t)P, sizeof(int), &displs, "block table");
  for (int r = 0; rc == PN_OK && r < P; r++) {
    counts[r] = 5;
    displs[r] = 5 * r;
  }
  rc = pn_ctx_agree(ctx, rc);
  if (rc == PN_OK)
    rc = pni_comm_allgatherv(ctx, mine, 5, MPI_LONG, all, counts, displs, "the ranks' blocks");
  long next = 0;
  for (int r = 0; rc == PN_OK && r < P; r++) {
    const long *o = all + 5 * r;
    if (o[0] != all[0] || o[1] != all[1] || o[2] != all[2])
      rc = pn_ctx_fail(ctx, PN_ERR_ARG, "%s: rank %d writes %ld x %ld x %ld, rank 0 %ld x %ld x %ld",
                       path, r, o[0], o[1], o[2], all[0], all[1], all[2]);
    else if (o[3] != next)
      rc = pn_ctx_fail(ctx, PN_ERR_ARG, "%s: rank %d's rows start at %ld, not at %ld where the "
                       "previous rank's end", path, r, o[3], next);
    next += o[4];
  }
  if (rc == PN_OK && next != all[0])
    rc = pn_ctx_fail(ctx, PN_ERR_ARG, "%s: the ranks' blocks cover %ld of the %ld rows", path,
                     next, all[0]);
  free(all);
  free(counts);
  free(displs);
  return rc;
}

static int create_file(writer *w)
{
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0 && H5Pset_fapl_mpio(fapl, pn_ctx_comm(w->ctx), MPI_INFO_NULL) >= 0)
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  close_plist(&fapl);
  if (w->file < 0) {
    char what[4200];
    snprintf(what, sizeof what, "create the temporary file %s", w->tmp);
    return write_fail(w, NULL, what);
  }
  return PN_OK;
}

static hid_t create_dataset(writer *w, int which, hid_t type, int rank, const hsize_t *dims,
                            const hsize_t *chunk, int compress)
{
  hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t d = -1;
  if (space >= 0 && dcpl >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0 &&
      (!chunk || H5Pset_chunk(dcpl, rank, chunk) >= 0) &&
      (!chunk || !compress || (H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, (unsigned)compress) >= 0)))
    d = H5Dcreate2(w->file, dset_name[which], type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  close_space(&space);
  close_plist(&dcpl);
  return d;
}

/* A variable-length UTF-8 string attribute: a scalar (n = 0) or n strings. */
static herr_t put_strings(hid_t loc, const char *name, const char *const *v, int n)
{
  const hsize_t dims[1] = {(hsize_t)n};
  hid_t type = H5Tcopy(H5T_C_S1), space = n ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t attr = -1;
  herr_t e = type >= 0 && space >= 0 && H5Tset_size(type, H5T_VARIABLE) >= 0 &&
                     H5Tset_cset(type, H5T_CSET_UTF8) >= 0
                 ? 0 : -1;
  if (e >= 0) attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  e = attr >= 0 ? H5Awrite(attr, type, v) : -1;
  if (attr >= 0) H5Aclose(attr);
  close_space(&space);
  close_type(&type);
  return e;
}

static herr_t put_double(hid_t loc, const char *name, double x)
{
  hid_t space = H5Screate(H5S_SCALAR), attr = -1;
  if (space >= 0) attr = H5Acreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  const herr_t e = attr >= 0 ? H5Awrite(attr, H5T_NATIVE_DOUBLE, &x) : -1;
  if (attr >= 0) H5Aclose(attr);
  close_space(&space);
  return e;
}

/* The file's attributes (on the root group); columns: D names. */
static int put_attrs(writer *w, const pn_h5_attrs *a, const char *const *columns)
{
  const char *version = PN_VERSION_STRING;
  herr_t e = put_strings(w->file, "pinode_version", &version, 0);
  if (e >= 0) e = put_strings(w->file, "columns", columns, w->b->dim);
  if (e >= 0 && a && a->scheme) e = put_strings(w->file, "scheme", &a->scheme, 0);
  if (e >= 0 && a && a->model) e = put_strings(w->file, "model", &a->model, 0);
  if (e >= 0 && a && a->step > 0) e = put_double(w->file, "step", a->step);
  return e >= 0 ? PN_OK : write_fail(w, NULL, "write the attributes");
}

/* About 1 MiB of time rows per chunk: large enough for fast I/O and good
 * compression, small enough that a reader of a few rows reads little. */
static hsize_t chunk_rows(long T, double row_bytes)
{
  double c = floor(1048576.0 / row_bytes);
  if (c < 1) c = 1;
  return (hsize_t)(c < (double)T ? c : (double)T);
}

static int create_datasets(writer *w, const pn_h5_attrs *a, const char *const *columns)
{
  const pn_h5_block *b = w->b;
  const int level = a ? a->compress : 0;
  const hsize_t T = (hsize_t)b->ntimes, B = (hsize_t)b->nb, D = (hsize_t)b->dim;
  const hsize_t zdims[3] = {T, B, D}, tdims[1] = {T}, bdims[1] = {B};
  const hsize_t zchunk[3] = {chunk_rows(b->ntimes, 8.0 * (double)(B * D)), B, D};
  const hsize_t tchunk[1] = {chunk_rows(b->ntimes, 8.0)};
  w->dset[D_TIME] = create_dataset(w, D_TIME, H5T_IEEE_F64LE, 1, tdims, tchunk, level);
  if (w->dset[D_TIME] < 0) return write_fail(w, "time", "create");
  w->dset[D_Z] = create_dataset(w, D_Z, H5T_IEEE_F64LE, 3, zdims, zchunk, level);
  if (w->dset[D_Z] < 0) return write_fail(w, "z", "create");
  w->dset[D_TRAJ] = create_dataset(w, D_TRAJ, H5T_STD_I64LE, 1, bdims, NULL, 0);
  if (w->dset[D_TRAJ] < 0) return write_fail(w, "trajectory", "create");
  return put_attrs(w, a, columns);
}

/* Rows [first, first + count) of a dataset, collectively (count may be 0). */
static int write_rows(writer *w, int which, hid_t memtype, hsize_t first, hsize_t count,
                      const void *buf)
{
  hid_t fs = H5Dget_space(w->dset[which]), ms = -1, xfer = H5Pcreate(H5P_DATASET_XFER);
  hsize_t dims[3] = {0, 1, 1};
  const int rank = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
  herr_t e = rank >= 1 && rank <= 3 && xfer >= 0 && H5Sget_simple_extent_dims(fs, dims, NULL) >= 0 &&
                     H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE) >= 0
                 ? 0 : -1;
  const hsize_t start[3] = {first, 0, 0}, block[3] = {count ? count : 1, dims[1], dims[2]};
  if (e >= 0) e = count ? H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, block, NULL)
                        : H5Sselect_none(fs);
  if (e >= 0 && (ms = H5Screate_simple(rank, block, NULL)) < 0) e = -1;
  if (e >= 0 && !count) e = H5Sselect_none(ms);
  static const double none = 0;
  if (e >= 0) e = H5Dwrite(w->dset[which], memtype, ms, fs, xfer, count ? buf : &none);
  close_space(&ms);
  close_space(&fs);
  close_plist(&xfer);
  return e >= 0 ? PN_OK : write_fail(w, dset_name[which], "write");
}

/* Each dataset's rows, the ranks agreeing after each: a collective write can
 * fail on one rank (the one whose MPI-IO aggregation met the full disk) and
 * succeed on the others, which must not go on to the next one alone. */
static int write_blocks(writer *w, const long *ids)
{
  const pn_h5_block *b = w->b;
  const hsize_t first = (hsize_t)b->first, count = (hsize_t)b->count;
  pn_ctx *ctx = w->ctx;
  PN_CALL(pn_ctx_agree(ctx, write_rows(w, D_TIME, H5T_NATIVE_DOUBLE, first, count, b->time)));
  PN_CALL(pn_ctx_agree(ctx, write_rows(w, D_Z, H5T_NATIVE_DOUBLE, first, count, b->z)));
  /* The ids are the same everywhere: rank 0's are written. */
  const hsize_t nids = pn_ctx_rank(ctx) == 0 ? (hsize_t)b->nb : 0;
  return pn_ctx_agree(ctx, write_rows(w, D_TRAJ, H5T_NATIVE_LONG, 0, nids, ids));
}

/* Close everything (collective); a failure to close is reported unless rc
 * already holds one (then rc is returned). */
static int close_file(writer *w, int rc)
{
  for (int i = 0; i < NDSETS; i++)
    if (w->dset[i] >= 0 && H5Dclose(w->dset[i]) < 0 && rc == PN_OK)
      rc = write_fail(w, dset_name[i], "close");
  if (w->file >= 0 && H5Fclose(w->file) < 0 && rc == PN_OK) rc = write_fail(w, NULL, "close");
  w->file = -1;
  return rc;
}

/* After a failed write (a full disk), rank 0 empties the temporary file
 * before HDF5 closes it: closing writes the file's metadata, collectively, and
 * HDF5's ranks fall out of step (and wait for each other forever) when some of
 * those writes fail.  Emptied, the disk has room for them again.  A reduction
 * follows as a barrier, so no rank closes before the file is empty. */
static void release_space(writer *w)
{
  const int zero = 0;
  int sum = 0;
  if (pn_ctx_rank(w->ctx) == 0) (void)truncate(w->tmp, 0);
  (void)pni_comm_allreduce(w->ctx, &zero, &sum, 1, MPI_INT, MPI_SUM, "emptying the part");
}

/* Rank 0 renames the complete file into place. */
static int publish(writer *w)
{
  if (pn_ctx_rank(w->ctx) != 0) return PN_OK;
  if (rename(w->tmp, w->path) != 0) {
    const int e = errno;
    unlink(w->tmp);
    return pn_ctx_fail(w->ctx, PN_ERR_IO, "cannot rename %s to %s: %s", w->tmp, w->path,
                       strerror(e));
  }
  pni_sync_dir(w->path);
  return PN_OK;
}

/* Default column names z1..zD, or the caller's. */
static int column_names(pn_ctx *ctx, const pn_h5_attrs *a, int D, char **text, const char ***names)
{
  PN_CALL(pni_calloc(ctx, (size_t)D, sizeof(char *), names, "column names"));
  if (a && a->columns) {
    for (int d = 0; d < D; d++) (*names)[d] = a->columns[d] ? a->columns[d] : "";
    return PN_OK;
  }
  PN_CALL(pni_calloc(ctx, (size_t)D, 16, text, "column names"));
  for (int d = 0; d < D; d++) {
    snprintf(*text + 16 * d, 16, "z%d", d + 1);
    (*names)[d] = *text + 16 * d;
  }
  return PN_OK;
}

int pn_h5_write(pn_ctx *ctx, const char *path, const pn_h5_block *b, const pn_h5_attrs *a)
{
  writer w = {.ctx = ctx, .path = path, .b = b, .file = -1, .dset = {-1, -1, -1}};
  char *text = NULL;
  const char **columns = NULL;
  long *ids = NULL;
  int rc = check_block(ctx, path, b, a);
  if (rc == PN_OK) rc = column_names(ctx, a, b->dim, &text, &columns);
  if (rc == PN_OK && !b->traj_id && pni_calloc(ctx, (size_t)b->nb, sizeof(long), &ids, "ids") == PN_OK)
    for (int j = 0; j < b->nb; j++) ids[j] = j;
  else if (rc == PN_OK && !b->traj_id)
    rc = PN_ERR_MEM;
  rc = pn_ctx_agree(ctx, rc);
  if (rc == PN_OK) rc = check_fit(ctx, path, b); /* the same verdict on every rank */
  long pid = (long)getpid(); /* rank 0's names the temporary file */
  if (rc == PN_OK) rc = pni_comm_bcast(ctx, &pid, 1, MPI_LONG, 0, "the temporary file's name");
  if (rc == PN_OK) {
    snprintf(w.tmp, sizeof w.tmp, "%s.tmp.%ld", path, pid);
    h5_quiet q;
    quiet_begin(&q);
    rc = pn_ctx_agree(ctx, create_file(&w));
    if (rc == PN_OK) rc = pn_ctx_agree(ctx, create_datasets(&w, a, columns));
    if (rc == PN_OK) rc = write_blocks(&w, b->traj_id ? b->traj_id : ids);
    if (rc == PN_OK) rc = pn_ctx_agree(ctx, H5Fflush(w.file, H5F_SCOPE_GLOBAL) < 0
                                                ? write_fail(&w, NULL, "flush") : PN_OK);
    if (rc != PN_OK && w.file >= 0) release_space(&w);
    /* After an agreed failure every rank holds the same code: no new agreement. */
    rc = rc != PN_OK ? close_file(&w, rc) : pn_ctx_agree(ctx, close_file(&w, rc));
    quiet_end(&q);
    if (rc == PN_OK) rc = pn_ctx_agree(ctx, publish(&w));
    if (rc != PN_OK && pn_ctx_rank(ctx) == 0) unlink(w.tmp); /* the part, if any */
  }
  free(ids);
  free(columns);
  free(text);
  return rc;
}

/* ---- reading -------------------------------------------------------------- */

typedef struct reader {
  pn_ctx *ctx;
  const char *path;
  hid_t file;
  long T, B;
  int D;
  double *time, *z;
  long *ids;
  char *names;     /* the D names of attribute columns, each ended by a NUL; NULL: none */
  long names_len;  /* bytes of names */
} reader;

static const char *const layout_hint =
    "a trajectory file holds time[T], z[T][B][D] and optionally trajectory[B] (docs/formats.md)";

static const char *class_name(H5T_class_t c)
{
  switch (c) {
  case H5T_INTEGER: return "integers";
  case H5T_FLOAT: return "floating-point numbers";
  case H5T_STRING: return "strings";
  default: return "a compound or other type";
  }
}

/* Open dataset name of rank ndims holding numbers of class want; its extent
 * into dims.  *d stays −1 when the dataset is optional and absent. */
static int open_dataset(reader *r, const char *name, int optional, int ndims, H5T_class_t want,
                        hsize_t *dims, hid_t *d)
{
  char why[REASON + 4];
  *d = -1;
  if (H5Lexists(r->file, name, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    if (optional) return PN_OK;
    return pn_ctx_fail(r->ctx, PN_ERR_PARSE, "%s: no dataset '%s'; %s", r->path, name, layout_hint);
  }
  if ((*d = H5Dopen2(r->file, name, H5P_DEFAULT)) < 0)
    return pn_ctx_fail(r->ctx, PN_ERR_PARSE, "%s: '%s' is not a dataset%s; %s", r->path, name,
                       h5_reason(why), layout_hint);
  hid_t type = H5Dget_type(*d), space = H5Dget_space(*d);
  const H5T_class_t c = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
  const int n = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  int rc = PN_OK;
  if (c != want)
    rc = pn_ctx_fail(r->ctx, PN_ERR_PARSE, "%s: dataset '%s' holds %s, not %s; %s", r->path, name,
                     class_name(c), class_name(want), layout_hint);
  else if (n != ndims)
    rc = pn_ctx_fail(r->ctx, PN_ERR_PARSE, "%s: dataset '%s' has %d dimensions, not %d; %s",
                     r->path, name, n, ndims, layout_hint);
  else if (H5Sget_simple_extent_dims(space, dims, NULL) < 0)
    rc = pn_ctx_fail(r->ctx, PN_ERR_PARSE, "%s: cannot read the shape of dataset '%s'%s", r->path,
                     name, h5_reason(why));
  close_space(&space);
  close_type(&type);
  return rc;
}

static int read_all(reader *r, hid_t d, const char *name, hid_t memtype, void *buf)
{
  char why[REASON + 4];
  if (H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    return pn_ctx_fail(r->ctx, PN_ERR_IO, "%s: cannot read dataset '%s'%s", r->path, name,
                       h5_reason(why));
  return PN_OK;
}

static int check_values(reader *r)
{
  for (long i = 0; i < r->T; i++) {
    if (!isfinite(r->time[i]))
      return pn_ctx_fail(r->ctx, PN_ERR_NONFINITE, "%s: dataset 'time'[%ld] = %g", r->path, i,
                         r->time[i]);
    if (i > 0 && !(r->time[i] > r->time[i - 1]))
      return pn_ctx_fail(r->ctx, PN_ERR_PARSE,
                         "%s: dataset 'time' is not strictly increasing: [%ld] = %.17g after "
                         "[%ld] = %.17g", r->path, i, r->time[i], i - 1, r->time[i - 1]);
  }
  const size_t BD = (size_t)r->B * (size_t)r->D, n = (size_t)r->T * BD;
  for (size_t k = 0; k < n; k++)
    if (!isfinite(r->z[k]))
      return pn_ctx_fail(r->ctx, PN_ERR_NONFINITE, "%s: dataset 'z'[%zu][%zu][%zu] = %g", r->path,
                         k / BD, k % BD / (size_t)r->D, k % (size_t)r->D, r->z[k]);
  return PN_OK;
}

static int alloc_arrays(reader *r)
{
  const size_t n = (size_t)r->T * (size_t)r->B * (size_t)r->D;
  PN_CALL(pni_calloc(r->ctx, (size_t)r->T, sizeof(double), &r->time, "times"));
  PN_CALL(pni_calloc(r->ctx, n, sizeof(double), &r->z, "states"));
  return pni_calloc(r->ctx, (size_t)r->B, sizeof(long), &r->ids, "trajectory ids");
}

/* The shapes agree with each other and fit a dataset. */
static int check_shapes(reader *r, const hsize_t *tdims, const hsize_t *zdims, hid_t dtraj,
                        const hsize_t *bdims)
{
  if (zdims[0] != tdims[0])
    return pn_ctx_fail(r->ctx, PN_ERR_PARSE, "%s: dataset 'z' has %llu times, 'time' %llu; %s",
                       r->path, (unsigned long long)zdims[0], (unsigned long long)tdims[0],
                       layout_hint);
  if (dtraj >= 0 && bdims[0] != zdims[1])
    return pn_ctx_fail(r->ctx, PN_ERR_PARSE,
                       "%s: dataset 'trajectory' has %llu ids, 'z' %llu trajectories; %s", r->path,
                       (unsigned long long)bdims[0], (unsigned long long)zdims[1], layout_hint);
  if (zdims[0] < 1 || zdims[1] < 1 || zdims[2] < 1 || zdims[2] > MAX_DIM)
    return pn_ctx_fail(r->ctx, PN_ERR_PARSE,
                       "%s: dataset 'z' is %llu x %llu x %llu: need T >= 1, B >= 1, 1 <= D <= %d",
                       r->path, (unsigned long long)zdims[0], (unsigned long long)zdims[1],
                       (unsigned long long)zdims[2], MAX_DIM);
  if ((double)zdims[0] * (double)zdims[1] > (double)INT_MAX)
    return pn_ctx_fail(r->ctx, PN_ERR_LIMIT, "%s: %llu x %llu rows: over 2^31", r->path,
                       (unsigned long long)zdims[0], (unsigned long long)zdims[1]);
  r->T = (long)zdims[0];
  r->B = (long)zdims[1];
  r->D = (int)zdims[2];
  return PN_OK;
}

static int read_datasets(reader *r)
{
  hid_t d[NDSETS] = {-1, -1, -1};
  hsize_t tdims[1] = {0}, zdims[3] = {0, 0, 0}, bdims[1] = {0};
  int rc = open_dataset(r, "time", 0, 1, H5T_FLOAT, tdims, &d[D_TIME]);
  if (rc == PN_OK) rc = open_dataset(r, "z", 0, 3, H5T_FLOAT, zdims, &d[D_Z]);
  if (rc == PN_OK) rc = open_dataset(r, "trajectory", 1, 1, H5T_INTEGER, bdims, &d[D_TRAJ]);
  if (rc == PN_OK) rc = check_shapes(r, tdims, zdims, d[D_TRAJ], bdims);
  if (rc == PN_OK) rc = alloc_arrays(r);
  if (rc == PN_OK) rc = read_all(r, d[D_TIME], "time", H5T_NATIVE_DOUBLE, r->time);
  if (rc == PN_OK) rc = read_all(r, d[D_Z], "z", H5T_NATIVE_DOUBLE, r->z);
  if (rc == PN_OK && d[D_TRAJ] >= 0)
    rc = read_all(r, d[D_TRAJ], "trajectory", H5T_NATIVE_LONG, r->ids);
  else
    for (long j = 0; rc == PN_OK && j < r->B; j++) r->ids[j] = j;
  for (int i = 0; i < NDSETS; i++) close_id(&d[i]);
  return rc == PN_OK ? check_values(r) : rc;
}

/* The attribute columns (D variable-length strings, as h5py writes a list of
 * str) into r->names; none when absent. */
static int read_columns(reader *r)
{
  if (H5Aexists(r->file, "columns") <= 0) return PN_OK;
  hid_t attr = H5Aopen(r->file, "columns", H5P_DEFAULT), mtype = H5Tcopy(H5T_C_S1);
  hid_t ftype = attr >= 0 ? H5Aget_type(attr) : -1, space = attr >= 0 ? H5Aget_space(attr) : -1;
  char **v = NULL, why[REASON + 4];
  int rc = PN_OK;
  if (ftype < 0 || space < 0 || H5Tget_class(ftype) != H5T_STRING || H5Tis_variable_str(ftype) <= 0 ||
      H5Sget_simple_extent_npoints(space) != r->D)
    rc = pn_ctx_fail(r->ctx, PN_ERR_PARSE,
                     "%s: attribute 'columns' is not %d variable-length strings (the states' "
                     "names)", r->path, r->D);
  if (rc == PN_OK) rc = pni_calloc(r->ctx, (size_t)r->D, sizeof(char *), &v, "column names");
  if (rc == PN_OK && (H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
                      H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0 || H5Aread(attr, mtype, v) < 0)) {
    free(v);
    v = NULL;
    rc = pn_ctx_fail(r->ctx, PN_ERR_IO, "%s: cannot read attribute 'columns'%s", r->path,
                     h5_reason(why));
  }
  for (int d = 0; rc == PN_OK && d < r->D; d++) r->names_len += (long)strlen(v[d] ? v[d] : "") + 1;
  if (rc == PN_OK) rc = pni_calloc(r->ctx, (size_t)r->names_len, 1, &r->names, "column names");
  for (long d = 0, at = 0; rc == PN_OK && d < r->D; d++) {
    const size_t n = strlen(v[d] ? v[d] : "") + 1;
    memcpy(r->names + at, v[d] ? v[d] : "", n);
    at += (long)n;
  }
  if (v) H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, v);
  free(v);
  close_space(&space);
  close_type(&ftype);
  close_type(&mtype);
  if (attr >= 0) H5Aclose(attr);
  return rc;
}

static int read_rank0(reader *r)
{
  char why[REASON + 4];
  if (access(r->path, R_OK) != 0)
    return pn_ctx_fail(r->ctx, PN_ERR_IO, "cannot read %s: %s", r->path, strerror(errno));
  const htri_t is = H5Fis_hdf5(r->path);
  if (is <= 0)
    return pn_ctx_fail(r->ctx, PN_ERR_IO, "%s is not an HDF5 file%s", r->path, h5_reason(why));
  if ((r->file = H5Fopen(r->path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    return pn_ctx_fail(r->ctx, PN_ERR_IO, "cannot open %s%s", r->path, h5_reason(why));
  int rc = read_datasets(r);
  if (rc == PN_OK) rc = read_columns(r);
  H5Fclose(r->file);
  r->file = -1;
  return rc;
}

/* MPI counts are ints: broadcast a long array in pieces. */
static int bcast_doubles(pn_ctx *ctx, double *x, size_t n, const char *what)
{
  for (size_t k = 0; k < n; k += (size_t)1 << 30) {
    const size_t m = n - k < ((size_t)1 << 30) ? n - k : (size_t)1 << 30;
    PN_CALL(pni_comm_bcast(ctx, x + k, (int)m, MPI_DOUBLE, 0, what));
  }
  return PN_OK;
}

static int share(reader *r)
{
  long shape[3] = {r->T, r->B, r->D};
  PN_CALL(pni_comm_bcast(r->ctx, shape, 3, MPI_LONG, 0, "the file's shape"));
  r->T = shape[0];
  r->B = shape[1];
  r->D = (int)shape[2];
  int rc = pn_ctx_rank(r->ctx) == 0 ? PN_OK : alloc_arrays(r);
  PN_CALL(pn_ctx_agree(r->ctx, rc));
  PN_CALL(bcast_doubles(r->ctx, r->time, (size_t)r->T, "times"));
  PN_CALL(bcast_doubles(r->ctx, r->z, (size_t)r->T * (size_t)r->B * (size_t)r->D, "states"));
  PN_CALL(pni_comm_bcast(r->ctx, r->ids, (int)r->B, MPI_LONG, 0, "trajectory ids"));
  PN_CALL(pni_comm_bcast(r->ctx, &r->names_len, 1, MPI_LONG, 0, "the names' length"));
  if (r->names_len == 0) return PN_OK;
  rc = pn_ctx_rank(r->ctx) == 0 ? PN_OK
                                : pni_calloc(r->ctx, (size_t)r->names_len, 1, &r->names, "names");
  PN_CALL(pn_ctx_agree(r->ctx, rc));
  return pni_comm_bcast(r->ctx, r->names, (int)r->names_len, MPI_CHAR, 0, "the states' names");
}

/* The names of attribute columns, if any, as the dataset's. */
static int set_names(reader *r, pn_dataset *ds)
{
  if (!r->names) return PN_OK;
  const char **names = NULL;
  PN_CALL(pni_calloc(r->ctx, (size_t)r->D, sizeof(char *), &names, "names"));
  for (long d = 0, at = 0; d < r->D; d++) {
    names[d] = r->names + at;
    at += (long)strlen(names[d]) + 1;
  }
  const int rc = pn_dataset_set_names(r->ctx, ds, names);
  free(names);
  return rc;
}

/* Time-major arrays into the dataset's rows, trajectory by trajectory. */
static int to_dataset(reader *r, pn_dataset **out)
{
  PN_CALL(pn_dataset_create(r->ctx, r->D, (int)r->B, r->T, out));
  pn_dataset *ds = *out;
  snprintf(ds->source, sizeof ds->source, "%s", r->path);
  const size_t D = (size_t)r->D;
  for (long j = 0; j < r->B; j++) {
    ds->traj_id[j] = r->ids[j];
    for (long i = 0; i < r->T; i++) {
      const long row = ds->offset[j] + i;
      ds->time[row] = r->time[i];
      memcpy(ds->z + (size_t)row * D, r->z + ((size_t)i * (size_t)r->B + (size_t)j) * D,
             D * sizeof(double));
    }
  }
  return PN_OK;
}

int pn_h5_read_dataset(pn_ctx *ctx, const char *path, pn_dataset **out)
{
  PN_CHECK(ctx, path && out, PN_ERR_ARG, "NULL argument");
  *out = NULL;
  reader r = {.ctx = ctx, .path = path, .file = -1};
  int rc = PN_OK;
  if (pn_ctx_rank(ctx) == 0) {
    h5_quiet q;
    quiet_begin(&q);
    rc = read_rank0(&r);
    quiet_end(&q);
  }
  rc = pn_ctx_agree(ctx, rc);
  if (rc == PN_OK) rc = share(&r);
  if (rc == PN_OK) rc = to_dataset(&r, out);
  if (rc == PN_OK && (rc = set_names(&r, *out)) != PN_OK) pn_dataset_destroy(out);
  free(r.names);
  free(r.time);
  free(r.z);
  free(r.ids);
  return rc;
}

#endif
