/* libFuzzer target: the safetensors reader (single file, sharded index, folder + config.json).
 * Built and run by tools/run-fuzz.  The first input byte picks the mode; the rest is:
 *   mode 0: one safetensors file, opened through a memfd;
 *   mode 1: "<model.safetensors.index.json bytes>\0<a.safetensors bytes>", opened as a folder;
 *   mode 2: "<config.json bytes>\0<model.safetensors bytes>", opened as a folder.
 * JSON text holds no raw NUL, so NUL is a natural separator.  Whatever the bytes, the reader
 * must fail cleanly or return tensors whose reads succeed and stay inside the file. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_whole(const char *path, const uint8_t *b, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) __builtin_trap(); /* the harness itself is broken */
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w <= 0) __builtin_trap();
    b += w;
    n -= (size_t)w;
  }
  close(fd);
}

static char g_dir[256];
static const char *const g_names[] = {"model.safetensors.index.json", "a.safetensors",
                                      "model.safetensors", "config.json"};

static void remove_scratch(void) {
  char p[320];
  for (size_t i = 0; i < sizeof g_names / sizeof *g_names; i++) {
    snprintf(p, sizeof p, "%s/%s", g_dir, g_names[i]);
    unlink(p);
  }
  rmdir(g_dir);
}

/* One folder per fuzzing process, removed at exit (libFuzzer ends with exit()). */
static const char *scratch_dir(void) {
  if (!g_dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/lbbt-fuzz-st-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_dir)) __builtin_trap();
    atexit(remove_scratch);
  }
  return g_dir;
}

/* Read every tensor the way a model loader would, and check the reader's own invariants. */
static void exercise(lbbt_st *st) {
  int n = lbbt_st_count(st);
  for (int i = 0; i < n; i++) {
    const lbbt_st_info *info = lbbt_st_info_at(st, i);
    if (!info || lbbt_st_find(st, info->name) != info) __builtin_trap();
    if (i > 0 && strcmp(lbbt_st_name(st, i - 1), info->name) >= 0) __builtin_trap();
    if ((uint64_t)info->numel * lbbt_dtype_size(info->dtype) != info->nbytes) __builtin_trap();
    size_t count = info->numel > 0 ? (size_t)info->numel : 1;
    void *buf = malloc(count * 8);
    if (!buf) continue;
    lbbt_status s;
    if (info->dtype == LBBT_DT_F32 || info->dtype == LBBT_DT_F16 ||
        info->dtype == LBBT_DT_BF16 || info->dtype == LBBT_DT_F64) {
      s = lbbt_st_read_f32(st, info->name, buf, info->numel);
      if (s != LBBT_OK) __builtin_trap(); /* validated at open: must be readable */
      if (info->ndim <= LBBT_MAX_DIMS && info->numel > 0) {
        lbbt_tensor t = {.ndim = info->ndim ? info->ndim : 1, .numel = info->numel, .data = buf};
        for (int d = 0; d < info->ndim; d++) t.shape[d] = info->shape[d];
        if (!info->ndim) t.shape[0] = 1;
        if (lbbt_st_read_into(st, info->name, &t) != LBBT_OK) __builtin_trap();
      }
    } else {
      s = lbbt_st_read_i32(st, info->name, buf, info->numel);
      /* Out-of-range integers and bad BOOL bytes are input errors; nothing else may fail. */
      if (s != LBBT_OK && s != LBBT_E_INPUT) __builtin_trap();
    }
    free(buf);
  }
  const lbbt_st_info *dummy;
  if (lbbt_st_get(st, "model.layers.0.self_attn.q_proj.weight", &dummy) == LBBT_OK &&
      !dummy)
    __builtin_trap();
  for (int i = 0; i < lbbt_st_metadata_count(st); i++)
    if (!lbbt_st_metadata_key(st, i) || !lbbt_st_metadata_value(st, i)) __builtin_trap();
  (void)lbbt_st_config(st);
}

static void open_and_exercise(const char *path) {
  lbbt_st *st = NULL;
  lbbt_status s = lbbt_st_open(path, &st);
  if (s == LBBT_OK) {
    exercise(st);
    lbbt_st_close(st);
  } else {
    if (st) __builtin_trap();
    /* Hostile input must be reported as such (or, for a >8-dim tensor, as unsupported). */
    if (s != LBBT_E_INPUT && s != LBBT_E_UNSUPPORTED && s != LBBT_E_NOMEM) __builtin_trap();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 3;
  data++;
  size--;
  if (mode == 0) {
    int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0) __builtin_trap();
    size_t off = 0;
    while (off < size) {
      ssize_t w = write(fd, data + off, size - off);
      if (w <= 0) __builtin_trap();
      off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    open_and_exercise(path);
    close(fd);
    return 0;
  }
  const uint8_t *nul = memchr(data, 0, size);
  size_t first = nul ? (size_t)(nul - data) : size;
  const uint8_t *rest = nul ? nul + 1 : data + size;
  size_t rest_n = size - first - (nul ? 1 : 0);
  const char *dir = scratch_dir();
  char p_first[320], p_second[320];
  remove_scratch();
  if (mkdir(dir, 0700) != 0) __builtin_trap();
  /* mode 1: index + shard; mode 2: config.json + model.safetensors */
  snprintf(p_first, sizeof p_first, "%s/%s", dir, g_names[mode == 1 ? 0 : 3]);
  snprintf(p_second, sizeof p_second, "%s/%s", dir, g_names[mode == 1 ? 1 : 2]);
  write_whole(p_first, data, first);
  write_whole(p_second, rest, rest_n);
  open_and_exercise(dir);
  return 0;
}
