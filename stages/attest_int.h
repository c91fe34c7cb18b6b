/* attest_int.h - helpers the attest_*.c files share (private to stages/attest_*). */
#ifndef MRUN_ATTEST_INT_H
#define MRUN_ATTEST_INT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest.h"

struct mrun_key {
    EVP_PKEY *pkey;
    mrun_key_type type;
    bool has_private;
    char id[65];
};

/* Standard base64 with padding; free() it. NULL only on ENOMEM or overflow. */
char *mrun_attest_b64_encode(const uint8_t *buf, size_t len);
/* Decodes standard or URL-safe base64, padding optional, no whitespace. Result NUL-terminated; free() it.
 * -1 with EPROTO naming `what` when malformed. */
int mrun_attest_b64_decode(const char *s, size_t slen, const char *what, uint8_t **ret_buf, size_t *ret_len,
                           mrun_err *err);
/* 64 lowercase hex digits; accepts a "sha256:" prefix and upper case, writes the normalised form. */
bool mrun_attest_hex256_norm(const char *in, char out[65]);
void mrun_attest_hex(const uint8_t *buf, size_t len, char *out); /* out holds 2*len+1 */
/* PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal. free() it. */
int mrun_attest_pae(const char *type, const uint8_t *body, size_t len, uint8_t **ret_pae, size_t *ret_len,
                    mrun_err *err);
/* Parses envelope JSON that is already a jansson object (used by the bundle parser). */
int mrun_attest_dsse_from_json(const json_t *obj, mrun_dsse **ret_env, mrun_err *err);
/* The envelope as a jansson object (new reference). */
json_t *mrun_attest_dsse_to_json(const mrun_dsse *env, mrun_err *err);

static inline void mrun_attest_jsonp(json_t **j)
{
    json_decref(*j);
}
#define mrun_autojson mrun_cleanup(mrun_attest_jsonp)

#endif
