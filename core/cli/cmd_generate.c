/* lbbt generate MODEL (--prompt-ids "1 2 3" | --prompt TEXT) [--tokens N] [--temperature T]
 *                    [--top-k K] [--seed S] [--stop-at-eod]
 * Continues a prompt with the checkpoint as a language model: greedy (argmax) by default, or
 * sampled from softmax(logits / T), optionally over the K most likely tokens only, with a
 * seeded stream.  Each step re-runs the sequence (no KV cache: these are small models); when
 * the model's config.json gives its number of positions, only the last that many tokens are
 * fed, so generation can run past the context.
 *
 * Ids in, ids out: the generated ids, space separated, on one line.
 * Text in, text out: models pretrained by lbbt (lm-pretrain) carry lbbt_tokenizer.json; the
 * prompt is encoded with it after an end-of-document token (the model then continues a
 * document that starts with the prompt), and the prompt plus the decoded continuation are
 * printed.  An end-of-document token prints as a line holding only "%" (the fortune files'
 * separator) unless --stop-at-eod ends generation there. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "lbbt/checkpoint.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/tokenizer.h"

enum { MAX_PROMPT = 4096 };

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt generate MODEL (--prompt-ids \"1 2 3\" | --prompt TEXT) [--tokens N]\n"
          "                     [--temperature T] [--top-k K] [--seed S] [--stop-at-eod]\n"
          "                     [--plugin NAME]\n"
          "Continues the prompt by N tokens (default 32).  Greedy (argmax) unless\n"
          "--temperature T > 0, which samples from softmax(logits / T) seeded by S (default 0),\n"
          "over the K most likely tokens when --top-k K is given.  MODEL is read as by lbbt\n"
          "model.  --prompt-ids (ids, space or comma separated) prints the new ids on one line.\n"
          "Text prompts need a tokenizer: models pretrained by lbbt (lm-pretrain) carry\n"
          "lbbt_tokenizer.json, and --prompt TEXT then prints the prompt and the decoded\n"
          "continuation; an end of document prints as a line '%%' unless --stop-at-eod.\n"
          "exit codes: 0 ok, 2 bad input (missing file, no plugin, no LM head, bad ids, no\n"
          "tokenizer for --prompt), 1 other\n");
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

static int cmp_desc(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

/* argmax, or a draw from softmax(logits / temperature) over the top_k largest (0 = all).
 * scratch holds V floats. */
static int32_t next_token(const float *logits, int V, double temperature, int top_k, float *scratch,
                          lbbt_rng *rng) {
  int best = 0;
  for (int v = 1; v < V; v++)
    if (logits[v] > logits[best]) best = v;
  if (temperature <= 0) return best;
  /* Tokens tied with the k-th largest logit are all kept, so the result does not depend on
   * the order ties would be sorted in. */
  float floor_logit = -INFINITY;
  if (top_k > 0 && top_k < V) {
    memcpy(scratch, logits, (size_t)V * sizeof *scratch);
    qsort(scratch, (size_t)V, sizeof *scratch, cmp_desc);
    floor_logit = scratch[top_k - 1];
  }
  double total = 0;
  for (int v = 0; v < V; v++)
    if (logits[v] >= floor_logit) total += exp((logits[v] - logits[best]) / temperature);
  double u = lbbt_rng_uniform(rng) * total, acc = 0;
  for (int v = 0; v < V; v++) {
    if (logits[v] < floor_logit) continue;
    acc += exp((logits[v] - logits[best]) / temperature);
    if (u < acc) return v;
  }
  return best;
}

/* The folder a checkpoint lives in: path itself when it is a folder, else its parent. */
static void model_dir(const char *path, char *dir, size_t n) {
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    snprintf(dir, n, "%s", path);
    return;
  }
  const char *slash = strrchr(path, '/');
  if (slash)
    snprintf(dir, n, "%.*s", (int)(slash - path), path);
  else
    snprintf(dir, n, ".");
}

/* The number of positions from <dir>/config.json (GPT-2 n_positions / n_ctx, Llama
 * max_position_embeddings); 0 when unknown. */
static int context_of(const char *dir) {
  char p[LBBT_PATH_MAX + 32];
  snprintf(p, sizeof p, "%s/config.json", dir);
  struct stat sb;
  if (stat(p, &sb) != 0) return 0;
  json_t *cfg = NULL;
  if (lbbt_json_read_file(p, &cfg) != LBBT_OK) {
    lbbt_clear_error();
    return 0;
  }
  static const char *const KEYS[] = {"n_positions", "n_ctx", "max_position_embeddings"};
  int ctx = 0;
  for (int i = 0; i < 3 && !ctx; i++) {
    json_t *v = json_object_get(cfg, KEYS[i]);
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < (1 << 24))
      ctx = (int)json_integer_value(v);
  }
  json_decref(cfg);
  return ctx;
}

/* Write token bytes (EOD as a "%" line, starting a new line if needed). */
static void print_token(const lbbt_tokenizer *tok, int32_t id, int *at_line_start) {
  if (id == LBBT_TOKEN_EOD) {
    fputs(*at_line_start ? "%\n" : "\n%\n", stdout);
    *at_line_start = 1;
    return;
  }
  const char *b;
  int len;
  if (lbbt_tokenizer_token_bytes(tok, id, &b, &len) != LBBT_OK) return;
  fwrite(b, 1, (size_t)len, stdout);
  if (len) *at_line_start = b[len - 1] == '\n';
}

int cmd_generate(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *path = NULL, *prompt_ids = NULL, *prompt_text = NULL, *plugin = NULL;
  double tokens = 32, temperature = 0, seed = 0, top_k = 0;
  int stop_at_eod = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(a, "--prompt-ids") && has_value) prompt_ids = argv[++i];
    else if (!strcmp(a, "--prompt") && has_value) prompt_text = argv[++i];
    else if (!strcmp(a, "--plugin") && has_value) plugin = argv[++i];
    else if (!strcmp(a, "--stop-at-eod")) stop_at_eod = 1;
    else if (!strcmp(a, "--tokens") && has_value) {
      if (!parse_number(a, argv[++i], 0, &tokens) || tokens != floor(tokens) || tokens > 100000) {
        fprintf(stderr, "lbbt generate: --tokens wants a whole number in 0..100000\n");
        return 2;
      }
    } else if (!strcmp(a, "--temperature") && has_value) {
      if (!parse_number(a, argv[++i], 0, &temperature)) return 2;
    } else if (!strcmp(a, "--top-k") && has_value) {
      if (!parse_number(a, argv[++i], 1, &top_k) || top_k != floor(top_k) || top_k > 1e9) {
        fprintf(stderr, "lbbt generate: --top-k wants a whole number >= 1\n");
        return 2;
      }
    } else if (!strcmp(a, "--seed") && has_value) {
      if (!parse_number(a, argv[++i], 0, &seed) || seed != floor(seed)) return 2;
    } else if (a[0] == '-' || path) {
      fprintf(stderr, "lbbt generate: unexpected argument '%s'%s\n", a,
              a[0] == '-' && !has_value ? " (or its value is missing)" : "");
      usage(stderr);
      return 2;
    } else path = a;
  }
  if (!path || (!prompt_ids && !prompt_text) || (prompt_ids && prompt_text)) {
    fprintf(stderr, "lbbt generate: needs MODEL and one of --prompt-ids \"ID ID ...\" or --prompt TEXT\n");
    usage(stderr);
    return 2;
  }
  char dir[LBBT_PATH_MAX];
  model_dir(path, dir, sizeof dir);
  lbbt_tokenizer *tok = NULL;
  if (prompt_text) {
    char tp[LBBT_PATH_MAX + 32];
    snprintf(tp, sizeof tp, "%s/%s", dir, LBBT_TOKENIZER_FILE);
    struct stat sb;
    if (stat(tp, &sb) != 0) {
      fprintf(stderr,
              "lbbt generate: --prompt needs a tokenizer and %s has none (no %s: only models "
              "pretrained by lbbt carry one); give token ids with --prompt-ids\n",
              path, tp);
      return 2;
    }
    lbbt_status st = lbbt_tokenizer_load(tp, &tok);
    if (st != LBBT_OK) return cli_report(st, "generate");
  }
  int n_new = (int)tokens;
  size_t text_len = prompt_text ? strlen(prompt_text) : 0;
  if (prompt_text && text_len + 1 > MAX_PROMPT) {
    fprintf(stderr, "lbbt generate: --prompt: more than %d bytes\n", MAX_PROMPT - 1);
    lbbt_tokenizer_free(tok);
    return 2;
  }
  int32_t *seq = malloc((size_t)(MAX_PROMPT + n_new) * sizeof *seq);
  if (!seq) {
    lbbt_tokenizer_free(tok);
    return cli_report(LBBT_E_NOMEM, "generate");
  }
  int len = 0;
  if (prompt_text) {
    int64_t got = 0;
    seq[0] = LBBT_TOKEN_EOD; /* a document starts here */
    lbbt_tokenizer_encode(tok, prompt_text, (int64_t)text_len, seq + 1, &got);
    len = 1 + (int)got;
  } else {
    len = parse_ids(prompt_ids, seq, MAX_PROMPT);
    if (len < 0) {
      free(seq);
      return 2;
    }
  }
  const int prompt_len = len;
  cli_backbone b;
  int code = cli_open_backbone("generate", path, plugin, &b);
  if (code) {
    free(seq);
    lbbt_tokenizer_free(tok);
    return code;
  }
  lbbt_model *m = b.model;
  float *scratch = NULL;
  lbbt_tape *tape = NULL;
  if (tok && lbbt_tokenizer_vocab_size(tok) != m->vocab_size) {
    fprintf(stderr, "lbbt generate: %s/%s has %d ids but the model's vocabulary is %d\n", dir,
            LBBT_TOKENIZER_FILE, lbbt_tokenizer_vocab_size(tok), m->vocab_size);
    code = 2;
    goto done;
  }
  for (int i = 0; i < len; i++)
    if (seq[i] >= m->vocab_size) {
      fprintf(stderr, "lbbt generate: prompt id %d is outside the vocabulary [0, %d)\n", seq[i],
              m->vocab_size);
      code = 2;
      goto done;
    }
  const int window = context_of(dir);
  scratch = malloc((size_t)m->vocab_size * sizeof *scratch);
  if (!scratch) {
    code = cli_report(LBBT_E_NOMEM, "generate");
    goto done;
  }
  lbbt_rng rng;
  lbbt_rng_derive(&rng, (uint64_t)seed, "generate", 0);
  lbbt_status st = lbbt_tape_create(&tape);
  for (int step = 0; st == LBBT_OK && step < n_new; step++) {
    lbbt_tape_reset(tape);
    lbbt_tape_set_recording(tape, 0);
    lbbt_tape_set_training(tape, 0);
    int from = window > 0 && len > window ? len - window : 0;
    lbbt_tensor *logits = NULL;
    st = m->ops->forward_language(m, tape, seq + from, 1, len - from, NULL, &logits);
    if (st != LBBT_OK) break;
    if (!logits) {
      fprintf(stderr, "lbbt generate: %s has no LM head (the %s plugin returns hidden states only)\n",
              path, b.plugin->name);
      code = 2;
      break;
    }
    seq[len] = next_token(logits->data + (int64_t)(len - from - 1) * m->vocab_size, m->vocab_size,
                          temperature, (int)top_k, scratch, &rng);
    len++;
    if (tok && stop_at_eod && seq[len - 1] == LBBT_TOKEN_EOD) break;
  }
  if (st != LBBT_OK) code = cli_report(st, "generate");
  if (!code && tok) {
    int at_line_start = 1;
    fwrite(prompt_text, 1, text_len, stdout);
    if (text_len) at_line_start = prompt_text[text_len - 1] == '\n';
    for (int i = prompt_len; i < len; i++) {
      if (stop_at_eod && seq[i] == LBBT_TOKEN_EOD) break;
      print_token(tok, seq[i], &at_line_start);
    }
    if (!at_line_start) fputc('\n', stdout);
  } else if (!code) {
    for (int i = prompt_len; i < len; i++) printf("%s%d", i > prompt_len ? " " : "", seq[i]);
    printf("\n");
  }
done:
  lbbt_tape_free(tape);
  free(scratch);
  free(seq);
  lbbt_tokenizer_free(tok);
  cli_close_backbone(&b);
  return code;
}
