/* Colour-free photometric augmentations of one image held as floats in [0, 1], channel
 * planes [C, H, W]: brightness and contrast (torchvision's ColorJitter on tensors, which is
 * what a grey image can take of it) and Gaussian blur (torchvision GaussianBlur, SimCLR's
 * blur).  The batcher draws the factors (dataset.h); these only apply them. */
#include <math.h>
#include <string.h>

#include "data/data_internal.h"

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

/* F.adjust_brightness: blend with black, x' = clamp(f * x, 0, 1). */
void lbbt_adjust_brightness(float *img, int channels, int height, int width, float factor) {
  const int64_t n = (int64_t)channels * height * width;
  for (int64_t i = 0; i < n; i++) img[i] = clamp01(factor * img[i]);
}

/* F.adjust_contrast: blend with the mean of the image's grey version,
 * x' = clamp(f * x + (1 - f) * m, 0, 1); grey = 0.2989 R + 0.587 G + 0.114 B for 3 channels
 * (torchvision's rgb_to_grayscale), the image itself for 1. */
void lbbt_adjust_contrast(float *img, int channels, int height, int width, float factor) {
  const int64_t hw = (int64_t)height * width;
  double m = 0;
  if (channels == 3) {
    for (int64_t i = 0; i < hw; i++)
      m += 0.2989 * img[i] + 0.587 * img[hw + i] + 0.114 * img[2 * hw + i];
  } else {
    for (int64_t i = 0; i < (int64_t)channels * hw; i++) m += img[i];
    m /= (double)channels;
  }
  m /= (double)hw;
  const float mf = (float)m;
  for (int64_t i = 0; i < (int64_t)channels * hw; i++) img[i] = clamp01(factor * img[i] + (1.0f - factor) * mf);
}

/* Index of position p in [0, n) after PyTorch's "reflect" padding (no edge repeat). */
static int reflect(int p, int n) {
  if (n == 1) return 0;
  while (p < 0 || p >= n) p = p < 0 ? -p : 2 * (n - 1) - p;
  return p;
}

/* torchvision F.gaussian_blur: kernel_size k (odd), weights exp(-x^2 / (2 sigma^2)) at
 * x = -(k-1)/2 .. (k-1)/2, normalised; reflect padding; separable (rows, then columns).
 * tmp holds C * H * W floats. */
void lbbt_gaussian_blur(float *img, int channels, int height, int width, int kernel, float sigma,
                        float *tmp) {
  float w[LBBT_BLUR_KERNEL_MAX];
  const int r = kernel / 2;
  double s = 0;
  for (int i = 0; i < kernel; i++) {
    double x = (double)(i - r) / sigma;
    w[i] = (float)exp(-0.5 * x * x);
    s += w[i];
  }
  for (int i = 0; i < kernel; i++) w[i] = (float)(w[i] / s);
  const int64_t hw = (int64_t)height * width;
  for (int c = 0; c < channels; c++) {
    const float *src = img + c * hw;
    float *dst = tmp + c * hw;
    for (int y = 0; y < height; y++)
      for (int x = 0; x < width; x++) {
        float acc = 0;
        for (int k = -r; k <= r; k++) acc += w[k + r] * src[(int64_t)y * width + reflect(x + k, width)];
        dst[(int64_t)y * width + x] = acc;
      }
    float *out = img + c * hw;
    for (int y = 0; y < height; y++)
      for (int x = 0; x < width; x++) {
        float acc = 0;
        for (int k = -r; k <= r; k++) acc += w[k + r] * dst[(int64_t)reflect(y + k, height) * width + x];
        out[(int64_t)y * width + x] = acc;
      }
  }
}
