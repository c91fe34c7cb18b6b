/* sbom_json.c - a streaming JSON writer for the SBOMs: values go straight into one growing buffer, indented by two
 * spaces with ASCII-only escapes (the layout of jansson's JSON_INDENT(2) | JSON_ENSURE_ASCII), then out in one
 * write. An SBOM of thousands of components is written without building a tree first, which is most of the time
 * `mrun sbom` spends. Strings that are not valid UTF-8 (hostile lockfiles) have every non-ASCII byte as '?'. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbom_int.h"

static void grow_put(sbom_json *w, const char *s, size_t n);

/* The fast path: the buffer is sized up front, so nearly every call is one memcpy. */
static inline void put(sbom_json *w, const char *s, size_t n)
{
    if (w->len + n + 1 <= w->cap) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        return;
    }
    grow_put(w, s, n);
}

static void grow_put(sbom_json *w, const char *s, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 1 << 16;
        while (cap < w->len + n + 1)
            cap *= 2;
        char *p = realloc(w->buf, cap);
        if (!p) {
            w->oom = true;
            return;
        }
        w->buf = p;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

void mrun_sbom_json_reserve(sbom_json *w, size_t n_components)
{
    size_t cap = (1u << 16) + (n_components < (1u << 20) ? n_components : (1u << 20)) * 1280;
    char *p = w->buf ? NULL : malloc(cap); /* a hint: on failure the buffer grows as it goes */
    if (p) {
        w->buf = p;
        w->cap = cap;
    }
}

static void newline(sbom_json *w)
{
    static const char spaces[] = "                                                                ";
    put(w, "\n", 1);
    size_t n = (size_t)w->depth * 2;
    while (n > 0) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        put(w, spaces, k);
        n -= k;
    }
}

/* What comes before a value: nothing after a key; in an array, a comma unless first, and a new line. */
static void before_value(sbom_json *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0)
        return;
    if (w->has_items[w->depth])
        put(w, ",", 1);
    w->has_items[w->depth] = true;
    newline(w);
}

void mrun_sbom_json_open(sbom_json *w, char bracket)
{
    before_value(w);
    put(w, &bracket, 1);
    if (w->depth + 1 >= SBOM_JSON_MAX_DEPTH) {
        w->oom = true; /* a programming error: the documents are shallow */
        return;
    }
    w->depth++;
    w->has_items[w->depth] = false;
}

void mrun_sbom_json_close(sbom_json *w, char bracket)
{
    bool items = w->has_items[w->depth];
    w->depth--;
    if (items)
        newline(w);
    put(w, &bracket, 1);
}

static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
        if (n == 9 || (n == 1 && c < 0xc2))
            return false;
        unsigned cp = n == 0 ? c : c & (0x3f >> n);
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        s += n + 1;
    }
    return true;
}

static void put_u(sbom_json *w, unsigned cp)
{
    char seq[16];
    snprintf(seq, sizeof(seq), "\\u%04X", cp);
    put(w, seq, 6);
}

static void put_escaped(sbom_json *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    int utf8 = -1; /* checked once, at the first non-ASCII byte */
    put(w, "\"", 1);
    while (*s) {
        const unsigned char *run = s;
        while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        put(w, (const char *)run, (size_t)(s - run));
        if (!*s)
            break;
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(w, esc, 2);
            s++;
        } else if (c < 0x20) {
            const char *short_esc = c == '\n'   ? "\\n"
                                    : c == '\t' ? "\\t"
                                    : c == '\r' ? "\\r"
                                    : c == '\b' ? "\\b"
                                    : c == '\f' ? "\\f"
                                                : NULL;
            if (short_esc)
                put(w, short_esc, 2);
            else
                put_u(w, c);
            s++;
        } else if (utf8 < 0 && (utf8 = valid_utf8((const unsigned char *)str)) == 0) {
            put(w, "?", 1);
            s++;
        } else if (!utf8) {
            put(w, "?", 1);
            s++;
        } else { /* a valid multi-byte sequence: \uXXXX, as a surrogate pair above the BMP */
            size_t n = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : 3;
            unsigned cp = c & (0x3f >> n);
            for (size_t i = 1; i <= n; i++)
                cp = (cp << 6) | (s[i] & 0x3f);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u(w, 0xd800 | (cp >> 10));
                put_u(w, 0xdc00 | (cp & 0x3ff));
            } else {
                put_u(w, cp);
            }
            s += n + 1;
        }
    }
    put(w, "\"", 1);
}

void mrun_sbom_json_key(sbom_json *w, const char *key)
{
    if (w->has_items[w->depth])
        put(w, ",", 1);
    w->has_items[w->depth] = true;
    newline(w);
    put_escaped(w, key);
    put(w, ": ", 2);
    w->after_key = true;
}

void mrun_sbom_json_str(sbom_json *w, const char *s)
{
    before_value(w);
    put_escaped(w, s ? s : "");
}

void mrun_sbom_json_raw(sbom_json *w, const char *literal)
{
    before_value(w);
    put(w, literal, strlen(literal));
}

void mrun_sbom_json_kv(sbom_json *w, const char *key, const char *value)
{
    if (!value)
        return;
    mrun_sbom_json_key(w, key);
    mrun_sbom_json_str(w, value);
}

int mrun_sbom_json_finish(sbom_json *w, FILE *out, mrun_err *err)
{
    put(w, "\n", 1);
    if (w->oom)
        return mrun_err_set(err, ENOMEM, "writing the sbom");
    errno = 0;
    if (fwrite(w->buf, 1, w->len, out) != w->len || fflush(out) != 0 || ferror(out))
        return mrun_err_set(err, errno ? errno : EIO, "writing the sbom");
    return 0;
}

void mrun_sbom_json_fini(sbom_json *w)
{
    free(w->buf);
    *w = (sbom_json){0};
}
