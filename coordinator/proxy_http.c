/* proxy_http.c - the preview proxy's HTTP/1.1 wire parsing (RFC 9110/9112): request and response heads,
 * chunked framing, and the Location / Set-Cookie rewrites. Pure functions over caller buffers; every input
 * here comes from a client or an untrusted preview app, so everything is bounded and strict: ambiguous
 * framing (obs-fold, bare CR/LF, duplicate Content-Length, Content-Length with Transfer-Encoding) is refused
 * outright because a proxy and its backend disagreeing on message boundaries is request smuggling. */
#include <errno.h>
#include <string.h>

#include "coordinator/proxy_int.h"

enum { MAX_CONTENT_LENGTH_DIGITS = 18 };

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

size_t proxy_head_end(const char *buf, size_t len)
{
    const char *p = memmem(buf, len, "\r\n\r\n", 4);
    return p ? (size_t)(p - buf) + 4 : 0;
}

/* Splits off the next CRLF-terminated line at *pos; a CR or LF anywhere else is an error. */
static int next_line(const char *buf, size_t len, size_t *pos, const char **ret_line, size_t *ret_len, mrun_err *err)
{
    size_t start = *pos;
    for (size_t i = start; i < len; i++) {
        if (buf[i] == '\n')
            return mrun_err_setx(err, EPROTO, "bare LF in head at byte %zu", i);
        if (buf[i] == '\0')
            return mrun_err_setx(err, EPROTO, "NUL in head at byte %zu", i);
        if (buf[i] == '\r') {
            if (i + 1 >= len || buf[i + 1] != '\n')
                return mrun_err_setx(err, EPROTO, "bare CR in head at byte %zu", i);
            *ret_line = buf + start;
            *ret_len = i - start;
            *pos = i + 2;
            return 0;
        }
    }
    return mrun_err_setx(err, EPROTO, "head does not end with CRLF");
}

static int parse_version(const char *s, size_t len, int *ret_minor, mrun_err *err)
{
    if (len == 8 && memcmp(s, "HTTP/1.", 7) == 0 && (s[7] == '0' || s[7] == '1')) {
        *ret_minor = s[7] - '0';
        return 0;
    }
    return mrun_err_setx(err, EPROTO, "unsupported HTTP version");
}

static int parse_request_line(const char *l, size_t n, proxy_head *h, mrun_err *err)
{
    if (n > PROXY_LINE_MAX)
        return mrun_err_setx(err, ENAMETOOLONG, "request line longer than %d bytes", PROXY_LINE_MAX);
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i >= n || l[i] != ' ')
        return mrun_err_setx(err, EPROTO, "bad request method");
    h->method = l;
    h->method_len = i;
    size_t t = ++i;
    while (i < n && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f)
        i++;
    if (i == t || i >= n || l[i] != ' ')
        return mrun_err_setx(err, EPROTO, "bad request target");
    h->target = l + t;
    h->target_len = i - t;
    return parse_version(l + i + 1, n - i - 1, &h->minor, err);
}

static int parse_status_line(const char *l, size_t n, proxy_head *h, mrun_err *err)
{
    if (n < 12 || parse_version(l, 8, &h->minor, err) < 0 || l[8] != ' ')
        return mrun_err_setx(err, EPROTO, "bad status line");
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9')
            return mrun_err_setx(err, EPROTO, "bad status code");
        code = code * 10 + (l[i] - '0');
    }
    if (code < 100 || (n > 12 && l[12] != ' '))
        return mrun_err_setx(err, EPROTO, "bad status code");
    for (size_t i = 13; i < n; i++)
        if (!is_field_char((unsigned char)l[i]))
            return mrun_err_setx(err, EPROTO, "bad reason phrase");
    h->status = code;
    return 0;
}

static int parse_content_length(const char *v, size_t n, int64_t *ret, mrun_err *err)
{
    if (n == 0 || n > MAX_CONTENT_LENGTH_DIGITS)
        return mrun_err_setx(err, EPROTO, "bad Content-Length");
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return mrun_err_setx(err, EPROTO, "bad Content-Length");
        x = x * 10 + (v[i] - '0');
    }
    *ret = x;
    return 0;
}

/* Applies the framing and Host rules to one parsed field. */
static int note_field(proxy_head *h, const proxy_hdr *f, int *te_count, mrun_err *err)
{
    if (ieq(f->name, f->name_len, "content-length")) {
        if (h->content_length >= 0)
            return mrun_err_setx(err, EPROTO, "more than one Content-Length");
        return parse_content_length(f->value, f->value_len, &h->content_length, err);
    }
    if (ieq(f->name, f->name_len, "transfer-encoding")) {
        (*te_count)++;
        h->chunked = *te_count == 1 && ieq(f->value, f->value_len, "chunked");
        h->other_te = !h->chunked;
        return 0;
    }
    if (!h->response && ieq(f->name, f->name_len, "host")) {
        if (h->host)
            return mrun_err_setx(err, EPROTO, "more than one Host");
        h->host = f->value;
        h->host_len = f->value_len;
    }
    return 0;
}

static int parse_field(const char *l, size_t n, proxy_hdr *ret, mrun_err *err)
{
    if (n > 0 && (l[0] == ' ' || l[0] == '\t'))
        return mrun_err_setx(err, EPROTO, "obsolete line folding");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i >= n || l[i] != ':')
        return mrun_err_setx(err, EPROTO, "bad header field name");
    size_t vs = i + 1, ve = n;
    while (vs < ve && (l[vs] == ' ' || l[vs] == '\t'))
        vs++;
    while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
        ve--;
    for (size_t k = vs; k < ve; k++)
        if (!is_field_char((unsigned char)l[k]))
            return mrun_err_setx(err, EPROTO, "bad character in header '%.*s'", (int)(i > 40 ? 40 : i), l);
    *ret = (proxy_hdr){l, i, l + vs, ve - vs};
    return 0;
}

static int parse_fields(const char *buf, size_t len, size_t pos, proxy_head *h, mrun_err *err)
{
    int te_count = 0;
    for (;;) {
        const char *l;
        size_t n;
        if (next_line(buf, len, &pos, &l, &n, err) < 0)
            return -1;
        if (n == 0)
            break;
        if (h->nhdrs >= PROXY_HEADERS_MAX)
            return mrun_err_setx(err, E2BIG, "more than %d header fields", PROXY_HEADERS_MAX);
        proxy_hdr *f = &h->hdrs[h->nhdrs];
        if (parse_field(l, n, f, err) < 0 || note_field(h, f, &te_count, err) < 0)
            return -1;
        h->nhdrs++;
    }
    if (pos != len)
        return mrun_err_setx(err, EPROTO, "bytes after the end of the head");
    return 0;
}

int proxy_head_parse(const char *buf, size_t len, bool response, proxy_head *ret_head, mrun_err *err)
{
    if (len > PROXY_HEAD_MAX)
        return mrun_err_setx(err, E2BIG, "head longer than %d bytes", PROXY_HEAD_MAX);
    proxy_head *h = ret_head;
    memset(h, 0, sizeof(*h));
    h->response = response;
    h->content_length = -1;
    size_t pos = 0;
    const char *l;
    size_t n;
    if (next_line(buf, len, &pos, &l, &n, err) < 0)
        return -1;
    if ((response ? parse_status_line(l, n, h, err) : parse_request_line(l, n, h, err)) < 0)
        return -1;
    if (parse_fields(buf, len, pos, h, err) < 0)
        return -1;
    if ((h->chunked || h->other_te) && h->content_length >= 0)
        return mrun_err_setx(err, EPROTO, "both Content-Length and Transfer-Encoding");
    if (!response && h->other_te)
        return mrun_err_setx(err, ENOTSUP, "Transfer-Encoding other than chunked");
    if (!response && h->minor == 1 && !h->host)
        return mrun_err_setx(err, EPROTO, "HTTP/1.1 request without Host");
    return 0;
}

const proxy_hdr *proxy_head_get(const proxy_head *h, const char *name)
{
    for (size_t i = 0; i < h->nhdrs; i++)
        if (ieq(h->hdrs[i].name, h->hdrs[i].name_len, name))
            return &h->hdrs[i];
    return NULL;
}

bool proxy_list_has(const char *value, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t s = i;
        while (i < len && value[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
            e--;
        if (e > s && ieq(value + s, e - s, token))
            return true;
    }
    return false;
}

enum { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_TRAILER, C_TRAILER_LINE, C_TRAILER_LF, C_END_LF };

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)lower((unsigned char)c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* One byte of the non-data states. */
static int chunked_byte(proxy_chunked *c, char b, mrun_err *err)
{
    if (c->state != C_DATA_CR && c->state != C_DATA_LF && ++c->line_len > PROXY_CHUNK_LINE_MAX)
        return mrun_err_setx(err, E2BIG, "chunk line longer than %d bytes", PROXY_CHUNK_LINE_MAX);
    switch (c->state) {
    case C_SIZE:
        if (hexval(b) >= 0) {
            if (++c->digits > 15)
                return mrun_err_setx(err, E2BIG, "chunk size too large");
            c->remaining = c->remaining * 16 + (uint64_t)hexval(b);
            return 0;
        }
        if (c->digits == 0 || (b != ';' && b != ' ' && b != '\t' && b != '\r'))
            return mrun_err_setx(err, EPROTO, "bad chunk size");
        c->state = b == '\r' ? C_SIZE_LF : C_EXT;
        return 0;
    case C_EXT:
        if (b == '\n' || b == '\0')
            return mrun_err_setx(err, EPROTO, "bad chunk extension");
        if (b == '\r')
            c->state = C_SIZE_LF;
        return 0;
    case C_TRAILER_LINE:
        if (b == '\n' || b == '\0')
            return mrun_err_setx(err, EPROTO, "bad trailer line");
        if (b == '\r')
            c->state = C_TRAILER_LF;
        return 0;
    case C_TRAILER:
        c->state = b == '\r' ? C_END_LF : C_TRAILER_LINE;
        if (b == '\n' || b == '\0' || b == ' ' || b == '\t')
            return mrun_err_setx(err, EPROTO, "bad trailer line");
        return 0;
    default:
        break;
    }
    if (b != (c->state == C_DATA_CR ? '\r' : '\n'))
        return mrun_err_setx(err, EPROTO, "bad chunk framing");
    switch (c->state) {
    case C_SIZE_LF:
        c->state = c->remaining ? C_DATA : C_TRAILER;
        break;
    case C_DATA_CR:
        c->state = C_DATA_LF;
        break;
    case C_END_LF:
        c->done = true;
        break;
    default: /* C_DATA_LF, C_TRAILER_LF */
        c->state = c->state == C_DATA_LF ? C_SIZE : C_TRAILER;
        c->digits = 0;
        break;
    }
    c->line_len = 0;
    return 0;
}

int proxy_chunked_feed(proxy_chunked *c, const char *buf, size_t len, size_t *ret_used, mrun_err *err)
{
    size_t i = 0;
    while (i < len && !c->done) {
        if (c->state == C_DATA) {
            size_t take = len - i;
            if ((uint64_t)take > c->remaining)
                take = (size_t)c->remaining;
            c->remaining -= take;
            i += take;
            if (c->remaining == 0)
                c->state = C_DATA_CR;
            continue;
        }
        if (chunked_byte(c, buf[i], err) < 0)
            return -1;
        i++;
    }
    *ret_used = i;
    return 0;
}

/* Bounded output for the rewrites. */
typedef struct outbuf {
    char *p;
    size_t cap, len;
    bool overflow;
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    if (o->overflow || o->len + n >= o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static int finish(outbuf *o)
{
    return o->overflow ? -1 : 0;
}

static size_t scheme_len(const char *v, size_t n)
{
    if (n >= 7 && ieq(v, 7, "http://"))
        return 7;
    if (n >= 8 && ieq(v, 8, "https://"))
        return 8;
    return 0;
}

int proxy_rewrite_location(const char *v, size_t vlen, const char *prefix, const char *const *authorities, size_t nauth,
                           char *out, size_t cap)
{
    outbuf o = {out, cap, 0, cap == 0};
    if (cap)
        out[0] = '\0';
    if (vlen > 0 && v[0] == '/' && !(vlen > 1 && (v[1] == '/' || v[1] == '\\'))) {
        put(&o, prefix, strlen(prefix));
        put(&o, v, vlen);
        return finish(&o);
    }
    size_t s = scheme_len(v, vlen);
    if (s) {
        size_t a = s;
        while (a < vlen && v[a] != '/' && v[a] != '?' && v[a] != '#')
            a++;
        for (size_t k = 0; k < nauth; k++) {
            if (!authorities[k] || !ieq(v + s, a - s, authorities[k]))
                continue;
            put(&o, prefix, strlen(prefix));
            if (a == vlen || v[a] != '/')
                put(&o, "/", 1);
            put(&o, v + a, vlen - a);
            return finish(&o);
        }
    }
    put(&o, v, vlen);
    return finish(&o);
}

int proxy_rewrite_cookie_path(const char *v, size_t vlen, const char *prefix, char *out, size_t cap)
{
    outbuf o = {out, cap, 0, cap == 0};
    if (cap)
        out[0] = '\0';
    size_t i = 0, copied = 0;
    while (i < vlen) {
        if (v[i++] != ';')
            continue;
        size_t a = i;
        while (a < vlen && (v[a] == ' ' || v[a] == '\t'))
            a++;
        if (vlen - a > 5 && ieq(v + a, 5, "path=") && v[a + 5] == '/') {
            put(&o, v + copied, a + 5 - copied);
            put(&o, prefix, strlen(prefix));
            copied = a + 5;
        }
    }
    put(&o, v + copied, vlen - copied);
    return finish(&o);
}
