#!/usr/bin/env bash
# lbbt fsck (issue 20, class 11): a truncated results file lost every completed run (lbbt
# refused it as a whole); fsck reports each run and salvages the intact ones into a new
# file, from which `lbbt run` computes only the lost runs.
source tests/cli/lib.bash
check fsck_missing_file_bad_input expect_exit 2 "cannot|No such" "$LBBT" fsck "$CLI_TMP/absent.h5"
echo "not a results file" >"$CLI_TMP/text.h5"
check fsck_text_file_bad_input expect_exit 2 "not an HDF5 file" "$LBBT" fsck "$CLI_TMP/text.h5"
check fsck_usage_bad_input expect_exit 2 "usage: lbbt fsck" "$LBBT" fsck
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  skip fsck_runs "Fashion-MNIST absent"
  exit 0
fi
OUT="$CLI_TMP/three.h5"
if ! "$LBBT" run tests/cli/fixtures/three_runs.yaml --out "$OUT" --threads 1 >"$CLI_TMP/run.log" 2>&1; then
  echo "FAIL $cli_name.fsck_runs: $(tail -n 3 "$CLI_TMP/run.log" | tr '\n' ' ')"
  exit 0
fi
check fsck_clean_file expect_exit 0 "3 runs: 3 ok, 0 damaged, 0 unreadable" "$LBBT" fsck "$OUT"
size=$(stat -c %s "$OUT")
head -c $((size * 3 / 4)) "$OUT" >"$CLI_TMP/cut.h5"
check truncated_file_refused_by_inspect expect_exit 2 "truncated" "$LBBT" inspect "$CLI_TMP/cut.h5"
check fsck_reports_truncation expect_exit 1 "file: truncated: [0-9]+ of the $size bytes" "$LBBT" fsck "$CLI_TMP/cut.h5"
check fsck_salvages expect_exit 1 "salvaged [12] intact runs? of 3 into" \
  "$LBBT" fsck "$CLI_TMP/cut.h5" --salvage "$CLI_TMP/salvaged.h5"
check salvaged_file_is_clean expect_exit 0 "runs?: ([12]) ok, 0 damaged" "$LBBT" fsck "$CLI_TMP/salvaged.h5"
check salvage_refuses_existing expect_exit 2 "already exists" \
  "$LBBT" fsck "$CLI_TMP/cut.h5" --salvage "$CLI_TMP/salvaged.h5"
# the salvaged runs are kept; `lbbt run` computes only the lost ones, and the numbers agree
kept=$("$LBBT" fsck "$CLI_TMP/salvaged.h5" | sed -n 's/.*runs\?: \([0-9]\) ok.*/\1/p')
mkdir "$CLI_TMP/alone" # no sibling results file to copy runs from
cp "$CLI_TMP/salvaged.h5" "$CLI_TMP/alone/resumed.h5"
check run_completes_salvaged expect_exit 0 "$((3 - kept)) runs done now, $kept already complete" \
  "$LBBT" run tests/cli/fixtures/three_runs.yaml --out "$CLI_TMP/alone/resumed.h5" --threads 1
ids=$("$LBBT" fsck "$OUT" | awk '$1 == "ok" {print $2}')
# shellcheck disable=SC2086
check salvaged_runs_unchanged same_run_items "$OUT" "$CLI_TMP/alone/resumed.h5" $ids
