/* Rotary position embedding (RoPE) on x [B, H, T, D].
 *
 * The first rotary_dim dims of each head vector are rotated in pairs; the rest pass through
 * (partial rotary, as GPT-NeoX / Phi).  Pair i (0 <= i < rotary_dim/2) is rotated by the
 * angle pos * inv_freq[i]:
 *   LBBT_ROPE_HALF        (Hugging Face rotate_half):  (x[i], x[i + rotary_dim/2])
 *   LBBT_ROPE_INTERLEAVED (llama2.c / Meta):           (x[2i], x[2i + 1])
 *   y_a = x_a cos - x_b sin,   y_b = x_b cos + x_a sin.
 *
 * inv_freq[i] = 1 / theta^(2i / rotary_dim), optionally rescaled by the Llama-3 rule
 * (transformers' `_compute_llama3_parameters`).  Both are evaluated in float32 with the same
 * order of operations as transformers does on float32 tensors (see rope_inv_freq), and the
 * angle is the float32 product pos * inv_freq[i], as the Hugging Face rotary embedding and
 * llama2.c compute it; cos and sin of that float angle are rounded once from double.
 *
 * cos/sin tables are computed once per (frequency config, position range) and cached for the
 * whole process (see rope_cache_get): a training loop calls lbbt_rope with the same config
 * every step, and recomputing T * rotary_dim/2 transcendental pairs per call per layer is
 * waste.  Each call gathers the rows of its positions into the arena, so the op's backward
 * does not depend on the cache. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/ops.h"

/* Positions in [0, ROPE_CACHE_MAX_POS) are served from the cache; others (negative, or very
 * long contexts) are computed for the call.  2^17 covers Llama-3.2's 131072-token context;
 * a table grows by doubling only as far as the positions seen. */
#define ROPE_CACHE_MAX_POS ((int64_t)1 << 17)
#define ROPE_CACHE_MIN_POS 256

/* What the angles depend on.  The layout is not part of it (it only says which dims pair),
 * and the Llama-3 fields are zeroed when scaling is off, so equal frequency configs share. */
typedef struct rope_key {
  float theta;
  int rotary_dim;
  float factor, low_freq_factor, high_freq_factor;
  int original_max_positions;
} rope_key;

typedef struct rope_table {
  struct rope_table *next;
  rope_key key;
  int64_t n_pos;    /* rows for positions 0 .. n_pos-1 */
  float *cos, *sin; /* [n_pos, rotary_dim/2] */
} rope_table;

/* Process-wide cache.  Entries are immutable once published and live until process exit
 * (reachable from g_rope_tables, so leak checkers stay quiet); the memory is bounded by the
 * number of distinct configs times twice the largest position range used. */
static pthread_mutex_t g_rope_lock = PTHREAD_MUTEX_INITIALIZER;
static rope_table *g_rope_tables;
static int64_t g_rope_n_tables;

static int rope_key_equal(const rope_key *a, const rope_key *b) {
  return a->theta == b->theta && a->rotary_dim == b->rotary_dim && a->factor == b->factor &&
         a->low_freq_factor == b->low_freq_factor && a->high_freq_factor == b->high_freq_factor &&
         a->original_max_positions == b->original_max_positions;
}

/* inv_freq[i], i < rotary_dim/2, step by step as transformers evaluates it on float32 tensors:
 *   inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim))
 * and, for rope_type "llama3" (python scalars are cast to float32 by each tensor op;
 * `scalar / tensor` is `tensor.reciprocal() * scalar` in PyTorch):
 *   low_freq_wavelen  = old_context_len / low_freq_factor
 *   high_freq_wavelen = old_context_len / high_freq_factor
 *   wavelen = 2 * math.pi / inv_freq
 *   inv_freq_llama = where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
 *   smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
 *   smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
 *   is_medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen)
 *   inv_freq_llama = where(is_medium, smoothed, inv_freq_llama)
 * The power is taken in double and rounded once (PyTorch's float pow is within 1 ulp). */
static void rope_inv_freq(const rope_key *k, float *inv) {
  const int half = k->rotary_dim / 2;
  for (int i = 0; i < half; i++) {
    float exponent = (float)(2 * i) / (float)k->rotary_dim;
    float base_pow = (float)pow((double)k->theta, (double)exponent);
    inv[i] = 1.0f / base_pow;
  }
  if (k->factor == 0.0f) return;
  const float factor = k->factor, low = k->low_freq_factor, high = k->high_freq_factor;
  const double old_context_len = (double)k->original_max_positions;
  const float low_freq_wavelen = (float)(old_context_len / (double)low);
  const float high_freq_wavelen = (float)(old_context_len / (double)high);
  const float two_pi = (float)(2.0 * M_PI);
  const float smooth_den = (float)((double)high - (double)low);
  for (int i = 0; i < half; i++) {
    float wavelen = (1.0f / inv[i]) * two_pi;
    float llama = wavelen > low_freq_wavelen ? inv[i] / factor : inv[i];
    float smooth = ((1.0f / wavelen) * (float)old_context_len - low) / smooth_den;
    float smoothed = (1.0f - smooth) * llama / factor + smooth * llama;
    int is_medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    inv[i] = is_medium ? smoothed : llama;
  }
}

/* cos/sin of pos * inv_freq for one position into rows of `half` floats. */
static void rope_angles_at(const float *inv, int half, int64_t pos, float *cos_row,
                           float *sin_row) {
  for (int i = 0; i < half; i++) {
    float angle = (float)pos * inv[i];
    cos_row[i] = (float)cos((double)angle);
    sin_row[i] = (float)sin((double)angle);
  }
}

static rope_table *rope_table_build(const rope_key *key, int64_t n_pos) {
  const int half = key->rotary_dim / 2;
  rope_table *tb = calloc(1, sizeof *tb);
  float *inv = malloc((size_t)half * sizeof *inv);
  if (tb) {
    tb->cos = malloc((size_t)(n_pos * half) * sizeof(float));
    tb->sin = malloc((size_t)(n_pos * half) * sizeof(float));
  }
  if (!tb || !inv || !tb->cos || !tb->sin) {
    if (tb) {
      free(tb->cos);
      free(tb->sin);
    }
    free(tb);
    free(inv);
    return NULL;
  }
  tb->key = *key;
  tb->n_pos = n_pos;
  rope_inv_freq(key, inv);
  for (int64_t p = 0; p < n_pos; p++)
    rope_angles_at(inv, half, p, tb->cos + p * half, tb->sin + p * half);
  free(inv);
  return tb;
}

/* A cached table covering positions [0, need).  Built under the lock (a one-off cost). */
static lbbt_status rope_cache_get(const rope_key *key, int64_t need, const rope_table **out) {
  *out = NULL;
  lbbt_status st = LBBT_OK;
  pthread_mutex_lock(&g_rope_lock);
  for (rope_table *tb = g_rope_tables; tb; tb = tb->next)
    if (rope_key_equal(&tb->key, key) && tb->n_pos >= need) {
      *out = tb;
      break;
    }
  if (!*out) {
    int64_t n_pos = ROPE_CACHE_MIN_POS;
    while (n_pos < need) n_pos *= 2;
    rope_table *tb = rope_table_build(key, n_pos);
    if (!tb) {
      st = lbbt_fail(LBBT_E_NOMEM, "rope: cannot allocate cos/sin tables for %lld positions x %d",
                     (long long)n_pos, key->rotary_dim);
    } else {
      tb->next = g_rope_tables;
      g_rope_tables = tb;
      g_rope_n_tables++;
      *out = tb;
    }
  }
  pthread_mutex_unlock(&g_rope_lock);
  return st;
}

int64_t lbbt_rope_cache_count(void) {
  pthread_mutex_lock(&g_rope_lock);
  int64_t n = g_rope_n_tables;
  pthread_mutex_unlock(&g_rope_lock);
  return n;
}

/* cos/sin rows [T, half] for this call's positions, in the arena. */
static lbbt_status rope_gather(lbbt_tape *t, const rope_key *key, const int32_t *positions,
                               int64_t T, float **cos_out, float **sin_out) {
  const int half = key->rotary_dim / 2;
  float *cs = lbbt_tape_alloc(t, (size_t)(T * half) * sizeof(float));
  float *sn = lbbt_tape_alloc(t, (size_t)(T * half) * sizeof(float));
  if (!cs || !sn) return LBBT_E_NOMEM;
  int64_t need = 0, n_outside = 0;
  for (int64_t i = 0; i < T; i++) {
    int64_t p = positions ? positions[i] : i;
    if (p >= 0 && p < ROPE_CACHE_MAX_POS) {
      if (p + 1 > need) need = p + 1;
    } else {
      n_outside++;
    }
  }
  const rope_table *tb = NULL;
  if (need > 0) LBBT_TRY(rope_cache_get(key, need, &tb));
  float *inv = NULL;
  if (n_outside) {
    inv = lbbt_tape_alloc(t, (size_t)half * sizeof *inv);
    if (!inv) return LBBT_E_NOMEM;
    rope_inv_freq(key, inv);
  }
  for (int64_t i = 0; i < T; i++) {
    int64_t p = positions ? positions[i] : i;
    if (p >= 0 && p < ROPE_CACHE_MAX_POS) {
      memcpy(cs + i * half, tb->cos + p * half, (size_t)half * sizeof(float));
      memcpy(sn + i * half, tb->sin + p * half, (size_t)half * sizeof(float));
    } else {
      rope_angles_at(inv, half, p, cs + i * half, sn + i * half);
    }
  }
  *cos_out = cs;
  *sin_out = sn;
  return LBBT_OK;
}

typedef struct rope_ctx {
  const float *cos, *sin; /* [T, half], arena */
  lbbt_rope_layout layout;
  int64_t rows, T, D; /* rows = B*H*T */
  int half;
} rope_ctx;

/* Index of the two members of pair i in a head vector. */
static inline void rope_pair(lbbt_rope_layout layout, int half, int i, int *a, int *b) {
  if (layout == LBBT_ROPE_HALF) {
    *a = i;
    *b = i + half;
  } else {
    *a = 2 * i;
    *b = 2 * i + 1;
  }
}

static lbbt_status rope_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  (void)tape;
  const rope_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  if (!x->requires_grad) return LBBT_OK;
  const float *dy = rec->out->grad;
  float *dx = x->grad;
  const int64_t D = c->D, T = c->T;
  const int half = c->half, rd = 2 * half;
  /* The rotation is orthogonal, so the gradient is the rotation by -angle:
   *   dx_a = dy_a cos + dy_b sin,   dx_b = dy_b cos - dy_a sin. */
#pragma omp parallel for schedule(static) if (c->rows * D > 32768)
  for (int64_t r = 0; r < c->rows; r++) {
    const float *cs = c->cos + (r % T) * half, *sn = c->sin + (r % T) * half;
    const float *g = dy + r * D;
    float *dst = dx + r * D;
    for (int i = 0; i < half; i++) {
      int a, b;
      rope_pair(c->layout, half, i, &a, &b);
      dst[a] += g[a] * cs[i] + g[b] * sn[i];
      dst[b] += g[b] * cs[i] - g[a] * sn[i];
    }
    for (int64_t d = rd; d < D; d++) dst[d] += g[d];
  }
  return LBBT_OK;
}

lbbt_status lbbt_rope(lbbt_tape *t, lbbt_tensor *x, const lbbt_rope_config *cfg,
                      const int32_t *positions, lbbt_tensor **out) {
  *out = NULL;
  char sb[64];
  if (x->ndim != 4)
    return lbbt_fail(LBBT_E_SHAPE, "rope: x '%s' has shape %s; expected 4-D [B, H, T, D]",
                     x->name ? x->name : "?", lbbt_shape_str(x, sb, sizeof sb));
  if (!cfg) return lbbt_fail(LBBT_E_INPUT, "rope: no configuration given (cfg is NULL)");
  const int64_t T = x->shape[2], D = x->shape[3];
  const int64_t rd = cfg->rotary_dim ? cfg->rotary_dim : D;
  if (rd < 2 || rd > D || rd % 2)
    return lbbt_fail(LBBT_E_SHAPE,
                     "rope: rotary_dim %d does not fit x '%s' %s: it must be even and in "
                     "[2, D=%lld] (0 means D)",
                     cfg->rotary_dim, x->name ? x->name : "?", lbbt_shape_str(x, sb, sizeof sb),
                     (long long)D);
  if (cfg->layout != LBBT_ROPE_HALF && cfg->layout != LBBT_ROPE_INTERLEAVED)
    return lbbt_fail(LBBT_E_INPUT, "rope: unknown layout %d (LBBT_ROPE_HALF or "
                     "LBBT_ROPE_INTERLEAVED)", (int)cfg->layout);
  if (!(cfg->theta > 0.0f) || !isfinite(cfg->theta))
    return lbbt_fail(LBBT_E_INPUT, "rope: theta %g must be a positive finite base "
                     "(10000 for LLaMA-2, 500000 for Llama-3)", (double)cfg->theta);
  rope_key key = {cfg->theta, (int)rd, 0.0f, 0.0f, 0.0f, 0};
  if (cfg->llama3_factor != 0.0f) {
    if (!(cfg->llama3_factor > 0.0f) || !isfinite(cfg->llama3_factor) ||
        !(cfg->llama3_low_freq_factor > 0.0f) ||
        !(cfg->llama3_high_freq_factor > cfg->llama3_low_freq_factor) ||
        !isfinite(cfg->llama3_high_freq_factor) || cfg->llama3_original_max_positions < 1)
      return lbbt_fail(LBBT_E_INPUT,
                       "rope: llama3 scaling needs factor > 0, 0 < low_freq_factor < "
                       "high_freq_factor and original_max_position_embeddings >= 1; got factor "
                       "%g, low_freq_factor %g, high_freq_factor %g, original_max_position_"
                       "embeddings %d (factor 0 disables the scaling)",
                       (double)cfg->llama3_factor, (double)cfg->llama3_low_freq_factor,
                       (double)cfg->llama3_high_freq_factor, cfg->llama3_original_max_positions);
    key.factor = cfg->llama3_factor;
    key.low_freq_factor = cfg->llama3_low_freq_factor;
    key.high_freq_factor = cfg->llama3_high_freq_factor;
    key.original_max_positions = cfg->llama3_original_max_positions;
  }

  rope_ctx c = {NULL, NULL, cfg->layout, x->numel / D, T, D, (int)(rd / 2)};
  float *cs, *sn;
  LBBT_TRY(rope_gather(t, &key, positions, T, &cs, &sn));
  c.cos = cs;
  c.sin = sn;

  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, 4, x->shape, &y));
  const int half = c.half;
#pragma omp parallel for schedule(static) if (c.rows * D > 32768)
  for (int64_t r = 0; r < c.rows; r++) {
    const float *crow = cs + (r % T) * half, *srow = sn + (r % T) * half;
    const float *src = x->data + r * D;
    float *dst = y->data + r * D;
    for (int i = 0; i < half; i++) {
      int a, b;
      rope_pair(c.layout, half, i, &a, &b);
      float xa = src[a], xb = src[b];
      dst[a] = xa * crow[i] - xb * srow[i];
      dst[b] = xb * crow[i] + xa * srow[i];
    }
    for (int64_t d = rd; d < D; d++) dst[d] = src[d];
  }

  lbbt_tensor *inputs[1] = {x};
  LBBT_TRY(lbbt_tape_push(t, "rope", rope_backward, y, inputs, 1, &c, sizeof c));
  *out = y;
  return LBBT_OK;
}
