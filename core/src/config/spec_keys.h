/* Private to the spec code: directive tables and the binder that applies them.
 *
 * As in nginx's ngx_command_t arrays, each key an experiment file may contain is one row
 * {name, type, offset into the struct, default or REQUIRED, check, doc}.  The binder
 * (spec_bind.c) walks a table against a YAML mapping: it rejects unknown keys (suggesting
 * the nearest), converts and range-checks each value, stores it at its offset, fills
 * defaults, and appends the canonical text of every value (which the run id hashes).
 * The tables themselves are in spec_keys.c; `lbbt check --keys` prints them. */
#ifndef LBBT_SPEC_KEYS_H
#define LBBT_SPEC_KEYS_H
#include <stddef.h>

#include "lbbt/status.h"
#include "config/spec_text.h"
#include "config/spec_tree.h"

typedef enum {
  KEY_STRING,  /* char[size]; optional list of allowed values in names */
  KEY_PATH,    /* char[size]; a file or folder (see KEY_MUST_EXIST, KEY_MODELS_PREFIX) */
  KEY_INT,     /* int */
  KEY_SEED,    /* uint64_t, 0 .. 2^63-1 */
  KEY_NUMBER,  /* double, finite */
  KEY_BOOL,    /* int 0/1; true/false, yes/no, on/off */
  KEY_ENUM,    /* an int-sized enum; names[i] is the spelling of value i */
  KEY_LAYERS,  /* lbbt_layer_range */
  KEY_OPTIONS, /* lbbt_option[max_count], count at count_offset: free key: scalar pairs */
  KEY_SECTION, /* a nested struct at offset, bound with table sub */
  KEY_LIST,    /* an array of structs (size bytes each) bound with sub; count at count_offset */
  KEY_LOADER   /* handled by the loader (base, matrix, groups, tiers); listed for checks and docs */
} spec_key_type;

#define KEY_MIN_EXCLUSIVE 1u /* the range excludes min */
#define KEY_MAX_EXCLUSIVE 2u /* the range excludes max */
#define KEY_MUST_EXIST 4u    /* PATH: when set, the file or folder must exist */
#define KEY_MODELS_PREFIX 8u /* PATH: "models:NAME" is $LBBT_MODELS/NAME */
#define KEY_IDENT 16u        /* STRING: letters, digits, '-', '_' (addressable in paths) */
#define KEY_LOADER_LIST 32u  /* LOADER: the value is a list (of at most max_count items), not a mapping */
#define KEY_CANON_WHEN_SET 64u /* OPTIONS: absent from the canonical config (so from run ids) while
                                * empty, so adding such a key changes no existing run's id */
#define REQUIRED NULL        /* spec_key.def of a key that must be written */

struct spec_section;

typedef struct spec_key {
  const char *name;
  spec_key_type type;
  size_t offset;             /* into the struct bound by the section */
  size_t size;               /* STRING/PATH: buffer bytes; LIST: bytes of one element */
  const char *def;           /* default as YAML text, or REQUIRED */
  const char *const *names;  /* ENUM: spellings in enum order; STRING: allowed values */
  int n_names;
  int has_range;             /* INT/SEED/NUMBER: [min, max] applies (see flags) */
  double min, max;
  unsigned flags;
  const struct spec_section *sub; /* SECTION/LIST */
  size_t count_offset;       /* LIST/OPTIONS: int receiving the number of entries */
  int max_count;             /* LIST/OPTIONS: capacity of the array */
  const char *doc;           /* one line for the reference */
} spec_key;

/* Where a section is being bound: for messages and for cross-key checks. */
typedef struct spec_where {
  const char *path;   /* dotted path of the section: "" (run root), "backbone", "stages.bridge" */
  const char *noun;   /* for "unknown key 'x' in <noun>": "backbone", "stage 'bridge'" */
  const yt_node *map; /* the mapping as written; NULL when the section is absent */
  const yt_node *at;  /* position for errors about absent keys */
} spec_where;

typedef struct spec_bind {
  const char *file;   /* for "file:line:col" */
  unsigned flags;     /* LBBT_SPEC_SKIP_FILE_CHECKS */
  spec_buf *canon;    /* receives canonical YAML of every bound value; NULL = none */
  int dash;           /* canonical text: the next line opens a list item ("- ") */
} spec_bind;

typedef struct spec_section {
  const char *noun;        /* "backbone", "stage", "the top level" */
  const char *path;        /* path prefix in the reference: "backbone", "stages.<name>" */
  const spec_key *keys;
  int n_keys;
  /* Rules between keys (e.g. init: language needs a checkpoint); NULL when none. */
  lbbt_status (*check)(spec_bind *b, const spec_where *w, void *obj);
  const char *doc;         /* a paragraph for the reference */
} spec_section;

extern const spec_section spec_top_section;  /* the file's top-level keys */
extern const spec_section spec_tier_section; /* tiers.<name> */
extern const spec_section spec_run_section;  /* base: one run (lbbt_run_spec) */

/* Bind map (a mapping, NULL or a null scalar = every key takes its default) into obj.
 * depth is the canonical-text indentation in 2-space steps. */
lbbt_status spec_bind_section(spec_bind *b, const spec_section *sec, const spec_where *w, void *obj,
                              int depth);
const spec_key *spec_find_key(const spec_section *sec, const char *name);
/* "file:line:col: unknown key 'epoch' in stage 'bridge'; did you mean 'epochs'?" (or the
 * list of valid keys when nothing is close). */
lbbt_status spec_unknown_key(const char *file, const yt_node *key, const spec_section *sec, const char *noun);
/* The value node of key in map when written, else fallback (for error positions). */
const yt_node *spec_node_or(const yt_node *map, const char *key, const yt_node *fallback);

#endif
