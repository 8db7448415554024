/* Record items <-> HDF5 objects under a group (the layout is documented in results.h):
 *   scalar -> scalar-dataspace f64 dataset     series -> 1-D f64 dataset
 *   f32/i32 array -> dataset of that type/shape string -> attribute on the parent group
 * Reading inverts this by dataset type and dataspace, so no extra marker attributes are
 * needed and files written by other tools in the same layout read back too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/checked.h"
#include "results/h5util.h"

/* A dataset's values may take at most this many times the bytes it stores in the file. */
#define STORED_RATIO_MAX 1040

/* The group holding `path`'s last component, created as needed; *leaf points into path. */
static hid_t open_parent(hid_t top, const char *path, const char **leaf) {
  hid_t cur = H5Gopen2(top, ".", H5P_DEFAULT);
  const char *comp = path;
  for (const char *slash; cur >= 0 && (slash = strchr(comp, '/')); comp = slash + 1) {
    char name[LBBT_RECORD_PATH_MAX];
    size_t n = (size_t)(slash - comp);
    memcpy(name, comp, n);
    name[n] = 0;
    htri_t exists = H5Lexists(cur, name, H5P_DEFAULT);
    hid_t next = exists > 0 ? H5Gopen2(cur, name, H5P_DEFAULT)
                            : exists == 0 ? h5u_group_create(cur, name) : -1;
    H5Gclose(cur);
    cur = next;
  }
  *leaf = comp;
  return cur;
}

static herr_t write_dataset(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                            int ndim, const int64_t *shape, const void *data, int64_t numel) {
  hsize_t dims[LBBT_RECORD_MAX_DIMS];
  for (int d = 0; d < ndim; d++) dims[d] = (hsize_t)shape[d];
  hid_t space = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
  if (space < 0) return -1;
  hid_t dset = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = dset < 0 ? -1 : 0;
  /* A zero-sized dataset has no data to write (and H5Dwrite would reject a NULL buffer). */
  if (st >= 0 && numel > 0) st = H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (dset >= 0 && H5Dclose(dset) < 0) st = -1;
  H5Sclose(space);
  return st;
}

static herr_t write_item(hid_t loc, const char *leaf, const lbbt_record_item *it) {
  switch (it->kind) {
    case LBBT_ITEM_SCALAR:
      return write_dataset(loc, leaf, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &it->scalar, 1);
    case LBBT_ITEM_SERIES: {
      int64_t n = it->n;
      return write_dataset(loc, leaf, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, it->series, n);
    }
    case LBBT_ITEM_F32:
      return write_dataset(loc, leaf, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, it->ndim, it->shape,
                           it->f32, it->numel);
    case LBBT_ITEM_I32:
      return write_dataset(loc, leaf, H5T_STD_I32LE, H5T_NATIVE_INT32, it->ndim, it->shape,
                           it->i32, it->numel);
    case LBBT_ITEM_STRING:
      return h5u_attr_write_str(loc, leaf, it->string);
  }
  return -1;
}

lbbt_status h5u_items_write(hid_t group, const lbbt_record *rec, h5u_reserved_fn reserved,
                            const char *file, const char *where) {
  for (int i = 0; i < lbbt_record_count(rec); i++) {
    const lbbt_record_item *it = lbbt_record_at(rec, i);
    if (it->kind == LBBT_ITEM_STRING && !strchr(it->path, '/') && reserved && reserved(it->path))
      return lbbt_fail(LBBT_E_INPUT,
                       "%s: record string '%s' would overwrite the %s attribute of that name; "
                       "store it under a stage (\"<stage>/%s\")", file, it->path, where, it->path);
    const char *leaf;
    hid_t parent = open_parent(group, it->path, &leaf);
    herr_t st = parent < 0 ? -1 : write_item(parent, leaf, it);
    if (parent >= 0) H5Gclose(parent);
    if (st < 0)
      return h5u_fail(LBBT_E_IO, file, "cannot write %s '%s' in %s",
                      lbbt_item_kind_name(it->kind), it->path, where);
  }
  return LBBT_OK;
}

/* ---- reading --------------------------------------------------------------------- */
static lbbt_status read_dataset(hid_t dset, const char *path, lbbt_record *rec, const char *file,
                                const char *where) {
  hid_t type = H5Dget_type(dset), space = H5Dget_space(dset);
  lbbt_status st = LBBT_OK;
  void *buf = NULL;
  if (type < 0 || space < 0) {
    st = h5u_fail(LBBT_E_INPUT, file, "cannot read dataset '%s' in %s", path, where);
    goto done;
  }
  H5T_class_t cls = H5Tget_class(type);
  int ndim = H5Sget_simple_extent_ndims(space);
  hsize_t dims[LBBT_RECORD_MAX_DIMS];
  if (ndim < 0 || ndim > LBBT_RECORD_MAX_DIMS || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
    st = h5u_fail(LBBT_E_INPUT, file, "dataset '%s' in %s has %d dims; lbbt reads 0..%d", path,
                  where, ndim, LBBT_RECORD_MAX_DIMS);
    goto done;
  }
  int64_t shape[LBBT_RECORD_MAX_DIMS], numel = 1;
  for (int d = 0; d < ndim; d++) {
    shape[d] = dims[d] > (hsize_t)INT64_MAX ? -1 : (int64_t)dims[d];
    if (!lbbt_mul_i64(numel, shape[d], &numel)) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: dataset '%s' in %s has a shape whose size overflows "
                     "(dim %d is %llu): the file is damaged", file, path, where, d,
                     (unsigned long long)dims[d]);
      goto done;
    }
  }
  int is_f64 = cls == H5T_FLOAT && H5Tget_size(type) == 8;
  if (is_f64 && ndim > 1) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: dataset '%s' in %s is a %d-D f64 array; lbbt records hold "
                   "f64 only as scalars or 1-D series (arrays are f32 or i32)", file, path, where,
                   ndim);
    goto done;
  }
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: dataset '%s' in %s has HDF5 type class %d; lbbt records "
                   "hold only numbers", file, path, where, (int)cls);
    goto done;
  }
  size_t elem = is_f64 ? sizeof(double) : cls == H5T_FLOAT ? sizeof(float) : sizeof(int32_t);
  /* A few bytes of file can declare 2^40 values that it does not hold (a chunked dataset
   * reads unwritten chunks as fill values): refuse before allocating.  lbbt writes every
   * value; deflate, which other writers may use, shrinks by at most about 1032:1. */
  int64_t bytes = 0;
  hsize_t stored = H5Dget_storage_size(dset);
  if (!lbbt_mul_i64(numel, (int64_t)elem, &bytes) ||
      (uint64_t)bytes / STORED_RATIO_MAX > (uint64_t)stored) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: dataset '%s' in %s declares %lld values but stores only "
                   "%llu bytes of them: the file is damaged", file, path, where,
                   (long long)numel, (unsigned long long)stored);
    goto done;
  }
  hid_t mem = is_f64 ? H5T_NATIVE_DOUBLE : cls == H5T_FLOAT ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT32;
  buf = malloc(numel > 0 ? (size_t)numel * elem : 1);
  if (!buf) {
    st = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory reading '%s' (%lld values)", file, path,
                   (long long)numel);
    goto done;
  }
  if (numel > 0 && H5Dread(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    st = h5u_fail(LBBT_E_INPUT, file, "cannot read dataset '%s' in %s", path, where);
    goto done;
  }
  if (is_f64 && ndim == 0) {
    st = lbbt_record_scalar(rec, path, *(double *)buf);
  } else if (is_f64) {
    /* A series is rebuilt by appending; an empty series has no record form and is skipped. */
    for (int64_t i = 0; i < numel && st == LBBT_OK; i++)
      st = lbbt_record_append(rec, path, ((double *)buf)[i]);
  } else if (cls == H5T_FLOAT) {
    st = lbbt_record_array_f32(rec, path, ndim, shape, buf);
  } else {
    st = lbbt_record_array_i32(rec, path, ndim, shape, buf);
  }
  if (st != LBBT_OK) lbbt_fail_context(st, "%s: reading %s", file, where);
done:
  free(buf);
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  return st;
}

static lbbt_status read_group(hid_t group, const char *prefix, lbbt_record *rec,
                              h5u_reserved_fn reserved, const char *file, const char *where) {
  char path[LBBT_RECORD_PATH_MAX * 2];
  char **names = NULL;
  int n = 0;
  if (h5u_attr_names(group, &names, &n) < 0)
    return h5u_fail(LBBT_E_INPUT, file, "cannot list attributes of '%s' in %s",
                    prefix[0] ? prefix : "/", where);
  lbbt_status st = LBBT_OK;
  for (int i = 0; i < n && st == LBBT_OK; i++) {
    if (!prefix[0] && reserved && reserved(names[i])) continue;
    char *text = NULL;
    snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "/" : "", names[i]);
    if (h5u_attr_read_text(group, names[i], &text) < 0)
      st = h5u_fail(LBBT_E_INPUT, file, "cannot read attribute '%s' in %s", path, where);
    else
      st = lbbt_record_string(rec, path, text);
    free(text);
  }
  h5u_free_names(names, n);
  if (st != LBBT_OK) return st;

  if (h5u_link_names(group, &names, &n) < 0)
    return h5u_fail(LBBT_E_INPUT, file, "cannot list '%s' in %s", prefix[0] ? prefix : "/",
                    where);
  for (int i = 0; i < n && st == LBBT_OK; i++) {
    /* An item path has fewer than LBBT_RECORD_PATH_MAX bytes, so deeper links are damage:
     * a link back to a group's ancestor (a cycle) would otherwise recurse until the stack
     * overflows. */
    if (snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "/" : "", names[i]) >=
        LBBT_RECORD_PATH_MAX) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: '%.60s...' in %s is nested deeper than any record item "
                     "path (%d bytes; a link cycle?): the file is damaged", file, path, where,
                     LBBT_RECORD_PATH_MAX - 1);
      break;
    }
    hid_t obj = H5Oopen(group, names[i], H5P_DEFAULT);
    if (obj < 0) {
      st = h5u_fail(LBBT_E_INPUT, file, "cannot open '%s' in %s", path, where);
      break;
    }
    H5I_type_t kind = H5Iget_type(obj);
    if (kind == H5I_GROUP) st = read_group(obj, path, rec, reserved, file, where);
    else if (kind == H5I_DATASET) st = read_dataset(obj, path, rec, file, where);
    /* Named datatypes hold no values: nothing to read. */
    H5Oclose(obj);
  }
  h5u_free_names(names, n);
  return st;
}

lbbt_status h5u_items_read(hid_t group, lbbt_record *rec, h5u_reserved_fn reserved,
                           const char *file, const char *where) {
  return read_group(group, "", rec, reserved, file, where);
}
