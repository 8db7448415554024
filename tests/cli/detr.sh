#!/usr/bin/env bash
# The detr task end to end (plugins/tasks/detr.c): a tiny experiment trains a detector on the
# blocks of a small scratch GPT-2 and records COCOeval's 12 numbers (in range); its exported
# COCO instances and results files, scored by the independent numpy COCOeval
# (tests/reference/coco_files_score.py, reading them as pycocotools does), give the recorded
# numbers; a run killed (SIGKILL) after an epoch's checkpoint resumes to the same numbers;
# bad input exits 2 naming the file and line.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }

write_exp() { # write_exp FILE EPOCHS EXPORT_DIR
  cat >"$1" <<EOF
experiment: detr-test
base:
  seed: 0
  backbone: {plugin: gpt2, init: scratch, patch_size: 4, pool: mean, options: {n_embd: 32, n_layer: 2, n_head: 2}}
  data:
    dataset: fashion-mnist-detection
    limit: 48
    test_limit: 16
    options: {canvas: 32, min_items: 1, max_items: 3, min_side: 3, max_side: 24, max_iou: 0.3}
  stages:
    - {name: detr, task: detr, epochs: $2, batch_size: 16, lr: 0.001, weight_decay: 0.0001, clip: 0.1,
       warmup_epochs: 1, queries: 5, export: "$3"}
EOF
}
STATS="AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs ARm ARl"
EXP="$CLI_TMP/detr.yaml"
write_exp "$EXP" 4 "$CLI_TMP/coco"
check run "$LBBT" run "$EXP" --out "$CLI_TMP/a.h5" --threads 2
ID=$("$LBBT" check "$EXP" 2>/dev/null | awk 'NR == 1 {print $1}')
# stat NAME FILE: the recorded value of detr/NAME
stat() { "$LBBT" inspect "$2" --run "$ID" | sed -n "s#^  detr/$1 = ##p"; }

metrics_in_range() {
  local s v
  for s in $STATS; do
    v=$(stat "$s" "$CLI_TMP/a.h5")
    [ -n "$v" ] || { echo "detr/$s missing"; return 1; }
    awk -v v="$v" 'BEGIN { exit !(v == -1 || (v >= 0 && v <= 100)) }' || { echo "detr/$s = $v out of range"; return 1; }
  done
  [ "$(stat eval_images "$CLI_TMP/a.h5")" = 16 ] || { echo "eval_images"; return 1; }
  "$LBBT" inspect "$CLI_TMP/a.h5" --run "$ID" | grep -q "detr/figure/images = f32\[8x32x32\]" || { echo "figure images"; return 1; }
  "$LBBT" inspect "$CLI_TMP/a.h5" --run "$ID" | grep -q "detr/loss_giou = series of 4" || { echo "loss series"; return 1; }
}
check metrics_in_range metrics_in_range
check export_files test -s "$CLI_TMP/coco/$ID-instances.json" -a -s "$CLI_TMP/coco/$ID-results.json"

# The exported files hold every detection (16 images x 5 queries) and the ground truth, and an
# independent COCOeval of them gives the recorded numbers.
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  export_scores() {
    local ref s i=0 want
    ref=$(/usr/bin/python3 tests/reference/coco_files_score.py "$CLI_TMP/coco/$ID-instances.json" \
          "$CLI_TMP/coco/$ID-results.json" 32) || return 1
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(len(d) != 80)" \
      "$CLI_TMP/coco/$ID-results.json" || { echo "not 80 detections"; return 1; }
    for s in $STATS; do
      i=$((i + 1))
      want=$(stat "$s" "$CLI_TMP/a.h5")
      awk -v r="$(echo "$ref" | sed -n "${i}p")" -v w="$want" \
        'BEGIN { x = (r < 0 ? r : 100 * r); d = x - w; exit !(d < 1e-9 && d > -1e-9) }' ||
        { echo "$s: reference $(echo "$ref" | sed -n "${i}p"), recorded $want"; return 1; }
    done
  }
  check export_scored_independently export_scores
else
  skip export_scored_independently "python3-numpy absent (tools/install-deps installs it with python3-h5py)"
fi

# SIGKILL once the second epoch has started (the first epoch's checkpoint is written before
# it starts), then rerun: it resumes and ends with the uninterrupted run's numbers.
write_exp "$CLI_TMP/long.yaml" 8 ""
"$LBBT" run "$CLI_TMP/long.yaml" --out "$CLI_TMP/clean.h5" --threads 2 >/dev/null 2>&1
"$LBBT" run "$CLI_TMP/long.yaml" --out "$CLI_TMP/killed.h5" --threads 2 --no-reuse >"$CLI_TMP/kill.log" 2>&1 &
pid=$!
for i in $(seq 1 2400); do grep -q 'epoch 2/8:' "$CLI_TMP/kill.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
resume_same() {
  "$LBBT" run "$CLI_TMP/long.yaml" --out "$CLI_TMP/killed.h5" --threads 2 --no-reuse >"$CLI_TMP/kill2.log" 2>&1 ||
    { tail -n 3 "$CLI_TMP/kill2.log"; return 1; }
  grep -q 'resuming after epoch' "$CLI_TMP/kill2.log" || { echo "did not resume"; return 1; }
  local lid s a b
  lid=$("$LBBT" check "$CLI_TMP/long.yaml" 2>/dev/null | awk 'NR == 1 {print $1}')
  for s in $STATS; do
    a=$("$LBBT" inspect "$CLI_TMP/clean.h5" --run "$lid" | sed -n "s#^  detr/$s = ##p")
    b=$("$LBBT" inspect "$CLI_TMP/killed.h5" --run "$lid" | sed -n "s#^  detr/$s = ##p")
    [ -n "$a" ] && [ "$a" = "$b" ] || { echo "$s: clean '$a', resumed '$b'"; return 1; }
  done
}
if [ -s "$CLI_TMP/killed.h5" ] && "$LBBT" inspect "$CLI_TMP/killed.h5" | grep -q complete; then
  skip resume_after_kill "the run finished before SIGKILL"
else
  check resume_after_kill resume_same
fi

# Bad input: a wrong option value and a non-detection dataset exit 2 naming file and line.
sed 's/queries: 5/queries: 0/' "$EXP" >"$CLI_TMP/bad_queries.yaml"
check bad_option_value expect_exit 2 'bad_queries.yaml:[0-9]+:[0-9]+:.*queries' "$LBBT" run "$CLI_TMP/bad_queries.yaml" --out "$CLI_TMP/bad.h5"
sed 's/cross_init: copy/cross_init: copied/; s/queries: 5,/queries: 5, cross_init: copied,/' "$EXP" >"$CLI_TMP/bad_cross.yaml"
check bad_option_name expect_exit 2 'bad_cross.yaml:[0-9]+:[0-9]+:.*cross_init' "$LBBT" run "$CLI_TMP/bad_cross.yaml" --out "$CLI_TMP/bad.h5"
sed 's/queries: 5/queries: 2/' "$EXP" >"$CLI_TMP/few_queries.yaml"
check too_few_queries expect_exit 2 'few_queries.yaml:[0-9]+:[0-9]+: stage .detr.: queries: an image of the training data has 3 objects' \
  "$LBBT" run "$CLI_TMP/few_queries.yaml" --out "$CLI_TMP/bad.h5"
sed 's/dataset: fashion-mnist-detection/dataset: fashion-mnist/; s/    options: {canvas.*//' "$EXP" >"$CLI_TMP/bad_data.yaml"
check class_dataset expect_exit 2 'bad_data.yaml.*(box|detection)' "$LBBT" run "$CLI_TMP/bad_data.yaml" --out "$CLI_TMP/bad.h5"
