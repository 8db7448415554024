/* The init modes of a pretrained backbone (spec.h lbbt_init_mode), applied per tensor after
 * the pretrained values are loaded, so every backbone gets the controls for free:
 *   LANGUAGE          keep the loaded values;
 *   SHUFFLED          permute the tensor's entries (seeded per tensor name): every value,
 *                     outlier and moment is kept, all structure is destroyed;
 *   MOMENT_MATCHED    replace by N(mean, std) of the loaded tensor (std = population std);
 *   SCRATCH_RESCALED  the architecture's scratch init, rescaled to the loaded tensor's L2 norm;
 *   SCRATCH           the architecture's scratch init (the loaded values are ignored).
 * `scratch` fills one tensor with the architecture's own initialisation. */
#ifndef LBBT_INIT_MODE_H
#define LBBT_INIT_MODE_H
#include "lbbt/types.h"
#include "lbbt/tensor.h"

typedef lbbt_status (*lbbt_scratch_init_fn)(lbbt_tensor *t, const char *name, uint64_t seed,
                                            void *user);
LBBT_API lbbt_status lbbt_apply_init_mode(lbbt_tensor *t, const char *name, lbbt_init_mode mode,
                                 uint64_t seed, lbbt_scratch_init_fn scratch, void *user);
/* Does the mode need the pretrained values loaded first? (all but SCRATCH) */
LBBT_API int lbbt_init_mode_needs_checkpoint(lbbt_init_mode mode);
LBBT_API const char *lbbt_init_mode_name(lbbt_init_mode mode);

#endif
