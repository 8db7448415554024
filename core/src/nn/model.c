/* Parameter bookkeeping of lbbt_model: registration, lookup, counting and choosing which
 * parameters train; see model.h. */
#include "lbbt/model.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lbbt_status lbbt_model_create(lbbt_model **out, const lbbt_model_ops *ops, const char *arch) {
  *out = NULL;
  if (!arch) arch = "";
  if (strlen(arch) >= LBBT_NAME_MAX)
    return lbbt_fail(LBBT_E_INPUT, "model_create: architecture name '%s' is longer than %d chars",
                     arch, LBBT_NAME_MAX - 1);
  lbbt_model *m = calloc(1, sizeof *m);
  if (!m) return lbbt_fail(LBBT_E_NOMEM, "model_create: out of memory");
  m->ops = ops; /* NULL allowed: a bare bag of parameters (tests, task-owned heads) */
  snprintf(m->arch, sizeof m->arch, "%s", arch);
  snprintf(m->source, sizeof m->source, "scratch");
  m->init = LBBT_INIT_SCRATCH;
  *out = m;
  return LBBT_OK;
}

/* Grow the parameter array; tensor names point into it, so re-point them after a move. */
static lbbt_status grow_params(lbbt_model *m) {
  int cap = m->cap_params ? 2 * m->cap_params : 16;
  lbbt_param *p = realloc(m->params, (size_t)cap * sizeof *p);
  if (!p) return lbbt_fail(LBBT_E_NOMEM, "model_add_param: out of memory for %d parameters", cap);
  m->params = p;
  m->cap_params = cap;
  for (int i = 0; i < m->n_params; i++) m->params[i].t->name = m->params[i].name;
  return LBBT_OK;
}

lbbt_status lbbt_model_add_param(lbbt_model *m, const char *name, lbbt_param_part part, int layer,
                                 int no_decay, int ndim, const int64_t *shape, lbbt_tensor **t) {
  if (t) *t = NULL;
  if (!name || !*name)
    return lbbt_fail(LBBT_E_INTERNAL, "model_add_param (%s): empty parameter name", m->arch);
  if (strlen(name) >= sizeof m->params[0].name)
    return lbbt_fail(LBBT_E_INTERNAL, "model_add_param (%s): name '%s' is longer than %zu chars",
                     m->arch, name, sizeof m->params[0].name - 1);
  if (lbbt_model_find_param(m, name))
    return lbbt_fail(LBBT_E_INTERNAL, "model_add_param (%s): parameter '%s' added twice", m->arch,
                     name);
  if (part == LBBT_PART_BLOCK && layer < 0)
    return lbbt_fail(LBBT_E_INTERNAL, "model_add_param (%s): '%s' has block index %d (< 0)",
                     m->arch, name, layer);
  if (m->n_params == m->cap_params) LBBT_TRY(grow_params(m));
  lbbt_tensor *tensor = NULL;
  lbbt_status st = lbbt_tensor_create(&tensor, ndim, shape);
  if (st != LBBT_OK) return lbbt_fail_context(st, "model_add_param '%s'", name);
  lbbt_param *p = &m->params[m->n_params++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->part = part;
  p->layer = part == LBBT_PART_BLOCK ? layer : 0;
  p->no_decay = no_decay != 0;
  p->trainable = 0;
  p->t = tensor;
  tensor->name = p->name;
  if (t) *t = tensor;
  return LBBT_OK;
}

lbbt_param *lbbt_model_find_param(lbbt_model *m, const char *name) {
  if (!m || !name) return NULL;
  for (int i = 0; i < m->n_params; i++)
    if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
  return NULL;
}

void lbbt_model_free(lbbt_model *m) {
  if (!m) return;
  if (m->ops && m->ops->destroy) m->ops->destroy(m);
  lbbt_tape_free(m->eval_tape);
  for (int i = 0; i < m->n_params; i++) lbbt_tensor_free(m->params[i].t);
  free(m->params);
  free(m);
}

int64_t lbbt_model_numel(const lbbt_model *m, int trainable_only) {
  int64_t n = 0;
  for (int i = 0; i < m->n_params; i++)
    if (!trainable_only || m->params[i].trainable) n += m->params[i].t->numel;
  return n;
}

/* Train or freeze one parameter.  Frozen parameters lose their grad buffer (memory matters
 * for a linear probe on a large backbone) and requires_grad, so the tape skips them. */
static lbbt_status set_param_trainable(lbbt_param *p, int trainable) {
  p->trainable = trainable != 0;
  if (p->trainable) {
    lbbt_status st = lbbt_tensor_require_grad(p->t);
    if (st != LBBT_OK) return lbbt_fail_context(st, "making '%s' trainable", p->name);
  } else {
    p->t->requires_grad = 0;
    if (p->t->owns_data) {
      free(p->t->grad);
      p->t->grad = NULL;
    }
  }
  return LBBT_OK;
}

/* The meaning of lbbt_layer_range for a model of n blocks, checked against n.  Kept local so
 * this file does not depend on spec.c; it agrees with lbbt_layer_range_contains. */
static lbbt_status check_layer_range(const lbbt_layer_range *r, int n, const char *arch) {
  switch (r->select) {
  case LBBT_LAYERS_ALL:
  case LBBT_LAYERS_NONE:
    return LBBT_OK;
  case LBBT_LAYERS_FIRST:
  case LBBT_LAYERS_LAST:
    if (r->k < 0 || r->k > n)
      return lbbt_fail(LBBT_E_INPUT,
                       "train_layers: %s:%d asks for %d blocks but the %s model has %d; use a "
                       "count in 0..%d",
                       r->select == LBBT_LAYERS_FIRST ? "first" : "last", r->k, r->k, arch, n, n);
    return LBBT_OK;
  case LBBT_LAYERS_RANGE:
    if (r->from < 0 || r->to < r->from || r->to >= n)
      return lbbt_fail(LBBT_E_INPUT,
                       "train_layers: range:%d-%d is not within the %s model's blocks 0..%d; use "
                       "range:A-B with 0 <= A <= B <= %d",
                       r->from, r->to, arch, n - 1, n - 1);
    return LBBT_OK;
  }
  return lbbt_fail(LBBT_E_INTERNAL, "train_layers: unknown selection %d", (int)r->select);
}

static int layer_selected(const lbbt_layer_range *r, int layer, int n) {
  switch (r->select) {
  case LBBT_LAYERS_ALL: return 1;
  case LBBT_LAYERS_NONE: return 0;
  case LBBT_LAYERS_FIRST: return layer < r->k;
  case LBBT_LAYERS_LAST: return layer >= n - r->k;
  case LBBT_LAYERS_RANGE: return layer >= r->from && layer <= r->to;
  }
  return 0;
}

lbbt_status lbbt_model_select_trainable(lbbt_model *m, const lbbt_layer_range *layers,
                                        int train_embed, int train_head) {
  static const lbbt_layer_range all = {LBBT_LAYERS_ALL, 0, 0, 0};
  if (!layers) layers = &all;
  for (int i = 0; i < m->n_params; i++) {
    const lbbt_param *p = &m->params[i];
    if (p->part == LBBT_PART_BLOCK && p->layer >= m->n_layers)
      return lbbt_fail(LBBT_E_INTERNAL,
                       "select_trainable: parameter '%s' is in block %d but the %s model says it "
                       "has %d blocks (n_layers)",
                       p->name, p->layer, m->arch, m->n_layers);
  }
  LBBT_TRY(check_layer_range(layers, m->n_layers, m->arch));
  for (int i = 0; i < m->n_params; i++) {
    lbbt_param *p = &m->params[i];
    int on = p->part == LBBT_PART_EMBED  ? train_embed
             : p->part == LBBT_PART_HEAD ? train_head
                                         : layer_selected(layers, p->layer, m->n_layers);
    LBBT_TRY(set_param_trainable(p, on));
  }
  return LBBT_OK;
}

/* Returns the number of parameters matched, or -1 (message set) when a grad could not be
 * allocated. */
int lbbt_model_set_trainable_pattern(lbbt_model *m, const char *glob, int trainable) {
  if (!glob) {
    lbbt_fail(LBBT_E_INTERNAL, "set_trainable_pattern (%s): NULL pattern", m->arch);
    return -1;
  }
  int matched = 0;
  for (int i = 0; i < m->n_params; i++) {
    lbbt_param *p = &m->params[i];
    /* flags 0: '*' also matches '.', so "h.*.ln_*" spans the block index. */
    if (fnmatch(glob, p->name, 0) != 0) continue;
    if (set_param_trainable(p, trainable) != LBBT_OK) return -1;
    matched++;
  }
  return matched;
}
