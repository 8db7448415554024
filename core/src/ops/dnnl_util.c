/* oneDNN engine, stream, primitive cache and scratchpad; see dnnl_util.h. */
#include "ops/dnnl_util.h"

#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/kernels.h"

/* Execution arguments one primitive may take (src, weights, bias, dst, mean, variance,
 * scale, shift, workspace, and the diff_ variants cover every primitive used here). */
#define MAX_PRIM_ARGS 16
#define CACHE_BUCKETS 1024

typedef struct prim_arg_mem {
  int arg;
  dnnl_memory_t mem;
} prim_arg_mem;

struct lbbt_dnnl_prim {
  struct lbbt_dnnl_prim *next; /* bucket chain */
  char *key;                   /* "op|key" */
  char op[48];                 /* the op, for messages */
  uint64_t hash;
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t prim;
  size_t scratchpad_bytes;
  dnnl_memory_t scratch_mem; /* over the shared scratchpad; handle refreshed per execution */
  prim_arg_mem mems[MAX_PRIM_ARGS];
  int n_mems;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static lbbt_dnnl_prim *g_buckets[CACHE_BUCKETS];
static size_t g_n_prims;
static void *g_scratch;
static size_t g_scratch_bytes;

lbbt_status lbbt_dnnl_check(dnnl_status_t s, const char *op, const char *what,
                            const char *shapes) {
  if (s == dnnl_success) return LBBT_OK;
  lbbt_status code = s == dnnl_unimplemented    ? LBBT_E_UNSUPPORTED
                     : s == dnnl_out_of_memory ? LBBT_E_NOMEM
                                               : LBBT_E_INTERNAL;
  return lbbt_fail(code,
                   "%s: oneDNN could not %s (%s) for %s; %s", op, what, dnnl_status2str(s),
                   shapes && *shapes ? shapes : "these shapes",
                   code == LBBT_E_UNSUPPORTED
                       ? "this oneDNN build has no implementation for this case"
                       : "rerun with ONEDNN_VERBOSE=all for oneDNN's own diagnosis");
}

/* Caller holds g_lock. */
static lbbt_status engine_locked(void) {
  if (g_engine) return LBBT_OK;
  LBBT_TRY(lbbt_dnnl_check(dnnl_engine_create(&g_engine, dnnl_cpu, 0), "kernels",
                           "create the CPU engine", ""));
  dnnl_status_t s = dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags);
  if (s != dnnl_success) {
    dnnl_engine_destroy(g_engine);
    g_engine = NULL;
    return lbbt_dnnl_check(s, "kernels", "create the CPU stream", "");
  }
  return LBBT_OK;
}

lbbt_status lbbt_dnnl_engine(dnnl_engine_t *engine) {
  pthread_mutex_lock(&g_lock);
  lbbt_status st = engine_locked();
  *engine = g_engine;
  pthread_mutex_unlock(&g_lock);
  return st;
}

lbbt_status lbbt_dnnl_md(dnnl_memory_desc_t *md, int ndim, const int64_t *dims) {
  int64_t strides[DNNL_MAX_NDIMS];
  if (ndim < 1 || ndim > DNNL_MAX_NDIMS)
    return lbbt_fail(LBBT_E_INTERNAL, "dnnl_md: %d dims (1..%d allowed)", ndim, DNNL_MAX_NDIMS);
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i];
  }
  return lbbt_dnnl_md_strided(md, ndim, dims, strides);
}

lbbt_status lbbt_dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *dims,
                                 const int64_t *strides) {
  dnnl_dims_t d, s;
  if (ndim < 1 || ndim > DNNL_MAX_NDIMS)
    return lbbt_fail(LBBT_E_INTERNAL, "dnnl_md: %d dims (1..%d allowed)", ndim, DNNL_MAX_NDIMS);
  for (int i = 0; i < ndim; i++) {
    d[i] = dims[i];
    s[i] = strides[i];
  }
  return lbbt_dnnl_check(dnnl_memory_desc_init_by_strides(md, ndim, d, dnnl_f32, s), "kernels",
                         "describe a strided f32 buffer", "");
}

lbbt_status lbbt_dnnl_md_tensor(dnnl_memory_desc_t *md, const lbbt_tensor *t) {
  return lbbt_dnnl_md(md, t->ndim, t->shape);
}

lbbt_status lbbt_dnnl_memory(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, void *data) {
  dnnl_engine_t eng;
  LBBT_TRY(lbbt_dnnl_engine(&eng));
  return lbbt_dnnl_check(dnnl_memory_create(mem, md, eng, data), "kernels",
                         "wrap a buffer in a memory object", "");
}

void lbbt_dnnl_key_add(char *key, const char *fmt, ...) {
  size_t k = strlen(key);
  if (k + 1 >= LBBT_DNNL_KEY_MAX) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(key + k, LBBT_DNNL_KEY_MAX - k, fmt, ap);
  va_end(ap);
}

void lbbt_dnnl_key_md(char *key, const char *name, const dnnl_memory_desc_t *md) {
  lbbt_dnnl_key_add(key, " %s[", name);
  for (int i = 0; i < md->ndims; i++)
    lbbt_dnnl_key_add(key, i ? ",%lld" : "%lld", (long long)md->dims[i]);
  lbbt_dnnl_key_add(key, "]");
  if (md->format_kind != dnnl_blocked) return;
  /* Only non-row-major layouts need their strides in the key. */
  int64_t s = 1;
  int row_major = 1;
  for (int i = md->ndims - 1; i >= 0; i--) {
    if (md->format_desc.blocking.strides[i] != s && md->dims[i] != 1) row_major = 0;
    s *= md->dims[i];
  }
  if (row_major) return;
  lbbt_dnnl_key_add(key, "s[");
  for (int i = 0; i < md->ndims; i++)
    lbbt_dnnl_key_add(key, i ? ",%lld" : "%lld",
                      (long long)md->format_desc.blocking.strides[i]);
  lbbt_dnnl_key_add(key, "]");
}

/* The shapes part of a cache key "op| src[..] ...", for messages. */
static const char *key_shapes(const char *full_key) {
  const char *s = strchr(full_key, '|');
  s = s ? s + 1 : full_key;
  while (*s == ' ') s++;
  return s;
}

static uint64_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void prim_destroy(lbbt_dnnl_prim *p) {
  for (int i = 0; i < p->n_mems; i++) dnnl_memory_destroy(p->mems[i].mem);
  if (p->scratch_mem) dnnl_memory_destroy(p->scratch_mem);
  if (p->prim) dnnl_primitive_destroy(p->prim);
  if (p->pd) dnnl_primitive_desc_destroy(p->pd);
  free(p->key);
  free(p);
}

/* Caller holds g_lock. */
static lbbt_status prim_create_locked(const char *op, const char *full_key, uint64_t h,
                                      lbbt_dnnl_pd_builder build, const void *user,
                                      lbbt_dnnl_prim **out) {
  LBBT_TRY(engine_locked());
  const char *shapes = key_shapes(full_key);
  lbbt_dnnl_prim *p = calloc(1, sizeof *p);
  if (!p) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory for a primitive cache entry", op);
  p->key = strdup(full_key);
  p->hash = h;
  snprintf(p->op, sizeof p->op, "%s", op);
  if (!p->key) {
    free(p);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory for a primitive cache entry", op);
  }
  dnnl_primitive_attr_t attr = NULL;
  lbbt_status st = lbbt_dnnl_check(dnnl_primitive_attr_create(&attr), op,
                                   "create primitive attributes", shapes);
  if (st == LBBT_OK)
    st = lbbt_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                         op, "set the user scratchpad mode", shapes);
  if (st == LBBT_OK)
    st = lbbt_dnnl_check(build(&p->pd, g_engine, attr, user), op,
                         "create a primitive descriptor", shapes);
  if (attr) dnnl_primitive_attr_destroy(attr);
  if (st == LBBT_OK)
    st = lbbt_dnnl_check(dnnl_primitive_create(&p->prim, p->pd), op, "create the primitive",
                         shapes);
  if (st != LBBT_OK) {
    prim_destroy(p);
    return st;
  }
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
  p->scratchpad_bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
  p->next = g_buckets[h % CACHE_BUCKETS];
  g_buckets[h % CACHE_BUCKETS] = p;
  g_n_prims++;
  *out = p;
  return LBBT_OK;
}

lbbt_status lbbt_dnnl_prim_get(const char *op, const char *key, lbbt_dnnl_pd_builder build,
                               const void *user, lbbt_dnnl_prim **out) {
  /* A truncated key could name two different problems: refuse rather than collide. */
  if (strlen(key) >= LBBT_DNNL_KEY_MAX - 1 || strlen(op) >= 48)
    return lbbt_fail(LBBT_E_INTERNAL, "%s: primitive cache key too long (%zu bytes): %.80s...",
                     op, strlen(key), key);
  char full[LBBT_DNNL_KEY_MAX + 64];
  snprintf(full, sizeof full, "%s|%s", op, key);
  uint64_t h = hash_key(full);
  pthread_mutex_lock(&g_lock);
  lbbt_status st = LBBT_OK;
  lbbt_dnnl_prim *p = g_buckets[h % CACHE_BUCKETS];
  while (p && !(p->hash == h && strcmp(p->key, full) == 0)) p = p->next;
  if (!p) st = prim_create_locked(op, full, h, build, user, &p);
  pthread_mutex_unlock(&g_lock);
  *out = st == LBBT_OK ? p : NULL;
  return st;
}

size_t lbbt_dnnl_prim_arg_bytes(const lbbt_dnnl_prim *p, int arg) {
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(p->pd, dnnl_query_exec_arg_md, arg);
  return md ? dnnl_memory_desc_get_size(md) : 0;
}

/* The entry's memory object for arg, created on first use.  Caller holds g_lock. */
static lbbt_status arg_memory_locked(lbbt_dnnl_prim *p, int arg, dnnl_memory_t *mem) {
  for (int i = 0; i < p->n_mems; i++)
    if (p->mems[i].arg == arg) {
      *mem = p->mems[i].mem;
      return LBBT_OK;
    }
  const char *shapes = key_shapes(p->key);
  if (p->n_mems == MAX_PRIM_ARGS)
    return lbbt_fail(LBBT_E_INTERNAL, "%s: more than %d execution arguments for %s", p->op,
                     MAX_PRIM_ARGS, shapes);
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(p->pd, dnnl_query_exec_arg_md, arg);
  if (!md || md->ndims == 0)
    return lbbt_fail(LBBT_E_INTERNAL, "%s: the primitive for %s takes no argument %d", p->op,
                     shapes, arg);
  /* DNNL_MEMORY_NONE: the data handle is set before each execution. */
  LBBT_TRY(lbbt_dnnl_check(dnnl_memory_create(mem, md, g_engine, DNNL_MEMORY_NONE), p->op,
                           "create an argument memory object", shapes));
  p->mems[p->n_mems].arg = arg;
  p->mems[p->n_mems].mem = *mem;
  p->n_mems++;
  return LBBT_OK;
}

/* The primitive's scratchpad memory over the shared buffer, grown to at least its need.
 * Caller holds g_lock. */
static lbbt_status scratchpad_locked(lbbt_dnnl_prim *p, dnnl_memory_t *mem) {
  const char *shapes = key_shapes(p->key);
  if (p->scratchpad_bytes > g_scratch_bytes) {
    free(g_scratch);
    g_scratch = NULL;
    g_scratch_bytes = 0;
    size_t sz = (p->scratchpad_bytes + 4095) & ~(size_t)4095;
    if (posix_memalign(&g_scratch, 4096, sz) != 0) {
      g_scratch = NULL;
      return lbbt_fail(LBBT_E_NOMEM, "%s: cannot allocate a %zu-byte oneDNN scratchpad for %s",
                       p->op, sz, shapes);
    }
    g_scratch_bytes = sz;
  }
  if (!p->scratch_mem) {
    const dnnl_memory_desc_t *smd =
        dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
    LBBT_TRY(lbbt_dnnl_check(dnnl_memory_create(&p->scratch_mem, smd, g_engine, DNNL_MEMORY_NONE),
                             p->op, "create the scratchpad memory object", shapes));
  }
  LBBT_TRY(lbbt_dnnl_check(dnnl_memory_set_data_handle(p->scratch_mem, g_scratch), p->op,
                           "set the scratchpad buffer", shapes));
  *mem = p->scratch_mem;
  return LBBT_OK;
}

lbbt_status lbbt_dnnl_prim_exec(lbbt_dnnl_prim *p, const lbbt_dnnl_arg *args, int n_args) {
  dnnl_exec_arg_t ea[MAX_PRIM_ARGS + 1];
  const char *shapes = key_shapes(p->key);
  if (n_args > MAX_PRIM_ARGS)
    return lbbt_fail(LBBT_E_INTERNAL, "%s: %d execution arguments (max %d) for %s", p->op,
                     n_args, MAX_PRIM_ARGS, shapes);
  pthread_mutex_lock(&g_lock);
  lbbt_status st = LBBT_OK;
  int n = 0;
  for (int i = 0; i < n_args && st == LBBT_OK; i++) {
    dnnl_memory_t m = NULL;
    st = arg_memory_locked(p, args[i].arg, &m);
    if (st == LBBT_OK)
      st = lbbt_dnnl_check(dnnl_memory_set_data_handle(m, args[i].data), p->op,
                           "set an argument's buffer", shapes);
    ea[n].arg = args[i].arg;
    ea[n].memory = m;
    n++;
  }
  if (st == LBBT_OK && p->scratchpad_bytes > 0) {
    dnnl_memory_t sm = NULL;
    st = scratchpad_locked(p, &sm);
    ea[n].arg = DNNL_ARG_SCRATCHPAD;
    ea[n].memory = sm;
    n++;
  }
  if (st == LBBT_OK)
    st = lbbt_dnnl_check(dnnl_primitive_execute(p->prim, g_stream, n, ea), p->op,
                         "execute the primitive", shapes);
  if (st == LBBT_OK)
    st = lbbt_dnnl_check(dnnl_stream_wait(g_stream), p->op, "finish executing", shapes);
  pthread_mutex_unlock(&g_lock);
  return st;
}

/* ---- kernels.h ------------------------------------------------------------------------ */
void lbbt_kernels_set_threads(int n) {
  if (n >= 1) omp_set_num_threads(n);
}
int lbbt_kernels_threads(void) { return omp_get_max_threads(); }

size_t lbbt_kernels_cached_primitives(void) {
  pthread_mutex_lock(&g_lock);
  size_t n = g_n_prims;
  pthread_mutex_unlock(&g_lock);
  return n;
}

void lbbt_dnnl_shutdown(void) {
  pthread_mutex_lock(&g_lock);
  for (int b = 0; b < CACHE_BUCKETS; b++) {
    lbbt_dnnl_prim *p = g_buckets[b];
    while (p) {
      lbbt_dnnl_prim *next = p->next;
      prim_destroy(p);
      p = next;
    }
    g_buckets[b] = NULL;
  }
  g_n_prims = 0;
  free(g_scratch);
  g_scratch = NULL;
  g_scratch_bytes = 0;
  if (g_stream) dnnl_stream_destroy(g_stream);
  g_stream = NULL;
  if (g_engine) dnnl_engine_destroy(g_engine);
  g_engine = NULL;
  pthread_mutex_unlock(&g_lock);
}
