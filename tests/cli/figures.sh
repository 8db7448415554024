#!/usr/bin/env bash
# Every paper figure's smoke tier end to end: the experiment runs (figures 3 and 8 read the
# smoke runs of tables 2 and 8), the analyses' records are sane, and tools/plot/figure-N.py
# writes a PNG.  Runs use one thread: on a loaded 2-core machine OpenMP barriers with two
# threads made these runs ten times slower.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
PY=/usr/bin/python3
if ! $PY -c "import h5py, matplotlib" 2>/dev/null; then
  skip all "python3-h5py or python3-matplotlib absent (tools/install-deps installs them)"; exit 0
fi

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
PY
}

mkdir -p "$CLI_TMP/out"
# figures 3 and 8 run Tables 2 and 8, whose smoke tiers read lbbt's smoke GPT-2
lm_log=$(ensure_smoke_lm) || echo "FAIL figures.smoke_lm_model: $lm_log"
for n in 2 5 7 14 3 8; do
  case $n in
    3) exp=experiments/table-2.yaml ;;
    8) exp=experiments/table-8.yaml ;;
    *) exp=experiments/figure-$n.yaml ;;
  esac
  h5="$CLI_TMP/figure-$n-smoke.h5" png="$CLI_TMP/out/figure-$n-smoke.png"
  if ! "$LBBT" run "$exp" --tier smoke --threads 1 --out "$h5" >"$CLI_TMP/run-$n.log" 2>&1; then
    echo "FAIL figures.figure_${n}_smoke_runs: $(tail -n 3 "$CLI_TMP/run-$n.log" | tr '\n' ' ')"
    continue
  fi
  case $n in 2|5|7|14) check figure_${n}_records records_ok $n "$h5" ;; esac
  if $PY tools/plot/figure-$n.py "$h5" "$png" >"$CLI_TMP/plot-$n.log" 2>&1; then
    check figure_${n}_png is_png "$png"
  else
    echo "FAIL figures.figure_${n}_png: $(tail -n 3 "$CLI_TMP/plot-$n.log" | tr '\n' ' ')"
  fi
done
check figure_7_cov_align_png is_png "$CLI_TMP/out/figure-7-smoke-cov-align.png"
check plot_without_results expect_exit 1 "does not exist" $PY tools/plot/figure-2.py "$CLI_TMP/none.h5" "$CLI_TMP/x.png"
check plot_usage expect_exit 1 "usage" $PY tools/plot/figure-5.py
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
check bad_option expect_exit 2 "bad.yaml:6:[0-9]+: stage 'act': option 'tau' is 'abc', expected a number" \
  "$LBBT" run "$CLI_TMP/bad.yaml" --out "$CLI_TMP/bad.h5"
sed -i 's/tau: abc/taus: 0/' "$CLI_TMP/bad.yaml"
check unknown_option expect_exit 2 "has no option 'taus' \(valid: images, tau, split" \
  "$LBBT" run "$CLI_TMP/bad.yaml" --out "$CLI_TMP/bad.h5"
