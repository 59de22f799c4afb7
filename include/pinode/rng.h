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

/** @brief Seed the generator. Not collective. */
PN_EXPORT void pn_rng_seed(pn_rng *rng, uint64_t seed);
/** @brief Next 64 random bits. */
PN_EXPORT uint64_t pn_rng_next(pn_rng *rng);
/** @brief Uniform in [0, 1), 53 random bits. */
PN_EXPORT double pn_rng_uniform(pn_rng *rng);
/** @brief Standard normal (Box–Muller, consumes two uniforms). */
PN_EXPORT double pn_rng_normal(pn_rng *rng);
/** @brief Uniform integer in [0, n) without modulo bias (n ≥ 1). */
PN_EXPORT uint64_t pn_rng_below(pn_rng *rng, uint64_t n);

#endif
