/* A set-prediction detector in the form of DETR (Carion et al. 2020) whose transformer is
 * borrowed from a backbone, as the paper's Section 6 builds it:
 *
 *   images [B, Cin, S, S] -> conv stem (3x3/2 conv, BN, ReLU; 3x3/2 conv, BN, ReLU; 2x2 max
 *   pool: stride 8) -> 1x1 projection to the blocks' width C -> tokens [B, HW, C] + 2-D sine
 *   positions (DETR's PositionEmbeddingSine, normalised, scale 2 pi) -> encoder: the first
 *   n_enc borrowed blocks, bidirectional -> memory [B, HW, C];
 *   learned object queries [Q, C] -> per decoder layer i: borrowed block i (self-attention
 *   + MLP, bidirectional), then cross-attention to the memory (pre-norm, residual; keys
 *   from memory + positions, values from memory) -> shared LayerNorm -> class head [K+1]
 *   (the last class is "no object") and box head (3-layer MLP, sigmoid: cx, cy, w, h in
 *   fractions of the image), for every decoder layer (auxiliary outputs).
 *
 * Simplifications against DETR, stated: the positions are added once to the encoder input
 * (DETR adds them to q and k in every layer), the queries are the decoder's input (DETR
 * starts from zeros and adds query positions to q and k in every layer), the borrowed
 * blocks keep their own pre-norm order (self-attention, MLP), cross-attention comes after
 * them.  Cross-attention is fresh (PyTorch nn.Linear init) or copied from the borrowed
 * decoder block's own attention projections (the paper's "initialised from GPT-2 attention
 * weights"), which needs query heads x head size = C; grouped key/value heads are widened
 * as the block's attention shares them.  Cross-attention has no RoPE and no relative bias;
 * the borrowed blocks' self-attention keeps its own (LLaMA's RoPE over query positions
 * 0..Q-1, T5's relative bias from the decoder stack's table). */
#ifndef LBBT_SET_DETECTOR_H
#define LBBT_SET_DETECTOR_H
#include "lbbt/block_stack.h"
#include "lbbt/set_loss.h"

typedef struct lbbt_set_detector_config {
  int in_channels, image_size; /* square images; image_size a multiple of 8 */
  int num_classes;             /* K */
  int n_queries;               /* Q */
  int stem_channels;           /* first conv's width (the second has twice as many) */
  int cross_heads;             /* cross-attention heads (C % heads == 0) */
  int cross_from_blocks;       /* 1: cross-attention copied from the decoder blocks' attention */
} lbbt_set_detector_config;

typedef struct lbbt_cross_attention {
  lbbt_tensor *norm_w, *norm_b;             /* [C] */
  lbbt_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b; /* [C, C] (out, in), [C] */
} lbbt_cross_attention;

typedef struct lbbt_set_detector {
  lbbt_set_detector_config cfg;
  int dim;                     /* C, the borrowed blocks' width */
  int feat_side;               /* image_size / 8 */
  lbbt_block_stack *encoder, *decoder; /* owned (freed with the detector); params in the model */
  lbbt_tensor *conv1_w, *bn1_w, *bn1_b, *bn1_mean, *bn1_var;
  lbbt_tensor *conv2_w, *bn2_w, *bn2_b, *bn2_mean, *bn2_var;
  lbbt_tensor *proj_w, *proj_b; /* [C, 2 stem, 1, 1] */
  lbbt_tensor *pos;             /* [HW, C] sine positions: a constant, owned */
  lbbt_tensor *queries;         /* [Q, C] */
  lbbt_cross_attention *cross;  /* [decoder->n_blocks] */
  lbbt_tensor *norm_w, *norm_b; /* the decoder outputs' shared LayerNorm */
  lbbt_tensor *cls_w, *cls_b;   /* [K+1, C] */
  lbbt_tensor *box_w[3], *box_b[3]; /* [C, C], [C, C], [4, C] */
} lbbt_set_detector;

/* Register the detector's new parameters in m (names "detector.*"; stem, projection and
 * queries as LBBT_PART_EMBED, cross-attention i as block layer decoder->layer_offset + i,
 * heads as LBBT_PART_HEAD), initialised from seed.  encoder and decoder are stacks borrowed
 * into m (lbbt_borrow_blocks) of the same width; the detector takes them over. */
LBBT_API lbbt_status lbbt_set_detector_create(const lbbt_set_detector_config *cfg, lbbt_block_stack *encoder,
                                              lbbt_block_stack *decoder, lbbt_model *m, uint64_t seed,
                                              lbbt_set_detector **out);
LBBT_API void lbbt_set_detector_free(lbbt_set_detector *d); /* NULL-safe; parameters stay with the model */

/* images [B, Cin, S, S] -> logits[i] [B, Q, K+1] and boxes[i] [B, Q, 4] for each decoder
 * layer i (arrays of decoder->n_blocks; the last is the prediction). */
LBBT_API lbbt_status lbbt_set_detector_forward(lbbt_tape *t, const lbbt_set_detector *d,
                                               lbbt_tensor *images, lbbt_tensor **logits,
                                               lbbt_tensor **boxes);

/* The training loss: lbbt_set_loss on the last layer's outputs, plus (aux) on every other
 * layer's (DETR's auxiliary decoding losses), summed.  parts: the last layer's. */
LBBT_API lbbt_status lbbt_set_detector_loss(lbbt_tape *t, const lbbt_set_detector *d, lbbt_tensor **logits,
                                            lbbt_tensor **boxes, const lbbt_set_target *targets,
                                            const lbbt_set_loss_config *cfg, int aux,
                                            lbbt_set_loss_parts *parts, lbbt_tensor **loss);

/* DETR's 2-D sine positions for an h x w grid: pos [h*w, C] (C even), channels [0, C/2)
 * from the row, [C/2, C) from the column, each (sin, cos) pairs of (i + 1) / (h + 1e-6) * 2 pi
 * over 10000^(2 floor(k / 2) / (C/2)). */
LBBT_API void lbbt_sine_positions(int h, int w, int C, float *pos);

#endif
