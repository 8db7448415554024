#!/usr/bin/env bash
# lbbt check: exit codes (0 valid, 2 invalid), the runs it lists, and its messages.
source tests/cli/lib.bash

touch "$CLI_TMP/ckpt.bin"
cat > "$CLI_TMP/ok.yaml" <<YAML
experiment: cli-check
paper: {table: 4}
base:
  backbone: {plugin: llama, checkpoint: $CLI_TMP/ckpt.bin}
  data: {dataset: fashion-mnist, limit: 100}
  stages:
    - {name: bridge, task: classification, epochs: 2}
matrix:
  backbone.init: [scratch, language]
  seed: [0, 1, 2]
tiers:
  smoke: {matrix: {seed: [0]}}
  cpu: {}
  paper: {base: {data: {root: /data/that/is/elsewhere}}}
YAML

ok_lines() { # the six runs: id, two spaces, label, in matrix order (last key fastest)
  local out
  out=$("$LBBT" check "$CLI_TMP/ok.yaml" 2>/dev/null) || return 1
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 6 ] || { echo "want 6 lines: $out" >&2; return 1; }
  printf '%s\n' "$out" | head -n 1 | grep -Eq '^[0-9a-f]{16}  backbone.init=scratch seed=0$' || return 1
  printf '%s\n' "$out" | tail -n 1 | grep -Eq '^[0-9a-f]{16}  backbone.init=language seed=2$' || return 1
  [ "$(printf '%s\n' "$out" | cut -c1-16 | sort -u | wc -l)" -eq 6 ] || { echo "ids not distinct" >&2; return 1; }
}
check valid_file_lists_runs ok_lines
check valid_file_exit0 expect_exit 0 \
  'ok: experiment cli-check, tier cpu, 6 runs; other tiers valid: smoke \(2 runs\), paper \(6 runs\)' \
  "$LBBT" check "$CLI_TMP/ok.yaml"
same_ids_in_smoke() { # smoke runs are the cpu runs with seed 0: same configs, so same ids
  local cpu smoke
  cpu=$("$LBBT" check "$CLI_TMP/ok.yaml" 2>/dev/null | grep 'seed=0$') || return 1
  smoke=$("$LBBT" check "$CLI_TMP/ok.yaml" --tier smoke 2>/dev/null) || return 1
  [ "$cpu" = "$smoke" ] || { echo "cpu: $cpu / smoke: $smoke" >&2; return 1; }
}
check tier_smoke_same_ids same_ids_in_smoke
check config_printed expect_exit 0 '    epochs: 2' "$LBBT" check "$CLI_TMP/ok.yaml" --tier=smoke --config
check tier_paper_needs_data expect_exit 2 "ok.yaml:14:31: data.root: '/data/that/is/elsewhere' does not exist" \
  "$LBBT" check "$CLI_TMP/ok.yaml" --tier paper
check unknown_tier expect_exit 2 \
  "unknown tier 'smok'; tiers in this file: smoke, cpu, paper \(did you mean 'smoke'\?\)" \
  "$LBBT" check "$CLI_TMP/ok.yaml" --tier smok

sed 's/epochs: 2/epoch: 2/' "$CLI_TMP/ok.yaml" > "$CLI_TMP/typo.yaml"
check unknown_key expect_exit 2 \
  "^lbbt: .*typo.yaml:7:44: unknown key 'epoch' in stage 'bridge'; did you mean 'epochs'\?" \
  "$LBBT" check "$CLI_TMP/typo.yaml"
sed 's/limit: 100/limit: lots/' "$CLI_TMP/ok.yaml" > "$CLI_TMP/type.yaml"
check wrong_type expect_exit 2 "type.yaml:5:41: data.limit: expected an integer, got 'lots'" \
  "$LBBT" check "$CLI_TMP/type.yaml"
sed 's/seed: \[0, 1, 2\]/seed: [0, 1, 2/' "$CLI_TMP/ok.yaml" > "$CLI_TMP/broken.yaml"
check malformed_yaml expect_exit 2 "broken.yaml:[0-9]+:[0-9]+: malformed YAML" "$LBBT" check "$CLI_TMP/broken.yaml"
sed 's|paper: {base: {data: {root: /data/that/is/elsewhere}}}|paper: {base: {data: {limt: 5}}}|' \
  "$CLI_TMP/ok.yaml" > "$CLI_TMP/badtier.yaml"
check other_tier_checked expect_exit 2 \
  "tier 'paper': .*badtier.yaml:14:25: unknown key 'limt' in data; did you mean 'limit'\?" \
  "$LBBT" check "$CLI_TMP/badtier.yaml"
check missing_file expect_exit 2 "no-such.yaml: cannot open" "$LBBT" check "$CLI_TMP/no-such.yaml"
check no_arguments expect_exit 2 "usage: lbbt check" "$LBBT" check
check help expect_exit 0 "usage: lbbt check" "$LBBT" check --help

# groups: more matrices, each crossed only with itself; the matrix's runs (and ids) come first.
{ sed '/^tiers:/,$d' "$CLI_TMP/ok.yaml"; cat <<YAML
groups:
  - backbone: [{plugin: gpt2}]
    backbone.init: [scratch]
    seed: [0, 1]
tiers:
  smoke: {matrix: {seed: [0]}, groups: [{seed: [7]}]}
  cpu: {}
YAML
} > "$CLI_TMP/groups.yaml"
group_lines() {
  local plain grouped
  plain=$("$LBBT" check "$CLI_TMP/ok.yaml" 2>/dev/null) || return 1
  grouped=$("$LBBT" check "$CLI_TMP/groups.yaml" 2>/dev/null) || return 1
  [ "$(printf '%s\n' "$grouped" | wc -l)" -eq 8 ] || { echo "want 8 lines: $grouped" >&2; return 1; }
  [ "$(printf '%s\n' "$grouped" | head -n 6)" = "$plain" ] || { echo "matrix runs changed: $grouped" >&2; return 1; }
  printf '%s\n' "$grouped" | tail -n 1 | grep -Eq '^[0-9a-f]{16}  backbone=\{plugin: gpt2\} backbone.init=scratch seed=1$' ||
    { echo "last line: $grouped" >&2; return 1; }
}
check groups_listed_after_matrix group_lines
check groups_tier_replaces expect_exit 0 'tier smoke, 3 runs' "$LBBT" check "$CLI_TMP/groups.yaml" --tier smoke
sed 's/backbone.init: \[scratch\]/backbone.int: [scratch]/' "$CLI_TMP/groups.yaml" > "$CLI_TMP/badgroup.yaml"
check groups_bad_key expect_exit 2 \
  "badgroup.yaml:[0-9]+:5: groups\[1\] key 'backbone.int': 'int' is not a key of backbone; did you mean 'init'\?" \
  "$LBBT" check "$CLI_TMP/badgroup.yaml"

# experiments/README.md holds the key reference verbatim between two markers.
readme_current() {
  local want have
  want=$("$LBBT" check --keys) || return 1
  have=$(sed -n '/^<!-- lbbt check --keys: begin -->$/,/^<!-- lbbt check --keys: end -->$/p' experiments/README.md |
    sed '1d;$d')
  if [ "$want" != "$have" ]; then
    echo "experiments/README.md is out of date: paste 'lbbt check --keys' between its markers" >&2
    diff <(printf '%s\n' "$want") <(printf '%s\n' "$have") | head -n 10 >&2
    return 1
  fi
}
check readme_key_reference_current readme_current

# Plugin options are typed keys of the plugin's table, checked when `lbbt check` loads the
# file (not only when the run starts), with the nearest key suggested.
sed 's/^        tokenizer: bytes$/        tokenizer: bytes\n        n_embed: 64/' experiments/lm-pretrain.yaml > "$CLI_TMP/bad_option.yaml"
check plugin_option_typo expect_exit 2 "bad_option.yaml:[0-9]+:[0-9]+: unknown key 'n_embed' in the options of stage 'pretrain' \(task 'lm-pretrain'\); did you mean 'n_embd'\?" "$LBBT" check "$CLI_TMP/bad_option.yaml"
sed 's/^            n_layer: 2$/            n_layers: 2/' experiments/lm-pretrain.yaml > "$CLI_TMP/bad_tier_option.yaml"
check plugin_option_other_tier expect_exit 2 "tier 'smoke'.*unknown key 'n_layers'.*did you mean 'n_layer'" "$LBBT" check "$CLI_TMP/bad_tier_option.yaml"

# What a run must write follows from what its stages' plugins need (lbbt_task_needs,
# plugin.h): a classification stage needs images and a backbone; lm-pretrain needs neither
# (experiments/lm-pretrain.yaml writes no backbone or data section).
cat > "$CLI_TMP/nodata.yaml" <<YAML
experiment: cli-nodata
base:
  backbone: {plugin: llama}
  stages:
    - {name: bridge, task: classification, epochs: 1}
YAML
check task_needs_images expect_exit 2 "nodata.yaml: run 1 \(.*\): stage 'bridge' \(classification\) needs images: write data.dataset" \
  "$LBBT" check "$CLI_TMP/nodata.yaml"
sed 's/  backbone: {plugin: llama}/  data: {dataset: fashion-mnist}/' "$CLI_TMP/nodata.yaml" > "$CLI_TMP/nobackbone.yaml"
check task_needs_backbone expect_exit 2 "nobackbone.yaml: run 1 \(.*\): stage 'bridge' \(classification\) needs a backbone: write backbone.plugin" \
  "$LBBT" check "$CLI_TMP/nobackbone.yaml"
no_sections() { ! grep -Eq '^  (backbone|data):' experiments/lm-pretrain.yaml && "$LBBT" check experiments/lm-pretrain.yaml --tier smoke >/dev/null; }
check lm_pretrain_needs_no_backbone_or_data no_sections
