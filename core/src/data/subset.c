/* Class-balanced, seeded subsets (rules in dataset.h). */
#include <stdio.h>
#include <stdlib.h>

#include "lbbt/rng.h"
#include "data/data_internal.h"

lbbt_status lbbt_subset_balanced(const int32_t *labels, int64_t n, int num_classes,
                                 int64_t limit, uint64_t seed, const char *split_tag,
                                 const char *what, int32_t *out_idx) {
  if (!what || !*what) what = "dataset";
  if (num_classes < 1) return lbbt_fail(LBBT_E_INPUT, "%s: no classes", what);
  if (limit <= 0 || limit > n)
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: class-balanced subset of %lld images asked, but it has %lld; set "
                     "the limit between 1 and %lld (0 = all)",
                     what, (long long)limit, (long long)n, (long long)n);
  for (int64_t i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= num_classes)
      return lbbt_fail(LBBT_E_INPUT, "%s: label %d of image %lld outside [0, %d)", what,
                       labels[i], (long long)i, num_classes);

  lbbt_status st = LBBT_OK;
  int64_t *start = calloc((size_t)num_classes + 1, sizeof *start);
  int64_t *quota = calloc((size_t)num_classes, sizeof *quota);
  int32_t *by_class = malloc((size_t)n * sizeof *by_class);
  int32_t *class_order = malloc((size_t)num_classes * sizeof *class_order);
  uint8_t *chosen = calloc((size_t)n, 1);
  if (!start || !quota || !by_class || !class_order || !chosen) {
    st = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory choosing a subset", what);
    goto done;
  }
  /* indices grouped by class, in file order (counting sort) */
  for (int64_t i = 0; i < n; i++) start[labels[i] + 1]++;
  for (int k = 0; k < num_classes; k++) start[k + 1] += start[k];
  {
    int64_t *fill = quota; /* reused as a cursor, reset below */
    for (int k = 0; k < num_classes; k++) fill[k] = start[k];
    for (int64_t i = 0; i < n; i++) by_class[fill[labels[i]]++] = (int32_t)i;
  }

  char purpose[96];
  lbbt_rng rng;
  snprintf(purpose, sizeof purpose, "subset-extra-%s", split_tag ? split_tag : "");
  for (int k = 0; k < num_classes; k++) class_order[k] = k;
  lbbt_rng_derive(&rng, seed, purpose, 0);
  lbbt_rng_shuffle_i32(&rng, class_order, num_classes);
  for (int k = 0; k < num_classes; k++) quota[k] = limit / num_classes;
  for (int64_t r = 0; r < limit % num_classes; r++) quota[class_order[r]]++;

  for (int k = 0; k < num_classes; k++) {
    int64_t have = start[k + 1] - start[k];
    if (have < quota[k]) {
      st = lbbt_fail(LBBT_E_INPUT,
                     "%s: class %d has %lld images, fewer than the %lld a class-balanced "
                     "subset of %lld over %d classes takes from it; lower the limit",
                     what, k, (long long)have, (long long)quota[k], (long long)limit, num_classes);
      goto done;
    }
  }
  snprintf(purpose, sizeof purpose, "subset-%s", split_tag ? split_tag : "");
  for (int k = 0; k < num_classes; k++) {
    int32_t *list = by_class + start[k];
    int64_t have = start[k + 1] - start[k];
    lbbt_rng_derive(&rng, seed, purpose, (uint64_t)k);
    /* partial Fisher-Yates: the first quota[k] entries are a uniform sample */
    for (int64_t j = 0; j < quota[k]; j++) {
      int64_t pick = j + (int64_t)lbbt_rng_below(&rng, (uint32_t)(have - j));
      int32_t t = list[j];
      list[j] = list[pick];
      list[pick] = t;
      chosen[list[j]] = 1;
    }
  }
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (chosen[i]) out_idx[m++] = (int32_t)i;
  if (m != limit) st = lbbt_fail(LBBT_E_INTERNAL, "%s: subset chose %lld of %lld", what,
                                 (long long)m, (long long)limit);
done:
  free(start);
  free(quota);
  free(by_class);
  free(class_order);
  free(chosen);
  return st;
}

lbbt_status lbbt_subset_uniform(int64_t n, int64_t limit, uint64_t seed, const char *split_tag,
                                int32_t *out_idx) {
  if (limit <= 0 || limit > n || n > INT32_MAX)
    return lbbt_fail(LBBT_E_INTERNAL, "uniform subset of %lld from %lld", (long long)limit, (long long)n);
  int32_t *perm = malloc((size_t)n * sizeof *perm);
  if (!perm) return lbbt_fail(LBBT_E_NOMEM, "out of memory choosing a subset of %lld", (long long)n);
  for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
  char purpose[96];
  snprintf(purpose, sizeof purpose, "subset-%s", split_tag ? split_tag : "");
  lbbt_rng rng;
  lbbt_rng_derive(&rng, seed, purpose, 0);
  lbbt_rng_shuffle_i32(&rng, perm, n);
  uint8_t *chosen = calloc((size_t)n, 1);
  if (!chosen) {
    free(perm);
    return lbbt_fail(LBBT_E_NOMEM, "out of memory choosing a subset of %lld", (long long)n);
  }
  for (int64_t j = 0; j < limit; j++) chosen[perm[j]] = 1;
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (chosen[i]) out_idx[m++] = (int32_t)i;
  free(perm);
  free(chosen);
  return LBBT_OK;
}
