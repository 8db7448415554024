/* lbbt_objective bookkeeping shared by the curvature analyses; see objective.h. */
#include <math.h>
#include <string.h>

#include "lbbt/objective.h"

lbbt_status lbbt_objective_eval(lbbt_objective *o, const double *theta, double *loss,
                                double *grad) {
  if (!o || !o->eval || o->n < 1)
    return lbbt_fail(LBBT_E_INTERNAL, "objective_eval: objective without an eval function or parameters");
  LBBT_TRY(o->eval(o, theta, loss, grad));
  if (grad)
    o->n_grad_evals++;
  else
    o->n_loss_evals++;
  if (!isfinite(*loss))
    return lbbt_fail(LBBT_E_NUMERIC,
                     "objective: the loss is %g at the evaluated parameters (after %lld gradient and "
                     "%lld loss evaluations); the perturbation may be too large (lower the step, "
                     "span or noise) or the model diverged",
                     *loss, (long long)o->n_grad_evals, (long long)o->n_loss_evals);
  if (grad)
    for (int64_t i = 0; i < o->n; i++)
      if (!isfinite(grad[i]))
        return lbbt_fail(LBBT_E_NUMERIC, "objective: gradient entry %lld of %lld is %g (loss %g)",
                         (long long)i, (long long)o->n, grad[i], *loss);
  return LBBT_OK;
}

const lbbt_param_segment *lbbt_param_segment_at(const lbbt_param_segment *segs, int n_segs,
                                                int64_t i) {
  int lo = 0, hi = n_segs - 1;
  while (lo <= hi) { /* binary search over offsets */
    int mid = (lo + hi) / 2;
    if (i < segs[mid].offset)
      hi = mid - 1;
    else if (i >= segs[mid].offset + segs[mid].numel)
      lo = mid + 1;
    else
      return &segs[mid];
  }
  return NULL;
}

lbbt_status lbbt_obj_params_parse(const char *text, lbbt_obj_params *out) {
  if (text && !strcmp(text, "all")) {
    *out = LBBT_OBJ_PARAMS_ALL;
    return LBBT_OK;
  }
  if (text && !strcmp(text, "blocks")) {
    *out = LBBT_OBJ_PARAMS_BLOCKS;
    return LBBT_OK;
  }
  return lbbt_fail(LBBT_E_INPUT, "parameters '%s': expected 'all' (every parameter) or 'blocks' "
                   "(only the transformer blocks)", text ? text : "(null)");
}

const char *lbbt_obj_params_name(lbbt_obj_params p) {
  return p == LBBT_OBJ_PARAMS_BLOCKS ? "blocks" : "all";
}
