/* coverage_xml.c - Cobertura XML reports (https://cobertura.github.io/cobertura/xml/coverage-04.dtd) through a small
 * bounded XML tokenizer of our own: elements, attributes, the five predefined entities and character references,
 * comments, processing instructions and CDATA skipped. A DOCTYPE is skipped only without an internal subset: entity
 * declarations (billion laughs, external entities: OWASP XXE prevention) are refused, and nothing is ever fetched.
 * Totals come from <class filename><lines><line number hits>; the root's line-rate is only a fallback. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "coverage_int.h"

#define XML_MAX_DEPTH 256
#define XML_MAX_ATTRS 64
#define XML_MAX_NAME  256
#define XML_MAX_VALUE (64u << 10)

typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct xattr {
    span name, value; /* value raw: entities not yet decoded, validated */
} xattr;

typedef struct xp {
    const char *name;
    const uint8_t *b;
    size_t len, pos;
    size_t depth;
    span stack[XML_MAX_DEPTH];
    xattr attrs[XML_MAX_ATTRS];
    size_t n_attrs;
    mrun_err *err;
    /* Cobertura state */
    mrun_cov_report *r;
    size_t class_depth; /* depth of the open <class>, 0 outside */
    uint32_t file;
} xp;

__attribute__((format(printf, 4, 5))) static int fail(xp *x, int code, size_t off, const char *fmt, ...)
{
    char at[200], msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cov_where(x->name, x->b, x->len, off, at, sizeof(at));
    return mrun_err_setx(x->err, code, "%s: %s", at, msg);
}

static bool starts(const xp *x, const char *s)
{
    size_t n = strlen(s);
    return x->len - x->pos >= n && memcmp(x->b + x->pos, s, n) == 0;
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_space(xp *x)
{
    while (x->pos < x->len && is_space(x->b[x->pos]))
        x->pos++;
}

/* Skips past the terminator; EPROTO when the input ends first. */
static int skip_past(xp *x, const char *term, const char *what)
{
    size_t start = x->pos, n = strlen(term);
    const uint8_t *hit = memmem(x->b + x->pos, x->len - x->pos, term, n);
    if (!hit)
        return fail(x, EPROTO, start, "truncated: %s is not closed with '%s'", what, term);
    x->pos = (size_t)(hit - x->b) + n;
    return 0;
}

static bool name_char(uint8_t c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80)
        return true;
    return !first && ((c >= '0' && c <= '9') || c == '-' || c == '.');
}

static int parse_name(xp *x, span *ret)
{
    size_t start = x->pos;
    if (x->pos >= x->len || !name_char(x->b[x->pos], true))
        return fail(x, EPROTO, start, "expected a name");
    while (x->pos < x->len && name_char(x->b[x->pos], false))
        if (++x->pos - start > XML_MAX_NAME)
            return fail(x, E2BIG, start, "name longer than %d bytes", XML_MAX_NAME);
    *ret = (span){(const char *)x->b + start, x->pos - start};
    return 0;
}

/* An entity or character reference at s[0] == '&' within s[0..n): its length and code point, or -1. */
static long ref_len(const char *s, size_t n, uint32_t *ret_cp)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        size_t l = strlen(named[i].name);
        if (n - 1 >= l && memcmp(s + 1, named[i].name, l) == 0) {
            *ret_cp = (uint8_t)named[i].c;
            return (long)l + 1;
        }
    }
    if (n < 4 || s[1] != '#')
        return -1;
    bool hex = s[2] == 'x';
    uint32_t cp = 0;
    size_t i = hex ? 3 : 2, start = i;
    for (; i < n && s[i] != ';' && i - start < 8; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'          ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (d < 0)
            return -1;
        cp = cp * (hex ? 16 : 10) + (uint32_t)d;
    }
    if (i == start || i >= n || s[i] != ';' || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *ret_cp = cp;
    return (long)i + 1;
}

static int parse_value(xp *x, span *ret)
{
    if (x->pos >= x->len || (x->b[x->pos] != '"' && x->b[x->pos] != '\''))
        return fail(x, EPROTO, x->pos, "expected a quoted attribute value");
    uint8_t q = x->b[x->pos++];
    size_t start = x->pos;
    for (; x->pos < x->len && x->b[x->pos] != q; x->pos++) {
        uint8_t c = x->b[x->pos];
        uint32_t cp;
        if (x->pos - start >= XML_MAX_VALUE)
            return fail(x, E2BIG, start, "attribute value longer than %u KiB", XML_MAX_VALUE >> 10);
        if (c == '<' || c == '\0')
            return fail(x, EPROTO, x->pos, "'%s' in an attribute value", c ? "<" : "NUL");
        if (c == '&' && ref_len((const char *)x->b + x->pos, x->len - x->pos, &cp) < 0)
            return fail(x, EPROTO, x->pos,
                        "unknown or malformed entity reference (only &amp; &lt; &gt; &quot; "
                        "&apos; and &#N; are read)");
    }
    if (x->pos >= x->len)
        return fail(x, EPROTO, start, "truncated: attribute value is not closed");
    *ret = (span){(const char *)x->b + start, x->pos - start};
    x->pos++;
    return 0;
}

/* Attributes up to '>' or '/>'; *ret_empty for '/>'. */
static int parse_attrs(xp *x, bool *ret_empty)
{
    x->n_attrs = 0;
    for (;;) {
        size_t before = x->pos;
        skip_space(x);
        if (x->pos >= x->len)
            return fail(x, EPROTO, x->pos, "truncated: start tag is not closed");
        if (x->b[x->pos] == '>' || starts(x, "/>")) {
            *ret_empty = x->b[x->pos] == '/';
            x->pos += *ret_empty ? 2 : 1;
            return 0;
        }
        if (before == x->pos)
            return fail(x, EPROTO, x->pos, "expected white space before an attribute");
        if (x->n_attrs == XML_MAX_ATTRS)
            return fail(x, E2BIG, x->pos, "more than %d attributes", XML_MAX_ATTRS);
        xattr *a = &x->attrs[x->n_attrs];
        if (parse_name(x, &a->name) < 0)
            return -1;
        skip_space(x);
        if (x->pos >= x->len || x->b[x->pos] != '=')
            return fail(x, EPROTO, x->pos, "expected '=' after attribute '%.*s'", (int)a->name.n, a->name.p);
        x->pos++;
        skip_space(x);
        if (parse_value(x, &a->value) < 0)
            return -1;
        for (size_t i = 0; i < x->n_attrs; i++)
            if (x->attrs[i].name.n == a->name.n && memcmp(x->attrs[i].name.p, a->name.p, a->name.n) == 0)
                return fail(x, EPROTO, x->pos, "attribute '%.*s' given twice", (int)a->name.n, a->name.p);
        x->n_attrs++;
    }
}

static bool span_is(span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* The decoded value of attribute name into out (UTF-8); 0, 1 when absent, -1 (E2BIG) when it does not fit. */
static int attr(const xp *x, const char *name, char *out, size_t cap, size_t *ret_len)
{
    for (size_t i = 0; i < x->n_attrs; i++) {
        if (!span_is(x->attrs[i].name, name))
            continue;
        span v = x->attrs[i].value;
        size_t o = 0;
        for (size_t j = 0; j < v.n;) {
            uint32_t cp = (uint8_t)v.p[j];
            long l = v.p[j] == '&' ? ref_len(v.p + j, v.n - j, &cp) : 1; /* validated by parse_value */
            char enc[4];
            size_t el = cp < 0x80 || l == 1 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (el == 1)
                enc[0] = (char)cp;
            else if (el == 2)
                enc[0] = (char)(0xC0 | cp >> 6), enc[1] = (char)(0x80 | (cp & 0x3F));
            else if (el == 3)
                enc[0] = (char)(0xE0 | cp >> 12), enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
                enc[2] = (char)(0x80 | (cp & 0x3F));
            else
                enc[0] = (char)(0xF0 | cp >> 18), enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
                enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), enc[3] = (char)(0x80 | (cp & 0x3F));
            if (o + el >= cap)
                return -1;
            memcpy(out + o, enc, el);
            o += el;
            j += (size_t)l;
        }
        out[o] = '\0';
        *ret_len = o;
        return 0;
    }
    return 1;
}

/* A required non-negative integer attribute of the current element. */
static int attr_u64(xp *x, size_t off, const char *name, uint64_t max, bool required, uint64_t *ret)
{
    char v[64];
    size_t n;
    int rc = attr(x, name, v, sizeof(v), &n);
    if (rc == 1)
        return required ? fail(x, EPROTO, off, "missing attribute '%s'", name) : 1;
    if (rc < 0 || cov_parse_u64(v, n, max, ret) < 0)
        return fail(x, EPROTO, off, "attribute %s=\"%.32s\" is not a whole number in 0..%llu", name, rc < 0 ? "..." : v,
                    (unsigned long long)max);
    return 0;
}

static int on_root(xp *x, span name, size_t off)
{
    if (!span_is(name, "coverage"))
        return fail(x, EPROTO, off, "not a Cobertura report: the root element is <%.*s>, not <coverage>",
                    (int)(name.n > 64 ? 64 : name.n), name.p);
    uint64_t valid = 0, covered = 0;
    int a = attr_u64(x, off, "lines-valid", UINT32_MAX, false, &valid);
    int b = a < 0 ? -1 : attr_u64(x, off, "lines-covered", UINT32_MAX, false, &covered);
    if (a < 0 || b < 0)
        return -1;
    char v[64], *end = NULL;
    size_t n;
    int rc = attr(x, "line-rate", v, sizeof(v), &n);
    if (rc == 0) {
        double rate = strtod(v, &end);
        if (n == 0 || *end || !isfinite(rate) || rate < 0 || rate > 1)
            return fail(x, EPROTO, off, "line-rate=\"%.32s\" is not a number in 0..1", v);
        x->r->sum_rate = rate;
    } else if (rc < 0) {
        return fail(x, EPROTO, off, "line-rate is not a number in 0..1");
    }
    if (a == 0 && b == 0) {
        if (covered > valid)
            return fail(x, EPROTO, off, "lines-covered is greater than lines-valid");
        x->r->sum_valid = valid;
        x->r->sum_covered = covered;
        x->r->sum_counts = true;
    }
    x->r->has_summary = (a == 0 && b == 0) || rc == 0;
    return 0;
}

static int on_start(xp *x, span name, size_t off)
{
    if (x->depth == 1)
        return on_root(x, name, off);
    if (span_is(name, "class")) {
        char file[COV_MAX_PATH + 1];
        size_t n;
        int rc = attr(x, "filename", file, sizeof(file), &n);
        if (rc == 1)
            return fail(x, EPROTO, off, "<class> without a filename attribute");
        if (rc < 0)
            return fail(x, E2BIG, off, "filename longer than %u bytes", COV_MAX_PATH);
        if (cov_file_get(x->r, file, n, &x->file, x->err) < 0) {
            char at[200];
            cov_where(x->name, x->b, x->len, off, at, sizeof(at));
            return mrun_err_prefix(x->err, "%s", at);
        }
        x->class_depth = x->depth;
        return 0;
    }
    if (span_is(name, "line") && x->class_depth) {
        uint64_t number, hits;
        if (attr_u64(x, off, "number", COV_MAX_LINE, true, &number) < 0 ||
            attr_u64(x, off, "hits", UINT64_MAX, true, &hits) < 0)
            return -1;
        if (number == 0)
            return fail(x, EPROTO, off, "line number 0 (lines count from 1)");
        if (cov_add_line(x->r, x->file, (uint32_t)number, hits > 0, x->err) < 0) {
            char at[200];
            cov_where(x->name, x->b, x->len, off, at, sizeof(at));
            return mrun_err_prefix(x->err, "%s", at);
        }
    }
    return 0;
}

static void on_end(xp *x)
{
    if (x->depth == x->class_depth)
        x->class_depth = 0;
}

static int start_tag(xp *x, bool *root_done)
{
    size_t off = x->pos++;
    span name;
    bool empty = false;
    if (*root_done)
        return fail(x, EPROTO, off, "content after the root element");
    if (parse_name(x, &name) < 0 || parse_attrs(x, &empty) < 0)
        return -1;
    if (x->depth == XML_MAX_DEPTH)
        return fail(x, E2BIG, off, "elements nested deeper than %d levels", XML_MAX_DEPTH);
    x->stack[x->depth++] = name;
    if (on_start(x, name, off) < 0)
        return -1;
    if (empty) {
        on_end(x);
        x->depth--;
    }
    *root_done = x->depth == 0;
    return 0;
}

static int end_tag(xp *x, bool *root_done)
{
    size_t off = x->pos;
    span name;
    x->pos += 2;
    if (parse_name(x, &name) < 0)
        return -1;
    skip_space(x);
    if (x->pos >= x->len || x->b[x->pos] != '>')
        return fail(x, EPROTO, x->pos, "expected '>' to close </%.*s", (int)name.n, name.p);
    x->pos++;
    if (x->depth == 0)
        return fail(x, EPROTO, off, "</%.*s> closes nothing", (int)name.n, name.p);
    span open = x->stack[x->depth - 1];
    if (open.n != name.n || memcmp(open.p, name.p, name.n) != 0)
        return fail(x, EPROTO, off, "</%.*s> closes <%.*s>", (int)name.n, name.p, (int)open.n, open.p);
    on_end(x);
    x->depth--;
    *root_done = x->depth == 0;
    return 0;
}

/* <!DOCTYPE name SYSTEM "uri"> is skipped (the URI is never fetched); an internal subset [...] declares entities
 * and is refused. */
static int doctype(xp *x, bool seen_root)
{
    size_t off = x->pos;
    if (seen_root)
        return fail(x, EPROTO, off, "DOCTYPE after the root element");
    for (x->pos += 9; x->pos < x->len; x->pos++) {
        uint8_t c = x->b[x->pos];
        if (c == '[')
            return fail(x, EPROTO, off, "DOCTYPE with an internal subset (entity declarations) is refused");
        if (c == '>') {
            x->pos++;
            return 0;
        }
        if (c == '"' || c == '\'') {
            const uint8_t *q = memchr(x->b + x->pos + 1, c, x->len - x->pos - 1);
            if (!q)
                break;
            x->pos = (size_t)(q - x->b);
        }
    }
    return fail(x, EPROTO, off, "truncated: DOCTYPE is not closed");
}

static int markup(xp *x, bool *seen_root, bool *root_done)
{
    if (starts(x, "<?"))
        return skip_past(x, "?>", "processing instruction");
    if (starts(x, "<!--"))
        return skip_past(x, "-->", "comment");
    if (starts(x, "<![CDATA[")) {
        if (!x->depth)
            return fail(x, EPROTO, x->pos, "CDATA outside the root element");
        return skip_past(x, "]]>", "CDATA section");
    }
    if (starts(x, "<!DOCTYPE"))
        return doctype(x, *seen_root);
    if (starts(x, "<!"))
        return fail(x, EPROTO, x->pos, "markup declaration outside a DOCTYPE");
    if (starts(x, "</"))
        return end_tag(x, root_done);
    *seen_root = true;
    return start_tag(x, root_done);
}

int cov_parse_cobertura(mrun_cov_report *r, const char *name, const uint8_t *buf, size_t len, mrun_err *err)
{
    xp *x = calloc(1, sizeof(*x));
    if (!x)
        return mrun_err_set(err, ENOMEM, "coverage");
    *x = (xp){.name = name, .b = buf, .len = len, .err = err, .r = r};
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        x->pos = 3;
    bool seen_root = false, root_done = false;
    int rc = 0;
    while (rc == 0 && x->pos < x->len) {
        uint8_t c = x->b[x->pos];
        if (c == '<') {
            rc = markup(x, &seen_root, &root_done);
        } else if (c == '\0') {
            rc = fail(x, EPROTO, x->pos, "NUL byte");
        } else if (x->depth == 0 && !is_space(c)) {
            rc = fail(x, EPROTO, x->pos, "text outside the root element");
        } else {
            const uint8_t *lt = memchr(x->b + x->pos, '<', x->len - x->pos);
            x->pos = lt ? (size_t)(lt - x->b) : x->len;
        }
    }
    if (rc == 0 && x->depth)
        rc = fail(x, EPROTO, x->len, "truncated: <%.*s> is not closed", (int)x->stack[x->depth - 1].n,
                  x->stack[x->depth - 1].p);
    if (rc == 0 && !seen_root)
        rc = fail(x, EPROTO, x->len, "no root element");
    free(x);
    return rc;
}
