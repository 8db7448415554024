/* safetensors reader: one file or a sharded index, validated before any tensor is read.
 * See checkpoint.h for the format and the rules enforced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/ckpt_internal.h"
#include "lbbt/checkpoint.h"

#define BAD_FILE_HINT "the file is corrupt or not a safetensors file; re-export it"

typedef struct st_file {
  char *path;
  int fd;
  uint64_t size;
} st_file;

/* A growable list of tensors (names owned) and of metadata pairs (both strings owned). */
typedef struct tensor_list {
  lbbt_st_info *v;
  int n, cap;
} tensor_list;
typedef struct meta_list {
  char **key, **val;
  int n, cap;
} meta_list;

struct lbbt_st {
  char *path;
  st_file *files;
  int n_files;
  tensor_list tensors; /* sorted by name */
  meta_list meta;
  json_t *config;
};

static char *str_dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static char *path_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void tensor_list_free(tensor_list *l) {
  for (int i = 0; i < l->n; i++) free((char *)l->v[i].name);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static void meta_list_free(meta_list *m) {
  for (int i = 0; i < m->n; i++) {
    free(m->key[i]);
    free(m->val[i]);
  }
  free(m->key);
  free(m->val);
  memset(m, 0, sizeof *m);
}

/* Append info (its name is copied). */
static lbbt_status tensor_list_push(tensor_list *l, const lbbt_st_info *info) {
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 16;
    lbbt_st_info *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return lbbt_fail(LBBT_E_NOMEM, "safetensors: out of memory for the tensor list");
    l->v = v;
    l->cap = cap;
  }
  char *name = str_dup(info->name);
  if (!name) return lbbt_fail(LBBT_E_NOMEM, "safetensors: out of memory for a tensor name");
  l->v[l->n] = *info;
  l->v[l->n].name = name;
  l->n++;
  return LBBT_OK;
}

static lbbt_status meta_list_push(meta_list *m, const char *key, const char *val) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->key[i], key) == 0) return LBBT_OK; /* the first value of a key wins */
  if (m->n == m->cap) {
    int cap = m->cap ? m->cap * 2 : 8;
    char **k = realloc(m->key, (size_t)cap * sizeof *k);
    if (!k) return lbbt_fail(LBBT_E_NOMEM, "safetensors: out of memory for metadata");
    m->key = k;
    char **v = realloc(m->val, (size_t)cap * sizeof *v);
    if (!v) return lbbt_fail(LBBT_E_NOMEM, "safetensors: out of memory for metadata");
    m->val = v;
    m->cap = cap;
  }
  char *kd = str_dup(key), *vd = str_dup(val);
  if (!kd || !vd) {
    free(kd);
    free(vd);
    return lbbt_fail(LBBT_E_NOMEM, "safetensors: out of memory for metadata");
  }
  m->key[m->n] = kd;
  m->val[m->n] = vd;
  m->n++;
  return LBBT_OK;
}

static int cmp_info_name(const void *a, const void *b) {
  return strcmp(((const lbbt_st_info *)a)->name, ((const lbbt_st_info *)b)->name);
}

static int cmp_info_offset(const void *pa, const void *pb) {
  const lbbt_st_info *a = *(const lbbt_st_info *const *)pa, *b = *(const lbbt_st_info *const *)pb;
  if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
  if (a->nbytes != b->nbytes) return a->nbytes < b->nbytes ? -1 : 1;
  return strcmp(a->name, b->name);
}

static const lbbt_st_info *list_find(const tensor_list *l, const char *name) {
  lbbt_st_info key = {.name = name};
  return l->n ? bsearch(&key, l->v, (size_t)l->n, sizeof key, cmp_info_name) : NULL;
}

static void shape_to_str(const int64_t *shape, int ndim, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

/* One JSON integer in [0, INT64_MAX]. */
static int json_nonneg_int(const json_t *v, int64_t *out) {
  if (!json_is_integer(v)) return 0;
  json_int_t x = json_integer_value(v);
  if (x < 0) return 0;
  *out = (int64_t)x;
  return 1;
}

/* Parse one tensor entry of a header; the offsets stored in info are still relative to the
 * data buffer (made absolute by the caller). */
static lbbt_status parse_entry(const char *path, const char *name, const json_t *e,
                               uint64_t data_len, lbbt_st_info *info) {
  memset(info, 0, sizeof *info);
  info->name = name;
  info->file = path;
  if (!json_is_object(e))
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': header entry is not an object with dtype, "
                     "shape and data_offsets; " BAD_FILE_HINT, path, name);
  const json_t *dt = json_object_get(e, "dtype");
  const json_t *shape = json_object_get(e, "shape");
  const json_t *offs = json_object_get(e, "data_offsets");
  if (!json_is_string(dt))
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': \"dtype\" is missing or not a string; "
                     BAD_FILE_HINT, path, name);
  if (lbbt_dtype_parse(json_string_value(dt), &info->dtype) != 0)
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: tensor '%s': unknown dtype '%s' (known: F64 F32 F16 BF16 I64 I32 I16 "
                     "I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2)",
                     path, name, json_string_value(dt));
  if (!json_is_array(shape))
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': \"shape\" is missing or not an array; "
                     BAD_FILE_HINT, path, name);
  size_t nd = json_array_size(shape);
  if (nd > LBBT_ST_MAX_DIMS)
    return lbbt_fail(LBBT_E_UNSUPPORTED, "%s: tensor '%s' has %zu dims; lbbt reads at most %d",
                     path, name, nd, LBBT_ST_MAX_DIMS);
  info->ndim = (int)nd;
  /* numel and bytes in uint64 with overflow checks: a hostile shape must not wrap around to
   * match a small byte range.  The product of the non-zero dims must fit too, so that an
   * empty tensor cannot smuggle in dims whose products overflow in later shape arithmetic. */
  uint64_t nonzero = 1;
  int overflow = 0, has_zero = 0;
  for (size_t i = 0; i < nd; i++) {
    int64_t d;
    if (!json_nonneg_int(json_array_get(shape, i), &d))
      return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': shape[%zu] is not a non-negative integer; "
                       BAD_FILE_HINT, path, name, i);
    info->shape[i] = d;
    if (d == 0) has_zero = 1;
    else if (__builtin_mul_overflow(nonzero, (uint64_t)d, &nonzero)) overflow = 1;
  }
  uint64_t nbytes = 0, numel = has_zero ? 0 : nonzero;
  if (overflow || nonzero > (uint64_t)INT64_MAX ||
      __builtin_mul_overflow(nonzero, (uint64_t)lbbt_dtype_size(info->dtype), &nbytes)) {
    char sb[256];
    shape_to_str(info->shape, info->ndim, sb, sizeof sb);
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': shape %s is too large (element count "
                     "overflows); " BAD_FILE_HINT, path, name, sb);
  }
  if (has_zero) nbytes = 0;
  info->numel = (int64_t)numel;
  int64_t begin, end;
  if (!json_is_array(offs) || json_array_size(offs) != 2 ||
      !json_nonneg_int(json_array_get(offs, 0), &begin) ||
      !json_nonneg_int(json_array_get(offs, 1), &end))
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': \"data_offsets\" must be [begin, end] with "
                     "non-negative integers; " BAD_FILE_HINT, path, name);
  if (begin > end)
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': data_offsets [%lld, %lld] are out of order "
                     "(begin > end); " BAD_FILE_HINT, path, name, (long long)begin, (long long)end);
  if ((uint64_t)end > data_len)
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': data_offsets [%lld, %lld] run past the end "
                     "of the data buffer (%llu bytes); the file is truncated or corrupt",
                     path, name, (long long)begin, (long long)end, (unsigned long long)data_len);
  if ((uint64_t)(end - begin) != nbytes) {
    char sb[256];
    shape_to_str(info->shape, info->ndim, sb, sizeof sb);
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': dtype %s shape %s needs %llu bytes but "
                     "data_offsets [%lld, %lld] hold %lld; " BAD_FILE_HINT,
                     path, name, lbbt_dtype_name(info->dtype), sb, (unsigned long long)nbytes,
                     (long long)begin, (long long)end, (long long)(end - begin));
  }
  info->offset = (uint64_t)begin;
  info->nbytes = nbytes;
  return LBBT_OK;
}

/* The tensors must tile the data buffer: sorted by offset, no overlap, no gap, nothing after. */
static lbbt_status check_tiling(const char *path, tensor_list *l, uint64_t data_len) {
  if (l->n == 0) {
    if (data_len != 0)
      return lbbt_fail(LBBT_E_INPUT, "%s: header lists no tensors but %llu data bytes follow; "
                       BAD_FILE_HINT, path, (unsigned long long)data_len);
    return LBBT_OK;
  }
  const lbbt_st_info **order = malloc((size_t)l->n * sizeof *order);
  if (!order) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  for (int i = 0; i < l->n; i++) order[i] = &l->v[i];
  qsort(order, (size_t)l->n, sizeof *order, cmp_info_offset);
  lbbt_status s = LBBT_OK;
  uint64_t pos = 0;
  const lbbt_st_info *prev = NULL;
  for (int i = 0; i < l->n && s == LBBT_OK; i++) {
    const lbbt_st_info *t = order[i];
    if (t->offset < pos)
      s = lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' (bytes [%llu, %llu)) overlaps tensor '%s' "
                    "(bytes [%llu, %llu)) in the data buffer; " BAD_FILE_HINT,
                    path, t->name, (unsigned long long)t->offset,
                    (unsigned long long)(t->offset + t->nbytes), prev->name,
                    (unsigned long long)prev->offset,
                    (unsigned long long)(prev->offset + prev->nbytes));
    else if (t->offset > pos)
      s = lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' starts at data byte %llu but the previous "
                    "tensor%s%s%s ends at %llu: bytes in between belong to no tensor; "
                    BAD_FILE_HINT, path, t->name, (unsigned long long)t->offset,
                    prev ? " '" : "", prev ? prev->name : "", prev ? "'" : "",
                    (unsigned long long)pos);
    pos = t->offset + t->nbytes;
    prev = t;
  }
  if (s == LBBT_OK && pos != data_len)
    s = lbbt_fail(LBBT_E_INPUT, "%s: tensors end at data byte %llu (last: '%s') but the file "
                  "has %llu data bytes: trailing bytes belong to no tensor; " BAD_FILE_HINT,
                  path, (unsigned long long)pos, prev->name, (unsigned long long)data_len);
  free(order);
  return s;
}

/* Validate one safetensors file (already opened as f) and append its tensors (absolute offsets,
 * sorted by name) to out and its __metadata__ to meta. */
static lbbt_status parse_file(const st_file *f, tensor_list *out, meta_list *meta) {
  const char *path = f->path;
  if (f->size < 8)
    return lbbt_fail(LBBT_E_INPUT, "%s: file has %llu bytes, fewer than the 8-byte header length "
                     "of a safetensors file; " BAD_FILE_HINT, path, (unsigned long long)f->size);
  unsigned char lenbuf[8];
  LBBT_TRY(lbbt_ckpt_pread(f->fd, lenbuf, 8, 0, path, "the header length"));
  uint64_t hlen = lbbt_le64(lenbuf);
  if (hlen > f->size - 8)
    return lbbt_fail(LBBT_E_INPUT, "%s: header length %llu is larger than the rest of the file "
                     "(%llu bytes); the file is truncated or not a safetensors file",
                     path, (unsigned long long)hlen, (unsigned long long)(f->size - 8));
  if (hlen > LBBT_ST_MAX_HEADER)
    return lbbt_fail(LBBT_E_INPUT, "%s: header length %llu exceeds the %llu-byte limit of the "
                     "format; " BAD_FILE_HINT, path, (unsigned long long)hlen, LBBT_ST_MAX_HEADER);
  uint64_t data_start = 8 + hlen, data_len = f->size - data_start;
  char *text = malloc(hlen ? (size_t)hlen : 1);
  if (!text) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory for a %llu-byte header", path,
                              (unsigned long long)hlen);
  lbbt_status s = lbbt_ckpt_pread(f->fd, text, (size_t)hlen, 8, path, "the JSON header");
  if (s != LBBT_OK) {
    free(text);
    return s;
  }
  json_error_t jerr;
  /* Duplicate keys would make two tensors share a name: rejected by the parser. */
  json_t *root = json_loadb(text, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!root)
    return lbbt_fail(LBBT_E_INPUT, "%s: header is not valid JSON (header byte %d, line %d, "
                     "column %d): %s; " BAD_FILE_HINT, path, jerr.position, jerr.line,
                     jerr.column, jerr.text);
  if (!json_is_object(root)) {
    json_decref(root);
    return lbbt_fail(LBBT_E_INPUT, "%s: header is a JSON array, not an object of tensors; "
                     BAD_FILE_HINT, path);
  }
  tensor_list local = {0};
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (strcmp(key, "__metadata__") == 0) {
      if (!json_is_object(val)) {
        s = lbbt_fail(LBBT_E_INPUT, "%s: \"__metadata__\" must be an object of string values; "
                      BAD_FILE_HINT, path);
        break;
      }
      const char *mk;
      json_t *mv;
      json_object_foreach(val, mk, mv) {
        if (!json_is_string(mv)) {
          s = lbbt_fail(LBBT_E_INPUT, "%s: \"__metadata__\" value for '%s' is not a string; "
                        BAD_FILE_HINT, path, mk);
          break;
        }
        if ((s = meta_list_push(meta, mk, json_string_value(mv))) != LBBT_OK) break;
      }
      if (s != LBBT_OK) break;
      continue;
    }
    lbbt_st_info info;
    if ((s = parse_entry(path, key, val, data_len, &info)) != LBBT_OK) break;
    if ((s = tensor_list_push(&local, &info)) != LBBT_OK) break;
  }
  json_decref(root);
  if (s == LBBT_OK) s = check_tiling(path, &local, data_len);
  if (s == LBBT_OK) {
    for (int i = 0; i < local.n; i++) local.v[i].offset += data_start;
    if (local.n > 1) qsort(local.v, (size_t)local.n, sizeof *local.v, cmp_info_name); /* v is NULL when empty */
    for (int i = 0; i < local.n && s == LBBT_OK; i++) s = tensor_list_push(out, &local.v[i]);
  }
  tensor_list_free(&local);
  return s;
}

static lbbt_status open_file(st_file *f, const char *path) {
  f->fd = -1;
  f->path = str_dup(path);
  if (!f->path) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block: fstat refuses it */
  if (f->fd < 0)
    return lbbt_fail(errno == ENOENT || errno == EACCES || errno == EISDIR ? LBBT_E_INPUT
                                                                           : LBBT_E_IO,
                     "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(f->fd, &sb) != 0)
    return lbbt_fail(LBBT_E_IO, "%s: cannot stat: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return lbbt_fail(LBBT_E_INPUT, "%s: not a regular file", path);
  f->size = (uint64_t)sb.st_size;
  return LBBT_OK;
}

void lbbt_st_close(lbbt_st *st) {
  if (!st) return;
  for (int i = 0; i < st->n_files; i++) {
    if (st->files[i].fd >= 0) close(st->files[i].fd);
    free(st->files[i].path);
  }
  free(st->files);
  tensor_list_free(&st->tensors);
  meta_list_free(&st->meta);
  if (st->config) json_decref(st->config);
  free(st->path);
  free(st);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A shard name from an index must be a plain file name in the index's folder. */
static int plain_file_name(const char *s) {
  return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static lbbt_status open_sharded(lbbt_st *st, const char *index_path) {
  json_t *index = NULL;
  LBBT_TRY(lbbt_json_read_file(index_path, &index));
  lbbt_status s = LBBT_OK;
  char *dir = str_dup(index_path);
  tensor_list *shard_tensors = NULL;
  const char **shard_names = NULL;
  if (!dir) {
    s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", index_path);
    goto done;
  }
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else strcpy(dir, ".");
  const json_t *wm = json_object_get(index, "weight_map");
  if (!json_is_object(wm) || json_object_size(wm) == 0) {
    s = lbbt_fail(LBBT_E_INPUT, "%s: \"weight_map\" is missing, empty or not an object of "
                  "tensor name -> shard file name", index_path);
    goto done;
  }
  /* Distinct shard names, in order of first mention. */
  size_t n_entries = json_object_size(wm);
  shard_names = calloc(n_entries, sizeof *shard_names);
  if (!shard_names) {
    s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", index_path);
    goto done;
  }
  int n_shards = 0;
  const char *tname;
  json_t *sv;
  json_object_foreach((json_t *)wm, tname, sv) {
    if (!json_is_string(sv) || !plain_file_name(json_string_value(sv))) {
      s = lbbt_fail(LBBT_E_INPUT, "%s: weight_map entry for tensor '%s' must be a file name in "
                    "the same folder (a string without '/')", index_path, tname);
      goto done;
    }
    const char *sn = json_string_value(sv);
    int k = 0;
    while (k < n_shards && strcmp(shard_names[k], sn) != 0) k++;
    if (k == n_shards) shard_names[n_shards++] = sn;
  }
  st->files = calloc((size_t)n_shards, sizeof *st->files);
  shard_tensors = calloc((size_t)n_shards, sizeof *shard_tensors);
  if (!st->files || !shard_tensors) {
    s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", index_path);
    goto done;
  }
  for (int k = 0; k < n_shards; k++) {
    char *p = path_join(dir, shard_names[k]);
    if (!p) {
      s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", index_path);
      goto done;
    }
    st->n_files++;
    s = open_file(&st->files[k], p);
    free(p);
    if (s != LBBT_OK) {
      /* Name a tensor that lives in the missing shard, so the message says what is lost. */
      const char *first = "?";
      json_object_foreach((json_t *)wm, tname, sv) {
        if (strcmp(json_string_value(sv), shard_names[k]) == 0) {
          first = tname;
          break;
        }
      }
      s = lbbt_fail_context(s, "%s: shard '%s' (holding tensor '%s' and maybe others) is "
                            "missing or unreadable", index_path, shard_names[k], first);
      goto done;
    }
    if ((s = parse_file(&st->files[k], &shard_tensors[k], &st->meta)) != LBBT_OK) goto done;
  }
  json_object_foreach((json_t *)wm, tname, sv) {
    const char *sn = json_string_value(sv);
    int k = 0;
    while (strcmp(shard_names[k], sn) != 0) k++;
    const lbbt_st_info *info = list_find(&shard_tensors[k], tname);
    if (!info) {
      s = lbbt_fail(LBBT_E_INPUT, "%s: weight_map puts tensor '%s' in %s, but that shard has no "
                    "such tensor; the index and shards do not belong together",
                    index_path, tname, st->files[k].path);
      goto done;
    }
    if ((s = tensor_list_push(&st->tensors, info)) != LBBT_OK) goto done;
  }
  qsort(st->tensors.v, (size_t)st->tensors.n, sizeof *st->tensors.v, cmp_info_name);
done:
  if (shard_tensors)
    for (int k = 0; k < st->n_files; k++) tensor_list_free(&shard_tensors[k]);
  free(shard_tensors);
  free(shard_names);
  free(dir);
  json_decref(index);
  return s;
}

static lbbt_status open_single(lbbt_st *st, const char *path) {
  st->files = calloc(1, sizeof *st->files);
  if (!st->files) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  st->n_files = 1;
  LBBT_TRY(open_file(&st->files[0], path));
  return parse_file(&st->files[0], &st->tensors, &st->meta);
}

lbbt_status lbbt_st_open(const char *path, lbbt_st **out) {
  *out = NULL;
  lbbt_st *st = calloc(1, sizeof *st);
  if (!st || !(st->path = str_dup(path))) {
    free(st);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  }
  lbbt_status s;
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    char *index = path_join(path, "model.safetensors.index.json");
    char *single = path_join(path, "model.safetensors");
    char *config = path_join(path, "config.json");
    if (!index || !single || !config) s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
    else if (access(index, F_OK) == 0) s = open_sharded(st, index);
    else if (access(single, F_OK) == 0) s = open_single(st, single);
    else
      s = lbbt_fail(LBBT_E_INPUT, "%s: folder has neither model.safetensors.index.json nor "
                    "model.safetensors", path);
    if (s == LBBT_OK && access(config, F_OK) == 0) s = lbbt_json_read_config(config, &st->config);
    free(index);
    free(single);
    free(config);
  } else if (ends_with(path, ".index.json")) {
    s = open_sharded(st, path);
  } else {
    s = open_single(st, path);
  }
  if (s != LBBT_OK) {
    lbbt_st_close(st);
    return s;
  }
  *out = st;
  return LBBT_OK;
}

const char *lbbt_st_path(const lbbt_st *st) { return st->path; }
int lbbt_st_count(const lbbt_st *st) { return st->tensors.n; }

const char *lbbt_st_name(const lbbt_st *st, int i) {
  return i >= 0 && i < st->tensors.n ? st->tensors.v[i].name : NULL;
}

const lbbt_st_info *lbbt_st_info_at(const lbbt_st *st, int i) {
  return i >= 0 && i < st->tensors.n ? &st->tensors.v[i] : NULL;
}

const lbbt_st_info *lbbt_st_find(const lbbt_st *st, const char *name) {
  return list_find(&st->tensors, name);
}

lbbt_status lbbt_st_get(const lbbt_st *st, const char *name, const lbbt_st_info **out) {
  *out = lbbt_st_find(st, name);
  if (*out) return LBBT_OK;
  const char *best = NULL;
  int best_d = 1 << 30;
  for (int i = 0; i < st->tensors.n; i++) {
    int d = lbbt_edit_distance(name, st->tensors.v[i].name);
    if (d < best_d) {
      best_d = d;
      best = st->tensors.v[i].name;
    }
  }
  if (best)
    return lbbt_fail(LBBT_E_INPUT, "%s: no tensor named '%s' among its %d (nearest: '%s'); the "
                     "checkpoint does not match this architecture or naming",
                     st->path, name, st->tensors.n, best);
  return lbbt_fail(LBBT_E_INPUT, "%s: no tensor named '%s' (the checkpoint has no tensors)",
                   st->path, name);
}

json_t *lbbt_st_config(const lbbt_st *st) { return st->config; }
int lbbt_st_metadata_count(const lbbt_st *st) { return st->meta.n; }
const char *lbbt_st_metadata_key(const lbbt_st *st, int i) {
  return i >= 0 && i < st->meta.n ? st->meta.key[i] : NULL;
}
const char *lbbt_st_metadata_value(const lbbt_st *st, int i) {
  return i >= 0 && i < st->meta.n ? st->meta.val[i] : NULL;
}
const char *lbbt_st_metadata_get(const lbbt_st *st, const char *key) {
  for (int i = 0; i < st->meta.n; i++)
    if (strcmp(st->meta.key[i], key) == 0) return st->meta.val[i];
  return NULL;
}

/* The fd of the file holding info. */
static int info_fd(const lbbt_st *st, const lbbt_st_info *info) {
  for (int i = 0; i < st->n_files; i++)
    if (st->files[i].path == info->file) return st->files[i].fd;
  return -1;
}

static int dtype_is_float(lbbt_dtype d) {
  return d == LBBT_DT_F32 || d == LBBT_DT_F16 || d == LBBT_DT_BF16 || d == LBBT_DT_F64;
}
static int dtype_is_int(lbbt_dtype d) {
  return d == LBBT_DT_I64 || d == LBBT_DT_I32 || d == LBBT_DT_I16 || d == LBBT_DT_I8 ||
         d == LBBT_DT_U64 || d == LBBT_DT_U32 || d == LBBT_DT_U16 || d == LBBT_DT_U8 ||
         d == LBBT_DT_BOOL;
}

static lbbt_status check_numel(const lbbt_st_info *info, int64_t expect) {
  if (info->numel == expect) return LBBT_OK;
  char sb[256];
  shape_to_str(info->shape, info->ndim, sb, sizeof sb);
  return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' has shape %s (%lld elements) but %lld were "
                   "expected; the checkpoint does not match the model configuration",
                   info->file, info->name, sb, (long long)info->numel, (long long)expect);
}

/* Conversion chunk: large enough to amortise syscalls, small enough for any stack of callers. */
#define READ_CHUNK_BYTES ((size_t)1 << 18)

/* Stream the tensor's bytes through convert(chunk, first_element, count, dst). */
typedef lbbt_status (*convert_fn)(const lbbt_st_info *info, const unsigned char *src,
                                  int64_t first, int64_t count, void *dst);

static lbbt_status stream_tensor(const lbbt_st *st, const lbbt_st_info *info, convert_fn conv,
                                 void *dst) {
  int fd = info_fd(st, info);
  if (fd < 0) return lbbt_fail(LBBT_E_INTERNAL, "%s: tensor '%s' has no open file", st->path,
                               info->name);
  size_t esize = lbbt_dtype_size(info->dtype);
  size_t per_chunk = READ_CHUNK_BYTES / esize;
  unsigned char *buf = malloc(READ_CHUNK_BYTES);
  if (!buf) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", st->path);
  lbbt_status s = LBBT_OK;
  for (int64_t i = 0; i < info->numel && s == LBBT_OK; i += (int64_t)per_chunk) {
    int64_t count = info->numel - i < (int64_t)per_chunk ? info->numel - i : (int64_t)per_chunk;
    char what[300];
    snprintf(what, sizeof what, "tensor '%s'", info->name);
    s = lbbt_ckpt_pread(fd, buf, (size_t)count * esize, info->offset + (uint64_t)i * esize,
                        info->file, what);
    if (s == LBBT_OK) s = conv(info, buf, i, count, dst);
  }
  free(buf);
  return s;
}

static lbbt_status convert_f32(const lbbt_st_info *info, const unsigned char *src, int64_t first,
                               int64_t count, void *dst) {
  float *d = (float *)dst + first;
  switch (info->dtype) {
    case LBBT_DT_F32:
      for (int64_t i = 0; i < count; i++) {
        uint32_t u = lbbt_le32(src + 4 * i);
        memcpy(&d[i], &u, 4);
      }
      break;
    case LBBT_DT_F16:
      for (int64_t i = 0; i < count; i++) d[i] = lbbt_f16_to_f32(lbbt_le16(src + 2 * i));
      break;
    case LBBT_DT_BF16:
      for (int64_t i = 0; i < count; i++) d[i] = lbbt_bf16_to_f32(lbbt_le16(src + 2 * i));
      break;
    case LBBT_DT_F64:
      for (int64_t i = 0; i < count; i++) {
        uint64_t u = lbbt_le64(src + 8 * i);
        double x;
        memcpy(&x, &u, 8);
        d[i] = (float)x;
      }
      break;
    default:
      return lbbt_fail(LBBT_E_INTERNAL, "convert_f32: dtype %s", lbbt_dtype_name(info->dtype));
  }
  return LBBT_OK;
}

static lbbt_status convert_i32(const lbbt_st_info *info, const unsigned char *src, int64_t first,
                               int64_t count, void *dst) {
  int32_t *d = (int32_t *)dst + first;
  for (int64_t i = 0; i < count; i++) {
    int64_t v; /* signed view; u64 values above INT64_MAX are reported via uv */
    uint64_t uv = 0;
    int too_big = 0;
    switch (info->dtype) {
      case LBBT_DT_I64: v = (int64_t)lbbt_le64(src + 8 * i); break;
      case LBBT_DT_I32: v = (int32_t)lbbt_le32(src + 4 * i); break;
      case LBBT_DT_I16: v = (int16_t)lbbt_le16(src + 2 * i); break;
      case LBBT_DT_I8: v = (int8_t)src[i]; break;
      case LBBT_DT_U64:
        uv = lbbt_le64(src + 8 * i);
        too_big = uv > (uint64_t)INT32_MAX;
        v = too_big ? 0 : (int64_t)uv;
        break;
      case LBBT_DT_U32: v = (int64_t)lbbt_le32(src + 4 * i); break;
      case LBBT_DT_U16: v = lbbt_le16(src + 2 * i); break;
      case LBBT_DT_U8: v = src[i]; break;
      case LBBT_DT_BOOL:
        if (src[i] > 1)
          return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': BOOL element %lld has byte value %u "
                           "(only 0 and 1 are valid); " BAD_FILE_HINT, info->file, info->name,
                           (long long)(first + i), src[i]);
        v = src[i];
        break;
      default:
        return lbbt_fail(LBBT_E_INTERNAL, "convert_i32: dtype %s", lbbt_dtype_name(info->dtype));
    }
    if (too_big || v < INT32_MIN || v > INT32_MAX) {
      if (too_big)
        return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': element %lld is %llu, outside the int32 "
                         "range lbbt uses for integer data", info->file, info->name,
                         (long long)(first + i), (unsigned long long)uv);
      return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s': element %lld is %lld, outside the int32 "
                       "range lbbt uses for integer data", info->file, info->name,
                       (long long)(first + i), (long long)v);
    }
    d[i] = (int32_t)v;
  }
  return LBBT_OK;
}

lbbt_status lbbt_st_read_f32(const lbbt_st *st, const char *name, float *dst,
                             int64_t expect_numel) {
  const lbbt_st_info *info;
  LBBT_TRY(lbbt_st_get(st, name, &info));
  if (info->dtype == LBBT_DT_F8_E4M3 || info->dtype == LBBT_DT_F8_E5M2)
    return lbbt_fail(LBBT_E_UNSUPPORTED, "%s: tensor '%s' is %s; lbbt reads F32, F16, BF16 and "
                     "F64 as float", info->file, name, lbbt_dtype_name(info->dtype));
  if (!dtype_is_float(info->dtype))
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' has integer dtype %s where a float tensor "
                     "was expected", info->file, name, lbbt_dtype_name(info->dtype));
  LBBT_TRY(check_numel(info, expect_numel));
  if (info->dtype == LBBT_DT_F32 && LBBT_HOST_LITTLE_ENDIAN) {
    /* Same bytes in memory as on disk: read straight into the destination. */
    char what[300];
    snprintf(what, sizeof what, "tensor '%s'", name);
    int fd = info_fd(st, info);
    if (fd < 0) return lbbt_fail(LBBT_E_INTERNAL, "%s: tensor '%s' has no open file", st->path,
                                 name);
    return lbbt_ckpt_pread(fd, dst, (size_t)info->nbytes, info->offset, info->file, what);
  }
  return stream_tensor(st, info, convert_f32, dst);
}

lbbt_status lbbt_st_read_i32(const lbbt_st *st, const char *name, int32_t *dst,
                             int64_t expect_numel) {
  const lbbt_st_info *info;
  LBBT_TRY(lbbt_st_get(st, name, &info));
  if (!dtype_is_int(info->dtype))
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' has dtype %s where an integer tensor was "
                     "expected", info->file, name, lbbt_dtype_name(info->dtype));
  LBBT_TRY(check_numel(info, expect_numel));
  return stream_tensor(st, info, convert_i32, dst);
}

lbbt_status lbbt_st_read_into(const lbbt_st *st, const char *name, lbbt_tensor *t) {
  const lbbt_st_info *info;
  LBBT_TRY(lbbt_st_get(st, name, &info));
  int same = info->ndim == t->ndim;
  for (int i = 0; same && i < t->ndim; i++) same = info->shape[i] == t->shape[i];
  if (info->ndim == 0 && t->ndim == 1 && t->shape[0] == 1) same = 1; /* scalar [] ~ [1] */
  if (!same) {
    char want[256], have[256];
    lbbt_shape_str(t, want, sizeof want);
    shape_to_str(info->shape, info->ndim, have, sizeof have);
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' has shape %s but the model expects %s; the "
                     "checkpoint does not match the model configuration",
                     info->file, name, have, want);
  }
  return lbbt_st_read_f32(st, name, t->data, t->numel);
}
