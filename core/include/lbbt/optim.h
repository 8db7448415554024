/* Optimizers (AdamW, SGD), learning-rate schedules, gradient clipping and checks.
 *
 * An lbbt_optim updates a set of parameter tensors from their .grad, following PyTorch's
 * torch.optim.AdamW / torch.optim.SGD (single-tensor path, maximize=False, amsgrad=False)
 * step for step:
 *
 *   AdamW, per parameter p with gradient g, step count t (1 after the first step):
 *     p  <- p * (1 - lr*wd)                   decoupled decay; wd = 0 for no_decay params
 *     m  <- beta1*m + (1-beta1)*g
 *     v  <- beta2*v + (1-beta2)*g*g
 *     p  <- p - (lr / (1-beta1^t)) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)   (eps outside sqrt)
 *
 *   SGD (momentum mu, dampening d, nesterov flag), per parameter:
 *     g  <- g + wd*p                           coupled decay, as PyTorch SGD; wd = 0 for no_decay
 *     b  <- g on the first step, else mu*b + (1-d)*g          (only when mu != 0)
 *     g  <- g + mu*b if nesterov, else b                      (only when mu != 0)
 *     p  <- p - lr*g
 *
 * The arithmetic is done in f32 in the same order as PyTorch; scalars (bias corrections,
 * step sizes) are computed in double and rounded once, as PyTorch does with Python floats.
 * Elementwise updates may run on several OpenMP threads; results do not depend on the
 * thread count.
 *
 * A parameter whose grad is NULL or whose requires_grad is 0 (frozen) is skipped by step()
 * and its step count does not advance, as PyTorch skips parameters whose .grad is None.
 *
 * Ownership: the optimizer borrows the tensors (they must outlive it) and owns its state. The
 * set of parameters and their no_decay flags are captured when added; after changing which
 * parameters train (lbbt_model_select_trainable), create a new optimizer. */
#ifndef LBBT_OPTIM_H
#define LBBT_OPTIM_H
#include <stdint.h>

#include "lbbt/model.h"
#include "lbbt/types.h"
#include "lbbt/tensor.h"

/* ---- configuration -------------------------------------------------------------------- */
typedef struct lbbt_optim_config {
  lbbt_optimizer_kind kind; /* LBBT_OPT_ADAMW or LBBT_OPT_SGD (types.h) */
  double lr;                /* initial learning rate; lbbt_optim_set_lr changes it per step */
  double weight_decay;      /* AdamW: decoupled; SGD: added to the gradient (L2) */
  double beta1, beta2, eps; /* AdamW; PyTorch defaults 0.9, 0.999, 1e-8 */
  double momentum;          /* SGD; 0 = plain SGD (no momentum buffer) */
  double dampening;         /* SGD; PyTorch default 0 */
  int nesterov;             /* SGD; needs momentum > 0 and dampening == 0 (as PyTorch) */
} lbbt_optim_config;

/* PyTorch's defaults for `kind`, with lr 1e-3 and weight_decay 1e-2 (AdamW) or 0 (SGD). */
LBBT_API void lbbt_optim_config_default(lbbt_optim_config *c, lbbt_optimizer_kind kind);
/* Defaults for stage->optimizer, then the stage's lr, weight_decay and (SGD) momentum. */
struct lbbt_stage_spec; /* spec.h */
LBBT_API void lbbt_optim_config_from_stage(lbbt_optim_config *c, const struct lbbt_stage_spec *stage);
/* LBBT_E_INPUT with a message naming the bad field when the values are out of range. */
LBBT_API lbbt_status lbbt_optim_config_check(const lbbt_optim_config *c);

/* ---- optimizer ------------------------------------------------------------------------ */
typedef struct lbbt_optim lbbt_optim;

/* An optimizer with no parameters yet (checks the config). Free with lbbt_optim_free. */
LBBT_API lbbt_status lbbt_optim_create(lbbt_optim **out, const lbbt_optim_config *cfg);
/* Convenience: create, then add every parameter of m with trainable set. */
LBBT_API lbbt_status lbbt_optim_create_for_model(lbbt_optim **out, const lbbt_optim_config *cfg,
                                        const lbbt_model *m);
LBBT_API void lbbt_optim_free(lbbt_optim *o); /* NULL-safe; does not touch the parameters */
/* Add every trainable parameter of m (in model order), with its no_decay flag. */
LBBT_API lbbt_status lbbt_optim_add_model(lbbt_optim *o, const lbbt_model *m);
/* Add one heap tensor (e.g. a task's own head).  name (< 128 chars) keys its state and must
 * be unique in the optimizer; adding the same tensor twice is an error, as in PyTorch. */
LBBT_API lbbt_status lbbt_optim_add_param(lbbt_optim *o, const char *name, lbbt_tensor *t, int no_decay);
LBBT_API int lbbt_optim_param_count(const lbbt_optim *o);

LBBT_API void lbbt_optim_set_lr(lbbt_optim *o, double lr);
LBBT_API double lbbt_optim_lr(const lbbt_optim *o);
/* One update of every parameter from its current grad (grads are not zeroed). */
LBBT_API lbbt_status lbbt_optim_step(lbbt_optim *o);
/* Zero the grads of the optimizer's parameters. */
LBBT_API void lbbt_optim_zero_grad(lbbt_optim *o);
/* torch.nn.utils.clip_grad_norm_: total = sqrt(sum of squares of all grads); when
 * max_norm > 0 every grad is scaled by min(1, max_norm / (total + 1e-6)).  *total_norm gets
 * the norm before clipping.  Unlike PyTorch, a non-finite total leaves the grads untouched
 * (so lbbt_optim_check_finite can name the culprit); it still returns LBBT_OK.  The sum is
 * taken in double over fixed-size chunks, so it does not depend on the thread count. */
LBBT_API lbbt_status lbbt_optim_clip_grad_norm(lbbt_optim *o, double max_norm, double *total_norm);
/* LBBT_E_NUMERIC naming the first parameter (in add order) whose grad holds a NaN or Inf,
 * with the element index and value; LBBT_OK when all are finite. */
LBBT_API lbbt_status lbbt_optim_check_finite(const lbbt_optim *o);

/* ---- state, for checkpoints and bit-exact resume -------------------------------------- *
 * Each parameter P has these state tensors, enumerated in add order:
 *   "step.P"        int64 [1]  number of updates applied to P
 *   AdamW: "exp_avg.P", "exp_avg_sq.P"            f32 [numel(P)]
 *   SGD with momentum != 0: "momentum_buffer.P"   f32 [numel(P)]  (undefined while step is 0)
 * Names follow PyTorch's state_dict keys with the parameter name appended. */
typedef enum { LBBT_STATE_F32, LBBT_STATE_I64 } lbbt_state_dtype;
typedef struct lbbt_optim_state {
  char name[160];
  lbbt_state_dtype dtype;
  int64_t numel;
  void *data; /* float* or int64_t*, into the optimizer (writable); valid until the next
               * lbbt_optim_add_* or lbbt_optim_free */
} lbbt_optim_state;

LBBT_API int lbbt_optim_state_count(const lbbt_optim *o);
/* The i-th state tensor, 0 <= i < lbbt_optim_state_count(o). */
LBBT_API lbbt_status lbbt_optim_state_at(lbbt_optim *o, int i, lbbt_optim_state *out);
/* Restore one state tensor by name (copies numel values of dtype from data).  LBBT_E_INPUT
 * when the name is unknown or the dtype/numel differ (a checkpoint from another model). */
LBBT_API lbbt_status lbbt_optim_state_load(lbbt_optim *o, const char *name, lbbt_state_dtype dtype,
                                  const void *data, int64_t numel);

/* ---- weight-decay exclusion ----------------------------------------------------------- *
 * The rule: a parameter is excluded from weight decay when it has fewer than 2 dims (biases,
 * norm gains, scalars) or its name contains "norm", "ln_", "bias" or "embed".  This covers
 * LLaMA's "*_norm.weight", GPT-2's "ln_1.weight", timm's "pos_embed"/"patch_embed".  Names
 * that hide an embedding (GPT-2's "wte"/"wpe") are not caught: the plugin sets no_decay
 * for them when it adds them. */
LBBT_API int lbbt_no_decay_rule(const char *name, int ndim);
/* Set no_decay on every parameter of m that the rule selects; flags already set by the
 * plugin are kept (the rule only adds).  Returns how many parameters are now no_decay. */
LBBT_API int lbbt_model_apply_no_decay_rule(lbbt_model *m);

/* ---- learning-rate schedules ---------------------------------------------------------- *
 * lr(s) for the step s about to be taken (s = 0 for the first step), S = total_steps,
 * W = warmup_steps, base = base_lr, min = min_lr:
 *   s <  W:  base * s / W                       linear warm-up from 0 (timm warmup_lr_init=0,
 *                                               Hugging Face get_*_schedule_with_warmup)
 *   COSINE, W <= s <= S:
 *            min + (base - min) * (1 + cos(pi * (s - W) / (S - W))) / 2
 *            (torch.optim.lr_scheduler.CosineAnnealingLR's closed form with T_max = S - W,
 *             eta_min = min; timm CosineLRScheduler with cycle_limit 1)
 *   CONSTANT, s >= W: base
 *   s > S:   the value at S (min for cosine)
 * So with W=0 the first step uses base, and the cosine reaches min after S steps. */
typedef enum { LBBT_SCHEDULE_CONSTANT, LBBT_SCHEDULE_COSINE } lbbt_schedule_kind;
typedef struct lbbt_lr_schedule {
  lbbt_schedule_kind kind;
  double base_lr;
  double min_lr;        /* cosine floor (0 for decay to zero) */
  int64_t warmup_steps; /* W >= 0 */
  int64_t total_steps;  /* S >= W; S > W for cosine */
} lbbt_lr_schedule;
/* LBBT_E_INPUT when W < 0, W > S, cosine with S == W, base_lr < 0 or min_lr > base_lr. */
LBBT_API lbbt_status lbbt_lr_schedule_check(const lbbt_lr_schedule *s);
LBBT_API double lbbt_lr_at(const lbbt_lr_schedule *s, int64_t step);

#endif
