/* Sliding-window and multi-scale + flip inference for dense predictors
 * (lbbt/dense_inference.h). */
#include "lbbt/dense_inference.h"

#include <stdlib.h>
#include <string.h>

#include "lbbt/ops.h"
#include "lbbt/train.h"

static lbbt_status check(const lbbt_dense_inference *d, int H, int W) {
  if (!d->forward || d->channels < 1 || d->classes < 1 || d->crop < 1 || d->stride < 1 || d->stride > d->crop ||
      d->batch < 1 || H < 1 || W < 1)
    return lbbt_fail(LBBT_E_INPUT, "dense inference: want a forward, channels, classes, window >= 1, stride in "
                     "1..window and batch >= 1 (got %d, %d, %d, %d, %d) for an image of %d x %d", d->channels,
                     d->classes, d->crop, d->stride, d->batch, H, W);
  return LBBT_OK;
}

/* Window starts along one axis of length n (>= S), mmseg's rule; returns their count. */
static int window_starts(int n, int S, int st, int *starts) {
  int grids = (n - S + st - 1 > 0 ? n - S + st - 1 : 0) / st + 1;
  for (int g = 0; g < grids; g++) {
    int a = g * st, b = a + S < n ? a + S : n;
    starts[g] = b - S > 0 ? b - S : 0;
  }
  return grids;
}

lbbt_status lbbt_dense_slide(const lbbt_dense_inference *d, lbbt_tape *t, const float *image, int H, int W,
                             float *logits) {
  LBBT_TRY(check(d, H, W));
  const int C = d->channels, K = d->classes, S = d->crop;
  const int Hp = H > S ? H : S, Wp = W > S ? W : S;
  const size_t plane = (size_t)Hp * Wp, win = (size_t)S * S;
  int *ys = malloc((size_t)Hp * sizeof *ys), *xs = malloc((size_t)Wp * sizeof *xs);
  float *padded = calloc((size_t)C * plane, sizeof *padded), *acc = calloc((size_t)K * plane, sizeof *acc);
  float *batch = malloc((size_t)d->batch * C * win * sizeof *batch);
  int *count = calloc(plane, sizeof *count);
  lbbt_status st = ys && xs && padded && acc && batch && count ? LBBT_OK
                                                                : lbbt_fail(LBBT_E_NOMEM, "dense inference: out of memory");
  if (st != LBBT_OK) goto done;
  for (int c = 0; c < C; c++)
    for (int y = 0; y < H; y++)
      memcpy(padded + c * plane + (size_t)y * Wp, image + ((size_t)c * H + y) * W, (size_t)W * sizeof(float));
  const int ny = window_starts(Hp, S, d->stride, ys), nx = window_starts(Wp, S, d->stride, xs), n = ny * nx;
  lbbt_tape_set_recording(t, 0);
  for (int first = 0; first < n && st == LBBT_OK; first += d->batch) {
    const int m = n - first < d->batch ? n - first : d->batch;
    for (int i = 0; i < m; i++) {
      const int y0 = ys[(first + i) / nx], x0 = xs[(first + i) % nx];
      for (int c = 0; c < C; c++)
        for (int y = 0; y < S; y++)
          memcpy(batch + ((size_t)i * C + c) * win + (size_t)y * S, padded + c * plane + (size_t)(y0 + y) * Wp + x0,
                 (size_t)S * sizeof(float));
    }
    lbbt_tape_reset(t);
    lbbt_tensor *x, *out;
    st = lbbt_tape_input(t, 4, (int64_t[]){m, C, S, S}, batch, &x);
    if (st == LBBT_OK) st = d->forward(d->user, t, x, &out);
    if (st == LBBT_OK && (out->ndim != 4 || out->shape[0] != m || out->shape[1] != K || out->shape[2] != S ||
                          out->shape[3] != S))
      st = lbbt_fail(LBBT_E_SHAPE, "dense inference: the forward gave logits of another shape than [%d, %d, %d, %d]",
                     m, K, S, S);
    for (int i = 0; st == LBBT_OK && i < m; i++) {
      const int y0 = ys[(first + i) / nx], x0 = xs[(first + i) % nx];
      for (int k = 0; k < K; k++)
        for (int y = 0; y < S; y++) {
          const float *src = out->data + (((size_t)i * K + k) * S + y) * S;
          float *dst = acc + k * plane + (size_t)(y0 + y) * Wp + x0;
          for (int x = 0; x < S; x++) dst[x] += src[x];
        }
      for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) count[(size_t)(y0 + y) * Wp + x0 + x]++;
    }
  }
  if (st == LBBT_OK)
    for (int k = 0; k < K; k++)
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          logits[((size_t)k * H + y) * W + x] = acc[k * plane + (size_t)y * Wp + x] / (float)count[(size_t)y * Wp + x];
done:
  free(ys), free(xs), free(padded), free(acc), free(batch), free(count);
  return st;
}

/* src [n_planes, h, w] -> dst [n_planes, oh, ow], bilinear (the lbbt_upsample_bilinear op, on t). */
static lbbt_status resize(lbbt_tape *t, const float *src, int n_planes, int h, int w, int oh, int ow, float *dst) {
  lbbt_tape_reset(t);
  lbbt_tensor *x, *y;
  LBBT_TRY(lbbt_tape_input(t, 4, (int64_t[]){1, n_planes, h, w}, src, &x));
  LBBT_TRY(lbbt_upsample_bilinear(t, x, oh, ow, &y));
  memcpy(dst, y->data, (size_t)n_planes * oh * ow * sizeof *dst);
  return LBBT_OK;
}

static void mirror(float *x, int n_planes, int h, int w) {
  for (int p = 0; p < n_planes; p++)
    for (int y = 0; y < h; y++) {
      float *r = x + ((size_t)p * h + y) * w;
      for (int a = 0, b = w - 1; a < b; a++, b--) {
        float v = r[a];
        r[a] = r[b], r[b] = v;
      }
    }
}

lbbt_status lbbt_dense_multiscale(const lbbt_dense_inference *d, lbbt_tape *t, const float *image, int H, int W,
                                  const double *ratios, int n_ratios, int flip, float *logits) {
  LBBT_TRY(check(d, H, W));
  if (n_ratios < 1) return lbbt_fail(LBBT_E_INPUT, "dense inference: no scale ratios");
  for (int i = 0; i < n_ratios; i++)
    if (!(ratios[i] > 0) || (int)(H * ratios[i] + 0.5) < 1 || (int)(W * ratios[i] + 0.5) < 1 || ratios[i] > 64)
      return lbbt_fail(LBBT_E_INPUT, "dense inference: scale ratio %g of a %d x %d image is out of range", ratios[i],
                       H, W);
  const int C = d->channels, K = d->classes;
  const size_t full = (size_t)K * H * W;
  double maxr = 0;
  for (int i = 0; i < n_ratios; i++) maxr = ratios[i] > maxr ? ratios[i] : maxr;
  const size_t big = (size_t)((int)(H * maxr + 0.5)) * (size_t)((int)(W * maxr + 0.5));
  float *img = malloc((size_t)C * big * sizeof *img), *lg = malloc((size_t)K * big * sizeof *lg);
  float *back = malloc(full * sizeof *back);
  lbbt_status st = img && lg && back ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "dense inference: out of memory");
  if (st == LBBT_OK) memset(logits, 0, full * sizeof *logits);
  lbbt_tape_set_recording(t, 0);
  for (int i = 0; st == LBBT_OK && i < n_ratios; i++) {
    const int h = (int)(H * ratios[i] + 0.5), w = (int)(W * ratios[i] + 0.5);
    for (int f = 0; st == LBBT_OK && f <= (flip ? 1 : 0); f++) {
      st = resize(t, image, C, H, W, h, w, img);
      if (st == LBBT_OK && f) mirror(img, C, h, w);
      if (st == LBBT_OK) st = lbbt_dense_slide(d, t, img, h, w, lg);
      if (st == LBBT_OK && f) mirror(lg, K, h, w);
      if (st == LBBT_OK) st = resize(t, lg, K, h, w, H, W, back);
      for (size_t j = 0; st == LBBT_OK && j < full; j++) logits[j] += back[j];
    }
  }
  const float n = (float)(n_ratios * (flip ? 2 : 1));
  for (size_t j = 0; st == LBBT_OK && j < full; j++) logits[j] /= n;
  free(img), free(lg), free(back);
  return st;
}
