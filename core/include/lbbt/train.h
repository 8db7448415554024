/* Pieces shared by the training tasks and analyses: inputs onto the tape, a pass over a
 * dataset in eval mode, feature extraction, and the NaN/Inf diagnosis of a failed step.
 * What a task measures (top-1, a loss against its targets) is the task's own. */
#ifndef LBBT_TRAIN_H
#define LBBT_TRAIN_H
#include "lbbt/dataset.h"
#include "lbbt/model.h"
#include "lbbt/tensor.h"

/* A new tape tensor holding a copy of data (numel = product of shape). */
LBBT_API lbbt_status lbbt_tape_input(lbbt_tape *t, int ndim, const int64_t *shape, const float *data,
                            lbbt_tensor **out);
/* Called by lbbt_eval_pass for each batch: images [count, C, H, W] on tape t, their labels
 * (`labels` of lbbt_eval_pass, or the dataset's) and the index of the first image. */
typedef lbbt_status (*lbbt_eval_batch_fn)(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                          const int32_t *labels, int64_t start, int count,
                                          void *user);
/* Run fn over every image of ds in order, batch_size at a time, in eval mode (no dropout or
 * drop-path) with recording off, on the model's kept evaluation arena (model.h).  labels:
 * per-image labels handed to fn instead of the dataset's (NULL: the dataset's). */
LBBT_API lbbt_status lbbt_eval_pass(lbbt_model *m, const lbbt_dataset *ds, const int32_t *labels,
                           int batch_size, lbbt_eval_batch_fn fn, void *user);
/* Pooled features of every image, out [ds->n, m->dim], eval mode. */
LBBT_API lbbt_status lbbt_extract_features(lbbt_model *m, const lbbt_dataset *ds, int batch_size,
                                  float *out);
/* LBBT_E_NUMERIC naming the step and the first op whose output went non-finite. */
LBBT_API lbbt_status lbbt_fail_nonfinite(const lbbt_tape *t, const char *stage, int64_t step, double loss);

#endif
