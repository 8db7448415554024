/* Checked size arithmetic and range-checked parsing (lbbt/checked.h): the helpers every
 * reader uses on sizes from files.  Boundaries are checked exactly, on both sides. */
#include <stdint.h>

#include "lbbt/checked.h"
#include "test.h"

static void test_mul_boundaries(void) {
  int64_t r = -7;
  CHECK(lbbt_mul_i64(INT64_MAX, 1, &r) && r == INT64_MAX, "INT64_MAX * 1");
  CHECK(lbbt_mul_i64((int64_t)1 << 31, (int64_t)1 << 31, &r) && r == (int64_t)1 << 62, "2^62");
  r = -7;
  CHECK(!lbbt_mul_i64((int64_t)1 << 32, (int64_t)1 << 31, &r) && r == -7, "2^63 overflows");
  CHECK(!lbbt_mul_i64(-1, 5, &r), "negative factor refused");
  CHECK(lbbt_mul_i64(0, INT64_MAX, &r) && r == 0, "0 * anything");
  int x = -7;
  CHECK(lbbt_mul_int(4, 536870911, &x) && x == 2147483644, "4 * (2^29 - 1) fits");
  x = -7;
  CHECK(!lbbt_mul_int(4, 1 << 29, &x) && x == -7, "4 * 2^29 = 2^31 does not fit an int");
}

static void test_add_and_product(void) {
  int64_t r = 0;
  CHECK(lbbt_add_i64(INT64_MAX - 1, 1, &r) && r == INT64_MAX, "INT64_MAX - 1 + 1");
  CHECK(!lbbt_add_i64(INT64_MAX, 1, &r), "INT64_MAX + 1 overflows");
  CHECK(!lbbt_add_i64(-1, 1, &r), "negative term refused");
  /* the IDX header of issue 20: 16 x 2^30 x 2^30 wraps to exactly 0 in 64 bits */
  int64_t wrap[3] = {16, (int64_t)1 << 30, (int64_t)1 << 30};
  CHECK(!lbbt_product_i64(wrap, 3, &r), "16 x 2^30 x 2^30 must not wrap to 0");
  int64_t ok[3] = {60000, 28, 28};
  CHECK(lbbt_product_i64(ok, 3, &r) && r == 47040000, "Fashion-MNIST's train images");
  CHECK(lbbt_product_i64(ok, 0, &r) && r == 1, "empty product");
}

static void test_parse_i64(void) {
  int64_t v = 0;
  CHECK(lbbt_parse_i64("42", 0, 100, &v) == LBBT_OK && v == 42, "42");
  CHECK(lbbt_parse_i64("-5", -10, 10, &v) == LBBT_OK && v == -5, "-5");
  CHECK(lbbt_parse_i64("9223372036854775807", 0, INT64_MAX, &v) == LBBT_OK && v == INT64_MAX,
        "INT64_MAX");
  CHECK(lbbt_parse_i64("9223372036854775808", 0, INT64_MAX, &v) == LBBT_E_INPUT, "2^63 is ERANGE");
  CHECK(lbbt_parse_i64("4294967298", 0, INT32_MAX, &v) == LBBT_E_INPUT, "2^32+2 is not 2");
  CHECK(strstr(lbbt_last_error(), "4294967298") != NULL, "message names the text: %s",
        lbbt_last_error());
  CHECK(lbbt_parse_i64("101", 0, 100, &v) == LBBT_E_INPUT, "above hi");
  CHECK(lbbt_parse_i64("12x", 0, 100, &v) == LBBT_E_INPUT, "trailing text");
  CHECK(lbbt_parse_i64("", 0, 100, &v) == LBBT_E_INPUT, "empty");
  CHECK(lbbt_parse_i64(" 1", 0, 100, &v) == LBBT_E_INPUT, "leading blank");
  CHECK(lbbt_parse_i64("+1", 0, 100, &v) == LBBT_E_INPUT, "plus sign");
  CHECK(lbbt_parse_i64(NULL, 0, 100, &v) == LBBT_E_INPUT, "NULL");
}

TEST_MAIN_BEGIN("test_checked")
TEST_RUN(test_mul_boundaries);
TEST_RUN(test_add_and_product);
TEST_RUN(test_parse_i64);
TEST_MAIN_END()
