/* A small JSON writer (json.c): the run summary and the --json files of
 * pinode gradient.  Indented, strings escaped per RFC 8259, non-finite
 * numbers written as null.  Write to a FILE; for an atomic file, write to
 * open_memstream and hand the buffer to pn_write_file_atomic. */
#ifndef PINODE_CLI_JSON_H
#define PINODE_CLI_JSON_H

#include <stdio.h>

typedef struct json_writer {
  FILE *f;
  int depth;
  int count[32]; /* values written at each depth */
} json_writer;
void json_open(json_writer *w, const char *key, char bracket); /* key NULL in arrays */
void json_close(json_writer *w, char bracket);
void json_string(json_writer *w, const char *key, const char *s);
void json_number(json_writer *w, const char *key, double x); /* NaN/Inf → null */
void json_int(json_writer *w, const char *key, long x);
void json_number_pair(json_writer *w, const char *key, double a, double b); /* [a, b] */
void json_int_pair(json_writer *w, const char *key, long a, long b);         /* [a, b] */
void json_bool(json_writer *w, const char *key, int b); /* true/false */
void json_null(json_writer *w, const char *key);

#endif
