/* Checkpoint dtypes and exact half-precision conversions; see checkpoint.h. */
#include <string.h>

#include "lbbt/checkpoint.h"

static const struct {
  const char *name;
  size_t size;
} g_dtypes[LBBT_DT_COUNT] = {
    [LBBT_DT_F32] = {"F32", 4},         [LBBT_DT_F16] = {"F16", 2},
    [LBBT_DT_BF16] = {"BF16", 2},       [LBBT_DT_F64] = {"F64", 8},
    [LBBT_DT_I64] = {"I64", 8},         [LBBT_DT_I32] = {"I32", 4},
    [LBBT_DT_I16] = {"I16", 2},         [LBBT_DT_I8] = {"I8", 1},
    [LBBT_DT_U64] = {"U64", 8},         [LBBT_DT_U32] = {"U32", 4},
    [LBBT_DT_U16] = {"U16", 2},         [LBBT_DT_U8] = {"U8", 1},
    [LBBT_DT_BOOL] = {"BOOL", 1},       [LBBT_DT_F8_E4M3] = {"F8_E4M3", 1},
    [LBBT_DT_F8_E5M2] = {"F8_E5M2", 1},
};

const char *lbbt_dtype_name(lbbt_dtype dt) {
  return (unsigned)dt < LBBT_DT_COUNT ? g_dtypes[dt].name : "?";
}

size_t lbbt_dtype_size(lbbt_dtype dt) { return (unsigned)dt < LBBT_DT_COUNT ? g_dtypes[dt].size : 0; }

int lbbt_dtype_parse(const char *s, lbbt_dtype *out) {
  for (int i = 0; i < LBBT_DT_COUNT; i++)
    if (strcmp(s, g_dtypes[i].name) == 0) {
      *out = (lbbt_dtype)i;
      return 0;
    }
  return -1;
}

static float bits_to_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.  Every binary16 value is exactly
 * representable in binary32, so this is bit manipulation, not arithmetic that could round. */
float lbbt_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) /* inf or NaN: keep the payload in the top mantissa bits */
    return bits_to_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_to_f32(sign); /* signed zero */
    /* Subnormal: mant * 2^-24.  Normalise: shift until the implicit bit (0x400) is set. */
    int e = -1;
    do {
      e++;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    mant &= 0x3ffu;
    return bits_to_f32(sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13));
  }
  return bits_to_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

/* bfloat16 is the top half of a binary32. */
float lbbt_bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }
