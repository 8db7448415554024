/* Private to the spec code: a growable string, "did you mean" suggestions, and the
 * canonical spelling of numbers and strings used in resolved configs (and so in run ids). */
#ifndef LBBT_SPEC_TEXT_H
#define LBBT_SPEC_TEXT_H
#include <stddef.h>

/* Growable NUL-terminated string.  An allocation failure sets `oom` and later appends do
 * nothing, so callers check once at the end. */
typedef struct spec_buf {
  char *s;
  size_t len, cap;
  int oom;
} spec_buf;
void spec_buf_add(spec_buf *b, const char *text);
void spec_buf_addf(spec_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void spec_buf_free(spec_buf *b);

/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), so that
 * "lables" is one edit from "labels". */
int spec_edit_distance(const char *a, const char *b);
/* The candidate nearest to word if it is close enough to be a likely typo, else NULL.
 * cands has n entries; NULL entries are skipped. */
const char *spec_suggest(const char *word, const char *const *cands, int n);

/* Shortest decimal text that reads back as the same double ("0.001", "1e-05", "3"). */
void spec_format_double(double v, char out[32]);
/* Parse the whole of text as a finite double / as an integral value; 0 on failure. */
int spec_parse_double(const char *text, double *out);
int spec_parse_integer(const char *text, long long *out);
/* Append s as a YAML scalar: plain when that reads back as the same string, otherwise
 * double-quoted with escapes. */
void spec_buf_add_yaml_string(spec_buf *b, const char *s);

#endif
