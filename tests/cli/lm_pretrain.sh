#!/usr/bin/env bash
# experiments/lm-pretrain.yaml, smoke tier, end to end: the loss decreases, the model folder
# and its snapshots are written, `lbbt model` reads it, `lbbt generate --prompt` continues
# text with it, a rerun is free, a run stopped with SIGTERM resumes to the same result, and
# experiments/pretrain-amount.yaml runs on the snapshots.
# The model folder goes to a temporary copy of the file (options.out rewritten).
# One thread: these models are tiny, and on a shared machine two threads mostly wait for
# each other at OpenMP barriers (results do not depend on the thread count).
source tests/cli/lib.bash
export OMP_NUM_THREADS=1
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent (the runner loads the run's images)"; exit 0; }
if [ ! -d /usr/share/games/fortunes ] && [ ! -f "${LBBT_CORPORA:-../shared/corpora}/tinyshakespeare.txt" ]; then
  skip all "no default corpus (install fortunes: tools/install-deps)"; exit 0
fi

OUT="$CLI_TMP/models/lm-smoke"
EXP="$CLI_TMP/lm-pretrain.yaml"
sed "s#out: models/lbbt-gpt2-fortunes-smoke#out: $OUT#" experiments/lm-pretrain.yaml >"$EXP"
grep -q "out: $OUT" "$EXP" || { echo "FAIL lm_pretrain.setup: smoke out path not found in the experiment"; exit 1; }

"$LBBT" run "$EXP" --tier smoke --out "$CLI_TMP/smoke.h5" --threads 1 >"$CLI_TMP/run.log" 2>&1
rc=$?
check runs test $rc -eq 0
[ $rc -eq 0 ] || tail -n 5 "$CLI_TMP/run.log"

# epoch lines: "... epoch 1/3: train loss 5.0326, val loss 4.2596 = 6.191 bits/byte, ..."
loss_decreases() {
  local first last
  first=$(grep -o 'epoch 1/[0-9]*: train loss [0-9.]*' "$CLI_TMP/run.log" | awk '{print $NF}')
  last=$(grep -o 'epoch \([0-9]*\)/\1: train loss [0-9.]*' "$CLI_TMP/run.log" | awk '{print $NF}')
  [ -n "$first" ] && [ -n "$last" ] || { echo "no epoch lines"; return 1; }
  awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }' || { echo "train loss $first -> $last"; return 1; }
}
check loss_decreases loss_decreases

# the record: validation bits per byte fall from ~8 (uniform over 257) and every measure is there
record_ok() {
  local line
  line=$("$LBBT" inspect "$CLI_TMP/smoke.h5" | grep complete) || return 1
  for k in val_bpb_init val_bpb_final unigram_entropy_bpb val_unigram_bpb tokens_per_s snapshot_val_bpb; do
    printf '%s' "$line" | grep -q "pretrain/$k=" || { echo "no pretrain/$k"; return 1; }
  done
  local init final
  init=$(printf '%s' "$line" | grep -o 'pretrain/val_bpb_init=[0-9.e+-]*' | cut -d= -f2)
  final=$(printf '%s' "$line" | grep -o 'pretrain/val_bpb_final=[0-9.e+-]*' | cut -d= -f2)
  awk -v a="$init" -v b="$final" 'BEGIN { exit !(a > 7.5 && b < a - 1) }' || { echo "val bpb $init -> $final"; return 1; }
}
check record_measures record_ok

folders_ok() {
  for d in "$OUT" "$OUT/step-0" "$OUT/step-23" "$OUT/step-45"; do
    for f in model.safetensors config.json lbbt_tokenizer.json lbbt_pretrain.json; do
      [ -s "$d/$f" ] || { echo "missing $d/$f"; return 1; }
    done
  done
}
check model_and_snapshots_written folders_ok
check model_loads expect_exit 0 'n_embd 32, n_layer 2, n_head 2.*n_positions 32, vocab 257' "$LBBT" model "$OUT"
check snapshot_loads expect_exit 0 '^plugin: gpt2' "$LBBT" model "$OUT/step-0"

generates_text() {
  local a b
  a=$("$LBBT" generate "$OUT" --prompt "The " --tokens 40 --temperature 0.8 --top-k 40 --seed 3) || return 1
  b=$("$LBBT" generate "$OUT" --prompt "The " --tokens 40 --temperature 0.8 --top-k 40 --seed 3) || return 1
  [ "$a" = "$b" ] || { echo "same seed, different text"; return 1; }
  case "$a" in "The "*) ;; *) echo "output does not start with the prompt: $a"; return 1 ;; esac
  [ "${#a}" -gt 20 ] || { echo "too little text: '$a'"; return 1; }
}
check generate_text generates_text
check generate_ids expect_exit 0 '^[0-9]+( [0-9]+){4}$' "$LBBT" generate "$OUT" --prompt-ids "84 104 101 32" --tokens 5
check prompt_needs_tokenizer expect_exit 2 'needs a tokenizer' "$LBBT" generate tests/fixtures/backbones/gpt2 --prompt "x"
check rerun_is_free expect_exit 0 'complete in .*skipped' "$LBBT" run "$EXP" --tier smoke --out "$CLI_TMP/smoke.h5"
sed 's/n_embd: 32/n_embed: 32/' "$EXP" >"$CLI_TMP/bad.yaml"
check bad_option expect_exit 2 "bad.yaml:[0-9]+:[0-9]+: stage 'pretrain' \(lm-pretrain\): unknown option 'n_embed'" \
  "$LBBT" run "$CLI_TMP/bad.yaml" --tier smoke --out "$CLI_TMP/bad.h5"

# experiments/pretrain-amount.yaml, smoke tier, on these snapshots: each loads as a vision
# backbone (init: language) and goes through bridge training and a linear probe.
sed "s#models/lbbt-gpt2-fortunes-smoke#$OUT#" experiments/pretrain-amount.yaml >"$CLI_TMP/amount.yaml"
amount_runs() {
  "$LBBT" run "$CLI_TMP/amount.yaml" --tier smoke --out "$CLI_TMP/amount.h5" --threads 1 >"$CLI_TMP/amount.log" 2>&1 ||
    { tail -n 3 "$CLI_TMP/amount.log"; return 1; }
  local n
  n=$("$LBBT" inspect "$CLI_TMP/amount.h5" | grep 'complete' | grep 'bridge/train_acc1=' | grep -c 'probe/test_acc1=')
  [ "$n" -eq 3 ] || { echo "$n of 3 snapshot runs have both accuracies"; return 1; }
}
check pretrain_amount_smoke amount_runs

# SIGTERM after the first epoch, rerun: the final validation loss equals the clean run's.
STOP_LOG="$CLI_TMP/stop.log"
: >"$STOP_LOG"
sed "s#out: $OUT#out: $CLI_TMP/models/lm-stop#" "$EXP" >"$CLI_TMP/stop.yaml"
"$LBBT" run "$CLI_TMP/stop.yaml" --tier smoke --out "$CLI_TMP/stop.h5" --threads 1 >"$STOP_LOG" 2>&1 &
pid=$!
for i in $(seq 1 1200); do grep -q 'epoch 1/3:' "$STOP_LOG" && break; sleep 0.05; done
kill -TERM $pid 2>/dev/null
wait $pid
resume_same() {
  "$LBBT" run "$CLI_TMP/stop.yaml" --tier smoke --out "$CLI_TMP/stop.h5" --threads 1 >"$STOP_LOG.2" 2>&1 || { tail -n 3 "$STOP_LOG.2"; return 1; }
  grep -q 'resuming after epoch' "$STOP_LOG.2" || { echo "did not resume"; return 1; }
  local a b
  a=$("$LBBT" inspect "$CLI_TMP/smoke.h5" | grep -o 'pretrain/val_loss_final=[0-9.e+-]*')
  b=$("$LBBT" inspect "$CLI_TMP/stop.h5" | grep -o 'pretrain/val_loss_final=[0-9.e+-]*')
  [ -n "$a" ] && [ "$a" = "$b" ] || { echo "clean $a, resumed $b"; return 1; }
}
if grep -q 'interrupted' "$STOP_LOG"; then
  check resume_after_sigterm resume_same
else
  skip resume_after_sigterm "the run finished before SIGTERM reached an epoch boundary"
fi
