/* Process-wide kernel settings and the oneDNN state behind the dense ops (ops.h).
 *
 * The ops create oneDNN primitives lazily, once per (op, shapes, attributes), and keep them
 * in a process-wide cache together with one CPU engine and stream.  Nothing here is needed
 * to use the ops; these calls exist to control threads, to observe the cache (tests check
 * that a second identical step creates no primitive) and to release everything at exit so
 * that leak checkers stay quiet. */
#ifndef LBBT_KERNELS_H
#define LBBT_KERNELS_H
#include "lbbt/status.h"
#include <stddef.h>

/* Threads used by oneDNN primitives and by the ops' OpenMP loops (n >= 1; values < 1 are
 * ignored).  Call from the thread that runs the ops, before the first op for best effect. */
LBBT_API void lbbt_kernels_set_threads(int n);
LBBT_API int lbbt_kernels_threads(void);
/* Number of oneDNN primitives currently cached. */
LBBT_API size_t lbbt_kernels_cached_primitives(void);
/* Destroy every cached primitive, their memory objects, the scratchpad, the stream and the
 * engine.  Safe to call more than once; a later op re-creates what it needs. */
LBBT_API void lbbt_dnnl_shutdown(void);

#endif
