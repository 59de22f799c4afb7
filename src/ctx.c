/* The context: duplicated communicator and the last error message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_impl.h"
#include "internal.h"

const char *pn_strerror(int code)
{
  switch (code) {
#define PN_ERROR_CASE_(name, value, text) \
  case value:                             \
    return text;
    PN_ERROR_LIST(PN_ERROR_CASE_)
#undef PN_ERROR_CASE_
  default:
    return "unknown error";
  }
}

int pn_ctx_create(MPI_Comm comm, pn_ctx **ctx_out)
{
  int initialized = 0;
  if (!ctx_out) return PN_ERR_ARG;
  *ctx_out = NULL;
  MPI_Initialized(&initialized);
  if (!initialized || comm == MPI_COMM_NULL) return PN_ERR_ARG;
  pn_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return PN_ERR_MEM;
  if (MPI_Comm_dup(comm, &ctx->comm) != MPI_SUCCESS) {
    free(ctx);
    return PN_ERR_MPI;
  }
  /* MPI failures on pinode's messages come back as codes (PN_ERR_MPI with
   * MPI's message, comm.h) instead of aborting the caller's program. */
  if (MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
    MPI_Comm_free(&ctx->comm);
    free(ctx);
    return PN_ERR_MPI;
  }
  MPI_Comm_rank(ctx->comm, &ctx->rank);
  MPI_Comm_size(ctx->comm, &ctx->size);
  *ctx_out = ctx;
  return PN_OK;
}

int pn_ctx_destroy(pn_ctx **ctx)
{
  if (!ctx || !*ctx) return PN_OK;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && (*ctx)->comm != MPI_COMM_NULL) MPI_Comm_free(&(*ctx)->comm);
  free((*ctx)->announce);
  free(*ctx);
  *ctx = NULL;
  return PN_OK;
}

MPI_Comm pn_ctx_comm(const pn_ctx *ctx) { return ctx->comm; }
int pn_ctx_rank(const pn_ctx *ctx) { return ctx->rank; }
int pn_ctx_size(const pn_ctx *ctx) { return ctx->size; }
const char *pn_ctx_last_error(const pn_ctx *ctx) { return ctx ? ctx->msg : "no context"; }
int pn_ctx_last_code(const pn_ctx *ctx) { return ctx ? ctx->code : PN_ERR_ARG; }

void pn_ctx_clear_error(pn_ctx *ctx)
{
  if (!ctx) return;
  ctx->code = PN_OK;
  ctx->msg[0] = '\0';
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static int utf8_length(const unsigned char *s)
{
  int n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
        : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 2 && s[0] < 0xC2) return 0; /* overlong */
  for (int i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return n;
}

/* The code point of the valid UTF-8 sequence of n bytes at s. */
static unsigned code_point(const unsigned char *s, int n)
{
  if (n == 1) return s[0];
  unsigned c = s[0] & (0x7F >> n);
  for (int i = 1; i < n; i++) c = (c << 6) | (s[i] & 0x3F);
  return c;
}

/* Characters that print as nothing or as a blank, and so would make a
 * message lie about what the input holds ("unknown key 'dim'" for a key
 * that starts with a byte-order mark): no-break and zero-width spaces,
 * soft hyphen, direction marks, line and paragraph separators, word joiner
 * and invisible operators, and the byte-order mark. */
static int invisible(unsigned c)
{
  return c == 0xA0 || c == 0xAD || (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
         (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF;
}

/* Messages quote what the user wrote, which may be binary garbage: control
 * characters and bytes that are not UTF-8 become '?', invisible characters
 * are named ("<U+FEFF byte-order mark>"), so that a message is always one
 * printable line that shows what is there.  Copies `in` into out[cap]. */
static void make_printable(char *out, size_t cap, const char *in)
{
  const unsigned char *s = (const unsigned char *)in;
  size_t len = 0;
  while (*s && len + 1 < cap) {
    const int n = utf8_length(s);
    const unsigned c = n ? code_point(s, n) : 0;
    char shown[32];
    if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7F))) {
      out[len++] = '?';
      s++;
      continue;
    }
    if (!invisible(c)) {
      if (len + (size_t)n >= cap) break;
      memcpy(out + len, s, (size_t)n);
      len += (size_t)n;
      s += n;
      continue;
    }
    const int k = snprintf(shown, sizeof shown, "<U+%04X%s>", c, c == 0xFEFF ? " byte-order mark" : "");
    if (len + (size_t)k >= cap) break;
    memcpy(out + len, shown, (size_t)k);
    len += (size_t)k;
    s += n;
  }
  out[len] = '\0';
}

static int set_message(pn_ctx *ctx, int code, const char *where, const char *fmt, va_list ap)
{
  if (!ctx) return code;
  char raw[sizeof ctx->msg];
  int n = vsnprintf(raw, sizeof raw, fmt, ap);
  if (where && n >= 0 && (size_t)n < sizeof raw)
    snprintf(raw + n, sizeof raw - (size_t)n, " [%s]", where);
  make_printable(ctx->msg, sizeof ctx->msg, raw);
  ctx->code = code;
  return code;
}

const char *pn_ctx_notes(const pn_ctx *ctx) { return ctx ? ctx->notes : ""; }

void pn_ctx_clear_notes(pn_ctx *ctx)
{
  if (ctx) ctx->notes[0] = '\0';
}

void pni_note(pn_ctx *ctx, const char *fmt, ...)
{
  if (!ctx) return;
  char raw[sizeof ctx->notes], line[sizeof ctx->notes];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  make_printable(line, sizeof line, raw);
  const size_t used = strlen(ctx->notes), n = strlen(line);
  if (used + n + 2 > sizeof ctx->notes) return;
  memcpy(ctx->notes + used, line, n);
  memcpy(ctx->notes + used + n, "\n", 2);
}

int pn_ctx_fail(pn_ctx *ctx, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  set_message(ctx, code, NULL, fmt, ap);
  va_end(ap);
  return code;
}

int pni_error(pn_ctx *ctx, int code, const char *file, int line, const char *func,
              const char *fmt, ...)
{
  char where[256];
  const char *base = strrchr(file, '/');
  snprintf(where, sizeof where, "%s:%d %s", base ? base + 1 : file, line, func);
  va_list ap;
  va_start(ap, fmt);
  set_message(ctx, code, where, fmt, ap);
  va_end(ap);
  return code;
}
