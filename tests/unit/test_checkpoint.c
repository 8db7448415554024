/* Checkpoint formats: safetensors read/write (single and sharded), config.json, llama2.c .bin.
 * Valid files are made by the writer or byte by byte here; hostile files are byte strings,
 * each of which must fail with LBBT_E_INPUT and a message naming the file (and tensor). */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>

#include "lbbt/checkpoint.h"
#include "test.h"

/* stories260K weight sums must match an independent numpy reading of the same file to this
 * relative tolerance (float32 data summed in different orders). */
static const double STORIES_SUM_RTOL = 1e-5;

/* ---- helpers -------------------------------------------------------------------------------- */
static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  return remove(path);
}
static void remove_tmpdir(void) { nftw(test_tmpdir(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static const char *tmp_file(const char *name) {
  static char bufs[8][512];
  static int k;
  static int cleanup_registered;
  if (!cleanup_registered) {
    cleanup_registered = 1;
    atexit(remove_tmpdir);
  }
  char *b = bufs[k++ % 8];
  snprintf(b, 512, "%s/%s", test_tmpdir(), name);
  return b;
}

static int write_bytes(const char *path, const void *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = n ? fwrite(bytes, 1, n, f) : 0;
  return fclose(f) == 0 && w == n ? 0 : -1;
}

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* A safetensors file from a header string (taken as is, no padding) and data_len bytes of
 * data (0, 1, 2, ... mod 251). */
static int write_st_raw(const char *path, const char *header, size_t data_len) {
  size_t hl = strlen(header);
  unsigned char *b = malloc(8 + hl + data_len + 1);
  if (!b) return -1;
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, header, hl);
  for (size_t i = 0; i < data_len; i++) b[8 + hl + i] = (unsigned char)(i % 251);
  int rc = write_bytes(path, b, 8 + hl + data_len);
  free(b);
  return rc;
}

static int bits_equal(float a, uint32_t want) {
  uint32_t u;
  memcpy(&u, &a, 4);
  return u == want;
}
static uint32_t f32_bits(float a) {
  uint32_t u;
  memcpy(&u, &a, 4);
  return u;
}

/* Status must be `code`, and the message must contain every non-NULL needle. */
#define CHECK_FAILS(expr, code, n1, n2, n3)                                                   \
  do {                                                                                       \
    lbbt_clear_error();                                                                      \
    lbbt_status s_ = (expr);                                                                 \
    const char *m_ = lbbt_last_error();                                                      \
    const char *needles_[3] = {(n1), (n2), (n3)};                                            \
    CHECK(s_ == (code), "%s: status %s, want %s (message: %s)", #expr, lbbt_status_name(s_), \
          lbbt_status_name(code), m_);                                                       \
    for (int k_ = 0; k_ < 3; k_++)                                                           \
      CHECK(!needles_[k_] || strstr(m_, needles_[k_]), "%s: message lacks '%s': %s", #expr,  \
            needles_[k_], m_);                                                               \
  } while (0)

/* ---- half precision ---------------------------------------------------------------------- */
typedef struct {
  uint16_t in;
  uint32_t out;
  const char *what;
} bits_case;

static const bits_case F16_CASES[] = {
    {0x3c00, 0x3f800000, "1.0"},
    {0xc000, 0xc0000000, "-2.0"},
    {0x3555, 0x3eaaa000, "0.33325195 (rounded 1/3)"},
    {0x7bff, 0x477fe000, "65504 (largest finite)"},
    {0x0400, 0x38800000, "2^-14 (smallest normal)"},
    {0x0001, 0x33800000, "2^-24 (smallest subnormal)"},
    {0x03ff, 0x387fc000, "1023 * 2^-24 (largest subnormal)"},
    {0x8001, 0xb3800000, "-2^-24"},
    {0x0200, 0x38000000, "2^-15 (subnormal)"},
    {0x0000, 0x00000000, "+0"},
    {0x8000, 0x80000000, "-0"},
    {0x7c00, 0x7f800000, "+inf"},
    {0xfc00, 0xff800000, "-inf"},
    {0x7e00, 0x7fc00000, "quiet NaN"},
    {0x7c01, 0x7f802000, "signalling NaN payload 1"},
    {0xfe01, 0xffc02000, "negative NaN with payload"},
};
static const bits_case BF16_CASES[] = {
    {0x3f80, 0x3f800000, "1.0"},      {0x4049, 0x40490000, "3.140625"},
    {0xc2f7, 0xc2f70000, "-123.5"},   {0x0001, 0x00010000, "smallest subnormal"},
    {0x8000, 0x80000000, "-0"},       {0x7f80, 0x7f800000, "+inf"},
    {0xff80, 0xff800000, "-inf"},     {0x7fc1, 0x7fc10000, "NaN with payload"},
    {0x7f7f, 0x7f7f0000, "largest finite"},
};
#define N_F16 (sizeof F16_CASES / sizeof *F16_CASES)
#define N_BF16 (sizeof BF16_CASES / sizeof *BF16_CASES)

static void test_half_conversion_bits(void) {
  for (size_t i = 0; i < N_F16; i++) {
    float f = lbbt_f16_to_f32(F16_CASES[i].in);
    CHECK(bits_equal(f, F16_CASES[i].out), "f16 0x%04x (%s): got 0x%08x, want 0x%08x",
          F16_CASES[i].in, F16_CASES[i].what, f32_bits(f), F16_CASES[i].out);
  }
  for (size_t i = 0; i < N_BF16; i++) {
    float f = lbbt_bf16_to_f32(BF16_CASES[i].in);
    CHECK(bits_equal(f, BF16_CASES[i].out), "bf16 0x%04x (%s): got 0x%08x, want 0x%08x",
          BF16_CASES[i].in, BF16_CASES[i].what, f32_bits(f), BF16_CASES[i].out);
  }
  /* Every finite f16 converts exactly: converting back by rounding gives the same bits. */
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00) continue;
    float f = lbbt_f16_to_f32((uint16_t)h);
    double mag = fabs((double)f);
    int sign = signbit(f) != 0;
    CHECK(((h & 0x8000) != 0) == sign, "f16 0x%04x: sign", h);
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double want = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m / 1024.0, -14);
    CHECK(mag == want, "f16 0x%04x: got %.9g, want %.9g", h, mag, want);
  }
}

/* A file with F16 and BF16 tensors built byte by byte; reads must give the exact f32 bits. */
static void test_half_tensors_in_file(void) {
  const char *path = tmp_file("half.safetensors");
  char header[512];
  size_t f16_bytes = 2 * N_F16, bf16_bytes = 2 * N_BF16;
  snprintf(header, sizeof header,
           "{\"h\":{\"dtype\":\"F16\",\"shape\":[%zu],\"data_offsets\":[0,%zu]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}}",
           N_F16, f16_bytes, N_BF16, f16_bytes, f16_bytes + bf16_bytes);
  size_t hl = strlen(header);
  unsigned char buf[1024];
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(buf + 8, header, hl);
  unsigned char *d = buf + 8 + hl;
  for (size_t i = 0; i < N_F16; i++) {
    d[2 * i] = (unsigned char)F16_CASES[i].in;
    d[2 * i + 1] = (unsigned char)(F16_CASES[i].in >> 8);
  }
  d += f16_bytes;
  for (size_t i = 0; i < N_BF16; i++) {
    d[2 * i] = (unsigned char)BF16_CASES[i].in;
    d[2 * i + 1] = (unsigned char)(BF16_CASES[i].in >> 8);
  }
  REQUIRE(write_bytes(path, buf, 8 + hl + f16_bytes + bf16_bytes) == 0, "write %s", path);
  lbbt_st *st = NULL;
  REQUIRE(lbbt_st_open(path, &st) == LBBT_OK, "open: %s", lbbt_last_error());
  const lbbt_st_info *h = lbbt_st_find(st, "h"), *b = lbbt_st_find(st, "b");
  CHECK(h && h->dtype == LBBT_DT_F16 && h->numel == (int64_t)N_F16, "F16 info");
  CHECK(b && b->dtype == LBBT_DT_BF16 && b->numel == (int64_t)N_BF16, "BF16 info");
  float out[64];
  CHECK(lbbt_st_read_f32(st, "h", out, N_F16) == LBBT_OK, "read h: %s", lbbt_last_error());
  for (size_t i = 0; i < N_F16; i++)
    CHECK(bits_equal(out[i], F16_CASES[i].out), "file f16 %s: got 0x%08x", F16_CASES[i].what,
          f32_bits(out[i]));
  CHECK(lbbt_st_read_f32(st, "b", out, N_BF16) == LBBT_OK, "read b: %s", lbbt_last_error());
  for (size_t i = 0; i < N_BF16; i++)
    CHECK(bits_equal(out[i], BF16_CASES[i].out), "file bf16 %s: got 0x%08x",
          BF16_CASES[i].what, f32_bits(out[i]));
  /* Half tensors are float: reading them as int32 is refused. */
  int32_t ib[64];
  CHECK_FAILS(lbbt_st_read_i32(st, "h", ib, N_F16), LBBT_E_INPUT, path, "'h'", "F16");
  lbbt_st_close(st);
}

/* ---- writer ---------------------------------------------------------------------------------- */
static void read_file_bytes(const char *path, unsigned char *buf, size_t cap, size_t *n) {
  FILE *f = fopen(path, "rb");
  *n = f ? fread(buf, 1, cap, f) : 0;
  if (f) fclose(f);
}

/* The reference library's own test vectors (safetensors tensor.rs): one F32 tensor "attn0"
 * [1,1,2,3] = 0..5 gives a 72-byte header padded with 7 spaces; an empty file with metadata
 * {"framework": "pt"} a 40-byte header; an empty file "{}" plus 6 spaces. */
static void test_writer_matches_reference_bytes(void) {
  const float data[6] = {0, 1, 2, 3, 4, 5};
  lbbt_st_writer *w = NULL;
  REQUIRE(lbbt_st_writer_create(&w) == LBBT_OK, "create");
  REQUIRE(lbbt_st_writer_add_f32(w, "attn0", 4, (int64_t[]){1, 1, 2, 3}, data) == LBBT_OK, "add");
  const char *path = tmp_file("ref.safetensors");
  REQUIRE(lbbt_st_writer_write(w, path) == LBBT_OK, "write: %s", lbbt_last_error());
  unsigned char got[512];
  size_t n;
  read_file_bytes(path, got, sizeof got, &n);
  const char *hdr = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}"
                    "       ";
  CHECK(n == 8 + 72 + 24, "file size %zu, want %d", n, 8 + 72 + 24);
  CHECK(got[0] == 72 && got[1] == 0 && got[7] == 0, "header length byte %u, want 72", got[0]);
  CHECK(n >= 80 && memcmp(got + 8, hdr, 72) == 0, "header bytes: %.72s", (const char *)got + 8);
  CHECK(n >= 104 && memcmp(got + 80, data, 24) == 0, "data bytes");
  lbbt_st_writer_free(w);

  REQUIRE(lbbt_st_writer_create(&w) == LBBT_OK, "create");
  REQUIRE(lbbt_st_writer_write(w, path) == LBBT_OK, "write empty: %s", lbbt_last_error());
  read_file_bytes(path, got, sizeof got, &n);
  CHECK(n == 16 && got[0] == 8 && memcmp(got + 8, "{}      ", 8) == 0, "empty file bytes");
  REQUIRE(lbbt_st_writer_set_metadata(w, "framework", "pt") == LBBT_OK, "meta");
  REQUIRE(lbbt_st_writer_write(w, path) == LBBT_OK, "write meta: %s", lbbt_last_error());
  read_file_bytes(path, got, sizeof got, &n);
  CHECK(n == 48 && got[0] == 40 &&
            memcmp(got + 8, "{\"__metadata__\":{\"framework\":\"pt\"}}     ", 40) == 0,
        "metadata-only file bytes: %.40s", (const char *)got + 8);
  lbbt_st_writer_free(w);
}

static void test_writer_roundtrip(void) {
  const float bw[6] = {1.5f, -2.25f, 3.0e-38f, -0.0f, 1e30f, 7.0f};
  const float ab[3] = {0.1f, 0.2f, 0.3f};
  const float sc[1] = {42.0f};
  const int32_t ids[4] = {0, -7, 2147483647, -2147483647 - 1};
  lbbt_st_writer *w = NULL;
  REQUIRE(lbbt_st_writer_create(&w) == LBBT_OK, "create");
  REQUIRE(lbbt_st_writer_add_f32(w, "b.weight", 2, (int64_t[]){2, 3}, bw) == LBBT_OK, "add");
  REQUIRE(lbbt_st_writer_add_i32(w, "ids", 1, (int64_t[]){4}, ids) == LBBT_OK, "add ids");
  REQUIRE(lbbt_st_writer_add_f32(w, "a.bias", 1, (int64_t[]){3}, ab) == LBBT_OK, "add");
  REQUIRE(lbbt_st_writer_add_f32(w, "s", 0, NULL, sc) == LBBT_OK, "add scalar");
  REQUIRE(lbbt_st_writer_set_metadata(w, "k", "v") == LBBT_OK, "meta");
  REQUIRE(lbbt_st_writer_set_metadata(w, "format", "pt") == LBBT_OK, "meta");
  CHECK_FAILS(lbbt_st_writer_add_f32(w, "a.bias", 1, (int64_t[]){3}, ab), LBBT_E_INPUT,
              "a.bias", "twice", NULL);
  CHECK_FAILS(lbbt_st_writer_add_f32(w, "__metadata__", 1, (int64_t[]){3}, ab), LBBT_E_INPUT,
              "__metadata__", NULL, NULL);
  const char *path = tmp_file("roundtrip.safetensors");
  /* An older file at the path is replaced. */
  REQUIRE(write_bytes(path, "old", 3) == 0, "write old");
  REQUIRE(lbbt_st_writer_write(w, path) == LBBT_OK, "write: %s", lbbt_last_error());
  lbbt_st_writer_free(w);

  /* Header order is the reference's: metadata, F32 by name, then I32. */
  unsigned char got[1024];
  size_t n;
  read_file_bytes(path, got, sizeof got, &n);
  const char *want =
      "{\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"},"
      "\"a.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
      "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[12,36]},"
      "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]},"
      "\"ids\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[40,56]}}";
  size_t hl = got[0] | (size_t)got[1] << 8;
  CHECK(hl % 8 == 0 && hl >= strlen(want) && hl < strlen(want) + 8, "header length %zu", hl);
  CHECK(memcmp(got + 8, want, strlen(want)) == 0, "header: %.*s", (int)hl, (const char *)got + 8);
  for (size_t i = strlen(want); i < hl; i++) CHECK(got[8 + i] == ' ', "padding byte %zu", i);
  CHECK(n == 8 + hl + 56, "file size %zu", n);

  lbbt_st *st = NULL;
  REQUIRE(lbbt_st_open(path, &st) == LBBT_OK, "open: %s", lbbt_last_error());
  REQUIRE(lbbt_st_count(st) == 4, "count %d", lbbt_st_count(st));
  const char *sorted[4] = {"a.bias", "b.weight", "ids", "s"};
  for (int i = 0; i < 4; i++)
    CHECK(strcmp(lbbt_st_name(st, i), sorted[i]) == 0, "name %d: %s", i, lbbt_st_name(st, i));
  CHECK(lbbt_st_name(st, 4) == NULL && lbbt_st_name(st, -1) == NULL, "name out of range");
  const lbbt_st_info *info = lbbt_st_find(st, "b.weight");
  REQUIRE(info, "find b.weight");
  CHECK(info->dtype == LBBT_DT_F32 && info->ndim == 2 && info->shape[0] == 2 &&
            info->shape[1] == 3 && info->numel == 6 && strcmp(info->file, path) == 0,
        "b.weight info");
  info = lbbt_st_find(st, "s");
  CHECK(info && info->ndim == 0 && info->numel == 1, "scalar info");
  CHECK(lbbt_st_find(st, "nope") == NULL, "find absent");
  CHECK(lbbt_st_metadata_count(st) == 2, "metadata count %d", lbbt_st_metadata_count(st));
  CHECK(lbbt_st_metadata_get(st, "k") && strcmp(lbbt_st_metadata_get(st, "k"), "v") == 0, "k=v");
  CHECK(lbbt_st_metadata_get(st, "format") &&
            strcmp(lbbt_st_metadata_get(st, "format"), "pt") == 0, "format=pt");
  CHECK(lbbt_st_config(st) == NULL, "no config for a file path");

  float out[6];
  CHECK(lbbt_st_read_f32(st, "b.weight", out, 6) == LBBT_OK, "read: %s", lbbt_last_error());
  CHECK(memcmp(out, bw, sizeof bw) == 0, "b.weight values differ");
  CHECK(lbbt_st_read_f32(st, "a.bias", out, 3) == LBBT_OK && memcmp(out, ab, sizeof ab) == 0,
        "a.bias values");
  int32_t iout[4];
  CHECK(lbbt_st_read_i32(st, "ids", iout, 4) == LBBT_OK && memcmp(iout, ids, sizeof ids) == 0,
        "ids values");

  /* read_into: exact shape, scalar [] ~ [1]; wrong shape names file, tensor and both shapes. */
  lbbt_tensor *t = NULL;
  REQUIRE(lbbt_tensor_create(&t, 2, (int64_t[]){2, 3}) == LBBT_OK, "tensor");
  CHECK(lbbt_st_read_into(st, "b.weight", t) == LBBT_OK && memcmp(t->data, bw, sizeof bw) == 0,
        "read_into: %s", lbbt_last_error());
  lbbt_tensor_free(t);
  REQUIRE(lbbt_tensor_create(&t, 2, (int64_t[]){3, 2}) == LBBT_OK, "tensor");
  CHECK_FAILS(lbbt_st_read_into(st, "b.weight", t), LBBT_E_INPUT, path, "'b.weight'", "[2, 3]");
  CHECK(strstr(lbbt_last_error(), "[3, 2]"), "expected shape missing: %s", lbbt_last_error());
  lbbt_tensor_free(t);
  REQUIRE(lbbt_tensor_create(&t, 1, (int64_t[]){1}) == LBBT_OK, "tensor");
  CHECK(lbbt_st_read_into(st, "s", t) == LBBT_OK && t->data[0] == 42.0f, "scalar read_into");
  lbbt_tensor_free(t);

  /* Wrong requests. */
  CHECK_FAILS(lbbt_st_read_f32(st, "b.weigth", out, 6), LBBT_E_INPUT, path, "'b.weigth'",
              "nearest: 'b.weight'");
  CHECK_FAILS(lbbt_st_read_f32(st, "b.weight", out, 5), LBBT_E_INPUT, path, "'b.weight'", "5");
  CHECK_FAILS(lbbt_st_read_f32(st, "ids", out, 4), LBBT_E_INPUT, path, "'ids'", "I32");
  lbbt_st_close(st);

  /* No temporary file is left beside the target. */
  DIR *d = opendir(test_tmpdir());
  struct dirent *e;
  int leftovers = 0;
  while (d && (e = readdir(d)))
    if (strstr(e->d_name, ".tmp-")) leftovers++;
  if (d) closedir(d);
  CHECK(leftovers == 0, "%d temporary files left in %s", leftovers, test_tmpdir());
  /* Writing into a folder that does not exist fails cleanly. */
  REQUIRE(lbbt_st_writer_create(&w) == LBBT_OK, "create");
  CHECK_FAILS(lbbt_st_writer_write(w, tmp_file("no-such-dir/x.safetensors")), LBBT_E_IO,
              "no-such-dir", NULL, NULL);
  lbbt_st_writer_free(w);
}

/* Integer dtypes: I64 converts with a range check; other widths too. */
static void test_integer_dtypes(void) {
  const char *path = tmp_file("ints.safetensors");
  const char *header =
      "{\"small\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
      "\"big\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[16,32]},"
      "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[32,34]},"
      "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[34,36]},"
      "\"flag\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[36,38]},"
      "\"badflag\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[38,39]},"
      "\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[39,40]}}";
  unsigned char data[40] = {0};
  int64_t small[2] = {-5, 2147483647}, big[2] = {3, 4294967296LL};
  for (int i = 0; i < 2; i++)
    for (int b = 0; b < 8; b++) {
      data[8 * i + b] = (unsigned char)((uint64_t)small[i] >> (8 * b));
      data[16 + 8 * i + b] = (unsigned char)((uint64_t)big[i] >> (8 * b));
    }
  data[32] = 200;
  data[33] = 7;
  data[34] = 0x00;
  data[35] = 0x80; /* -32768 */
  data[36] = 1;
  data[37] = 0;
  data[38] = 2; /* not a valid BOOL */
  size_t hl = strlen(header);
  unsigned char buf[1024];
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(buf + 8, header, hl);
  memcpy(buf + 8 + hl, data, sizeof data);
  REQUIRE(write_bytes(path, buf, 8 + hl + sizeof data) == 0, "write");
  lbbt_st *st = NULL;
  REQUIRE(lbbt_st_open(path, &st) == LBBT_OK, "open: %s", lbbt_last_error());
  int32_t v[2];
  CHECK(lbbt_st_read_i32(st, "small", v, 2) == LBBT_OK && v[0] == -5 && v[1] == 2147483647,
        "I64 in range: %s", lbbt_last_error());
  CHECK_FAILS(lbbt_st_read_i32(st, "big", v, 2), LBBT_E_INPUT, path, "'big'", "4294967296");
  CHECK(lbbt_st_read_i32(st, "u8", v, 2) == LBBT_OK && v[0] == 200 && v[1] == 7, "U8");
  CHECK(lbbt_st_read_i32(st, "i16", v, 1) == LBBT_OK && v[0] == -32768, "I16");
  CHECK(lbbt_st_read_i32(st, "flag", v, 2) == LBBT_OK && v[0] == 1 && v[1] == 0, "BOOL");
  CHECK_FAILS(lbbt_st_read_i32(st, "badflag", v, 1), LBBT_E_INPUT, path, "'badflag'", NULL);
  float f;
  CHECK_FAILS(lbbt_st_read_f32(st, "f8", &f, 1), LBBT_E_UNSUPPORTED, path, "'f8'", "F8_E4M3");
  CHECK_FAILS(lbbt_st_read_f32(st, "small", &f, 1), LBBT_E_INPUT, path, "'small'", NULL);
  lbbt_st_close(st);
}

/* ---- hostile headers ---------------------------------------------------------------------- */
typedef struct {
  const char *label;
  const char *header;
  size_t data_len;
  lbbt_status code;
  const char *needle1, *needle2;
} hostile_case;

#define F32_1(name, a, b) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" #a "," #b "]}"

static const hostile_case HOSTILE[] = {
    {"non-object JSON", "[1, 2]", 0, LBBT_E_INPUT, "array", NULL},
    {"scalar JSON", "\"w\"", 0, LBBT_E_INPUT, "not valid JSON", NULL},
    {"broken JSON", "{\"w\":", 0, LBBT_E_INPUT, "not valid JSON", NULL},
    {"trailing garbage", "{} x", 0, LBBT_E_INPUT, "not valid JSON", NULL},
    {"NUL in name", "{\"a\\u0000b\":1}", 0, LBBT_E_INPUT, "not valid JSON", NULL},
    {"unknown dtype", "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     LBBT_E_INPUT, "'w'", "F33"},
    {"dtype not a string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     LBBT_E_INPUT, "'w'", "dtype"},
    {"entry not an object", "{\"w\":3}", 0, LBBT_E_INPUT, "'w'", "not an object"},
    {"shape not an array", "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16,
     LBBT_E_INPUT, "'w'", "shape"},
    {"shape product vs bytes", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
     12, LBBT_E_INPUT, "'w'", "needs 16 bytes"},
    {"shape product wraps to 0",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
     LBBT_E_INPUT, "'w'", "too large"},
    {"bytes wrap to 0",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0,
     LBBT_E_INPUT, "'w'", "too large"},
    {"zero dim hides a huge one",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[0,9223372036854775807,4],\"data_offsets\":[0,0]}}", 0,
     LBBT_E_INPUT, "'w'", "too large"},
    {"negative dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
     LBBT_E_INPUT, "'w'", "shape[0]"},
    {"fractional dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
     LBBT_E_INPUT, "'w'", "shape[0]"},
    {"offsets past the end", "{" F32_1("w", 0, 4) "," F32_1("v", 4, 8) "}", 6, LBBT_E_INPUT,
     "'v'", "past the end"},
    {"huge offsets",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
     "\"data_offsets\":[9223372036854775803,9223372036854775807]}}",
     4, LBBT_E_INPUT, "'w'", "past the end"},
    {"offsets out of order", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
     LBBT_E_INPUT, "'w'", "out of order"},
    {"offsets not a pair", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
     LBBT_E_INPUT, "'w'", "data_offsets"},
    {"offsets missing", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, LBBT_E_INPUT, "'w'",
     "data_offsets"},
    {"overlapping tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, LBBT_E_INPUT, "'b'", "overlaps"},
    {"same bytes twice", "{" F32_1("a", 0, 4) "," F32_1("b", 0, 4) "}", 4, LBBT_E_INPUT,
     "overlaps", NULL},
    {"gap between tensors", "{" F32_1("a", 0, 4) "," F32_1("b", 8, 12) "}", 12, LBBT_E_INPUT,
     "'b'", "belong to no tensor"},
    {"first tensor not at 0", "{" F32_1("a", 4, 8) "}", 8, LBBT_E_INPUT, "'a'",
     "belong to no tensor"},
    {"trailing data", "{" F32_1("a", 0, 4) "}", 8, LBBT_E_INPUT, "'a'", "trailing"},
    {"data but no tensors", "{}", 4, LBBT_E_INPUT, "no tensors", NULL},
    {"duplicate names", "{" F32_1("w", 0, 4) "," F32_1("w", 4, 8) "}", 8, LBBT_E_INPUT,
     "duplicate", "\"w\""},
    {"metadata not an object", "{\"__metadata__\":[]}", 0, LBBT_E_INPUT, "__metadata__", NULL},
    {"metadata value not a string", "{\"__metadata__\":{\"k\":1}," F32_1("w", 0, 4) "}", 4,
     LBBT_E_INPUT, "__metadata__", "'k'"},
    {"too many dims",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     LBBT_E_UNSUPPORTED, "'w'", "9 dims"},
};

static void test_hostile_headers(void) {
  for (size_t i = 0; i < sizeof HOSTILE / sizeof *HOSTILE; i++) {
    const hostile_case *c = &HOSTILE[i];
    char name[64];
    snprintf(name, sizeof name, "hostile-%zu.safetensors", i);
    const char *path = tmp_file(name);
    REQUIRE(write_st_raw(path, c->header, c->data_len) == 0, "write %s", path);
    lbbt_st *st = (lbbt_st *)1;
    lbbt_clear_error();
    lbbt_status s = lbbt_st_open(path, &st);
    const char *m = lbbt_last_error();
    CHECK(s == c->code, "%s: status %s, want %s (%s)", c->label, lbbt_status_name(s),
          lbbt_status_name(c->code), m);
    CHECK(st == NULL, "%s: *out not NULL on failure", c->label);
    CHECK(strstr(m, path), "%s: message does not name the file: %s", c->label, m);
    CHECK(!c->needle1 || strstr(m, c->needle1), "%s: message lacks '%s': %s", c->label,
          c->needle1, m);
    CHECK(!c->needle2 || strstr(m, c->needle2), "%s: message lacks '%s': %s", c->label,
          c->needle2, m);
    if (s == LBBT_OK) lbbt_st_close(st);
  }
}

/* The 8-byte length prefix itself lying. */
static void test_hostile_lengths(void) {
  const char *path = tmp_file("short.safetensors");
  lbbt_st *st = NULL;
  REQUIRE(write_bytes(path, "\x05\0\0", 3) == 0, "write");
  CHECK_FAILS(lbbt_st_open(path, &st), LBBT_E_INPUT, path, "fewer than the 8-byte", NULL);
  unsigned char b[32];
  memset(b, 0xff, 8); /* u64 max: must not overflow 8 + N */
  memcpy(b + 8, "{}", 2);
  REQUIRE(write_bytes(path, b, 10) == 0, "write");
  CHECK_FAILS(lbbt_st_open(path, &st), LBBT_E_INPUT, path, "larger than the rest of the file",
              NULL);
  memset(b, 0, 8);
  b[0] = 100; /* 100-byte header in a 10-byte file */
  REQUIRE(write_bytes(path, b, 10) == 0, "write");
  CHECK_FAILS(lbbt_st_open(path, &st), LBBT_E_INPUT, path, "larger than the rest", NULL);
  b[0] = 0; /* empty header */
  REQUIRE(write_bytes(path, b, 8) == 0, "write");
  CHECK_FAILS(lbbt_st_open(path, &st), LBBT_E_INPUT, path, "not valid JSON", NULL);
  /* Invalid UTF-8 in the header. */
  memcpy(b + 8, "{\"\xff\":1}", 7);
  b[0] = 7;
  REQUIRE(write_bytes(path, b, 15) == 0, "write");
  CHECK_FAILS(lbbt_st_open(path, &st), LBBT_E_INPUT, path, "not valid JSON", NULL);
  CHECK(st == NULL, "*out stays NULL");
  CHECK_FAILS(lbbt_st_open(tmp_file("absent.safetensors"), &st), LBBT_E_INPUT,
              "absent.safetensors", "cannot open", NULL);
}

/* ---- sharded, folders, config.json ------------------------------------------------------- */
static lbbt_status write_shard(const char *path, const char *n1, const float *d1, const char *n2,
                               const float *d2, const char *meta_value) {
  lbbt_st_writer *w = NULL;
  LBBT_TRY(lbbt_st_writer_create(&w));
  lbbt_status s = lbbt_st_writer_add_f32(w, n1, 2, (int64_t[]){2, 2}, d1);
  if (s == LBBT_OK && n2) s = lbbt_st_writer_add_f32(w, n2, 1, (int64_t[]){3}, d2);
  if (s == LBBT_OK) s = lbbt_st_writer_set_metadata(w, "format", meta_value);
  if (s == LBBT_OK) s = lbbt_st_writer_write(w, path);
  lbbt_st_writer_free(w);
  return s;
}

static lbbt_status write_index(const char *dir, const char *map_json) {
  json_error_t err;
  json_t *wm = json_loads(map_json, 0, &err);
  if (!wm) return lbbt_fail(LBBT_E_INTERNAL, "test index json: %s", err.text);
  json_t *root = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)40,
                           "weight_map", wm);
  char path[600];
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
  lbbt_status s = lbbt_json_write_file(path, root);
  json_decref(root);
  return s;
}

static void test_sharded_checkpoint(void) {
  char dir[512], p1[600], p2[600], index[600];
  snprintf(dir, sizeof dir, "%s/sharded", test_tmpdir());
  REQUIRE(mkdir(dir, 0755) == 0, "mkdir %s", dir);
  snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
  snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
  snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
  const float a[4] = {1, 2, 3, 4}, b[3] = {-1, -2, -3}, c[4] = {9, 8, 7, 6};
  REQUIRE(write_shard(p1, "layers.0.w", a, "layers.0.b", b, "pt") == LBBT_OK, "shard 1: %s",
          lbbt_last_error());
  REQUIRE(write_shard(p2, "layers.1.w", c, NULL, NULL, "other") == LBBT_OK, "shard 2");
  REQUIRE(write_index(dir, "{\"layers.0.w\": \"model-00001-of-00002.safetensors\","
                           " \"layers.0.b\": \"model-00001-of-00002.safetensors\","
                           " \"layers.1.w\": \"model-00002-of-00002.safetensors\"}") == LBBT_OK,
          "index: %s", lbbt_last_error());
  json_t *cfg = json_pack("{s:s, s:i, s:f, s:b}", "model_type", "llama", "hidden_size", 64,
                          "rms_norm_eps", 1e-5, "tie_word_embeddings", 1);
  char cfg_path[600];
  snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
  REQUIRE(lbbt_json_write_file(cfg_path, cfg) == LBBT_OK, "config: %s", lbbt_last_error());
  json_decref(cfg);

  lbbt_st *st = NULL;
  REQUIRE(lbbt_st_open(dir, &st) == LBBT_OK, "open folder: %s", lbbt_last_error());
  CHECK(lbbt_st_count(st) == 3, "count %d", lbbt_st_count(st));
  const lbbt_st_info *i1 = lbbt_st_find(st, "layers.1.w");
  CHECK(i1 && strcmp(i1->file, p2) == 0, "layers.1.w comes from shard 2 (%s)",
        i1 ? i1->file : "none");
  float out[4];
  CHECK(lbbt_st_read_f32(st, "layers.1.w", out, 4) == LBBT_OK && memcmp(out, c, sizeof c) == 0,
        "shard 2 values: %s", lbbt_last_error());
  CHECK(lbbt_st_read_f32(st, "layers.0.b", out, 3) == LBBT_OK && memcmp(out, b, sizeof b) == 0,
        "shard 1 values");
  /* Metadata merged in shard order, first value wins. */
  CHECK(lbbt_st_metadata_count(st) == 1 && strcmp(lbbt_st_metadata_get(st, "format"), "pt") == 0,
        "merged metadata");
  json_t *jc = lbbt_st_config(st);
  REQUIRE(jc, "config.json not loaded");
  CHECK(strcmp(json_string_value(json_object_get(jc, "model_type")), "llama") == 0, "model_type");
  CHECK(json_integer_value(json_object_get(jc, "hidden_size")) == 64, "hidden_size");
  CHECK(json_real_value(json_object_get(jc, "rms_norm_eps")) == 1e-5, "rms_norm_eps");
  CHECK(json_is_true(json_object_get(jc, "tie_word_embeddings")), "tie_word_embeddings");
  lbbt_st_close(st);

  /* The index path itself opens the same checkpoint (without config). */
  REQUIRE(lbbt_st_open(index, &st) == LBBT_OK, "open index: %s", lbbt_last_error());
  CHECK(lbbt_st_count(st) == 3 && lbbt_st_config(st) == NULL, "index path");
  lbbt_st_close(st);

  /* weight_map naming the wrong shard for a tensor. */
  REQUIRE(write_index(dir, "{\"layers.0.w\": \"model-00002-of-00002.safetensors\"}") == LBBT_OK,
          "index");
  CHECK_FAILS(lbbt_st_open(dir, &st), LBBT_E_INPUT, index, "'layers.0.w'", "no such tensor");
  /* A shard name escaping the folder. */
  REQUIRE(write_index(dir, "{\"layers.0.w\": \"../x.safetensors\"}") == LBBT_OK, "index");
  CHECK_FAILS(lbbt_st_open(dir, &st), LBBT_E_INPUT, index, "'layers.0.w'", "same folder");
  REQUIRE(write_index(dir, "{}") == LBBT_OK, "index");
  CHECK_FAILS(lbbt_st_open(dir, &st), LBBT_E_INPUT, index, "weight_map", NULL);
  /* A missing shard: the message names the index, the shard and a tensor it holds. */
  REQUIRE(write_index(dir, "{\"layers.0.w\": \"model-00001-of-00002.safetensors\","
                           " \"layers.1.w\": \"model-00003-of-00002.safetensors\"}") == LBBT_OK,
          "index");
  CHECK_FAILS(lbbt_st_open(dir, &st), LBBT_E_INPUT, index, "model-00003-of-00002.safetensors",
              "'layers.1.w'");
  /* A corrupt shard: named with the tensor at fault. */
  REQUIRE(write_index(dir, "{\"layers.1.w\": \"model-00002-of-00002.safetensors\"}") == LBBT_OK,
          "index");
  REQUIRE(write_st_raw(p2, "{" F32_1("layers.1.w", 0, 8) "}", 4) == 0, "corrupt shard");
  CHECK_FAILS(lbbt_st_open(dir, &st), LBBT_E_INPUT, p2, "'layers.1.w'", NULL);
  /* A broken config.json is reported with file:line:col. */
  REQUIRE(write_index(dir, "{\"layers.0.w\": \"model-00001-of-00002.safetensors\"}") == LBBT_OK,
          "index");
  REQUIRE(write_bytes(cfg_path, "{\n  \"a\": 1,\n  \"b\" 2\n}\n", 22) == 0, "bad config");
  char where[700];
  snprintf(where, sizeof where, "%s:3:", cfg_path);
  CHECK_FAILS(lbbt_st_open(dir, &st), LBBT_E_INPUT, where, NULL, NULL);
  CHECK(st == NULL, "*out NULL after failure");
}

static void test_folder_and_config_roundtrip(void) {
  char dir[512], path[600], cfg_path[600];
  snprintf(dir, sizeof dir, "%s/single", test_tmpdir());
  REQUIRE(mkdir(dir, 0755) == 0, "mkdir");
  lbbt_st *st = NULL;
  CHECK_FAILS(lbbt_st_open(dir, &st), LBBT_E_INPUT, dir, "model.safetensors", NULL);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  const float v[4] = {0.5f, 0.25f, 0.125f, 0.0625f};
  REQUIRE(write_shard(path, "w", v, NULL, NULL, "pt") == LBBT_OK, "write");
  /* config.json written by lbbt_json_write_file: sorted keys, 2-space indent, newline. */
  json_t *cfg = json_pack("{s:i, s:s, s:[i,i], s:{s:f}}", "vocab_size", 512, "architectures_x",
                          "LlamaForCausalLM", "dims", 1, 2, "rope_scaling", "factor", 2.0);
  snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
  REQUIRE(lbbt_json_write_file(cfg_path, cfg) == LBBT_OK, "config: %s", lbbt_last_error());
  unsigned char text[1024];
  size_t n;
  read_file_bytes(cfg_path, text, sizeof text - 1, &n);
  text[n] = 0;
  const char *want = "{\n  \"architectures_x\": \"LlamaForCausalLM\",\n  \"dims\": [\n    1,\n"
                     "    2\n  ],\n  \"rope_scaling\": {\n    \"factor\": 2.0\n  },\n"
                     "  \"vocab_size\": 512\n}\n";
  CHECK(strcmp((const char *)text, want) == 0, "config.json text:\n%s", text);
  REQUIRE(lbbt_st_open(dir, &st) == LBBT_OK, "open: %s", lbbt_last_error());
  json_t *got = lbbt_st_config(st);
  CHECK(got && json_equal(got, cfg), "config.json round trip differs");
  float out[4];
  CHECK(lbbt_st_read_f32(st, "w", out, 4) == LBBT_OK && memcmp(out, v, sizeof v) == 0, "values");
  lbbt_st_close(st);
  json_decref(cfg);
  /* A config.json whose top level is not an object. */
  REQUIRE(write_bytes(cfg_path, "[1]", 3) == 0, "write");
  json_t *j = NULL;
  CHECK_FAILS(lbbt_json_read_file(cfg_path, &j), LBBT_E_INPUT, cfg_path, "object", NULL);
  REQUIRE(write_bytes(cfg_path, "{\"a\":1,\"a\":2}", 13) == 0, "write");
  CHECK_FAILS(lbbt_json_read_file(cfg_path, &j), LBBT_E_INPUT, cfg_path, "duplicate", NULL);
  CHECK(j == NULL, "*out NULL");
}

/* ---- llama2.c ------------------------------------------------------------------------------ */
typedef struct {
  int dim, hidden, layers, heads, kv_heads, vocab, seq_len;
} tiny_cfg;
static const tiny_cfg TINY = {8, 12, 2, 2, 1, 6, 4};

enum { T_EMB, T_RMS_ATT, T_WQ, T_WK, T_WV, T_WO, T_RMS_FFN, T_W1, T_W2, T_W3, T_RMS_FIN, T_FR,
       T_FI, T_WCLS, T_N };

static void tiny_counts(const tiny_cfg *c, int64_t n[T_N]) {
  int64_t hs = c->dim / c->heads, kv = c->kv_heads * hs, L = c->layers;
  n[T_EMB] = (int64_t)c->vocab * c->dim;
  n[T_RMS_ATT] = n[T_RMS_FFN] = L * c->dim;
  n[T_WQ] = n[T_WO] = L * c->dim * c->dim;
  n[T_WK] = n[T_WV] = L * kv * c->dim;
  n[T_W1] = n[T_W2] = n[T_W3] = L * c->hidden * c->dim;
  n[T_RMS_FIN] = c->dim;
  n[T_FR] = n[T_FI] = (int64_t)c->seq_len * hs / 2;
  n[T_WCLS] = n[T_EMB];
}

/* Logical array k, element i: a value unique to (k, i). */
static float tiny_value(int k, int64_t i) { return (float)(k * 1000 + i) * 0.5f + 0.25f; }

/* Write a llama2.c file of the given version; extra > 0 appends bytes, cut > 0 drops bytes. */
static int write_llama2c(const char *path, const tiny_cfg *c, int version, int shared,
                         long cut, long extra) {
  int64_t n[T_N];
  tiny_counts(c, n);
  static const int order_v0[] = {T_EMB, T_RMS_ATT, T_WQ, T_WK, T_WV, T_WO, T_RMS_FFN,
                                 T_W1,  T_W2,      T_W3, T_RMS_FIN, T_FR, T_FI, T_WCLS};
  static const int order_v1[] = {T_RMS_ATT, T_RMS_FFN, T_RMS_FIN, T_EMB, T_WQ, T_WK,
                                 T_WV,      T_WO,      T_W1,      T_W2,  T_W3, T_WCLS};
  const int *order = version == 0 ? order_v0 : order_v1;
  int len = version == 0 ? 14 : 12;
  size_t cap = 256 + 4 * (size_t)(n[T_EMB] * 3 + n[T_WQ] * 2 + n[T_WK] * 2 + n[T_W1] * 3 +
                                  n[T_RMS_ATT] * 2 + n[T_RMS_FIN] + n[T_FR] * 2) + (size_t)extra;
  unsigned char *b = calloc(1, cap);
  size_t pos = 0;
  int32_t hdr[7] = {c->dim, c->hidden, c->layers, c->heads, c->kv_heads, c->vocab, c->seq_len};
  if (version == 0) {
    if (!shared) hdr[5] = -hdr[5];
    memcpy(b, hdr, sizeof hdr);
    pos = 28;
  } else {
    uint32_t magic = 0x616b3432;
    int32_t ver = version;
    memcpy(b, &magic, 4);
    memcpy(b + 4, &ver, 4);
    memcpy(b + 8, hdr, sizeof hdr);
    b[36] = (unsigned char)shared;
    pos = 256;
  }
  for (int j = 0; j < len; j++) {
    int k = order[j];
    if (k == T_WCLS && shared) continue;
    for (int64_t i = 0; i < n[k]; i++) {
      float v = tiny_value(k, i);
      memcpy(b + pos, &v, 4);
      pos += 4;
    }
  }
  pos = pos + (size_t)extra - (size_t)cut;
  int rc = write_bytes(path, b, pos);
  free(b);
  return rc;
}

/* Every HF-named view must hold the logical array's values at the right layer slice. */
static void check_tiny_views(const lbbt_llama2c *m, int shared, const char *label) {
  const tiny_cfg *c = &TINY;
  int64_t D = c->dim, H = c->hidden, hs = D / c->heads, KV = c->kv_heads * hs;
  CHECK(m->cfg.dim == c->dim && m->cfg.hidden_dim == c->hidden && m->cfg.n_layers == c->layers &&
            m->cfg.n_heads == c->heads && m->cfg.n_kv_heads == c->kv_heads &&
            m->cfg.vocab_size == c->vocab && m->cfg.seq_len == c->seq_len &&
            m->cfg.head_size == hs && m->cfg.kv_dim == KV && m->cfg.shared_classifier == shared,
        "%s: config", label);
  CHECK(lbbt_llama2c_count(m) == 2 + 9 * c->layers + !shared, "%s: count %d", label,
        lbbt_llama2c_count(m));
  struct {
    const char *name;
    int k;
    int64_t rows, cols, layer_stride;
  } want[] = {
      {"model.embed_tokens.weight", T_EMB, c->vocab, D, 0},
      {"model.layers.1.input_layernorm.weight", T_RMS_ATT, D, 0, D},
      {"model.layers.1.self_attn.q_proj.weight", T_WQ, D, D, D * D},
      {"model.layers.1.self_attn.k_proj.weight", T_WK, KV, D, KV * D},
      {"model.layers.1.self_attn.v_proj.weight", T_WV, KV, D, KV * D},
      {"model.layers.1.self_attn.o_proj.weight", T_WO, D, D, D * D},
      {"model.layers.1.post_attention_layernorm.weight", T_RMS_FFN, D, 0, D},
      {"model.layers.1.mlp.gate_proj.weight", T_W1, H, D, H * D},
      {"model.layers.1.mlp.down_proj.weight", T_W2, D, H, D * H},
      {"model.layers.1.mlp.up_proj.weight", T_W3, H, D, H * D},
      {"model.norm.weight", T_RMS_FIN, D, 0, 0},
      {"lm_head.weight", shared ? T_EMB : T_WCLS, c->vocab, D, 0},
  };
  for (size_t j = 0; j < sizeof want / sizeof *want; j++) {
    lbbt_named_f32 v;
    if (shared && strcmp(want[j].name, "lm_head.weight") == 0) {
      CHECK_FAILS(lbbt_llama2c_find(m, want[j].name, &v), LBBT_E_INPUT, "lm_head.weight",
                  "shared", NULL);
      CHECK(m->wcls == m->token_embedding_table, "%s: shared wcls aliases the embedding", label);
      continue;
    }
    if (lbbt_llama2c_find(m, want[j].name, &v) != LBBT_OK) {
      CHECK(0, "%s: find %s: %s", label, want[j].name, lbbt_last_error());
      continue;
    }
    int ndim = want[j].cols ? 2 : 1;
    CHECK(v.ndim == ndim && v.shape[0] == want[j].rows && (ndim == 1 || v.shape[1] == want[j].cols),
          "%s: %s shape", label, want[j].name);
    /* Layer 1 starts one layer stride into the stacked array. */
    int64_t first = strstr(want[j].name, "layers.1.") ? want[j].layer_stride : 0;
    int ok = 1;
    for (int64_t i = 0; i < v.numel; i++) ok &= v.data[i] == tiny_value(want[j].k, first + i);
    CHECK(ok, "%s: %s values", label, want[j].name);
  }
}

static void test_llama2c_versions(void) {
  for (int version = 0; version <= 1; version++)
    for (int shared = 0; shared <= 1; shared++) {
      char name[64], label[64];
      snprintf(name, sizeof name, "tiny-v%d-%s.bin", version, shared ? "shared" : "unshared");
      snprintf(label, sizeof label, "v%d %s", version, shared ? "shared" : "unshared");
      const char *path = tmp_file(name);
      REQUIRE(write_llama2c(path, &TINY, version, shared, 0, 0) == 0, "write %s", path);
      lbbt_llama2c *m = NULL;
      lbbt_status s = lbbt_llama2c_load(path, &m);
      if (s != LBBT_OK) {
        CHECK(0, "%s: load: %s", label, lbbt_last_error());
        continue;
      }
      CHECK(m->cfg.version == version, "%s: version %d", label, m->cfg.version);
      CHECK(lbbt_llama2c_expected_size(&m->cfg) == file_size(path), "%s: expected size", label);
      check_tiny_views(m, shared, label);
      /* Enumeration order: embed, nine per layer, norm, [lm_head]. */
      lbbt_named_f32 v;
      CHECK(lbbt_llama2c_tensor(m, 0, &v) == LBBT_OK &&
                strcmp(v.name, "model.embed_tokens.weight") == 0, "%s: tensor 0", label);
      CHECK(lbbt_llama2c_tensor(m, 3, &v) == LBBT_OK &&
                strcmp(v.name, "model.layers.0.self_attn.k_proj.weight") == 0, "%s: tensor 3",
            label);
      CHECK(lbbt_llama2c_tensor(m, 1 + 9 * TINY.layers, &v) == LBBT_OK &&
                strcmp(v.name, "model.norm.weight") == 0, "%s: norm", label);
      CHECK(lbbt_llama2c_tensor(m, lbbt_llama2c_count(m), &v) != LBBT_OK, "%s: past the end",
            label);
      lbbt_llama2c_free(m);
    }
}

static void test_llama2c_hostile(void) {
  const char *path = tmp_file("bad.bin");
  lbbt_llama2c *m = NULL;
  /* Truncated: names the array the file ends in. */
  REQUIRE(write_llama2c(path, &TINY, 0, 1, 4 * 100, 0) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "truncated", "w3");
  REQUIRE(write_llama2c(path, &TINY, 1, 0, 4, 0) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "inside field wcls", NULL);
  /* Too long by exactly a classifier: the sign hint. */
  tiny_cfg c = TINY;
  int64_t n[T_N];
  tiny_counts(&c, n);
  REQUIRE(write_llama2c(path, &c, 0, 1, 0, 4 * n[T_EMB]) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "too many", "negative");
  /* Lying header fields. */
  /* Rewrite the header to claim 3 layers over a 2-layer body. */
  REQUIRE(write_llama2c(path, &TINY, 0, 1, 0, 0) == 0, "write");
  {
    FILE *f = fopen(path, "r+b");
    REQUIRE(f, "open");
    int32_t three = 3;
    fseek(f, 8, SEEK_SET);
    fwrite(&three, 4, 1, f);
    fclose(f);
  }
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "n_layers=3", "implies");
  const struct {
    tiny_cfg cfg;
    const char *field;
  } bad_fields[] = {
      {{0, 12, 2, 2, 1, 6, 4}, "dim = 0"},
      {{8, -12, 2, 2, 1, 6, 4}, "hidden_dim = -12"},
      {{8, 12, 2, 0, 1, 6, 4}, "n_heads = 0"},
      {{8, 12, 2, 3, 1, 6, 4}, "not divisible by n_heads"},
      {{8, 12, 2, 2, 3, 6, 4}, "n_kv_heads = 3"},
      {{8, 12, 2, 8, 8, 6, 4}, "odd"},
      {{8, 12, 2, 2, 1, 6, 0}, "seq_len = 0"},
  };
  for (size_t i = 0; i < sizeof bad_fields / sizeof *bad_fields; i++) {
    unsigned char hdr[28];
    memcpy(hdr, &bad_fields[i].cfg, 28);
    REQUIRE(write_bytes(path, hdr, 28) == 0, "write");
    CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, bad_fields[i].field, NULL);
  }
  /* Huge header values must not overflow the size computation. */
  int32_t huge[7] = {2147483644, 2147483646, 2147483647, 2, 1, -2147483647, 2147483647};
  REQUIRE(write_bytes(path, huge, 28) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "impossibly large", NULL);
  int32_t int_min[7] = {8, 12, 2, 2, 1, -2147483647 - 1, 4};
  REQUIRE(write_bytes(path, int_min, 28) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "vocab_size", NULL);
  /* Versions: 2 is refused as unsupported, others are invalid. */
  REQUIRE(write_llama2c(path, &TINY, 2, 1, 0, 0) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_UNSUPPORTED, path, "version 2", "Q8_0");
  REQUIRE(write_llama2c(path, &TINY, 7, 1, 0, 0) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "version = 7", NULL);
  unsigned char v1short[100] = {0x32, 0x34, 0x6b, 0x61, 1};
  REQUIRE(write_bytes(path, v1short, sizeof v1short) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "256-byte", NULL);
  REQUIRE(write_llama2c(path, &TINY, 1, 1, 0, 0) == 0, "write");
  {
    FILE *f = fopen(path, "r+b");
    REQUIRE(f, "open");
    fseek(f, 36, SEEK_SET);
    fputc(5, f);
    fclose(f);
  }
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "shared_classifier = 5", NULL);
  REQUIRE(write_bytes(path, "abc", 3) == 0, "write");
  CHECK_FAILS(lbbt_llama2c_load(path, &m), LBBT_E_INPUT, path, "fewer than the 28-byte", NULL);
  CHECK_FAILS(lbbt_llama2c_load(tmp_file("absent.bin"), &m), LBBT_E_INPUT, "absent.bin", NULL,
              NULL);
  CHECK(m == NULL, "*out NULL after failures");
  lbbt_llama2c_config zero = {0};
  CHECK(lbbt_llama2c_expected_size(&zero) == 0, "expected size of an empty config");
  lbbt_llama2c_config indivisible = {8, 12, 2, 3, 1, 6, 4, 0, 0, 1, 0};
  CHECK(lbbt_llama2c_expected_size(&indivisible) == 0, "expected size with dim %% n_heads != 0");
}

static double sum_f64(const float *x, int64_t n, int absolute) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += absolute ? fabs((double)x[i]) : (double)x[i];
  return s;
}

/* The real stories260K checkpoint.  Reference values come from reading the file with numpy
 * (np.frombuffer(..., '<f4') at the offsets run.c uses) — independent of this reader. */
static void test_stories260k(void) {
  char path[600];
  snprintf(path, sizeof path, "%s/stories260K.bin", test_models_dir());
  if (!test_file_exists(path)) SKIP("%s not present", path);
  lbbt_llama2c *m = NULL;
  REQUIRE(lbbt_llama2c_load(path, &m) == LBBT_OK, "load: %s", lbbt_last_error());
  const lbbt_llama2c_config *c = &m->cfg;
  CHECK(c->dim == 64 && c->hidden_dim == 172 && c->n_layers == 5 && c->n_heads == 8 &&
            c->n_kv_heads == 4 && c->vocab_size == 512 && c->seq_len == 512,
        "header %d %d %d %d %d %d %d", c->dim, c->hidden_dim, c->n_layers, c->n_heads,
        c->n_kv_heads, c->vocab_size, c->seq_len);
  CHECK(c->shared_classifier == 1 && c->version == 0 && c->head_size == 8 && c->kv_dim == 32,
        "derived config");
  CHECK(lbbt_llama2c_expected_size(c) == 1056540 && file_size(path) == 1056540, "file size");
  CHECK(lbbt_llama2c_count(m) == 2 + 9 * 5, "count");
  CHECK_CLOSE(sum_f64(m->token_embedding_table, 512 * 64, 1), 7820.582960873879, 0,
              STORIES_SUM_RTOL, "sum |embedding|");
  CHECK_CLOSE(sum_f64(m->rms_att_weight, 5 * 64, 0), 384.7829294204712, 0, STORIES_SUM_RTOL,
              "sum rms_att_weight");
  CHECK_CLOSE(sum_f64(m->wk, 5 * 32 * 64, 0), -24.900409052997816, 0, STORIES_SUM_RTOL,
              "sum wk");
  CHECK_CLOSE(sum_f64(m->w2, 5 * 64 * 172, 1), 5419.58120276758, 0, STORIES_SUM_RTOL,
              "sum |w2|");
  CHECK_CLOSE(sum_f64(m->rms_final_weight, 64, 0), 115.95276230573654, 0, STORIES_SUM_RTOL,
              "sum rms_final_weight");
  /* First and last elements pin the array boundaries exactly. */
  CHECK(m->w3[0] == 0.07037118822336197f && m->w3[5 * 172 * 64 - 1] == 0.10603193938732147f,
        "w3 ends: %.9g %.9g", m->w3[0], m->w3[5 * 172 * 64 - 1]);
  CHECK(m->rms_final_weight[0] == 2.4583089351654053f &&
            m->rms_final_weight[63] == 1.7077769041061401f, "rms_final ends");
  lbbt_named_f32 v;
  CHECK(lbbt_llama2c_find(m, "model.layers.4.mlp.up_proj.weight", &v) == LBBT_OK &&
            v.shape[0] == 172 && v.shape[1] == 64 &&
            v.data[v.numel - 1] == 0.10603193938732147f, "last up_proj");
  int finite = 1;
  for (int i = 0; i < lbbt_llama2c_count(m); i++) {
    lbbt_llama2c_tensor(m, i, &v);
    finite &= isfinite(sum_f64(v.data, v.numel, 0));
  }
  CHECK(finite, "a weight sum is not finite");
  /* Loading twice gives identical bytes. */
  lbbt_llama2c *m2 = NULL;
  REQUIRE(lbbt_llama2c_load(path, &m2) == LBBT_OK, "second load");
  CHECK(memcmp(m->wq, m2->wq, 5 * 64 * 64 * sizeof(float)) == 0, "reload differs");
  lbbt_llama2c_free(m2);
  lbbt_llama2c_free(m);
}

TEST_MAIN_BEGIN("test_checkpoint")
TEST_RUN(test_half_conversion_bits);
TEST_RUN(test_half_tensors_in_file);
TEST_RUN(test_writer_matches_reference_bytes);
TEST_RUN(test_writer_roundtrip);
TEST_RUN(test_integer_dtypes);
TEST_RUN(test_hostile_headers);
TEST_RUN(test_hostile_lengths);
TEST_RUN(test_sharded_checkpoint);
TEST_RUN(test_folder_and_config_roundtrip);
TEST_RUN(test_llama2c_versions);
TEST_RUN(test_llama2c_hostile);
TEST_RUN(test_stories260k);
TEST_MAIN_END()
