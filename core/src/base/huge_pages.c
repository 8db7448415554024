/* lbbt_alloc_large; see huge_pages.h. */
#include "base/huge_pages.h"

#include <stdlib.h>
#include <sys/mman.h>

void *lbbt_alloc_large(size_t *bytes) {
  size_t align = *bytes >= LBBT_HUGE_PAGE_MIN ? LBBT_HUGE_PAGE_MIN : 64;
  size_t size = (*bytes + align - 1) & ~(align - 1);
  if (size == 0) size = align;
  void *p = NULL;
  if (posix_memalign(&p, align, size) != 0) return NULL;
#ifdef MADV_HUGEPAGE
  /* Advice only: a kernel without THP says EINVAL and the buffer keeps small pages. */
  if (align == LBBT_HUGE_PAGE_MIN) (void)madvise(p, size, MADV_HUGEPAGE);
#endif
  *bytes = size;
  return p;
}
