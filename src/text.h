/* The text files the library reads (problem directories, CSV data, model
 * files): read whole on rank 0 and shared with the other ranks, refused
 * when they hold a NUL byte (binary data, which C strings would silently cut
 * short), then walked line by line in place.  The one line reader of the
 * library. */
#ifndef PINODE_TEXT_H
#define PINODE_TEXT_H

#include <stddef.h>

#include "pinode/ctx.h"

typedef struct pni_lines {
  const char *path;
  char *text;       /* the whole file, NUL-terminated */
  size_t len, pos;  /* bytes, and where the next line starts */
  long line;        /* number of the line last returned (1-based) */
  size_t last;      /* where the line last returned starts */
  char nl_was, cr_was; /* what its terminator bytes held before ('\0': none) */
} pni_lines;

/* Read `path` (at most max_bytes) on rank 0 and share it with every rank of
 * ctx, without a UTF-8 byte-order mark it may start with.  PN_ERR_PARSE "path:line: binary data (a NUL byte)" if it holds one;
 * the errors of pn_read_file_bcast otherwise.  Collective on ctx. */
int pni_lines_read(pn_ctx *ctx, const char *path, size_t max_bytes, pni_lines *out);
void pni_lines_free(pni_lines *r);

/* The next line, NUL-terminated in place without its '\n' and a '\r'
 * before it, or NULL at the end; r->line is its number. */
char *pni_lines_next(pni_lines *r);

/* Give the line last returned back: the next call returns it again. */
void pni_lines_back(pni_lines *r);

/* Lines from the current position on that hold more than blanks or a
 * comment ('#' ...): a bound for what parsing them can allocate. */
size_t pni_lines_content(const pni_lines *r);

#endif
