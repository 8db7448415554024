#!/usr/bin/env bash
# Every analysis experiment's smoke tier end to end, and every figure and table drawn from
# it: figures 2, 4, 5, 7, 14 (experiments/figure-N.yaml), 10 and 11 (drawn from figure 2's
# runs, as `make figure-10/11` does), 3 and 8 (from the smoke runs of tables 2 and 8), and
# Table 15 (experiments/table-15.yaml, rendered by `lbbt table 15`).  Each results file is
# checked for the datasets its plot or table reads, with values in range; each plot must
# write a PNG.  Without python3-h5py the record checks skip, without python3-matplotlib the
# plots skip (tools/install-deps installs both); the runs themselves always run.  Runs use
# one thread: on a loaded 2-core machine OpenMP barriers with two threads made these runs
# ten times slower.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
PY=/usr/bin/python3
have_h5py=0 have_mpl=0
$PY -c "import h5py, numpy" 2>/dev/null && have_h5py=1
[ $have_h5py = 1 ] && $PY -c "import matplotlib" 2>/dev/null && have_mpl=1

is_png() { # FILE: exists, non-trivial, PNG signature
  [ -s "$1" ] || { echo "no $1"; return 1; }
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "$1 is not a PNG"; return 1; }
  [ "$(stat -c %s "$1")" -gt 20000 ] || { echo "$1 is suspiciously small"; return 1; }
}

# records_ok N H5: the analyses wrote what the plots read, with values in range
records_ok() {
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
n, path = sys.argv[1], sys.argv[2]
f = h5py.File(path, "r")
runs = [f["runs"][k] for k in f["runs"]]
assert runs, "no runs"
def check(cond, what):
    if not cond:
        print(what); sys.exit(1)
for r in runs:
    label = r.attrs["label"]
    if n in ("2", "14"):
        for st in ("weights_init", "weights_after"):
            g = r[st]
            groups = g.attrs["group_names"].split("\n")
            check(g["hist/group_magnitude"].shape[0] == len(groups), f"{label} {st}: group rows")
            check(g["hist/group_z"][()].sum() <= g["params_measured"][()], f"{label} {st}: z counts")
            check(len(g["hist/magnitude_edges"]) == g["options/bins"][()] + 1, f"{label} {st}: edges")
            check(g["outliers_sigma"][()] == g["group_outliers_sigma"][()].sum(), f"{label} {st}: sigma sums")
    if n == "5":
        for st in ("clusters_init", "clusters_after"):
            g = r[st]
            N = int(g["images"][()])
            check(g["tsne"].shape == (N, 2) and len(g["labels"]) == N, f"{label} {st}: shapes")
            for m in ("nmi_features", "nmi_tsne"):
                check(0 <= g[m][()] <= 1, f"{label} {st}: {m} = {g[m][()]}")
            for m in ("ari_features", "ari_tsne"):
                check(-1 <= g[m][()] <= 1, f"{label} {st}: {m} = {g[m][()]}")
            check(g["kmeans_features_iterations"][()] >= 1, f"{label} {st}: k-means iterations")
    if n == "7":
        for st in ("act_init", "act_after"):
            ratio = r[st]["ratio"][()]
            check(len(ratio) == 5 and np.all((ratio >= 0) & (ratio <= 1)), f"{label} {st}: ratio {ratio}")
            check(r[st]["options/tau"][()] == 0, f"{label} {st}: tau not recorded")
        for st in ("cov_init", "cov_after"):
            ov = r[st]["overlap"][()]
            check(np.all((ov >= 0) & (ov <= 1 + 1e-6)), f"{label} {st}: overlap {ov}")
            check(len(r[st]["data_eigenvalues"]) == 16, f"{label} {st}: d for 4x4 grey patches")
        up = r["cov_after/update"]
        check(up.attrs["baseline"] == "cov_init" and up["relative_norm"][()] > 0, f"{label}: no update since cov_init")
        check(np.all(np.diff(up["weight_eigenvalues"][()]) <= 0), f"{label}: update eigenvalues not descending")
    if n == "4":
        for st in ("landscape_init", "landscape_after"):
            g = r[st]
            grid, alphas = g["grid"][()], g["alphas"][()]
            size = int(g["options/size"][()])
            check(grid.shape == (size, size) and len(alphas) == size, f"{label} {st}: grid {grid.shape}")
            check(np.all(np.isfinite(grid)), f"{label} {st}: non-finite loss")
            check(abs(grid[size // 2, size // 2] - g["loss"][()]) < 1e-5, f"{label} {st}: centre is not the loss")
            check(g["loss_min"][()] <= g["loss"][()] <= g["loss_max"][()], f"{label} {st}: range")
            check(g["loss_evals"][()] == size * size + 1, f"{label} {st}: loss evaluations")
            check(g["local_minima"][()] >= 0 and g["params"][()] > 0, f"{label} {st}: counts")
    if n == "t15":
        g = r["hessian"]
        for k in ("decay_rate_topk", "kurtosis_topk", "trace", "trace_se", "spectral_gap", "participation_ratio_topk",
                  "noise_auc", "grad_predictiveness", "max_param_sensitivity", "negative_ratio_topk",
                  "negative_ratio_density_tol", "topk_converged", "lanczos_iterations", "ritz", "topk",
                  "slq_nodes", "density", "grad_evals", "loss_evals", "hvp_eps"):
            check(k in g, f"{label}: missing hessian/{k}")
        c = {k: int(g[f"config/{k}"][()]) for k in ("top_k", "lanczos_steps", "slq_probes", "slq_steps", "predict_steps")}
        check(len(g["topk"][()]) == c["top_k"] and len(g["ritz"][()]) == g["lanczos_iterations"][()], f"{label}: sizes")
        check(g["slq_nodes"].shape == (c["slq_probes"], c["slq_steps"]), f"{label}: SLQ nodes {g['slq_nodes'].shape}")
        # the cost is counted in gradient evaluations: g(θ) + the ε choice + 2 per Hessian-vector
        # product (Lanczos, SLQ, extra trace probes) + the ε check + gradient predictiveness
        eps_choice = 22 if g["hvp_eps_auto"][()] else 0
        floor = 1 + eps_choice + 2 * (c["lanczos_steps"] + c["slq_probes"] * c["slq_steps"]) + 6 + c["predict_steps"]
        extra = g["grad_evals"][()] - floor
        check(extra >= 0 and extra % 2 == 0 and extra // 2 <= int(g["config/trace_probes"][()]),
              f"{label}: grad_evals {g['grad_evals'][()]} vs floor {floor}")
        check(0 <= g["negative_ratio_topk"][()] <= 1 and 0 < g["participation_ratio_topk"][()] <= 1, f"{label}: ratios")
        check(g["trace"][()] > 0 and g["trace_se"][()] >= 0, f"{label}: trace")
PY
}

# table15_rendered MD: the cost row is there, in gradient evaluations, as whole numbers
table15_rendered() {
  grep -Eq '^\| \(lbbt\) cost: gradient evaluations \|.* \| [0-9]+ ± [0-9]+ \(n=[0-9]+\) \|$' "$1" ||
    { echo "no cost row with gradient-evaluation counts in $1"; return 1; }
}

mkdir -p "$CLI_TMP/out"
# figures 3 and 8 run Tables 2 and 8, whose smoke tiers read lbbt's smoke GPT-2
lm_log=$(ensure_smoke_lm) || echo "FAIL figures.smoke_lm_model: $lm_log"
# name:experiment[:results of another entry it is drawn from]
for entry in 2:figure-2 4:figure-4 5:figure-5 7:figure-7 14:figure-14 10::2 11::2 3:table-2 8:table-8 t15:table-15; do
  IFS=: read -r n exp from <<<"$entry"
  if [ -n "$exp" ]; then
    h5="$CLI_TMP/$exp-smoke.h5"
    if ! "$LBBT" run "experiments/$exp.yaml" --tier smoke --threads 1 --out "$h5" >"$CLI_TMP/run-$n.log" 2>&1; then
      echo "FAIL figures.${exp//-/_}_smoke_runs: $(tail -n 3 "$CLI_TMP/run-$n.log" | tr '\n' ' ')"
      continue
    fi
  else
    h5="$CLI_TMP/figure-$from-smoke.h5"  # figures 10 and 11: figure 2's runs (FIGURE_DATA_N in the Makefile)
    [ -s "$h5" ] || { echo "FAIL figures.figure_${n}_png: figure $from's smoke runs failed"; continue; }
  fi
  case $n in
    2|4|5|7|14|t15)
      if [ $have_h5py = 1 ]; then check ${exp//-/_}_records records_ok $n "$h5"
      else skip ${exp//-/_}_records "python3-h5py absent (tools/install-deps installs it)"; fi ;;
  esac
  if [ "$n" = t15 ]; then
    if "$LBBT" table 15 --tier smoke --results "$h5" --out-dir "$CLI_TMP/out" >/dev/null 2>"$CLI_TMP/table-15.log"; then
      check table_15_cost_row table15_rendered "$CLI_TMP/out/table-15-smoke.md"
    else
      echo "FAIL figures.table_15_render: $(tail -n 3 "$CLI_TMP/table-15.log" | tr '\n' ' ')"
    fi
    continue
  fi
  png="$CLI_TMP/out/figure-$n-smoke.png"
  if [ $have_mpl = 0 ]; then
    skip figure_${n}_png "python3-h5py or python3-matplotlib absent (tools/install-deps installs them)"
  elif $PY tools/plot/figure-$n.py "$h5" "$png" >"$CLI_TMP/plot-$n.log" 2>&1; then
    check figure_${n}_png is_png "$png"
  else
    echo "FAIL figures.figure_${n}_png: $(tail -n 3 "$CLI_TMP/plot-$n.log" | tr '\n' ' ')"
  fi
done
if [ $have_mpl = 1 ]; then
  check figure_7_cov_align_png is_png "$CLI_TMP/out/figure-7-smoke-cov-align.png"
  check plot_without_results expect_exit 1 "does not exist" $PY tools/plot/figure-2.py "$CLI_TMP/none.h5" "$CLI_TMP/x.png"
  check plot_usage expect_exit 1 "usage" $PY tools/plot/figure-5.py
fi
# every figure the issue names has a plot script and data `make figure-N` can run: its own
# experiment, or another figure's (FIGURE_DATA_N: figures 10 and 11 plot figure 2's runs).
# The Makefile's variables are read with --eval, running nothing (make -n would still run the
# figure rule's recipe, which calls $(MAKE)).
figure_sources() {
  local n src
  for n in 2 4 5 7 10 11 14; do
    [ -f tools/plot/figure-$n.py ] || { echo "tools/plot/figure-$n.py absent"; return 1; }
    src=$(make --no-print-directory -s -o all --eval 'lbbt-figure-data-%: ; @echo $(or $(FIGURE_DATA_$*),$*)' \
          lbbt-figure-data-$n) || return 1
    [ -f experiments/figure-$src.yaml ] || { echo "figure $n: no experiments/figure-$src.yaml"; return 1; }
    case $n in 10|11) [ "$src" = 2 ] || { echo "figure $n reads figure $src's runs, not figure 2's"; return 1; } ;; esac
  done
}
check make_figure_sources figure_sources
# -o all: the rule alone, without (re)building anything in this build folder
check make_unknown_figure expect_exit 2 "no figure 99" make --no-print-directory -s -o all figure-99
# analysis options are checked before anything runs, naming file:line:col
cat >"$CLI_TMP/bad.yaml" <<'YAML'
experiment: bad
base:
  backbone: {plugin: llama, checkpoint: models:stories260K.bin, init: language}
  data: {dataset: fashion-mnist, limit: 100, test_limit: 50}
  stages:
    - {name: act, analysis: activation-ratio, options: {tau: abc}}
YAML
check bad_option expect_exit 2 "bad.yaml:6:[0-9]+: stages.act.options.tau: expected a number, got 'abc'" \
  "$LBBT" run "$CLI_TMP/bad.yaml" --out "$CLI_TMP/bad.h5"
sed -i 's/tau: abc/taus: 0/' "$CLI_TMP/bad.yaml"
check unknown_option expect_exit 2 "bad.yaml:6:[0-9]+: unknown key 'taus' in the options of stage 'act' \(analysis 'activation-ratio'\); did you mean 'tau'\?" \
  "$LBBT" run "$CLI_TMP/bad.yaml" --out "$CLI_TMP/bad.h5"
