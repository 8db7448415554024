/* The binder: applies a directive table (spec_keys.c) to a YAML mapping.  Every validation
 * message about a value comes from here; see spec_keys.h. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lbbt/plugin.h"
#include "lbbt/spec.h"
#include "config/spec_keys.h"

enum { PATH_TEXT_MAX = 512, LIST_TEXT_MAX = 512 };

const spec_key *spec_find_key(const spec_section *sec, const char *name) {
  for (int i = 0; i < sec->n_keys; i++)
    if (!strcmp(sec->keys[i].name, name)) return &sec->keys[i];
  return NULL;
}

const yt_node *spec_node_or(const yt_node *map, const char *key, const yt_node *fallback) {
  const yt_node *v = yt_get(map, key);
  return v ? v : fallback;
}

/* "a, b, c" of n names into out; "" shown as "\"\"". */
static const char *join_names(const char *const *names, int n, char *out, size_t size) {
  out[0] = 0;
  size_t len = 0;
  for (int i = 0; i < n && len < size; i++)
    len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "", names[i][0] ? names[i] : "\"\"");
  return out;
}

lbbt_status spec_unknown_key_in(const char *file, const yt_node *key, const spec_section *sec,
                                const spec_plugin_keys *extra, const char *noun) {
  const char *names[64 + LBBT_MAX_PLUGIN_KEYS] = {0};
  int n = 0;
  for (int i = 0; i < sec->n_keys && n < 64; i++)
    if (sec->keys[i].type != KEY_ID_SLOT) names[n++] = sec->keys[i].name;
  for (int i = 0; extra && extra->sec && i < extra->sec->n_keys; i++) names[n++] = extra->sec->keys[i].name;
  /* Why a plugin's keys could not be offered: it is not loaded, or declares none. */
  char why[LBBT_NAME_MAX + 96] = "";
  if (extra && extra->untyped)
    snprintf(why, sizeof why, " (%s checks its own options: write them under options:)", extra->owner);
  else if (extra && !extra->resolved && extra->owner[0] && strcmp(extra->owner, "backbone ''"))
    snprintf(why, sizeof why, " (%s is not loaded, so its own keys are unknown; see `lbbt plugins`)", extra->owner);
  else if (extra && !extra->sec)
    snprintf(why, sizeof why, " (%s declares no keys of its own)", extra->owner);
  const char *near = spec_suggest(key->text, names, n);
  if (near)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: unknown key '%s' in %s; did you mean '%s'?%s", file, key->line,
                     key->col, key->text, noun, near, why);
  char list[LIST_TEXT_MAX];
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: unknown key '%s' in %s; valid keys: %s%s", file, key->line, key->col,
                   key->text, noun, join_names(names, n, list, sizeof list), why);
}

lbbt_status spec_unknown_key(const char *file, const yt_node *key, const spec_section *sec, const char *noun) {
  return spec_unknown_key_in(file, key, sec, NULL, noun);
}

/* The core key of sec a stage may write (not a slot); NULL when name is none. */
static const spec_key *own_key(const spec_section *sec, const char *name) {
  const spec_key *k = spec_find_key(sec, name);
  return k && k->type != KEY_ID_SLOT ? k : NULL;
}

/* The plugin key name when the stage's plugin declares it, else NULL. */
static const spec_key *plugin_key(const spec_plugin_keys *pk, const char *name) {
  return pk && pk->sec ? spec_find_key(pk->sec, name) : NULL;
}

/* ---- canonical text ------------------------------------------------------------------ */

/* Start a line "<indent>name:" (or "<indent>- name:" for a list item's first key). */
static void canon_key(spec_bind *b, int depth, const char *name) {
  if (!b->canon) return;
  int spaces = 2 * depth;
  if (b->dash) {
    spaces -= 2;
    b->dash = 0;
  }
  spec_buf_addf(b->canon, "%*s%s%s:", spaces, "", spaces < 2 * depth ? "- " : "", name);
}

static void canon_value(spec_bind *b, const char *text) {
  if (b->canon) spec_buf_addf(b->canon, " %s\n", text);
}

static void canon_string(spec_bind *b, const char *text) {
  if (!b->canon) return;
  spec_buf_add(b->canon, " ");
  spec_buf_add_yaml_string(b->canon, text);
  spec_buf_add(b->canon, "\n");
}

/* ---- checks -------------------------------------------------------------------------- */

static const char *type_name(const spec_key *k) {
  switch (k->type) {
    case KEY_STRING: return k->flags & KEY_IDENT ? "a name" : "a string";
    case KEY_PATH: return "a path";
    case KEY_INT: return "an integer";
    case KEY_SEED: return "a non-negative integer";
    case KEY_NUMBER: return "a number";
    case KEY_BOOL: return "true or false";
    case KEY_ENUM: return "one of its names";
    case KEY_LAYERS: return "a layer range";
    case KEY_OPTIONS: return "a mapping of option: value";
    case KEY_SECTION: return "a mapping";
    case KEY_LIST: return "a list";
    case KEY_LOADER: return k->flags & KEY_LOADER_LIST ? "a list" : "a mapping";
    case KEY_ID_SLOT: return "a value";
  }
  return "a value";
}

/* A range bound as people write it: whole numbers in full (10000, not 1e+04). */
static void bound_text(double v, char out[32]) {
  if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) snprintf(out, 32, "%.0f", v);
  else spec_format_double(v, out);
}

/* "at least 0", "greater than 0", "from 0 to 1", "at least 0 and below 1". */
static const char *range_text(const spec_key *k, char *out, size_t size) {
  char lo[32], hi[32];
  bound_text(k->min, lo);
  bound_text(k->max, hi);
  int lo_x = !!(k->flags & KEY_MIN_EXCLUSIVE), hi_x = !!(k->flags & KEY_MAX_EXCLUSIVE);
  int has_lo = isfinite(k->min), has_hi = isfinite(k->max);
  if (has_lo && has_hi && !lo_x && !hi_x) snprintf(out, size, "from %s to %s", lo, hi);
  else if (has_lo && has_hi)
    snprintf(out, size, "%s %s and %s %s", lo_x ? "greater than" : "at least", lo, hi_x ? "below" : "at most", hi);
  else if (has_lo) snprintf(out, size, "%s %s", lo_x ? "greater than" : "at least", lo);
  else if (has_hi) snprintf(out, size, "%s %s", hi_x ? "below" : "at most", hi);
  else snprintf(out, size, "any");
  return out;
}

static lbbt_status check_range(spec_bind *b, const spec_key *k, double v, const char *text, const yt_node *pos,
                               const char *path) {
  if (!k->has_range) return LBBT_OK;
  int below = (k->flags & KEY_MIN_EXCLUSIVE) ? v <= k->min : v < k->min;
  int above = (k->flags & KEY_MAX_EXCLUSIVE) ? v >= k->max : v > k->max;
  if (!below && !above) return LBBT_OK;
  char allowed[96];
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: %s is out of range (allowed: %s)", b->file, pos->line, pos->col,
                   path, text, range_text(k, allowed, sizeof allowed));
}

static lbbt_status type_error(spec_bind *b, const spec_key *k, const yt_node *pos, const yt_node *got,
                              const char *got_text, const char *path) {
  char buf[64];
  if (!got) snprintf(buf, sizeof buf, strlen(got_text) > 40 ? "'%.37s...'" : "'%s'", got_text);
  const char *what = got ? yt_describe(got, buf, sizeof buf) : buf;
  if (k->type == KEY_ENUM) {
    char list[LIST_TEXT_MAX];
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: expected one of %s, got %s", b->file, pos->line, pos->col, path,
                     join_names(k->names, k->n_names, list, sizeof list), what);
  }
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: expected %s, got %s", b->file, pos->line, pos->col, path,
                   type_name(k), what);
}

/* Value must be one of names (ENUM spellings or STRING choices); returns its index. */
static lbbt_status check_choice(spec_bind *b, const spec_key *k, const char *text, const yt_node *pos,
                                const char *path, int *index) {
  for (int i = 0; i < k->n_names; i++)
    if (!strcmp(text, k->names[i])) {
      *index = i;
      return LBBT_OK;
    }
  char list[LIST_TEXT_MAX];
  join_names(k->names, k->n_names, list, sizeof list);
  const char *near = spec_suggest(text, k->names, k->n_names);
  if (near)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: '%s' is not one of %s; did you mean '%s'?", b->file, pos->line,
                     pos->col, path, text, list, near);
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: '%s' is not one of %s", b->file, pos->line, pos->col, path, text,
                   list);
}

static lbbt_status store_text(spec_bind *b, const char *text, char *field, size_t size, const yt_node *pos,
                              const char *path) {
  size_t n = strlen(text);
  if (n >= size)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: too long (%zu characters; at most %zu)", b->file, pos->line,
                     pos->col, path, n, size - 1);
  memcpy(field, text, n + 1);
  return LBBT_OK;
}

static int is_ident(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
          *s == '_'))
      return 0;
  return 1;
}

/* ---- scalar values --------------------------------------------------------------------- */

/* Convert text (a written value, or the row's default) into field and the canonical text.
 * pos: where errors point (the value, or the mapping when the default is used). */
static lbbt_status bind_scalar(spec_bind *b, const spec_key *k, const char *text, const yt_node *pos,
                               const char *path, void *field, int depth) {
  switch (k->type) {
    case KEY_STRING: {
      if ((k->flags & KEY_IDENT) && text[0] && !is_ident(text))
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: '%s' is not a valid name; use letters, digits, '-' and '_'",
                         b->file, pos->line, pos->col, path, text);
      int index;
      if (k->names) LBBT_TRY(check_choice(b, k, text, pos, path, &index));
      LBBT_TRY(store_text(b, text, field, k->size, pos, path));
      canon_key(b, depth, k->name);
      canon_string(b, text);
      return LBBT_OK;
    }
    case KEY_PATH: {
      char resolved[LBBT_PATH_MAX * 2];
      if (k->flags & KEY_MODELS_PREFIX) {
        if (lbbt_resolve_path(text, resolved, sizeof resolved) != LBBT_OK)
          return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: the path is too long", b->file, pos->line, pos->col, path);
      } else {
        snprintf(resolved, sizeof resolved, "%s", text);
      }
      LBBT_TRY(store_text(b, resolved, field, k->size, pos, path));
      if ((k->flags & KEY_MUST_EXIST) && resolved[0] && !(b->flags & LBBT_SPEC_SKIP_FILE_CHECKS) &&
          access(resolved, F_OK) != 0) {
        char cwd[PATH_TEXT_MAX];
        if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "?");
        if (strcmp(resolved, text))
          return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: '%s' does not exist (models:NAME is read from $LBBT_MODELS"
                           " = '%s')", b->file, pos->line, pos->col, path, resolved, lbbt_models_dir());
        /* models/lbbt-*: the checkout's own models (gitignored), which `make models` builds */
        int own_model = !strncmp(text, "models/lbbt-", 12);
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: '%s' does not exist (relative paths are relative to the "
                         "current directory, %s, not to the YAML file)%s", b->file, pos->line, pos->col, path,
                         text, cwd, own_model ? "; lbbt builds its own models with `make models` (TIER=smoke "
                         "for the -smoke ones)" : "");
      }
      canon_key(b, depth, k->name);
      canon_string(b, text); /* as written: ids must not depend on where models are kept */
      return LBBT_OK;
    }
    case KEY_INT:
    case KEY_SEED: {
      long long v;
      if (!spec_parse_integer(text, &v)) return type_error(b, k, pos, NULL, text, path);
      if (k->type == KEY_SEED) {
        if (v < 0) return type_error(b, k, pos, NULL, text, path);
        uint64_t u = (uint64_t)v;
        memcpy(field, &u, sizeof u);
        canon_key(b, depth, k->name);
        if (b->canon) spec_buf_addf(b->canon, " %llu\n", (unsigned long long)u);
        return LBBT_OK;
      }
      LBBT_TRY(check_range(b, k, (double)v, text, pos, path));
      if (v < INT_MIN || v > INT_MAX)
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: %s is out of range", b->file, pos->line, pos->col, path, text);
      int iv = (int)v;
      memcpy(field, &iv, sizeof iv);
      canon_key(b, depth, k->name);
      if (b->canon) spec_buf_addf(b->canon, " %d\n", iv);
      return LBBT_OK;
    }
    case KEY_NUMBER: {
      double v;
      if (!spec_parse_double(text, &v)) return type_error(b, k, pos, NULL, text, path);
      LBBT_TRY(check_range(b, k, v, text, pos, path));
      memcpy(field, &v, sizeof v);
      char canon[32];
      spec_format_double(v, canon);
      canon_key(b, depth, k->name);
      canon_value(b, canon);
      return LBBT_OK;
    }
    case KEY_BOOL: {
      static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
      int v = -1;
      for (int i = 0; i < 3; i++) {
        if (!strcasecmp(text, yes[i])) v = 1;
        if (!strcasecmp(text, no[i])) v = 0;
      }
      if (v < 0) return type_error(b, k, pos, NULL, text, path);
      memcpy(field, &v, sizeof v);
      canon_key(b, depth, k->name);
      canon_value(b, v ? "true" : "false");
      return LBBT_OK;
    }
    case KEY_ENUM: {
      int index;
      LBBT_TRY(check_choice(b, k, text, pos, path, &index));
      memcpy(field, &index, sizeof index);
      canon_key(b, depth, k->name);
      canon_value(b, k->names[index]);
      return LBBT_OK;
    }
    case KEY_LAYERS: {
      lbbt_layer_range r;
      if (lbbt_layer_range_parse(text, &r) != LBBT_OK)
        return lbbt_fail_context(LBBT_E_INPUT, "%s:%d:%d: %s", b->file, pos->line, pos->col, path);
      memcpy(field, &r, sizeof r);
      char canon[64];
      lbbt_layer_range_format(&r, canon, sizeof canon);
      canon_key(b, depth, k->name);
      canon_value(b, canon);
      return LBBT_OK;
    }
    default:
      return lbbt_fail(LBBT_E_INTERNAL, "spec: key '%s' is not a scalar type", k->name);
  }
}

/* bind_scalar, honouring KEY_ID_IF_SET: such a key's canonical text is kept only when it
 * differs from its default's. */
static lbbt_status bind_scalar_in_id(spec_bind *b, const spec_key *k, const char *text, const yt_node *pos,
                                     const char *path, void *field, int depth) {
  if (!(k->flags & KEY_ID_IF_SET) || !b->canon) return bind_scalar(b, k, text, pos, path, field, depth);
  spec_buf *canon = b->canon;
  spec_buf mine = {0}, def = {0};
  int dash = b->dash;
  b->canon = &mine;
  lbbt_status st = bind_scalar(b, k, text, pos, path, field, depth);
  if (st == LBBT_OK && k->def != REQUIRED) { /* the default into a scratch field: same type, same size */
    unsigned char scratch[LBBT_PATH_MAX * 2];
    b->dash = dash;
    b->canon = &def;
    if (k->size <= sizeof scratch) st = bind_scalar(b, k, k->def, pos, path, scratch, depth);
  }
  b->canon = canon;
  if (st == LBBT_OK && (k->def == REQUIRED || mine.oom || def.oom || !def.s || !mine.s || strcmp(mine.s, def.s))) {
    if (mine.s) spec_buf_add(canon, mine.s);
  } else {
    b->dash = dash; /* nothing written: a list item's dash still to come */
  }
  spec_buf_free(&mine);
  spec_buf_free(&def);
  return st;
}

/* ---- options, sections, lists ---------------------------------------------------------- */

/* One option as written: under `options:` or (a plugin key) directly in the stage. */
typedef struct written_option {
  const yt_node *key, *val;
} written_option;

static int written_cmp(const void *a, const void *b) {
  return strcmp(((const written_option *)a)->key->text, ((const written_option *)b)->key->text);
}

/* The stage's `options:` mapping v, and the plugin keys written directly in the stage map:
 * kept as text in the struct (file order, options first) and written to the canonical text
 * sorted by key, so where a key was written does not change the run id. */
static lbbt_status bind_options(spec_bind *b, const spec_key *k, const yt_node *v, const char *path, void *obj,
                                int depth, const spec_section *sec, const spec_where *w, const spec_plugin_keys *pk) {
  lbbt_option *opts = (lbbt_option *)((char *)obj + k->offset);
  int *count = (int *)((char *)obj + k->count_offset);
  *count = 0;
  if (v && v->kind != YT_MAP) return type_error(b, k, v, v, NULL, path);
  written_option all[LBBT_MAX_OPTIONS];
  int n = 0;
  const yt_node *stage = w ? w->map : NULL;
  for (int pass = 0; pass < 2; pass++) {
    const yt_node *m = pass == 0 ? v : (pk && pk->sec ? stage : NULL);
    for (int i = 0; m && i < m->n; i++) {
      const yt_node *key = m->keys[i], *val = m->vals[i];
      if (pass == 1 && (spec_find_key(sec, key->text) || !plugin_key(pk, key->text))) continue;
      /* "dim: ~" = the plugin's default, as for every key; a tier or group that switches
       * plugins writes it to drop the former plugin's key, so it is not an unknown key */
      if (pass == 0 && yt_is_null(val)) continue;
      if (pass == 0 && pk && pk->resolved && !plugin_key(pk, key->text)) {
        char noun[LBBT_NAME_MAX * 2 + 48];
        snprintf(noun, sizeof noun, "the options of %s (%s)", w ? w->noun : "the stage", pk->owner);
        return spec_unknown_key_in(b->file, key, &(spec_section){.n_keys = 0}, pk, noun);
      }
      const yt_node *twice = pass == 1 ? yt_get(v, key->text) : NULL;
      if (twice)
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s.%s is written twice: in the stage and under options: (line %d); "
                         "keep one", b->file, key->line, key->col, w->path, key->text, twice->line);
      if (yt_is_null(val)) continue; /* "dim: ~" = the plugin's default, as for every key */
      if (n == k->max_count)
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: more than %d options", b->file, key->line, key->col, path,
                         k->max_count);
      char sub[PATH_TEXT_MAX];
      snprintf(sub, sizeof sub, "%s.%s", path, key->text);
      if (val->kind != YT_SCALAR) {
        char buf[64];
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: an option value is one scalar (number, word, path), got %s",
                         b->file, val->line, val->col, sub, yt_describe(val, buf, sizeof buf));
      }
      lbbt_option *o = &opts[n];
      LBBT_TRY(store_text(b, key->text, o->key, sizeof o->key, key, sub));
      LBBT_TRY(store_text(b, val->text, o->value, sizeof o->value, val, sub));
      o->line = val->line;
      o->col = val->col;
      all[n++] = (written_option){key, val};
    }
  }
  *count = n;
  if (!n && (k->flags & KEY_ID_IF_SET)) return LBBT_OK; /* empty: not in the run id */
  canon_key(b, depth, k->name);
  if (!n) {
    canon_value(b, "{}");
    return LBBT_OK;
  }
  if (b->canon) spec_buf_add(b->canon, "\n");
  qsort(all, (size_t)n, sizeof *all, written_cmp);
  for (int i = 0; i < n; i++) {
    canon_key(b, depth + 1, all[i].key->text);
    double d;
    if (all[i].val->plain && spec_parse_double(all[i].val->text, &d)) { /* 64.0 and 64 are one setting */
      char num[32];
      spec_format_double(d, num);
      canon_value(b, num);
    } else {
      canon_string(b, all[i].val->text);
    }
  }
  return LBBT_OK;
}

/* The plugin's keys that have no slot in sec: typed values into pk->obj (written under
 * options: or in the stage, else the default).  Their canonical text is the options'. */
static lbbt_status bind_plugin_values(spec_bind *b, const spec_section *sec, const spec_where *w,
                                      const spec_plugin_keys *pk, const yt_node *here) {
  const yt_node *opts = yt_get(w->map, "options");
  spec_buf *canon = b->canon;
  b->canon = NULL;
  lbbt_status st = LBBT_OK;
  for (int i = 0; st == LBBT_OK && i < pk->sec->n_keys; i++) {
    const spec_key *k = &pk->sec->keys[i];
    const spec_key *core = spec_find_key(sec, k->name);
    if (core && core->type == KEY_ID_SLOT) continue; /* bound in its place */
    /* A plugin key named like a core key is written under options: only. */
    const yt_node *v = core ? NULL : yt_get(w->map, k->name);
    int flat = v != NULL;
    if (!v && opts && opts->kind == YT_MAP) v = yt_get(opts, k->name);
    const yt_node *at = v ? v : here;
    if (v && yt_is_null(v)) v = NULL;
    char path[PATH_TEXT_MAX];
    snprintf(path, sizeof path, "%s%s%s", w->path, flat ? "." : ".options.", k->name);
    if (!v && (k->flags & KEY_OPTIONAL))
      continue; /* left zero: the plugin asks whether it was written */
    if (!v && k->def == REQUIRED)
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: missing required key '%s' in %s (%s needs it)", b->file, at->line,
                     at->col, k->name, w->noun, pk->owner);
    else
      st = bind_scalar(b, k, v ? v->text : k->def, at, path, (char *)pk->obj + k->offset, 0);
  }
  b->canon = canon;
  return st;
}

static lbbt_status bind_list(spec_bind *b, const spec_key *k, const yt_node *v, const char *path, void *obj,
                             int depth) {
  int *count = (int *)((char *)obj + k->count_offset);
  *count = 0;
  if (!v) {
    canon_key(b, depth, k->name);
    canon_value(b, "[]");
    return LBBT_OK;
  }
  if (v->kind != YT_SEQ) return type_error(b, k, v, v, NULL, path);
  if (v->n == 0 && k->def == REQUIRED)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: the list is empty; a run needs at least one %s", b->file,
                     v->line, v->col, path, k->sub->noun);
  if (v->n > k->max_count)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: %d entries; at most %d", b->file, v->line, v->col, path, v->n,
                     k->max_count);
  canon_key(b, depth, k->name);
  if (b->canon) spec_buf_add(b->canon, v->n ? "\n" : " []\n");
  for (int i = 0; i < v->n; i++) {
    const yt_node *item = v->vals[i];
    const yt_node *name = yt_get(item, "name");
    char noun[LBBT_NAME_MAX + 32], sub[PATH_TEXT_MAX];
    if (name && name->kind == YT_SCALAR && !yt_is_null(name)) {
      snprintf(noun, sizeof noun, "%s '%.*s'", k->sub->noun, LBBT_NAME_MAX, name->text);
      if (snprintf(sub, sizeof sub, "%s.%s", path, name->text) >= (int)sizeof sub) sub[0] = 0;
    } else {
      snprintf(noun, sizeof noun, "%s %d", k->sub->noun, i + 1);
      if (snprintf(sub, sizeof sub, "%s[%d]", path, i) >= (int)sizeof sub) sub[0] = 0;
    }
    spec_where w = {sub, noun, item, item};
    b->dash = 1;
    LBBT_TRY(spec_bind_section(b, k->sub, &w, (char *)obj + k->offset + (size_t)i * k->size, depth + 2));
  }
  *count = v->n;
  return LBBT_OK;
}

lbbt_status spec_bind_section(spec_bind *b, const spec_section *sec, const spec_where *w, void *obj, int depth) {
  const yt_node *map = w->map && !yt_is_null(w->map) ? w->map : NULL;
  if (map && map->kind != YT_MAP) {
    char buf[64];
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: expected a mapping of keys, got %s", b->file, map->line, map->col,
                     w->path[0] ? w->path : w->noun, yt_describe(map, buf, sizeof buf));
  }
  spec_plugin_keys pk = {0}, *pkp = NULL;
  if (sec->plugin_keys) {
    spec_where at = *w;
    at.map = map;
    LBBT_TRY(sec->plugin_keys(b, &at, obj, &pk));
    pkp = &pk;
  }
  for (int i = 0; map && i < map->n; i++)
    if (!own_key(sec, map->keys[i]->text) && !plugin_key(pkp, map->keys[i]->text))
      return spec_unknown_key_in(b->file, map->keys[i], sec, pkp, w->noun);
  const yt_node *here = map ? map : w->at;
  for (int i = 0; i < sec->n_keys; i++) {
    const spec_key *k = &sec->keys[i];
    const yt_node *v = yt_get(map, k->name);
    const yt_node *absent_at = v ? v : here; /* a key written as null is "absent" at its own line */
    if (v && yt_is_null(v)) v = NULL;
    if (!v && k->def == REQUIRED)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: missing required key '%s' in %s", b->file, absent_at->line,
                       absent_at->col, k->name, w->noun);
    if (k->type == KEY_LOADER) continue;
    char path[PATH_TEXT_MAX];
    snprintf(path, sizeof path, "%s%s%s", w->path, w->path[0] ? "." : "", k->name);
    void *field = (char *)obj + k->offset;
    switch (k->type) {
      case KEY_SECTION: {
        if (v && v->kind != YT_MAP) return type_error(b, k, v, v, NULL, path);
        spec_where sub = {path, k->sub->noun, v, absent_at};
        canon_key(b, depth, k->name);
        if (b->canon) spec_buf_add(b->canon, "\n");
        LBBT_TRY(spec_bind_section(b, k->sub, &sub, field, depth + 1));
        break;
      }
      case KEY_LIST: LBBT_TRY(bind_list(b, k, v, path, obj, depth)); break;
      case KEY_OPTIONS: {
        spec_where here_w = *w;
        here_w.map = map;
        LBBT_TRY(bind_options(b, k, v, path, obj, depth, sec, &here_w, pkp));
        break;
      }
      case KEY_ID_SLOT: {
        const spec_key *pkey = plugin_key(pkp, k->name);
        if (!pkey) { /* the plugin does not read it: the text every such stage had */
          canon_key(b, depth, k->name);
          canon_value(b, k->def);
          break;
        }
        if (v && v->kind != YT_SCALAR) return type_error(b, pkey, v, v, NULL, path);
        if (!v && (pkey->flags & KEY_OPTIONAL)) { /* the text every such stage had; field left zero */
          canon_key(b, depth, k->name);
          canon_value(b, k->def);
          break;
        }
        if (!v && pkey->def == REQUIRED)
          return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: missing required key '%s' in %s (%s needs it)", b->file,
                           absent_at->line, absent_at->col, k->name, w->noun, pk.owner);
        LBBT_TRY(bind_scalar(b, pkey, v ? v->text : pkey->def, absent_at, path, (char *)pk.obj + pkey->offset,
                             depth));
        break;
      }
      default:
        if (v && v->kind != YT_SCALAR) return type_error(b, k, v, v, NULL, path);
        LBBT_TRY(bind_scalar_in_id(b, k, v ? v->text : k->def, absent_at, path, field, depth));
    }
  }
  if (pk.sec) {
    spec_where here_w = *w;
    here_w.map = map;
    LBBT_TRY(bind_plugin_values(b, sec, &here_w, &pk, here));
  }
  if (sec->check) {
    spec_where checked = *w;
    checked.map = map;
    checked.at = here;
    LBBT_TRY(sec->check(b, &checked, obj));
  }
  if (b->canon && b->canon->oom) return lbbt_fail(LBBT_E_NOMEM, "out of memory writing the resolved config");
  return LBBT_OK;
}

/* ---- the reference (`lbbt check --keys`) ------------------------------------------------ */

static void write_cell_escaped(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '|') fputs("\\|", f);
    else fputc(*s, f);
  }
}

void spec_write_section(FILE *f, const spec_section *sec, const char *title) {
  fprintf(f, "### %s\n\n%s\n\n| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n", title, sec->doc);
  for (int i = 0; i < sec->n_keys; i++) {
    const spec_key *k = &sec->keys[i];
    if (k->type == KEY_ID_SLOT) continue; /* a plugin's key now: listed with the plugin */
    fprintf(f, "| `%s%s%s` | ", sec->path, sec->path[0] ? "." : "", k->name);
    static const char *const types[] = {"string", "path", "integer", "seed", "number", "bool",
                                        "enum", "layer range", "options", "section", "list", "mapping"};
    fputs(k->type == KEY_STRING && (k->flags & KEY_IDENT)       ? "name"
          : k->type == KEY_LOADER && (k->flags & KEY_LOADER_LIST) ? "list"
                                                                  : types[k->type],
          f);
    fputs(" | ", f);
    if (k->flags & KEY_OPTIONAL) fputs("(optional)", f);
    else if (k->def == REQUIRED) fputs("**required**", f);
    else if (!k->def[0]) fputs("`\"\"`", f);
    else fprintf(f, "`%s`", k->def);
    fputs(" | ", f);
    char buf[LIST_TEXT_MAX];
    if (k->names) {
      join_names(k->names, k->n_names, buf, sizeof buf);
      write_cell_escaped(f, buf);
    } else if (k->has_range) {
      fputs(range_text(k, buf, sizeof buf), f);
    } else if (k->flags & KEY_IDENT) {
      fputs("letters, digits, `-`, `_`", f);
    } else if (k->type == KEY_LAYERS) {
      fputs("`all`, `none`, `first:K`, `last:K`, `range:A-B`", f);
    } else if (k->type == KEY_PATH) {
      fputs(k->flags & KEY_MUST_EXIST ? "must exist when set" : "", f);
    } else if (k->type == KEY_BOOL) {
      fputs("true, false", f);
    } else if (k->type == KEY_OPTIONS) {
      fprintf(f, "at most %d", k->max_count);
    } else if (k->type == KEY_LIST) {
      fprintf(f, "1 to %d entries", k->max_count);
    } else if (k->type == KEY_LOADER && (k->flags & KEY_LOADER_LIST)) {
      fprintf(f, "at most %d entries", k->max_count);
    }
    fputs(" | ", f);
    write_cell_escaped(f, k->doc);
    fputs(" |\n", f);
  }
  fputs("\n", f);
}

static void write_subsections(FILE *f, const spec_section *sec) {
  for (int i = 0; i < sec->n_keys; i++) {
    const spec_section *sub = sec->keys[i].sub;
    if (!sub) continue;
    char title[128];
    snprintf(title, sizeof title, "`%s` (%s)", sub->path, sub->noun);
    spec_write_section(f, sub, title);
    write_subsections(f, sub);
  }
}

void lbbt_spec_write_reference(FILE *f) {
  spec_write_section(f, &spec_top_section, "Top level");
  write_subsections(f, &spec_top_section);
  spec_write_section(f, &spec_tier_section, "`tiers.<tier>`");
  spec_write_section(f, &spec_run_section, "`base` (one run; matrix keys are these paths)");
  write_subsections(f, &spec_run_section);
  spec_write_plugin_reference(f, lbbt_registry_global());
}

lbbt_status spec_bind_value_at(const spec_key *k, const char *text, const char *where, int line, int col,
                               void *field) {
  yt_node pos = {.kind = YT_SCALAR, .line = line, .col = col};
  spec_bind b = {.file = where, .flags = LBBT_SPEC_SKIP_FILE_CHECKS};
  return bind_scalar(&b, k, text, &pos, k->name, field, 0);
}

lbbt_status spec_bind_value(const spec_key *k, const char *text, const char *where, void *field) {
  return spec_bind_value_at(k, text, where, 0, 0, field);
}
