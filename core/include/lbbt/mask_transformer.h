/* Segmenter (Strudel et al. 2021, "Segmenter: Transformer for Semantic Segmentation") with
 * its mask-transformer decoder on blocks borrowed from a backbone, as the paper's Section 6
 * builds it ("initialising the mask transformer decoder's blocks from GPT-2 ... for as many
 * layers as available"; class embeddings and projections as in Segmenter):
 *
 *   images [B, Cin, S, S] -> ViT encoder: P x P patch embedding (conv, stride P) -> tokens
 *   [B, N, E] (N = (S/P)^2) + learned positions [N, E] -> enc_depth pre-norm blocks
 *   (LayerNorm, fused qkv, GELU MLP, bidirectional; timm's initialisation) -> LayerNorm;
 *   mask transformer: proj_dec [E -> C] (C the borrowed blocks' width) -> patch tokens [B, N, C]
 *   joined with K class embeddings [K, C] -> [B, N + K, C] -> the borrowed blocks
 *   (bidirectional) -> LayerNorm -> patches [B, N, C] @ proj_patch [C, C], classes [B, K, C]
 *   @ proj_classes [C, C], each L2-normalised over C -> masks = patches . classes^T [B, N, K]
 *   -> LayerNorm over K (mask_norm) -> [B, K, S/P, S/P] -> bilinear upsampling
 *   (align_corners=False) -> logits [B, K, S, S].
 *
 * The width question (which the paper leaves open): the encoder's width E is a setting, so
 * E = C is "the encoder at the backbone's width" and E != C (Segmenter-T's 192) is "the
 * decoder at the backbone's width, with projections in (proj_dec, E -> C) and out
 * (proj_patch, proj_classes at C)".  Segmenter's own d_model is then C.
 *
 * Differences from Segmenter, stated: no class token in the encoder, no dropout, and the
 * encoder is trained from scratch (Segmenter starts it from ImageNet weights; here the
 * question is the decoder's initialisation only).  L2 normalisation is RMSNorm with unit
 * gain divided by sqrt(C) (x / sqrt(mean x^2 + 1e-12) / sqrt(C) = x / |x|, to rounding). */
#ifndef LBBT_MASK_TRANSFORMER_H
#define LBBT_MASK_TRANSFORMER_H
#include "lbbt/block_stack.h"

typedef struct lbbt_mask_transformer_config {
  int in_channels;  /* Cin */
  int crop;         /* S: the square input side (training crop, inference window) */
  int patch;        /* P: S % P == 0 */
  int num_classes;  /* K */
  int enc_dim;      /* E (0: the decoder's width C) */
  int enc_depth, enc_heads, enc_mlp; /* E % enc_heads == 0; enc_mlp the MLP width */
} lbbt_mask_transformer_config;

typedef struct lbbt_mask_transformer {
  lbbt_mask_transformer_config cfg; /* enc_dim resolved */
  int dim;                   /* C: the decoder's (borrowed blocks') width */
  int grid;                  /* S / P */
  lbbt_tensor *patch_w, *patch_b; /* [E, Cin, P, P], [E] */
  lbbt_tensor *pos;               /* [N, E] */
  lbbt_block *enc_blocks;         /* [enc_depth], owned array; tensors in the model */
  lbbt_tensor *enc_norm_w, *enc_norm_b;
  lbbt_block_stack *decoder;      /* owned (freed with the segmenter); params in the model */
  lbbt_tensor *proj_dec_w, *proj_dec_b; /* [C, E], [C] */
  lbbt_tensor *cls_emb;           /* [K, C] */
  lbbt_tensor *dec_norm_w, *dec_norm_b; /* [C] */
  lbbt_tensor *proj_patch, *proj_classes; /* [C, C] as Segmenter's (in, out): x @ W */
  lbbt_tensor *mask_norm_w, *mask_norm_b; /* [K] */
  lbbt_tensor *unit_gain;         /* [C] ones: a constant for the L2 normalisation, owned */
} lbbt_mask_transformer;

/* Register the segmenter's own parameters in m under "mask_transformer.*" (encoder: patch embedding
 * and positions LBBT_PART_EMBED, block i layer i; decoder head tensors LBBT_PART_HEAD), initialised
 * from seed as Segmenter does (timm trunc-normal 0.02 for linear weights and positions and
 * class embeddings, zero biases, unit norms, PyTorch's conv default for the patch
 * embedding, C^-1/2 randn for proj_patch / proj_classes).  decoder is a stack borrowed into m
 * (lbbt_borrow_blocks, layer_offset = enc_depth, so the encoder's blocks come first); the
 * segmenter takes it over.  Bad sizes are LBBT_E_INPUT naming them; on error the caller
 * keeps the stack. */
LBBT_API lbbt_status lbbt_mask_transformer_create(const lbbt_mask_transformer_config *cfg, lbbt_block_stack *decoder,
                                           lbbt_model *m, uint64_t seed, lbbt_mask_transformer **out);
LBBT_API void lbbt_mask_transformer_free(lbbt_mask_transformer *s); /* NULL-safe; parameters stay with the model */

/* images [B, Cin, S, S] -> logits [B, K, S, S] (before softmax), recorded on t. */
LBBT_API lbbt_status lbbt_mask_transformer_forward(lbbt_tape *t, const lbbt_mask_transformer *s, lbbt_tensor *images,
                                            lbbt_tensor **logits);

/* Mean per-pixel cross-entropy of logits [B, K, H, W] against masks int32 [B, H, W]
 * (values in [0, K) or LBBT_MASK_IGNORE = 255, skipped), as PyTorch's
 * F.cross_entropy(logits, masks, ignore_index=255).  out [1]; 0 with no gradient when every
 * pixel is ignored.  Other mask values are LBBT_E_INPUT naming the pixel. */
LBBT_API lbbt_status lbbt_pixel_cross_entropy(lbbt_tape *t, lbbt_tensor *logits, const int32_t *masks,
                                              lbbt_tensor **out);

#endif
