/* The attention computation shared by lbbt_attention (head-major q, k, v) and
 * lbbt_attention_qkv (token-major, straight from a fused projection); internal to the core
 * library.
 *
 * Each of q, k, v and the output is a strided view [B, H, L, D] of a tensor's buffer: an
 * element offset and the strides of batch, head and position (D is contiguous).  The four
 * products (scores = Q K^T, out = P V, and in backward dP = dO V^T, dV = P^T dO,
 * dQ = dS K, dK = dS^T Q) read the views in place; the masked softmax and
 * dS = P (dP - rowsum(P dP)) are vectorised C row loops (row_kernels.h).  Two paths: when
 * T, S and D are at most 128 (AVX-512) or 64 (below: measured per ISA level, see
 * ATTN_FUSED_MAX), one (sample, head) at a time on lbbt_small_mm with its scores in cache
 * (the fused path); otherwise batched oneDNN matmuls over [B, Hkv, group] in cache-sized
 * batch chunks (also used for the backward of a T5 bias, whose gradient sums over B).
 * See attention.c for the semantics (masking, fully masked rows, grouped-query heads). */
#ifndef LBBT_OPS_ATTENTION_ENGINE_H
#define LBBT_OPS_ATTENTION_ENGINE_H
#include <stdint.h>

#include "lbbt/tensor.h"

typedef struct attn_operand {
  int64_t offset;     /* element (0, 0, 0, 0) in the tensor's data (and grad) */
  int64_t sb, sh, sl; /* element strides of batch, head, position */
} attn_operand;

typedef struct attn_problem {
  int64_t B, Hq, Hkv, T, S, D;
  float scale;
  int causal;
  const uint8_t *key_mask; /* [B, S] or NULL */
  attn_operand q, k, v, out;
} attn_problem;

/* Forward.  probs: [B, Hq, T, S] kept for the backward, or NULL (inference: the scores
 * live in batch chunks of arena scratch released before returning).  bias [Hq, T, S] or
 * NULL.  q, k, v: the data buffers the operands index; out: the output buffer. */
lbbt_status attn_forward(lbbt_tape *t, const attn_problem *p, const float *q, const float *k,
                         const float *v, const float *bias, float *out, float *probs);

/* Backward: accumulates (+=) into dq, dk, dv (each may be NULL: not wanted) and dbias
 * [Hq, T, S] (NULL: not wanted), from dout (the output's gradient, laid out as out).  With
 * accumulate 0, dq, dk and dv are overwritten instead (fresh buffers; all three must be
 * wanted then). */
lbbt_status attn_backward(lbbt_tape *t, const attn_problem *p, const float *q, const float *k,
                          const float *v, const float *probs, const float *dout, float *dq,
                          float *dk, float *dv, float *dbias, int accumulate);

#endif
