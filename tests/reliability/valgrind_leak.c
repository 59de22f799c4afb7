/* Negative control of scripts/valgrind.sh: leaks one pn_modelfile, so that
 * the valgrind run (with its suppressions) must report exactly one leak, in
 * pn_modelfile_create: the suppressions hide MPI's allocations, not pinode's. */
#include "pinode.h"

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  pn_ctx *ctx = NULL;
  pn_modelfile *mf = NULL;
  if (pn_ctx_create(MPI_COMM_WORLD, &ctx) != PN_OK || pn_modelfile_create(ctx, &mf) != PN_OK)
    return 1;
  mf = NULL; /* the leak */
  pn_ctx_destroy(&ctx);
  MPI_Finalize();
  return mf != NULL;
}
