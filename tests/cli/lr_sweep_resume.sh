#!/usr/bin/env bash
# A checkpointed per-arm learning-rate sweep (issue 20, class 11): killed between rates, the
# sweep started over, so repeated kills made no progress.  Now each scored rate is kept in
# the run's partial folder: every rerun goes on from the rates already scored, and the final
# result equals an uninterrupted run's.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip lr_sweep_resume "Fashion-MNIST absent"; exit 0; }
EXP=tests/cli/fixtures/lr_sweep.yaml
"$LBBT" run $EXP --out "$CLI_TMP/clean.h5" --threads 1 --no-reuse >"$CLI_TMP/clean.log" 2>&1 ||
  { echo "FAIL lr_sweep_resume.clean_run: $(tail -n 3 "$CLI_TMP/clean.log" | tr '\n' ' ')"; exit 0; }
OUT="$CLI_TMP/killed.h5"
# run until the sweep has scored `lines` rates in all, then kill -9 (waiting for a file, not a delay)
run_and_kill() { # LINES LOG
  "$LBBT" run $EXP --out "$OUT" --threads 1 --no-reuse >"$2" 2>&1 &
  local pid=$! n=0
  for _ in $(seq 1200); do
    n=$(cat "$OUT".partial/*/lr-sweep-train.txt 2>/dev/null | wc -l)
    [ "$n" -ge "$1" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  [ "$n" -ge "$1" ]
}
check first_kill_after_one_rate run_and_kill 1 "$CLI_TMP/run1.log"
check second_kill_after_two_rates run_and_kill 2 "$CLI_TMP/run2.log"
check second_run_resumed_the_sweep grep -Eq "lr sweep resumed: [1-3] of 4 rates already scored" "$CLI_TMP/run2.log"
check third_run_completes "$LBBT" run $EXP --out "$OUT" --threads 1 --no-reuse
id=$("$LBBT" inspect "$OUT" | awk '$2 == "complete" {print $1}')
check resumed_equals_clean same_run_items "$CLI_TMP/clean.h5" "$OUT" $id
check no_partial_left test ! -e "$OUT.partial"
