/* Helpers shared by the dataset sources in core/src/data/ (not part of the public API). */
#ifndef LBBT_DATA_INTERNAL_H
#define LBBT_DATA_INTERNAL_H
#include <stdint.h>

#include "lbbt/dataset.h"
#include "lbbt/spec.h" /* lbbt_option: the composites' data.options */

/* Decode one JPEG or PNG (chosen by magic bytes) to RGB u8 [3, *h, *w] in *out (malloc'd,
 * the caller frees).  target_side > 0: bilinear resize to target_side x target_side (a JPEG
 * is first shrunk by DCT scaling to no less than target_side); 0: native size.  Errors are
 * LBBT_E_INPUT naming the file and set the calling thread's message. */
lbbt_status lbbt_image_decode_rgb(const char *path, int target_side, uint8_t **out, int *h,
                                  int *w);

/* Decode an index PNG (8-bit grey, or palette of <= 8 bits: the indices) to u8 [*h, *w] in
 * *out (malloc'd).  Any other colour type is E_INPUT naming the file. */
lbbt_status lbbt_png_decode_index(const char *path, uint8_t **out, int *h, int *w);

/* A growable list of owned strings (folder.c). */
typedef struct str_list {
  char **items;
  int64_t n, cap;
} str_list;
void data_str_list_free(str_list *l);
/* Append a, or "a/b" when b is not NULL. */
lbbt_status data_str_list_push(str_list *l, const char *a, const char *b);
/* Entries of dir (not starting with '.') as full paths: sub-folders into subdirs, files ending
 * in .jpg/.jpeg/.png (any case) into images (either may be NULL); each sorted. */
lbbt_status data_list_dir(const char *dir, str_list *subdirs, str_list *images);

/* Read the whole file at path (E_INPUT naming it when missing or unreadable). */
lbbt_status lbbt_read_file(const char *path, uint8_t **data, int64_t *size);

/* Apply the class-balanced subset `limit` (0 = keep all) to *ds in place, appending
 * ", L class-balanced of N, subset seed S" (or ", all N") to its source. */
lbbt_status lbbt_dataset_apply_limit(lbbt_dataset **ds, int64_t limit, uint64_t seed,
                                     const char *split_tag);

/* Typed targets (targets.c): release the box / mask storage; copy items idx[0..n) of src's
 * targets into dst (same geometry, n items); map them onto images resized to height x width
 * (call before ds->height/width change). */
void lbbt_dataset_free_targets(lbbt_dataset *ds);
lbbt_status lbbt_dataset_copy_targets(const lbbt_dataset *src, const int32_t *idx, int64_t n,
                                      lbbt_dataset *dst);
lbbt_status lbbt_dataset_resize_targets(lbbt_dataset *ds, int height, int width);
/* Nearest-neighbour resize of one u8 plane [sh, sw] to [dh, dw] (PIL NEAREST: source pixel
 * floor((d + 0.5) * s / d')), for masks. */
void lbbt_resize_nearest_u8(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw);

/* `limit` of n indices drawn uniformly (a permutation from (seed, "subset-<split_tag>", 0)),
 * ascending, into out_idx: the subset of datasets whose items have no single class. */
lbbt_status lbbt_subset_uniform(int64_t n, int64_t limit, uint64_t seed, const char *split_tag,
                                int32_t *out_idx);

/* A composite's settings from data.options (defaults for the keys not written); E_INPUT
 * naming file:line:col, the option and its range.  max_iou only for BOXES. */
lbbt_status lbbt_composite_config_from_options(const lbbt_option *opts, int n, lbbt_target_kind kind,
                                               const char *dataset, const char *file,
                                               lbbt_composite_config *out);

/* Class names of the built-in datasets (NULL-free arrays of the stated length). */
extern const char *const lbbt_fashion_mnist_classes[10];
extern const char *const lbbt_cifar10_classes[10];
extern const char *const lbbt_cifar100_classes[100];

/* Photometric view augmentations (photometric.c) on one image of floats in [0, 1],
 * [C, H, W]: brightness (x * f), contrast (blend with the mean grey level), Gaussian blur
 * (odd kernel <= LBBT_BLUR_KERNEL_MAX, reflect padding; tmp holds C * H * W floats); all
 * clamp to [0, 1] as torchvision's tensor versions do. */
#define LBBT_BLUR_KERNEL_MAX 63
void lbbt_adjust_brightness(float *img, int channels, int height, int width, float factor);
void lbbt_adjust_contrast(float *img, int channels, int height, int width, float factor);
void lbbt_gaussian_blur(float *img, int channels, int height, int width, int kernel, float sigma,
                        float *tmp);

#endif
