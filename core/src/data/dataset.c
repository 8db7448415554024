/* lbbt_dataset lifecycle, provenance, class names, normalised access and subsets. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

lbbt_status lbbt_dataset_create(int64_t n, int channels, int height, int width, int num_classes,
                                lbbt_dataset **out) {
  *out = NULL;
  if (n < 0 || n > INT32_MAX || (channels != 1 && channels != 3) || height < 1 || width < 1 ||
      num_classes < 1)
    return lbbt_fail(LBBT_E_INPUT,
                     "dataset_create: bad geometry n=%lld C=%d H=%d W=%d classes=%d (need "
                     "0 <= n <= 2^31-1, C 1 or 3, H, W, classes >= 1)",
                     (long long)n, channels, height, width, num_classes);
  lbbt_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) return lbbt_fail(LBBT_E_NOMEM, "dataset_create: out of memory");
  ds->n = n;
  ds->channels = channels;
  ds->height = height;
  ds->width = width;
  ds->num_classes = num_classes;
  size_t npix = (size_t)n * (size_t)channels * (size_t)height * (size_t)width;
  ds->pixels = calloc(npix ? npix : 1, 1);
  ds->labels = calloc(n ? (size_t)n : 1, sizeof(int32_t));
  ds->source = calloc(1, 1);
  if (!ds->pixels || !ds->labels || !ds->source) {
    lbbt_dataset_free(ds);
    return lbbt_fail(LBBT_E_NOMEM, "dataset_create: out of memory for %lld images of %dx%dx%d",
                     (long long)n, channels, height, width);
  }
  for (int c = 0; c < 3; c++) {
    ds->mean[c] = 0.0f;
    ds->std[c] = 1.0f;
  }
  *out = ds;
  return LBBT_OK;
}

void lbbt_dataset_free(lbbt_dataset *ds) {
  if (!ds) return;
  if (ds->class_names)
    for (int k = 0; k < ds->num_classes; k++) free(ds->class_names[k]);
  free(ds->class_names);
  free(ds->pixels);
  free(ds->labels);
  free(ds->source);
  lbbt_dataset_free_targets(ds);
  free(ds);
}

static lbbt_status source_vprintf(lbbt_dataset *ds, int append, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int add = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (add < 0) return lbbt_fail(LBBT_E_INTERNAL, "dataset source: bad format '%s'", fmt);
  size_t old = append && ds->source ? strlen(ds->source) : 0;
  char *s = malloc(old + (size_t)add + 1);
  if (!s) return lbbt_fail(LBBT_E_NOMEM, "dataset source: out of memory");
  if (old) memcpy(s, ds->source, old);
  vsnprintf(s + old, (size_t)add + 1, fmt, ap);
  free(ds->source);
  ds->source = s;
  return LBBT_OK;
}

lbbt_status lbbt_dataset_set_source(lbbt_dataset *ds, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lbbt_status st = source_vprintf(ds, 0, fmt, ap);
  va_end(ap);
  return st;
}

lbbt_status lbbt_dataset_append_source(lbbt_dataset *ds, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lbbt_status st = source_vprintf(ds, 1, fmt, ap);
  va_end(ap);
  return st;
}

lbbt_status lbbt_dataset_set_class_names(lbbt_dataset *ds, const char *const *names, int n) {
  if (n != ds->num_classes)
    return lbbt_fail(LBBT_E_INTERNAL, "dataset: %d class names for %d classes", n,
                     ds->num_classes);
  char **copy = calloc((size_t)n, sizeof *copy);
  if (!copy) return lbbt_fail(LBBT_E_NOMEM, "dataset: out of memory for class names");
  for (int k = 0; k < n; k++) {
    copy[k] = strdup(names[k]);
    if (!copy[k]) {
      for (int j = 0; j < k; j++) free(copy[j]);
      free(copy);
      return lbbt_fail(LBBT_E_NOMEM, "dataset: out of memory for class names");
    }
  }
  if (ds->class_names)
    for (int k = 0; k < ds->num_classes; k++) free(ds->class_names[k]);
  free(ds->class_names);
  ds->class_names = copy;
  return LBBT_OK;
}

int64_t lbbt_dataset_image_numel(const lbbt_dataset *ds) {
  return (int64_t)ds->channels * ds->height * ds->width;
}

void lbbt_dataset_image_f32(const lbbt_dataset *ds, int64_t i, float *out) {
  int64_t hw = (int64_t)ds->height * ds->width;
  const uint8_t *src = ds->pixels + i * lbbt_dataset_image_numel(ds);
  for (int c = 0; c < ds->channels; c++) {
    /* (p/255 - mean)/std as one multiply-add per pixel */
    float scale = 1.0f / (255.0f * ds->std[c]), bias = -ds->mean[c] / ds->std[c];
    const uint8_t *s = src + c * hw;
    float *d = out + c * hw;
    for (int64_t k = 0; k < hw; k++) d[k] = (float)s[k] * scale + bias;
  }
}

lbbt_status lbbt_dataset_gather_f32(const lbbt_dataset *ds, const int32_t *idx, int64_t n,
                                    const int32_t *labels, float *images, int32_t *labels_out) {
  for (int64_t j = 0; j < n; j++)
    if (idx[j] < 0 || idx[j] >= ds->n)
      return lbbt_fail(LBBT_E_INPUT, "dataset_gather: index %d at position %lld outside [0, %lld)",
                       idx[j], (long long)j, (long long)ds->n);
  const int32_t *lab = labels ? labels : ds->labels;
  int64_t numel = lbbt_dataset_image_numel(ds);
  for (int64_t j = 0; j < n; j++) {
    lbbt_dataset_image_f32(ds, idx[j], images + j * numel);
    if (labels_out) labels_out[j] = lab[idx[j]];
  }
  return LBBT_OK;
}

/* ---- normalisation --------------------------------------------------------------------- */
typedef struct norm_entry {
  const char *name;
  float mean[3], std[3];
} norm_entry;

static const norm_entry NORMS[] = {
    {"fashion-mnist", {0.2860f, 0.2860f, 0.2860f}, {0.3530f, 0.3530f, 0.3530f}},
    {"mnist", {0.1307f, 0.1307f, 0.1307f}, {0.3081f, 0.3081f, 0.3081f}},
    {"cifar10", {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
    {"cifar100", {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}},
    {"folder", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {"imagenet", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {"tiny-imagenet", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
};

int lbbt_dataset_norm_lookup(const char *name, float mean[3], float std[3]) {
  if (!name) return 0;
  for (size_t i = 0; i < sizeof NORMS / sizeof NORMS[0]; i++)
    if (strcmp(NORMS[i].name, name) == 0) {
      memcpy(mean, NORMS[i].mean, sizeof NORMS[i].mean);
      memcpy(std, NORMS[i].std, sizeof NORMS[i].std);
      return 1;
    }
  return 0;
}

void lbbt_dataset_compute_norm(lbbt_dataset *ds) {
  int64_t hw = (int64_t)ds->height * ds->width;
  for (int c = 0; c < ds->channels; c++) {
    /* integer sums are exact; 8-bit squares fit 2^63 for any realistic dataset */
    uint64_t sum = 0, sumsq = 0;
    for (int64_t i = 0; i < ds->n; i++) {
      const uint8_t *p = ds->pixels + (i * ds->channels + c) * hw;
      for (int64_t k = 0; k < hw; k++) {
        sum += p[k];
        sumsq += (uint64_t)p[k] * p[k];
      }
    }
    double count = (double)ds->n * (double)hw;
    double mean = count > 0 ? (double)sum / count / 255.0 : 0.0;
    double var = count > 0 ? (double)sumsq / count / (255.0 * 255.0) - mean * mean : 0.0;
    double sd = sqrt(var > 0 ? var : 0);
    ds->mean[c] = (float)mean;
    ds->std[c] = (float)(sd < 1e-3 ? 1e-3 : sd);
  }
}

/* ---- subsets --------------------------------------------------------------------------- */
lbbt_status lbbt_dataset_subset(const lbbt_dataset *src, const int32_t *idx, int64_t n,
                                lbbt_dataset **out) {
  *out = NULL;
  for (int64_t j = 0; j < n; j++)
    if (idx[j] < 0 || idx[j] >= src->n)
      return lbbt_fail(LBBT_E_INPUT, "dataset_subset: index %d at position %lld outside [0, %lld)",
                       idx[j], (long long)j, (long long)src->n);
  lbbt_dataset *ds;
  LBBT_TRY(lbbt_dataset_create(n, src->channels, src->height, src->width, src->num_classes, &ds));
  int64_t numel = lbbt_dataset_image_numel(src);
  for (int64_t j = 0; j < n; j++) {
    memcpy(ds->pixels + j * numel, src->pixels + (int64_t)idx[j] * numel, (size_t)numel);
    ds->labels[j] = src->labels[idx[j]];
  }
  memcpy(ds->mean, src->mean, sizeof ds->mean);
  memcpy(ds->std, src->std, sizeof ds->std);
  lbbt_status st = lbbt_dataset_set_source(ds, "%s", src->source ? src->source : "");
  if (st == LBBT_OK) st = lbbt_dataset_copy_targets(src, idx, n, ds);
  if (st == LBBT_OK && src->class_names)
    st = lbbt_dataset_set_class_names(ds, (const char *const *)src->class_names,
                                      src->num_classes);
  if (st != LBBT_OK) {
    lbbt_dataset_free(ds);
    return st;
  }
  *out = ds;
  return LBBT_OK;
}

lbbt_status lbbt_dataset_apply_limit(lbbt_dataset **dsp, int64_t limit, uint64_t seed,
                                     const char *split_tag) {
  lbbt_dataset *ds = *dsp;
  if (limit < 0)
    return lbbt_fail(LBBT_E_INPUT, "data limit %lld is negative (0 = all images)",
                     (long long)limit);
  if (limit == 0) return lbbt_dataset_append_source(ds, ", all %lld", (long long)ds->n);
  int32_t *idx = malloc((size_t)limit * sizeof *idx);
  if (!idx) return lbbt_fail(LBBT_E_NOMEM, "subset: out of memory for %lld indices", (long long)limit);
  lbbt_status st = LBBT_OK;
  if (ds->target == LBBT_TARGET_CLASS) {
    st = lbbt_subset_balanced(ds->labels, ds->n, ds->num_classes, limit, seed, split_tag, ds->source, idx);
  } else if (limit > ds->n) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: subset of %lld images asked, but it has %lld; set the limit between "
                   "1 and %lld (0 = all)", ds->source, (long long)limit, (long long)ds->n, (long long)ds->n);
  } else { /* no class per image: a uniform draw, kept in file order */
    st = lbbt_subset_uniform(ds->n, limit, seed, split_tag, idx);
  }
  lbbt_dataset *sub = NULL;
  if (st == LBBT_OK) st = lbbt_dataset_subset(ds, idx, limit, &sub);
  free(idx);
  if (st == LBBT_OK)
    st = lbbt_dataset_append_source(sub, ", %lld %s of %lld, subset seed %llu", (long long)limit,
                                    ds->target == LBBT_TARGET_CLASS ? "class-balanced" : "uniformly drawn",
                                    (long long)ds->n, (unsigned long long)seed);
  if (st != LBBT_OK) {
    lbbt_dataset_free(sub);
    return st;
  }
  lbbt_dataset_free(ds);
  *dsp = sub;
  return LBBT_OK;
}
