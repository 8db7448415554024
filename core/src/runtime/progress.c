/* Progress lines: in place on a terminal, rate-limited plain lines elsewhere.  See
 * lbbt/progress.h for the format and the clock-reading policy. */
#include "lbbt/progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Clock reads aim at this many per interval: often enough to print on time, rare enough
 * to be free next to a training step. */
static const double CHECKS_PER_INTERVAL = 4.0;
static const long MAX_STRIDE = 1L << 20;

struct lbbt_progress {
  FILE *out;
  int tty;
  char what[64];
  char label[160];
  int total_runs;
  double interval;      /* seconds between lines */
  double t_start;       /* creation time */
  double t_last_print;
  double t_last_check;
  long stride;          /* updates between clock reads */
  long since_check;     /* updates since the last clock read */
  long clock_reads;
  int have_base;        /* the first update's time and fraction, for the ETA */
  double base_t, base_frac;
  int line_open;        /* terminal: an in-place line is shown without its newline */
};

static double read_clock(lbbt_progress *p) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  p->clock_reads++;
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

lbbt_status lbbt_progress_create(lbbt_progress **out, FILE *file, const char *what,
                                 int total_runs) {
  if (!out || !file) return lbbt_fail(LBBT_E_INTERNAL, "lbbt_progress_create: NULL argument");
  lbbt_progress *p = calloc(1, sizeof *p);
  if (!p) return lbbt_fail(LBBT_E_NOMEM, "lbbt_progress_create: out of memory");
  p->out = file;
  p->tty = isatty(fileno(file));
  snprintf(p->what, sizeof p->what, "%s", what ? what : "");
  p->total_runs = total_runs > 0 ? total_runs : 1;
  p->interval = p->tty ? LBBT_PROGRESS_TTY_INTERVAL_S : LBBT_PROGRESS_LOG_INTERVAL_S;
  p->stride = 1;
  p->t_start = p->t_last_check = read_clock(p);
  *out = p;
  return LBBT_OK;
}

void lbbt_progress_free(lbbt_progress *p) {
  if (!p) return;
  if (p->line_open) {
    fputc('\n', p->out);
    fflush(p->out);
  }
  free(p);
}

void lbbt_progress_set_label(lbbt_progress *p, const char *label) {
  if (p) snprintf(p->label, sizeof p->label, "%s", label ? label : "");
}

void lbbt_progress_set_interval(lbbt_progress *p, double seconds) {
  if (p && seconds > 0) p->interval = seconds;
}

long lbbt_progress_clock_reads(const lbbt_progress *p) { return p ? p->clock_reads : 0; }

static void format_duration(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e8) {
    snprintf(buf, n, "--");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, n, "%lds", t);
}

/* Append printf output to buf at *used, never past n. */
static void add(char *buf, size_t n, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t n, size_t *used, const char *fmt, ...) {
  if (*used >= n) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + *used, n - *used, fmt, ap);
  va_end(ap);
  if (k > 0) *used = *used + (size_t)k < n ? *used + (size_t)k : n - 1;
}

static void print_line(lbbt_progress *p, double now, double frac, int run_i, int epoch,
                       int n_epochs, int step, int n_steps, double loss, double acc,
                       double items_per_s, int epoch_end) {
  char line[512], dur[32];
  size_t used = 0;
  line[0] = 0;
  if (!p->tty) {
    format_duration(now - p->t_start, dur, sizeof dur);
    add(line, sizeof line, &used, "[%s] ", dur);
  }
  add(line, sizeof line, &used, "%s%srun %d/%d", p->what, p->what[0] ? " " : "", run_i + 1,
      p->total_runs);
  if (p->label[0]) add(line, sizeof line, &used, " %s", p->label);
  add(line, sizeof line, &used, " | epoch %d/%d step %d/%d", epoch + 1, n_epochs, step + 1,
      n_steps);
  if (!isnan(loss)) add(line, sizeof line, &used, " | loss %.4f", loss);
  if (acc >= 0) add(line, sizeof line, &used, " acc %.2f%%", 100.0 * acc);
  if (items_per_s > 0) add(line, sizeof line, &used, " | %.0f items/s", items_per_s);
  double done = frac - p->base_frac, eta = -1;
  if (done > 0) eta = (now - p->base_t) / done * (1.0 - frac);
  format_duration(eta, dur, sizeof dur);
  add(line, sizeof line, &used, " | ETA %s", dur);

  if (p->tty) {
    /* \033[K clears what a longer previous line left to the right. */
    fprintf(p->out, "\r%s\033[K%s", line, epoch_end ? "\n" : "");
    p->line_open = !epoch_end;
  } else {
    fprintf(p->out, "%s\n", line);
  }
  fflush(p->out);
  p->t_last_print = now;
}

void lbbt_progress_update(lbbt_progress *p, int run_i, int epoch, int n_epochs, int step,
                          int n_steps, double loss, double acc, double items_per_s) {
  if (!p) return;
  int epoch_end = n_steps <= 0 || step >= n_steps - 1;
  p->since_check++;
  if (!epoch_end && p->have_base && p->since_check < p->stride) return;

  double now = read_clock(p);
  /* Aim the next read CHECKS_PER_INTERVAL-th of an interval ahead, at most doubling the
   * stride per read so a burst of fast steps cannot overshoot. */
  double dt = now - p->t_last_check;
  double target = p->interval / CHECKS_PER_INTERVAL;
  if (dt > 0) {
    double want = (double)p->since_check * target / dt;
    long next = want >= (double)MAX_STRIDE ? MAX_STRIDE : (long)want;
    if (next > 2 * p->stride) next = 2 * p->stride;
    p->stride = next < 1 ? 1 : next;
  } else if (p->stride < MAX_STRIDE) {
    p->stride *= 2;
  }
  p->t_last_check = now;
  p->since_check = 0;
  /* The step rate changes at epoch boundaries (evaluation, the next stage or run, another
   * model), and a stride tuned to fast steps would delay lines when slow ones follow:
   * start the ramp again.  It costs about log2(stride) extra reads per epoch. */
  if (epoch_end) p->stride = 1;

  int ne = n_epochs > 0 ? n_epochs : 1, ns = n_steps > 0 ? n_steps : 1;
  double frac = (run_i + (epoch + (double)(step + 1) / ns) / ne) / p->total_runs;
  int first = !p->have_base;
  if (first) {
    /* Progress is measured from the first update; the work before it (skipped runs,
     * setup) has no known rate. */
    p->have_base = 1;
    p->base_t = now;
    p->base_frac = frac;
  }
  if (first || epoch_end || now - p->t_last_print >= p->interval)
    print_line(p, now, frac, run_i, epoch, ne, step, ns, loss, acc, items_per_s, epoch_end);
}

void lbbt_progress_log(lbbt_progress *p, const char *fmt, ...) {
  if (!p) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t len = strlen(msg);
  int needs_newline = len == 0 || msg[len - 1] != '\n';
  if (p->tty) {
    if (p->line_open) fputs("\r\033[K", p->out);
    p->line_open = 0;
    fprintf(p->out, "%s%s", msg, needs_newline ? "\n" : "");
  } else {
    char dur[32];
    format_duration(read_clock(p) - p->t_start, dur, sizeof dur);
    fprintf(p->out, "[%s] %s%s", dur, msg, needs_newline ? "\n" : "");
  }
  fflush(p->out);
}
