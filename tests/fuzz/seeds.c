/* Seed corpus for the fuzz targets, written by tools/run-fuzz into build/fuzz/corpus/<target>/
 * (generated, never committed).  Valid files come from the lbbt writer or are built byte by
 * byte here, so the fuzzer starts from inputs that pass every check and mutates from there.
 *   make-seeds OUT_DIR */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "lbbt/checkpoint.h"
#include "lbbt/results.h"
#include "lbbt/spec.h"

static int put(const char *dir, const char *name, const void *a, size_t na, const void *b,
               size_t nb) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = (na == 0 || fwrite(a, 1, na, f) == na) && (nb == 0 || fwrite(b, 1, nb, f) == nb);
  return fclose(f) == 0 && ok ? 0 : -1;
}

/* Read a whole file (written by the lbbt writer) into memory. */
static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
  *n = b ? fread(b, 1, (size_t)sz, f) : 0;
  fclose(f);
  return b;
}

/* A safetensors file produced by the writer; returned as bytes. */
static unsigned char *writer_file(const char *tmp, int variant, size_t *n) {
  static const float w[12] = {1, -2, 3.5f, 0, -0.0f, 1e-40f, 7, 8, 9, 10, 11, 12};
  static const int32_t ids[3] = {1, -1, 2147483647};
  lbbt_st_writer *wr = NULL;
  if (lbbt_st_writer_create(&wr) != LBBT_OK) return NULL;
  if (variant == 0) {
    lbbt_st_writer_add_f32(wr, "model.layers.0.self_attn.q_proj.weight", 2, (int64_t[]){3, 4}, w);
    lbbt_st_writer_add_f32(wr, "model.norm.weight", 1, (int64_t[]){4}, w);
    lbbt_st_writer_add_f32(wr, "scalar", 0, NULL, w);
    lbbt_st_writer_add_f32(wr, "empty", 2, (int64_t[]){0, 5}, w);
    lbbt_st_writer_add_i32(wr, "ids", 1, (int64_t[]){3}, ids);
    lbbt_st_writer_set_metadata(wr, "format", "pt");
  } else {
    lbbt_st_writer_add_f32(wr, "a", 1, (int64_t[]){2}, w);
  }
  lbbt_status s = lbbt_st_writer_write(wr, tmp);
  lbbt_st_writer_free(wr);
  return s == LBBT_OK ? slurp(tmp, n) : NULL;
}

static int safetensors_seeds(const char *dir, const char *tmp) {
  int rc = 0;
  unsigned char mode0 = 0, mode1 = 1, mode2 = 2, nul = 0;
  size_t n = 0;
  unsigned char *f = writer_file(tmp, 0, &n);
  if (!f) return -1;
  rc |= put(dir, "writer-full", &mode0, 1, f, n);
  /* sharded: index then NUL then the shard "a.safetensors" */
  const char *index =
      "{\"metadata\":{\"total_size\":56},\"weight_map\":{"
      "\"model.norm.weight\":\"a.safetensors\",\"ids\":\"a.safetensors\","
      "\"scalar\":\"a.safetensors\"}}";
  size_t il = strlen(index);
  unsigned char *b = malloc(il + 1 + n);
  memcpy(b, index, il);
  b[il] = nul;
  memcpy(b + il + 1, f, n);
  rc |= put(dir, "sharded", &mode1, 1, b, il + 1 + n);
  free(b);
  /* folder with config.json */
  const char *config = "{\"model_type\":\"llama\",\"hidden_size\":4,\"rms_norm_eps\":1e-05}";
  size_t cl = strlen(config);
  b = malloc(cl + 1 + n);
  memcpy(b, config, cl);
  b[cl] = nul;
  memcpy(b + cl + 1, f, n);
  rc |= put(dir, "folder-config", &mode2, 1, b, cl + 1 + n);
  free(b);
  free(f);
  f = writer_file(tmp, 1, &n);
  if (!f) return -1;
  rc |= put(dir, "writer-small", &mode0, 1, f, n);
  free(f);
  /* Hand-built: every dtype the reader knows, in one file. */
  const char *hdr =
      "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]},"
      "\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]},"
      "\"u\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[24,32]},"
      "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[32,36]},"
      "\"s\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[36,38]},"
      "\"q\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[38,40]},"
      "\"x\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[40,44]},"
      "\"c\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[44,45]},"
      "\"y\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[45,46]},"
      "\"t\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[46,47]},"
      "\"e\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[47,48]},"
      "\"__metadata__\":{\"k\":\"v\"}}";
  unsigned char data[48] = {0x00, 0x3c, 0x01, 0x00, 0x80, 0x3f, 0x80, 0x7f, 0, 0, 0, 0, 0, 0,
                            0xf0, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 5};
  data[46] = 1;
  size_t hl = strlen(hdr);
  unsigned char *g = malloc(1 + 8 + hl + sizeof data);
  g[0] = mode0;
  for (int i = 0; i < 8; i++) g[1 + i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(g + 9, hdr, hl);
  memcpy(g + 9 + hl, data, sizeof data);
  rc |= put(dir, "all-dtypes", g, 9 + hl + sizeof data, NULL, 0);
  free(g);
  return rc;
}

/* llama2.c: tiny models in both versions, shared and unshared, and a version-2 header. */
static int llama2c_seeds(const char *dir) {
  const int32_t cfg[7] = {8, 12, 2, 2, 1, 6, 4};
  int64_t hs = 4, kv = 4, L = 2, D = 8, H = 12, V = 6, S = 4;
  int64_t floats = V * D + 2 * L * D + 2 * L * D * D + 2 * L * kv * D + 3 * L * H * D + D;
  int64_t freq = 2 * S * hs / 2;
  int rc = 0;
  for (int version = 0; version <= 2; version++)
    for (int shared = 0; shared <= 1; shared++) {
      size_t header = version == 0 ? 28 : 256;
      int64_t nf = floats + (version == 0 ? freq : 0) + (shared ? 0 : V * D);
      if (version == 2) nf = 16; /* a Q8_0 body is refused before its size matters */
      size_t total = header + 4 * (size_t)nf;
      unsigned char *b = calloc(1, total);
      int32_t h[7];
      memcpy(h, cfg, sizeof h);
      if (version == 0) {
        if (!shared) h[5] = -h[5];
        memcpy(b, h, sizeof h);
      } else {
        uint32_t magic = 0x616b3432;
        int32_t v = version;
        memcpy(b, &magic, 4);
        memcpy(b + 4, &v, 4);
        memcpy(b + 8, h, sizeof h);
        b[36] = (unsigned char)shared;
      }
      for (int64_t i = 0; i < nf; i++) {
        float x = (float)i * 0.01f - 1.0f;
        memcpy(b + header + 4 * i, &x, 4);
      }
      char name[64];
      snprintf(name, sizeof name, "v%d-%s", version, shared ? "shared" : "unshared");
      rc |= put(dir, name, b, total, NULL, 0);
      free(b);
    }
  return rc;
}

/* fuzz_idx: u16 n, an n-byte labels file, then the images file (both plain IDX, big endian). */
static int idx_seeds(const char *dir) {
  int rc = 0;
  for (int count = 1; count <= 3; count += 2) {
    unsigned char b[2 + 8 + 3 + 16 + 3 * 4 * 4];
    size_t k = 0;
    const size_t nl = 8 + (size_t)count;
    b[k++] = (unsigned char)nl;
    b[k++] = 0;
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)count};
    memcpy(b + k, lh, 8), k += 8;
    for (int i = 0; i < count; i++) b[k++] = (unsigned char)(i % 10);
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)count, 0, 0, 0, 4, 0, 0, 0, 4};
    memcpy(b + k, ih, 16), k += 16;
    for (int i = 0; i < count * 16; i++) b[k++] = (unsigned char)(i * 17);
    char name[32];
    snprintf(name, sizeof name, "idx-%d", count);
    rc |= put(dir, name, b, k, NULL, 0);
  }
  return rc;
}

/* fuzz_cifar: a choice byte (even: CIFAR-10, odd: CIFAR-100), then whole records. */
static int cifar_seeds(const char *dir) {
  static unsigned char b[1 + 2 * (2 + 3072)];
  int rc = 0;
  for (int c100 = 0; c100 < 2; c100++) {
    const size_t record = (size_t)(c100 ? 2 : 1) + 3072;
    b[0] = (unsigned char)c100;
    for (int r = 0; r < 2; r++) {
      unsigned char *rec = b + 1 + (size_t)r * record;
      for (size_t i = 0; i < record; i++) rec[i] = (unsigned char)(i * 31 + (size_t)r);
      rec[0] = (unsigned char)(c100 ? 3 : 0); /* coarse label (CIFAR-100) or label */
      rec[record - 3073] = (unsigned char)(c100 ? 42 : 7);
    }
    rc |= put(dir, c100 ? "cifar100-2" : "cifar10-2", b, 1 + 2 * record, NULL, 0);
  }
  return rc;
}

/* fuzz_image_folder: a choice byte, then a small PNG (grey and RGB) or JPEG. */
static int image_seeds(const char *dir) {
  int rc = 0;
  unsigned char px[6 * 5 * 3];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 13);
  for (int rgb = 0; rgb < 2; rgb++) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = 6;
    img.height = 5;
    img.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    png_alloc_size_t n = 0;
    if (!png_image_write_to_memory(&img, NULL, &n, 0, px, 0, NULL)) return -1;
    unsigned char *b = malloc(n + 1);
    if (!b || !png_image_write_to_memory(&img, b + 1, &n, 0, px, 0, NULL)) return -1;
    for (int resize = 0; resize < 2; resize++) {
      b[0] = (unsigned char)(resize << 1);
      char name[32];
      snprintf(name, sizeof name, "png-%s-%d", rgb ? "rgb" : "grey", resize);
      rc |= put(dir, name, b, n + 1, NULL, 0);
    }
    free(b);
  }
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char *jb = NULL;
  unsigned long jn = 0;
  jpeg_mem_dest(&c, &jb, &jn);
  c.image_width = 6;
  c.image_height = 5;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = px + c.next_scanline * 6 * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  unsigned char one = 1;
  rc |= put(dir, "jpeg-rgb", &one, 1, jb, jn);
  free(jb);
  return rc;
}

/* fuzz_results: a mode byte (1: fsck and salvage; 0: read), then a results file written
 * by lbbt's own writer: 1, 2 and 3 runs with scalars, strings, series, f32/i32 arrays (2-D,
 * empty), matrix values and a diverged run; each also cut at 50, 80 and 95% (a full disk). */
static lbbt_status commit_seed_run(const char *tmp, int k) {
  static lbbt_experiment exp;
  static lbbt_run_spec run;
  snprintf(exp.name, sizeof exp.name, "fuzz");
  snprintf(exp.tier, sizeof exp.tier, "smoke");
  snprintf(exp.file, sizeof exp.file, "experiments/fuzz.yaml");
  snprintf(exp.sha256, sizeof exp.sha256, "%064d", 7);
  exp.yaml_text = (char *)"experiment: fuzz\nmatrix:\n  seed: [0, 1]\n";
  memset(&run, 0, sizeof run);
  snprintf(run.id, sizeof run.id, "run-%c", 'a' + k);
  snprintf(run.label, sizeof run.label, "seed=%d", k);
  run.config_yaml = (char *)"seed: 0\nstages:\n  - name: bridge\n";
  char *keys[1] = {(char *)"seed"}, *values[1] = {(char *)(k ? "1" : "0")};
  run.matrix_keys = keys;
  run.matrix_values = values;
  run.n_matrix = 1;
  static const float f[6] = {0.5f, -1.25f, 3, 1e-3f, -0.0f, 7};
  static const int32_t ids[4] = {3, -1, 0, 2147483647};
  lbbt_record *rec = NULL;
  LBBT_TRY(lbbt_record_create(&rec));
  lbbt_status st = lbbt_record_scalar(rec, "probe/test_acc1", 0.17 + k);
  for (int e = 0; st == LBBT_OK && e < 4; e++) st = lbbt_record_append(rec, "bridge/loss", 2.0 - 0.5 * e);
  if (st == LBBT_OK) st = lbbt_record_string(rec, "model/source", k ? "models:gpt2" : "scratch");
  if (st == LBBT_OK && k >= 1) st = lbbt_record_array_f32(rec, "analysis/cka", 2, (int64_t[]){2, 3}, f);
  if (st == LBBT_OK && k >= 1) st = lbbt_record_array_i32(rec, "analysis/ids", 1, (int64_t[]){4}, ids);
  if (st == LBBT_OK && k >= 1) st = lbbt_record_array_f32(rec, "analysis/empty", 2, (int64_t[]){0, 3}, f);
  if (st == LBBT_OK && k == 2) st = lbbt_record_string(rec, LBBT_RUN_DIVERGED_STAGE, "bridge");
  if (st == LBBT_OK && k == 2)
    st = lbbt_record_string(rec, LBBT_RUN_DIVERGED_REASON, "loss exploded at step 3");
  if (st == LBBT_OK) st = lbbt_results_commit_run(tmp, &exp, &run, rec, 1);
  lbbt_record_free(rec);
  return st;
}

static int results_seeds(const char *dir, const char *tmp) {
  int rc = 0;
  remove(tmp);
  for (int runs = 1; runs <= 3 && rc == 0; runs++) {
    if (commit_seed_run(tmp, runs - 1) != LBBT_OK) return -1;
    size_t n = 0;
    unsigned char *b = slurp(tmp, &n);
    if (!b) return -1;
    static const int cut_pct[] = {100, 95, 80, 50};
    for (int c = 0; c < 4; c++)
      for (unsigned char mode = 0; mode < 2; mode++) {
        char name[64];
        snprintf(name, sizeof name, "runs%d-cut%d-%s", runs, cut_pct[c], mode ? "fsck" : "read");
        rc |= put(dir, name, &mode, 1, b, n * (size_t)cut_pct[c] / 100);
      }
    free(b);
  }
  remove(tmp);
  return rc;
}

static int seed_dir(const char *root, const char *target, char *out, size_t n) {
  snprintf(out, n, "%s/%s", root, target);
  return mkdir(out, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make-seeds OUT_DIR\n");
    return 2;
  }
  char st_dir[1024], l2_dir[1024], tmp[1100];
  snprintf(st_dir, sizeof st_dir, "%s/fuzz_safetensors", argv[1]);
  snprintf(l2_dir, sizeof l2_dir, "%s/fuzz_llama2c", argv[1]);
  snprintf(tmp, sizeof tmp, "%s/seed.safetensors", argv[1]);
  mkdir(argv[1], 0755);
  mkdir(st_dir, 0755);
  mkdir(l2_dir, 0755);
  int rc = safetensors_seeds(st_dir, tmp) | llama2c_seeds(l2_dir);
  char d[1100];
  rc |= seed_dir(argv[1], "fuzz_idx", d, sizeof d) || idx_seeds(d);
  rc |= seed_dir(argv[1], "fuzz_cifar", d, sizeof d) || cifar_seeds(d);
  rc |= seed_dir(argv[1], "fuzz_image_folder", d, sizeof d) || image_seeds(d);
  remove(tmp);
  char h5[1100];
  snprintf(h5, sizeof h5, "%s/seed.h5", argv[1]);
  rc |= seed_dir(argv[1], "fuzz_results", d, sizeof d) || results_seeds(d, h5);
  if (rc) fprintf(stderr, "make-seeds: failed: %s\n", errno ? strerror(errno) : lbbt_last_error());
  return rc ? 1 : 0;
}
