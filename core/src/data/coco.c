/* COCO "instances" annotations (JSON, read with jansson) and their images: a BOXES dataset
 * (rules in dataset.h).  Images are listed in ascending image id (as pycocotools and DETR's
 * CocoDetection take them), a subset is chosen before decoding, and only the chosen files are
 * decoded, in parallel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data/data_internal.h"

typedef struct coco_image {
  json_int_t id;
  const char *file;  /* borrowed from the JSON tree */
  int width, height; /* as the JSON says; the decoded file must agree */
  int64_t first, count; /* its annotations in the sorted annotation list */
} coco_image;

typedef struct coco_ann {
  json_int_t image_id;
  int64_t order;     /* position in the file, so an image's boxes keep file order */
  lbbt_box box;      /* in the image's own pixels, label already contiguous */
} coco_ann;

static int cmp_image(const void *a, const void *b) {
  json_int_t x = ((const coco_image *)a)->id, y = ((const coco_image *)b)->id;
  return (x > y) - (x < y);
}
static int cmp_ann(const void *a, const void *b) {
  const coco_ann *x = a, *y = b;
  if (x->image_id != y->image_id) return (x->image_id > y->image_id) - (x->image_id < y->image_id);
  return (x->order > y->order) - (x->order < y->order);
}
static int cmp_jint(const void *a, const void *b) {
  json_int_t x = *(const json_int_t *)a, y = *(const json_int_t *)b;
  return (x > y) - (x < y);
}

/* obj[key] as an integer / number / string, or an error naming path[index].key. */
static lbbt_status get_int(const char *file, const char *path, size_t i, json_t *obj, const char *key,
                           json_int_t *out) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v))
    return lbbt_fail(LBBT_E_INPUT, "COCO file '%s': %s[%zu].%s: expected an integer", file, path, i, key);
  *out = json_integer_value(v);
  return LBBT_OK;
}
static lbbt_status get_string(const char *file, const char *path, size_t i, json_t *obj, const char *key,
                              const char **out) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_string(v))
    return lbbt_fail(LBBT_E_INPUT, "COCO file '%s': %s[%zu].%s: expected a string", file, path, i, key);
  *out = json_string_value(v);
  return LBBT_OK;
}
static lbbt_status get_array(const char *file, json_t *root, const char *key, json_t **out) {
  *out = json_object_get(root, key);
  if (!json_is_array(*out))
    return lbbt_fail(LBBT_E_INPUT, "COCO file '%s': top-level '%s' must be an array (is it an instances_*.json "
                     "file?)", file, key);
  return LBBT_OK;
}

/* Binary search of a sorted id list; -1 when absent. */
static int64_t find_id(const json_int_t *ids, int64_t n, json_int_t id) {
  int64_t lo = 0, hi = n - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) / 2;
    if (ids[mid] == id) return mid;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* Decode the chosen images into ds (resized to its side), checking each file's size against
 * the JSON; a failure found on a worker thread is reproduced here for its message. */
static lbbt_status decode_images(lbbt_dataset *ds, const char *images_dir, const coco_image *imgs,
                                 const int32_t *sel, int side) {
  const int64_t n = ds->n, numel = lbbt_dataset_image_numel(ds);
  uint8_t *ok = calloc(n ? (size_t)n : 1, 1);
  if (!ok) return lbbt_fail(LBBT_E_NOMEM, "COCO: out of memory decoding images");
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < n; i++) {
    const coco_image *im = &imgs[sel[i]];
    char path[LBBT_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", images_dir, im->file);
    uint8_t *img = NULL;
    int h, w;
    if (lbbt_image_decode_rgb(path, 0, &img, &h, &w) == LBBT_OK && h == im->height && w == im->width) {
      lbbt_resize_bilinear_u8(img, 3, h, w, ds->pixels + i * numel, side, side);
      ok[i] = 1;
    }
    free(img);
  }
  lbbt_status st = LBBT_OK;
  for (int64_t i = 0; i < n && st == LBBT_OK; i++) {
    if (ok[i]) continue;
    const coco_image *im = &imgs[sel[i]];
    char path[LBBT_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", images_dir, im->file);
    uint8_t *img = NULL;
    int h, w;
    st = lbbt_image_decode_rgb(path, 0, &img, &h, &w);
    if (st == LBBT_OK)
      st = lbbt_fail(LBBT_E_INPUT, "COCO image '%s' is %dx%d but its annotations say %dx%d (image id %lld)", path,
                     w, h, im->width, im->height, (long long)im->id);
    free(img);
  }
  free(ok);
  return st;
}

lbbt_status lbbt_dataset_load_coco(const char *annotations, const char *images_dir, int image_size,
                                   int64_t limit, uint64_t subset_seed, const char *split_tag,
                                   lbbt_dataset **out) {
  *out = NULL;
  if (image_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "COCO '%s': images differ in size, so data.image_size must be set (e.g. 224)",
                     annotations);
  if (limit < 0) return lbbt_fail(LBBT_E_INPUT, "COCO '%s': limit %lld is negative", annotations, (long long)limit);
  json_error_t jerr;
  json_t *root = json_load_file(annotations, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return lbbt_fail(LBBT_E_INPUT, "COCO file '%s': line %d, column %d: %s", annotations, jerr.line, jerr.column,
                     jerr.text);
  lbbt_status st = LBBT_OK;
  coco_image *imgs = NULL;
  coco_ann *anns = NULL;
  json_int_t *cat_ids = NULL, *img_ids = NULL;
  const char **cat_names = NULL;
  int32_t *sel = NULL;
  lbbt_dataset *ds = NULL;
  json_t *jimages, *janns, *jcats;
  if (!json_is_object(root)) {
    st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': the top level must be an object", annotations);
    goto done;
  }
  LBBT_TRY_GOTO(st, get_array(annotations, root, "images", &jimages), done);
  LBBT_TRY_GOTO(st, get_array(annotations, root, "annotations", &janns), done);
  LBBT_TRY_GOTO(st, get_array(annotations, root, "categories", &jcats), done);
  const size_t n_img = json_array_size(jimages), n_ann = json_array_size(janns), n_cat = json_array_size(jcats);
  if (n_img == 0 || n_cat == 0 || n_img > INT32_MAX || n_cat >= LBBT_MASK_IGNORE * 256) {
    st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': %zu images and %zu categories; need at least one of each",
                   annotations, n_img, n_cat);
    goto done;
  }
  imgs = calloc(n_img, sizeof *imgs);
  anns = calloc(n_ann ? n_ann : 1, sizeof *anns);
  cat_ids = calloc(n_cat, sizeof *cat_ids);
  img_ids = calloc(n_img, sizeof *img_ids);
  cat_names = calloc(n_cat, sizeof *cat_names);
  if (!imgs || !anns || !cat_ids || !img_ids || !cat_names) {
    st = lbbt_fail(LBBT_E_NOMEM, "COCO '%s': out of memory", annotations);
    goto done;
  }
  /* categories: contiguous ids 0..K-1 in ascending category id */
  for (size_t i = 0; i < n_cat; i++) {
    json_t *c = json_array_get(jcats, i);
    LBBT_TRY_GOTO(st, get_int(annotations, "categories", i, c, "id", &cat_ids[i]), done);
  }
  qsort(cat_ids, n_cat, sizeof *cat_ids, cmp_jint);
  for (size_t i = 0; i < n_cat; i++) {
    json_t *c = json_array_get(jcats, i);
    json_int_t id = 0;
    const char *name = NULL;
    LBBT_TRY_GOTO(st, get_int(annotations, "categories", i, c, "id", &id), done);
    LBBT_TRY_GOTO(st, get_string(annotations, "categories", i, c, "name", &name), done);
    int64_t k = find_id(cat_ids, (int64_t)n_cat, id);
    if (cat_names[k]) {
      st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': categories[%zu].id %lld appears twice", annotations, i,
                     (long long)id);
      goto done;
    }
    cat_names[k] = name;
  }
  for (size_t i = 0; i < n_img; i++) {
    json_t *o = json_array_get(jimages, i);
    json_int_t w = 0, h = 0;
    LBBT_TRY_GOTO(st, get_int(annotations, "images", i, o, "id", &imgs[i].id), done);
    LBBT_TRY_GOTO(st, get_string(annotations, "images", i, o, "file_name", &imgs[i].file), done);
    LBBT_TRY_GOTO(st, get_int(annotations, "images", i, o, "width", &w), done);
    LBBT_TRY_GOTO(st, get_int(annotations, "images", i, o, "height", &h), done);
    if (w < 1 || h < 1 || w > 65535 || h > 65535) {
      st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': images[%zu]: size %lldx%lld", annotations, i, (long long)w,
                     (long long)h);
      goto done;
    }
    imgs[i].width = (int)w;
    imgs[i].height = (int)h;
  }
  qsort(imgs, n_img, sizeof *imgs, cmp_image);
  for (size_t i = 0; i < n_img; i++) {
    img_ids[i] = imgs[i].id;
    if (i && img_ids[i] == img_ids[i - 1]) {
      st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': image id %lld appears twice in 'images'", annotations,
                     (long long)img_ids[i]);
      goto done;
    }
  }
  /* annotations: bbox [x, y, w, h] -> edges clipped to the image, as DETR's
   * ConvertCocoPolysToMask; a box left empty is dropped */
  size_t m = 0;
  for (size_t i = 0; i < n_ann; i++) {
    json_t *a = json_array_get(janns, i), *bbox = json_object_get(a, "bbox"), *crowd = json_object_get(a, "iscrowd");
    json_int_t image_id = 0, cat = 0;
    LBBT_TRY_GOTO(st, get_int(annotations, "annotations", i, a, "image_id", &image_id), done);
    LBBT_TRY_GOTO(st, get_int(annotations, "annotations", i, a, "category_id", &cat), done);
    if (!json_is_array(bbox) || json_array_size(bbox) != 4) {
      st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': annotations[%zu].bbox: expected [x, y, width, height]",
                     annotations, i);
      goto done;
    }
    double v[4];
    for (int c = 0; c < 4; c++) {
      json_t *x = json_array_get(bbox, (size_t)c);
      if (!json_is_number(x) || !isfinite(json_number_value(x))) {
        st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': annotations[%zu].bbox[%d]: expected a number", annotations, i, c);
        goto done;
      }
      v[c] = json_number_value(x);
    }
    if (crowd && !json_is_integer(crowd) && !json_is_boolean(crowd)) {
      st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': annotations[%zu].iscrowd: expected 0 or 1", annotations, i);
      goto done;
    }
    int64_t im = find_id(img_ids, (int64_t)n_img, image_id), k = find_id(cat_ids, (int64_t)n_cat, cat);
    if (im < 0 || k < 0) {
      st = lbbt_fail(LBBT_E_INPUT, "COCO file '%s': annotations[%zu]: %s %lld is not in '%s'", annotations, i,
                     im < 0 ? "image_id" : "category_id", (long long)(im < 0 ? image_id : cat),
                     im < 0 ? "images" : "categories");
      goto done;
    }
    double W = imgs[im].width, H = imgs[im].height;
    double x0 = fmin(fmax(v[0], 0), W), y0 = fmin(fmax(v[1], 0), H);
    double x1 = fmin(fmax(v[0] + v[2], 0), W), y1 = fmin(fmax(v[1] + v[3], 0), H);
    if (!(x1 > x0 && y1 > y0)) continue;
    int is_crowd = crowd ? (json_is_boolean(crowd) ? json_is_true(crowd) : json_integer_value(crowd) != 0) : 0;
    anns[m++] = (coco_ann){image_id, (int64_t)i, {(float)x0, (float)y0, (float)x1, (float)y1, (int32_t)k, is_crowd}};
  }
  qsort(anns, m, sizeof *anns, cmp_ann);
  for (size_t a = 0, i = 0; i < n_img; i++) {
    while (a < m && anns[a].image_id < imgs[i].id) a++;
    imgs[i].first = (int64_t)a;
    while (a < m && anns[a].image_id == imgs[i].id) a++;
    imgs[i].count = (int64_t)a - imgs[i].first;
  }
  /* the subset, then decoding */
  if (limit > (int64_t)n_img) {
    st = lbbt_fail(LBBT_E_INPUT, "COCO '%s': subset of %lld images asked, but it has %zu", annotations,
                   (long long)limit, n_img);
    goto done;
  }
  const int64_t n = limit > 0 ? limit : (int64_t)n_img;
  sel = malloc((size_t)n * sizeof *sel);
  if (!sel) {
    st = lbbt_fail(LBBT_E_NOMEM, "COCO: out of memory");
    goto done;
  }
  if (limit > 0) LBBT_TRY_GOTO(st, lbbt_subset_uniform((int64_t)n_img, limit, subset_seed, split_tag, sel), done);
  else
    for (int64_t i = 0; i < n; i++) sel[i] = (int32_t)i;
  LBBT_TRY_GOTO(st, lbbt_dataset_create(n, 3, image_size, image_size, (int)n_cat, &ds), done);
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++) total += imgs[sel[i]].count;
  LBBT_TRY_GOTO(st, lbbt_dataset_attach_boxes(ds, total), done);
  for (int64_t i = 0; i < n; i++) {
    const coco_image *im = &imgs[sel[i]];
    const float sx = (float)image_size / (float)im->width, sy = (float)image_size / (float)im->height;
    lbbt_box *dst = ds->boxes + ds->box_start[i];
    for (int64_t a = 0; a < im->count; a++) {
      lbbt_box b = anns[im->first + a].box;
      b.x0 *= sx, b.x1 *= sx, b.y0 *= sy, b.y1 *= sy;
      dst[a] = b;
    }
    ds->box_start[i + 1] = ds->box_start[i] + im->count;
  }
  LBBT_TRY_GOTO(st, decode_images(ds, images_dir, imgs, sel, image_size), done);
  if (!lbbt_dataset_norm_lookup("imagenet", ds->mean, ds->std)) lbbt_dataset_compute_norm(ds);
  LBBT_TRY_GOTO(st, lbbt_dataset_set_class_names(ds, cat_names, (int)n_cat), done);
  LBBT_TRY_GOTO(st, lbbt_dataset_set_source(ds, "coco (%s, images %s), %lld of %zu images, %lld boxes, resized to "
                                            "%dx%d (bilinear)", annotations, images_dir, (long long)n, n_img,
                                            (long long)total, image_size, image_size), done);
  *out = ds;
  ds = NULL;
done:
  json_decref(root);
  free(imgs);
  free(anns);
  free(cat_ids);
  free(img_ids);
  free(cat_names);
  free(sel);
  lbbt_dataset_free(ds);
  return st;
}
