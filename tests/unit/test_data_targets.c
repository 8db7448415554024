/* Typed targets: boxes and masks move with the image through the batcher's augmentations
 * (padded crop, flip, resize, random resized crop), and through subsets and dataset resizes.
 * Each check compares the transformed target with what the transformed image shows, so it
 * does not reuse the batcher's own geometry. */
#include <stdlib.h>
#include <string.h>

#include "lbbt/dataset.h"
#include "mask_fixture.h"
#include "test.h"

/* A box read back from a bilinearly resized image: its edges blur by at most one pixel of
 * the output, plus the rounding of the window scale. */
#define RESIZED_BOX_ATOL 1.6
/* Image value (p / 255, mean 0 / std 1) back to the raw pixel. */
#define PIXEL_ATOL 0.51

/* A 1-channel dataset with normalisation mean 0 / std 1, so a batch holds pixel / 255. */
static lbbt_dataset *grey(int64_t n, int h, int w, int classes) {
  lbbt_dataset *ds = NULL;
  if (lbbt_dataset_create(n, 1, h, w, classes, &ds) != LBBT_OK) return NULL;
  return ds;
}

/* Items with one or two white rectangles (pixel 200) on black, a box each. */
static lbbt_dataset *boxes_dataset(void) {
  const int H = 20, W = 24;
  lbbt_dataset *ds = grey(6, H, W, 4);
  if (!ds || lbbt_dataset_attach_boxes(ds, 9) != LBBT_OK) return NULL;
  static const int rects[9][4] = {{2, 3, 9, 11},  {14, 1, 22, 6},  {0, 0, 5, 4},  {18, 14, 24, 20},
                                  {6, 6, 17, 15}, {1, 12, 4, 19},  {10, 2, 13, 5}, {3, 9, 21, 12},
                                  {20, 0, 24, 3}};
  static const int item_of[9] = {0, 0, 1, 1, 2, 3, 3, 4, 5};
  for (int k = 0; k < 9; k++) {
    int i = item_of[k];
    const int *r = rects[k];
    for (int y = r[1]; y < r[3]; y++)
      for (int x = r[0]; x < r[2]; x++) ds->pixels[(size_t)i * H * W + (size_t)y * W + x] = 200;
    ds->boxes[k] = (lbbt_box){(float)r[0], (float)r[1], (float)r[2], (float)r[3], k % 4, 0};
    ds->box_start[i + 1] = k + 1;
  }
  return ds;
}

/* Extent of pixels above thr in img [H, W] (values pixel / 255) inside box b, grown by
 * `grow` pixels; returns 0 when none. */
static int extent_in(const float *img, int H, int W, const lbbt_box *b, float grow, float thr, float e[4]) {
  int x0 = (int)(b->x0 - grow), x1 = (int)(b->x1 + grow + 1), y0 = (int)(b->y0 - grow), y1 = (int)(b->y1 + grow + 1);
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > W) x1 = W;
  if (y1 > H) y1 = H;
  e[0] = e[1] = 1e9f;
  e[2] = e[3] = -1e9f;
  int any = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      if (img[y * W + x] * 255.0f > thr) {
        any = 1;
        if (x < e[0]) e[0] = (float)x;
        if (y < e[1]) e[1] = (float)y;
        if (x + 1 > e[2]) e[2] = (float)(x + 1);
        if (y + 1 > e[3]) e[3] = (float)(y + 1);
      }
  return any;
}

static void test_boxes_shift_flip_exact(void) {
  lbbt_dataset *ds = boxes_dataset();
  REQUIRE(ds && lbbt_dataset_check_targets(ds, "boxes") == LBBT_OK, "dataset: %s", lbbt_last_error());
  lbbt_batcher_config cfg = {.batch_size = 4, .shuffle = 1, .seed = 7, .crop_padding = 6, .flip = 1};
  lbbt_batcher *b;
  REQUIRE(lbbt_batcher_create(ds, &cfg, &b) == LBBT_OK, "create: %s", lbbt_last_error());
  const int H = ds->height, W = ds->width;
  float *img = malloc(4 * (size_t)H * W * sizeof *img);
  int dropped = 0, flipped_seen = 0, boxes_seen = 0;
  for (int e = 0; e < 30 && img; e++) {
    lbbt_batcher_start_epoch(b, e);
    for (int64_t k = 0; k < lbbt_batcher_num_batches(b); k++) {
      lbbt_batch_targets t;
      int32_t idx[4];
      REQUIRE(lbbt_batcher_get_targets(b, k, img, idx, &t) == LBBT_OK, "get: %s", lbbt_last_error());
      CHECK(t.kind == LBBT_TARGET_BOXES && t.height == H && t.width == W, "kind/size");
      for (int j = 0; j < t.count; j++) {
        const float *im = img + (size_t)j * H * W;
        int64_t have = ds->box_start[idx[j] + 1] - ds->box_start[idx[j]], got = t.box_start[j + 1] - t.box_start[j];
        dropped += (int)(have - got);
        /* every white pixel lies in some served box (none lost while visible) */
        for (int p = 0; p < H * W; p++) {
          if (im[p] * 255.0f < 100) continue;
          int inside = 0;
          for (int64_t q = t.box_start[j]; q < t.box_start[j + 1]; q++) {
            const lbbt_box *bx = &t.boxes[q];
            inside |= p % W >= bx->x0 && p % W < bx->x1 && p / W >= bx->y0 && p / W < bx->y1;
          }
          CHECK(inside, "epoch %d item %d: white pixel (%d, %d) outside every box", e, idx[j], p % W, p / W);
        }
        for (int64_t q = t.box_start[j]; q < t.box_start[j + 1]; q++) {
          const lbbt_box *bx = &t.boxes[q];
          float ext[4];
          boxes_seen++;
          /* the served box is exactly its rectangle's visible extent (items' boxes are disjoint) */
          REQUIRE(extent_in(im, H, W, bx, 0, 100, ext), "epoch %d item %d: box %g,%g,%g,%g shows nothing", e,
                  idx[j], bx->x0, bx->y0, bx->x1, bx->y1);
          CHECK(ext[0] == bx->x0 && ext[1] == bx->y0 && ext[2] == bx->x1 && ext[3] == bx->y1,
                "epoch %d item %d: box %g,%g,%g,%g but the image shows %g,%g,%g,%g", e, idx[j], bx->x0, bx->y0,
                bx->x1, bx->y1, ext[0], ext[1], ext[2], ext[3]);
          int64_t src = ds->box_start[idx[j]];
          int same_label = 0;
          for (int64_t s = src; s < ds->box_start[idx[j] + 1]; s++) same_label |= ds->boxes[s].label == bx->label;
          CHECK(same_label, "label %d not among the item's", bx->label);
          flipped_seen |= bx->x0 != ds->boxes[src].x0 && bx->x1 - bx->x0 == ds->boxes[src].x1 - ds->boxes[src].x0;
        }
      }
    }
  }
  CHECK(dropped > 0, "a 6-pixel shift never pushed the corner boxes out (dropped %d)", dropped);
  CHECK(flipped_seen && boxes_seen > 100, "flips %d, boxes %d", flipped_seen, boxes_seen);
  free(img);
  lbbt_batcher_free(b);
  lbbt_dataset_free(ds);
}

static void test_boxes_resized_crop(void) {
  lbbt_dataset *ds = boxes_dataset();
  REQUIRE(ds, "dataset: %s", lbbt_last_error());
  for (int rrc = 0; rrc < 2; rrc++) {
    lbbt_batcher_config cfg = {.batch_size = 6, .seed = 3, .flip = 1, .out_size = 48,
                               .random_resized_crop = rrc, .scale_min = 0.3, .scale_max = 1.0};
    lbbt_batcher *b;
    REQUIRE(lbbt_batcher_create(ds, &cfg, &b) == LBBT_OK, "create: %s", lbbt_last_error());
    int oh, ow;
    lbbt_batcher_image_size(b, &oh, &ow);
    CHECK(oh == 48 && ow == 48, "image size %dx%d", oh, ow);
    float *img = malloc(6 * 48 * 48 * sizeof *img);
    int checked = 0;
    for (int e = 0; e < 20 && img; e++) {
      lbbt_batcher_start_epoch(b, e);
      lbbt_batch_targets t;
      REQUIRE(lbbt_batcher_get_targets(b, 0, img, NULL, &t) == LBBT_OK, "get: %s", lbbt_last_error());
      for (int j = 0; j < t.count; j++)
        for (int64_t q = t.box_start[j]; q < t.box_start[j + 1]; q++) {
          const lbbt_box *bx = &t.boxes[q];
          CHECK(bx->x0 >= 0 && bx->x1 <= 48 && bx->y0 >= 0 && bx->y1 <= 48 && bx->x0 < bx->x1 && bx->y0 < bx->y1,
                "box %g,%g,%g,%g outside 48x48", bx->x0, bx->y0, bx->x1, bx->y1);
          float ext[4];
          /* a sliver under a pixel may blur below the threshold: only boxes of some size */
          if (bx->x1 - bx->x0 < 3 || bx->y1 - bx->y0 < 3) continue;
          REQUIRE(extent_in(img + (size_t)j * 48 * 48, 48, 48, bx, 2, 100, ext), "box shows nothing");
          for (int c = 0; c < 4; c++)
            CHECK_CLOSE(ext[c], (&bx->x0)[c], RESIZED_BOX_ATOL, 0, rrc ? "resized-crop box edge" : "resized box edge");
          checked++;
        }
    }
    CHECK(checked > 40, "only %d boxes checked", checked);
    free(img);
    lbbt_batcher_free(b);
  }
  lbbt_dataset_free(ds);
}

static void test_mask_shift_flip_exact(void) {
  lbbt_dataset *ds = mask_dataset(16, 20);
  REQUIRE(ds && lbbt_dataset_check_targets(ds, "mask") == LBBT_OK, "dataset: %s", lbbt_last_error());
  lbbt_batcher_config cfg = {.batch_size = 5, .shuffle = 1, .seed = 1, .crop_padding = 4, .flip = 1};
  lbbt_batcher *b;
  REQUIRE(lbbt_batcher_create(ds, &cfg, &b) == LBBT_OK, "create: %s", lbbt_last_error());
  float img[5 * 16 * 20];
  int ignored = 0;
  for (int e = 0; e < 10; e++) {
    lbbt_batcher_start_epoch(b, e);
    lbbt_batch_targets t;
    REQUIRE(lbbt_batcher_get_targets(b, 0, img, NULL, &t) == LBBT_OK, "get: %s", lbbt_last_error());
    REQUIRE(t.kind == LBBT_TARGET_MASK && t.masks, "mask target");
    for (int p = 0; p < 5 * 16 * 20; p++) {
      int m = t.masks[p], px = (int)lroundf(img[p] * 255.0f);
      if (px == 0) {
        CHECK(m == LBBT_MASK_IGNORE, "padding pixel has class %d", m);
        ignored++;
      } else {
        CHECK(m == px / 20, "mask %d where the image shows class %d", m, px / 20);
      }
    }
  }
  CHECK(ignored > 0, "no padding seen");
  lbbt_batcher_free(b);
  lbbt_dataset_free(ds);
}

static void test_mask_resized_crop(void) {
  lbbt_dataset *ds = mask_dataset(16, 20);
  REQUIRE(ds, "dataset: %s", lbbt_last_error());
  /* plain resize: masks are PIL NEAREST of the whole mask, computed here independently */
  lbbt_batcher_config plain = {.batch_size = 5, .out_size = 37};
  lbbt_batcher *b;
  REQUIRE(lbbt_batcher_create(ds, &plain, &b) == LBBT_OK, "create: %s", lbbt_last_error());
  static float img[5 * 40 * 40];
  lbbt_batcher_start_epoch(b, 0);
  lbbt_batch_targets t;
  REQUIRE(lbbt_batcher_get_targets(b, 0, img, NULL, &t) == LBBT_OK, "get: %s", lbbt_last_error());
  for (int i = 0; i < 5; i++)
    for (int y = 0; y < 37; y++)
      for (int x = 0; x < 37; x++) {
        int sy = (int)((y + 0.5) * 16 / 37), sx = (int)((x + 0.5) * 20 / 37);
        CHECK(t.masks[(i * 37 + y) * 37 + x] == ds->masks[(i * 16 + sy) * 20 + sx], "nearest resize at %d,%d", x, y);
      }
  lbbt_batcher_free(b);
  /* random resized crop + flip: where the 7x7 neighbourhood of the mask is one class, the
   * bilinear image there shows that class exactly.  (Bilinear reads source pixels floor(s)
   * and floor(s) + 1, nearest floor(s + 1/2); with windows of at least half the area the
   * scale s'/s is at least 0.27, so output pixels 3 away reach both.) */
  lbbt_batcher_config cfg = {.batch_size = 5, .seed = 9, .flip = 1, .out_size = 40, .random_resized_crop = 1,
                             .scale_min = 0.5, .scale_max = 1.0};
  REQUIRE(lbbt_batcher_create(ds, &cfg, &b) == LBBT_OK, "create: %s", lbbt_last_error());
  int interior = 0, differs_from_plain = 0;
  for (int e = 0; e < 8; e++) {
    lbbt_batcher_start_epoch(b, e);
    REQUIRE(lbbt_batcher_get_targets(b, 0, img, NULL, &t) == LBBT_OK, "get: %s", lbbt_last_error());
    for (int j = 0; j < 5; j++)
      for (int y = 3; y < 37; y++)
        for (int x = 3; x < 37; x++) {
          const int32_t *m = t.masks + j * 1600;
          int c = m[y * 40 + x], uniform = 1;
          CHECK(c >= 1 && c <= 9, "class %d", c);
          for (int dy = -3; dy <= 3; dy++)
            for (int dx = -3; dx <= 3; dx++) uniform &= m[(y + dy) * 40 + x + dx] == c;
          if (!uniform) continue;
          interior++;
          CHECK_CLOSE(img[j * 1600 + y * 40 + x] * 255.0f, 20 * c, PIXEL_ATOL, 0, "image inside a mask region");
        }
    differs_from_plain |= t.masks[0] != ds->masks[0] || t.masks[39] != ds->masks[19];
  }
  CHECK(interior > 1000 && differs_from_plain, "interior %d", interior);
  lbbt_batcher_free(b);
  lbbt_dataset_free(ds);
}

static void test_targets_through_subset_and_resize(void) {
  lbbt_dataset *ds = boxes_dataset();
  REQUIRE(ds, "dataset: %s", lbbt_last_error());
  int32_t idx[2] = {3, 0};
  lbbt_dataset *sub = NULL;
  REQUIRE(lbbt_dataset_subset(ds, idx, 2, &sub) == LBBT_OK, "subset: %s", lbbt_last_error());
  CHECK(sub->target == LBBT_TARGET_BOXES && sub->box_start[1] == 2 && sub->box_start[2] == 4, "box counts");
  CHECK(sub->boxes[0].x0 == ds->boxes[5].x0 && sub->boxes[2].y1 == ds->boxes[0].y1, "boxes copied");
  REQUIRE(lbbt_dataset_resize(sub, 40, 48) == LBBT_OK, "resize: %s", lbbt_last_error());
  CHECK(sub->boxes[2].x1 == 2 * ds->boxes[0].x1 && sub->boxes[2].y0 == 2 * ds->boxes[0].y0, "boxes scaled");
  CHECK(lbbt_dataset_check_targets(sub, "resized") == LBBT_OK, "%s", lbbt_last_error());
  lbbt_dataset_free(sub);
  sub = NULL;
  ds->boxes[1].x1 = 99;
  CHECK(lbbt_dataset_check_targets(ds, "bad") == LBBT_E_INPUT && strstr(lbbt_last_error(), "item 0 box 1"),
        "outside box not caught: %s", lbbt_last_error());
  lbbt_dataset_free(ds);

  lbbt_dataset *md = mask_dataset(16, 20);
  REQUIRE(md, "dataset: %s", lbbt_last_error());
  int32_t one = 2;
  REQUIRE(lbbt_dataset_subset(md, &one, 1, &sub) == LBBT_OK, "subset: %s", lbbt_last_error());
  CHECK(!memcmp(sub->masks, md->masks + 2 * 320, 320), "mask copied");
  REQUIRE(lbbt_dataset_resize(sub, 8, 10) == LBBT_OK, "resize: %s", lbbt_last_error());
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 10; x++)
      CHECK(sub->masks[y * 10 + x] == md->masks[2 * 320 + (2 * y + 1) * 20 + 2 * x + 1], "halved mask at %d,%d", x, y);
  md->masks[5] = 10;
  CHECK(lbbt_dataset_check_targets(md, "bad mask") == LBBT_E_INPUT, "class 10 of 10 not caught");
  md->masks[5] = LBBT_MASK_IGNORE;
  CHECK(lbbt_dataset_check_targets(md, "ignore") == LBBT_OK, "ignore refused: %s", lbbt_last_error());
  lbbt_dataset_free(sub);
  lbbt_dataset_free(md);
}

static void test_batcher_config_errors(void) {
  lbbt_dataset *ds = grey(4, 8, 8, 2);
  REQUIRE(ds, "dataset");
  lbbt_batcher *b = NULL;
  lbbt_batcher_config rrc_no_size = {.batch_size = 2, .random_resized_crop = 1};
  CHECK(lbbt_batcher_create(ds, &rrc_no_size, &b) == LBBT_E_INPUT && !b, "rrc without out_size accepted");
  lbbt_batcher_config bad_scale = {.batch_size = 2, .out_size = 8, .random_resized_crop = 1, .scale_min = 0.5,
                                   .scale_max = 0.2};
  CHECK(lbbt_batcher_create(ds, &bad_scale, &b) == LBBT_E_INPUT && !b, "scale min > max accepted");
  lbbt_batcher_config big_pad = {.batch_size = 2, .out_size = 4, .crop_padding = 5};
  CHECK(lbbt_batcher_create(ds, &big_pad, &b) == LBBT_E_INPUT && !b, "padding over out_size accepted");
  lbbt_dataset_free(ds);
}

TEST_MAIN_BEGIN("test_data_targets")
TEST_RUN(test_boxes_shift_flip_exact);
TEST_RUN(test_boxes_resized_crop);
TEST_RUN(test_mask_shift_flip_exact);
TEST_RUN(test_mask_resized_crop);
TEST_RUN(test_targets_through_subset_and_resize);
TEST_RUN(test_batcher_config_errors);
TEST_MAIN_END()
