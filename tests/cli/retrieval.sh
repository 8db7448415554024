#!/usr/bin/env bash
# The retrieval task (plugins/tasks/retrieval.c) and Table 11 end to end:
#  1. a tiny experiment with four retrieval stages on two models: every metric recorded, the
#     identities the definitions force (k = 1; Recall@k's fraction reading vs Pass@k with a
#     known number of relevant items), pool: mean equal to the mean-pooled model's own
#     features, pool: last and another model giving other numbers, the test-set gallery, the
#     saved examples consistent with the labels and pixels;
#  2. bad input exits 2 naming the file (and line where the binder knows it);
#  3. Table 11's smoke tier: run, render (every metric for every row with runs), figure.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
export OMP_NUM_THREADS=1
PY=/usr/bin/python3

# ---- 1. the task on two models
# 100 training images (10 per class: every query has R = 10 relevant gallery items), 50 queries
write_experiment() { # FILE
  cat >"$1" <<EOF
experiment: retrieval-test
base:
  seed: 0
  backbone: {plugin: llama, checkpoint: models:stories260K.bin, init: scratch, patch_size: 4, pool: mean}
  data: {dataset: fashion-mnist, limit: 100, test_limit: 50}
  stages:
    - {name: retrieval, task: retrieval, epochs: 0}
    - {name: by_mean, task: retrieval, epochs: 0, pool: mean}
    - {name: by_last, task: retrieval, epochs: 0, pool: last, examples: 0}
    - {name: rest, task: retrieval, epochs: 0, gallery: test, ks: "1,3,10", examples: 4, example_top: 3}
matrix:
  backbone.init: [scratch, language]
EOF
}
E="$CLI_TMP/retrieval.yaml"
H="$CLI_TMP/retrieval.h5"
write_experiment "$E"
# "run_index path value" for every scalar of every run (lbbt inspect: run lines of path=value)
values() { "$LBBT" inspect "$H" | awk '/^runs:/ { on = 1; next } on { n++; for (i = 2; i <= NF; i++) if (split($i, kv, "=") == 2) print n, kv[1], kv[2] }'; }
val() { values | awk -v r="$1" -v p="$2" '$1 == r && $2 == p { print $3; f = 1 } END { exit !f }'; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

every_metric() {
  local r p
  for r in 1 2; do
    for p in map pass_at_1 recall_at_1 recall_frac_at_1 ndcg_at_1 pass_at_5 recall_at_5 recall_frac_at_5 ndcg_at_5 \
             n_queries n_scored gallery_size; do
      val $r retrieval/$p >/dev/null || { echo "run $r has no retrieval/$p"; return 1; }
    done
    [ "$(val $r retrieval/n_queries)" = 50 ] && [ "$(val $r retrieval/gallery_size)" = 100 ] || { echo "sizes"; return 1; }
    for p in map pass_at_1 pass_at_5 recall_at_5 ndcg_at_5; do
      awk -v v="$(val $r retrieval/$p)" 'BEGIN { exit !(v >= 0 && v <= 100) }' || { echo "run $r $p out of [0, 100]"; return 1; }
    done
  done
}
k1_identity() { # precision, hit rate and NDCG are one number at k = 1
  local r a
  for r in 1 2; do
    a=$(val $r retrieval/pass_at_1)
    near "$a" "$(val $r retrieval/recall_at_1)" 1e-9 && near "$a" "$(val $r retrieval/ndcg_at_1)" 1e-9 ||
      { echo "run $r: pass_at_1 $a, recall_at_1 $(val $r retrieval/recall_at_1), ndcg_at_1 $(val $r retrieval/ndcg_at_1)"; return 1; }
  done
}
recall_fraction_identity() { # R = 10 for every query: recall_frac@5 = 5 * pass@5 / 10
  local r
  for r in 1 2; do
    near "$(val $r retrieval/recall_frac_at_5)" "$(awk -v p="$(val $r retrieval/pass_at_5)" 'BEGIN { print p / 2 }')" 1e-3 ||
      { echo "run $r: recall_frac_at_5 $(val $r retrieval/recall_frac_at_5), pass_at_5 $(val $r retrieval/pass_at_5)"; return 1; }
    [ "$(val $r retrieval/recall_at_5)" != "$(val $r retrieval/recall_frac_at_5)" ] || { echo "the two readings agree"; return 1; }
  done
}
mean_pool_is_model_pool() { # the backbone pools by mean: the token hook's mean is the same features
  local r p
  for r in 1 2; do
    for p in map pass_at_5 ndcg_at_5; do
      near "$(val $r retrieval/$p)" "$(val $r by_mean/$p)" 0.05 || { echo "run $r $p: $(val $r retrieval/$p) vs $(val $r by_mean/$p)"; return 1; }
    done
  done
}
last_pool_differs() {
  ! near "$(val 1 retrieval/map)" "$(val 1 by_last/map)" 0.01 || { echo "pool last gave the mean's mAP $(val 1 by_last/map)"; return 1; }
}
models_differ() { # another model (language weights vs scratch) gives other numbers
  ! near "$(val 1 retrieval/map)" "$(val 2 retrieval/map)" 0.01 || { echo "scratch and language both mAP $(val 1 retrieval/map)"; return 1; }
}
test_gallery() { # each test image against the 49 others; ks 1, 3, 10
  [ "$(val 1 rest/gallery_size)" = 50 ] && [ "$(val 1 rest/n_queries)" = 50 ] && val 1 rest/ndcg_at_10 >/dev/null &&
    val 1 rest/recall_frac_at_3 >/dev/null && ! val 1 rest/pass_at_5 >/dev/null 2>&1
}
# the saved examples: relevant = same label, labels and pixels those of the images named,
# similarities best first, a test-set gallery never returns the query itself
examples_consistent() {
  $PY - "$H" <<'PY'
import sys, gzip, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
for rid, run in f["runs"].items():
    for st, gal_is_test in (("retrieval", False), ("rest", True)):
        e = run[f"{st}/examples"]
        q, ql, top, tl, rel, sim = (e[k][()] for k in ("query", "query_label", "top", "top_label", "top_relevant", "top_similarity"))
        assert len(q) == (6 if st == "retrieval" else 4) and top.shape[1] == (5 if st == "retrieval" else 3), (rid, st, top.shape)
        assert len(set(ql.tolist())) == len(ql), "example queries are class-balanced"
        assert (rel == (tl == ql[:, None])).all(), (rid, st, "relevant != same label")
        assert (np.diff(sim, axis=1) <= 1e-6).all(), (rid, st, "similarities not best first")
        if gal_is_test:
            assert (top != q[:, None]).all(), (rid, st, "a query retrieved itself")
            qp, tp = e["query_pixels"][()], e["top_pixels"][()]
            for i in range(len(q)):   # the gallery is the test set: a top item's pixels are those of query-set image top[i, j]
                for j in range(top.shape[1]):
                    hit = np.where(q == top[i, j])[0]
                    if len(hit): assert np.array_equal(tp[i, j], qp[hit[0]]), (rid, "pixels")
        assert "by_last/examples" not in run, "examples: 0 saves none"
PY
}
if "$LBBT" run "$E" --threads 1 --out "$H" >"$CLI_TMP/run.log" 2>&1; then
  check every_metric_recorded every_metric
  check k1_precision_hit_ndcg_equal k1_identity
  check recall_fraction_reading recall_fraction_identity
  check pool_mean_equals_model_pool mean_pool_is_model_pool
  check pool_last_differs last_pool_differs
  check other_model_other_numbers models_differ
  check test_set_gallery test_gallery
  if $PY -c 'import h5py, numpy' 2>/dev/null; then
    check examples_consistent examples_consistent
  else
    skip examples_consistent "python3-h5py absent (tools/install-deps installs it)"
  fi
else
  echo "FAIL retrieval.task_runs: $(tail -n 3 "$CLI_TMP/run.log" | tr '\n' ' ')"
fi

# ---- 2. bad input: exit 2, naming the file (and line)
bad() { # NAME PATTERN SED-EXPRESSION
  local f="$CLI_TMP/bad-$1.yaml"
  sed "$3" "$E" >"$f"
  check "bad_$1" expect_exit 2 "$2" "$LBBT" run "$f" --threads 1 --out "$CLI_TMP/bad-$1.h5"
}
bad gallery_value "bad-gallery_value.yaml:[0-9]+:[0-9]+: .*gallery" 's/gallery: test/gallery: tests/'
bad pool_value "bad-pool_value.yaml:[0-9]+:[0-9]+: .*pool" 's/pool: last/pool: first/'
bad ks_text "bad-ks_text.yaml: stage 'rest': ks '1,x'" 's/ks: "1,3,10"/ks: "1,x"/'
bad ks_order "bad-ks_order.yaml: stage 'rest': ks '3,1'.*ascending" 's/ks: "1,3,10"/ks: "3,1"/'
bad k_above_gallery "bad-k_above_gallery.yaml: stage 'rest': k = 50 is more than the 49" 's/ks: "1,3,10"/ks: "1,50"/'
bad cls_without_token "bad-cls_without_token.yaml: stage 'by_last': pool: cls needs a class token" 's/pool: last/pool: cls/'
bad unknown_key "bad-unknown_key.yaml:[0-9]+:[0-9]+: .*galery" 's/gallery: test/galery: test/'
check missing_experiment expect_exit 2 "no-such.yaml" "$LBBT" run "$CLI_TMP/no-such.yaml" --out "$CLI_TMP/x.h5"
bad missing_checkpoint "bad-missing_checkpoint.yaml:[0-9]+:[0-9]+: .*no-such.bin" 's#models:stories260K.bin#models:no-such.bin#'

# ---- 3. Table 11 at the smoke tier
lm_log=$(ensure_smoke_lm) || echo "FAIL retrieval.smoke_lm_model: $lm_log"
T="$CLI_TMP/table-11-smoke.h5"
mkdir -p "$CLI_TMP/out"
every_row_every_metric() { # each row of paper-tables/table-11.yaml with runs has a number in every lbbt column
  $PY - "$CLI_TMP/out/table-11-smoke.md" <<'PY'
import sys, yaml
md = open(sys.argv[1]).read()
t = yaml.safe_load(open("paper-tables/table-11.yaml"))
metrics = [c["metric"] for c in t["columns"]]
header = next(l for l in md.splitlines() if l.startswith("| Row |"))
cols = [c.strip() for c in header.strip("|").split("|")]
lb = [i for i, c in enumerate(cols) if c.startswith("lbbt:")]
assert [cols[i].split()[-1] for i in lb] == metrics, ("lbbt columns", [cols[i] for i in lb])
smoke_rows = {"bridge", "lbbt", "no_bridge_scratch", "no_bridge_language", "control_shuffled",
              "control_shuffled_no_bridge", "gpt2_no_bridge_scratch", "gpt2_no_bridge_language",
              "gpt2_bridge", "gpt2_lbbt"}   # the inits the smoke tier runs
for r in t["rows"]:
    line = next((l for l in md.splitlines() if l.startswith(f"| {r['label']} |")), None)
    assert line, ("row missing", r["label"])
    cells = [c.strip() for c in line.strip("|").split("|")]
    if r["id"] in smoke_rows:
        bad = [cols[i] for i in lb if "(n=1)" not in cells[i]]
        assert not bad, (r["id"], bad)
    for c in t["columns"]:
        want = (r.get("paper") or {}).get(c["id"])
        got = cells[cols.index(f"paper: {c['dataset']} {c['metric']}")]
        assert got == (f"{want:.1f}" if want is not None else "n.r."), (r["id"], c["id"], got)
PY
}
if "$LBBT" run experiments/table-11.yaml --tier smoke --threads 1 --out "$T" >"$CLI_TMP/run-11.log" 2>&1 &&
   "$LBBT" table 11 --tier smoke --results "$T" --out-dir "$CLI_TMP/out" >/dev/null 2>"$CLI_TMP/table-11.log"; then
  if $PY -c 'import yaml' 2>/dev/null; then
    check table_11_every_row_every_metric every_row_every_metric
  else
    skip table_11_every_row_every_metric "python3-yaml absent"
  fi
  if $PY -c 'import h5py, matplotlib' 2>/dev/null; then
    png="$CLI_TMP/out/figure-retrieval-smoke.png"
    check figure_retrieval_png bash -c "$PY tools/plot/figure-retrieval.py '$T' '$png' && [ \"\$(head -c 8 '$png' | od -An -tx1 | tr -d ' \n')\" = 89504e470d0a1a0a ]"
  else
    skip figure_retrieval_png "python3-h5py or python3-matplotlib absent (tools/install-deps installs them)"
  fi
else
  echo "FAIL retrieval.table_11_smoke: $(tail -n 3 "$CLI_TMP/run-11.log" "$CLI_TMP/table-11.log" | tr '\n' ' ')"
fi
check figure_without_results expect_exit 1 "does not exist" $PY tools/plot/figure-retrieval.py "$CLI_TMP/none.h5" "$CLI_TMP/x.png"
