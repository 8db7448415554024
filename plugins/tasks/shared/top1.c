/* Top-1 accuracy and cross-entropy; see top1.h. */
#include "top1.h"

#include "lbbt/ops.h"
#include "lbbt/train.h"

int64_t top1_count_correct(const lbbt_tensor *logits, const int32_t *labels, int64_t n) {
  int64_t K = logits->shape[logits->ndim - 1], correct = 0;
  for (int64_t i = 0; i < n; i++) {
    const float *row = logits->data + i * K;
    int64_t best = 0;
    for (int64_t k = 1; k < K; k++)
      if (row[k] > row[best]) best = k;
    if (best == labels[i]) correct++;
  }
  return correct;
}

typedef struct top1_sums {
  int64_t correct, n;
  double loss_sum;
} top1_sums;

static lbbt_status eval_batch(lbbt_model *m, lbbt_tape *t, lbbt_tensor *x, const int32_t *labels,
                              int64_t start, int count, void *user) {
  (void)start;
  top1_sums *a = user;
  lbbt_tensor *logits, *loss;
  LBBT_TRY(m->ops->forward_vision(m, t, x, NULL, &logits));
  LBBT_TRY(lbbt_cross_entropy(t, logits, labels, 0.0f, &loss));
  a->correct += top1_count_correct(logits, labels, count);
  a->loss_sum += (double)loss->data[0] * count;
  a->n += count;
  return LBBT_OK;
}

lbbt_status top1_evaluate(lbbt_model *m, const lbbt_dataset *ds, const int32_t *labels, int batch_size,
                          double *acc1, double *loss) {
  top1_sums a = {0, 0, 0.0};
  LBBT_TRY(lbbt_eval_pass(m, ds, labels, batch_size, eval_batch, &a));
  *acc1 = a.n ? 100.0 * (double)a.correct / (double)a.n : 0.0;
  *loss = a.n ? a.loss_sum / (double)a.n : 0.0;
  return LBBT_OK;
}
