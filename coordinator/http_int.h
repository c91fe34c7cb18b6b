/* http_int.h - private to coordinator/http*.c. */
#ifndef MRUN_COORD_HTTP_INT_H
#define MRUN_COORD_HTTP_INT_H

#include <stddef.h>

/* Percent-decodes s[0..len) into out (cap bytes, NUL-terminated); '+' as space when form is set.
 * Returns the decoded length, or -1 if it does not fit or decodes to a NUL byte. */
int mrun_http_pct_decode(const char *s, size_t len, int form, char *out, size_t cap);

#endif
