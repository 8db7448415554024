/* ABI 2's layout, frozen: the offset of every field a plugin reads in the structs it
 * shares with the core (descriptor, tables, stage context, stage spec, model).  A plugin
 * built against these headers reads fields at these offsets, so a field inserted or removed
 * mid-struct (as lbbt_stage_spec.skip and lbbt_model.eval_tape once were, without a bump)
 * would make it misread silently; this test fails instead.  Fields may only be appended
 * (then add their rows here); any other change bumps LBBT_ABI_VERSION in lbbt/plugin.h and
 * regenerates this table (the failure message prints the row to paste).  Offsets are those
 * of the x86-64 System V ABI the project builds for; other targets skip. */
#include <stddef.h>

#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "test.h"

typedef struct frozen {
  const char *type, *field;
  size_t now, frozen;
} frozen;
#define F(S, f, off) {#S, #f, offsetof(S, f), (off)}

static const frozen FROZEN[] = {
    F(lbbt_plugin, abi_version, 0),
    F(lbbt_plugin, struct_size, 8),
    F(lbbt_plugin, kind, 16),
    F(lbbt_plugin, name, 24),
    F(lbbt_plugin, summary, 32),
    F(lbbt_plugin, backbone, 40),
    F(lbbt_plugin, task, 48),
    F(lbbt_plugin, options, 56),
    F(lbbt_task_ops, version, 0),
    F(lbbt_task_ops, validate, 8),
    F(lbbt_task_ops, run, 16),
    F(lbbt_task_ops, needs, 24),
    F(lbbt_task_needs, what, 0),
    F(lbbt_task_needs, targets, 4),
    F(lbbt_task_needs, outputs, 8),
    F(lbbt_task_needs, cacheable, 12),
    F(lbbt_backbone_ops, version, 0),
    F(lbbt_backbone_ops, probe, 8),
    F(lbbt_backbone_ops, create_vision, 16),
    F(lbbt_backbone_ops, load_language, 24),
    F(lbbt_backbone_ops, describe, 32),
    F(lbbt_backbone_ops, create_language, 40),
    F(lbbt_backbone_ops, create_blocks, 48),
    F(lbbt_option_table, struct_size, 0),
    F(lbbt_option_table, options_size, 8),
    F(lbbt_option_table, keys, 16),
    F(lbbt_option_table, n_keys, 24),
    F(lbbt_option_table, doc, 32),
    F(lbbt_key, name, 0),
    F(lbbt_key, type, 8),
    F(lbbt_key, offset, 16),
    F(lbbt_key, size, 24),
    F(lbbt_key, def, 32),
    F(lbbt_key, names, 40),
    F(lbbt_key, n_names, 48),
    F(lbbt_key, has_range, 52),
    F(lbbt_key, min, 56),
    F(lbbt_key, max, 64),
    F(lbbt_key, flags, 72),
    F(lbbt_key, doc, 80),
    F(lbbt_stage_ctx, version, 0),
    F(lbbt_stage_ctx, exp, 8),
    F(lbbt_stage_ctx, run, 16),
    F(lbbt_stage_ctx, stage, 24),
    F(lbbt_stage_ctx, stage_index, 32),
    F(lbbt_stage_ctx, run_index, 36),
    F(lbbt_stage_ctx, n_runs, 40),
    F(lbbt_stage_ctx, registry, 48),
    F(lbbt_stage_ctx, model, 56),
    F(lbbt_stage_ctx, train, 64),
    F(lbbt_stage_ctx, test, 72),
    F(lbbt_stage_ctx, record, 80),
    F(lbbt_stage_ctx, progress, 88),
    F(lbbt_stage_ctx, partial_dir, 96),
    F(lbbt_stage_ctx, threads, 608),
    F(lbbt_stage_ctx, interrupted, 616),
    F(lbbt_stage_spec, name, 0),
    F(lbbt_stage_spec, task, 64),
    F(lbbt_stage_spec, analysis, 128),
    F(lbbt_stage_spec, epochs, 192),
    F(lbbt_stage_spec, batch_size, 196),
    F(lbbt_stage_spec, lr, 200),
    F(lbbt_stage_spec, weight_decay, 208),
    F(lbbt_stage_spec, drop_path, 216),
    F(lbbt_stage_spec, clip, 224),
    F(lbbt_stage_spec, warmup_epochs, 232),
    F(lbbt_stage_spec, momentum, 240),
    F(lbbt_stage_spec, optimizer, 248),
    F(lbbt_stage_spec, train_layers, 252),
    F(lbbt_stage_spec, train_embed, 268),
    F(lbbt_stage_spec, train_head, 272),
    F(lbbt_stage_spec, skip, 276),
    F(lbbt_stage_spec, options, 280),
    F(lbbt_stage_spec, n_options, 9624),
    F(lbbt_stage_spec, plugin_options, 9632),
    F(lbbt_model_ops, version, 0),
    F(lbbt_model_ops, forward_vision, 8),
    F(lbbt_model_ops, forward_language, 16),
    F(lbbt_model_ops, save, 24),
    F(lbbt_model_ops, destroy, 32),
    F(lbbt_model_ops, forward_vision_tokens, 40),
    F(lbbt_model, ops, 0),
    F(lbbt_model, impl, 8),
    F(lbbt_model, arch, 16),
    F(lbbt_model, source, 80),
    F(lbbt_model, init, 592),
    F(lbbt_model, params, 600),
    F(lbbt_model, n_params, 608),
    F(lbbt_model, n_layers, 616),
    F(lbbt_model, dim, 620),
    F(lbbt_model, num_classes, 624),
    F(lbbt_model, vocab_size, 628),
    F(lbbt_model, hook, 632),
    F(lbbt_model, hook_user, 640),
    F(lbbt_model, drop_path, 648),
    F(lbbt_model, eval_tape, 656),
};

static void test_layout_is_frozen(void) {
  if (sizeof(void *) != 8 || sizeof(int) != 4 || sizeof(size_t) != 8)
    SKIP("the frozen offsets are x86-64's (LP64)");
  CHECK(LBBT_ABI_VERSION == 2, "LBBT_ABI_VERSION is %d: regenerate this table for the new layout", LBBT_ABI_VERSION);
  for (size_t i = 0; i < sizeof FROZEN / sizeof FROZEN[0]; i++)
    CHECK(FROZEN[i].now == FROZEN[i].frozen,
          "%s.%s moved from offset %zu to %zu: fields may only be appended to structs plugins read; a "
          "layout change bumps LBBT_ABI_VERSION and this row becomes F(%s, %s, %zu)",
          FROZEN[i].type, FROZEN[i].field, FROZEN[i].frozen, FROZEN[i].now, FROZEN[i].type, FROZEN[i].field,
          FROZEN[i].now);
}

/* The loader's size rules: the ABI 2 descriptor ends at `options`; tables carry versions. */
static void test_versioning_fields(void) {
  CHECK(LBBT_PLUGIN_MIN_SIZE == offsetof(lbbt_plugin, options) + sizeof(void *), "min size %zu",
        (size_t)LBBT_PLUGIN_MIN_SIZE);
  CHECK(sizeof(lbbt_plugin) >= LBBT_PLUGIN_MIN_SIZE, "descriptor smaller than its minimum");
  CHECK(offsetof(lbbt_plugin, abi_version) == 0, "abi_version must stay the first field");
  CHECK(offsetof(lbbt_task_ops, version) == 0 && offsetof(lbbt_backbone_ops, version) == 0 &&
            offsetof(lbbt_stage_ctx, version) == 0 && offsetof(lbbt_option_table, struct_size) == 0 &&
            offsetof(lbbt_model_ops, version) == 0,
        "every versioned struct starts with its version or size");
}

TEST_MAIN_BEGIN("test_abi")
TEST_RUN(test_layout_is_frozen);
TEST_RUN(test_versioning_fields);
TEST_MAIN_END()
