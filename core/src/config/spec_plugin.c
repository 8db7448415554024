/* Plugin option tables (options.h) as directive tables the binder walks: conversion, the
 * checks a table must pass when its plugin loads, the registry lookup, the typed values a
 * plugin reads, and their part of `lbbt check --keys`. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
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
                   LBBT_KEY_IDENT == KEY_IDENT,
               "lbbt_key flags");

void spec_plugin_section(const lbbt_option_table *t, const char *noun, const char *path, spec_key *keys,
                         spec_section *sec) {
  int n = t->n_keys < LBBT_MAX_PLUGIN_KEYS ? t->n_keys : LBBT_MAX_PLUGIN_KEYS;
  for (int i = 0; i < n; i++) {
    const lbbt_key *r = &t->keys[i];
    keys[i] = (spec_key){.name = r->name, .type = (spec_key_type)r->type, .offset = r->offset, .size = r->size,
                         .def = r->def, .names = r->names, .n_names = r->n_names, .has_range = r->has_range,
                         .min = r->min, .max = r->max,
                         .flags = r->flags & (KEY_MIN_EXCLUSIVE | KEY_MAX_EXCLUSIVE | KEY_IDENT), .doc = r->doc};
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
