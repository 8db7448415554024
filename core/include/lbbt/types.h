/* Core types the engine uses, independent of the experiment schema (spec.h): size limits,
 * initialisation, attention and pooling modes, label modes, layer ranges.
 *
 * The engine's headers (model.h, dataset.h, optim.h, ...) include this, not spec.h, so the
 * model type does not depend on the YAML schema. */
#ifndef LBBT_TYPES_H
#define LBBT_TYPES_H
#include <stddef.h>

#include "lbbt/status.h"

#define LBBT_NAME_MAX 64
#define LBBT_PATH_MAX 512

typedef enum {
  LBBT_INIT_SCRATCH,         /* the architecture's own published initialisation, seeded */
  LBBT_INIT_LANGUAGE,        /* load the pretrained checkpoint */
  LBBT_INIT_SHUFFLED,        /* checkpoint values permuted within each tensor (seeded) */
  LBBT_INIT_MOMENT_MATCHED,  /* Gaussian with each pretrained tensor's mean and std */
  LBBT_INIT_SCRATCH_RESCALED /* scratch init rescaled to each pretrained tensor's norm */
} lbbt_init_mode;

typedef enum { LBBT_POOL_MEAN, LBBT_POOL_CLS } lbbt_pool_mode;
typedef enum {
  LBBT_ATTN_DEFAULT,      /* what the architecture does (GPT-2/LLaMA: causal; T5 encoder: not) */
  LBBT_ATTN_CAUSAL,
  LBBT_ATTN_BIDIRECTIONAL
} lbbt_attn_mode;

/* Which labels a stage trains or measures on: the dataset's, or a seeded random
 * replacement of a fraction of them (lbbt_labels_randomize in dataset.h). */
typedef enum { LBBT_LABELS_TRUE, LBBT_LABELS_RANDOM } lbbt_label_mode;

typedef enum { LBBT_OPT_ADAMW, LBBT_OPT_SGD } lbbt_optimizer_kind;

/* Which transformer blocks train: all | none | first:K | last:K | range:A-B (0-based, incl.) */
typedef enum { LBBT_LAYERS_ALL, LBBT_LAYERS_NONE, LBBT_LAYERS_FIRST, LBBT_LAYERS_LAST,
               LBBT_LAYERS_RANGE } lbbt_layer_select;
typedef struct lbbt_layer_range {
  lbbt_layer_select select;
  int k;          /* FIRST/LAST: how many blocks */
  int from, to;   /* RANGE */
} lbbt_layer_range;
/* Parse "first:5" etc. (K >= 1; 0 <= A <= B); returns LBBT_E_INPUT with a message on bad
 * text (the message does not name a file: callers prefix their own location). */
LBBT_API lbbt_status lbbt_layer_range_parse(const char *text, lbbt_layer_range *out);
/* Is block `layer` (0-based) of n_layers selected?  0 for layers outside [0, n_layers);
 * first:K / last:K with K > n_layers select every block. */
LBBT_API int lbbt_layer_range_contains(const lbbt_layer_range *r, int layer, int n_layers);
/* The canonical text of a range ("all", "last:14", "range:2-4") into out (size n). */
LBBT_API void lbbt_layer_range_format(const lbbt_layer_range *r, char *out, size_t n);

#endif
