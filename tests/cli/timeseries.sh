#!/usr/bin/env bash
# lbbt's time-series T5 and Table 13, smoke tier, end to end:
#   - experiments/ts-pretrain.yaml (a temporary copy writing into $CLI_TMP): the held-out loss
#     falls, the record has the forecasting errors (MASE of the model and of the seasonal-naive
#     and naive baselines), the model folder and snapshots are Hugging Face T5ForConditionalGeneration
#     checkpoints with a chronos_config that `lbbt model` reads through the chronos_t5
#     backbone, a rerun is free, and a run stopped with SIGTERM resumes to the same result;
#   - experiments/table-13.yaml renders every metric for every row (both smoke models built
#     as `make models TIER=smoke` builds them: models/*-smoke, gitignored);
#   - bad input exits 2 naming the file and line: a wrong option value, windows longer than
#     the series, a missing model folder.
source tests/cli/lib.bash
export OMP_NUM_THREADS=1
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }

OUT="$CLI_TMP/models/ts-smoke"
EXP="$CLI_TMP/ts-pretrain.yaml"
sed "s#out: models/lbbt-chronos-t5-smoke#out: $OUT#" experiments/ts-pretrain.yaml >"$EXP"
grep -q "out: $OUT" "$EXP" || { echo "FAIL timeseries.setup: smoke out path not found in the experiment"; exit 1; }

"$LBBT" run "$EXP" --tier smoke --out "$CLI_TMP/ts.h5" --threads 1 >"$CLI_TMP/ts.log" 2>&1
rc=$?
check ts_pretrain_runs test $rc -eq 0
[ $rc -eq 0 ] || tail -n 5 "$CLI_TMP/ts.log"

item() { # KEY -> the value of pretrain/KEY in the complete run's line
  "$LBBT" inspect "$CLI_TMP/ts.h5" | grep complete | grep -o "pretrain/$1=[0-9.e+-]*" | cut -d= -f2
}
record_ok() {
  for k in val_loss_init val_loss_final mase_model mase_model_init mase_seasonal_naive mase_naive \
           mase_ratio mase_windows params encoder_params snapshot_val_loss; do
    [ -n "$(item "$k")" ] || { echo "no pretrain/$k"; return 1; }
  done
  local a b
  a=$(item val_loss_init) b=$(item val_loss_final)
  awk -v a="$a" -v b="$b" 'BEGIN { exit !(b < a) }' || { echo "val loss $a -> $b"; return 1; }
  # the baselines are finite, positive errors on the same windows
  awk -v s="$(item mase_seasonal_naive)" -v n="$(item mase_naive)" 'BEGIN { exit !(s > 0 && n > 0) }'
}
check loss_falls_and_forecasts_recorded record_ok

folders_ok() {
  for d in "$OUT" "$OUT/frac-0" "$OUT/frac-0.5" "$OUT/frac-1"; do
    for f in model.safetensors config.json lbbt_pretrain.json; do
      [ -s "$d/$f" ] || { echo "missing $d/$f"; return 1; }
    done
    grep -q '"T5ForConditionalGeneration"' "$d/config.json" || { echo "$d: not a T5ForConditionalGeneration config"; return 1; }
    grep -q '"chronos_config"' "$d/config.json" || { echo "$d: no chronos_config"; return 1; }
  done
}
check model_and_snapshots_written folders_ok
check model_reads_as_chronos_t5 expect_exit 0 'plugin: chronos_t5' "$LBBT" model "$OUT"
check rerun_is_free expect_exit 0 'already complete' "$LBBT" run "$EXP" --tier smoke --out "$CLI_TMP/ts.h5" --threads 1

# SIGTERM after the first epoch, rerun: the final loss and forecasts equal those of the same
# run left alone (epochs made long, 150 steps, so that the signal lands inside epoch 2).
STOP_LOG="$CLI_TMP/ts-stop.log"
: >"$STOP_LOG"
sed -e "s#out: $OUT#out: $CLI_TMP/models/ts-stop#" -e "s#steps_per_epoch: 10#steps_per_epoch: 150#" "$EXP" >"$CLI_TMP/ts-stop.yaml"
sed -e "s#out: $OUT#out: $CLI_TMP/models/ts-nostop#" -e "s#steps_per_epoch: 10#steps_per_epoch: 150#" "$EXP" >"$CLI_TMP/ts-nostop.yaml"
"$LBBT" run "$CLI_TMP/ts-nostop.yaml" --tier smoke --out "$CLI_TMP/ts-nostop.h5" --threads 1 >"$CLI_TMP/ts-nostop.log" 2>&1
"$LBBT" run "$CLI_TMP/ts-stop.yaml" --tier smoke --out "$CLI_TMP/ts-stop.h5" --threads 1 >"$STOP_LOG" 2>&1 &
pid=$!
for i in $(seq 1 2400); do grep -q 'epoch 1/2:' "$STOP_LOG" && break; sleep 0.05; done
kill -TERM $pid 2>/dev/null
wait $pid
resume_same() {
  "$LBBT" run "$CLI_TMP/ts-stop.yaml" --tier smoke --out "$CLI_TMP/ts-stop.h5" --threads 1 >"$STOP_LOG.2" 2>&1 ||
    { tail -n 3 "$STOP_LOG.2"; return 1; }
  grep -q 'resuming after epoch' "$STOP_LOG.2" || { echo "did not resume"; return 1; }
  local k a b
  for k in val_loss_final mase_model; do
    a=$("$LBBT" inspect "$CLI_TMP/ts-nostop.h5" | grep -o "pretrain/$k=[0-9.e+-]*")
    b=$("$LBBT" inspect "$CLI_TMP/ts-stop.h5" | grep -o "pretrain/$k=[0-9.e+-]*")
    [ -n "$a" ] && [ "$a" = "$b" ] || { echo "clean $a, resumed $b"; return 1; }
  done
}
if grep -q 'interrupted' "$STOP_LOG"; then
  check resume_after_sigterm resume_same
else
  skip resume_after_sigterm "the run finished before SIGTERM reached an epoch boundary"
fi

# ---- Table 13 at the smoke tier -------------------------------------------------------------
ensure_smoke_ts() {
  local model=models/lbbt-chronos-t5-smoke
  [ -f "$model/model.safetensors" ] && return 0
  "$LBBT" run experiments/ts-pretrain.yaml --tier smoke --threads 1 --out "$CLI_TMP/ts-pretrain-smoke.h5" \
    >"$CLI_TMP/ts-pretrain-smoke.log" 2>&1 && [ -f "$model/model.safetensors" ] && return 0
  tail -n 3 "$CLI_TMP/ts-pretrain-smoke.log" | tr '\n' ' '
  return 1
}
check smoke_models ensure_smoke_lm
check smoke_ts_model ensure_smoke_ts
"$LBBT" run experiments/table-13.yaml --tier smoke --threads 1 --out "$CLI_TMP/t13.h5" >"$CLI_TMP/t13.log" 2>&1
rc=$?
check table13_runs test $rc -eq 0
[ $rc -eq 0 ] || tail -n 5 "$CLI_TMP/t13.log"
table_complete() {
  mkdir -p "$CLI_TMP/md"
  "$LBBT" table 13 --tier smoke --results "$CLI_TMP/t13.h5" --out-dir "$CLI_TMP/md" >/dev/null || return 1
  local md="$CLI_TMP/md/table-13-smoke.md" rows
  # every row of paper-tables/table-13.yaml, with both lbbt cells (train, test) filled
  rows=$(grep -c '^  - id:' paper-tables/table-13.yaml)
  [ "$(grep -c '(n=1) | [0-9.]* (n=1) |$' "$md")" -eq "$rows" ] ||
    { echo "$(grep -c '(n=1) | [0-9.]* (n=1) |$' "$md") of $rows rows have both cells"; grep '—' "$md" | head -3; return 1; }
  grep -q 'fashion-mnist train_acc1' "$md" && grep -q 'fashion-mnist test_acc1' "$md"
}
check table13_every_metric_every_row table_complete

# ---- bad input ------------------------------------------------------------------------------
sed 's#^            d_ff: 64$#            feed_forward_proj: swish#' "$EXP" >"$CLI_TMP/bad-ffn.yaml"
check bad_option_value_exits_2 expect_exit 2 "bad-ffn.yaml:[0-9]+:[0-9]+.*feed_forward_proj.*swish" \
  "$LBBT" check "$CLI_TMP/bad-ffn.yaml" --tier smoke
sed 's#^        horizon: 16#        horizon: 1000#' "$EXP" >"$CLI_TMP/bad-window.yaml"
check window_longer_than_series_exits_2 expect_exit 2 "bad-window.yaml:[0-9]+:[0-9]+.*context.*series_length" \
  "$LBBT" check "$CLI_TMP/bad-window.yaml" --tier cpu
sed 's#models/lbbt-chronos-t5-smoke#models/no-such-t5#' experiments/table-13.yaml >"$CLI_TMP/missing.yaml"
check missing_model_exits_2 expect_exit 2 "missing.yaml:[0-9]+:[0-9]+.*no-such-t5.*does not exist" \
  "$LBBT" run "$CLI_TMP/missing.yaml" --tier smoke --out "$CLI_TMP/missing.h5"
