/* Shared by `lbbt model`, `lbbt forward` and `lbbt generate`: find the backbone plugin that
 * reads a checkpoint (highest probe score, or --plugin NAME) and load it as a language model. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "lbbt/checkpoint.h"
#include "lbbt/plugin.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

/* When no plugin claims a checkpoint, the probes have swallowed why: read it with the format
 * readers the plugins use (safetensors, llama2.c) and say what is wrong with it ("header
 * length past the end of the file", "overlapping offsets"), for the format its name or
 * shape suggests, or for both when it suggests neither.  "" when the readers accept it. */
static void format_defect(const char *path, int is_dir, char *why, size_t n) {
  int as_st = is_dir || ends_with(path, ".safetensors") || ends_with(path, ".json");
  int as_l2c = !as_st && ends_with(path, ".bin");
  int both = !as_st && !as_l2c;
  why[0] = 0;
  if (as_st || both) {
    lbbt_st *st = NULL;
    if (lbbt_st_open(path, &st) != LBBT_OK)
      snprintf(why, n, "read as safetensors: %s", lbbt_last_error());
    lbbt_st_close(st);
  }
  if (as_l2c || both) {
    lbbt_llama2c *l = NULL;
    size_t k = strlen(why);
    if (lbbt_llama2c_load(path, &l) != LBBT_OK)
      snprintf(why + k, n - k, "%sread as llama2.c: %s", k ? "; " : "", lbbt_last_error());
    else if (both)
      why[0] = 0; /* a valid llama2.c file: the safetensors complaint is beside the point */
    lbbt_llama2c_free(l);
  }
  lbbt_clear_error();
}

int cli_open_backbone(const char *cmd, const char *path, const char *plugin_name,
                      cli_backbone *out) {
  memset(out, 0, sizeof *out);
  struct stat sb;
  if (stat(path, &sb) != 0) {
    fprintf(stderr, "lbbt %s: %s: no such file or folder\n", cmd, path);
    return 2;
  }
  lbbt_status st = cli_load_plugins(&out->registry);
  if (st != LBBT_OK) return cli_report(st, cmd);

  char tried[512] = "";
  int best = 0;
  for (int i = 0; i < lbbt_registry_count(out->registry); i++) {
    const lbbt_plugin *p = lbbt_registry_at(out->registry, i)->plugin;
    if (p->kind != LBBT_KIND_BACKBONE) continue;
    if (plugin_name) {
      if (!strcmp(p->name, plugin_name)) out->plugin = p;
      continue;
    }
    size_t n = strlen(tried);
    snprintf(tried + n, sizeof tried - n, "%s%s", n ? ", " : "", p->name);
    if (!p->backbone->probe) continue;
    int score = 0;
    if (p->backbone->probe(path, &score) == LBBT_OK && score > best) {
      best = score;
      out->plugin = p;
      out->score = score;
    }
  }
  if (!out->plugin) {
    if (plugin_name)
      fprintf(stderr, "lbbt %s: no backbone plugin named '%s' (see lbbt plugins --kind backbone)\n",
              cmd, plugin_name);
    else {
      char why[2048];
      format_defect(path, S_ISDIR(sb.st_mode), why, sizeof why);
      fprintf(stderr,
              "lbbt %s: no backbone plugin recognises %s (probed: %s)%s%s%s\n", cmd, path,
              tried[0] ? tried : "none installed", why[0] ? ": " : "", why,
              why[0] ? "" : "; expected a Hugging Face folder (config.json + model.safetensors or "
                            "an index with shards) or a llama2.c .bin; name one with --plugin NAME");
    }
    cli_close_backbone(out);
    return 2;
  }
  if (!out->plugin->backbone->load_language) {
    fprintf(stderr, "lbbt %s: the %s plugin cannot load checkpoints as language models\n", cmd,
            out->plugin->name);
    cli_close_backbone(out);
    return 2;
  }
  st = out->plugin->backbone->load_language(path, &out->model);
  if (st != LBBT_OK) {
    char what[128];
    snprintf(what, sizeof what, "%s (plugin %s)", cmd, out->plugin->name);
    int code = cli_report(st, what);
    cli_close_backbone(out);
    return code;
  }
  return 0;
}

void cli_close_backbone(cli_backbone *b) {
  lbbt_model_free(b->model);
  lbbt_registry_free(b->registry);
  memset(b, 0, sizeof *b);
}

int cli_check_finite_params(const char *cmd, const char *path, const struct lbbt_model *m) {
  for (int i = 0; i < m->n_params; i++) {
    const lbbt_tensor *t = m->params[i].t;
    int64_t bad = 0, first = -1;
    for (int64_t k = 0; k < t->numel; k++)
      if (!isfinite(t->data[k])) {
        if (first < 0) first = k;
        bad++;
      }
    if (bad) {
      fprintf(stderr,
              "lbbt %s: %s: tensor %s holds %lld non-finite value%s (the first at flat index "
              "%lld is %g); the checkpoint is damaged or was saved from a diverged run\n",
              cmd, path, m->params[i].name, (long long)bad, bad > 1 ? "s" : "",
              (long long)first, (double)t->data[first]);
      return 2;
    }
  }
  return 0;
}
