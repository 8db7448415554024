/* Learning-rate schedules: linear warm-up then constant or cosine; formulas in optim.h. */
#include <math.h>

#include "lbbt/optim.h"

lbbt_status lbbt_lr_schedule_check(const lbbt_lr_schedule *s) {
  if (s->kind != LBBT_SCHEDULE_CONSTANT && s->kind != LBBT_SCHEDULE_COSINE)
    return lbbt_fail(LBBT_E_INPUT, "lr schedule: unknown kind %d (constant or cosine)",
                     (int)s->kind);
  if (!isfinite(s->base_lr) || s->base_lr < 0)
    return lbbt_fail(LBBT_E_INPUT, "lr schedule: base lr %g must be finite and >= 0", s->base_lr);
  if (s->warmup_steps < 0 || s->warmup_steps > s->total_steps)
    return lbbt_fail(LBBT_E_INPUT,
                     "lr schedule: %lld warm-up steps with %lld steps in total; warm-up must "
                     "lie in 0..total (lower warmup_epochs)",
                     (long long)s->warmup_steps, (long long)s->total_steps);
  if (s->kind == LBBT_SCHEDULE_COSINE) {
    if (s->total_steps == s->warmup_steps)
      return lbbt_fail(LBBT_E_INPUT,
                       "lr schedule: cosine needs steps after the warm-up (total %lld, warm-up "
                       "%lld)",
                       (long long)s->total_steps, (long long)s->warmup_steps);
    if (!isfinite(s->min_lr) || s->min_lr < 0 || s->min_lr > s->base_lr)
      return lbbt_fail(LBBT_E_INPUT, "lr schedule: min lr %g must lie in [0, base lr %g]",
                       s->min_lr, s->base_lr);
  }
  return LBBT_OK;
}

double lbbt_lr_at(const lbbt_lr_schedule *s, int64_t step) {
  if (step < 0) step = 0;
  if (step < s->warmup_steps) return s->base_lr * (double)step / (double)s->warmup_steps;
  if (s->kind == LBBT_SCHEDULE_CONSTANT) return s->base_lr;
  if (s->total_steps <= s->warmup_steps) return s->min_lr; /* rejected by _check */
  if (step > s->total_steps) step = s->total_steps;
  double progress = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
  return s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
}
