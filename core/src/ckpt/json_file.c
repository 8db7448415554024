/* JSON files (config.json): read with file:line:col errors, write atomically; see checkpoint.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt_internal.h"
#include "lbbt/checkpoint.h"

lbbt_status lbbt_json_read_file(const char *path, json_t **out) {
  *out = NULL;
  json_error_t err;
  /* Duplicate keys are an error: which of two "vocab_size" values was meant is unknowable. */
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  if (!root) {
    if (err.line < 0) /* could not open or read */
      return lbbt_fail(LBBT_E_INPUT, "%s: cannot read JSON: %s", path, err.text);
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: invalid JSON: %s", path, err.line, err.column,
                     err.text);
  }
  if (!json_is_object(root)) {
    json_decref(root);
    return lbbt_fail(LBBT_E_INPUT, "%s:1:1: the top level must be a JSON object {...}", path);
  }
  *out = root;
  return LBBT_OK;
}

/* Every integer under v within int32; "key.sub[3]"-style path of the first one that is not. */
static int ints_fit(json_t *v, char *where, size_t n) {
  size_t len = strlen(where);
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    return x >= INT32_MIN && x <= INT32_MAX;
  }
  if (json_is_object(v)) {
    const char *k;
    json_t *c;
    json_object_foreach(v, k, c) {
      snprintf(where + len, n - len, "%s%s", len ? "." : "", k);
      if (!ints_fit(c, where, n)) return 0;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
      snprintf(where + len, n - len, "[%zu]", i);
      if (!ints_fit(c, where, n)) return 0;
    }
  }
  where[len] = 0;
  return 1;
}

lbbt_status lbbt_json_read_config(const char *path, json_t **out) {
  LBBT_TRY(lbbt_json_read_file(path, out));
  char where[256] = "";
  if (ints_fit(*out, where, sizeof where)) return LBBT_OK;
  json_decref(*out);
  *out = NULL;
  return lbbt_fail(LBBT_E_INPUT,
                   "%s: \"%s\" is an integer outside the 32-bit range [-2^31, 2^31-1]; no "
                   "model size is that large: the file is damaged",
                   path, where);
}

lbbt_status lbbt_json_write_file(const char *path, const json_t *root) {
  if (!root) return lbbt_fail(LBBT_E_INTERNAL, "%s: json_write_file given NULL", path);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  if (!text) return lbbt_fail(LBBT_E_NOMEM, "%s: cannot serialise JSON (out of memory?)", path);
  lbbt_atomic_file f;
  lbbt_status s = lbbt_atomic_open(&f, path);
  if (s == LBBT_OK) s = lbbt_atomic_write(&f, text, strlen(text));
  if (s == LBBT_OK) s = lbbt_atomic_write(&f, "\n", 1);
  if (s == LBBT_OK) s = lbbt_atomic_commit(&f);
  else if (f.path) lbbt_atomic_abort(&f);
  free(text);
  return s;
}
