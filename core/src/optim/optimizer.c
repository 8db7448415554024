/* lbbt_optim: configuration, the parameter list, step dispatch and state enumeration.
 * The update rules live in adamw.c and sgd.c; see optim.h for their exact formulas. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/spec.h" /* lbbt_stage_spec */
#include "base/huge_pages.h"
#include "optim/optim_internal.h"

void lbbt_optim_config_default(lbbt_optim_config *c, lbbt_optimizer_kind kind) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->lr = 1e-3;
  c->beta1 = 0.9;
  c->beta2 = 0.999;
  c->eps = 1e-8;
  /* torch.optim.AdamW defaults weight_decay to 1e-2; torch.optim.SGD to 0. */
  c->weight_decay = kind == LBBT_OPT_ADAMW ? 1e-2 : 0.0;
}

void lbbt_optim_config_from_stage(lbbt_optim_config *c, const lbbt_stage_spec *stage) {
  lbbt_optim_config_default(c, stage->optimizer);
  c->lr = stage->lr;
  c->weight_decay = stage->weight_decay;
  if (stage->optimizer == LBBT_OPT_SGD) c->momentum = stage->momentum;
}

lbbt_status lbbt_optim_config_check(const lbbt_optim_config *c) {
  if (c->kind != LBBT_OPT_ADAMW && c->kind != LBBT_OPT_SGD)
    return lbbt_fail(LBBT_E_INPUT, "optimizer: unknown kind %d (adamw or sgd)", (int)c->kind);
  if (!isfinite(c->lr) || c->lr < 0)
    return lbbt_fail(LBBT_E_INPUT, "optimizer: lr %g must be finite and >= 0", c->lr);
  if (!isfinite(c->weight_decay) || c->weight_decay < 0)
    return lbbt_fail(LBBT_E_INPUT, "optimizer: weight_decay %g must be finite and >= 0",
                     c->weight_decay);
  if (c->kind == LBBT_OPT_ADAMW) {
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
      return lbbt_fail(LBBT_E_INPUT, "adamw: betas (%g, %g) must lie in [0, 1)", c->beta1,
                       c->beta2);
    if (!(c->eps >= 0) || !isfinite(c->eps))
      return lbbt_fail(LBBT_E_INPUT, "adamw: eps %g must be finite and >= 0", c->eps);
  } else {
    if (!isfinite(c->momentum) || c->momentum < 0)
      return lbbt_fail(LBBT_E_INPUT, "sgd: momentum %g must be finite and >= 0", c->momentum);
    if (!isfinite(c->dampening))
      return lbbt_fail(LBBT_E_INPUT, "sgd: dampening %g must be finite", c->dampening);
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
      return lbbt_fail(LBBT_E_INPUT,
                       "sgd: nesterov needs momentum > 0 and dampening 0 (got momentum %g, "
                       "dampening %g), as in PyTorch",
                       c->momentum, c->dampening);
  }
  return LBBT_OK;
}

lbbt_status lbbt_optim_create(lbbt_optim **out, const lbbt_optim_config *cfg) {
  *out = NULL;
  LBBT_TRY(lbbt_optim_config_check(cfg));
  lbbt_optim *o = calloc(1, sizeof *o);
  if (!o) return lbbt_fail(LBBT_E_NOMEM, "optim_create: out of memory");
  o->cfg = *cfg;
  o->lr = cfg->lr;
  *out = o;
  return LBBT_OK;
}

lbbt_status lbbt_optim_create_for_model(lbbt_optim **out, const lbbt_optim_config *cfg,
                                        const lbbt_model *m) {
  LBBT_TRY(lbbt_optim_create(out, cfg));
  lbbt_status st = lbbt_optim_add_model(*out, m);
  if (st != LBBT_OK) {
    lbbt_optim_free(*out);
    *out = NULL;
  }
  return st;
}

static void free_param_state(optim_param *p) {
  free(p->exp_avg);
  free(p->exp_avg_sq);
  free(p->momentum_buf);
}

void lbbt_optim_free(lbbt_optim *o) {
  if (!o) return;
  for (int i = 0; i < o->n_params; i++) free_param_state(&o->params[i]);
  free(o->params);
  free(o);
}

lbbt_status lbbt_optim_add_model(lbbt_optim *o, const lbbt_model *m) {
  for (int i = 0; i < m->n_params; i++) {
    const lbbt_param *p = &m->params[i];
    if (!p->trainable) continue;
    LBBT_TRY(lbbt_optim_add_param(o, p->name, p->t, p->no_decay));
  }
  return LBBT_OK;
}

/* Moments on huge pages like the parameters (huge_pages.h); released with free(). */
static float *alloc_state(int64_t numel) {
  size_t bytes = (size_t)numel * sizeof(float);
  float *p = lbbt_alloc_large(&bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

lbbt_status lbbt_optim_add_param(lbbt_optim *o, const char *name, lbbt_tensor *t, int no_decay) {
  if (!name || !*name || strlen(name) >= sizeof o->params[0].name)
    return lbbt_fail(LBBT_E_INTERNAL, "optim_add_param: name '%s' is empty or longer than %zu",
                     name ? name : "(null)", sizeof o->params[0].name - 1);
  for (int i = 0; i < o->n_params; i++) {
    if (o->params[i].t == t)
      return lbbt_fail(LBBT_E_INTERNAL,
                       "optim_add_param: tensor '%s' is already in the optimizer as '%s'", name,
                       o->params[i].name);
    if (strcmp(o->params[i].name, name) == 0)
      return lbbt_fail(LBBT_E_INTERNAL, "optim_add_param: two parameters named '%s'", name);
  }
  if (o->n_params == o->cap_params) {
    int cap = o->cap_params ? 2 * o->cap_params : 16;
    optim_param *np = realloc(o->params, (size_t)cap * sizeof *np);
    if (!np) return lbbt_fail(LBBT_E_NOMEM, "optim_add_param: out of memory");
    o->params = np;
    o->cap_params = cap;
  }
  optim_param p;
  memset(&p, 0, sizeof p);
  snprintf(p.name, sizeof p.name, "%s", name);
  p.t = t;
  p.no_decay = no_decay != 0;
  /* State is allocated now (not at the first step) so a checkpoint can be loaded into it. */
  int ok = 1;
  if (o->cfg.kind == LBBT_OPT_ADAMW) {
    p.exp_avg = alloc_state(t->numel);
    p.exp_avg_sq = alloc_state(t->numel);
    ok = p.exp_avg && p.exp_avg_sq;
  } else if (o->cfg.momentum != 0) {
    p.momentum_buf = alloc_state(t->numel);
    ok = p.momentum_buf != NULL;
  }
  if (!ok) {
    free_param_state(&p);
    return lbbt_fail(LBBT_E_NOMEM, "optim_add_param: out of memory for the state of '%s' (%lld "
                     "values)", name, (long long)t->numel);
  }
  o->params[o->n_params++] = p;
  return LBBT_OK;
}

int lbbt_optim_param_count(const lbbt_optim *o) { return o->n_params; }
void lbbt_optim_set_lr(lbbt_optim *o, double lr) { o->lr = lr; }
double lbbt_optim_lr(const lbbt_optim *o) { return o->lr; }

lbbt_status lbbt_optim_step(lbbt_optim *o) {
  if (!isfinite(o->lr) || o->lr < 0)
    return lbbt_fail(LBBT_E_INPUT, "optim_step: learning rate %g must be finite and >= 0 "
                     "(check the schedule)", o->lr);
  for (int i = 0; i < o->n_params; i++) {
    optim_param *p = &o->params[i];
    if (!optim_param_active(p)) continue;
    if (o->cfg.kind == LBBT_OPT_ADAMW)
      lbbt_optim_adamw_update(&o->cfg, o->lr, p);
    else
      lbbt_optim_sgd_update(&o->cfg, o->lr, p);
  }
  return LBBT_OK;
}

void lbbt_optim_zero_grad(lbbt_optim *o) {
  for (int i = 0; i < o->n_params; i++) lbbt_tensor_zero_grad(o->params[i].t);
}

/* ---- state enumeration ---------------------------------------------------------------- */
static int states_per_param(const lbbt_optim *o) {
  if (o->cfg.kind == LBBT_OPT_ADAMW) return 3;
  return o->cfg.momentum != 0 ? 2 : 1;
}

int lbbt_optim_state_count(const lbbt_optim *o) { return o->n_params * states_per_param(o); }

lbbt_status lbbt_optim_state_at(lbbt_optim *o, int i, lbbt_optim_state *out) {
  int per = states_per_param(o);
  if (i < 0 || i >= o->n_params * per)
    return lbbt_fail(LBBT_E_INTERNAL, "optim_state_at: index %d outside 0..%d", i,
                     o->n_params * per - 1);
  optim_param *p = &o->params[i / per];
  int which = i % per;
  const char *kind;
  memset(out, 0, sizeof *out);
  if (which == 0) {
    kind = "step";
    out->dtype = LBBT_STATE_I64;
    out->numel = 1;
    out->data = &p->step;
  } else {
    out->dtype = LBBT_STATE_F32;
    out->numel = p->t->numel;
    if (o->cfg.kind == LBBT_OPT_ADAMW) {
      kind = which == 1 ? "exp_avg" : "exp_avg_sq";
      out->data = which == 1 ? p->exp_avg : p->exp_avg_sq;
    } else {
      kind = "momentum_buffer";
      out->data = p->momentum_buf;
    }
  }
  snprintf(out->name, sizeof out->name, "%s.%s", kind, p->name);
  return LBBT_OK;
}

lbbt_status lbbt_optim_state_load(lbbt_optim *o, const char *name, lbbt_state_dtype dtype,
                                  const void *data, int64_t numel) {
  int n = lbbt_optim_state_count(o);
  for (int i = 0; i < n; i++) {
    lbbt_optim_state s;
    LBBT_TRY(lbbt_optim_state_at(o, i, &s));
    if (strcmp(s.name, name) != 0) continue;
    if (s.dtype != dtype || s.numel != numel)
      return lbbt_fail(LBBT_E_INPUT,
                       "optimizer state '%s': checkpoint has %lld %s values, the optimizer "
                       "expects %lld %s; was the checkpoint written for another model or "
                       "optimizer?",
                       name, (long long)numel, dtype == LBBT_STATE_F32 ? "f32" : "int64",
                       (long long)s.numel, s.dtype == LBBT_STATE_F32 ? "f32" : "int64");
    if (dtype == LBBT_STATE_I64 && *(const int64_t *)data < 0)
      return lbbt_fail(LBBT_E_INPUT, "optimizer state '%s': negative step count %lld", name,
                       (long long)*(const int64_t *)data);
    memcpy(s.data, data, (size_t)numel * (dtype == LBBT_STATE_F32 ? sizeof(float)
                                                                   : sizeof(int64_t)));
    return LBBT_OK;
  }
  return lbbt_fail(LBBT_E_INPUT,
                   "optimizer state '%s' matches no parameter of this %s optimizer (%d "
                   "parameters); was the checkpoint written with other trainable layers?",
                   name, o->cfg.kind == LBBT_OPT_ADAMW ? "adamw" : "sgd", o->n_params);
}
