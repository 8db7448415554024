/* Internal HDF5 helpers shared by the results file, record files and `lbbt inspect`.
 * Functions returning herr_t follow HDF5's convention (< 0 on failure, error left on
 * HDF5's stack); the caller turns that into a message with h5u_fail, which names the file
 * and appends HDF5's innermost reason. */
#ifndef LBBT_H5UTIL_H
#define LBBT_H5UTIL_H
#include <hdf5.h>
#include <stdint.h>

#include "lbbt/results.h"
#include "lbbt/status.h"

/* Turn off HDF5's printing of its error stack (we report errors ourselves).  Idempotent;
 * every public entry point calls it. */
void h5u_quiet(void);
/* Set the message "<file>: <fmt...>: <HDF5's innermost reason>" and return code; clears
 * HDF5's error stack. */
lbbt_status h5u_fail(lbbt_status code, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* File access properties: HDF5 1.8-compatible format (readable by h5py, h5dump and any
 * HDF5 >= 1.8), close degree SEMI (H5Fclose fails instead of silently keeping the file
 * open when an object is still open, so a publish never races an unflushed file), file
 * locking skipped on file systems without it.  Caller closes with H5Pclose. */
hid_t h5u_fapl(void);
/* File creation properties: root group tracks link and attribute creation order. */
hid_t h5u_fcpl(void);
/* A new group that tracks link and attribute creation order. */
hid_t h5u_group_create(hid_t loc, const char *name);
/* The same, for a group that will hold about n_links links (run groups): its links stay in
 * its object header, sized for them when it is created, so that the list of runs is written
 * near the start of the file and survives a truncation that cuts off the last runs. */
hid_t h5u_group_create_sized(hid_t loc, const char *name, int n_links);

/* Write a scalar attribute, replacing an existing one of that name.  Strings are
 * variable-length UTF-8 (h5py reads them as str). */
herr_t h5u_attr_write_str(hid_t obj, const char *name, const char *value);
herr_t h5u_attr_write_i32(hid_t obj, const char *name, int32_t value);
/* Attribute `name` of obj as text in a malloc'd string: strings verbatim, scalar numbers
 * printed ("%lld", "%.17g"); other shapes or types as "<N values of class K>". */
herr_t h5u_attr_read_text(hid_t obj, const char *name, char **out);

/* Names of a group's links / an object's attributes, in creation order where tracked
 * (name order otherwise): a malloc'd array of n malloc'd strings; free with h5u_free_names. */
herr_t h5u_link_names(hid_t group, char ***names, int *n);
herr_t h5u_attr_names(hid_t obj, char ***names, int *n);
void h5u_free_names(char **names, int n);

/* How long a child process that reads a results file may take before it counts as hung in
 * libhdf5 (the probe below, `lbbt fsck`'s children).  The fuzz build shortens it. */
#ifndef H5U_CHILD_SECONDS
#define H5U_CHILD_SECONDS 60
#endif
/* In a child process that reads a file libhdf5 may crash or hang on: the crash signals and
 * SIGALRM back to their default action, then alarm(H5U_CHILD_SECONDS).  The parent's verdict
 * ("crashes libhdf5", "hangs libhdf5") rests on the child dying by that signal; a handler
 * inherited from the parent (a sanitizer's, libFuzzer's timeout handler) would turn the
 * death into an exit code, and the parent would then open the file itself. */
void h5u_child_begin(void);

/* Read the whole file in a child process first; LBBT_E_INPUT naming the file when libhdf5
 * crashes or hangs on it (h5util.c explains why).  h5u_open_lbbt calls it. */
lbbt_status h5u_probe(const char *path, const char *what);
/* A file this process has just written and published: opening it needs no probe. */
void h5u_probe_trust(const char *path);
/* Open an lbbt-written file read-only: `path` must exist, be HDF5 and have a root attribute
 * lbbt_format = "<kind>/<version>" with version 1 (kind: "lbbt-results", "lbbt-record"), after h5u_probe.
 * `what` names the kind in messages ("results file").  Missing, foreign or corrupt files
 * are LBBT_E_INPUT, a newer version LBBT_E_UNSUPPORTED. */
lbbt_status h5u_open_lbbt(const char *path, const char *kind, const char *what, hid_t *fid);

/* Is `name` usable as one HDF5 link name (run id): non-empty, < 256 bytes, no '/', not "."? */
int h5u_valid_name(const char *name);

/* ---- record items <-> an HDF5 group (results_items.c) -------------------------------- */
/* Attributes on the top group that are not record strings (run attributes, lbbt_format). */
typedef int (*h5u_reserved_fn)(const char *attr_name);
/* Write every item of rec under `group` (layout in results.h).  `file` and `where` name the
 * target in messages.  A top-level string whose name is reserved is LBBT_E_INPUT. */
lbbt_status h5u_items_write(hid_t group, const lbbt_record *rec, h5u_reserved_fn reserved,
                            const char *file, const char *where);
/* Read the items under `group` into rec, skipping reserved top-level attributes. */
lbbt_status h5u_items_read(hid_t group, lbbt_record *rec, h5u_reserved_fn reserved,
                           const char *file, const char *where);

#endif
