/* lbbt_mm_exec on the oneDNN matmul primitive; see mm_prim.h. */
#include "ops/mm_prim.h"

#include <string.h>

#include "ops/dnnl_util.h"

void lbbt_mm_view_of(lbbt_mm_view *v, int nd, int ndim, const int64_t *shape, int trans) {
  int64_t st[LBBT_MM_MAX_ND], s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  v->nd = nd;
  int pad = nd - ndim;
  for (int i = 0; i < nd; i++) {
    v->dims[i] = i < pad ? 1 : shape[i - pad];
    v->strides[i] = i < pad ? s : st[i - pad];
  }
  if (trans) {
    int64_t d = v->dims[nd - 1], t = v->strides[nd - 1];
    v->dims[nd - 1] = v->dims[nd - 2];
    v->strides[nd - 1] = v->strides[nd - 2];
    v->dims[nd - 2] = d;
    v->strides[nd - 2] = t;
  }
}

void lbbt_mm_view_2d(lbbt_mm_view *v, int64_t rows, int64_t cols, int trans) {
  lbbt_mm_view_of(v, 2, 2, (int64_t[]){rows, cols}, trans);
}

typedef struct mm_problem {
  dnnl_memory_desc_t src, wei, dst, bias;
  int has_bias, accumulate, has_residual;
  float scale;
} mm_problem;

static dnnl_status_t mm_build(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                              dnnl_primitive_attr_t attr, const void *user) {
  const mm_problem *p = user;
  dnnl_matmul_desc_t d;
  dnnl_status_t s =
      dnnl_matmul_desc_init(&d, &p->src, &p->wei, p->has_bias ? &p->bias : NULL, &p->dst);
  if (s != dnnl_success) return s;
  if (p->scale != 1.0f &&
      (s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &p->scale)) != dnnl_success)
    return s;
  if (p->accumulate || p->has_residual) {
    dnnl_post_ops_t po;
    if ((s = dnnl_post_ops_create(&po)) != dnnl_success) return s;
    if (p->accumulate) s = dnnl_post_ops_append_sum(po, 1.0f);
    /* the residual: a binary add of a tensor laid out as dst */
    if (s == dnnl_success && p->has_residual) s = dnnl_post_ops_append_binary(po, dnnl_binary_add, &p->dst);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    if (s != dnnl_success) return s;
  }
  return dnnl_primitive_desc_create(pd, &d, attr, engine, NULL);
}

static lbbt_status mm_run(const char *op, const lbbt_mm_view *src, const lbbt_mm_view *wei,
                          const lbbt_mm_view *dst, const float *bias, float scale, int accumulate,
                          const float *residual, const float *src_data, const float *wei_data,
                          float *dst_data) {
  mm_problem p;
  memset(&p, 0, sizeof p);
  LBBT_TRY(lbbt_dnnl_md_strided(&p.src, src->nd, src->dims, src->strides));
  LBBT_TRY(lbbt_dnnl_md_strided(&p.wei, wei->nd, wei->dims, wei->strides));
  LBBT_TRY(lbbt_dnnl_md_strided(&p.dst, dst->nd, dst->dims, dst->strides));
  p.accumulate = accumulate;
  p.has_residual = residual != NULL;
  p.scale = scale;
  p.has_bias = bias != NULL;
  if (bias) {
    int64_t bd[LBBT_MM_MAX_ND];
    for (int i = 0; i < dst->nd; i++) bd[i] = i == dst->nd - 1 ? dst->dims[i] : 1;
    LBBT_TRY(lbbt_dnnl_md(&p.bias, dst->nd, bd));
  }
  char key[LBBT_DNNL_KEY_MAX] = "";
  lbbt_dnnl_key_md(key, "src", &p.src);
  lbbt_dnnl_key_md(key, "wei", &p.wei);
  lbbt_dnnl_key_md(key, "dst", &p.dst);
  lbbt_dnnl_key_add(key, "%s%s%s", bias ? " bias" : "", accumulate ? " sum" : "",
                    residual ? " residual" : "");
  if (scale != 1.0f) lbbt_dnnl_key_add(key, " scale=%.9g", scale);
  lbbt_dnnl_prim *prim;
  LBBT_TRY(lbbt_dnnl_prim_get(op, key, mm_build, &p, &prim));
  lbbt_dnnl_arg args[5] = {{DNNL_ARG_SRC, (void *)src_data},
                           {DNNL_ARG_WEIGHTS, (void *)wei_data},
                           {DNNL_ARG_DST, dst_data}};
  int n = 3;
  if (bias) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_BIAS, (void *)bias};
  if (residual)
    args[n++] = (lbbt_dnnl_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(accumulate ? 1 : 0) | DNNL_ARG_SRC_1,
                                (void *)residual};
  return lbbt_dnnl_prim_exec(prim, args, n);
}

lbbt_status lbbt_mm_exec(const char *op, const lbbt_mm_view *src, const lbbt_mm_view *wei,
                         const lbbt_mm_view *dst, const float *bias, float scale, int accumulate,
                         const float *src_data, const float *wei_data, float *dst_data) {
  return mm_run(op, src, wei, dst, bias, scale, accumulate, NULL, src_data, wei_data, dst_data);
}

lbbt_status lbbt_mm_exec_residual(const char *op, const lbbt_mm_view *src,
                                  const lbbt_mm_view *wei, const lbbt_mm_view *dst,
                                  const float *bias, const float *residual,
                                  const float *src_data, const float *wei_data, float *dst_data) {
  return mm_run(op, src, wei, dst, bias, 1.0f, 0, residual, src_data, wei_data, dst_data);
}
