/* SHA-256 (FIPS 180-4), used for provenance: the hash of an experiment file as written, and
 * (truncated) the id of each resolved run.  Small and dependency-free so that results files
 * can be hashed the same way by any engineer's code. */
#ifndef LBBT_SHA256_H
#define LBBT_SHA256_H
#include "lbbt/status.h"
#include <stddef.h>
#include <stdint.h>

/* Streaming interface, for data that does not sit in one buffer. */
typedef struct lbbt_sha256_ctx {
  uint32_t state[8];
  uint64_t total_bytes;
  uint8_t block[64];
  size_t block_used;
} lbbt_sha256_ctx;
LBBT_API void lbbt_sha256_init(lbbt_sha256_ctx *c);
LBBT_API void lbbt_sha256_update(lbbt_sha256_ctx *c, const void *data, size_t n);
LBBT_API void lbbt_sha256_final(lbbt_sha256_ctx *c, uint8_t out[32]);

/* One-shot digest of n bytes. */
LBBT_API void lbbt_sha256(const void *data, size_t n, uint8_t out[32]);
/* The same digest as 64 lowercase hex characters plus a terminating NUL. */
LBBT_API void lbbt_sha256_hex(const void *data, size_t n, char out[65]);

#endif
