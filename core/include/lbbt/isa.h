/* The vector ISA level lbbt's own C kernels run at (the register-tiled small matmul, the
 * attention softmax rows): chosen once per process from cpuid, capped by LBBT_MAX_ISA.
 *
 * The library is built for baseline x86-64 (SSE2) unless `make NATIVE=1`; the kernels that
 * dominate a training step beside oneDNN's are compiled once per level below, each with its
 * own vector width and tile shapes, and the highest level the CPU (and the OS, for the
 * register state) supports runs.  LBBT_MAX_ISA=baseline|avx2|avx512 caps the level, so
 * that every level can be tested on one machine.  oneDNN has its own cap, DNNL_MAX_CPU_ISA
 * (SSE41, AVX2, AVX512_CORE, ...); when LBBT_MAX_ISA is set and DNNL_MAX_CPU_ISA is not,
 * lbbt caps oneDNN to the matching level (baseline -> SSE41, avx2 -> AVX2) when it first
 * decides its own, if oneDNN has not run yet; set both to be sure. */
#ifndef LBBT_ISA_H
#define LBBT_ISA_H
#include "lbbt/status.h"

typedef enum lbbt_isa {
  LBBT_ISA_BASELINE = 0, /* x86-64: SSE2, 16 registers of 4 floats (or not x86) */
  LBBT_ISA_AVX2 = 1,     /* x86-64-v3: AVX2 + FMA, 16 registers of 8 floats */
  LBBT_ISA_AVX512 = 2,   /* x86-64-v4: AVX-512 F/BW/DQ/VL, 32 registers of 16 floats */
  LBBT_ISA_COUNT = 3
} lbbt_isa;

/* The highest level this CPU and OS support. */
LBBT_API lbbt_isa lbbt_isa_machine(void);
/* The level the kernels run at: the machine's, capped by LBBT_MAX_ISA; decided at the first
 * call (thread-safe) and fixed for the process.  An unparsable LBBT_MAX_ISA selects the
 * baseline (never an illegal instruction); lbbt_isa_check_env reports it. */
LBBT_API lbbt_isa lbbt_isa_active(void);
/* "baseline", "avx2", "avx512". */
LBBT_API const char *lbbt_isa_name(lbbt_isa isa);
/* Parse a level name (case-insensitive; also "sse2", "x86-64", "x86-64-v3", "x86-64-v4",
 * "avx512_core"); LBBT_E_INPUT naming the accepted values otherwise. */
LBBT_API lbbt_status lbbt_isa_parse(const char *text, lbbt_isa *out);
/* LBBT_E_INPUT when LBBT_MAX_ISA is set to something lbbt_isa_parse refuses. */
LBBT_API lbbt_status lbbt_isa_check_env(void);
/* oneDNN's effective ISA as its DNNL_MAX_CPU_ISA spelling ("AVX2", "AVX512_CORE_AMX", ...). */
LBBT_API const char *lbbt_isa_onednn(void);

#endif
