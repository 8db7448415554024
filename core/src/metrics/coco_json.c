/* COCO instances / results JSON (lbbt/coco_json.h), through jansson and the project's
 * atomic JSON writer (lbbt_json_write_file). */
#include "lbbt/coco_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "lbbt/checkpoint.h"

/* json_t builders that remember the first allocation failure in *ok. */
static json_t *track(json_t *v, int *ok) {
  if (!v) *ok = 0;
  return v;
}
static void put(json_t *obj, const char *key, json_t *v, int *ok) {
  if (!v || json_object_set_new(obj, key, v) != 0) *ok = 0;
}
static void append(json_t *arr, json_t *v, int *ok) {
  if (!v || json_array_append_new(arr, v) != 0) *ok = 0;
}
static json_t *bbox_json(const double b[4], int *ok) {
  json_t *a = track(json_array(), ok);
  if (a)
    for (int c = 0; c < 4; c++) append(a, json_real(b[c]), ok);
  return a;
}

static int has_id(const int64_t *ids, int64_t n, int64_t id) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

lbbt_status lbbt_coco_write_instances(const char *path, const char *description,
                                      const lbbt_coco_image *images, int64_t n_images,
                                      const lbbt_coco_category *cats, int64_t n_cat,
                                      const lbbt_coco_gt *gt, int64_t n_gt) {
  int64_t *img_ids = malloc((size_t)(n_images + 1) * sizeof *img_ids);
  int64_t *cat_ids = malloc((size_t)(n_cat + 1) * sizeof *cat_ids);
  if (!img_ids || !cat_ids) {
    free(img_ids), free(cat_ids);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  }
  for (int64_t i = 0; i < n_images; i++) img_ids[i] = images[i].id;
  for (int64_t k = 0; k < n_cat; k++) cat_ids[k] = cats[k].id;
  lbbt_status st = LBBT_OK;
  for (int64_t j = 0; j < n_gt && st == LBBT_OK; j++)
    if (!has_id(img_ids, n_images, gt[j].image_id) || !has_id(cat_ids, n_cat, gt[j].category_id))
      st = lbbt_fail(LBBT_E_INPUT, "%s: ground truth %lld is on image %lld, category %lld; "
                     "one of them is not listed", path, (long long)j, (long long)gt[j].image_id,
                     (long long)gt[j].category_id);
  free(img_ids), free(cat_ids);
  if (st != LBBT_OK) return st;

  int ok = 1;
  char buf[64];
  json_t *root = track(json_object(), &ok), *info = track(json_object(), &ok);
  json_t *ji = track(json_array(), &ok), *ja = track(json_array(), &ok), *jc = track(json_array(), &ok);
  if (ok) {
    put(info, "description", json_string(description ? description : "lbbt"), &ok);
    put(root, "info", json_incref(info), &ok);
    put(root, "images", json_incref(ji), &ok);
    put(root, "annotations", json_incref(ja), &ok);
    put(root, "categories", json_incref(jc), &ok);
  }
  for (int64_t i = 0; ok && i < n_images; i++) {
    json_t *o = track(json_object(), &ok);
    if (!o) break;
    snprintf(buf, sizeof buf, "%lld.png", (long long)images[i].id);
    put(o, "id", json_integer(images[i].id), &ok);
    put(o, "width", json_integer(images[i].width), &ok);
    put(o, "height", json_integer(images[i].height), &ok);
    put(o, "file_name", json_string(images[i].file_name ? images[i].file_name : buf), &ok);
    append(ji, o, &ok);
  }
  for (int64_t j = 0; ok && j < n_gt; j++) {
    json_t *o = track(json_object(), &ok);
    if (!o) break;
    const lbbt_coco_gt *g = &gt[j];
    put(o, "id", json_integer(j + 1), &ok);
    put(o, "image_id", json_integer(g->image_id), &ok);
    put(o, "category_id", json_integer(g->category_id), &ok);
    put(o, "bbox", bbox_json(g->bbox, &ok), &ok);
    put(o, "area", json_real(g->area >= 0 ? g->area : g->bbox[2] * g->bbox[3]), &ok);
    put(o, "iscrowd", json_integer(g->iscrowd ? 1 : 0), &ok);
    append(ja, o, &ok);
  }
  for (int64_t k = 0; ok && k < n_cat; k++) {
    json_t *o = track(json_object(), &ok);
    if (!o) break;
    snprintf(buf, sizeof buf, "%lld", (long long)cats[k].id);
    put(o, "id", json_integer(cats[k].id), &ok);
    put(o, "name", json_string(cats[k].name ? cats[k].name : buf), &ok);
    put(o, "supercategory", json_string(cats[k].supercategory ? cats[k].supercategory : ""), &ok);
    append(jc, o, &ok);
  }
  st = ok ? lbbt_json_write_file(path, root)
          : lbbt_fail(LBBT_E_NOMEM, "%s: out of memory building the JSON (or a name is not "
                      "UTF-8)", path);
  json_decref(info), json_decref(ji), json_decref(ja), json_decref(jc), json_decref(root);
  return st;
}

lbbt_status lbbt_coco_write_results(const char *path, const lbbt_coco_det *det, int64_t n) {
  int ok = 1;
  json_t *root = track(json_array(), &ok);
  for (int64_t j = 0; ok && j < n; j++) {
    json_t *o = track(json_object(), &ok);
    if (!o) break;
    put(o, "image_id", json_integer(det[j].image_id), &ok);
    put(o, "category_id", json_integer(det[j].category_id), &ok);
    put(o, "bbox", bbox_json(det[j].bbox, &ok), &ok);
    put(o, "score", json_real(det[j].score), &ok);
    append(root, o, &ok);
  }
  lbbt_status st = ok ? lbbt_json_write_file(path, root)
                      : lbbt_fail(LBBT_E_NOMEM, "%s: out of memory building the JSON", path);
  json_decref(root);
  return st;
}

/* A number field of entry j (integers accepted where reals are expected). */
static lbbt_status number_field(const char *path, int64_t j, json_t *o, const char *key,
                                double *v) {
  json_t *x = json_object_get(o, key);
  if (!json_is_number(x))
    return lbbt_fail(LBBT_E_INPUT, "%s: detection %lld: \"%s\" is %s, want a number", path,
                     (long long)j, key, x ? "not a number" : "missing");
  *v = json_number_value(x);
  return LBBT_OK;
}
static lbbt_status id_field(const char *path, int64_t j, json_t *o, const char *key,
                            int64_t *v) {
  json_t *x = json_object_get(o, key);
  if (!json_is_integer(x))
    return lbbt_fail(LBBT_E_INPUT, "%s: detection %lld: \"%s\" is %s, want an integer id", path,
                     (long long)j, key, x ? "not an integer" : "missing");
  *v = json_integer_value(x);
  return LBBT_OK;
}

lbbt_status lbbt_coco_read_results(const char *path, lbbt_coco_det **out, int64_t *n) {
  *out = NULL;
  *n = 0;
  json_error_t err;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  if (!root) {
    if (err.line < 0) return lbbt_fail(LBBT_E_INPUT, "%s: cannot read JSON: %s", path, err.text);
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: invalid JSON: %s", path, err.line, err.column,
                     err.text);
  }
  lbbt_status st = LBBT_OK;
  lbbt_coco_det *det = NULL;
  if (!json_is_array(root)) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: a COCO results file is a JSON array [{image_id, "
                   "category_id, bbox, score}, ...]", path);
    goto done;
  }
  int64_t count = (int64_t)json_array_size(root);
  if (count > 0 && !(det = malloc((size_t)count * sizeof *det))) {
    st = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory for %lld detections", path, (long long)count);
    goto done;
  }
  for (int64_t j = 0; j < count; j++) {
    json_t *o = json_array_get(root, (size_t)j), *b = json_object_get(o, "bbox");
    if (!json_is_object(o)) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: detection %lld is not an object", path, (long long)j);
      goto done;
    }
    LBBT_TRY_GOTO(st, id_field(path, j, o, "image_id", &det[j].image_id), done);
    LBBT_TRY_GOTO(st, id_field(path, j, o, "category_id", &det[j].category_id), done);
    LBBT_TRY_GOTO(st, number_field(path, j, o, "score", &det[j].score), done);
    if (!json_is_array(b) || json_array_size(b) != 4) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: detection %lld: \"bbox\" must be [x, y, width, height]",
                     path, (long long)j);
      goto done;
    }
    for (int c = 0; c < 4; c++) {
      json_t *x = json_array_get(b, (size_t)c);
      if (!json_is_number(x)) {
        st = lbbt_fail(LBBT_E_INPUT, "%s: detection %lld: bbox[%d] is not a number", path,
                       (long long)j, c);
        goto done;
      }
      det[j].bbox[c] = json_number_value(x);
    }
  }
  *out = det;
  *n = count;
  det = NULL;
done:
  free(det);
  json_decref(root);
  return st;
}
