/* Verdicts: each claim of the paper tested on the reproduced tables.
 *
 * paper-tables/claims.yaml lists the paper's claims once; each names a table, a metric (a
 * column group of the rendered table), the row the paper says is better, the baseline row,
 * the relation (greater | not-worse) and the control rows that tell why.  `lbbt verdicts`
 * reads the cells of those rows (the same join as `lbbt table`, core/src/report/table_data.h) and
 * writes results/verdicts[-tier].md: for each claim both arms (mean ± std, n), the
 * difference of means with its 95% Welch t interval over seeds, the verdict, what the
 * controls say about the cause, and the command that reproduces it.
 *
 * The statistics: arms a (claimed better) and b (baseline) with n_a, n_b >= 2 runs (seeds),
 * sample variances s_a^2, s_b^2:
 *   diff = mean_a - mean_b,  se^2 = s_a^2/n_a + s_b^2/n_b,
 *   df   = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1))   (Welch-Satterthwaite),
 *   interval = diff -+ t_{(1+level)/2, df} * se                      (GSL gsl_cdf_tdist_Pinv).
 * When both variances are 0 (every seed gave the same value) the interval is the point diff
 * and df is reported as n_a + n_b - 2.
 *
 * Verdict of an interval [lo, hi] on the difference:
 *   greater:   supports when lo > 0, contradicts when hi < 0, within noise otherwise;
 *   not-worse: contradicts only when hi < 0, supports otherwise (an interval containing 0 is
 *              what "matches" looks like; the report prints the interval, so how large a loss
 *              the seeds cannot exclude stays visible).
 * An arm without runs is "not run yet"; an arm with one run has no spread: "too few seeds". */
#ifndef LBBT_VERDICTS_H
#define LBBT_VERDICTS_H
#include <stddef.h>
#include <stdio.h>

#include "lbbt/status.h"

typedef enum { LBBT_RELATION_GREATER, LBBT_RELATION_NOT_WORSE } lbbt_relation;

typedef enum {
  LBBT_VERDICT_SUPPORTS,
  LBBT_VERDICT_CONTRADICTS,
  LBBT_VERDICT_WITHIN_NOISE,
  LBBT_VERDICT_TOO_FEW, /* an arm has a single run: no spread, no interval */
  LBBT_VERDICT_NOT_RUN  /* an arm has no run */
} lbbt_verdict;

/* "supports", "contradicts", "within noise", "too few seeds", "not run yet". */
LBBT_API const char *lbbt_verdict_name(lbbt_verdict v);
/* "greater" / "not-worse" <-> relation; parse returns 0 for other text. */
LBBT_API const char *lbbt_relation_name(lbbt_relation r);
LBBT_API int lbbt_relation_parse(const char *text, lbbt_relation *out);

typedef struct lbbt_welch {
  int n_a, n_b;
  double mean_a, mean_b;
  double sd_a, sd_b; /* sample std (n - 1); 0 for a single run */
  double diff;       /* mean_a - mean_b */
  double se;         /* standard error of diff */
  double df;         /* Welch-Satterthwaite degrees of freedom */
  double t;          /* t quantile at (1 + level) / 2 with df degrees of freedom */
  double lo, hi;     /* diff -+ t * se */
} lbbt_welch;

/* Welch t interval for mean(a) - mean(b) at `level` (e.g. 0.95).  LBBT_E_INPUT when an arm has
 * fewer than 2 values, a value is not finite, or level is not in (0, 1). */
LBBT_API lbbt_status lbbt_welch_interval(const double *a, int n_a, const double *b, int n_b, double level,
                                lbbt_welch *out);

/* The verdict of an interval [lo, hi] on (claimed - baseline) under `rel`. */
LBBT_API lbbt_verdict lbbt_verdict_decide(lbbt_relation rel, double lo, double hi);

/* Compare arm a (claimed better) with arm b (baseline): NOT_RUN when an arm is empty, TOO_FEW
 * when an arm has one value (w holds the means, n and a zero interval width), else the
 * Welch interval at `level` (in *w) and its verdict.  w may be NULL. */
LBBT_API lbbt_verdict lbbt_compare_arms(const double *a, int n_a, const double *b, int n_b, lbbt_relation rel,
                               double level, lbbt_welch *w);

/* The growth of an advantage between two settings: (mean_a - mean_b) - (mean_c - mean_d) from
 * four independent arms, e.g. Table 5's "does the language-weight advantage grow with size":
 * (language - scratch at the largest size) - (language - scratch at the smallest).  The Welch
 * interval generalised to a contrast of independent means (Satterthwaite 1946): with
 * v_i = s_i^2 / n_i,  se^2 = sum v_i,  df = se^4 / sum (v_i^2 / (n_i - 1)); when every variance
 * is 0 the interval is the point and df is reported as sum n_i - 4. */
typedef struct lbbt_growth {
  int n[4];
  double mean[4], sd[4];
  double adv_ab, adv_cd; /* mean_a - mean_b, mean_c - mean_d */
  double diff;           /* adv_ab - adv_cd */
  double se, df, t, lo, hi;
} lbbt_growth;

/* arms[i] holds n[i] values (i = a, b, c, d).  LBBT_E_INPUT when an arm has fewer than 2
 * values, a value is not finite, or level is not in (0, 1). */
LBBT_API lbbt_status lbbt_growth_interval(const double *const arms[4], const int n[4], double level,
                                          lbbt_growth *out);
/* NOT_RUN when an arm is empty, TOO_FEW when an arm has one value or a value is not finite
 * (g holds the means and diff), else the verdict of the interval under rel.  g may be NULL. */
LBBT_API lbbt_verdict lbbt_compare_growth(const double *const arms[4], const int n[4], lbbt_relation rel,
                                          double level, lbbt_growth *g);

/* What a control says about the cause of a claimed effect. */
typedef enum {
  LBBT_CONTROL_UNKNOWN,      /* a comparison lacks runs (no row, or one seed) */
  LBBT_CONTROL_NO_EFFECT,    /* the claim itself is not supported: nothing to attribute */
  LBBT_CONTROL_STATISTICS,   /* the control reproduces the effect */
  LBBT_CONTROL_EXCEEDS,      /* the control does better than the claimed arm */
  LBBT_CONTROL_PARTIAL,      /* the control lands between the arms */
  LBBT_CONTROL_STRUCTURE,    /* the control does not reproduce the effect */
  LBBT_CONTROL_INCONCLUSIVE  /* within noise of both arms */
} lbbt_control_reading;

/* A control row in place of the claimed arm (e.g. shuffled language weights vs scratch):
 *   claim               verdict of claimed vs baseline;
 *   claimed_vs_control  verdict (greater) of claimed - control;
 *   control_vs_baseline verdict (greater) of control - baseline. */
LBBT_API lbbt_control_reading lbbt_control_read_arm(lbbt_verdict claim, lbbt_verdict claimed_vs_control,
                                           lbbt_verdict control_vs_baseline);
/* A control pair: both of the claim's rows rerun from the control init (e.g. first-K vs all
 * layers from shuffled weights); control_pair is the verdict of the same relation on them. */
LBBT_API lbbt_control_reading lbbt_control_read_pair(lbbt_verdict claim, lbbt_verdict control_pair);
/* One sentence ("the control reproduces the effect: ..."). */
LBBT_API const char *lbbt_control_reading_text(lbbt_control_reading r);

/* A claim's controls read together, for the one-line answer "do the controls reproduce the
 * effect?" that the summary table of the report gives per claim.  Each reading counts once:
 * reproduce (STATISTICS or EXCEEDS: the control's weight statistics suffice), partial,
 * not_reproduce (STRUCTURE), unread (UNKNOWN or INCONCLUSIVE) and no_effect (NO_EFFECT);
 * missing counts the unread ones that lack runs (UNKNOWN), so that a control within noise of
 * both arms is not reported as a control without runs. */
typedef struct lbbt_control_tally {
  int n, reproduce, partial, not_reproduce, unread, no_effect;
  int missing;
} lbbt_control_tally;
LBBT_API void lbbt_control_tally_add(lbbt_control_tally *t, lbbt_control_reading r);
/* The tally as a short phrase written into buf (always NUL-terminated; returns buf):
 *   "none" (no controls), "no effect to attribute" (every reading is NO_EFFECT),
 *   "not enough runs" (every reading lacks runs), "inconclusive" (every reading is unread,
 *   some within noise of both arms), else "R of N reproduce it" followed by
 *   ", P partly", ", U unread", ", E no effect" for the counts that are not 0. */
LBBT_API const char *lbbt_control_tally_text(const lbbt_control_tally *t, char *buf, size_t size);

typedef struct lbbt_verdicts_options {
  const char *tier;        /* smoke | cpu | paper (default cpu) */
  const char *claims_path; /* default "paper-tables/claims.yaml" */
  const char *paper_dir;   /* default "paper-tables" */
  const char *results_dir; /* where the tables' results are (default "results") */
  const char *out_dir;     /* default: results_dir, else "results" */
} lbbt_verdicts_options;

/* Test every claim and write out_dir/verdicts[-tier].md (no suffix for cpu); also print it
 * to `echo` when not NULL.  A table without results gives "not run yet" verdicts, not an
 * error; a malformed claims file or a claim naming an unknown table, row or metric is
 * LBBT_E_INPUT with file:line:col. */
LBBT_API lbbt_status lbbt_verdicts_render(const lbbt_verdicts_options *o, FILE *echo);

/* The distinct table numbers the claims use, in the order first used (for `make verdicts`).
 * claims_path NULL = "paper-tables/claims.yaml"; at most max are stored, *n counts them. */
LBBT_API lbbt_status lbbt_verdicts_tables(const char *claims_path, int *tables, int max, int *n);

#endif
