/* Eqs. 5-6 on one batch; see activation_ratio.h. */
#include "lbbt/activation_ratio.h"

#include <stdlib.h>

lbbt_status lbbt_activation_count(const float *act, int64_t B, int64_t T, int64_t H, int64_t t0,
                                  double tau, int64_t *counts, int64_t *pairs) {
  if (B < 1 || H < 1 || t0 < 0 || t0 >= T)
    return lbbt_fail(LBBT_E_INPUT, "activation_count: activations [%lld, %lld, %lld] with first "
                     "visual token %lld", (long long)B, (long long)T, (long long)H, (long long)t0);
  double inv = 1.0 / (double)(T - t0);
  double *mean = malloc((size_t)H * sizeof *mean);
  if (!mean) return lbbt_fail(LBBT_E_NOMEM, "activation_count: out of memory (H = %lld)", (long long)H);
  for (int64_t b = 0; b < B; b++) {
    for (int64_t j = 0; j < H; j++) mean[j] = 0;
    for (int64_t t = t0; t < T; t++) {
      const float *row = act + (b * T + t) * H;
      for (int64_t j = 0; j < H; j++) mean[j] += row[j];
    }
    for (int64_t j = 0; j < H; j++)
      if (mean[j] * inv > tau) {
        (*pairs)++;
        if (counts) counts[j]++;
      }
  }
  free(mean);
  return LBBT_OK;
}
