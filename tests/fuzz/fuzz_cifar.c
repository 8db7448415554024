/* libFuzzer target: the CIFAR-10 / CIFAR-100 binary readers.  Built and run by tools/run-fuzz.
 * Input: one byte choosing CIFAR-10 (even) or CIFAR-100 (odd), then the test split's file
 * (test_batch.bin / test.bin), written into a private folder.  The reader must fail with
 * LBBT_E_INPUT (no dataset) or return whole records whose labels are inside the classes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbbt/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *folder(void) {
  static char dir[64];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/lbbt-fuzz-cifar-XXXXXX");
    if (!mkdtemp(dir)) __builtin_trap();
  }
  return dir;
}

static void write_file(const char *path, const uint8_t *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(b, 1, n, f) != n) || fclose(f) != 0) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const int c100 = data[0] & 1;
  char path[128];
  snprintf(path, sizeof path, "%s/%s", folder(), c100 ? "test.bin" : "test_batch.bin");
  write_file(path, data + 1, size - 1);
  lbbt_dataset *ds = NULL;
  lbbt_status s = c100 ? lbbt_dataset_load_cifar100(folder(), 0, &ds) : lbbt_dataset_load_cifar10(folder(), 0, &ds);
  const int64_t record = (c100 ? 2 : 1) + 3072;
  if (s != LBBT_OK) {
    if (ds || (s != LBBT_E_INPUT && s != LBBT_E_NOMEM)) __builtin_trap();
  } else {
    if (ds->n < 1 || ds->n * record != (int64_t)(size - 1) || ds->channels != 3 || ds->height != 32 ||
        ds->width != 32)
      __builtin_trap();
    unsigned sum = 0;
    for (int64_t i = 0; i < ds->n * 3072; i++) sum += ds->pixels[i];
    for (int64_t i = 0; i < ds->n; i++)
      if (ds->labels[i] < 0 || ds->labels[i] >= ds->num_classes) __builtin_trap();
    (void)sum;
    lbbt_dataset_free(ds);
  }
  unlink(path);
  return 0;
}
