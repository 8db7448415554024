#include <stdio.h>

#include "commands.h"
#include "lbbt/version.h"

int cmd_version(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    printf("usage: lbbt version\nPrints lbbt's version and the versions of the libraries it runs on.\n");
    return 0;
  }
  printf("lbbt %s\noneDNN %s\nHDF5 %s\nGSL %s\nlibyaml %s\njansson %s\n", LBBT_VERSION,
         lbbt_version_dnnl(), lbbt_version_hdf5(), lbbt_version_gsl(), lbbt_version_yaml(),
         lbbt_version_jansson());
  return 0;
}
