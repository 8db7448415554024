#!/usr/bin/env bash
# The paper-tier readers from the CLI: bad input files stop `lbbt run` with exit 2, a message
# naming the file (and the JSON line), and no results file.
source tests/cli/lib.bash
TPLUG=${LBBT_BUILD:-build}/tests/plugins
[ -f "$TPLUG/target_count.so" ] || { skip all "$TPLUG/target_count.so absent: build the test plugins with make test"; exit 0; }
export LBBT_PLUGIN_PATH=$TPLUG

mkdir -p "$CLI_TMP/coco/annotations" "$CLI_TMP/coco/train2017" "$CLI_TMP/ade/images/training" \
  "$CLI_TMP/ade/annotations/training"
printf '{"images": [\n {"id": 1,, }]}' > "$CLI_TMP/coco/annotations/instances_train2017.json"
experiment() { # experiment NAME DATA-FLOW TARGETS
  cat > "$CLI_TMP/$1.yaml" <<YAML
experiment: cli-$1
base:
  data: $2
  stages:
    - {name: count, task: target_count, epochs: 1, options: {targets: $3}}
YAML
}
experiment coco "{dataset: coco, root: $CLI_TMP/coco, image_size: 16, limit: 2}" boxes
check coco_bad_json_exit2 expect_exit 2 \
  "COCO file '$CLI_TMP/coco/annotations/instances_train2017.json': line 2, column [0-9]+" \
  "$LBBT" run "$CLI_TMP/coco.yaml" --out "$CLI_TMP/coco.h5"
check coco_no_results_file test ! -e "$CLI_TMP/coco.h5"
printf 'not a jpeg' > "$CLI_TMP/ade/images/training/a.jpg"
experiment ade "{dataset: ade20k, root: $CLI_TMP/ade, image_size: 16}" mask
check ade20k_missing_mask_exit2 expect_exit 2 "mask '$CLI_TMP/ade/annotations/training/a.png' for image .* is missing" \
  "$LBBT" run "$CLI_TMP/ade.yaml" --out "$CLI_TMP/ade.h5"
