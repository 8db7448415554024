/* COCO box detection evaluation, computed exactly as the COCO API's COCOeval (pycocotools,
 * iouType "bbox") computes it, and COCO JSON interop.
 *
 * evaluate: for each (image, category), detections sorted by score (stable: equal scores
 * keep input order) and cut to the largest maxDets; IoU of xywh boxes in double (a crowd
 * ground truth divides by the detection's area); for each IoU threshold, greedy matching in
 * score order to the eligible ground truth of highest IoU >= the threshold (ties: the later
 * one), where a non-crowd ground truth is matched at most once, crowds any number of times,
 * and after a match to a non-ignored ground truth the ignored ones are not considered.  A
 * ground truth is ignored when it is a crowd or its area is outside the area range; a
 * detection is ignored when matched to an ignored ground truth, or unmatched with its own
 * area (w*h) outside the range.
 * accumulate: per (category, area range, maxDets), detections of all images (each cut to
 * maxDets) merged in stable score order; precision = tp / (tp + fp + eps(1)), made monotone
 * from the right, read at the 101 recall thresholds 0:.01:1 (first index with recall >=
 * threshold, 0 past the end); recall = the last recall; -1 where the category has no
 * non-ignored ground truth in the range.
 * summarize: the 12 numbers, each the mean over categories (and IoU thresholds) of the
 * entries > -1, or -1 when there are none.
 *
 * The category and image lists are the ground-truth dataset's (COCO's getCatIds/getImgIds):
 * images without annotations count (their detections are false positives), categories
 * without annotations give -1.  Detections of a category not in the list are ignored, as
 * COCOeval ignores them; a detection or ground truth on an image not in the list, or a
 * ground truth of a category not in the list, is LBBT_E_INPUT. */
#ifndef LBBT_COCO_EVAL_H
#define LBBT_COCO_EVAL_H
#include <stdint.h>

#include "lbbt/status.h"

typedef struct lbbt_coco_gt {
  int64_t image_id, category_id;
  double bbox[4]; /* x, y, width, height (pixels) */
  double area;    /* what area ranges test (COCO: the segmentation's area); < 0: w * h */
  int iscrowd;
} lbbt_coco_gt;

typedef struct lbbt_coco_det {
  int64_t image_id, category_id;
  double bbox[4]; /* x, y, width, height; the area ranges test w * h, as loadRes sets it */
  double score;
} lbbt_coco_det;

enum { LBBT_COCO_N_IOU = 10, LBBT_COCO_N_REC = 101, LBBT_COCO_N_AREA = 4,
       LBBT_COCO_N_MAXDET = 3, LBBT_COCO_N_STATS = 12 };

typedef struct lbbt_coco_params {
  /* Area-range bounds: all [0, area_max], small [0, small_max], medium [small_max,
   * medium_max], large [medium_max, area_max] (both ends inclusive, as COCOeval tests
   * area < lo or area > hi).  COCO: 32^2, 96^2, 1e5^2 (lbbt_coco_params_default). */
  double small_max, medium_max, area_max;
  int max_dets[LBBT_COCO_N_MAXDET]; /* increasing; COCO 1, 10, 100 */
} lbbt_coco_params;

/* COCO's defaults; with canvas_side > 0 the area bounds are scaled from COCO's 640-pixel
 * images to a square canvas of that side (32^2 and 96^2 times (side / 640)^2). */
LBBT_API lbbt_coco_params lbbt_coco_params_default(double canvas_side);

/* The stats, in COCOeval.summarize's order. */
typedef enum {
  LBBT_COCO_AP, LBBT_COCO_AP50, LBBT_COCO_AP75, LBBT_COCO_AP_SMALL, LBBT_COCO_AP_MEDIUM,
  LBBT_COCO_AP_LARGE, LBBT_COCO_AR1, LBBT_COCO_AR10, LBBT_COCO_AR100, LBBT_COCO_AR_SMALL,
  LBBT_COCO_AR_MEDIUM, LBBT_COCO_AR_LARGE
} lbbt_coco_stat;
/* "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl". */
LBBT_API const char *lbbt_coco_stat_name(lbbt_coco_stat s);

typedef struct lbbt_coco_eval {
  int64_t n_cat;            /* K: categories, sorted by id (category_ids[k]) */
  int64_t *category_ids;
  double iou_thrs[LBBT_COCO_N_IOU], rec_thrs[LBBT_COCO_N_REC]; /* numpy.linspace's values */
  double *precision; /* [T, R, K, A, M] as COCOeval.eval['precision'] */
  double *recall;    /* [T, K, A, M] as COCOeval.eval['recall'] */
  double stats[LBBT_COCO_N_STATS];
} lbbt_coco_eval;

/* Evaluate n_det detections against n_gt ground truths over the given images and
 * categories (ids in any order; duplicates are LBBT_E_INPUT).  *out owned by the caller
 * (lbbt_coco_eval_free).  p NULL: lbbt_coco_params_default(0). */
LBBT_API lbbt_status lbbt_coco_evaluate(const lbbt_coco_gt *gt, int64_t n_gt, const lbbt_coco_det *det,
                                        int64_t n_det, const int64_t *image_ids, int64_t n_images,
                                        const int64_t *category_ids, int64_t n_cat,
                                        const lbbt_coco_params *p, lbbt_coco_eval **out);
LBBT_API void lbbt_coco_eval_free(lbbt_coco_eval *e); /* NULL-safe */

#endif
