/* Borrowed block stacks (see block_stack.h): the bookkeeping backbones share when they build
 * one, the forward pass (also the block loop of the vision wrapper), and the lookup through
 * the plugin registry that borrowers call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/block_stack.h"
#include "lbbt/optim.h"

lbbt_status lbbt_block_stack_create(const char *backbone, const char *source, int n_blocks,
                                    int n_backbone_blocks, const char *prefix, int layer_offset,
                                    lbbt_model *into, lbbt_block_stack **out) {
  *out = NULL;
  if (!prefix) prefix = "";
  if (n_blocks < 1 || n_blocks > n_backbone_blocks)
    return lbbt_fail(LBBT_E_INPUT,
                     "borrow blocks: %d blocks asked of backbone %s (%s), which has %d; ask for "
                     "1 to %d (the first N blocks are lent)",
                     n_blocks, backbone, source, n_backbone_blocks, n_backbone_blocks);
  if (layer_offset < 0)
    return lbbt_fail(LBBT_E_INPUT, "borrow blocks from %s: layer_offset %d is negative", backbone,
                     layer_offset);
  if (strlen(prefix) >= LBBT_NAME_MAX)
    return lbbt_fail(LBBT_E_INPUT, "borrow blocks from %s: prefix '%.40s...' is longer than %d "
                     "characters", backbone, prefix, LBBT_NAME_MAX - 1);
  lbbt_block_stack *s = calloc(1, sizeof *s);
  lbbt_block *blocks = calloc((size_t)n_blocks, sizeof *blocks);
  if (!s || !blocks) {
    free(s);
    free(blocks);
    return lbbt_fail(LBBT_E_NOMEM, "borrow blocks from %s: out of memory for %d blocks", backbone,
                     n_blocks);
  }
  snprintf(s->backbone, sizeof s->backbone, "%s", backbone);
  snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
  s->blocks = blocks;
  s->n_blocks = n_blocks;
  s->n_backbone_blocks = n_backbone_blocks;
  s->layer_offset = layer_offset;
  if (!into) {
    lbbt_status st = lbbt_model_create(&into, NULL, backbone);
    if (st != LBBT_OK) {
      lbbt_block_stack_free(s);
      return st;
    }
    s->owns_model = 1;
  }
  s->model = into;
  s->first_param = into->n_params;
  if (into->n_layers < layer_offset + n_blocks) into->n_layers = layer_offset + n_blocks;
  *out = s;
  return LBBT_OK;
}

/* Keep n_params and the no-decay flags current after each registration. */
static void took_params(lbbt_block_stack *s, int before) {
  lbbt_model *m = s->model;
  for (int k = before; k < m->n_params; k++)
    if (lbbt_no_decay_rule(m->params[k].name, m->params[k].t->ndim)) m->params[k].no_decay = 1;
  s->n_params = m->n_params - s->first_param;
}

static lbbt_status check_block_index(const lbbt_block_stack *s, int i) {
  if (i < 0 || i >= s->n_blocks)
    return lbbt_fail(LBBT_E_INTERNAL, "block stack of %s: block %d outside 0..%d", s->backbone, i,
                     s->n_blocks - 1);
  return LBBT_OK;
}

lbbt_status lbbt_block_stack_register(lbbt_block_stack *s, int i, const lbbt_block_config *cfg,
                                      const lbbt_block_names *names, const char *arch_prefix) {
  LBBT_TRY(check_block_index(s, i));
  if (!(cfg->norm_eps >= 0.0f) || isinf(cfg->norm_eps)) /* NaN fails the >= too */
    return lbbt_fail(LBBT_E_INPUT,
                     "backbone %s: norm epsilon %g is negative or not finite: every normalisation would "
                     "divide by the square root of a negative number",
                     s->backbone, (double)cfg->norm_eps);
  char prefix[2 * LBBT_NAME_MAX];
  snprintf(prefix, sizeof prefix, "%s%s", s->prefix, arch_prefix);
  int before = s->model->n_params;
  lbbt_status st = lbbt_block_register(s->model, &s->blocks[i], cfg, names, prefix,
                                       s->layer_offset + i);
  took_params(s, before);
  return st;
}

lbbt_status lbbt_block_stack_add_param(lbbt_block_stack *s, int i, const char *name, int no_decay,
                                       int ndim, const int64_t *shape, lbbt_tensor **t) {
  LBBT_TRY(check_block_index(s, i));
  char full[2 * LBBT_NAME_MAX + 128];
  snprintf(full, sizeof full, "%s%s", s->prefix, name);
  int before = s->model->n_params;
  lbbt_status st = lbbt_model_add_param(s->model, full, LBBT_PART_BLOCK, s->layer_offset + i,
                                        no_decay, ndim, shape, t);
  took_params(s, before);
  return st;
}

const char *lbbt_block_stack_source_name(const lbbt_block_stack *s, const lbbt_param *p) {
  size_t n = strlen(s->prefix);
  return strncmp(p->name, s->prefix, n) ? p->name : p->name + n;
}

void lbbt_block_stack_free(lbbt_block_stack *s) {
  if (!s) return;
  if (s->owns_model) lbbt_model_free(s->model);
  free(s->blocks);
  free(s);
}

/* timm: the drop-path rate grows linearly from 0 at the first block to `max` at the last. */
static float block_drop_path(int n_blocks, float max_rate, int i) {
  if (n_blocks <= 1) return max_rate;
  return max_rate * (float)i / (float)(n_blocks - 1);
}

lbbt_status lbbt_block_stack_forward(lbbt_tape *t, const lbbt_block_stack *s, lbbt_tensor *x,
                                     const lbbt_block_stack_opts *opts, lbbt_tensor **out) {
  static const lbbt_block_stack_opts defaults;
  if (!opts) opts = &defaults;
  if (x->ndim != 3 || x->shape[2] != s->dim) {
    char sh[64];
    return lbbt_fail(LBBT_E_SHAPE,
                     "block stack of %s: hidden states %s, expected [B, T, %d] (the backbone's "
                     "width)",
                     s->backbone, lbbt_shape_str(x, sh, sizeof sh), s->dim);
  }
  int causal = opts->attention == LBBT_ATTN_DEFAULT ? s->causal
                                                    : opts->attention == LBBT_ATTN_CAUSAL;
  int64_t T = x->shape[1];
  lbbt_tensor *bias = NULL;
  /* T5Stack: block 0 computes the bias [H, T, T]; every block adds the same one. */
  if (s->relbias_table)
    LBBT_TRY(lbbt_relative_position_bias(t, s->relbias_table, T, T, !causal, s->relbias_buckets,
                                         s->relbias_max_distance, &bias));
  int training = lbbt_tape_training(t);
  for (int i = 0; i < s->n_blocks; i++) {
    lbbt_block_inputs in = {0};
    in.causal = causal;
    in.attn_bias = bias;
    in.key_mask = opts->key_mask;
    in.positions = opts->positions;
    in.drop_path = training ? block_drop_path(s->n_blocks, opts->drop_path, i) : 0.0f;
    in.layer = s->layer_offset + i;
    in.hook = opts->hook;
    in.hook_user = opts->hook_user;
    LBBT_TRY(lbbt_block_forward(t, &s->blocks[i], x, &in, &x));
  }
  *out = x;
  return LBBT_OK;
}

/* "gpt2, llama, chronos_t5" (or "none") into buf. */
static void loaded_backbones(const lbbt_registry *r, char *buf, size_t n) {
  buf[0] = 0;
  size_t used = 0;
  for (int i = 0; i < lbbt_registry_count(r); i++) {
    const lbbt_plugin *p = lbbt_registry_at(r, i)->plugin;
    if (p->kind != LBBT_KIND_BACKBONE || used >= n) continue;
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", p->name);
  }
  if (!buf[0]) snprintf(buf, n, "none");
}

lbbt_status lbbt_borrow_blocks(const lbbt_registry *r, const lbbt_backbone_spec *spec,
                               int n_blocks, uint64_t seed, const char *prefix, int layer_offset,
                               lbbt_model *into, lbbt_block_stack **out) {
  *out = NULL;
  if (!r) r = lbbt_registry_global();
  if (!r)
    return lbbt_fail(LBBT_E_INTERNAL,
                     "borrow blocks from '%s': no plugin registry (pass one, or the program "
                     "sets lbbt_registry_set_global after loading plugins)",
                     spec->plugin);
  const lbbt_plugin_entry *e = lbbt_registry_find_entry(r, LBBT_KIND_BACKBONE, spec->plugin);
  if (!e) {
    char names[512];
    loaded_backbones(r, names, sizeof names);
    return lbbt_fail(LBBT_E_INPUT,
                     "borrow blocks: no backbone plugin named '%s' is loaded (loaded: %s)",
                     spec->plugin, names);
  }
  const lbbt_backbone_ops *ops = e->plugin->backbone;
  if (ops->version < 3 || !ops->create_blocks)
    return lbbt_fail(LBBT_E_INPUT,
                     "borrow blocks: backbone plugin '%s' (%s) does not lend blocks: its "
                     "backbone table is version %d%s; borrowing needs version 3 with "
                     "create_blocks (rebuild or extend the plugin, or borrow from another "
                     "backbone)",
                     spec->plugin, e->file, ops->version,
                     ops->version >= 3 ? " with create_blocks NULL" : "");
  if (n_blocks < 1)
    return lbbt_fail(LBBT_E_INPUT,
                     "borrow blocks: %d blocks asked of backbone %s; ask for at least 1",
                     n_blocks, spec->plugin);
  lbbt_block_stack *s = NULL;
  LBBT_TRY(ops->create_blocks(spec, n_blocks, seed, prefix, layer_offset, into, &s));
  /* A plugin is foreign code: check what the contract promises before handing it out. */
  if (!s || s->n_blocks != n_blocks || !s->blocks || s->dim < 1 || !s->model ||
      (into && s->model != into) || s->layer_offset != layer_offset) {
    lbbt_status st = lbbt_fail(
        LBBT_E_PLUGIN,
        "borrow blocks: backbone plugin '%s' (%s) returned a malformed block stack (%s%d blocks "
        "for %d asked, width %d, layer offset %d for %d)",
        spec->plugin, e->file, s ? "" : "none; ", s ? s->n_blocks : 0, n_blocks, s ? s->dim : 0,
        s ? s->layer_offset : 0, layer_offset);
    lbbt_block_stack_free(s);
    return st;
  }
  *out = s;
  return LBBT_OK;
}
