/* Text helpers for the spec code; see spec_text.h. */
#include "config/spec_text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int buf_reserve(spec_buf *b, size_t extra) {
  if (b->oom) return 0;
  if (b->len + extra + 1 <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) {
    b->oom = 1;
    return 0;
  }
  b->s = s;
  b->cap = cap;
  return 1;
}

void spec_buf_add(spec_buf *b, const char *text) {
  size_t n = strlen(text);
  if (!buf_reserve(b, n)) return;
  memcpy(b->s + b->len, text, n + 1);
  b->len += n;
}

void spec_buf_addf(spec_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !buf_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void spec_buf_free(spec_buf *b) {
  free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

int spec_edit_distance(const char *a, const char *b) {
  /* Keys and enum names are short; longer words are cut, which only weakens a suggestion. */
  enum { MAX = 64 };
  int n = (int)strlen(a), m = (int)strlen(b);
  if (n > MAX) n = MAX;
  if (m > MAX) m = MAX;
  int d[MAX + 1][MAX + 1];
  for (int i = 0; i <= n; i++) d[i][0] = i;
  for (int j = 0; j <= m; j++) d[0][j] = j;
  for (int i = 1; i <= n; i++)
    for (int j = 1; j <= m; j++) {
      int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      int best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

const char *spec_suggest(const char *word, const char *const *cands, int n) {
  /* A third of the word's length (at least one edit) separates typos from other words:
   * "epoch" -> "epochs", "chekpoint" -> "checkpoint", but "xyz" suggests nothing. */
  int len = (int)strlen(word);
  int limit = len / 3 > 1 ? len / 3 : 1;
  const char *best = NULL;
  int best_d = limit + 1;
  for (int i = 0; i < n; i++) {
    if (!cands[i] || !cands[i][0]) continue;
    int d = spec_edit_distance(word, cands[i]);
    if (d < best_d && d < (int)strlen(cands[i])) {
      best = cands[i];
      best_d = d;
    }
  }
  return best;
}

void spec_format_double(double v, char out[32]) {
  if (v == 0) v = 0; /* -0 and 0 are the same setting */
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v) return;
  }
}

int spec_parse_double(const char *text, double *out) {
  if (!text[0] || isspace((unsigned char)text[0])) return 0;
  /* strtod also reads "inf", "nan" and hex floats; a config value is a decimal number. */
  for (const char *p = text; *p; p++)
    if (!strchr("0123456789+-.eE", *p)) return 0;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (*end || errno == ERANGE || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

int spec_parse_integer(const char *text, long long *out) {
  double v;
  if (!spec_parse_double(text, &v)) return 0;
  /* "2e3" is an integer; "1.5" is not.  Beyond 2^53 go through strtoll to stay exact. */
  if (v != floor(v) || fabs(v) > 9.2e18) return 0;
  if (fabs(v) > 9007199254740992.0) {
    char *end;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (*end || errno) return 0;
    *out = x;
    return 1;
  }
  *out = (long long)v;
  return 1;
}

/* Could a plain scalar with this text be read as something other than this string
 * (number, bool, null) or break the YAML syntax? */
static int needs_quotes(const char *s) {
  static const char *const special[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"};
  if (!s[0]) return 1;
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
    if (!strcasecmp(s, special[i])) return 1;
  double v;
  if (spec_parse_double(s, &v)) return 1;
  if (!isalnum((unsigned char)s[0]) && s[0] != '.' && s[0] != '/' && s[0] != '_') return 1;
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("_-./+", *p)) {
      /* ':' is fine inside a word ("first:5", "models:x.bin") but not before a space/end */
      if (*p == ':' && p[1] && p[1] != ' ') continue;
      return 1;
    }
  return 0;
}

void spec_buf_add_yaml_string(spec_buf *b, const char *s) {
  if (!needs_quotes(s)) {
    spec_buf_add(b, s);
    return;
  }
  spec_buf_add(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') spec_buf_addf(b, "\\%c", *p);
    else if (*p == '\n') spec_buf_add(b, "\\n");
    else if (*p == '\t') spec_buf_add(b, "\\t");
    else if (*p < 0x20) spec_buf_addf(b, "\\x%02x", *p);
    else spec_buf_addf(b, "%c", *p);
  }
  spec_buf_add(b, "\"");
}
