/* Progress output: plain lines off a terminal (first update, epoch ends, rate-limited
 * periodic lines), in-place lines on a pseudo-terminal, field formatting and the number of
 * clock reads. */
#include <fcntl.h>
#include <time.h>

#include "lbbt/progress.h"
#include "test.h"

/* Clock reads beyond the stride's ramp-up, which restarts at each epoch end and doubles
 * per read (log2(steps per epoch) reads per epoch). */
static const long CLOCK_READS_SLACK = 4;
/* Interval and duration of the periodic-line test (seconds). */
static const double SHORT_INTERVAL_S = 0.02, PERIODIC_RUN_S = 0.25;

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0) {
  }
}

/* The whole content of f (rewound), malloc'd. */
static char *slurp(FILE *f) {
  fflush(f);
  long n = ftell(f);
  char *buf = calloc((size_t)n + 1, 1);
  rewind(f);
  if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) buf[0] = 0;
  return buf;
}

static int count_char(const char *s, char c) {
  int n = 0;
  for (; *s; s++) n += *s == c;
  return n;
}

static void test_plain_epoch_lines(void) {
  FILE *f = tmpfile();
  REQUIRE(f, "tmpfile");
  lbbt_progress *p;
  REQUIRE(lbbt_progress_create(&p, f, "demo", 2) == LBBT_OK, "create");
  enum { EPOCHS = 3, STEPS = 2000 };
  for (int run = 0; run < 2; run++)
    for (int e = 0; e < EPOCHS; e++)
      for (int s = 0; s < STEPS; s++) lbbt_progress_update(p, run, e, EPOCHS, s, STEPS, 0.5, 0.25, 100);
  long reads = lbbt_progress_clock_reads(p);
  lbbt_progress_free(p);
  char *out = slurp(f);
  fclose(f);
  REQUIRE(out, "read back");
  /* The first update and each of the 6 epoch ends; the loop is far shorter than the 5 s
   * log interval, so no periodic line. */
  CHECK(count_char(out, '\n') == 1 + 2 * EPOCHS, "%d lines:\n%s", count_char(out, '\n'), out);
  CHECK(strstr(out, "demo run 2/2 | epoch 3/3 step 2000/2000") != NULL, "last epoch end:\n%s", out);
  CHECK(strstr(out, "demo run 1/2 | epoch 1/3 step 1/2000") != NULL, "first line:\n%s", out);
  CHECK(!strchr(out, '\r') && !strchr(out, '\033'), "terminal codes in a plain log");
  long ramp = 1;
  while ((1L << ramp) < STEPS) ramp++;
  CHECK(reads <= 2 * EPOCHS * (ramp + 1) + CLOCK_READS_SLACK, "%ld clock reads for %d updates",
        reads, 2 * EPOCHS * STEPS);
  free(out);
}

static void test_plain_periodic_lines(void) {
  FILE *f = tmpfile();
  REQUIRE(f, "tmpfile");
  lbbt_progress *p;
  REQUIRE(lbbt_progress_create(&p, f, "long", 1) == LBBT_OK, "create");
  lbbt_progress_set_interval(p, SHORT_INTERVAL_S);
  double t0 = wall_s(), elapsed = 0;
  long updates = 0;
  /* One epoch that never ends: only the first line and periodic lines print. */
  while (elapsed < PERIODIC_RUN_S) {
    for (int i = 0; i < 1000; i++, updates++)
      lbbt_progress_update(p, 0, 0, 1, (int)(updates % 1000000), 1000000000, 1.0, 0.5, 10);
    elapsed = wall_s() - t0;
  }
  long reads = lbbt_progress_clock_reads(p);
  lbbt_progress_free(p);
  char *out = slurp(f);
  fclose(f);
  REQUIRE(out, "read back");
  int lines = count_char(out, '\n');
  int most = (int)(elapsed / SHORT_INTERVAL_S) + 2;
  CHECK(lines >= 2 && lines <= most, "%d lines in %.2f s at one per %.2f s", lines, elapsed,
        SHORT_INTERVAL_S);
  CHECK(reads < updates / 10, "%ld clock reads for %ld updates", reads, updates);
  free(out);
}

static void test_fields(void) {
  FILE *f = tmpfile();
  REQUIRE(f, "tmpfile");
  lbbt_progress *p;
  REQUIRE(lbbt_progress_create(&p, f, "table-4", 4) == LBBT_OK, "create");
  lbbt_progress_set_label(p, "init=language seed=0");
  lbbt_progress_update(p, 1, 0, 2, 0, 10, 1.23456, 0.5, 1234.4);
  lbbt_progress_update(p, 1, 0, 2, 9, 10, NAN, -1, 0); /* epoch end without metrics */
  lbbt_progress_log(p, "run %d done", 2);
  lbbt_progress_log(p, "already terminated\n");
  lbbt_progress_free(p);
  char *out = slurp(f);
  fclose(f);
  REQUIRE(out, "read back");
  CHECK(strstr(out, "table-4 run 2/4 init=language seed=0 | epoch 1/2 step 1/10 | loss 1.2346 "
                    "acc 50.00% | 1234 items/s | ETA "), "first line:\n%s", out);
  const char *second = strstr(out, "step 10/10");
  CHECK(second && !strstr(second, "loss") && !strstr(second, "acc") &&
            !strstr(second, "items/s"), "NaN/negative metrics printed:\n%s", out);
  CHECK(strstr(out, "] run 2 done\n") && strstr(out, "] already terminated\n") &&
            !strstr(out, "terminated\n\n"), "log lines:\n%s", out);
  free(out);
}

static void test_terminal(void) {
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
    if (master >= 0) close(master);
    SKIP("no pseudo-terminal available");
  }
  const char *name = ptsname(master);
  int slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
  if (slave < 0) {
    close(master);
    SKIP("cannot open %s", name ? name : "the pty");
  }
  FILE *tty = fdopen(slave, "w");
  REQUIRE(tty, "fdopen");
  lbbt_progress *p;
  REQUIRE(lbbt_progress_create(&p, tty, "demo", 1) == LBBT_OK, "create");
  for (int e = 0; e < 2; e++)
    for (int s = 0; s < 3; s++) lbbt_progress_update(p, 0, e, 2, s, 3, 0.1, 0.9, 50);
  /* Past the redraw interval, a mid-epoch update leaves an in-place line open. */
  sleep_s(LBBT_PROGRESS_TTY_INTERVAL_S * 1.5);
  lbbt_progress_update(p, 0, 0, 2, 0, 100, 0.1, 0.9, 50);
  lbbt_progress_log(p, "message");
  sleep_s(LBBT_PROGRESS_TTY_INTERVAL_S * 1.5);
  lbbt_progress_update(p, 0, 0, 2, 1, 100, 0.1, 0.9, 50);
  lbbt_progress_free(p); /* closes the open line */
  fclose(tty);
  char buf[8192];
  fcntl(master, F_SETFL, O_NONBLOCK);
  /* A pty hands out its buffer in pieces: read until it is empty. */
  size_t n = 0;
  for (ssize_t k; n < sizeof buf - 1 && (k = read(master, buf + n, sizeof buf - 1 - n)) > 0;)
    n += (size_t)k;
  close(master);
  REQUIRE(n > 0, "nothing written to the terminal");
  buf[n] = 0;
  CHECK(strstr(buf, "\rdemo run 1/1 | epoch 1/2 step 1/3") != NULL, "in-place first line:\n%s", buf);
  CHECK(strstr(buf, "epoch 2/2 step 3/3") != NULL, "epoch end line:\n%s", buf);
  CHECK(strstr(buf, "\033[K") != NULL, "no erase-to-end-of-line code");
  CHECK(strstr(buf, "\r\033[Kmessage") != NULL, "log did not clear the in-place line:\n%s", buf);
  CHECK(!strstr(buf, "] message"), "terminal log lines carry no time prefix");
  size_t len = strlen(buf);
  CHECK(strstr(buf, "step 2/100") != NULL, "update after a log line not drawn:\n%s", buf);
  CHECK(len > 0 && buf[len - 1] == '\n', "free did not end the open line");
}

TEST_MAIN_BEGIN("test_progress")
  TEST_RUN(test_plain_epoch_lines);
  TEST_RUN(test_plain_periodic_lines);
  TEST_RUN(test_fields);
  TEST_RUN(test_terminal);
TEST_MAIN_END()
