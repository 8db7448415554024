/* The training loss of a vision model on one fixed batch, as an lbbt_objective; see
 * objective.h. */
#include <stdlib.h>
#include <string.h>

#include "lbbt/objective.h"
#include "lbbt/ops.h"
#include "lbbt/train.h"

struct lbbt_model_objective {
  lbbt_objective base;
  lbbt_model *m;
  float *images;    /* [N, C, H, W] */
  int32_t *labels;  /* [N] */
  int64_t N;
  int C, H, W, chunk;
  int *chosen;      /* [n_chosen] indices into m->params */
  int n_chosen;
  lbbt_param_segment *segs; /* [n_chosen] */
  double *theta0;   /* [P] */
  int *saved_requires_grad; /* [m->n_params] */
  int *grad_added;  /* [m->n_params]: 1 when this objective allocated the grad buffer */
  lbbt_tape *tape;
};

static void set_params(lbbt_model_objective *mo, const double *theta) {
  for (int k = 0; k < mo->n_chosen; k++) {
    lbbt_tensor *t = mo->m->params[mo->chosen[k]].t;
    const double *src = theta + mo->segs[k].offset;
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)src[i];
  }
}

static lbbt_status model_eval(lbbt_objective *o, const double *theta, double *loss, double *grad) {
  lbbt_model_objective *mo = o->user;
  lbbt_model *m = mo->m;
  set_params(mo, theta);
  if (grad)
    for (int k = 0; k < mo->n_chosen; k++) lbbt_tensor_zero_grad(m->params[mo->chosen[k]].t);
  lbbt_tape_set_recording(mo->tape, grad != NULL);
  int64_t per = (int64_t)mo->C * mo->H * mo->W;
  double total = 0;
  for (int64_t start = 0; start < mo->N; start += mo->chunk) {
    int64_t n = mo->N - start < mo->chunk ? mo->N - start : mo->chunk;
    lbbt_tape_reset(mo->tape);
    lbbt_tensor *x, *logits, *ce, *scaled;
    int64_t shape[4] = {n, mo->C, mo->H, mo->W};
    LBBT_TRY(lbbt_tape_input(mo->tape, 4, shape, mo->images + start * per, &x));
    LBBT_TRY(m->ops->forward_vision(m, mo->tape, x, NULL, &logits));
    LBBT_TRY(lbbt_cross_entropy(mo->tape, logits, mo->labels + start, 0.0f, &ce));
    /* The mean over the whole batch is the chunk means weighted by chunk size. */
    double w = (double)n / (double)mo->N;
    total += w * (double)ce->data[0];
    if (grad) {
      LBBT_TRY(lbbt_scale(mo->tape, ce, (float)w, &scaled));
      if (!scaled->requires_grad)
        return lbbt_fail(LBBT_E_INTERNAL, "model objective: the loss does not depend on the chosen "
                         "parameters (none requires a gradient)");
      LBBT_TRY(lbbt_tape_backward(mo->tape, scaled));
    }
  }
  lbbt_tape_reset(mo->tape);
  *loss = total;
  if (grad)
    for (int k = 0; k < mo->n_chosen; k++) {
      const lbbt_tensor *t = m->params[mo->chosen[k]].t;
      double *dst = grad + mo->segs[k].offset;
      for (int64_t i = 0; i < t->numel; i++) dst[i] = (double)t->grad[i];
    }
  return LBBT_OK;
}

lbbt_status lbbt_model_objective_create(lbbt_model *m, const float *images,
                                        const int32_t *labels, int64_t N, int C, int H, int W,
                                        int chunk, lbbt_obj_params which,
                                        lbbt_model_objective **out) {
  *out = NULL;
  if (!m || !m->ops || !m->ops->forward_vision)
    return lbbt_fail(LBBT_E_INTERNAL, "model objective: the model has no vision forward pass");
  if (N < 1 || C < 1 || H < 1 || W < 1 || chunk < 1)
    return lbbt_fail(LBBT_E_INPUT, "model objective: batch of %lld images [%d, %d, %d] in chunks of %d: "
                     "every size must be >= 1", (long long)N, C, H, W, chunk);
  for (int64_t i = 0; i < N; i++)
    if (labels[i] < 0 || labels[i] >= m->num_classes)
      return lbbt_fail(LBBT_E_INPUT, "model objective: label %d of image %lld is outside [0, %d)",
                       labels[i], (long long)i, m->num_classes);
  lbbt_model_objective *mo = calloc(1, sizeof *mo);
  if (!mo) return lbbt_fail(LBBT_E_NOMEM, "model objective: out of memory");
  mo->m = m;
  mo->N = N;
  mo->C = C;
  mo->H = H;
  mo->W = W;
  mo->chunk = chunk;
  size_t img_bytes = (size_t)N * (size_t)C * (size_t)H * (size_t)W * sizeof(float);
  mo->images = malloc(img_bytes);
  mo->labels = malloc((size_t)N * sizeof *mo->labels);
  mo->chosen = malloc((size_t)(m->n_params ? m->n_params : 1) * sizeof *mo->chosen);
  mo->segs = calloc((size_t)(m->n_params ? m->n_params : 1), sizeof *mo->segs);
  mo->saved_requires_grad = calloc((size_t)(m->n_params ? m->n_params : 1), sizeof(int));
  mo->grad_added = calloc((size_t)(m->n_params ? m->n_params : 1), sizeof(int));
  lbbt_status st = LBBT_OK;
  if (!mo->images || !mo->labels || !mo->chosen || !mo->segs || !mo->saved_requires_grad ||
      !mo->grad_added) {
    st = lbbt_fail(LBBT_E_NOMEM, "model objective: out of memory");
    goto fail;
  }
  memcpy(mo->images, images, img_bytes);
  memcpy(mo->labels, labels, (size_t)N * sizeof *mo->labels);
  int64_t P = 0;
  for (int i = 0; i < m->n_params; i++) {
    lbbt_param *p = &m->params[i];
    mo->saved_requires_grad[i] = p->t->requires_grad;
    int on = which == LBBT_OBJ_PARAMS_ALL || p->part == LBBT_PART_BLOCK;
    if (!on) {
      p->t->requires_grad = 0;
      continue;
    }
    mo->grad_added[i] = p->t->grad == NULL;
    st = lbbt_tensor_require_grad(p->t);
    if (st != LBBT_OK) goto fail;
    lbbt_param_segment *s = &mo->segs[mo->n_chosen];
    s->name = p->name;
    s->offset = P;
    s->numel = p->t->numel;
    s->rows = p->t->shape[0];
    s->ndim = p->t->ndim;
    mo->chosen[mo->n_chosen++] = i;
    P += p->t->numel;
  }
  if (P == 0) {
    st = lbbt_fail(LBBT_E_INPUT, "model objective: the %s model has no parameters of the kind '%s'",
                   m->arch, lbbt_obj_params_name(which));
    goto fail;
  }
  mo->theta0 = malloc((size_t)P * sizeof *mo->theta0);
  if (!mo->theta0) {
    st = lbbt_fail(LBBT_E_NOMEM, "model objective: out of memory for %lld parameters", (long long)P);
    goto fail;
  }
  for (int k = 0; k < mo->n_chosen; k++) {
    const lbbt_tensor *t = m->params[mo->chosen[k]].t;
    for (int64_t i = 0; i < t->numel; i++) mo->theta0[mo->segs[k].offset + i] = t->data[i];
  }
  st = lbbt_tape_create(&mo->tape);
  if (st != LBBT_OK) goto fail;
  lbbt_tape_set_training(mo->tape, 0);
  mo->base.n = P;
  mo->base.eval = model_eval;
  mo->base.user = mo;
  *out = mo;
  return LBBT_OK;
fail:
  lbbt_model_objective_free(mo);
  return st;
}

void lbbt_model_objective_restore(lbbt_model_objective *mo) {
  if (mo && mo->theta0) set_params(mo, mo->theta0);
}

void lbbt_model_objective_free(lbbt_model_objective *mo) {
  if (!mo) return;
  lbbt_model_objective_restore(mo);
  if (mo->saved_requires_grad)
    for (int i = 0; i < mo->m->n_params; i++) {
      lbbt_tensor *t = mo->m->params[i].t;
      t->requires_grad = mo->saved_requires_grad[i];
      if (mo->grad_added && mo->grad_added[i] && t->owns_data) { /* leave memory as found */
        free(t->grad);
        t->grad = NULL;
      }
    }
  lbbt_tape_free(mo->tape);
  free(mo->images);
  free(mo->labels);
  free(mo->chosen);
  free(mo->segs);
  free(mo->saved_requires_grad);
  free(mo->grad_added);
  free(mo->theta0);
  free(mo);
}

lbbt_objective *lbbt_model_objective_base(lbbt_model_objective *mo) { return &mo->base; }
const double *lbbt_model_objective_theta0(const lbbt_model_objective *mo) { return mo->theta0; }
const lbbt_param_segment *lbbt_model_objective_segments(const lbbt_model_objective *mo,
                                                        int *n_segs) {
  *n_segs = mo->n_chosen;
  return mo->segs;
}
