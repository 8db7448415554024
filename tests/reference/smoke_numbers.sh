#!/usr/bin/env bash
# The numbers every experiment gives at the smoke tier, run by run, so a change to the runner
# or the training loop can show that it changes none of them (tests/cli/smoke_numbers.sh).
#
#   tests/reference/smoke_numbers.sh record [NAME...]   run experiments/NAME.yaml (default:
#       all) at the smoke tier and write tests/fixtures/smoke-numbers/NAME.txt
#   tests/reference/smoke_numbers.sh run NAME DIR       run one into DIR and print its numbers
#
# Each run is identified by its position in the experiment (run ids change when a run's
# configuration does, e.g. when a task stops needing a key), each number by its path in the
# run record; strings, timings (seconds, images_per_s, tokens_per_s) and the checkpoint
# fingerprint are left out.  Values are printed with 17 significant digits (h5dump); arrays
# longer than 16 values are summarised (summarise, below).
# Everything runs on one thread with the baseline kernels, from the repository root, with
# --no-reuse; experiments that
# read lbbt's own smoke language model read one this script trains first into DIR (from
# experiments/lm-pretrain.yaml), never models/; those that read the size sweep's smoke models
# (models/lbbt-gpt2-d<W>-smoke: Table 5) likewise read DIR/d<W>-smoke, trained from
# experiments/lm-pretrain-sizes.yaml; the same for the smoke time-series T5
# (experiments/ts-pretrain.yaml).
set -u
LBBT=${LBBT_BUILD:-build}/lbbt
FIXTURES=tests/fixtures/smoke-numbers
# One thread and the baseline kernels (LBBT_MAX_ISA also caps oneDNN): the AVX2 and AVX-512
# kernels round differently, and a machine picks them from its CPU.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE LBBT_MAX_ISA=baseline

# The experiment copied into DIR with the smoke models' folders moved into DIR.
copy_experiment() { # NAME DIR -> prints the copy's path
  sed -e "s#models/lbbt-gpt2-fortunes-smoke#$2/lm-smoke#g" \
      -e "s#models/lbbt-gpt2-\(d[0-9]*-smoke\)#$2/\1#g" \
      -e "s#models/lbbt-chronos-t5-smoke#$2/ts-smoke#g" "experiments/$1.yaml" >"$2/$1.yaml"
  echo "$2/$1.yaml"
}

# The smoke language model in DIR/lm-smoke (once per DIR).
smoke_lm() { # DIR
  [ -f "$1/lm-smoke/model.safetensors" ] && return 0
  local exp
  exp=$(copy_experiment lm-pretrain "$1")
  "$LBBT" run "$exp" --tier smoke --threads 1 --no-reuse --out "$1/lm-smoke.h5" >"$1/lm-smoke.log" 2>&1 ||
    { tail -n 5 "$1/lm-smoke.log" >&2; return 1; }
}

# The size sweep's smoke models in DIR/d<W>-smoke (once per DIR).
smoke_sizes() { # DIR
  [ -f "$1/d16-smoke/model.safetensors" ] && return 0
  local exp
  exp=$(copy_experiment lm-pretrain-sizes "$1")
  "$LBBT" run "$exp" --tier smoke --threads 1 --no-reuse --out "$1/sizes-smoke.h5" >"$1/sizes-smoke.log" 2>&1 ||
    { tail -n 5 "$1/sizes-smoke.log" >&2; return 1; }
}

# The smoke time-series T5 in DIR/ts-smoke (once per DIR).
smoke_ts() { # DIR
  [ -f "$1/ts-smoke/model.safetensors" ] && return 0
  local exp
  exp=$(copy_experiment ts-pretrain "$1")
  "$LBBT" run "$exp" --tier smoke --threads 1 --no-reuse --out "$1/ts-smoke.h5" >"$1/ts-smoke.log" 2>&1 ||
    { tail -n 5 "$1/ts-smoke.log" >&2; return 1; }
}

# "run<i> <path> <v1> <v2> ..." for every numeric item of every run of a results file, runs
# in the experiment's order.
dump() { # EXPERIMENT_COPY RESULTS
  local i=0 id
  for id in $("$LBBT" check "$1" --tier smoke 2>/dev/null | awk '{print $1}'); do
    i=$((i + 1))
    h5ls -r "$2/runs/$id" | awk '$2 == "Dataset" {print $1}' | sort | while read -r item; do
      case "$item" in
        */seconds | */images_per_s | */tokens_per_s | */windows_per_s | */corpus_seconds) continue ;;
      esac
      h5dump -m %.17g -d "/runs/$id$item" "$2" |
        awk -v run="run$i" -v item="${item#/}" '
          /DATATYPE/ { numeric = ($0 ~ /H5T_IEEE|H5T_STD/) }
          /DATA \{/ { on = 1; next }
          on && /^ *\}/ { on = 0 }
          on { sub(/^ *\([0-9,]*\): */, ""); gsub(/,/, " "); vals = vals " " $0 }
          END { if (numeric) { gsub(/  +/, " ", vals); print run " " item vals } }'
    done
  done | summarise
}

# Arrays of more than 16 values become "summary", their count, sum, sum of magnitudes, sum
# of squares and first 8 values (the fixtures stay small; a changed value moves the sums).
summarise() {
  awk 'NF - 2 <= 16 { print; next }
    {
      n = NF - 2; s = 0; a = 0; q = 0
      for (i = 3; i <= NF; i++) { v = $i + 0; s += v; a += (v < 0 ? -v : v); q += v * v }
      line = sprintf("%s %s summary %d %.17g %.17g %.17g", $1, $2, n, s, a, q)
      for (i = 3; i <= 10; i++) line = line " " $i
      print line
    }'
}

run_one() { # NAME DIR
  local exp
  if grep -q 'models/lbbt-gpt2-fortunes-smoke' "experiments/$1.yaml" && [ "$1" != lm-pretrain ]; then
    smoke_lm "$2" || return 1
  fi
  if grep -q 'models/lbbt-gpt2-d[0-9]*-smoke' "experiments/$1.yaml" && [ "$1" != lm-pretrain-sizes ]; then
    smoke_sizes "$2" || return 1
  fi
  if grep -q 'models/lbbt-chronos-t5-smoke' "experiments/$1.yaml" && [ "$1" != ts-pretrain ]; then
    smoke_ts "$2" || return 1
  fi
  exp=$(copy_experiment "$1" "$2")
  [ "$1" = lm-pretrain ] && sed -i "s#out: $2/lm-smoke#out: $2/lm-out#" "$exp"
  [ "$1" = ts-pretrain ] && sed -i "s#out: $2/ts-smoke#out: $2/ts-out#" "$exp"
  "$LBBT" run "$exp" --tier smoke --threads 1 --no-reuse --out "$2/$1.h5" >"$2/$1.log" 2>&1 ||
    { tail -n 5 "$2/$1.log" >&2; return 1; }
  dump "$exp" "$2/$1.h5"
}

case "${1:-}" in
  run) run_one "$2" "$3" ;;
  record)
    shift
    names=("$@")
    [ ${#names[@]} -gt 0 ] || names=($(ls experiments/*.yaml | xargs -n1 basename | sed 's/\.yaml$//'))
    mkdir -p "$FIXTURES"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/lbbt-smoke-numbers-XXXXXX")
    trap 'rm -rf "$dir"' EXIT
    for n in "${names[@]}"; do
      echo "recording $n" >&2
      run_one "$n" "$dir" >"$dir/$n.txt" || { echo "$n failed" >&2; exit 1; }
      mv "$dir/$n.txt" "$FIXTURES/$n.txt"
    done ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
