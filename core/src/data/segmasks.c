/* Images with PNG index masks (a MASK dataset): the generic pairs loader and the ADE20K and
 * Pascal Context layouts (rules in dataset.h).  The subset is chosen before decoding; pairs
 * are decoded in parallel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

#define ADE20K_CLASSES 150
#define PASCAL_CONTEXT_CLASSES 59

/* Pair i into ds: image bilinear, mask nearest, both to side x side; mask values reduced and
 * checked.  Sets the thread's message on failure. */
static lbbt_status decode_pair(lbbt_dataset *ds, int64_t i, const char *image, const char *mask, int side,
                               int reduce_zero_label) {
  uint8_t *img = NULL, *m = NULL;
  int ih, iw, mh, mw;
  lbbt_status st = lbbt_image_decode_rgb(image, 0, &img, &ih, &iw);
  if (st == LBBT_OK) st = lbbt_png_decode_index(mask, &m, &mh, &mw);
  if (st == LBBT_OK && (mh != ih || mw != iw))
    st = lbbt_fail(LBBT_E_INPUT, "mask '%s' is %dx%d but its image '%s' is %dx%d", mask, mw, mh, image, iw, ih);
  for (int64_t p = 0; st == LBBT_OK && p < (int64_t)mh * mw; p++) {
    int v = m[p];
    if (reduce_zero_label) v = v == 0 ? LBBT_MASK_IGNORE : v == LBBT_MASK_IGNORE ? v : v - 1;
    if (v != LBBT_MASK_IGNORE && v >= ds->num_classes)
      st = lbbt_fail(LBBT_E_INPUT, "mask '%s': pixel (x %lld, y %lld) holds %d, %s %d classes (or %d = ignore)",
                     mask, (long long)(p % mw), (long long)(p / mw), m[p],
                     reduce_zero_label ? "which after 0 -> ignore and v -> v-1 is not one of the" : "not one of the",
                     ds->num_classes, LBBT_MASK_IGNORE);
    m[p] = (uint8_t)v;
  }
  if (st == LBBT_OK) {
    size_t plane = (size_t)side * side;
    lbbt_resize_bilinear_u8(img, 3, ih, iw, ds->pixels + (size_t)i * 3 * plane, side, side);
    lbbt_resize_nearest_u8(m, mh, mw, ds->masks + (size_t)i * plane, side, side);
  }
  free(img);
  free(m);
  return st;
}

lbbt_status lbbt_dataset_load_segmentation(const char *const *images, const char *const *masks, int64_t n,
                                           int image_size, int num_classes, int reduce_zero_label,
                                           const char *name, lbbt_dataset **out) {
  *out = NULL;
  if (!name) name = "segmentation";
  if (image_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: images differ in size, so data.image_size must be set (e.g. 512)", name);
  if (num_classes < 1 || num_classes >= LBBT_MASK_IGNORE)
    return lbbt_fail(LBBT_E_INPUT, "%s: %d classes; masks hold 1 to %d", name, num_classes, LBBT_MASK_IGNORE - 1);
  if (n < 1) return lbbt_fail(LBBT_E_INPUT, "%s: no images", name);
  lbbt_dataset *ds = NULL;
  LBBT_TRY(lbbt_dataset_create(n, 3, image_size, image_size, num_classes, &ds));
  lbbt_status st = lbbt_dataset_attach_masks(ds);
  uint8_t *ok = st == LBBT_OK ? calloc((size_t)n, 1) : NULL;
  if (st == LBBT_OK && !ok) st = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", name);
  if (st == LBBT_OK) {
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < n; i++)
      ok[i] = decode_pair(ds, i, images[i], masks[i], image_size, reduce_zero_label) == LBBT_OK;
    /* worker threads' messages are their own: the first failure again, for its message */
    for (int64_t i = 0; i < n && st == LBBT_OK; i++)
      if (!ok[i]) st = decode_pair(ds, i, images[i], masks[i], image_size, reduce_zero_label);
  }
  free(ok);
  if (st == LBBT_OK && !lbbt_dataset_norm_lookup("imagenet", ds->mean, ds->std)) lbbt_dataset_compute_norm(ds);
  if (st == LBBT_OK)
    st = lbbt_dataset_set_source(ds, "%s, %lld images with masks, %d classes%s, resized to %dx%d (bilinear; masks "
                                 "nearest)", name, (long long)n, num_classes,
                                 reduce_zero_label ? " (mask 0 = ignore, v -> v-1)" : "", image_size, image_size);
  if (st != LBBT_OK) {
    lbbt_dataset_free(ds);
    return st;
  }
  *out = ds;
  return LBBT_OK;
}

/* The chosen pairs of the lists (all, or a uniform subset of `limit`), then the loader. */
static lbbt_status load_pairs(const str_list *images, const str_list *masks, int image_size, int64_t limit,
                              uint64_t seed, const char *split, int num_classes, int reduce_zero_label,
                              const char *name, lbbt_dataset **out) {
  if (limit > images->n)
    return lbbt_fail(LBBT_E_INPUT, "%s: subset of %lld images asked, but it has %lld", name, (long long)limit,
                     (long long)images->n);
  int64_t n = limit > 0 ? limit : images->n;
  int32_t *sel = malloc((size_t)(n ? n : 1) * sizeof *sel);
  const char **im = malloc((size_t)(n ? n : 1) * sizeof *im), **mk = malloc((size_t)(n ? n : 1) * sizeof *mk);
  lbbt_status st = sel && im && mk ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", name);
  if (st == LBBT_OK && limit > 0) st = lbbt_subset_uniform(images->n, limit, seed, split, sel);
  else if (st == LBBT_OK)
    for (int64_t i = 0; i < n; i++) sel[i] = (int32_t)i;
  for (int64_t i = 0; st == LBBT_OK && i < n; i++) {
    im[i] = images->items[sel[i]];
    mk[i] = masks->items[sel[i]];
  }
  if (st == LBBT_OK) st = lbbt_dataset_load_segmentation(im, mk, n, image_size, num_classes, reduce_zero_label, name, out);
  if (st == LBBT_OK && limit > 0)
    st = lbbt_dataset_append_source(*out, ", %lld uniformly drawn of %lld, subset seed %llu", (long long)limit,
                                    (long long)images->n, (unsigned long long)seed);
  if (st != LBBT_OK && *out) {
    lbbt_dataset_free(*out);
    *out = NULL;
  }
  free(sel);
  free(im);
  free(mk);
  return st;
}

/* "dir/stem.png" for the image path's stem into masks; missing is an error naming it. */
static lbbt_status push_mask(str_list *masks, const char *dir, const char *image_path) {
  const char *base = strrchr(image_path, '/');
  base = base ? base + 1 : image_path;
  const char *dot = strrchr(base, '.');
  char path[LBBT_PATH_MAX * 2];
  snprintf(path, sizeof path, "%s/%.*s.png", dir, (int)(dot ? dot - base : (long)strlen(base)), base);
  struct stat sb;
  if (stat(path, &sb) != 0)
    return lbbt_fail(LBBT_E_INPUT, "mask '%s' for image '%s' is missing", path, image_path);
  return data_str_list_push(masks, path, NULL);
}

lbbt_status lbbt_dataset_load_ade20k(const char *root, int train, int image_size, int64_t limit, uint64_t seed,
                                     lbbt_dataset **out) {
  *out = NULL;
  const char *split = train ? "training" : "validation";
  char images_dir[LBBT_PATH_MAX + 32], masks_dir[LBBT_PATH_MAX + 32];
  snprintf(images_dir, sizeof images_dir, "%s/images/%s", root, split);
  snprintf(masks_dir, sizeof masks_dir, "%s/annotations/%s", root, split);
  str_list images = {0}, masks = {0};
  lbbt_status st = data_list_dir(images_dir, NULL, &images);
  if (st == LBBT_OK && images.n == 0)
    st = lbbt_fail(LBBT_E_INPUT, "ADE20K: no .jpg/.png images in '%s' (expected the ADEChallengeData2016 layout: "
                   "images/{training,validation}/, annotations/{training,validation}/)", images_dir);
  for (int64_t i = 0; st == LBBT_OK && i < images.n; i++) st = push_mask(&masks, masks_dir, images.items[i]);
  if (st == LBBT_OK)
    st = load_pairs(&images, &masks, image_size, limit, seed, train ? "train" : "test", ADE20K_CLASSES, 1, "ade20k",
                    out);
  if (st == LBBT_OK) st = lbbt_dataset_append_source(*out, " (%s)", images_dir);
  data_str_list_free(&images);
  data_str_list_free(&masks);
  return st;
}

lbbt_status lbbt_dataset_load_pascal_context(const char *root, int train, int image_size, int64_t limit,
                                             uint64_t seed, lbbt_dataset **out) {
  *out = NULL;
  char list[LBBT_PATH_MAX + 64], line[1024];
  snprintf(list, sizeof list, "%s/ImageSets/SegmentationContext/%s.txt", root, train ? "train" : "val");
  FILE *f = fopen(list, "r");
  if (!f)
    return lbbt_fail(LBBT_E_INPUT, "Pascal Context: cannot open '%s': %s (expected the VOC2010 layout: JPEGImages/, "
                     "SegmentationClassContext/, ImageSets/SegmentationContext/{train,val}.txt)", list, strerror(errno));
  str_list images = {0}, masks = {0};
  lbbt_status st = LBBT_OK;
  int line_no = 0;
  while (st == LBBT_OK && fgets(line, sizeof line, f)) {
    line_no++;
    char *id = strtok(line, " \t\r\n");
    if (!id) continue;
    char image[LBBT_PATH_MAX * 2], mask[LBBT_PATH_MAX * 2];
    snprintf(image, sizeof image, "%s/JPEGImages/%s.jpg", root, id);
    snprintf(mask, sizeof mask, "%s/SegmentationClassContext/%s.png", root, id);
    struct stat sb;
    if (stat(image, &sb) != 0 || stat(mask, &sb) != 0) {
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d: '%s' is missing", list, line_no, stat(image, &sb) != 0 ? image : mask);
      break;
    }
    st = data_str_list_push(&images, image, NULL);
    if (st == LBBT_OK) st = data_str_list_push(&masks, mask, NULL);
  }
  fclose(f);
  if (st == LBBT_OK && images.n == 0) st = lbbt_fail(LBBT_E_INPUT, "Pascal Context: '%s' lists no images", list);
  if (st == LBBT_OK)
    st = load_pairs(&images, &masks, image_size, limit, seed, train ? "train" : "test", PASCAL_CONTEXT_CLASSES, 1,
                    "pascal-context", out);
  if (st == LBBT_OK) st = lbbt_dataset_append_source(*out, " (%s)", list);
  data_str_list_free(&images);
  data_str_list_free(&masks);
  return st;
}
