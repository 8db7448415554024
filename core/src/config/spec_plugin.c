/* Plugin option tables (options.h) as directive tables the binder walks: conversion, the
 * checks a table must pass when its plugin loads, the registry lookup, the typed values a
 * plugin reads, and their part of `lbbt check --keys`. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/plugin_refuse.h"
#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "lbbt/spec.h"
#include "config/spec_keys.h"

/* The public type numbering is the binder's (options.h promises it). */
_Static_assert((int)LBBT_KEY_STRING == (int)KEY_STRING && (int)LBBT_KEY_INT == (int)KEY_INT &&
                   (int)LBBT_KEY_SEED == (int)KEY_SEED && (int)LBBT_KEY_NUMBER == (int)KEY_NUMBER &&
                   (int)LBBT_KEY_BOOL == (int)KEY_BOOL && (int)LBBT_KEY_ENUM == (int)KEY_ENUM &&
                   (int)LBBT_KEY_LAYERS == (int)KEY_LAYERS,
               "lbbt_key_type numbering");
_Static_assert(LBBT_KEY_MIN_EXCLUSIVE == KEY_MIN_EXCLUSIVE && LBBT_KEY_MAX_EXCLUSIVE == KEY_MAX_EXCLUSIVE &&
                   LBBT_KEY_IDENT == KEY_IDENT && LBBT_KEY_OPTIONAL == KEY_OPTIONAL,
               "lbbt_key flags");

void spec_plugin_section(const lbbt_option_table *t, const char *noun, const char *path, spec_key *keys,
                         spec_section *sec) {
  int n = t->n_keys < LBBT_MAX_PLUGIN_KEYS ? t->n_keys : LBBT_MAX_PLUGIN_KEYS;
  for (int i = 0; i < n; i++) {
    const lbbt_key *r = &t->keys[i];
    keys[i] = (spec_key){.name = r->name, .type = (spec_key_type)r->type, .offset = r->offset, .size = r->size,
                         .def = r->def, .names = r->names, .n_names = r->n_names, .has_range = r->has_range,
                         .min = r->min, .max = r->max,
                         .flags = r->flags & (KEY_MIN_EXCLUSIVE | KEY_MAX_EXCLUSIVE | KEY_IDENT | KEY_OPTIONAL), .doc = r->doc};
  }
  *sec = (spec_section){.noun = noun, .path = path, .keys = keys, .n_keys = n,
                        .doc = t->doc ? t->doc : ""};
}


static int key_name_ok(const char *s) {
  if (!s || !*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
  return 1;
}

/* The field size each type stores (STRING: any). */
static size_t type_size(lbbt_key_type t) {
  switch (t) {
    case LBBT_KEY_INT: case LBBT_KEY_BOOL: case LBBT_KEY_ENUM: return sizeof(int);
    case LBBT_KEY_SEED: return sizeof(uint64_t);
    case LBBT_KEY_NUMBER: return sizeof(double);
    case LBBT_KEY_LAYERS: return sizeof(lbbt_layer_range);
    case LBBT_KEY_STRING: return 0;
  }
  return (size_t)-1;
}

lbbt_status spec_option_table_check(const lbbt_option_table *t, char *reason, size_t n) {
  if (t->struct_size < offsetof(lbbt_option_table, doc) + sizeof t->doc)
    return lbbt_plugin_refuse(reason, n, "options->struct_size is %zu: set it to sizeof(lbbt_option_table) "
                  "(LBBT_OPTION_TABLE does)", t->struct_size);
  if (t->n_keys < 0 || t->n_keys > LBBT_MAX_PLUGIN_KEYS)
    return lbbt_plugin_refuse(reason, n, "options->n_keys is %d: from 0 to %d", t->n_keys, LBBT_MAX_PLUGIN_KEYS);
  if (t->n_keys && !t->keys) return lbbt_plugin_refuse(reason, n, "options->keys is NULL");
  for (int i = 0; i < t->n_keys; i++) {
    const lbbt_key *k = &t->keys[i];
    if (!key_name_ok(k->name))
      return lbbt_plugin_refuse(reason, n, "option %d: name '%s' is not [a-z0-9_]+", i, k->name ? k->name : "(null)");
    for (int j = 0; j < i; j++)
      if (!strcmp(t->keys[j].name, k->name)) return lbbt_plugin_refuse(reason, n, "option '%s' is declared twice", k->name);
    size_t want = type_size(k->type);
    if (want == (size_t)-1) return lbbt_plugin_refuse(reason, n, "option '%s': unknown type %d", k->name, (int)k->type);
    if (want ? k->size != want : k->size < 2)
      return lbbt_plugin_refuse(reason, n, "option '%s': field size %zu does not fit its type (LBBT_KEY_FIELD sets it)",
                    k->name, k->size);
    if (k->offset > t->options_size || k->size > t->options_size - k->offset)
      return lbbt_plugin_refuse(reason, n, "option '%s': field at %zu..%zu lies outside the %zu-byte options struct", k->name,
                    k->offset, k->offset + k->size, t->options_size);
    if (k->type == LBBT_KEY_ENUM && (!k->names || k->n_names < 1))
      return lbbt_plugin_refuse(reason, n, "option '%s': an enum needs names", k->name);
    if (!k->doc || !k->doc[0]) return lbbt_plugin_refuse(reason, n, "option '%s': doc is empty: say what it sets", k->name);
    if ((k->flags & LBBT_KEY_OPTIONAL) && k->def)
      return lbbt_plugin_refuse(reason, n, "option '%s': an optional key has no default (def must be NULL)", k->name);
    if (k->def) { /* the default must itself be valid */
      spec_key row;
      spec_section sec;
      spec_key rows[LBBT_MAX_PLUGIN_KEYS];
      spec_plugin_section(t, "", "", rows, &sec);
      row = rows[i];
      unsigned char scratch[LBBT_PATH_MAX * 2];
      if (row.size > sizeof scratch || spec_bind_value(&row, k->def, "default", scratch) != LBBT_OK)
        return lbbt_plugin_refuse(reason, n, "option '%s': default '%s' is not valid: %s", k->name, k->def, lbbt_last_error());
    }
  }
  return LBBT_OK;
}

const lbbt_option_table *spec_registry_options(const lbbt_registry *reg, const char *task, const char *analysis,
                                               int *installed) {
  const lbbt_plugin *p = task[0] ? lbbt_registry_find(reg, LBBT_KIND_TASK, task)
                                 : lbbt_registry_find(reg, LBBT_KIND_ANALYSIS, analysis);
  *installed = p != NULL;
  return p ? p->options : NULL;
}

const lbbt_option_table *spec_registry_backbone_options(const lbbt_registry *reg, const char *name,
                                                        int *installed) {
  const lbbt_plugin *p = lbbt_registry_find(reg, LBBT_KIND_BACKBONE, name);
  *installed = p != NULL;
  return p ? p->options : NULL;
}

/* ---- what plugins read ----------------------------------------------------------------- */

const void *lbbt_stage_options(const lbbt_stage_spec *stage) { return stage->plugin_options; }

const void *lbbt_backbone_options(const lbbt_backbone_spec *spec) { return spec->plugin_options; }

int lbbt_backbone_option_written(const lbbt_backbone_spec *spec, const char *key) {
  return lbbt_option_find(spec->options, spec->n_options, key) != NULL;
}

int lbbt_stage_option_written(const lbbt_stage_spec *stage, const char *key) {
  return lbbt_option_find(stage->options, stage->n_options, key) != NULL;
}

lbbt_status lbbt_stage_options_record(lbbt_stage_ctx *ctx, const lbbt_option_table *t) {
  const char *base = lbbt_stage_options(ctx->stage);
  if (!base || !t) return LBBT_OK;
  for (int i = 0; i < t->n_keys; i++) {
    const lbbt_key *k = &t->keys[i];
    const char *field = base + k->offset;
    char sub[LBBT_NAME_MAX * 2], key[LBBT_NAME_MAX * 3], text[LBBT_PATH_MAX];
    snprintf(sub, sizeof sub, "options/%s", k->name);
    lbbt_stage_key(ctx, sub, key, sizeof key);
    double v = NAN;
    int iv;
    uint64_t u;
    switch (k->type) {
      case LBBT_KEY_INT: case LBBT_KEY_BOOL: memcpy(&iv, field, sizeof iv); v = iv; break;
      case LBBT_KEY_SEED: memcpy(&u, field, sizeof u); v = (double)u; break;
      case LBBT_KEY_NUMBER: memcpy(&v, field, sizeof v); break;
      case LBBT_KEY_ENUM: memcpy(&iv, field, sizeof iv); snprintf(text, sizeof text, "%s", k->names[iv]); break;
      case LBBT_KEY_LAYERS: lbbt_layer_range_format((const lbbt_layer_range *)(const void *)field, text, sizeof text); break;
      case LBBT_KEY_STRING: snprintf(text, sizeof text, "%s", field); break;
    }
    if (k->type == LBBT_KEY_INT || k->type == LBBT_KEY_BOOL || k->type == LBBT_KEY_SEED || k->type == LBBT_KEY_NUMBER)
      LBBT_TRY(lbbt_record_scalar(ctx->record, key, v));
    else
      LBBT_TRY(lbbt_record_string(ctx->record, key, text));
  }
  return LBBT_OK;
}

/* ---- the reference ------------------------------------------------------------------------ */

void spec_write_plugin_reference(FILE *f, const lbbt_registry *reg) {
  static const lbbt_plugin_kind kinds[] = {LBBT_KIND_BACKBONE, LBBT_KIND_TASK, LBBT_KIND_ANALYSIS};
  for (size_t kind = 0; kind < 3; kind++)
    for (int i = 0; reg && i < lbbt_registry_count(reg); i++) {
      const lbbt_plugin *p = lbbt_registry_at(reg, i)->plugin;
      if (p->kind != kinds[kind] || !p->options || !p->options->n_keys) continue;
      char noun[LBBT_NAME_MAX + 16], title[LBBT_NAME_MAX * 2 + 32];
      snprintf(noun, sizeof noun, "%s '%s'", lbbt_plugin_kind_name(p->kind), p->name);
      int bb = p->kind == LBBT_KIND_BACKBONE;
      if (bb) snprintf(title, sizeof title, "`backbone` with plugin: %s", p->name);
      else snprintf(title, sizeof title, "`stages.<name>` with %s: %s", lbbt_plugin_kind_name(p->kind), p->name);
      spec_key rows[LBBT_MAX_PLUGIN_KEYS];
      spec_section sec;
      spec_plugin_section(p->options, noun, bb ? "backbone" : "stages.<name>", rows, &sec);
      spec_write_section(f, &sec, title);
    }
}

/* ---- backbone specs built in code ----------------------------------------------------- */

lbbt_status lbbt_backbone_options_bind(const lbbt_backbone_spec *spec, const lbbt_option_table *t, const char *owner,
                                       lbbt_backbone_spec **out) {
  *out = NULL;
  if (!t || spec->plugin_options) return LBBT_OK;
  spec_key rows[LBBT_MAX_PLUGIN_KEYS];
  spec_section sec;
  spec_plugin_section(t, owner, "backbone", rows, &sec);
  char where[LBBT_NAME_MAX + 32];
  snprintf(where, sizeof where, "%s backbone options", owner);
  for (int i = 0; i < spec->n_options; i++) {
    const lbbt_option *o = &spec->options[i];
    if (!spec_find_key(&sec, o->key)) {
      char known[LBBT_MAX_PLUGIN_KEYS * (LBBT_NAME_MAX + 2)] = "";
      for (int j = 0; j < sec.n_keys; j++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "", sec.keys[j].name);
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: unknown key '%s' (known: %s)", where, o->line, o->col, o->key,
                       sec.n_keys ? known : "none");
    }
  }
  lbbt_backbone_spec *copy = malloc(sizeof *copy);
  void *values = calloc(1, t->options_size ? t->options_size : 1);
  if (!copy || !values) {
    free(copy);
    free(values);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", where);
  }
  *copy = *spec;
  copy->plugin_options = values;
  for (int i = 0; i < sec.n_keys; i++) {
    const spec_key *k = &sec.keys[i];
    const lbbt_option *o = lbbt_option_find(spec->options, spec->n_options, k->name);
    lbbt_status st = LBBT_OK;
    if (o)
      st = spec_bind_value_at(k, o->value, where, o->line, o->col, (char *)values + k->offset);
    else if (k->flags & KEY_OPTIONAL)
      continue;
    else if (k->def == REQUIRED)
      st = lbbt_fail(LBBT_E_INPUT, "%s: missing required key '%s'", where, k->name);
    else
      st = spec_bind_value(k, k->def, where, (char *)values + k->offset);
    if (st != LBBT_OK) {
      lbbt_backbone_options_bound_free(copy);
      return st;
    }
  }
  *out = copy;
  return LBBT_OK;
}

void lbbt_backbone_options_bound_free(lbbt_backbone_spec *bound) {
  if (!bound) return;
  free(bound->plugin_options);
  free(bound);
}
