#!/usr/bin/env bash
# Run ids are stable: every experiment, at every tier it declares, gives the ids recorded in
# tests/fixtures/run-ids.txt (tools/run-ids prints them).  A change that moves an existing id
# invalidates every stored result of that run, so it must be deliberate: regenerate the
# fixture with `tools/run-ids > tests/fixtures/run-ids.txt` and say in README.md what a user
# with old results files must do.
source tests/cli/lib.bash

same_ids() {
  tools/run-ids "$LBBT" > "$CLI_TMP/ids.txt" || { echo "tools/run-ids failed" >&2; return 1; }
  diff -u tests/fixtures/run-ids.txt "$CLI_TMP/ids.txt" >&2
}
check every_experiment_keeps_its_ids same_ids

# The comparison can fail: a changed value in one experiment changes its ids.
detects_a_change() {
  local copy="$CLI_TMP/repo"
  mkdir -p "$copy/experiments" && cp experiments/*.yaml "$copy/experiments/" && cp -r tools "$copy/" || return 1
  sed -i 's/^  seed: 0$/  seed: 5/' "$copy/experiments/table-4.yaml"
  grep -q '^  seed: 5$' "$copy/experiments/table-4.yaml" || { echo "table-4.yaml has no 'seed: 0' line" >&2; return 1; }
  (cd "$copy" && tools/run-ids "$OLDPWD/$LBBT") > "$CLI_TMP/changed.txt" || return 1
  ! diff -q tests/fixtures/run-ids.txt "$CLI_TMP/changed.txt" >/dev/null
}
check detects_a_changed_id detects_a_change
