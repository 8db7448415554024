/* COCO JSON interop: a detection set's ground truth as a COCO instances file and
 * detections as a COCO results file (what pycocotools' COCO() and COCO.loadRes read), so
 * lbbt's detections can be scored by the COCO API or any other tool; and a reader of
 * results files.  Files are written atomically (a killed writer leaves the old file or
 * none). */
#ifndef LBBT_COCO_JSON_H
#define LBBT_COCO_JSON_H
#include <stdint.h>

#include "lbbt/coco_eval.h"
#include "lbbt/status.h"

typedef struct lbbt_coco_image {
  int64_t id;
  int width, height;
  const char *file_name; /* NULL: "<id>.png" */
} lbbt_coco_image;

typedef struct lbbt_coco_category {
  int64_t id;
  const char *name;          /* NULL: "<id>" */
  const char *supercategory; /* NULL: "" */
} lbbt_coco_category;

/* {"info": {"description": ...}, "images": [{id, width, height, file_name}],
 *  "annotations": [{id, image_id, category_id, bbox [x, y, w, h], area, iscrowd}],
 *  "categories": [{id, name, supercategory}]}
 * Annotation ids are 1..n_gt in input order (COCOeval treats id 0 as "unmatched");
 * area is gt.area, or w * h when gt.area < 0.  A ground truth whose image or category is not
 * listed is LBBT_E_INPUT. */
LBBT_API lbbt_status lbbt_coco_write_instances(const char *path, const char *description,
                                               const lbbt_coco_image *images, int64_t n_images,
                                               const lbbt_coco_category *cats, int64_t n_cat,
                                               const lbbt_coco_gt *gt, int64_t n_gt);

/* [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...] in input order; numbers
 * with 17 significant digits, so reading back gives the same doubles. */
LBBT_API lbbt_status lbbt_coco_write_results(const char *path, const lbbt_coco_det *det, int64_t n);

/* Read a results file (a JSON array of such objects; other keys, e.g. "segmentation", are
 * ignored).  *out (malloc'd, caller frees; NULL when *n is 0).  A missing or mistyped field
 * is LBBT_E_INPUT naming the file and the entry. */
LBBT_API lbbt_status lbbt_coco_read_results(const char *path, lbbt_coco_det **out, int64_t *n);

#endif
