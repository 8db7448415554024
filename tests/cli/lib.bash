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
# same_run_items A.h5 B.h5 ID...: each run holds the same items and attributes in both files
# (`lbbt inspect --run`), timings, commit times and the run checksum (which covers them)
# aside (sweeps: tests/cli/parallel_sweep.sh).
same_run_items() {
  local a=$1 b=$2 id; shift 2
  for id in "$@"; do
    diff <("$LBBT" inspect "$a" --run "$id" | grep -Ev 'committed_utc|images_per_s|/seconds|run_sha256') \
         <("$LBBT" inspect "$b" --run "$id" | grep -Ev 'committed_utc|images_per_s|/seconds|run_sha256') || return 1
  done
}
# same_table_md N A.h5 B.h5: `lbbt table N --tier smoke` renders the same Markdown from both
# results files (their paths aside), and it has reproduced cells.
same_table_md() {
  local n=$1 a=$2 b=$3
  mkdir -p "$CLI_TMP/md-a" "$CLI_TMP/md-b"
  "$LBBT" table "$n" --tier smoke --results "$a" --out-dir "$CLI_TMP/md-a" >/dev/null || return 1
  "$LBBT" table "$n" --tier smoke --results "$b" --out-dir "$CLI_TMP/md-b" >/dev/null || return 1
  grep -q '(n=1)' "$CLI_TMP/md-b/table-$n-smoke.md" || { echo "no reproduced cells"; return 1; }
  diff <(sed "s#$a#RESULTS#" "$CLI_TMP/md-a/table-$n-smoke.md") <(sed "s#$b#RESULTS#" "$CLI_TMP/md-b/table-$n-smoke.md")
}

# A hang guard (the issue's 60 s): a command that does not finish in HANG_GUARD seconds hangs.
# Sanitizer builds run several times slower, so `make asan` raises it (LBBT_HANG_GUARD_S).
HANG_GUARD=${LBBT_HANG_GUARD_S:-60}
