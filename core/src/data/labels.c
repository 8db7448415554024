/* Random-label corruption (Zhang et al. 2017); rules in dataset.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/rng.h"
#include "data/data_internal.h"

lbbt_status lbbt_labels_randomize(const int32_t *true_labels, int64_t n, int num_classes,
                                  double ratio, uint64_t seed, int32_t *out_labels,
                                  uint8_t *corrupted) {
  if (!(ratio >= 0.0 && ratio <= 1.0))
    return lbbt_fail(LBBT_E_INPUT, "label_ratio %g must lie in [0, 1]", ratio);
  if (num_classes < 1)
    return lbbt_fail(LBBT_E_INPUT, "random labels need at least one class, got %d", num_classes);
  if (n < 0 || n > INT32_MAX)
    return lbbt_fail(LBBT_E_INPUT, "random labels: %lld labels outside [0, 2^31-1]", (long long)n);
  if (out_labels != true_labels) memmove(out_labels, true_labels, (size_t)n * sizeof *out_labels);
  if (corrupted) memset(corrupted, 0, (size_t)n);
  int64_t m = llround(ratio * (double)n);
  if (m == 0) return LBBT_OK;
  int32_t *order = malloc((size_t)n * sizeof *order);
  if (!order) return lbbt_fail(LBBT_E_NOMEM, "random labels: out of memory for %lld indices", (long long)n);
  for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
  lbbt_rng r;
  /* a full permutation (not a partial draw) so smaller ratios take a prefix of larger ones */
  lbbt_rng_derive(&r, seed, "label-corruption-order", 0);
  lbbt_rng_shuffle_i32(&r, order, n);
  for (int64_t j = 0; j < m; j++) {
    int32_t i = order[j];
    lbbt_rng_derive(&r, seed, "label-corruption-value", (uint64_t)i);
    out_labels[i] = (int32_t)lbbt_rng_below(&r, (uint32_t)num_classes);
    if (corrupted) corrupted[i] = 1;
  }
  free(order);
  return LBBT_OK;
}

lbbt_status lbbt_labels_for_mode(const lbbt_dataset *ds, lbbt_label_mode mode, double ratio,
                                 uint64_t seed, int32_t *out_labels, uint8_t *corrupted) {
  if (ds->target != LBBT_TARGET_CLASS)
    return lbbt_fail(LBBT_E_INPUT, "%s: its items carry %s, not one class each: class labels (true or "
                     "random) do not apply", ds->source && *ds->source ? ds->source : "dataset",
                     lbbt_target_kind_name(ds->target));
  if (mode == LBBT_LABELS_RANDOM)
    return lbbt_labels_randomize(ds->labels, ds->n, ds->num_classes, ratio, seed, out_labels, corrupted);
  if (mode != LBBT_LABELS_TRUE) return lbbt_fail(LBBT_E_INTERNAL, "label mode %d", (int)mode);
  memmove(out_labels, ds->labels, (size_t)ds->n * sizeof *out_labels);
  if (corrupted) memset(corrupted, 0, (size_t)ds->n);
  return LBBT_OK;
}

uint64_t lbbt_label_seed(uint64_t run_seed, const char *stage_name) {
  return run_seed ^ lbbt_hash_str(stage_name);
}
