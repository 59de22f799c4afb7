/**
 * @file kernels.h
 * @brief What pinode's own compute kernels run on in this process, and how
 * much they have computed: for benchmark reports.
 *
 * pinode's matrix products and activations do not call BLAS.  Each comes in
 * builds for AVX-512, AVX2 and plain x86-64; the best one the CPU supports is
 * chosen when the library is loaded.  These queries have no MPI, allocate
 * nothing and are not collective.
 */
#ifndef PINODE_KERNELS_H
#define PINODE_KERNELS_H

#include "pinode/export.h"

/**
 * @brief What the built-in MLP's matrix products run on here: "AVX-512
 * kernels", "AVX2 loops" or "portable loops" (a static string).
 */
PN_EXPORT const char *pn_kernels_products(void);

/**
 * @brief The instruction set of tanh and of the elementwise loops here:
 * "avx512", "avx2" or "generic" (a static string), the best the CPU supports.
 */
PN_EXPORT const char *pn_kernels_isa(void);

/**
 * @brief Floating-point operations of every matrix product the built-in MLP
 * has made in this process so far (2·m·n·k per m×k by k×n product): the
 * exact product flops of its evaluations, recomputations included, for flop
 * rates.  It counts for the whole process (every context, model and solver;
 * not per rank of a communicator), only grows, and is not thread-safe, like
 * a model.  Take the difference of two readings around what you time.
 */
PN_EXPORT double pn_kernels_flops(void);

#endif
