#!/usr/bin/env bash
# Table 7 end to end at the smoke tier: the `ssl` task's three pretext methods (rotation, mae,
# simclr) and the bridge arms, each followed by the same linear probe; the rendered table has
# a reproduced train and test cell for every row; the pretext stages record what they
# trained; the Table 7 claims get verdicts; bad input exits 2 naming file:line:col.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
export OMP_NUM_THREADS=1
R="$CLI_TMP/results"
mkdir -p "$R"

# every row of the rendered table holds two reproduced cells (train and test top-1)
every_row_has_both_metrics() { # MD
  local md=$1
  [ -s "$md" ] || { echo "no $md"; return 1; }
  /usr/bin/python3 - "$md" <<'PY'
import sys, yaml
md = open(sys.argv[1]).read()
rows = yaml.safe_load(open("paper-tables/table-7.yaml"))["rows"]
bad = []
for r in rows:
    line = next((l for l in md.splitlines() if l.startswith(f"| {r['label']} |")), None)
    if line is None or line.count("(n=1)") != 2:
        bad.append(r["id"])
if bad: print("rows without both cells:", bad); sys.exit(1)
PY
}

# the pretext stage of the run selected by METHOD recorded a finite loss and its pretext
# accuracy (absent for mae, which has none), and its probe ran
pretext_recorded() { # H5 METHOD
  local line
  line=$("$LBBT" inspect "$1" | grep "stages.pretext.method=$2 ") || { echo "no $2 run"; return 1; }
  echo "$line" | grep -Eq 'pretext/train_loss=[0-9.]+ ' || { echo "loss: $line"; return 1; }
  echo "$line" | grep -Eq 'pretext/pretext_params=[1-9]' || { echo "no pretext head: $line"; return 1; }
  echo "$line" | grep -Eq 'probe/test_acc1=[0-9.]+' || { echo "no probe: $line"; return 1; }
  echo "$line" | grep -q 'complete ' || { echo "not complete: $line"; return 1; }
  if [ "$2" = mae ]; then ! echo "$line" | grep -q 'pretext/train_acc1=' || { echo "mae acc: $line"; return 1; }
  else echo "$line" | grep -Eq 'pretext/train_acc1=[0-9.]+ ' || { echo "acc: $line"; return 1; }; fi
}

lm_log=$(ensure_smoke_lm) || echo "FAIL ssl.smoke_lm_model: $lm_log"
if "$LBBT" run experiments/table-7.yaml --tier smoke --threads 1 --out "$R/table-7-smoke.h5" >"$CLI_TMP/run.log" 2>&1; then
  echo "PASS ssl.smoke_runs"
  check render "$LBBT" table 7 --tier smoke --results "$R/table-7-smoke.h5" --out-dir "$R"
  check every_row_has_train_and_test every_row_has_both_metrics "$R/table-7-smoke.md"
  for m in rotation mae simclr; do check "pretext_$m" pretext_recorded "$R/table-7-smoke.h5" "$m"; done
  # the three Table 7 claims are read (one seed per row at the smoke tier: too few seeds)
  if "$LBBT" verdicts --tier smoke --results-dir "$R" >"$CLI_TMP/verdicts.out" 2>&1; then
    for c in rotation mae simclr; do
      check "claim_$c" grep -q "Claim \`lbbt_probes_as_well_as_$c\`" "$R/verdicts-smoke.md"
    done
    check claims_too_few_seeds grep -q '^\*\*Verdict: too few seeds\*\*' \
      <(grep -A 30 'lbbt_probes_as_well_as_rotation' "$R/verdicts-smoke.md" | grep -m1 '^\*\*Verdict: ')
  else
    echo "FAIL ssl.verdicts: $(tail -n 3 "$CLI_TMP/verdicts.out" | tr '\n' ' ')"
  fi
else
  echo "FAIL ssl.smoke_runs: $(tail -n 3 "$CLI_TMP/run.log" | tr '\n' ' ')"
fi

# ---- each pretext task learns: on lbbt's smoke GPT-2 from scratch (fast), 1,000 images and
# four epochs, rotation's accuracy rises above chance (25%) and MAE's and SimCLR's losses fall
cat >"$CLI_TMP/learn.yaml" <<'YAML'
experiment: ssl-learn
base:
  seed: 0
  backbone: {plugin: gpt2, checkpoint: models/lbbt-gpt2-fortunes-smoke, init: scratch, patch_size: 4, pool: mean}
  data: {dataset: fashion-mnist, limit: 1000, test_limit: 100}
  stages:
    - {name: pretext, task: ssl, method: rotation, epochs: 4, batch_size: 50, lr: 0.003, weight_decay: 0.0,
       drop_path: 0.0, clip: 1.0, warmup_epochs: 0}
matrix:
  stages.pretext.method: [rotation, mae, simclr]
YAML
# the pretext loss / accuracy of METHOD at epoch E, from the progress lines
epoch_value() { # LOG METHOD EPOCH loss|acc
  sed -n "s/.*($2) epoch $3\/4: pretext loss \([0-9.]*\) acc \([0-9.na]*\)%.*/\1 \2/p" "$1" |
    awk -v w="$4" '{ print (w == "loss" ? $1 : $2) }'
}
learns() { # LOG
  local r1 r4 m1 m4 s1 s4
  r1=$(epoch_value "$1" rotation 1 acc); r4=$(epoch_value "$1" rotation 4 acc)
  m1=$(epoch_value "$1" mae 1 loss); m4=$(epoch_value "$1" mae 4 loss)
  s1=$(epoch_value "$1" simclr 1 loss); s4=$(epoch_value "$1" simclr 4 loss)
  echo "rotation acc $r1 -> $r4, mae loss $m1 -> $m4, simclr loss $s1 -> $s4"
  awk -v r1="$r1" -v r4="$r4" -v m1="$m1" -v m4="$m4" -v s1="$s1" -v s4="$s4" \
    'BEGIN { exit !(r1 != "" && r4 > 33 && r4 > r1 + 3 && m4 < 0.9 * m1 && s4 < s1) }'
}
if [ -z "${lm_log:-}" ] &&
   "$LBBT" run "$CLI_TMP/learn.yaml" --threads 1 --out "$CLI_TMP/learn.h5" >"$CLI_TMP/learn.log" 2>&1; then
  check pretext_tasks_learn learns "$CLI_TMP/learn.log"
else
  echo "FAIL ssl.pretext_tasks_learn: $(tail -n 3 "$CLI_TMP/learn.log" 2>/dev/null | tr '\n' ' ') $lm_log"
fi

# ---- a pretext stage stopped by SIGTERM after its first epoch resumes from the run's
# checkpoint (the model, the optimizer and the task's own head) to the uninterrupted numbers
sed -e 's/limit: 1000/limit: 200/' -e 's/epochs: 4/epochs: 3/' -e 's/\[rotation, mae, simclr\]/[mae, simclr]/' \
  "$CLI_TMP/learn.yaml" >"$CLI_TMP/resume.yaml"
resumes_to_same() {
  "$LBBT" run "$CLI_TMP/resume.yaml" --threads 1 --no-reuse --out "$CLI_TMP/whole.h5" >/dev/null 2>&1 || return 1
  "$LBBT" run "$CLI_TMP/resume.yaml" --threads 1 --no-reuse --out "$CLI_TMP/cut.h5" >"$CLI_TMP/cut.log" 2>&1 &
  local pid=$! i
  for i in $(seq 1 1200); do grep -q 'epoch 1/3' "$CLI_TMP/cut.log" && break; sleep 0.25; done
  kill -TERM "$pid"; wait "$pid"
  # (where the signal lands depends on the machine's load: any epoch boundary will do)
  grep -q 'interrupted before epoch' "$CLI_TMP/cut.log" || { echo "not interrupted: $(tail -n 2 "$CLI_TMP/cut.log")"; return 1; }
  "$LBBT" run "$CLI_TMP/resume.yaml" --threads 1 --no-reuse --out "$CLI_TMP/cut.h5" >"$CLI_TMP/cut2.log" 2>&1 || return 1
  grep -q 'resuming after epoch' "$CLI_TMP/cut2.log" || { echo "did not resume"; return 1; }
  local ids
  ids=$("$LBBT" inspect "$CLI_TMP/whole.h5" | awk '$1 ~ /^[0-9a-f]+$/ && length($1) == 16 { print $1 }')
  [ "$(echo "$ids" | wc -w)" = 2 ] || { echo "runs: $ids"; return 1; }
  same_run_items "$CLI_TMP/whole.h5" "$CLI_TMP/cut.h5" $ids
}
if [ -z "${lm_log:-}" ]; then check resume_after_sigterm resumes_to_same; fi

# ---- bad input: exit 2, naming the file, line and column
sed 's/method: rotation, skip: true/method: rotate, skip: true/' experiments/table-7.yaml >"$CLI_TMP/bad1.yaml"
check bad_method expect_exit 2 "bad1.yaml:[0-9]+:[0-9]+: stages.pretext.method: 'rotate' is not one of rotation, mae, simclr" \
  "$LBBT" run "$CLI_TMP/bad1.yaml" --tier smoke --dry-run --out "$CLI_TMP/bad.h5"
sed 's/method: rotation, skip: true/method: mae, decoder_heads: 5, skip: true/' experiments/table-7.yaml >"$CLI_TMP/bad2.yaml"
check bad_decoder_heads expect_exit 2 "bad2.yaml:[0-9]+:[0-9]+: stage 'pretext': decoder_heads 5 does not divide decoder_dim 64" \
  "$LBBT" run "$CLI_TMP/bad2.yaml" --tier smoke --dry-run --out "$CLI_TMP/bad.h5"
sed 's/method: rotation, skip: true/method: simclr, temperature: 0, skip: true/' experiments/table-7.yaml >"$CLI_TMP/bad3.yaml"
check bad_temperature expect_exit 2 "bad3.yaml:[0-9]+:[0-9]+: stages.pretext.temperature" \
  "$LBBT" run "$CLI_TMP/bad3.yaml" --tier smoke --dry-run --out "$CLI_TMP/bad.h5"
sed 's#dataset: fashion-mnist,#dataset: fashion-mnist, root: /nonexistent/fmnist,#' experiments/table-7.yaml >"$CLI_TMP/bad4.yaml"
check missing_data expect_exit 2 "bad4.yaml:[0-9]+:[0-9]+: data.root: '/nonexistent/fmnist' does not exist" \
  "$LBBT" run "$CLI_TMP/bad4.yaml" --tier smoke --out "$CLI_TMP/bad.h5"
check missing_experiment expect_exit 2 "no-such-table-7.yaml" "$LBBT" run "$CLI_TMP/no-such-table-7.yaml" --tier smoke --out "$CLI_TMP/bad.h5"
