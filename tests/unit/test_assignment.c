/* lbbt_linear_assignment against two independent references:
 *  - brute force over every assignment (all injective maps of the short side into the long
 *    side) on random small matrices: square and rectangular both ways, many ties, huge costs,
 *    +inf entries;
 *  - scipy.optimize.linear_sum_assignment on the matrices of
 *    tests/fixtures/assignment/scipy.txt (written by tests/reference/make_assignment_fixtures.py).
 * Where several assignments share the minimum cost, the totals are compared and the
 * assignment is checked to be valid and to add up to its total. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/assignment.h"
#include "lbbt/rng.h"
#include "test.h"

/* Totals are sums of at most 60 doubles: relative error of a few ulps per term. */
static const double TOTAL_RTOL = 1e-12;
static const double TOTAL_ATOL = 1e-9;
#define FIXTURE "tests/fixtures/assignment/scipy.txt"
enum { BF_MAX = 7, N_RANDOM = 300 };

/* ---- brute force ----------------------------------------------------------------------- */
typedef struct brute {
  const double *c;
  int n, m, k; /* k = min(n, m): rows that must be assigned */
  int col_used[BF_MAX];
  double best;
} brute;

/* Row i picks a free column or (while enough rows remain) nothing. */
static void bf_rec(brute *b, int i, int assigned, double sum) {
  if (i == b->n) {
    if (assigned == b->k && sum < b->best) b->best = sum;
    return;
  }
  if (assigned + (b->n - i) > b->k) bf_rec(b, i + 1, assigned, sum); /* row i unassigned */
  if (assigned == b->k) return;
  for (int j = 0; j < b->m; j++) {
    if (b->col_used[j]) continue;
    b->col_used[j] = 1;
    bf_rec(b, i + 1, assigned + 1, sum + b->c[i * b->m + j]);
    b->col_used[j] = 0;
  }
}

static double brute_force(const double *c, int n, int m) {
  brute b = {c, n, m, n < m ? n : m, {0}, INFINITY};
  bf_rec(&b, 0, 0, 0.0);
  return b.best;
}

/* The assignment is valid (distinct columns, exactly min(n, m) rows placed, no +inf) and
 * its cost is `total`; message in msg otherwise. */
static int check_valid(const double *c, int64_t n, int64_t m, const int64_t *r2c, double total,
                       char *msg, size_t len) {
  int used[256] = {0};
  int64_t placed = 0;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    if (r2c[i] < 0) continue;
    if (r2c[i] >= m || used[r2c[i]]) {
      snprintf(msg, len, "row %lld -> column %lld repeated or out of range", (long long)i,
               (long long)r2c[i]);
      return 0;
    }
    used[r2c[i]] = 1;
    placed++;
    sum += c[i * m + r2c[i]];
  }
  if (placed != (n < m ? n : m)) {
    snprintf(msg, len, "%lld rows placed, want %lld", (long long)placed,
             (long long)(n < m ? n : m));
    return 0;
  }
  if (!(fabs(sum - total) <= TOTAL_ATOL + TOTAL_RTOL * fabs(total))) {
    snprintf(msg, len, "chosen costs add to %.17g, reported total %.17g", sum, total);
    return 0;
  }
  return 1;
}

typedef enum { FILL_UNIFORM, FILL_TIES, FILL_HUGE, FILL_INF } fill_kind;

static void fill(double *c, int n, int m, fill_kind k, lbbt_rng *r) {
  for (int i = 0; i < n * m; i++) {
    double u = lbbt_rng_uniform(r);
    switch (k) {
      case FILL_UNIFORM: c[i] = -5.0 + 10.0 * u; break;
      case FILL_TIES: c[i] = (double)(int)(u * 3.0); break;                 /* 0, 1, 2 */
      case FILL_HUGE: c[i] = 1e12 + (double)(int)(u * 40.0); break;         /* ulp(1e12) < 1 */
      case FILL_INF: c[i] = u < 0.35 ? INFINITY : (double)(int)(u * 100.0); break;
    }
  }
}

static void test_brute_force_random(void) {
  lbbt_rng r;
  lbbt_rng_seed(&r, 14);
  double c[BF_MAX * BF_MAX];
  int64_t r2c[BF_MAX];
  int infeasible_seen = 0, checked = 0;
  for (int it = 0; it < N_RANDOM; it++) {
    int n = 1 + (int)(lbbt_rng_uniform(&r) * BF_MAX), m = 1 + (int)(lbbt_rng_uniform(&r) * BF_MAX);
    fill_kind k = (fill_kind)(it % 4);
    fill(c, n, m, k, &r);
    double want = brute_force(c, n, m), got = NAN;
    lbbt_status st = lbbt_linear_assignment(c, n, m, r2c, &got);
    if (isinf(want)) { /* no finite assignment exists */
      infeasible_seen++;
      CHECK(st == LBBT_E_INPUT && strstr(lbbt_last_error(), "infeasible"),
            "case %d (%dx%d): brute force finds no finite assignment, got %s", it, n, m,
            lbbt_status_name(st));
      continue;
    }
    REQUIRE(st == LBBT_OK, "case %d (%dx%d kind %d): %s", it, n, m, (int)k, lbbt_last_error());
    CHECK_CLOSE(got, want, TOTAL_ATOL, TOTAL_RTOL, "total against brute force");
    char msg[200];
    CHECK(check_valid(c, n, m, r2c, got, msg, sizeof msg), "case %d: %s", it, msg);
    checked++;
  }
  CHECK(checked > N_RANDOM / 2 && infeasible_seen > 0, "%d checked, %d infeasible", checked,
        infeasible_seen);
}

/* Hand-worked cases whose optimum is known. */
static void test_hand_cases(void) {
  /* The textbook 3x3: optimum 0->1, 1->0, 2->2 = 1 + 2 + 2 = 5 (unique). */
  const double a[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
  int64_t r2c[4];
  double tot;
  REQUIRE(lbbt_linear_assignment(a, 3, 3, r2c, &tot) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(r2c[0] == 1 && r2c[1] == 0 && r2c[2] == 2 && tot == 5.0, "3x3: %lld %lld %lld total %g",
        (long long)r2c[0], (long long)r2c[1], (long long)r2c[2], tot);
  /* Tall 4x2: columns take the two cheapest compatible rows; rows 1 and 3 stay free. */
  const double b[8] = {1, 9, 8, 8, 9, 2, 7, 7};
  REQUIRE(lbbt_linear_assignment(b, 4, 2, r2c, &tot) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(r2c[0] == 0 && r2c[1] == -1 && r2c[2] == 1 && r2c[3] == -1 && tot == 3.0,
        "4x2: %lld %lld %lld %lld total %g", (long long)r2c[0], (long long)r2c[1],
        (long long)r2c[2], (long long)r2c[3], tot);
  /* Greedy fails here (it takes 0->0 at cost 1, then 1->1 at 100): optimum 2 + 3 = 5. */
  const double g[4] = {1, 2, 3, 100};
  REQUIRE(lbbt_linear_assignment(g, 2, 2, r2c, &tot) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(r2c[0] == 1 && r2c[1] == 0 && tot == 5.0, "anti-greedy: total %g", tot);
  /* All equal: any permutation; still valid. */
  const double e[9] = {7, 7, 7, 7, 7, 7, 7, 7, 7};
  REQUIRE(lbbt_linear_assignment(e, 3, 3, r2c, &tot) == LBBT_OK, "%s", lbbt_last_error());
  char msg[200];
  CHECK(tot == 21.0 && check_valid(e, 3, 3, r2c, tot, msg, sizeof msg), "all ties: %g", tot);
  /* +inf forces the only finite permutation. */
  const double f[9] = {INFINITY, 1, INFINITY, INFINITY, INFINITY, 5, 2, INFINITY, INFINITY};
  REQUIRE(lbbt_linear_assignment(f, 3, 3, r2c, &tot) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(r2c[0] == 1 && r2c[1] == 2 && r2c[2] == 0 && tot == 8.0, "forced by inf: total %g", tot);
  /* Negative costs are allowed. */
  const double ng[4] = {-1, -10, -10, -1};
  REQUIRE(lbbt_linear_assignment(ng, 2, 2, r2c, &tot) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(tot == -20.0, "negative: total %g", tot);
}

static void test_edge_inputs(void) {
  int64_t r2c[3] = {5, 5, 5};
  double tot = 1;
  CHECK(lbbt_linear_assignment(NULL, 3, 0, r2c, &tot) == LBBT_OK && tot == 0 && r2c[0] == -1 &&
            r2c[2] == -1, "3x0: nothing assigned");
  CHECK(lbbt_linear_assignment(NULL, 0, 4, r2c, &tot) == LBBT_OK && tot == 0, "0x4");
  const double bad[4] = {1, NAN, 2, 3};
  CHECK(lbbt_linear_assignment(bad, 2, 2, r2c, &tot) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "row 0, column 1"), "NaN refused naming its place: %s",
        lbbt_last_error());
  const double neg_inf[2] = {1, -INFINITY};
  CHECK(lbbt_linear_assignment(neg_inf, 1, 2, r2c, &tot) == LBBT_E_INPUT, "-inf refused");
  const double inf_row[4] = {1, 2, INFINITY, INFINITY};
  CHECK(lbbt_linear_assignment(inf_row, 2, 2, r2c, &tot) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "infeasible"), "row of +inf: %s", lbbt_last_error());
}

/* ---- scipy fixtures ------------------------------------------------------------------- */
static void test_scipy_fixtures(void) {
  if (!test_file_exists(FIXTURE)) SKIP("%s absent (tests/reference/make_assignment_fixtures.py)",
                                       FIXTURE);
  FILE *f = fopen(FIXTURE, "r");
  REQUIRE(f, "cannot open %s", FIXTURE);
  char name[128], word[32];
  int n, m, cases = 0, exact = 0;
  while (fscanf(f, " case %127s %d %d", name, &n, &m) == 3) {
    REQUIRE(n > 0 && m > 0 && n <= 256 && m <= 256, "%s: bad size", name);
    double *c = malloc((size_t)n * m * sizeof *c);
    int64_t *r2c = malloc((size_t)n * sizeof *r2c), *want = malloc((size_t)n * sizeof *want);
    for (int i = 0; i < n * m; i++) REQUIRE(fscanf(f, "%lf", &c[i]) == 1, "%s: cost %d", name, i);
    REQUIRE(fscanf(f, " %31s", word) == 1, "%s: truncated", name);
    double got = NAN;
    lbbt_status st = lbbt_linear_assignment(c, n, m, r2c, &got);
    if (!strcmp(word, "infeasible")) {
      CHECK(st == LBBT_E_INPUT && strstr(lbbt_last_error(), "infeasible"),
            "%s: scipy finds it infeasible, lbbt returned %s", name, lbbt_status_name(st));
    } else {
      double total;
      REQUIRE(fscanf(f, "%lf row_to_col", &total) == 1, "%s: total", name);
      for (int i = 0; i < n; i++) {
        long long x;
        REQUIRE(fscanf(f, "%lld", &x) == 1, "%s: row_to_col %d", name, i);
        want[i] = x;
      }
      CHECK(st == LBBT_OK, "%s: %s", name, lbbt_last_error());
      if (st == LBBT_OK) {
        CHECK_CLOSE(got, total, TOTAL_ATOL, TOTAL_RTOL, name);
        char msg[200];
        CHECK(check_valid(c, n, m, r2c, got, msg, sizeof msg), "%s: %s", name, msg);
        exact += memcmp(r2c, want, (size_t)n * sizeof *want) == 0;
      }
    }
    cases++;
    free(c);
    free(r2c);
    free(want);
  }
  fclose(f);
  printf("# scipy fixtures: %d cases, %d with scipy's very assignment\n", cases, exact);
  CHECK(cases >= 30, "only %d fixture cases read", cases);
}

TEST_MAIN_BEGIN("test_assignment")
TEST_RUN(test_hand_cases);
TEST_RUN(test_brute_force_random);
TEST_RUN(test_edge_inputs);
TEST_RUN(test_scipy_fixtures);
TEST_MAIN_END()
