/* `lbbt model PATH`: per-layer parameter counts and weight statistics. */
#include <math.h>
#include <stdio.h>

#include "lbbt/model.h"

/* Statistics of one tensor, in double. */
typedef struct weight_stats {
  double mean, std, max_abs, kurtosis; /* excess kurtosis: m4/m2^2 - 3 */
  int64_t outliers;                    /* |w - mean| > 6 std */
} weight_stats;

static weight_stats tensor_stats(const lbbt_tensor *t) {
  weight_stats s = {0};
  double sum = 0;
  for (int64_t i = 0; i < t->numel; i++) {
    sum += t->data[i];
    double a = fabs(t->data[i]);
    /* NaN compares false: without the isnan an all-NaN tensor showed max|w| 0 */
    if (a > s.max_abs || isnan(a)) s.max_abs = isnan(s.max_abs) ? s.max_abs : a;
  }
  s.mean = sum / (double)t->numel;
  double m2 = 0, m4 = 0;
  for (int64_t i = 0; i < t->numel; i++) {
    double d = t->data[i] - s.mean, d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= (double)t->numel;
  m4 /= (double)t->numel;
  s.std = sqrt(m2);
  s.kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : 0.0;
  for (int64_t i = 0; i < t->numel; i++)
    if (fabs(t->data[i] - s.mean) > 6.0 * s.std && s.std > 0) s.outliers++;
  return s;
}

void lbbt_model_describe(const lbbt_model *m, void *fp) {
  FILE *f = fp;
  fprintf(f, "parameters: %lld total\n", (long long)lbbt_model_numel(m, 0));
  /* per-layer counts: embed, blocks 0..L-1, head */
  int64_t embed = 0, head = 0;
  for (int i = 0; i < m->n_params; i++) {
    if (m->params[i].part == LBBT_PART_EMBED) embed += m->params[i].t->numel;
    if (m->params[i].part == LBBT_PART_HEAD) head += m->params[i].t->numel;
  }
  fprintf(f, "  %-10s %12lld\n", "embed", (long long)embed);
  for (int L = 0; L < m->n_layers; L++) {
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
      if (m->params[i].part == LBBT_PART_BLOCK && m->params[i].layer == L) n += m->params[i].t->numel;
    fprintf(f, "  block %-4d %12lld\n", L, (long long)n);
  }
  fprintf(f, "  %-10s %12lld\n", "head/norm", (long long)head);
  fprintf(f, "\n%-48s %-18s %10s %10s %10s %9s %8s\n", "tensor", "shape", "mean", "std", "max|w|",
          "kurtosis", ">6std");
  for (int i = 0; i < m->n_params; i++) {
    const lbbt_param *p = &m->params[i];
    char shape[64];
    weight_stats s = tensor_stats(p->t);
    fprintf(f, "%-48s %-18s %10.4g %10.4g %10.4g %9.3g %8lld\n", p->name,
            lbbt_shape_str(p->t, shape, sizeof shape), s.mean, s.std, s.max_abs, s.kurtosis,
            (long long)s.outliers);
  }
}
