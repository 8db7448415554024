/* Verdict statistics: the Welch t interval (means, standard error, Welch-Satterthwaite df,
 * t quantile) on hand-computed cases, the verdict of an interval, arm comparisons with too
 * few runs, and what a control says about the cause. */
#include <math.h>

#include "lbbt/verdicts.h"
#include "test.h"

/* Hand arithmetic and textbook t tables are given to 9-10 significant digits. */
#define STAT_TOL 1e-8
/* t quantiles at 0.975 (two-sided 95%) from printed t tables, to 10 digits. */
#define T975_DF1 12.7062047364
#define T975_DF2 4.30265272991
#define T975_DF4 2.77644510520
#define T975_DF10 2.22813885196
#define T975_DF30 2.04227245630
#define T950_DF4 2.13184678134
/* SciPy's stats.t.ppf(0.975, 36/17), an independent implementation, for a fractional df. */
#define T975_DF36_17 4.081511800806129

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* a = {1,2,3}, b = {4,5,6}: means 2 and 5, variances 1 and 1; se^2 = 1/3 + 1/3 = 2/3;
 * df = (2/3)^2 / ((1/3)^2/2 + (1/3)^2/2) = 4; interval -3 -+ 2.7764451052 * sqrt(2/3). */
static void welch_equal_variances_df4(void) {
  const double a[] = {1, 2, 3}, b[] = {4, 5, 6};
  lbbt_welch w;
  REQUIRE(lbbt_welch_interval(a, LEN(a), b, LEN(b), 0.95, &w) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(w.mean_a, 2.0, STAT_TOL, 0, "mean a");
  CHECK_CLOSE(w.mean_b, 5.0, STAT_TOL, 0, "mean b");
  CHECK_CLOSE(w.sd_a, 1.0, STAT_TOL, 0, "sd a");
  CHECK_CLOSE(w.diff, -3.0, STAT_TOL, 0, "diff");
  CHECK_CLOSE(w.se, sqrt(2.0 / 3.0), STAT_TOL, 0, "se");
  CHECK_CLOSE(w.df, 4.0, STAT_TOL, 0, "df");
  CHECK_CLOSE(w.t, T975_DF4, 0, STAT_TOL, "t(0.975, 4)");
  CHECK_CLOSE(w.lo, -3.0 - 2.266957935527523, 0, STAT_TOL, "lo");
  CHECK_CLOSE(w.hi, -3.0 + 2.266957935527523, 0, STAT_TOL, "hi");
  CHECK(w.n_a == 3 && w.n_b == 3, "n %d %d", w.n_a, w.n_b);
}

/* a = {10,12}: mean 11, s^2 = 2, s^2/n = 1; b = {1,...,5}: mean 3, s^2 = 2.5, s^2/n = 0.5.
 * se^2 = 1.5; df = 1.5^2 / (1^2/1 + 0.5^2/4) = 2.25 / 1.0625 = 36/17. */
static void welch_unequal_variances_fractional_df(void) {
  const double a[] = {10, 12}, b[] = {1, 2, 3, 4, 5};
  lbbt_welch w;
  REQUIRE(lbbt_welch_interval(a, LEN(a), b, LEN(b), 0.95, &w) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(w.diff, 8.0, STAT_TOL, 0, "diff");
  CHECK_CLOSE(w.se, sqrt(1.5), STAT_TOL, 0, "se");
  CHECK_CLOSE(w.df, 36.0 / 17.0, STAT_TOL, 0, "df");
  CHECK(w.t < T975_DF2 && w.t > 3.18244630528, "t(0.975, 2.12) = %g must lie between t(3) and t(2)", w.t);
  CHECK_CLOSE(w.t, T975_DF36_17, 0, 1e-7, "t(0.975, 36/17)");
  CHECK_CLOSE(w.lo, 8.0 - T975_DF36_17 * sqrt(1.5), 0, 1e-7, "lo");
  CHECK(lbbt_verdict_decide(LBBT_RELATION_GREATER, w.lo, w.hi) == LBBT_VERDICT_SUPPORTS, "lo %g > 0 supports", w.lo);
}

/* One arm without spread: df = n_a - 1 (b's term vanishes). a = {0,2}: s^2/n = 1; b = {5,5}.
 * se = 1, df = 1, interval -4 -+ 12.7062047364. */
static void welch_one_arm_without_spread(void) {
  const double a[] = {0, 2}, b[] = {5, 5};
  lbbt_welch w;
  REQUIRE(lbbt_welch_interval(a, 2, b, 2, 0.95, &w) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(w.df, 1.0, STAT_TOL, 0, "df");
  CHECK_CLOSE(w.t, T975_DF1, 0, STAT_TOL, "t(0.975, 1)");
  CHECK_CLOSE(w.lo, -4.0 - T975_DF1, 0, STAT_TOL, "lo");
  CHECK_CLOSE(w.hi, -4.0 + T975_DF1, 0, STAT_TOL, "hi");
}

/* Both arms without spread: the interval is the point; df is reported as n_a + n_b - 2. */
static void welch_no_spread_is_a_point(void) {
  const double a[] = {3, 3, 3}, b[] = {1, 1};
  lbbt_welch w;
  REQUIRE(lbbt_welch_interval(a, 3, b, 2, 0.95, &w) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(w.lo == 2.0 && w.hi == 2.0 && w.se == 0.0, "interval [%g, %g] se %g", w.lo, w.hi, w.se);
  CHECK_CLOSE(w.df, 3.0, 0, 0, "df");
  CHECK(lbbt_verdict_decide(LBBT_RELATION_GREATER, w.lo, w.hi) == LBBT_VERDICT_SUPPORTS, "point above 0");
}

/* Equal n and equal variances: Welch's df equals Student's 2n - 2 (here n = 2, 6, 16). */
static void welch_matches_student_df_when_balanced(void) {
  const double want_t[] = {T975_DF2, T975_DF10, T975_DF30};
  const int ns[] = {2, 6, 16};
  for (int k = 0; k < 3; k++) {
    double a[16], b[16];
    for (int i = 0; i < ns[k]; i++) {
      a[i] = 0.5 * i;
      b[i] = 0.5 * i + 1.0; /* same spread, shifted */
    }
    lbbt_welch w;
    REQUIRE(lbbt_welch_interval(a, ns[k], b, ns[k], 0.95, &w) == LBBT_OK, "%s", lbbt_last_error());
    CHECK_CLOSE(w.df, 2.0 * ns[k] - 2.0, STAT_TOL, 0, "df");
    CHECK_CLOSE(w.t, want_t[k], 0, STAT_TOL, "t quantile");
    CHECK_CLOSE(w.diff, -1.0, STAT_TOL, 0, "diff");
  }
}

static void welch_other_level(void) {
  const double a[] = {1, 2, 3}, b[] = {4, 5, 6};
  lbbt_welch w;
  REQUIRE(lbbt_welch_interval(a, 3, b, 3, 0.90, &w) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(w.t, T950_DF4, 0, STAT_TOL, "t(0.95, 4) for a 90% interval");
}

static void welch_refuses_bad_input(void) {
  const double a[] = {1, 2}, one[] = {1}, bad[] = {1, NAN};
  lbbt_welch w;
  CHECK(lbbt_welch_interval(a, 2, one, 1, 0.95, &w) == LBBT_E_INPUT, "one value in an arm");
  CHECK(strstr(lbbt_last_error(), "at least 2") != NULL, "message: %s", lbbt_last_error());
  CHECK(lbbt_welch_interval(a, 2, bad, 2, 0.95, &w) == LBBT_E_INPUT, "NaN value");
  CHECK(strstr(lbbt_last_error(), "not finite") != NULL, "message: %s", lbbt_last_error());
  CHECK(lbbt_welch_interval(a, 2, a, 2, 1.0, &w) == LBBT_E_INPUT, "level 1");
  CHECK(lbbt_welch_interval(a, 2, a, 2, 0.0, &w) == LBBT_E_INPUT, "level 0");
}

static void verdict_rules(void) {
  const lbbt_relation G = LBBT_RELATION_GREATER, N = LBBT_RELATION_NOT_WORSE;
  CHECK(lbbt_verdict_decide(G, 0.1, 2) == LBBT_VERDICT_SUPPORTS, "greater, above 0");
  CHECK(lbbt_verdict_decide(G, -0.1, 2) == LBBT_VERDICT_WITHIN_NOISE, "greater, contains 0");
  CHECK(lbbt_verdict_decide(G, 0.0, 2) == LBBT_VERDICT_WITHIN_NOISE, "greater, touches 0 from above");
  CHECK(lbbt_verdict_decide(G, -2, -0.1) == LBBT_VERDICT_CONTRADICTS, "greater, below 0");
  CHECK(lbbt_verdict_decide(G, -2, 0.0) == LBBT_VERDICT_WITHIN_NOISE, "greater, touches 0 from below");
  CHECK(lbbt_verdict_decide(N, 0.1, 2) == LBBT_VERDICT_SUPPORTS, "not-worse, above 0");
  CHECK(lbbt_verdict_decide(N, -5, 2) == LBBT_VERDICT_SUPPORTS, "not-worse, contains 0");
  CHECK(lbbt_verdict_decide(N, -2, 0.0) == LBBT_VERDICT_SUPPORTS, "not-worse, touches 0");
  CHECK(lbbt_verdict_decide(N, -2, -0.1) == LBBT_VERDICT_CONTRADICTS, "not-worse, below 0");
  CHECK(!strcmp(lbbt_verdict_name(LBBT_VERDICT_WITHIN_NOISE), "within noise"), "name");
  lbbt_relation r;
  CHECK(lbbt_relation_parse("not-worse", &r) && r == N, "parse not-worse");
  CHECK(lbbt_relation_parse("greater", &r) && r == G, "parse greater");
  CHECK(!lbbt_relation_parse("less", &r) && !lbbt_relation_parse(NULL, &r), "parse refuses other text");
}

static void compare_arms_counts_runs(void) {
  const double a[] = {90, 92, 91}, b[] = {30, 35, 33}, one[] = {50};
  lbbt_welch w;
  CHECK(lbbt_compare_arms(a, 3, b, 0, LBBT_RELATION_GREATER, 0.95, &w) == LBBT_VERDICT_NOT_RUN, "empty arm");
  CHECK(lbbt_compare_arms(a, 3, one, 1, LBBT_RELATION_GREATER, 0.95, &w) == LBBT_VERDICT_TOO_FEW, "one run");
  CHECK_CLOSE(w.diff, 41.0, STAT_TOL, 0, "diff with one run");
  CHECK(lbbt_compare_arms(a, 3, b, 3, LBBT_RELATION_GREATER, 0.95, &w) == LBBT_VERDICT_SUPPORTS, "clear gain");
  CHECK_CLOSE(w.diff, 91.0 - 98.0 / 3.0, STAT_TOL, 0, "diff");
  CHECK(lbbt_compare_arms(b, 3, a, 3, LBBT_RELATION_GREATER, 0.95, NULL) == LBBT_VERDICT_CONTRADICTS, "clear loss");
  CHECK(lbbt_compare_arms(b, 3, a, 3, LBBT_RELATION_NOT_WORSE, 0.95, NULL) == LBBT_VERDICT_CONTRADICTS,
        "clear loss, not-worse");
  CHECK(lbbt_compare_arms(a, 3, a, 3, LBBT_RELATION_GREATER, 0.95, NULL) == LBBT_VERDICT_WITHIN_NOISE, "same arm");
  CHECK(lbbt_compare_arms(a, 3, a, 3, LBBT_RELATION_NOT_WORSE, 0.95, NULL) == LBBT_VERDICT_SUPPORTS,
        "same arm, not-worse");
}

static void control_readings(void) {
  const lbbt_verdict S = LBBT_VERDICT_SUPPORTS, C = LBBT_VERDICT_CONTRADICTS, W = LBBT_VERDICT_WITHIN_NOISE,
                     F = LBBT_VERDICT_TOO_FEW, X = LBBT_VERDICT_NOT_RUN;
  /* in place of the claimed arm: (claim, claimed - control, control - baseline) */
  CHECK(lbbt_control_read_arm(S, W, S) == LBBT_CONTROL_STATISTICS, "control reaches the claimed arm");
  CHECK(lbbt_control_read_arm(S, S, W) == LBBT_CONTROL_STRUCTURE, "control stays at the baseline");
  CHECK(lbbt_control_read_arm(S, S, C) == LBBT_CONTROL_STRUCTURE, "control below the baseline");
  CHECK(lbbt_control_read_arm(S, S, S) == LBBT_CONTROL_PARTIAL, "control in between");
  CHECK(lbbt_control_read_arm(S, C, S) == LBBT_CONTROL_EXCEEDS, "control above the claimed arm");
  CHECK(lbbt_control_read_arm(S, W, W) == LBBT_CONTROL_INCONCLUSIVE, "control near both");
  CHECK(lbbt_control_read_arm(W, S, S) == LBBT_CONTROL_NO_EFFECT, "claim not supported");
  CHECK(lbbt_control_read_arm(C, W, S) == LBBT_CONTROL_NO_EFFECT, "claim contradicted");
  CHECK(lbbt_control_read_arm(F, S, S) == LBBT_CONTROL_UNKNOWN, "claim with one seed");
  CHECK(lbbt_control_read_arm(S, X, S) == LBBT_CONTROL_UNKNOWN, "control not run");
  CHECK(lbbt_control_read_arm(S, S, F) == LBBT_CONTROL_UNKNOWN, "control with one seed");
  /* both rows from the control init: (claim, same relation on the control rows) */
  CHECK(lbbt_control_read_pair(S, S) == LBBT_CONTROL_STATISTICS, "relation holds from the control too");
  CHECK(lbbt_control_read_pair(S, W) == LBBT_CONTROL_STRUCTURE, "relation not found from the control");
  CHECK(lbbt_control_read_pair(S, C) == LBBT_CONTROL_STRUCTURE, "relation reversed from the control");
  CHECK(lbbt_control_read_pair(W, S) == LBBT_CONTROL_NO_EFFECT, "claim not supported");
  CHECK(lbbt_control_read_pair(X, S) == LBBT_CONTROL_UNKNOWN, "claim not run");
  CHECK(lbbt_control_read_pair(S, F) == LBBT_CONTROL_UNKNOWN, "control pair with one seed");
  CHECK(strstr(lbbt_control_reading_text(LBBT_CONTROL_STATISTICS), "statistics") != NULL, "text");
  CHECK(strstr(lbbt_control_reading_text(LBBT_CONTROL_STRUCTURE), "structure") != NULL, "text");
}

/* Growth of an advantage: worked by hand.  a = {1,2,3} (s^2 1), b = c = {0,0,0}, d = {2,4,6}
 * (s^2 4): diff = (2 - 0) - (0 - 4) = 6, se^2 = 1/3 + 4/3 = 5/3,
 * df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2) = (25/9) / (17/18) = 50/17. */
static void growth_by_hand(void) {
  const double a[] = {1, 2, 3}, z[] = {0, 0, 0}, d[] = {2, 4, 6};
  const double *arms[4] = {a, z, z, d};
  const int n[4] = {3, 3, 3, 3};
  lbbt_growth g;
  CHECK(lbbt_growth_interval(arms, n, 0.95, &g) == LBBT_OK, "interval");
  CHECK_CLOSE(g.adv_ab, 2.0, 1e-12, 0, "advantage a - b");
  CHECK_CLOSE(g.adv_cd, -4.0, 1e-12, 0, "advantage c - d");
  CHECK_CLOSE(g.diff, 6.0, 1e-12, 0, "growth");
  CHECK_CLOSE(g.se, sqrt(5.0 / 3.0), 1e-12, 0, "se");
  CHECK_CLOSE(g.df, 50.0 / 17.0, 1e-12, 0, "df");
  CHECK_CLOSE(g.hi - g.diff, g.t * g.se, 1e-12, 0, "half width");
  CHECK(g.lo > 0, "growth above 0: lo %g", g.lo);
  CHECK(lbbt_compare_growth(arms, n, LBBT_RELATION_GREATER, 0.95, NULL) == LBBT_VERDICT_SUPPORTS, "grows");
  /* 0 - 0 vs 2 - 0: diff -2, se^2 1/3, df 2, half width t(0.975, 2) sqrt(1/3) = 2.48: contains 0 */
  const double *shrink[4] = {z, z, a, z};
  lbbt_growth s;
  CHECK(lbbt_compare_growth(shrink, n, LBBT_RELATION_GREATER, 0.95, &s) == LBBT_VERDICT_WITHIN_NOISE, "noise");
  CHECK_CLOSE(s.diff, -2.0, 1e-12, 0, "shrink diff");
  CHECK_CLOSE(s.df, 2.0, 1e-12, 0, "shrink df");
  /* (0 - 11) - (0 - 0) = -11 with the same spread: [-13.5, -8.5], it shrinks */
  const double e[] = {10, 11, 12};
  const double *shrinks[4] = {z, e, z, z};
  CHECK(lbbt_compare_growth(shrinks, n, LBBT_RELATION_GREATER, 0.95, &s) == LBBT_VERDICT_CONTRADICTS, "shrinks");
  CHECK(s.hi < 0 && s.lo > -14, "interval [%g, %g]", s.lo, s.hi);
}

/* With c and d constant the growth interval is the two-arm Welch interval of a and b shifted
 * by c - d (an independent check against lbbt_welch_interval). */
static void growth_reduces_to_welch(void) {
  const double a[] = {10, 12, 15, 11}, b[] = {3, 7, 4}, c[] = {5, 5}, d[] = {1, 1, 1};
  const double *arms[4] = {a, b, c, d};
  const int n[4] = {4, 3, 2, 3};
  lbbt_growth g;
  lbbt_welch w;
  CHECK(lbbt_growth_interval(arms, n, 0.9, &g) == LBBT_OK, "growth");
  CHECK(lbbt_welch_interval(a, 4, b, 3, 0.9, &w) == LBBT_OK, "welch");
  CHECK_CLOSE(g.diff, w.diff - 4.0, 1e-12, 0, "diff");
  CHECK_CLOSE(g.se, w.se, 1e-12, 0, "se");
  CHECK_CLOSE(g.df, w.df, 1e-9, 0, "df");
  CHECK_CLOSE(g.lo, w.lo - 4.0, 1e-9, 0, "lo");
  CHECK_CLOSE(g.hi, w.hi - 4.0, 1e-9, 0, "hi");
}

static void growth_counts_runs(void) {
  const double a[] = {1, 2}, one[] = {1}, bad[] = {1, NAN};
  const int n[4] = {2, 2, 2, 2}, n1[4] = {2, 1, 2, 2}, n0[4] = {2, 2, 0, 2};
  const double *arms[4] = {a, a, a, a}, *arms1[4] = {a, one, a, a}, *armsbad[4] = {a, a, bad, a};
  lbbt_growth g;
  CHECK(lbbt_compare_growth(arms, n0, LBBT_RELATION_GREATER, 0.95, &g) == LBBT_VERDICT_NOT_RUN, "empty arm");
  CHECK(lbbt_compare_growth(arms1, n1, LBBT_RELATION_GREATER, 0.95, &g) == LBBT_VERDICT_TOO_FEW, "one seed");
  CHECK_CLOSE(g.diff, 0.5, 1e-12, 0, "one seed: point difference (1.5 - 1) - 0");
  CHECK(lbbt_compare_growth(armsbad, n, LBBT_RELATION_GREATER, 0.95, &g) == LBBT_VERDICT_TOO_FEW, "diverged run");
  CHECK(lbbt_growth_interval(arms1, n1, 0.95, &g) == LBBT_E_INPUT, "interval refuses one seed");
  lbbt_clear_error();
  CHECK(lbbt_growth_interval(arms, n, 1.5, &g) == LBBT_E_INPUT, "interval refuses level");
  lbbt_clear_error();
  CHECK(lbbt_compare_growth(arms, n, LBBT_RELATION_GREATER, 0.95, &g) == LBBT_VERDICT_WITHIN_NOISE, "no growth");
  CHECK(lbbt_compare_growth(arms, n, LBBT_RELATION_NOT_WORSE, 0.95, &g) == LBBT_VERDICT_SUPPORTS,
        "no growth, not-worse");
}

/* The per-claim answer of the summary table: every reading counted once, the phrase exact. */
static void control_tally(void) {
  char buf[128];
  lbbt_control_tally t = {0};
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf), "none"), "no controls: %s", buf);
  lbbt_control_tally_add(&t, LBBT_CONTROL_NO_EFFECT);
  lbbt_control_tally_add(&t, LBBT_CONTROL_NO_EFFECT);
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf), "no effect to attribute"), "no effect: %s", buf);
  memset(&t, 0, sizeof t);
  lbbt_control_tally_add(&t, LBBT_CONTROL_UNKNOWN);
  lbbt_control_tally_add(&t, LBBT_CONTROL_UNKNOWN);
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf), "not enough runs"), "missing: %s", buf);
  /* controls with runs that are within noise of both arms are not "missing runs" (Table 7) */
  memset(&t, 0, sizeof t);
  lbbt_control_tally_add(&t, LBBT_CONTROL_INCONCLUSIVE);
  lbbt_control_tally_add(&t, LBBT_CONTROL_INCONCLUSIVE);
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf), "inconclusive (each control within noise of both arms)"),
        "inconclusive: %s", buf);
  memset(&t, 0, sizeof t);
  lbbt_control_tally_add(&t, LBBT_CONTROL_UNKNOWN);
  lbbt_control_tally_add(&t, LBBT_CONTROL_INCONCLUSIVE);
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf),
                "inconclusive (each control within noise of both arms or without enough runs)"),
        "unread: %s", buf);
  memset(&t, 0, sizeof t);
  lbbt_control_tally_add(&t, LBBT_CONTROL_STATISTICS);
  lbbt_control_tally_add(&t, LBBT_CONTROL_EXCEEDS);
  lbbt_control_tally_add(&t, LBBT_CONTROL_STRUCTURE);
  CHECK(t.n == 3 && t.reproduce == 2 && t.not_reproduce == 1, "counts %d %d %d", t.n, t.reproduce, t.not_reproduce);
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf), "2 of 3 reproduce it"), "mixed: %s", buf);
  lbbt_control_tally_add(&t, LBBT_CONTROL_PARTIAL);
  lbbt_control_tally_add(&t, LBBT_CONTROL_UNKNOWN);
  lbbt_control_tally_add(&t, LBBT_CONTROL_NO_EFFECT);
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf), "2 of 6 reproduce it, 1 partly, 1 unread, 1 no effect"),
        "every kind: %s", buf);
  memset(&t, 0, sizeof t);
  lbbt_control_tally_add(&t, LBBT_CONTROL_STRUCTURE);
  CHECK(!strcmp(lbbt_control_tally_text(&t, buf, sizeof buf), "0 of 1 reproduce it"), "structure: %s", buf);
  char small[8];
  lbbt_control_tally_text(&t, small, sizeof small);
  CHECK(strlen(small) == sizeof small - 1, "truncated, terminated: '%s'", small);
}

TEST_MAIN_BEGIN("test_verdicts")
TEST_RUN(welch_equal_variances_df4);
TEST_RUN(welch_unequal_variances_fractional_df);
TEST_RUN(welch_one_arm_without_spread);
TEST_RUN(welch_no_spread_is_a_point);
TEST_RUN(welch_matches_student_df_when_balanced);
TEST_RUN(welch_other_level);
TEST_RUN(welch_refuses_bad_input);
TEST_RUN(verdict_rules);
TEST_RUN(compare_arms_counts_runs);
TEST_RUN(control_readings);
TEST_RUN(control_tally);
TEST_RUN(growth_by_hand);
TEST_RUN(growth_reduces_to_welch);
TEST_RUN(growth_counts_runs);
TEST_MAIN_END()
