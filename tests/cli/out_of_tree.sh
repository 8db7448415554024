#!/usr/bin/env bash
# A task plugin with typed options, built outside the tree: its source is copied to a folder
# of its own and compiled against core/include only, then found through LBBT_PLUGIN_PATH.
# `lbbt check` validates its keys (a bad one exits 2 naming file:line:col), `lbbt check
# --keys` lists them, and `lbbt run` hands the plugin the typed values.
source tests/cli/lib.bash
BUILD=${LBBT_BUILD:-build}

mkdir -p "$CLI_TMP/src" "$CLI_TMP/plugins"
cp tests/out_of_tree/scaled_eval.c "$CLI_TMP/src/"
build_plugin() {
  (cd "$CLI_TMP/src" && ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -fPIC \
    -shared -I"$OLDPWD/core/include" -o "$CLI_TMP/plugins/scaled_eval.so" scaled_eval.c \
    -L"$OLDPWD/$BUILD" -llbbt -Wl,-rpath,"$OLDPWD/$BUILD")
}
check builds_against_public_headers build_plugin

write() { # name, stage line
  cat > "$CLI_TMP/$1.yaml" <<YAML
base:
  seed: 0
  backbone: {plugin: gpt2, options: {n_embd: 8, n_layer: 1, n_head: 1}, patch_size: 7}
  data: {dataset: fashion-mnist, limit: 10, test_limit: 20}
  stages:
$2
YAML
}
write ok '    - {name: eval, task: scaled-eval, epochs: 1, mode: scaled, scale: 2, options: {images: 10, note: x1}}'
write bad_range '    - {name: eval, task: scaled-eval, epochs: 1, mode: scaled, scale: 0}'
write bad_key '    - {name: eval, task: scaled-eval, epochs: 1, mod: scaled}'
write bad_rule '    - {name: eval, task: scaled-eval, epochs: 1, scale: 2}'

export LBBT_PLUGIN_PATH="$CLI_TMP/plugins"
check check_accepts expect_exit 0 'ok: experiment ok, tier cpu, 1 run' "$LBBT" check "$CLI_TMP/ok.yaml"
check check_range_fails expect_exit 2 'bad_range.yaml:6:71: stages.eval.scale: 0 is out of range \(allowed: greater than 0 and at most 100\)' \
  "$LBBT" check "$CLI_TMP/bad_range.yaml"
check check_unknown_key_fails expect_exit 2 "bad_key.yaml:6:50: unknown key 'mod' in stage 'eval'; did you mean 'mode'\\?" \
  "$LBBT" check "$CLI_TMP/bad_key.yaml"
check check_plugin_rule_fails expect_exit 2 "stage 'eval': scale is for mode: scaled" "$LBBT" check "$CLI_TMP/bad_rule.yaml"
check keys_listed bash -c "'$LBBT' check --keys | grep -q '^| \`stages.<name>.scale\` | number | \`1\` | greater than 0 and at most 100 |'"
check unknown_without_path bash -c "LBBT_PLUGIN_PATH= '$LBBT' check '$CLI_TMP/ok.yaml' 2>&1 | grep -q \"task 'scaled-eval' is not loaded\""

if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  runs_with_typed_values() {
    "$LBBT" run "$CLI_TMP/ok.yaml" --out "$CLI_TMP/ok.h5" --threads 2 >/dev/null 2>&1 || return 1
    local line
    line=$("$LBBT" inspect "$CLI_TMP/ok.h5" | grep complete) || return 1
    grep -q 'eval/images=10' <<<"$line" && grep -q 'eval/options/scale=2' <<<"$line" &&
      grep -q 'eval/options/images=10' <<<"$line" || { echo "inspect: $line" >&2; return 1; }
    local acc
    acc=$(grep -o 'eval/acc1=[0-9.]*' <<<"$line" | cut -d= -f2)
    # scaled by 2: an even multiple of 10 (10 images, each worth 10%, times 2)
    awk -v a="$acc" 'BEGIN { r = a / 20; exit !(a >= 0 && a <= 200 && r == int(r)) }' || { echo "acc1 $acc" >&2; return 1; }
  }
  check run_gets_typed_values runs_with_typed_values
else
  skip run_gets_typed_values "Fashion-MNIST absent"
fi
