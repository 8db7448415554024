/* lbbt_provenance_collect for the fuzz build (the seed generator commits runs with it): the
 * real one (core/src/results/provenance.c) asks oneDNN, GSL, libyaml and the ISA dispatcher
 * for their versions, which the fuzz build does not link, and runs git.  Fixed values stand
 * in; the reader under test treats provenance as opaque strings. */
#include <stdio.h>
#include <string.h>

#include "lbbt/results.h"

void lbbt_provenance_collect(int threads, lbbt_provenance *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->lbbt_version, sizeof out->lbbt_version, "fuzz");
  snprintf(out->git_commit, sizeof out->git_commit, "%040d", 0);
  snprintf(out->git_dirty, sizeof out->git_dirty, "no");
  snprintf(out->utc_time, sizeof out->utc_time, "2026-01-01T00:00:00Z");
  snprintf(out->host, sizeof out->host, "fuzz-host");
  snprintf(out->cpu_model, sizeof out->cpu_model, "unknown");
  snprintf(out->cpu_isa, sizeof out->cpu_isa, "avx2");
  out->threads = threads;
  snprintf(out->onednn_version, sizeof out->onednn_version, "unknown");
  snprintf(out->hdf5_version, sizeof out->hdf5_version, "1.10.8");
  snprintf(out->gsl_version, sizeof out->gsl_version, "unknown");
  snprintf(out->libyaml_version, sizeof out->libyaml_version, "unknown");
  snprintf(out->kernel_isa, sizeof out->kernel_isa, "baseline");
  snprintf(out->onednn_isa, sizeof out->onednn_isa, "unknown");
}
