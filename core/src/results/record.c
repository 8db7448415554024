/* Run records in memory: a flat list of items in insertion order, each named by its full
 * path.  Records hold tens of items, so lookups are linear scans; the tree exists only in
 * the paths (and in the HDF5 groups they become, see results_items.c). */
#include <stdlib.h>
#include <string.h>

#include "lbbt/results.h"

typedef struct record_slot {
  lbbt_record_item view; /* what callers see; the pointers below alias into it */
  char *path;
  char *string;
  double *series;
  int series_cap;
  void *array; /* float or int32_t, numel values */
} record_slot;

struct lbbt_record {
  record_slot *slots;
  int n, cap;
};

const char *lbbt_item_kind_name(lbbt_item_kind k) {
  switch (k) {
    case LBBT_ITEM_SCALAR: return "scalar";
    case LBBT_ITEM_STRING: return "string";
    case LBBT_ITEM_SERIES: return "series";
    case LBBT_ITEM_F32: return "f32 array";
    case LBBT_ITEM_I32: return "i32 array";
  }
  return "unknown item kind";
}

lbbt_status lbbt_record_create(lbbt_record **out) {
  if (!out) return lbbt_fail(LBBT_E_INTERNAL, "lbbt_record_create: out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out) return lbbt_fail(LBBT_E_NOMEM, "lbbt_record_create: out of memory");
  return LBBT_OK;
}

static void slot_clear(record_slot *s) {
  free(s->path);
  free(s->string);
  free(s->series);
  free(s->array);
  memset(s, 0, sizeof *s);
}

void lbbt_record_free(lbbt_record *rec) {
  if (!rec) return;
  for (int i = 0; i < rec->n; i++) slot_clear(&rec->slots[i]);
  free(rec->slots);
  free(rec);
}

/* Components: 1+ printable ASCII characters except '/', ' ' and '=', not "." or "..". */
static lbbt_status check_path(const char *path) {
  if (!path || !*path) return lbbt_fail(LBBT_E_INPUT, "record: empty item path");
  size_t len = strlen(path);
  if (len >= LBBT_RECORD_PATH_MAX)
    return lbbt_fail(LBBT_E_INPUT, "record: item path '%.60s...' is %zu bytes; the limit is %d",
                     path, len, LBBT_RECORD_PATH_MAX - 1);
  const char *comp = path;
  for (const char *c = path;; c++) {
    if (*c == '/' || *c == 0) {
      size_t n = (size_t)(c - comp);
      if (n == 0)
        return lbbt_fail(LBBT_E_INPUT,
                         "record: item path '%s' has an empty component (leading, trailing or "
                         "doubled '/')", path);
      if ((n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.'))
        return lbbt_fail(LBBT_E_INPUT, "record: item path '%s' has a '.' or '..' component", path);
      if (*c == 0) break;
      comp = c + 1;
    } else if (*c <= ' ' || *c > '~' || *c == '=') {
      return lbbt_fail(LBBT_E_INPUT,
                       "record: item path '%s' has character 0x%02x at offset %d; use printable "
                       "ASCII without spaces or '='", path, (unsigned char)*c, (int)(c - path));
    }
  }
  return LBBT_OK;
}

/* Is `prefix` a proper group prefix of `path` ("a/b" of "a/b/c")? */
static int is_group_prefix(const char *prefix, const char *path) {
  size_t n = strlen(prefix);
  return strncmp(prefix, path, n) == 0 && path[n] == '/';
}

static record_slot *find_slot(const lbbt_record *rec, const char *path) {
  for (int i = 0; i < rec->n; i++)
    if (!strcmp(rec->slots[i].path, path)) return &rec->slots[i];
  return NULL;
}

/* The slot for `path` of kind `kind`: the existing one, or a new empty one.  Refuses a kind
 * change and leaf/group conflicts. */
static lbbt_status slot_for(lbbt_record *rec, const char *path, lbbt_item_kind kind,
                            record_slot **out) {
  if (!rec) return lbbt_fail(LBBT_E_INTERNAL, "record: NULL record");
  LBBT_TRY(check_path(path));
  record_slot *s = find_slot(rec, path);
  if (s) {
    if (s->view.kind != kind)
      return lbbt_fail(LBBT_E_INPUT, "record: item '%s' is a %s; cannot store a %s there",
                       path, lbbt_item_kind_name(s->view.kind), lbbt_item_kind_name(kind));
    *out = s;
    return LBBT_OK;
  }
  for (int i = 0; i < rec->n; i++) {
    const char *other = rec->slots[i].path;
    if (is_group_prefix(other, path) || is_group_prefix(path, other))
      return lbbt_fail(LBBT_E_INPUT,
                       "record: item '%s' conflicts with item '%s' (a path is either an item "
                       "or a group of items, not both)", path, other);
  }
  if (rec->n == rec->cap) {
    int cap = rec->cap ? 2 * rec->cap : 16;
    record_slot *grown = realloc(rec->slots, (size_t)cap * sizeof *grown);
    if (!grown) return lbbt_fail(LBBT_E_NOMEM, "record: out of memory adding '%s'", path);
    rec->slots = grown;
    rec->cap = cap;
  }
  s = &rec->slots[rec->n];
  memset(s, 0, sizeof *s);
  s->path = strdup(path);
  if (!s->path) return lbbt_fail(LBBT_E_NOMEM, "record: out of memory adding '%s'", path);
  s->view.path = s->path;
  s->view.kind = kind;
  rec->n++;
  *out = s;
  return LBBT_OK;
}

lbbt_status lbbt_record_scalar(lbbt_record *rec, const char *path, double v) {
  record_slot *s;
  LBBT_TRY(slot_for(rec, path, LBBT_ITEM_SCALAR, &s));
  s->view.scalar = v;
  return LBBT_OK;
}

lbbt_status lbbt_record_string(lbbt_record *rec, const char *path, const char *str) {
  if (!str) return lbbt_fail(LBBT_E_INTERNAL, "record: NULL string for '%s'", path ? path : "");
  record_slot *s;
  LBBT_TRY(slot_for(rec, path, LBBT_ITEM_STRING, &s));
  char *copy = strdup(str);
  if (!copy) return lbbt_fail(LBBT_E_NOMEM, "record: out of memory storing '%s'", path);
  free(s->string);
  s->string = copy;
  s->view.string = copy;
  return LBBT_OK;
}

lbbt_status lbbt_record_append(lbbt_record *rec, const char *path, double v) {
  record_slot *s;
  LBBT_TRY(slot_for(rec, path, LBBT_ITEM_SERIES, &s));
  if (s->view.n == s->series_cap) {
    int cap = s->series_cap ? 2 * s->series_cap : 16;
    double *grown = realloc(s->series, (size_t)cap * sizeof *grown);
    if (!grown) return lbbt_fail(LBBT_E_NOMEM, "record: out of memory growing series '%s'", path);
    s->series = grown;
    s->series_cap = cap;
    s->view.series = grown;
  }
  s->series[s->view.n++] = v;
  return LBBT_OK;
}

static lbbt_status record_array(lbbt_record *rec, const char *path, lbbt_item_kind kind,
                                int ndim, const int64_t *shape, const void *data,
                                size_t elem_size) {
  if (ndim < 0 || ndim > LBBT_RECORD_MAX_DIMS)
    return lbbt_fail(LBBT_E_INPUT, "record: array '%s' has %d dims; 0..%d are supported",
                     path ? path : "", ndim, LBBT_RECORD_MAX_DIMS);
  if (ndim > 0 && !shape)
    return lbbt_fail(LBBT_E_INTERNAL, "record: array '%s' has no shape", path ? path : "");
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0 || (shape[d] > 0 && numel > INT64_MAX / 8 / shape[d]))
      return lbbt_fail(LBBT_E_INPUT, "record: array '%s' dim %d has bad size %lld",
                       path ? path : "", d, (long long)shape[d]);
    numel *= shape[d];
  }
  if (numel > 0 && !data)
    return lbbt_fail(LBBT_E_INTERNAL, "record: array '%s' has no data", path ? path : "");
  record_slot *s;
  LBBT_TRY(slot_for(rec, path, kind, &s));
  /* At least one byte so that an empty array still has a non-NULL buffer. */
  void *copy = malloc(numel > 0 ? (size_t)numel * elem_size : 1);
  if (!copy)
    return lbbt_fail(LBBT_E_NOMEM, "record: out of memory copying array '%s' (%lld values)",
                     path, (long long)numel);
  if (numel > 0) memcpy(copy, data, (size_t)numel * elem_size);
  free(s->array);
  s->array = copy;
  s->view.ndim = ndim;
  memset(s->view.shape, 0, sizeof s->view.shape);
  for (int d = 0; d < ndim; d++) s->view.shape[d] = shape[d];
  s->view.numel = numel;
  s->view.f32 = kind == LBBT_ITEM_F32 ? copy : NULL;
  s->view.i32 = kind == LBBT_ITEM_I32 ? copy : NULL;
  return LBBT_OK;
}

lbbt_status lbbt_record_array_f32(lbbt_record *rec, const char *path, int ndim,
                                  const int64_t *shape, const float *data) {
  return record_array(rec, path, LBBT_ITEM_F32, ndim, shape, data, sizeof(float));
}

lbbt_status lbbt_record_array_i32(lbbt_record *rec, const char *path, int ndim,
                                  const int64_t *shape, const int32_t *data) {
  return record_array(rec, path, LBBT_ITEM_I32, ndim, shape, data, sizeof(int32_t));
}

static lbbt_status get_item(const lbbt_record *rec, const char *path, lbbt_item_kind kind,
                            const lbbt_record_item **out) {
  if (!rec || !path) return lbbt_fail(LBBT_E_INTERNAL, "record: NULL record or path");
  const record_slot *s = find_slot(rec, path);
  if (!s) return lbbt_fail(LBBT_E_INPUT, "record: no item '%s'", path);
  if (s->view.kind != kind)
    return lbbt_fail(LBBT_E_INPUT, "record: item '%s' is a %s, not a %s", path,
                     lbbt_item_kind_name(s->view.kind), lbbt_item_kind_name(kind));
  *out = &s->view;
  return LBBT_OK;
}

lbbt_status lbbt_record_get_scalar(const lbbt_record *rec, const char *path, double *v) {
  const lbbt_record_item *it;
  LBBT_TRY(get_item(rec, path, LBBT_ITEM_SCALAR, &it));
  *v = it->scalar;
  return LBBT_OK;
}

lbbt_status lbbt_record_get_string(const lbbt_record *rec, const char *path, const char **str) {
  const lbbt_record_item *it;
  LBBT_TRY(get_item(rec, path, LBBT_ITEM_STRING, &it));
  *str = it->string;
  return LBBT_OK;
}

lbbt_status lbbt_record_get_series(const lbbt_record *rec, const char *path, const double **v,
                                   int *n) {
  const lbbt_record_item *it;
  LBBT_TRY(get_item(rec, path, LBBT_ITEM_SERIES, &it));
  *v = it->series;
  *n = it->n;
  return LBBT_OK;
}

lbbt_status lbbt_record_get_array_f32(const lbbt_record *rec, const char *path, int *ndim,
                                      const int64_t **shape, const float **data) {
  const lbbt_record_item *it;
  LBBT_TRY(get_item(rec, path, LBBT_ITEM_F32, &it));
  *ndim = it->ndim;
  *shape = it->shape;
  *data = it->f32;
  return LBBT_OK;
}

lbbt_status lbbt_record_get_array_i32(const lbbt_record *rec, const char *path, int *ndim,
                                      const int64_t **shape, const int32_t **data) {
  const lbbt_record_item *it;
  LBBT_TRY(get_item(rec, path, LBBT_ITEM_I32, &it));
  *ndim = it->ndim;
  *shape = it->shape;
  *data = it->i32;
  return LBBT_OK;
}

int lbbt_record_count(const lbbt_record *rec) { return rec ? rec->n : 0; }

const lbbt_record_item *lbbt_record_at(const lbbt_record *rec, int i) {
  if (!rec || i < 0 || i >= rec->n) return NULL;
  return &rec->slots[i].view;
}

const lbbt_record_item *lbbt_record_find(const lbbt_record *rec, const char *path) {
  if (!rec || !path) return NULL;
  const record_slot *s = find_slot(rec, path);
  return s ? &s->view : NULL;
}

int lbbt_record_item_final(const lbbt_record_item *it, double *v) {
  if (!it) return 0;
  if (it->kind == LBBT_ITEM_SCALAR) {
    *v = it->scalar;
    return 1;
  }
  if (it->kind == LBBT_ITEM_SERIES && it->n > 0) {
    *v = it->series[it->n - 1];
    return 1;
  }
  return 0;
}
