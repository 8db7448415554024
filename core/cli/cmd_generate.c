/* lbbt generate MODEL --prompt-ids "1 2 3" [--tokens N] [--temperature T] [--seed S]
 * Continues a prompt of token ids with the checkpoint as a language model: greedy (argmax)
 * by default, or sampled from softmax(logits / T) with a seeded stream.  Each step re-runs
 * the whole sequence (no KV cache: these are small models).  Prints the generated ids, space
 * separated, on one line, once all are generated.  Text prompts need a tokenizer, which lbbt does not have yet. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"

enum { MAX_PROMPT = 4096 };

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt generate MODEL --prompt-ids \"1 2 3\" [--tokens N] [--temperature T]\n"
          "                     [--seed S] [--plugin NAME]\n"
          "Continues the prompt (token ids, space or comma separated) by N tokens (default 32)\n"
          "and prints the new ids on one line.  Greedy (argmax) unless --temperature T > 0,\n"
          "which samples from softmax(logits / T) seeded by S (default 0).  MODEL is read as\n"
          "by lbbt model.  Text prompts need a tokenizer: not available yet, give ids.\n"
          "exit codes: 0 ok, 2 bad input (missing file, no plugin, no LM head, bad ids), 1 other\n");
}

/* "1 2, 3" -> ids; returns the count, or -1 on a bad token (message printed). */
static int parse_ids(const char *text, int32_t *ids, int cap) {
  int n = 0;
  const char *p = text;
  for (;;) {
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    if (!*p) break;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ' ' && *end != ',' && *end != '\t')) {
      fprintf(stderr, "lbbt generate: --prompt-ids: '%s' is not a list of non-negative integers\n", text);
      return -1;
    }
    if (n == cap) {
      fprintf(stderr, "lbbt generate: --prompt-ids: more than %d ids\n", cap);
      return -1;
    }
    ids[n++] = (int32_t)v;
    p = end;
  }
  if (!n) fprintf(stderr, "lbbt generate: --prompt-ids is empty\n");
  return n ? n : -1;
}

static int parse_number(const char *flag, const char *text, double lo, double *out) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end || !isfinite(v) || v < lo) {
    fprintf(stderr, "lbbt generate: %s: '%s' is not a number >= %g\n", flag, text, lo);
    return 0;
  }
  *out = v;
  return 1;
}

/* argmax, or a draw from softmax(logits / temperature). */
static int32_t next_token(const float *logits, int V, double temperature, lbbt_rng *rng) {
  int best = 0;
  for (int v = 1; v < V; v++)
    if (logits[v] > logits[best]) best = v;
  if (temperature <= 0) return best;
  double total = 0;
  for (int v = 0; v < V; v++) total += exp((logits[v] - logits[best]) / temperature);
  double u = lbbt_rng_uniform(rng) * total, acc = 0;
  for (int v = 0; v < V; v++) {
    acc += exp((logits[v] - logits[best]) / temperature);
    if (u < acc) return v;
  }
  return best;
}

int cmd_generate(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *path = NULL, *prompt = NULL, *plugin = NULL;
  double tokens = 32, temperature = 0, seed = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(a, "--prompt-ids") && has_value) prompt = argv[++i];
    else if (!strcmp(a, "--plugin") && has_value) plugin = argv[++i];
    else if (!strcmp(a, "--tokens") && has_value) {
      if (!parse_number(a, argv[++i], 0, &tokens) || tokens != floor(tokens) || tokens > 100000) {
        fprintf(stderr, "lbbt generate: --tokens wants a whole number in 0..100000\n");
        return 2;
      }
    } else if (!strcmp(a, "--temperature") && has_value) {
      if (!parse_number(a, argv[++i], 0, &temperature)) return 2;
    } else if (!strcmp(a, "--seed") && has_value) {
      if (!parse_number(a, argv[++i], 0, &seed) || seed != floor(seed)) return 2;
    } else if (a[0] == '-' || path) {
      fprintf(stderr, "lbbt generate: unexpected argument '%s'%s\n", a,
              a[0] == '-' && !has_value ? " (or its value is missing)" : "");
      usage(stderr);
      return 2;
    } else path = a;
  }
  if (!path || !prompt) {
    fprintf(stderr, "lbbt generate: needs MODEL and --prompt-ids \"ID ID ...\"\n");
    usage(stderr);
    return 2;
  }
  int n_new = (int)tokens;
  int32_t *seq = malloc((size_t)(MAX_PROMPT + n_new) * sizeof *seq);
  if (!seq) return cli_report(LBBT_E_NOMEM, "generate");
  int len = parse_ids(prompt, seq, MAX_PROMPT);
  if (len < 0) {
    free(seq);
    return 2;
  }
  cli_backbone b;
  int code = cli_open_backbone("generate", path, plugin, &b);
  if (code) {
    free(seq);
    return code;
  }
  lbbt_model *m = b.model;
  for (int i = 0; i < len; i++)
    if (seq[i] >= m->vocab_size) {
      fprintf(stderr, "lbbt generate: prompt id %d is outside the vocabulary [0, %d)\n", seq[i],
              m->vocab_size);
      code = 2;
      goto done;
    }
  lbbt_rng rng;
  lbbt_rng_derive(&rng, (uint64_t)seed, "generate", 0);
  lbbt_tape *tape = NULL;
  lbbt_status st = lbbt_tape_create(&tape);
  for (int step = 0; st == LBBT_OK && step < n_new; step++) {
    lbbt_tape_reset(tape);
    lbbt_tape_set_recording(tape, 0);
    lbbt_tape_set_training(tape, 0);
    lbbt_tensor *logits = NULL;
    st = m->ops->forward_language(m, tape, seq, 1, len, NULL, &logits);
    if (st != LBBT_OK) break;
    if (!logits) {
      fprintf(stderr, "lbbt generate: %s has no LM head (the %s plugin returns hidden states only)\n",
              path, b.plugin->name);
      code = 2;
      break;
    }
    seq[len] = next_token(logits->data + (int64_t)(len - 1) * m->vocab_size, m->vocab_size,
                          temperature, &rng);
    len++;
  }
  if (st != LBBT_OK) code = cli_report(st, "generate");
  if (!code) {
    for (int i = len - n_new; i < len; i++) printf("%s%d", i > len - n_new ? " " : "", seq[i]);
    printf("\n");
  }
  lbbt_tape_free(tape);
done:
  free(seq);
  cli_close_backbone(&b);
  return code;
}
