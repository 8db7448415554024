/* make bench-mpi: the cost of lbbt_dist_allreduce_grads (lbbt/dist.h) by gradient size, under
 * mpirun -np N: for each size, a model with one trainable parameter of that many f32 values,
 * 2 warm-up calls, then the best of REPS calls (each after a barrier, so that waiting for a
 * late rank is not counted).  Rank 0 prints one line per size: the time, the algorithm
 * bandwidth (gradient bytes / time) and the bus bandwidth (x 2 (N-1)/N: the bytes a ring
 * allreduce moves through each rank), the figure that docs/SCALING.md scales. */
#include <stdio.h>
#include <time.h>

#include "lbbt/dist.h"
#include "lbbt/model.h"
#include "lbbt/tensor.h"

enum { REPS = 5 };
static const int64_t SIZES[] = {100000, 1000000, 10000000, 50000000};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lbbt_status time_size(int64_t n, double *best) {
  static const lbbt_model_ops OPS = {0};
  lbbt_model *m = NULL;
  lbbt_tensor *t = NULL;
  LBBT_TRY(lbbt_model_create(&m, &OPS, "allreduce-bench"));
  int64_t shape[1] = {n};
  lbbt_status st = lbbt_model_add_param(m, "grad", LBBT_PART_BLOCK, 0, 0, 1, shape, &t);
  if (st == LBBT_OK) st = lbbt_tensor_require_grad(t);
  if (st == LBBT_OK) m->params[0].trainable = 1;
  *best = 1e30;
  for (int r = 0; st == LBBT_OK && r < REPS + 2; r++) {
    for (int64_t i = 0; i < n; i++) t->grad[i] = (float)(i % 7);
    st = lbbt_dist_barrier();
    double t0 = now_s();
    if (st == LBBT_OK) st = lbbt_dist_allreduce_grads(m, 0.5);
    double dt = now_s() - t0;
    if (r >= 2 && dt < *best) *best = dt;
  }
  lbbt_model_free(m);
  return st;
}

int main(int argc, char **argv) {
  lbbt_status st = lbbt_dist_init(&argc, &argv);
  int size = lbbt_dist_size();
  if (st == LBBT_OK && lbbt_dist_rank() == 0)
    printf("| gradient values | MB | ranks | allreduce ms | algorithm GB/s | bus GB/s |\n|---|---|---|---|---|---|\n");
  for (size_t k = 0; st == LBBT_OK && k < sizeof SIZES / sizeof SIZES[0]; k++) {
    double best = 0;
    st = time_size(SIZES[k], &best);
    double bytes = 4.0 * (double)SIZES[k];
    if (st == LBBT_OK && lbbt_dist_rank() == 0)
      printf("| %lld | %.1f | %d | %.2f | %.2f | %.2f |\n", (long long)SIZES[k], bytes / 1e6, size, 1e3 * best,
             bytes / best / 1e9, 2.0 * (size - 1) / size * bytes / best / 1e9);
  }
  if (st != LBBT_OK) fprintf(stderr, "bench_allreduce: %s\n", lbbt_last_error());
  lbbt_dist_finalize();
  return st == LBBT_OK ? 0 : 1;
}
