/* IDX files (MNIST, Fashion-MNIST): u8 images [N, H, W] and u8 labels [N], gzip or plain.
 * zlib's gzread reads both: a file without the gzip header is passed through unchanged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/fs_util.h"
#include "data/data_internal.h"
#include "lbbt/checked.h"

#define IDX_MAGIC_IMAGES 0x00000803u /* type 0x08 = u8, 3 dims */
#define IDX_MAGIC_LABELS 0x00000801u /* type 0x08 = u8, 1 dim */
#define IDX_READ_CHUNK (1u << 30)
/* deflate expands at most about 1032:1, so a gzip file of S bytes holds at most this many
 * times S bytes of data: a bound on what a header may declare, checked before allocating. */
#define IDX_GZIP_MAX_RATIO 1040

const char *const lbbt_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const MNIST_CLASSES[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static lbbt_status idx_open(const char *path, gzFile *out) {
  LBBT_TRY(lbbt_require_regular_file(path, "IDX file", NULL));
  FILE *probe = fopen(path, "rb"); /* for errno: gzopen does not always set it */
  if (!probe) return lbbt_fail(LBBT_E_INPUT, "cannot open IDX file '%s': %s", path, strerror(errno));
  fclose(probe);
  *out = gzopen(path, "rb");
  if (!*out) return lbbt_fail(LBBT_E_INPUT, "cannot open IDX file '%s' with zlib", path);
  gzbuffer(*out, 1u << 17);
  return LBBT_OK;
}

/* Read exactly n bytes; `what` describes them for the truncation message. */
static lbbt_status idx_read(gzFile f, const char *path, void *buf, size_t n, const char *what) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got < IDX_READ_CHUNK ? n - got : IDX_READ_CHUNK;
    int r = gzread(f, (char *)buf + got, (unsigned)want);
    if (r < 0) {
      int zerr;
      const char *msg = gzerror(f, &zerr);
      return lbbt_fail(LBBT_E_INPUT, "IDX file '%s': corrupt data while reading %s (%s)", path,
                       what, msg ? msg : "zlib error");
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  if (got < n)
    return lbbt_fail(LBBT_E_INPUT,
                     "IDX file '%s' is truncated: %s needs %zu bytes but only %zu remain; "
                     "download it again",
                     path, what, n, got);
  return LBBT_OK;
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Header: magic then one big-endian u32 per dim. */
static lbbt_status idx_header(gzFile f, const char *path, uint32_t magic, int ndim,
                              uint32_t *dims) {
  uint8_t b[16];
  LBBT_TRY(idx_read(f, path, b, 4 + 4 * (size_t)ndim, "the header"));
  uint32_t got = be32(b);
  if (got != magic)
    return lbbt_fail(LBBT_E_INPUT,
                     "IDX file '%s': bad magic 0x%08x, expected 0x%08x (u8 %s, %d dim%s); "
                     "is it the right file?",
                     path, got, magic, ndim == 3 ? "images" : "labels", ndim, ndim > 1 ? "s" : "");
  for (int d = 0; d < ndim; d++) {
    dims[d] = be32(b + 4 + 4 * d);
    if (dims[d] == 0 || dims[d] > (uint32_t)INT32_MAX)
      return lbbt_fail(LBBT_E_INPUT, "IDX file '%s': dimension %d is %u", path, d, dims[d]);
  }
  return LBBT_OK;
}

/* The header's declared payload (n_dims dims of u8 after header_bytes) must fit the file:
 * exactly for a plain file, within deflate's best ratio for a gzip one.  Checked before the
 * payload is allocated, so a 70-byte file cannot ask for gigabytes. */
static lbbt_status idx_check_declared(gzFile f, const char *path, const uint32_t *dims,
                                      int n_dims, int64_t header_bytes) {
  int64_t payload, file_size;
  int64_t d[3] = {1, 1, 1};
  for (int i = 0; i < n_dims; i++) d[i] = dims[i];
  LBBT_TRY(lbbt_require_regular_file(path, "IDX file", &file_size));
  int plain = gzdirect(f);
  int64_t room = plain ? file_size - header_bytes : file_size * IDX_GZIP_MAX_RATIO;
  if (!lbbt_product_i64(d, 3, &payload) || payload > room)
    return lbbt_fail(LBBT_E_INPUT,
                     "IDX file '%s': its header declares %u x %u x %u bytes but the %s file of "
                     "%lld bytes %s; is it truncated or damaged?",
                     path, dims[0], n_dims > 1 ? dims[1] : 1, n_dims > 2 ? dims[2] : 1,
                     plain ? "plain" : "gzip", (long long)file_size,
                     plain ? "holds fewer" : "cannot decompress to that many");
  return LBBT_OK;
}

lbbt_status lbbt_dataset_load_idx(const char *images_path, const char *labels_path,
                                  const char *name, lbbt_dataset **out) {
  *out = NULL;
  lbbt_status st;
  gzFile fi = NULL, fl = NULL;
  lbbt_dataset *ds = NULL;
  uint8_t *raw_labels = NULL;
  uint32_t idims[3] = {0}, ldims[1] = {0};
  LBBT_TRY_GOTO(st, idx_open(images_path, &fi), done);
  LBBT_TRY_GOTO(st, idx_open(labels_path, &fl), done);
  LBBT_TRY_GOTO(st, idx_header(fi, images_path, IDX_MAGIC_IMAGES, 3, idims), done);
  LBBT_TRY_GOTO(st, idx_header(fl, labels_path, IDX_MAGIC_LABELS, 1, ldims), done);
  if (idims[0] != ldims[0]) {
    st = lbbt_fail(LBBT_E_INPUT, "IDX files disagree: '%s' holds %u images but '%s' %u labels",
                   images_path, idims[0], labels_path, ldims[0]);
    goto done;
  }
  LBBT_TRY_GOTO(st, idx_check_declared(fi, images_path, idims, 3, 16), done);
  LBBT_TRY_GOTO(st, idx_check_declared(fl, labels_path, ldims, 1, 8), done);
  int known = name && (strcmp(name, "fashion-mnist") == 0 || strcmp(name, "mnist") == 0);
  raw_labels = malloc(ldims[0]);
  if (!raw_labels) {
    st = lbbt_fail(LBBT_E_NOMEM, "IDX: out of memory for %u labels", ldims[0]);
    goto done;
  }
  LBBT_TRY_GOTO(st, idx_read(fl, labels_path, raw_labels, ldims[0], "the labels"), done);
  int max_label = 0;
  for (uint32_t i = 0; i < ldims[0]; i++) {
    if (known && raw_labels[i] >= 10) {
      st = lbbt_fail(LBBT_E_INPUT, "IDX file '%s': label %d of item %u outside [0, 10) for %s",
                     labels_path, raw_labels[i], i, name);
      goto done;
    }
    if (raw_labels[i] > max_label) max_label = raw_labels[i];
  }
  LBBT_TRY_GOTO(st, lbbt_dataset_create(idims[0], 1, (int)idims[1], (int)idims[2],
                                        known ? 10 : max_label + 1, &ds), done);
  char what[64];
  snprintf(what, sizeof what, "%u images of %ux%u", idims[0], idims[1], idims[2]);
  LBBT_TRY_GOTO(st, idx_read(fi, images_path, ds->pixels,
                             (size_t)idims[0] * idims[1] * idims[2], what), done);
  for (uint32_t i = 0; i < ldims[0]; i++) ds->labels[i] = raw_labels[i];
  if (!lbbt_dataset_norm_lookup(name, ds->mean, ds->std)) lbbt_dataset_compute_norm(ds);
  if (known)
    LBBT_TRY_GOTO(st, lbbt_dataset_set_class_names(
                          ds, strcmp(name, "mnist") == 0 ? MNIST_CLASSES
                                                         : lbbt_fashion_mnist_classes, 10), done);
  LBBT_TRY_GOTO(st, lbbt_dataset_set_source(ds, "%s (%s)", name ? name : "idx", images_path), done);
  *out = ds;
  ds = NULL;
done:
  if (fi) gzclose(fi);
  if (fl) gzclose(fl);
  free(raw_labels);
  lbbt_dataset_free(ds);
  return st;
}
