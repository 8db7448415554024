/* Dense-prediction inference on images larger or smaller than the model's input: sliding
 * windows and multi-scale + flip testing, as mmsegmentation does them for Segmenter
 * (mmseg's EncoderDecoder.slide_inference and its test-time augmentation).  The model is a
 * callback, so any dense predictor (a mask transformer, a per-pixel head) can use them.
 *
 * Sliding windows (mmseg slide mode, crop S, stride st): an image of H x W is first padded
 * with zeros (the dataset mean, after normalisation) to at least S x S; windows start at
 * multiples of st, h_grids = max(H - S + st - 1, 0) / st + 1 per axis, each shifted back
 * inside the image (y1 = max(min(y1 + S, H) - S, 0)); the logits of overlapping windows are
 * averaged per pixel, and the padding is cut off.
 * Multi-scale (Segmenter / mmseg TTA): for each ratio r the image resized bilinearly
 * (align_corners=False) to round(H r) x round(W r), and with flip its mirror image as well
 * (logits mirrored back), each run through the sliding windows, its logits resized
 * bilinearly back to H x W; the logits (not probabilities) are averaged over all of them. */
#ifndef LBBT_DENSE_INFERENCE_H
#define LBBT_DENSE_INFERENCE_H
#include "lbbt/tensor.h"

/* images [n, C, S, S] -> logits [n, K, S, S] on tape t (recording off). */
typedef lbbt_status (*lbbt_dense_forward_fn)(void *user, lbbt_tape *t, lbbt_tensor *images, lbbt_tensor **logits);

typedef struct lbbt_dense_inference {
  lbbt_dense_forward_fn forward;
  void *user;
  int channels; /* C */
  int classes;  /* K */
  int crop;     /* S: the window side */
  int stride;   /* st, 1..S */
  int batch;    /* windows per forward, >= 1 */
} lbbt_dense_inference;

/* image f32 [C, H, W] -> logits f32 [K, H, W] by sliding windows.  t is reset (recording
 * off) as the windows run.  Bad settings are LBBT_E_INPUT; a forward's error is returned. */
LBBT_API lbbt_status lbbt_dense_slide(const lbbt_dense_inference *d, lbbt_tape *t, const float *image, int H,
                                      int W, float *logits);

/* image [C, H, W] -> logits [K, H, W] averaged over ratios[0..n_ratios) (> 0) and, with
 * flip, their mirror images. */
LBBT_API lbbt_status lbbt_dense_multiscale(const lbbt_dense_inference *d, lbbt_tape *t, const float *image, int H,
                                           int W, const double *ratios, int n_ratios, int flip, float *logits);

/* Segmenter's multi-scale ratios: 0.5, 0.75, 1.0, 1.25, 1.5, 1.75. */
#define LBBT_SEGMENTER_MS_RATIOS {0.5, 0.75, 1.0, 1.25, 1.5, 1.75}

#endif
