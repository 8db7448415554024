/* Data parallelism over MPI; see lbbt/dist.h.  The MPI calls are compiled only with
 * -DLBBT_MPI (make MPI=1: mpicc); otherwise one rank of one. */
#include "lbbt/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optim/optim_internal.h"

#ifdef LBBT_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_mpi = 0;
static float *g_flat = NULL; /* the gradient buffer, grown to the largest model seen */
static int64_t g_flat_cap = 0;
static double g_allreduce_s = 0;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#ifdef LBBT_MPI
static lbbt_status mpi_fail(int rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return lbbt_fail(LBBT_E_IO, "MPI rank %d of %d: %s: %.*s", g_rank, g_size, what, len, msg);
}

/* Launched by mpirun (Open MPI) or another PMI launcher? */
static int launched_by_mpirun(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}
#endif

lbbt_status lbbt_dist_init(int *argc, char ***argv) {
#ifdef LBBT_MPI
  if (g_mpi || !launched_by_mpirun()) return LBBT_OK;
  int rc = MPI_Init(argc, argv);
  if (rc != MPI_SUCCESS) return lbbt_fail(LBBT_E_IO, "MPI_Init failed (code %d)", rc);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_mpi = 1;
#else
  (void)argc;
  (void)argv;
#endif
  return LBBT_OK;
}

void lbbt_dist_abort(int code) {
#ifdef LBBT_MPI
  /* One rank failed: the others may be waiting in a collective for it, so end the whole job
   * rather than finalize (which would leave them waiting forever). */
  if (g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#else
  (void)code;
#endif
}

void lbbt_dist_finalize(void) {
  free(g_flat);
  g_flat = NULL;
  g_flat_cap = 0;
#ifdef LBBT_MPI
  if (g_mpi) MPI_Finalize();
#endif
  g_mpi = 0;
  g_rank = 0;
  g_size = 1;
}

int lbbt_dist_rank(void) { return g_rank; }
int lbbt_dist_size(void) { return g_size; }

const char *lbbt_dist_backend(void) {
#ifdef LBBT_MPI
  static char name[96];
  if (!name[0]) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    char *nl = strpbrk(lib, ",\n");
    if (nl) *nl = 0;
    snprintf(name, sizeof name, "MPI (%s)", lib);
  }
  return name;
#else
  return "none";
#endif
}

void lbbt_dist_shard(int64_t n, int64_t *lo, int64_t *hi) {
  int64_t base = n / g_size, extra = n % g_size, r = g_rank;
  *lo = r * base + (r < extra ? r : extra);
  *hi = *lo + base + (r < extra ? 1 : 0);
}

/* The i-th tensor whose gradient is reduced, or NULL to skip it (frozen, no grad). */
typedef lbbt_tensor *(*grad_source)(const void *src, int i);

static lbbt_tensor *model_grad(const void *src, int i) {
  const lbbt_model *m = src;
  return m->params[i].trainable && m->params[i].t->grad ? m->params[i].t : NULL;
}

static lbbt_tensor *optim_grad(const void *src, int i) {
  const optim_param *p = &((const lbbt_optim *)src)->params[i];
  return optim_param_active(p) ? p->t : NULL;
}

/* Scale the n tensors' gradients by weight, sum them over ranks through one flat buffer and
 * copy the sums back (every rank lists the same tensors in the same order). */
static lbbt_status allreduce_grads(const void *src, int count, grad_source at, double weight) {
  if (g_size == 1) return LBBT_OK;
  int64_t n = 0;
  for (int i = 0; i < count; i++) {
    const lbbt_tensor *t = at(src, i);
    if (t) n += t->numel;
  }
  if (n > g_flat_cap) {
    float *buf = realloc(g_flat, (size_t)n * sizeof *buf);
    if (!buf) return lbbt_fail(LBBT_E_NOMEM, "allreduce: out of memory for %lld gradient values", (long long)n);
    g_flat = buf;
    g_flat_cap = n;
  }
  int64_t off = 0;
  const float w = (float)weight;
  for (int i = 0; i < count; i++) {
    const lbbt_tensor *t = at(src, i);
    if (!t) continue;
    for (int64_t k = 0; k < t->numel; k++) g_flat[off + k] = t->grad[k] * w;
    off += t->numel;
  }
  double t0 = now_s();
#ifdef LBBT_MPI
  /* MPI counts are int: reduce in chunks of at most 2^30 values */
  for (int64_t done = 0; done < n;) {
    int chunk = (int)(n - done < (1 << 30) ? n - done : (1 << 30));
    int rc = MPI_Allreduce(MPI_IN_PLACE, g_flat + done, chunk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "allreduce of the gradients");
    done += chunk;
  }
#endif
  g_allreduce_s += now_s() - t0;
  off = 0;
  for (int i = 0; i < count; i++) {
    lbbt_tensor *t = at(src, i);
    if (!t) continue;
    memcpy(t->grad, g_flat + off, (size_t)t->numel * sizeof(float));
    off += t->numel;
  }
  return LBBT_OK;
}

lbbt_status lbbt_dist_allreduce_grads(lbbt_model *m, double weight) {
  return allreduce_grads(m, m->n_params, model_grad, weight);
}

lbbt_status lbbt_dist_allreduce_optim(lbbt_optim *o, double weight) {
  return allreduce_grads(o, o->n_params, optim_grad, weight);
}

lbbt_status lbbt_dist_sum(double *v, int n) {
  if (g_size == 1 || n <= 0) return LBBT_OK;
#ifdef LBBT_MPI
  int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "allreduce of the metrics");
#endif
  return LBBT_OK;
}

lbbt_status lbbt_dist_barrier(void) {
#ifdef LBBT_MPI
  if (g_mpi) {
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "barrier");
  }
#endif
  return LBBT_OK;
}

double lbbt_dist_allreduce_seconds(void) { return g_allreduce_s; }
