/* http_json.c - the pure helpers of the HTTP layer: JSON body parsing (the fuzzed entry point), JSON and error
 * responses, and query-string lookup. No I/O, no globals, no logging. */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

/* Rejects nesting deeper than max_depth before jansson sees the input: jansson's own limit (2048) recurses on
 * the C stack and is far more than any API body needs. Brackets inside strings do not count. */
static int check_depth(const uint8_t *s, size_t len, unsigned max_depth, mrun_err *err)
{
    unsigned depth = 0;
    size_t line = 1, col = 0;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        col++;
        if (c == '\n') {
            line++;
            col = 0;
        }
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return mrun_err_setx(err, E2BIG, "body:%zu:%zu: nesting deeper than %u", line, col, max_depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

int mrun_http_parse_json(const uint8_t *body, size_t len, unsigned max_depth, json_t **ret_json, mrun_err *err)
{
    if (len == 0 || body == NULL)
        return mrun_err_setx(err, EPROTO, "body:1:0: expected a JSON body");
    if (check_depth(body, len, max_depth, err) < 0)
        return -1;
    json_error_t je;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return mrun_err_setx(err, EPROTO, "body:%d:%d: %s", je.line, je.column, je.text);
    *ret_json = j;
    return 0;
}

static int set_body(mrun_http_resp *resp, int status, char *s)
{
    if (!s)
        return -1;
    free(resp->body);
    resp->status = status;
    resp->body = s;
    resp->body_len = strlen(s);
    resp->content_type = "application/json";
    return 0;
}

int mrun_http_json(mrun_http_resp *resp, int status, json_t *j)
{
    if (!j)
        return -1;
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return set_body(resp, status, s);
}

int mrun_http_error(mrun_http_resp *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    /* json_string rejects invalid UTF-8 (a message may quote client input): fall back to a fixed message. */
    json_t *m = json_string(msg);
    if (!m)
        m = json_string("(message not valid UTF-8)");
    json_t *j = json_pack("{s:{s:s, s:o}}", "error", "code", code, "message", m);
    return mrun_http_json(resp, status, j);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mrun_http_pct_decode(const char *s, size_t len, int form, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            i += 2;
        } else if (c == '+' && form) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (int)o;
}

int mrun_http_query(const mrun_http_req *req, const char *key, char *buf, size_t bufsz)
{
    const char *q = req->query ? req->query : "";
    size_t klen = strlen(key);
    while (*q) {
        const char *end = strchr(q, '&');
        size_t plen = end ? (size_t)(end - q) : strlen(q);
        const char *eq = memchr(q, '=', plen);
        size_t nlen = eq ? (size_t)(eq - q) : plen;
        char name[128];
        if (nlen < sizeof(name) && mrun_http_pct_decode(q, nlen, 1, name, sizeof(name)) == (int)klen &&
            memcmp(name, key, klen) == 0) {
            if (!eq)
                return bufsz > 0 ? (buf[0] = '\0', 0) : -1;
            return mrun_http_pct_decode(eq + 1, plen - nlen - 1, 1, buf, bufsz);
        }
        if (!end)
            break;
        q = end + 1;
    }
    return -1;
}
