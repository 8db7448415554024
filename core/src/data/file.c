/* Whole-file reads with messages that name the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs_util.h"
#include "data/data_internal.h"

lbbt_status lbbt_read_file(const char *path, uint8_t **data, int64_t *size) {
  *data = NULL;
  *size = 0;
  LBBT_TRY(lbbt_require_regular_file(path, "data file", NULL));
  FILE *f = fopen(path, "rb");
  if (!f) return lbbt_fail(LBBT_E_INPUT, "cannot open '%s': %s", path, strerror(errno));
  lbbt_status st = LBBT_OK;
  uint8_t *buf = NULL;
  long len;
  if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    st = lbbt_fail(LBBT_E_INPUT, "cannot seek in '%s' (is it a regular file?): %s", path,
                   strerror(errno));
    goto done;
  }
  buf = malloc(len ? (size_t)len : 1);
  if (!buf) {
    st = lbbt_fail(LBBT_E_NOMEM, "out of memory reading '%s' (%ld bytes)", path, len);
    goto done;
  }
  if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
    st = lbbt_fail(LBBT_E_IO, "read error in '%s': %s", path, strerror(errno));
    goto done;
  }
  *data = buf;
  *size = len;
  buf = NULL;
done:
  free(buf);
  fclose(f);
  return st;
}
