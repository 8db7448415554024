/* Token embedding lookup: out [B, T, C] = table[ids[b*T + t], :] with table [V, C].
 *
 * Forward is a row gather.  Backward scatter-adds each output row's gradient into the table
 * row it came from (a token repeated in the batch accumulates).  The ids are copied into the
 * arena because the caller's buffer is usually reused for the next batch before backward. */
#include <string.h>

#include "lbbt/ops.h"

typedef struct embedding_ctx {
  const int32_t *ids; /* arena copy, B*T entries */
  int64_t n_tokens;   /* B*T */
} embedding_ctx;

static lbbt_status embedding_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  (void)tape;
  const embedding_ctx *ctx = rec->ctx;
  lbbt_tensor *table = rec->in[0];
  if (!table->requires_grad) return LBBT_OK;
  const int64_t C = table->shape[1];
  const float *dout = rec->out->grad;
  float *dtable = table->grad;
  /* Serial over tokens: two tokens may share a row, so a parallel loop over tokens would
   * race; the inner loop over C is contiguous and vectorises. */
  for (int64_t n = 0; n < ctx->n_tokens; n++) {
    float *dst = dtable + (int64_t)ctx->ids[n] * C;
    const float *src = dout + n * C;
    for (int64_t c = 0; c < C; c++) dst[c] += src[c];
  }
  return LBBT_OK;
}

lbbt_status lbbt_embedding(lbbt_tape *t, lbbt_tensor *table, const int32_t *ids, int64_t B,
                           int64_t T, lbbt_tensor **out) {
  *out = NULL;
  char sb[64];
  if (table->ndim != 2)
    return lbbt_fail(LBBT_E_SHAPE,
                     "embedding: table '%s' has shape %s; it must be 2-D [V, C] (vocabulary, "
                     "channels)",
                     table->name ? table->name : "?", lbbt_shape_str(table, sb, sizeof sb));
  if (B < 1 || T < 1)
    return lbbt_fail(LBBT_E_SHAPE, "embedding: batch B=%lld and tokens T=%lld must both be >= 1",
                     (long long)B, (long long)T);
  if (!ids) return lbbt_fail(LBBT_E_INPUT, "embedding: ids is NULL (expected B*T = %lld ids)",
                             (long long)(B * T));
  const int64_t V = table->shape[0], C = table->shape[1], n_tokens = B * T;
  /* Check every id before touching memory: a bad id is a tokenizer/vocabulary mismatch in
   * the user's data or config, so it is reported as bad input with its position. */
  for (int64_t n = 0; n < n_tokens; n++) {
    if (ids[n] < 0 || ids[n] >= V)
      return lbbt_fail(LBBT_E_INPUT,
                       "embedding: token id %d at position (b=%lld, t=%lld) (flat index %lld) is "
                       "outside the vocabulary [0, %lld) of table '%s' %s; check that the "
                       "tokenizer and the model's vocab_size agree",
                       (int)ids[n], (long long)(n / T), (long long)(n % T), (long long)n,
                       (long long)V, table->name ? table->name : "?",
                       lbbt_shape_str(table, sb, sizeof sb));
  }
  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, 3, (int64_t[]){B, T, C}, &y));
#pragma omp parallel for schedule(static) if (n_tokens * C > 32768)
  for (int64_t n = 0; n < n_tokens; n++)
    memcpy(y->data + n * C, table->data + (int64_t)ids[n] * C, (size_t)C * sizeof(float));

  lbbt_tensor *inputs[1] = {table};
  if (lbbt_tape_needs_grad(t, inputs, 1)) {
    int32_t *ids_copy = lbbt_tape_alloc(t, (size_t)n_tokens * sizeof *ids_copy);
    if (!ids_copy) return LBBT_E_NOMEM;
    memcpy(ids_copy, ids, (size_t)n_tokens * sizeof *ids_copy);
    embedding_ctx ctx = {ids_copy, n_tokens};
    LBBT_TRY(lbbt_tape_push(t, "embedding", embedding_backward, y, inputs, 1, &ctx, sizeof ctx));
  }
  *out = y;
  return LBBT_OK;
}
