/* Arena marks: scratch that lives only during one op (internal to the core library).
 *
 * An op that needs large temporary buffers (attention's per-chunk score matrices in
 * inference, a backward's temporaries) takes a mark before allocating them and releases it
 * when done, so the arena does not keep one such buffer per call until lbbt_tape_reset().
 * Only memory allocated after the mark is given back; nothing allocated after the mark may
 * be used after the release (so an op must not create its output tensor in between). */
#ifndef LBBT_TAPE_INTERNAL_H
#define LBBT_TAPE_INTERNAL_H
#include <stddef.h>

#include "lbbt/tensor.h"

typedef struct lbbt_tape_mark {
  void *block; /* the arena block current at the mark (NULL: the arena was empty) */
  size_t used; /* its fill level then */
} lbbt_tape_mark;

lbbt_tape_mark lbbt_tape_mark_get(const lbbt_tape *t);
void lbbt_tape_mark_release(lbbt_tape *t, lbbt_tape_mark m);

/* ---- fresh gradients ------------------------------------------------------------------
 * By default the tape gives every input of a backward a zeroed gradient before calling it,
 * and the backward adds (+=) into it.  A record pushed with lbbt_tape_push_fresh instead
 * leaves that to its backward, which asks for each input's gradient with
 * lbbt_tape_grad_for: an activation without a gradient yet gets a new, uninitialised
 * buffer that the backward overwrites (no memset, no scratch-then-accumulate pass), and
 * one whose gradient exists (a parameter, or an activation another consumer already
 * wrote) is accumulated into as before.  lbbt_tape_grad_adopt goes further for identity
 * gradients (reshape, add): the input takes over the output's gradient buffer itself, which
 * nothing reads once the output's own backward runs (records run in reverse order, so every
 * consumer of the output is done).  Intermediate gradients are therefore not meaningful
 * after lbbt_tape_backward: only parameters' (heap tensors') gradients are. */
lbbt_status lbbt_tape_push_fresh(lbbt_tape *t, const char *op_name, lbbt_backward_fn backward,
                                 lbbt_tensor *out, lbbt_tensor *const *in, int n_in,
                                 const void *ctx, size_t ctx_size);
/* x's gradient buffer for a backward to fill: *accumulate = 1 when it holds a sum to add
 * to, 0 when it is new and every element must be written.  NULL (message set) when out of
 * memory. */
float *lbbt_tape_grad_for(lbbt_tape *t, lbbt_tensor *x, int *accumulate);
/* Give g (the gradient of the output whose backward is running) to x when x has no
 * gradient yet and is an activation: returns 1 (x->grad = g, nothing to add).  Otherwise 0
 * and the caller accumulates. */
int lbbt_tape_grad_adopt(lbbt_tape *t, lbbt_tensor *x, float *g);

#endif
