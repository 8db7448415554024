/* Reading PyTorch reference fixtures (tests/fixtures/, written by the generators in
 * tests/reference/) with the project's safetensors reader.
 *
 * The generators store op / model parameters as text in the file's __metadata__ (lists as
 * "2,3,4"); tensors are F32 or I32. */
#ifndef LBBT_PARITY_FIXTURE_H
#define LBBT_PARITY_FIXTURE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lbbt/checkpoint.h"
#include "lbbt/tensor.h"

static inline int pf_meta_int(const lbbt_st *st, const char *key, int def) {
  const char *v = lbbt_st_metadata_get(st, key);
  return v ? atoi(v) : def;
}
static inline double pf_meta_double(const lbbt_st *st, const char *key, double def) {
  const char *v = lbbt_st_metadata_get(st, key);
  return v ? atof(v) : def;
}

/* "2,3,4" -> vals {2,3,4}, returns 3; 0 when text is NULL, empty or malformed. */
static inline int pf_parse_list(const char *text, int64_t *vals, int max) {
  if (!text || !*text) return 0;
  int n = 0;
  const char *p = text;
  while (*p) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || n >= max) return 0;
    vals[n++] = v;
    if (*end == ',') end++;
    else if (*end) return 0;
    p = end;
  }
  return n;
}

/* Shape of tensor `name` as stored in the file; returns ndim (a scalar [] counts as [1]),
 * 0 when the tensor is absent. */
static inline int pf_shape(const lbbt_st *st, const char *name, int64_t *shape) {
  const lbbt_st_info *info = lbbt_st_find(st, name);
  if (!info || info->ndim > LBBT_MAX_DIMS) return 0;
  if (info->ndim == 0) {
    shape[0] = 1;
    return 1;
  }
  for (int i = 0; i < info->ndim; i++) shape[i] = info->shape[i];
  return info->ndim;
}

/* A new heap tensor (caller frees) holding f32 tensor `name`; NULL with a message set. */
static inline lbbt_tensor *pf_tensor(lbbt_st *st, const char *name) {
  int64_t shape[LBBT_MAX_DIMS];
  int nd = pf_shape(st, name, shape);
  lbbt_tensor *t = NULL;
  if (nd < 1) {
    lbbt_fail(LBBT_E_INPUT, "%s: no tensor '%s'", lbbt_st_path(st), name);
    return NULL;
  }
  if (lbbt_tensor_create(&t, nd, shape) != LBBT_OK) return NULL;
  if (lbbt_st_read_f32(st, name, t->data, t->numel) != LBBT_OK) {
    lbbt_tensor_free(t);
    return NULL;
  }
  return t;
}

/* i32 tensor `name` into a new malloc'd array (caller frees), *n its length; NULL when the
 * tensor is absent or unreadable. */
static inline int32_t *pf_ints(lbbt_st *st, const char *name, int64_t *n) {
  int64_t shape[LBBT_MAX_DIMS];
  int nd = pf_shape(st, name, shape);
  if (nd < 1) return NULL;
  int64_t numel = lbbt_shape_numel(nd, shape);
  int32_t *v = malloc((size_t)numel * sizeof *v);
  if (!v) return NULL;
  if (lbbt_st_read_i32(st, name, v, numel) != LBBT_OK) {
    free(v);
    return NULL;
  }
  if (n) *n = numel;
  return v;
}

#endif
