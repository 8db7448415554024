/* Image datasets: loading, class-balanced subsets, resizing, batching with augmentation, and
 * random-label corruption.
 *
 * Storage.  An lbbt_dataset keeps its N images as raw 8-bit pixels, u8 [N, C, H, W]
 * (channel planes, row-major), exactly as decoded, and normalises on the fly whenever it
 * writes floats (lbbt_dataset_image_f32, lbbt_dataset_gather_f32, the batcher):
 *     x = (pixel / 255 - mean[c]) / std[c]
 * Why u8: a quarter of the memory of f32 (CIFAR-10 train is 150 MB as u8, 600 MB as f32),
 * crops and flips move pixels exactly, and it is what torchvision's pipeline holds before
 * ToTensor + Normalize, so resizing rounds to u8 the same way a PIL image does.
 *
 * Normalisation constants (per channel, pixel scaled to [0, 1]), set by every loader from
 * the dataset name (lbbt_dataset_norm_lookup); a name not in the table gets the per-channel
 * mean/std of the loaded pixels (lbbt_dataset_compute_norm):
 *     fashion-mnist  mean 0.2860                     std 0.3530
 *     mnist          mean 0.1307                     std 0.3081
 *     cifar10        mean (0.4914, 0.4822, 0.4465)   std (0.2470, 0.2435, 0.2616)
 *     cifar100       mean (0.5071, 0.4865, 0.4409)   std (0.2673, 0.2564, 0.2762)
 *     folder, imagenet, tiny-imagenet
 *                    mean (0.485, 0.456, 0.406)      std (0.229, 0.224, 0.225)   (ImageNet)
 *
 * Datasets and default locations used by lbbt_dataset_open when spec->root is "":
 *     fashion-mnist  /usr/share/datasets/fashion-mnist          (Debian dataset-fashion-mnist)
 *     mnist          $LBBT_DATA/mnist
 *     cifar10        $LBBT_DATA/cifar-10-batches-bin            (the "binary version" tarball)
 *     cifar100       $LBBT_DATA/cifar-100-binary
 *     tiny-imagenet  $LBBT_DATA/tiny-imagenet-200               (folder layout, see below)
 *     imagenet       $LBBT_DATA/imagenet                        (folder layout)
 *     folder         (no default: spec->root is required)
 *     coco           $LBBT_DATA/coco: annotations/instances_{train,val}2017.json and
 *                    {train,val}2017/ (lbbt_dataset_load_coco; image_size required)
 *     ade20k         $LBBT_DATA/ADEChallengeData2016 (lbbt_dataset_load_ade20k)
 *     pascal-context $LBBT_DATA/VOCdevkit/VOC2010 (lbbt_dataset_load_pascal_context)
 *     fashion-mnist-detection, fashion-mnist-segmentation
 *                    the fashion-mnist folder: composites (see "composites" below) whose
 *                    items are Fashion-MNIST's train (t10k for the test split) images;
 *                    settings from spec->options (canvas, min_items, max_items, min_side,
 *                    max_side, and max_iou for detection; defaults lbbt_composite_defaults);
 *                    limit / test_limit = the number of canvases (0 = one per source image);
 *                    seed = subset_seed ^ lbbt_hash_str("train" or "test")
 * $LBBT_DATA defaults to "data" (relative to the working directory) when unset.
 *
 * File formats:
 *   IDX (MNIST, Fashion-MNIST): {train,t10k}-{images-idx3,labels-idx1}-ubyte, gzip-compressed
 *   (".gz", tried first) or plain.
 *   CIFAR-10: data_batch_1..5.bin (train) and test_batch.bin, records of 1 label byte + 3072
 *   pixel bytes.  CIFAR-100: train.bin and test.bin, records of 1 coarse + 1 fine label byte
 *   + 3072 pixel bytes; the fine labels (100 classes) are used.
 *   Folders (torchvision ImageFolder): root/train/<class>/ holds files ending in .JPEG, .jpg,
 *   .jpeg or .png (any case) at any depth, so Tiny-ImageNet's train/<wnid>/images/ works;
 *   classes are the sorted sub-folder names of root/train, images are taken in sorted path
 *   order.  The test split is root/val/<class>/ (classes must be train classes) or, when
 *   root/val/images/ and root/val/val_annotations.txt exist, Tiny-ImageNet's layout (lines
 *   "file<TAB>wnid<TAB>..."; images in annotation order).  Images become RGB as PIL's
 *   convert("RGB") makes them: grey replicated, alpha dropped (not composited), palettes
 *   expanded, 16-bit samples cut to their high byte; CMYK JPEGs (a few in ImageNet) are
 *   converted as Adobe inverted CMYK.  The decoder is chosen by magic bytes, not extension;
 *   a truncated JPEG is an error, libjpeg's other warnings are not.
 *
 * Resizing (spec->image_size, or lbbt_dataset_resize) is bilinear with half-pixel centres
 * (PyTorch interpolate(mode="bilinear", align_corners=False), no antialiasing) to a square
 * image_size x image_size; aspect ratio is not kept.  JPEGs much larger than the target are
 * first reduced by libjpeg's DCT scaling to no less than the target side, so the bilinear
 * step never shrinks by more than 2x.
 *
 * Class-balanced subsets (spec->limit, spec->test_limit): with K classes and a limit L,
 * every class gets floor(L/K) images and L mod K classes get one more; those classes are the
 * first L mod K of a permutation of the classes drawn from (subset_seed, "subset-extra-<split>").
 * Class c's images are drawn without replacement from the stream (subset_seed,
 * "subset-<split>", c), independent of the other classes, and kept in file order.  So every
 * run and arm with the same subset_seed sees the same images.  A limit above N, or a class
 * with fewer images than its share, is LBBT_E_INPUT.
 *
 * Ownership: every lbbt_dataset returned by a function here belongs to the caller and is
 * released with lbbt_dataset_free; likewise lbbt_batcher_create / lbbt_batcher_free. */
#ifndef LBBT_DATASET_H
#define LBBT_DATASET_H
#include <stdint.h>

#include "lbbt/types.h"
#include "lbbt/status.h"

/* What each item carries besides its image (the dataset's target kind). */
typedef enum lbbt_target_kind {
  LBBT_TARGET_CLASS = 0, /* labels[i]: one class per image (every classification loader) */
  LBBT_TARGET_BOXES = 1, /* boxes with classes (detection) */
  LBBT_TARGET_MASK = 2,  /* a class per pixel (segmentation) */
  LBBT_TARGET_NONE = 3   /* nothing (self-supervised) */
} lbbt_target_kind;

/* The mask value of pixels no loss or metric counts (unlabelled, or padding added by a crop),
 * as in mmseg and the ADE20K / Pascal Context annotations. */
#define LBBT_MASK_IGNORE 255

/* One object box in pixel coordinates of its image: continuous edges, so a box covering pixel
 * columns a..b (inclusive) has x0 = a, x1 = b + 1; 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H. */
typedef struct lbbt_box {
  float x0, y0, x1, y1;
  int32_t label;   /* class in [0, num_classes) */
  int32_t iscrowd; /* COCO's iscrowd flag (1: a crowd region, which DETR's loss skips) */
} lbbt_box;

typedef struct lbbt_dataset {
  int64_t n;              /* number of images */
  int channels;           /* C: 1 (MNIST family) or 3 */
  int height, width;      /* H, W */
  int num_classes;        /* labels lie in [0, num_classes) */
  uint8_t *pixels;        /* u8 [n, C, H, W], owned */
  int32_t *labels;        /* int32 [n], owned: the true labels */
  float mean[3], std[3];  /* per-channel normalisation, on pixels scaled to [0, 1] */
  char **class_names;     /* [num_classes] owned strings, or NULL when unknown */
  char *source;           /* provenance, owned: "fashion-mnist train (/path), 2000 class-
                             balanced of 60000, subset seed 0" */
  /* Typed targets (appended after the fields above; a zeroed struct is a CLASS dataset).
   * BOXES and MASK datasets keep labels [n] allocated (all 0) so code reading labels never
   * reads freed memory; num_classes is then the number of object / pixel classes. */
  lbbt_target_kind target;
  lbbt_box *boxes;        /* BOXES: all boxes, owned; item i's are boxes[box_start[i] ..
                             box_start[i + 1]) */
  int64_t *box_start;     /* BOXES: int64 [n + 1], owned, box_start[0] = 0, non-decreasing */
  uint8_t *masks;         /* MASK: u8 [n, H, W], owned: class index or LBBT_MASK_IGNORE */
} lbbt_dataset;

/* ---- lifecycle and access ------------------------------------------------------------- */
/* A zero-filled dataset of n images (n >= 0, dims >= 1, channels 1 or 3, num_classes >= 1),
 * normalisation mean 0 / std 1, no class names, empty source. */
LBBT_API lbbt_status lbbt_dataset_create(int64_t n, int channels, int height, int width, int num_classes,
                                lbbt_dataset **out);
LBBT_API void lbbt_dataset_free(lbbt_dataset *ds);
/* Replace / extend the provenance string (printf format). */
LBBT_API lbbt_status lbbt_dataset_set_source(lbbt_dataset *ds, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
LBBT_API lbbt_status lbbt_dataset_append_source(lbbt_dataset *ds, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copy n class names (strings are copied). */
LBBT_API lbbt_status lbbt_dataset_set_class_names(lbbt_dataset *ds, const char *const *names, int n);
/* Pixels per image, C*H*W. */
LBBT_API int64_t lbbt_dataset_image_numel(const lbbt_dataset *ds);
/* Normalised f32 [C, H, W] of image i into out. */
LBBT_API void lbbt_dataset_image_f32(const lbbt_dataset *ds, int64_t i, float *out);
/* Gather n images by index into images f32 [n, C, H, W] (normalised) and, when labels_out is
 * not NULL, their labels from `labels` (NULL = ds->labels).  Indices are checked (E_INPUT). */
LBBT_API lbbt_status lbbt_dataset_gather_f32(const lbbt_dataset *ds, const int32_t *idx, int64_t n,
                                    const int32_t *labels, float *images, int32_t *labels_out);

/* ---- typed targets --------------------------------------------------------------------- */
/* Make ds a BOXES dataset with room for total_boxes boxes: boxes zeroed, box_start [n + 1]
 * all 0 (the caller fills both; box_start[n] must end at total_boxes).  Replaces any
 * previous target storage. */
LBBT_API lbbt_status lbbt_dataset_attach_boxes(lbbt_dataset *ds, int64_t total_boxes);
/* Make ds a MASK dataset: masks u8 [n, H, W] zeroed (class 0 everywhere). */
LBBT_API lbbt_status lbbt_dataset_attach_masks(lbbt_dataset *ds);
/* The most boxes any one item has (0 for other kinds). */
LBBT_API int64_t lbbt_dataset_max_boxes(const lbbt_dataset *ds);
/* Check the targets against the kind's rules (box order, edges inside the image, labels in
 * [0, num_classes), mask values < num_classes or LBBT_MASK_IGNORE); E_INPUT naming `what`,
 * the item and the box or pixel. */
LBBT_API lbbt_status lbbt_dataset_check_targets(const lbbt_dataset *ds, const char *what);
/* "class", "boxes", "mask", "none". */
LBBT_API const char *lbbt_target_kind_name(lbbt_target_kind kind);

/* ---- normalisation --------------------------------------------------------------------- */
/* The constants above for a dataset name: returns 1 and fills mean/std (all three entries;
 * a grey dataset repeats its one value) if known, 0 otherwise. */
LBBT_API int lbbt_dataset_norm_lookup(const char *name, float mean[3], float std[3]);
/* Set ds->mean/std to the per-channel statistics of its pixels (std floored at 1e-3). */
LBBT_API void lbbt_dataset_compute_norm(lbbt_dataset *ds);

/* ---- loaders (all errors naming the file are LBBT_E_INPUT; see the header comment) --- */
/* IDX images (magic 0x00000803, u8, [N, H, W]) and labels (magic 0x00000801, u8, [N]),
 * gzip or plain.  `name` ("fashion-mnist", "mnist", or NULL) picks normalisation and class
 * names; num_classes is 10 for those names, else max label + 1. */
LBBT_API lbbt_status lbbt_dataset_load_idx(const char *images_path, const char *labels_path,
                                  const char *name, lbbt_dataset **out);
/* CIFAR-10 / CIFAR-100 binary version from root (train: 1 = train split, 0 = test). */
LBBT_API lbbt_status lbbt_dataset_load_cifar10(const char *root, int train, lbbt_dataset **out);
LBBT_API lbbt_status lbbt_dataset_load_cifar100(const char *root, int train, lbbt_dataset **out);
/* Image folder (ImageNet / Tiny-ImageNet layout).  image_size 0 keeps the native size, which
 * must then be the same for every image.  limit > 0 picks a class-balanced subset (rules
 * above, seed subset_seed) BEFORE decoding, so a 2000-image ImageNet subset decodes 2000
 * files.  Decoding runs on OpenMP threads; the result does not depend on their number.
 * `name` picks normalisation (NULL = "folder"). */
LBBT_API lbbt_status lbbt_dataset_load_folder(const char *root, int train, int image_size, int64_t limit,
                                     uint64_t subset_seed, const char *name, lbbt_dataset **out);
/* COCO instances (a BOXES dataset): `annotations` is an instances_*.json ("images" with id,
 * file_name, width, height; "annotations" with image_id, category_id, bbox [x, y, w, h],
 * iscrowd; "categories" with id, name), `images_dir` holds the file_names (JPEG or PNG).
 * Images in ascending id, those without annotations kept; categories mapped to contiguous
 * classes 0..K-1 in ascending category id (class_names = their names); boxes clipped to the
 * image and dropped when empty (DETR's rule), iscrowd kept, an image's boxes in file order.
 * Images differ in size, so image_size >= 1 is required: each is resized bilinearly to
 * image_size x image_size (aspect not kept) and its boxes scaled likewise; a file whose size
 * differs from its JSON entry is an error.  limit > 0: a uniform subset (lbbt_subset_uniform
 * with subset_seed and split_tag) chosen before decoding.  ImageNet normalisation.  Errors
 * name the file and the JSON path (annotations[12].bbox) or, for bad JSON, line and column. */
LBBT_API lbbt_status lbbt_dataset_load_coco(const char *annotations, const char *images_dir, int image_size,
                                   int64_t limit, uint64_t subset_seed, const char *split_tag,
                                   lbbt_dataset **out);
/* Images with PNG index masks (a MASK dataset): images[i] (JPEG/PNG) and masks[i] (8-bit
 * grey or palette PNG of class indices, the same size as its image).  reduce_zero_label (as
 * mmseg's): mask 0 becomes LBBT_MASK_IGNORE and v becomes v - 1; 255 stays ignore.  Values
 * must then be < num_classes or 255.  image_size >= 1 is required: images are resized
 * bilinearly and masks by nearest neighbour to image_size x image_size (aspect not kept).
 * ImageNet normalisation.  Errors name the file (and the pixel for a bad value). */
LBBT_API lbbt_status lbbt_dataset_load_segmentation(const char *const *images, const char *const *masks,
                                           int64_t n, int image_size, int num_classes,
                                           int reduce_zero_label, const char *name,
                                           lbbt_dataset **out);
/* ADE20K (SceneParsing, ADEChallengeData2016): root/images/{training,validation}/ *.jpg and
 * root/annotations/{training,validation}/<same stem>.png; 150 classes, 0 = ignore (reduced).
 * limit > 0: a uniform subset (seed, "train"/"test") chosen before decoding. */
LBBT_API lbbt_status lbbt_dataset_load_ade20k(const char *root, int train, int image_size, int64_t limit,
                                     uint64_t seed, lbbt_dataset **out);
/* Pascal Context, mmseg's 59-class layout under VOC2010: root/ImageSets/SegmentationContext/
 * {train,val}.txt lists ids; root/JPEGImages/<id>.jpg, root/SegmentationClassContext/<id>.png;
 * 0 (background) = ignore (reduced), so 59 classes. */
LBBT_API lbbt_status lbbt_dataset_load_pascal_context(const char *root, int train, int image_size,
                                             int64_t limit, uint64_t seed, lbbt_dataset **out);
/* The front door: spec->dataset in lbbt_dataset_names(), spec->root ("" = default above),
 * train 1 = train split (spec->limit), 0 = test split (spec->test_limit); applies the
 * class-balanced subset with spec->subset_seed and the resize to spec->image_size, and
 * writes the provenance string.  Augmentation fields of spec are for lbbt_batcher. */
struct lbbt_data_spec; /* spec.h */
LBBT_API lbbt_status lbbt_dataset_open(const struct lbbt_data_spec *spec, int train, lbbt_dataset **out);
/* Check spec->options against the dataset kind (the composites' settings; other datasets
 * take none): E_INPUT naming file:line:col and the option.  lbbt_dataset_open checks too. */
LBBT_API lbbt_status lbbt_dataset_check_options(const struct lbbt_data_spec *spec, const char *file);
/* The target kind lbbt_dataset_open gives a dataset of this name (CLASS for unknown names),
 * so a run can be checked against its stages' needs before any data is read. */
LBBT_API lbbt_target_kind lbbt_dataset_target_of(const char *name);
/* NULL-terminated list of the names lbbt_dataset_open accepts (for spec validation). */
LBBT_API const char *const *lbbt_dataset_names(void);
/* The folder lbbt_dataset_open reads for `name` when root is "" (into buf, size n);
 * LBBT_E_INPUT for an unknown name or "folder". */
LBBT_API lbbt_status lbbt_dataset_default_root(const char *name, char *buf, int n);

/* ---- subsets and resizing ------------------------------------------------------------- */
/* The class-balanced choice of `limit` indices (0 < limit <= n) out of labels [n], sorted
 * ascending, into out_idx [limit].  `split_tag` ("train"/"test") keys the streams so both
 * splits draw independently from one seed.  `what` names the data in error messages. */
LBBT_API lbbt_status lbbt_subset_balanced(const int32_t *labels, int64_t n, int num_classes,
                                 int64_t limit, uint64_t seed, const char *split_tag,
                                 const char *what, int32_t *out_idx);
/* A new dataset with images idx[0..n) of src (copies pixels, labels, targets, names,
 * normalisation and source). */
LBBT_API lbbt_status lbbt_dataset_subset(const lbbt_dataset *src, const int32_t *idx, int64_t n,
                                lbbt_dataset **out);
/* Resize every image in place to height x width (bilinear, see above); no-op when equal.
 * Masks are resized by nearest neighbour (PIL's NEAREST: source pixel floor((d + 0.5) * s / d')),
 * box edges scaled by width / W and height / H. */
LBBT_API lbbt_status lbbt_dataset_resize(lbbt_dataset *ds, int height, int width);
/* Bilinear resize of one u8 [C, sh, sw] image to [C, dh, dw] (half-pixel centres). */
LBBT_API void lbbt_resize_bilinear_u8(const uint8_t *src, int channels, int sh, int sw, uint8_t *dst,
                             int dh, int dw);

/* ---- synthetic data (tests and smoke runs only; real data is the default everywhere) -- */
/* n images (labels i % classes, so balanced) of C x H x W: each class has a smooth random
 * prototype (a 4x4 grid per channel, bilinearly upsampled) drawn from (seed,
 * "synthetic-prototype", class); an image is its prototype plus per-pixel noise from
 * (seed, "synthetic-noise", i), so a small model can learn the classes.  Normalisation is
 * computed from the pixels. */
LBBT_API lbbt_status lbbt_dataset_synthetic(int64_t n, int classes, int channels, int height, int width,
                                   uint64_t seed, lbbt_dataset **out);

/* ---- composites: detection and segmentation sets built from a classification set -------- */
/* Canvas i (of n) is drawn from the stream (seed, "composite-boxes" or "composite-mask", i),
 * independent of the others (so of thread count and n): k items, k uniform in [min_items,
 * max_items]; each item is a uniformly drawn image of `items` (grey, e.g. a Fashion-MNIST
 * split) resized bilinearly to L x L, L = round(exp(U(log min_side, log max_side))), at a
 * uniform position wholly inside the canvas, painted over the canvas where its pixels are
 * non-zero (later items over earlier ones).  An item's box is the extent of its non-zero
 * resized pixels; class = its label.  BOXES: a placement whose box has IoU above max_iou with
 * an earlier box on the canvas (or an empty box) is drawn again, up to 32 tries, after which
 * the item is left out (a canvas always has its first item).  MASK: pixels take the class of
 * the last item painted there + 1; class 0 is the background (so items->num_classes + 1
 * classes, "background" first); max_iou is not used (overlaps are resolved by paint order).
 * Normalisation is computed from the canvases' pixels. */
typedef struct lbbt_composite_config {
  int canvas;               /* side of the square canvas in pixels, >= 8 */
  int min_items, max_items; /* items per canvas, 1 <= min_items <= max_items <= 64 */
  int min_side, max_side;   /* item side range in pixels, 1 <= min_side <= max_side <= canvas */
  double max_iou;           /* BOXES: largest IoU between two items' boxes, in [0, 1] */
} lbbt_composite_config;
/* The defaults: canvas 64, 1..4 items, sides 3..48, max IoU 0.3. */
LBBT_API lbbt_composite_config lbbt_composite_defaults(void);
/* n canvases (n >= 1) of kind LBBT_TARGET_BOXES or LBBT_TARGET_MASK from the 1-channel
 * CLASS dataset `items`; bad settings are E_INPUT naming them. */
LBBT_API lbbt_status lbbt_dataset_composite(const lbbt_dataset *items, const lbbt_composite_config *cfg,
                                   lbbt_target_kind kind, int64_t n, uint64_t seed,
                                   lbbt_dataset **out);
/* COCO's object size ranges (area < 32^2 small, < 96^2 medium, else large, on images of
 * 640-pixel side) scaled to an H x W image by area: small below 1024 * H * W / 640^2,
 * medium below 9216 * H * W / 640^2; for a square canvas the bounds of
 * lbbt_coco_params_default(side) (coco_eval.h), which scores detections.  For a 64 x 64
 * canvas: 10.24 and 92.16 square pixels. */
LBBT_API void lbbt_detection_area_ranges(int height, int width, double *small_max, double *medium_max);

/* ---- batching ------------------------------------------------------------------------- */
typedef struct lbbt_batcher_config {
  int batch_size;         /* B >= 1 */
  int drop_last;          /* 1: drop the final partial batch; 0: keep it (fewer than B) */
  int shuffle;            /* 1: seeded permutation per epoch; 0: dataset order (evaluation) */
  int crop_padding;       /* random crop: pad by this many black pixels (raw value 0, as
                             torchvision RandomCrop(padding=p) before Normalize), crop back
                             to H x W at a uniform offset; 0 = off */
  int flip;               /* 1: horizontal flip with probability 1/2 (after the crop) */
  uint64_t seed;          /* the run's seed */
  const int32_t *labels;  /* borrowed int32 [n] to serve instead of ds->labels (e.g. from
                             lbbt_labels_randomize); NULL = ds->labels; must outlive batcher */
  /* Appended: resizing augmentations (all 0 = off, the behaviour before they existed). */
  int out_size;           /* > 0: images (and masks) come out out_size x out_size: the whole
                             image resized (bilinear, u8-rounded as a PIL resize), or with
                             random_resized_crop a random window of it; 0 = H x W */
  int random_resized_crop;/* 1: torchvision RandomResizedCrop(out_size, scale, ratio): up to
                             10 tries of area fraction U(scale_min, scale_max) and aspect
                             exp(U(log ratio_min, log ratio_max)), sides rounded, a uniform
                             position; else the central crop of clamped aspect.  Needs out_size */
  double scale_min, scale_max; /* 0, 0 = torchvision's (0.08, 1) */
  double ratio_min, ratio_max; /* 0, 0 = torchvision's (3/4, 4/3) */
  /* Appended: view augmentations for self-supervised pretext tasks (all 0 = off, the
   * behaviour before they existed).  Two batchers on one dataset that differ only in `view`
   * serve the same samples in the same order, each augmented from its own stream. */
  int view;               /* which view of each sample: 0 draws from the "augment" stream
                             (as before views existed), v > 0 from "augment-view-<v>" */
  double jitter_p;        /* probability of brightness/contrast jitter (SimCLR: 0.8) */
  double brightness;      /* factor U(max(0, 1 - b), 1 + b): x' = clamp(f x) */
  double contrast;        /* factor U(max(0, 1 - c), 1 + c): x' = clamp(f x + (1 - f) mean) */
  double blur_p;          /* probability of a Gaussian blur (SimCLR: 0.5) */
  double blur_sigma_min, blur_sigma_max; /* sigma U(min, max); 0, 0 = SimCLR's (0.1, 2.0) */
  int blur_kernel;        /* odd side; 0 = SimCLR's: 10% of the output side, made odd (>= 3) */
} lbbt_batcher_config;

/* Streams: epoch e's order is a Fisher-Yates permutation from (seed, "shuffle", e); sample
 * i's augmentation in epoch e comes from (seed, "augment", e << 32 | i), keyed by dataset
 * index, so it depends on neither batch size, position nor thread count, and a run resumed
 * at (epoch, batch) reproduces the same images.  No allocation after create.
 *
 * Order of the augmentations of one sample, and of its draws from the stream: (1) the
 * resized crop (random_resized_crop: its tries) or resize to out_size; (2) the padded crop
 * (dy, then dx); (3) the flip; (4) with jitter_p > 0: apply?, brightness factor, contrast
 * factor, which first (ColorJitter's random order of its two colour-free parts); (5) with
 * blur_p > 0: apply?, sigma.  Jitter and blur work on pixels in [0, 1] before the
 * normalisation (photometric.c) and leave targets alone.  Targets move with the image: masks take the same window,
 * nearest-neighbour resize, shift (padding = LBBT_MASK_IGNORE) and flip; box edges are mapped
 * through the same window scale, shift and flip, clipped to the image, and a box left with
 * no width or height is dropped. */
typedef struct lbbt_batcher lbbt_batcher;
LBBT_API lbbt_status lbbt_batcher_create(const lbbt_dataset *ds, const lbbt_batcher_config *cfg,
                                lbbt_batcher **out);
LBBT_API void lbbt_batcher_free(lbbt_batcher *b);
/* Batches per epoch: ceil(n / B), or floor(n / B) with drop_last. */
LBBT_API int64_t lbbt_batcher_num_batches(const lbbt_batcher *b);
/* Compute epoch `epoch`'s order (epoch >= 0); call before lbbt_batcher_get. */
LBBT_API void lbbt_batcher_start_epoch(lbbt_batcher *b, int64_t epoch);
/* Fill batch `batch` (0 <= batch < num_batches) of the current epoch: images f32
 * [B, C, H', W'] normalised and augmented (H' x W': lbbt_batcher_image_size), labels int32
 * [B] when not NULL (the class labels; all 0 for datasets of another kind), and when not
 * NULL the dataset indices int32 [B]; *count = samples written (B, or fewer for a kept last
 * batch).  Buffers are the caller's, sized for B samples. */
LBBT_API lbbt_status lbbt_batcher_get(lbbt_batcher *b, int64_t batch, float *images, int32_t *labels,
                             int32_t *indices, int *count);
/* The targets of one batch, in the output image's pixel frame; the arrays are owned by the
 * batcher and valid until its next get. */
typedef struct lbbt_batch_targets {
  lbbt_target_kind kind;    /* the dataset's */
  int count;                /* samples in the batch (B, or fewer for a kept last batch) */
  int height, width;        /* H', W' of the batch's images and masks */
  const int32_t *labels;    /* CLASS: int32 [count] (cfg->labels or ds->labels) */
  const lbbt_box *boxes;    /* BOXES: sample j's are boxes[box_start[j] .. box_start[j + 1]) */
  const int64_t *box_start; /* BOXES: int64 [count + 1] */
  const int32_t *masks;     /* MASK: int32 [count, H', W'], LBBT_MASK_IGNORE where padded */
} lbbt_batch_targets;
/* Fill batch `batch` like lbbt_batcher_get (images f32 [B, C, H', W'], indices when not
 * NULL) and describe its targets in *out. */
LBBT_API lbbt_status lbbt_batcher_get_targets(lbbt_batcher *b, int64_t batch, float *images,
                                     int32_t *indices, lbbt_batch_targets *out);
/* The side lengths of the images a batch holds: out_size, or the dataset's H x W. */
LBBT_API void lbbt_batcher_image_size(const lbbt_batcher *b, int *height, int *width);
/* The current epoch's order, int32 [n] (dataset indices), owned by the batcher. */
LBBT_API const int32_t *lbbt_batcher_order(const lbbt_batcher *b);

/* ---- label corruption (Zhang et al. 2017, "Understanding deep learning requires
 *      rethinking generalization") ------------------------------------------------------ */
/* Exactly m = round(ratio * n) indices, the first m of a permutation from (seed,
 * "label-corruption-order", 0), get a label drawn uniformly from [0, num_classes) by the
 * stream (seed, "label-corruption-value", index).  The new label may equal the true one (as
 * in Zhang et al.), so about m/num_classes of them keep their true class; `corrupted` still
 * marks all m (1 = replaced).  Because the order and each index's label depend only on the
 * seed, the corrupted set at a smaller ratio is a subset of that at a larger one and shares
 * its labels.  out_labels may equal true_labels; corrupted [n] may be NULL.  Use it for the
 * training split only: test sets keep their true labels.  ratio outside [0, 1] is E_INPUT. */
LBBT_API lbbt_status lbbt_labels_randomize(const int32_t *true_labels, int64_t n, int num_classes,
                                  double ratio, uint64_t seed, int32_t *out_labels,
                                  uint8_t *corrupted);

/* The one label rule every caller uses (training stages, and analyses that measure a stage's
 * labels): the labels of ds's training items under a stage's `labels` mode.
 *   LBBT_LABELS_TRUE:   the true labels (corrupted all 0; ratio and seed unused);
 *   LBBT_LABELS_RANDOM: lbbt_labels_randomize(ds->labels, ratio, seed).
 * out_labels int32 [ds->n], corrupted u8 [ds->n] or NULL.  A dataset whose items carry no
 * class (boxes, masks) is E_INPUT. */
LBBT_API lbbt_status lbbt_labels_for_mode(const lbbt_dataset *ds, lbbt_label_mode mode, double ratio,
                                 uint64_t seed, int32_t *out_labels, uint8_t *corrupted);
/* The seed of a stage's random labels: run_seed ^ lbbt_hash_str(stage_name), so each run
 * seed and stage draws its own labels, and an analysis naming the stage gets the same ones. */
LBBT_API uint64_t lbbt_label_seed(uint64_t run_seed, const char *stage_name);

#endif
