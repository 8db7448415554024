/* The plugin registry: finds *.so files, dlopens them, checks their descriptors and keeps
 * normalised copies (see plugin.h for the ABI and the versioning rule).
 *
 * Order is part of the contract: plugin_dir first, then each $LBBT_PLUGIN_PATH entry in
 * order; within one tree, files sorted by path.  With duplicate names the first found wins,
 * so a build's own plugins cannot be shadowed by a stray folder on the path. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/plugin.h"

/* Folders nested deeper than this are not searched: guards against symlink loops. */
#define MAX_SCAN_DEPTH 16

typedef struct str_list {
  char **items;
  int n, cap;
} str_list;

typedef struct reg_entry {
  lbbt_plugin_entry pub; /* pub.plugin points at desc */
  lbbt_plugin desc;      /* normalised to this header's layout */
  lbbt_backbone_ops backbone;
  lbbt_task_ops task;
  lbbt_option_table options;
  void *handle;
} reg_entry;

struct lbbt_registry {
  reg_entry **entries; /* separately allocated so pointers handed out stay valid */
  int n, cap;
  str_list refused, warnings;
  str_list seen; /* real paths of every file tried, so a file reached twice loads once */
  void (*warn)(const char *line);
};

static lbbt_registry *g_global;

/* ---- small helpers --------------------------------------------------------------------- */
static lbbt_status list_push(str_list *l, char *s /* owned by the list on success */) {
  if (!s) return lbbt_fail(LBBT_E_NOMEM, "plugin registry: out of memory");
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **items = realloc(l->items, (size_t)cap * sizeof *items);
    if (!items) {
      free(s);
      return lbbt_fail(LBBT_E_NOMEM, "plugin registry: out of memory");
    }
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = s;
  return LBBT_OK;
}

static void list_free(str_list *l) {
  for (int i = 0; i < l->n; i++) free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = l->cap = 0;
}

static int list_contains(const str_list *l, const char *s) {
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->items[i], s)) return 1;
  return 0;
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...) {
  char *s = NULL;
  va_list ap;
  va_start(ap, fmt);
  int rc = vasprintf(&s, fmt, ap);
  va_end(ap);
  return rc < 0 ? NULL : s;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Record a line in `which` (refused or warnings) and pass it to the caller's callback. */
static lbbt_status note(lbbt_registry *r, str_list *which, char *line) {
  if (line && r->warn) r->warn(line);
  return list_push(which, line);
}

/* ---- finding files --------------------------------------------------------------------- */
static int ends_with_so(const char *name) {
  size_t n = strlen(name);
  return n > 3 && !strcmp(name + n - 3, ".so");
}

/* Append every *.so below dir (recursively) to out, unsorted.  A subfolder that cannot be
 * read warns; the root failing returns LBBT_E_IO so the caller decides how bad it is. */
static lbbt_status collect(lbbt_registry *r, const char *dir, int depth, str_list *out) {
  DIR *d = opendir(dir);
  if (!d) return lbbt_fail(LBBT_E_IO, "cannot read plugin folder '%s': %s", dir, strerror(errno));
  lbbt_status st = LBBT_OK;
  struct dirent *e;
  while (st == LBBT_OK && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue; /* ".", "..", hidden files */
    char *path = str_printf("%s/%s", dir, e->d_name);
    if (!path) {
      st = lbbt_fail(LBBT_E_NOMEM, "plugin registry: out of memory");
      break;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) { /* dangling link: nothing to load */
      free(path);
      continue;
    }
    if (S_ISDIR(sb.st_mode)) {
      if (depth + 1 > MAX_SCAN_DEPTH) {
        st = note(r, &r->warnings,
                  str_printf("%s: not searched, deeper than %d folders (a symlink loop?)", path,
                             MAX_SCAN_DEPTH));
      } else {
        st = collect(r, path, depth + 1, out);
        if (st == LBBT_E_IO) st = note(r, &r->warnings, str_printf("%s (skipped)", lbbt_last_error()));
      }
      free(path);
    } else if (S_ISREG(sb.st_mode) && ends_with_so(e->d_name)) {
      st = list_push(out, path);
    } else {
      free(path);
    }
  }
  closedir(d);
  return st;
}

/* ---- loading one file ------------------------------------------------------------------ */
static size_t backbone_ops_size(int version) {
  /* Each version's table ends where the next version's first field starts. */
  if (version == 1) return offsetof(lbbt_backbone_ops, create_language);
  if (version == 2) return offsetof(lbbt_backbone_ops, create_blocks);
  return sizeof(lbbt_backbone_ops);
}

static size_t task_ops_size(int version) {
  if (version == 1) return offsetof(lbbt_task_ops, needs); /* as backbone_ops_size */
  return sizeof(lbbt_task_ops);
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Copy what the plugin provides; fields it was built without stay zero (NULL). */
static void normalise(reg_entry *e, const lbbt_plugin *p) {
  memset(&e->desc, 0, sizeof e->desc);
  memcpy(&e->desc, p, min_size(p->struct_size, sizeof e->desc));
  memset(&e->backbone, 0, sizeof e->backbone);
  memset(&e->task, 0, sizeof e->task);
  if (e->desc.backbone) {
    memcpy(&e->backbone, e->desc.backbone,
           min_size(backbone_ops_size(e->desc.backbone->version), sizeof e->backbone));
    e->desc.backbone = &e->backbone;
  }
  if (e->desc.task) {
    memcpy(&e->task, e->desc.task, min_size(task_ops_size(e->desc.task->version), sizeof e->task));
    e->desc.task = &e->task;
  }
  memset(&e->options, 0, sizeof e->options);
  if (e->desc.options) {
    memcpy(&e->options, e->desc.options, min_size(e->desc.options->struct_size, sizeof e->options));
    e->options.struct_size = sizeof e->options;
    e->desc.options = &e->options;
  }
  e->pub.plugin = &e->desc;
}

static const reg_entry *find_entry(const lbbt_registry *r, lbbt_plugin_kind kind, const char *name) {
  for (int i = 0; i < r->n; i++)
    if (r->entries[i]->desc.kind == kind && !strcmp(r->entries[i]->desc.name, name))
      return r->entries[i];
  return NULL;
}

/* dlerror() usually starts with the file name; the refusal line already has it. */
static const char *strip_path_prefix(const char *msg, const char *path) {
  size_t n = strlen(path);
  if (!strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2)) return msg + n + 2;
  return msg;
}

/* Load `path`, or refuse it with a line; returns non-OK only for out-of-memory. */
static lbbt_status load_file(lbbt_registry *r, const char *path) {
  char real[PATH_MAX];
  if (realpath(path, real)) {
    if (list_contains(&r->seen, real)) return LBBT_OK;
    LBBT_TRY(list_push(&r->seen, strdup(real)));
  }
  dlerror();
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    return note(r, &r->refused, str_printf("%s: dlopen failed: %s", path,
                                           why ? strip_path_prefix(why, path) : "unknown error"));
  }
  const lbbt_plugin *p = dlsym(h, LBBT_PLUGIN_SYMBOL);
  if (!p) {
    dlclose(h);
    return note(r, &r->refused,
                str_printf("%s: no symbol '%s': define LBBT_PLUGIN_EXPORT const lbbt_plugin %s "
                           "= {...} (see plugins/analyses/template.c)",
                           path, LBBT_PLUGIN_SYMBOL, LBBT_PLUGIN_SYMBOL));
  }
  char reason[512];
  if (lbbt_plugin_validate(p, reason, sizeof reason) != LBBT_OK) {
    dlclose(h);
    return note(r, &r->refused, str_printf("%s: %s", path, reason));
  }
  const reg_entry *first = find_entry(r, p->kind, p->name);
  if (first) {
    char *line = str_printf("%s: %s name '%s' is already taken by %s (the first found wins)", path,
                            lbbt_plugin_kind_name(p->kind), p->name, first->pub.file);
    dlclose(h); /* after formatting: p->name lives in the plugin */
    return note(r, &r->refused, line);
  }
  if (strlen(path) >= sizeof r->entries[0]->pub.file) {
    dlclose(h);
    return note(r, &r->refused, str_printf("%s: path longer than %d characters: move the plugin",
                                           path, LBBT_PATH_MAX - 1));
  }
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 16;
    reg_entry **entries = realloc(r->entries, (size_t)cap * sizeof *entries);
    if (!entries) {
      dlclose(h);
      return lbbt_fail(LBBT_E_NOMEM, "plugin registry: out of memory");
    }
    r->entries = entries;
    r->cap = cap;
  }
  reg_entry *e = calloc(1, sizeof *e);
  if (!e) {
    dlclose(h);
    return lbbt_fail(LBBT_E_NOMEM, "plugin registry: out of memory");
  }
  snprintf(e->pub.file, sizeof e->pub.file, "%s", path);
  e->handle = h;
  normalise(e, p);
  r->entries[r->n++] = e;
  return LBBT_OK;
}

/* Collect, sort and load one tree. */
static lbbt_status load_tree(lbbt_registry *r, const char *root) {
  str_list files = {0};
  lbbt_status st = collect(r, root, 0, &files);
  if (st == LBBT_OK) {
    if (files.n > 1) qsort(files.items, (size_t)files.n, sizeof *files.items, cmp_str);
    for (int i = 0; i < files.n && st == LBBT_OK; i++) st = load_file(r, files.items[i]);
  }
  list_free(&files);
  return st;
}

/* Each colon-separated entry of $LBBT_PLUGIN_PATH; empty entries mean nothing. */
static lbbt_status load_path_env(lbbt_registry *r) {
  const char *env = getenv("LBBT_PLUGIN_PATH");
  if (!env || !*env) return LBBT_OK;
  char *copy = strdup(env);
  if (!copy) return lbbt_fail(LBBT_E_NOMEM, "plugin registry: out of memory");
  lbbt_status st = LBBT_OK;
  char *save = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir && st == LBBT_OK; dir = strtok_r(NULL, ":", &save)) {
    struct stat sb;
    if (stat(dir, &sb) != 0) {
      st = note(r, &r->warnings, str_printf("LBBT_PLUGIN_PATH entry '%s': %s (ignored)", dir,
                                            strerror(errno)));
    } else if (!S_ISDIR(sb.st_mode)) {
      st = note(r, &r->warnings,
                str_printf("LBBT_PLUGIN_PATH entry '%s': not a directory (ignored)", dir));
    } else {
      st = load_tree(r, dir);
      if (st == LBBT_E_IO)
        st = note(r, &r->warnings,
                  str_printf("LBBT_PLUGIN_PATH entry: %s (ignored)", lbbt_last_error()));
    }
  }
  free(copy);
  return st;
}

/* ---- public API ------------------------------------------------------------------------ */
lbbt_status lbbt_registry_load(lbbt_registry **out, const char *plugin_dir,
                               void (*warn)(const char *line)) {
  *out = NULL;
  lbbt_registry *r = calloc(1, sizeof *r);
  if (!r) return lbbt_fail(LBBT_E_NOMEM, "plugin registry: out of memory");
  r->warn = warn;
  lbbt_status st = LBBT_OK;
  if (plugin_dir) {
    st = load_tree(r, plugin_dir);
    if (st == LBBT_E_IO)
      st = lbbt_fail_context(st, "loading plugins (build with make, or set LBBT_BUILD to the "
                                 "build folder)");
  }
  if (st == LBBT_OK) st = load_path_env(r);
  if (st != LBBT_OK) {
    lbbt_registry_free(r);
    return st;
  }
  r->warn = NULL; /* the callback is only promised for the duration of the load */
  list_free(&r->seen);
  *out = r;
  return LBBT_OK;
}

void lbbt_registry_free(lbbt_registry *r) {
  if (!r) return;
  if (g_global == r) g_global = NULL;
  /* Close in reverse load order: a later plugin may reference an earlier one. */
  for (int i = r->n - 1; i >= 0; i--) {
    dlclose(r->entries[i]->handle);
    free(r->entries[i]);
  }
  free(r->entries);
  list_free(&r->refused);
  list_free(&r->warnings);
  list_free(&r->seen);
  free(r);
}

int lbbt_registry_count(const lbbt_registry *r) { return r ? r->n : 0; }

const lbbt_plugin_entry *lbbt_registry_at(const lbbt_registry *r, int i) {
  return r && i >= 0 && i < r->n ? &r->entries[i]->pub : NULL;
}

const lbbt_plugin_entry *lbbt_registry_find_entry(const lbbt_registry *r, lbbt_plugin_kind kind,
                                                  const char *name) {
  if (!r || !name) return NULL;
  const reg_entry *e = find_entry(r, kind, name);
  return e ? &e->pub : NULL;
}

const lbbt_plugin *lbbt_registry_find(const lbbt_registry *r, lbbt_plugin_kind kind, const char *name) {
  const lbbt_plugin_entry *e = lbbt_registry_find_entry(r, kind, name);
  return e ? e->plugin : NULL;
}

int lbbt_registry_n_refused(const lbbt_registry *r) { return r ? r->refused.n : 0; }
const char *lbbt_registry_refused(const lbbt_registry *r, int i) {
  return r && i >= 0 && i < r->refused.n ? r->refused.items[i] : NULL;
}
int lbbt_registry_n_warnings(const lbbt_registry *r) { return r ? r->warnings.n : 0; }
const char *lbbt_registry_warning(const lbbt_registry *r, int i) {
  return r && i >= 0 && i < r->warnings.n ? r->warnings.items[i] : NULL;
}

void lbbt_registry_set_global(lbbt_registry *r) { g_global = r; }
lbbt_registry *lbbt_registry_global(void) { return g_global; }
