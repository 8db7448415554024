/* Where a backbone's pretrained weights come from (backbone_kit.h): safetensors with its
 * config.json, or a llama2.c file; the reading every backbone plugin shares. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/backbone_kit.h"

static int is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* config.json from the checkpoint folder, or beside a file that was opened directly. */
static lbbt_status find_config(const char *path, lbbt_backbone_source *s) {
  s->config = lbbt_st_config(s->st);
  if (s->config) return LBBT_OK;
  if (is_dir(path)) return lbbt_fail(LBBT_E_INPUT, "%s: no config.json in this folder", path);
  char cfg_path[LBBT_PATH_MAX + 16];
  const char *slash = strrchr(path, '/');
  if (slash)
    snprintf(cfg_path, sizeof cfg_path, "%.*s/config.json", (int)(slash - path), path);
  else
    snprintf(cfg_path, sizeof cfg_path, "config.json");
  struct stat sb;
  if (stat(cfg_path, &sb) != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: no config.json beside the checkpoint (looked for %s)",
                     path, cfg_path);
  LBBT_TRY(lbbt_json_read_file(cfg_path, &s->config));
  s->config_owned = 1;
  return LBBT_OK;
}

lbbt_status lbbt_backbone_source_open_safetensors(const char *path, lbbt_backbone_source *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  LBBT_TRY(lbbt_st_open(path, &s->st));
  lbbt_status st = find_config(path, s);
  if (st != LBBT_OK) lbbt_backbone_source_close(s);
  return st;
}

lbbt_status lbbt_backbone_source_open_llama2c(const char *path, lbbt_backbone_source *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  return lbbt_llama2c_load(path, &s->llama2c);
}

void lbbt_backbone_source_close(lbbt_backbone_source *s) {
  if (s->config_owned) json_decref(s->config);
  lbbt_st_close(s->st);
  lbbt_llama2c_free(s->llama2c);
  memset(s, 0, sizeof *s);
}

lbbt_status lbbt_backbone_source_read(const lbbt_backbone_source *s, const char *name,
                                      lbbt_tensor *t) {
  if (s->st) {
    char full[2 * LBBT_NAME_MAX + 32];
    snprintf(full, sizeof full, "%s%s", s->prefix, name);
    return lbbt_st_read_into(s->st, full, t);
  }
  if (!s->llama2c)
    return lbbt_fail(LBBT_E_INTERNAL, "backbone source: '%s' read from a source never opened", name);
  lbbt_named_f32 w;
  LBBT_TRY(lbbt_llama2c_find(s->llama2c, name, &w));
  if (w.numel != t->numel) {
    char sh[64];
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' has %lld values, the model expects %s", s->path,
                     name, (long long)w.numel, lbbt_shape_str(t, sh, sizeof sh));
  }
  memcpy(t->data, w.data, (size_t)w.numel * sizeof(float));
  return LBBT_OK;
}

int lbbt_config_int(json_t *config, const char *key, int def) {
  json_t *v = json_object_get(config, key);
  return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

double lbbt_config_num(json_t *config, const char *key, double def) {
  json_t *v = json_object_get(config, key);
  return json_is_number(v) ? json_number_value(v) : def;
}

lbbt_status lbbt_config_model_type(json_t *config, const char *path, const char *accepted,
                                   const char **out) {
  const char *mt = json_string_value(json_object_get(config, "model_type"));
  size_t n = mt ? strlen(mt) : 0;
  for (const char *p = accepted; mt && n && (p = strstr(p, mt)); p += n)
    if ((p == accepted || p[-1] == ' ') && (p[n] == ',' || p[n] == 0)) {
      *out = mt;
      return LBBT_OK;
    }
  return lbbt_fail(LBBT_E_INPUT, "%s: config.json model_type '%s' is not %s%s", path,
                   mt ? mt : "(missing)", strchr(accepted, ',') ? "one of " : "", accepted);
}
