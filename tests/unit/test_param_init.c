/* Seeded parameter initialisers (core/src/optim/param_init.c).
 *
 * Statistical checks draw N_SAMPLES values with a fixed seed and accept the sample moment
 * when it is within STAT_SIGMAS standard errors of the exact one; the seeds are fixed, so the
 * outcome is deterministic, and a wrong scale (e.g. bound instead of std) is off by far more. */
#include "lbbt/model.h"
#include "lbbt/param_init.h"
#include "lbbt/rng.h"
#include "test.h"

static const double STAT_SIGMAS = 5.0;
enum { N_SAMPLES = 40000 };

typedef struct moments {
  double mean, std, min, max;
} moments;

static moments sample_moments(const lbbt_tensor *t) {
  moments m = {0, 0, INFINITY, -INFINITY};
  for (int64_t i = 0; i < t->numel; i++) {
    m.mean += t->data[i];
    m.min = fmin(m.min, t->data[i]);
    m.max = fmax(m.max, t->data[i]);
  }
  m.mean /= (double)t->numel;
  for (int64_t i = 0; i < t->numel; i++) m.std += pow(t->data[i] - m.mean, 2);
  m.std = sqrt(m.std / (double)(t->numel - 1));
  return m;
}

/* Kurtosis (4th standardised moment) of the laws sampled here; the standard error of a
 * sample std is std * sqrt((kurtosis - 1) / (4n)).  Truncated normals use the exponential's
 * 9 as a safe upper bound. */
static const double KURT_NORMAL = 3.0, KURT_UNIFORM = 1.8, KURT_BOUND = 9.0;

/* Sample mean and std within STAT_SIGMAS standard errors of the exact values. */
static void check_moments(const lbbt_tensor *t, double mean, double std, double kurtosis,
                          const char *what) {
  moments m = sample_moments(t);
  double n = (double)t->numel;
  CHECK_CLOSE(m.mean, mean, STAT_SIGMAS * std / sqrt(n), 0, what);
  CHECK_CLOSE(m.std, std, STAT_SIGMAS * std * sqrt((kurtosis - 1) / (4 * n)), 0, what);
}

static double fraction_within(const lbbt_tensor *t, double lo, double hi) {
  int64_t k = 0;
  for (int64_t i = 0; i < t->numel; i++) k += t->data[i] >= lo && t->data[i] <= hi;
  return (double)k / (double)t->numel;
}

static lbbt_tensor *make(int ndim, const int64_t *shape) {
  lbbt_tensor *t = NULL;
  return lbbt_tensor_create(&t, ndim, shape) == LBBT_OK ? t : NULL;
}
static lbbt_tensor *make_vec(int64_t n) { return make(1, &n); }

static void normal_moments_and_shape(void) {
  lbbt_tensor *t = make_vec(N_SAMPLES);
  REQUIRE(t, "alloc");
  REQUIRE(lbbt_init_normal(t, 5, "h.0.w", 0.5, 2.0) == LBBT_OK, "%s", lbbt_last_error());
  check_moments(t, 0.5, 2.0, KURT_NORMAL, "normal(0.5, 2)");
  /* P(|x - mean| <= std) = 0.6827 for a normal (0.577 for a uniform of that std). */
  double p = 0.682689492137, frac = fraction_within(t, 0.5 - 2.0, 0.5 + 2.0);
  CHECK_CLOSE(frac, p, STAT_SIGMAS * sqrt(p * (1 - p) / N_SAMPLES), 0, "normal 1-sigma mass");
  lbbt_tensor_free(t);
}

static double phi(double z) { return exp(-0.5 * z * z) / sqrt(2 * M_PI); }
static double cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

/* Exact moments of N(mu, sigma^2) truncated to [a, b]. */
static void truncated_moments(double mu, double sigma, double a, double b, double *mean,
                              double *std) {
  double al = (a - mu) / sigma, be = (b - mu) / sigma, z = cdf(be) - cdf(al);
  double d = (phi(al) - phi(be)) / z;
  *mean = mu + sigma * d;
  *std = sigma * sqrt(1 + (al * phi(al) - be * phi(be)) / z - d * d);
}

static void check_trunc(double mu, double sigma, double a, double b, const char *name) {
  lbbt_tensor *t = make_vec(N_SAMPLES);
  REQUIRE(t, "alloc");
  REQUIRE(lbbt_init_trunc_normal(t, 9, name, mu, sigma, a, b) == LBBT_OK, "%s", lbbt_last_error());
  moments m = sample_moments(t);
  CHECK(m.min >= (float)a && m.max <= (float)b, "%s: values [%g, %g] outside [%g, %g]", name,
        m.min, m.max, a, b);
  double mean, std;
  truncated_moments(mu, sigma, a, b, &mean, &std);
  check_moments(t, mean, std, KURT_BOUND, name);
  lbbt_tensor_free(t);
}

static void trunc_normal_within_bounds_and_moments(void) {
  check_trunc(0.0, 1.0, -0.5, 1.5, "asymmetric");       /* cuts both sides */
  check_trunc(0.0, 1.0, 2.0, 3.0, "upper tail");        /* far from the mean */
  check_trunc(1.0, 0.5, -10.0, 0.2, "lower tail");
  check_trunc(0.0, 0.02, -2.0, 2.0, "timm default");    /* effectively untruncated */
}

/* timm semantics: a and b are absolute, so std 1 with [-2, 2] cuts at 2 sigma, and the mass
 * beyond 1 sigma is that of the truncated law, not of a plain normal. */
static void trunc_normal_bounds_are_absolute(void) {
  lbbt_tensor *t = make_vec(N_SAMPLES);
  REQUIRE(t, "alloc");
  REQUIRE(lbbt_init_trunc_normal(t, 1, "w", 0.0, 3.0, -2.0, 2.0) == LBBT_OK, "%s",
          lbbt_last_error());
  moments m = sample_moments(t);
  CHECK(m.min >= -2.0 && m.max <= 2.0, "bounds [-2, 2] are absolute: got [%g, %g]", m.min, m.max);
  CHECK(m.max > 1.9 && m.min < -1.9, "std 3 on [-2, 2] should nearly fill it: [%g, %g]", m.min,
        m.max);
  CHECK(lbbt_init_trunc_normal(t, 1, "w", 0.0, 1.0, 1.0, 1.0) == LBBT_E_INPUT, "a == b accepted");
  CHECK(lbbt_init_trunc_normal(t, 1, "w", 0.0, 1.0, 50.0, 60.0) == LBBT_E_INPUT,
        "zero-probability interval accepted");
  lbbt_tensor_free(t);
}

static void uniform_bounds_and_moments(void) {
  lbbt_tensor *t = make_vec(N_SAMPLES);
  REQUIRE(t, "alloc");
  REQUIRE(lbbt_init_uniform(t, 2, "u", -1.0, 3.0) == LBBT_OK, "%s", lbbt_last_error());
  moments m = sample_moments(t);
  CHECK(m.min >= -1.0 && m.max <= 3.0, "uniform outside [-1, 3]: [%g, %g]", m.min, m.max);
  check_moments(t, 1.0, 4.0 / sqrt(12.0), KURT_UNIFORM, "uniform(-1, 3)");
  CHECK(lbbt_init_uniform(t, 2, "u", 1.0, -1.0) == LBBT_E_INPUT, "lo > hi accepted");
  lbbt_tensor_free(t);
}

static void xavier_and_kaiming_scales(void) {
  const int64_t lin[2] = {160, 250}; /* [out, in]: fan_in 250, fan_out 160 */
  const int64_t conv[4] = {64, 3, 8, 8}; /* patch embedding: fan_in 192, fan_out 4096 */
  lbbt_tensor *w = make(2, lin), *c = make(4, conv);
  REQUIRE(w && c, "alloc");
  int64_t fi, fo;
  REQUIRE(lbbt_init_fans(c, &fi, &fo) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(fi == 192 && fo == 4096, "conv fans %lld %lld", (long long)fi, (long long)fo);

  double bound = sqrt(6.0 / (250 + 160));
  REQUIRE(lbbt_init_xavier_uniform(w, 3, "x.w", 1.0) == LBBT_OK, "%s", lbbt_last_error());
  moments m = sample_moments(w);
  CHECK(m.min >= -bound && m.max <= bound && m.max > 0.99 * bound, "xavier_uniform range");
  check_moments(w, 0.0, bound / sqrt(3.0), KURT_UNIFORM, "xavier_uniform");

  REQUIRE(lbbt_init_xavier_normal(w, 3, "x.w", 2.0) == LBBT_OK, "%s", lbbt_last_error());
  check_moments(w, 0.0, 2.0 * sqrt(2.0 / (250 + 160)), KURT_NORMAL, "xavier_normal gain 2");

  /* nn.Conv2d's default: kaiming_uniform(a = sqrt(5)) = U(+-1/sqrt(fan_in)). */
  REQUIRE(lbbt_init_kaiming_uniform(c, 4, "patch_embed.proj.weight", sqrt(5.0), LBBT_FAN_IN) ==
              LBBT_OK,
          "%s", lbbt_last_error());
  m = sample_moments(c);
  double b = 1.0 / sqrt(192.0);
  CHECK(m.min >= -b && m.max <= b && m.max > 0.99 * b, "kaiming_uniform(sqrt 5) range [%g, %g] "
        "vs +-%g", m.min, m.max, b);
  check_moments(c, 0.0, b / sqrt(3.0), KURT_UNIFORM, "kaiming_uniform conv default");

  REQUIRE(lbbt_init_kaiming_normal(c, 4, "patch_embed.proj.weight", 0.0, LBBT_FAN_OUT) == LBBT_OK,
          "%s", lbbt_last_error());
  check_moments(c, 0.0, sqrt(2.0 / 4096.0), KURT_NORMAL, "kaiming_normal relu fan_out");

  lbbt_tensor *v = make_vec(10);
  REQUIRE(v, "alloc");
  CHECK(lbbt_init_xavier_uniform(v, 1, "bias", 1.0) == LBBT_E_SHAPE, "1-D fans accepted");
  CHECK(strstr(lbbt_last_error(), "fewer than 2 dims"), "message: %s", lbbt_last_error());
  lbbt_tensor_free(v);
  lbbt_tensor_free(w);
  lbbt_tensor_free(c);
}

static void constants(void) {
  lbbt_tensor *t = make_vec(7);
  REQUIRE(t, "alloc");
  lbbt_init_constant(t, 1.0f);
  for (int i = 0; i < 7; i++) CHECK(t->data[i] == 1.0f, "ones");
  lbbt_init_constant(t, 0.0f);
  for (int i = 0; i < 7; i++) CHECK(t->data[i] == 0.0f, "zeros");
  lbbt_tensor_free(t);
}

/* Same (seed, name) -> same values whatever the order; another name or seed -> others. */
static void streams_keyed_by_seed_and_name(void) {
  lbbt_tensor *a = make_vec(64), *b = make_vec(64), *c = make_vec(64), *d = make_vec(64);
  REQUIRE(a && b && c && d, "alloc");
  REQUIRE(lbbt_init_normal(a, 11, "h.0.attn.c_attn.weight", 0, 1) == LBBT_OK, "init");
  REQUIRE(lbbt_init_normal(c, 11, "h.1.attn.c_attn.weight", 0, 1) == LBBT_OK, "init");
  REQUIRE(lbbt_init_normal(b, 11, "h.0.attn.c_attn.weight", 0, 1) == LBBT_OK, "init");
  REQUIRE(lbbt_init_normal(d, 12, "h.0.attn.c_attn.weight", 0, 1) == LBBT_OK, "init");
  CHECK(memcmp(a->data, b->data, 64 * sizeof(float)) == 0, "same seed+name differ");
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 64; i++) {
    same_c += a->data[i] == c->data[i];
    same_d += a->data[i] == d->data[i];
  }
  CHECK(same_c == 0, "other name shares %d of 64 values", same_c);
  CHECK(same_d == 0, "other seed shares %d of 64 values", same_d);
  /* The stream is the documented one: lbbt_rng_derive(seed, name, 0), normals in order. */
  lbbt_rng r;
  lbbt_rng_derive(&r, 11, "h.0.attn.c_attn.weight", 0);
  for (int i = 0; i < 64; i++)
    CHECK(a->data[i] == (float)lbbt_rng_normal(&r), "value %d is not from the named stream", i);
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
  lbbt_tensor_free(c);
  lbbt_tensor_free(d);
}

static void gpt2_scheme(void) {
  const int n_layer = 12;
  const double resid = 0.02 / sqrt(2.0 * n_layer);
  CHECK_CLOSE(lbbt_gpt2_init_std("h.3.attn.c_proj.weight", n_layer), resid, 1e-15, 0, "attn proj");
  CHECK_CLOSE(lbbt_gpt2_init_std("h.3.mlp.c_proj.weight", n_layer), resid, 1e-15, 0, "mlp proj");
  CHECK_CLOSE(lbbt_gpt2_init_std("h.3.attn.c_attn.weight", n_layer), 0.02, 1e-15, 0, "c_attn");
  CHECK_CLOSE(lbbt_gpt2_init_std("h.3.mlp.c_fc.weight", n_layer), 0.02, 1e-15, 0, "c_fc");
  CHECK_CLOSE(lbbt_gpt2_init_std("wte.weight", n_layer), 0.02, 1e-15, 0, "wte");
  CHECK(lbbt_gpt2_init_std("h.3.attn.c_proj.bias", n_layer) == 0, "bias std");

  const int64_t shape[2] = {200, 200};
  lbbt_tensor *w = make(2, shape), *bias = make_vec(50), *ln = make_vec(50);
  REQUIRE(w && bias && ln, "alloc");
  REQUIRE(lbbt_init_gpt2(w, 0, "h.3.mlp.c_proj.weight", n_layer) == LBBT_OK, "%s",
          lbbt_last_error());
  check_moments(w, 0.0, resid, KURT_NORMAL, "c_proj sample std");
  REQUIRE(lbbt_init_gpt2(w, 0, "h.3.mlp.c_fc.weight", n_layer) == LBBT_OK, "%s", lbbt_last_error());
  check_moments(w, 0.0, 0.02, KURT_NORMAL, "c_fc sample std");
  lbbt_init_constant(bias, 5.0f);
  lbbt_init_constant(ln, 5.0f);
  REQUIRE(lbbt_init_gpt2(bias, 0, "h.3.attn.c_attn.bias", n_layer) == LBBT_OK, "bias");
  REQUIRE(lbbt_init_gpt2(ln, 0, "h.3.ln_1.weight", n_layer) == LBBT_OK, "ln");
  for (int i = 0; i < 50; i++) {
    CHECK(bias->data[i] == 0.0f, "bias not zero");
    CHECK(ln->data[i] == 1.0f, "ln gain not one");
  }
  CHECK(lbbt_init_gpt2(w, 0, "h.0.mlp.c_fc.weight", 0) == LBBT_E_INPUT, "n_layer 0 accepted");
  lbbt_tensor_free(w);
  lbbt_tensor_free(bias);
  lbbt_tensor_free(ln);
}

static void bad_arguments(void) {
  lbbt_tensor *t = make_vec(4);
  REQUIRE(t, "alloc");
  CHECK(lbbt_init_normal(t, 0, "w", 0, -1) == LBBT_E_INPUT, "negative std accepted");
  CHECK(strstr(lbbt_last_error(), "'w'"), "message names the parameter: %s", lbbt_last_error());
  CHECK(lbbt_init_normal(t, 0, "w", NAN, 1) == LBBT_E_INPUT, "NaN mean accepted");
  CHECK(lbbt_init_trunc_normal(t, 0, "w", 0, 0, -1, 1) == LBBT_E_INPUT, "std 0 accepted");
  lbbt_tensor_free(t);
}

TEST_MAIN_BEGIN("test_param_init")
TEST_RUN(normal_moments_and_shape);
TEST_RUN(trunc_normal_within_bounds_and_moments);
TEST_RUN(trunc_normal_bounds_are_absolute);
TEST_RUN(uniform_bounds_and_moments);
TEST_RUN(xavier_and_kaiming_scales);
TEST_RUN(constants);
TEST_RUN(streams_keyed_by_seed_and_name);
TEST_RUN(gpt2_scheme);
TEST_RUN(bad_arguments);
TEST_MAIN_END()
