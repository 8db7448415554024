#!/usr/bin/env bash
# data.options: the composite datasets' settings through `lbbt check` (typed, ranges, unknown
# keys, exit 2 naming file:line:col), and that leaving them out keeps run ids as before.
# The composites are run end to end by tests/plugins/target_count.c, a task built outside the
# tree that declares the targets it needs.
source tests/cli/lib.bash
TPLUG=${LBBT_BUILD:-build}/tests/plugins
[ -f "$TPLUG/target_count.so" ] || { skip all "$TPLUG/target_count.so absent: build the test plugins with make test"; exit 0; }
export LBBT_PLUGIN_PATH=$TPLUG

write() { # write NAME DATASET OPTIONS-FLOW [TARGETS]
  cat > "$CLI_TMP/$1.yaml" <<YAML
experiment: cli-data-options
base:
  data:
    dataset: $2
    limit: 20
    options: $3
  stages:
    - {name: count, task: target_count, epochs: 1, options: {targets: ${4:-boxes}}}
YAML
}
write det fashion-mnist-detection '{canvas: 96, max_items: 6, max_iou: 0.5}'
check detection_options_valid expect_exit 0 'ok: experiment cli-data-options' "$LBBT" check "$CLI_TMP/det.yaml"
options_in_config() { # set options enter the resolved config (so the run id), sorted
  "$LBBT" check "$CLI_TMP/det.yaml" --config 2>/dev/null | tr '\n' '|' |
    grep -q '  options:|    canvas: 96|    max_iou: 0.5|    max_items: 6|' || return 1
}
check set_options_in_config options_in_config
write range fashion-mnist-detection '{max_iou: 1.5}'
check out_of_range_exit2 expect_exit 2 'range.yaml:6:[0-9]+: data.options.max_iou is .1.5., expected a number from 0 to 1' \
  "$LBBT" check "$CLI_TMP/range.yaml"
write unknown fashion-mnist-segmentation '{max_iou: 0.5}' mask
check segmentation_has_no_max_iou expect_exit 2 "unknown.yaml:6:[0-9]+: data.options: dataset 'fashion-mnist-segmentation' has no option 'max_iou' \(valid: canvas, min_items, max_items, min_side, max_side\)" \
  "$LBBT" check "$CLI_TMP/unknown.yaml"
write relation fashion-mnist-detection '{min_items: 5, max_items: 2}'
check min_above_max_exit2 expect_exit 2 'min_items 5 is above max_items 2' "$LBBT" check "$CLI_TMP/relation.yaml"
write classify fashion-mnist '{canvas: 64}'
check classification_takes_none expect_exit 2 "classify.yaml:6:[0-9]+: data.options: dataset 'fashion-mnist' takes no options" \
  "$LBBT" check "$CLI_TMP/classify.yaml"
no_options_no_key() { # an empty data.options is left out of the resolved config: ids unchanged
  write empty fashion-mnist-detection '{}'
  "$LBBT" check "$CLI_TMP/empty.yaml" --config 2>/dev/null | sed -n '/^data:/,/^stages:/p' | grep -q options && return 1
  local a b
  a=$("$LBBT" check "$CLI_TMP/empty.yaml" 2>/dev/null | cut -c1-16)
  sed -i '/options: {}/d' "$CLI_TMP/empty.yaml"
  b=$("$LBBT" check "$CLI_TMP/empty.yaml" 2>/dev/null | cut -c1-16)
  [ -n "$a" ] && [ "$a" = "$b" ]
}
check empty_options_same_id no_options_no_key

write kind fashion-mnist-segmentation '{}' boxes
check kind_mismatch_exit2 expect_exit 2 "stage 'count' \\(target_count\\) needs images with boxes targets, but dataset 'fashion-mnist-segmentation' carries mask" \
  "$LBBT" check "$CLI_TMP/kind.yaml"
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  served() { # served NAME DATASET OPTIONS TARGETS PATTERN: one run, its counts match PATTERN
    write "$1" "$2" "$3" "$4"
    "$LBBT" run "$CLI_TMP/$1.yaml" --threads 1 --out "$CLI_TMP/$1.h5" >/dev/null 2>&1 || return 1
    "$LBBT" inspect "$CLI_TMP/$1.h5" | grep -Eq "$5" || { "$LBBT" inspect "$CLI_TMP/$1.h5"; return 1; }
  }
  check detection_served served det2 fashion-mnist-detection '{min_items: 2, max_items: 2, max_iou: 1}' boxes \
    'count/samples=20  count/boxes=40'
  check segmentation_served served seg2 fashion-mnist-segmentation '{canvas: 32, max_side: 24}' mask \
    'count/samples=20  count/mask_pixels=5120'
else
  skip detection_served "Fashion-MNIST absent"
  skip segmentation_served "Fashion-MNIST absent"
fi
