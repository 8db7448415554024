/* Run checkpoints under damage (issue 20, classes 7 and 11): a flipped bit in a resume
 * checkpoint changed a run's final metrics, and a truncated one blocked the experiment.
 * Now each checkpoint carries SHA256SUMS (sha256sum's format); a checkpoint that does not
 * match is never read: it is moved to ckpt.damaged/ and the run goes on from ckpt.old/ when
 * that exists, else from scratch. */
#include <sys/stat.h>

#include "lbbt/results.h"
#include "lbbt/runner.h"
#include "lbbt/spec.h"
#include "test.h"

static lbbt_experiment g_exp;
static lbbt_run_spec g_run;
static lbbt_stage_spec g_stage;

/* A stage context without a model (the checkpoint then holds the record, the stage's
 * position and the metadata), in a fresh partial folder. */
static void make_ctx(lbbt_stage_ctx *ctx, const char *name) {
  memset(ctx, 0, sizeof *ctx);
  snprintf(g_run.id, sizeof g_run.id, "0123456789abcdef");
  snprintf(g_stage.name, sizeof g_stage.name, "bridge");
  ctx->version = LBBT_STAGE_CTX_VERSION;
  ctx->exp = &g_exp;
  ctx->run = &g_run;
  ctx->stage = &g_stage;
  snprintf(ctx->partial_dir, sizeof ctx->partial_dir, "%s/%s", test_tmpdir(), name);
  mkdir(ctx->partial_dir, 0755);
  lbbt_record_create(&ctx->record);
}

static lbbt_status save_after(lbbt_stage_ctx *ctx, int epochs) {
  LBBT_TRY(lbbt_record_append(ctx->record, "bridge/loss", 1.0 / (epochs + 1)));
  return lbbt_checkpoint_save(ctx, NULL, epochs, 0, NULL, NULL, 0);
}

/* Restore into a fresh context on the same folder: found, and epochs done (-1: not found). */
static int restored_epochs(const char *name, int *n_losses) {
  lbbt_stage_ctx ctx;
  make_ctx(&ctx, name);
  int found = 0, stage_index = -1, stage_done = -1, epochs = -1;
  *n_losses = -1;
  if (lbbt_checkpoint_restore_run(&ctx, &found, &stage_index, &stage_done) != LBBT_OK) {
    fprintf(stderr, "restore: %s\n", lbbt_last_error());
    epochs = -2;
  } else if (found && lbbt_checkpoint_resume_stage(&ctx, NULL, &epochs, NULL, NULL, 0) == LBBT_OK) {
    const double *v = NULL;
    if (lbbt_record_get_series(ctx.record, "bridge/loss", &v, n_losses) != LBBT_OK) *n_losses = 0;
  } else if (!found) {
    int again = 0;
    lbbt_checkpoint_resume_stage(&ctx, NULL, &again, NULL, NULL, 0);
    epochs = again ? -3 : -1; /* the stage must start fresh too */
  }
  lbbt_record_free(ctx.record);
  return epochs;
}

/* Replace the first occurrence of `from` in the file by `to` (same length), in place. */
static int edit_file(const char *path, const char *from, const char *to) {
  FILE *f = fopen(path, "r+b");
  if (!f) return -1;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  char *at = memmem(buf, n, from, strlen(from));
  int rc = -1;
  if (at && strlen(from) == strlen(to)) {
    fseek(f, at - buf, SEEK_SET);
    rc = fwrite(to, 1, strlen(to), f) == strlen(to) ? 0 : -1;
  }
  fclose(f);
  return rc;
}

static int exists(const char *dir, const char *name) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s/%s", test_tmpdir(), dir, name);
  struct stat sb;
  return stat(p, &sb) == 0;
}

static void test_intact_checkpoint_resumes(void) {
  lbbt_stage_ctx ctx;
  make_ctx(&ctx, "intact");
  REQUIRE(save_after(&ctx, 1) == LBBT_OK && save_after(&ctx, 2) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_record_free(ctx.record);
  CHECK(exists("intact", "ckpt/SHA256SUMS"), "the checkpoint carries SHA256SUMS");
  int n = 0;
  CHECK(restored_epochs("intact", &n) == 2 && n == 2, "resumes after epoch 2 with 2 losses (%d)", n);
  /* the format is sha256sum's: it verifies with coreutils too */
  char cmd[700];
  snprintf(cmd, sizeof cmd, "cd %s/intact/ckpt && sha256sum --status -c SHA256SUMS", test_tmpdir());
  if (system("command -v sha256sum >/dev/null 2>&1") == 0)
    CHECK(system(cmd) == 0, "sha256sum -c accepts SHA256SUMS");
}

/* The case: one changed byte of state (here epochs_done 2 -> 9) was resumed as is. */
static void test_changed_state_restarts(void) {
  lbbt_stage_ctx ctx;
  make_ctx(&ctx, "changed");
  REQUIRE(save_after(&ctx, 1) == LBBT_OK && save_after(&ctx, 2) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_record_free(ctx.record);
  char path[600];
  snprintf(path, sizeof path, "%s/changed/ckpt/state.safetensors", test_tmpdir());
  REQUIRE(edit_file(path, "\"epochs_done\":\"2\"", "\"epochs_done\":\"9\"") == 0, "cannot edit %s", path);
  int n = 0;
  CHECK(restored_epochs("changed", &n) == -1, "a checkpoint that changed is not resumed");
  CHECK(!exists("changed", "ckpt") && exists("changed", "ckpt.damaged/state.safetensors"),
        "it is moved to ckpt.damaged/");
}

static void test_truncated_record_restarts(void) {
  lbbt_stage_ctx ctx;
  make_ctx(&ctx, "cut");
  REQUIRE(save_after(&ctx, 1) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_record_free(ctx.record);
  char path[600];
  snprintf(path, sizeof path, "%s/cut/ckpt/record.h5", test_tmpdir());
  struct stat sb;
  REQUIRE(stat(path, &sb) == 0 && truncate(path, sb.st_size / 2) == 0, "cannot cut %s", path);
  int n = 0;
  CHECK(restored_epochs("cut", &n) == -1, "a cut checkpoint is not resumed, and blocks nothing");
}

/* Killed between the two renames, with the newer checkpoint damaged: the older one serves. */
static void test_falls_back_to_old(void) {
  lbbt_stage_ctx ctx;
  make_ctx(&ctx, "fallback");
  char cur[600], keep[600], old[600], cmd[2000];
  snprintf(cur, sizeof cur, "%s/fallback/ckpt", test_tmpdir());
  snprintf(keep, sizeof keep, "%s/fallback/keep", test_tmpdir());
  snprintf(old, sizeof old, "%s/fallback/ckpt.old", test_tmpdir());
  REQUIRE(save_after(&ctx, 1) == LBBT_OK, "save: %s", lbbt_last_error());
  snprintf(cmd, sizeof cmd, "cp -r %s %s", cur, keep);
  REQUIRE(system(cmd) == 0, "copy");
  REQUIRE(save_after(&ctx, 2) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_record_free(ctx.record);
  REQUIRE(rename(keep, old) == 0, "rename");
  char path[700];
  snprintf(path, sizeof path, "%s/state.safetensors", cur);
  REQUIRE(edit_file(path, "\"epochs_done\":\"2\"", "\"epochs_done\":\"3\"") == 0, "cannot edit");
  int n = 0;
  CHECK(restored_epochs("fallback", &n) == 1 && n == 1, "resumes from ckpt.old/ after epoch 1 (%d losses)", n);
}

/* A checkpoint written before checksums (no SHA256SUMS) is still read. */
static void test_checkpoint_without_sums_reads(void) {
  lbbt_stage_ctx ctx;
  make_ctx(&ctx, "nosums");
  REQUIRE(save_after(&ctx, 1) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_record_free(ctx.record);
  char path[600];
  snprintf(path, sizeof path, "%s/nosums/ckpt/SHA256SUMS", test_tmpdir());
  REQUIRE(unlink(path) == 0, "unlink");
  int n = 0;
  CHECK(restored_epochs("nosums", &n) == 1, "an unverified old checkpoint resumes");
}

TEST_MAIN_BEGIN("test_run_checkpoint")
TEST_RUN(test_intact_checkpoint_resumes);
TEST_RUN(test_changed_state_restarts);
TEST_RUN(test_truncated_record_restarts);
TEST_RUN(test_falls_back_to_old);
TEST_RUN(test_checkpoint_without_sums_reads);
TEST_MAIN_END()
