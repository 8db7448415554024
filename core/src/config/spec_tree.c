/* YAML text -> yt_node tree through libyaml's document loader; see spec_tree.h. */
#include "config/spec_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/spec_text.h"

/* Aliases are expanded into copies, so "billion laughs" files must be bounded. */
enum { MAX_DEPTH = 64, MAX_NODES = 1000000 };

static yt_node *node_new(yt_kind kind, int line, int col) {
  yt_node *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->kind = kind;
  n->line = line;
  n->col = col;
  return n;
}

yt_node *yt_scalar(const char *text, int plain, int line, int col) {
  yt_node *n = node_new(YT_SCALAR, line, col);
  if (!n) return NULL;
  n->plain = plain;
  n->text = strdup(text);
  if (!n->text) {
    free(n);
    return NULL;
  }
  return n;
}

yt_node *yt_map(int line, int col) { return node_new(YT_MAP, line, col); }

void yt_free(yt_node *n) {
  if (!n) return;
  for (int i = 0; i < n->n; i++) {
    if (n->keys) yt_free(n->keys[i]);
    yt_free(n->vals[i]);
  }
  free(n->keys);
  free(n->vals);
  free(n->text);
  free(n);
}

static int grow(yt_node *n) {
  if (n->n < n->cap) return 1;
  int cap = n->cap ? 2 * n->cap : 4;
  yt_node **vals = realloc(n->vals, (size_t)cap * sizeof *vals);
  if (!vals) return 0;
  n->vals = vals;
  if (n->kind == YT_MAP) {
    yt_node **keys = realloc(n->keys, (size_t)cap * sizeof *keys);
    if (!keys) return 0;
    n->keys = keys;
  }
  n->cap = cap;
  return 1;
}

int yt_index(const yt_node *map, const char *key) {
  if (!map || map->kind != YT_MAP) return -1;
  for (int i = 0; i < map->n; i++)
    if (!strcmp(map->keys[i]->text, key)) return i;
  return -1;
}

yt_node *yt_get(const yt_node *map, const char *key) {
  int i = yt_index(map, key);
  return i < 0 ? NULL : map->vals[i];
}

lbbt_status yt_put(yt_node *map, yt_node *key, yt_node *val) {
  int i = yt_index(map, key->text);
  if (i >= 0) {
    yt_free(map->keys[i]);
    yt_free(map->vals[i]);
    map->keys[i] = key;
    map->vals[i] = val;
    return LBBT_OK;
  }
  if (!grow(map)) {
    yt_free(key);
    yt_free(val);
    return lbbt_fail(LBBT_E_NOMEM, "out of memory building the YAML tree");
  }
  map->keys[map->n] = key;
  map->vals[map->n++] = val;
  return LBBT_OK;
}

lbbt_status yt_push(yt_node *seq, yt_node *item) {
  if (!grow(seq)) {
    yt_free(item);
    return lbbt_fail(LBBT_E_NOMEM, "out of memory building the YAML tree");
  }
  seq->vals[seq->n++] = item;
  return LBBT_OK;
}

yt_node *yt_clone(const yt_node *n) {
  if (!n) return NULL;
  yt_node *c = n->kind == YT_SCALAR ? yt_scalar(n->text, n->plain, n->line, n->col)
                                    : node_new(n->kind, n->line, n->col);
  if (!c) return NULL;
  for (int i = 0; i < n->n; i++) {
    if (!grow(c)) goto oom;
    yt_node *v = yt_clone(n->vals[i]);
    yt_node *k = n->kind == YT_MAP ? yt_clone(n->keys[i]) : NULL;
    if (!v || (n->kind == YT_MAP && !k)) {
      yt_free(v);
      yt_free(k);
      goto oom;
    }
    if (c->keys) c->keys[c->n] = k;
    c->vals[c->n++] = v;
  }
  return c;
oom:
  yt_free(c);
  return NULL;
}

int yt_is_null(const yt_node *n) {
  if (!n || n->kind != YT_SCALAR || !n->plain) return 0;
  const char *t = n->text;
  return !t[0] || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

const char *yt_describe(const yt_node *n, char *buf, size_t size) {
  if (!n) return "nothing";
  if (n->kind == YT_MAP) return "a mapping";
  if (n->kind == YT_SEQ) return "a list";
  if (strlen(n->text) > 40) snprintf(buf, size, "'%.37s...'", n->text);
  else snprintf(buf, size, "'%s'", n->text);
  return buf;
}

static void flow(spec_buf *b, const yt_node *n) {
  if (n->kind == YT_SCALAR) {
    spec_buf_add(b, n->text);
    return;
  }
  spec_buf_add(b, n->kind == YT_MAP ? "{" : "[");
  for (int i = 0; i < n->n; i++) {
    if (i) spec_buf_add(b, ", ");
    if (n->kind == YT_MAP) spec_buf_addf(b, "%s: ", n->keys[i]->text);
    flow(b, n->vals[i]);
  }
  spec_buf_add(b, n->kind == YT_MAP ? "}" : "]");
}

char *yt_flow_text(const yt_node *n) {
  spec_buf b = {0};
  flow(&b, n);
  if (b.oom || !b.s) {
    spec_buf_free(&b);
    return b.oom ? NULL : strdup("");
  }
  return b.s;
}

/* ---- conversion from libyaml's document -------------------------------------------- */

typedef struct convert_ctx {
  yaml_document_t *doc;
  const char *file;
  long nodes;
} convert_ctx;

static lbbt_status convert(convert_ctx *c, yaml_node_t *y, int depth, yt_node **out);

/* Apply "<<: *defaults" (or a list of them): keys not written explicitly are copied. */
static lbbt_status apply_merge_key(convert_ctx *c, yt_node *map, const yt_node *src, const yt_node *at) {
  if (src->kind == YT_SEQ) {
    for (int i = 0; i < src->n; i++) LBBT_TRY(apply_merge_key(c, map, src->vals[i], at));
    return LBBT_OK;
  }
  if (src->kind != YT_MAP)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: the merge key '<<' needs a mapping (or a list of mappings)",
                     c->file, at->line, at->col);
  for (int i = 0; i < src->n; i++) {
    if (yt_index(map, src->keys[i]->text) >= 0) continue;
    yt_node *k = yt_clone(src->keys[i]), *v = yt_clone(src->vals[i]);
    if (!k || !v) {
      yt_free(k);
      yt_free(v);
      return lbbt_fail(LBBT_E_NOMEM, "out of memory reading %s", c->file);
    }
    LBBT_TRY(yt_put(map, k, v));
  }
  return LBBT_OK;
}

static lbbt_status convert_map(convert_ctx *c, yaml_node_t *y, int depth, yt_node *map) {
  /* Merge keys are applied after the explicit keys, whatever their position, because an
   * explicit key always wins. */
  yt_node *merges[16];
  int n_merges = 0;
  lbbt_status st = LBBT_OK;
  for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top; p++) {
    yaml_node_t *yk = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *yv = yaml_document_get_node(c->doc, p->value);
    int line = (int)yk->start_mark.line + 1, col = (int)yk->start_mark.column + 1;
    if (yk->type != YAML_SCALAR_NODE) {
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a mapping key must be a plain word, not a %s", c->file,
                     line, col, yk->type == YAML_MAPPING_NODE ? "mapping" : "list");
      break;
    }
    yt_node *k = NULL, *v = NULL;
    if ((st = convert(c, yk, depth + 1, &k)) != LBBT_OK) break;
    if ((st = convert(c, yv, depth + 1, &v)) != LBBT_OK) {
      yt_free(k);
      break;
    }
    if (k->plain && !strcmp(k->text, "<<")) {
      if (n_merges == (int)(sizeof merges / sizeof merges[0])) {
        st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: too many merge keys '<<' in one mapping", c->file, line, col);
        yt_free(k);
        yt_free(v);
        break;
      }
      yt_free(k);
      merges[n_merges++] = v;
      continue;
    }
    int prev = yt_index(map, k->text);
    if (prev >= 0) {
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: duplicate key '%s' (first written at line %d, column %d)",
                     c->file, line, col, k->text, map->keys[prev]->line, map->keys[prev]->col);
      yt_free(k);
      yt_free(v);
      break;
    }
    if ((st = yt_put(map, k, v)) != LBBT_OK) break;
  }
  for (int i = 0; i < n_merges; i++) {
    if (st == LBBT_OK) st = apply_merge_key(c, map, merges[i], merges[i]);
    yt_free(merges[i]);
  }
  return st;
}

static lbbt_status convert(convert_ctx *c, yaml_node_t *y, int depth, yt_node **out) {
  int line = (int)y->start_mark.line + 1, col = (int)y->start_mark.column + 1;
  *out = NULL;
  if (depth > MAX_DEPTH)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: nested deeper than %d levels (an alias that contains itself?)",
                     c->file, line, col, MAX_DEPTH);
  if (++c->nodes > MAX_NODES)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: more than %d YAML nodes once aliases are expanded", c->file,
                     line, col, MAX_NODES);
  if (y->type == YAML_SCALAR_NODE) {
    const char *text = (const char *)y->data.scalar.value;
    if (strlen(text) != y->data.scalar.length)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a value contains a NUL character", c->file, line, col);
    *out = yt_scalar(text, y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, line, col);
    return *out ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "out of memory reading %s", c->file);
  }
  yt_node *n = node_new(y->type == YAML_MAPPING_NODE ? YT_MAP : YT_SEQ, line, col);
  if (!n) return lbbt_fail(LBBT_E_NOMEM, "out of memory reading %s", c->file);
  lbbt_status st = LBBT_OK;
  if (y->type == YAML_MAPPING_NODE) {
    st = convert_map(c, y, depth, n);
  } else {
    for (yaml_node_item_t *it = y->data.sequence.items.start; it < y->data.sequence.items.top; it++) {
      yt_node *item;
      if ((st = convert(c, yaml_document_get_node(c->doc, *it), depth + 1, &item)) != LBBT_OK) break;
      if ((st = yt_push(n, item)) != LBBT_OK) break;
    }
  }
  if (st != LBBT_OK) {
    yt_free(n);
    return st;
  }
  *out = n;
  return LBBT_OK;
}

/* libyaml's reader errors carry a byte offset instead of a line. */
static void offset_to_mark(const char *text, size_t len, size_t offset, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < offset && i < len; i++) {
    if (text[i] == '\n') {
      ++*line;
      *col = 1;
    } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
      ++*col;
    }
  }
}

static lbbt_status parser_error(const yaml_parser_t *p, const char *text, size_t len, const char *file) {
  int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
  const char *problem = p->problem ? p->problem : "unknown problem";
  if (p->error == YAML_READER_ERROR) {
    offset_to_mark(text, len, p->problem_offset, &line, &col);
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: malformed YAML: %s (byte 0x%02x); the file must be UTF-8 text",
                     file, line, col, problem, p->problem_value & 0xff);
  }
  if (p->context)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: malformed YAML: %s %s that started at line %d, column %d",
                     file, line, col, problem, p->context, (int)p->context_mark.line + 1,
                     (int)p->context_mark.column + 1);
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: malformed YAML: %s", file, line, col, problem);
}

lbbt_status yt_parse(const char *text, size_t len, const char *file, yt_node **out) {
  *out = NULL;
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) return lbbt_fail(LBBT_E_NOMEM, "out of memory starting libyaml");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    lbbt_status st = parser_error(&parser, text, len, file);
    yaml_parser_delete(&parser);
    return st;
  }
  lbbt_status st = LBBT_OK;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) {
    st = lbbt_fail(LBBT_E_INPUT, "%s:1:1: the file holds no YAML (it is empty or only comments)", file);
  } else {
    convert_ctx c = {&doc, file, 0};
    st = convert(&c, root, 0, out);
  }
  yaml_document_delete(&doc);
  if (st == LBBT_OK) { /* a second document would be silently ignored: refuse it */
    if (!yaml_parser_load(&parser, &doc)) {
      st = parser_error(&parser, text, len, file);
    } else {
      yaml_node_t *second = yaml_document_get_root_node(&doc);
      if (second)
        st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a second YAML document ('---'); an experiment file holds one",
                       file, (int)second->start_mark.line + 1, (int)second->start_mark.column + 1);
      yaml_document_delete(&doc);
    }
    if (st != LBBT_OK) {
      yt_free(*out);
      *out = NULL;
    }
  }
  yaml_parser_delete(&parser);
  return st;
}
