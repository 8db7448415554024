/* Heap tensors; see tensor.h. */
#include "lbbt/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/huge_pages.h"

int64_t lbbt_shape_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

/* Parameters, their gradients and optimizer moments: large ones on huge pages. */
static void *alloc_aligned_zero(size_t bytes) {
  size_t sz = bytes;
  void *p = lbbt_alloc_large(&sz);
  if (p) memset(p, 0, sz);
  return p;
}

lbbt_status lbbt_tensor_create(lbbt_tensor **out, int ndim, const int64_t *shape) {
  *out = NULL;
  if (ndim < 1 || ndim > LBBT_MAX_DIMS)
    return lbbt_fail(LBBT_E_SHAPE, "tensor_create: %d dims (1..%d allowed)", ndim, LBBT_MAX_DIMS);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 1)
      return lbbt_fail(LBBT_E_SHAPE, "tensor_create: dim %d has size %lld", i, (long long)shape[i]);
  lbbt_tensor *t = calloc(1, sizeof *t);
  if (!t) return lbbt_fail(LBBT_E_NOMEM, "tensor_create: out of memory");
  t->ndim = ndim;
  memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
  t->numel = lbbt_shape_numel(ndim, shape);
  t->data = alloc_aligned_zero((size_t)t->numel * sizeof(float));
  if (!t->data) {
    long long n = (long long)t->numel;
    free(t);
    return lbbt_fail(LBBT_E_NOMEM, "tensor_create: out of memory for %lld floats", n);
  }
  t->owns_data = 1;
  *out = t;
  return LBBT_OK;
}

void lbbt_tensor_free(lbbt_tensor *t) {
  if (!t) return;
  if (t->owns_data) {
    free(t->data);
    free(t->grad);
  }
  free(t);
}

lbbt_status lbbt_tensor_require_grad(lbbt_tensor *t) {
  if (!t->grad) {
    if (!t->owns_data)
      return lbbt_fail(LBBT_E_INTERNAL, "tensor_require_grad: '%s' is not a heap tensor",
                       t->name ? t->name : "?");
    t->grad = alloc_aligned_zero((size_t)t->numel * sizeof(float));
    if (!t->grad) return lbbt_fail(LBBT_E_NOMEM, "tensor_require_grad: out of memory");
  }
  t->requires_grad = 1;
  return LBBT_OK;
}

void lbbt_tensor_zero_grad(lbbt_tensor *t) {
  if (t && t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
}

int lbbt_tensor_same_shape(const lbbt_tensor *a, const lbbt_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

const char *lbbt_shape_str(const lbbt_tensor *t, char *buf, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, n - k, "[");
  for (int i = 0; i < t->ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}
