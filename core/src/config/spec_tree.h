/* Private to the spec code: YAML as a tree of nodes that remember where they were written.
 *
 * libyaml's document API resolves anchors and aliases but keeps node marks only as long as
 * the document lives; this copy owns its strings, can be cloned and merged (tiers, matrix
 * values), and every node keeps the 1-based line and column of its first character so any
 * later error can say "file:line:col".  Mapping keys are scalars, unique within a mapping,
 * and stay in file order.  YAML 1.1 merge keys ("<<: *defaults") are applied while reading. */
#ifndef LBBT_SPEC_TREE_H
#define LBBT_SPEC_TREE_H
#include <stddef.h>

#include "lbbt/status.h"

typedef enum { YT_SCALAR, YT_MAP, YT_SEQ } yt_kind;

typedef struct yt_node {
  yt_kind kind;
  int line, col;          /* 1-based position of the node's first character */
  int plain;              /* SCALAR: written without quotes, so `null`/`~` mean "no value" */
  char *text;             /* SCALAR: the value (owned, NUL-terminated) */
  int n, cap;             /* MAP: number of pairs; SEQ: number of items */
  struct yt_node **keys;  /* MAP: key scalars (owned) */
  struct yt_node **vals;  /* MAP: values; SEQ: items (owned) */
} yt_node;

/* Parse one YAML document.  Errors (LBBT_E_INPUT) read "file:line:col: malformed YAML: ...";
 * *out is a mapping, sequence or scalar owned by the caller (yt_free). */
lbbt_status yt_parse(const char *text, size_t len, const char *file, yt_node **out);
void yt_free(yt_node *n);
/* Deep copy; NULL when out of memory. */
yt_node *yt_clone(const yt_node *n);
/* New nodes at a given position; NULL when out of memory.  yt_scalar copies text. */
yt_node *yt_scalar(const char *text, int plain, int line, int col);
yt_node *yt_map(int line, int col);
/* Value for key in a mapping (NULL when absent or when map is not a mapping). */
yt_node *yt_get(const yt_node *map, const char *key);
/* Index of key in a mapping, -1 when absent. */
int yt_index(const yt_node *map, const char *key);
/* Set key (ownership of key and val passes to the map, even on failure); replaces the value
 * (and key, for its position) of an existing key in place, so file order is kept. */
lbbt_status yt_put(yt_node *map, yt_node *key, yt_node *val);
/* Append an item to a sequence (ownership passes). */
lbbt_status yt_push(yt_node *seq, yt_node *item);
/* A plain scalar spelled "", "~", "null", "Null" or "NULL": the key takes its default. */
int yt_is_null(const yt_node *n);
/* "a mapping", "a list", or "'text'" (quoted, shortened), for "expected X, got Y". */
const char *yt_describe(const yt_node *n, char *buf, size_t size);
/* Compact one-line text of a node: scalars as written, {a: 1, b: [2, 3]} otherwise.
 * Returns a malloc'ed string, NULL when out of memory. */
char *yt_flow_text(const yt_node *n);

#endif
