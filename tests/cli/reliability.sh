#!/usr/bin/env bash
# Issue 20, classes 6 and 10: non-finite weights and outputs are refused with the tensor's
# name; one lbbt process writes a results file at a time, and a second says who holds it.
source tests/cli/lib.bash
FIX=tests/fixtures/backbones
IDS_CFG="$CLI_TMP/h5.cfg"
printf 'PATH input_ids\nINPUT-CLASS TEXTIN\nINPUT-SIZE 32\nRANK 2\nDIMENSION-SIZES 2 3\nOUTPUT-CLASS IN\nOUTPUT-SIZE 32\nOUTPUT-ARCHITECTURE STD\nOUTPUT-BYTE-ORDER LE\n' >"$IDS_CFG"
printf '1 5 9\n2 6 63\n' >"$CLI_TMP/ids.txt"
h5import "$CLI_TMP/ids.txt" -c "$IDS_CFG" -o "$CLI_TMP/ids.h5" >/dev/null

# 6. A NaN in the weights: `lbbt model` showed max|w| 0 and `lbbt forward` wrote NaN, exit 0.
cp -r "$FIX/gpt2" "$CLI_TMP/gpt2_nan"
/usr/bin/python3 - "$CLI_TMP/gpt2_nan/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
hdr = json.loads(b[8:8 + n])
name = [k for k in hdr if k.endswith('wte.weight')][0]  # a parameter (h.N.attn.bias is a mask buffer)
start = 8 + n + hdr[name]['data_offsets'][0]
b[start:start + 4] = struct.pack('<f', float('nan'))
open(p, 'wb').write(b)
PY
check model_names_nan_tensor expect_exit 2 "tensor [a-z_.0-9]+ holds 1 non-finite value" \
  "$LBBT" model "$CLI_TMP/gpt2_nan"
check forward_refuses_nan_weights expect_exit 2 "holds 1 non-finite value" \
  "$LBBT" forward "$CLI_TMP/gpt2_nan" --input "$CLI_TMP/ids.h5" --out "$CLI_TMP/nan_out.h5"
check forward_nan_writes_nothing test ! -e "$CLI_TMP/nan_out.h5"
# a negative norm epsilon made every hidden state NaN
cp -r "$FIX/gpt2" "$CLI_TMP/gpt2_eps"
sed -i 's/"layer_norm_epsilon": 1e-05,/"layer_norm_epsilon": -1.0,/' "$CLI_TMP/gpt2_eps/config.json"
check negative_norm_eps_refused expect_exit 2 "norm epsilon -1 is negative" \
  "$LBBT" forward "$CLI_TMP/gpt2_eps" --input "$CLI_TMP/ids.h5" --out "$CLI_TMP/eps_out.h5"
check clean_forward_still_works "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/ids.h5" --out "$CLI_TMP/ok.h5"

# 10. Two `lbbt run` on one --out: the second said "cannot create ....ckpt.new".
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  OUT="$CLI_TMP/locked.h5"
  # under timeout -k: the first writer dies even if it ignores SIGTERM
  timeout -k 5 300 "$LBBT" run tests/cli/fixtures/resume.yaml --out "$OUT" --threads 1 \
    >"$CLI_TMP/first.log" 2>&1 &
  guard=$!
  for _ in $(seq 600); do [ -s "$OUT.lock" ] && break; sleep 0.1; done
  first=$(pgrep -P "$guard" | head -n 1) # the lbbt process itself (timeout's child)
  check second_writer_refused expect_exit 2 "another lbbt process \(pid $first\) is writing this file" \
    timeout -k 5 "$HANG_GUARD" "$LBBT" run tests/cli/fixtures/resume.yaml --out "$OUT" --threads 1
  kill "$guard" 2>/dev/null
  wait "$guard" 2>/dev/null
  check lock_gone_after_exit test ! -e "$OUT.lock"
else
  skip second_writer_refused "Fashion-MNIST absent"
fi

# 11. Without --plugin a bad checkpoint said only "no backbone plugin recognises ...": the real
# defect (header past the end of the file, overlapping offsets) is named now.
/usr/bin/python3 - "$CLI_TMP" <<'PY'
import json, struct, sys
d = sys.argv[1]
open(d + '/past.safetensors', 'wb').write(struct.pack('<Q', 10**6) + b'{"a":1}')
h = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "v": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}).encode()
open(d + '/overlap.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + b'\0' * 12)
open(d + '/short.bin', 'wb').write(b'\1\0\0\0' * 3)
PY
check unclaimed_names_header_past_end expect_exit 2 "no backbone plugin recognises .*header length 1000000 is larger than the rest of the file" \
  "$LBBT" model "$CLI_TMP/past.safetensors"
check unclaimed_names_overlap expect_exit 2 "no backbone plugin recognises .*tensor 'v' .* overlaps tensor 'w'" \
  "$LBBT" model "$CLI_TMP/overlap.safetensors"
check unclaimed_names_llama2c_defect expect_exit 2 "no backbone plugin recognises .*read as llama2.c: .*fewer than the 28-byte llama2.c header" \
  "$LBBT" forward "$CLI_TMP/short.bin" --input "$CLI_TMP/ids.h5" --out "$CLI_TMP/short_out.h5"

# 9. `lbbt forward` read all ids and ran them as one batch: a 51 MB ids file grew past 7 GB.
# Now rows go through in chunks of a memory budget: chunked outputs equal one batch's, the
# peak memory of 40,000 rows stays small, and a row too long for the budget is refused.
ids_file() { # ROWS COLS OUT
  /usr/bin/python3 -c "
import random, sys
random.seed(1); r, c = int(sys.argv[1]), int(sys.argv[2])
sys.stdout.write(''.join(' '.join(str(random.randrange(64)) for _ in range(c)) + '\n' for _ in range(r)))" "$1" "$2" >"$CLI_TMP/ids-$1x$2.txt"
  sed "s/DIMENSION-SIZES 2 3/DIMENSION-SIZES $1 $2/" "$IDS_CFG" >"$CLI_TMP/ids-$1x$2.cfg"
  h5import "$CLI_TMP/ids-$1x$2.txt" -c "$CLI_TMP/ids-$1x$2.cfg" -o "$3" >/dev/null
}
ids_file 300 8 "$CLI_TMP/ids300.h5"
check forward_chunks expect_exit 0 "300 rows in [0-9]+ chunks" \
  env LBBT_FORWARD_MEMORY_MB=1 "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/ids300.h5" --out "$CLI_TMP/chunked.h5"
check forward_one_batch "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/ids300.h5" --out "$CLI_TMP/whole.h5"
check chunked_equals_one_batch h5diff "$CLI_TMP/whole.h5" "$CLI_TMP/chunked.h5"
ids_file 40000 8 "$CLI_TMP/ids40k.h5"
peak_mb() { # the peak resident memory (MB) of the command
  /usr/bin/python3 -c "
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024 if rc == 0 else -1)" "$@"
}
# one batch of 40,000 rows took about 1.5 GB (hidden + logits + activations); 64 MB chunks keep it near 100 MB
peak=$(LBBT_FORWARD_MEMORY_MB=64 peak_mb "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/ids40k.h5" --out "$CLI_TMP/big_out.h5")
check forward_memory_bounded test "$peak" -gt 0 -a "$peak" -lt 400
rm -f "$CLI_TMP/big_out.h5"
ids_file 1 100000 "$CLI_TMP/longrow.h5"
check forward_long_row_refused expect_exit 2 "one row of 100000 tokens needs about [0-9]+ MB through this model" \
  "$LBBT" forward "$FIX/gpt2" --input "$CLI_TMP/longrow.h5" --out "$CLI_TMP/long_out.h5"
