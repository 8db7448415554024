#!/usr/bin/env bash
# lr_sweep: per-arm picks a learning rate per arm on a held-out split and records the sweep.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
check sweep_runs "$LBBT" run tests/cli/fixtures/sweep.yaml --out "$CLI_TMP/s.h5"
# with true labels, lr 1e-5 for 2 epochs cannot beat 3e-3 on held-out images
check picks_larger_lr bash -c "'$LBBT' inspect '$CLI_TMP/s.h5' | grep -q 'bridge/chosen_lr=0.003'"
records_sweep() {
  local id
  id=$("$LBBT" check tests/cli/fixtures/sweep.yaml 2>/dev/null | awk '{print $1}')
  "$LBBT" inspect "$CLI_TMP/s.h5" --run "$id" | grep -q 'bridge/sweep_score = f32\[2\]'
}
check records_sweep records_sweep
sed 's/lr_grid: "0.00001,0.003"/lr_grid: "0.001,abc"/' tests/cli/fixtures/sweep.yaml > "$CLI_TMP/bad.yaml"
check bad_grid expect_exit 2 "lr_grid" "$LBBT" run "$CLI_TMP/bad.yaml" --out "$CLI_TMP/b.h5"
sed 's/sweep_epochs: 2/sweep_epoch: 2/' tests/cli/fixtures/sweep.yaml > "$CLI_TMP/bad2.yaml"
check unknown_option expect_exit 2 "bad2.yaml:9:44: unknown key 'sweep_epoch' in the options of stage 'bridge' \(task 'classification'\); did you mean 'sweep_epochs'\?" "$LBBT" run "$CLI_TMP/bad2.yaml" --out "$CLI_TMP/b.h5"
