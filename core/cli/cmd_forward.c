/* lbbt forward PATH --input ids.h5 --out out.h5 [--plugin NAME]
 * Reads the integer dataset "input_ids" [B, T] from ids.h5, runs the checkpoint as a language
 * model and writes out.h5 with "input_ids" (int32 [B, T]), "hidden" (f32 [B, T, C], after the
 * final norm) and, when the model has an LM head, "logits" (f32 [B, T, V]); root attributes
 * "model", "plugin" and "lbbt_version".  The file is written beside the target under a
 * temporary name, flushed and renamed, so out.h5 is either absent, the old file or complete. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "lbbt/version.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt forward PATH --input IDS.h5 --out OUT.h5 [--plugin NAME]\n"
          "Runs the checkpoint at PATH (see lbbt model --help) on the token ids in IDS.h5\n"
          "(integer dataset 'input_ids' [B, T]) and writes OUT.h5 atomically with 'input_ids',\n"
          "'hidden' f32 [B, T, C] (after the final norm) and 'logits' f32 [B, T, V] when the\n"
          "model has an LM head (encoders such as chronos_t5 have none).\n"
          "exit codes: 0 ok, 2 bad input (missing file, no plugin, wrong dataset), 1 other\n");
}

/* input_ids of file `path` -> ids (malloc'd) [B*T].  Returns 0 or an exit code (message
 * printed). */
static int read_ids(const char *path, int32_t **ids, int64_t *B, int64_t *T) {
  *ids = NULL;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "lbbt forward: %s: cannot open as an HDF5 file\n", path);
    return 2;
  }
  int code = 2;
  hid_t d = -1, sp = -1, ty = -1;
  if (H5Lexists(f, "input_ids", H5P_DEFAULT) <= 0 || (d = H5Dopen2(f, "input_ids", H5P_DEFAULT)) < 0) {
    fprintf(stderr, "lbbt forward: %s has no dataset 'input_ids' (integer [B, T])\n", path);
    goto done;
  }
  ty = H5Dget_type(d);
  sp = H5Dget_space(d);
  hsize_t dims[H5S_MAX_RANK];
  int rank = H5Sget_simple_extent_ndims(sp);
  if (H5Tget_class(ty) != H5T_INTEGER) {
    fprintf(stderr, "lbbt forward: %s: dataset 'input_ids' is not integer; write token ids as int32\n",
            path);
    goto done;
  }
  if (rank != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) != 2 || dims[0] < 1 || dims[1] < 1) {
    fprintf(stderr, "lbbt forward: %s: dataset 'input_ids' has rank %d, expected 2 ([B, T], both >= 1)\n",
            path, rank);
    goto done;
  }
  *B = (int64_t)dims[0];
  *T = (int64_t)dims[1];
  *ids = malloc((size_t)(*B * *T) * sizeof **ids);
  if (!*ids || H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, *ids) < 0) {
    fprintf(stderr, "lbbt forward: %s: cannot read 'input_ids' as int32 [%lld, %lld]\n", path,
            (long long)*B, (long long)*T);
    free(*ids);
    *ids = NULL;
    code = 1;
    goto done;
  }
  code = 0;
done:
  if (ty >= 0) H5Tclose(ty);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  H5Fclose(f);
  return code;
}

static int write_dataset(hid_t f, const char *name, hid_t mem_type, int rank, const hsize_t *dims,
                         const void *data) {
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t file_type = mem_type == H5T_NATIVE_FLOAT ? H5T_IEEE_F32LE : H5T_STD_I32LE;
  hid_t d = H5Dcreate2(f, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int ok = d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  return ok;
}

static int write_string_attr(hid_t f, const char *name, const char *value) {
  hid_t ty = H5Tcopy(H5T_C_S1);
  H5Tset_size(ty, strlen(value) + 1);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, ty, value) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(ty);
  return ok;
}

static int fsync_path(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  int ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

/* Write everything to out_path atomically.  Returns 0 or 1 (message printed). */
static int write_outputs(const char *out_path, const char *model_path, const char *plugin,
                         const int32_t *ids, int64_t B, int64_t T, const lbbt_tensor *hidden,
                         const lbbt_tensor *logits) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out_path, (long)getpid());
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "lbbt forward: cannot create %s (is the folder there and writable?)\n", tmp);
    return 1;
  }
  hsize_t d2[2] = {(hsize_t)B, (hsize_t)T};
  hsize_t dh[3] = {(hsize_t)B, (hsize_t)T, (hsize_t)hidden->shape[2]};
  int ok = write_dataset(f, "input_ids", H5T_NATIVE_INT32, 2, d2, ids) &&
           write_dataset(f, "hidden", H5T_NATIVE_FLOAT, 3, dh, hidden->data);
  if (ok && logits) {
    hsize_t dl[3] = {(hsize_t)B, (hsize_t)T, (hsize_t)logits->shape[logits->ndim - 1]};
    ok = write_dataset(f, "logits", H5T_NATIVE_FLOAT, 3, dl, logits->data);
  }
  ok = ok && write_string_attr(f, "model", model_path) && write_string_attr(f, "plugin", plugin) &&
       write_string_attr(f, "lbbt_version", LBBT_VERSION);
  ok = H5Fclose(f) >= 0 && ok;
  ok = ok && fsync_path(tmp);
  if (!ok || rename(tmp, out_path) != 0) {
    fprintf(stderr, "lbbt forward: writing %s failed%s%s\n", out_path, ok ? ": " : "",
            ok ? strerror(errno) : "");
    unlink(tmp);
    return 1;
  }
  char dir[4096];
  const char *slash = strrchr(out_path, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == out_path)
    snprintf(dir, sizeof dir, "/");
  else
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - out_path), out_path);
  fsync_path(dir); /* the rename itself; best effort */
  return 0;
}

/* Finite weights can still give NaN (a negative norm epsilon, an overflow): never write
 * such an output as if it were a result.  0, or 2 naming the first position [b, t, c]. */
static int check_finite_output(const char *name, const lbbt_tensor *t, const char *path) {
  if (!t) return 0;
  int64_t C = t->shape[t->ndim - 1], T = t->ndim > 2 ? t->shape[1] : 1;
  for (int64_t k = 0; k < t->numel; k++)
    if (!isfinite(t->data[k])) {
      fprintf(stderr,
              "lbbt forward: %s: the %s output is %g at [%lld, %lld, %lld] although every "
              "weight is finite; check the configuration (a negative norm epsilon?)\n",
              path, name, (double)t->data[k], (long long)(k / C / T), (long long)(k / C % T),
              (long long)(k % C));
      return 2;
    }
  return 0;
}

int cmd_forward(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *path = NULL, *input = NULL, *out = NULL, *plugin = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--input") && i + 1 < argc) input = argv[++i];
    else if (!strncmp(a, "--input=", 8)) input = a + 8;
    else if (!strcmp(a, "--out") && i + 1 < argc) out = argv[++i];
    else if (!strncmp(a, "--out=", 6)) out = a + 6;
    else if (!strcmp(a, "--plugin") && i + 1 < argc) plugin = argv[++i];
    else if (!strncmp(a, "--plugin=", 9)) plugin = a + 9;
    else if (a[0] == '-' || path) {
      fprintf(stderr, "lbbt forward: unexpected argument '%s'\n", a);
      usage(stderr);
      return 2;
    } else path = a;
  }
  if (!path || !input || !out) {
    fprintf(stderr, "lbbt forward: needs PATH, --input IDS.h5 and --out OUT.h5\n");
    usage(stderr);
    return 2;
  }
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages, not HDF5's error stack */
  int32_t *ids = NULL;
  int64_t B = 0, T = 0;
  int code = read_ids(input, &ids, &B, &T);
  if (code) return code;
  cli_backbone b;
  code = cli_open_backbone("forward", path, plugin, &b);
  if (code) {
    free(ids);
    return code;
  }
  lbbt_model *m = b.model;
  for (int64_t i = 0; i < B * T && m->vocab_size > 0; i++)
    if (ids[i] < 0 || ids[i] >= m->vocab_size) {
      fprintf(stderr, "lbbt forward: %s: input_ids[%lld][%lld] = %d is outside the vocabulary [0, %d)\n",
              input, (long long)(i / T), (long long)(i % T), ids[i], m->vocab_size);
      code = 2;
      goto done;
    }
  code = cli_check_finite_params("forward", path, m);
  if (code) goto done;
  lbbt_tape *tape = NULL;
  lbbt_status st = lbbt_tape_create(&tape);
  lbbt_tensor *hidden = NULL, *logits = NULL;
  if (st == LBBT_OK) {
    lbbt_tape_set_recording(tape, 0);
    lbbt_tape_set_training(tape, 0);
    st = m->ops->forward_language(m, tape, ids, B, T, &hidden, &logits);
  }
  if (st != LBBT_OK)
    code = cli_report(st, "forward");
  else if ((code = check_finite_output("hidden", hidden, path)) == 0 &&
           (code = check_finite_output("logits", logits, path)) == 0)
    code = write_outputs(out, path, b.plugin->name, ids, B, T, hidden, logits);
  lbbt_tape_free(tape);
done:
  free(ids);
  cli_close_backbone(&b);
  return code;
}
