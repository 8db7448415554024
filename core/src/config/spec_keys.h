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
#include <stdio.h>

#include "lbbt/options.h"
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
  KEY_LOADER,  /* handled by the loader (base, matrix, groups, tiers); listed for checks and docs */
  KEY_ID_SLOT  /* a key that moved to plugin tables; its row keeps run ids made before the move:
                * see spec_keys.c */
} spec_key_type;

#define KEY_MIN_EXCLUSIVE 1u /* the range excludes min */
#define KEY_MAX_EXCLUSIVE 2u /* the range excludes max */
#define KEY_MUST_EXIST 4u    /* PATH: when set, the file or folder must exist */
#define KEY_MODELS_PREFIX 8u /* PATH: "models:NAME" is $LBBT_MODELS/NAME */
#define KEY_IDENT 16u        /* STRING: letters, digits, '-', '_' (addressable in paths) */
#define KEY_LOADER_LIST 32u  /* LOADER: the value is a list (of at most max_count items), not a mapping */
#define KEY_OPTIONAL 128u    /* plugin keys: no default; unwritten leaves the field zero */
#define KEY_ID_IF_SET 64u    /* enters the canonical text (and the run id) only when not at its default */
#define REQUIRED NULL        /* spec_key.def of a key that must be written */

struct spec_section;
struct spec_plugin_keys;

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

struct lbbt_registry;

typedef struct spec_bind {
  const char *file;   /* for "file:line:col" */
  const struct lbbt_registry *reg; /* plugin keys come from here; NULL: no plugin keys */
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
  /* Sections whose unknown keys belong to a plugin (stages): finds the plugin's table for
   * the mapping being bound and where its values go.  NULL for the others. */
  lbbt_status (*plugin_keys)(spec_bind *b, const spec_where *w, void *obj, struct spec_plugin_keys *out);
} spec_section;

/* The keys a stage's plugin adds to the stage (lbbt_option_table, options.h), as a section
 * the binder can walk. */
typedef struct spec_plugin_keys {
  const spec_section *sec; /* NULL: the plugin declares no keys, or is unknown (see owner) */
  void *obj;               /* the plugin's options struct being filled */
  int resolved;            /* 0: the plugin is not installed, no registry was given, or it
                            * checks its raw options itself (untyped) */
  int untyped;             /* a backbone without a table: spec->options stay raw text */
  char owner[LBBT_NAME_MAX + 16]; /* "task 'classification'" */
  spec_section storage;
  spec_key keys[LBBT_MAX_PLUGIN_KEYS];
} spec_plugin_keys;

extern const spec_section spec_top_section;  /* the file's top-level keys */
extern const spec_section spec_tier_section; /* tiers.<name> */
extern const spec_section spec_run_section;  /* base: one run (lbbt_run_spec) */
extern const spec_section spec_stage_section; /* one stage (lbbt_stage_spec) */

/* Bind map (a mapping, NULL or a null scalar = every key takes its default) into obj.
 * depth is the canonical-text indentation in 2-space steps. */
lbbt_status spec_bind_section(spec_bind *b, const spec_section *sec, const spec_where *w, void *obj,
                              int depth);
const spec_key *spec_find_key(const spec_section *sec, const char *name);
/* "file:line:col: unknown key 'epoch' in stage 'bridge'; did you mean 'epochs'?" (or the
 * list of valid keys when nothing is close).  extra: a plugin's keys, also valid there (may
 * be NULL). */
lbbt_status spec_unknown_key(const char *file, const yt_node *key, const spec_section *sec, const char *noun);
lbbt_status spec_unknown_key_in(const char *file, const yt_node *key, const spec_section *sec,
                                const spec_plugin_keys *extra, const char *noun);

/* Convert text (a scalar as written) into field as key k does, without canonical text or
 * a position (errors read "<where>:0:0: ..."): for checking defaults. */
lbbt_status spec_bind_value(const spec_key *k, const char *text, const char *where, void *field);
/* The same, errors naming where:line:col (an option written at line, col). */
lbbt_status spec_bind_value_at(const spec_key *k, const char *text, const char *where, int line, int col,
                               void *field);

/* ---- plugin tables (spec_plugin.c) ---- */
/* The section of a plugin's option table: rows converted into keys[] (n_keys of them),
 * sec pointing at them.  Does not check the table (spec_option_table_check does). */
void spec_plugin_section(const lbbt_option_table *t, const char *noun, const char *path, spec_key *keys,
                         spec_section *sec);
/* Every rule a plugin's table must follow, checked when the plugin loads: LBBT_E_PLUGIN with
 * a one-line reason in reason[0..n) naming the key. */
lbbt_status spec_option_table_check(const lbbt_option_table *t, char *reason, size_t n);
/* Find the option table of the stage's plugin (task or analysis name) in reg; *installed = 0
 * when no plugin of that kind and name is loaded. */
const lbbt_option_table *spec_registry_options(const struct lbbt_registry *reg, const char *task,
                                               const char *analysis, int *installed);
/* The option table of backbone plugin `name` in reg; *installed as above. */
const lbbt_option_table *spec_registry_backbone_options(const struct lbbt_registry *reg, const char *name,
                                                        int *installed);
/* One section's keys as a Markdown table under a "### title" heading. */
void spec_write_section(FILE *f, const spec_section *sec, const char *title);
/* Markdown reference of every loaded plugin's keys (after lbbt_spec_write_reference). */
void spec_write_plugin_reference(FILE *f, const struct lbbt_registry *reg);
/* The value node of key in map when written, else fallback (for error positions). */
const yt_node *spec_node_or(const yt_node *map, const char *key, const yt_node *fallback);

#endif
