#!/usr/bin/env bash
# Every experiment gives the numbers it gave when tests/fixtures/smoke-numbers/ was recorded
# (tests/reference/smoke_numbers.sh record, on the commit named in the fixtures' commit), run
# by run, at the smoke tier on one thread with the baseline kernels (LBBT_MAX_ISA=baseline,
# so any x86-64 machine computes the same): refactoring the runner, the tasks or the training
# loop must change no result.  Tolerance: 1e-6 relative (+1e-12 absolute) per value (libm
# versions may differ in the last bits; a changed computation moves values far more); a
# value missing on either side fails.  A change that is meant to move numbers (a kernel that
# rounds differently) re-records: tests/reference/smoke_numbers.sh record.
# LBBT_SMOKE_NUMBERS=NAME[,NAME...] checks only those experiments.
source tests/cli/lib.bash
# The fixtures are the optimised build's numbers; the sanitizer build (-O1) rounds differently
# in the 6th-7th digit (t-SNE amplifies it), found on AVX2 in `make asan`; valgrind memcheck of
# figure-4's smoke run on the optimised build reports no uninitialised read.  The same
# experiments run under the sanitizers in tables.sh and figures.sh.
if [ -n "${LBBT_SANITIZED:-}" ]; then
  skip all "numbers are recorded from the optimised build; the -O1 sanitizer build rounds differently"; exit 0
fi
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
if [ ! -d /usr/share/games/fortunes ] && [ ! -f "${LBBT_CORPORA:-../shared/corpora}/tinyshakespeare.txt" ]; then
  skip all "no default corpus for the smoke language model (install fortunes: tools/install-deps)"; exit 0
fi
names=$(ls tests/fixtures/smoke-numbers/*.txt | xargs -n1 basename | sed 's/\.txt$//')
[ -n "${LBBT_SMOKE_NUMBERS:-}" ] && names=$(printf '%s\n' ${LBBT_SMOKE_NUMBERS//,/ })

same_numbers() { # NAME
  tests/reference/smoke_numbers.sh run "$1" "$CLI_TMP" >"$CLI_TMP/$1.now" || return 1
  awk '
    function differ(a, b) { d = a - b; if (d < 0) d = -d; m = (b < 0 ? -b : b); return d > 1e-6 * m + 1e-12 }
    FNR == NR { recorded[$1 " " $2] = $0; next }
    {
      key = $1 " " $2; seen[key] = 1
      if (!(key in recorded)) { print "not recorded: " key; bad = 1; next }
      n = split(recorded[key], r, " ")
      if (n != NF) { print key ": " NF - 2 " values now, " n - 2 " recorded"; bad = 1; next }
      for (i = 3; i <= NF; i++)
        if ($i != r[i] && differ($i + 0, r[i] + 0)) { print key " value " i - 2 ": " $i " now, " r[i] " recorded"; bad = 1; break }
    }
    END {
      for (k in recorded) if (!(k in seen)) { print "missing now: " k; bad = 1 }
      exit bad
    }' "tests/fixtures/smoke-numbers/$1.txt" "$CLI_TMP/$1.now"
}
for n in $names; do
  check "$n" same_numbers "$n"
done
