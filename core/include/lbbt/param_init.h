/* Deterministic parameter initialisers.
 *
 * Each random initialiser fills a tensor from its own stream lbbt_rng_derive(seed, name, 0)
 * (rng.h), so a parameter's initial values depend only on (seed, parameter name, shape):
 * not on the order parameters are created in, nor on the thread count.  Values are drawn
 * sequentially in row-major order, in double, then rounded to f32.
 *
 * Fans follow torch.nn.init._calculate_fan_in_and_fan_out for a tensor [O, I, k...]:
 * fan_in = I * prod(k), fan_out = O * prod(k); they need ndim >= 2 (LBBT_E_SHAPE otherwise).
 * All functions return LBBT_E_INPUT for bad arguments (std < 0, a >= b, ...). */
#ifndef LBBT_PARAM_INIT_H
#define LBBT_PARAM_INIT_H
#include <stdint.h>

#include "lbbt/tensor.h"

/* Every element = value (zeros: 0, ones: 1).  Never fails. */
LBBT_API void lbbt_init_constant(lbbt_tensor *t, float value);

/* N(mean, std^2). */
LBBT_API lbbt_status lbbt_init_normal(lbbt_tensor *t, uint64_t seed, const char *name, double mean,
                             double std);
/* timm trunc_normal_: N(mean, std^2) conditioned on [a, b], with a and b ABSOLUTE bounds
 * (not multiples of std; timm's defaults a = -2, b = 2 make std 0.02 effectively untruncated).
 * Inverse-CDF sampling as timm: u ~ U(cdf(a'), cdf(b')), x = mean + std * Phi^-1(u), where
 * a' = (a - mean)/std, then clamped to [a, b]. */
LBBT_API lbbt_status lbbt_init_trunc_normal(lbbt_tensor *t, uint64_t seed, const char *name, double mean,
                                   double std, double a, double b);
/* U[lo, hi). */
LBBT_API lbbt_status lbbt_init_uniform(lbbt_tensor *t, uint64_t seed, const char *name, double lo,
                              double hi);
/* Glorot: uniform with bound gain*sqrt(6/(fan_in+fan_out)); normal with std
 * gain*sqrt(2/(fan_in+fan_out)).  gain 1 for linear layers (torch.nn.init.calculate_gain). */
LBBT_API lbbt_status lbbt_init_xavier_uniform(lbbt_tensor *t, uint64_t seed, const char *name, double gain);
LBBT_API lbbt_status lbbt_init_xavier_normal(lbbt_tensor *t, uint64_t seed, const char *name, double gain);

/* He / Kaiming for a leaky-ReLU of negative slope a (a = 0: ReLU), as torch.nn.init:
 * gain = sqrt(2 / (1 + a^2)), std = gain / sqrt(fan); uniform bound = sqrt(3) * std.
 * nn.Conv2d / nn.Linear's own default weight init is kaiming_uniform with a = sqrt(5),
 * i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)): use it for patch embeddings. */
typedef enum { LBBT_FAN_IN, LBBT_FAN_OUT } lbbt_fan_mode;
LBBT_API lbbt_status lbbt_init_kaiming_uniform(lbbt_tensor *t, uint64_t seed, const char *name, double a,
                                      lbbt_fan_mode mode);
LBBT_API lbbt_status lbbt_init_kaiming_normal(lbbt_tensor *t, uint64_t seed, const char *name, double a,
                                     lbbt_fan_mode mode);
/* fan_in / fan_out of t (see above); LBBT_E_SHAPE when ndim < 2. */
LBBT_API lbbt_status lbbt_init_fans(const lbbt_tensor *t, int64_t *fan_in, int64_t *fan_out);

/* GPT-2 (Hugging Face GPT2PreTrainedModel._init_weights, nanoGPT), chosen by name:
 *   "...bias"                              zeros
 *   "...ln_*.weight" / "...norm*.weight"  ones (layer-norm gains)
 *   "...c_proj.weight"                    N(0, (0.02 / sqrt(2 * n_layer))^2)  residual outputs
 *   anything else (wte, wpe, c_attn, c_fc, heads)  N(0, 0.02^2)
 * lbbt_gpt2_init_std gives the std used for a name (0 for the constant cases). */
LBBT_API lbbt_status lbbt_init_gpt2(lbbt_tensor *t, uint64_t seed, const char *name, int n_layer);
LBBT_API double lbbt_gpt2_init_std(const char *name, int n_layer);

#endif
