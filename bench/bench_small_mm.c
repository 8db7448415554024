/* Speed of lbbt_small_mm at each ISA level the machine has, on the attention engine's
 * shapes (not a test; for choosing tile shapes, see small_mm_kernel.h).
 *
 *   build/bench_small_mm [--seconds 1]
 *
 * Prints one line per (shape, level): "RESULT shape=... isa=... gflops=...", the best of 5
 * windows of the given length (the best, not the mean: other processes only slow a window).
 * Shapes: the cpu tier's vision attention (T = S = 49, head dim 32 at d 128 / 4 heads, 8 at
 * d 64 / 8 heads) and the language model's (T = S = 128, D = 32), each product of the fused
 * forward and backward with the transposes the engine uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/src/ops/small_mm.h"
#include "lbbt/isa.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct shape {
  const char *name;
  int64_t M, N, K;
  int trans_a, trans_b;
} shape;

int main(int argc, char **argv) {
  double seconds = 1.0;
  for (int i = 1; i + 1 < argc; i += 2)
    if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
  const shape shapes[] = {
      {"QK^T_49x49x32", 49, 49, 32, 0, 1}, {"PV_49x32x49", 49, 32, 49, 0, 0},
      {"P^TdO_49x32x49", 49, 32, 49, 1, 0}, {"QK^T_49x49x8", 49, 49, 8, 0, 1},
      {"PV_49x8x49", 49, 8, 49, 0, 0},      {"QK^T_128x128x32", 128, 128, 32, 0, 1},
      {"PV_128x32x128", 128, 32, 128, 0, 0}, {"P^TdO_128x32x128", 128, 32, 128, 1, 0},
  };
  const int64_t big = 128 * 160;
  float *a = aligned_alloc(64, big * sizeof(float)), *b = aligned_alloc(64, big * sizeof(float));
  float *c = aligned_alloc(64, big * sizeof(float)), *scratch = aligned_alloc(64, big * sizeof(float));
  if (!a || !b || !c || !scratch) return 1;
  for (int64_t i = 0; i < big; i++) a[i] = b[i] = (float)((i * 7919) % 101) / 101.0f - 0.5f;
  printf("machine level %s\n", lbbt_isa_name(lbbt_isa_machine()));
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const shape *p = &shapes[s];
    const int64_t ars = p->trans_a ? 1 : p->K, acs = p->trans_a ? p->M : 1;
    const int64_t brs = p->trans_b ? 1 : p->N, bcs = p->trans_b ? p->K : 1;
    for (int isa = 0; isa <= (int)lbbt_isa_machine(); isa++) {
      lbbt_small_mm_fn fn = lbbt_small_mm_at(isa);
      double best = 0;
      for (int w = 0; w < 5; w++) {
        int64_t reps = 0;
        const double t0 = now_s();
        double t;
        do {
          for (int r = 0; r < 64; r++)
            fn(p->M, p->N, p->K, a, ars, acs, b, brs, bcs, c, p->N, 1.0f, 0, scratch);
          reps += 64;
        } while ((t = now_s() - t0) < seconds / 5);
        const double gf = 2.0 * (double)(p->M * p->N * p->K) * (double)reps / t / 1e9;
        if (gf > best) best = gf;
      }
      printf("RESULT shape=%s isa=%s gflops=%.1f\n", p->name, lbbt_isa_name((lbbt_isa)isa), best);
    }
  }
  free(a);
  free(b);
  free(c);
  free(scratch);
  return 0;
}
