/* JSON files (config.json): read with file:line:col errors, write atomically; see checkpoint.h. */
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
