/* Fuzz the model/checkpoint file reader (pn_modelfile_read, modelfile.h) and
 * its getters, as `pinode predict`, `model.init` and `--resume` use them.
 *
 * Properties: no crash, hang or huge allocation (a model file's shape must not
 * make pinode allocate more than its θ, which the file holds); every error
 * names the file; an MLP that reads has a finite θ of the announced length;
 * a file that reads is written back and read again, and writing that gives
 * the same bytes (the text format is a fixed point after one round). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static char *slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (!f) fz_fail("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  const long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)len + 1);
  if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) fz_fail("cannot read %s", path);
  fclose(f);
  *n = (size_t)len;
  return buf;
}

/* The getters pinode calls on checkpoints: each works or fails with a message
 * that names the file. */
static void getters(pn_ctx *ctx, pn_modelfile *mf, const char *path)
{
  long v = 0;
  double x = 0;
  uint64_t s[4];
  const double *a = NULL;
  size_t n = 0;
  int rc;
  if ((rc = pn_modelfile_get_long(mf, "iteration", 0, 1L << 50, &v)) != PN_OK) fz_check_error(rc, path);
  if ((rc = pn_modelfile_get_double(mf, "t0", &x)) != PN_OK) fz_check_error(rc, path);
  if ((rc = pn_modelfile_get_u64s(mf, "rng.batch", 4, s)) != PN_OK) fz_check_error(rc, path);
  if ((rc = pn_modelfile_get_array(mf, "optimizer_state", -1, &a, &n)) != PN_OK)
    fz_check_error(rc, path);
  if ((rc = pn_modelfile_get_array(mf, "history.loss", 3, &a, &n)) != PN_OK)
    fz_check_error(rc, path);
  pn_mlp_spec spec;
  const double *theta = NULL;
  int P = 0;
  rc = pn_modelfile_get_mlp(mf, &spec, &theta, &P);
  if (rc != PN_OK) {
    fz_check_error(rc, NULL);
    return;
  }
  if (pn_modelfile_get_array(mf, "theta", P, &a, &n) != PN_OK || a != theta)
    fz_fail("get_mlp returned %d parameters that are not the array theta", P);
  for (int i = 0; i < P; i++)
    if (!isfinite(theta[i])) fz_fail("theta[%d] = %g accepted", i, theta[i]);
  pn_model *model = NULL;
  if (pn_model_create_mlp(ctx, &spec, &model) != PN_OK || pn_model_nparam(model) != P)
    fz_fail("get_mlp accepted a shape the model rejects or counts differently: %s",
            pn_ctx_last_error(ctx));
  pn_model_destroy(&model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  pn_ctx *ctx = fz_ctx();
  char path[700], w1[700], w2[700];
  fz_write("model.pinode", data, size, path, sizeof path);
  pn_modelfile *mf = NULL, *again = NULL;
  int rc = pn_modelfile_read(ctx, path, &mf);
  if (rc != PN_OK) {
    fz_check_error(rc, path);
    if (mf) fz_fail("pn_modelfile_read failed but returned a file");
  } else {
    snprintf(w1, sizeof w1, "%s/w1.pinode", fz_dir());
    snprintf(w2, sizeof w2, "%s/w2.pinode", fz_dir());
    if (pn_modelfile_write(mf, w1) != PN_OK) fz_fail("write: %s", pn_ctx_last_error(ctx));
    if (pn_modelfile_read(ctx, w1, &again) != PN_OK)
      fz_fail("cannot read back a written model file: %s", pn_ctx_last_error(ctx));
    if (pn_modelfile_write(again, w2) != PN_OK) fz_fail("write: %s", pn_ctx_last_error(ctx));
    size_t n1 = 0, n2 = 0;
    char *b1 = slurp(w1, &n1), *b2 = slurp(w2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) fz_fail("model-file round trip is not stable");
    free(b1);
    free(b2);
    getters(ctx, mf, path);
  }
  pn_modelfile_destroy(&mf);
  pn_modelfile_destroy(&again);
  pn_ctx_clear_error(ctx);
  return 0;
}
