/* Finite-difference gradient check for ops built on the tape.
 *
 * The scalar checked is L = sum(out .* R) with R a fixed random tensor, so dL/dout = R and
 * the analytic gradient is one lbbt_tape_backward_from(out, R).  Numerical gradients are
 * central differences (L(x+h) - L(x-h)) / 2h with the sums taken in double.  An element
 * passes when |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
 * Tolerances are passed by each test case, declared next to its op (ggml style). */
#ifndef LBBT_GRADCHECK_H
#define LBBT_GRADCHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/rng.h"
#include "lbbt/tensor.h"

/* Build the op's output from the inputs on tape t. */
typedef lbbt_status (*gc_forward_fn)(lbbt_tape *t, lbbt_tensor **in, void *user, lbbt_tensor **out);

typedef struct gc_tolerance {
  double h;    /* finite-difference step */
  double atol; /* absolute tolerance */
  double rtol; /* relative tolerance */
} gc_tolerance;

typedef struct gc_result {
  lbbt_status status;  /* LBBT_OK or the op's failure */
  int ok;              /* every checked element within tolerance */
  double max_abs_err;
  char where[256];     /* first failing element: "input 1 [17]: analytic 0.1 numeric 0.2" */
} gc_result;

static inline double gc_loss_(lbbt_tensor *out, const float *r) {
  double s = 0;
  for (int64_t i = 0; i < out->numel; i++) s += (double)out->data[i] * r[i];
  return s;
}

/* Fill a heap tensor with N(0, scale) values from a seeded stream. */
static inline void gc_fill_normal(lbbt_tensor *x, uint64_t seed, double scale) {
  lbbt_rng r;
  lbbt_rng_seed(&r, seed);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)(scale * lbbt_rng_normal(&r));
}

/* Check d/d(in[i]) for every input with requires_grad; at most max_checks elements per
 * input (spread evenly) to keep big ops cheap. */
static inline gc_result gradcheck(gc_forward_fn fwd, lbbt_tensor **in, int n_in, void *user,
                                  gc_tolerance tol, int max_checks) {
  gc_result res = {LBBT_OK, 1, 0.0, ""};
  lbbt_tape *t = NULL;
  if ((res.status = lbbt_tape_create(&t)) != LBBT_OK) { res.ok = 0; return res; }
  lbbt_tape_set_training(t, 0); /* deterministic: no dropout */
  for (int i = 0; i < n_in; i++) lbbt_tensor_zero_grad(in[i]);
  lbbt_tensor *out = NULL;
  if ((res.status = fwd(t, in, user, &out)) != LBBT_OK) { res.ok = 0; goto done; }
  float *r = malloc((size_t)out->numel * sizeof(float));
  lbbt_rng rng;
  lbbt_rng_seed(&rng, 12345);
  for (int64_t i = 0; i < out->numel; i++) r[i] = (float)lbbt_rng_normal(&rng);
  if ((res.status = lbbt_tape_backward_from(t, out, r)) != LBBT_OK) { res.ok = 0; free(r); goto done; }
  lbbt_tape_set_recording(t, 0);
  for (int i = 0; i < n_in && res.ok; i++) {
    lbbt_tensor *x = in[i];
    if (!x->requires_grad) continue;
    int64_t step = x->numel > max_checks ? x->numel / max_checks : 1;
    for (int64_t j = 0; j < x->numel; j += step) {
      float orig = x->data[j];
      lbbt_tensor *o;
      x->data[j] = (float)(orig + tol.h);
      lbbt_tape_reset(t);
      if ((res.status = fwd(t, in, user, &o)) != LBBT_OK) { res.ok = 0; break; }
      double lp = gc_loss_(o, r);
      x->data[j] = (float)(orig - tol.h);
      lbbt_tape_reset(t);
      if ((res.status = fwd(t, in, user, &o)) != LBBT_OK) { res.ok = 0; break; }
      double lm = gc_loss_(o, r);
      x->data[j] = orig;
      /* the step actually applied in float */
      double num = (lp - lm) / (2.0 * tol.h);
      double ana = x->grad[j];
      double err = fabs(ana - num);
      if (err > res.max_abs_err) res.max_abs_err = err;
      /* written as !(err <= bound) so that a NaN gradient fails */
      if (!(err <= tol.atol + tol.rtol * fmax(fabs(ana), fabs(num)))) {
        res.ok = 0;
        snprintf(res.where, sizeof res.where, "input %d [%lld]: analytic %.6g numeric %.6g", i,
                 (long long)j, ana, num);
        break;
      }
    }
  }
  free(r);
done:
  lbbt_tape_free(t);
  return res;
}
#endif
