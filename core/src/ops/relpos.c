/* T5 relative position bias: out [H, T, S] = table[bucket(s - t), h], table [num_buckets, H].
 *
 * bucket() is transformers' T5Attention._relative_position_bucket, float32 steps included:
 *   relative_buckets = 0
 *   if bidirectional:
 *       num_buckets //= 2
 *       relative_buckets += (relative_position > 0) * num_buckets
 *       relative_position = abs(relative_position)
 *   else:
 *       relative_position = -min(relative_position, 0)
 *   max_exact = num_buckets // 2
 *   is_small = relative_position < max_exact
 *   if_large = max_exact + long(log(float(relative_position) / max_exact)
 *                               / math.log(max_distance / max_exact) * (num_buckets - max_exact))
 *   if_large = min(if_large, num_buckets - 1)
 *   relative_buckets += where(is_small, relative_position, if_large)
 * with relative_position = memory_position - query_position = s - t (T5Attention.compute_bias
 * without a cache offset).  The encoder is bidirectional; the decoder is not.
 *
 * The bucket depends only on s - t, so the T + S - 1 buckets are computed once per call and
 * kept in the arena for backward, which scatter-adds dout into the table rows. */
#include <math.h>

#include "lbbt/ops.h"

static int32_t t5_relative_position_bucket(int64_t relative_position, int bidirectional,
                                           int num_buckets, int max_distance) {
  int64_t bucket = 0;
  int64_t n = relative_position;
  if (bidirectional) {
    num_buckets /= 2;
    if (n > 0) bucket += num_buckets;
    n = n < 0 ? -n : n;
  } else {
    n = n < 0 ? -n : 0;
  }
  const int max_exact = num_buckets / 2;
  if (n < max_exact) return (int32_t)(bucket + n);
  /* float32 like the PyTorch expression; the python-side log is a double cast to float. */
  const float log_ratio = (float)log((double)max_distance / (double)max_exact);
  const float scaled =
      logf((float)n / (float)max_exact) / log_ratio * (float)(num_buckets - max_exact);
  int64_t if_large = max_exact + (int64_t)scaled; /* .to(torch.long) truncates */
  if (if_large > num_buckets - 1) if_large = num_buckets - 1;
  return (int32_t)(bucket + if_large);
}

typedef struct relpos_ctx {
  const int32_t *buckets; /* [T + S - 1], index (s - t) + (T - 1) */
  int64_t T, S;
} relpos_ctx;

static lbbt_status relpos_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  (void)tape;
  const relpos_ctx *c = rec->ctx;
  lbbt_tensor *table = rec->in[0];
  if (!table->requires_grad) return LBBT_OK;
  const int64_t H = table->shape[1], T = c->T, S = c->S;
  const float *dout = rec->out->grad;
  /* Each head owns column h of the table gradient, so heads run in parallel race-free. */
#pragma omp parallel for schedule(static) if (H * T * S > 32768)
  for (int64_t h = 0; h < H; h++) {
    for (int64_t t = 0; t < T; t++) {
      const float *g = dout + (h * T + t) * S;
      const int32_t *bk = c->buckets + (T - 1 - t); /* bk[s] = bucket(s - t) */
      for (int64_t s = 0; s < S; s++) table->grad[(int64_t)bk[s] * H + h] += g[s];
    }
  }
  return LBBT_OK;
}

lbbt_status lbbt_relative_position_bias(lbbt_tape *t, lbbt_tensor *table, int64_t T, int64_t S,
                                        int bidirectional, int num_buckets, int max_distance,
                                        lbbt_tensor **out) {
  *out = NULL;
  char sb[64];
  if (table->ndim != 2 || table->shape[0] != num_buckets)
    return lbbt_fail(LBBT_E_SHAPE,
                     "relative_position_bias: table '%s' %s must be [num_buckets, H] with "
                     "num_buckets = %d",
                     table->name ? table->name : "?", lbbt_shape_str(table, sb, sizeof sb),
                     num_buckets);
  if (T < 1 || S < 1)
    return lbbt_fail(LBBT_E_SHAPE,
                     "relative_position_bias: query length T=%lld and key length S=%lld must be "
                     ">= 1",
                     (long long)T, (long long)S);
  /* max_exact >= 1 and max_distance > max_exact keep the log-bucket formula finite. */
  const int effective = bidirectional ? num_buckets / 2 : num_buckets;
  const int max_exact = effective / 2;
  if (max_exact < 1 || max_distance <= max_exact)
    return lbbt_fail(LBBT_E_INPUT,
                     "relative_position_bias: num_buckets %d (%s) and max_distance %d are "
                     "unusable: need num_buckets >= %d and max_distance > %d (T5 uses 32 and "
                     "128)",
                     num_buckets, bidirectional ? "bidirectional" : "unidirectional",
                     max_distance, bidirectional ? 4 : 2, max_exact < 1 ? 1 : max_exact);
  const int64_t H = table->shape[1];

  int32_t *buckets = lbbt_tape_alloc(t, (size_t)(T + S - 1) * sizeof *buckets);
  if (!buckets) return LBBT_E_NOMEM;
  for (int64_t i = 0; i < T + S - 1; i++)
    buckets[i] = t5_relative_position_bucket(i - (T - 1), bidirectional, num_buckets,
                                             max_distance);

  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, 3, (int64_t[]){H, T, S}, &y));
#pragma omp parallel for schedule(static) if (H * T * S > 32768)
  for (int64_t h = 0; h < H; h++) {
    for (int64_t tq = 0; tq < T; tq++) {
      float *dst = y->data + (h * T + tq) * S;
      const int32_t *bk = buckets + (T - 1 - tq);
      for (int64_t s = 0; s < S; s++) dst[s] = table->data[(int64_t)bk[s] * H + h];
    }
  }

  relpos_ctx c = {buckets, T, S};
  lbbt_tensor *inputs[1] = {table};
  LBBT_TRY(lbbt_tape_push(t, "relative_position_bias", relpos_backward, y, inputs, 1, &c,
                          sizeof c));
  *out = y;
  return LBBT_OK;
}
