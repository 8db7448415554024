/* libFuzzer target: the llama2.c .bin reader.  Built and run by tools/run-fuzz.  The input is
 * the whole file (through a memfd).  The reader must fail cleanly, or return a model whose
 * named views all lie inside the loaded weights and whose header is self-consistent. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lbbt/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("fuzz.bin", MFD_CLOEXEC);
  if (fd < 0) __builtin_trap();
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(fd, data + off, size - off);
    if (w <= 0) __builtin_trap();
    off += (size_t)w;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  lbbt_llama2c *m = NULL;
  lbbt_status s = lbbt_llama2c_load(path, &m);
  if (s != LBBT_OK) {
    if (m) __builtin_trap();
    if (s != LBBT_E_INPUT && s != LBBT_E_UNSUPPORTED && s != LBBT_E_NOMEM) __builtin_trap();
    close(fd);
    return 0;
  }
  const lbbt_llama2c_config *c = &m->cfg;
  if (lbbt_llama2c_expected_size(c) != (int64_t)size) __builtin_trap();
  if (c->head_size * c->n_heads != c->dim || c->kv_dim != c->n_kv_heads * c->head_size)
    __builtin_trap();
  int64_t header = c->version == 0 ? 28 : 256;
  const float *lo = m->storage_, *hi = m->storage_ + ((int64_t)size - header) / 4;
  double sum = 0;
  for (int i = 0; i < lbbt_llama2c_count(m); i++) {
    lbbt_named_f32 v;
    if (lbbt_llama2c_tensor(m, i, &v) != LBBT_OK) __builtin_trap();
    if (v.data < lo || v.data + v.numel > hi) __builtin_trap();
    for (int64_t k = 0; k < v.numel; k++) sum += v.data[k]; /* touches every byte (ASan) */
    lbbt_named_f32 again;
    if (lbbt_llama2c_find(m, v.name, &again) != LBBT_OK || again.data != v.data) __builtin_trap();
  }
  (void)sum;
  lbbt_llama2c_free(m);
  close(fd);
  return 0;
}
