/* The backbone kit (backbone_kit.h): vision models, borrowed block stacks and language models
 * assembled once from a plugin's architecture hooks and layout. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/backbone_kit.h"
#include "lbbt/optim.h"

/* A kit-built model's impl. */
typedef struct kit_model {
  lbbt_backbone_arch hooks;   /* the plugin's table in this core's layout */
  void *arch;                 /* the plugin's arch struct (kit->arch_size bytes), owned */
  lbbt_backbone_layout layout;
  lbbt_vision v;              /* vision mode; v.blocks points into stack */
  lbbt_block_stack *stack;    /* the blocks, in every mode (parameters owned by the model) */
  lbbt_tensor *embed, *positions, *norm_w, *norm_b, *lm_head;
} kit_model;

/* A spec opened: the architecture, its weight source and the options' choices. */
typedef struct opened_spec {
  void *arch;                 /* owned (models take a copy) */
  lbbt_backbone_layout layout;
  lbbt_backbone_source src;
  lbbt_backbone_choices choices;
  char source[LBBT_PATH_MAX + 32]; /* "checkpoint PATH" or "scratch arch P": for messages */
} opened_spec;

static const lbbt_model_ops KIT_MODEL_OPS;

/* The first layout of lbbt_backbone_arch ends with save_values. */
#define KIT_MIN_SIZE (offsetof(lbbt_backbone_arch, save_values) + sizeof(void *))

/* The plugin's table copied into this core's layout (hooks past its struct_size NULL), and
 * checked: hooks are foreign code. */
static lbbt_status read_hooks(const lbbt_backbone_arch *in, lbbt_backbone_arch *out) {
  memset(out, 0, sizeof *out);
  if (!in || in->struct_size < KIT_MIN_SIZE)
    return lbbt_fail(LBBT_E_PLUGIN, "backbone kit: the plugin's lbbt_backbone_arch has struct_size "
                     "%zu, below the first layout's %zu (set it with LBBT_BACKBONE_ARCH_HOOKS)",
                     in ? in->struct_size : 0, (size_t)KIT_MIN_SIZE);
  memcpy(out, in, in->struct_size < sizeof *out ? in->struct_size : sizeof *out);
  const char *missing = !out->name ? "name" : !out->from_preset ? "from_preset"
                        : !out->check ? "check" : !out->layout ? "layout"
                        : !out->scratch_init ? "scratch_init" : !out->config_json ? "config_json"
                        : !out->describe ? "describe" : !out->default_preset ? "default_preset"
                        : NULL;
  if (missing)
    return lbbt_fail(LBBT_E_PLUGIN, "backbone kit: %s: the required %s is NULL",
                     out->name ? out->name : "a plugin", missing);
  return LBBT_OK;
}

/* The plugin's layout of arch, checked where a mistake would crash the kit. */
static lbbt_status get_layout(const lbbt_backbone_arch *kit, const void *arch,
                              lbbt_backbone_layout *l) {
  memset(l, 0, sizeof *l);
  kit->layout(arch, l);
  const char *p = l->block_prefix ? strchr(l->block_prefix, '%') : NULL;
  const char *bad = l->dim < 1 || l->n_layers < 1 ? "dim and n_layers must be >= 1"
                    : !p || p[1] != 'd' || strchr(p + 2, '%') ? "block_prefix needs exactly one %d"
                    : !l->final_norm_w ? "final_norm_w is NULL"
                    : l->lm_head == LBBT_LM_HEAD_OWN && !l->lm_head_name ? "lm_head_name is NULL"
                    : NULL;
  if (bad) return lbbt_fail(LBBT_E_PLUGIN, "backbone kit: %s: layout: %s", kit->name, bad);
  return LBBT_OK;
}

static void opened_close(opened_spec *o) {
  lbbt_backbone_source_close(&o->src);
  free(o->arch);
  o->arch = NULL;
}

static lbbt_status new_arch(const lbbt_backbone_arch *kit, void **out) {
  *out = calloc(1, kit->arch_size ? kit->arch_size : 1);
  if (!*out) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", kit->name);
  return LBBT_OK;
}

static lbbt_status apply_options(const lbbt_backbone_arch *kit, const lbbt_backbone_spec *spec,
                                 void *arch, lbbt_backbone_choices *choices) {
  memset(choices, 0, sizeof *choices);
  if (kit->apply_options) return kit->apply_options(spec, arch, choices);
  if (spec->n_options > 0)
    return lbbt_fail(LBBT_E_INPUT, "line %d:%d: backbone %s takes no options (got '%s')",
                     spec->options[0].line, spec->options[0].col, kit->name, spec->options[0].key);
  return LBBT_OK;
}

static lbbt_status open_checkpoint(const lbbt_backbone_arch *kit, const char *path,
                                   lbbt_backbone_source *src, void *arch) {
  memset(src, 0, sizeof *src);
  if (!kit->open_checkpoint)
    return lbbt_fail(LBBT_E_INPUT, "%s: this backbone reads no checkpoints (%s); build it from "
                     "backbone.arch", kit->name, path);
  return kit->open_checkpoint(path, src, arch);
}

/* The architecture, options and weight source a backbone spec describes (shared by
 * create_vision and create_blocks, so both read the same weights the same way).  On success
 * the caller closes o (opened_close). */
static lbbt_status open_spec(const lbbt_backbone_arch *kit, const lbbt_backbone_spec *spec,
                             opened_spec *o) {
  memset(o, 0, sizeof *o);
  LBBT_TRY(new_arch(kit, &o->arch));
  lbbt_status st;
  if (spec->checkpoint[0]) {
    st = open_checkpoint(kit, spec->checkpoint, &o->src, o->arch);
    if (st == LBBT_OK) st = apply_options(kit, spec, o->arch, &o->choices);
    if (st == LBBT_OK && o->choices.sizes_given)
      st = lbbt_fail(LBBT_E_INPUT,
                     "%s: size options (%s) are for scratch models; with backbone.checkpoint %s "
                     "the sizes come from its config.json",
                     kit->name, kit->size_options ? kit->size_options : "any", spec->checkpoint);
    snprintf(o->source, sizeof o->source, "checkpoint %s", spec->checkpoint);
  } else if (lbbt_init_mode_needs_checkpoint(spec->init)) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: init '%s' needs backbone.checkpoint", kit->name,
                   lbbt_init_mode_name(spec->init));
  } else {
    const char *preset = spec->arch[0] ? spec->arch : kit->default_preset;
    st = kit->from_preset(preset, o->arch);
    if (st == LBBT_OK) st = apply_options(kit, spec, o->arch, &o->choices);
    char where[LBBT_NAME_MAX + 32];
    snprintf(where, sizeof where, "%s backbone options", kit->name);
    if (st == LBBT_OK) st = kit->check(o->arch, where);
    snprintf(o->source, sizeof o->source, "scratch arch %s%s", preset,
             o->choices.sizes_given ? ", sized by options" : "");
  }
  if (st != LBBT_OK) {
    opened_close(o);
    return st;
  }
  st = get_layout(kit, o->arch, &o->layout);
  if (st != LBBT_OK) {
    opened_close(o);
    return st;
  }
  if (o->choices.positions == LBBT_VISION_POS_DEFAULT)
    o->choices.positions = o->layout.vision_positions;
  return LBBT_OK;
}

/* Attention when the spec asks for the architecture's default, or overrides it. */
static int spec_causal(const lbbt_backbone_layout *l, const lbbt_backbone_spec *spec) {
  if (spec->attention == LBBT_ATTN_DEFAULT) return l->causal;
  return spec->attention == LBBT_ATTN_CAUSAL;
}

void lbbt_backbone_layout_sizes(lbbt_backbone_layout *l, int dim, int n_layers, int vocab_size,
                                int n_heads, int n_kv_heads, int head_dim, int hidden_dim) {
  memset(l, 0, sizeof *l);
  l->dim = l->block.dim = dim;
  l->n_layers = n_layers;
  l->vocab_size = vocab_size;
  l->block.n_heads = n_heads;
  l->block.n_kv_heads = n_kv_heads;
  l->block.head_dim = head_dim;
  l->block.hidden_dim = hidden_dim;
}

/* ---- parameters ---------------------------------------------------------------------------- */
/* The first n blocks as a block stack whose parameters go into `into` (NULL: a model of the
 * stack's own) under prefix + the layout's block names, layer offset + i.  The one place
 * blocks are registered: vision, language and borrowed blocks all come from here. */
static lbbt_status add_blocks(const lbbt_backbone_arch *kit, const lbbt_backbone_layout *l,
                              lbbt_model *into, int n, const char *prefix, int layer_offset,
                              const char *source, int causal, lbbt_block_stack **out) {
  lbbt_block_stack *s = NULL;
  LBBT_TRY(lbbt_block_stack_create(kit->name, source, n, l->n_layers, prefix, layer_offset, into, &s));
  lbbt_status st = LBBT_OK;
  for (int i = 0; i < n && st == LBBT_OK; i++) {
    char arch_prefix[LBBT_NAME_MAX];
    snprintf(arch_prefix, sizeof arch_prefix, l->block_prefix, i);
    st = lbbt_block_stack_register(s, i, &l->block, &l->names, arch_prefix);
    if (st == LBBT_OK && i == 0 && l->relbias_name) {
      /* a position table, excluded from weight decay like vision.pos_embed */
      int64_t rs[2] = {l->relbias_buckets, l->block.n_heads};
      st = lbbt_block_stack_add_param(s, 0, l->relbias_name, 1, 2, rs, &s->relbias_table);
    }
  }
  if (st != LBBT_OK) {
    lbbt_block_stack_free(s);
    return st;
  }
  s->relbias_buckets = l->relbias_buckets;
  s->relbias_max_distance = l->relbias_max_distance;
  s->dim = l->dim;
  s->causal = causal;
  *out = s;
  return LBBT_OK;
}

/* Parameters m->params[from, to): read from the source and apply the init mode, or the
 * scratch initialisation.  Each is read and seeded by its name without `prefix` (a
 * borrower's), so borrowed blocks get the values create_vision gives. */
static lbbt_status fill_params(const lbbt_backbone_arch *kit, lbbt_model *m, int from, int to,
                               const char *prefix, void *arch, const lbbt_backbone_source *src,
                               lbbt_init_mode mode, uint64_t seed) {
  size_t skip = prefix ? strlen(prefix) : 0;
  for (int i = from; i < to; i++) {
    lbbt_param *p = &m->params[i];
    const char *name = p->name + skip;
    if (mode != LBBT_INIT_SCRATCH) {
      const char *stored = kit->checkpoint_name ? kit->checkpoint_name(src, name) : name;
      LBBT_TRY(lbbt_backbone_source_read(src, stored, p->t));
      LBBT_TRY(lbbt_apply_init_mode(p->t, name, mode, seed, kit->scratch_init, arch));
    } else {
      LBBT_TRY(kit->scratch_init(p->t, name, seed, arch));
    }
  }
  return LBBT_OK;
}

/* The first n blocks of an opened spec, registered and initialised per spec->init from seed:
 * what create_vision builds its blocks with and what create_blocks lends. */
static lbbt_status blocks_for_spec(const lbbt_backbone_arch *kit, const lbbt_backbone_spec *spec,
                                   opened_spec *o, int n, uint64_t seed, const char *prefix,
                                   int layer_offset, lbbt_model *into, lbbt_block_stack **out) {
  lbbt_block_stack *s = NULL;
  LBBT_TRY(add_blocks(kit, &o->layout, into, n, prefix, layer_offset, o->source,
                      spec_causal(&o->layout, spec), &s));
  lbbt_status st = fill_params(kit, s->model, s->first_param, s->first_param + s->n_params,
                               s->prefix, o->arch, &o->src, spec->init, seed);
  if (st != LBBT_OK) {
    lbbt_block_stack_free(s);
    return st;
  }
  *out = s;
  return LBBT_OK;
}

static lbbt_status add_final_norm(kit_model *im, lbbt_model *m) {
  const lbbt_backbone_layout *l = &im->layout;
  int64_t ns[1] = {l->dim};
  LBBT_TRY(lbbt_model_add_param(m, l->final_norm_w, LBBT_PART_HEAD, 0, 1, 1, ns, &im->norm_w));
  if (l->final_norm_b)
    LBBT_TRY(lbbt_model_add_param(m, l->final_norm_b, LBBT_PART_HEAD, 0, 1, 1, ns, &im->norm_b));
  return LBBT_OK;
}

static lbbt_status add_positions(kit_model *im, lbbt_model *m) {
  const lbbt_backbone_layout *l = &im->layout;
  int64_t ps[2] = {l->n_positions, l->dim};
  return lbbt_model_add_param(m, l->positions_name, LBBT_PART_EMBED, 0, 1, 2, ps, &im->positions);
}

/* A model with an empty kit impl holding a copy of o's architecture. */
static lbbt_status new_model(const lbbt_backbone_arch *kit, const opened_spec *o,
                             lbbt_model **out, kit_model **im_out) {
  LBBT_TRY(lbbt_model_create(out, &KIT_MODEL_OPS, kit->name));
  kit_model *im = calloc(1, sizeof *im);
  if (!im) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", kit->name);
  (*out)->impl = im;
  im->hooks = *kit;
  LBBT_TRY(new_arch(kit, &im->arch));
  memcpy(im->arch, o->arch, kit->arch_size);
  im->layout = o->layout;
  *im_out = im;
  return LBBT_OK;
}

static void set_model_sizes(lbbt_model *m, const lbbt_backbone_layout *l) {
  m->n_layers = l->n_layers;
  m->dim = l->dim;
  m->vocab_size = l->vocab_size;
}

/* ---- model ops ----------------------------------------------------------------------------- */
static lbbt_status final_norm(lbbt_tape *t, const kit_model *im, lbbt_tensor *x, lbbt_tensor **out) {
  const lbbt_block_config *c = &im->layout.block;
  if (c->norm == LBBT_NORM_LAYERNORM) return lbbt_layernorm(t, x, im->norm_w, im->norm_b, c->norm_eps, out);
  return lbbt_rmsnorm(t, x, im->norm_w, c->norm_eps, out);
}

static lbbt_status vision_forward(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                  lbbt_tensor **features, lbbt_tensor **logits) {
  kit_model *im = m->impl;
  if (!im->v.head_w)
    return lbbt_fail(LBBT_E_INPUT, "%s: this model was built for language; no vision head", m->arch);
  if (!im->positions) return lbbt_vision_forward(m, &im->v, t, images, features, logits);
  /* positions: pretrained - rows 0..n_tokens-1 of the table, through a slice so that
   * gradients reach it.  v.pos points at the slice only for this call. */
  lbbt_tensor *pos;
  LBBT_TRY(lbbt_slice(t, im->positions, 0, 0, im->v.n_tokens, &pos));
  im->v.pos = pos;
  lbbt_status st = lbbt_vision_forward(m, &im->v, t, images, features, logits);
  im->v.pos = NULL;
  return st;
}

static lbbt_status vision_forward_tokens(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images, const int32_t *visible,
                                         int64_t K, lbbt_tensor **tokens) {
  kit_model *im = m->impl;
  if (!im->v.head_w)
    return lbbt_fail(LBBT_E_INPUT, "%s: this model was built for language; no vision encoder", m->arch);
  if (!im->positions) return lbbt_vision_forward_tokens(m, &im->v, t, images, visible, K, tokens);
  lbbt_tensor *pos; /* as vision_forward */
  LBBT_TRY(lbbt_slice(t, im->positions, 0, 0, im->v.n_tokens, &pos));
  im->v.pos = pos;
  lbbt_status st = lbbt_vision_forward_tokens(m, &im->v, t, images, visible, K, tokens);
  im->v.pos = NULL;
  return st;
}

static lbbt_status language_forward(lbbt_model *m, lbbt_tape *t, const int32_t *ids, int64_t B,
                                    int64_t T, lbbt_tensor **hidden, lbbt_tensor **logits) {
  kit_model *im = m->impl;
  const lbbt_backbone_layout *l = &im->layout;
  if (logits) *logits = NULL;
  if (!im->embed)
    return lbbt_fail(LBBT_E_INPUT, "%s: this model was built for vision; no token embedding", m->arch);
  if (im->positions && (T < 1 || T > l->n_positions))
    return lbbt_fail(LBBT_E_INPUT, "%s: %lld tokens per sequence, the model has %d positions",
                     m->arch, (long long)T, l->n_positions);
  lbbt_tensor *x, *pos;
  LBBT_TRY(lbbt_embedding(t, im->embed, ids, B, T, &x));
  if (im->positions) {
    LBBT_TRY(lbbt_slice(t, im->positions, 0, 0, T, &pos));
    LBBT_TRY(lbbt_add(t, x, pos, &x));
  }
  lbbt_block_stack_opts so = {0};
  so.attention = l->causal ? LBBT_ATTN_CAUSAL : LBBT_ATTN_BIDIRECTIONAL;
  so.hook = m->hook;
  so.hook_user = m->hook_user;
  LBBT_TRY(lbbt_block_stack_forward(t, im->stack, x, &so, &x));
  LBBT_TRY(final_norm(t, im, x, &x));
  if (hidden) *hidden = x;
  if (logits && l->lm_head != LBBT_LM_HEAD_NONE)
    LBBT_TRY(lbbt_linear(t, x, im->lm_head ? im->lm_head : im->embed, NULL, logits));
  return LBBT_OK;
}

/* model.safetensors with every parameter under its name (the values the save_values hook
 * gives, where it gives any). */
static lbbt_status save_tensors(const kit_model *im, lbbt_model *m, const char *path) {
  lbbt_st_writer *w = NULL;
  LBBT_TRY(lbbt_st_writer_create(&w));
  lbbt_status st = LBBT_OK;
  float **converted = calloc((size_t)m->n_params + 1, sizeof *converted);
  if (!converted) st = lbbt_fail(LBBT_E_NOMEM, "%s save: out of memory", m->arch);
  for (int i = 0; i < m->n_params && st == LBBT_OK; i++) {
    const lbbt_param *p = &m->params[i];
    const float *data = p->t->data;
    if (im->hooks.save_values) {
      converted[i] = malloc((size_t)p->t->numel * sizeof(float));
      if (!converted[i]) {
        st = lbbt_fail(LBBT_E_NOMEM, "%s save: out of memory for '%s'", m->arch, p->name);
        break;
      }
      if (im->hooks.save_values(im->arch, p, converted[i])) data = converted[i];
    }
    st = lbbt_st_writer_add_f32(w, p->name, p->t->ndim, p->t->shape, data);
  }
  if (st == LBBT_OK) st = lbbt_st_writer_set_metadata(w, "format", "pt");
  if (st == LBBT_OK) st = lbbt_st_writer_write(w, path);
  for (int i = 0; converted && i < m->n_params; i++) free(converted[i]);
  free(converted);
  lbbt_st_writer_free(w);
  return st;
}

/* Hugging Face layout: model.safetensors and config.json.  A vision model's new tensors keep
 * their "vision." names; transformers ignores them and the kit reads them back by name. */
static lbbt_status save(lbbt_model *m, const char *dir) {
  kit_model *im = m->impl;
  struct stat sb;
  if (mkdir(dir, 0755) != 0 && !(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)))
    return lbbt_fail(LBBT_E_IO, "%s save: cannot create folder %s", m->arch, dir);
  char path[LBBT_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  LBBT_TRY(save_tensors(im, m, path));
  json_t *cfg = im->hooks.config_json(im->arch);
  if (!cfg) return lbbt_fail(LBBT_E_NOMEM, "%s save: out of memory for config.json", m->arch);
  snprintf(path, sizeof path, "%s/config.json", dir);
  lbbt_status st = lbbt_json_write_file(path, cfg);
  json_decref(cfg);
  return st;
}

static void destroy(lbbt_model *m) {
  kit_model *im = m->impl;
  if (!im) return;
  im->v.blocks = NULL; /* the stack's array */
  lbbt_vision_destroy(&im->v);
  lbbt_block_stack_free(im->stack);
  free(im->arch);
  free(im);
  m->impl = NULL;
}

static const lbbt_model_ops KIT_MODEL_OPS = {
    .version = LBBT_MODEL_OPS_VERSION,
    .forward_vision = vision_forward,
    .forward_language = language_forward,
    .save = save,
    .destroy = destroy,
    .forward_vision_tokens = vision_forward_tokens,
};

/* ---- backbone ops -------------------------------------------------------------------------- */
lbbt_status lbbt_backbone_kit_probe(const lbbt_backbone_arch *plugin_kit, const char *path,
                                    int *score) {
  *score = 0;
  lbbt_backbone_arch hooks;
  LBBT_TRY(read_hooks(plugin_kit, &hooks));
  const lbbt_backbone_arch *kit = &hooks;
  if (!kit->open_checkpoint) return LBBT_OK;
  void *arch = NULL;
  LBBT_TRY(new_arch(kit, &arch));
  lbbt_backbone_source src;
  if (open_checkpoint(kit, path, &src, arch) == LBBT_OK)
    *score = kit->probe_score ? kit->probe_score(&src) : 10;
  lbbt_backbone_source_close(&src); /* also what a failing hook left open */
  free(arch);
  lbbt_clear_error();
  return LBBT_OK;
}

lbbt_status lbbt_backbone_kit_create_vision(const lbbt_backbone_arch *plugin_kit,
                                            const lbbt_backbone_spec *spec, int in_channels,
                                            int image_size, int num_classes, uint64_t seed,
                                            lbbt_model **out) {
  *out = NULL;
  lbbt_backbone_arch hooks;
  LBBT_TRY(read_hooks(plugin_kit, &hooks));
  const lbbt_backbone_arch *kit = &hooks;
  opened_spec o;
  LBBT_TRY(open_spec(kit, spec, &o));
  lbbt_model *m = NULL;
  kit_model *im = NULL;
  lbbt_status st;
  LBBT_TRY_GOTO(st, new_model(kit, &o, &m, &im), fail);
  const lbbt_backbone_layout *l = &im->layout;
  m->init = spec->init;
  snprintf(m->source, sizeof m->source, "%s", spec->checkpoint[0] ? spec->checkpoint : "scratch");
  lbbt_vision_config *vc = &im->v.cfg;
  vc->in_channels = in_channels;
  vc->image_size = image_size;
  vc->patch_size = spec->patch_size;
  vc->num_classes = num_classes;
  vc->pool = spec->pool;
  vc->causal = spec_causal(l, spec);
  vc->learned_positions = o.choices.positions == LBBT_VISION_POS_NEW;
  LBBT_TRY_GOTO(st, blocks_for_spec(kit, spec, &o, l->n_layers, seed, "", 0, m, &im->stack), fail);
  set_model_sizes(m, l);
  im->v.blocks = im->stack->blocks;
  im->v.n_blocks = l->n_layers;
  im->v.relbias_table = im->stack->relbias_table;
  im->v.relbias_buckets = l->relbias_buckets;
  im->v.relbias_max_distance = l->relbias_max_distance;
  LBBT_TRY_GOTO(st, add_final_norm(im, m), fail);
  im->v.final_norm_w = im->norm_w;
  im->v.final_norm_b = im->norm_b;
  im->v.final_norm = l->block.norm;
  im->v.final_norm_eps = l->block.norm_eps;
  if (o.choices.positions == LBBT_VISION_POS_PRETRAINED) {
    if (!l->positions_name) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: positions: pretrained, but the architecture has no "
                     "learned position table", kit->name);
      goto fail;
    }
    LBBT_TRY_GOTO(st, add_positions(im, m), fail);
  }
  /* the rest of the pretrained part: the final norm (and the positions) */
  LBBT_TRY_GOTO(st, fill_params(kit, m, im->stack->first_param + im->stack->n_params, m->n_params,
                                "", im->arch, &o.src, spec->init, seed), fail);
  /* The new vision parameters come last so that loading never looks for them. */
  LBBT_TRY_GOTO(st, lbbt_vision_register(m, &im->v, l->dim, seed), fail);
  if (im->positions && im->v.n_tokens > l->n_positions) {
    st = lbbt_fail(LBBT_E_INPUT,
                   "%s: positions: pretrained needs %d tokens (patches%s) but %s has %d rows; "
                   "use a larger patch_size or positions: new",
                   kit->name, im->v.n_tokens, spec->pool == LBBT_POOL_CLS ? " + class token" : "",
                   l->positions_name, l->n_positions);
    goto fail;
  }
  lbbt_model_apply_no_decay_rule(m);
  opened_close(&o);
  *out = m;
  return LBBT_OK;
fail:
  opened_close(&o);
  lbbt_model_free(m);
  return st;
}

lbbt_status lbbt_backbone_kit_create_blocks(const lbbt_backbone_arch *plugin_kit,
                                            const lbbt_backbone_spec *spec, int n_blocks,
                                            uint64_t seed, const char *prefix, int layer_offset,
                                            lbbt_model *into, lbbt_block_stack **out) {
  *out = NULL;
  lbbt_backbone_arch hooks;
  LBBT_TRY(read_hooks(plugin_kit, &hooks));
  const lbbt_backbone_arch *kit = &hooks;
  opened_spec o;
  LBBT_TRY(open_spec(kit, spec, &o));
  lbbt_status st = blocks_for_spec(kit, spec, &o, n_blocks, seed, prefix, layer_offset, into, out);
  opened_close(&o);
  return st;
}

/* The language model of an opened architecture: embedding, positions, blocks, final norm,
 * LM head, initialised per mode (read from o->src unless SCRATCH). */
static lbbt_status build_language(const lbbt_backbone_arch *kit, opened_spec *o,
                                  lbbt_init_mode mode, uint64_t seed, const char *source,
                                  const char *blocks_source, lbbt_model **out) {
  *out = NULL;
  if (!o->layout.embed_name)
    return lbbt_fail(LBBT_E_INPUT, "%s: this backbone has no language mode (no token embedding)",
                     kit->name);
  lbbt_model *m = NULL;
  kit_model *im = NULL;
  lbbt_status st;
  LBBT_TRY_GOTO(st, new_model(kit, o, &m, &im), fail);
  const lbbt_backbone_layout *l = &im->layout;
  m->init = mode;
  snprintf(m->source, sizeof m->source, "%s", source);
  int64_t es[2] = {l->vocab_size, l->dim};
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, l->embed_name, LBBT_PART_EMBED, 0, 1, 2, es, &im->embed), fail);
  if (l->positions_name) LBBT_TRY_GOTO(st, add_positions(im, m), fail);
  LBBT_TRY_GOTO(st, add_blocks(kit, l, m, l->n_layers, "", 0, blocks_source, l->causal, &im->stack), fail);
  set_model_sizes(m, l);
  LBBT_TRY_GOTO(st, add_final_norm(im, m), fail);
  if (l->lm_head == LBBT_LM_HEAD_OWN)
    LBBT_TRY_GOTO(st, lbbt_model_add_param(m, l->lm_head_name, LBBT_PART_HEAD, 0, 0, 2, es, &im->lm_head), fail);
  LBBT_TRY_GOTO(st, fill_params(kit, m, 0, m->n_params, "", im->arch, &o->src, mode, seed), fail);
  lbbt_model_apply_no_decay_rule(m);
  *out = m;
  return LBBT_OK;
fail:
  lbbt_model_free(m);
  return st;
}

lbbt_status lbbt_backbone_kit_load_language(const lbbt_backbone_arch *plugin_kit, const char *path,
                                            lbbt_model **out) {
  *out = NULL;
  lbbt_backbone_arch hooks;
  LBBT_TRY(read_hooks(plugin_kit, &hooks));
  const lbbt_backbone_arch *kit = &hooks;
  opened_spec o;
  memset(&o, 0, sizeof o);
  LBBT_TRY(new_arch(kit, &o.arch));
  lbbt_status st = open_checkpoint(kit, path, &o.src, o.arch);
  if (st == LBBT_OK) st = get_layout(kit, o.arch, &o.layout);
  if (st == LBBT_OK) st = build_language(kit, &o, LBBT_INIT_LANGUAGE, 0, path, path, out);
  opened_close(&o);
  return st;
}

lbbt_status lbbt_backbone_kit_create_language(const lbbt_backbone_arch *plugin_kit,
                                              const lbbt_backbone_spec *spec, int vocab_size,
                                              int context, uint64_t seed, lbbt_model **out) {
  *out = NULL;
  lbbt_backbone_arch hooks;
  LBBT_TRY(read_hooks(plugin_kit, &hooks));
  const lbbt_backbone_arch *kit = &hooks;
  if (!kit->set_language_sizes)
    return lbbt_fail(LBBT_E_INPUT, "%s: this backbone builds no language models from sizes",
                     kit->name);
  if (spec->checkpoint[0])
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: create_language builds a new model from sizes; backbone.checkpoint %s "
                     "is for load_language",
                     kit->name, spec->checkpoint);
  if (vocab_size < 1 || context < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: create_language: vocab_size %d and context %d must be >= 1",
                     kit->name, vocab_size, context);
  opened_spec o;
  memset(&o, 0, sizeof o);
  LBBT_TRY(new_arch(kit, &o.arch));
  lbbt_status st = kit->from_preset(spec->arch[0] ? spec->arch : kit->default_preset, o.arch);
  if (st == LBBT_OK) st = apply_options(kit, spec, o.arch, &o.choices);
  if (st == LBBT_OK) {
    char where[LBBT_NAME_MAX + 32];
    snprintf(where, sizeof where, "%s language model", kit->name);
    kit->set_language_sizes(o.arch, vocab_size, context);
    st = kit->check(o.arch, where);
  }
  if (st == LBBT_OK) st = get_layout(kit, o.arch, &o.layout);
  if (st == LBBT_OK)
    st = build_language(kit, &o, LBBT_INIT_SCRATCH, seed, "scratch", "scratch language model", out);
  opened_close(&o);
  return st;
}

lbbt_status lbbt_backbone_kit_describe(const lbbt_backbone_arch *plugin_kit, lbbt_model *m,
                                       void *f) {
  lbbt_backbone_arch hooks;
  LBBT_TRY(read_hooks(plugin_kit, &hooks));
  const lbbt_backbone_arch *kit = &hooks;
  const kit_model *im = m->ops == &KIT_MODEL_OPS ? m->impl : NULL;
  if (!im || im->hooks.layout != kit->layout || strcmp(im->hooks.name, kit->name))
    return lbbt_fail(LBBT_E_INPUT, "%s describe: model '%s' was not built by this backbone",
                     kit->name, m->arch);
  kit->describe(im->arch, f);
  lbbt_model_describe(m, f);
  return LBBT_OK;
}
