/* Exact t-SNE; see clustering.h for the algorithm and its constants.
 *
 * Single-threaded on purpose: each iteration is a few O(N^2) sweeps, and on a shared
 * 2-core machine OpenMP barriers between them made 300 points take 13 s on 2 threads
 * against 0.75 s on one (threads spinning while their partner is descheduled). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/clustering.h"
#include "lbbt/rng.h"

#define TSNE_ENTROPY_TOL 1e-5   /* |H(P_i) - ln(perplexity)| in nats */
#define TSNE_BISECT_STEPS 100
#define TSNE_P_FLOOR 1e-12
#define TSNE_MIN_GAIN 0.01
#define TSNE_INIT_STD 1e-4

lbbt_tsne_config lbbt_tsne_defaults(void) {
  lbbt_tsne_config c = {30.0, 1000, 250, 12.0, 0.0, 0};
  return c;
}

/* Row i of the conditional P(j|i) for squared distances d2 [n] (d2[i] ignored): bisection on
 * the precision beta = 1 / (2 sigma^2) until the entropy is ln(perplexity). */
static void calibrate_row(const double *d2, int64_t n, int64_t i, double perplexity, double *p) {
  double target = log(perplexity), beta = 1.0, lo = -INFINITY, hi = INFINITY;
  /* distances are shifted by the row minimum so exp() never underflows to all zeros */
  double dmin = INFINITY;
  for (int64_t j = 0; j < n; j++)
    if (j != i && d2[j] < dmin) dmin = d2[j];
  for (int step = 0; step < TSNE_BISECT_STEPS; step++) {
    double sum = 0, wsum = 0;
    for (int64_t j = 0; j < n; j++) {
      if (j == i) { p[j] = 0; continue; }
      double e = exp(-(d2[j] - dmin) * beta);
      p[j] = e;
      sum += e;
      wsum += (d2[j] - dmin) * e;
    }
    /* H = ln(sum) + beta * E[d - dmin] */
    double h = log(sum) + beta * wsum / sum;
    for (int64_t j = 0; j < n; j++) p[j] /= sum;
    double diff = h - target;
    if (fabs(diff) < TSNE_ENTROPY_TOL) break;
    if (diff > 0) { /* too flat: raise beta */
      lo = beta;
      beta = isfinite(hi) ? (beta + hi) / 2 : beta * 2;
    } else {
      hi = beta;
      beta = isfinite(lo) ? (beta + lo) / 2 : beta / 2;
    }
  }
}

lbbt_status lbbt_tsne(const float *x, int64_t n, int d, const lbbt_tsne_config *cfg, float *y,
                      lbbt_tsne_info *info) {
  if (n < 2 || d < 1)
    return lbbt_fail(LBBT_E_INPUT, "tsne: need at least 2 points of dimension >= 1 (n %lld, d %d)",
                     (long long)n, d);
  if (!(cfg->perplexity > 0) || cfg->perplexity >= (double)n)
    return lbbt_fail(LBBT_E_INPUT, "tsne: perplexity %g must be in (0, %lld) for %lld points",
                     cfg->perplexity, (long long)n, (long long)n);
  if (cfg->iterations < 1 || cfg->exaggeration_iters < 0 || !(cfg->early_exaggeration >= 1) ||
      !(cfg->learning_rate >= 0))
    return lbbt_fail(LBBT_E_INPUT, "tsne: iterations %d (>= 1), exaggeration_iters %d (>= 0), "
                     "early_exaggeration %g (>= 1), learning_rate %g (>= 0; 0 = auto)",
                     cfg->iterations, cfg->exaggeration_iters, cfg->early_exaggeration,
                     cfg->learning_rate);
  size_t nn = (size_t)n * (size_t)n;
  double *p = malloc(nn * sizeof *p);     /* d2, then P */
  double *num = malloc(nn * sizeof *num); /* calibration scratch, then 1 / (1 + |yi - yj|^2) */
  double *yy = malloc((size_t)n * 2 * sizeof *yy);
  double *upd = calloc((size_t)n * 2, sizeof *upd);
  double *gains = malloc((size_t)n * 2 * sizeof *gains);
  double *grad = malloc((size_t)n * 2 * sizeof *grad);
  double *rowsum = malloc((size_t)n * sizeof *rowsum);
  if (!p || !num || !yy || !upd || !gains || !grad || !rowsum) {
    free(p); free(num); free(yy); free(upd); free(gains); free(grad); free(rowsum);
    return lbbt_fail(LBBT_E_NOMEM, "tsne: out of memory for %lld points (exact t-SNE keeps two "
                     "%lld x %lld double matrices; use fewer images)", (long long)n, (long long)n,
                     (long long)n);
  }
  /* squared distances into num, conditional P rows into p */
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int k = 0; k < d; k++) {
        double t = (double)x[i * d + k] - x[j * d + k];
        s += t * t;
      }
      num[i * n + j] = s;
    }
  for (int64_t i = 0; i < n; i++) calibrate_row(num + i * n, n, i, cfg->perplexity, p + i * n);
  /* symmetrise: P = (P + P') / 2n */
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) {
      double v = (p[i * n + j] + p[j * n + i]) / (2.0 * (double)n);
      if (v < TSNE_P_FLOOR) v = TSNE_P_FLOOR;
      p[i * n + j] = p[j * n + i] = v;
    }
  for (int64_t i = 0; i < n; i++) p[i * n + i] = 0;

  lbbt_rng r;
  lbbt_rng_derive(&r, cfg->seed, "tsne-init", 0);
  for (int64_t i = 0; i < 2 * n; i++) {
    yy[i] = TSNE_INIT_STD * lbbt_rng_normal(&r);
    gains[i] = 1.0;
  }
  double lr = cfg->learning_rate > 0 ? cfg->learning_rate
                                     : fmax((double)n / cfg->early_exaggeration / 4.0, 50.0);
  for (int it = 0; it < cfg->iterations; it++) {
    int early = it < cfg->exaggeration_iters;
    double exag = early ? cfg->early_exaggeration : 1.0, momentum = early ? 0.5 : 0.8;
      /* q_ij numerators, each pair computed once */
    for (int64_t i = 0; i < n; i++) {
      num[i * n + i] = 0;
      for (int64_t j = i + 1; j < n; j++) {
        double dx = yy[2 * i] - yy[2 * j], dy = yy[2 * i + 1] - yy[2 * j + 1];
        num[i * n + j] = num[j * n + i] = 1.0 / (1.0 + dx * dx + dy * dy);
      }
    }
    for (int64_t i = 0; i < n; i++) {
      double s = 0;
      for (int64_t j = 0; j < n; j++) s += num[i * n + j];
      rowsum[i] = s;
    }
    double z = 0;
    for (int64_t i = 0; i < n; i++) z += rowsum[i];
      for (int64_t i = 0; i < n; i++) {
      double gx = 0, gy = 0;
      for (int64_t j = 0; j < n; j++) {
        double q = num[i * n + j];
        double mult = (exag * p[i * n + j] - q / z) * q;
        gx += mult * (yy[2 * i] - yy[2 * j]);
        gy += mult * (yy[2 * i + 1] - yy[2 * j + 1]);
      }
      grad[2 * i] = 4.0 * gx;
      grad[2 * i + 1] = 4.0 * gy;
    }
    for (int64_t i = 0; i < 2 * n; i++) {
      /* delta-bar-delta: grow the gain while the gradient keeps pointing against the step */
      gains[i] = upd[i] * grad[i] < 0 ? gains[i] + 0.2 : gains[i] * 0.8;
      if (gains[i] < TSNE_MIN_GAIN) gains[i] = TSNE_MIN_GAIN;
      upd[i] = momentum * upd[i] - lr * gains[i] * grad[i];
      yy[i] += upd[i];
    }
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
      mx += yy[2 * i];
      my += yy[2 * i + 1];
    }
    mx /= (double)n;
    my /= (double)n;
    for (int64_t i = 0; i < n; i++) {
      yy[2 * i] -= mx;
      yy[2 * i + 1] -= my;
    }
  }
  /* final KL(P || Q) without exaggeration */
  double z = 0, kl = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      if (j == i) continue;
      double dx = yy[2 * i] - yy[2 * j], dy = yy[2 * i + 1] - yy[2 * j + 1];
      num[i * n + j] = 1.0 / (1.0 + dx * dx + dy * dy);
      z += num[i * n + j];
    }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      if (j == i) continue;
      double pij = p[i * n + j], q = num[i * n + j] / z;
      if (pij > 0) kl += pij * log(pij / fmax(q, 1e-300));
    }
  for (int64_t i = 0; i < 2 * n; i++) y[i] = (float)yy[i];
  if (info) {
    info->kl = kl;
    info->learning_rate = lr;
  }
  free(p); free(num); free(yy); free(upd); free(gains); free(grad); free(rowsum);
  return LBBT_OK;
}
