/* Chronos' mean-scaling, uniform-bin tokenisation of time series (lbbt/series.h). */
#include <math.h>

#include "lbbt/series.h"

lbbt_status lbbt_series_tokenizer_init(lbbt_series_tokenizer *tk, int n_tokens, double low,
                                       double high) {
  if (n_tokens < 4 || !(low < high) || !isfinite(low) || !isfinite(high))
    return lbbt_fail(LBBT_E_INPUT, "series tokenizer: n_tokens %d must be >= 4 (PAD, EOS, one "
                     "unused id and at least one bin) and the range [%g, %g] finite and "
                     "non-empty", n_tokens, low, high);
  tk->n_tokens = n_tokens;
  tk->n_special = 2;
  tk->low = low;
  tk->high = high;
  return LBBT_OK;
}

static int n_bins(const lbbt_series_tokenizer *tk) { return tk->n_tokens - tk->n_special - 1; }

/* Centre of bin b: torch.linspace(low, high, n_bins) (a single bin sits at low). */
static double centre(const lbbt_series_tokenizer *tk, int b) {
  int m = n_bins(tk);
  return m == 1 ? tk->low : tk->low + (tk->high - tk->low) * (double)b / (double)(m - 1);
}

double lbbt_series_scale(const float *x, int64_t n) {
  double sum = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(x[i])) {
      sum += fabs((double)x[i]);
      count++;
    }
  double s = count ? sum / (double)count : 0.0;
  return s > 0 && isfinite(s) ? s : 1.0;
}

void lbbt_series_encode(const lbbt_series_tokenizer *tk, const float *x, int64_t n, double scale,
                        int32_t *tokens) {
  const int m = n_bins(tk);
  for (int64_t i = 0; i < n; i++) {
    if (isnan(x[i])) {
      tokens[i] = LBBT_SERIES_PAD;
      continue;
    }
    double v = (double)x[i] / scale;
    /* bucketize(right=True) over boundaries [-1e20, mid_0 .. mid_{m-2}, 1e20]: the number of
     * boundaries <= v.  Boundary k >= 1 is the midpoint of centres k-1 and k. */
    int bucket;
    if (v < -1e20) bucket = 0;
    else {
      /* first bin whose upper midpoint is > v, by binary search over b in [0, m-1] */
      int lo = 0, hi = m - 1;
      while (lo < hi) {
        int mid = (lo + hi) / 2;
        double upper = 0.5 * (centre(tk, mid) + centre(tk, mid + 1));
        if (upper <= v) lo = mid + 1;
        else hi = mid;
      }
      bucket = 1 + lo + (v >= 1e20 ? 1 : 0);
    }
    int t = bucket + tk->n_special;
    tokens[i] = t > tk->n_tokens - 1 ? tk->n_tokens - 1 : t;
  }
}

double lbbt_series_decode(const lbbt_series_tokenizer *tk, int32_t token, double scale) {
  int b = token - tk->n_special - 1;
  if (b < 0) b = 0;
  if (b > n_bins(tk) - 1) b = n_bins(tk) - 1;
  return centre(tk, b) * scale;
}
