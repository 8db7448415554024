#!/usr/bin/env bash
# Every paper table's smoke tier end to end: run, render, and check that the rendered table
# has every row and every column of the paper's (paper-tables/table-N.yaml).
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }

has_rows_and_columns() { # N
  local n=$1 md="$CLI_TMP/out/table-$n-smoke.md"
  [ -s "$md" ] || { echo "no $md"; return 1; }
  # every row label (quoted or not) of the paper table appears in the Markdown
  /usr/bin/python3 - "$n" "$md" <<'PY' || return 1
import sys, yaml
n, md = sys.argv[1], open(sys.argv[2]).read()
t = yaml.safe_load(open(f"paper-tables/table-{n}.yaml"))
missing = [r["label"] for r in t["rows"] if f"| {r['label']} |" not in md]
# a column's header: "paper: <dataset> <metric>", or its id when rows name the metrics (Table 15)
header = lambda c: "paper: " + (c["dataset"] + " " if c.get("dataset") else "") + (c.get("metric") or c["id"])
missing += [f"column {c['id']}" for c in t["columns"] if header(c) not in md]
if missing: print("missing:", missing); sys.exit(1)
# every reproduced cell of a row whose runs exist holds a number (not the no-run dash)
body = [l for l in md.splitlines() if l.startswith("| ") and "lbbt:" not in l and "---" not in l]
if not body or all("(n=" not in l for l in body): print("no reproduced numbers"); sys.exit(1)
# tables with two backbones (rows selecting backbone.plugin) run one seed per arm at the smoke
# tier: a cell over two runs means a row mixes them (the stories260K rows catching lbbt's GPT-2)
if "backbone.plugin" in str(t["rows"]):
    mixed = [l.split(" |")[0] for l in body if any(f"(n={k})" in l for k in range(2, 10))]
    if mixed: print("rows mixing runs:", mixed); sys.exit(1)
# lbbt's GPT-2 rows (selected by the gpt2 plugin) are filled by the smoke tier's GPT-2 runs
gpt2 = [r["label"] for r in t["rows"] if (r.get("select") or {}).get("backbone.plugin") == "gpt2"]
empty = [lab for lab in gpt2 for l in body if l.startswith(f"| {lab} |") and "(n=" not in l]
if empty: print("GPT-2 rows without runs:", empty); sys.exit(1)
PY
}
mkdir -p "$CLI_TMP/out"
# the smoke tiers' second language-pretrained backbone (lbbt's GPT-2 rows)
lm_log=$(ensure_smoke_lm) || echo "FAIL tables.smoke_lm_model: $lm_log"
for n in 1 2 3 4 8 12 14 15; do
  # One thread: on a loaded 2-core machine OpenMP barriers with two threads made these tiny
  # runs 25 times slower (table 15's smoke tier: 7.5 min with 2 threads, 17 s with 1).
  if "$LBBT" run experiments/table-$n.yaml --tier smoke --threads 1 --out "$CLI_TMP/table-$n-smoke.h5" >"$CLI_TMP/run-$n.log" 2>&1 \
     && "$LBBT" table $n --tier smoke --results "$CLI_TMP/table-$n-smoke.h5" --out-dir "$CLI_TMP/out" >/dev/null 2>"$CLI_TMP/table-$n.log"; then
    check table_${n}_smoke has_rows_and_columns $n
  else
    echo "FAIL tables.table_${n}_smoke: $(tail -n 3 "$CLI_TMP/run-$n.log" "$CLI_TMP/table-$n.log" | tr '\n' ' ')"
  fi
done
check table_without_results expect_exit 2 "no results yet" "$LBBT" table 4 --tier smoke --results "$CLI_TMP/none.h5"
check unknown_table expect_exit 2 "no such paper table" "$LBBT" table 99
