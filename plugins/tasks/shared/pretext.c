/* The pretext tasks' maths (pretext.h): custom tape ops (L2 normalisation, masked MSE,
 * row gather) with their backward, and NT-Xent composed from core ops. */
#include "shared/pretext.h"

#include <math.h>
#include <string.h>

#include "lbbt/ops.h"

void pretext_rotate90(const float *src, int channels, int side, int k, float *dst) {
  const int64_t S = side, plane = S * S;
  k &= 3;
  for (int c = 0; c < channels; c++) {
    const float *s = src + c * plane;
    float *d = dst + c * plane;
    for (int64_t i = 0; i < S; i++)
      for (int64_t j = 0; j < S; j++) {
        int64_t si, sj; /* the source pixel of dst[i][j] */
        switch (k) {
          case 0: si = i, sj = j; break;
          case 1: si = j, sj = S - 1 - i; break;
          case 2: si = S - 1 - i, sj = S - 1 - j; break;
          default: si = S - 1 - j, sj = i; break;
        }
        d[i * S + j] = s[si * S + sj];
      }
  }
}

/* ---- L2 normalisation -------------------------------------------------------------------- */
typedef struct l2n_ctx {
  float *norm; /* [N]: max(||x_i||, eps), in the arena */
  float eps;
} l2n_ctx;

static lbbt_status l2n_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  (void)tape;
  const l2n_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *y = rec->out;
  if (!x->requires_grad) return LBBT_OK;
  const int64_t D = x->shape[x->ndim - 1], N = x->numel / D;
  for (int64_t i = 0; i < N; i++) {
    const float *yi = y->data + i * D, *gy = y->grad + i * D, *xi = x->data + i * D;
    float *gx = x->grad + i * D;
    double dot = 0, sq = 0;
    for (int64_t d = 0; d < D; d++) dot += (double)yi[d] * gy[d], sq += (double)xi[d] * xi[d];
    /* at or below eps the norm is the constant eps: y = x / eps */
    const int clamped = !(sqrt(sq) > c->eps);
    for (int64_t d = 0; d < D; d++)
      gx[d] += (float)((gy[d] - (clamped ? 0.0 : yi[d] * dot)) / c->norm[i]);
  }
  return LBBT_OK;
}

lbbt_status pretext_l2_normalize(lbbt_tape *t, lbbt_tensor *x, float eps, lbbt_tensor **out) {
  if (x->ndim != 2) return lbbt_fail(LBBT_E_SHAPE, "l2_normalize: x must be [N, D], has %d dims", x->ndim);
  const int64_t N = x->shape[0], D = x->shape[1];
  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, 2, x->shape, &y));
  l2n_ctx c = {lbbt_tape_alloc(t, (size_t)N * sizeof(float)), eps};
  if (!c.norm) return lbbt_fail(LBBT_E_NOMEM, "l2_normalize: out of arena memory");
  for (int64_t i = 0; i < N; i++) {
    double sq = 0;
    for (int64_t d = 0; d < D; d++) sq += (double)x->data[i * D + d] * x->data[i * D + d];
    double n = sqrt(sq);
    c.norm[i] = (float)(n > eps ? n : eps);
    for (int64_t d = 0; d < D; d++) y->data[i * D + d] = x->data[i * D + d] / c.norm[i];
  }
  *out = y;
  return lbbt_tape_push(t, "l2_normalize", l2n_backward, y, &x, 1, &c, sizeof c);
}

/* ---- NT-Xent ------------------------------------------------------------------------------- */
lbbt_status pretext_nt_xent(lbbt_tape *t, lbbt_tensor *z, float temperature, lbbt_tensor **out,
                            int64_t *correct) {
  if (z->ndim != 2 || z->shape[0] < 2 || z->shape[0] % 2)
    return lbbt_fail(LBBT_E_SHAPE, "nt_xent: z must be [2N, D] with N >= 1 (two views per image)");
  if (!(temperature > 0)) return lbbt_fail(LBBT_E_INPUT, "nt_xent: temperature %g must be > 0", temperature);
  const int64_t M = z->shape[0], N = M / 2;
  lbbt_tensor *zn, *s, *diag;
  LBBT_TRY(pretext_l2_normalize(t, z, 1e-12f, &zn));
  LBBT_TRY(lbbt_matmul(t, zn, zn, 0, 1, &s)); /* [2N, 2N] cosine similarities */
  LBBT_TRY(lbbt_scale(t, s, 1.0f / temperature, &s));
  /* a row's own similarity is no candidate: a large negative logit (exp underflows to 0) */
  int64_t shape[2] = {M, M};
  LBBT_TRY(lbbt_tape_tensor(t, 2, shape, &diag));
  memset(diag->data, 0, (size_t)(M * M) * sizeof(float));
  for (int64_t i = 0; i < M; i++) diag->data[i * M + i] = -1e9f;
  LBBT_TRY(lbbt_add(t, s, diag, &s));
  int32_t *target = lbbt_tape_alloc(t, (size_t)M * sizeof *target);
  if (!target) return lbbt_fail(LBBT_E_NOMEM, "nt_xent: out of arena memory");
  for (int64_t i = 0; i < M; i++) target[i] = (int32_t)((i + N) % M);
  if (correct) {
    *correct = 0;
    for (int64_t i = 0; i < M; i++) {
      const float *row = s->data + i * M;
      int64_t best = 0;
      for (int64_t j = 1; j < M; j++)
        if (row[j] > row[best]) best = j;
      *correct += best == target[i];
    }
  }
  return lbbt_cross_entropy(t, s, target, 0.0f, out);
}

/* ---- MAE ----------------------------------------------------------------------------------- */
void pretext_patch_targets(const float *images, int64_t B, int channels, int side, int patch, int norm_pix,
                           float *out) {
  const int g = side / patch, D = patch * patch * channels;
  const int64_t plane = (int64_t)side * side;
  for (int64_t b = 0; b < B; b++)
    for (int py = 0; py < g; py++)
      for (int px = 0; px < g; px++) {
        float *o = out + ((b * g + py) * g + px) * D;
        for (int y = 0; y < patch; y++)
          for (int x = 0; x < patch; x++)
            for (int c = 0; c < channels; c++)
              o[(y * patch + x) * channels + c] =
                  images[(b * channels + c) * plane + (int64_t)(py * patch + y) * side + px * patch + x];
        if (!norm_pix) continue;
        double m = 0, v = 0;
        for (int d = 0; d < D; d++) m += o[d];
        m /= D;
        for (int d = 0; d < D; d++) v += (o[d] - m) * (o[d] - m);
        v = D > 1 ? v / (D - 1) : 0; /* unbiased, as torch's var() */
        const double inv = 1.0 / sqrt(v + 1e-6);
        for (int d = 0; d < D; d++) o[d] = (float)((o[d] - m) * inv);
      }
}

void pretext_random_mask(lbbt_rng *r, int n_patches, int n_keep, int32_t *keep, uint8_t *mask, int32_t *restore) {
  int32_t perm[PRETEXT_MAX_PATCHES];
  const int N = n_patches < 0 ? 0 : n_patches > PRETEXT_MAX_PATCHES ? PRETEXT_MAX_PATCHES : n_patches;
  for (int i = 0; i < N; i++) perm[i] = i;
  lbbt_rng_shuffle_i32(r, perm, N);
  for (int n = 0; n < N; n++) mask[n] = 1;
  for (int i = 0; i < n_keep && i < N; i++) mask[perm[i]] = 0;
  int k = 0, m = n_keep;
  for (int n = 0; n < N; n++) {
    if (!mask[n]) keep[k] = n, restore[n] = k++;
    else restore[n] = m++;
  }
}

typedef struct mmse_ctx {
  const float *target;
  const uint8_t *mask;
  int64_t masked;
} mmse_ctx;

static lbbt_status mmse_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  (void)tape;
  const mmse_ctx *c = rec->ctx;
  lbbt_tensor *p = rec->in[0];
  if (!p->requires_grad) return LBBT_OK;
  const int64_t D = p->shape[2], rows = p->shape[0] * p->shape[1];
  const float g = rec->out->grad[0] * 2.0f / (float)(c->masked * D);
  for (int64_t r = 0; r < rows; r++)
    if (c->mask[r])
      for (int64_t d = 0; d < D; d++) p->grad[r * D + d] += g * (p->data[r * D + d] - c->target[r * D + d]);
  return LBBT_OK;
}

lbbt_status pretext_masked_mse(lbbt_tape *t, lbbt_tensor *pred, const float *target, const uint8_t *mask,
                               lbbt_tensor **out) {
  if (pred->ndim != 3) return lbbt_fail(LBBT_E_SHAPE, "masked_mse: pred must be [B, N, D], has %d dims", pred->ndim);
  const int64_t D = pred->shape[2], rows = pred->shape[0] * pred->shape[1];
  mmse_ctx c = {lbbt_tape_alloc(t, (size_t)(rows * D) * sizeof(float)), lbbt_tape_alloc(t, (size_t)rows), 0};
  if (!c.target || !c.mask) return lbbt_fail(LBBT_E_NOMEM, "masked_mse: out of arena memory");
  memcpy((float *)c.target, target, (size_t)(rows * D) * sizeof(float));
  memcpy((uint8_t *)c.mask, mask, (size_t)rows);
  double sum = 0;
  for (int64_t r = 0; r < rows; r++) {
    if (!mask[r]) continue;
    c.masked++;
    for (int64_t d = 0; d < D; d++) {
      double e = (double)pred->data[r * D + d] - target[r * D + d];
      sum += e * e;
    }
  }
  if (c.masked == 0) return lbbt_fail(LBBT_E_INPUT, "masked_mse: no patch is masked");
  lbbt_tensor *y;
  int64_t one = 1;
  LBBT_TRY(lbbt_tape_tensor(t, 1, &one, &y));
  y->data[0] = (float)(sum / ((double)c.masked * (double)D));
  *out = y;
  return lbbt_tape_push(t, "masked_mse", mmse_backward, y, &pred, 1, &c, sizeof c);
}
