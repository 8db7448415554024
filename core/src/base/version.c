/* Library versions, read at run time where the library can tell. */
#include "lbbt/version.h"

#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <jansson.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <yaml.h>

const char *lbbt_version_dnnl(void) {
  static char buf[32];
  const dnnl_version_t *v = dnnl_version();
  snprintf(buf, sizeof buf, "%d.%d.%d", v->major, v->minor, v->patch);
  return buf;
}
const char *lbbt_version_hdf5(void) {
  static char buf[32];
  unsigned maj, min, rel;
  H5get_libversion(&maj, &min, &rel);
  snprintf(buf, sizeof buf, "%u.%u.%u", maj, min, rel);
  return buf;
}
const char *lbbt_version_gsl(void) { return gsl_version; }
const char *lbbt_version_yaml(void) { return yaml_get_version_string(); }
const char *lbbt_version_jansson(void) { return jansson_version_str(); }
