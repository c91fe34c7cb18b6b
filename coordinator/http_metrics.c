/* http_metrics.c - a builder for the Prometheus text exposition format (version 0.0.4): HELP/TYPE once per family,
 * label values and help text escaped, a bounded buffer. Pure: no I/O, no globals. */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Invariant: buf[len] == '\0' and len < cap <= max. family is the last family whose HELP/TYPE was written. */
struct mrun_metrics {
    char *buf;
    size_t len, cap, max;
    char family[128];
};

int mrun_metrics_new(size_t max, mrun_metrics **ret_m, mrun_err *err)
{
    mrun_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return mrun_err_set(err, errno, "metrics");
    m->cap = 4096;
    m->max = max < m->cap ? m->cap : max;
    m->buf = malloc(m->cap);
    if (!m->buf) {
        free(m);
        return mrun_err_set(err, ENOMEM, "metrics");
    }
    m->buf[0] = '\0';
    *ret_m = m;
    return 0;
}

void mrun_metrics_free(mrun_metrics *m)
{
    if (!m)
        return;
    free(m->buf);
    free(m);
}

const char *mrun_metrics_text(const mrun_metrics *m, size_t *ret_len)
{
    if (ret_len)
        *ret_len = m->len;
    return m->buf;
}

static int reserve(mrun_metrics *m, size_t more, mrun_err *err)
{
    if (more >= m->max - m->len)
        return mrun_err_setx(err, E2BIG, "metrics: exposition larger than %zu bytes", m->max);
    if (m->len + more < m->cap)
        return 0;
    size_t cap = m->cap;
    while (cap <= m->len + more)
        cap = cap > m->max / 2 ? m->max : cap * 2;
    char *b = realloc(m->buf, cap);
    if (!b)
        return mrun_err_set(err, ENOMEM, "metrics");
    m->buf = b;
    m->cap = cap;
    return 0;
}

__attribute__((format(printf, 3, 4))) static int put(mrun_metrics *m, mrun_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return mrun_err_set(err, EINVAL, "metrics: format");
    if ((size_t)n >= m->cap - m->len) {
        if (reserve(m, (size_t)n + 1, err) < 0) {
            m->buf[m->len] = '\0';
            return -1;
        }
        va_start(ap, fmt);
        vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
        va_end(ap);
    }
    m->len += (size_t)n;
    return 0;
}

/* Appends s escaped: backslash and newline always, the double quote too inside label values. */
static int put_escaped(mrun_metrics *m, const char *s, int quote, mrun_err *err)
{
    for (; *s; s++) {
        const char *e = NULL;
        if (*s == '\\')
            e = "\\\\";
        else if (*s == '\n')
            e = "\\n";
        else if (*s == '"' && quote)
            e = "\\\"";
        if (e ? put(m, err, "%s", e) < 0 : put(m, err, "%c", *s) < 0)
            return -1;
    }
    return 0;
}

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c == ':' && allow_colon) ||
                 (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* The shortest %g form that reads back as v (Go's ParseFloat, which Prometheus uses, reads any of them). */
static void fmt_double(char *b, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(b, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(b, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(b, cap, "%.0f", v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, cap, "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            return;
    }
}

static int put_value(mrun_metrics *m, double v, mrun_err *err)
{
    char b[40];
    fmt_double(b, sizeof(b), v);
    return put(m, err, " %s\n", b);
}

/* name{labels[,extra_name="extra_val"]} value */
static int put_sample(mrun_metrics *m, const char *name, const char *suffix, const char *const *labels,
                      const char *extra_name, const char *extra_val, double v, mrun_err *err)
{
    if (put(m, err, "%s%s", name, suffix) < 0)
        return -1;
    int first = 1;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (put(m, err, "%s%s=\"", first ? "{" : ",", labels[i]) < 0 || put_escaped(m, labels[i + 1], 1, err) < 0 ||
            put(m, err, "\"") < 0)
            return -1;
        first = 0;
    }
    if (extra_name && put(m, err, "%s%s=\"%s\"", first ? "{" : ",", extra_name, extra_val) < 0)
        return -1;
    if ((!first || extra_name) && put(m, err, "}") < 0)
        return -1;
    return put_value(m, v, err);
}

static int begin(mrun_metrics *m, const char *name, const char *type, const char *help, const char *const *labels,
                 mrun_err *err)
{
    if (!valid_name(name, 1) || strlen(name) >= sizeof(m->family))
        return mrun_err_setx(err, EINVAL, "metrics: invalid metric name '%.64s'", name ? name : "");
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (!valid_name(labels[i], 0) || strncmp(labels[i], "__", 2) == 0 || !labels[i + 1])
            return mrun_err_setx(err, EINVAL, "metrics: %s: invalid label '%.64s'", name, labels[i]);
    }
    if (strcmp(m->family, name) == 0)
        return 0;
    if (help && (put(m, err, "# HELP %s ", name) < 0 || put_escaped(m, help, 0, err) < 0 || put(m, err, "\n") < 0))
        return -1;
    if (put(m, err, "# TYPE %s %s\n", name, type) < 0)
        return -1;
    memcpy(m->family, name, strlen(name) + 1);
    return 0;
}

/* Each public adder restores the old length on failure, so a scrape never holds half a sample. */
static int sample(mrun_metrics *m, const char *type, const char *name, const char *help, const char *const *labels,
                  double v, mrun_err *err)
{
    size_t old = m->len;
    char fam[sizeof(m->family)];
    memcpy(fam, m->family, sizeof(fam));
    if (begin(m, name, type, help, labels, err) < 0 || put_sample(m, name, "", labels, NULL, NULL, v, err) < 0) {
        m->len = old;
        m->buf[old] = '\0';
        memcpy(m->family, fam, sizeof(fam));
        return -1;
    }
    return 0;
}

int mrun_metrics_counter(mrun_metrics *m, const char *name, const char *help, const char *const *labels, double v,
                         mrun_err *err)
{
    return sample(m, "counter", name, help, labels, v, err);
}

int mrun_metrics_gauge(mrun_metrics *m, const char *name, const char *help, const char *const *labels, double v,
                       mrun_err *err)
{
    return sample(m, "gauge", name, help, labels, v, err);
}

static int histogram(mrun_metrics *m, const char *name, const char *help, const char *const *labels,
                     const double *bounds, const uint64_t *counts, size_t n, double sum, mrun_err *err)
{
    if (begin(m, name, "histogram", help, labels, err) < 0)
        return -1;
    for (size_t i = 0; labels && labels[i]; i += 2)
        if (strcmp(labels[i], "le") == 0)
            return mrun_err_setx(err, EINVAL, "metrics: %s: label 'le' is reserved", name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && i > 0 && !(bounds[i] > bounds[i - 1]))
            return mrun_err_setx(err, EINVAL, "metrics: %s: bucket bounds not ascending", name);
        char le[64];
        if (i == n)
            snprintf(le, sizeof(le), "+Inf");
        else if (bounds[i] == floor(bounds[i]) && fabs(bounds[i]) < 1e15)
            snprintf(le, sizeof(le), "%.1f", bounds[i]); /* "1.0", as the client libraries write it */
        else
            fmt_double(le, sizeof(le), bounds[i]);
        cum += counts[i];
        if (put_sample(m, name, "_bucket", labels, "le", le, (double)cum, err) < 0)
            return -1;
    }
    if (put_sample(m, name, "_sum", labels, NULL, NULL, sum, err) < 0 ||
        put_sample(m, name, "_count", labels, NULL, NULL, (double)cum, err) < 0)
        return -1;
    return 0;
}

int mrun_metrics_histogram(mrun_metrics *m, const char *name, const char *help, const char *const *labels,
                           const double *bounds, const uint64_t *counts, size_t n, double sum, mrun_err *err)
{
    size_t old = m->len;
    char fam[sizeof(m->family)];
    memcpy(fam, m->family, sizeof(fam));
    if (histogram(m, name, help, labels, bounds, counts, n, sum, err) < 0) {
        m->len = old;
        m->buf[old] = '\0';
        memcpy(m->family, fam, sizeof(fam));
        return -1;
    }
    return 0;
}
