#ifndef LBBT_VERSION_H
#define LBBT_VERSION_H
#include "lbbt/status.h"
#define LBBT_VERSION "0.1.0"
/* Versions of the libraries lbbt was built with and runs on, for provenance. */
LBBT_API const char *lbbt_version_dnnl(void);   /* "2.6.3" */
LBBT_API const char *lbbt_version_hdf5(void);
LBBT_API const char *lbbt_version_gsl(void);
LBBT_API const char *lbbt_version_yaml(void);
LBBT_API const char *lbbt_version_jansson(void);
#endif
