/* The context's error messages: always one printable line, whatever the
 * input they quote. */
#include <string.h>

#include "testutil.h"

static void messages_are_printable(void **state)
{
  (void)state;
  /* An escape sequence, a NUL-free control byte and invalid UTF-8 become '?'. */
  pn_ctx_fail(pnt_ctx, PN_ERR_PARSE, "found '%s'", "\x1b[31mevil\x01\xff\xfe\n");
  const char *m = pn_ctx_last_error(pnt_ctx);
  assert_string_equal(m, "found '?[31mevil?\?\?\?'"); /* \? avoids trigraphs */
  assert_int_equal(pn_ctx_last_code(pnt_ctx), PN_ERR_PARSE);
  /* Valid UTF-8 (our own messages use θ, λ, −) is kept. */
  pn_ctx_fail(pnt_ctx, PN_ERR_ARG, "∂L/∂θ and λ − 1");
  assert_string_equal(pn_ctx_last_error(pnt_ctx), "∂L/∂θ and λ − 1");
  /* A truncated multi-byte sequence is not. */
  pn_ctx_fail(pnt_ctx, PN_ERR_ARG, "cut %s", "\xce");
  assert_string_equal(pn_ctx_last_error(pnt_ctx), "cut ?");
  /* Invisible characters are named: a key that starts with a byte-order
   * mark must not read as "unknown key 'dim'". */
  pn_ctx_fail(pnt_ctx, PN_ERR_PARSE, "unknown key '%s'", "\xEF\xBB\xBF" "dim");
  assert_string_equal(pn_ctx_last_error(pnt_ctx), "unknown key '<U+FEFF byte-order mark>dim'");
  pn_ctx_fail(pnt_ctx, PN_ERR_PARSE, "'%s'", "1\xC2\xA0" "5\xE2\x80\x8B");
  assert_string_equal(pn_ctx_last_error(pnt_ctx), "'1<U+00A0>5<U+200B>'");
  /* A message cut inside a name is cut before it, never inside. */
  char big[1100];
  memset(big, 'x', sizeof big);
  memcpy(big + 1000, "\xEF\xBB\xBF", 3);
  big[sizeof big - 1] = '\0';
  pn_ctx_fail(pnt_ctx, PN_ERR_PARSE, "%s", big);
  assert_int_equal(strlen(pn_ctx_last_error(pnt_ctx)), 1000);
  pn_ctx_clear_error(pnt_ctx);
  assert_string_equal(pn_ctx_last_error(pnt_ctx), "");
  assert_int_equal(pn_ctx_last_code(pnt_ctx), PN_OK);
}

static void codes_have_descriptions(void **state)
{
  (void)state;
  assert_string_equal(pn_strerror(PN_OK), "success");
  assert_string_equal(pn_strerror(PN_ERR_NOT_CONVERGED), "iteration did not converge");
  assert_string_equal(pn_strerror(12345), "unknown error");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(messages_are_printable),
    cmocka_unit_test(codes_have_descriptions),
};

PNT_MAIN("ctx", tests)
