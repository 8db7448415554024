#!/usr/bin/env bash
# experiments/lm-pretrain.yaml, smoke tier, end to end: the loss decreases, the model folder
# and its snapshots are written, `lbbt model` reads it, `lbbt generate --prompt` continues
# text with it, a rerun is free, a run stopped with SIGTERM resumes to the same result,
# experiments/pretrain-amount.yaml runs on the snapshots (named by fraction: frac-0.5/) and
# tools/plot/figure-pretrain-amount.py plots it, and `make models` reuses a model made by the
# same settings but retrains one made by other settings.
# The model folder goes to a temporary copy of the file (options.out rewritten).
# One thread: these models are tiny, and on a shared machine two threads mostly wait for
# each other at OpenMP barriers (results do not depend on the thread count).
source tests/cli/lib.bash
export OMP_NUM_THREADS=1
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
  for d in "$OUT" "$OUT/frac-0" "$OUT/frac-0.5" "$OUT/frac-1"; do
    for f in model.safetensors config.json lbbt_tokenizer.json lbbt_pretrain.json; do
      [ -s "$d/$f" ] || { echo "missing $d/$f"; return 1; }
    done
  done
}
check model_and_snapshots_written folders_ok
check no_step_folders test -z "$(ls -d "$OUT"/step-* 2>/dev/null)"

# each folder's lbbt_pretrain.json: the smoke tier is 3 epochs x 15 steps of 8 windows x 32
# tokens, so fraction 0.5 is step round(22.5) = 23 and 23 x 256 tokens; the run id is the
# one `lbbt check` computes from the experiment
RUN_ID=$("$LBBT" check "$EXP" --tier smoke 2>/dev/null | awk 'NR == 1 {print $1}')
pretrain_json() { # DIR FIELD VALUE: lbbt_pretrain.json of DIR has "FIELD": VALUE
  grep -Eq "\"$2\": $3,?\$" "$1/lbbt_pretrain.json" || { echo "$1: no \"$2\": $3 in"; cat "$1/lbbt_pretrain.json"; return 1; }
}
snapshot_json() {
  pretrain_json "$OUT/frac-0.5" snapshot '"frac-0.5"' && pretrain_json "$OUT/frac-0.5" fraction 0.5 &&
    pretrain_json "$OUT/frac-0.5" steps 23 && pretrain_json "$OUT/frac-0.5" tokens_seen 5888 &&
    pretrain_json "$OUT/frac-0.5" steps_total 45 && pretrain_json "$OUT/frac-0" steps 0 &&
    pretrain_json "$OUT/frac-0" tokens_seen 0 && pretrain_json "$OUT/frac-1" steps 45 &&
    pretrain_json "$OUT" fraction 1.0 && pretrain_json "$OUT" run_id "\"$RUN_ID\""
}
check snapshot_json snapshot_json
snapshots_recorded() {
  "$LBBT" inspect "$CLI_TMP/smoke.h5" | grep complete | grep -q 'pretrain/snapshot_fraction=' || { echo "no pretrain/snapshot_fraction"; return 1; }
}
check snapshots_recorded snapshots_recorded
check model_loads expect_exit 0 'n_embd 32, n_layer 2, n_head 2.*n_positions 32, vocab 257' "$LBBT" model "$OUT"
check snapshot_loads expect_exit 0 '^plugin: gpt2' "$LBBT" model "$OUT/frac-0"

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
sed 's/snapshots: "0,0.5,1"/snapshots: "0,0.5,0.50"/' "$EXP" >"$CLI_TMP/dup.yaml"
check snapshot_named_twice expect_exit 2 "dup.yaml:[0-9]+:[0-9]+: .*snapshots: '0,0.5,0.50' names the folder frac-0.5 twice" \
  "$LBBT" run "$CLI_TMP/dup.yaml" --tier smoke --dry-run --out "$CLI_TMP/dup.h5"
check bad_option expect_exit 2 "bad.yaml:[0-9]+:[0-9]+: unknown key 'n_embed' in the options of stage 'pretrain' \(task 'lm-pretrain'\); did you mean 'n_embd'\?" \
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

# its plot (tools/plot/figure-pretrain-amount.py, as `make figure-pretrain-amount` draws it)
PY=/usr/bin/python3
is_png() { # FILE: exists, non-trivial, PNG signature
  [ -s "$1" ] || { echo "no $1"; return 1; }
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "$1 is not a PNG"; return 1; }
  [ "$(stat -c %s "$1")" -gt 20000 ] || { echo "$1 is suspiciously small"; return 1; }
}
if $PY -c "import h5py, matplotlib" 2>/dev/null; then
  amount_plot() {
    $PY tools/plot/figure-pretrain-amount.py "$CLI_TMP/amount.h5" "$CLI_TMP/amount.png" >"$CLI_TMP/plot.log" 2>&1 ||
      { tail -n 3 "$CLI_TMP/plot.log"; return 1; }
    is_png "$CLI_TMP/amount.png"
  }
  check pretrain_amount_plot amount_plot
else
  skip pretrain_amount_plot "python3-h5py or python3-matplotlib absent (tools/install-deps installs them)"
fi

# SIGTERM after the first epoch, rerun: the final validation loss equals that of the same
# run left alone.  Its epochs are made long (400 steps, not 15) so that the signal, sent once
# epoch 1's line appears, lands inside epoch 2 rather than after the run's end.
STOP_LOG="$CLI_TMP/stop.log"
: >"$STOP_LOG"
sed -e "s#out: $OUT#out: $CLI_TMP/models/lm-stop#" -e "s#steps_per_epoch: 15#steps_per_epoch: 400#" "$EXP" >"$CLI_TMP/stop.yaml"
sed -e "s#out: $OUT#out: $CLI_TMP/models/lm-nostop#" -e "s#steps_per_epoch: 15#steps_per_epoch: 400#" "$EXP" >"$CLI_TMP/nostop.yaml"
"$LBBT" run "$CLI_TMP/nostop.yaml" --tier smoke --out "$CLI_TMP/nostop.h5" --threads 1 >"$CLI_TMP/nostop.log" 2>&1
"$LBBT" run "$CLI_TMP/stop.yaml" --tier smoke --out "$CLI_TMP/stop.h5" --threads 1 >"$STOP_LOG" 2>&1 &
pid=$!
for i in $(seq 1 1200); do grep -q 'epoch 1/3:' "$STOP_LOG" && break; sleep 0.05; done
kill -TERM $pid 2>/dev/null
wait $pid
resume_same() {
  "$LBBT" run "$CLI_TMP/stop.yaml" --tier smoke --out "$CLI_TMP/stop.h5" --threads 1 >"$STOP_LOG.2" 2>&1 || { tail -n 3 "$STOP_LOG.2"; return 1; }
  grep -q 'resuming after epoch' "$STOP_LOG.2" || { echo "did not resume"; return 1; }
  local a b
  a=$("$LBBT" inspect "$CLI_TMP/nostop.h5" | grep -o 'pretrain/val_loss_final=[0-9.e+-]*')
  b=$("$LBBT" inspect "$CLI_TMP/stop.h5" | grep -o 'pretrain/val_loss_final=[0-9.e+-]*')
  [ -n "$a" ] && [ "$a" = "$b" ] || { echo "clean $a, resumed $b"; return 1; }
}
if grep -q 'interrupted' "$STOP_LOG"; then
  check resume_after_sigterm resume_same
else
  skip resume_after_sigterm "the run finished before SIGTERM reached an epoch boundary"
fi

# `make models-lm` (the language-model half of `make models`) on this model: free while lbbt_pretrain.json names the experiment's run id;
# retrained from scratch when it names another (a model made by other settings).
make_models() {
  make --no-print-directory -s -o all models-lm TIER=smoke THREADS=1 BUILD="${LBBT_BUILD:-build}" \
    LM_EXPERIMENT="$EXP" LM_MODEL="$OUT" LM_RESULTS="$CLI_TMP/smoke.h5" 2>&1
}
models_cached() {
  local out
  out=$(make_models) || { echo "$out" | tail -n 3; return 1; }
  printf '%s' "$out" | grep -q 'complete in .*skipped' || { echo "not skipped: $out" | tail -n 3; return 1; }
  printf '%s' "$out" | grep -q "model: $OUT" || { echo "no model line: $out" | tail -n 3; return 1; }
}
check make_models_cached models_cached
models_stale() {
  sed -i "s/\"run_id\": \"$RUN_ID\"/\"run_id\": \"0123456789abcdef\"/" "$OUT/lbbt_pretrain.json"
  mkdir -p "$OUT/step-23" # a folder of the old naming: gone after the rebuild
  local out
  out=$(make_models) || { echo "$out" | tail -n 3; return 1; }
  printf '%s' "$out" | grep -q "was made by run 0123456789abcdef.* is now run $RUN_ID: removing it" ||
    { echo "stale model not detected: $out" | tail -n 3; return 1; }
  printf '%s' "$out" | grep -q 'epoch 3/3' || { echo "not retrained"; return 1; }
  [ ! -e "$OUT/step-23" ] || { echo "the stale folder's contents survived"; return 1; }
  pretrain_json "$OUT" run_id "\"$RUN_ID\"" && folders_ok
}
check make_models_rebuilds_stale models_stale
