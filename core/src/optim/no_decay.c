/* Which parameters are excluded from weight decay; the rule is documented in optim.h. */
#include <string.h>

#include "lbbt/optim.h"

int lbbt_no_decay_rule(const char *name, int ndim) {
  if (ndim < 2) return 1;
  static const char *const markers[] = {"norm", "ln_", "bias", "embed"};
  for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
    if (strstr(name, markers[i])) return 1;
  return 0;
}

int lbbt_model_apply_no_decay_rule(lbbt_model *m) {
  int n = 0;
  for (int i = 0; i < m->n_params; i++) {
    lbbt_param *p = &m->params[i];
    if (lbbt_no_decay_rule(p->name, p->t->ndim)) p->no_decay = 1;
    n += p->no_decay;
  }
  return n;
}
