/* Pieces shared by the training tasks: inputs onto the tape, accuracy, evaluation and
 * feature extraction over a dataset, and the NaN/Inf diagnosis of a failed step. */
#ifndef LBBT_TRAIN_H
#define LBBT_TRAIN_H
#include "lbbt/dataset.h"
#include "lbbt/model.h"
#include "lbbt/tensor.h"

/* A new tape tensor holding a copy of data (numel = product of shape). */
LBBT_API lbbt_status lbbt_tape_input(lbbt_tape *t, int ndim, const int64_t *shape, const float *data,
                            lbbt_tensor **out);
/* Rows i of logits [N, K] with argmax == labels[i] (ties: the lowest index, as torch). */
LBBT_API int64_t lbbt_count_correct(const lbbt_tensor *logits, const int32_t *labels, int64_t n);
/* Top-1 accuracy in percent and mean cross-entropy against `labels` (NULL: the dataset's
 * true labels) in eval mode (no dropout/drop-path, nothing recorded). */
LBBT_API lbbt_status lbbt_evaluate(lbbt_model *m, const lbbt_dataset *ds, const int32_t *labels,
                          int batch_size, double *acc1, double *loss);
/* Pooled features of every image, out [ds->n, m->dim], eval mode. */
LBBT_API lbbt_status lbbt_extract_features(lbbt_model *m, const lbbt_dataset *ds, int batch_size,
                                  float *out);
/* LBBT_E_NUMERIC naming the step and the first op whose output went non-finite. */
LBBT_API lbbt_status lbbt_fail_nonfinite(const lbbt_tape *t, const char *stage, int64_t step, double loss);

#endif
