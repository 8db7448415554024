#!/usr/bin/env bash
# Diverged runs (issue 20, classes 6 and 11): a run at an absurd learning rate finished
# "complete" with a loss of 1e6 (or, on a NaN, stopped every remaining run of the
# experiment).  Now it is recorded as diverged, naming stage, epoch and step; the other runs
# go on; it counts as done; tables show "diverged", not a number.
source tests/cli/lib.bash
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  skip diverged_runs "Fashion-MNIST absent"
  exit 0
fi
FIX=tests/cli/fixtures/diverged
OUT="$CLI_TMP/diverged.h5"
check run_goes_on_after_divergence expect_exit 0 "1 of the runs done now diverged" \
  "$LBBT" run "$FIX/experiment.yaml" --out "$OUT" --threads 1
check divergence_names_stage_and_step expect_exit 0 "diverged/reason = \"stage 'bridge', epoch 1 \(step [0-9]+\): mean training loss" \
  bash -c "\"$LBBT\" inspect \"$OUT\" --run \$(\"$LBBT\" inspect \"$OUT\" | awk '\$2 == \"diverged\" {print \$1}')"
check sane_run_complete expect_exit 0 "complete  stages.bridge.lr=0.001" "$LBBT" inspect "$OUT"
check diverged_run_is_done expect_exit 0 "0 runs done now, 2 already complete" \
  "$LBBT" run "$FIX/experiment.yaml" --out "$OUT" --threads 1
mkdir -p "$CLI_TMP/md"
check table_shows_diverged expect_exit 0 "" \
  "$LBBT" table 91 --tier cpu --paper-tables "$FIX/paper-tables" --results "$OUT" --out-dir "$CLI_TMP/md"
md=$(ls "$CLI_TMP"/md/table-91*.md 2>/dev/null | head -n 1)
check absurd_row_diverged grep -Eq "Absurd learning rate.*\| diverged \(1 run\)" "$md"
check sane_row_number grep -Eq "Sane learning rate.*\| [0-9.]+ \(n=1\)" "$md"
check csv_diverged grep -q ",diverged,,1," "${md%.md}.csv"
