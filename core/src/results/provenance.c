/* Provenance of a commit: which code (version, git commit, dirty tree), where (host, CPU,
 * ISA, threads), when (UTC) and with which libraries.  Everything that cannot be found is
 * "unknown": provenance must never stop a run from saving its results. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lbbt/results.h"
#include "lbbt/isa.h"
#include "lbbt/version.h"

/* Copy src (or "unknown" when empty), truncated to fit n bytes. */
static void copy_text(char *dst, size_t n, const char *src) {
  if (!src || !*src) src = "unknown";
  size_t len = strnlen(src, n - 1);
  memcpy(dst, src, len);
  dst[len] = 0;
}

/* The directory of liblbbt.so: git is asked about the checkout the running code was built
 * in, not about the caller's working directory. */
static int library_dir(char *buf, size_t n) {
  Dl_info info;
  if (!dladdr((void *)lbbt_provenance_collect, &info) || !info.dli_fname) return 0;
  const char *slash = strrchr(info.dli_fname, '/');
  if (!slash) return 0;
  snprintf(buf, n, "%.*s", (int)(slash - info.dli_fname), info.dli_fname);
  return 1;
}

/* Single-quote `s` for /bin/sh (' becomes '\''). */
static int shell_quote(const char *s, char *buf, size_t n) {
  size_t j = 0;
  if (j + 1 >= n) return 0;
  buf[j++] = '\'';
  for (; *s; s++) {
    const char *piece = *s == '\'' ? "'\\''" : NULL;
    size_t len = piece ? 4 : 1;
    if (j + len + 2 >= n) return 0;
    if (piece) memcpy(buf + j, piece, len);
    else buf[j] = *s;
    j += len;
  }
  buf[j++] = '\'';
  buf[j] = 0;
  return 1;
}

/* Run `cmd`, keep the first line of its output in buf (may be empty).  Returns 1 when the
 * command exited 0. */
static int run_first_line(const char *cmd, char *buf, size_t n) {
  buf[0] = 0;
  FILE *p = popen(cmd, "r");
  if (!p) return 0;
  if (fgets(buf, (int)n, p)) buf[strcspn(buf, "\r\n")] = 0;
  /* Drain the rest so the child never blocks writing to a closed pipe. */
  char sink[256];
  while (fgets(sink, sizeof sink, p)) {
  }
  int status = pclose(p);
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void git_state(lbbt_provenance *out) {
  copy_text(out->git_commit, sizeof out->git_commit, NULL);
  copy_text(out->git_dirty, sizeof out->git_dirty, NULL);
  char dir[2048], quoted[4200], cmd[4400], line[256];
  if (!library_dir(dir, sizeof dir) || !shell_quote(dir, quoted, sizeof quoted)) return;
  snprintf(cmd, sizeof cmd, "git -C %s rev-parse HEAD 2>/dev/null", quoted);
  if (!run_first_line(cmd, line, sizeof line) || strlen(line) < 7) return;
  copy_text(out->git_commit, sizeof out->git_commit, line);
  /* GIT_OPTIONAL_LOCKS=0: `git status` must not take index.lock, so a run killed meanwhile
   * cannot leave the user's repository locked. */
  snprintf(cmd, sizeof cmd, "GIT_OPTIONAL_LOCKS=0 git -C %s status --porcelain 2>/dev/null",
           quoted);
  if (run_first_line(cmd, line, sizeof line)) copy_text(out->git_dirty, sizeof out->git_dirty,
                                                        line[0] ? "yes" : "no");
}

/* The vector ISA extensions that decide which oneDNN kernels run. */
static const char *const ISA_FLAGS[] = {
    "sse4_2",      "avx",         "avx2",        "fma",         "f16c",
    "avx512f",     "avx512dq",    "avx512bw",    "avx512vl",    "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni",    "amx_tile",    "amx_bf16",
    "amx_int8",    "asimd",       "sve",         "sve2",
};

static int has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = list; (p = strstr(p, word)); p += n) {
    int starts = p == list || p[-1] == ' ' || p[-1] == '\t' || p[-1] == ':';
    int ends = p[n] == 0 || p[n] == ' ' || p[n] == '\n' || p[n] == '\t';
    if (starts && ends) return 1;
  }
  return 0;
}

static void cpu_info(lbbt_provenance *out) {
  copy_text(out->cpu_model, sizeof out->cpu_model, NULL);
  copy_text(out->cpu_isa, sizeof out->cpu_isa, NULL);
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  int have_model = 0, have_flags = 0;
  while (getline(&line, &cap, f) > 0 && !(have_model && have_flags)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    const char *value = colon + 1 + (colon[1] == ' ');
    /* x86 says "model name" and "flags"; arm64 "CPU part"-style lines and "Features". */
    if (!have_model && !strncmp(line, "model name", 10)) {
      copy_text(out->cpu_model, sizeof out->cpu_model, value);
      out->cpu_model[strcspn(out->cpu_model, "\n")] = 0;
      have_model = 1;
    } else if (!have_flags && (!strncmp(line, "flags", 5) || !strncmp(line, "Features", 8))) {
      char isa[sizeof out->cpu_isa] = "";
      size_t used = 0;
      for (size_t i = 0; i < sizeof ISA_FLAGS / sizeof ISA_FLAGS[0]; i++)
        if (has_word(value, ISA_FLAGS[i]) && used + strlen(ISA_FLAGS[i]) + 2 < sizeof isa)
          used += (size_t)snprintf(isa + used, sizeof isa - used, "%s%s", used ? " " : "",
                                   ISA_FLAGS[i]);
      copy_text(out->cpu_isa, sizeof out->cpu_isa, isa[0] ? isa : "none");
      have_flags = 1;
    }
  }
  free(line);
  fclose(f);
}

void lbbt_provenance_collect(int threads, lbbt_provenance *out) {
  memset(out, 0, sizeof *out);
  copy_text(out->lbbt_version, sizeof out->lbbt_version, LBBT_VERSION);
  git_state(out);
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(out->utc_time, sizeof out->utc_time, "%Y-%m-%dT%H:%M:%SZ", &tm);
  else copy_text(out->utc_time, sizeof out->utc_time, NULL);
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  copy_text(out->host, sizeof out->host, host);
  cpu_info(out);
  out->threads = threads;
  copy_text(out->onednn_version, sizeof out->onednn_version, lbbt_version_dnnl());
  copy_text(out->hdf5_version, sizeof out->hdf5_version, lbbt_version_hdf5());
  copy_text(out->gsl_version, sizeof out->gsl_version, lbbt_version_gsl());
  copy_text(out->libyaml_version, sizeof out->libyaml_version, lbbt_version_yaml());
  copy_text(out->kernel_isa, sizeof out->kernel_isa, lbbt_isa_name(lbbt_isa_active()));
  copy_text(out->onednn_isa, sizeof out->onednn_isa, lbbt_isa_onednn());
}
