/* Private to the spec code: editing the YAML tree of an experiment.
 *
 * Tiers deep-merge their overrides into base and matrix; each run writes its matrix values
 * at dotted paths ("stages.bridge.lr").  Positions travel with the nodes, so an error in a
 * merged value points at the tier or matrix line that wrote it. */
#ifndef LBBT_SPEC_MERGE_H
#define LBBT_SPEC_MERGE_H
#include "lbbt/status.h"

struct lbbt_registry;
#include "config/spec_tree.h"

typedef struct spec_load_ctx {
  const char *file; /* for messages */
  const char *tier; /* the tier being applied, for messages */
  const char *block; /* the run block whose keys are being written: NULL = "matrix", else
                      * "groups[2]" (one item of `groups:`), for messages */
  const struct lbbt_registry *reg; /* stages' plugin keys (NULL: none known) */
} spec_load_ctx;

/* "matrix" or the block named in c->block, as messages say it ("matrix key 'seed'"). */
const char *spec_block_noun(const spec_load_ctx *c);

/* LBBT_E_NOMEM with a message naming the file. */
lbbt_status spec_oom(const spec_load_ctx *c);
/* Put copies of key and val into map (replacing an existing key in place). */
lbbt_status spec_put_clone(const spec_load_ctx *c, yt_node *map, const yt_node *key, const yt_node *val);
/* Deep merge src into dst: mappings merge key by key, anything else replaces.  At the run
 * root (run_root = 1) `stages` written as a mapping merges into the stages of those names. */
lbbt_status spec_merge_map(const spec_load_ctx *c, yt_node *dst, const yt_node *src, int run_root);
/* Write value at the dotted path key->text of a run tree (a mapping value merges into the
 * mapping there).  The path is checked against the directive tables: naming a key that does
 * not exist, or a stage that base does not define, is an error at the matrix key. */
lbbt_status spec_matrix_set(const spec_load_ctx *c, yt_node *root, const yt_node *key, const yt_node *value);

#endif
