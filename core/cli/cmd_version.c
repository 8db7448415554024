#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "lbbt/isa.h"
#include "lbbt/version.h"

int cmd_version(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    printf("usage: lbbt version\nPrints lbbt's version, the versions of the libraries it runs on and the\n"
           "vector ISA level its kernels and oneDNN's run at (capped by LBBT_MAX_ISA and\n"
           "DNNL_MAX_CPU_ISA).\n");
    return 0;
  }
  printf("lbbt %s\noneDNN %s\nHDF5 %s\nGSL %s\nlibyaml %s\njansson %s\n", LBBT_VERSION,
         lbbt_version_dnnl(), lbbt_version_hdf5(), lbbt_version_gsl(), lbbt_version_yaml(),
         lbbt_version_jansson());
  printf("kernels %s (machine %s%s%s)\noneDNN ISA %s\n", lbbt_isa_name(lbbt_isa_active()),
         lbbt_isa_name(lbbt_isa_machine()), getenv("LBBT_MAX_ISA") ? ", LBBT_MAX_ISA=" : "",
         getenv("LBBT_MAX_ISA") ? getenv("LBBT_MAX_ISA") : "", lbbt_isa_onednn());
  return 0;
}
