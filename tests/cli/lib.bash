# Sourced by tests/cli/*.sh (source tests/cli/lib.bash): the same PASS/FAIL/SKIP protocol as tests/unit/test.h.
# Usage: check NAME COMMAND...   (passes when COMMAND exits 0)
LBBT=${LBBT_BUILD:-build}/lbbt
CLI_TMP=$(mktemp -d "${TMPDIR:-/tmp}/lbbt-cli-XXXXXX")
trap 'rm -rf "$CLI_TMP"' EXIT
cli_name=$(basename "$0" .sh)
check() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then echo "PASS $cli_name.$name"; else
    echo "FAIL $cli_name.$name: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"; fi
}
skip() { echo "SKIP $cli_name.$1: $2"; }
# expect_exit CODE PATTERN COMMAND...: exit code must be CODE and stderr+stdout must match PATTERN (grep -E)
expect_exit() {
  local code=$1 pat=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then echo "exit $rc, wanted $code: $out" >&2; return 1; fi
  if ! printf '%s' "$out" | grep -Eq -- "$pat"; then echo "output lacks /$pat/: $out" >&2; return 1; fi
  return 0
}
# The smoke tiers of the classification tables read lbbt's own smoke GPT-2 language model
# (models/lbbt-gpt2-fortunes-smoke, gitignored); build it when absent, as `make models
# TIER=smoke` does (seconds; its results file goes to $CLI_TMP).  On failure: the log's tail
# on stdout and a non-zero status.
ensure_smoke_lm() {
  local model=models/lbbt-gpt2-fortunes-smoke
  [ -f "$model/model.safetensors" ] && return 0
  if "$LBBT" run experiments/lm-pretrain.yaml --tier smoke --threads 1 --out "$CLI_TMP/lm-pretrain-smoke.h5" \
       >"$CLI_TMP/lm-pretrain-smoke.log" 2>&1 && [ -f "$model/model.safetensors" ]; then
    return 0
  fi
  tail -n 3 "$CLI_TMP/lm-pretrain-smoke.log" | tr '\n' ' '
  return 1
}
