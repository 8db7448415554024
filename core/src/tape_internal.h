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

#endif
