/* COCO JSON interop (lbbt/coco_json.h): results files round-trip bit for bit; instances
 * files hold what pycocotools' COCO() reads, and evaluating the files read back gives the
 * same numbers as evaluating the arrays; bad files fail naming the file and the entry. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/coco_json.h"
#include "lbbt/rng.h"
#include "test.h"

enum { N_IMG = 5, N_CAT = 3, N_GT = 14, N_DET = 40 };

static void make_data(lbbt_coco_image *img, lbbt_coco_category *cat, lbbt_coco_gt *gt,
                      lbbt_coco_det *det) {
  static const char *names[N_CAT] = {"T-shirt/top", "Trouser", "Pullover \"quoted\""};
  lbbt_rng r;
  lbbt_rng_seed(&r, 2026);
  for (int i = 0; i < N_IMG; i++) img[i] = (lbbt_coco_image){100 + i, 96, 64, NULL};
  for (int k = 0; k < N_CAT; k++) cat[k] = (lbbt_coco_category){k + 1, names[k], "fashion"};
  for (int j = 0; j < N_GT; j++) {
    double w = 3 + 40 * lbbt_rng_uniform(&r), h = 3 + 40 * lbbt_rng_uniform(&r);
    gt[j] = (lbbt_coco_gt){100 + (int64_t)lbbt_rng_below(&r, N_IMG - 1), /* image 104: none */
                           1 + (int64_t)lbbt_rng_below(&r, N_CAT),
                           {50 * lbbt_rng_uniform(&r), 30 * lbbt_rng_uniform(&r), w, h},
                           j % 3 ? -1.0 : 0.7 * w * h, j == 5};
  }
  for (int j = 0; j < N_DET; j++) {
    const lbbt_coco_gt *g = &gt[j % N_GT];
    det[j] = (lbbt_coco_det){j < 36 ? g->image_id : 104, g->category_id,
                             {g->bbox[0] + lbbt_rng_normal(&r), g->bbox[1] + lbbt_rng_normal(&r),
                              g->bbox[2] * (0.8 + 0.4 * lbbt_rng_uniform(&r)), g->bbox[3]},
                             lbbt_rng_uniform(&r) / 3.0};
  }
}

static void test_results_round_trip(void) {
  lbbt_coco_image img[N_IMG];
  lbbt_coco_category cat[N_CAT];
  lbbt_coco_gt gt[N_GT];
  lbbt_coco_det det[N_DET];
  make_data(img, cat, gt, det);
  char path[512];
  snprintf(path, sizeof path, "%s/results.json", test_tmpdir());
  REQUIRE(lbbt_coco_write_results(path, det, N_DET) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_coco_det *back = NULL;
  int64_t n = 0;
  REQUIRE(lbbt_coco_read_results(path, &back, &n) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(n == N_DET, "%lld detections read back", (long long)n);
  for (int j = 0; j < N_DET; j++)
    CHECK(back[j].image_id == det[j].image_id && back[j].category_id == det[j].category_id &&
              back[j].score == det[j].score && back[j].bbox[0] == det[j].bbox[0] &&
              back[j].bbox[1] == det[j].bbox[1] && back[j].bbox[2] == det[j].bbox[2] &&
              back[j].bbox[3] == det[j].bbox[3],
          "detection %d differs after the round trip (score %.17g vs %.17g)", j, back[j].score,
          det[j].score);
  free(back);
  /* an empty list is a valid results file */
  REQUIRE(lbbt_coco_write_results(path, NULL, 0) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_coco_read_results(path, &back, &n) == LBBT_OK && n == 0 && !back, "empty");
  /* the writer leaves no temporary file behind */
  DIR *d = opendir(test_tmpdir());
  REQUIRE(d, "opendir");
  struct dirent *e;
  while ((e = readdir(d))) CHECK(!strstr(e->d_name, ".tmp"), "left behind: %s", e->d_name);
  closedir(d);
}

/* Instances read back as a COCO reader would (annotations by id), then evaluated. */
static void test_instances_file(void) {
  lbbt_coco_image img[N_IMG];
  lbbt_coco_category cat[N_CAT];
  lbbt_coco_gt gt[N_GT];
  lbbt_coco_det det[N_DET];
  make_data(img, cat, gt, det);
  char path[512], rpath[512];
  snprintf(path, sizeof path, "%s/instances.json", test_tmpdir());
  snprintf(rpath, sizeof rpath, "%s/results2.json", test_tmpdir());
  REQUIRE(lbbt_coco_write_instances(path, "lbbt test", img, N_IMG, cat, N_CAT, gt, N_GT) == LBBT_OK,
          "%s", lbbt_last_error());
  REQUIRE(lbbt_coco_write_results(rpath, det, N_DET) == LBBT_OK, "%s", lbbt_last_error());
  json_error_t err;
  json_t *doc = json_load_file(path, 0, &err);
  REQUIRE(doc, "%s", err.text);
  json_t *ji = json_object_get(doc, "images"), *ja = json_object_get(doc, "annotations");
  json_t *jc = json_object_get(doc, "categories");
  REQUIRE(json_array_size(ji) == N_IMG && json_array_size(ja) == N_GT &&
              json_array_size(jc) == N_CAT, "sizes %zu %zu %zu", json_array_size(ji),
          json_array_size(ja), json_array_size(jc));
  CHECK(!strcmp(json_string_value(json_object_get(json_array_get(ji, 2), "file_name")), "102.png"),
        "default file name");
  CHECK(json_integer_value(json_object_get(json_array_get(ji, 0), "width")) == 96, "width");
  CHECK(!strcmp(json_string_value(json_object_get(json_array_get(jc, 2), "name")),
                "Pullover \"quoted\""), "category name survives quoting");
  lbbt_coco_gt back[N_GT];
  int64_t imgs[N_IMG], cats[N_CAT];
  for (int i = 0; i < N_IMG; i++) imgs[i] = json_integer_value(json_object_get(json_array_get(ji, i), "id"));
  for (int k = 0; k < N_CAT; k++) cats[k] = json_integer_value(json_object_get(json_array_get(jc, k), "id"));
  for (int j = 0; j < N_GT; j++) {
    json_t *a = json_array_get(ja, j), *b = json_object_get(a, "bbox");
    CHECK(json_integer_value(json_object_get(a, "id")) == j + 1, "annotation ids are 1..n");
    back[j] = (lbbt_coco_gt){json_integer_value(json_object_get(a, "image_id")),
                             json_integer_value(json_object_get(a, "category_id")),
                             {json_number_value(json_array_get(b, 0)), json_number_value(json_array_get(b, 1)),
                              json_number_value(json_array_get(b, 2)), json_number_value(json_array_get(b, 3))},
                             json_number_value(json_object_get(a, "area")),
                             (int)json_integer_value(json_object_get(a, "iscrowd"))};
    double want_area = gt[j].area >= 0 ? gt[j].area : gt[j].bbox[2] * gt[j].bbox[3];
    CHECK(back[j].area == want_area, "annotation %d area %.17g, want %.17g", j, back[j].area,
          want_area);
    CHECK(back[j].iscrowd == gt[j].iscrowd, "annotation %d iscrowd", j);
  }
  json_decref(doc);
  lbbt_coco_det *rdet = NULL;
  int64_t nd = 0;
  REQUIRE(lbbt_coco_read_results(rpath, &rdet, &nd) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_coco_eval *e1 = NULL, *e2 = NULL;
  REQUIRE(lbbt_coco_evaluate(gt, N_GT, det, N_DET, imgs, N_IMG, cats, N_CAT, NULL, &e1) == LBBT_OK,
          "%s", lbbt_last_error());
  REQUIRE(lbbt_coco_evaluate(back, N_GT, rdet, nd, imgs, N_IMG, cats, N_CAT, NULL, &e2) == LBBT_OK,
          "%s", lbbt_last_error());
  for (int s = 0; s < LBBT_COCO_N_STATS; s++)
    CHECK(e1->stats[s] == e2->stats[s], "%s: arrays %.17g, files %.17g",
          lbbt_coco_stat_name((lbbt_coco_stat)s), e1->stats[s], e2->stats[s]);
  CHECK(e1->stats[LBBT_COCO_AP50] > 0.2, "the jittered detections score (AP50 %g)",
        e1->stats[LBBT_COCO_AP50]);
  lbbt_coco_eval_free(e1);
  lbbt_coco_eval_free(e2);
  free(rdet);
  /* a ground truth on an unlisted image: refused, and no file written */
  char bad[512];
  snprintf(bad, sizeof bad, "%s/bad_instances.json", test_tmpdir());
  gt[0].image_id = 999;
  CHECK(lbbt_coco_write_instances(bad, NULL, img, N_IMG, cat, N_CAT, gt, N_GT) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "image 999"), "%s", lbbt_last_error());
  CHECK(!test_file_exists(bad), "nothing written for a refused ground truth");
}

/* Each bad results file fails with LBBT_E_INPUT and a message containing `want`. */
static void expect_bad(const char *text, const char *want) {
  char path[512];
  snprintf(path, sizeof path, "%s/bad.json", test_tmpdir());
  FILE *f = fopen(path, "w");
  if (!f) return;
  fputs(text, f);
  fclose(f);
  lbbt_coco_det *d = (lbbt_coco_det *)1;
  int64_t n = 7;
  lbbt_status st = lbbt_coco_read_results(path, &d, &n);
  CHECK(st == LBBT_E_INPUT && strstr(lbbt_last_error(), want) && strstr(lbbt_last_error(), path) &&
            d == NULL && n == 0, "'%s': got %s '%s', want '%s'", text, lbbt_status_name(st),
        lbbt_last_error(), want);
}

static void test_bad_results_files(void) {
  expect_bad("{\"image_id\": 1}", "JSON array");
  expect_bad("[{\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3, 4]}]", "\"score\" is missing");
  expect_bad("[{\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3], \"score\": 0.5}]",
             "detection 0: \"bbox\"");
  expect_bad("[{\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3, 4], \"score\": 0.5},\n"
             " {\"image_id\": \"a\", \"category_id\": 2, \"bbox\": [1, 2, 3, 4], \"score\": 0.5}]",
             "detection 1: \"image_id\" is not an integer");
  expect_bad("[{\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, \"x\", 3, 4], \"score\": 0.5}]",
             "bbox[1]");
  expect_bad("[{\"image_id\": 1,,}]", "invalid JSON");
  expect_bad("[3]", "detection 0 is not an object");
  lbbt_coco_det *d = NULL;
  int64_t n = 0;
  CHECK(lbbt_coco_read_results("/nonexistent/r.json", &d, &n) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "/nonexistent/r.json"), "missing file: %s", lbbt_last_error());
  /* extra keys (a segmentation, as loadRes adds) are accepted */
  char path[512];
  snprintf(path, sizeof path, "%s/extra.json", test_tmpdir());
  FILE *f = fopen(path, "w");
  REQUIRE(f, "fopen");
  fputs("[{\"image_id\": 3, \"category_id\": 1, \"bbox\": [1, 2.5, 3, 4], \"score\": 1,"
        " \"segmentation\": [[1, 2, 3, 4]], \"area\": 12}]", f);
  fclose(f);
  REQUIRE(lbbt_coco_read_results(path, &d, &n) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(n == 1 && d[0].image_id == 3 && d[0].bbox[1] == 2.5 && d[0].score == 1.0, "extra keys");
  free(d);
}

TEST_MAIN_BEGIN("test_coco_json")
TEST_RUN(test_results_round_trip);
TEST_RUN(test_instances_file);
TEST_RUN(test_bad_results_files);
TEST_MAIN_END()
