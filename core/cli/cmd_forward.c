/* lbbt forward PATH --input ids.h5 --out out.h5 [--plugin NAME]
 * Reads the integer dataset "input_ids" [B, T] from ids.h5, runs the checkpoint as a language
 * model and writes out.h5 with "input_ids" (int32 [B, T]), "hidden" (f32 [B, T, C], after the
 * final norm) and, when the model has an LM head, "logits" (f32 [B, T, V]); root attributes
 * "model", "plugin" and "lbbt_version".  The file is written beside the target under a
 * temporary name, flushed and renamed, so out.h5 is either absent, the old file or complete.
 * Rows are read, run and written in chunks that fit a memory budget (LBBT_FORWARD_MEMORY_MB,
 * default 256), so memory stays bounded however many rows the ids file holds. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "lbbt/version.h"

/* Rows are processed in chunks that fit this many bytes of activations and outputs
 * (LBBT_FORWARD_MEMORY_MB overrides it), so that memory stays bounded whatever the number of
 * rows (issue 20: a 51 MB ids file grew past 7 GB). */
#define FORWARD_MEMORY_MB_DEFAULT 256

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt forward PATH --input IDS.h5 --out OUT.h5 [--plugin NAME]\n"
          "Runs the checkpoint at PATH (see lbbt model --help) on the token ids in IDS.h5\n"
          "(integer dataset 'input_ids' [B, T]) and writes OUT.h5 atomically with 'input_ids',\n"
          "'hidden' f32 [B, T, C] (after the final norm) and 'logits' f32 [B, T, V] when the\n"
          "model has an LM head (encoders such as chronos_t5 have none).  Rows are run in\n"
          "chunks that fit LBBT_FORWARD_MEMORY_MB (default %d) megabytes of activations.\n"
          "exit codes: 0 ok, 2 bad input (missing file, no plugin, wrong dataset, a row too\n"
          "long for the memory budget, not enough disk for the outputs), 1 other\n",
          FORWARD_MEMORY_MB_DEFAULT);
}


/* The open dataset input_ids [B, T] of an ids file. */
typedef struct ids_file {
  hid_t f, d;
  int64_t B, T;
} ids_file;

static void ids_close(ids_file *in) {
  if (in->d >= 0) H5Dclose(in->d);
  if (in->f >= 0) H5Fclose(in->f);
}

/* Open input_ids of file `path` (integer, [B, T]) without reading it.  Returns 0 or an exit
 * code (message printed). */
static int open_ids(const char *path, ids_file *in) {
  in->f = in->d = -1;
  in->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (in->f < 0) {
    fprintf(stderr, "lbbt forward: %s: cannot open as an HDF5 file\n", path);
    return 2;
  }
  int code = 2;
  hid_t sp = -1, ty = -1;
  if (H5Lexists(in->f, "input_ids", H5P_DEFAULT) <= 0 ||
      (in->d = H5Dopen2(in->f, "input_ids", H5P_DEFAULT)) < 0) {
    fprintf(stderr, "lbbt forward: %s has no dataset 'input_ids' (integer [B, T])\n", path);
    goto done;
  }
  ty = H5Dget_type(in->d);
  sp = H5Dget_space(in->d);
  hsize_t dims[H5S_MAX_RANK];
  int rank = H5Sget_simple_extent_ndims(sp);
  if (H5Tget_class(ty) != H5T_INTEGER) {
    fprintf(stderr, "lbbt forward: %s: dataset 'input_ids' is not integer; write token ids as int32\n",
            path);
    goto done;
  }
  if (rank != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) != 2 || dims[0] < 1 || dims[1] < 1 ||
      dims[0] > INT32_MAX || dims[1] > INT32_MAX) {
    fprintf(stderr, "lbbt forward: %s: dataset 'input_ids' has rank %d, expected 2 ([B, T], both >= 1)\n",
            path, rank);
    goto done;
  }
  in->B = (int64_t)dims[0];
  in->T = (int64_t)dims[1];
  code = 0;
done:
  if (ty >= 0) H5Tclose(ty);
  if (sp >= 0) H5Sclose(sp);
  if (code) ids_close(in);
  return code;
}

/* Rows [r0, r0 + n) of a [rows, cols] dataset as a hyperslab of its file space, and the
 * matching memory space.  Caller closes both. */
static void row_spaces(hid_t d, int rank, int64_t r0, int64_t n, hid_t *file_sp, hid_t *mem_sp) {
  *file_sp = H5Dget_space(d);
  hsize_t dims[3], start[3] = {(hsize_t)r0, 0, 0}, count[3];
  H5Sget_simple_extent_dims(*file_sp, dims, NULL);
  for (int i = 0; i < rank; i++) count[i] = i ? dims[i] : (hsize_t)n;
  H5Sselect_hyperslab(*file_sp, H5S_SELECT_SET, start, NULL, count, NULL);
  *mem_sp = H5Screate_simple(rank, count, NULL);
}

/* Read rows [r0, r0 + n) of input_ids into ids (n * T). */
static int read_rows(const ids_file *in, int64_t r0, int64_t n, int32_t *ids) {
  hid_t fs, ms;
  row_spaces(in->d, 2, r0, n, &fs, &ms);
  int ok = fs >= 0 && ms >= 0 && H5Dread(in->d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, ids) >= 0;
  if (fs >= 0) H5Sclose(fs);
  if (ms >= 0) H5Sclose(ms);
  return ok;
}

/* Write rows [r0, r0 + n) of dataset `name` (created [B, ...] on the first chunk). */
static int write_rows(hid_t f, const char *name, hid_t mem_type, int rank, const hsize_t *dims,
                      int64_t r0, int64_t n, const void *data) {
  hid_t d = r0 == 0 ? -1 : H5Dopen2(f, name, H5P_DEFAULT);
  if (r0 == 0) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t file_type = mem_type == H5T_NATIVE_FLOAT ? H5T_IEEE_F32LE : H5T_STD_I32LE;
    d = sp < 0 ? -1 : H5Dcreate2(f, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (sp >= 0) H5Sclose(sp);
  }
  if (d < 0) return 0;
  hid_t fs, ms;
  row_spaces(d, rank, r0, n, &fs, &ms);
  int ok = fs >= 0 && ms >= 0 && H5Dwrite(d, mem_type, ms, fs, H5P_DEFAULT, data) >= 0;
  if (fs >= 0) H5Sclose(fs);
  if (ms >= 0) H5Sclose(ms);
  H5Dclose(d);
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

/* Finish the output file written at tmp: attributes, close, flush, rename over out_path.
 * Returns 0 or 1 (message printed; tmp removed). */
static int finish_outputs(hid_t f, const char *tmp, const char *out_path, const char *model_path,
                          const char *plugin) {
  int ok = write_string_attr(f, "model", model_path) && write_string_attr(f, "plugin", plugin) &&
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

/* Bytes of activations and outputs one row of T tokens takes through model m (a generous
 * estimate: per layer the block's intermediates, about 12 values per channel and token, plus
 * one T x T attention matrix, plus hidden and logits). */
static double row_bytes(const lbbt_model *m, int64_t T) {
  double per_token = (double)m->vocab_size + (double)m->dim * (2.0 + 12.0 * (m->n_layers > 0 ? m->n_layers : 1));
  return 4.0 * ((double)T * per_token + (double)T * (double)T);
}

/* Output bytes on disk: input_ids, hidden and (at most) logits. */
static double output_bytes(const lbbt_model *m, int64_t B, int64_t T) {
  return (double)B * (double)T * 4.0 * (1.0 + (double)m->dim + (double)m->vocab_size);
}

static int64_t memory_budget(void) {
  const char *e = getenv("LBBT_FORWARD_MEMORY_MB");
  long long mb = e && *e ? atoll(e) : FORWARD_MEMORY_MB_DEFAULT;
  return (int64_t)(mb > 0 ? mb : FORWARD_MEMORY_MB_DEFAULT) << 20;
}

/* Enough free space in out_path's folder for the outputs?  0, or 2 (message printed). */
static int check_disk(const char *out_path, double need) {
  char dir[4096];
  const char *slash = strrchr(out_path, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out_path) + (slash == out_path) : 1,
           slash ? out_path : ".");
  struct statvfs v;
  if (statvfs(dir, &v) != 0) return 0; /* the write itself reports */
  double avail = (double)v.f_bavail * (double)v.f_frsize;
  if (need <= avail) return 0;
  fprintf(stderr, "lbbt forward: %s: the outputs need about %.3g GB, and %s has %.3g GB free; "
                  "forward fewer rows\n", out_path, need / 1e9, dir, avail / 1e9);
  return 2;
}

/* Finite weights can still give NaN (a negative norm epsilon, an overflow): never write
 * such an output as if it were a result.  0, or 2 naming the first position [b, t, c]. */
static int check_finite_output(const char *name, const lbbt_tensor *t, const char *path, int64_t row0) {
  if (!t) return 0;
  int64_t C = t->shape[t->ndim - 1], T = t->ndim > 2 ? t->shape[1] : 1;
  for (int64_t k = 0; k < t->numel; k++)
    if (!isfinite(t->data[k])) {
      fprintf(stderr,
              "lbbt forward: %s: the %s output is %g at [%lld, %lld, %lld] although every "
              "weight is finite; check the configuration (a negative norm epsilon?)\n",
              path, name, (double)t->data[k], (long long)(row0 + k / C / T), (long long)(k / C % T),
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
  ids_file in;
  int code = open_ids(input, &in);
  if (code) return code;
  const int64_t B = in.B, T = in.T;
  cli_backbone b;
  code = cli_open_backbone("forward", path, plugin, &b);
  if (code) {
    ids_close(&in);
    return code;
  }
  lbbt_model *m = b.model;
  int32_t *ids = NULL;
  lbbt_tape *tape = NULL;
  hid_t f = -1;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out, (long)getpid());
  code = cli_check_finite_params("forward", path, m);
  if (code) goto done;
  /* rows per chunk: as many as the memory budget holds; a single row that does not fit is
   * refused before anything is allocated */
  const int64_t budget = memory_budget();
  const double per_row = row_bytes(m, T);
  if (per_row > (double)budget) {
    fprintf(stderr, "lbbt forward: %s: one row of %lld tokens needs about %.0f MB through this model, "
                    "more than the %lld MB allowed (LBBT_FORWARD_MEMORY_MB); split the rows into "
                    "shorter ones\n", input, (long long)T, per_row / (1 << 20), (long long)(budget >> 20));
    code = 2;
    goto done;
  }
  if ((code = check_disk(out, output_bytes(m, B, T))) != 0) goto done;
  int64_t rows = (int64_t)((double)budget / per_row);
  if (rows > B) rows = B;
  if (rows < 1) rows = 1;
  ids = malloc((size_t)(rows * T) * sizeof *ids);
  lbbt_status st = ids ? lbbt_tape_create(&tape) : lbbt_fail(LBBT_E_NOMEM, "forward: out of memory");
  if (st != LBBT_OK) {
    code = cli_report(st, "forward");
    goto done;
  }
  lbbt_tape_set_recording(tape, 0);
  lbbt_tape_set_training(tape, 0);
  f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "lbbt forward: cannot create %s (is the folder there and writable?)\n", tmp);
    code = 1;
    goto done;
  }
  for (int64_t r0 = 0; r0 < B && !code; r0 += rows) {
    const int64_t n = B - r0 < rows ? B - r0 : rows;
    if (!read_rows(&in, r0, n, ids)) {
      fprintf(stderr, "lbbt forward: %s: cannot read rows %lld..%lld of 'input_ids' as int32\n", input,
              (long long)r0, (long long)(r0 + n - 1));
      code = 1;
      break;
    }
    for (int64_t i = 0; i < n * T && m->vocab_size > 0; i++)
      if (ids[i] < 0 || ids[i] >= m->vocab_size) {
        fprintf(stderr, "lbbt forward: %s: input_ids[%lld][%lld] = %d is outside the vocabulary [0, %d)\n",
                input, (long long)(r0 + i / T), (long long)(i % T), ids[i], m->vocab_size);
        code = 2;
        break;
      }
    if (code) break;
    lbbt_tape_reset(tape); /* the previous chunk's activations */
    lbbt_tensor *hidden = NULL, *logits = NULL;
    st = m->ops->forward_language(m, tape, ids, n, T, &hidden, &logits);
    if (st != LBBT_OK) {
      code = cli_report(st, "forward");
      break;
    }
    if ((code = check_finite_output("hidden", hidden, path, r0)) != 0 ||
        (code = check_finite_output("logits", logits, path, r0)) != 0)
      break;
    hsize_t d2[2] = {(hsize_t)B, (hsize_t)T};
    hsize_t dh[3] = {(hsize_t)B, (hsize_t)T, (hsize_t)hidden->shape[2]};
    int ok = write_rows(f, "input_ids", H5T_NATIVE_INT32, 2, d2, r0, n, ids) &&
             write_rows(f, "hidden", H5T_NATIVE_FLOAT, 3, dh, r0, n, hidden->data);
    if (ok && logits) {
      hsize_t dl[3] = {(hsize_t)B, (hsize_t)T, (hsize_t)logits->shape[logits->ndim - 1]};
      ok = write_rows(f, "logits", H5T_NATIVE_FLOAT, 3, dl, r0, n, logits->data);
    }
    if (!ok) {
      fprintf(stderr, "lbbt forward: writing rows %lld..%lld into %s failed\n", (long long)r0,
              (long long)(r0 + n - 1), tmp);
      code = 1;
    }
  }
  if (!code) {
    code = finish_outputs(f, tmp, out, path, b.plugin->name);
    f = -1;
    if (!code && rows < B)
      fprintf(stderr, "lbbt forward: %lld rows in %lld chunks of at most %lld (memory budget %lld MB)\n",
              (long long)B, (long long)((B + rows - 1) / rows), (long long)rows, (long long)(budget >> 20));
  }
done:
  if (f >= 0) {
    H5Fclose(f);
    unlink(tmp);
  }
  lbbt_tape_free(tape);
  free(ids);
  ids_close(&in);
  cli_close_backbone(&b);
  return code;
}
