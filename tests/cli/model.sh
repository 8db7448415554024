# lbbt model / forward / generate on the tiny fixtures of tests/fixtures/backbones (and on
# ../shared/models/stories260K.bin when present): the plugin is picked by probe, outputs
# have the right datasets and shapes, and bad input exits 2 with a message naming the problem.
source tests/cli/lib.bash
FIX=tests/fixtures/backbones
STORIES=${LBBT_MODELS:-../shared/models}/stories260K.bin

# make_h5 OUT DATASET CLASS(IN|FP) RANK DIMS... < values : an HDF5 file through h5import
make_h5() {
  local out=$1 name=$2 class=$3 rank=$4; shift 4
  cat >"$CLI_TMP/h5.cfg" <<EOF
PATH $name
INPUT-CLASS $( [ "$class" = FP ] && echo TEXTFP || echo TEXTIN )
INPUT-SIZE 32
RANK $rank
DIMENSION-SIZES $*
OUTPUT-CLASS $class
OUTPUT-SIZE 32
OUTPUT-ARCHITECTURE $( [ "$class" = FP ] && echo IEEE || echo STD )
OUTPUT-BYTE-ORDER LE
EOF
  rm -f "$out" # h5import adds to an existing file
  cat >"$CLI_TMP/h5.txt"
  h5import "$CLI_TMP/h5.txt" -c "$CLI_TMP/h5.cfg" -o "$out" >/dev/null
}

model_gpt2() {
  local out
  out=$("$LBBT" model "$FIX/gpt2") || return 1
  for want in '^plugin: gpt2 \(probe score [0-9]+\)' 'n_embd 32, n_layer 2, n_head 4' \
              '^  block 1 +12704' '^h\.0\.attn\.c_attn\.weight +\[32, 96\]' '^parameters: 28544 total'; do
    grep -Eq -- "$want" <<<"$out" || { echo "lacks /$want/: $out" >&2; return 1; }
  done
}

model_each_plugin() {
  local dir plugin
  for pair in gpt2-sharded:gpt2 llama:llama llama-bf16:llama qwen3:llama chronos-t5:chronos_t5 t5-gated:chronos_t5; do
    dir=${pair%%:*}; plugin=${pair#*:}
    "$LBBT" model "$FIX/$dir" | grep -Eq "^plugin: $plugin " || { echo "$dir not read by $plugin" >&2; return 1; }
  done
  # a single safetensors file with config.json beside it
  "$LBBT" model "$FIX/chronos-t5/model.safetensors" | grep -q 'relative position bias' ||
    { echo "file path not read" >&2; return 1; }
}

model_stories() {
  "$LBBT" model "$STORIES" | grep -Eq 'dim 64, layers 5, heads 8, kv heads 4'
}

ids_file() { # 2 x 3 ids in range for the fixtures' vocab (64)
  printf '1 5 9\n2 6 63\n' | make_h5 "$CLI_TMP/ids.h5" input_ids IN 2 2 3
}

forward_gpt2() {
  ids_file || return 1
  "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/ids.h5" --out "$CLI_TMP/out.h5" || return 1
  local ls
  ls=$(h5ls "$CLI_TMP/out.h5") || return 1
  grep -Eq '^hidden +Dataset \{2, 3, 32\}' <<<"$ls" && grep -Eq '^logits +Dataset \{2, 3, 64\}' <<<"$ls" &&
    grep -Eq '^input_ids +Dataset \{2, 3\}' <<<"$ls" || { echo "datasets: $ls" >&2; return 1; }
  h5dump -a plugin "$CLI_TMP/out.h5" | grep -q '"gpt2"' || { echo "no plugin attribute" >&2; return 1; }
  # the same ids through the sharded, prefixed copy of the same weights: identical output
  "$LBBT" forward "$FIX/gpt2-sharded" --input "$CLI_TMP/ids.h5" --out "$CLI_TMP/out2.h5" || return 1
  [ "$(h5dump -d hidden "$CLI_TMP/out.h5" | grep -v HDF5)" = "$(h5dump -d hidden "$CLI_TMP/out2.h5" | grep -v HDF5)" ] ||
    { echo "sharded copy differs" >&2; return 1; }
  ! ls "$CLI_TMP" | grep -q tmp || { echo "temporary file left: $(ls "$CLI_TMP")" >&2; return 1; }
}

forward_encoder_has_no_logits() {
  ids_file || return 1
  "$LBBT" forward "$FIX/chronos-t5" --input "$CLI_TMP/ids.h5" --out "$CLI_TMP/enc.h5" || return 1
  local ls
  ls=$(h5ls "$CLI_TMP/enc.h5")
  grep -Eq '^hidden +Dataset \{2, 3, 32\}' <<<"$ls" && ! grep -q logits <<<"$ls" || { echo "$ls" >&2; return 1; }
}

forward_bad_inputs() {
  printf '1 2 3\n' | make_h5 "$CLI_TMP/other.h5" tokens IN 2 1 3 || return 1
  printf '1.5 2 3\n' | make_h5 "$CLI_TMP/float.h5" input_ids FP 2 1 3 || return 1
  printf '1 2 3\n' | make_h5 "$CLI_TMP/rank1.h5" input_ids IN 1 3 || return 1
  printf '1 2 64\n' | make_h5 "$CLI_TMP/oov.h5" input_ids IN 2 1 3 || return 1
  local o="$CLI_TMP/never.h5"
  expect_exit 2 "has no dataset 'input_ids'" "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/other.h5" --out "$o" &&
  expect_exit 2 "'input_ids' is not integer" "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/float.h5" --out "$o" &&
  expect_exit 2 "has rank 1, expected 2" "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/rank1.h5" --out "$o" &&
  expect_exit 2 'input_ids\[0\]\[2\] = 64 is outside the vocabulary \[0, 64\)' \
    "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/oov.h5" --out "$o" &&
  expect_exit 2 "cannot open as an HDF5 file" "$LBBT" forward "$FIX/gpt2" --input "$FIX/gpt2/config.json" --out "$o" &&
  expect_exit 2 "needs PATH, --input IDS.h5 and --out OUT.h5" "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/oov.h5" &&
  [ ! -e "$o" ] || { echo "$o written by a failing run" >&2; return 1; }
}

generate_gpt2() {
  local a b c
  a=$("$LBBT" generate "$FIX/gpt2" --prompt-ids "1, 2 3" --tokens 5) || return 1
  [[ "$a" =~ ^[0-9]+( [0-9]+){4}$ ]] || { echo "not 5 ids: '$a'" >&2; return 1; }
  b=$("$LBBT" generate "$FIX/gpt2" --prompt-ids "1 2 3" --tokens 20 --temperature 1.5 --seed 7) || return 1
  c=$("$LBBT" generate "$FIX/gpt2" --prompt-ids "1 2 3" --tokens 20 --temperature 1.5 --seed 7) || return 1
  [ "$b" = "$c" ] || { echo "same seed, different samples: '$b' vs '$c'" >&2; return 1; }
}

generate_stories_greedy() {
  local want got
  want=$(sed -n 's/^ids //p' tests/fixtures/stories260K_greedy.txt)
  got=$("$LBBT" generate "$STORIES" --prompt-ids 1 --tokens 32) || return 1
  [ "$got" = "$want" ] || { echo "got '$got', want '$want'" >&2; return 1; }
}

check model_gpt2 model_gpt2
check model_each_plugin model_each_plugin
if [ -f "$STORIES" ]; then check model_stories model_stories; else skip model_stories "$STORIES absent"; fi
check model_missing_file expect_exit 2 "$CLI_TMP/nothing: no such file or folder" "$LBBT" model "$CLI_TMP/nothing"
check model_unrecognised expect_exit 2 "no backbone plugin recognises tests/cli/lib.bash \(probed: .*gpt2" \
  "$LBBT" model tests/cli/lib.bash
check model_unknown_plugin expect_exit 2 "no backbone plugin named 'bert'" "$LBBT" model "$FIX/gpt2" --plugin bert
check model_wrong_plugin expect_exit 2 "model_type 'gpt2' is not t5" "$LBBT" model "$FIX/gpt2" --plugin chronos_t5
check forward_gpt2 forward_gpt2
check forward_encoder_has_no_logits forward_encoder_has_no_logits
check forward_bad_inputs forward_bad_inputs
check generate_gpt2 generate_gpt2
if [ -f "$STORIES" ]; then check generate_stories_greedy generate_stories_greedy; else skip generate_stories_greedy "$STORIES absent"; fi
check generate_encoder expect_exit 2 "has no LM head" "$LBBT" generate "$FIX/chronos-t5" --prompt-ids "1 2"
check generate_bad_ids expect_exit 2 "'1 x' is not a list of non-negative integers" \
  "$LBBT" generate "$FIX/gpt2" --prompt-ids "1 x"
check generate_out_of_vocab expect_exit 2 "prompt id 64 is outside the vocabulary \[0, 64\)" \
  "$LBBT" generate "$FIX/gpt2" --prompt-ids "64"
check listed_in_usage expect_exit 0 '^  generate ' "$LBBT" --help
check help expect_exit 0 'Text prompts need a tokenizer' "$LBBT" generate --help
