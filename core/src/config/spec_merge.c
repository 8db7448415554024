/* Tree edits for experiment files: deep merge of tier overrides, and matrix values written
 * at dotted paths checked against the directive tables; see spec_merge.h. */
#include "config/spec_merge.h"

#include <stdio.h>
#include <string.h>

#include "lbbt/spec.h"
#include "config/spec_keys.h"

enum { PATH_TEXT_MAX = 512 }; /* a matrix key */

const char *spec_block_noun(const spec_load_ctx *c) { return c->block && *c->block ? c->block : "matrix"; }

lbbt_status spec_oom(const spec_load_ctx *c) { return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", c->file); }

lbbt_status spec_put_clone(const spec_load_ctx *c, yt_node *map, const yt_node *key, const yt_node *val) {
  yt_node *k = yt_clone(key), *v = yt_clone(val);
  if (!k || !v) {
    yt_free(k);
    yt_free(v);
    return spec_oom(c);
  }
  return yt_put(map, k, v);
}

/* ---- tiers --------------------------------------------------------------------------- */

/* A tier's `stages: {bridge: {epochs: 1}}` merges into the stage named bridge. */
static lbbt_status merge_stages_by_name(const spec_load_ctx *c, yt_node *seq, const yt_node *src, const yt_node *src_key) {
  if (!seq || seq->kind != YT_SEQ)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: tier '%s' overrides stages by name, but base has no list of stages",
                     c->file, src_key->line, src_key->col, c->tier);
  for (int i = 0; i < src->n; i++) {
    const yt_node *name = src->keys[i], *over = src->vals[i];
    yt_node *target = NULL;
    const char *names[LBBT_MAX_STAGES * 4] = {0};
    int n_names = 0;
    for (int j = 0; j < seq->n; j++) {
      const yt_node *nm = yt_get(seq->vals[j], "name");
      if (!nm || nm->kind != YT_SCALAR) continue;
      if (n_names < (int)(sizeof names / sizeof names[0])) names[n_names++] = nm->text;
      if (!strcmp(nm->text, name->text)) target = seq->vals[j];
    }
    if (!target) {
      const char *near = spec_suggest(name->text, names, n_names);
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: tier '%s' overrides stage '%s', which base.stages does not define%s%s%s",
                       c->file, name->line, name->col, c->tier, name->text, near ? "; did you mean '" : "",
                       near ? near : "", near ? "'?" : "");
    }
    if (yt_is_null(over)) continue;
    if (over->kind != YT_MAP || target->kind != YT_MAP) {
      char buf[64];
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: tier '%s': the override of stage '%s' must be a mapping of keys, got %s",
                       c->file, over->line, over->col, c->tier, name->text, yt_describe(over, buf, sizeof buf));
    }
    LBBT_TRY(spec_merge_map(c, target, over, 0));
  }
  return LBBT_OK;
}

/* Replaced values keep the override's position, so errors point at the tier or matrix line
 * that set them. */
lbbt_status spec_merge_map(const spec_load_ctx *c, yt_node *dst, const yt_node *src, int run_root) {
  for (int i = 0; i < src->n; i++) {
    const yt_node *key = src->keys[i], *val = src->vals[i];
    yt_node *old = yt_get(dst, key->text);
    if (run_root && !strcmp(key->text, "stages") && val->kind == YT_MAP) {
      LBBT_TRY(merge_stages_by_name(c, old, val, key));
    } else if (old && old->kind == YT_MAP && val->kind == YT_MAP) {
      LBBT_TRY(spec_merge_map(c, old, val, 0));
    } else {
      LBBT_TRY(spec_put_clone(c, dst, key, val));
    }
  }
  return LBBT_OK;
}

/* ---- matrix -------------------------------------------------------------------------- */

/* The mapping value of key in map, created empty when absent or null. */
static lbbt_status child_map(const spec_load_ctx *c, yt_node *map, const char *key, const yt_node *at, yt_node **out) {
  yt_node *v = yt_get(map, key);
  if (!v || yt_is_null(v)) {
    yt_node *k = yt_scalar(key, 1, at->line, at->col), *m = yt_map(at->line, at->col);
    if (!k || !m) {
      yt_free(k);
      yt_free(m);
      return spec_oom(c);
    }
    LBBT_TRY(yt_put(map, k, m));
    v = m;
  }
  *out = v; /* a non-mapping here is reported by the binder with its own position */
  return LBBT_OK;
}

/* Set key in map to value: a mapping merges into an existing mapping, anything else
 * replaces.  The key takes the matrix key's position. */
static lbbt_status set_value(const spec_load_ctx *c, yt_node *map, const char *key, const yt_node *value,
                             const yt_node *at) {
  if (map->kind != YT_MAP) return LBBT_OK; /* the binder reports the non-mapping */
  yt_node *old = yt_get(map, key);
  if (old && old->kind == YT_MAP && value->kind == YT_MAP) return spec_merge_map(c, old, value, 0);
  yt_node *k = yt_scalar(key, 1, at->line, at->col), *v = yt_clone(value);
  if (!k || !v) {
    yt_free(k);
    yt_free(v);
    return spec_oom(c);
  }
  return yt_put(map, k, v);
}

static lbbt_status bad_matrix_key(const spec_load_ctx *c, const yt_node *at, const char *why_fmt, const char *seg,
                                  const spec_section *sec) {
  char why[256];
  snprintf(why, sizeof why, why_fmt, seg);
  const char *names[64] = {0};
  int n = 0;
  for (int i = 0; sec && i < sec->n_keys && n < 64; i++) names[n++] = sec->keys[i].name;
  const char *near = sec ? spec_suggest(seg, names, n) : NULL;
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key '%s': %s%s%s%s", c->file, at->line, at->col, spec_block_noun(c), at->text, why,
                   near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
}

/* Does the plugin the mapping names (a stage's task or analysis, or a backbone's plugin)
 * declare key? */
static int is_plugin_key(const spec_load_ctx *c, const spec_section *sec, const yt_node *map, const char *key) {
  if (!c->reg) return 0;
  int installed;
  const lbbt_option_table *table = NULL;
  if (sec == &spec_stage_section) {
    const yt_node *t = yt_get(map, "task"), *a = yt_get(map, "analysis");
    const char *task = t && t->kind == YT_SCALAR ? t->text : "", *analysis = a && a->kind == YT_SCALAR ? a->text : "";
    table = spec_registry_options(c->reg, task, analysis, &installed);
  } else if (sec->plugin_keys) {
    const yt_node *p = yt_get(map, "plugin");
    table = spec_registry_backbone_options(c->reg, p && p->kind == YT_SCALAR ? p->text : "", &installed);
  }
  for (int i = 0; table && i < table->n_keys; i++)
    if (!strcmp(table->keys[i].name, key)) return 1;
  return 0;
}

/* Write value at the dotted path key->text of the run tree.  The path is checked against
 * the directive tables, so a path to a key that does not exist is an error even when no
 * run would read it. */
lbbt_status spec_matrix_set(const spec_load_ctx *c, yt_node *root, const yt_node *key, const yt_node *value) {
  char path[PATH_TEXT_MAX];
  if (snprintf(path, sizeof path, "%s", key->text) >= (int)sizeof path)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key is too long", c->file, key->line, key->col, spec_block_noun(c));
  char *segs[32];
  int n = 0;
  for (char *p = path, *save = NULL;; p = NULL) {
    char *s = strtok_r(p, ".", &save);
    if (!s) break;
    if (n == 32) return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key is too deep", c->file, key->line, key->col, spec_block_noun(c));
    segs[n++] = s;
  }
  if (!n || key->text[0] == '.' || key->text[strlen(key->text) - 1] == '.' || strstr(key->text, ".."))
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key '%s' is not a dotted path like stages.NAME.lr", c->file,
                     key->line, key->col, spec_block_noun(c), key->text);
  const spec_section *sec = &spec_run_section;
  const char *where = "base";
  yt_node *cur = root;
  for (int i = 0; i < n; i++) {
    const spec_key *k = spec_find_key(sec, segs[i]);
    char why[160];
    if (!k && sec->plugin_keys && i == n - 1 && is_plugin_key(c, sec, cur, segs[i]))
      return set_value(c, cur, segs[i], value, key); /* a key of the stage's or backbone's plugin */
    if (!k) {
      snprintf(why, sizeof why, "'%%s' is not a key of %s", where);
      return bad_matrix_key(c, key, why, segs[i], sec);
    }
    int last = i == n - 1;
    switch (k->type) {
      case KEY_SECTION:
        if (last) return set_value(c, cur, segs[i], value, key);
        LBBT_TRY(child_map(c, cur, segs[i], key, &cur));
        if (cur->kind != YT_MAP) return set_value(c, cur, segs[i], value, key);
        sec = k->sub;
        where = k->sub->noun;
        break;
      case KEY_LIST: {
        if (last) return set_value(c, cur, segs[i], value, key);
        const yt_node *seq = yt_get(cur, segs[i]);
        const char *names[LBBT_MAX_STAGES * 4] = {0};
        int n_names = 0;
        yt_node *item = NULL;
        for (int j = 0; seq && seq->kind == YT_SEQ && j < seq->n; j++) {
          const yt_node *nm = yt_get(seq->vals[j], "name");
          if (!nm || nm->kind != YT_SCALAR) continue;
          if (n_names < (int)(sizeof names / sizeof names[0])) names[n_names++] = nm->text;
          if (!strcmp(nm->text, segs[i + 1])) item = seq->vals[j];
        }
        if (!item) {
          char list[256] = "";
          for (int j = 0; j < n_names; j++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
          const char *near = spec_suggest(segs[i + 1], names, n_names);
          return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key '%s': no %s named '%s' in base.%s (%s: %s)%s%s%s",
                           c->file, key->line, key->col, spec_block_noun(c), key->text, k->sub->noun, segs[i + 1], segs[i], segs[i],
                           n_names ? list : "none", near ? "; did you mean '" : "", near ? near : "",
                           near ? "'?" : "");
        }
        i++;
        if (i == n - 1) { /* the whole stage: merge a mapping into it */
          if (value->kind != YT_MAP || item->kind != YT_MAP) {
            char buf[64];
            return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key '%s': a value for a whole %s must be a mapping, got %s",
                             c->file, value->line, value->col, spec_block_noun(c), key->text, k->sub->noun, yt_describe(value, buf, sizeof buf));
          }
          return spec_merge_map(c, item, value, 0);
        }
        cur = item;
        sec = k->sub;
        where = k->sub->noun;
        break;
      }
      case KEY_OPTIONS:
        if (last) return set_value(c, cur, segs[i], value, key);
        if (i + 2 != n) {
          snprintf(why, sizeof why, "options are 'name: value' pairs, so '%s' takes one more segment, not %d",
                   segs[i], n - i - 1);
          return bad_matrix_key(c, key, "%s", why, NULL);
        }
        LBBT_TRY(child_map(c, cur, segs[i], key, &cur));
        return set_value(c, cur, segs[i + 1], value, key);
      case KEY_LOADER:
        return bad_matrix_key(c, key, "'%s' is not part of a run", segs[i], NULL);
      default:
        if (!last) {
          snprintf(why, sizeof why, "'%%s' is a single value in %s; nothing lies below it", where);
          return bad_matrix_key(c, key, why, segs[i], NULL);
        }
        return set_value(c, cur, segs[i], value, key);
    }
  }
  return LBBT_OK;
}
