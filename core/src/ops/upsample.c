/* Bilinear resizing of feature maps, as PyTorch's F.interpolate(x, size=(OH, OW),
 * mode="bilinear", align_corners=False) without antialiasing: Segmenter upsamples its patch
 * masks [B, K, H/P, W/P] to the image with it, and multi-scale inference resizes images and
 * logits.  Output pixel d of a side of n -> m reads the source coordinate
 *     s = max((d + 0.5) * n / m - 0.5, 0),   i0 = floor(s),  i1 = min(i0 + 1, n - 1),
 *     weights (1 - (s - i0), s - i0)
 * per axis (PyTorch's area_pixel_compute_source_index with the scale n / m).  The weights
 * are computed in double and the four products summed in double, so the forward is the
 * exact result rounded once; the backward scatters each output gradient to the same four
 * source pixels with the same weights. */
#include <math.h>
#include <stdlib.h>

#include "lbbt/ops.h"
#include "ops/op_util.h"

/* One axis's taps: for output index d, sources lo[d], hi[d] and the weight w[d] of hi. */
typedef struct upsample_axis {
  int64_t *lo, *hi;
  double *w;
} upsample_axis;

typedef struct upsample_ctx {
  upsample_axis ax_h, ax_w; /* in the tape's arena */
} upsample_ctx;

static lbbt_status axis_taps(lbbt_tape *t, int64_t n, int64_t m, upsample_axis *a) {
  a->lo = lbbt_tape_alloc(t, (size_t)m * sizeof *a->lo);
  a->hi = lbbt_tape_alloc(t, (size_t)m * sizeof *a->hi);
  a->w = lbbt_tape_alloc(t, (size_t)m * sizeof *a->w);
  if (!a->lo || !a->hi || !a->w) return LBBT_E_NOMEM;
  const double scale = (double)n / (double)m;
  for (int64_t d = 0; d < m; d++) {
    double s = ((double)d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    int64_t i0 = (int64_t)s;
    if (i0 > n - 1) i0 = n - 1;
    a->lo[d] = i0;
    a->hi[d] = i0 < n - 1 ? i0 + 1 : i0;
    a->w[d] = s - (double)i0;
  }
  return LBBT_OK;
}

static lbbt_status upsample_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  (void)t;
  const upsample_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *y = rec->out;
  const int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
  const int64_t OH = y->shape[2], OW = y->shape[3];
  const float *g = y->grad;
  float *dx = x->grad;
#pragma omp parallel for if (planes * OH * OW >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t p = 0; p < planes; p++) { /* each plane's sources are its own: no races */
    const float *gp = g + p * OH * OW;
    float *dp = dx + p * H * W;
    for (int64_t i = 0; i < OH; i++) {
      const int64_t r0 = c->ax_h.lo[i] * W, r1 = c->ax_h.hi[i] * W;
      const double wy = c->ax_h.w[i];
      for (int64_t j = 0; j < OW; j++) {
        const int64_t c0 = c->ax_w.lo[j], c1 = c->ax_w.hi[j];
        const double wx = c->ax_w.w[j], gv = gp[i * OW + j];
        dp[r0 + c0] += (float)(gv * (1 - wy) * (1 - wx));
        dp[r0 + c1] += (float)(gv * (1 - wy) * wx);
        dp[r1 + c0] += (float)(gv * wy * (1 - wx));
        dp[r1 + c1] += (float)(gv * wy * wx);
      }
    }
  }
  return LBBT_OK;
}

lbbt_status lbbt_upsample_bilinear(lbbt_tape *t, lbbt_tensor *x, int64_t out_h, int64_t out_w,
                                   lbbt_tensor **out) {
  *out = NULL;
  char sb[OP_SHAPE_BUF];
  if (x->ndim != 4 || out_h < 1 || out_w < 1)
    return lbbt_fail(LBBT_E_SHAPE, "upsample_bilinear: want x [B, C, H, W] and an output size >= 1, got x %s "
                     "and %lld x %lld", op_shape(x, sb), (long long)out_h, (long long)out_w);
  const int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
  int64_t os[4] = {x->shape[0], x->shape[1], out_h, out_w};
  LBBT_TRY(lbbt_tape_tensor(t, 4, os, out));
  upsample_ctx c;
  if (axis_taps(t, H, out_h, &c.ax_h) != LBBT_OK || axis_taps(t, W, out_w, &c.ax_w) != LBBT_OK)
    return lbbt_fail(LBBT_E_NOMEM, "upsample_bilinear: out of memory for %lld x %lld taps", (long long)out_h,
                     (long long)out_w);
  const float *xd = x->data;
  float *yd = (*out)->data;
#pragma omp parallel for if (planes * out_h * out_w >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const float *xp = xd + p * H * W;
    float *yp = yd + p * out_h * out_w;
    for (int64_t i = 0; i < out_h; i++) {
      const float *a = xp + c.ax_h.lo[i] * W, *b = xp + c.ax_h.hi[i] * W;
      const double wy = c.ax_h.w[i];
      for (int64_t j = 0; j < out_w; j++) {
        const int64_t c0 = c.ax_w.lo[j], c1 = c.ax_w.hi[j];
        const double wx = c.ax_w.w[j];
        double top = (1 - wx) * a[c0] + wx * a[c1], bot = (1 - wx) * b[c0] + wx * b[c1];
        yp[i * out_w + j] = (float)((1 - wy) * top + wy * bot);
      }
    }
  }
  return lbbt_tape_push(t, "upsample_bilinear", upsample_backward, *out, &x, 1, &c, sizeof c);
}
