/* Run checkpoints for resuming killed runs; see runner.h.
 *
 * Layout of <partial_dir>/ckpt/:
 *   state.safetensors  model parameters under their names, optimizer state under
 *                      "optim/<state name>", extras under "extra/<name>"; metadata:
 *                      stage_index, stage_name, epochs_done, stage_done, run_id, and the
 *                      optimizer step counters ("optim/step.<param>" = decimal)
 *   record.h5          the run record so far (lbbt_record_save)
 * Written into ckpt.new/ then renamed over ckpt/ (the old one moved to ckpt.old/ first and
 * removed after), so some complete checkpoint always exists. */
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
#include "base/fs_util.h"

static int dir_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
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

/* The checkpoint folder to read: ckpt/, else ckpt.old/ (killed between the two renames). */
static int find_ckpt(const lbbt_stage_ctx *ctx, char *dir, size_t n) {
  snprintf(dir, n, "%s/ckpt", ctx->partial_dir);
  if (dir_exists(dir)) return 1;
  snprintf(dir, n, "%s/ckpt.old", ctx->partial_dir);
  return dir_exists(dir);
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
