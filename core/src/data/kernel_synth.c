/* KernelSynth-style synthetic Gaussian-process series (lbbt/series.h documents the bank, the
 * composition and the sampling). */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/series.h"

static const lbbt_kernel BANK[] = {
    {LBBT_KERNEL_PERIODIC, 24},  {LBBT_KERNEL_PERIODIC, 48},     {LBBT_KERNEL_PERIODIC, 96},
    {LBBT_KERNEL_PERIODIC, 168}, {LBBT_KERNEL_PERIODIC, 336},    {LBBT_KERNEL_PERIODIC, 672},
    {LBBT_KERNEL_PERIODIC, 7},   {LBBT_KERNEL_PERIODIC, 14},     {LBBT_KERNEL_PERIODIC, 30},
    {LBBT_KERNEL_PERIODIC, 60},  {LBBT_KERNEL_PERIODIC, 365},    {LBBT_KERNEL_PERIODIC, 365.25},
    {LBBT_KERNEL_PERIODIC, 4},   {LBBT_KERNEL_PERIODIC, 26},     {LBBT_KERNEL_PERIODIC, 52},
    {LBBT_KERNEL_PERIODIC, 6},   {LBBT_KERNEL_PERIODIC, 12},     {LBBT_KERNEL_PERIODIC, 40},
    {LBBT_KERNEL_PERIODIC, 10},  {LBBT_KERNEL_LINEAR, 0},        {LBBT_KERNEL_LINEAR, 1},
    {LBBT_KERNEL_LINEAR, 10},    {LBBT_KERNEL_RBF, 0.1},         {LBBT_KERNEL_RBF, 1},
    {LBBT_KERNEL_RBF, 10},       {LBBT_KERNEL_RQ, 0.1},          {LBBT_KERNEL_RQ, 1},
    {LBBT_KERNEL_RQ, 10},        {LBBT_KERNEL_WHITE, 0.1},       {LBBT_KERNEL_WHITE, 1},
    {LBBT_KERNEL_CONSTANT, 1},
};

const lbbt_kernel *lbbt_kernel_bank(int *n) {
  *n = (int)(sizeof BANK / sizeof BANK[0]);
  return BANK;
}

static const char *kind_name(lbbt_kernel_kind k) {
  static const char *const N[] = {"periodic", "linear", "rbf", "rq", "white", "constant"};
  return (unsigned)k < sizeof N / sizeof N[0] ? N[k] : "?";
}

int lbbt_kernel_combo_str(const lbbt_kernel_combo *c, char *buf, size_t cap) {
  size_t used = 0;
  int total = 0;
  for (int i = 0; i < c->n; i++) {
    int w = snprintf(buf + used, used < cap ? cap - used : 0, "%s%s(%g)",
                     i ? (c->op[i - 1] == '*' ? " * " : " + ") : "", kind_name(c->k[i].kind),
                     c->k[i].param);
    if (w < 0) return w;
    total += w;
    used = used + (size_t)w < cap ? used + (size_t)w : cap;
  }
  if (c->n == 0 && cap) buf[0] = 0;
  return total;
}

/* One kernel's value between points xi and xj (indices i, j: white noise is the diagonal). */
static double kernel_value(const lbbt_kernel *k, double xi, double xj, int same, int length) {
  double d = fabs(xi - xj);
  switch (k->kind) {
  case LBBT_KERNEL_PERIODIC: {
    double s = sin(M_PI * d / (k->param / (double)length));
    return exp(-2.0 * s * s);
  }
  case LBBT_KERNEL_LINEAR: return k->param * k->param + xi * xj;
  case LBBT_KERNEL_RBF: return exp(-d * d / (2.0 * k->param * k->param));
  case LBBT_KERNEL_RQ: return pow(1.0 + d * d / (2.0 * k->param), -k->param);
  case LBBT_KERNEL_WHITE: return same ? k->param : 0.0;
  case LBBT_KERNEL_CONSTANT: return 1.0;
  }
  return 0.0;
}

lbbt_status lbbt_kernel_covariance(const lbbt_kernel_combo *c, int length, double *K) {
  if (length < 2 || c->n < 1 || c->n > LBBT_KERNEL_MAX_TERMS)
    return lbbt_fail(LBBT_E_INPUT, "kernel covariance: length %d must be >= 2 and the "
                     "combination must have 1..%d kernels (has %d)", length,
                     LBBT_KERNEL_MAX_TERMS, c->n);
  for (int i = 0; i < c->n - 1; i++)
    if (c->op[i] != '+' && c->op[i] != '*')
      return lbbt_fail(LBBT_E_INPUT, "kernel covariance: operator %d is '%c', not + or *", i,
                       c->op[i]);
  const double step = 1.0 / (double)(length - 1);
#pragma omp parallel for schedule(static) if (length >= 256)
  for (int i = 0; i < length; i++)
    for (int j = 0; j <= i; j++) {
      double xi = i * step, xj = j * step;
      double v = kernel_value(&c->k[0], xi, xj, i == j, length);
      for (int t = 1; t < c->n; t++) {
        double w = kernel_value(&c->k[t], xi, xj, i == j, length);
        v = c->op[t - 1] == '*' ? v * w : v + w;
      }
      K[(size_t)i * length + j] = K[(size_t)j * length + i] = v;
    }
  return LBBT_OK;
}

/* The lower Cholesky factor of K + jitter I, in place in L (a copy of K is kept in K). */
static lbbt_status cholesky_jittered(const double *K, int n, double *L, double *jitter_used) {
  double mean_diag = 0;
  for (int i = 0; i < n; i++) mean_diag += K[(size_t)i * n + i];
  mean_diag /= n;
  if (!(mean_diag > 0)) mean_diag = 1.0;
  double jitter = 1e-6 * mean_diag;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int rc = GSL_EDOM;
  for (int attempt = 0; attempt < 9 && rc; attempt++, jitter *= 10) {
    memcpy(L, K, (size_t)n * n * sizeof *L);
    for (int i = 0; i < n; i++) L[(size_t)i * n + i] += jitter;
    gsl_matrix_view m = gsl_matrix_view_array(L, (size_t)n, (size_t)n);
    rc = gsl_linalg_cholesky_decomp1(&m.matrix);
    *jitter_used = jitter;
  }
  gsl_set_error_handler(old);
  if (rc)
    return lbbt_fail(LBBT_E_NUMERIC, "kernel covariance [%d x %d] is not positive definite even "
                     "with jitter %g: %s", n, n, *jitter_used, gsl_strerror(rc));
  return LBBT_OK;
}

lbbt_status lbbt_gp_sample(const lbbt_kernel_combo *c, int length, lbbt_rng *r, int n_samples,
                           float *out) {
  size_t nn = (size_t)length * (size_t)length;
  if (length < 2 || n_samples < 1)
    return lbbt_fail(LBBT_E_INPUT, "gp sample: length %d must be >= 2, samples %d >= 1", length,
                     n_samples);
  double *K = malloc(nn * sizeof *K), *L = malloc(nn * sizeof *L);
  double *z = malloc((size_t)length * sizeof *z);
  lbbt_status st = LBBT_OK;
  if (!K || !L || !z) st = lbbt_fail(LBBT_E_NOMEM, "gp sample: out of memory for a %d-point "
                                     "covariance", length);
  if (st == LBBT_OK) st = lbbt_kernel_covariance(c, length, K);
  double jitter = 0;
  if (st == LBBT_OK) st = cholesky_jittered(K, length, L, &jitter);
  for (int s = 0; st == LBBT_OK && s < n_samples; s++) {
    for (int i = 0; i < length; i++) z[i] = lbbt_rng_normal(r);
    /* x = L z; gsl's decomp1 leaves L in the lower triangle (the upper holds L^T) */
    for (int i = 0; i < length; i++) {
      const double *row = L + (size_t)i * length;
      double acc = 0;
      for (int j = 0; j <= i; j++) acc += row[j] * z[j];
      out[(size_t)s * length + i] = (float)acc;
    }
  }
  free(K);
  free(L);
  free(z);
  return st;
}

lbbt_status lbbt_kernel_synth_series(uint64_t seed, uint64_t index, int length, int max_kernels,
                                     float *out, lbbt_kernel_combo *combo) {
  if (max_kernels < 1 || max_kernels > LBBT_KERNEL_MAX_TERMS)
    return lbbt_fail(LBBT_E_INPUT, "kernel synth: max_kernels %d must be in 1..%d", max_kernels,
                     LBBT_KERNEL_MAX_TERMS);
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "kernel-synth", index);
  int n_bank;
  const lbbt_kernel *bank = lbbt_kernel_bank(&n_bank);
  lbbt_kernel_combo c;
  memset(&c, 0, sizeof c);
  c.n = 1 + (int)lbbt_rng_below(&r, (uint32_t)max_kernels);
  for (int i = 0; i < c.n; i++) c.k[i] = bank[lbbt_rng_below(&r, (uint32_t)n_bank)];
  for (int i = 0; i < c.n - 1; i++) c.op[i] = lbbt_rng_below(&r, 2) ? '*' : '+';
  if (combo) *combo = c;
  return lbbt_gp_sample(&c, length, &r, 1, out);
}
