/* Stages shared between runs (private to the core: the runner's).
 *
 * Runs of one experiment often begin with the same stages: Table 3 probes each seed's
 * bridged model at eight learning-rate / weight-decay settings, so 24 of its runs start
 * with one of only 3 distinct 10-epoch bridges (400 epochs each at the paper tier).  After
 * such a stage finishes, the runner stores the model's parameters and the run record so far
 * under a key that hashes everything the stage's outcome depends on - the run's canonical
 * config without the stages after it (seed, backbone, data, this stage and those before)
 * and the checkpoint's bytes (model/checkpoint_sha256) - and a later run with the same key
 * starts from there, as a resumed run would (the resume tests show a run continued from a
 * stage boundary equals an uninterrupted one).  Only stages whose plugin declares them
 * cacheable (lbbt_task_needs.cacheable, plugin.h: their whole effect is the model and the
 * record) and that are not a run's last are stored.
 *
 * Entries live in <results file>.stages/<key>/ (state.safetensors, record.h5; written to a
 * temporary folder and renamed) and the runner removes the folder once every run of the
 * experiment is complete. */
#ifndef LBBT_STAGE_CACHE_H
#define LBBT_STAGE_CACHE_H
#include "lbbt/runner.h"

/* Is stage k of this run, whose plugin declared `needs`, one whose outcome is stored? */
int stage_cache_applies(const lbbt_run_spec *run, int k, const lbbt_task_needs *needs);

/* The entry folder of stage k of ctx->run: <root>/<64 hex>.  checkpoint_sha256: "" when
 * the backbone has no checkpoint. */
lbbt_status stage_cache_entry(const char *root, const lbbt_run_spec *run, int k,
                              const char *checkpoint_sha256, char *dir, size_t n);

/* Store ctx's model parameters and record as the entry `dir` (no-op when it exists). */
lbbt_status stage_cache_save(const lbbt_stage_ctx *ctx, const char *dir);

/* Load entry `dir` into ctx->model and ctx->record when it exists: *found = 1. */
lbbt_status stage_cache_load(lbbt_stage_ctx *ctx, const char *dir, int *found);

#endif
