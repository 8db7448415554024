/* The statistics of a verdict: Welch t interval, the verdict of an interval, and what a
 * control says about the cause.  See verdicts.h for the formulas and rules. */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lbbt/verdicts.h"

const char *lbbt_verdict_name(lbbt_verdict v) {
  switch (v) {
  case LBBT_VERDICT_SUPPORTS: return "supports";
  case LBBT_VERDICT_CONTRADICTS: return "contradicts";
  case LBBT_VERDICT_WITHIN_NOISE: return "within noise";
  case LBBT_VERDICT_TOO_FEW: return "too few seeds";
  case LBBT_VERDICT_NOT_RUN: return "not run yet";
  }
  return "?";
}

const char *lbbt_relation_name(lbbt_relation r) { return r == LBBT_RELATION_NOT_WORSE ? "not-worse" : "greater"; }

int lbbt_relation_parse(const char *text, lbbt_relation *out) {
  if (!text) return 0;
  if (!strcmp(text, "greater")) *out = LBBT_RELATION_GREATER;
  else if (!strcmp(text, "not-worse")) *out = LBBT_RELATION_NOT_WORSE;
  else return 0;
  return 1;
}

static void mean_sd(const double *x, int n, double *mean, double *sd) {
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i];
  *mean = s / n;
  double v = 0;
  for (int i = 0; i < n; i++) v += (x[i] - *mean) * (x[i] - *mean);
  *sd = n > 1 ? sqrt(v / (n - 1)) : 0.0;
}

lbbt_status lbbt_welch_interval(const double *a, int n_a, const double *b, int n_b, double level,
                                lbbt_welch *out) {
  memset(out, 0, sizeof *out);
  if (n_a < 2 || n_b < 2)
    return lbbt_fail(LBBT_E_INPUT, "Welch interval: each arm needs at least 2 values (seeds), got %d and %d", n_a, n_b);
  if (!(level > 0 && level < 1))
    return lbbt_fail(LBBT_E_INPUT, "Welch interval: level must lie in (0, 1), got %g", level);
  for (int i = 0; i < n_a + n_b; i++) {
    double x = i < n_a ? a[i] : b[i - n_a];
    if (!isfinite(x))
      return lbbt_fail(LBBT_E_INPUT, "Welch interval: value %d of arm %c is not finite (%g)",
                       i < n_a ? i : i - n_a, i < n_a ? 'a' : 'b', x);
  }
  out->n_a = n_a;
  out->n_b = n_b;
  mean_sd(a, n_a, &out->mean_a, &out->sd_a);
  mean_sd(b, n_b, &out->mean_b, &out->sd_b);
  out->diff = out->mean_a - out->mean_b;
  double va = out->sd_a * out->sd_a / n_a, vb = out->sd_b * out->sd_b / n_b;
  out->se = sqrt(va + vb);
  if (va + vb > 0)
    out->df = (va + vb) * (va + vb) / (va * va / (n_a - 1) + vb * vb / (n_b - 1));
  else
    out->df = n_a + n_b - 2; /* no spread at all: the interval is the point, df only reported */
  out->t = gsl_cdf_tdist_Pinv(0.5 + level / 2, out->df);
  out->lo = out->diff - out->t * out->se;
  out->hi = out->diff + out->t * out->se;
  return LBBT_OK;
}

lbbt_verdict lbbt_verdict_decide(lbbt_relation rel, double lo, double hi) {
  if (hi < 0) return LBBT_VERDICT_CONTRADICTS;
  if (rel == LBBT_RELATION_NOT_WORSE) return LBBT_VERDICT_SUPPORTS;
  return lo > 0 ? LBBT_VERDICT_SUPPORTS : LBBT_VERDICT_WITHIN_NOISE;
}

lbbt_verdict lbbt_compare_arms(const double *a, int n_a, const double *b, int n_b, lbbt_relation rel,
                               double level, lbbt_welch *w) {
  lbbt_welch local;
  if (!w) w = &local;
  memset(w, 0, sizeof *w);
  w->n_a = n_a;
  w->n_b = n_b;
  if (n_a < 1 || n_b < 1) return LBBT_VERDICT_NOT_RUN;
  if (n_a < 2 || n_b < 2) {
    mean_sd(a, n_a, &w->mean_a, &w->sd_a);
    mean_sd(b, n_b, &w->mean_b, &w->sd_b);
    w->diff = w->lo = w->hi = w->mean_a - w->mean_b;
    return LBBT_VERDICT_TOO_FEW;
  }
  if (lbbt_welch_interval(a, n_a, b, n_b, level, w) != LBBT_OK) {
    /* non-finite values (a diverged run): no interval can be drawn from them */
    lbbt_clear_error();
    return LBBT_VERDICT_TOO_FEW;
  }
  return lbbt_verdict_decide(rel, w->lo, w->hi);
}

lbbt_status lbbt_growth_interval(const double *const arms[4], const int n[4], double level, lbbt_growth *out) {
  memset(out, 0, sizeof *out);
  if (!(level > 0 && level < 1))
    return lbbt_fail(LBBT_E_INPUT, "growth interval: level must lie in (0, 1), got %g", level);
  double var = 0, denom = 0;
  int n_all = 0;
  for (int i = 0; i < 4; i++) {
    if (n[i] < 2)
      return lbbt_fail(LBBT_E_INPUT, "growth interval: arm %c needs at least 2 values (seeds), got %d", 'a' + i,
                       n[i]);
    for (int k = 0; k < n[i]; k++)
      if (!isfinite(arms[i][k]))
        return lbbt_fail(LBBT_E_INPUT, "growth interval: value %d of arm %c is not finite (%g)", k, 'a' + i,
                         arms[i][k]);
    out->n[i] = n[i];
    mean_sd(arms[i], n[i], &out->mean[i], &out->sd[i]);
    double v = out->sd[i] * out->sd[i] / n[i];
    var += v;
    denom += v * v / (n[i] - 1);
    n_all += n[i];
  }
  out->adv_ab = out->mean[0] - out->mean[1];
  out->adv_cd = out->mean[2] - out->mean[3];
  out->diff = out->adv_ab - out->adv_cd;
  out->se = sqrt(var);
  out->df = var > 0 ? var * var / denom : n_all - 4;
  out->t = gsl_cdf_tdist_Pinv(0.5 + level / 2, out->df);
  out->lo = out->diff - out->t * out->se;
  out->hi = out->diff + out->t * out->se;
  return LBBT_OK;
}

lbbt_verdict lbbt_compare_growth(const double *const arms[4], const int n[4], lbbt_relation rel, double level,
                                 lbbt_growth *g) {
  lbbt_growth local;
  if (!g) g = &local;
  memset(g, 0, sizeof *g);
  int few = 0;
  for (int i = 0; i < 4; i++) {
    if (n[i] < 1) return LBBT_VERDICT_NOT_RUN;
    few |= n[i] < 2;
  }
  if (few || lbbt_growth_interval(arms, n, level, g) != LBBT_OK) {
    if (!few) lbbt_clear_error(); /* a non-finite value (a diverged run): no interval */
    for (int i = 0; i < 4; i++) {
      g->n[i] = n[i];
      mean_sd(arms[i], n[i], &g->mean[i], &g->sd[i]);
    }
    g->adv_ab = g->mean[0] - g->mean[1];
    g->adv_cd = g->mean[2] - g->mean[3];
    g->diff = g->lo = g->hi = g->adv_ab - g->adv_cd;
    return LBBT_VERDICT_TOO_FEW;
  }
  return lbbt_verdict_decide(rel, g->lo, g->hi);
}

static int lacks_runs(lbbt_verdict v) { return v == LBBT_VERDICT_TOO_FEW || v == LBBT_VERDICT_NOT_RUN; }

lbbt_control_reading lbbt_control_read_arm(lbbt_verdict claim, lbbt_verdict claimed_vs_control,
                                           lbbt_verdict control_vs_baseline) {
  if (lacks_runs(claim)) return LBBT_CONTROL_UNKNOWN;
  if (claim != LBBT_VERDICT_SUPPORTS) return LBBT_CONTROL_NO_EFFECT;
  if (lacks_runs(claimed_vs_control) || lacks_runs(control_vs_baseline)) return LBBT_CONTROL_UNKNOWN;
  int beats_baseline = control_vs_baseline == LBBT_VERDICT_SUPPORTS;
  switch (claimed_vs_control) {
  case LBBT_VERDICT_CONTRADICTS: return LBBT_CONTROL_EXCEEDS;
  case LBBT_VERDICT_WITHIN_NOISE: return beats_baseline ? LBBT_CONTROL_STATISTICS : LBBT_CONTROL_INCONCLUSIVE;
  default: return beats_baseline ? LBBT_CONTROL_PARTIAL : LBBT_CONTROL_STRUCTURE;
  }
}

lbbt_control_reading lbbt_control_read_pair(lbbt_verdict claim, lbbt_verdict control_pair) {
  if (lacks_runs(claim)) return LBBT_CONTROL_UNKNOWN;
  if (claim != LBBT_VERDICT_SUPPORTS) return LBBT_CONTROL_NO_EFFECT;
  if (lacks_runs(control_pair)) return LBBT_CONTROL_UNKNOWN;
  return control_pair == LBBT_VERDICT_SUPPORTS ? LBBT_CONTROL_STATISTICS : LBBT_CONTROL_STRUCTURE;
}

const char *lbbt_control_reading_text(lbbt_control_reading r) {
  switch (r) {
  case LBBT_CONTROL_UNKNOWN:
    return "not enough runs to read this control (each row needs at least 2 seeds)";
  case LBBT_CONTROL_NO_EFFECT:
    return "the claim itself is not supported here, so there is no effect to attribute";
  case LBBT_CONTROL_STATISTICS:
    return "the control reproduces the effect: it follows the weight statistics this control keeps, not the "
           "language structure";
  case LBBT_CONTROL_EXCEEDS:
    return "the control does better than the language weights: the statistics it keeps suffice, the language "
           "structure adds nothing here";
  case LBBT_CONTROL_PARTIAL:
    return "the control recovers part of the effect: the statistics it keeps explain some of it, the language "
           "structure the rest";
  case LBBT_CONTROL_STRUCTURE:
    return "the control does not reproduce the effect: it needs the language structure this control destroys";
  case LBBT_CONTROL_INCONCLUSIVE:
    return "the control is within noise of both arms: it cannot tell statistics from structure here";
  }
  return "?";
}

void lbbt_control_tally_add(lbbt_control_tally *t, lbbt_control_reading r) {
  t->n++;
  switch (r) {
  case LBBT_CONTROL_STATISTICS:
  case LBBT_CONTROL_EXCEEDS: t->reproduce++; return;
  case LBBT_CONTROL_PARTIAL: t->partial++; return;
  case LBBT_CONTROL_STRUCTURE: t->not_reproduce++; return;
  case LBBT_CONTROL_NO_EFFECT: t->no_effect++; return;
  case LBBT_CONTROL_UNKNOWN: t->missing++; t->unread++; return;
  case LBBT_CONTROL_INCONCLUSIVE: t->unread++; return;
  }
  t->unread++;
}

const char *lbbt_control_tally_text(const lbbt_control_tally *t, char *buf, size_t size) {
  if (size == 0) return buf;
  if (t->n == 0) {
    snprintf(buf, size, "none");
    return buf;
  }
  if (t->no_effect == t->n) {
    snprintf(buf, size, "no effect to attribute");
    return buf;
  }
  if (t->missing == t->n) {
    snprintf(buf, size, "not enough runs");
    return buf;
  }
  if (t->unread == t->n) {
    snprintf(buf, size, "inconclusive (each control within noise of both arms%s)",
             t->missing ? " or without enough runs" : "");
    return buf;
  }
  snprintf(buf, size, "%d of %d reproduce it", t->reproduce, t->n);
  const int counts[] = {t->partial, t->unread, t->no_effect};
  const char *const what[] = {"partly", "unread", "no effect"};
  for (int i = 0; i < 3; i++) {
    size_t at = strlen(buf); /* snprintf truncates, so at < size */
    if (counts[i]) snprintf(buf + at, size - at, ", %d %s", counts[i], what[i]);
  }
  return buf;
}
