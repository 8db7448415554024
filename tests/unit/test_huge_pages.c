/* lbbt_alloc_large (core/src/base/huge_pages.h): large buffers 2 MiB aligned and rounded, small
 * ones 64-byte aligned, all writable to their last byte and released with free(). */
#include <stdint.h>

#include "base/huge_pages.h"
#include "test.h"

static void test_huge_pages_large_buffer(void) {
  size_t bytes = LBBT_HUGE_PAGE_MIN + 12345;
  unsigned char *p = lbbt_alloc_large(&bytes);
  REQUIRE(p, "allocation of %zu bytes failed", bytes);
  CHECK((uintptr_t)p % LBBT_HUGE_PAGE_MIN == 0, "large buffer %p not 2 MiB aligned", (void *)p);
  CHECK(bytes == 2 * LBBT_HUGE_PAGE_MIN, "rounded to %zu bytes, want %zu", bytes,
        2 * LBBT_HUGE_PAGE_MIN);
  memset(p, 1, bytes);
  CHECK(p[bytes - 1] == 1, "last byte not writable");
  free(p);
}

static void test_huge_pages_small_buffer(void) {
  size_t bytes = 100, zero = 0;
  unsigned char *p = lbbt_alloc_large(&bytes), *q = lbbt_alloc_large(&zero);
  REQUIRE(p && q, "small allocation failed");
  CHECK((uintptr_t)p % 64 == 0 && (uintptr_t)q % 64 == 0, "small buffers not 64-byte aligned");
  CHECK(bytes == 128, "100 bytes rounded to %zu, want 128", bytes);
  CHECK(zero == 64, "0 bytes rounded to %zu, want 64", zero);
  free(p);
  free(q);
}

TEST_MAIN_BEGIN("test_huge_pages")
TEST_RUN(test_huge_pages_large_buffer);
TEST_RUN(test_huge_pages_small_buffer);
TEST_MAIN_END()
