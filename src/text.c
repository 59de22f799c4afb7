/* The library's line reader (text.h). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pinode/io.h"
#include "text.h"

int pni_lines_read(pn_ctx *ctx, const char *path, size_t max_bytes, pni_lines *out)
{
  memset(out, 0, sizeof *out);
  out->path = path;
  PN_CALL(pn_read_file_bcast(ctx, path, max_bytes, &out->text, &out->len));
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
