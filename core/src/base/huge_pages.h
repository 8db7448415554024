/* Large buffers on transparent huge pages (internal to the core library).
 *
 * Linux here runs THP in "madvise" mode (/sys/kernel/mm/transparent_hugepage/enabled), so
 * anonymous memory gets 4 KiB pages unless asked.  A training step streams about a GiB of
 * activations (d 256) through the tape arena; on 2 MiB pages the same step ran 10-12%
 * faster (docs/BENCH.md, fewer TLB misses in oneDNN's matmuls and the memory-bound
 * eltwise passes).  Where THP is off, the advice is ignored and nothing else changes. */
#ifndef LBBT_HUGE_PAGES_H
#define LBBT_HUGE_PAGES_H
#include <stddef.h>

/* Buffers of at least this many bytes are 2 MiB aligned and advised onto huge pages;
 * smaller ones are 64-byte aligned. */
#define LBBT_HUGE_PAGE_MIN ((size_t)2 << 20)

/* *bytes rounded up (to 64 bytes, or to 2 MiB when large) and allocated; NULL when out of
 * memory.  Release with free().  *bytes is updated to the size allocated. */
void *lbbt_alloc_large(size_t *bytes);

#endif
