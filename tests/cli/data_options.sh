#!/usr/bin/env bash
# data.options: the composite datasets' settings through `lbbt check` (typed, ranges, unknown
# keys, exit 2 naming file:line:col), and that leaving them out keeps run ids as before.
source tests/cli/lib.bash

write() { # write NAME DATASET OPTIONS-FLOW
  cat > "$CLI_TMP/$1.yaml" <<YAML
experiment: cli-data-options
base:
  backbone: {plugin: gpt2, arch: tiny}
  data:
    dataset: $2
    limit: 20
    options: $3
  stages:
    - {name: bridge, task: classification, epochs: 1}
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
check out_of_range_exit2 expect_exit 2 'range.yaml:7:[0-9]+: data.options.max_iou is .1.5., expected a number from 0 to 1' \
  "$LBBT" check "$CLI_TMP/range.yaml"
write unknown fashion-mnist-segmentation '{max_iou: 0.5}'
check segmentation_has_no_max_iou expect_exit 2 "unknown.yaml:7:[0-9]+: data.options: dataset 'fashion-mnist-segmentation' has no option 'max_iou' \(valid: canvas, min_items, max_items, min_side, max_side\)" \
  "$LBBT" check "$CLI_TMP/unknown.yaml"
write relation fashion-mnist-detection '{min_items: 5, max_items: 2}'
check min_above_max_exit2 expect_exit 2 'min_items 5 is above max_items 2' "$LBBT" check "$CLI_TMP/relation.yaml"
write classify fashion-mnist '{canvas: 64}'
check classification_takes_none expect_exit 2 "classify.yaml:7:[0-9]+: data.options: dataset 'fashion-mnist' takes no options" \
  "$LBBT" check "$CLI_TMP/classify.yaml"
no_options_no_key() { # an empty data.options is left out of the resolved config: ids unchanged
  write empty fashion-mnist '{}'
  "$LBBT" check "$CLI_TMP/empty.yaml" --config 2>/dev/null | sed -n '/^data:/,/^stages:/p' | grep -q options && return 1
  local a b
  a=$("$LBBT" check "$CLI_TMP/empty.yaml" 2>/dev/null | cut -c1-16)
  sed -i '/options: {}/d' "$CLI_TMP/empty.yaml"
  b=$("$LBBT" check "$CLI_TMP/empty.yaml" 2>/dev/null | cut -c1-16)
  [ -n "$a" ] && [ "$a" = "$b" ]
}
check empty_options_same_id no_options_no_key
