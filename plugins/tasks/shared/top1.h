/* Top-1 accuracy and cross-entropy of a classifier against class labels: what the
 * classification-type tasks (classification, linear-probe) measure.  Compiled into each of
 * their .so files (the Makefile's TASK_SHARED_SRC), not into the core, which knows no task;
 * hidden, so two plugins' copies never interpose. */
#ifndef LBBT_TASKS_TOP1_H
#define LBBT_TASKS_TOP1_H
#include <stdint.h>

#include "lbbt/dataset.h"
#include "lbbt/model.h"
#include "lbbt/tensor.h"

#define TOP1_HIDDEN __attribute__((visibility("hidden")))

/* Rows i of logits [N, K] with argmax == labels[i] (ties: the lowest index, as torch). */
TOP1_HIDDEN int64_t top1_count_correct(const lbbt_tensor *logits, const int32_t *labels, int64_t n);
/* Top-1 accuracy in percent and mean cross-entropy of the vision model m against `labels`
 * (NULL: the dataset's own labels), in eval mode (no dropout/drop-path, nothing recorded),
 * batch_size images per forward pass. */
TOP1_HIDDEN lbbt_status top1_evaluate(lbbt_model *m, const lbbt_dataset *ds, const int32_t *labels,
                                      int batch_size, double *acc1, double *loss);

#endif
