/* SHA-256 against the FIPS 180-2 appendix B vectors, plus streaming = one-shot. */
#include "lbbt/sha256.h"
#include "test.h"

static void test_sha256_abc(void) {
  char hex[65];
  lbbt_sha256_hex("abc", 3, hex);
  CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "abc: %s", hex);
}

static void test_sha256_empty(void) {
  char hex[65];
  lbbt_sha256_hex("", 0, hex);
  CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "empty: %s", hex);
}

static void test_sha256_448_bits(void) {
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  char hex[65];
  lbbt_sha256_hex(m, strlen(m), hex);
  CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "448-bit: %s", hex);
}

static void test_sha256_million_a(void) {
  size_t n = 1000000;
  char *a = malloc(n);
  REQUIRE(a, "malloc");
  memset(a, 'a', n);
  char hex[65];
  lbbt_sha256_hex(a, n, hex);
  CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "1e6 x a: %s", hex);
  /* The same message fed in odd-sized pieces must give the same digest. */
  lbbt_sha256_ctx c;
  lbbt_sha256_init(&c);
  size_t off = 0, step = 1;
  while (off < n) {
    size_t take = step < n - off ? step : n - off;
    lbbt_sha256_update(&c, a + off, take);
    off += take;
    step = step * 3 % 1000 + 1;
  }
  uint8_t d1[32], d2[32];
  lbbt_sha256_final(&c, d1);
  lbbt_sha256(a, n, d2);
  CHECK(!memcmp(d1, d2, 32), "streaming digest differs from one-shot");
  free(a);
}

/* Messages of 55, 56 and 64 bytes sit on the padding boundaries. */
static void test_sha256_padding_boundaries(void) {
  static const struct { size_t n; const char *hex; } cases[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
  };
  char buf[64], hex[65];
  memset(buf, 'a', sizeof buf);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lbbt_sha256_hex(buf, cases[i].n, hex);
    CHECK(!strcmp(hex, cases[i].hex), "%zu x a: %s", cases[i].n, hex);
  }
}

TEST_MAIN_BEGIN("test_sha256")
TEST_RUN(test_sha256_abc);
TEST_RUN(test_sha256_empty);
TEST_RUN(test_sha256_448_bits);
TEST_RUN(test_sha256_million_a);
TEST_RUN(test_sha256_padding_boundaries);
TEST_MAIN_END()
