/* Data-parallel training over MPI ranks (`make MPI=1`, `mpirun -np N build/lbbt run ...`).
 *
 * Every rank runs the same runs in the same order on a full copy of the model; a training
 * step splits its global batch of B samples into contiguous shards (lbbt_dist_shard), each
 * rank computes the mean loss of its shard's n_r samples and its gradient, weighs it by
 * n_r / B and lbbt_dist_allreduce_grads sums the weighted gradients of every trainable
 * parameter over ranks in one allreduce over a flat buffer: each rank then holds the
 * gradient of the global batch's mean loss, takes the same optimizer step, and the
 * replicas stay equal.  Losses and counts are summed with lbbt_dist_sum.  The training loop
 * (lbbt/train_loop.h) does this for every task whose batch callback takes its shard with
 * lbbt_train_shard.  Only rank 0 writes results, checkpoints and cached stages; the runner
 * waits for it after each run.
 *
 * Built without MPI (the default), or run without mpirun, this is one rank of one: every
 * call is a no-op or the identity, and training is exactly the single-process one. */
#ifndef LBBT_DIST_H
#define LBBT_DIST_H
#include <stdint.h>

#include "lbbt/model.h"
#include "lbbt/optim.h"
#include "lbbt/status.h"

/* Join the MPI job when launched by mpirun (MPI_Init), else stay one rank; once per
 * process, before any other call.  lbbt_dist_finalize leaves it (MPI_Finalize). */
LBBT_API lbbt_status lbbt_dist_init(int *argc, char ***argv);
LBBT_API void lbbt_dist_finalize(void);
/* A rank that fails ends the whole job (MPI_Abort with `code`) so that no other rank waits in
 * a collective for it; returns at once with one rank (or without MPI). */
LBBT_API void lbbt_dist_abort(int code);
LBBT_API int lbbt_dist_rank(void);
LBBT_API int lbbt_dist_size(void);
/* "MPI (Open MPI 4.1.4)" or "none": for provenance and messages. */
LBBT_API const char *lbbt_dist_backend(void);

/* This rank's samples [*lo, *hi) of a batch of n: contiguous, in rank order, sizes differing
 * by at most one (a rank may get none when n < size). */
LBBT_API void lbbt_dist_shard(int64_t n, int64_t *lo, int64_t *hi);
/* Scale every trainable parameter's gradient by `weight` (this rank's share of the global
 * batch) and sum over ranks, in place, with one allreduce over a flat f32 buffer. */
LBBT_API lbbt_status lbbt_dist_allreduce_grads(lbbt_model *m, double weight);
/* The same over the optimizer's parameters (the model's trainable ones and any a task added,
 * such as a probe's head): what the training loop reduces after backward. */
LBBT_API lbbt_status lbbt_dist_allreduce_optim(lbbt_optim *o, double weight);
/* Sum v[0..n) over ranks, in place (f64). */
LBBT_API lbbt_status lbbt_dist_sum(double *v, int n);
/* Wait for every rank. */
LBBT_API lbbt_status lbbt_dist_barrier(void);
/* Wall seconds spent in lbbt_dist_allreduce_grads so far (make bench-mpi). */
LBBT_API double lbbt_dist_allreduce_seconds(void);

#endif
