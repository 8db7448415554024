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
