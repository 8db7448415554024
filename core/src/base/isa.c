/* lbbt_isa_*; see lbbt/isa.h. */
#include "lbbt/isa.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

static const char *const NAMES[LBBT_ISA_COUNT] = {"baseline", "avx2", "avx512"};

const char *lbbt_isa_name(lbbt_isa isa) {
  return isa >= 0 && isa < LBBT_ISA_COUNT ? NAMES[isa] : "unknown";
}

lbbt_isa lbbt_isa_machine(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  /* libgcc's x86-64-vN checks include the OS's XSAVE support of the ymm/zmm state. */
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return LBBT_ISA_AVX512;
  if (__builtin_cpu_supports("x86-64-v3")) return LBBT_ISA_AVX2;
#endif
  return LBBT_ISA_BASELINE;
}

/* 1 and *out when text names a level (no error is recorded: lbbt_isa_active uses it). */
static int parse_level(const char *text, lbbt_isa *out) {
  static const struct { const char *name; lbbt_isa isa; } ALIASES[] = {
      {"baseline", LBBT_ISA_BASELINE}, {"sse2", LBBT_ISA_BASELINE},
      {"x86-64", LBBT_ISA_BASELINE},   {"sse41", LBBT_ISA_BASELINE},
      {"avx2", LBBT_ISA_AVX2},         {"x86-64-v3", LBBT_ISA_AVX2},
      {"avx512", LBBT_ISA_AVX512},     {"x86-64-v4", LBBT_ISA_AVX512},
      {"avx512_core", LBBT_ISA_AVX512},
  };
  for (size_t i = 0; text && i < sizeof ALIASES / sizeof ALIASES[0]; i++)
    if (!strcasecmp(text, ALIASES[i].name)) {
      *out = ALIASES[i].isa;
      return 1;
    }
  return 0;
}

lbbt_status lbbt_isa_parse(const char *text, lbbt_isa *out) {
  if (parse_level(text, out)) return LBBT_OK;
  return lbbt_fail(LBBT_E_INPUT, "LBBT_MAX_ISA='%s': expected baseline, avx2 or avx512",
                   text ? text : "");
}

lbbt_status lbbt_isa_check_env(void) {
  const char *cap = getenv("LBBT_MAX_ISA");
  lbbt_isa isa;
  return cap && *cap ? lbbt_isa_parse(cap, &isa) : LBBT_OK;
}

static lbbt_isa active = LBBT_ISA_BASELINE;
static pthread_once_t decided = PTHREAD_ONCE_INIT;

static void decide(void) {
  lbbt_isa level = lbbt_isa_machine();
  const char *cap = getenv("LBBT_MAX_ISA");
  if (cap && *cap) {
    lbbt_isa want;
    if (!parse_level(cap, &want)) want = LBBT_ISA_BASELINE;
    if (want < level) level = want;
    /* Cap oneDNN the same way unless the user chose its level; too late (an error) once
     * oneDNN has dispatched a kernel, which the caller of the first op cannot undo. */
    const char *dnnl_cap = getenv("DNNL_MAX_CPU_ISA");
    if (!(dnnl_cap && *dnnl_cap) && level < LBBT_ISA_AVX512)
      (void)dnnl_set_max_cpu_isa(level == LBBT_ISA_AVX2 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_sse41);
  }
  active = level;
}

lbbt_isa lbbt_isa_active(void) {
  pthread_once(&decided, decide);
  return active;
}

const char *lbbt_isa_onednn(void) {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_all: return "ALL";
    case dnnl_cpu_isa_sse41: return "SSE41";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2_VNNI";
    case dnnl_cpu_isa_avx512_mic: return "AVX512_MIC";
    case dnnl_cpu_isa_avx512_mic_4ops: return "AVX512_MIC_4OPS";
    case dnnl_cpu_isa_avx512_core: return "AVX512_CORE";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX512_CORE_VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX512_CORE_BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AVX512_CORE_AMX";
  }
  return "unknown";
}
