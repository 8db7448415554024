/* Shared training helpers; see train.h. */
#include <stdlib.h>
#include <string.h>

#include "lbbt/ops.h"
#include "lbbt/train.h"

lbbt_status lbbt_tape_input(lbbt_tape *t, int ndim, const int64_t *shape, const float *data,
                            lbbt_tensor **out) {
  LBBT_TRY(lbbt_tape_tensor(t, ndim, shape, out));
  memcpy((*out)->data, data, (size_t)(*out)->numel * sizeof(float));
  return LBBT_OK;
}

lbbt_status lbbt_eval_pass(lbbt_model *m, const lbbt_dataset *ds, const int32_t *labels,
                           int batch_size, lbbt_eval_batch_fn fn, void *user) {
  lbbt_batcher_config bc = {0};
  bc.batch_size = batch_size;
  bc.labels = labels;
  lbbt_batcher *b = NULL;
  LBBT_TRY(lbbt_batcher_create(ds, &bc, &b));
  int64_t per = lbbt_dataset_image_numel(ds);
  float *img = malloc((size_t)batch_size * (size_t)per * sizeof(float));
  int32_t *lab = malloc((size_t)batch_size * sizeof(int32_t));
  lbbt_status st = img && lab ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "evaluation pass: out of memory");
  if (st == LBBT_OK && !m->eval_tape) st = lbbt_tape_create(&m->eval_tape);
  lbbt_tape *t = m->eval_tape;
  if (st == LBBT_OK) {
    lbbt_tape_set_training(t, 0);
    lbbt_tape_set_recording(t, 0);
    lbbt_batcher_start_epoch(b, 0);
    int64_t nb = lbbt_batcher_num_batches(b), start = 0;
    for (int64_t i = 0; i < nb && st == LBBT_OK; i++) {
      int count = 0;
      st = lbbt_batcher_get(b, i, img, lab, NULL, &count);
      if (st != LBBT_OK) break;
      lbbt_tape_reset(t);
      lbbt_tensor *x;
      int64_t shape[4] = {count, ds->channels, ds->height, ds->width};
      st = lbbt_tape_input(t, 4, shape, img, &x);
      if (st == LBBT_OK) st = fn(m, t, x, lab, start, count, user);
      start += count;
    }
  }
  if (t) lbbt_tape_reset(t); /* kept (and its arena) for the next call */
  free(img);
  free(lab);
  lbbt_batcher_free(b);
  return st;
}

static lbbt_status feature_batch(lbbt_model *m, lbbt_tape *t, lbbt_tensor *x, const int32_t *labels,
                                 int64_t start, int count, void *user) {
  float *out = user;
  lbbt_tensor *f;
  LBBT_TRY(m->ops->forward_vision(m, t, x, &f, NULL));
  memcpy(out + start * m->dim, f->data, (size_t)count * (size_t)m->dim * sizeof(float));
  return LBBT_OK;
}

lbbt_status lbbt_extract_features(lbbt_model *m, const lbbt_dataset *ds, int batch_size,
                                  float *out) {
  return lbbt_eval_pass(m, ds, NULL, batch_size, feature_batch, out);
}

lbbt_status lbbt_fail_nonfinite(const lbbt_tape *t, const char *stage, int64_t step, double loss) {
  const char *op = NULL;
  int64_t idx = 0;
  if (lbbt_tape_first_nonfinite(t, &op, &idx))
    return lbbt_fail(LBBT_E_NUMERIC,
                     "stage '%s', step %lld: loss is %g; the first non-finite value appeared in "
                     "the output of op #%lld (%s). Lower the learning rate or check the inputs.",
                     stage, (long long)step, loss, (long long)idx, op);
  return lbbt_fail(LBBT_E_NUMERIC, "stage '%s', step %lld: loss is %g", stage, (long long)step, loss);
}
