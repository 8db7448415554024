/* The decoder of a T5 encoder-decoder (Hugging Face T5ForConditionalGeneration /
 * modeling_t5.py's T5Stack with is_decoder), as Chronos-T5 uses it: the time-series
 * pretraining task (ts-pretrain) trains it on top of the chronos_t5 backbone's encoder.
 *
 * Per layer i, on x [B, T, C] with encoder output memory [B, S, C]:
 *   x += o(attn(q, k, v of rms(x); causal, scores unscaled, + relative bias))   layer.0
 *   x += o(attn(q of rms(x), k, v of memory; unscaled, no bias))               layer.1
 *   x += ffn(rms(x))   (relu: wo(relu(wi h)); gated-gelu: wo(gelu_new(wi_0 h) * wi_1 h)) layer.2
 * then decoder.final_layer_norm and an untied lm_head [V, C] (Chronos-T5, like T5 v1.1, has
 * tie_word_embeddings false: no d_model^-1/2 rescaling).  The relative bias table lives in
 * layer 0 (decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight) and uses
 * unidirectional buckets.  Token embedding: the encoder's shared.weight.  No biases, no
 * dropout (Chronos trains with dropout 0.1; lbbt's pretraining runs without).
 *
 * The parameters are registered in the encoder's lbbt_model under their Hugging Face names, so
 * the model's save writes a T5ForConditionalGeneration checkpoint whose encoder the
 * chronos_t5 backbone reads.  Compiled into the task plugins (Makefile TASK_SHARED_SRC) and
 * the unit tests; hidden. */
#ifndef LBBT_TASKS_T5_DECODER_H
#define LBBT_TASKS_T5_DECODER_H
#include <jansson.h>
#include <stdint.h>

#include "lbbt/checkpoint.h"
#include "lbbt/model.h"
#include "lbbt/tensor.h"

#define T5D_HIDDEN __attribute__((visibility("hidden")))

typedef struct t5_decoder_config {
  int dim, n_layers, n_heads, d_kv, d_ff, vocab_size;
  int num_buckets, max_distance;
  float eps;
  int gated;           /* feed_forward_proj "gated-gelu" (1) or "relu" (0) */
  double init_factor;  /* T5's initializer_factor */
} t5_decoder_config;

typedef struct t5_decoder_layer {
  lbbt_tensor *sa_norm, *sa_q, *sa_k, *sa_v, *sa_o;
  lbbt_tensor *ca_norm, *ca_q, *ca_k, *ca_v, *ca_o;
  lbbt_tensor *ff_norm, *wi, *wi_0, *wi_1, *wo;
} t5_decoder_layer;

typedef struct t5_decoder {
  t5_decoder_config cfg;
  lbbt_tensor *embed;      /* shared.weight [V, C], the encoder's */
  lbbt_tensor *relbias;    /* [num_buckets, H] */
  t5_decoder_layer *layers;
  lbbt_tensor *final_norm; /* [C] */
  lbbt_tensor *lm_head;    /* [V, C] */
} t5_decoder;

/* The decoder's sizes from a T5 config.json (num_decoder_layers, default num_layers). */
T5D_HIDDEN lbbt_status t5_decoder_config_from_json(json_t *cfg, const char *path,
                                                   t5_decoder_config *out);
/* Register the decoder's parameters in m (which must hold "shared.weight" [V, C]) as blocks
 * layer_offset + i (relative bias with block 0, final norm and lm_head as head), zeroed. */
T5D_HIDDEN lbbt_status t5_decoder_register(lbbt_model *m, const t5_decoder_config *cfg,
                                           int layer_offset, t5_decoder *out);
/* T5PreTrainedModel._init_weights for the decoder's parameters (factor cfg.init_factor):
 * q N(0, f (C d_kv)^-1/2), k, v N(0, f C^-1/2), o N(0, f (H d_kv)^-1/2), relative bias
 * N(0, f C^-1/2), wi* N(0, f C^-1/2), wo N(0, f d_ff^-1/2), norms f, lm_head N(0, f);
 * each tensor seeded by (seed, its name). */
T5D_HIDDEN lbbt_status t5_decoder_init(lbbt_model *m, const t5_decoder *d, uint64_t seed);
/* Read every decoder tensor from a checkpoint (names as registered). */
T5D_HIDDEN lbbt_status t5_decoder_read(lbbt_model *m, const t5_decoder *d, const lbbt_st *st);
/* ids [B*T] (decoder inputs: start token PAD, then the targets shifted right), memory
 * [B, S, C] (the encoder's hidden states after its final norm), memory_mask [B, S] or NULL
 * -> logits [B, T, V]. */
T5D_HIDDEN lbbt_status t5_decoder_forward(lbbt_tape *t, const t5_decoder *d, const int32_t *ids,
                                          int64_t B, int64_t T, lbbt_tensor *memory,
                                          const uint8_t *memory_mask, lbbt_tensor **logits);
T5D_HIDDEN void t5_decoder_free(t5_decoder *d); /* the layer array; tensors belong to the model */
/* Turn the encoder's saved config.json in dir into a T5ForConditionalGeneration one:
 * architectures, num_decoder_layers, is_encoder_decoder, tie_word_embeddings false,
 * pad / eos / decoder_start token ids, and `extra` merged in (e.g. chronos_config; NULL:
 * none).  Replaced atomically. */
T5D_HIDDEN lbbt_status t5_decoder_patch_config(const char *dir, const t5_decoder_config *cfg,
                                               json_t *extra);

#endif
