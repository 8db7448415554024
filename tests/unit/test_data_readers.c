/* Readers for the paper tier, on tiny files written here: COCO instances (JSON + JPEG/PNG),
 * ADE20K and Pascal Context (images + PNG index masks), and their errors. */
#include <stdlib.h>
#include <string.h>

#include "lbbt/dataset.h"
#include "lbbt/spec.h"
#include "test.h"
#include "data_files.h"

/* JPEG at quality 100, 4:4:4, of a smooth pattern: per-pixel error after the same resize. */
#define JPEG_MAX_ABS_ERR 6

/* Three COCO images of different sizes: 1.png (20x10, id 7), 2.jpg (16x16, id 3), 3.png
 * (12x24, id 11); the pattern of image id i is pattern_rgb(.., i). */
static const int COCO_W[3] = {20, 16, 12}, COCO_H[3] = {10, 16, 24}, COCO_ID[3] = {7, 3, 11};
static const char *COCO_FILE[3] = {"1.png", "2.jpg", "3.png"};

static int write_coco_images(const char *dir) {
  mkdirs(dir);
  for (int i = 0; i < 3; i++) {
    uint8_t hwc[24 * 24 * 3];
    pattern_rgb(hwc, COCO_W[i], COCO_H[i], COCO_ID[i]);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, COCO_FILE[i]);
    int ok = strstr(COCO_FILE[i], ".png") ? write_png(path, COCO_W[i], COCO_H[i], PNG_COLOR_TYPE_RGB, 8, hwc, NULL, 0)
                                          : write_jpeg(path, COCO_W[i], COCO_H[i], 3, hwc);
    if (!ok) return 0;
  }
  return 1;
}

/* The instances JSON with `annotations` spliced in. */
static int write_coco_json(const char *path, const char *annotations) {
  char text[4096];
  snprintf(text, sizeof text,
           "{\"info\": {}, \"images\": [\n"
           "  {\"id\": 7, \"file_name\": \"1.png\", \"width\": 20, \"height\": 10},\n"
           "  {\"id\": 3, \"file_name\": \"2.jpg\", \"width\": 16, \"height\": 16},\n"
           "  {\"id\": 11, \"file_name\": \"3.png\", \"width\": 12, \"height\": 24}],\n"
           " \"categories\": [{\"id\": 90, \"name\": \"toothbrush\"}, {\"id\": 1, \"name\": \"person\"},\n"
           "                {\"id\": 5, \"name\": \"airplane\"}],\n"
           " \"annotations\": %s}\n",
           annotations);
  return write_bytes(path, text, strlen(text));
}

static const char *GOOD_ANNOTATIONS =
    "[\n"
    "  {\"id\": 1, \"image_id\": 7, \"category_id\": 5, \"bbox\": [2, 1, 10, 4], \"iscrowd\": 0, \"area\": 40},\n"
    "  {\"id\": 2, \"image_id\": 11, \"category_id\": 90, \"bbox\": [0, 12, 6.5, 12], \"iscrowd\": 1},\n"
    "  {\"id\": 3, \"image_id\": 7, \"category_id\": 1, \"bbox\": [15, 5, 10, 10], \"iscrowd\": 0},\n"
    "  {\"id\": 4, \"image_id\": 7, \"category_id\": 1, \"bbox\": [4, 4, 0, 3], \"iscrowd\": 0},\n"
    "  {\"id\": 5, \"image_id\": 11, \"category_id\": 1, \"bbox\": [1, 1, 2, 2]}]";

static void test_coco_roundtrip(void) {
  const char *dir = strdup(tmp_path("coco/val2017")), *json = strdup(tmp_path("coco/annotations/instances_val2017.json"));
  mkdirs(tmp_path("coco/annotations"));
  REQUIRE(write_coco_images(dir) && write_coco_json(json, GOOD_ANNOTATIONS), "writing files");
  lbbt_dataset *ds = NULL;
  REQUIRE(lbbt_dataset_load_coco(json, dir, 32, 0, 0, "test", &ds) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ds->target == LBBT_TARGET_BOXES && ds->n == 3 && ds->channels == 3 && ds->height == 32 && ds->num_classes == 3,
        "geometry");
  /* categories by ascending id: 1 person, 5 airplane, 90 toothbrush */
  CHECK(!strcmp(ds->class_names[0], "person") && !strcmp(ds->class_names[1], "airplane") &&
        !strcmp(ds->class_names[2], "toothbrush"), "class names");
  /* images by ascending id: 3 (no boxes), 7, 11 */
  CHECK(ds->box_start[1] == 0 && ds->box_start[2] == 2 && ds->box_start[3] == 4, "box counts %lld %lld %lld",
        (long long)ds->box_start[1], (long long)ds->box_start[2], (long long)ds->box_start[3]);
  /* id 7 (20x10 -> 32x32: x * 1.6, y * 3.2): airplane [2,1,12,5]; person clipped to [15,5,20,10];
   * the zero-width box dropped */
  const lbbt_box *b = ds->boxes;
  CHECK(b[0].label == 1 && b[0].x0 == 2 * 1.6f && b[0].y0 == 3.2f && b[0].x1 == 12 * 1.6f && b[0].y1 == 5 * 3.2f &&
        !b[0].iscrowd, "airplane box %g %g %g %g", b[0].x0, b[0].y0, b[0].x1, b[0].y1);
  CHECK(b[1].label == 0 && b[1].x0 == 15 * 1.6f && b[1].x1 == 32 && b[1].y1 == 32, "clipped person box %g %g %g %g",
        b[1].x0, b[1].y0, b[1].x1, b[1].y1);
  /* id 11 (12x24): crowd toothbrush first (file order), then person */
  CHECK(b[2].label == 2 && b[2].iscrowd == 1 && b[2].x1 == 6.5f * 32 / 12 && b[3].label == 0 && !b[3].iscrowd,
        "image 11 boxes");
  CHECK(lbbt_dataset_check_targets(ds, "coco") == LBBT_OK, "%s", lbbt_last_error());
  /* pixels: the PNG exactly as a bilinear resize of its pattern; the JPEG within its loss */
  for (int i = 0; i < 3; i++) {
    int order = COCO_ID[i] == 3 ? 0 : COCO_ID[i] == 7 ? 1 : 2;
    uint8_t hwc[24 * 24 * 3], chw[24 * 24 * 3], want[3 * 32 * 32];
    pattern_rgb(hwc, COCO_W[i], COCO_H[i], COCO_ID[i]);
    to_chw(hwc, COCO_W[i], COCO_H[i], chw);
    lbbt_resize_bilinear_u8(chw, 3, COCO_H[i], COCO_W[i], want, 32, 32);
    int worst = 0;
    for (int p = 0; p < 3 * 32 * 32; p++) {
      int d = abs((int)ds->pixels[order * 3072 + p] - (int)want[p]);
      if (d > worst) worst = d;
    }
    CHECK(strstr(COCO_FILE[i], ".png") ? worst == 0 : worst <= JPEG_MAX_ABS_ERR, "image %s: max error %d",
          COCO_FILE[i], worst);
  }
  lbbt_dataset_free(ds);
  /* a subset of 2, chosen before decoding, deterministic */
  lbbt_dataset *s1 = NULL, *s2 = NULL;
  REQUIRE(lbbt_dataset_load_coco(json, dir, 16, 2, 4, "test", &s1) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_dataset_load_coco(json, dir, 16, 2, 4, "test", &s2) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(s1->n == 2 && !memcmp(s1->pixels, s2->pixels, 2 * 3 * 256), "subset");
  lbbt_dataset_free(s1);
  lbbt_dataset_free(s2);
  /* the front door */
  lbbt_data_spec spec;
  memset(&spec, 0, sizeof spec);
  snprintf(spec.dataset, sizeof spec.dataset, "coco");
  snprintf(spec.root, sizeof spec.root, "%s", tmp_path("coco"));
  spec.image_size = 24;
  REQUIRE(lbbt_dataset_open(&spec, 0, &ds) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ds->n == 3 && ds->height == 24 && ds->box_start[3] == 4, "open coco");
  lbbt_dataset_free(ds);
  ds = NULL;
  spec.image_size = 0;
  CHECK(lbbt_dataset_open(&spec, 0, &ds) == LBBT_E_INPUT && strstr(lbbt_last_error(), "image_size"),
        "no image_size: %s", lbbt_last_error());
  free((void *)dir);
  free((void *)json);
}

static void test_coco_errors(void) {
  const char *dir = strdup(tmp_path("coco-bad/images")), *json = strdup(tmp_path("coco-bad/instances.json"));
  REQUIRE(write_coco_images(dir), "writing images");
  lbbt_dataset *ds = NULL;
  /* JSON syntax: file, line and column */
  REQUIRE(write_bytes(json, "{\"images\": [\n  {\"id\": 1,, }\n]}", 29), "write");
  CHECK(lbbt_dataset_load_coco(json, dir, 8, 0, 0, "t", &ds) == LBBT_E_INPUT && !ds && strstr(lbbt_last_error(), json) &&
        strstr(lbbt_last_error(), "line 2"), "syntax: %s", lbbt_last_error());
  static const struct {
    const char *annotations, *message;
  } cases[] = {
      {"[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [1, 2, 3]}]", "annotations[0].bbox: expected [x, y, width, height]"},
      {"[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}, {\"image_id\": 7, \"category_id\": 2, \"bbox\": [1, 2, 3, 4]}]",
       "annotations[1]: category_id 2 is not in 'categories'"},
      {"[{\"image_id\": 8, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}]", "annotations[0]: image_id 8 is not in 'images'"},
      {"[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [1, \"2\", 3, 4]}]", "annotations[0].bbox[1]: expected a number"},
      {"[{\"category_id\": 1, \"bbox\": [1, 2, 3, 4]}]", "annotations[0].image_id: expected an integer"},
      {"{}", "top-level 'annotations' must be an array"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    REQUIRE(write_coco_json(json, cases[c].annotations), "write");
    CHECK(lbbt_dataset_load_coco(json, dir, 8, 0, 0, "t", &ds) == LBBT_E_INPUT && !ds &&
          strstr(lbbt_last_error(), json) && strstr(lbbt_last_error(), cases[c].message),
          "case %zu: %s", c, lbbt_last_error());
  }
  /* an image whose size disagrees with the JSON, and a missing image: named */
  REQUIRE(write_coco_json(json, "[]"), "write");
  uint8_t grey[5 * 5 * 3] = {0};
  char path[600];
  snprintf(path, sizeof path, "%s/2.jpg", dir);
  REQUIRE(write_png(path, 5, 5, PNG_COLOR_TYPE_RGB, 8, grey, NULL, 0), "write");
  CHECK(lbbt_dataset_load_coco(json, dir, 8, 0, 0, "t", &ds) == LBBT_E_INPUT && strstr(lbbt_last_error(), path) &&
        strstr(lbbt_last_error(), "5x5 but its annotations say 16x16"), "size: %s", lbbt_last_error());
  remove(path);
  CHECK(lbbt_dataset_load_coco(json, dir, 8, 0, 0, "t", &ds) == LBBT_E_INPUT && strstr(lbbt_last_error(), path),
        "missing: %s", lbbt_last_error());
  free((void *)dir);
  free((void *)json);
}

/* An ADE20K-style pair: image (w x h pattern) and grey mask of `values` cycling by column. */
static int write_pair(const char *image, const char *mask, int w, int h, int id, const uint8_t *mask_values,
                      int color_type) {
  uint8_t hwc[32 * 32 * 3], m[32 * 32];
  pattern_rgb(hwc, w, h, id);
  for (int p = 0; p < w * h; p++) m[p] = mask_values[p];
  int ok = strstr(image, ".png") ? write_png(image, w, h, PNG_COLOR_TYPE_RGB, 8, hwc, NULL, 0)
                                 : write_jpeg(image, w, h, 3, hwc);
  png_color pal[256];
  for (int k = 0; k < 256; k++) pal[k] = (png_color){(png_byte)k, (png_byte)(255 - k), 7};
  return ok && write_png(mask, w, h, color_type, 8, m, color_type == PNG_COLOR_TYPE_PALETTE ? pal : NULL,
                         color_type == PNG_COLOR_TYPE_PALETTE ? 256 : 0);
}

static void test_ade20k_layout(void) {
  const char *root = strdup(tmp_path("ADEChallengeData2016"));
  mkdirs(tmp_path("ADEChallengeData2016/images/training"));
  mkdirs(tmp_path("ADEChallengeData2016/annotations/training"));
  enum { W = 12, H = 8 };
  uint8_t ma[W * H], mb[W * H];
  for (int p = 0; p < W * H; p++) {
    ma[p] = (uint8_t)(p % W < 4 ? 0 : p % W < 8 ? 1 : 150); /* ignore, class 0, class 149 */
    mb[p] = (uint8_t)(1 + p % 7);
  }
  REQUIRE(write_pair(tmp_path("ADEChallengeData2016/images/training/ADE_train_01.jpg"),
                     tmp_path("ADEChallengeData2016/annotations/training/ADE_train_01.png"), W, H, 1, ma,
                     PNG_COLOR_TYPE_GRAY) &&
          write_pair(tmp_path("ADEChallengeData2016/images/training/ADE_train_02.png"),
                     tmp_path("ADEChallengeData2016/annotations/training/ADE_train_02.png"), W, H, 2, mb,
                     PNG_COLOR_TYPE_PALETTE), "writing files");
  lbbt_dataset *ds = NULL;
  /* 12x8 -> 24x24: nearest source column floor((x + 0.5) / 2), row floor((y + 0.5) / 3) */
  REQUIRE(lbbt_dataset_load_ade20k(root, 1, 24, 0, 0, &ds) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ds->target == LBBT_TARGET_MASK && ds->n == 2 && ds->num_classes == 150 && ds->height == 24, "geometry");
  for (int y = 0; y < 24; y++)
    for (int x = 0; x < 24; x++) {
      int sx = x / 2, sy = y / 3, a = ma[sy * W + sx], b = mb[sy * W + sx];
      int want_a = a == 0 ? LBBT_MASK_IGNORE : a - 1, want_b = b - 1; /* palette indices, not colours */
      CHECK(ds->masks[y * 24 + x] == want_a && ds->masks[576 + y * 24 + x] == want_b, "mask at %d,%d: %d %d", x, y,
            ds->masks[y * 24 + x], ds->masks[576 + y * 24 + x]);
    }
  uint8_t hwc[W * H * 3], chw[W * H * 3], want[3 * 24 * 24];
  pattern_rgb(hwc, W, H, 2);
  to_chw(hwc, W, H, chw);
  lbbt_resize_bilinear_u8(chw, 3, H, W, want, 24, 24);
  CHECK(!memcmp(ds->pixels + 3 * 576, want, sizeof want), "PNG image pixels");
  lbbt_dataset_free(ds);
  ds = NULL;
  /* the front door, with a batch through the batcher */
  lbbt_data_spec spec;
  memset(&spec, 0, sizeof spec);
  snprintf(spec.dataset, sizeof spec.dataset, "ade20k");
  snprintf(spec.root, sizeof spec.root, "%s", root);
  spec.image_size = 16;
  spec.limit = 1;
  REQUIRE(lbbt_dataset_open(&spec, 1, &ds) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ds->n == 1 && strstr(ds->source, "uniformly drawn"), "subset: %s", ds->source);
  lbbt_dataset_free(ds);
  ds = NULL;
  /* a value beyond 150 classes, a missing mask, an RGB mask */
  ma[13] = 151;
  REQUIRE(write_png(tmp_path("ADEChallengeData2016/annotations/training/ADE_train_01.png"), W, H, PNG_COLOR_TYPE_GRAY,
                    8, ma, NULL, 0), "write");
  CHECK(lbbt_dataset_load_ade20k(root, 1, 24, 0, 0, &ds) == LBBT_E_INPUT && !ds &&
        strstr(lbbt_last_error(), "ADE_train_01.png': pixel (x 1, y 1) holds 151"), "%s", lbbt_last_error());
  uint8_t rgb[W * H * 3] = {0};
  REQUIRE(write_png(tmp_path("ADEChallengeData2016/annotations/training/ADE_train_01.png"), W, H, PNG_COLOR_TYPE_RGB,
                    8, rgb, NULL, 0), "write");
  CHECK(lbbt_dataset_load_ade20k(root, 1, 24, 0, 0, &ds) == LBBT_E_INPUT &&
        strstr(lbbt_last_error(), "ADE_train_01.png") && strstr(lbbt_last_error(), "8-bit grey or palette"), "%s",
        lbbt_last_error());
  remove(tmp_path("ADEChallengeData2016/annotations/training/ADE_train_02.png"));
  CHECK(lbbt_dataset_load_ade20k(root, 1, 24, 0, 0, &ds) == LBBT_E_INPUT &&
        strstr(lbbt_last_error(), "ADE_train_02.png' for image"), "%s", lbbt_last_error());
  free((void *)root);
}

static void test_pascal_context_layout(void) {
  const char *root = strdup(tmp_path("VOC2010"));
  mkdirs(tmp_path("VOC2010/JPEGImages"));
  mkdirs(tmp_path("VOC2010/SegmentationClassContext"));
  mkdirs(tmp_path("VOC2010/ImageSets/SegmentationContext"));
  enum { W = 10, H = 10 };
  uint8_t m[W * H];
  for (int p = 0; p < W * H; p++) m[p] = (uint8_t)(p % 60); /* 0 = background (ignored), 1..59 */
  const char *list = "2008_000002\n2008_000003\n";
  REQUIRE(write_bytes(tmp_path("VOC2010/ImageSets/SegmentationContext/val.txt"), list, strlen(list)) &&
          write_pair(tmp_path("VOC2010/JPEGImages/2008_000002.jpg"),
                     tmp_path("VOC2010/SegmentationClassContext/2008_000002.png"), W, H, 1, m, PNG_COLOR_TYPE_GRAY) &&
          write_pair(tmp_path("VOC2010/JPEGImages/2008_000003.jpg"),
                     tmp_path("VOC2010/SegmentationClassContext/2008_000003.png"), W, H, 2, m, PNG_COLOR_TYPE_GRAY),
          "writing files");
  lbbt_dataset *ds = NULL;
  REQUIRE(lbbt_dataset_load_pascal_context(root, 0, 10, 0, 0, &ds) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ds->n == 2 && ds->num_classes == 59, "geometry");
  int ok = 1;
  for (int p = 0; p < W * H; p++) ok &= ds->masks[p] == (m[p] ? m[p] - 1 : LBBT_MASK_IGNORE);
  CHECK(ok, "reduced labels");
  lbbt_dataset_free(ds);
  ds = NULL;
  m[5] = 60;
  REQUIRE(write_png(tmp_path("VOC2010/SegmentationClassContext/2008_000003.png"), W, H, PNG_COLOR_TYPE_GRAY, 8, m,
                    NULL, 0), "write");
  CHECK(lbbt_dataset_load_pascal_context(root, 0, 10, 0, 0, &ds) == LBBT_E_INPUT &&
        strstr(lbbt_last_error(), "2008_000003.png': pixel (x 5, y 0) holds 60"), "%s", lbbt_last_error());
  const char *bad = "2008_000002\n2008_000009\n";
  REQUIRE(write_bytes(tmp_path("VOC2010/ImageSets/SegmentationContext/val.txt"), bad, strlen(bad)), "write");
  CHECK(lbbt_dataset_load_pascal_context(root, 0, 10, 0, 0, &ds) == LBBT_E_INPUT &&
        strstr(lbbt_last_error(), "val.txt:2: '") && strstr(lbbt_last_error(), "2008_000009.jpg' is missing"), "%s",
        lbbt_last_error());
  free((void *)root);
}

TEST_MAIN_BEGIN("test_data_readers")
TEST_RUN(test_coco_roundtrip);
TEST_RUN(test_coco_errors);
TEST_RUN(test_ade20k_layout);
TEST_RUN(test_pascal_context_layout);
remove_tmpdir();
TEST_MAIN_END()
