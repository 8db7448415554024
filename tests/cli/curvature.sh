#!/usr/bin/env bash
# The curvature analyses' own checks: the hessian records of a one-run experiment (after a
# bridge stage, blocks only), option checking before any run, and Table 15's layout rules.
# Figure 4's and Table 15's smoke tiers run end to end, with their plot and rendered table,
# in figures.sh.  One thread: on a loaded 2-core machine OpenMP barriers with two threads
# slow these tiny runs tenfold.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
PY=/usr/bin/python3

# a hessian stage after a bridge: records, convergence bookkeeping, weights restored (the
# probe after it reads the same model)
cat >"$CLI_TMP/h.yaml" <<'Y'
experiment: hessian-cli
base:
  backbone: {plugin: llama, checkpoint: models:stories260K.bin, init: language, patch_size: 4}
  data: {dataset: fashion-mnist, limit: 40, test_limit: 20}
  stages:
    - {name: bridge, task: classification, labels: random, epochs: 1, batch_size: 20}
    - {name: hessian, analysis: hessian, labels: random, batch_size: 8,
       options: {label_stage: bridge, params: blocks, top_k: 3, lanczos_steps: 4, slq_probes: 1, slq_steps: 3,
                 trace_probes: 1, noise_steps: 2, noise_draws: 1, predict_steps: 2, density_points: 16}}
Y
if "$LBBT" run "$CLI_TMP/h.yaml" --threads 1 --out "$CLI_TMP/h.h5" >"$CLI_TMP/h.log" 2>&1; then
  hessian_records() {
    $PY - "$CLI_TMP/h.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
(r,) = [f["runs"][k] for k in f["runs"]]
g = r["hessian"]
for k in ("decay_rate_topk", "kurtosis_topk", "trace", "spectral_gap", "participation_ratio_topk", "noise_auc",
          "grad_predictiveness", "max_param_sensitivity", "negative_ratio_topk", "kurtosis_density",
          "negative_ratio_density", "participation_ratio_density", "decay_rate_density", "grad_evals",
          "lanczos_iterations", "lanczos_converged", "topk_converged", "hvp_eps", "hvp_check_spread"):
    assert k in g, f"missing hessian/{k}"
assert g["lanczos_iterations"][()] == 4 and len(g["ritz"][()]) == 4, "iterations"
assert len(g["topk"][()]) == 3, "top-k set"
assert g["slq_nodes"].shape == (1, 3), "SLQ nodes"
assert g.attrs["param_set"] == "blocks" and g.attrs["label_stage"] == "bridge", "settings recorded"
assert g["params"][()] < r["model/params"][()], "blocks only"
# 1 + 22 + 2 * (4 + 3 + trace probes) + 6 + 2
assert g["grad_evals"][()] >= 1 + 22 + 2 * 7 + 6 + 2, "cost"
assert g["labels_changed"][()] > 0, "random labels"
PY
  }
  check hessian_records hessian_records
else
  echo "FAIL curvature.hessian_run: $(tail -n 3 "$CLI_TMP/h.log" | tr '\n' ' ')"
fi

# options are checked before anything runs
sed 's/top_k: 3, lanczos_steps: 4/top_k: 9, lanczos_steps: 4/' "$CLI_TMP/h.yaml" >"$CLI_TMP/bad1.yaml"
check lanczos_below_top_k expect_exit 2 "lanczos_steps 4 is below top_k 9" "$LBBT" run "$CLI_TMP/bad1.yaml" --dry-run --out "$CLI_TMP/bad.h5"
sed 's/params: blocks/params: heads/' "$CLI_TMP/h.yaml" >"$CLI_TMP/bad2.yaml"
check bad_params expect_exit 2 "bad2.yaml:[0-9]+:[0-9]+: stages.hessian.options.params: 'heads' is not one of all, blocks" "$LBBT" run "$CLI_TMP/bad2.yaml" --dry-run --out "$CLI_TMP/bad.h5"
sed 's/slq_steps: 3/slq_step: 3/' "$CLI_TMP/h.yaml" >"$CLI_TMP/bad3.yaml"
check unknown_option expect_exit 2 "bad3.yaml:[0-9]+:[0-9]+: unknown key 'slq_step' .*did you mean 'slq_steps'" "$LBBT" run "$CLI_TMP/bad3.yaml" --dry-run --out "$CLI_TMP/bad.h5"
sed 's/analysis: hessian, labels: random, batch_size: 8/analysis: landscape, labels: random, batch_size: 8/; s/options: {label_stage: bridge, params: blocks, top_k.*$/options: {size: 1}}/; /trace_probes: 1, noise_steps/d' "$CLI_TMP/h.yaml" >"$CLI_TMP/bad4.yaml"
check landscape_size expect_exit 2 "bad4.yaml:[0-9]+:[0-9]+: stages.hessian.options.size: 1 is out of range \(allowed: from 2 to 1001\)" "$LBBT" run "$CLI_TMP/bad4.yaml" --dry-run --out "$CLI_TMP/bad.h5"

# Table 15's layout: rows name their metric; a row without one under metric-less columns is
# refused with the place to fix
mkdir -p "$CLI_TMP/pt"
sed '0,/metric: decay_rate, /s///' paper-tables/table-15.yaml >"$CLI_TMP/pt/table-15.yaml"
check row_without_metric expect_exit 2 "row 'decay_rate' names no metric and column 'pretrained' has none" \
  "$LBBT" table 15 --tier smoke --paper-tables "$CLI_TMP/pt"
