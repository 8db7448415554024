/* The reverse-mode tape and its arena; see tensor.h (and tape_internal.h for arena marks
 * and fresh gradients).
 *
 * The arena is a chain of large blocks.  lbbt_tape_reset() rewinds to the first block and
 * keeps every block, so after the first training step the same memory is reused: no
 * allocation per step in the steady state.  Op records live in a growable array that is
 * likewise kept across resets.
 *
 * Activation gradients: an output's gradient is dead once its record's backward has run
 * (every consumer of the output ran before it, in reverse order), so run_backward puts the
 * buffer on a per-size free list that later gradient allocations of the same pass take
 * first.  A backward step then holds the forward activations plus the gradients still
 * live, not a gradient for every activation.  Consequence: after lbbt_tape_backward only
 * parameters' (heap tensors') gradients are meaningful; activations' may be reused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/rng.h"
#include "lbbt/tensor.h"
#include "base/huge_pages.h"
#include "autograd/tape_internal.h"

#define ARENA_MIN_BLOCK ((size_t)16 << 20)

typedef struct arena_block {
  struct arena_block *next;
  size_t size, used;
  unsigned char *mem;
} arena_block;

struct lbbt_tape {
  arena_block *head, *cur;
  lbbt_op_record *recs;
  unsigned char *rec_fresh; /* per record: its backward takes grads via lbbt_tape_grad_for */
  size_t n_recs, cap_recs;
  int recording, training;
  lbbt_rng rng;
  int64_t shard_lo, shard_total; /* lbbt_tape_set_batch_shard; total 0: off */
  /* Gradient buffers of outputs whose backward has run (nothing reads them again), reused
   * for later gradients of the same size during the same backward pass; emptied by reset.
   * The array itself is kept across steps. */
  struct free_grad {
    float *p;
    int64_t numel;
  } *free_grads;
  size_t n_free, cap_free;
};

lbbt_status lbbt_tape_create(lbbt_tape **out) {
  lbbt_tape *t = calloc(1, sizeof *t);
  if (!t) return lbbt_fail(LBBT_E_NOMEM, "tape_create: out of memory");
  t->recording = 1;
  t->training = 1;
  lbbt_rng_seed(&t->rng, 0);
  *out = t;
  return LBBT_OK;
}

void lbbt_tape_free(lbbt_tape *t) {
  if (!t) return;
  arena_block *b = t->head;
  while (b) {
    arena_block *n = b->next;
    free(b->mem);
    free(b);
    b = n;
  }
  free(t->recs);
  free(t->rec_fresh);
  free(t->free_grads);
  free(t);
}

void lbbt_tape_reset(lbbt_tape *t) {
  for (arena_block *b = t->head; b; b = b->next) b->used = 0;
  t->cur = t->head;
  t->n_recs = 0;
  t->n_free = 0;
}

void lbbt_tape_set_recording(lbbt_tape *t, int on) { t->recording = on; }
int lbbt_tape_recording(const lbbt_tape *t) { return t->recording; }
void lbbt_tape_set_training(lbbt_tape *t, int on) { t->training = on; }
int lbbt_tape_training(const lbbt_tape *t) { return t->training; }
struct lbbt_rng *lbbt_tape_rng(lbbt_tape *t) { return &t->rng; }
void lbbt_tape_seed(lbbt_tape *t, uint64_t seed) { lbbt_rng_seed(&t->rng, seed); }
void lbbt_tape_set_batch_shard(lbbt_tape *t, int64_t lo, int64_t total) {
  t->shard_lo = total > 0 ? lo : 0;
  t->shard_total = total > 0 ? total : 0;
}
int64_t lbbt_tape_batch_shard(const lbbt_tape *t, int64_t *total) {
  *total = t->shard_total;
  return t->shard_lo;
}

void *lbbt_tape_alloc(lbbt_tape *t, size_t bytes) {
  bytes = (bytes + 63) & ~(size_t)63;
  if (bytes == 0) bytes = 64;
  /* First fit among the blocks from the current one on (blocks are reused in order). */
  for (arena_block *b = t->cur; b; b = b->next) {
    if (b->size - b->used >= bytes) {
      void *p = b->mem + b->used;
      b->used += bytes;
      t->cur = b;
      return p;
    }
  }
  size_t size = bytes > ARENA_MIN_BLOCK ? bytes : ARENA_MIN_BLOCK;
  arena_block *nb = calloc(1, sizeof *nb);
  if (!nb || !(nb->mem = lbbt_alloc_large(&size))) {
    free(nb);
    lbbt_fail(LBBT_E_NOMEM, "tape arena: cannot allocate %zu bytes", size);
    return NULL;
  }
  nb->size = size;
  nb->used = bytes;
  /* Append after the last block so reuse order stays stable. */
  if (!t->head) {
    t->head = nb;
  } else {
    arena_block *last = t->head;
    while (last->next) last = last->next;
    last->next = nb;
  }
  t->cur = nb;
  return nb->mem;
}

lbbt_tape_mark lbbt_tape_mark_get(const lbbt_tape *t) {
  lbbt_tape_mark m = {t->cur, t->cur ? t->cur->used : 0};
  return m;
}

/* Blocks after the current one are always empty (allocation moves forward only), so the
 * release rewinds the marked block and empties every block after it. */
void lbbt_tape_mark_release(lbbt_tape *t, lbbt_tape_mark m) {
  arena_block *b = m.block ? (arena_block *)m.block : t->head;
  if (!b) return;
  if (m.block) b->used = m.used;
  else b->used = 0;
  for (arena_block *n = b->next; n; n = n->next) n->used = 0;
  t->cur = b;
}

lbbt_status lbbt_tape_tensor(lbbt_tape *t, int ndim, const int64_t *shape, lbbt_tensor **out) {
  *out = NULL;
  if (ndim < 1 || ndim > LBBT_MAX_DIMS)
    return lbbt_fail(LBBT_E_SHAPE, "tape_tensor: %d dims (1..%d allowed)", ndim, LBBT_MAX_DIMS);
  int64_t numel = lbbt_shape_numel(ndim, shape);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 1)
      return lbbt_fail(LBBT_E_SHAPE, "tape_tensor: dim %d has size %lld", i, (long long)shape[i]);
  lbbt_tensor *x = lbbt_tape_alloc(t, sizeof *x);
  if (!x) return LBBT_E_NOMEM;
  memset(x, 0, sizeof *x);
  x->data = lbbt_tape_alloc(t, (size_t)numel * sizeof(float));
  if (!x->data) return LBBT_E_NOMEM;
  x->ndim = ndim;
  memcpy(x->shape, shape, (size_t)ndim * sizeof *shape);
  x->numel = numel;
  *out = x;
  return LBBT_OK;
}

int lbbt_tape_needs_grad(const lbbt_tape *t, lbbt_tensor *const *in, int n) {
  if (!t->recording) return 0;
  for (int i = 0; i < n; i++)
    if (in[i] && in[i]->requires_grad) return 1;
  return 0;
}

static lbbt_status push_record(lbbt_tape *t, const char *op_name, lbbt_backward_fn backward,
                               lbbt_tensor *out, lbbt_tensor *const *in, int n_in,
                               const void *ctx, size_t ctx_size, int fresh);

lbbt_status lbbt_tape_push(lbbt_tape *t, const char *op_name, lbbt_backward_fn backward,
                           lbbt_tensor *out, lbbt_tensor *const *in, int n_in, const void *ctx,
                           size_t ctx_size) {
  return push_record(t, op_name, backward, out, in, n_in, ctx, ctx_size, 0);
}

lbbt_status lbbt_tape_push_fresh(lbbt_tape *t, const char *op_name, lbbt_backward_fn backward,
                                 lbbt_tensor *out, lbbt_tensor *const *in, int n_in,
                                 const void *ctx, size_t ctx_size) {
  return push_record(t, op_name, backward, out, in, n_in, ctx, ctx_size, 1);
}

static lbbt_status push_record(lbbt_tape *t, const char *op_name, lbbt_backward_fn backward,
                               lbbt_tensor *out, lbbt_tensor *const *in, int n_in,
                               const void *ctx, size_t ctx_size, int fresh) {
  if (!lbbt_tape_needs_grad(t, in, n_in)) return LBBT_OK;
  if (n_in > LBBT_MAX_OP_INPUTS)
    return lbbt_fail(LBBT_E_INTERNAL, "tape_push(%s): %d inputs (max %d)", op_name, n_in,
                     LBBT_MAX_OP_INPUTS);
  if (t->n_recs == t->cap_recs) {
    size_t cap = t->cap_recs ? 2 * t->cap_recs : 256;
    lbbt_op_record *r = realloc(t->recs, cap * sizeof *r);
    if (!r) return lbbt_fail(LBBT_E_NOMEM, "tape_push: out of memory");
    t->recs = r;
    unsigned char *f = realloc(t->rec_fresh, cap);
    if (!f) return lbbt_fail(LBBT_E_NOMEM, "tape_push: out of memory");
    t->rec_fresh = f;
    t->cap_recs = cap;
  }
  t->rec_fresh[t->n_recs] = (unsigned char)fresh;
  lbbt_op_record *r = &t->recs[t->n_recs];
  memset(r, 0, sizeof *r);
  r->op_name = op_name;
  r->backward = backward;
  r->out = out;
  r->n_in = n_in;
  for (int i = 0; i < n_in; i++) r->in[i] = in[i];
  if (ctx_size) {
    r->ctx = lbbt_tape_alloc(t, ctx_size);
    if (!r->ctx) return LBBT_E_NOMEM;
    memcpy(r->ctx, ctx, ctx_size);
  }
  out->requires_grad = 1;
  t->n_recs++;
  return LBBT_OK;
}

static float *grad_buffer(lbbt_tape *t, int64_t numel);

/* Arena tensors get a zeroed grad on first need; heap tensors (parameters) keep theirs. */
static lbbt_status ensure_grad(lbbt_tape *t, lbbt_tensor *x) {
  if (x->grad) return LBBT_OK;
  if (x->owns_data) return lbbt_tensor_require_grad(x);
  x->grad = grad_buffer(t, x->numel);
  if (!x->grad) return LBBT_E_NOMEM;
  memset(x->grad, 0, (size_t)x->numel * sizeof(float));
  return LBBT_OK;
}

static lbbt_status run_backward(lbbt_tape *t);

/* An uninitialised gradient buffer of numel floats: a released one of that size, else new
 * arena memory. */
static float *grad_buffer(lbbt_tape *t, int64_t numel) {
  for (size_t i = t->n_free; i-- > 0;)
    if (t->free_grads[i].numel == numel) {
      float *p = t->free_grads[i].p;
      t->free_grads[i] = t->free_grads[--t->n_free];
      return p;
    }
  return lbbt_tape_alloc(t, (size_t)numel * sizeof(float));
}

/* After r's backward: r->out's gradient is dead (every consumer of out ran before, and out
 * is produced only by r), unless an input adopted the buffer. */
static void release_out_grad(lbbt_tape *t, const lbbt_op_record *r) {
  lbbt_tensor *out = r->out;
  if (out->owns_data || !out->grad) return;
  for (int j = 0; j < r->n_in; j++)
    if (r->in[j] && r->in[j]->grad == out->grad) return;
  if (t->n_free == t->cap_free) {
    size_t cap = t->cap_free ? 2 * t->cap_free : 64;
    struct free_grad *f = realloc(t->free_grads, cap * sizeof *f);
    if (!f) return; /* not reusing a buffer is always correct */
    t->free_grads = f;
    t->cap_free = cap;
  }
  t->free_grads[t->n_free].p = out->grad;
  t->free_grads[t->n_free].numel = out->numel;
  t->n_free++;
  out->grad = NULL;
}

float *lbbt_tape_grad_for(lbbt_tape *t, lbbt_tensor *x, int *accumulate) {
  *accumulate = 1;
  if (x->grad) return x->grad;
  if (x->owns_data) return lbbt_tensor_require_grad(x) == LBBT_OK ? x->grad : NULL;
  x->grad = grad_buffer(t, x->numel);
  *accumulate = 0;
  return x->grad;
}

int lbbt_tape_grad_adopt(lbbt_tape *t, lbbt_tensor *x, float *g) {
  (void)t;
  if (x->grad || x->owns_data) return 0;
  x->grad = g;
  return 1;
}

lbbt_status lbbt_tape_backward(lbbt_tape *t, lbbt_tensor *loss) {
  if (loss->numel != 1)
    return lbbt_fail(LBBT_E_SHAPE, "backward: loss must have one element, has %lld",
                     (long long)loss->numel);
  float one = 1.0f;
  return lbbt_tape_backward_from(t, loss, &one);
}

lbbt_status lbbt_tape_backward_from(lbbt_tape *t, lbbt_tensor *out, const float *grad_out) {
  if (!out->requires_grad)
    return lbbt_fail(LBBT_E_INTERNAL, "backward: the output does not depend on any trainable tensor");
  LBBT_TRY(ensure_grad(t, out));
  for (int64_t i = 0; i < out->numel; i++) out->grad[i] += grad_out[i];
  return run_backward(t);
}

static lbbt_status run_backward(lbbt_tape *t) {
  for (size_t i = t->n_recs; i-- > 0;) {
    lbbt_op_record *r = &t->recs[i];
    if (!r->out->grad) continue; /* nothing downstream needed this output */
    if (!t->rec_fresh[i])
      for (int j = 0; j < r->n_in; j++)
        if (r->in[j] && r->in[j]->requires_grad) LBBT_TRY(ensure_grad(t, r->in[j]));
    lbbt_status s = r->backward(t, r);
    if (s != LBBT_OK) return lbbt_fail_context(s, "backward of %s", r->op_name);
    release_out_grad(t, r);
  }
  return LBBT_OK;
}

int lbbt_tape_first_nonfinite(const lbbt_tape *t, const char **op_name, int64_t *index) {
  for (size_t i = 0; i < t->n_recs; i++) {
    const lbbt_tensor *o = t->recs[i].out;
    for (int64_t j = 0; j < o->numel; j++)
      if (!isfinite(o->data[j])) {
        *op_name = t->recs[i].op_name;
        *index = (int64_t)i;
        return 1;
      }
  }
  return 0;
}

size_t lbbt_tape_bytes_used(const lbbt_tape *t) {
  size_t n = 0;
  for (arena_block *b = t->head; b; b = b->next) n += b->used;
  return n;
}
size_t lbbt_tape_bytes_reserved(const lbbt_tape *t) {
  size_t n = 0;
  for (arena_block *b = t->head; b; b = b->next) n += b->size;
  return n;
}
