/* The kernel queries of the public API (pinode/kernels.h): the names are
 * those of the builds chosen for this CPU, and the flop counter counts
 * exactly the products of a public model evaluation. */
#include <string.h>

#include "testutil.h"

#include "backend.h"

static void names_are_the_chosen_builds(void **state)
{
  (void)state;
  const char *isa = pn_kernels_isa(), *products = pn_kernels_products();
  assert_string_equal(isa, pni_vmath_isa_name(pni_vmath_best_isa()));
  assert_string_equal(products, pni_mm_kernel_name(pni_vmath_best_isa()));
  /* The products follow the instruction set. */
  const char *want = strcmp(isa, "avx512") == 0 ? "AVX-512 kernels"
                     : strcmp(isa, "avx2") == 0 ? "AVX2 loops"
                                                : "portable loops";
  assert_string_equal(products, want);
}

/* One rhs of D = 3 → 32 (tanh) → 3 on 5 states: two products, 5×3 by 3×32
 * and 5×32 by 32×3, 2·5·3·32 flops each.  A VJP makes five of that size: the
 * hidden layer again (its output layer is not needed), the cotangent through
 * each layer and the two weight gradients. */
static void flops_of_a_model_evaluation(void **state)
{
  (void)state;
  enum { D = 3, H = 32, NB = 5 };
  const int widths[1] = {H};
  const pn_activation acts[1] = {PN_ACT_TANH};
  const pn_mlp_spec spec = {D, 1, widths, acts, 0};
  pn_model *m = NULL;
  pnt_ok(pnt_ctx, pn_model_create_mlp(pnt_ctx, &spec, &m));
  const int P = pn_model_nparam(m);
  double theta[D * H + H + H * D + D], z[NB * D], f[NB * D], zbar[NB * D], tbar[D * H + H + H * D + D];
  assert_int_equal(P, (int)(sizeof theta / sizeof theta[0]));
  pnt_ok(pnt_ctx, pn_model_init_params(m, 3, theta));
  for (int i = 0; i < NB * D; i++) z[i] = 0.1 * i - 0.5;
  memset(tbar, 0, sizeof tbar);
  pnt_ok(pnt_ctx, pn_model_reserve(m, NB));
  double before = pn_kernels_flops();
  pnt_ok(pnt_ctx, pn_model_rhs(m, 0.0, NB, z, theta, f));
  assert_true(pn_kernels_flops() - before == 2.0 * (2.0 * NB * D * H));
  assert_true(pn_kernels_flops() == pni_mm_flops());
  before = pn_kernels_flops();
  pnt_ok(pnt_ctx, pn_model_vjp(m, 0.0, NB, z, theta, f, zbar, tbar));
  assert_true(pn_kernels_flops() - before == 5.0 * (2.0 * NB * D * H));
  pn_model_destroy(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(names_are_the_chosen_builds),
    cmocka_unit_test(flops_of_a_model_evaluation),
};

PNT_MAIN("kernels", tests)
