/* A small JSON writer (json.h).  Every document pinode writes is write-only
 * and small, so a dependency (jansson, cJSON) would buy nothing over correct
 * string escaping and number formatting, which this file does: strings are
 * escaped per RFC 8259, non-finite numbers become null. */
#include <math.h>
#include <string.h>

#include "json.h"
#include "pinode/io.h"

static void indent(json_writer *w)
{
  fputc('\n', w->f);
  for (int i = 0; i < w->depth; i++) fputs("  ", w->f);
}

static void write_escaped(FILE *f, const char *s)
{
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

/* Separator and key before a value (key NULL inside arrays and at the top). */
static void begin_value(json_writer *w, const char *key)
{
  if (w->depth > 0) {
    if (w->count[w->depth]) fputc(',', w->f);
    indent(w);
  }
  w->count[w->depth]++;
  if (key) {
    write_escaped(w->f, key);
    fputs(": ", w->f);
  }
}

void json_open(json_writer *w, const char *key, char bracket)
{
  begin_value(w, key);
  fputc(bracket, w->f);
  w->depth++;
  w->count[w->depth] = 0;
}

void json_close(json_writer *w, char bracket)
{
  const int had = w->count[w->depth];
  w->depth--;
  if (had) indent(w);
  fputc(bracket, w->f);
  if (w->depth == 0) fputc('\n', w->f);
}

void json_string(json_writer *w, const char *key, const char *s)
{
  begin_value(w, key);
  write_escaped(w->f, s);
}

void json_number(json_writer *w, const char *key, double x)
{
  begin_value(w, key);
  char num[PN_DOUBLE_CHARS];
  if (isfinite(x))
    fputs(pn_format_double(x, num), w->f);
  else
    fputs("null", w->f);
}

void json_int(json_writer *w, const char *key, long x)
{
  begin_value(w, key);
  fprintf(w->f, "%ld", x);
}

void json_number_pair(json_writer *w, const char *key, double a, double b)
{
  json_open(w, key, '[');
  json_number(w, NULL, a);
  json_number(w, NULL, b);
  json_close(w, ']');
}

void json_int_pair(json_writer *w, const char *key, long a, long b)
{
  json_open(w, key, '[');
  json_int(w, NULL, a);
  json_int(w, NULL, b);
  json_close(w, ']');
}

void json_bool(json_writer *w, const char *key, int b)
{
  begin_value(w, key);
  fputs(b ? "true" : "false", w->f);
}

void json_null(json_writer *w, const char *key)
{
  begin_value(w, key);
  fputs("null", w->f);
}
