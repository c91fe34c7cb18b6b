/* attest_dsse.c - DSSE v1 envelopes (github.com/secure-systems-lab/dsse, protocol.md and envelope.md): the
 * pre-authentication encoding, signing and verifying it (ECDSA P-256/SHA-256 with DER signatures, as Sigstore
 * expects; Ed25519 pure), and the envelope JSON both ways, bounded. Signatures cover PAE, never the JSON. */
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/codec.h"
#include "../common/auto.h"
#include "attest_int.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mrun_attest_b64_encode(const uint8_t *buf, size_t len)
{
    if (len > (SIZE_MAX / 4) - 4)
        return NULL;
    size_t out_len = (len + 2) / 3 * 4;
    char *out = malloc(out_len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)buf[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)buf[i + 1] << 8;
        if (i + 2 < len)
            v |= buf[i + 2];
        *o++ = b64_std[(v >> 18) & 63];
        *o++ = b64_std[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64_std[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? b64_std[v & 63] : '=';
    }
    *o = 0;
    return out;
}

int mrun_attest_b64_decode(const char *s, size_t slen, const char *what, uint8_t **ret_buf, size_t *ret_len,
                           mrun_err *err)
{
    size_t n = slen;
    while (n > 0 && s[n - 1] == '=' && slen - n < 2)
        n--;
    if (n % 4 == 1 || (slen != n && slen % 4 != 0))
        return mrun_err_setx(err, EPROTO, "%s: malformed base64 (length %zu)", what, slen);
    mrun_autofree uint8_t *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return mrun_err_set(err, ENOMEM, "%s", what);
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = mrun_b64_value((unsigned char)s[i]);
        if (v < 0)
            return mrun_err_setx(err, EPROTO, "%s: invalid base64 character at offset %zu", what, i);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical trailing bits: two spellings of one value would let a signature be malleable */
        return mrun_err_setx(err, EPROTO, "%s: non-canonical base64 padding bits", what);
    out[o] = 0;
    *ret_len = o;
    *ret_buf = mrun_steal_ptr(&out);
    return 0;
}

void mrun_attest_hex(const uint8_t *buf, size_t len, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hx[buf[i] >> 4];
        out[2 * i + 1] = hx[buf[i] & 15];
    }
    out[2 * len] = 0;
}

bool mrun_attest_hex256_norm(const char *in, char out[65])
{
    if (strncasecmp(in, "sha256:", 7) == 0)
        in += 7;
    if (strlen(in) != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        out[i] = c;
    }
    out[64] = 0;
    return true;
}

int mrun_attest_pae(const char *type, const uint8_t *body, size_t len, uint8_t **ret_pae, size_t *ret_len,
                    mrun_err *err)
{
    size_t tlen = strlen(type);
    char head[96];
    int h = snprintf(head, sizeof(head), "DSSEv1 %zu ", tlen);
    char mid[32];
    int m = snprintf(mid, sizeof(mid), " %zu ", len);
    if (tlen > MRUN_ATTEST_MAX_BYTES || len > SIZE_MAX - tlen - 128)
        return mrun_err_setx(err, E2BIG, "PAE: payload too large");
    size_t total = (size_t)h + tlen + (size_t)m + len;
    uint8_t *out = malloc(total + 1);
    if (!out)
        return mrun_err_set(err, ENOMEM, "PAE");
    memcpy(out, head, (size_t)h);
    memcpy(out + h, type, tlen);
    memcpy(out + h + tlen, mid, (size_t)m);
    if (len)
        memcpy(out + h + tlen + m, body, len);
    out[total] = 0;
    *ret_pae = out;
    *ret_len = total;
    return 0;
}

static void mdctx_freep(EVP_MD_CTX **c)
{
    EVP_MD_CTX_free(*c);
}

/* ECDSA: SHA-256, DER (r,s) as OpenSSL produces it; Ed25519: no digest (pure EdDSA over the message). */
static const EVP_MD *key_md(const mrun_key *key)
{
    return key->type == MRUN_KEY_ECDSA_P256 ? EVP_sha256() : NULL;
}

static int sign_bytes(const mrun_key *key, const uint8_t *msg, size_t len, uint8_t **ret_sig, size_t *ret_len,
                      mrun_err *err)
{
    mrun_cleanup(mdctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 0;
    if (!ctx || EVP_DigestSignInit(ctx, NULL, key_md(key), NULL, key->pkey) <= 0 ||
        EVP_DigestSign(ctx, NULL, &siglen, msg, len) <= 0) {
        ERR_clear_error();
        return mrun_err_setx(err, EINVAL, "sign: cannot initialise the signer");
    }
    mrun_autofree uint8_t *sig = malloc(siglen);
    if (!sig)
        return mrun_err_set(err, ENOMEM, "sign");
    if (EVP_DigestSign(ctx, sig, &siglen, msg, len) <= 0) {
        ERR_clear_error();
        return mrun_err_setx(err, EINVAL, "sign failed");
    }
    *ret_sig = mrun_steal_ptr(&sig);
    *ret_len = siglen;
    return 0;
}

static bool verify_bytes(const mrun_key *key, const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen)
{
    mrun_cleanup(mdctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, key_md(key), NULL, key->pkey) > 0 &&
              EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
    ERR_clear_error();
    return ok;
}

void mrun_attest_dsse_free(mrun_dsse *env)
{
    if (!env)
        return;
    free(env->payload_type);
    free(env->payload);
    for (size_t i = 0; i < env->nsigs; i++) {
        free(env->sigs[i].keyid);
        free(env->sigs[i].sig);
    }
    free(env);
}

void mrun_attest_dsse_freep(mrun_dsse **env)
{
    mrun_attest_dsse_free(*env);
}

int mrun_attest_dsse_sign(const mrun_key *key, const char *payload_type, const uint8_t *payload, size_t len,
                          mrun_dsse **ret_env, mrun_err *err)
{
    if (!key->has_private)
        return mrun_err_setx(err, EINVAL, "sign: not a private key");
    mrun_autofree uint8_t *pae = NULL;
    size_t pae_len = 0;
    if (mrun_attest_pae(payload_type, payload, len, &pae, &pae_len, err) < 0)
        return -1;
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *env = calloc(1, sizeof(*env));
    if (!env)
        return mrun_err_set(err, ENOMEM, "envelope");
    env->payload_type = strdup(payload_type);
    env->payload = malloc(len + 1);
    env->sigs[0].keyid = strdup(key->id);
    if (!env->payload_type || !env->payload || !env->sigs[0].keyid) {
        free(env->sigs[0].keyid);
        return mrun_err_set(err, ENOMEM, "envelope");
    }
    env->nsigs = 1;
    if (len)
        memcpy(env->payload, payload, len);
    env->payload[len] = 0;
    env->payload_len = len;
    if (sign_bytes(key, pae, pae_len, &env->sigs[0].sig, &env->sigs[0].sig_len, err) < 0)
        return -1;
    *ret_env = mrun_steal_ptr(&env);
    return 0;
}

int mrun_attest_dsse_verify(const mrun_dsse *env, const mrun_key *pub, mrun_err *err)
{
    mrun_autofree uint8_t *pae = NULL;
    size_t pae_len = 0;
    if (mrun_attest_pae(env->payload_type, env->payload, env->payload_len, &pae, &pae_len, err) < 0)
        return -1;
    size_t tried = 0;
    const char *other = NULL;
    for (size_t i = 0; i < env->nsigs; i++) {
        const mrun_dsse_sig *s = &env->sigs[i];
        /* keyid is an unauthenticated hint, but one naming another key is not a signature by this key */
        if (s->keyid[0] && strcmp(s->keyid, pub->id) != 0) {
            other = s->keyid;
            continue;
        }
        tried++;
        if (verify_bytes(pub, pae, pae_len, s->sig, s->sig_len))
            return 0;
    }
    if (tried == 0 && other)
        return mrun_err_setx(err, EPERM,
                             "signature does not verify with key %.16s...: the envelope is signed by "
                             "keyid '%.70s'",
                             pub->id, other);
    return mrun_err_setx(err, EPERM, "signature does not verify with key %.16s...", pub->id);
}

static int get_str(const json_t *obj, const char *key, bool required, const char **ret, size_t *ret_len, mrun_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v && !required) {
        *ret = "";
        *ret_len = 0;
        return 0;
    }
    if (!json_is_string(v))
        return mrun_err_setx(err, EPROTO, "envelope: '%s' %s", key, v ? "is not a string" : "is missing");
    *ret = json_string_value(v);
    *ret_len = json_string_length(v);
    return 0;
}

static int sig_from_json(const json_t *js, size_t i, mrun_dsse_sig *s, mrun_err *err)
{
    const char *keyid, *sig;
    size_t klen, slen;
    if (!json_is_object(js))
        return mrun_err_setx(err, EPROTO, "envelope: signatures[%zu] is not an object", i);
    if (get_str(js, "keyid", false, &keyid, &klen, err) < 0 || get_str(js, "sig", true, &sig, &slen, err) < 0)
        return mrun_err_prefix(err, "signatures[%zu]", i);
    if (klen > 256 || memchr(keyid, 0, klen))
        return mrun_err_setx(err, EPROTO, "envelope: signatures[%zu].keyid is too long or has a NUL", i);
    if (slen == 0 || slen > 4096)
        return mrun_err_setx(err, EPROTO, "envelope: signatures[%zu].sig is empty or too long", i);
    if (!(s->keyid = strdup(keyid)))
        return mrun_err_set(err, ENOMEM, "envelope");
    char what[64];
    snprintf(what, sizeof(what), "envelope: signatures[%zu].sig", i);
    return mrun_attest_b64_decode(sig, slen, what, &s->sig, &s->sig_len, err);
}

int mrun_attest_dsse_from_json(const json_t *obj, mrun_dsse **ret_env, mrun_err *err)
{
    if (!json_is_object(obj))
        return mrun_err_setx(err, EPROTO, "envelope: not a JSON object");
    const char *payload, *type;
    size_t plen, tlen;
    if (get_str(obj, "payload", true, &payload, &plen, err) < 0 ||
        get_str(obj, "payloadType", true, &type, &tlen, err) < 0)
        return -1;
    if (tlen == 0 || tlen > 256 || memchr(type, 0, tlen))
        return mrun_err_setx(err, EPROTO, "envelope: 'payloadType' is empty, too long or has a NUL");
    json_t *sigs = json_object_get(obj, "signatures");
    if (!json_is_array(sigs) || json_array_size(sigs) == 0)
        return mrun_err_setx(err, EPROTO, "envelope: 'signatures' is missing or empty");
    if (json_array_size(sigs) > MRUN_DSSE_MAX_SIGS)
        return mrun_err_setx(err, E2BIG, "envelope: more than %d signatures", MRUN_DSSE_MAX_SIGS);
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *env = calloc(1, sizeof(*env));
    if (!env || !(env->payload_type = strdup(type)))
        return mrun_err_set(err, ENOMEM, "envelope");
    if (mrun_attest_b64_decode(payload, plen, "envelope: payload", &env->payload, &env->payload_len, err) < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(sigs); i++) {
        env->nsigs = i + 1; /* so the destructor frees a half-built entry */
        if (sig_from_json(json_array_get(sigs, i), i, &env->sigs[i], err) < 0)
            return -1;
    }
    *ret_env = mrun_steal_ptr(&env);
    return 0;
}

int mrun_attest_dsse_parse(const uint8_t *buf, size_t len, mrun_dsse **ret_env, mrun_err *err)
{
    if (len > MRUN_ATTEST_MAX_BYTES)
        return mrun_err_setx(err, E2BIG, "envelope larger than %u bytes", MRUN_ATTEST_MAX_BYTES);
    json_error_t jerr;
    mrun_autojson json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mrun_err_setx(err, EPROTO, "envelope:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    return mrun_attest_dsse_from_json(root, ret_env, err);
}

json_t *mrun_attest_dsse_to_json(const mrun_dsse *env, mrun_err *err)
{
    mrun_autofree char *payload = mrun_attest_b64_encode(env->payload, env->payload_len);
    json_t *sigs = json_array(), *obj = json_object();
    if (!payload || !sigs || !obj)
        goto nomem;
    json_object_set_new(obj, "payload", json_string(payload));
    json_object_set_new(obj, "payloadType", json_string(env->payload_type));
    json_object_set(obj, "signatures", sigs);
    for (size_t i = 0; i < env->nsigs; i++) {
        mrun_autofree char *sig = mrun_attest_b64_encode(env->sigs[i].sig, env->sigs[i].sig_len);
        json_t *s = sig ? json_pack("{s:s, s:s}", "keyid", env->sigs[i].keyid, "sig", sig) : NULL;
        if (!s || json_array_append_new(sigs, s) < 0)
            goto nomem;
    }
    json_decref(sigs);
    return obj;
nomem:
    json_decref(sigs);
    json_decref(obj);
    mrun_err_set(err, ENOMEM, "envelope JSON");
    return NULL;
}

int mrun_attest_dsse_json(const mrun_dsse *env, char **ret_json, mrun_err *err)
{
    mrun_autojson json_t *obj = mrun_attest_dsse_to_json(env, err);
    if (!obj)
        return -1;
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return mrun_err_set(err, ENOMEM, "envelope JSON");
    *ret_json = s;
    return 0;
}
