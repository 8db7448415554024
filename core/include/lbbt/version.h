#ifndef LBBT_VERSION_H
#define LBBT_VERSION_H
#define LBBT_VERSION "0.1.0"
/* Versions of the libraries lbbt was built with and runs on, for provenance. */
const char *lbbt_version_dnnl(void);   /* "2.6.3" */
const char *lbbt_version_hdf5(void);
const char *lbbt_version_gsl(void);
const char *lbbt_version_yaml(void);
const char *lbbt_version_jansson(void);
#endif
