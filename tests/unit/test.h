/* Minimal test harness shared by every tests/unit/test_*.c binary.
 *
 * Each test is a function; main() calls TEST_RUN(fn) for each.  A test prints exactly one
 * line, which tools/run-tests counts:
 *   PASS <binary>.<test>
 *   FAIL <binary>.<test>: <first failed check, with file:line>
 *   SKIP <binary>.<test>: <why>          (a needed file is absent, e.g. stories260K.bin)
 * Tolerances belong in named constants at the top of each test file, not inside loops. */
#ifndef LBBT_TEST_H
#define LBBT_TEST_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_failed_, test_skipped_;
static char test_msg_[1024];
static int test_npass_, test_nfail_, test_nskip_;

static void test_fail_(const char *file, int line, const char *fmt, ...) {
  if (test_failed_ || test_skipped_) return; /* keep the first message */
  test_failed_ = 1;
  int n = snprintf(test_msg_, sizeof test_msg_, "%s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(test_msg_ + n, sizeof test_msg_ - (size_t)n, fmt, ap);
  va_end(ap);
}

/* CHECK(cond, fmt, ...): record a failure (the test goes on; the first message is kept). */
#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) test_fail_(__FILE__, __LINE__, __VA_ARGS__);              \
  } while (0)
/* REQUIRE: like CHECK, but return from the test function on failure. */
#define REQUIRE(cond, ...)                                                 \
  do {                                                                     \
    if (!(cond)) {                                                         \
      test_fail_(__FILE__, __LINE__, __VA_ARGS__);                         \
      return;                                                              \
    }                                                                      \
  } while (0)
/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol, what)                                          \
  do {                                                                               \
    double a_ = (double)(a), b_ = (double)(b);                                       \
    if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_)))                               \
      test_fail_(__FILE__, __LINE__, "%s: got %.9g, want %.9g (atol %g, rtol %g)", \
                 (what), a_, b_, (double)(atol), (double)(rtol));                    \
  } while (0)
/* Mark the current test skipped and return. */
#define SKIP(...)                                                          \
  do {                                                                     \
    test_skipped_ = 1;                                                     \
    snprintf(test_msg_, sizeof test_msg_, __VA_ARGS__);                    \
    return;                                                                \
  } while (0)

static const char *test_binary_ = "test";
#define TEST_RUN(fn)                                                       \
  do {                                                                     \
    test_failed_ = test_skipped_ = 0;                                      \
    test_msg_[0] = 0;                                                      \
    fn();                                                                  \
    if (test_skipped_) {                                                   \
      printf("SKIP %s.%s: %s\n", test_binary_, #fn, test_msg_);            \
      test_nskip_++;                                                       \
    } else if (test_failed_) {                                             \
      printf("FAIL %s.%s: %s\n", test_binary_, #fn, test_msg_);            \
      test_nfail_++;                                                       \
    } else {                                                               \
      printf("PASS %s.%s\n", test_binary_, #fn);                           \
      test_npass_++;                                                       \
    }                                                                      \
    fflush(stdout);                                                        \
  } while (0)

#define TEST_MAIN_BEGIN(name) \
  int main(void) {            \
    test_binary_ = (name);
#define TEST_MAIN_END()                  \
    return test_nfail_ ? 1 : 0;          \
  }

/* Path helpers: tests run from the repository root. */
static inline int test_file_exists(const char *p) { return access(p, R_OK) == 0; }
/* The shared models folder: $LBBT_MODELS, else ../shared/models. */
static inline const char *test_models_dir(void) {
  const char *e = getenv("LBBT_MODELS");
  return e && *e ? e : "../shared/models";
}
/* A fresh temporary directory for this test binary (mkdtemp under $TMPDIR or /tmp). */
static inline const char *test_tmpdir(void) {
  static char dir[256];
  if (!dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lbbt-test-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return "/tmp";
  }
  return dir;
}
/* "<test_tmpdir>/<name>" in one of 16 rotating buffers: valid until 16 more calls. */
static inline char *test_tmp_path(const char *name) {
  static char buf[16][512];
  static int next;
  char *p = buf[next++ % 16];
  snprintf(p, sizeof buf[0], "%s/%s", test_tmpdir(), name);
  return p;
}
#endif
