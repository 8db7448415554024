/* libFuzzer target: a model's config.json (lbbt_json_read_config).  Built and run by
 * tools/run-fuzz.  The input is the whole file (through a memfd).  The reader must fail with
 * LBBT_E_INPUT or return an object every integer of which fits 32 bits (issue 20:
 * n_layer 2^32 + 2 loaded as 2). */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lbbt/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ints_fit(json_t *v) {
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (x < INT32_MIN || x > INT32_MAX) __builtin_trap();
  } else if (json_is_object(v)) {
    const char *k;
    json_t *c;
    json_object_foreach(v, k, c) ints_fit(c);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) ints_fit(c);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("config.json", MFD_CLOEXEC);
  if (fd < 0) __builtin_trap();
  for (size_t off = 0; off < size;) {
    ssize_t w = write(fd, data + off, size - off);
    if (w <= 0) __builtin_trap();
    off += (size_t)w;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  json_t *root = NULL;
  lbbt_status s = lbbt_json_read_config(path, &root);
  if (s != LBBT_OK) {
    if (root || s != LBBT_E_INPUT) __builtin_trap();
  } else {
    if (!json_is_object(root)) __builtin_trap();
    ints_fit(root);
    json_decref(root);
  }
  close(fd);
  return 0;
}
