# lbbt plugins: lists the build's plugins, adds LBBT_PLUGIN_PATH's, reports refusals on
# stderr without failing, fails (1) only when the build's plugin folder cannot be read.
source tests/cli/lib.bash
BUILD=${LBBT_BUILD:-build}
TPLUG=$BUILD/tests/plugins

# run_split ARGS...: run lbbt with stdout and stderr kept apart in $CLI_TMP/{out,err}; sets rc
run_split() { "$@" >"$CLI_TMP/out" 2>"$CLI_TMP/err"; rc=$?; }

lists_template() {
  run_split env LBBT_PLUGIN_PATH= "$LBBT" plugins
  [ "$rc" -eq 0 ] || { echo "exit $rc: $(cat "$CLI_TMP/err")" >&2; return 1; }
  grep -Eq '^NAME +KIND +SUMMARY +FILE$' "$CLI_TMP/out" || { echo "no header: $(cat "$CLI_TMP/out")" >&2; return 1; }
  grep -Eq '^template +analysis +.+/plugins/analyses/template\.so$' "$CLI_TMP/out" ||
    { echo "template missing: $(cat "$CLI_TMP/out")" >&2; return 1; }
  ! grep -q hello "$CLI_TMP/out" || { echo "hello listed without LBBT_PLUGIN_PATH" >&2; return 1; }
}

kind_filter() {
  run_split env LBBT_PLUGIN_PATH= "$LBBT" plugins --kind analysis
  [ "$rc" -eq 0 ] && grep -Eq '^template +analysis' "$CLI_TMP/out" ||
    { echo "--kind analysis: exit $rc: $(cat "$CLI_TMP/out")" >&2; return 1; }
  run_split env LBBT_PLUGIN_PATH= "$LBBT" plugins --kind=backbone
  [ "$rc" -eq 0 ] && ! grep -q '^template ' "$CLI_TMP/out" ||
    { echo "--kind=backbone: exit $rc: $(cat "$CLI_TMP/out")" >&2; return 1; }
}

path_plugins_and_refusals() {
  run_split env LBBT_PLUGIN_PATH="$TPLUG:$CLI_TMP/missing" "$LBBT" plugins
  [ "$rc" -eq 0 ] || { echo "exit $rc with refusals, want 0" >&2; return 1; }
  local out err
  out=$(cat "$CLI_TMP/out"); err=$(cat "$CLI_TMP/err")
  grep -Eq '^hello +analysis +test plugin: says hello.* .*tests/plugins/hello_analysis\.so$' <<<"$out" ||
    { echo "hello missing: $out" >&2; return 1; }
  local want
  for want in 'refused .*/bad_abi\.so: abi_version is 999, this lbbt expects 2' \
              'refused .*/abi1_task\.so: abi_version is 1, this lbbt expects 2: rebuild the plugin' \
              "refused .*/no_descriptor\.so: no symbol 'lbbt_plugin_descriptor'" \
              'refused .*/null_run_task\.so: task->run is NULL' \
              "refused .*/hello_analysis_copy\.so: analysis name 'hello' is already taken by .*/hello_analysis\.so" \
              "warning: LBBT_PLUGIN_PATH entry '$CLI_TMP/missing'"; do
    grep -Eq -- "$want" <<<"$err" || { echo "stderr lacks /$want/: $err" >&2; return 1; }
  done
  ! grep -Eq 'refused|warning' <<<"$out" || { echo "refusals on stdout: $out" >&2; return 1; }
}

check lists_template lists_template
check kind_filter kind_filter
if [ -f "$TPLUG/hello_analysis.so" ]; then
  check path_plugins_and_refusals path_plugins_and_refusals
else
  skip path_plugins_and_refusals "$TPLUG/hello_analysis.so absent: build the test plugins with make test"
fi
check unknown_kind expect_exit 2 "unknown plugin kind 'bogus': use backbone, task or analysis" "$LBBT" plugins --kind bogus
check unknown_argument expect_exit 2 "unknown argument '--verbose'" "$LBBT" plugins --verbose
check unreadable_plugin_dir expect_exit 1 "cannot read plugin folder '$CLI_TMP/no-build/plugins'" \
  env LBBT_BUILD="$CLI_TMP/no-build" "$LBBT" plugins
check help expect_exit 0 'LBBT_PLUGIN_PATH' "$LBBT" plugins --help
check listed_in_usage expect_exit 0 '^  plugins ' "$LBBT" --help

# The copy-me templates (plugins/tasks/template.c, plugins/analyses/template.c) run end to
# end on a tiny model, with their typed keys bound and recorded.
templates_run() {
  cat > "$CLI_TMP/templates.yaml" <<YAML
base:
  backbone: {plugin: gpt2, options: {n_embd: 8, n_layer: 1, n_head: 1}, patch_size: 7}
  data: {dataset: fashion-mnist, limit: 10, test_limit: 20}
  stages:
    - {name: eval, task: template, epochs: 1, images: 10}
    - {name: count, analysis: template, top_k: 3}
YAML
  env LBBT_PLUGIN_PATH= "$LBBT" run "$CLI_TMP/templates.yaml" --out "$CLI_TMP/templates.h5" --threads 1 \
    >/dev/null 2>"$CLI_TMP/err" || { echo "run failed: $(tail -3 "$CLI_TMP/err")" >&2; return 1; }
  local line
  line=$("$LBBT" inspect "$CLI_TMP/templates.h5" | grep complete)
  local want
  for want in 'eval/images=10' 'eval/options/images=10' 'eval/options/eval_batch=256' 'eval/test_acc1=' \
              'count/options/top_k=3' 'count/options/per_layer=0' 'count/params=[1-9]'; do
    grep -q -- "$want" <<<"$line" || { echo "inspect lacks $want: $line" >&2; return 1; }
  done
}
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  check templates_run templates_run
else
  skip templates_run "Fashion-MNIST absent"
fi
