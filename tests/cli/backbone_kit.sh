#!/usr/bin/env bash
# A new backbone is one short file: the test plugin tests/plugins/tiny_prenorm.c, built only
# from the backbone kit (lbbt/backbone_kit.h) with no core edit, is listed by `lbbt plugins`
# through LBBT_PLUGIN_PATH, trains in a classification experiment at smoke scale (preset and
# options-sized runs, with the parameter counts its layout implies), and reports bad options.
source tests/cli/lib.bash
TPLUG=${LBBT_BUILD:-build}/tests/plugins
EXP=tests/cli/fixtures/tiny_prenorm.yaml
[ -f "$TPLUG/tiny_prenorm.so" ] || { skip all "$TPLUG/tiny_prenorm.so absent: build the test plugins with make test"; exit 0; }
export LBBT_PLUGIN_PATH=$TPLUG

check listed bash -c "'$LBBT' plugins 2>/dev/null | grep -Eq '^tiny_prenorm +backbone +test backbone: .*tiny_prenorm\.so$'"

if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  check classification_runs "$LBBT" run $EXP --threads 1 --out "$CLI_TMP/tiny.h5"
  # tiny (width 16, depth 2, 2 heads, MLP 64) at patch 7 with a class token on 28x28x1:
  # blocks 2 x 3280, final norm 32, patch embedding 800, positions 17 x 16, class token 16,
  # head 170 = 7850; width 24, depth 1, 3 heads (MLP 96): 7224 + 48 + 1200 + 408 + 24 + 250
  # = 9154.
  runs_have() { # PATTERN...: each names one run's items
    local out pat
    out=$("$LBBT" inspect "$CLI_TMP/tiny.h5") || return 1
    for pat in "$@"; do grep -Eq "$pat" <<<"$out" || { echo "no run matches /$pat/: $out"; return 1; }; done
  }
  check parameter_counts runs_have \
    'complete  backbone.options=\{\}  model/params=7850  model/dim=16  model/n_layers=2 .*probe/test_acc1=' \
    'complete  backbone.options=\{width: 24, heads: 3, depth: 1\}  model/params=9154  model/dim=24  model/n_layers=1 '
  sed 's/width: 24/widht: 24/' $EXP >"$CLI_TMP/bad.yaml"
  check bad_option expect_exit 2 "bad.yaml:13:[0-9]+: unknown key 'widht' in the options of backbone \(backbone 'tiny_prenorm'\); did you mean 'width'\?" \
    "$LBBT" run "$CLI_TMP/bad.yaml" --threads 1 --out "$CLI_TMP/bad.h5"
else
  skip classification_runs "Fashion-MNIST absent"
fi
