#!/usr/bin/env bash
# lbbt run end to end: results, resume after kill -9 (bit-identical to an uninterrupted run),
# and bad input.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
EXP=tests/cli/fixtures/resume.yaml

# 1. An uninterrupted run.
check clean_run "$LBBT" run $EXP --out "$CLI_TMP/clean.h5" --threads 2
check inspect_lists_runs bash -c "'$LBBT' inspect '$CLI_TMP/clean.h5' | grep -c 'complete' | grep -qx 2"
check h5dump_reads bash -c "command -v h5dump >/dev/null || exit 0; h5dump -H '$CLI_TMP/clean.h5' >/dev/null"

# 2. Rerunning is free: nothing recomputed.
check rerun_skips bash -c "'$LBBT' run $EXP --out '$CLI_TMP/clean.h5' 2>&1 | grep -q '0 runs done now, 2 already complete'"

# 3. kill -9 at several moments, rerun each time, until it completes; the file is readable
#    after every kill and the final metrics equal the clean run's.
killed_ok=1
for delay in 0.7 1.5 2.5 3.5; do
  "$LBBT" run $EXP --out "$CLI_TMP/killed.h5" --threads 2 --no-reuse >/dev/null 2>&1 &
  pid=$!
  sleep $delay
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if [ -f "$CLI_TMP/killed.h5" ] && command -v h5dump >/dev/null; then
    h5dump -H "$CLI_TMP/killed.h5" >/dev/null 2>&1 || killed_ok=0
  fi
done
check readable_after_kill test $killed_ok -eq 1
check resume_completes "$LBBT" run $EXP --out "$CLI_TMP/killed.h5" --threads 2 --no-reuse
# same_items EXP A.h5 B.h5 ITEM...: every run of EXP has equal ITEM values in A and B.
same_items() {
  local exp=$1 fa=$2 fb=$3 id item a b
  shift 3
  for id in $("$LBBT" check "$exp" | awk '{print $1}'); do
    for item in "$@"; do
      a=$("$LBBT" inspect "$fa" | grep "^$id" | grep -o "$item=[0-9.]*")
      b=$("$LBBT" inspect "$fb" | grep "^$id" | grep -o "$item=[0-9.]*")
      [ -n "$a" ] && [ "$a" = "$b" ] || { echo "run $id: '$a' in $fa vs '$b' in $fb"; return 1; }
    done
  done
}
check resumed_equals_clean same_items $EXP "$CLI_TMP/clean.h5" "$CLI_TMP/killed.h5" probe/test_acc1
check no_partial_left test ! -e "$CLI_TMP/killed.h5.partial"

# 3b. A results file beside one that holds the same runs (same config and checkpoint, so the
#     same run ids: Tables 8 and 12) copies them instead of computing them, records where
#     they came from, and keeps their metrics; --no-reuse computes them.
mkdir -p "$CLI_TMP/shared"
cp "$CLI_TMP/clean.h5" "$CLI_TMP/shared/first.h5"
"$LBBT" run $EXP --out "$CLI_TMP/shared/second.h5" >"$CLI_TMP/shared/log" 2>&1
check reuse_copies grep -q '2 runs copied from other results files' "$CLI_TMP/shared/log"
check reuse_computes_nothing bash -c "'$LBBT' run $EXP --out '$CLI_TMP/shared/second.h5' 2>&1 | grep -q '0 runs done now, 2 already complete'"
check reuse_keeps_metrics same_items $EXP "$CLI_TMP/clean.h5" "$CLI_TMP/shared/second.h5" probe/test_acc1
check reuse_records_origin bash -c "command -v h5dump >/dev/null || exit 0; h5dump -A '$CLI_TMP/shared/second.h5' | grep -q 'first.h5'"
"$LBBT" run $EXP --out "$CLI_TMP/shared/third.h5" --no-reuse >"$CLI_TMP/shared/log3" 2>&1
check no_reuse_computes grep -q '2 runs done now, 0 already complete' "$CLI_TMP/shared/log3"

# 3c. Runs that begin with the same stage compute it once: the second restores the first's
#     bridge (stage cache) and gets what computing it again (--no-reuse) gives; the cache
#     folder is gone once every run is complete.
SH=tests/cli/fixtures/shared_stages.yaml
mkdir -p "$CLI_TMP/stages_a" "$CLI_TMP/stages_b"
"$LBBT" run $SH --out "$CLI_TMP/stages_a/r.h5" >"$CLI_TMP/stages_a/log" 2>&1
check stage_restored grep -q "stages up to 'bridge' restored from an identical run's" "$CLI_TMP/stages_a/log"
check stage_cache_removed test ! -e "$CLI_TMP/stages_a/r.h5.stages"
"$LBBT" run $SH --out "$CLI_TMP/stages_b/r.h5" --no-reuse >"$CLI_TMP/stages_b/log" 2>&1
check stage_no_reuse_computes bash -c "grep -q '2 runs done now' '$CLI_TMP/stages_b/log' && ! grep -q 'restored from an identical' '$CLI_TMP/stages_b/log'"
check stage_restored_equals_computed same_items $SH "$CLI_TMP/stages_a/r.h5" "$CLI_TMP/stages_b/r.h5" bridge/train_acc1 probe/test_acc1

# 4. Bad input: exit 2 and a message naming the problem.
printf 'experiment: x\nbase: {seed: 0, backbone: {plugin: nosuch}, data: {dataset: fashion-mnist}, stages: [{name: a, task: classification, epochs: 1}]}\n' > "$CLI_TMP/bad_plugin.yaml"
check unknown_plugin expect_exit 2 "backbone plugin 'nosuch' is not installed" "$LBBT" run "$CLI_TMP/bad_plugin.yaml" --out "$CLI_TMP/x.h5"
check no_file_written test ! -e "$CLI_TMP/x.h5"
check missing_file expect_exit 2 "nosuch.yaml" "$LBBT" run "$CLI_TMP/nosuch.yaml"
check bad_threads expect_exit 2 "threads" "$LBBT" run $EXP --threads zero
