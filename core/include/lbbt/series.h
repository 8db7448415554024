/* Time series for time-series pretraining: KernelSynth-style synthetic Gaussian-process
 * series and the mean-scaling / uniform-bin tokenisation of Chronos (Ansari et al. 2024).
 *
 * KernelSynth (Chronos' appendix and its kernel_synth.py): a series is one sample of a
 * zero-mean Gaussian-process prior on `length` time points x_i = i / (length - 1) in [0, 1],
 * whose covariance is a random composition of 1 to max_kernels kernels drawn (with
 * replacement) from a fixed bank, each joined to the previous by + or x (fair coin):
 *   periodic    ExpSineSquared(length_scale 1, periodicity p / length): exp(-2 sin^2(pi d / P))
 *               for p in {24, 48, 96, 168, 336, 672, 7, 14, 30, 60, 365, 365.25, 4, 26, 52,
 *               6, 12, 40, 10} (hours, days, weeks, months, years in the series' own units)
 *   linear      DotProduct(sigma_0 in {0, 1, 10}): sigma_0^2 + x x'
 *   rbf         RBF(length_scale in {0.1, 1, 10}): exp(-d^2 / (2 l^2))
 *   rq          RationalQuadratic(alpha in {0.1, 1, 10}, length_scale 1):
 *               (1 + d^2 / (2 alpha))^-alpha
 *   white       WhiteKernel(noise_level in {0.1, 1}): noise on the diagonal
 *   constant    ConstantKernel(1)
 * (scikit-learn's definitions, as Chronos builds its bank from them; d = |x - x'|).
 * The sample is L z with L the Cholesky factor (GSL) of K + jitter I, z ~ N(0, I) from the
 * series' own rng stream; jitter starts at 1e-6 times the mean diagonal and grows tenfold
 * (up to 8 times) until the factorisation succeeds, since sums and products of low-rank
 * kernels (linear, constant, long periods) are only positive semi-definite.
 * Series `index` of a corpus with seed `seed` draws its kernels and its z from
 * lbbt_rng_derive(seed, "kernel-synth", index): any series can be made alone, in any order,
 * on any number of threads, with the same values.
 *
 * Tokenisation (Chronos' MeanScaleUniformBins): scale = mean |x| over the context (1 where
 * that is 0 or not finite); the context and the horizon are divided by it; vocabulary
 * n_tokens = n_special (PAD 0, EOS 1) + 1 + n_bins: bin centres c_0..c_{n_bins-1} =
 * linspace(low, high, n_bins) (Chronos: n_tokens 4096, [-15, 15]), boundaries the midpoints
 * between centres (and -/+1e20 at the ends); a value v gets token
 * bucketize(v, boundaries, right=True) + n_special, clamped to [0, n_tokens - 1], i.e. bin b
 * (c_b nearest; a tie goes up) is token n_special + 1 + b, values beyond the range clamp to
 * the end bins, and token n_special is never produced by a finite value (as in Chronos).
 * NaN (missing) values get PAD.  The inverse maps token t to c_{clamp(t - n_special - 1)}
 * times the scale. */
#ifndef LBBT_SERIES_H
#define LBBT_SERIES_H
#include <stddef.h>
#include <stdint.h>

#include "lbbt/rng.h"
#include "lbbt/status.h"

typedef enum {
  LBBT_KERNEL_PERIODIC,
  LBBT_KERNEL_LINEAR,
  LBBT_KERNEL_RBF,
  LBBT_KERNEL_RQ,
  LBBT_KERNEL_WHITE,
  LBBT_KERNEL_CONSTANT
} lbbt_kernel_kind;

typedef struct lbbt_kernel {
  lbbt_kernel_kind kind;
  double param; /* periodic: p (periodicity p / length); linear: sigma_0; rbf: length scale;
                   rq: alpha; white: noise level; constant: unused */
} lbbt_kernel;

#define LBBT_KERNEL_MAX_TERMS 8
/* k_0 op_0 k_1 op_1 ... k_{n-1}, evaluated left to right ((k0 + k1) * k2). */
typedef struct lbbt_kernel_combo {
  int n;
  lbbt_kernel k[LBBT_KERNEL_MAX_TERMS];
  char op[LBBT_KERNEL_MAX_TERMS]; /* op[i] joins k[i] and k[i+1]: '+' or '*' */
} lbbt_kernel_combo;

/* The bank (static storage); *n receives its size. */
LBBT_API const lbbt_kernel *lbbt_kernel_bank(int *n);
/* "rbf(0.1) * periodic(24) + white(1)" into buf; returns what snprintf returns. */
LBBT_API int lbbt_kernel_combo_str(const lbbt_kernel_combo *c, char *buf, size_t cap);
/* K [length, length] (row-major doubles) of the combination on the points i / (length - 1). */
LBBT_API lbbt_status lbbt_kernel_covariance(const lbbt_kernel_combo *c, int length, double *K);
/* n_samples draws [n_samples, length] from N(0, K) with r: one Cholesky, then L z each. */
LBBT_API lbbt_status lbbt_gp_sample(const lbbt_kernel_combo *c, int length, lbbt_rng *r,
                                    int n_samples, float *out);
/* Series `index` of the KernelSynth corpus `seed`: out [length]; its kernels into *combo
 * when combo is not NULL.  max_kernels in 1..LBBT_KERNEL_MAX_TERMS, length >= 2. */
LBBT_API lbbt_status lbbt_kernel_synth_series(uint64_t seed, uint64_t index, int length,
                                              int max_kernels, float *out,
                                              lbbt_kernel_combo *combo);

/* ---- tokenisation ------------------------------------------------------------------------ */
#define LBBT_SERIES_PAD 0
#define LBBT_SERIES_EOS 1
typedef struct lbbt_series_tokenizer {
  int n_tokens;   /* vocabulary: n_special + 1 + n_bins */
  int n_special;  /* 2: PAD, EOS */
  double low, high;
} lbbt_series_tokenizer;

/* Chronos' defaults for a vocabulary of n_tokens (>= 4): low -15, high 15. */
LBBT_API lbbt_status lbbt_series_tokenizer_init(lbbt_series_tokenizer *tk, int n_tokens,
                                                double low, double high);
/* Mean |x| over the finite values of x[0..n-1]; 1 when that is 0 or there are none. */
LBBT_API double lbbt_series_scale(const float *x, int64_t n);
/* Tokens of x[0..n-1] divided by scale (NaN -> PAD). */
LBBT_API void lbbt_series_encode(const lbbt_series_tokenizer *tk, const float *x, int64_t n,
                                 double scale, int32_t *tokens);
/* The value a token stands for: its bin's centre times scale (PAD/EOS/n_special decode as
 * the clamped end bin, as Chronos does). */
LBBT_API double lbbt_series_decode(const lbbt_series_tokenizer *tk, int32_t token, double scale);

#endif
