#!/usr/bin/env bash
# A run is "complete" only for the checkpoint bytes it ran from: every run records the
# checkpoint's sha256 (model/checkpoint_sha256), and rerunning after the checkpoint changed
# at the same path (e.g. `make models` retrained it) runs it again instead of reusing it.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
CKPT="$CLI_TMP/ckpt"
cp -r tests/fixtures/backbones/gpt2 "$CKPT"
cat > "$CLI_TMP/exp.yaml" <<YAML
experiment: checkpoint-change
base:
  seed: 0
  backbone: {plugin: gpt2, checkpoint: $CKPT, init: language, patch_size: 7, pool: mean}
  data: {dataset: fashion-mnist, limit: 50, test_limit: 50}
  stages:
    - {name: bridge, task: classification, labels: random, epochs: 1, batch_size: 25}
YAML
OUT="$CLI_TMP/r.h5"
check first_run "$LBBT" run "$CLI_TMP/exp.yaml" --out "$OUT" --threads 1
id=$("$LBBT" check "$CLI_TMP/exp.yaml" 2>/dev/null | awk 'NR==1{print $1}')
if command -v h5dump >/dev/null; then
  check records_fingerprint bash -c "h5dump -a /runs/$id/model/checkpoint_sha256 '$OUT' | grep -Eq '\"[0-9a-f]{64}\"'"
else skip records_fingerprint "h5dump absent"; fi
check unchanged_skips bash -c "'$LBBT' run '$CLI_TMP/exp.yaml' --out '$OUT' 2>&1 | grep -q '0 runs done now, 1 already complete'"
# Same path, other bytes (the model loads the same; only the bytes differ).
printf '\n' >> "$CKPT/config.json"
"$LBBT" run "$CLI_TMP/exp.yaml" --out "$OUT" --threads 1 > "$CLI_TMP/log" 2>&1
check changed_reruns grep -q 'changed since it ran' "$CLI_TMP/log"
check changed_counted grep -q '1 runs done now, 0 already complete' "$CLI_TMP/log"
check then_skips bash -c "'$LBBT' run '$CLI_TMP/exp.yaml' --out '$OUT' 2>&1 | grep -q '0 runs done now, 1 already complete'"
check one_run_kept bash -c "'$LBBT' inspect '$OUT' | grep -c 'complete' | grep -qx 1"
# A missing checkpoint is an input error naming it.
rm -rf "$CKPT"
check missing_checkpoint expect_exit 2 "ckpt" "$LBBT" run "$CLI_TMP/exp.yaml" --out "$OUT"
