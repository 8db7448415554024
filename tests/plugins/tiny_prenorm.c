/* Test backbone plugin `tiny_prenorm`: a small pre-norm ViT-style transformer built only from
 * the backbone kit (lbbt/backbone_kit.h), to show that a new backbone is one short file and
 * needs no core edit.  tests/cli/backbone_kit.sh loads it through LBBT_PLUGIN_PATH and trains
 * it in a classification experiment (tests/cli/fixtures/tiny_prenorm.yaml).
 *   - blocks: LayerNorm (eps 1e-6), separate q/k/v/o projections with biases ([out, in], as
 *     nn.Linear), an exact-GELU MLP; bidirectional attention unless backbone.attention says
 *     causal; a new learned position table in vision mode;
 *   - scratch models only (no checkpoint reader, no language mode): presets tiny (width 16,
 *     depth 2, 2 heads) and small (32, 4, 4); options width, depth, heads, mlp_ratio;
 *   - initialisation as timm's ViT: trunc-normal 0.02 weights, zero biases, unit norm gains. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lbbt/backbone_kit.h"
#include "lbbt/param_init.h"

typedef struct tiny_arch {
  int width, depth, heads, mlp_ratio;
} tiny_arch;

static lbbt_status arch_from_preset(const char *preset, void *arch) {
  tiny_arch *a = arch;
  if (!strcmp(preset, "tiny"))
    *a = (tiny_arch){16, 2, 2, 4};
  else if (!strcmp(preset, "small"))
    *a = (tiny_arch){32, 4, 4, 4};
  else
    return lbbt_fail(LBBT_E_INPUT, "tiny_prenorm: unknown arch preset '%s' (known: tiny, small)",
                     preset);
  return LBBT_OK;
}

static lbbt_status arch_check(const void *arch, const char *where) {
  const tiny_arch *a = arch;
  if (a->width % a->heads)
    return lbbt_fail(LBBT_E_INPUT, "%s: width %d is not a multiple of heads %d", where, a->width,
                     a->heads);
  return LBBT_OK;
}

/* Sizes: optional keys, the preset's unless written. */
typedef struct tiny_options {
  int width, depth, heads, mlp_ratio;
} tiny_options;
#define SIZE_KEY(f, what)                                                                     \
  {.name = #f, .type = LBBT_KEY_INT, LBBT_KEY_FIELD(tiny_options, f), LBBT_KEY_RANGE(1, 4096), \
   .flags = LBBT_KEY_OPTIONAL, .doc = what}
static const lbbt_key OPTION_KEYS[] = {SIZE_KEY(width, "width"), SIZE_KEY(depth, "blocks"),
                                       SIZE_KEY(heads, "heads"), SIZE_KEY(mlp_ratio, "MLP width / width")};
#undef SIZE_KEY
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(tiny_options, OPTION_KEYS, "tiny_prenorm sizes.");

static lbbt_status apply_options(const lbbt_backbone_spec *spec, void *arch,
                                 lbbt_backbone_choices *out) {
  tiny_arch *a = arch;
  const tiny_options *o = lbbt_backbone_options(spec);
  if (!o) return lbbt_fail(LBBT_E_INTERNAL, "tiny_prenorm: options not bound");
#define TAKE(f) if (lbbt_backbone_option_written(spec, #f)) a->f = o->f, out->sizes_given = 1
  TAKE(width); TAKE(depth); TAKE(heads); TAKE(mlp_ratio);
#undef TAKE
  return LBBT_OK;
}

static void layout(const void *arch, lbbt_backbone_layout *l) {
  const tiny_arch *a = arch;
  lbbt_backbone_layout_sizes(l, a->width, a->depth, 0, a->heads, a->heads, a->width / a->heads,
                             a->mlp_ratio * a->width);
  l->block.norm = LBBT_NORM_LAYERNORM;
  l->block.norm_eps = 1e-6f;
  l->block.mlp = LBBT_MLP_GELU;
  l->block.gelu = LBBT_GELU_ERF;
  l->block.layout = LBBT_W_OUT_IN;
  l->names = (lbbt_block_names){
      .norm1_w = "norm1.weight", .norm1_b = "norm1.bias", .norm2_w = "norm2.weight",
      .norm2_b = "norm2.bias", .q_w = "attn.q.weight", .q_b = "attn.q.bias",
      .k_w = "attn.k.weight", .k_b = "attn.k.bias", .v_w = "attn.v.weight",
      .v_b = "attn.v.bias", .o_w = "attn.proj.weight", .o_b = "attn.proj.bias",
      .fc_w = "mlp.fc1.weight", .fc_b = "mlp.fc1.bias", .proj_w = "mlp.fc2.weight",
      .proj_b = "mlp.fc2.bias"};
  l->block_prefix = "blocks.%d.";
  l->causal = 0;
  l->final_norm_w = "norm.weight";
  l->final_norm_b = "norm.bias";
  l->vision_positions = LBBT_VISION_POS_NEW;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

/* timm ViT: trunc_normal_(std=.02) for Linear weights, zeros for biases, LayerNorm gains 1. */
static lbbt_status scratch_init(lbbt_tensor *t, const char *name, uint64_t seed, void *arch) {
  (void)arch;
  int bias = ends_with(name, ".bias"), gain = !bias && strstr(name, "norm");
  if (!bias && !gain) return lbbt_init_trunc_normal(t, seed, name, 0.0, 0.02, -2.0, 2.0);
  lbbt_init_constant(t, gain ? 1.0f : 0.0f);
  return LBBT_OK;
}

static json_t *config_json(const void *arch) {
  const tiny_arch *a = arch;
  return json_pack("{s:s, s:i, s:i, s:i, s:i}", "model_type", "tiny_prenorm", "width", a->width,
                   "depth", a->depth, "heads", a->heads, "mlp_ratio", a->mlp_ratio);
}

static void describe(const void *arch, FILE *f) {
  const tiny_arch *a = arch;
  fprintf(f, "architecture: tiny_prenorm (test backbone)\n  width %d, depth %d, heads %d, MLP %dx\n",
          a->width, a->depth, a->heads, a->mlp_ratio);
}

static const lbbt_backbone_arch TINY = {
    .name = "tiny_prenorm", .arch_size = sizeof(tiny_arch), LBBT_BACKBONE_ARCH_HOOKS,
    .default_preset = "tiny", .size_options = "width, depth, heads, mlp_ratio",
    .apply_options = apply_options,
};

LBBT_BACKBONE_KIT_PLUGIN_WITH_OPTIONS(TINY, "tiny_prenorm",
                                      "test backbone: a tiny pre-norm ViT from the backbone kit (scratch only)",
                                      0, &OPTIONS)
