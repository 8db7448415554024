/* Optimizers, schedules, clipping and gradient checks (core/src/optim/).
 *
 * AdamW and SGD are compared with independent double-precision implementations of the
 * textbook formulas (Loshchilov & Hutter; PyTorch's SGD docs), and with closed forms for
 * constant gradients.  Gradients are prescribed sequences, so both sides see the same ones. */
#include <omp.h>

#include "lbbt/model.h"
#include "lbbt/optim.h"
#include "lbbt/param_init.h"
#include "lbbt/rng.h"
#include "lbbt/spec.h"
#include "test.h"

/* f32 updates against double references over a few steps of size ~lr. */
static const double UPDATE_ATOL = 2e-6;
static const double UPDATE_RTOL = 2e-6;
/* Schedules are computed in double. */
static const double SCHEDULE_TOL = 1e-12;
/* Clipped grads are f32; the norm is summed in double. */
static const double CLIP_RTOL = 1e-6;
/* The y = W x fit must recover W to this max-abs error. */
static const double FIT_TOL = 1e-4;

#define N_ELEM 5
enum { N_STEPS = 6 };

/* A heap parameter [n] with grad, values v[i]. */
static lbbt_tensor *make_param(int64_t n, const double *v) {
  lbbt_tensor *t = NULL;
  if (lbbt_tensor_create(&t, 1, &n) != LBBT_OK) return NULL;
  if (lbbt_tensor_require_grad(t) != LBBT_OK) {
    lbbt_tensor_free(t);
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) t->data[i] = v ? (float)v[i] : 0.0f;
  return t;
}

/* The prescribed gradient of element i at step s (1-based): varied signs and magnitudes. */
static double grad_at(int i, int s, double scale) { return scale * sin(1.3 * i + 0.7 * s + 0.2); }
/* A learning rate that changes every step, so a stale lr would show. */
static double lr_at_step(double base, int s) { return base * (1.0 + 0.25 * (s % 3)); }

static const double P0[N_ELEM] = {0.5, -1.25, 2.0, 0.0, -0.75};

/* ---- AdamW ---------------------------------------------------------------------------- */
typedef struct adamw_ref {
  double lr, beta1, beta2, eps, wd;
} adamw_ref;

/* Decoupled decay, then bias-corrected moments with eps outside the square root. */
static void adamw_ref_step(const adamw_ref *c, double lr, int t, double *p, double *m, double *v,
                           const double *g, int no_decay) {
  for (int i = 0; i < N_ELEM; i++) {
    p[i] *= 1.0 - lr * (no_decay ? 0.0 : c->wd);
    m[i] = c->beta1 * m[i] + (1 - c->beta1) * g[i];
    v[i] = c->beta2 * v[i] + (1 - c->beta2) * g[i] * g[i];
    double m_hat = m[i] / (1 - pow(c->beta1, t)), v_hat = v[i] / (1 - pow(c->beta2, t));
    p[i] -= lr * m_hat / (sqrt(v_hat) + c->eps);
  }
}

/* Runs N_STEPS of lbbt AdamW and the reference with the same gradients and lrs. */
static void check_adamw_against_reference(const adamw_ref *ref, double grad_scale) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_ADAMW);
  cfg.lr = ref->lr;
  cfg.beta1 = ref->beta1;
  cfg.beta2 = ref->beta2;
  cfg.eps = ref->eps;
  cfg.weight_decay = ref->wd;
  lbbt_tensor *w = make_param(N_ELEM, P0), *b = make_param(N_ELEM, P0);
  lbbt_optim *o = NULL;
  REQUIRE(w && b, "alloc");
  REQUIRE(lbbt_optim_create(&o, &cfg) == LBBT_OK, "create: %s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "w", w, 0) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "b", b, 1) == LBBT_OK, "%s", lbbt_last_error());
  double pw[N_ELEM], mw[N_ELEM] = {0}, vw[N_ELEM] = {0};
  double pb[N_ELEM], mb[N_ELEM] = {0}, vb[N_ELEM] = {0};
  memcpy(pw, P0, sizeof pw);
  memcpy(pb, P0, sizeof pb);
  for (int s = 1; s <= N_STEPS; s++) {
    double g[N_ELEM], lr = lr_at_step(ref->lr, s);
    for (int i = 0; i < N_ELEM; i++) {
      g[i] = grad_at(i, s, grad_scale);
      w->grad[i] = b->grad[i] = (float)g[i];
    }
    lbbt_optim_set_lr(o, lr);
    CHECK(lbbt_optim_step(o) == LBBT_OK, "step: %s", lbbt_last_error());
    adamw_ref_step(ref, lr, s, pw, mw, vw, g, 0);
    adamw_ref_step(ref, lr, s, pb, mb, vb, g, 1);
    for (int i = 0; i < N_ELEM; i++) {
      CHECK_CLOSE(w->data[i], pw[i], UPDATE_ATOL, UPDATE_RTOL, "adamw decayed param");
      CHECK_CLOSE(b->data[i], pb[i], UPDATE_ATOL, UPDATE_RTOL, "adamw no_decay param");
    }
  }
  lbbt_optim_free(o);
  lbbt_tensor_free(w);
  lbbt_tensor_free(b);
}

static void adamw_matches_reference(void) {
  const adamw_ref ref = {0.1, 0.9, 0.999, 1e-8, 0.1};
  check_adamw_against_reference(&ref, 1.0);
}

/* eps comparable to sqrt(v_hat): placing eps inside the sqrt or before the bias correction
 * of v (the Adam paper's "eps hat" variant) would give a different trajectory. */
static void adamw_eps_outside_bias_corrected_sqrt(void) {
  const adamw_ref ref = {0.05, 0.8, 0.99, 1e-2, 0.3};
  check_adamw_against_reference(&ref, 1e-2);
}

/* Constant gradient g, no decay: m_hat = g and v_hat = g^2 exactly, so every step moves
 * p by -lr * g / (|g| + eps) and p_t = p_0 - t * lr * g / (|g| + eps). */
static void adamw_constant_gradient_closed_form(void) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_ADAMW);
  cfg.lr = 0.01;
  cfg.eps = 0.05;
  cfg.weight_decay = 0;
  const double g[N_ELEM] = {0.2, -0.05, 1.0, 0.01, -3.0};
  lbbt_tensor *w = make_param(N_ELEM, P0);
  lbbt_optim *o = NULL;
  REQUIRE(w && lbbt_optim_create(&o, &cfg) == LBBT_OK, "create: %s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "w", w, 0) == LBBT_OK, "%s", lbbt_last_error());
  for (int t = 1; t <= N_STEPS; t++) {
    for (int i = 0; i < N_ELEM; i++) w->grad[i] = (float)g[i];
    REQUIRE(lbbt_optim_step(o) == LBBT_OK, "%s", lbbt_last_error());
    for (int i = 0; i < N_ELEM; i++)
      CHECK_CLOSE(w->data[i], P0[i] - t * cfg.lr * g[i] / (fabs(g[i]) + cfg.eps), UPDATE_ATOL,
                  UPDATE_RTOL, "closed form");
  }
  lbbt_optim_free(o);
  lbbt_tensor_free(w);
}

/* Zero gradient: the moments stay 0, so only decay acts: p_t = p_0 (1 - lr wd)^t, and a
 * no_decay parameter does not move at all. */
static void adamw_decay_is_decoupled_and_no_decay_respected(void) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_ADAMW);
  cfg.lr = 0.1;
  cfg.weight_decay = 0.5;
  lbbt_tensor *w = make_param(N_ELEM, P0), *n = make_param(N_ELEM, P0);
  lbbt_optim *o = NULL;
  REQUIRE(w && n && lbbt_optim_create(&o, &cfg) == LBBT_OK, "create: %s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "h.0.attn.weight", w, 0) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "h.0.ln_1.weight", n, 1) == LBBT_OK, "%s", lbbt_last_error());
  for (int t = 1; t <= N_STEPS; t++) {
    REQUIRE(lbbt_optim_step(o) == LBBT_OK, "%s", lbbt_last_error());
    for (int i = 0; i < N_ELEM; i++) {
      CHECK_CLOSE(w->data[i], P0[i] * pow(1 - cfg.lr * cfg.weight_decay, t), UPDATE_ATOL,
                  UPDATE_RTOL, "decayed");
      CHECK(n->data[i] == (float)P0[i], "no_decay param moved: %g -> %g", P0[i],
            (double)n->data[i]);
    }
  }
  lbbt_optim_free(o);
  lbbt_tensor_free(w);
  lbbt_tensor_free(n);
}

/* ---- SGD ------------------------------------------------------------------------------ */
typedef struct sgd_ref {
  double lr, momentum, dampening, wd;
  int nesterov;
} sgd_ref;

static void sgd_ref_step(const sgd_ref *c, double lr, int t, double *p, double *buf,
                         const double *grad, int no_decay) {
  for (int i = 0; i < N_ELEM; i++) {
    double d = grad[i] + (no_decay ? 0.0 : c->wd) * p[i];
    if (c->momentum != 0) {
      buf[i] = t == 1 ? d : c->momentum * buf[i] + (1 - c->dampening) * d;
      d = c->nesterov ? d + c->momentum * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
}

static void check_sgd_against_reference(const sgd_ref *ref) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_SGD);
  cfg.lr = ref->lr;
  cfg.momentum = ref->momentum;
  cfg.dampening = ref->dampening;
  cfg.nesterov = ref->nesterov;
  cfg.weight_decay = ref->wd;
  lbbt_tensor *w = make_param(N_ELEM, P0), *b = make_param(N_ELEM, P0);
  lbbt_optim *o = NULL;
  REQUIRE(w && b, "alloc");
  REQUIRE(lbbt_optim_create(&o, &cfg) == LBBT_OK, "create: %s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "w", w, 0) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "b", b, 1) == LBBT_OK, "%s", lbbt_last_error());
  double pw[N_ELEM], bw[N_ELEM] = {0}, pb[N_ELEM], bb[N_ELEM] = {0};
  memcpy(pw, P0, sizeof pw);
  memcpy(pb, P0, sizeof pb);
  for (int s = 1; s <= N_STEPS; s++) {
    double g[N_ELEM], lr = lr_at_step(ref->lr, s);
    for (int i = 0; i < N_ELEM; i++) {
      g[i] = grad_at(i, s, 1.0);
      w->grad[i] = b->grad[i] = (float)g[i];
    }
    lbbt_optim_set_lr(o, lr);
    CHECK(lbbt_optim_step(o) == LBBT_OK, "step: %s", lbbt_last_error());
    sgd_ref_step(ref, lr, s, pw, bw, g, 0);
    sgd_ref_step(ref, lr, s, pb, bb, g, 1);
    for (int i = 0; i < N_ELEM; i++) {
      CHECK_CLOSE(w->data[i], pw[i], UPDATE_ATOL, UPDATE_RTOL, "sgd decayed param");
      CHECK_CLOSE(b->data[i], pb[i], UPDATE_ATOL, UPDATE_RTOL, "sgd no_decay param");
    }
  }
  lbbt_optim_free(o);
  lbbt_tensor_free(w);
  lbbt_tensor_free(b);
}

static void sgd_momentum_matches_reference(void) {
  const sgd_ref ref = {0.05, 0.9, 0.0, 0.1, 0};
  check_sgd_against_reference(&ref);
}
static void sgd_nesterov_matches_reference(void) {
  const sgd_ref ref = {0.05, 0.9, 0.0, 0.1, 1};
  check_sgd_against_reference(&ref);
}
static void sgd_dampening_matches_reference(void) {
  const sgd_ref ref = {0.05, 0.5, 0.3, 0.0, 0};
  check_sgd_against_reference(&ref);
}
static void sgd_plain_matches_reference(void) {
  const sgd_ref ref = {0.1, 0.0, 0.0, 0.2, 0};
  check_sgd_against_reference(&ref);
}

/* Constant g, momentum mu, no decay: buf_k = g (mu^(k-1) + (1-mu^(k-1)) / (1-mu)), and
 * p_t = p_0 - lr * sum_{k<=t} buf_k. */
static void sgd_momentum_constant_gradient_closed_form(void) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_SGD);
  cfg.lr = 0.02;
  cfg.momentum = 0.9;
  const double g[N_ELEM] = {1.0, -2.0, 0.5, 0.0, 3.0};
  lbbt_tensor *w = make_param(N_ELEM, P0);
  lbbt_optim *o = NULL;
  REQUIRE(w && lbbt_optim_create(&o, &cfg) == LBBT_OK, "create: %s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(o, "w", w, 0) == LBBT_OK, "%s", lbbt_last_error());
  double mu = cfg.momentum, sum_buf = 0;
  for (int t = 1; t <= N_STEPS; t++) {
    for (int i = 0; i < N_ELEM; i++) w->grad[i] = (float)g[i];
    REQUIRE(lbbt_optim_step(o) == LBBT_OK, "%s", lbbt_last_error());
    sum_buf += pow(mu, t - 1) + (1 - pow(mu, t - 1)) / (1 - mu);
    for (int i = 0; i < N_ELEM; i++)
      CHECK_CLOSE(w->data[i], P0[i] - cfg.lr * g[i] * sum_buf, UPDATE_ATOL, UPDATE_RTOL,
                  "sgd closed form");
  }
  lbbt_optim_free(o);
  lbbt_tensor_free(w);
}

static void config_rejects_bad_values(void) {
  lbbt_optim_config c;
  lbbt_optim *o = NULL;
  lbbt_optim_config_default(&c, LBBT_OPT_ADAMW);
  c.beta1 = 1.0;
  CHECK(lbbt_optim_create(&o, &c) == LBBT_E_INPUT && !o, "beta1 = 1 accepted");
  CHECK(strstr(lbbt_last_error(), "betas"), "message: %s", lbbt_last_error());
  lbbt_optim_config_default(&c, LBBT_OPT_ADAMW);
  c.lr = -1;
  CHECK(lbbt_optim_create(&o, &c) == LBBT_E_INPUT, "negative lr accepted");
  lbbt_optim_config_default(&c, LBBT_OPT_SGD);
  c.nesterov = 1; /* momentum 0 */
  CHECK(lbbt_optim_create(&o, &c) == LBBT_E_INPUT, "nesterov without momentum accepted");
  lbbt_optim_config_default(&c, LBBT_OPT_SGD);
  c.momentum = 0.9;
  CHECK(lbbt_optim_create(&o, &c) == LBBT_OK, "valid sgd refused: %s", lbbt_last_error());
  lbbt_optim_free(o);
}

static void config_from_stage(void) {
  lbbt_stage_spec st;
  memset(&st, 0, sizeof st);
  st.optimizer = LBBT_OPT_SGD;
  st.lr = 0.3;
  st.weight_decay = 1e-4;
  st.momentum = 0.8;
  lbbt_optim_config c;
  lbbt_optim_config_from_stage(&c, &st);
  CHECK(c.kind == LBBT_OPT_SGD && c.lr == 0.3 && c.weight_decay == 1e-4 && c.momentum == 0.8,
        "sgd config from stage");
  st.optimizer = LBBT_OPT_ADAMW;
  lbbt_optim_config_from_stage(&c, &st);
  CHECK(c.kind == LBBT_OPT_ADAMW && c.momentum == 0 && c.beta1 == 0.9 && c.beta2 == 0.999 &&
            c.eps == 1e-8,
        "adamw config from stage keeps PyTorch's betas and eps");
}

/* ---- frozen parameters ---------------------------------------------------------------- */
static void frozen_params_do_not_move(void) {
  lbbt_model *m = NULL;
  REQUIRE(lbbt_model_create(&m, NULL, "bag") == LBBT_OK, "%s", lbbt_last_error());
  m->n_layers = 2;
  lbbt_tensor *b0 = NULL, *b1 = NULL, *head = NULL;
  const int64_t shape[1] = {N_ELEM};
  REQUIRE(lbbt_model_add_param(m, "h.0.w", LBBT_PART_BLOCK, 0, 0, 1, shape, &b0) == LBBT_OK, "add");
  REQUIRE(lbbt_model_add_param(m, "h.1.w", LBBT_PART_BLOCK, 1, 0, 1, shape, &b1) == LBBT_OK, "add");
  REQUIRE(lbbt_model_add_param(m, "head.w", LBBT_PART_HEAD, 0, 0, 1, shape, &head) == LBBT_OK,
          "add");
  for (int i = 0; i < N_ELEM; i++) b0->data[i] = b1->data[i] = head->data[i] = (float)P0[i];
  const lbbt_layer_range last1 = {LBBT_LAYERS_LAST, 1, 0, 0};
  REQUIRE(lbbt_model_select_trainable(m, &last1, 0, 1) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_ADAMW);
  cfg.weight_decay = 0.5; /* decay alone would move a frozen parameter if it were stepped */
  lbbt_optim *o = NULL;
  REQUIRE(lbbt_optim_create_for_model(&o, &cfg, m) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(lbbt_optim_param_count(o) == 2, "optimizer holds %d params, want 2 (h.1.w, head.w)",
        lbbt_optim_param_count(o));
  CHECK(b0->grad == NULL && !b0->requires_grad, "frozen block keeps a grad");
  /* Freeze the head after the optimizer was made: step() must skip it. */
  for (int i = 0; i < N_ELEM; i++) b1->grad[i] = head->grad[i] = 1.0f;
  CHECK(lbbt_model_set_trainable_pattern(m, "head.*", 0) == 1, "pattern matched != 1");
  REQUIRE(lbbt_optim_step(o) == LBBT_OK, "%s", lbbt_last_error());
  for (int i = 0; i < N_ELEM; i++) {
    CHECK(b0->data[i] == (float)P0[i], "frozen block moved");
    CHECK(head->data[i] == (float)P0[i], "head frozen after create moved");
    CHECK(b1->data[i] != (float)P0[i], "trainable block did not move");
  }
  lbbt_optim_state st;
  REQUIRE(lbbt_optim_state_at(o, 3, &st) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(strcmp(st.name, "step.head.w") == 0 && *(int64_t *)st.data == 0,
        "skipped param's step: %s = %lld", st.name, (long long)*(int64_t *)st.data);
  lbbt_optim_free(o);
  lbbt_model_free(m);
}

/* ---- state save / load ---------------------------------------------------------------- */
typedef struct saved_state {
  char name[160];
  lbbt_state_dtype dtype;
  int64_t numel;
  unsigned char bytes[N_ELEM * sizeof(float) + sizeof(int64_t)];
} saved_state;

static void fill_grads(lbbt_tensor *w, int s) {
  for (int i = 0; i < N_ELEM; i++) w->grad[i] = (float)grad_at(i, s, 1.0);
}

/* Run 3 steps, save, then (a) continue 3 steps, (b) restore into a fresh optimizer and
 * parameter copy and do the same 3 steps: bit-identical parameters. */
static void check_resume_bit_exact(lbbt_optimizer_kind kind, const char *want_first_moment) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, kind);
  cfg.lr = 0.05;
  cfg.momentum = kind == LBBT_OPT_SGD ? 0.9 : 0.0;
  lbbt_tensor *a = make_param(N_ELEM, P0), *b = make_param(N_ELEM, NULL);
  lbbt_optim *oa = NULL, *ob = NULL;
  REQUIRE(a && b, "alloc");
  REQUIRE(lbbt_optim_create(&oa, &cfg) == LBBT_OK && lbbt_optim_create(&ob, &cfg) == LBBT_OK,
          "%s", lbbt_last_error());
  REQUIRE(lbbt_optim_add_param(oa, "h.0.attn.c_attn.weight", a, 0) == LBBT_OK, "add");
  REQUIRE(lbbt_optim_add_param(ob, "h.0.attn.c_attn.weight", b, 0) == LBBT_OK, "add");
  for (int s = 1; s <= 3; s++) {
    fill_grads(a, s);
    REQUIRE(lbbt_optim_step(oa) == LBBT_OK, "%s", lbbt_last_error());
  }
  int n = lbbt_optim_state_count(oa);
  REQUIRE(n == (kind == LBBT_OPT_ADAMW ? 3 : 2), "state count %d", n);
  saved_state saved[3];
  for (int i = 0; i < n; i++) {
    lbbt_optim_state s;
    REQUIRE(lbbt_optim_state_at(oa, i, &s) == LBBT_OK, "%s", lbbt_last_error());
    snprintf(saved[i].name, sizeof saved[i].name, "%s", s.name);
    saved[i].dtype = s.dtype;
    saved[i].numel = s.numel;
    memcpy(saved[i].bytes, s.data,
           (size_t)s.numel * (s.dtype == LBBT_STATE_F32 ? sizeof(float) : sizeof(int64_t)));
  }
  CHECK(strcmp(saved[0].name, "step.h.0.attn.c_attn.weight") == 0, "name %s", saved[0].name);
  CHECK(strcmp(saved[1].name, want_first_moment) == 0, "name %s", saved[1].name);
  memcpy(b->data, a->data, N_ELEM * sizeof(float));
  for (int i = 0; i < n; i++)
    REQUIRE(lbbt_optim_state_load(ob, saved[i].name, saved[i].dtype, saved[i].bytes,
                                  saved[i].numel) == LBBT_OK,
            "load %s: %s", saved[i].name, lbbt_last_error());
  for (int s = 4; s <= 6; s++) {
    fill_grads(a, s);
    fill_grads(b, s);
    REQUIRE(lbbt_optim_step(oa) == LBBT_OK && lbbt_optim_step(ob) == LBBT_OK, "step");
  }
  CHECK(memcmp(a->data, b->data, N_ELEM * sizeof(float)) == 0, "resumed run differs");
  lbbt_optim_state s0;
  REQUIRE(lbbt_optim_state_at(oa, 0, &s0) == LBBT_OK, "state_at");
  CHECK(*(int64_t *)s0.data == 6, "step count %lld, want 6", (long long)*(int64_t *)s0.data);
  /* Wrong name and wrong size are input errors naming the state. */
  CHECK(lbbt_optim_state_load(ob, "exp_avg.nope", LBBT_STATE_F32, saved[1].bytes, N_ELEM) ==
            LBBT_E_INPUT,
        "unknown state name accepted");
  CHECK(strstr(lbbt_last_error(), "exp_avg.nope"), "message: %s", lbbt_last_error());
  CHECK(lbbt_optim_state_load(ob, saved[1].name, LBBT_STATE_F32, saved[1].bytes, N_ELEM - 1) ==
            LBBT_E_INPUT,
        "short state accepted");
  lbbt_optim_free(oa);
  lbbt_optim_free(ob);
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
}

static void adamw_resume_is_bit_exact(void) {
  check_resume_bit_exact(LBBT_OPT_ADAMW, "exp_avg.h.0.attn.c_attn.weight");
}
static void sgd_resume_is_bit_exact(void) {
  check_resume_bit_exact(LBBT_OPT_SGD, "momentum_buffer.h.0.attn.c_attn.weight");
}

/* Continuing without the saved moments gives other parameters, so the bit-exact resume
 * comparisons above can fail. */
static void resume_without_state_differs(void) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_ADAMW);
  lbbt_tensor *a = make_param(N_ELEM, P0), *b = make_param(N_ELEM, P0);
  lbbt_optim *oa = NULL, *ob = NULL;
  REQUIRE(a && b && lbbt_optim_create(&oa, &cfg) == LBBT_OK &&
              lbbt_optim_create(&ob, &cfg) == LBBT_OK,
          "create");
  REQUIRE(lbbt_optim_add_param(oa, "w", a, 0) == LBBT_OK && lbbt_optim_add_param(ob, "w", b, 0) ==
              LBBT_OK, "add");
  fill_grads(a, 1);
  REQUIRE(lbbt_optim_step(oa) == LBBT_OK, "step");
  memcpy(b->data, a->data, N_ELEM * sizeof(float));
  fill_grads(a, 2);
  fill_grads(b, 2);
  REQUIRE(lbbt_optim_step(oa) == LBBT_OK && lbbt_optim_step(ob) == LBBT_OK, "step");
  CHECK(memcmp(a->data, b->data, N_ELEM * sizeof(float)) != 0,
        "continuing without the moments gave the same parameters");
  lbbt_optim_free(oa);
  lbbt_optim_free(ob);
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
}

/* ---- schedules ------------------------------------------------------------------------ */
static void cosine_schedule_key_steps(void) {
  const lbbt_lr_schedule s = {LBBT_SCHEDULE_COSINE, 1e-3, 1e-5, 10, 110};
  REQUIRE(lbbt_lr_schedule_check(&s) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(lbbt_lr_at(&s, 0), 0.0, SCHEDULE_TOL, 0, "step 0 (warm-up starts at 0)");
  CHECK_CLOSE(lbbt_lr_at(&s, 5), 0.5e-3, SCHEDULE_TOL, 0, "middle of warm-up");
  CHECK_CLOSE(lbbt_lr_at(&s, 10), 1e-3, SCHEDULE_TOL, 0, "end of warm-up = base");
  CHECK_CLOSE(lbbt_lr_at(&s, 60), (1e-3 + 1e-5) / 2, SCHEDULE_TOL, 0, "middle of cosine");
  /* A quarter of the way: min + (base-min) (1 + cos(pi/4)) / 2. */
  CHECK_CLOSE(lbbt_lr_at(&s, 35), 1e-5 + (1e-3 - 1e-5) * (1 + sqrt(0.5)) / 2, SCHEDULE_TOL, 0,
              "quarter of cosine");
  CHECK_CLOSE(lbbt_lr_at(&s, 110), 1e-5, SCHEDULE_TOL, 0, "end = min_lr");
  CHECK_CLOSE(lbbt_lr_at(&s, 500), 1e-5, SCHEDULE_TOL, 0, "past the end stays at min_lr");
  for (int64_t i = 11; i <= 110; i++)
    CHECK(lbbt_lr_at(&s, i) < lbbt_lr_at(&s, i - 1), "cosine not decreasing at %lld",
          (long long)i);
  const lbbt_lr_schedule nw = {LBBT_SCHEDULE_COSINE, 2.0, 0.0, 0, 4};
  CHECK_CLOSE(lbbt_lr_at(&nw, 0), 2.0, SCHEDULE_TOL, 0, "no warm-up: first step at base");
  CHECK_CLOSE(lbbt_lr_at(&nw, 1), 1.0 + sqrt(0.5), SCHEDULE_TOL, 0, "no warm-up, step 1");
  CHECK_CLOSE(lbbt_lr_at(&nw, 4), 0.0, SCHEDULE_TOL, 0, "decays to 0");
}

static void constant_schedule_and_checks(void) {
  const lbbt_lr_schedule c = {LBBT_SCHEDULE_CONSTANT, 0.1, 0.0, 4, 100};
  REQUIRE(lbbt_lr_schedule_check(&c) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(lbbt_lr_at(&c, 1), 0.025, SCHEDULE_TOL, 0, "constant warm-up");
  CHECK_CLOSE(lbbt_lr_at(&c, 4), 0.1, SCHEDULE_TOL, 0, "constant after warm-up");
  CHECK_CLOSE(lbbt_lr_at(&c, 1000), 0.1, SCHEDULE_TOL, 0, "constant past the end");
  const lbbt_lr_schedule bad_w = {LBBT_SCHEDULE_COSINE, 0.1, 0.0, 20, 10};
  CHECK(lbbt_lr_schedule_check(&bad_w) == LBBT_E_INPUT, "warm-up > total accepted");
  const lbbt_lr_schedule bad_min = {LBBT_SCHEDULE_COSINE, 0.1, 0.2, 0, 10};
  CHECK(lbbt_lr_schedule_check(&bad_min) == LBBT_E_INPUT, "min_lr > base accepted");
  const lbbt_lr_schedule empty = {LBBT_SCHEDULE_COSINE, 0.1, 0.0, 10, 10};
  CHECK(lbbt_lr_schedule_check(&empty) == LBBT_E_INPUT, "cosine without steps accepted");
}

/* ---- clipping and finiteness ---------------------------------------------------------- */
static void clip_returns_norm_and_scales(void) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_SGD);
  lbbt_tensor *a = make_param(2, NULL), *b = make_param(1, NULL);
  lbbt_optim *o = NULL;
  REQUIRE(a && b && lbbt_optim_create(&o, &cfg) == LBBT_OK, "create");
  REQUIRE(lbbt_optim_add_param(o, "a", a, 0) == LBBT_OK && lbbt_optim_add_param(o, "b", b, 0) ==
              LBBT_OK, "add");
  a->grad[0] = 3, a->grad[1] = 4, b->grad[0] = -12; /* global norm 13 */
  double norm = 0;
  REQUIRE(lbbt_optim_clip_grad_norm(o, 100.0, &norm) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(norm, 13.0, 0, CLIP_RTOL, "norm");
  CHECK(a->grad[0] == 3 && a->grad[1] == 4 && b->grad[0] == -12, "grads changed below max");
  REQUIRE(lbbt_optim_clip_grad_norm(o, 6.5, &norm) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(norm, 13.0, 0, CLIP_RTOL, "pre-clip norm returned");
  double coef = 6.5 / (13.0 + 1e-6);
  CHECK_CLOSE(a->grad[0], 3 * coef, 0, CLIP_RTOL, "a[0]");
  CHECK_CLOSE(a->grad[1], 4 * coef, 0, CLIP_RTOL, "a[1]");
  CHECK_CLOSE(b->grad[0], -12 * coef, 0, CLIP_RTOL, "b[0]");
  REQUIRE(lbbt_optim_clip_grad_norm(o, 0.0, &norm) == LBBT_OK, "norm only");
  CHECK_CLOSE(norm, 6.5, 0, CLIP_RTOL, "norm after clipping");
  lbbt_optim_zero_grad(o);
  CHECK(a->grad[0] == 0 && a->grad[1] == 0 && b->grad[0] == 0, "zero_grad");
  lbbt_optim_free(o);
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
}

static void non_finite_gradient_is_named(void) {
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_ADAMW);
  lbbt_tensor *a = make_param(3, NULL), *b = make_param(4, NULL);
  lbbt_optim *o = NULL;
  REQUIRE(a && b && lbbt_optim_create(&o, &cfg) == LBBT_OK, "create");
  REQUIRE(lbbt_optim_add_param(o, "h.0.mlp.c_fc.weight", a, 0) == LBBT_OK &&
              lbbt_optim_add_param(o, "h.1.mlp.c_proj.weight", b, 0) == LBBT_OK,
          "add");
  a->grad[1] = 2.0f;
  CHECK(lbbt_optim_check_finite(o) == LBBT_OK, "finite grads refused: %s", lbbt_last_error());
  b->grad[2] = NAN;
  b->grad[3] = INFINITY;
  CHECK(lbbt_optim_check_finite(o) == LBBT_E_NUMERIC, "NaN not reported");
  CHECK(strstr(lbbt_last_error(), "h.1.mlp.c_proj.weight") && strstr(lbbt_last_error(), "element 2"),
        "message does not name the parameter and element: %s", lbbt_last_error());
  double norm = 0;
  REQUIRE(lbbt_optim_clip_grad_norm(o, 1.0, &norm) == LBBT_OK, "clip");
  CHECK(!isfinite(norm), "norm %g should be non-finite", norm);
  CHECK(a->grad[1] == 2.0f, "a non-finite norm must leave grads untouched");
  lbbt_optim_free(o);
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
}

/* Big enough for several chunks and threads: the norm must not depend on the threads. */
static void clip_norm_independent_of_threads(void) {
  const int64_t n = 300007;
  lbbt_tensor *a = make_param(n, NULL);
  lbbt_optim *o = NULL;
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, LBBT_OPT_ADAMW);
  REQUIRE(a && lbbt_optim_create(&o, &cfg) == LBBT_OK, "create");
  REQUIRE(lbbt_optim_add_param(o, "big", a, 0) == LBBT_OK, "add");
  lbbt_rng r;
  lbbt_rng_seed(&r, 7);
  double want = 0;
  for (int64_t i = 0; i < n; i++) {
    a->grad[i] = (float)(lbbt_rng_normal(&r) * (1 + (i % 97)));
    want += (double)a->grad[i] * a->grad[i];
  }
  double norm1 = 0, norm4 = 0;
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  REQUIRE(lbbt_optim_clip_grad_norm(o, 0, &norm1) == LBBT_OK, "clip");
  omp_set_num_threads(4);
  REQUIRE(lbbt_optim_clip_grad_norm(o, 0, &norm4) == LBBT_OK, "clip");
  omp_set_num_threads(saved);
  CHECK(norm1 == norm4, "norm with 1 thread %.17g, with 4 threads %.17g", norm1, norm4);
  CHECK_CLOSE(norm1, sqrt(want), 0, 1e-12, "norm vs sequential double sum");
  lbbt_optim_free(o);
  lbbt_tensor_free(a);
}

/* ---- end to end: fit y = W x ---------------------------------------------------------- */
enum { FIT_OUT = 3, FIT_IN = 4, FIT_N = 32, FIT_STEPS = 400 };

/* loss = 1/(2N) sum_n |W x_n - y_n|^2 ; dW = 1/N sum_n (W x_n - y_n) x_n^T.  Returns loss. */
static double fit_loss_and_grad(const lbbt_tensor *w, const double x[FIT_N][FIT_IN],
                                const double y[FIT_N][FIT_OUT], float *grad) {
  double loss = 0, g[FIT_OUT * FIT_IN] = {0};
  for (int n = 0; n < FIT_N; n++)
    for (int o = 0; o < FIT_OUT; o++) {
      double r = -y[n][o];
      for (int i = 0; i < FIT_IN; i++) r += w->data[o * FIT_IN + i] * x[n][i];
      loss += 0.5 * r * r / FIT_N;
      for (int i = 0; i < FIT_IN; i++) g[o * FIT_IN + i] += r * x[n][i] / FIT_N;
    }
  for (int k = 0; k < FIT_OUT * FIT_IN; k++) grad[k] += (float)g[k];
  return loss;
}

static void check_fit(lbbt_optimizer_kind kind, double base_lr) {
  static const double w_true[FIT_OUT * FIT_IN] = {0.5, -1.0, 0.25, 2.0,  -0.3, 0.8,
                                                  1.5, -0.6, 0.0,  0.1,  -2.0, 0.7};
  double x[FIT_N][FIT_IN], y[FIT_N][FIT_OUT];
  lbbt_rng r;
  lbbt_rng_derive(&r, 42, "fit data", 0);
  for (int n = 0; n < FIT_N; n++) {
    for (int i = 0; i < FIT_IN; i++) x[n][i] = lbbt_rng_normal(&r);
    for (int o = 0; o < FIT_OUT; o++) {
      y[n][o] = 0;
      for (int i = 0; i < FIT_IN; i++) y[n][o] += w_true[o * FIT_IN + i] * x[n][i];
    }
  }
  lbbt_model *m = NULL;
  lbbt_tensor *w = NULL;
  const int64_t shape[2] = {FIT_OUT, FIT_IN};
  REQUIRE(lbbt_model_create(&m, NULL, "fit") == LBBT_OK, "create");
  REQUIRE(lbbt_model_add_param(m, "head.weight", LBBT_PART_HEAD, 0, 0, 2, shape, &w) == LBBT_OK,
          "%s", lbbt_last_error());
  REQUIRE(lbbt_init_xavier_uniform(w, 1, "head.weight", 1.0) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_model_select_trainable(m, NULL, 1, 1) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_optim_config cfg;
  lbbt_optim_config_default(&cfg, kind);
  cfg.weight_decay = 0;
  cfg.momentum = kind == LBBT_OPT_SGD ? 0.9 : 0;
  lbbt_optim *o = NULL;
  REQUIRE(lbbt_optim_create_for_model(&o, &cfg, m) == LBBT_OK, "%s", lbbt_last_error());
  const lbbt_lr_schedule sched = {LBBT_SCHEDULE_COSINE, base_lr, 0.0, 20, FIT_STEPS};
  double first_loss = -1, loss = 0, norm;
  for (int s = 0; s < FIT_STEPS; s++) {
    lbbt_optim_zero_grad(o);
    loss = fit_loss_and_grad(w, x, y, w->grad);
    if (first_loss < 0) first_loss = loss;
    REQUIRE(lbbt_optim_check_finite(o) == LBBT_OK, "%s", lbbt_last_error());
    REQUIRE(lbbt_optim_clip_grad_norm(o, 5.0, &norm) == LBBT_OK, "%s", lbbt_last_error());
    lbbt_optim_set_lr(o, lbbt_lr_at(&sched, s));
    REQUIRE(lbbt_optim_step(o) == LBBT_OK, "%s", lbbt_last_error());
  }
  double max_err = 0;
  for (int k = 0; k < FIT_OUT * FIT_IN; k++)
    max_err = fmax(max_err, fabs(w->data[k] - w_true[k]));
  CHECK(max_err < FIT_TOL, "W off by %g after %d steps (loss %g -> %g)", max_err, FIT_STEPS,
        first_loss, loss);
  lbbt_optim_free(o);
  lbbt_model_free(m);
}

static void adamw_fits_linear_map(void) { check_fit(LBBT_OPT_ADAMW, 0.05); }
static void sgd_fits_linear_map(void) { check_fit(LBBT_OPT_SGD, 0.05); }

TEST_MAIN_BEGIN("test_optim")
TEST_RUN(adamw_matches_reference);
TEST_RUN(adamw_eps_outside_bias_corrected_sqrt);
TEST_RUN(adamw_constant_gradient_closed_form);
TEST_RUN(adamw_decay_is_decoupled_and_no_decay_respected);
TEST_RUN(sgd_momentum_matches_reference);
TEST_RUN(sgd_nesterov_matches_reference);
TEST_RUN(sgd_dampening_matches_reference);
TEST_RUN(sgd_plain_matches_reference);
TEST_RUN(sgd_momentum_constant_gradient_closed_form);
TEST_RUN(config_rejects_bad_values);
TEST_RUN(config_from_stage);
TEST_RUN(frozen_params_do_not_move);
TEST_RUN(adamw_resume_is_bit_exact);
TEST_RUN(sgd_resume_is_bit_exact);
TEST_RUN(resume_without_state_differs);
TEST_RUN(cosine_schedule_key_steps);
TEST_RUN(constant_schedule_and_checks);
TEST_RUN(clip_returns_norm_and_scales);
TEST_RUN(non_finite_gradient_is_named);
TEST_RUN(clip_norm_independent_of_threads);
TEST_RUN(adamw_fits_linear_map);
TEST_RUN(sgd_fits_linear_map);
TEST_MAIN_END()
