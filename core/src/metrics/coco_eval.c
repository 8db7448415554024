/* COCO box evaluation, step for step as pycocotools' COCOeval (evaluate, evaluateImg,
 * accumulate, summarize) computes it; the contract is in lbbt/coco_eval.h.  The structure
 * differs (per category: IoUs once per image, then every area range; matches held as bit
 * masks over the 10 IoU thresholds) but every comparison, tie rule and floating-point
 * expression is COCOeval's:
 *   - IoU: maskApi.c bbIou in double, crowd -> divide by the detection's area;
 *   - thresholds: numpy.linspace's values (i * step + start, the last one exact);
 *   - sorting: numpy's stable mergesort on -score (ties keep their order);
 *   - precision tp / (fp + tp + numpy.spacing(1)), recall tp / npig. */
#include "lbbt/coco_eval.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LBBT_COCO_N_IOU <= 16, "match masks are 16 bits");

lbbt_coco_params lbbt_coco_params_default(double canvas_side) {
  double s = canvas_side > 0 ? (canvas_side / 640.0) * (canvas_side / 640.0) : 1.0;
  lbbt_coco_params p = {32.0 * 32.0 * s, 96.0 * 96.0 * s, 1e5 * 1e5, {1, 10, 100}};
  return p;
}

const char *lbbt_coco_stat_name(lbbt_coco_stat s) {
  static const char *names[LBBT_COCO_N_STATS] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                                 "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  return (int)s >= 0 && (int)s < LBBT_COCO_N_STATS ? names[s] : "?";
}

void lbbt_coco_eval_free(lbbt_coco_eval *e) {
  if (!e) return;
  free(e->category_ids);
  free(e->precision);
  free(e->recall);
  free(e);
}

/* numpy.linspace(start, stop, num): y[i] = i * ((stop - start) / (num - 1)) + start, then
 * y[num-1] = stop. */
static void linspace(double start, double stop, int num, double *y) {
  double step = (stop - start) / (double)(num - 1);
  for (int i = 0; i < num; i++) {
    double v = (double)i * step;
    y[i] = v + start;
  }
  y[num - 1] = stop;
}

/* ---- small helpers ---------------------------------------------------------------------- */
static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Index of id in sorted ids[n], -1 when absent. */
static int64_t find_id(const int64_t *ids, int64_t n, int64_t id) {
  const int64_t *p = bsearch(&id, ids, (size_t)n, sizeof *ids, cmp_i64);
  return p ? p - ids : -1;
}

/* Sorted copy of ids[n]; a duplicate is LBBT_E_INPUT naming `what`. */
static lbbt_status sorted_ids(const int64_t *ids, int64_t n, const char *what, int64_t **out) {
  *out = malloc((size_t)(n > 0 ? n : 1) * sizeof **out);
  if (!*out) return lbbt_fail(LBBT_E_NOMEM, "coco_evaluate: out of memory");
  if (n) memcpy(*out, ids, (size_t)n * sizeof **out);
  qsort(*out, (size_t)n, sizeof **out, cmp_i64);
  for (int64_t i = 1; i < n; i++)
    if ((*out)[i] == (*out)[i - 1])
      return lbbt_fail(LBBT_E_INPUT, "coco_evaluate: %s id %lld listed twice", what,
                       (long long)(*out)[i]);
  return LBBT_OK;
}

/* Stable sort of idx[n] by key[idx] descending (numpy argsort(-key, kind='mergesort')). */
static void stable_sort_desc(const double *key, int64_t *idx, int64_t n, int64_t *tmp) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int64_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = key[idx[j]] > key[idx[i]] ? idx[j++] : idx[i++];
      while (i < mid) tmp[k++] = idx[i++];
      while (j < hi) tmp[k++] = idx[j++];
    }
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
  }
}

/* maskApi.c bbIou for one pair of xywh boxes. */
static double box_iou(const double *d, const double *g, int crowd) {
  double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
  if (w <= 0) return 0;
  double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
  if (h <= 0) return 0;
  double i = w * h, da = d[2] * d[3], u = crowd ? da : da + g[2] * g[3] - i;
  return i / u;
}

/* One detection after evaluateImg: bit t of `matched` / `ignored` = dtMatches[t] != 0 /
 * dtIgnore[t] for IoU threshold t. */
typedef struct det_result {
  double score;
  uint16_t matched, ignored;
} det_result;

/* Results of one category: per area range, every image's detections (cut to the largest
 * maxDets) in a row, image i's at off[a][i] .. + cnt[a][i]. */
typedef struct category_results {
  det_result *res[LBBT_COCO_N_AREA];
  int64_t *off[LBBT_COCO_N_AREA], *cnt[LBBT_COCO_N_AREA];
  int64_t n[LBBT_COCO_N_AREA], npig[LBBT_COCO_N_AREA];
  unsigned char *present; /* [I]: evaluateImg returned a result (gt or dt present) */
} category_results;

typedef struct evaluator {
  const lbbt_coco_gt *gt;
  const lbbt_coco_det *det;
  int64_t I, K;
  double area_rng[LBBT_COCO_N_AREA][2];
  int max_det[LBBT_COCO_N_MAXDET];
  double iou_thrs[LBBT_COCO_N_IOU], rec_thrs[LBBT_COCO_N_REC];
  /* ground truths / detections grouped by (category, image), input order kept */
  int64_t *gt_start, *gt_idx, *dt_start, *dt_idx;
  /* scratch sized by the largest group */
  int64_t *order, *tmp, *gt_order;
  double *ious, *keys;
  unsigned char *gt_ig, *gt_crowd;
  uint16_t *gt_matched;
} evaluator;

/* Group item indices by key (counting sort, stable): start[n_keys + 1], idx[n_items];
 * key[i] < 0 items are left out. */
static lbbt_status group_by(const int64_t *key, int64_t n_items, int64_t n_keys, int64_t **start,
                            int64_t **idx) {
  *start = calloc((size_t)n_keys + 1, sizeof **start);
  *idx = malloc((size_t)(n_items > 0 ? n_items : 1) * sizeof **idx);
  if (!*start || !*idx) return lbbt_fail(LBBT_E_NOMEM, "coco_evaluate: out of memory");
  for (int64_t i = 0; i < n_items; i++)
    if (key[i] >= 0) (*start)[key[i] + 1]++;
  for (int64_t k = 0; k < n_keys; k++) (*start)[k + 1] += (*start)[k];
  int64_t *fill = malloc((size_t)(n_keys > 0 ? n_keys : 1) * sizeof *fill);
  if (!fill) return lbbt_fail(LBBT_E_NOMEM, "coco_evaluate: out of memory");
  memcpy(fill, *start, (size_t)n_keys * sizeof *fill);
  for (int64_t i = 0; i < n_items; i++)
    if (key[i] >= 0) (*idx)[fill[key[i]]++] = i;
  free(fill);
  return LBBT_OK;
}

/* evaluateImg for image i of category k, every area range; appends to r. */
static void evaluate_image(evaluator *ev, int64_t k, int64_t i, category_results *r) {
  int64_t key = k * ev->I + i;
  const int64_t *gi = ev->gt_idx + ev->gt_start[key], *di = ev->dt_idx + ev->dt_start[key];
  int64_t G = ev->gt_start[key + 1] - ev->gt_start[key];
  int64_t D = ev->dt_start[key + 1] - ev->dt_start[key];
  for (int a = 0; a < LBBT_COCO_N_AREA; a++) {
    r->off[a][i] = r->n[a];
    r->cnt[a][i] = 0;
  }
  if (G == 0 && D == 0) return; /* evaluateImg returns None */
  r->present[i] = 1;
  /* detections by score, stable, cut to the largest maxDets */
  for (int64_t d = 0; d < D; d++) {
    ev->order[d] = d;
    ev->keys[d] = ev->det[di[d]].score;
  }
  stable_sort_desc(ev->keys, ev->order, D, ev->tmp);
  if (D > ev->max_det[LBBT_COCO_N_MAXDET - 1]) D = ev->max_det[LBBT_COCO_N_MAXDET - 1];
  /* ious[d, g] in input gt order */
  for (int64_t g = 0; g < G; g++) ev->gt_crowd[g] = (unsigned char)(ev->gt[gi[g]].iscrowd != 0);
  for (int64_t d = 0; d < D; d++)
    for (int64_t g = 0; g < G; g++)
      ev->ious[d * G + g] = box_iou(ev->det[di[ev->order[d]]].bbox, ev->gt[gi[g]].bbox,
                                    ev->gt_crowd[g]);
  for (int a = 0; a < LBBT_COCO_N_AREA; a++) {
    double lo = ev->area_rng[a][0], hi = ev->area_rng[a][1];
    /* ignore flags; gt order: not ignored first, stable */
    int64_t n_keep = 0;
    for (int64_t g = 0; g < G; g++) {
      const lbbt_coco_gt *x = &ev->gt[gi[g]];
      double area = x->area >= 0 ? x->area : x->bbox[2] * x->bbox[3];
      ev->gt_ig[g] = (unsigned char)(x->iscrowd || area < lo || area > hi);
      if (!ev->gt_ig[g]) ev->gt_order[n_keep++] = g;
    }
    r->npig[a] += n_keep;
    for (int64_t g = 0, j = n_keep; g < G; g++)
      if (ev->gt_ig[g]) ev->gt_order[j++] = g;
    memset(ev->gt_matched, 0, (size_t)G * sizeof *ev->gt_matched);
    det_result *out = r->res[a] + r->n[a];
    for (int64_t d = 0; d < D; d++) {
      out[d].score = ev->det[di[ev->order[d]]].score;
      out[d].matched = out[d].ignored = 0;
      for (int t = 0; t < LBBT_COCO_N_IOU && G > 0; t++) {
        double iou = fmin(ev->iou_thrs[t], 1 - 1e-10);
        int64_t m = -1;
        for (int64_t j = 0; j < G; j++) {
          int64_t g = ev->gt_order[j];
          if ((ev->gt_matched[g] >> t & 1u) && !ev->gt_crowd[g]) continue;
          if (m > -1 && !ev->gt_ig[m] && ev->gt_ig[g]) break;
          if (ev->ious[d * G + g] < iou) continue;
          iou = ev->ious[d * G + g];
          m = g;
        }
        if (m == -1) continue;
        out[d].matched |= (uint16_t)(1u << t);
        if (ev->gt_ig[m]) out[d].ignored |= (uint16_t)(1u << t);
        ev->gt_matched[m] |= (uint16_t)(1u << t);
      }
      const double *b = ev->det[di[ev->order[d]]].bbox;
      double area = b[2] * b[3];
      if (area < lo || area > hi) out[d].ignored |= (uint16_t)~out[d].matched;
    }
    r->cnt[a][i] = D;
    r->n[a] += D;
  }
}

/* accumulate for category k, area a, maxDets index m. */
static void accumulate(evaluator *ev, const category_results *r, int64_t k, int a, int m,
                       lbbt_coco_eval *e) {
  int64_t I = ev->I, K = ev->K, A = LBBT_COCO_N_AREA, M = LBBT_COCO_N_MAXDET;
  int any = 0;
  for (int64_t i = 0; i < I; i++) any |= r->present[i];
  if (!any || r->npig[a] == 0) return;
  /* each image's first maxDets detections, images in id order, then a stable score sort */
  int64_t n = 0, max_det = ev->max_det[m];
  for (int64_t i = 0; i < I; i++) {
    int64_t c = r->cnt[a][i] < max_det ? r->cnt[a][i] : max_det;
    for (int64_t j = 0; j < c; j++) {
      ev->order[n] = r->off[a][i] + j;
      n++;
    }
  }
  for (int64_t j = 0; j < n; j++) ev->keys[ev->order[j]] = r->res[a][ev->order[j]].score;
  stable_sort_desc(ev->keys, ev->order, n, ev->tmp);
  double npig = (double)r->npig[a];
  double *pr = (double *)ev->tmp, *rc = ev->ious; /* scratch of n doubles each */
  for (int t = 0; t < LBBT_COCO_N_IOU; t++) {
    double tp = 0, fp = 0;
    for (int64_t j = 0; j < n; j++) {
      const det_result *d = &r->res[a][ev->order[j]];
      int matched = d->matched >> t & 1u, ignored = d->ignored >> t & 1u;
      if (!ignored) {
        if (matched) tp += 1;
        else fp += 1;
      }
      rc[j] = tp / npig;
      pr[j] = tp / (fp + tp + DBL_EPSILON);
    }
    e->recall[((t * K + k) * A + a) * M + m] = n ? rc[n - 1] : 0;
    for (int64_t j = n - 1; j > 0; j--)
      if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
    int64_t j = 0;
    for (int q = 0; q < LBBT_COCO_N_REC; q++) {
      while (j < n && rc[j] < ev->rec_thrs[q]) j++; /* searchsorted(rc, thr, 'left') */
      double v = j < n ? pr[j] : 0.0;
      e->precision[(((int64_t)t * LBBT_COCO_N_REC + q) * K + k) * A * M + a * M + m] = v;
    }
  }
}

/* summarize: mean of the entries > -1 of precision (ap) or recall at one IoU threshold
 * (t >= 0) or all, area a, maxDets index m. */
static double summarize(const lbbt_coco_eval *e, int ap, int t, int a, int m) {
  int64_t K = e->n_cat, A = LBBT_COCO_N_AREA, M = LBBT_COCO_N_MAXDET;
  double sum = 0;
  int64_t cnt = 0;
  for (int ti = 0; ti < LBBT_COCO_N_IOU; ti++) {
    if (t >= 0 && ti != t) continue;
    for (int q = 0; q < (ap ? LBBT_COCO_N_REC : 1); q++)
      for (int64_t k = 0; k < K; k++) {
        double v = ap ? e->precision[(((int64_t)ti * LBBT_COCO_N_REC + q) * K + k) * A * M + a * M + m]
                      : e->recall[((ti * K + k) * A + a) * M + m];
        if (v > -1) {
          sum += v;
          cnt++;
        }
      }
  }
  return cnt ? sum / (double)cnt : -1.0;
}

static lbbt_status check_det(const lbbt_coco_det *d, int64_t j) {
  if (!(isfinite(d->score) && isfinite(d->bbox[0]) && isfinite(d->bbox[1]) &&
        isfinite(d->bbox[2]) && isfinite(d->bbox[3])))
    return lbbt_fail(LBBT_E_INPUT, "coco_evaluate: detection %lld (image %lld) has a non-finite "
                     "score or box", (long long)j, (long long)d->image_id);
  return LBBT_OK;
}

lbbt_status lbbt_coco_evaluate(const lbbt_coco_gt *gt, int64_t n_gt, const lbbt_coco_det *det,
                               int64_t n_det, const int64_t *image_ids, int64_t n_images,
                               const int64_t *category_ids, int64_t n_cat,
                               const lbbt_coco_params *p, lbbt_coco_eval **out) {
  *out = NULL;
  lbbt_coco_params def = lbbt_coco_params_default(0);
  if (!p) p = &def;
  if (n_gt < 0 || n_det < 0 || n_images < 0 || n_cat < 0)
    return lbbt_fail(LBBT_E_INPUT, "coco_evaluate: negative count");
  for (int m = 0; m < LBBT_COCO_N_MAXDET; m++)
    if (p->max_dets[m] < 1 || (m && p->max_dets[m] < p->max_dets[m - 1]))
      return lbbt_fail(LBBT_E_INPUT, "coco_evaluate: maxDets %d, %d, %d must be >= 1 and "
                       "increasing", p->max_dets[0], p->max_dets[1], p->max_dets[2]);
  if (!(p->small_max >= 0 && p->medium_max >= p->small_max && p->area_max >= p->medium_max))
    return lbbt_fail(LBBT_E_INPUT, "coco_evaluate: area bounds %g, %g, %g are not increasing",
                     p->small_max, p->medium_max, p->area_max);
  evaluator ev;
  memset(&ev, 0, sizeof ev);
  ev.gt = gt, ev.det = det, ev.I = n_images, ev.K = n_cat;
  double rng[LBBT_COCO_N_AREA][2] = {{0, p->area_max}, {0, p->small_max},
                                     {p->small_max, p->medium_max}, {p->medium_max, p->area_max}};
  memcpy(ev.area_rng, rng, sizeof rng);
  memcpy(ev.max_det, p->max_dets, sizeof ev.max_det);
  linspace(0.5, 0.95, LBBT_COCO_N_IOU, ev.iou_thrs);
  linspace(0.0, 1.0, LBBT_COCO_N_REC, ev.rec_thrs);

  lbbt_status st = LBBT_OK;
  int64_t *imgs = NULL, *gt_key = NULL, *dt_key = NULL;
  category_results r;
  memset(&r, 0, sizeof r);
  lbbt_coco_eval *e = calloc(1, sizeof *e);
  if (!e) return lbbt_fail(LBBT_E_NOMEM, "coco_evaluate: out of memory");
  e->n_cat = n_cat;
  memcpy(e->iou_thrs, ev.iou_thrs, sizeof e->iou_thrs);
  memcpy(e->rec_thrs, ev.rec_thrs, sizeof e->rec_thrs);
  LBBT_TRY_GOTO(st, sorted_ids(image_ids, n_images, "image", &imgs), done);
  LBBT_TRY_GOTO(st, sorted_ids(category_ids, n_cat, "category", &e->category_ids), done);
  int64_t T = LBBT_COCO_N_IOU, R = LBBT_COCO_N_REC, A = LBBT_COCO_N_AREA, M = LBBT_COCO_N_MAXDET;
  int64_t n_prec = T * R * n_cat * A * M, n_rec = T * n_cat * A * M;
  e->precision = malloc((size_t)(n_prec > 0 ? n_prec : 1) * sizeof *e->precision);
  e->recall = malloc((size_t)(n_rec > 0 ? n_rec : 1) * sizeof *e->recall);
  gt_key = malloc((size_t)(n_gt > 0 ? n_gt : 1) * sizeof *gt_key);
  dt_key = malloc((size_t)(n_det > 0 ? n_det : 1) * sizeof *dt_key);
  if (!e->precision || !e->recall || !gt_key || !dt_key) {
    st = lbbt_fail(LBBT_E_NOMEM, "coco_evaluate: out of memory");
    goto done;
  }
  for (int64_t j = 0; j < n_prec; j++) e->precision[j] = -1;
  for (int64_t j = 0; j < n_rec; j++) e->recall[j] = -1;
  /* (category, image) of every ground truth and detection */
  for (int64_t j = 0; j < n_gt; j++) {
    int64_t i = find_id(imgs, n_images, gt[j].image_id);
    int64_t k = find_id(e->category_ids, n_cat, gt[j].category_id);
    if (i < 0 || k < 0) {
      st = lbbt_fail(LBBT_E_INPUT, "coco_evaluate: ground truth %lld is on %s %lld, which is "
                     "not in the %s list", (long long)j, i < 0 ? "image" : "category",
                     (long long)(i < 0 ? gt[j].image_id : gt[j].category_id),
                     i < 0 ? "image" : "category");
      goto done;
    }
    gt_key[j] = k * n_images + i;
  }
  for (int64_t j = 0; j < n_det; j++) {
    LBBT_TRY_GOTO(st, check_det(&det[j], j), done);
    int64_t i = find_id(imgs, n_images, det[j].image_id);
    if (i < 0) {
      st = lbbt_fail(LBBT_E_INPUT, "coco_evaluate: detection %lld is on image %lld, which is not "
                     "in the ground truth's images", (long long)j, (long long)det[j].image_id);
      goto done;
    }
    int64_t k = find_id(e->category_ids, n_cat, det[j].category_id);
    dt_key[j] = k < 0 ? -1 : k * n_images + i; /* other categories: ignored, as COCOeval does */
  }
  LBBT_TRY_GOTO(st, group_by(gt_key, n_gt, n_cat * n_images, &ev.gt_start, &ev.gt_idx), done);
  LBBT_TRY_GOTO(st, group_by(dt_key, n_det, n_cat * n_images, &ev.dt_start, &ev.dt_idx), done);
  /* scratch: the largest group, and a category's detections for accumulate */
  int64_t max_g = 1, max_d = 1, max_cat_d = 1;
  for (int64_t k = 0; k < n_cat; k++) {
    int64_t cat_d = 0;
    for (int64_t i = 0; i < n_images; i++) {
      int64_t key = k * n_images + i;
      int64_t g = ev.gt_start[key + 1] - ev.gt_start[key], d = ev.dt_start[key + 1] - ev.dt_start[key];
      max_g = g > max_g ? g : max_g;
      max_d = d > max_d ? d : max_d;
      cat_d += d;
    }
    max_cat_d = cat_d > max_cat_d ? cat_d : max_cat_d;
  }
  int64_t n_scr = max_cat_d > max_d ? max_cat_d : max_d;
  ev.order = malloc((size_t)n_scr * sizeof *ev.order);
  ev.tmp = malloc((size_t)n_scr * sizeof *ev.tmp); /* also reused as doubles */
  ev.keys = malloc((size_t)n_scr * sizeof *ev.keys);
  int64_t n_iou = max_d * max_g > n_scr ? max_d * max_g : n_scr;
  ev.ious = malloc((size_t)n_iou * sizeof *ev.ious);
  ev.gt_order = malloc((size_t)max_g * sizeof *ev.gt_order);
  ev.gt_ig = malloc((size_t)max_g);
  ev.gt_crowd = malloc((size_t)max_g);
  ev.gt_matched = malloc((size_t)max_g * sizeof *ev.gt_matched);
  r.present = malloc((size_t)(n_images > 0 ? n_images : 1));
  int ok = ev.order && ev.tmp && ev.keys && ev.ious && ev.gt_order && ev.gt_ig && ev.gt_crowd &&
           ev.gt_matched && r.present;
  for (int a = 0; a < LBBT_COCO_N_AREA; a++) {
    r.res[a] = malloc((size_t)max_cat_d * sizeof *r.res[a]);
    r.off[a] = malloc((size_t)(n_images > 0 ? n_images : 1) * sizeof *r.off[a]);
    r.cnt[a] = malloc((size_t)(n_images > 0 ? n_images : 1) * sizeof *r.cnt[a]);
    ok = ok && r.res[a] && r.off[a] && r.cnt[a];
  }
  if (!ok) {
    st = lbbt_fail(LBBT_E_NOMEM, "coco_evaluate: out of memory");
    goto done;
  }
  for (int64_t k = 0; k < n_cat; k++) {
    memset(r.present, 0, (size_t)n_images);
    for (int a = 0; a < LBBT_COCO_N_AREA; a++) r.n[a] = r.npig[a] = 0;
    for (int64_t i = 0; i < n_images; i++) evaluate_image(&ev, k, i, &r);
    for (int a = 0; a < LBBT_COCO_N_AREA; a++)
      for (int m = 0; m < LBBT_COCO_N_MAXDET; m++) accumulate(&ev, &r, k, a, m, e);
  }
  /* summarize: (ap, iou index or -1, area, maxDets index) of each stat */
  static const int which[LBBT_COCO_N_STATS][4] = {
      {1, -1, 0, 2}, {1, 0, 0, 2}, {1, 5, 0, 2}, {1, -1, 1, 2}, {1, -1, 2, 2}, {1, -1, 3, 2},
      {0, -1, 0, 0}, {0, -1, 0, 1}, {0, -1, 0, 2}, {0, -1, 1, 2}, {0, -1, 2, 2}, {0, -1, 3, 2}};
  for (int s = 0; s < LBBT_COCO_N_STATS; s++)
    e->stats[s] = summarize(e, which[s][0], which[s][1], which[s][2], which[s][3]);
done:
  free(imgs);
  free(gt_key);
  free(dt_key);
  free(ev.gt_start), free(ev.gt_idx), free(ev.dt_start), free(ev.dt_idx);
  free(ev.order), free(ev.tmp), free(ev.keys), free(ev.ious), free(ev.gt_order);
  free(ev.gt_ig), free(ev.gt_crowd), free(ev.gt_matched);
  free(r.present);
  for (int a = 0; a < LBBT_COCO_N_AREA; a++) free(r.res[a]), free(r.off[a]), free(r.cnt[a]);
  if (st != LBBT_OK) {
    lbbt_coco_eval_free(e);
    return st;
  }
  *out = e;
  return LBBT_OK;
}
