/* The library's text files: read whole on rank 0 and shared
 * (pn_read_file_bcast, io.h), then walked line by line (text.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx_impl.h"
#include "internal.h"
#include "pinode/io.h"
#include "text.h"

int pn_read_file_bcast(pn_ctx *ctx, const char *path, size_t max_bytes, char **buf_out,
                       size_t *len_out)
{
  *buf_out = NULL;
  *len_out = 0;
  int rc = PN_OK;
  long long len = 0;
  char *buf = NULL;
  if (ctx->rank == 0) {
    /* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer
     * while the other ranks wait for this one; it is refused below. */
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
      const int e = errno;
      if (fd >= 0) close(fd);
      rc = pn_ctx_fail(ctx, PN_ERR_IO, "cannot open %s: %s", path, strerror(e));
    } else {
      struct stat st;
      if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        rc = pn_ctx_fail(ctx, PN_ERR_IO, "%s is not a regular file", path);
      else if ((size_t)st.st_size > max_bytes)
        rc = pn_ctx_fail(ctx, PN_ERR_LIMIT, "%s has %lld bytes, more than the limit of %zu", path,
                         (long long)st.st_size, max_bytes);
      else
        len = (long long)st.st_size;
      if (rc == PN_OK) rc = pni_calloc(ctx, (size_t)len + 1, 1, &buf, path);
      if (rc == PN_OK && len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)
        rc = pn_ctx_fail(ctx, PN_ERR_IO, "cannot read %s: %s", path,
                         ferror(f) ? strerror(errno) : "file shrank while reading");
      fclose(f);
    }
  }
  rc = pni_agree(ctx, rc);
  if (rc != PN_OK) {
    free(buf);
    return rc;
  }
  rc = pni_comm_bcast(ctx, &len, 1, MPI_LONG_LONG, 0, "sharing a file's size");
  if (rc == PN_OK && ctx->rank != 0) rc = pni_calloc(ctx, (size_t)len + 1, 1, &buf, path);
  for (long long off = 0; rc == PN_OK && off < len; off += INT_MAX) { /* chunks below MPI's int count */
    const long long chunk = len - off < INT_MAX ? len - off : INT_MAX;
    rc = pni_comm_bcast(ctx, buf + off, (int)chunk, MPI_CHAR, 0, "sharing a file's contents");
  }
  if (rc != PN_OK) {
    free(buf);
    return rc;
  }
  buf[len] = '\0';
  *buf_out = buf;
  *len_out = (size_t)len;
  return PN_OK;
}


int pni_lines_read(pn_ctx *ctx, const char *path, size_t max_bytes, pni_lines *out)
{
  memset(out, 0, sizeof *out);
  out->path = path;
  PN_CALL(pn_read_file_bcast(ctx, path, max_bytes, &out->text, &out->len));
  /* A UTF-8 byte-order mark, which some editors and spreadsheets write at
   * the start of a file, is not part of the first line. */
  if (out->len >= 3 && memcmp(out->text, "\xEF\xBB\xBF", 3) == 0) {
    out->len -= 3;
    memmove(out->text, out->text + 3, out->len + 1);
  }
  const char *nul = memchr(out->text, '\0', out->len);
  if (!nul) return PN_OK;
  long line = 1;
  for (const char *s = out->text; s < nul; s++) line += *s == '\n';
  pni_lines_free(out);
  return pn_ctx_fail(ctx, PN_ERR_PARSE, "%s:%ld: binary data (a NUL byte) in a text file", path,
                     line);
}

void pni_lines_free(pni_lines *r)
{
  free(r->text);
  r->text = NULL;
  r->len = r->pos = 0;
}

char *pni_lines_next(pni_lines *r)
{
  if (r->pos >= r->len) return NULL;
  char *s = r->text + r->pos;
  char *nl = memchr(s, '\n', r->len - r->pos);
  char *end = nl ? nl : r->text + r->len;
  r->last = r->pos;
  r->nl_was = nl ? '\n' : '\0';
  r->cr_was = '\0';
  r->pos = nl ? (size_t)(nl - r->text) + 1 : r->len;
  *end = '\0';
  if (end > s && end[-1] == '\r') {
    r->cr_was = '\r';
    end[-1] = '\0';
  }
  r->line++;
  return s;
}

void pni_lines_back(pni_lines *r)
{
  char *s = r->text + r->last;
  const size_t n = strlen(s);
  if (r->cr_was) s[n] = r->cr_was;
  if (r->nl_was) s[n + (r->cr_was ? 1 : 0)] = r->nl_was;
  r->pos = r->last;
  r->line--;
}

size_t pni_lines_content(const pni_lines *r)
{
  size_t count = 0;
  for (size_t i = r->pos; i < r->len;) {
    size_t j = i;
    while (j < r->len && (r->text[j] == ' ' || r->text[j] == '\t' || r->text[j] == '\r')) j++;
    count += j < r->len && r->text[j] != '\n' && r->text[j] != '#';
    const char *nl = memchr(r->text + j, '\n', r->len - j);
    i = nl ? (size_t)(nl - r->text) + 1 : r->len;
  }
  return count;
}
