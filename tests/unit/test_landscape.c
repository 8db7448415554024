/* Loss landscapes: filter-normalised directions (Li et al. 2018) and the 2-D grid, on a
 * quadratic where the landscape is known in closed form, and on the tiny transformer. */
#include <omp.h>

#include "curvature_fixtures.h"
#include "lbbt/landscape.h"
#include "test.h"

/* Closed-form quantities: only rounding (the grid is computed in double). */
#define NORM_TOL 1e-12
#define QUADRATIC_TOL 1e-10

static double unit_scale(int j) { return 1.0 + 0.1 * j; }

/* Four "tensors": a [3, 4] weight, a [4] bias, a [2, 2, 2] conv-like weight, a [2] gain. */
static const lbbt_param_segment SEGS[] = {
    {"w", 0, 12, 3, 2}, {"b", 12, 4, 4, 1}, {"conv", 16, 8, 2, 3}, {"gain", 24, 2, 2, 1}};
enum { NSEG = 4, NPAR = 26 };

static void filter_normalisation(void) {
  double theta[NPAR], d1[NPAR], d2[NPAR], again[NPAR];
  for (int i = 0; i < NPAR; i++) theta[i] = sin(1.0 + i) * (i % 5 == 0 ? 3 : 1);
  theta[4] = theta[5] = theta[6] = theta[7] = 0; /* a zero row of w gets a zero direction */
  REQUIRE(lbbt_landscape_direction(SEGS, NSEG, theta, NPAR, 7, 0, d1) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_landscape_direction(SEGS, NSEG, theta, NPAR, 7, 1, d2) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_landscape_direction(SEGS, NSEG, theta, NPAR, 7, 0, again) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(!memcmp(d1, again, sizeof d1), "the same seed and index give the same direction");
  int differ = 0;
  for (int i = 0; i < NPAR; i++) differ |= d1[i] != d2[i];
  CHECK(differ, "directions 0 and 1 differ");
  for (int s = 0; s < NSEG; s++) {
    const lbbt_param_segment *g = &SEGS[s];
    int64_t len = g->numel / g->rows;
    for (int64_t r = 0; r < g->rows; r++) {
      double dn = 0, tn = 0;
      for (int64_t i = g->offset + r * len; i < g->offset + (r + 1) * len; i++) {
        dn += d1[i] * d1[i];
        tn += theta[i] * theta[i];
      }
      if (g->ndim < 2)
        CHECK(dn == 0, "%s (1-D) must be zero in the direction", g->name);
      else
        CHECK_CLOSE(sqrt(dn), sqrt(tn), NORM_TOL, NORM_TOL, g->name);
    }
  }
  /* a layout that does not cover the vector is an internal error, not a silent gap */
  lbbt_param_segment bad[1] = {{"w", 0, 12, 3, 2}};
  CHECK(lbbt_landscape_direction(bad, 1, theta, NPAR, 7, 0, d1) == LBBT_E_INTERNAL, "partial layout refused");
}

/* On L(w) = ||Xw - y||^2 / 2n the landscape is L0 + a g.d1 + b g.d2 + (a d1 + b d2)' H (a d1 + b d2) / 2. */
static void quadratic_landscape(void) {
  enum { N = 50, SIZE = 7 };
  linreg *lr = linreg_create(N, NPAR, 4, unit_scale);
  double H[NPAR * NPAR], theta[NPAR], g[NPAR], d1[NPAR], d2[NPAR], l0;
  linreg_hessian(lr, H);
  for (int i = 0; i < NPAR; i++) theta[i] = 0.2 * cos(i) + 0.1;
  REQUIRE(lbbt_objective_eval(&lr->obj, theta, &l0, g) == LBBT_OK, "eval");
  REQUIRE(lbbt_landscape_direction(SEGS, NSEG, theta, NPAR, 3, 0, d1) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_landscape_direction(SEGS, NSEG, theta, NPAR, 3, 1, d2) == LBBT_OK, "%s", lbbt_last_error());
  double grid[SIZE * SIZE], alphas[SIZE];
  REQUIRE(lbbt_landscape_grid(&lr->obj, theta, d1, d2, SIZE, 0.5, grid, NULL, NULL) == LBBT_OK, "%s",
          lbbt_last_error());
  lbbt_landscape_alphas(SIZE, 0.5, alphas);
  CHECK(alphas[0] == -0.5 && alphas[SIZE - 1] == 0.5 && alphas[SIZE / 2] == 0, "alphas span [-0.5, 0.5]");
  double gd1 = 0, gd2 = 0, h11 = 0, h12 = 0, h22 = 0;
  for (int i = 0; i < NPAR; i++) {
    gd1 += g[i] * d1[i];
    gd2 += g[i] * d2[i];
    for (int j = 0; j < NPAR; j++) {
      h11 += d1[i] * H[i * NPAR + j] * d1[j];
      h12 += d1[i] * H[i * NPAR + j] * d2[j];
      h22 += d2[i] * H[i * NPAR + j] * d2[j];
    }
  }
  for (int i = 0; i < SIZE; i++)
    for (int j = 0; j < SIZE; j++) {
      double a = alphas[i], b = alphas[j];
      double want = l0 + a * gd1 + b * gd2 + 0.5 * (a * a * h11 + 2 * a * b * h12 + b * b * h22);
      CHECK_CLOSE(grid[i * SIZE + j], want, QUADRATIC_TOL, QUADRATIC_TOL, "grid value");
    }
  CHECK(lr->obj.n_loss_evals == SIZE * SIZE && lr->obj.n_grad_evals == 1, "one loss evaluation per point");
  CHECK(lbbt_landscape_grid(&lr->obj, theta, d1, d2, 1, 0.5, grid, NULL, NULL) == LBBT_E_INPUT, "size 1 refused");
  linreg_free(lr);
}

/* On a model: the centre of the grid is the loss at the current weights, which are left as
 * they were; biases and norm gains stay put. */
static void model_landscape_centre(void) {
  lbbt_model *m = tiny_transformer_create(0.3, 9);
  REQUIRE(m, "tiny model");
  enum { B = 10, PIX = 16, SIZE = 3 };
  float images[B * PIX];
  int32_t labels[B];
  random_batch(B, PIX, TINY_CLASSES, 2, images, labels);
  float w_before = m->params[0].t->data[0];
  lbbt_model_objective *mo = NULL;
  REQUIRE(lbbt_model_objective_create(m, images, labels, B, 1, 4, 4, 4, LBBT_OBJ_PARAMS_ALL, &mo) == LBBT_OK, "%s",
          lbbt_last_error());
  lbbt_objective *o = lbbt_model_objective_base(mo);
  int nseg;
  const lbbt_param_segment *segs = lbbt_model_objective_segments(mo, &nseg);
  const double *t0 = lbbt_model_objective_theta0(mo);
  double *d1 = malloc(sizeof(double) * o->n), *d2 = malloc(sizeof(double) * o->n), grid[SIZE * SIZE], l0;
  REQUIRE(lbbt_landscape_direction(segs, nseg, t0, o->n, 1, 0, d1) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_landscape_direction(segs, nseg, t0, o->n, 1, 1, d2) == LBBT_OK, "%s", lbbt_last_error());
  for (int s = 0; s < nseg; s++)
    if (segs[s].ndim == 1)
      for (int64_t i = 0; i < segs[s].numel; i++) CHECK(d1[segs[s].offset + i] == 0, "%s moves", segs[s].name);
  REQUIRE(lbbt_objective_eval(o, t0, &l0, NULL) == LBBT_OK, "eval");
  REQUIRE(lbbt_landscape_grid(o, t0, d1, d2, SIZE, 1.0, grid, NULL, NULL) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(grid[SIZE * SIZE / 2] == l0, "centre %g vs loss %g", grid[SIZE * SIZE / 2], l0);
  int varies = 0;
  for (int i = 0; i < SIZE * SIZE; i++) varies |= grid[i] != l0;
  CHECK(varies, "the loss changes across the grid");
  CHECK(m->params[0].t->data[0] != w_before, "the last grid point moved the weights");
  lbbt_model_objective_free(mo);
  CHECK(m->params[0].t->data[0] == w_before, "weights restored");
  free(d1);
  free(d2);
  lbbt_model_free(m);
}

TEST_MAIN_BEGIN("test_landscape")
omp_set_num_threads(1); /* tiny models: see test_hessian.c */
TEST_RUN(filter_normalisation);
TEST_RUN(quadratic_landscape);
TEST_RUN(model_landscape_centre);
TEST_MAIN_END()
