/* PNG index masks (lbbt/png_mask.h): a mask written and read back is the same bytes; the
 * file is an 8-bit grey PNG (IHDR read directly, not through libpng: mmseg's and ADE20K's
 * layout); rewriting replaces it; an unwritable folder and a file that is not a PNG are
 * errors naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbbt/png_mask.h"
#include "test.h"

enum { H = 5, W = 7 };

static char g_dir[256];

static void test_round_trip(void) {
  uint8_t mask[H * W];
  for (int i = 0; i < H * W; i++) mask[i] = (uint8_t)(i == 3 ? 255 : (i * 37) % 151); /* 0..150, one ignore */
  char path[300];
  snprintf(path, sizeof path, "%s/mask.png", g_dir);
  REQUIRE(lbbt_png_mask_write(path, mask, H, W) == LBBT_OK, "%s", lbbt_last_error());
  uint8_t *back = NULL;
  int h = 0, w = 0;
  REQUIRE(lbbt_png_mask_read(path, &back, &h, &w) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(h == H && w == W, "size %d x %d, want %d x %d", h, w, H, W);
  CHECK(!memcmp(back, mask, sizeof mask), "values differ after the round trip");
  free(back);
  /* IHDR: 8-byte signature, 4 length, "IHDR", width, height (big-endian), depth, colour type */
  FILE *f = fopen(path, "rb");
  REQUIRE(f, "cannot open %s", path);
  uint8_t hdr[26];
  REQUIRE(fread(hdr, 1, sizeof hdr, f) == sizeof hdr, "short file");
  fclose(f);
  CHECK(!memcmp(hdr + 12, "IHDR", 4) && hdr[19] == W && hdr[23] == H, "IHDR size");
  CHECK(hdr[24] == 8 && hdr[25] == 0, "bit depth %d colour type %d, want 8-bit grey (8, 0)", hdr[24], hdr[25]);
  /* rewriting replaces the file, and leaves no temporary behind */
  memset(mask, 9, sizeof mask);
  REQUIRE(lbbt_png_mask_write(path, mask, H, W) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_png_mask_read(path, &back, &h, &w) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(back[0] == 9 && back[H * W - 1] == 9, "rewritten values");
  free(back);
  char tmp[320];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  CHECK(access(tmp, F_OK) != 0, "temporary %s left behind", tmp);
  remove(path);
}

static void test_errors(void) {
  uint8_t mask[4] = {0};
  char path[300];
  snprintf(path, sizeof path, "%s/no-such-folder/mask.png", g_dir);
  CHECK(lbbt_png_mask_write(path, mask, 2, 2) == LBBT_E_IO && strstr(lbbt_last_error(), path),
        "unwritable: %s", lbbt_last_error());
  CHECK(lbbt_png_mask_write(path, mask, 0, 2) == LBBT_E_INPUT, "zero height");
  snprintf(path, sizeof path, "%s/text.png", g_dir);
  FILE *f = fopen(path, "w");
  REQUIRE(f, "cannot create %s", path);
  fputs("not a png\n", f);
  fclose(f);
  uint8_t *back = NULL;
  int h, w;
  CHECK(lbbt_png_mask_read(path, &back, &h, &w) == LBBT_E_INPUT && strstr(lbbt_last_error(), path) && !back,
        "not a PNG: %s", lbbt_last_error());
  remove(path);
}

TEST_MAIN_BEGIN("test_png_mask")
  snprintf(g_dir, sizeof g_dir, "%s", test_tmpdir());
  TEST_RUN(test_round_trip);
  TEST_RUN(test_errors);
  rmdir(g_dir);
TEST_MAIN_END()
