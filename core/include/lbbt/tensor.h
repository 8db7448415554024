/* Tensors and the reverse-mode tape.
 *
 * A tensor is a dense, row-major f32 buffer with a shape (at most LBBT_MAX_DIMS dims).
 * Two kinds exist:
 *  - parameters and long-lived buffers: lbbt_tensor_create()/lbbt_tensor_free(), heap-owned;
 *    their .grad is allocated by lbbt_tensor_require_grad() and accumulated into (+=) by
 *    backward; optimizers zero it.
 *  - activations: created by ops through lbbt_tape_tensor(); they live in the tape's arena
 *    until lbbt_tape_reset(), which rewinds the arena without freeing it, so a training
 *    loop allocates nothing in the steady state.
 *
 * Ops (ops.h) compute their forward pass immediately and, when the tape records and any
 * input requires a gradient, push a record whose backward function is called by
 * lbbt_tape_backward() in reverse order.  A backward function reads out->grad and adds
 * (+=) into each input's grad, but only for inputs with requires_grad set (their grad is
 * allocated and zeroed by the tape before the call; other inputs' grad may be NULL or stale).
 * Core ops may instead be recorded "fresh" (core/src/autograd/tape_internal.h): their backward
 * writes a new activation gradient without a memset, or hands its own gradient buffer to
 * the input (reshape, add), and finished ops' gradient buffers are reused.  So after
 * lbbt_tape_backward() only heap tensors' (parameters') gradients are meaningful; an
 * activation's grad may have been reused.  To get the gradient of an input (an image, a
 * feature), make it a heap tensor with lbbt_tensor_require_grad().
 *
 * Integer data (token ids, labels) is passed as int32_t arrays, not as tensors. */
#ifndef LBBT_TENSOR_H
#define LBBT_TENSOR_H
#include <stddef.h>
#include <stdint.h>

#include "lbbt/status.h"

#define LBBT_MAX_DIMS 6
#define LBBT_MAX_OP_INPUTS 8

typedef struct lbbt_tensor {
  int ndim;
  int64_t shape[LBBT_MAX_DIMS];
  int64_t numel;
  float *data;
  float *grad;       /* NULL until needed; same numel as data */
  int requires_grad; /* parameters with training on, and results of ops on such inputs */
  int owns_data;     /* 1: data (and grad) freed by lbbt_tensor_free; 0: arena or borrowed */
  const char *name;  /* optional label used in error messages; not owned */
} lbbt_tensor;

/* Heap tensor, zero-filled. shape has ndim entries, each >= 1. */
LBBT_API lbbt_status lbbt_tensor_create(lbbt_tensor **out, int ndim, const int64_t *shape);
/* Convenience for up to 4 dims: lbbt_tensor_create_nd(&t, 2, (int64_t[]){B, C}) equals create. */
LBBT_API void lbbt_tensor_free(lbbt_tensor *t);
/* Allocate (zeroed) grad for a heap tensor and set requires_grad = 1. */
LBBT_API lbbt_status lbbt_tensor_require_grad(lbbt_tensor *t);
LBBT_API void lbbt_tensor_zero_grad(lbbt_tensor *t);
/* Same shape? */
LBBT_API int lbbt_tensor_same_shape(const lbbt_tensor *a, const lbbt_tensor *b);
/* "[2, 3, 4]" into buf; returns buf. */
LBBT_API const char *lbbt_shape_str(const lbbt_tensor *t, char *buf, size_t n);
LBBT_API int64_t lbbt_shape_numel(int ndim, const int64_t *shape);

/* ---- tape ---------------------------------------------------------------------------- */
typedef struct lbbt_tape lbbt_tape;

typedef struct lbbt_op_record lbbt_op_record;
typedef lbbt_status (*lbbt_backward_fn)(lbbt_tape *tape, const lbbt_op_record *rec);
struct lbbt_op_record {
  const char *op_name; /* for messages: "linear", "attention", ... */
  lbbt_backward_fn backward;
  lbbt_tensor *out;
  lbbt_tensor *in[LBBT_MAX_OP_INPUTS];
  int n_in;
  void *ctx; /* op-specific saved state, copied into the arena by lbbt_tape_push */
};

LBBT_API lbbt_status lbbt_tape_create(lbbt_tape **out);
LBBT_API void lbbt_tape_free(lbbt_tape *tape);
/* Forget recorded ops and activations; keep the arena's memory for the next step. */
LBBT_API void lbbt_tape_reset(lbbt_tape *tape);
/* Recording on (default) or off (inference, feature extraction: no records, no grads). */
LBBT_API void lbbt_tape_set_recording(lbbt_tape *tape, int on);
LBBT_API int lbbt_tape_recording(const lbbt_tape *tape);
/* Training mode (default on): dropout and drop-path active, batch norm uses batch stats. */
LBBT_API void lbbt_tape_set_training(lbbt_tape *tape, int on);
LBBT_API int lbbt_tape_training(const lbbt_tape *tape);
/* Seeded RNG stream for dropout/drop-path on this tape (see rng.h). */
LBBT_API struct lbbt_rng *lbbt_tape_rng(lbbt_tape *tape);
LBBT_API void lbbt_tape_seed(lbbt_tape *tape, uint64_t seed);
/* Data-parallel training (lbbt/dist.h): this tape's batch is samples [lo, lo + B) of a
 * global batch of `total`.  Per-sample draws (drop path) are then taken for the whole global
 * batch and this shard's slice used, so each rank's masks are the single process's.
 * total 0 (the default): the tape's batch is the whole batch.  Kept across resets. */
LBBT_API void lbbt_tape_set_batch_shard(lbbt_tape *tape, int64_t lo, int64_t total);
/* Returns lo; *total = the global batch (0: not sharded). */
LBBT_API int64_t lbbt_tape_batch_shard(const lbbt_tape *tape, int64_t *total);

/* A new activation tensor in the arena (uninitialised data; grad NULL). */
LBBT_API lbbt_status lbbt_tape_tensor(lbbt_tape *tape, int ndim, const int64_t *shape, lbbt_tensor **out);
/* Scratch memory in the arena, 64-byte aligned, valid until reset. NULL on failure
 * (and an error message set). */
LBBT_API void *lbbt_tape_alloc(lbbt_tape *tape, size_t bytes);
/* Record an op.  out->requires_grad is set when any input requires grad.  No-op when the
 * tape is not recording or no input requires grad.  ctx (ctx_size bytes) is copied. */
LBBT_API lbbt_status lbbt_tape_push(lbbt_tape *tape, const char *op_name, lbbt_backward_fn backward,
                           lbbt_tensor *out, lbbt_tensor *const *inputs, int n_in,
                           const void *ctx, size_t ctx_size);
/* Does this set of inputs need a record? (recording and any input requires grad) */
LBBT_API int lbbt_tape_needs_grad(const lbbt_tape *tape, lbbt_tensor *const *inputs, int n_in);
/* Backward from a scalar (numel 1) tensor: seeds d(loss)=1, runs records in reverse. */
LBBT_API lbbt_status lbbt_tape_backward(lbbt_tape *tape, lbbt_tensor *loss);
/* Backward from any tensor with a given output gradient (out->numel floats), e.g. for
 * gradient checks and for chaining a frozen feature extractor. */
LBBT_API lbbt_status lbbt_tape_backward_from(lbbt_tape *tape, lbbt_tensor *out, const float *grad_out);
/* After a non-finite loss: the first recorded op (in forward order) whose output holds a
 * NaN or Inf; *op_name and *index (its position on the tape) are set.  Returns 0 when every
 * recorded output is finite (only recorded ops are seen). */
LBBT_API int lbbt_tape_first_nonfinite(const lbbt_tape *tape, const char **op_name, int64_t *index);
/* Bytes of arena currently in use / reserved (for memory reports). */
LBBT_API size_t lbbt_tape_bytes_used(const lbbt_tape *tape);
LBBT_API size_t lbbt_tape_bytes_reserved(const lbbt_tape *tape);

#endif
