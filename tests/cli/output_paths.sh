#!/usr/bin/env bash
# Output paths (issue 20, class 8): lm-pretrain's `out` accepted `../` and absolute paths and
# overwrote another model's config.json and weights without a word.  Now a stage writes only
# inside models/, results/, the results file's folder or LBBT_OUTPUT_ROOTS, and replaces a
# model folder only when the same run made it (or LBBT_REPLACE_MODELS=1).
source tests/cli/lib.bash
with_out() { # OUT_VALUE YAML: the smoke lm-pretrain experiment writing its model to OUT_VALUE
  sed "s#out: models/lbbt-gpt2-fortunes-smoke#out: $1#" experiments/lm-pretrain.yaml >"$2"
  grep -q "out: $1" "$2"
}
mkdir -p "$CLI_TMP/res" "$CLI_TMP/elsewhere"
with_out "../lbbt-escape-$$" "$CLI_TMP/up.yaml" || { echo "FAIL output_paths.setup: no smoke out"; exit 0; }
check parent_path_refused expect_exit 2 "lm-pretrain option out: '../lbbt-escape-$$' .* is outside the folders lbbt writes to" \
  "$LBBT" run "$CLI_TMP/up.yaml" --tier smoke --out "$CLI_TMP/res/up.h5" --threads 1
check parent_path_not_written test ! -e "../lbbt-escape-$$"
with_out "$CLI_TMP/elsewhere/m" "$CLI_TMP/abs.yaml"
check absolute_path_refused expect_exit 2 "is outside the folders lbbt writes to" \
  "$LBBT" run "$CLI_TMP/abs.yaml" --tier smoke --out "$CLI_TMP/res/abs.h5" --threads 1
# allowed explicitly, but the folder holds a model lbbt did not make: refused, left as it was
mkdir -p "$CLI_TMP/elsewhere/m"
cp tests/fixtures/backbones/gpt2/config.json "$CLI_TMP/elsewhere/m/"
sum_before=$(sha256sum "$CLI_TMP/elsewhere/m/config.json")
check foreign_model_not_replaced expect_exit 2 "already holds a model not made by lbbt.*LBBT_REPLACE_MODELS=1" \
  env LBBT_OUTPUT_ROOTS="/nonexistent:$CLI_TMP/elsewhere" "$LBBT" run "$CLI_TMP/abs.yaml" --tier smoke \
  --out "$CLI_TMP/res/abs.h5" --threads 1
check foreign_model_unchanged test "$(sha256sum "$CLI_TMP/elsewhere/m/config.json")" = "$sum_before"
# a model made by another configuration (another run id) is not replaced either
mkdir -p "$CLI_TMP/res/other"
cp tests/fixtures/backbones/gpt2/config.json "$CLI_TMP/res/other/"
echo '{"made_by": "lbbt lm-pretrain", "run_id": "0000000000000000"}' >"$CLI_TMP/res/other/lbbt_pretrain.json"
with_out "$CLI_TMP/res/other" "$CLI_TMP/other.yaml"
check other_run_model_not_replaced expect_exit 2 "already holds a model made by run 0000000000000000, not by this run" \
  "$LBBT" run "$CLI_TMP/other.yaml" --tier smoke --out "$CLI_TMP/res/other.h5" --threads 1
check replace_when_asked env LBBT_REPLACE_MODELS=1 "$LBBT" run "$CLI_TMP/other.yaml" --tier smoke \
  --out "$CLI_TMP/res/other.h5" --threads 1
check replaced_model_is_this_runs bash -c "grep -q '\"run_id\"' '$CLI_TMP/res/other/lbbt_pretrain.json' && ! grep -q 0000000000000000 '$CLI_TMP/res/other/lbbt_pretrain.json'"
