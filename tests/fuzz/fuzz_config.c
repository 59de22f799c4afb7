/* Fuzz the training configuration parser (src/cli/config.c: libinih plus the
 * key table), as `pinode train CONFIG` runs it.
 *
 * Input: the INI text; a line "----8<----" may be followed by --set options,
 * one per line (at most 8).  Properties: no crash, hang or huge allocation;
 * every error has a message naming the file or the --set option; a
 * configuration that loads prints (cli_config_print) and the printed text
 * loads again to the same canonical values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_util.h"

static cli_config cfg, cfg2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  pn_ctx *ctx = fz_ctx();
  size_t start[2], len[2];
  const int parts = fz_split(data, size, 2, start, len);
  char path[700], printed[700];
  fz_write("run.ini", data + start[0], len[0], path, sizeof path);
  /* --set options: lines of the second part (NUL-free copies). */
  char *sets[8], *text = NULL;
  int nsets = 0;
  if (parts == 2) {
    text = calloc(len[1] + 1, 1);
    if (!text) fz_fail("out of memory in the harness");
    memcpy(text, data + start[1], len[1]);
    for (char *save = NULL, *t = strtok_r(text, "\n", &save); t && nsets < 8;
         t = strtok_r(NULL, "\n", &save))
      sets[nsets++] = t;
  }
  int rc = cli_config_load(ctx, path, nsets, sets, &cfg);
  if (rc != PN_OK) {
    const char *msg = pn_ctx_last_error(ctx);
    if (rc >= 0 || !msg[0]) fz_fail("config error %d without a message", rc);
    if (!strstr(msg, path) && !strstr(msg, "--set")) fz_fail("the message names neither the file nor --set: %s", msg);
  } else {
    /* Print, load the printed text (no --set), compare canonical values. */
    snprintf(printed, sizeof printed, "%s/printed.ini", fz_dir());
    FILE *f = fopen(printed, "w");
    if (!f) fz_fail("cannot write %s", printed);
    cli_config_print(&cfg, f);
    fclose(f);
    rc = cli_config_load(ctx, printed, 0, NULL, &cfg2);
    if (rc != PN_OK) fz_fail("a printed configuration does not load: %s", pn_ctx_last_error(ctx));
    for (int i = 0; i < cli_config_nkeys(); i++) {
      const char *name, *def, *acc, *doc;
      cli_config_key(i, &name, &def, &acc, &doc);
      /* Paths are printed absolute, so they read back unchanged from anywhere. */
      if (strcmp(cfg.value[i], cfg2.value[i]) != 0)
        fz_fail("key %s: '%s' printed, '%s' read back", name, cfg.value[i], cfg2.value[i]);
    }
  }
  free(text);
  pn_ctx_clear_error(ctx);
  return 0;
}
