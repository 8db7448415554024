/* llama2.c checkpoints (.bin): legacy version 0 and "ak42" version 1; see checkpoint.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/ckpt_internal.h"
#include "lbbt/checkpoint.h"

#define LLAMA2C_MAGIC 0x616b3432u /* "ak42" read as a little-endian uint32 */
#define LLAMA2C_V0_HEADER 28      /* 7 x int32 */
#define LLAMA2C_V1_HEADER 256

/* The arrays of a file in storage order; counts in floats.  freq_cis (v0 only) is skipped. */
typedef enum {
  A_EMBED, A_RMS_ATT, A_WQ, A_WK, A_WV, A_WO, A_RMS_FFN, A_W1, A_W2, A_W3, A_RMS_FINAL,
  A_FREQ_REAL, A_FREQ_IMAG, A_WCLS, A_COUNT
} array_id;

static const char *const g_array_names[A_COUNT] = {
    "token_embedding_table", "rms_att_weight", "wq", "wk", "wv", "wo", "rms_ffn_weight",
    "w1", "w2", "w3", "rms_final_weight", "freq_cis_real", "freq_cis_imag", "wcls"};

static const array_id g_order_v0[] = {A_EMBED, A_RMS_ATT, A_WQ,        A_WK,         A_WV,
                                      A_WO,    A_RMS_FFN, A_W1,        A_W2,         A_W3,
                                      A_RMS_FINAL, A_FREQ_REAL, A_FREQ_IMAG, A_WCLS};
static const array_id g_order_v1[] = {A_RMS_ATT, A_RMS_FFN, A_RMS_FINAL, A_EMBED, A_WQ, A_WK,
                                      A_WV,      A_WO,      A_W1,        A_W2,    A_W3, A_WCLS};

/* Float counts of every array, with overflow checks.  Returns 0 on overflow or when a field is
 * not positive or n_heads does not divide dim (head_size is derived here, not trusted). */
static int array_counts(const lbbt_llama2c_config *c, int64_t n[A_COUNT]) {
  if (c->dim < 1 || c->hidden_dim < 1 || c->n_layers < 1 || c->n_heads < 1 ||
      c->n_kv_heads < 1 || c->vocab_size < 1 || c->seq_len < 1 || c->dim % c->n_heads != 0)
    return 0;
  int64_t L = c->n_layers, D = c->dim, H = c->hidden_dim, V = c->vocab_size;
  int64_t hs = c->dim / c->n_heads;
  int64_t q_rows = (int64_t)c->n_heads * hs, kv_rows = (int64_t)c->n_kv_heads * hs;
  int ok = 1;
#define MUL3(out, a, b, cc)                                                              \
  do {                                                                                   \
    int64_t t_;                                                                          \
    if (__builtin_mul_overflow((a), (b), &t_) || __builtin_mul_overflow(t_, (cc), &(out))) \
      ok = 0;                                                                            \
  } while (0)
  MUL3(n[A_EMBED], V, D, (int64_t)1);
  MUL3(n[A_RMS_ATT], L, D, (int64_t)1);
  MUL3(n[A_WQ], L, q_rows, D);
  MUL3(n[A_WK], L, kv_rows, D);
  MUL3(n[A_WV], L, kv_rows, D);
  MUL3(n[A_WO], L, D, q_rows);
  MUL3(n[A_RMS_FFN], L, D, (int64_t)1);
  MUL3(n[A_W1], L, H, D);
  MUL3(n[A_W2], L, D, H);
  MUL3(n[A_W3], L, H, D);
  n[A_RMS_FINAL] = D;
  MUL3(n[A_FREQ_REAL], (int64_t)c->seq_len, hs / 2, (int64_t)1);
  n[A_FREQ_IMAG] = n[A_FREQ_REAL];
  n[A_WCLS] = c->shared_classifier ? 0 : n[A_EMBED];
  if (c->version != 0) n[A_FREQ_REAL] = n[A_FREQ_IMAG] = 0;
#undef MUL3
  return ok;
}

static const array_id *storage_order(int version, int *len) {
  if (version == 0) {
    *len = (int)(sizeof g_order_v0 / sizeof *g_order_v0);
    return g_order_v0;
  }
  *len = (int)(sizeof g_order_v1 / sizeof *g_order_v1);
  return g_order_v1;
}

static int64_t header_bytes(int version) {
  return version == 0 ? LLAMA2C_V0_HEADER : LLAMA2C_V1_HEADER;
}

int64_t lbbt_llama2c_expected_size(const lbbt_llama2c_config *c) {
  int64_t n[A_COUNT];
  if (!array_counts(c, n)) return 0;
  int64_t total = header_bytes(c->version);
  for (int a = 0; a < A_COUNT; a++) {
    int64_t bytes;
    if (__builtin_mul_overflow(n[a], (int64_t)4, &bytes) ||
        __builtin_add_overflow(total, bytes, &total))
      return 0;
  }
  return total;
}

/* Each header field on its own: the message names the one that is wrong. */
static lbbt_status check_config(const char *path, const lbbt_llama2c_config *c) {
  const struct {
    const char *name;
    int value;
  } fields[] = {{"dim", c->dim},         {"hidden_dim", c->hidden_dim},
                {"n_layers", c->n_layers}, {"n_heads", c->n_heads},
                {"n_kv_heads", c->n_kv_heads}, {"vocab_size", c->vocab_size},
                {"seq_len", c->seq_len}};
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
    if (fields[i].value < 1)
      return lbbt_fail(LBBT_E_INPUT, "%s: llama2.c header field %s = %d must be >= 1; the file "
                       "is not a llama2.c checkpoint or its header is corrupt",
                       path, fields[i].name, fields[i].value);
  if (c->dim % c->n_heads != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: llama2.c header: dim = %d is not divisible by n_heads = "
                     "%d", path, c->dim, c->n_heads);
  if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: llama2.c header: n_kv_heads = %d must divide n_heads = "
                     "%d", path, c->n_kv_heads, c->n_heads);
  if ((c->dim / c->n_heads) % 2 != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: llama2.c header: head size dim/n_heads = %d is odd; RoPE "
                     "needs an even head size", path, c->dim / c->n_heads);
  return LBBT_OK;
}

/* Explain a size mismatch: which array the file ends inside (truncated), or by how much it is
 * too long, with the header values so the lying field can be spotted. */
static lbbt_status size_mismatch(const char *path, const lbbt_llama2c_config *c, int64_t expected,
                                 int64_t actual) {
  char hdr[256];
  snprintf(hdr, sizeof hdr,
           "dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab_size=%d%s "
           "seq_len=%d",
           c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size,
           c->shared_classifier ? " (shared classifier)" : " (unshared classifier)", c->seq_len);
  if (expected == 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: llama2.c header (%s) implies an impossibly large file; "
                     "the header is corrupt", path, hdr);
  if (actual < expected) {
    int64_t n[A_COUNT];
    array_counts(c, n);
    int len;
    const array_id *order = storage_order(c->version, &len);
    int64_t pos = header_bytes(c->version);
    const char *inside = "the header";
    for (int i = 0; i < len; i++) {
      if (pos + n[order[i]] * 4 > actual) {
        inside = g_array_names[order[i]];
        break;
      }
      pos += n[order[i]] * 4;
    }
    return lbbt_fail(LBBT_E_INPUT, "%s: file has %lld bytes but its llama2.c header (%s) implies "
                     "%lld; it ends inside field %s: the file is truncated or a header value "
                     "is wrong", path, (long long)actual, hdr, (long long)expected, inside);
  }
  /* Too long: a shared/unshared mix-up is the usual cause, say so when sizes fit exactly. */
  const char *hint = "";
  if (c->shared_classifier) {
    int64_t n[A_COUNT];
    array_counts(c, n); /* no overflow: expected != 0 summed these */
    if (actual - expected == n[A_EMBED] * 4)
      hint = " (exactly one more [vocab, dim] array: an unshared wcls, so vocab_size should be "
             "negative in a version-0 header)";
  }
  return lbbt_fail(LBBT_E_INPUT, "%s: file has %lld bytes but its llama2.c header (%s) implies "
                   "%lld: %lld bytes too many%s; a header value is wrong or this is not a "
                   "llama2.c checkpoint", path, (long long)actual, hdr, (long long)expected,
                   (long long)(actual - expected), hint);
}

void lbbt_llama2c_free(lbbt_llama2c *m) {
  if (!m) return;
  free(m->storage_);
  free(m);
}

static lbbt_status read_header(int fd, const char *path, uint64_t size, lbbt_llama2c_config *c) {
  memset(c, 0, sizeof *c);
  if (size < LLAMA2C_V0_HEADER)
    return lbbt_fail(LBBT_E_INPUT, "%s: file has %llu bytes, fewer than the %d-byte llama2.c "
                     "header", path, (unsigned long long)size, LLAMA2C_V0_HEADER);
  unsigned char h[LLAMA2C_V1_HEADER];
  size_t want = size < LLAMA2C_V1_HEADER ? (size_t)size : LLAMA2C_V1_HEADER;
  LBBT_TRY(lbbt_ckpt_pread(fd, h, want, 0, path, "the llama2.c header"));
  const unsigned char *p = h;
  if (lbbt_le32(h) == LLAMA2C_MAGIC) {
    if (size < LLAMA2C_V1_HEADER)
      return lbbt_fail(LBBT_E_INPUT, "%s: starts with the llama2.c magic \"ak42\" but has only "
                       "%llu bytes, fewer than the 256-byte header", path,
                       (unsigned long long)size);
    int32_t version = (int32_t)lbbt_le32(h + 4);
    if (version == 2)
      return lbbt_fail(LBBT_E_UNSUPPORTED, "%s: llama2.c version 2 (int8 Q8_0 quantized) export; "
                       "lbbt reads fp32 checkpoints only: re-export with "
                       "`python export.py --version 1` (or 0)", path);
    if (version != 1)
      return lbbt_fail(LBBT_E_INPUT, "%s: llama2.c header field version = %d is unknown (1 fp32 "
                       "and 2 int8 exist)", path, version);
    c->version = 1;
    p = h + 8;
  }
  int32_t v[7];
  for (int i = 0; i < 7; i++) v[i] = (int32_t)lbbt_le32(p + 4 * i);
  c->dim = v[0];
  c->hidden_dim = v[1];
  c->n_layers = v[2];
  c->n_heads = v[3];
  c->n_kv_heads = v[4];
  c->seq_len = v[6];
  if (c->version == 0) {
    /* run.c: a negative vocab_size flags an unshared classifier. */
    c->shared_classifier = v[5] > 0;
    c->vocab_size = v[5] == INT32_MIN ? 0 : (v[5] < 0 ? -v[5] : v[5]);
  } else {
    c->vocab_size = v[5];
    unsigned flag = h[36];
    if (flag > 1)
      return lbbt_fail(LBBT_E_INPUT, "%s: llama2.c header field shared_classifier = %u must be 0 "
                       "or 1", path, flag);
    c->shared_classifier = (int)flag;
  }
  LBBT_TRY(check_config(path, c));
  c->head_size = c->dim / c->n_heads;
  c->kv_dim = c->n_kv_heads * c->head_size;
  return LBBT_OK;
}

lbbt_status lbbt_llama2c_load(const char *path, lbbt_llama2c **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block: refused below */
  if (fd < 0)
    return lbbt_fail(errno == ENOENT || errno == EACCES ? LBBT_E_INPUT : LBBT_E_IO,
                     "%s: cannot open llama2.c checkpoint: %s", path, strerror(errno));
  lbbt_status s = LBBT_OK;
  lbbt_llama2c *m = NULL;
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    s = lbbt_fail(LBBT_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(sb.st_mode)) {
    s = lbbt_fail(LBBT_E_INPUT, "%s: not a regular file", path);
    goto done;
  }
  lbbt_llama2c_config cfg;
  if ((s = read_header(fd, path, (uint64_t)sb.st_size, &cfg)) != LBBT_OK) goto done;
  int64_t expected = lbbt_llama2c_expected_size(&cfg);
  if (expected != (int64_t)sb.st_size) {
    s = size_mismatch(path, &cfg, expected, (int64_t)sb.st_size);
    goto done;
  }
  m = calloc(1, sizeof *m);
  int64_t hb = header_bytes(cfg.version), body = expected - hb;
  if (m) m->storage_ = malloc(body > 0 ? (size_t)body : 1);
  if (!m || !m->storage_) {
    s = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory for %lld bytes of weights", path,
                  (long long)body);
    goto done;
  }
  m->cfg = cfg;
  snprintf(m->path, sizeof m->path, "%s", path);
  if ((s = lbbt_ckpt_pread(fd, m->storage_, (size_t)body, (uint64_t)hb, path, "the weights")) !=
      LBBT_OK)
    goto done;
  if (!LBBT_HOST_LITTLE_ENDIAN) {
    uint32_t *w = (uint32_t *)m->storage_;
    for (int64_t i = 0; i < body / 4; i++) w[i] = lbbt_le32((const unsigned char *)&w[i]);
  }
  int64_t n[A_COUNT];
  array_counts(&cfg, n);
  float *arrays[A_COUNT] = {0};
  int len;
  const array_id *order = storage_order(cfg.version, &len);
  int64_t pos = 0;
  for (int i = 0; i < len; i++) {
    arrays[order[i]] = m->storage_ + pos;
    pos += n[order[i]];
  }
  m->token_embedding_table = arrays[A_EMBED];
  m->rms_att_weight = arrays[A_RMS_ATT];
  m->wq = arrays[A_WQ];
  m->wk = arrays[A_WK];
  m->wv = arrays[A_WV];
  m->wo = arrays[A_WO];
  m->rms_ffn_weight = arrays[A_RMS_FFN];
  m->w1 = arrays[A_W1];
  m->w2 = arrays[A_W2];
  m->w3 = arrays[A_W3];
  m->rms_final_weight = arrays[A_RMS_FINAL];
  m->wcls = cfg.shared_classifier ? m->token_embedding_table : arrays[A_WCLS];
  *out = m;
  m = NULL;
done:
  lbbt_llama2c_free(m);
  close(fd);
  return s;
}

/* ---- Hugging Face names ---------------------------------------------------------------- */
#define PER_LAYER 9

int lbbt_llama2c_count(const lbbt_llama2c *m) {
  return 2 + PER_LAYER * m->cfg.n_layers + (m->cfg.shared_classifier ? 0 : 1);
}

static void set_view(lbbt_named_f32 *o, const float *data, int64_t rows, int64_t cols) {
  o->data = data;
  o->ndim = cols ? 2 : 1;
  o->shape[0] = rows;
  o->shape[1] = cols;
  o->numel = cols ? rows * cols : rows;
}

lbbt_status lbbt_llama2c_tensor(const lbbt_llama2c *m, int i, lbbt_named_f32 *o) {
  const lbbt_llama2c_config *c = &m->cfg;
  int64_t D = c->dim, H = c->hidden_dim, Q = (int64_t)c->n_heads * c->head_size, KV = c->kv_dim;
  memset(o, 0, sizeof *o);
  if (i < 0 || i >= lbbt_llama2c_count(m))
    return lbbt_fail(LBBT_E_INTERNAL, "llama2c_tensor: index %d outside 0..%d", i,
                     lbbt_llama2c_count(m) - 1);
  if (i == 0) {
    snprintf(o->name, sizeof o->name, "model.embed_tokens.weight");
    set_view(o, m->token_embedding_table, c->vocab_size, D);
    return LBBT_OK;
  }
  int k = i - 1;
  if (k < PER_LAYER * c->n_layers) {
    int64_t l = k / PER_LAYER;
    static const char *const names[PER_LAYER] = {
        "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
        "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
        "mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"};
    int which = k % PER_LAYER;
    snprintf(o->name, sizeof o->name, "model.layers.%lld.%s", (long long)l, names[which]);
    switch (which) {
      case 0: set_view(o, m->rms_att_weight + l * D, D, 0); break;
      case 1: set_view(o, m->wq + l * Q * D, Q, D); break;
      case 2: set_view(o, m->wk + l * KV * D, KV, D); break;
      case 3: set_view(o, m->wv + l * KV * D, KV, D); break;
      case 4: set_view(o, m->wo + l * D * Q, D, Q); break;
      case 5: set_view(o, m->rms_ffn_weight + l * D, D, 0); break;
      case 6: set_view(o, m->w1 + l * H * D, H, D); break;
      case 7: set_view(o, m->w2 + l * D * H, D, H); break;
      default: set_view(o, m->w3 + l * H * D, H, D); break;
    }
    return LBBT_OK;
  }
  if (k == PER_LAYER * c->n_layers) {
    snprintf(o->name, sizeof o->name, "model.norm.weight");
    set_view(o, m->rms_final_weight, D, 0);
    return LBBT_OK;
  }
  snprintf(o->name, sizeof o->name, "lm_head.weight");
  set_view(o, m->wcls, c->vocab_size, D);
  return LBBT_OK;
}

/* The index lbbt_llama2c_tensor gives `name`, computed from the name itself (a loader looks
 * every tensor up once: scanning made loading quadratic in the layer count); -1 if none. */
static int index_of(const lbbt_llama2c *m, const char *name) {
  static const char *const names[PER_LAYER] = {
      "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
      "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
      "mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"};
  if (!strcmp(name, "model.embed_tokens.weight")) return 0;
  if (!strcmp(name, "model.norm.weight")) return 1 + PER_LAYER * m->cfg.n_layers;
  if (!strcmp(name, "lm_head.weight"))
    return m->cfg.shared_classifier ? -1 : 2 + PER_LAYER * m->cfg.n_layers;
  const char *p = name + strlen("model.layers.");
  if (strncmp(name, "model.layers.", strlen("model.layers.")) || *p < '0' || *p > '9' ||
      (*p == '0' && p[1] != '.'))
    return -1;
  int64_t layer = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    layer = layer * 10 + (*p - '0');
    if (layer >= m->cfg.n_layers) return -1;
  }
  if (*p++ != '.') return -1;
  for (int w = 0; w < PER_LAYER; w++)
    if (!strcmp(p, names[w])) return 1 + PER_LAYER * (int)layer + w;
  return -1;
}

lbbt_status lbbt_llama2c_find(const lbbt_llama2c *m, const char *name, lbbt_named_f32 *out) {
  int at = index_of(m, name);
  if (at >= 0) return lbbt_llama2c_tensor(m, at, out);
  /* Not there: the scan below only builds the "nearest" hint of the error message. */
  int n = lbbt_llama2c_count(m);
  const char *best = NULL;
  int best_d = 1 << 30;
  lbbt_named_f32 cand;
  char best_name[96];
  for (int i = 0; i < n; i++) {
    LBBT_TRY(lbbt_llama2c_tensor(m, i, &cand));
    if (strcmp(cand.name, name) == 0) {
      *out = cand;
      return LBBT_OK;
    }
    int d = lbbt_edit_distance(name, cand.name);
    if (d < best_d) {
      best_d = d;
      snprintf(best_name, sizeof best_name, "%s", cand.name);
      best = best_name;
    }
  }
  return lbbt_fail(LBBT_E_INPUT, "%s: no weight named '%s' in this llama2.c checkpoint "
                   "(nearest: '%s'%s)", m->path, name, best ? best : "?",
                   strcmp(name, "lm_head.weight") == 0 ? "; the classifier is shared with "
                   "model.embed_tokens.weight" : "");
}
