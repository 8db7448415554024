/* libFuzzer target: image folders (PNG and JPEG decoding, the pixel budget, resizing).  Built
 * and run by tools/run-fuzz.  Input: one byte of choices (bit 0: JPEG name instead of PNG;
 * bit 1: resize to 8x8 instead of the native size), then the image file, written as
 * train/a/0.png (or .jpg) of a private folder.  The reader must fail with LBBT_E_INPUT (no
 * dataset) or return one image of the promised size.  The pixel budget is set to 2^20 so that
 * a header declaring a huge image is refused before decoding (issue 20: a 1.2 MB PNG of
 * 20000 x 20000 pixels took 2.4 GB). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *folder(void) {
  static char dir[64];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/lbbt-fuzz-folder-XXXXXX");
    if (!mkdtemp(dir)) __builtin_trap();
    char sub[128];
    snprintf(sub, sizeof sub, "%s/train", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/train/a", dir);
    mkdir(sub, 0755);
    setenv("LBBT_MAX_IMAGE_PIXELS", "1048576", 1);
  }
  return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const int jpeg = data[0] & 1, size_px = (data[0] & 2) ? 8 : 0;
  char path[160];
  snprintf(path, sizeof path, "%s/train/a/0.%s", folder(), jpeg ? "jpg" : "png");
  FILE *f = fopen(path, "wb");
  if (!f || (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) || fclose(f) != 0) __builtin_trap();
  lbbt_dataset *ds = NULL;
  lbbt_status s = lbbt_dataset_load_folder(folder(), 1, size_px, 0, 0, NULL, &ds);
  if (s != LBBT_OK) {
    if (ds || (s != LBBT_E_INPUT && s != LBBT_E_NOMEM)) __builtin_trap();
  } else {
    if (ds->n != 1 || ds->channels < 1 || ds->height < 1 || ds->width < 1 ||
        (size_px && (ds->height != size_px || ds->width != size_px)) ||
        (int64_t)ds->height * ds->width > 1048576)
      __builtin_trap();
    unsigned sum = 0;
    for (int64_t i = 0; i < (int64_t)ds->channels * ds->height * ds->width; i++) sum += ds->pixels[i];
    (void)sum;
    lbbt_dataset_free(ds);
  }
  unlink(path);
  return 0;
}
