/* safetensors writer: the byte layout of the reference library, written atomically.
 * See checkpoint.h. */
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt_internal.h"
#include "lbbt/checkpoint.h"

typedef struct writer_entry {
  char *name;
  lbbt_dtype dtype; /* F32 or I32 */
  int ndim;
  int64_t shape[LBBT_ST_MAX_DIMS];
  int64_t numel;
  const void *data; /* borrowed */
} writer_entry;

struct lbbt_st_writer {
  writer_entry *v;
  int n, cap;
  json_t *meta; /* object of strings */
};

lbbt_status lbbt_st_writer_create(lbbt_st_writer **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return lbbt_fail(LBBT_E_NOMEM, "st_writer_create: out of memory");
  (*out)->meta = json_object();
  if (!(*out)->meta) {
    free(*out);
    *out = NULL;
    return lbbt_fail(LBBT_E_NOMEM, "st_writer_create: out of memory");
  }
  return LBBT_OK;
}

void lbbt_st_writer_free(lbbt_st_writer *w) {
  if (!w) return;
  for (int i = 0; i < w->n; i++) free(w->v[i].name);
  free(w->v);
  json_decref(w->meta);
  free(w);
}

static lbbt_status add_entry(lbbt_st_writer *w, const char *name, lbbt_dtype dt, int ndim,
                             const int64_t *shape, const void *data) {
  if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
    return lbbt_fail(LBBT_E_INPUT, "st_writer: invalid tensor name '%s'", name ? name : "(null)");
  if (ndim < 0 || ndim > LBBT_ST_MAX_DIMS)
    return lbbt_fail(LBBT_E_INPUT, "st_writer: tensor '%s' has %d dims (0..%d allowed)", name,
                     ndim, LBBT_ST_MAX_DIMS);
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->v[i].name, name) == 0)
      return lbbt_fail(LBBT_E_INPUT, "st_writer: tensor '%s' added twice", name);
  uint64_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || __builtin_mul_overflow(numel, (uint64_t)shape[i], &numel) ||
        numel > (uint64_t)INT64_MAX / 8)
      return lbbt_fail(LBBT_E_INPUT, "st_writer: tensor '%s': dim %d (%lld) is negative or the "
                       "shape is too large", name, i, (long long)shape[i]);
  }
  if (numel > 0 && !data)
    return lbbt_fail(LBBT_E_INTERNAL, "st_writer: tensor '%s' has no data", name);
  if (w->n == w->cap) {
    int cap = w->cap ? w->cap * 2 : 16;
    writer_entry *v = realloc(w->v, (size_t)cap * sizeof *v);
    if (!v) return lbbt_fail(LBBT_E_NOMEM, "st_writer: out of memory");
    w->v = v;
    w->cap = cap;
  }
  writer_entry *e = &w->v[w->n];
  memset(e, 0, sizeof *e);
  size_t len = strlen(name) + 1;
  e->name = malloc(len);
  if (!e->name) return lbbt_fail(LBBT_E_NOMEM, "st_writer: out of memory");
  memcpy(e->name, name, len);
  e->dtype = dt;
  e->ndim = ndim;
  if (ndim) memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
  e->numel = (int64_t)numel;
  e->data = data;
  w->n++;
  return LBBT_OK;
}

lbbt_status lbbt_st_writer_add_f32(lbbt_st_writer *w, const char *name, int ndim,
                                   const int64_t *shape, const float *data) {
  return add_entry(w, name, LBBT_DT_F32, ndim, shape, data);
}

lbbt_status lbbt_st_writer_add_i32(lbbt_st_writer *w, const char *name, int ndim,
                                   const int64_t *shape, const int32_t *data) {
  return add_entry(w, name, LBBT_DT_I32, ndim, shape, data);
}

lbbt_status lbbt_st_writer_add_tensor(lbbt_st_writer *w, const char *name, const lbbt_tensor *t) {
  return add_entry(w, name, LBBT_DT_F32, t->ndim, t->shape, t->data);
}

lbbt_status lbbt_st_writer_set_metadata(lbbt_st_writer *w, const char *key, const char *value) {
  json_t *v = json_string(value);
  if (!v)
    return lbbt_fail(LBBT_E_INPUT, "st_writer: metadata '%s' value is not valid UTF-8", key);
  if (json_object_set_new(w->meta, key, v) != 0)
    return lbbt_fail(LBBT_E_INPUT, "st_writer: metadata key '%s' is not valid UTF-8", key);
  return LBBT_OK;
}

/* The reference library orders data by dtype, widest alignment first (F32 before I32 in its
 * enum order), then by name; header entries follow the data order. */
static int cmp_entry(const void *pa, const void *pb) {
  const writer_entry *a = *(const writer_entry *const *)pa, *b = *(const writer_entry *const *)pb;
  if (a->dtype != b->dtype) return a->dtype == LBBT_DT_F32 ? -1 : 1;
  return strcmp(a->name, b->name);
}

static lbbt_status build_header(lbbt_st_writer *w, writer_entry **order, const char *path,
                                char **out, size_t *out_len) {
  json_t *root = json_object();
  if (!root) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  lbbt_status s = LBBT_OK;
  if (json_object_size(w->meta) > 0) {
    json_t *meta = json_object();
    /* keys sorted for a reproducible file */
    const char **keys = malloc(json_object_size(w->meta) * sizeof *keys);
    size_t nk = 0;
    const char *k;
    json_t *v;
    if (!meta || !keys) s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
    else {
      json_object_foreach(w->meta, k, v) keys[nk++] = k;
      for (size_t i = 1; i < nk; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
          const char *t = keys[j];
          keys[j] = keys[j - 1];
          keys[j - 1] = t;
        }
      for (size_t i = 0; i < nk; i++) json_object_set(meta, keys[i], json_object_get(w->meta, keys[i]));
      json_object_set(root, "__metadata__", meta);
    }
    free(keys);
    json_decref(meta);
  }
  uint64_t offset = 0;
  for (int i = 0; i < w->n && s == LBBT_OK; i++) {
    writer_entry *e = order[i];
    json_t *shape = json_array();
    for (int d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer(e->shape[d]));
    uint64_t nbytes = (uint64_t)e->numel * 4;
    json_t *entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", lbbt_dtype_name(e->dtype), "shape",
                              shape, "data_offsets", (json_int_t)offset,
                              (json_int_t)(offset + nbytes));
    if (!entry || json_object_set_new(root, e->name, entry) != 0)
      s = lbbt_fail(LBBT_E_INPUT, "%s: cannot encode tensor '%s' (name not valid UTF-8?)", path,
                    e->name);
    offset += nbytes;
  }
  if (s == LBBT_OK) {
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text) s = lbbt_fail(LBBT_E_NOMEM, "%s: cannot serialise the header", path);
    else {
      size_t n = strlen(text), padded = (n + 7) / 8 * 8;
      char *buf = realloc(text, padded + 1);
      if (!buf) {
        free(text);
        s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
      } else {
        memset(buf + n, ' ', padded - n); /* the reference pads with spaces */
        buf[padded] = 0;
        *out = buf;
        *out_len = padded;
      }
    }
  }
  json_decref(root);
  return s;
}

/* Write e's elements as little-endian 4-byte words. */
static lbbt_status write_data(lbbt_atomic_file *f, const writer_entry *e) {
  size_t bytes = (size_t)e->numel * 4;
  if (LBBT_HOST_LITTLE_ENDIAN) return lbbt_atomic_write(f, e->data, bytes);
  unsigned char buf[4096];
  const uint32_t *src = e->data;
  for (int64_t i = 0; i < e->numel; i += 1024) {
    int64_t n = e->numel - i < 1024 ? e->numel - i : 1024;
    for (int64_t j = 0; j < n; j++) lbbt_store_le32(buf + 4 * j, src[i + j]);
    LBBT_TRY(lbbt_atomic_write(f, buf, (size_t)n * 4));
  }
  return LBBT_OK;
}

lbbt_status lbbt_st_writer_write(lbbt_st_writer *w, const char *path) {
  writer_entry **order = malloc((size_t)(w->n ? w->n : 1) * sizeof *order);
  if (!order) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  for (int i = 0; i < w->n; i++) order[i] = &w->v[i];
  qsort(order, (size_t)w->n, sizeof *order, cmp_entry);
  char *header = NULL;
  size_t hlen = 0;
  lbbt_status s = build_header(w, order, path, &header, &hlen);
  lbbt_atomic_file f = {.fd = -1};
  if (s == LBBT_OK) s = lbbt_atomic_open(&f, path);
  if (s == LBBT_OK) {
    unsigned char lenbuf[8];
    lbbt_store_le64(lenbuf, hlen);
    s = lbbt_atomic_write(&f, lenbuf, 8);
    if (s == LBBT_OK) s = lbbt_atomic_write(&f, header, hlen);
    for (int i = 0; i < w->n && s == LBBT_OK; i++) s = write_data(&f, order[i]);
    if (s == LBBT_OK) s = lbbt_atomic_commit(&f);
    else lbbt_atomic_abort(&f);
  }
  free(header);
  free(order);
  return s;
}
