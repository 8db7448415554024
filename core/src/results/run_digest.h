/* Private to core/src/results: the checksum of a run group (issue 20: one flipped bit in a
 * results file turned 17.0 into 8.5 in a rendered table).  Stored as the run attribute
 * RUN_DIGEST_ATTR, computed from the run as read back, verified on every read. */
#ifndef LBBT_RUN_DIGEST_H
#define LBBT_RUN_DIGEST_H
#include "lbbt/results.h"

#define RUN_DIGEST_ATTR "run_sha256"

/* SHA-256 (hex) over the run's attributes except RUN_DIGEST_ATTR, sorted by name, and its
 * record items, sorted by path: every name, kind, shape and value bit.  The order of
 * attributes and links in the file does not matter; every byte of content does. */
lbbt_status run_digest(const lbbt_result_run *r, char hex[65]);

#endif
