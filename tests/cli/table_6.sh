#!/usr/bin/env bash
# Table 6 (object detection) at the smoke tier end to end: every row of
# paper-tables/table-6.yaml rendered with all six COCO metrics reproduced (a number, n=1,
# in every cell of every row), the detections figure drawn from the same results, and bad
# input to the experiment exiting 2 with a message naming the file and line.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
lm_log=$(ensure_smoke_lm) || echo "FAIL table_6.smoke_lm_model: $lm_log"
H5="$CLI_TMP/table-6-smoke.h5"
mkdir -p "$CLI_TMP/out"
check smoke_run "$LBBT" run experiments/table-6.yaml --tier smoke --threads 1 --out "$H5"
check render "$LBBT" table 6 --tier smoke --results "$H5" --out-dir "$CLI_TMP/out"

every_metric_every_row() {
  local md="$CLI_TMP/out/table-6-smoke.md"
  [ -s "$md" ] || { echo "no $md"; return 1; }
  /usr/bin/python3 - "$md" <<'PY'
import re, sys
md = open(sys.argv[1]).read()
rows = {}
for line in open("paper-tables/table-6.yaml"):
    m = re.match(r'\s+label: "?(.*?)"?$', line)
    if m: rows[m.group(1)] = 0
for line in md.splitlines():
    for label in rows:
        if line.startswith(f"| {label} |"):
            rows[label] = line.count("(n=1)")
bad = {l: n for l, n in rows.items() if n != 6}
for metric in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
    if f"paper: COCO 2017 {metric} " not in md and f"paper: COCO 2017 {metric} |" not in md:
        bad[f"column {metric}"] = "missing"
if bad: print("rows without six reproduced metrics:", bad); sys.exit(1)
PY
}
check every_metric_every_row every_metric_every_row

if /usr/bin/python3 -c "import h5py, matplotlib" 2>/dev/null; then
  figure() {
    /usr/bin/python3 tools/plot/figure-detections.py "$H5" "$CLI_TMP/det.png" >"$CLI_TMP/plot.log" 2>&1 ||
      { tail -n 3 "$CLI_TMP/plot.log"; return 1; }
    [ "$(head -c 4 "$CLI_TMP/det.png" | tail -c 3)" = PNG ]
  }
  check figure_detections figure
else
  skip figure_detections "python3-h5py or python3-matplotlib absent (tools/install-deps installs them)"
fi

# Bad input: a wrong option value, a missing checkpoint, a missing experiment file.
sed 's/cross_init: copy /cross_init: copie /' experiments/table-6.yaml >"$CLI_TMP/bad-cross.yaml"
check bad_option_value expect_exit 2 "bad-cross.yaml:[0-9]+:[0-9]+:.*cross_init" \
  "$LBBT" run "$CLI_TMP/bad-cross.yaml" --tier smoke --out "$CLI_TMP/bad.h5"
sed 's/models:stories260K.bin/models:no-such-model.bin/' experiments/table-6.yaml >"$CLI_TMP/bad-ckpt.yaml"
check missing_checkpoint expect_exit 2 "bad-ckpt.yaml:[0-9]+:[0-9]+:.*no-such-model.bin" \
  "$LBBT" run "$CLI_TMP/bad-ckpt.yaml" --tier smoke --out "$CLI_TMP/bad.h5"
check missing_experiment expect_exit 2 "no-such.yaml" "$LBBT" run "$CLI_TMP/no-such.yaml" --tier smoke --out "$CLI_TMP/bad.h5"
