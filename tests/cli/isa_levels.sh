#!/usr/bin/env bash
# The ISA levels of lbbt's own kernels (core/include/lbbt/isa.h): `lbbt version` names the
# level, LBBT_MAX_ISA caps it (a misspelt value is bad input, exit 2), and the kernel tests
# pass at every level this machine has (each one run with LBBT_MAX_ISA set to the level and
# DNNL_MAX_CPU_ISA to oneDNN's matching cap); a level the machine lacks is a SKIP line.
source tests/cli/lib.bash
BUILD=${LBBT_BUILD:-build}
# Kernel tests that go through the run-time dispatch: small matmul tiles, attention (the
# fused path), dense ops (norms, softmax, elementwise), optimizers, PyTorch parity.
KERNEL_TESTS=(test_small_mm test_ops_seq test_ops_dense test_optim test_parity_ops)

machine=$("$LBBT" version | sed -n 's/^kernels .*(machine \([a-z0-9]*\).*/\1/p')
check version_names_level test -n "$machine"
check cap_to_baseline expect_exit 0 '^kernels baseline \(machine' env LBBT_MAX_ISA=baseline "$LBBT" version
check cap_above_machine_is_machine expect_exit 0 "^kernels $machine " env LBBT_MAX_ISA=avx512 "$LBBT" version
check bad_cap_exit_2 expect_exit 2 "LBBT_MAX_ISA='avx3': expected baseline, avx2 or avx512" \
  env LBBT_MAX_ISA=avx3 "$LBBT" version

# level -> oneDNN's cap (the same vector width)
declare -A DNNL_CAP=([baseline]=SSE41 [avx2]=AVX2 [avx512]=ALL)
rank() { case $1 in baseline) echo 0 ;; avx2) echo 1 ;; avx512) echo 2 ;; *) echo 9 ;; esac; }
run_at() { # level test: the test binary passes (no FAIL line, exit 0) at that level
  local out
  out=$(LBBT_MAX_ISA=$1 DNNL_MAX_CPU_ISA=${DNNL_CAP[$1]} "$BUILD/tests/$2" 2>&1) || {
    printf '%s\n' "$out" | grep -E '^FAIL' | head -n 3; return 1; }
  ! printf '%s\n' "$out" | grep -q '^FAIL'
}
for level in baseline avx2 avx512; do
  if [ "$(rank "$level")" -gt "$(rank "$machine")" ]; then
    skip "kernels_at_$level" "this machine's level is $machine"
    continue
  fi
  for t in "${KERNEL_TESTS[@]}"; do
    if [ -x "$BUILD/tests/$t" ]; then check "${t}_at_$level" run_at "$level" "$t"
    else skip "${t}_at_$level" "$BUILD/tests/$t not built"; fi
  done
done

# Table 4's smoke tier at every level the machine has agrees with the baseline run: the levels
# differ by float reassociation only (vector widths, FMA, oneDNN's kernels), which four
# training steps amplify little.  Tolerances: losses and gradient norms within 1e-3
# relative (+ 1e-5 absolute), accuracies (percent of 100 images) within 1 point, the
# per-arm sweep's chosen lr equal.  One thread, as tables.sh runs the smoke tiers.
metrics() { # results.h5 -> "run_id key value" lines of the compared metrics
  "$LBBT" inspect "$1" | awk '$2 == "complete" {
    for (i = 3; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[1] ~ /(train_loss|test_loss|grad_norm|acc1|chosen_lr)$/)
      print $1, kv[1], kv[2] }' | sort
}
agree() { # reference.h5 other.h5
  local a b
  a=$(metrics "$1"); b=$(metrics "$2")
  [ -n "$a" ] || { echo "no metrics in $1"; return 1; }
  join -j1 <(awk '{print $1 "/" $2, $3}' <<<"$a") <(awk '{print $1 "/" $2, $3}' <<<"$b") |
    awk -v want="$(wc -l <<<"$a")" '
      { n++; d = $2 - $3; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2
        tol = $1 ~ /acc1$/ ? 1 : ($1 ~ /chosen_lr$/ ? 0 : 1e-5 + 1e-3 * m)
        if (d > tol) { printf "%s: %s vs %s (tolerance %g)\n", $1, $2, $3, tol; bad = 1 } }
      END { if (n != want) { printf "%d of %d metrics matched by run id\n", n, want; bad = 1 }
            exit bad }'
}
lm_log=$(ensure_smoke_lm) || echo "FAIL isa_levels.smoke_lm_model: $lm_log"
t4_at() { # level -> results file (empty on failure, the log's tail on stdout)
  local out="$CLI_TMP/table-4-$1.h5"
  if LBBT_MAX_ISA=$1 DNNL_MAX_CPU_ISA=${DNNL_CAP[$1]} "$LBBT" run experiments/table-4.yaml --tier smoke \
       --threads 1 --out "$out" >"$CLI_TMP/t4-$1.log" 2>&1; then echo "$out"
  else tail -n 3 "$CLI_TMP/t4-$1.log" | tr '\n' ' '; fi
}
ref=$(t4_at baseline)
if [ -f "$ref" ]; then
  check table_4_smoke_records_baseline expect_exit 0 'kernel_isa +baseline' "$LBBT" inspect "$ref"
  for level in avx2 avx512; do
    if [ "$(rank "$level")" -gt "$(rank "$machine")" ]; then
      skip "table_4_smoke_agrees_at_$level" "this machine's level is $machine"
      continue
    fi
    other=$(t4_at "$level")
    if [ -f "$other" ]; then check "table_4_smoke_agrees_at_$level" agree "$ref" "$other"
    else echo "FAIL isa_levels.table_4_smoke_at_$level: $other"; fi
  done
else
  echo "FAIL isa_levels.table_4_smoke_at_baseline: $ref"
fi
