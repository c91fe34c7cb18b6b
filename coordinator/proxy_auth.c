/* proxy_auth.c - credentials for private previews: bearer tokens (SHA-256 compared in constant time), signed
 * links (HMAC-SHA256 over id and expiry with the proxy's secret) and the cookie a signed link leaves behind so
 * the app's own links keep working. Tokens and signatures are never logged. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "coordinator/proxy_int.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int proxy_unhex(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    if (n != 2 * outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : (v << 4));
    }
    return 0;
}

void mrun_proxy_token_hash(const char *token, char ret_hex[65])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), md);
    hex(md, sizeof(md), ret_hex);
}

bool proxy_bearer_valid(const proxy_route *r, const char *token, size_t len)
{
    if (!r->has_hash || len == 0)
        return false;
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, md);
    return CRYPTO_memcmp(md, r->hash, sizeof(md)) == 0; /* constant time: no timing oracle on the hash */
}

/* HMAC-SHA256(secret, id "\n" exp) as 64 hex digits. */
static void sign(const mrun_proxy *p, const char *id, int64_t exp, char out[65])
{
    char msg[MRUN_PROXY_ID_MAX + 32];
    int n = snprintf(msg, sizeof(msg), "%s\n%" PRId64, id, exp);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    HMAC(EVP_sha256(), p->secret, (int)p->secret_len, (const unsigned char *)msg, (size_t)n, md, &mdlen);
    hex(md, 32, out);
}

int mrun_proxy_sign_query(const mrun_proxy *proxy, const char *id, int64_t exp_unix, char **ret_query, mrun_err *err)
{
    if (!mrun_proxy_id_valid(id, id ? strlen(id) : 0) || exp_unix <= 0)
        return mrun_err_setx(err, EINVAL, "sign preview link: bad id or expiry");
    char sig[65];
    sign(proxy, id, exp_unix, sig);
    char *q = NULL;
    if (asprintf(&q, "mrun_exp=%" PRId64 "&mrun_sig=%s", exp_unix, sig) < 0)
        return mrun_err_set(err, ENOMEM, "sign preview link");
    *ret_query = q;
    return 0;
}

bool proxy_sig_valid(const mrun_proxy *p, const char *id, const char *exp, size_t exp_len, const char *sig,
                     size_t sig_len)
{
    if (exp_len == 0 || exp_len > 12 || sig_len != 64)
        return false;
    int64_t e = 0;
    for (size_t i = 0; i < exp_len; i++) {
        if (exp[i] < '0' || exp[i] > '9')
            return false;
        e = e * 10 + (exp[i] - '0');
    }
    if (e <= (int64_t)time(NULL))
        return false;
    char want[65];
    sign(p, id, e, want);
    return CRYPTO_memcmp(want, sig, 64) == 0;
}

/* Finds query parameter name in r->path; returns its value span or NULL. */
static const char *query_param(const char *path, const char *name, size_t *ret_len)
{
    const char *q = strchr(path, '?');
    size_t nl = strlen(name);
    while (q) {
        q++;
        const char *end = q + strcspn(q, "&#");
        if ((size_t)(end - q) > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
            *ret_len = (size_t)(end - q - (ptrdiff_t)nl - 1);
            return q + nl + 1;
        }
        q = *end == '&' ? end : NULL;
    }
    return NULL;
}

/* Removes the mrun_exp / mrun_sig parameters so the app never sees them. */
void proxy_strip_sig_params(char *path)
{
    char *q = strchr(path, '?');
    if (!q)
        return;
    char out[PROXY_LINE_MAX + 1];
    size_t o = 0;
    const char *s = q + 1;
    while (*s && *s != '#') {
        size_t n = strcspn(s, "&#");
        if (!(n >= 9 && (strncmp(s, "mrun_exp=", 9) == 0 || strncmp(s, "mrun_sig=", 9) == 0))) {
            if (o)
                out[o++] = '&';
            memcpy(out + o, s, n);
            o += n;
        }
        s += n;
        if (*s == '&')
            s++;
    }
    size_t frag = strlen(s);
    if (o == 0) {
        memmove(q, s, frag + 1);
        return;
    }
    q[0] = '?';
    memcpy(q + 1, out, o);
    memmove(q + 1 + o, s, frag + 1);
}

static bool cookie_valid(const mrun_proxy *p, const char *id, const proxy_head *h)
{
    static const char name[] = PROXY_AUTH_COOKIE "=";
    for (size_t i = 0; i < h->nhdrs; i++) {
        const proxy_hdr *f = &h->hdrs[i];
        if (f->name_len != 6 || strncasecmp(f->name, "cookie", 6) != 0)
            continue;
        const char *v = f->value, *end = f->value + f->value_len;
        while (v < end) {
            while (v < end && (*v == ' ' || *v == ';'))
                v++;
            const char *e = v;
            while (e < end && *e != ';')
                e++;
            size_t nl = sizeof(name) - 1;
            const char *dot = (size_t)(e - v) > nl ? memchr(v + nl, '.', (size_t)(e - v) - nl) : NULL;
            if (dot && strncmp(v, name, nl) == 0 &&
                proxy_sig_valid(p, id, v + nl, (size_t)(dot - v) - nl, dot + 1, (size_t)(e - dot - 1)))
                return true;
            v = e;
        }
    }
    return false;
}

static bool bearer_valid(const proxy_route *route, const proxy_head *h)
{
    const proxy_hdr *a = proxy_head_get(h, "authorization");
    if (!a || a->value_len < 8 || strncasecmp(a->value, "bearer ", 7) != 0)
        return false;
    const char *tok = a->value + 7;
    size_t n = a->value_len - 7;
    while (n && *tok == ' ')
        tok++, n--;
    return proxy_bearer_valid(route, tok, n);
}

int proxy_auth_check(const mrun_proxy *p, const proxy_route *route, const proxy_head *h, const char *prefix,
                     const char *path, proxy_auth *ret)
{
    if (bearer_valid(route, h)) {
        ret->strip_auth = true;
        return 0;
    }
    if (cookie_valid(p, route->id, h))
        return 0;
    size_t el = 0, sl = 0;
    const char *exp = query_param(path, "mrun_exp", &el), *sig = query_param(path, "mrun_sig", &sl);
    if (!exp || !sig || !proxy_sig_valid(p, route->id, exp, el, sig, sl))
        return -1;
    int64_t e = 0;
    for (size_t i = 0; i < el; i++) /* digits only: proxy_sig_valid checked */
        e = e * 10 + (exp[i] - '0');
    snprintf(ret->set_cookie, sizeof(ret->set_cookie),
             "Set-Cookie: " PROXY_AUTH_COOKIE "=%.*s.%.*s; Path=%s/; Max-Age=%" PRId64 "; HttpOnly; SameSite=Lax\r\n",
             (int)el, exp, (int)sl, sig, prefix, e - (int64_t)time(NULL));
    return 0;
}
