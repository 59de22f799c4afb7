/**
 * @file rng.h
 * @brief The reproducible random number generator pinode uses everywhere
 * (initial weights, data generators, mini-batch draws): xoshiro256** by
 * Blackman and Vigna, its 256-bit state seeded through splitmix64(seed).
 * The same seed gives the same stream on every machine.  Depends on nothing.
 */
#ifndef PINODE_RNG_H
#define PINODE_RNG_H

#include <stdint.h>

#include "pinode/export.h"

/** @brief Generator state; plain data, copy it to save or restore a stream. */
typedef struct pn_rng {
  uint64_t s[4];
} pn_rng;

/**
 * @brief Seed the generator: its state from splitmix64(@p seed).
 * @param[out] rng   the generator
 * @param[in]  seed  any 64 bits; the same seed gives the same stream everywhere
 * Not collective.  A generator is plain data: no two threads may use one at once.
 */
PN_EXPORT void pn_rng_seed(pn_rng *rng, uint64_t seed);

/**
 * @brief The next 64 random bits (xoshiro256**).
 * @param[in,out] rng  the generator (advanced by one step)
 * @return 64 random bits.
 * Not collective.
 */
PN_EXPORT uint64_t pn_rng_next(pn_rng *rng);

/**
 * @brief A uniform number in [0, 1): 53 random bits (one step of the generator).
 * @param[in,out] rng  the generator
 * @return the number.
 * Not collective.
 */
PN_EXPORT double pn_rng_uniform(pn_rng *rng);

/**
 * @brief A standard normal number (Box–Muller; consumes two uniforms, keeps no spare).
 * @param[in,out] rng  the generator
 * @return the number (finite: the uniform is taken as 1 − u ∈ (0, 1]).
 * Not collective.
 */
PN_EXPORT double pn_rng_normal(pn_rng *rng);

/**
 * @brief A uniform integer in [0, n) without modulo bias (draws again when a draw falls in the
 * biased tail, rarely more than once).
 * @param[in,out] rng  the generator
 * @param[in]     n    the bound, ≥ 1
 * @return the integer; 0 for n = 0, drawing nothing.
 * Not collective.
 */
PN_EXPORT uint64_t pn_rng_below(pn_rng *rng, uint64_t n);

#endif
