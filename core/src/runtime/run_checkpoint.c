/* Run checkpoints for resuming killed runs; see runner.h.
 *
 * Layout of <partial_dir>/ckpt/:
 *   state.safetensors  model parameters under their names, optimizer state under
 *                      "optim/<state name>", extras under "extra/<name>"; metadata:
 *                      stage_index, stage_name, epochs_done, stage_done, run_id, and the
 *                      optimizer step counters ("optim/step.<param>" = decimal)
 *   record.h5          the run record so far (lbbt_record_save)
 *   SHA256SUMS         the SHA-256 of both, as `sha256sum` writes it (`sha256sum -c` checks
 *                      it), written last and verified before a checkpoint is read
 * Written into ckpt.new/ then renamed over ckpt/ (the old one moved to ckpt.old/ first and
 * removed after), so some complete checkpoint always exists.  A checkpoint whose files do
 * not match their checksums (a flipped bit, a file cut short) is never read: it is moved to
 * ckpt.damaged/ with a warning naming it, and the run goes on from ckpt.old/ when that exists,
 * else from scratch (issue 20: a flipped bit in a checkpoint changed a run's final metrics).
 * A checkpoint without SHA256SUMS (written before checksums) is read unverified. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/checkpoint.h"
#include "lbbt/dist.h"
#include "lbbt/optim.h"
#include "lbbt/runner.h"
#include "lbbt/sha256.h"
#include "base/fs_util.h"

#define CKPT_SUMS "SHA256SUMS"
static const char *const CKPT_FILES[] = {"state.safetensors", "record.h5"};
enum { N_CKPT_FILES = sizeof CKPT_FILES / sizeof CKPT_FILES[0] };

static int dir_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* SHA-256 of a file's bytes as 64 hex characters; nonzero (errno set) when it cannot be read. */
static int file_sha256(const char *path, char hex[65]) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  lbbt_sha256_ctx c;
  lbbt_sha256_init(&c);
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) lbbt_sha256_update(&c, buf, n);
  int err = ferror(f);
  fclose(f);
  if (err) return -1;
  uint8_t d[32];
  lbbt_sha256_final(&c, d);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return 0;
}

/* dir/SHA256SUMS over the checkpoint's files, in `sha256sum` format. */
static lbbt_status write_sums(const char *dir) {
  char path[LBBT_PATH_MAX + 64], lines[N_CKPT_FILES * 128] = "";
  for (int i = 0; i < N_CKPT_FILES; i++) {
    char hex[65];
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_FILES[i]);
    if (file_sha256(path, hex) != 0)
      return lbbt_fail(LBBT_E_IO, "checkpoint: cannot read back %s: %s", path, strerror(errno));
    snprintf(lines + strlen(lines), sizeof lines - strlen(lines), "%s  %s\n", hex, CKPT_FILES[i]);
  }
  snprintf(path, sizeof path, "%s/%s", dir, CKPT_SUMS);
  FILE *f = fopen(path, "w");
  int ok = f && fputs(lines, f) >= 0;
  if (f && fclose(f) != 0) ok = 0;
  if (!ok) return lbbt_fail(LBBT_E_IO, "checkpoint: cannot write %s: %s", path, strerror(errno));
  return LBBT_OK;
}

/* Do dir's files match dir/SHA256SUMS?  1 yes (or no SHA256SUMS: written before checksums),
 * 0 no, with why. */
static int ckpt_intact(const char *dir, char *why, size_t n) {
  char path[LBBT_PATH_MAX + 64], text[N_CKPT_FILES * 128 + 1];
  snprintf(path, sizeof path, "%s/%s", dir, CKPT_SUMS);
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  size_t len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[len] = 0;
  for (int i = 0; i < N_CKPT_FILES; i++) {
    char want[80], hex[65], line[160];
    snprintf(line, sizeof line, "  %s\n", CKPT_FILES[i]);
    const char *at = strstr(text, line);
    if (!at || at - text < 64) {
      snprintf(why, n, "%s does not list %s", CKPT_SUMS, CKPT_FILES[i]);
      return 0;
    }
    snprintf(want, sizeof want, "%.64s", at - 64);
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_FILES[i]);
    if (file_sha256(path, hex) != 0) {
      snprintf(why, n, "%s cannot be read: %s", CKPT_FILES[i], strerror(errno));
      return 0;
    }
    if (strcmp(hex, want)) {
      snprintf(why, n, "%s does not match its checksum (stored %.12s..., now %.12s...)",
               CKPT_FILES[i], want, hex);
      return 0;
    }
  }
  return 1;
}

lbbt_status lbbt_checkpoint_save(lbbt_stage_ctx *ctx, lbbt_optim *opt, int epochs_done,
                                 int stage_done, lbbt_tensor *const *extra,
                                 const char *const *extra_names, int n_extra) {
  if (lbbt_dist_rank() != 0) return LBBT_OK; /* data-parallel replicas: rank 0's is theirs */
  char dir_new[LBBT_PATH_MAX + 16], dir_cur[LBBT_PATH_MAX + 16], dir_old[LBBT_PATH_MAX + 16];
  snprintf(dir_new, sizeof dir_new, "%s/ckpt.new", ctx->partial_dir);
  snprintf(dir_cur, sizeof dir_cur, "%s/ckpt", ctx->partial_dir);
  snprintf(dir_old, sizeof dir_old, "%s/ckpt.old", ctx->partial_dir);
  lbbt_remove_tree(dir_new);
  if (mkdir(dir_new, 0755) != 0)
    return lbbt_fail(LBBT_E_IO, "checkpoint: cannot create %s: %s", dir_new, strerror(errno));
  lbbt_st_writer *w = NULL;
  LBBT_TRY(lbbt_st_writer_create(&w));
  lbbt_status st = LBBT_OK;
  char name[LBBT_PATH_MAX + 64], val[64];
  const lbbt_model *m = ctx->model;
  for (int i = 0; m && i < m->n_params && st == LBBT_OK; i++) /* no model: a stage with its own */
    st = lbbt_st_writer_add_tensor(w, m->params[i].name, m->params[i].t);
  if (opt) {
    for (int i = 0; i < lbbt_optim_state_count(opt) && st == LBBT_OK; i++) {
      lbbt_optim_state s;
      st = lbbt_optim_state_at(opt, i, &s);
      if (st != LBBT_OK) break;
      snprintf(name, sizeof name, "optim/%s", s.name);
      if (s.dtype == LBBT_STATE_F32) {
        int64_t shape[1] = {s.numel};
        st = lbbt_st_writer_add_f32(w, name, 1, shape, s.data);
      } else {
        snprintf(val, sizeof val, "%lld", (long long)*(int64_t *)s.data);
        st = lbbt_st_writer_set_metadata(w, name, val);
      }
    }
  }
  for (int i = 0; i < n_extra && st == LBBT_OK; i++) {
    snprintf(name, sizeof name, "extra/%s", extra_names[i]);
    st = lbbt_st_writer_add_tensor(w, name, extra[i]);
  }
  snprintf(val, sizeof val, "%d", ctx->stage_index);
  if (st == LBBT_OK) st = lbbt_st_writer_set_metadata(w, "stage_index", val);
  if (st == LBBT_OK) st = lbbt_st_writer_set_metadata(w, "stage_name", ctx->stage->name);
  snprintf(val, sizeof val, "%d", epochs_done);
  if (st == LBBT_OK) st = lbbt_st_writer_set_metadata(w, "epochs_done", val);
  if (st == LBBT_OK) st = lbbt_st_writer_set_metadata(w, "stage_done", stage_done ? "1" : "0");
  if (st == LBBT_OK) st = lbbt_st_writer_set_metadata(w, "run_id", ctx->run->id);
  snprintf(name, sizeof name, "%s/state.safetensors", dir_new);
  if (st == LBBT_OK) st = lbbt_st_writer_write(w, name);
  lbbt_st_writer_free(w);
  snprintf(name, sizeof name, "%s/record.h5", dir_new);
  if (st == LBBT_OK) st = lbbt_record_save(ctx->record, name);
  if (st == LBBT_OK) st = write_sums(dir_new);
  if (st != LBBT_OK) {
    lbbt_remove_tree(dir_new);
    return lbbt_fail_context(st, "saving the checkpoint of run %s", ctx->run->id);
  }
  /* Swap: cur -> old, new -> cur, drop old.  A reader prefers cur, then old. */
  lbbt_remove_tree(dir_old);
  if (dir_exists(dir_cur) && rename(dir_cur, dir_old) != 0)
    return lbbt_fail(LBBT_E_IO, "checkpoint: rename %s: %s", dir_cur, strerror(errno));
  if (rename(dir_new, dir_cur) != 0)
    return lbbt_fail(LBBT_E_IO, "checkpoint: rename %s: %s", dir_new, strerror(errno));
  lbbt_remove_tree(dir_old);
  return LBBT_OK;
}

/* The checkpoint folder to read: ckpt/, else ckpt.old/ (killed between the two renames),
 * whichever matches its checksums; a damaged one is moved to ckpt.damaged/ (so it is neither
 * read nor checked again) with a warning. */
static int find_ckpt(const lbbt_stage_ctx *ctx, char *dir, size_t n) {
  static const char *const CANDIDATES[] = {"ckpt", "ckpt.old"};
  for (int i = 0; i < 2; i++) {
    snprintf(dir, n, "%s/%s", ctx->partial_dir, CANDIDATES[i]);
    if (!dir_exists(dir)) continue;
    char why[256];
    if (ckpt_intact(dir, why, sizeof why)) return 1;
    char aside[LBBT_PATH_MAX + 16];
    snprintf(aside, sizeof aside, "%s/ckpt.damaged", ctx->partial_dir);
    lbbt_remove_tree(aside);
    int moved = rename(dir, aside) == 0;
    if (!moved) lbbt_remove_tree(dir);
    lbbt_progress_log(ctx->progress, "warning: run %s: its checkpoint %s is damaged (%s); %s, and "
                      "the run goes on from %s", ctx->run->id, dir, why,
                      moved ? "moved to ckpt.damaged/" : "removed",
                      i == 0 ? "ckpt.old/ if present, else from scratch" : "scratch");
  }
  return 0;
}

static int meta_int(const lbbt_st *st, const char *key, int def) {
  const char *v = lbbt_st_metadata_get(st, key);
  return v ? atoi(v) : def;
}

lbbt_status lbbt_checkpoint_restore_run(lbbt_stage_ctx *ctx, int *found, int *stage_index,
                                        int *stage_done) {
  *found = 0;
  char dir[LBBT_PATH_MAX + 16], path[LBBT_PATH_MAX + 64];
  if (!find_ckpt(ctx, dir, sizeof dir)) return LBBT_OK;
  snprintf(path, sizeof path, "%s/state.safetensors", dir);
  lbbt_st *st = NULL;
  LBBT_TRY(lbbt_st_open(path, &st));
  lbbt_status s = LBBT_OK;
  const char *rid = lbbt_st_metadata_get(st, "run_id");
  if (!rid || strcmp(rid, ctx->run->id)) {
    s = lbbt_fail(LBBT_E_INPUT, "%s belongs to run %s, not %s; remove %s to start over", path,
                  rid ? rid : "?", ctx->run->id, ctx->partial_dir);
    goto done;
  }
  for (int i = 0; ctx->model && i < ctx->model->n_params && s == LBBT_OK; i++)
    s = lbbt_st_read_into(st, ctx->model->params[i].name, ctx->model->params[i].t);
  if (s != LBBT_OK) goto done;
  *stage_index = meta_int(st, "stage_index", 0);
  *stage_done = meta_int(st, "stage_done", 0);
  snprintf(path, sizeof path, "%s/record.h5", dir);
  lbbt_record *rec = NULL;
  s = lbbt_record_load(path, &rec);
  if (s != LBBT_OK) goto done;
  lbbt_record_free(ctx->record);
  ctx->record = rec;
  *found = 1;
done:
  lbbt_st_close(st);
  return s;
}

lbbt_status lbbt_checkpoint_resume_stage(lbbt_stage_ctx *ctx, lbbt_optim *opt, int *epochs_done,
                                         lbbt_tensor *const *extra,
                                         const char *const *extra_names, int n_extra) {
  *epochs_done = 0;
  char dir[LBBT_PATH_MAX + 16], path[LBBT_PATH_MAX + 64], name[300];
  if (!find_ckpt(ctx, dir, sizeof dir)) return LBBT_OK;
  snprintf(path, sizeof path, "%s/state.safetensors", dir);
  lbbt_st *st = NULL;
  LBBT_TRY(lbbt_st_open(path, &st));
  lbbt_status s = LBBT_OK;
  if (meta_int(st, "stage_index", -1) != ctx->stage_index || meta_int(st, "stage_done", 0)) goto done;
  for (int i = 0; opt && i < lbbt_optim_state_count(opt) && s == LBBT_OK; i++) {
    lbbt_optim_state os;
    s = lbbt_optim_state_at(opt, i, &os);
    if (s != LBBT_OK) break;
    snprintf(name, sizeof name, "optim/%s", os.name);
    if (os.dtype == LBBT_STATE_F32) {
      s = lbbt_st_read_f32(st, name, os.data, os.numel);
    } else {
      const char *v = lbbt_st_metadata_get(st, name);
      if (!v) {
        s = lbbt_fail(LBBT_E_INPUT, "%s: optimizer state '%s' missing", path, name);
        break;
      }
      int64_t step = atoll(v);
      s = lbbt_optim_state_load(opt, os.name, LBBT_STATE_I64, &step, 1);
    }
  }
  for (int i = 0; i < n_extra && s == LBBT_OK; i++) {
    snprintf(name, sizeof name, "extra/%s", extra_names[i]);
    s = lbbt_st_read_into(st, name, extra[i]);
  }
  if (s == LBBT_OK) *epochs_done = meta_int(st, "epochs_done", 0);
done:
  lbbt_st_close(st);
  return s;
}
