/* Declared stage options and image choice for analyses; see analysis_util.h. */
#include "lbbt/analysis_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/runner.h"

static const lbbt_option_decl *find_decl(const lbbt_option_decl *d, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (!strcmp(d[i].key, key)) return &d[i];
  return NULL;
}

static int parse_bool(const char *v, int *out) {
  static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
  for (int i = 0; i < 4; i++) {
    if (!strcmp(v, yes[i])) { *out = 1; return 1; }
    if (!strcmp(v, no[i])) { *out = 0; return 1; }
  }
  return 0;
}

/* Is `word` one of the '|'-separated choices? */
static int in_choices(const char *choices, const char *word) {
  size_t w = strlen(word);
  for (const char *p = choices; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == w && !strncmp(p, word, w)) return 1;
    p = bar ? bar + 1 : NULL;
  }
  return 0;
}

/* Parse text as decl's type; returns NULL when fine, else what was expected (into buf). */
static const char *parse_value(const lbbt_option_decl *d, const char *text, double *out, char *buf,
                               size_t n) {
  char *end;
  int b;
  switch (d->type) {
    case LBBT_OPTION_INT: {
      errno = 0;
      long long v = strtoll(text, &end, 10);
      if (errno || end == text || *end || (double)v < d->min || (double)v > d->max) {
        snprintf(buf, n, "a whole number from %.17g to %.17g", d->min, d->max);
        return buf;
      }
      *out = (double)v;
      return NULL;
    }
    case LBBT_OPTION_NUMBER: {
      errno = 0;
      double v = strtod(text, &end);
      if (errno || end == text || *end || !isfinite(v) || v < d->min || v > d->max) {
        snprintf(buf, n, "a number from %.17g to %.17g", d->min, d->max);
        return buf;
      }
      *out = v;
      return NULL;
    }
    case LBBT_OPTION_BOOL:
      if (!parse_bool(text, &b)) return "true or false";
      *out = b;
      return NULL;
    case LBBT_OPTION_NAME:
      for (const char *c = text; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
          return "a name of lower-case letters, digits, '_' and '-'";
      *out = 0;
      return NULL;
    case LBBT_OPTION_CHOICE:
      if (!in_choices(d->choices, text)) {
        snprintf(buf, n, "one of %s", d->choices ? d->choices : "(none)");
        return buf;
      }
      *out = 0;
      return NULL;
  }
  return "a known option type";
}

lbbt_status lbbt_options_check(const lbbt_stage_spec *stage, const char *file, const char *plugin,
                               const lbbt_option_decl *decls, int n) {
  for (int i = 0; i < stage->n_options; i++) {
    const lbbt_option *o = &stage->options[i];
    const lbbt_option_decl *d = find_decl(decls, n, o->key);
    if (!d) {
      char valid[512] = "";
      for (int k = 0; k < n; k++) {
        strncat(valid, k ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, decls[k].key, sizeof valid - strlen(valid) - 1);
      }
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': analysis '%s' has no option '%s' (valid: %s)",
                       file, o->line, o->col, stage->name, plugin, o->key, valid);
    }
    double v;
    char buf[160];
    const char *want = parse_value(d, o->value, &v, buf, sizeof buf);
    if (want)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': option '%s' is '%s', expected %s (%s)",
                       file, o->line, o->col, stage->name, o->key, o->value, want, d->doc);
  }
  return LBBT_OK;
}

const char *lbbt_option_text(const lbbt_stage_spec *stage, const lbbt_option_decl *decls, int n,
                             const char *key) {
  const lbbt_option_decl *d = find_decl(decls, n, key);
  if (!d) return NULL;
  const lbbt_option *o = lbbt_option_find(stage->options, stage->n_options, key);
  return o ? o->value : d->def;
}

lbbt_status lbbt_option_number(const lbbt_stage_spec *stage, const lbbt_option_decl *decls, int n,
                               const char *key, double *out) {
  const lbbt_option_decl *d = find_decl(decls, n, key);
  if (!d || d->type == LBBT_OPTION_CHOICE || d->type == LBBT_OPTION_NAME)
    return lbbt_fail(LBBT_E_INTERNAL, "stage '%s': option '%s' is not a declared number", stage->name, key);
  char buf[160];
  const char *text = lbbt_option_text(stage, decls, n, key);
  const char *want = parse_value(d, text, out, buf, sizeof buf);
  if (want)
    return lbbt_fail(LBBT_E_INPUT, "stage '%s': option '%s' is '%s', expected %s", stage->name, key,
                     text, want);
  return LBBT_OK;
}

lbbt_status lbbt_options_record(lbbt_stage_ctx *ctx, const lbbt_option_decl *decls, int n) {
  for (int i = 0; i < n; i++) {
    char sub[LBBT_NAME_MAX + 16];
    snprintf(sub, sizeof sub, "options/%s", decls[i].key);
    if (decls[i].type == LBBT_OPTION_CHOICE || decls[i].type == LBBT_OPTION_NAME) {
      LBBT_TRY(lbbt_stage_string(ctx, sub, lbbt_option_text(ctx->stage, decls, n, decls[i].key)));
    } else {
      double v;
      LBBT_TRY(lbbt_option_number(ctx->stage, decls, n, decls[i].key, &v));
      LBBT_TRY(lbbt_stage_scalar(ctx, sub, v));
    }
  }
  return LBBT_OK;
}

#define STAGE_KEY_MAX (LBBT_NAME_MAX + LBBT_RECORD_PATH_MAX)

lbbt_status lbbt_stage_scalar(lbbt_stage_ctx *ctx, const char *key, double v) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), v);
}

lbbt_status lbbt_stage_string(lbbt_stage_ctx *ctx, const char *key, const char *s) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_string(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), s);
}

lbbt_status lbbt_stage_array_f32(lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const float *data) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_array_f32(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), ndim, shape, data);
}

lbbt_status lbbt_stage_array_i32(lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const int32_t *data) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_array_i32(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), ndim, shape, data);
}

lbbt_status lbbt_analysis_pick_images(const lbbt_dataset *ds, int64_t want, uint64_t seed,
                                      const char *tag, int32_t **idx, int64_t *n) {
  *idx = NULL;
  *n = 0;
  int64_t m = (want <= 0 || want >= ds->n) ? ds->n : want;
  int32_t *out = malloc((size_t)(m > 0 ? m : 1) * sizeof *out);
  if (!out) return lbbt_fail(LBBT_E_NOMEM, "analysis: out of memory choosing %lld images", (long long)m);
  if (m == ds->n) {
    for (int64_t i = 0; i < m; i++) out[i] = (int32_t)i;
  } else {
    lbbt_status st = lbbt_subset_balanced(ds->labels, ds->n, ds->num_classes, m, seed, tag,
                                          ds->source ? ds->source : "analysis images", out);
    if (st != LBBT_OK) {
      free(out);
      return st;
    }
  }
  *idx = out;
  *n = m;
  return LBBT_OK;
}
