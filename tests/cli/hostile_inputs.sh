#!/usr/bin/env bash
# Hostile inputs (issue 20, classes 1, 4, 5, 9): sizes that overflow, special files, files
# that would load in quadratic time, images beyond the pixel budget.  Every input is generated
# here.  Each must end in a clear error (exit 2) within the 60 s a hang is allowed, never in a
# crash, a wrapped size or an out-of-memory.
source tests/cli/lib.bash
T=$CLI_TMP
py() { /usr/bin/python3 -c "$@"; }

# A classification experiment over data.root $1 (dataset $2), patch 8 so 2^30 divides.
experiment() {
  printf 'experiment: hostile\nbase:\n  seed: 0\n  backbone: {plugin: llama, arch: stories260K, init: scratch, patch_size: 8, pool: mean%s}\n  data: {dataset: %s, root: %s}\n  stages:\n    - {name: a, task: classification, epochs: 1, batch_size: 2, lr: 0.001}\n' "${3:-}" "$2" "$1"
}

# 1. Size arithmetic.  An IDX header of 16 images of 2^30 x 2^30 (a 70-byte file): the byte
#    count wraps to 0 in 64 bits.  And 2 images of 65536 x 65536 in 70 bytes: 8 GiB asked for.
mkdir -p "$T/idx_wrap" "$T/idx_big"
py "
import struct
for d, n, side in (('$T/idx_wrap', 16, 1 << 30), ('$T/idx_big', 2, 65536)):
    for p in ('train', 't10k'):
        open(f'{d}/{p}-images-idx3-ubyte', 'wb').write(struct.pack('>IIII', 0x803, n, side, side) + bytes(54))
        open(f'{d}/{p}-labels-idx1-ubyte', 'wb').write(struct.pack('>II', 0x801, n) + bytes(n))
"
experiment "$T/idx_wrap" fashion-mnist >"$T/idx_wrap.yaml"
experiment "$T/idx_big" fashion-mnist >"$T/idx_big.yaml"
check idx_wrapping_dims expect_exit 2 "header declares 16 x 1073741824 x 1073741824" \
  timeout -k 5 "$HANG_GUARD" "$LBBT" run "$T/idx_wrap.yaml" --out "$T/idx_wrap.h5"
check idx_dims_beyond_file expect_exit 2 "header declares 2 x 65536 x 65536 bytes but the plain file of 70 bytes" \
  timeout -k 5 "$HANG_GUARD" "$LBBT" run "$T/idx_big.yaml" --out "$T/idx_big.h5"
# the same header gzip-compressed: deflate cannot expand 100 bytes into 8 GiB
mkdir -p "$T/idx_gz"
py "
import gzip, struct
for p in ('train', 't10k'):
    gzip.open('$T/idx_gz/%s-images-idx3-ubyte.gz' % p, 'wb').write(struct.pack('>IIII', 0x803, 2, 65536, 65536) + bytes(54))
    gzip.open('$T/idx_gz/%s-labels-idx1-ubyte.gz' % p, 'wb').write(struct.pack('>II', 0x801, 2) + bytes(2))
"
experiment "$T/idx_gz" fashion-mnist >"$T/idx_gz.yaml"
check idx_gzip_dims_beyond_file expect_exit 2 "gzip file of [0-9]+ bytes cannot decompress" \
  timeout -k 5 "$HANG_GUARD" "$LBBT" run "$T/idx_gz.yaml" --out "$T/idx_gz.h5"

# config.json integers above 2^31 were truncated to 32 bits (n_layer 2^32 + 2 loaded as 2)
cp -r tests/fixtures/backbones/gpt2 "$T/gpt2_wide"
sed -i 's/"n_layer": 2,/"n_layer": 4294967298,/' "$T/gpt2_wide/config.json"
check config_int_beyond_32_bits expect_exit 2 '"n_layer" is an integer outside the 32-bit range' \
  "$LBBT" model "$T/gpt2_wide" --plugin gpt2
# 4 * n_embd overflowed an int (UBSan in make asan); now an invalid architecture
cp -r tests/fixtures/backbones/gpt2 "$T/gpt2_embd"
sed -i 's/"n_embd": 32,/"n_embd": 1073741824,/' "$T/gpt2_embd/config.json"
check config_inner_overflow expect_exit 2 "invalid gpt2 architecture" \
  "$LBBT" model "$T/gpt2_embd" --plugin gpt2

# 4. Special files: a checkpoint naming /dev/zero was hashed forever, a FIFO blocked in open.
mkfifo "$T/fifo.bin"
for special in /dev/zero "$T/fifo.bin"; do
  name=$(basename "$special" | tr . _)
  printf 'experiment: special\nbase:\n  seed: 0\n  backbone: {plugin: llama, checkpoint: %s, patch_size: 7, pool: mean}\n  data: {dataset: fashion-mnist, limit: 20, test_limit: 20}\n  stages:\n    - {name: a, task: classification, epochs: 1, batch_size: 10, lr: 0.001}\n' "$special" >"$T/special_$name.yaml"
  if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    check "checkpoint_${name}_refused" expect_exit 2 "not a regular file" \
      timeout -k 5 "$HANG_GUARD" "$LBBT" run "$T/special_$name.yaml" --out "$T/special_$name.h5"
  else
    skip "checkpoint_${name}_refused" "Fashion-MNIST absent"
  fi
  check "model_${name}_refused" expect_exit 2 "not a regular file|FIFO|device" \
    timeout -k 5 "$HANG_GUARD" "$LBBT" model "$special" --plugin llama
done
mkdir -p "$T/idx_fifo"
mkfifo "$T/idx_fifo/train-images-idx3-ubyte" "$T/idx_fifo/train-labels-idx1-ubyte" \
  "$T/idx_fifo/t10k-images-idx3-ubyte" "$T/idx_fifo/t10k-labels-idx1-ubyte"
experiment "$T/idx_fifo" fashion-mnist >"$T/idx_fifo.yaml"
check dataset_fifo_refused expect_exit 2 "is a FIFO" \
  timeout -k 5 "$HANG_GUARD" "$LBBT" run "$T/idx_fifo.yaml" --out "$T/idx_fifo.h5"

# 5. Linear-time loading: a llama2.c file of 1000 tiny consistent layers (more than two
#    minutes before: each name lookup scanned every tensor with an edit distance).
py "
import struct
dim, hidden, L, heads, kv, vocab, seq = 2, 2, 1000, 1, 1, 4, 4
n = vocab*dim + L*dim + 4*L*dim*dim + L*dim + 3*L*hidden*dim + dim + seq*(dim//2)*2
open('$T/deep.bin', 'wb').write(struct.pack('<7i', dim, hidden, L, heads, kv, vocab, seq) + struct.pack('<%df' % n, *[0.01] * n))
"
check llama2c_1000_layers_load expect_exit 0 "n_layers 1000|1000 layers|layers 1000" \
  timeout -k 5 "$HANG_GUARD" "$LBBT" model "$T/deep.bin" --plugin llama

# 9. Memory bounds: a PNG whose header declares 20000 x 20000 is refused from its header
#    (before: 2.4 GB decoded); the budget is configurable.
mkdir -p "$T/folder/train/a" "$T/folder/train/b" "$T/folder/val/a" "$T/folder/val/b"
py "
import struct, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
def png(w, h, rows=True):
    raw = b''.join(b'\x00' + bytes(3 * w) for _ in range(h)) if rows else b''
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
for split in ('train', 'val'):
    for c in ('a', 'b'):
        open('$T/folder/%s/%s/1.png' % (split, c), 'wb').write(png(16, 16))
open('$T/folder/train/a/huge.png', 'wb').write(png(20000, 20000, rows=False))
"
experiment "$T/folder" folder >"$T/folder.yaml"
check png_over_pixel_budget expect_exit 2 "declares 20000x20000 pixels, above the budget" \
  timeout -k 5 "$HANG_GUARD" "$LBBT" run "$T/folder.yaml" --out "$T/folder.h5"
rm "$T/folder/train/a/huge.png"
check png_budget_configurable expect_exit 2 "declares 16x16 pixels, above the budget of 100" \
  env LBBT_MAX_IMAGE_PIXELS=100 timeout -k 5 "$HANG_GUARD" "$LBBT" run "$T/folder.yaml" --out "$T/folder.h5"
