/* Helpers shared by the checkpoint readers and writers (not part of the public API). */
#ifndef LBBT_CKPT_INTERNAL_H
#define LBBT_CKPT_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "lbbt/status.h"

/* Read exactly n bytes at offset off; a short read (file shrank) is LBBT_E_INPUT naming path
 * and what, any other failure LBBT_E_IO. */
lbbt_status lbbt_ckpt_pread(int fd, void *buf, size_t n, uint64_t off, const char *path,
                            const char *what);

/* Atomic replacement of a file: bytes go to "<path>.tmp-XXXXXX" in the same folder; commit
 * fsyncs it, renames it over path and fsyncs the folder; abort removes it.  After commit or
 * abort the struct holds nothing. */
typedef struct lbbt_atomic_file {
  int fd;
  char *path;
  char *tmp;
} lbbt_atomic_file;
lbbt_status lbbt_atomic_open(lbbt_atomic_file *f, const char *path);
lbbt_status lbbt_atomic_write(lbbt_atomic_file *f, const void *buf, size_t n);
lbbt_status lbbt_atomic_commit(lbbt_atomic_file *f);
void lbbt_atomic_abort(lbbt_atomic_file *f);

/* Levenshtein distance, capped: used to suggest the nearest tensor name. */
int lbbt_edit_distance(const char *a, const char *b);

/* Little-endian loads (files are little-endian whatever the host). */
static inline uint16_t lbbt_le16(const unsigned char *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t lbbt_le32(const unsigned char *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t lbbt_le64(const unsigned char *p) {
  return (uint64_t)lbbt_le32(p) | ((uint64_t)lbbt_le32(p + 4) << 32);
}
static inline void lbbt_store_le32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}
static inline void lbbt_store_le64(unsigned char *p, uint64_t v) {
  lbbt_store_le32(p, (uint32_t)v);
  lbbt_store_le32(p + 4, (uint32_t)(v >> 32));
}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LBBT_HOST_LITTLE_ENDIAN 1
#else
#define LBBT_HOST_LITTLE_ENDIAN 0
#endif

#endif
