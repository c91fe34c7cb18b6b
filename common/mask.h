/* mask.h - replaces secret values by "***" in a byte stream, also when a value is split across chunks.
 * A mrun_mask holds back at most (longest secret - 1) bytes that could still begin a secret, so output is
 * delayed only by that much; mrun_mask_flush releases the tail at the end of the stream. One stream per
 * mrun_mask, one thread at a time. */
#ifndef MRUN_MASK_H
#define MRUN_MASK_H

#include <stddef.h>

#include "err.h"

/* Values shorter than this are not masked: masking "a" or "1" would destroy every log line while hiding
 * nothing worth hiding. */
#define MRUN_MASK_MIN_LEN 4
#define MRUN_MASK_MAX_LEN 4096
#define MRUN_MASK_MAX_SECRETS 256

typedef struct mrun_mask mrun_mask;

/* Receives masked output; may be called several times per feed. */
typedef void (*mrun_mask_out_fn)(void *ctx, const char *data, size_t len);

/* Copies the n values (NUL-terminated); values shorter than MRUN_MASK_MIN_LEN are ignored, longer than
 * MRUN_MASK_MAX_LEN or more than MRUN_MASK_MAX_SECRETS are refused (E2BIG): a value we could not mask must not
 * leak silently. */
int mrun_mask_new(const char *const *values, size_t n, mrun_mask_out_fn out, void *ctx, mrun_mask **ret_mask,
                  mrun_err *err);
/* Masks and passes on data; never fails. */
void mrun_mask_feed(mrun_mask *m, const char *data, size_t len);
/* End of stream: passes on what was held back. The mask can be fed again afterwards. */
void mrun_mask_flush(mrun_mask *m);
void mrun_mask_free(mrun_mask *m);
void mrun_mask_freep(mrun_mask **m);

#endif
