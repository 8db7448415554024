/* AdamW update of one parameter, in the operation order of PyTorch's _single_tensor_adamw
 * (torch 1.13): decoupled decay, moment updates, bias-corrected step with eps outside the
 * square root.  Every element is independent, so splitting the loop across threads cannot
 * change the result, and neither can running it in SIMD lanes: the Makefile compiles this
 * file with -fno-math-errno (v >= 0, so sqrtf never sets errno here), which lets GCC use the
 * packed square root and division, correctly rounded like the scalar ones (no FMA at the
 * baseline ISA, and -std=c11 contracts nothing); scalar sqrtss/divss per element made this
 * loop 3.5% of a Table 6 detector run. */
#include <math.h>

#include "optim/optim_internal.h"

void lbbt_optim_adamw_update(const lbbt_optim_config *c, double lr, optim_param *p) {
  p->step++;
  const int64_t n = p->t->numel;
  float *restrict w = p->t->data;
  const float *restrict g = p->t->grad;
  float *restrict m = p->exp_avg, *restrict v = p->exp_avg_sq;
  const double wd = p->no_decay ? 0.0 : c->weight_decay;
  /* Scalars in double, rounded once to f32, as PyTorch passes Python floats to f32 kernels. */
  const float decay = (float)(1.0 - lr * wd);
  const float beta1 = (float)c->beta1, one_minus_beta1 = (float)(1.0 - c->beta1);
  const float beta2 = (float)c->beta2, one_minus_beta2 = (float)(1.0 - c->beta2);
  const double bias_correction1 = 1.0 - pow(c->beta1, (double)p->step);
  const double bias_correction2 = 1.0 - pow(c->beta2, (double)p->step);
  const float neg_step_size = (float)(-(lr / bias_correction1));
  const float bias_correction2_sqrt = (float)sqrt(bias_correction2);
  const float eps = (float)c->eps;
#pragma omp parallel for simd schedule(static) if (n >= LBBT_OPTIM_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    float wi = w[i] * decay;
    float gi = g[i];
    float mi = m[i] * beta1 + one_minus_beta1 * gi;
    float vi = v[i] * beta2 + one_minus_beta2 * gi * gi;
    float denom = sqrtf(vi) / bias_correction2_sqrt + eps;
    w[i] = wi + neg_step_size * mi / denom;
    m[i] = mi;
    v[i] = vi;
  }
}
