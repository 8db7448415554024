/* Internals shared by the files in core/src/optim/ (not a public header). */
#ifndef LBBT_OPTIM_INTERNAL_H
#define LBBT_OPTIM_INTERNAL_H
#include "lbbt/optim.h"

/* Elementwise loops shorter than this run on one thread: a parallel region costs more. */
#define LBBT_OPTIM_PARALLEL_MIN 32768

typedef struct optim_param {
  char name[128];
  lbbt_tensor *t;       /* borrowed */
  int no_decay;
  int64_t step;         /* updates applied so far */
  float *exp_avg;       /* AdamW first moment [numel], owned */
  float *exp_avg_sq;    /* AdamW second moment [numel], owned */
  float *momentum_buf;  /* SGD with momentum [numel], owned */
} optim_param;

struct lbbt_optim {
  lbbt_optim_config cfg;
  double lr;
  optim_param *params;
  int n_params, cap_params;
};

/* One update of p from p->t->grad at learning rate lr; increments p->step. */
void lbbt_optim_adamw_update(const lbbt_optim_config *c, double lr, optim_param *p);
void lbbt_optim_sgd_update(const lbbt_optim_config *c, double lr, optim_param *p);

/* Does the step touch this parameter? (has a grad and is not frozen) */
static inline int optim_param_active(const optim_param *p) {
  return p->t->grad != NULL && p->t->requires_grad;
}

#endif
