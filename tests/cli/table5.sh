#!/usr/bin/env bash
# Table 5 (the language model's size) end to end at the smoke tier: the size sweep's smoke
# models (experiments/lm-pretrain-sizes.yaml, as `make models-sizes TIER=smoke` builds them),
# the table's runs, the rendered table (every row; every GPT-2 row a number in each of its
# measures), the Table 5 claims in `lbbt verdicts`, and bad input refused with exit 2 and
# file:line:col.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
if [ ! -d /usr/share/games/fortunes ] && [ ! -f "${LBBT_CORPORA:-../shared/corpora}/tinyshakespeare.txt" ]; then
  skip all "no default corpus for the smoke language models (install fortunes: tools/install-deps)"; exit 0
fi
export OMP_NUM_THREADS=1

# the smoke size models (widths 8 and 16) beside the smoke model (width 32), when absent
ensure_size_models() {
  [ -f models/lbbt-gpt2-d8-smoke/model.safetensors ] && [ -f models/lbbt-gpt2-d16-smoke/model.safetensors ] && return 0
  "$LBBT" run experiments/lm-pretrain-sizes.yaml --tier smoke --threads 1 --out "$CLI_TMP/sizes.h5" \
    >"$CLI_TMP/sizes.log" 2>&1 && [ -f models/lbbt-gpt2-d16-smoke/model.safetensors ] && return 0
  tail -n 3 "$CLI_TMP/sizes.log" | tr '\n' ' '
  return 1
}

# every row of paper-tables/table-5.yaml is in the Markdown; each lbbt GPT-2 row has a number
# in the random-label column, and each that is not a health row one in the true-label column
rows_filled() { # MD
  /usr/bin/python3 - "$1" <<'PY'
import sys, yaml
md = open(sys.argv[1]).read()
t = yaml.safe_load(open("paper-tables/table-5.yaml"))
lines = {l.split(" | ")[0][2:]: l for l in md.splitlines() if l.startswith("| ")}
header = [h.strip(" |") for h in next(l for l in md.splitlines() if l.startswith("| Row |")).split(" | ")]
fit = header.index("lbbt: fashion-mnist train_acc1 (random labels)")
test = header.index("lbbt: fashion-mnist test_acc1 (true labels)")
bad = []
for r in t["rows"]:
    if r["label"] not in lines: bad.append("missing row " + r["id"]); continue
    cells = [c.strip(" |") for c in lines[r["label"]].split(" | ")]
    if "Qwen3" in r["label"]:
        if "(n=" in lines[r["label"]]: bad.append("Qwen3 row with smoke runs: " + r["id"])
        continue
    if "(n=1)" not in cells[fit]: bad.append(f"{r['id']}: fit cell '{cells[fit]}'")
    want_test = not r["id"].startswith("health_")
    if want_test != ("(n=1)" in cells[test]): bad.append(f"{r['id']}: test cell '{cells[test]}'")
if bad: print(bad); sys.exit(1)
PY
}

# the Table 5 claims: one section each, verdicts at the smoke tier (one seed: too few seeds),
# the growth claims with their growth line
table5_verdicts() { # MD
  local md=$1 ids
  ids=$(awk '/^  - id: scale_/ {print $3}' paper-tables/claims.yaml)
  [ "$(echo "$ids" | wc -l)" -ge 8 ] || { echo "Table 5 claims: $ids"; return 1; }
  for id in $ids; do
    awk -v id="$id" '/^## / { s = 0 } index($0, "Claim `" id "`") { s = 1 } s && /^\*\*Verdict: too few seeds\*\*/ { ok = 1 }
                     END { exit !ok }' "$md" || { echo "claim $id: no 'too few seeds' verdict"; return 1; }
  done
  grep -Eq '^\| fashion-mnist \| [-+][0-9.]+ \| [-+][0-9.]+ \| [-+][0-9.]+ \(no interval\) \| — \| too few seeds \|$' "$md" ||
    { echo "no growth line"; return 1; }
}

# tools/plot/figure-sizes.py draws a real PNG from the runs
plot_png() { # RESULTS OUT
  /usr/bin/python3 tools/plot/figure-sizes.py "$1" "$2" >/dev/null || return 1
  [ "$(head -c 8 "$2" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "$2 is not a PNG"; return 1; }
  [ "$(stat -c %s "$2")" -gt 20000 ] || { echo "$2 is suspiciously small"; return 1; }
}

mkdir -p "$CLI_TMP/out"
ok=1
lm_log=$(ensure_smoke_lm) || { ok=0; echo "FAIL table5.smoke_lm_model: $lm_log"; }
sizes_log=$(ensure_size_models) || { ok=0; echo "FAIL table5.size_models: $sizes_log"; }
if [ $ok = 1 ]; then
  check size_models_are_the_widths grep -q '"n_embd": 16' models/lbbt-gpt2-d16-smoke/config.json
  if "$LBBT" run experiments/table-5.yaml --tier smoke --threads 1 --out "$CLI_TMP/out/table-5-smoke.h5" \
       >"$CLI_TMP/run.log" 2>&1 &&
     "$LBBT" table 5 --tier smoke --results-dir "$CLI_TMP/out" >/dev/null 2>"$CLI_TMP/table.log"; then
    check smoke_rows_filled rows_filled "$CLI_TMP/out/table-5-smoke.md"
    check smoke_csv test -s "$CLI_TMP/out/table-5-smoke.csv"
    # the figure `make figure-sizes` draws from these runs
    if /usr/bin/python3 -c 'import h5py, matplotlib' 2>/dev/null; then
      check figure_sizes_png plot_png "$CLI_TMP/out/table-5-smoke.h5" "$CLI_TMP/out/figure-sizes.png"
    else
      skip figure_sizes_png "python3-h5py or python3-matplotlib absent (tools/install-deps installs them)"
    fi
    if "$LBBT" verdicts --tier smoke --results-dir "$CLI_TMP/out" >/dev/null 2>"$CLI_TMP/verdicts.log"; then
      check smoke_verdicts table5_verdicts "$CLI_TMP/out/verdicts-smoke.md"
    else
      echo "FAIL table5.smoke_verdicts: $(tail -n 3 "$CLI_TMP/verdicts.log" | tr '\n' ' ')"
    fi
  else
    echo "FAIL table5.smoke_run: $(tail -n 3 "$CLI_TMP/run.log" "$CLI_TMP/table.log" | tr '\n' ' ')"
  fi
fi

# bad input: exit 2, naming the file and line
bad="$CLI_TMP/table-5-bad.yaml"
sed 's/{labels: random, label_ratio: 1.0, epochs: 1}/{labels: randm, label_ratio: 1.0, epochs: 1}/' experiments/table-5.yaml >"$bad"
line=$(grep -n 'labels: randm' "$bad" | cut -d: -f1)
check bad_option_value expect_exit 2 "table-5-bad.yaml:$line:[0-9]+: .*randm" "$LBBT" check "$bad" --tier smoke
sed 's#models/lbbt-gpt2-d16-smoke#models/lbbt-gpt2-d15-smoke#' experiments/table-5.yaml >"$bad"
check missing_size_model expect_exit 2 "table-5-bad.yaml:[0-9]+:[0-9]+: backbone.checkpoint: 'models/lbbt-gpt2-d15-smoke' does not exist.*make models-sizes" \
  "$LBBT" run "$bad" --tier smoke --threads 1 --out "$CLI_TMP/bad.h5"
check bad_tier expect_exit 2 "tier" "$LBBT" run experiments/table-5.yaml --tier smok --out "$CLI_TMP/bad.h5"
check no_half_written_results test ! -e "$CLI_TMP/bad.h5"
