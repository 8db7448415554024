/* A loss as a function of a flat parameter vector, for the curvature analyses (hessian.h,
 * landscape.h).
 *
 * lbbt_objective is the abstract form: L(theta) and its gradient for theta in R^P, in double
 * precision at the interface.  Tests implement it analytically (linear regression, softmax
 * regression); lbbt_model_objective implements it for a model's training loss on one fixed
 * batch, so every analysis sees the same function of the parameters.
 *
 * The model objective:
 *  - parameters: all parameters of the model, or only those inside transformer blocks
 *    (LBBT_OBJ_PARAMS_BLOCKS: the pretrained part of a language backbone), flattened in the
 *    model's registration order; the others stay fixed at their current values;
 *  - loss: mean cross-entropy over the batch (no label smoothing), the model in eval mode
 *    (no dropout, no drop-path), so the loss is a deterministic function of theta;
 *  - evaluation sets the model's f32 parameters to theta (rounded to f32), runs the batch in
 *    chunks of at most `chunk` images (the gradient of the mean is accumulated chunk by
 *    chunk) and reads the f32 gradients back as doubles.  It leaves the parameters at
 *    whatever theta was evaluated last: call lbbt_model_objective_restore (or _free) to put
 *    back the values the objective was created with.
 * Why flat doubles: Lanczos vectors, directions and finite differences are summed over
 * hundreds of thousands of entries, where f32 accumulation would lose the small
 * differences the finite-difference Hessian-vector product is made of. */
#ifndef LBBT_OBJECTIVE_H
#define LBBT_OBJECTIVE_H
#include <stdint.h>

#include "lbbt/model.h"
#include "lbbt/status.h"

typedef struct lbbt_objective lbbt_objective;
/* loss at theta [n]; when grad is not NULL also the gradient [n] (else forward only). */
typedef lbbt_status (*lbbt_objective_fn)(lbbt_objective *o, const double *theta, double *loss,
                                         double *grad);
struct lbbt_objective {
  int64_t n;               /* P, the number of parameters */
  lbbt_objective_fn eval;  /* required */
  void *user;              /* the implementation's state */
  int64_t n_grad_evals;    /* gradient evaluations made through lbbt_objective_eval */
  int64_t n_loss_evals;    /* loss-only evaluations made through lbbt_objective_eval */
};

/* Evaluate and count (use this, not o->eval, so the cost is recorded).  A non-finite loss
 * or gradient is LBBT_E_NUMERIC. */
LBBT_API lbbt_status lbbt_objective_eval(lbbt_objective *o, const double *theta, double *loss,
                                double *grad);

/* One parameter tensor's place in the flat vector (for filter-normalised directions and for
 * naming the most sensitive parameter). */
typedef struct lbbt_param_segment {
  const char *name; /* the model's parameter name (borrowed from the model) */
  int64_t offset;   /* first index in the flat vector */
  int64_t numel;
  int64_t rows;     /* shape[0]: "filters" (output channels / rows of an [out, in] weight) */
  int ndim;         /* 1 for biases and norm gains */
} lbbt_param_segment;
/* The segment holding flat index i (segments sorted by offset); NULL when out of range. */
LBBT_API const lbbt_param_segment *lbbt_param_segment_at(const lbbt_param_segment *segs, int n_segs,
                                                int64_t i);

typedef enum {
  LBBT_OBJ_PARAMS_ALL,   /* every parameter of the model */
  LBBT_OBJ_PARAMS_BLOCKS /* parameters with part == LBBT_PART_BLOCK only */
} lbbt_obj_params;
/* "all" / "blocks" <-> enum; parse returns LBBT_E_INPUT for other text. */
LBBT_API lbbt_status lbbt_obj_params_parse(const char *text, lbbt_obj_params *out);
LBBT_API const char *lbbt_obj_params_name(lbbt_obj_params p);

typedef struct lbbt_model_objective lbbt_model_objective;
/* The training loss of `m` on images [N, C, H, W] (normalised f32) with labels [N] (both
 * copied).  chunk >= 1 bounds the images per forward pass (memory).  The objective borrows
 * m, which must outlive it; while it exists it owns the requires_grad flags of m's
 * parameters (set for the chosen ones, cleared for the rest; _free restores them). */
LBBT_API lbbt_status lbbt_model_objective_create(lbbt_model *m, const float *images,
                                        const int32_t *labels, int64_t N, int C, int H, int W,
                                        int chunk, lbbt_obj_params which,
                                        lbbt_model_objective **out);
/* Restores the parameters' values and requires_grad flags; NULL-safe. */
LBBT_API void lbbt_model_objective_free(lbbt_model_objective *mo);
LBBT_API lbbt_objective *lbbt_model_objective_base(lbbt_model_objective *mo); /* owned by mo */
/* The parameter values at creation, [P] doubles, owned by mo. */
LBBT_API const double *lbbt_model_objective_theta0(const lbbt_model_objective *mo);
/* Put the creation-time values back into the model. */
LBBT_API void lbbt_model_objective_restore(lbbt_model_objective *mo);
LBBT_API const lbbt_param_segment *lbbt_model_objective_segments(const lbbt_model_objective *mo,
                                                        int *n_segs);

#endif
