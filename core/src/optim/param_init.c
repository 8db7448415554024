/* Seeded initialisers; each tensor draws from lbbt_rng_derive(seed, name, 0).  See
 * param_init.h for the distributions and the PyTorch/timm functions they follow. */
#include "lbbt/param_init.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <string.h>

#include "lbbt/rng.h"

void lbbt_init_constant(lbbt_tensor *t, float value) {
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = value;
}

static const char *label(const char *name) { return name ? name : "(unnamed)"; }

lbbt_status lbbt_init_normal(lbbt_tensor *t, uint64_t seed, const char *name, double mean,
                             double std) {
  if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
    return lbbt_fail(LBBT_E_INPUT, "init normal '%s': mean %g, std %g (need finite, std >= 0)",
                     label(name), mean, std);
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, label(name), 0);
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(mean + std * lbbt_rng_normal(&r));
  return LBBT_OK;
}

lbbt_status lbbt_init_trunc_normal(lbbt_tensor *t, uint64_t seed, const char *name, double mean,
                                   double std, double a, double b) {
  if (!(std > 0) || !isfinite(std) || !isfinite(mean) || isnan(a) || isnan(b) || !(a < b))
    return lbbt_fail(LBBT_E_INPUT,
                     "init trunc_normal '%s': mean %g, std %g, bounds [%g, %g] (need std > 0 "
                     "and a < b)",
                     label(name), mean, std, a, b);
  const double za = (a - mean) / std, zb = (b - mean) / std;
  /* Sample the standardised variable by inverting its CDF on [cdf(za), cdf(zb)], as timm.
   * An interval in the upper half is mapped through the upper tail Q = 1 - cdf, where
   * doubles keep their precision. */
  const int upper = za >= 0;
  const double lo = upper ? gsl_cdf_ugaussian_Q(zb) : gsl_cdf_ugaussian_P(za);
  const double hi = upper ? gsl_cdf_ugaussian_Q(za) : gsl_cdf_ugaussian_P(zb);
  if (!(hi > lo))
    return lbbt_fail(LBBT_E_INPUT,
                     "init trunc_normal '%s': [%g, %g] lies %g std from the mean %g, where the "
                     "normal has no probability in double precision; widen the bounds",
                     label(name), a, b, fmin(fabs(za), fabs(zb)), mean);
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, label(name), 0);
  for (int64_t i = 0; i < t->numel; i++) {
    double p = lo + (hi - lo) * lbbt_rng_uniform(&r);
    double z = upper ? gsl_cdf_ugaussian_Qinv(p) : gsl_cdf_ugaussian_Pinv(p);
    double x = mean + std * z;
    /* An inverse CDF at p = 0 is -inf; clamping (as timm does) also absorbs rounding. */
    t->data[i] = (float)(x < a ? a : x > b ? b : x);
  }
  return LBBT_OK;
}

lbbt_status lbbt_init_uniform(lbbt_tensor *t, uint64_t seed, const char *name, double lo,
                              double hi) {
  if (!isfinite(lo) || !isfinite(hi) || !(lo <= hi))
    return lbbt_fail(LBBT_E_INPUT, "init uniform '%s': bounds [%g, %g] (need finite lo <= hi)",
                     label(name), lo, hi);
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, label(name), 0);
  for (int64_t i = 0; i < t->numel; i++)
    t->data[i] = (float)(lo + (hi - lo) * lbbt_rng_uniform(&r));
  return LBBT_OK;
}

lbbt_status lbbt_init_fans(const lbbt_tensor *t, int64_t *fan_in, int64_t *fan_out) {
  if (t->ndim < 2) {
    char shape[96];
    return lbbt_fail(LBBT_E_SHAPE,
                     "init: fan in/out of '%s' %s is undefined for fewer than 2 dims; use "
                     "normal/uniform/constant for it",
                     label(t->name), lbbt_shape_str(t, shape, sizeof shape));
  }
  int64_t receptive = 1;
  for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
  *fan_in = t->shape[1] * receptive;
  *fan_out = t->shape[0] * receptive;
  return LBBT_OK;
}

static lbbt_status check_gain(double gain, const char *what, const char *name) {
  if (!isfinite(gain) || gain < 0)
    return lbbt_fail(LBBT_E_INPUT, "init %s '%s': gain %g must be finite and >= 0", what,
                     label(name), gain);
  return LBBT_OK;
}

lbbt_status lbbt_init_xavier_uniform(lbbt_tensor *t, uint64_t seed, const char *name,
                                     double gain) {
  int64_t fi, fo;
  LBBT_TRY(check_gain(gain, "xavier_uniform", name));
  LBBT_TRY(lbbt_init_fans(t, &fi, &fo));
  double bound = gain * sqrt(6.0 / (double)(fi + fo));
  return lbbt_init_uniform(t, seed, name, -bound, bound);
}

lbbt_status lbbt_init_xavier_normal(lbbt_tensor *t, uint64_t seed, const char *name, double gain) {
  int64_t fi, fo;
  LBBT_TRY(check_gain(gain, "xavier_normal", name));
  LBBT_TRY(lbbt_init_fans(t, &fi, &fo));
  return lbbt_init_normal(t, seed, name, 0.0, gain * sqrt(2.0 / (double)(fi + fo)));
}

static lbbt_status kaiming_std(const lbbt_tensor *t, const char *name, double a,
                               lbbt_fan_mode mode, double *std) {
  int64_t fi, fo;
  if (!isfinite(a))
    return lbbt_fail(LBBT_E_INPUT, "init kaiming '%s': negative slope %g", label(name), a);
  if (mode != LBBT_FAN_IN && mode != LBBT_FAN_OUT)
    return lbbt_fail(LBBT_E_INPUT, "init kaiming '%s': mode %d (fan_in or fan_out)", label(name),
                     (int)mode);
  LBBT_TRY(lbbt_init_fans(t, &fi, &fo));
  double gain = sqrt(2.0 / (1.0 + a * a)); /* torch calculate_gain('leaky_relu', a) */
  *std = gain / sqrt((double)(mode == LBBT_FAN_IN ? fi : fo));
  return LBBT_OK;
}

lbbt_status lbbt_init_kaiming_uniform(lbbt_tensor *t, uint64_t seed, const char *name, double a,
                                      lbbt_fan_mode mode) {
  double std;
  LBBT_TRY(kaiming_std(t, name, a, mode, &std));
  double bound = sqrt(3.0) * std;
  return lbbt_init_uniform(t, seed, name, -bound, bound);
}

lbbt_status lbbt_init_kaiming_normal(lbbt_tensor *t, uint64_t seed, const char *name, double a,
                                     lbbt_fan_mode mode) {
  double std;
  LBBT_TRY(kaiming_std(t, name, a, mode, &std));
  return lbbt_init_normal(t, seed, name, 0.0, std);
}

/* ---- GPT-2 ---------------------------------------------------------------------------- */
static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

typedef enum { GPT2_ZEROS, GPT2_ONES, GPT2_NORMAL } gpt2_rule;

static gpt2_rule gpt2_rule_for(const char *name) {
  if (ends_with(name, "bias")) return GPT2_ZEROS;
  if (ends_with(name, ".weight") && (strstr(name, "ln_") || strstr(name, "norm")))
    return GPT2_ONES;
  return GPT2_NORMAL;
}

#define GPT2_STD 0.02

double lbbt_gpt2_init_std(const char *name, int n_layer) {
  if (!name || gpt2_rule_for(name) != GPT2_NORMAL) return 0.0;
  /* Residual projections are scaled so the residual stream's variance does not grow with
   * depth: each block adds two of them (attention and MLP). */
  if (ends_with(name, "c_proj.weight") && n_layer > 0)
    return GPT2_STD / sqrt(2.0 * (double)n_layer);
  return GPT2_STD;
}

lbbt_status lbbt_init_gpt2(lbbt_tensor *t, uint64_t seed, const char *name, int n_layer) {
  if (!name || !*name)
    return lbbt_fail(LBBT_E_INTERNAL, "init gpt2: the scheme is chosen by parameter name; got none");
  if (n_layer < 1)
    return lbbt_fail(LBBT_E_INPUT, "init gpt2 '%s': n_layer %d (need >= 1)", name, n_layer);
  switch (gpt2_rule_for(name)) {
  case GPT2_ZEROS: lbbt_init_constant(t, 0.0f); return LBBT_OK;
  case GPT2_ONES: lbbt_init_constant(t, 1.0f); return LBBT_OK;
  case GPT2_NORMAL: break;
  }
  return lbbt_init_normal(t, seed, name, 0.0, lbbt_gpt2_init_std(name, n_layer));
}
