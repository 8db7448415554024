#!/usr/bin/env bash
# lbbt sweep --jobs K (one process per run, each into its own run file) and lbbt merge: the
# merged results file renders the same table, and holds the same runs item for item, as one
# `lbbt run` (Table 3's smoke tier: 2 runs); a run completed by a task that was not merged
# is merged, not run again; merging twice changes nothing.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
EXP=experiments/table-3.yaml
mkdir -p "$CLI_TMP/plain" "$CLI_TMP/sweep"
ids=$("$LBBT" check $EXP --tier smoke | awk '{print $1}')
first=$(echo "$ids" | head -n 1)

merged_not_rerun() { # a run file left by a task is merged by the sweep, not computed again
  "$LBBT" sweep $EXP --tier smoke --out "$CLI_TMP/sweep/table-3-smoke.h5" --dry-run | grep -q '1 to run, 1 to merge' || return 1
  "$LBBT" sweep $EXP --tier smoke --jobs 2 --threads 1 --out "$CLI_TMP/sweep/table-3-smoke.h5" > "$CLI_TMP/sweep.log" 2>&1 || { cat "$CLI_TMP/sweep.log"; return 1; }
  [ "$(grep -c '^started' "$CLI_TMP/sweep.log")" = 1 ] && ! grep -q "^started $first" "$CLI_TMP/sweep.log" &&
    grep -q 'merged 2 runs' "$CLI_TMP/sweep.log" || { cat "$CLI_TMP/sweep.log"; return 1; }
  # the merged run files are gone; no stage cache or partial folder is left
  [ ! -e "$CLI_TMP/sweep/table-3-smoke.runs/$first.h5" ] && [ ! -e "$CLI_TMP/sweep/table-3-smoke.h5.stages" ] &&
    [ ! -e "$CLI_TMP/sweep/table-3-smoke.h5.partial" ]
}
merge_twice() {
  local before after
  before=$(md5sum < "$CLI_TMP/sweep/table-3-smoke.h5")
  "$LBBT" merge $EXP --tier smoke --out "$CLI_TMP/sweep/table-3-smoke.h5" | grep -q 'merged 0 runs' || return 1
  after=$(md5sum < "$CLI_TMP/sweep/table-3-smoke.h5")
  [ "$before" = "$after" ]
}

if "$LBBT" run $EXP --tier smoke --threads 1 --out "$CLI_TMP/plain/table-3-smoke.h5" > "$CLI_TMP/plain.log" 2>&1; then
  # one run completed by a task, not merged yet (as if the sweep was killed after it)
  check task_writes_its_own_file bash -c "'$LBBT' run $EXP --tier smoke --threads 1 --out '$CLI_TMP/sweep/table-3-smoke.h5' --run $first 2>&1 &&
    test -f '$CLI_TMP/sweep/table-3-smoke.runs/$first.h5' && test ! -e '$CLI_TMP/sweep/table-3-smoke.h5'"
  check merged_not_rerun merged_not_rerun
  check same_runs same_run_items "$CLI_TMP/plain/table-3-smoke.h5" "$CLI_TMP/sweep/table-3-smoke.h5" $ids
  check same_table same_table_md 3 "$CLI_TMP/plain/table-3-smoke.h5" "$CLI_TMP/sweep/table-3-smoke.h5"
  check merge_twice merge_twice
  check nothing_pending bash -c "'$LBBT' sweep $EXP --tier smoke --out '$CLI_TMP/sweep/table-3-smoke.h5' --dry-run | grep -q '0 to run, 0 to merge, 2 complete'"
else
  echo "FAIL parallel_sweep.plain_run: $(tail -n 3 "$CLI_TMP/plain.log" | tr '\n' ' ')"
fi
check unknown_run expect_exit 2 "no run 0123456789abcdef" "$LBBT" run $EXP --tier smoke --out "$CLI_TMP/x.h5" --run 0123456789abcdef
check bad_jobs expect_exit 2 "--jobs wants a positive integer" "$LBBT" sweep $EXP --jobs 0
check missing_experiment expect_exit 2 "" "$LBBT" merge "$CLI_TMP/none.yaml"
