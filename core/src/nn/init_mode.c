/* Init modes and controls; see init_mode.h. */
#include "lbbt/init_mode.h"

#include <math.h>
#include <stdio.h>

#include "lbbt/rng.h"

int lbbt_init_mode_needs_checkpoint(lbbt_init_mode mode) { return mode != LBBT_INIT_SCRATCH; }

const char *lbbt_init_mode_name(lbbt_init_mode mode) {
  switch (mode) {
    case LBBT_INIT_SCRATCH: return "scratch";
    case LBBT_INIT_LANGUAGE: return "language";
    case LBBT_INIT_SHUFFLED: return "shuffled";
    case LBBT_INIT_MOMENT_MATCHED: return "moment-matched";
    case LBBT_INIT_SCRATCH_RESCALED: return "scratch-rescaled";
  }
  return "?";
}

static void moments(const lbbt_tensor *t, double *mean, double *std, double *norm) {
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < t->numel; i++) {
    s += t->data[i];
    s2 += (double)t->data[i] * t->data[i];
  }
  *mean = s / (double)t->numel;
  double var = s2 / (double)t->numel - *mean * *mean;
  *std = var > 0 ? sqrt(var) : 0.0;
  *norm = sqrt(s2);
}

lbbt_status lbbt_apply_init_mode(lbbt_tensor *t, const char *name, lbbt_init_mode mode,
                                 uint64_t seed, lbbt_scratch_init_fn scratch, void *user) {
  lbbt_rng r;
  char purpose[160];
  snprintf(purpose, sizeof purpose, "init-mode:%s", name);
  lbbt_rng_derive(&r, seed, purpose, (uint64_t)mode);
  double mean, std, norm;
  switch (mode) {
    case LBBT_INIT_LANGUAGE:
      return LBBT_OK;
    case LBBT_INIT_SCRATCH:
      return scratch(t, name, seed, user);
    case LBBT_INIT_SHUFFLED:
      for (int64_t i = t->numel - 1; i > 0; i--) {
        int64_t j = (int64_t)lbbt_rng_below(&r, (uint32_t)(i + 1));
        float tmp = t->data[i];
        t->data[i] = t->data[j];
        t->data[j] = tmp;
      }
      return LBBT_OK;
    case LBBT_INIT_MOMENT_MATCHED:
      moments(t, &mean, &std, &norm);
      for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(mean + std * lbbt_rng_normal(&r));
      return LBBT_OK;
    case LBBT_INIT_SCRATCH_RESCALED: {
      moments(t, &mean, &std, &norm);
      LBBT_TRY(scratch(t, name, seed, user));
      double m2, s2, n2;
      moments(t, &m2, &s2, &n2);
      if (n2 > 0)
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(t->data[i] * (norm / n2));
      return LBBT_OK;
    }
  }
  return lbbt_fail(LBBT_E_INTERNAL, "init mode %d unknown", (int)mode);
}
