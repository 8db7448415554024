/* PNG index masks: one 8-bit grey PNG per image whose pixel values are class indices (255 =
 * ignore), the layout of ADE20K's annotations and of the prediction files mmseg writes
 * (PIL Image.fromarray(mask.astype(uint8)), mode "L"), so any mIoU tool can score lbbt's
 * predictions and lbbt can score theirs. */
#ifndef LBBT_PNG_MASK_H
#define LBBT_PNG_MASK_H
#include <stdint.h>

#include "lbbt/status.h"

/* Write mask u8 [h, w] to path as an 8-bit grey PNG, replacing it atomically (a temporary
 * file renamed over path: a killed writer leaves the old file or the new one).  h, w >= 1.
 * Errors name the file: LBBT_E_IO (cannot create or write), LBBT_E_INPUT (bad size). */
LBBT_API lbbt_status lbbt_png_mask_write(const char *path, const uint8_t *mask, int h, int w);

/* Read an index PNG (8-bit grey, or palette of <= 8 bits: the indices) into *out, u8
 * [*h, *w], malloc'd (the caller frees).  Other colour types and damaged files are
 * LBBT_E_INPUT naming the file. */
LBBT_API lbbt_status lbbt_png_mask_read(const char *path, uint8_t **out, int *h, int *w);

#endif
