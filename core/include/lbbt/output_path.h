/* Where a stage may write (issue 20, class 8: lm-pretrain's output folder accepted `../` and
 * absolute paths and overwrote another model's config.json and weights without a word).
 *
 * A folder or file a stage writes must lie inside an allowed root:
 *   - models/ and results/ of the current folder (the project, where `lbbt run` starts);
 *   - the folder of the run's results file (`lbbt run --out DIR/FILE.h5`: DIR);
 *   - each folder listed in LBBT_OUTPUT_ROOTS (':'-separated), to allow others explicitly.
 * The check is lexical (".." and "." resolved against the current folder, symlinks trusted:
 * a link that the user placed inside models/ stays allowed).
 *
 * A model folder is replaced only by the run that made it: its info file (JSON with a
 * "run_id") must name this run, unless LBBT_REPLACE_MODELS=1 says to replace it anyway. */
#ifndef LBBT_OUTPUT_PATH_H
#define LBBT_OUTPUT_PATH_H
#include "lbbt/runner.h"

/* LBBT_E_INPUT naming `what` (e.g. "lm-pretrain option out"), the path, where it resolves
 * and the allowed roots, when path is outside them. */
LBBT_API lbbt_status lbbt_output_path_check(const lbbt_stage_ctx *ctx, const char *path, const char *what);
/* LBBT_E_INPUT when folder `dir` already holds a model (config.json or model.safetensors)
 * whose `info_file` in dir is missing or names another run id than ctx->run->id (another
 * configuration), unless LBBT_REPLACE_MODELS=1.  A missing or empty folder is fine. */
LBBT_API lbbt_status lbbt_output_model_check(const lbbt_stage_ctx *ctx, const char *dir, const char *info_file);

#endif
