/* A run record in its own file, saved beside a checkpoint so that an interrupted run
 * resumes with its per-epoch series intact.  Same item layout as a run group (results.h),
 * at the root; root attribute lbbt_format = "lbbt-record/1".  Written atomically. */
#include <string.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "results/h5util.h"
#include "lbbt/results.h"

#define RECORD_KIND "lbbt-record"
#define RECORD_WHAT "record file"

static int record_attr_reserved(const char *name) { return !strcmp(name, "lbbt_format"); }

lbbt_status lbbt_record_save(const lbbt_record *rec, const char *path) {
  if (!rec || !path) return lbbt_fail(LBBT_E_INTERNAL, "lbbt_record_save: NULL argument");
  h5u_quiet();
  char tmp[LBBT_PATH_MAX + 64];
  LBBT_TRY(atomic_tmp_name(path, tmp, sizeof tmp));
  /* No lock: one run writes its own record file, so only dead writers' files are removed. */
  atomic_remove_stale(path, 0);
  hid_t fapl = h5u_fapl(), fcpl = h5u_fcpl();
  hid_t f = (fapl < 0 || fcpl < 0) ? -1 : H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
  if (fapl >= 0) H5Pclose(fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (f < 0) return h5u_fail(LBBT_E_IO, path, "cannot create temporary file %s", tmp);
  lbbt_status st = LBBT_OK;
  if (h5u_attr_write_str(f, "lbbt_format", RECORD_KIND "/1") < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot write attribute lbbt_format");
  if (st == LBBT_OK) st = h5u_items_write(f, rec, record_attr_reserved, path, "the record");
  if (H5Fclose(f) < 0 && st == LBBT_OK)
    st = h5u_fail(LBBT_E_IO, path, "cannot finish temporary file %s", tmp);
  if (st != LBBT_OK) {
    unlink(tmp);
    return st;
  }
  LBBT_TRY(atomic_publish(tmp, path));
  h5u_probe_trust(path);
  return LBBT_OK;
}

lbbt_status lbbt_record_load(const char *path, lbbt_record **out) {
  if (!path || !out) return lbbt_fail(LBBT_E_INTERNAL, "lbbt_record_load: NULL argument");
  *out = NULL;
  hid_t f;
  LBBT_TRY(h5u_open_lbbt(path, RECORD_KIND, RECORD_WHAT, &f));
  lbbt_record *rec = NULL;
  lbbt_status st = lbbt_record_create(&rec);
  if (st == LBBT_OK) st = h5u_items_read(f, rec, record_attr_reserved, path, "the record");
  H5Fclose(f);
  if (st != LBBT_OK) {
    lbbt_record_free(rec);
    return st;
  }
  *out = rec;
  return LBBT_OK;
}
