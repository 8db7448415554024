#!/usr/bin/env bash
# The segmenter task and Table 9 end to end: the smoke tier runs and renders single- and
# multi-scale mIoU for every row; a run's PNG index masks (write_masks) score, by an
# independent PNG decoder and mmseg's mIoU transcribed below, exactly what the run recorded;
# bad option values and missing files exit 2 naming the file (and line).
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }

every_row_both_scales() { # MD
  /usr/bin/python3 - "$1" <<'PY'
import sys, yaml
md = open(sys.argv[1]).read()
t = yaml.safe_load(open("paper-tables/table-9.yaml"))
bad = []
for r in t["rows"]:
    line = next((l for l in md.splitlines() if l.startswith(f"| {r['label']} |")), None)
    cells = line.split(" | ")[-2:] if line else []
    if len(cells) != 2 or any("(n=1)" not in c for c in cells):
        bad.append(r["id"])
if bad: print("rows without both mIoU ss and ms:", bad); sys.exit(1)
PY
}

lm_log=$(ensure_smoke_lm) || echo "FAIL segmenter.smoke_lm_model: $lm_log"
mkdir -p "$CLI_TMP/out"
if "$LBBT" run experiments/table-9.yaml --tier smoke --threads 1 --out "$CLI_TMP/t9.h5" >"$CLI_TMP/t9.log" 2>&1 &&
   "$LBBT" table 9 --tier smoke --results "$CLI_TMP/t9.h5" --out-dir "$CLI_TMP/out" >/dev/null 2>"$CLI_TMP/t9-table.log"; then
  check table_9_every_row_ss_and_ms every_row_both_scales "$CLI_TMP/out/table-9-smoke.md"
  check table_9_paper_numbers grep -q '| Segmenter | 37.8 | 39.1 | 44.9 | 45.5 |' "$CLI_TMP/out/table-9-smoke.md"
  check table_9_language_row_nr grep -q '| Language Bias Segmenter | n.r. | n.r. | n.r. | n.r. |' "$CLI_TMP/out/table-9-smoke.md"
  # make figure-segmentation's plot, from the same runs (h5py and matplotlib: tools/install-deps)
  if /usr/bin/python3 -c "import h5py, matplotlib" 2>/dev/null; then
    check figure_segmentation_png /usr/bin/python3 tools/plot/figure-segmentation.py "$CLI_TMP/t9.h5" "$CLI_TMP/fig.png"
    check figure_segmentation_is_png test "$(head -c 8 "$CLI_TMP/fig.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a
  else
    skip figure_segmentation_png "python3-h5py or python3-matplotlib absent (tools/install-deps)"
  fi
else
  echo "FAIL segmenter.table_9_smoke: $(tail -n 3 "$CLI_TMP/t9.log" "$CLI_TMP/t9-table.log" | tr '\n' ' ')"
fi

# One small run writing its masks.
one_run() { # FILE STAGE_EXTRA
  cat >"$1" <<YAML
experiment: seg-one
base:
  seed: 0
  backbone: {plugin: llama, checkpoint: models:stories260K.bin, init: language, patch_size: 4, pool: mean}
  data: {dataset: fashion-mnist-segmentation, limit: 12, test_limit: 3, options: {canvas: 24, max_side: 16}}
  stages:
    - {name: seg, task: segmenter, epochs: 1, batch_size: 12, encoder_dim: 16, encoder_depth: 1,
       encoder_heads: 2, encoder_mlp: 32, patch: 4, crop: 16$2}
YAML
}

masks_score_as_recorded() { # RESULTS MASKDIR
  local id miou
  id=$("$LBBT" inspect "$1" | awk '$2 == "complete" {print $1; exit}')
  miou=$("$LBBT" inspect "$1" | tr ' ' '\n' | sed -n 's#^seg/miou_ss=##p')
  [ -n "$id" ] && [ -n "$miou" ] || { echo "no run or no seg/miou_ss in $1"; return 1; }
  /usr/bin/python3 - "$2/$id" "$miou" <<'PY'
import glob, os, struct, sys, zlib
def read_png(path):  # 8-bit grey, non-interlaced: the five PNG filters by hand (stdlib only)
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 0), f"{path}: depth {depth} colour {colour}"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], [0] * w
    for y in range(h):
        f, line = raw[y * (w + 1)], list(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        for x in range(w):
            a = line[x - 1] if x else 0
            b, c = prev[x], prev[x - 1] if x else 0
            p = a + b - c
            pred = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            line[x] = (line[x] + [0, a, b, (a + b) // 2, pred][f]) & 255
        rows.append(line)
        prev = line
    return [v for r in rows for v in r]
d, want = sys.argv[1], float(sys.argv[2])
preds = sorted(glob.glob(os.path.join(d, "pred", "*.png")))
if len(preds) != 3: print("want 3 prediction PNGs, found", len(preds)); sys.exit(1)
K = 11
inter, area_p, area_l = [0] * K, [0] * K, [0] * K
for p in preds:
    pr, gt = read_png(p), read_png(os.path.join(d, "gt", os.path.basename(p)))
    for a, b in zip(pr, gt):
        if b == 255: continue
        area_p[a] += 1; area_l[b] += 1; inter[a] += a == b
ious = [inter[k] / (area_p[k] + area_l[k] - inter[k]) for k in range(K) if area_p[k] + area_l[k] > 0]
got = 100 * sum(ious) / len(ious)
if abs(got - want) > 1e-3 * max(1, abs(want)): print(f"mIoU from the PNGs {got}, recorded {want}"); sys.exit(1)
PY
}

one_run "$CLI_TMP/one.yaml" ", multi_scale: false, write_masks: $CLI_TMP/masks"
if "$LBBT" run "$CLI_TMP/one.yaml" --threads 1 --out "$CLI_TMP/one.h5" >"$CLI_TMP/one.log" 2>&1; then
  check png_masks_score_as_recorded masks_score_as_recorded "$CLI_TMP/one.h5" "$CLI_TMP/masks"
else
  echo "FAIL segmenter.png_masks_run: $(tail -n 3 "$CLI_TMP/one.log" | tr '\n' ' ')"
fi

one_run "$CLI_TMP/bad-width.yaml" ", width: sideways"
check bad_width_exit2 expect_exit 2 "bad-width.yaml:[0-9]+:[0-9]+:.*width" "$LBBT" check "$CLI_TMP/bad-width.yaml"
one_run "$CLI_TMP/bad-crop.yaml" ""
sed -i "s#crop: 16#crop: 18#" "$CLI_TMP/bad-crop.yaml"
check crop_not_patch_multiple_exit2 expect_exit 2 "bad-crop.yaml.*crop 18 is not a multiple of patch 4" \
  "$LBBT" check "$CLI_TMP/bad-crop.yaml"
one_run "$CLI_TMP/bad-ckpt.yaml" ""
sed -i "s#models:stories260K.bin#$CLI_TMP/no-such-model.bin#" "$CLI_TMP/bad-ckpt.yaml"
check missing_checkpoint_exit2 expect_exit 2 "bad-ckpt.yaml:[0-9]+:[0-9]+:.*no-such-model.bin" \
  "$LBBT" check "$CLI_TMP/bad-ckpt.yaml"
cat >"$CLI_TMP/no-ade.yaml" <<YAML
experiment: seg-no-ade
base:
  backbone: {plugin: llama, checkpoint: models:stories260K.bin, init: language, patch_size: 4, pool: mean}
  data: {dataset: ade20k, root: $CLI_TMP/no-such-ade, image_size: 32}
  stages:
    - {name: seg, task: segmenter, epochs: 1, batch_size: 2, patch: 4, crop: 32}
YAML
check missing_data_exit2 expect_exit 2 "no-such-ade" "$LBBT" run "$CLI_TMP/no-ade.yaml" --threads 1 --out "$CLI_TMP/no-ade.h5"
