/* A scratch GPT-2 backbone spec of a given size, for tests that borrow its blocks or build
 * its language model without a checkpoint (the gpt2 plugin reads these options as its
 * config). vocab_size 0 leaves the plugin's default. Callers set patch_size, pool,
 * attention and the rest afterwards. */
#ifndef LBBT_TEST_GPT2_SPEC_H
#define LBBT_TEST_GPT2_SPEC_H
#include <stdio.h>
#include <string.h>

#include "lbbt/spec.h"

static inline void scratch_gpt2_spec(lbbt_backbone_spec *s, int n_embd, int n_layer, int n_head, int vocab_size) {
  memset(s, 0, sizeof *s);
  snprintf(s->plugin, sizeof s->plugin, "gpt2");
  s->init = LBBT_INIT_SCRATCH;
  const char *keys[4] = {"n_embd", "n_layer", "n_head", "vocab_size"};
  const int vals[4] = {n_embd, n_layer, n_head, vocab_size};
  for (int i = 0; i < 4; i++) {
    if (i == 3 && vocab_size <= 0) break;
    lbbt_option *o = &s->options[s->n_options++];
    snprintf(o->key, sizeof o->key, "%s", keys[i]);
    snprintf(o->value, sizeof o->value, "%d", vals[i]);
  }
}

#endif
