/* oneDNN plumbing shared by the dense ops (internal to the core library).
 *
 * - One CPU engine and one in-order stream for the whole process, created on first use.
 * - A primitive cache keyed by a string that names the op, the shapes (and strides) and
 *   the attributes, e.g. "matmul|src[64,32]s[32,1] wei[32,16]s[1,32] dst[64,16] sum".  A
 *   primitive is created the first time its key is seen and reused afterwards; every
 *   cache entry also keeps one dnnl_memory_t per execution argument so that executing
 *   it only swaps data pointers (no allocation per call).
 * - Primitives use the user scratchpad mode; one process-wide scratchpad, grown to the
 *   largest requirement, backs them all.
 * - Memory descriptors are plain row-major f32 (or explicitly strided) views of buffers
 *   that already exist (tensor data and grads, arena scratch): the ops never copy into
 *   oneDNN-owned buffers.
 *
 * Threading: cache lookups and executions take one process-wide mutex, so concurrent
 * callers are correct but serialised; oneDNN itself parallelises every primitive with
 * OpenMP.  That is the intended use: one training thread driving all cores. */
#ifndef LBBT_OPS_DNNL_UTIL_H
#define LBBT_OPS_DNNL_UTIL_H
#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>

#include "lbbt/status.h"
#include "lbbt/tensor.h"

/* Longest cache key, in bytes, including the terminating NUL. */
#define LBBT_DNNL_KEY_MAX 512

/* The process-wide CPU engine (created on first call). */
lbbt_status lbbt_dnnl_engine(dnnl_engine_t *engine);

/* LBBT_OK when s is dnnl_success; otherwise sets a message naming the op, what was being
 * done (e.g. "create matmul primitive") and the shapes, and returns LBBT_E_UNSUPPORTED
 * (oneDNN has no implementation for this case), LBBT_E_NOMEM or LBBT_E_INTERNAL. */
lbbt_status lbbt_dnnl_check(dnnl_status_t s, const char *op, const char *what,
                            const char *shapes);

/* Row-major f32 descriptor of dims[0..ndim) (last dim contiguous). */
lbbt_status lbbt_dnnl_md(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);
/* f32 descriptor with explicit element strides, e.g. a transposed view of a matrix. */
lbbt_status lbbt_dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *dims,
                                 const int64_t *strides);
/* Descriptor of a tensor's shape, row-major. */
lbbt_status lbbt_dnnl_md_tensor(dnnl_memory_desc_t *md, const lbbt_tensor *t);
/* A memory object over an existing buffer (no copy).  Caller destroys it with
 * dnnl_memory_destroy(); the buffer stays the caller's. */
lbbt_status lbbt_dnnl_memory(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, void *data);

/* Append " name[d0,d1,...]" (and "s[...]" when not row-major) to key; keys are truncated
 * safely at LBBT_DNNL_KEY_MAX. */
void lbbt_dnnl_key_md(char *key, const char *name, const dnnl_memory_desc_t *md);
/* Append printf-formatted text to key. */
void lbbt_dnnl_key_add(char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- primitive cache ------------------------------------------------------------------ */
typedef struct lbbt_dnnl_prim lbbt_dnnl_prim;

/* Build the primitive descriptor for a cache miss.  attr already asks for the user
 * scratchpad; a builder may add post-ops to it.  user is the caller's description. */
typedef dnnl_status_t (*lbbt_dnnl_pd_builder)(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                              dnnl_primitive_attr_t attr, const void *user);

/* The cached primitive for (op, key), created with build(user) on a miss.  The pointer
 * stays valid until lbbt_dnnl_shutdown().  op is at most 47 characters; a key that filled
 * LBBT_DNNL_KEY_MAX (so may have been truncated) is refused with LBBT_E_INTERNAL. */
lbbt_status lbbt_dnnl_prim_get(const char *op, const char *key, lbbt_dnnl_pd_builder build,
                               const void *user, lbbt_dnnl_prim **out);
/* Bytes the primitive needs for an execution argument (e.g. DNNL_ARG_WORKSPACE); 0 when it
 * takes no such argument. */
size_t lbbt_dnnl_prim_arg_bytes(const lbbt_dnnl_prim *p, int arg);

typedef struct lbbt_dnnl_arg {
  int arg;    /* DNNL_ARG_SRC, DNNL_ARG_DST, ... */
  void *data; /* buffer laid out as the descriptor the builder gave for this argument */
} lbbt_dnnl_arg;
/* Execute synchronously with these buffers (at most 16 arguments). */
lbbt_status lbbt_dnnl_prim_exec(lbbt_dnnl_prim *p, const lbbt_dnnl_arg *args, int n_args);

/* ---- OpenMP helpers for the C loops --------------------------------------------------- */
/* Loops over fewer elements than this run on one thread: the fork/join costs more. */
#define LBBT_PAR_MIN_ELEMS 16384

#endif
