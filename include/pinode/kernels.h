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
 * @brief What runs the built-in MLP's matrix products here.
 * @return a static string: "AVX-512 kernels", "AVX2 loops" or "portable loops".
 * Not collective.
 */
PN_EXPORT const char *pn_kernels_products(void);

/**
 * @brief The instruction set of tanh and of the elementwise loops here, the best the CPU
 * supports.
 * @return a static string: "avx512", "avx2" or "generic".
 * Not collective.  Thread-safe.
 */
PN_EXPORT const char *pn_kernels_isa(void);

/**
 * @brief Floating-point operations of every matrix product the built-in MLP
 * has made in this process so far (2·m·n·k per m×k by k×n product): the
 * exact product flops of its evaluations, recomputations included, for flop
 * rates.  It counts for the whole process (every context, model and solver;
 * not per rank of a communicator) and only grows.  Take the difference of two
 * readings around what you time.
 * @return the count (exact up to 2^53).
 * Not collective.  Not thread-safe, like a model: read it where no model evaluates.
 */
PN_EXPORT double pn_kernels_flops(void);

#endif
