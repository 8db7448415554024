/* Detection and segmentation composites: determinism, boxes equal to what the canvas shows,
 * the IoU limit, the spread of object sizes over COCO's small / medium / large ranges, masks
 * resolved by paint order, and bad settings. */
#include <stdlib.h>
#include <string.h>

#include "lbbt/dataset.h"
#include "lbbt/spec.h"
#include "lbbt/rng.h"
#include "test.h"

/* Each size range must hold at least this fraction of the boxes. */
#define SIZE_RANGE_MIN_FRACTION 0.05

static const char *FMNIST = "/usr/share/datasets/fashion-mnist";

/* 60 grey 28x28 items of 10 classes: a filled rectangle of value 20 * (class + 1) at a random
 * place on black, so each class has its own pixel value. */
static lbbt_dataset *fake_items(void) {
  lbbt_dataset *ds = NULL;
  if (lbbt_dataset_create(60, 1, 28, 28, 10, &ds) != LBBT_OK) return NULL;
  lbbt_rng r;
  lbbt_rng_seed(&r, 5);
  for (int i = 0; i < 60; i++) {
    int c = i % 10, x0 = (int)lbbt_rng_below(&r, 10), y0 = (int)lbbt_rng_below(&r, 10);
    int x1 = 14 + (int)lbbt_rng_below(&r, 14), y1 = 14 + (int)lbbt_rng_below(&r, 14);
    ds->labels[i] = c;
    for (int y = y0; y <= y1; y++)
      for (int x = x0; x <= x1; x++) ds->pixels[i * 784 + y * 28 + x] = (uint8_t)(20 * (c + 1));
  }
  return ds;
}

static void test_composite_deterministic(void) {
  lbbt_dataset *items = fake_items();
  REQUIRE(items, "items: %s", lbbt_last_error());
  lbbt_composite_config c = lbbt_composite_defaults();
  lbbt_dataset *a = NULL, *b = NULL, *d = NULL;
  REQUIRE(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 100, 1, &a) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 40, 1, &b) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 40, 2, &d) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(a->target == LBBT_TARGET_BOXES && a->height == 64 && a->num_classes == 10, "geometry");
  CHECK(!memcmp(a->pixels, b->pixels, 40 * 64 * 64) && a->box_start[40] == b->box_start[40] &&
        !memcmp(a->boxes, b->boxes, (size_t)b->box_start[40] * sizeof(lbbt_box)),
        "the first 40 canvases depend on n");
  CHECK(memcmp(b->pixels, d->pixels, 40 * 64 * 64) != 0, "seed 2 gives the same canvases");
  CHECK(lbbt_dataset_check_targets(a, "composite") == LBBT_OK, "%s", lbbt_last_error());
  lbbt_dataset_free(a);
  lbbt_dataset_free(b);
  lbbt_dataset_free(d);
  lbbt_dataset_free(items);
}

static void test_composite_boxes_match_canvas(void) {
  lbbt_dataset *items = fake_items();
  REQUIRE(items, "items: %s", lbbt_last_error());
  /* one item: the box is the extent of the canvas's non-zero pixels, the class its value */
  lbbt_composite_config one = lbbt_composite_defaults();
  one.min_items = one.max_items = 1;
  lbbt_dataset *ds = NULL;
  REQUIRE(lbbt_dataset_composite(items, &one, LBBT_TARGET_BOXES, 50, 3, &ds) == LBBT_OK, "%s", lbbt_last_error());
  for (int i = 0; i < 50; i++) {
    REQUIRE(ds->box_start[i + 1] - ds->box_start[i] == 1, "canvas %d has %lld boxes", i,
            (long long)(ds->box_start[i + 1] - ds->box_start[i]));
    int x0 = 64, y0 = 64, x1 = 0, y1 = 0, top = 0;
    for (int p = 0; p < 64 * 64; p++) {
      int v = ds->pixels[i * 4096 + p];
      if (!v) continue;
      if (p % 64 < x0) x0 = p % 64;
      if (p % 64 + 1 > x1) x1 = p % 64 + 1;
      if (p / 64 < y0) y0 = p / 64;
      if (p / 64 + 1 > y1) y1 = p / 64 + 1;
      if (v > top) top = v;
    }
    const lbbt_box *b = &ds->boxes[ds->box_start[i]];
    CHECK(b->x0 == x0 && b->y0 == y0 && b->x1 == x1 && b->y1 == y1, "canvas %d: box %g,%g,%g,%g, pixels %d,%d,%d,%d",
          i, b->x0, b->y0, b->x1, b->y1, x0, y0, x1, y1);
    CHECK(top == 20 * (b->label + 1), "canvas %d: class %d but brightest pixel %d", i, b->label, top);
  }
  lbbt_dataset_free(ds);
  /* several items: counts, IoU limit, every painted pixel inside a box */
  lbbt_composite_config c = lbbt_composite_defaults();
  c.min_items = 2;
  c.max_items = 5;
  c.max_iou = 0.2;
  REQUIRE(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 200, 4, &ds) == LBBT_OK, "%s", lbbt_last_error());
  int overlapping = 0, max_seen = 0;
  for (int i = 0; i < 200; i++) {
    int64_t a = ds->box_start[i], m = ds->box_start[i + 1] - a;
    CHECK(m >= 1 && m <= 5, "canvas %d: %lld boxes", i, (long long)m);
    if (m > max_seen) max_seen = (int)m;
    for (int64_t p = 0; p < m; p++)
      for (int64_t q = p + 1; q < m; q++) {
        const lbbt_box *u = &ds->boxes[a + p], *v = &ds->boxes[a + q];
        double w = fmin(u->x1, v->x1) - fmax(u->x0, v->x0), h = fmin(u->y1, v->y1) - fmax(u->y0, v->y0);
        double inter = w > 0 && h > 0 ? w * h : 0;
        double uni = (u->x1 - u->x0) * (u->y1 - u->y0) + (v->x1 - v->x0) * (v->y1 - v->y0) - inter;
        CHECK(inter / uni <= 0.2 + 1e-9, "canvas %d: IoU %g", i, inter / uni);
        overlapping += inter > 0;
      }
    for (int p = 0; p < 64 * 64; p++) {
      if (!ds->pixels[i * 4096 + p]) continue;
      int in = 0;
      for (int64_t q = 0; q < m; q++) {
        const lbbt_box *u = &ds->boxes[a + q];
        in |= p % 64 >= u->x0 && p % 64 < u->x1 && p / 64 >= u->y0 && p / 64 < u->y1;
      }
      CHECK(in, "canvas %d: painted pixel (%d, %d) in no box", i, p % 64, p / 64);
    }
  }
  CHECK(overlapping > 0 && max_seen == 5, "overlaps %d, most items %d", overlapping, max_seen);
  lbbt_dataset_free(ds);
  lbbt_dataset_free(items);
}

/* Over `ds`, the fraction of boxes in each COCO size range (scaled to the canvas). */
static void size_spread(const lbbt_dataset *ds, double frac[3]) {
  double small, medium;
  lbbt_detection_area_ranges(ds->height, ds->width, &small, &medium);
  int64_t count[3] = {0, 0, 0}, total = ds->box_start[ds->n];
  for (int64_t k = 0; k < total; k++) {
    const lbbt_box *b = &ds->boxes[k];
    double area = (double)(b->x1 - b->x0) * (b->y1 - b->y0);
    count[area < small ? 0 : area < medium ? 1 : 2]++;
  }
  for (int s = 0; s < 3; s++) frac[s] = total ? (double)count[s] / (double)total : 0;
}

static void test_composite_size_spread(void) {
  /* the ranges detections are scored with (lbbt_coco_params_default: COCO's 32^2 and 96^2
   * times (side / 640)^2) */
  for (int side = 32; side <= 128; side += 32) {
    double small, medium, s = (side / 640.0) * (side / 640.0);
    lbbt_detection_area_ranges(side, side, &small, &medium);
    CHECK_CLOSE(small, 32.0 * 32.0 * s, 0, 1e-12, "small bound");
    CHECK_CLOSE(medium, 96.0 * 96.0 * s, 0, 1e-12, "medium bound");
  }
  /* Fashion-MNIST's test items when installed (else the rectangles of fake_items) */
  lbbt_dataset *items = NULL;
  char images[512], labels[512];
  snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", FMNIST);
  snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", FMNIST);
  int real = test_file_exists(images);
  if (real) REQUIRE(lbbt_dataset_load_idx(images, labels, "fashion-mnist", &items) == LBBT_OK, "%s", lbbt_last_error());
  else items = fake_items();
  REQUIRE(items, "items: %s", lbbt_last_error());
  static const int canvases[2] = {64, 96};
  for (int s = 0; s < 2; s++) {
    lbbt_composite_config c = lbbt_composite_defaults();
    c.canvas = canvases[s];
    c.max_side = 3 * canvases[s] / 4;
    lbbt_dataset *ds = NULL;
    REQUIRE(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 500, 8, &ds) == LBBT_OK, "%s", lbbt_last_error());
    double f[3];
    size_spread(ds, f);
    for (int r = 0; r < 3; r++)
      CHECK(f[r] >= SIZE_RANGE_MIN_FRACTION, "canvas %d: %s boxes are %.3f of all (small %.3f medium %.3f large %.3f)",
            c.canvas, r == 0 ? "small" : r == 1 ? "medium" : "large", f[r], f[0], f[1], f[2]);
    CHECK(!real || (ds->class_names && !strcmp(ds->class_names[9], "Ankle boot")), "class names");
    lbbt_dataset_free(ds);
  }
  lbbt_dataset_free(items);
}

static void test_composite_masks_paint_order(void) {
  lbbt_dataset *items = fake_items();
  REQUIRE(items, "items: %s", lbbt_last_error());
  lbbt_composite_config c = lbbt_composite_defaults();
  c.min_items = 3;
  c.max_items = 6;
  c.min_side = 12;
  lbbt_dataset *ds = NULL;
  REQUIRE(lbbt_dataset_composite(items, &c, LBBT_TARGET_MASK, 100, 6, &ds) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ds->target == LBBT_TARGET_MASK && ds->num_classes == 11, "11 classes, got %d", ds->num_classes);
  CHECK(ds->class_names == NULL || !strcmp(ds->class_names[0], "background"), "background first");
  CHECK(lbbt_dataset_check_targets(ds, "masks") == LBBT_OK, "%s", lbbt_last_error());
  int64_t interior = 0, painted = 0, classes_seen = 0;
  int seen[11] = {0};
  for (int64_t p = 0; p < 100 * 64 * 64; p++) {
    int v = ds->pixels[p], m = ds->masks[p];
    seen[m] = 1;
    painted += v != 0;
    CHECK((v == 0) == (m == 0), "pixel %d but mask %d", v, m);
    /* a full-value pixel shows the last item painted there: its class is the value */
    if (v && v % 20 == 0 && v / 20 <= 10 && m == v / 20) interior++;
    else if (v && v % 20 == 0 && v / 20 <= 10 && v > 20 && m != v / 20) {
      /* an edge pixel blended down to another class's value is allowed only on an edge: it
       * must then be darker than the class its mask names */
      CHECK(v < 20 * m, "pixel %d under mask class %d", v, m);
    }
  }
  for (int k = 0; k < 11; k++) classes_seen += seen[k];
  /* most painted pixels are an item's full value (edges are the rest) */
  CHECK(classes_seen == 11 && interior > painted / 2, "classes %lld, interior %lld of %lld painted",
        (long long)classes_seen, (long long)interior, (long long)painted);
  lbbt_dataset *again = NULL;
  REQUIRE(lbbt_dataset_composite(items, &c, LBBT_TARGET_MASK, 100, 6, &again) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(!memcmp(again->masks, ds->masks, 100 * 4096) && !memcmp(again->pixels, ds->pixels, 100 * 4096),
        "not deterministic");
  lbbt_dataset_free(again);
  lbbt_dataset_free(ds);
  lbbt_dataset_free(items);
}

static void test_composite_errors(void) {
  lbbt_dataset *items = fake_items();
  REQUIRE(items, "items");
  lbbt_dataset *ds = NULL;
  lbbt_composite_config c = lbbt_composite_defaults();
  c.max_side = 100;
  CHECK(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 5, 1, &ds) == LBBT_E_INPUT && !ds &&
        strstr(lbbt_last_error(), "max_side"), "side over the canvas: %s", lbbt_last_error());
  c = lbbt_composite_defaults();
  c.min_items = 3;
  c.max_items = 2;
  CHECK(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 5, 1, &ds) == LBBT_E_INPUT, "min > max items");
  c = lbbt_composite_defaults();
  c.max_iou = 1.5;
  CHECK(lbbt_dataset_composite(items, &c, LBBT_TARGET_BOXES, 5, 1, &ds) == LBBT_E_INPUT &&
        strstr(lbbt_last_error(), "max_iou"), "IoU 1.5");
  lbbt_dataset_free(items);
}

static lbbt_data_spec composite_spec(const char *name, int limit, int image_size) {
  lbbt_data_spec spec;
  memset(&spec, 0, sizeof spec);
  snprintf(spec.dataset, sizeof spec.dataset, "%s", name);
  spec.limit = spec.test_limit = limit;
  spec.image_size = image_size;
  spec.subset_seed = 2;
  return spec;
}

static void set_option(lbbt_data_spec *spec, const char *key, const char *value) {
  lbbt_option *o = &spec->options[spec->n_options++];
  snprintf(o->key, sizeof o->key, "%s", key);
  snprintf(o->value, sizeof o->value, "%s", value);
  o->line = 7;
  o->col = 5;
}

/* The front door: dataset names, options, limit = canvases, splits, resize. */
static void test_composite_open(void) {
  if (!test_file_exists(FMNIST)) SKIP("%s absent (Debian dataset-fashion-mnist)", FMNIST);
  lbbt_data_spec spec = composite_spec("fashion-mnist-detection", 30, 0);
  set_option(&spec, "canvas", "80");
  set_option(&spec, "max_items", "3");
  set_option(&spec, "max_iou", "0");
  lbbt_dataset *train = NULL, *test = NULL, *resized = NULL;
  REQUIRE(lbbt_dataset_open(&spec, 1, &train) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_dataset_open(&spec, 0, &test) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(train->target == LBBT_TARGET_BOXES && train->n == 30 && train->height == 80 && train->channels == 1,
        "train: kind %d n %lld side %d", train->target, (long long)train->n, train->height);
  CHECK(memcmp(train->pixels, test->pixels, 80 * 80) != 0, "train and test canvases equal");
  CHECK(strstr(train->source, "train split") && strstr(test->source, "test split") &&
        strstr(train->source, "max IoU 0"), "source '%s'", train->source);
  for (int64_t i = 0; i < train->n; i++) {
    CHECK(train->box_start[i + 1] - train->box_start[i] <= 3, "more than max_items");
    for (int64_t p = train->box_start[i]; p < train->box_start[i + 1]; p++)
      for (int64_t q = p + 1; q < train->box_start[i + 1]; q++) {
        const lbbt_box *u = &train->boxes[p], *v = &train->boxes[q];
        CHECK(u->x1 <= v->x0 || v->x1 <= u->x0 || u->y1 <= v->y0 || v->y1 <= u->y0, "boxes overlap at max_iou 0");
      }
  }
  spec.image_size = 40;
  REQUIRE(lbbt_dataset_open(&spec, 1, &resized) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(resized->height == 40 && resized->boxes[0].x1 == train->boxes[0].x1 / 2, "resized boxes");
  lbbt_dataset_free(resized);
  lbbt_dataset_free(train);
  lbbt_dataset_free(test);

  lbbt_data_spec seg = composite_spec("fashion-mnist-segmentation", 12, 0);
  REQUIRE(lbbt_dataset_open(&seg, 0, &test) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(test->target == LBBT_TARGET_MASK && test->num_classes == 11 && test->height == 64 && test->n == 12,
        "segmentation defaults");
  lbbt_dataset_free(test);
  test = NULL;
  set_option(&seg, "max_iou", "0.5");
  CHECK(lbbt_dataset_open(&seg, 0, &test) == LBBT_E_INPUT && !test && strstr(lbbt_last_error(), ":7:5:") &&
        strstr(lbbt_last_error(), "no option 'max_iou'"), "max_iou for masks: %s", lbbt_last_error());
  lbbt_data_spec cls = composite_spec("fashion-mnist", 10, 0);
  set_option(&cls, "canvas", "64");
  CHECK(lbbt_dataset_check_options(&cls, "x.yaml") == LBBT_E_INPUT && strstr(lbbt_last_error(), "x.yaml:7:5:"),
        "options on fashion-mnist: %s", lbbt_last_error());
  lbbt_data_spec bad = composite_spec("fashion-mnist-detection", 10, 0);
  set_option(&bad, "canvas", "64.5");
  CHECK(lbbt_dataset_check_options(&bad, "x.yaml") == LBBT_E_INPUT && strstr(lbbt_last_error(), "whole number"),
        "canvas 64.5: %s", lbbt_last_error());
}

TEST_MAIN_BEGIN("test_data_composite")
TEST_RUN(test_composite_deterministic);
TEST_RUN(test_composite_boxes_match_canvas);
TEST_RUN(test_composite_size_spread);
TEST_RUN(test_composite_masks_paint_order);
TEST_RUN(test_composite_errors);
TEST_RUN(test_composite_open);
TEST_MAIN_END()
