/* pinode gradient --memory SIZE: a per-rank memory budget for the whole
 * process, turned into the solver's memory_limit, and the storage report. */
#ifndef PINODE_CLI_MEMORY_H
#define PINODE_CLI_MEMORY_H

#include <stddef.h>

#include "cli.h"

/* Parse a size: bytes, or a number (decimals allowed) followed by K, M, G or
 * T (powers of 1024), optionally followed by B or iB ("256MB", "1.5G",
 * "512MiB").  PN_ERR_ARG for anything else, zero or more than 2^62 bytes.
 * Not collective. */
int cli_parse_size(const char *text, size_t *bytes_out);

/* A byte count for messages, in a unit that shows it: "512 bytes",
 * "12.5 KB", "2441.5 MB" (powers of 1024).  Writes into buf; returns buf. */
const char *cli_bytes_text(double bytes, char *buf, size_t n);

/* Resident bytes of this process now (VmRSS), 0 if unknown. */
size_t cli_resident_bytes(void);

/* The most resident bytes of this process since it started or since the last
 * cli_peak_reset() (VmHWM; getrusage's maximum where there is none). */
size_t cli_peak_bytes(void);

/* Start cli_peak_bytes() again from the resident size now (Linux). */
void cli_peak_reset(void);

/* Fit the solver of @p s into @p budget bytes per rank for the whole
 * process: what the process holds already (MPI, BLAS, the problem: its
 * resident set now) is subtracted, and the solver is remade with the rest as
 * its memory_limit.  PN_ERR_LIMIT, naming both numbers, if nothing is left.
 * Collective on comm (the verdict is agreed) and ctx, made from it. */
int cli_fit_budget(MPI_Comm comm, pn_ctx *ctx, cli_setup *s, size_t budget);

/* After a gradient refused with PN_ERR_LIMIT under --memory: add to the
 * message how the solver's limit came from the budget.  Not collective. */
void cli_budget_note(pn_ctx *ctx, size_t budget, const pn_solver *solver);

/* Print (rank 0) the storage of the last gradient: policy, states stored,
 * steps recomputed next to the binomial optimum, forward steps per step, and
 * the budget it was fitted to. */
void cli_print_storage(pn_ctx *ctx, const pn_solver *solver);

#endif
