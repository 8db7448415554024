/* SGD update of one parameter, in the operation order of PyTorch's _single_tensor_sgd
 * (torch 1.13): coupled weight decay added to the gradient, momentum buffer initialised to
 * the first gradient, optional dampening and Nesterov.  Elementwise, so thread-count
 * independent. */
#include "optim/optim_internal.h"

void lbbt_optim_sgd_update(const lbbt_optim_config *c, double lr, optim_param *p) {
  const int first = p->step == 0;
  p->step++;
  const int64_t n = p->t->numel;
  float *w = p->t->data;
  const float *g = p->t->grad;
  float *buf = p->momentum_buf;
  const float wd = p->no_decay ? 0.0f : (float)c->weight_decay;
  const float momentum = (float)c->momentum;
  const float one_minus_dampening = (float)(1.0 - c->dampening);
  const float neg_lr = (float)(-lr);
  const int use_momentum = c->momentum != 0, nesterov = c->nesterov;
#pragma omp parallel for schedule(static) if (n >= LBBT_OPTIM_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    float d = g[i];
    if (wd != 0.0f) d = d + wd * w[i];
    if (use_momentum) {
      float b = first ? d : buf[i] * momentum + one_minus_dampening * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    w[i] = w[i] + neg_lr * d;
  }
}
