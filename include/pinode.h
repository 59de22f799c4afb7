/**
 * @file pinode.h
 * @brief Umbrella header of libpinode: parallel-in-time neural ODEs with exact
 * discrete-adjoint gradients.  Public names start with pn_ / PN_.
 */
#ifndef PINODE_H
#define PINODE_H

#include "pinode/check.h"
#include "pinode/ctx.h"
#include "pinode/data.h"
#include "pinode/decomp.h"
#include "pinode/error.h"
#include "pinode/h5.h"
#include "pinode/io.h"
#include "pinode/kernels.h"
#include "pinode/loss.h"
#include "pinode/model.h"
#include "pinode/modelfile.h"
#include "pinode/optim.h"
#include "pinode/rng.h"
#include "pinode/solver.h"
#include "pinode/tableau.h"
#include "pinode/version.h"

#endif
