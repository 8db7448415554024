/* Row gather along dim 1 with per-batch indices (torch.gather on [B, N, D] by [B, K]):
 * MAE's encoder keeps its visible patches with it and its decoder restores their order. */
#include <string.h>

#include "lbbt/ops.h"

typedef struct gather_ctx {
  const int32_t *idx;
  int64_t K;
} gather_ctx;

static lbbt_status gather_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  (void)tape;
  const gather_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  if (!x->requires_grad) return LBBT_OK;
  const int64_t B = x->shape[0], N = x->shape[1], D = x->shape[2];
  for (int64_t b = 0; b < B; b++)
    for (int64_t k = 0; k < c->K; k++) {
      float *gx = x->grad + (b * N + c->idx[b * c->K + k]) * D;
      const float *gy = rec->out->grad + (b * c->K + k) * D;
      for (int64_t d = 0; d < D; d++) gx[d] += gy[d];
    }
  return LBBT_OK;
}

lbbt_status lbbt_gather_rows(lbbt_tape *t, lbbt_tensor *x, const int32_t *idx, int64_t K, lbbt_tensor **out) {
  if (x->ndim != 3) return lbbt_fail(LBBT_E_SHAPE, "gather_rows: x must be [B, N, D], has %d dims", x->ndim);
  const int64_t B = x->shape[0], N = x->shape[1], D = x->shape[2];
  for (int64_t i = 0; i < B * K; i++)
    if (idx[i] < 0 || idx[i] >= N)
      return lbbt_fail(LBBT_E_INPUT, "gather_rows: index %d outside [0, %lld)", idx[i], (long long)N);
  gather_ctx c = {lbbt_tape_alloc(t, (size_t)(B * K) * sizeof(int32_t)), K};
  if (!c.idx) return lbbt_fail(LBBT_E_NOMEM, "gather_rows: out of arena memory");
  memcpy((int32_t *)c.idx, idx, (size_t)(B * K) * sizeof(int32_t));
  lbbt_tensor *y;
  int64_t shape[3] = {B, K, D};
  LBBT_TRY(lbbt_tape_tensor(t, 3, shape, &y));
  for (int64_t b = 0; b < B; b++)
    for (int64_t k = 0; k < K; k++)
      memcpy(y->data + (b * K + k) * D, x->data + (b * N + idx[b * K + k]) * D, (size_t)D * sizeof(float));
  *out = y;
  return lbbt_tape_push(t, "gather_rows", gather_backward, y, &x, 1, &c, sizeof c);
}
