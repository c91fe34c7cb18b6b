/* coverage.c - the coverage report model (files by path, line records merged by line number, totals recomputed
 * from them), the lcov tracefile reader, format detection and the entry point mrun_cov_parse. The Cobertura
 * reader is coverage_xml.c; the gate's verdict and reports are coverage_gate.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "coverage_int.h"

void cov_where(const char *name, const uint8_t *buf, size_t len, size_t off, char *out, size_t out_len)
{
    unsigned line = 1, col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (buf[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(out, out_len, "%.128s:%u:%u", name, line, col);
}

int cov_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *ret = v;
    return 0;
}

static uint64_t hash_path(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int grow_index(mrun_cov_report *r, mrun_err *err)
{
    size_t cap = r->index_cap ? r->index_cap * 2 : 64;
    uint32_t *ix = calloc(cap, sizeof(*ix));
    if (!ix)
        return mrun_err_set(err, ENOMEM, "coverage");
    for (size_t i = 0; i < r->n_files; i++) {
        size_t slot = hash_path(r->files[i].path, strlen(r->files[i].path)) & (cap - 1);
        while (ix[slot])
            slot = (slot + 1) & (cap - 1);
        ix[slot] = (uint32_t)i + 1;
    }
    free(r->index);
    r->index = ix;
    r->index_cap = cap;
    return 0;
}

static int new_file(mrun_cov_report *r, const char *path, size_t len, mrun_err *err)
{
    if (r->n_files >= COV_MAX_FILES)
        return mrun_err_setx(err, E2BIG, "more than %u files", COV_MAX_FILES);
    if (r->n_files == r->cap_files) {
        size_t cap = r->cap_files ? r->cap_files * 2 : 16;
        cov_file *f = realloc(r->files, cap * sizeof(*f));
        if (!f)
            return mrun_err_set(err, ENOMEM, "coverage");
        r->files = f;
        r->cap_files = cap;
    }
    char *p = malloc(len + 1);
    if (!p)
        return mrun_err_set(err, ENOMEM, "coverage");
    memcpy(p, path, len);
    p[len] = '\0';
    r->files[r->n_files++] = (cov_file){.path = p};
    return 0;
}

int cov_file_get(mrun_cov_report *r, const char *path, size_t len, uint32_t *ret_idx, mrun_err *err)
{
    if (len == 0)
        return mrun_err_setx(err, EPROTO, "empty file name");
    if (len > COV_MAX_PATH)
        return mrun_err_setx(err, E2BIG, "file name longer than %u bytes", COV_MAX_PATH);
    if ((r->n_files + 1) * 2 > r->index_cap && grow_index(r, err) < 0)
        return -1;
    char clean[COV_MAX_PATH + 1]; /* paths are shown in logs: control characters become '?' */
    for (size_t i = 0; i < len; i++)
        clean[i] = ((uint8_t)path[i] < 0x20 || path[i] == 0x7f) ? '?' : path[i];
    path = clean;
    size_t slot = hash_path(path, len) & (r->index_cap - 1);
    for (; r->index[slot]; slot = (slot + 1) & (r->index_cap - 1)) {
        const cov_file *f = &r->files[r->index[slot] - 1];
        if (strncmp(f->path, path, len) == 0 && f->path[len] == '\0') {
            *ret_idx = r->index[slot] - 1;
            return 0;
        }
    }
    if (new_file(r, path, len, err) < 0)
        return -1;
    r->index[slot] = (uint32_t)r->n_files;
    *ret_idx = (uint32_t)r->n_files - 1;
    return 0;
}

int cov_add_line(mrun_cov_report *r, uint32_t file, uint32_t line, bool hit, mrun_err *err)
{
    cov_file *f = &r->files[file];
    if (r->n_records >= COV_MAX_RECORDS)
        return mrun_err_setx(err, E2BIG, "more than %u line records", COV_MAX_RECORDS);
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        cov_line *l = realloc(f->lines, cap * sizeof(*l));
        if (!l)
            return mrun_err_set(err, ENOMEM, "coverage");
        f->lines = l;
        f->cap = cap;
    }
    f->lines[f->n++] = (cov_line){line, hit ? 1u : 0u};
    r->n_records++;
    return 0;
}

/* ---- lcov: https://github.com/linux-test-project/lcov man/geninfo.1 "TRACEFILE FORMAT" ---- */

typedef struct lcov_state {
    mrun_cov_report *r;
    const char *name;
    const uint8_t *buf;
    size_t len;
    bool in_record;
    uint32_t file;
    uint64_t lf, lh;
    bool has_lf, has_lh;
} lcov_state;

static int lcov_fail(const lcov_state *s, size_t off, mrun_err *err, const char *what)
{
    char at[200];
    cov_where(s->name, s->buf, s->len, off, at, sizeof(at));
    return mrun_err_setx(err, EPROTO, "%s: %s", at, what);
}

/* DA:<line>,<hits>[,<checksum>] */
static int lcov_da(lcov_state *s, const char *v, size_t n, size_t off, mrun_err *err)
{
    const char *comma = memchr(v, ',', n);
    if (!s->in_record)
        return lcov_fail(s, off, err, "DA outside a record (no SF before it)");
    if (!comma)
        return lcov_fail(s, off, err, "DA needs <line>,<hits>");
    const char *h = comma + 1, *end = memchr(h, ',', n - (size_t)(h - v));
    size_t hl = end ? (size_t)(end - h) : n - (size_t)(h - v);
    uint64_t line, hits;
    if (cov_parse_u64(v, (size_t)(comma - v), COV_MAX_LINE, &line) < 0 || line == 0)
        return lcov_fail(s, off, err, "DA line number is not a number in 1..100000000");
    if (cov_parse_u64(h, hl, UINT64_MAX, &hits) < 0)
        return lcov_fail(s, off, err, "DA hit count is not a non-negative number");
    if (cov_add_line(s->r, s->file, (uint32_t)line, hits > 0, err) < 0) {
        char at[200];
        cov_where(s->name, s->buf, s->len, off, at, sizeof(at));
        return mrun_err_prefix(err, "%s", at);
    }
    return 0;
}

static int lcov_end(lcov_state *s, size_t off, mrun_err *err)
{
    if (!s->in_record)
        return lcov_fail(s, off, err, "end_of_record without SF");
    cov_file *f = &s->r->files[s->file];
    if (s->has_lf && s->has_lh) {
        if (s->lh > s->lf)
            return lcov_fail(s, off, err, "LH is greater than LF");
        f->declared = true;
        if (s->lf > f->decl_valid)
            f->decl_valid = s->lf;
        if (s->lh > f->decl_covered)
            f->decl_covered = s->lh;
        s->r->has_summary = true;
    }
    s->in_record = s->has_lf = s->has_lh = false;
    return 0;
}

static int lcov_line(lcov_state *s, const char *l, size_t n, size_t off, mrun_err *err)
{
    if (n == 13 && memcmp(l, "end_of_record", 13) == 0)
        return lcov_end(s, off, err);
    const char *colon = memchr(l, ':', n);
    if (!colon || colon == l)
        return lcov_fail(s, off, err, "not an lcov line (expected KEY:VALUE or end_of_record)");
    for (const char *p = l; p < colon; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return lcov_fail(s, off, err, "not an lcov line (keys are upper-case, e.g. SF:, DA:)");
    size_t kl = (size_t)(colon - l), vl = n - kl - 1;
    const char *v = colon + 1;
    if (kl == 2 && memcmp(l, "SF", 2) == 0) {
        if (s->in_record)
            return lcov_fail(s, off, err, "SF inside a record (missing end_of_record)");
        if (cov_file_get(s->r, v, vl, &s->file, err) < 0) {
            char at[200];
            cov_where(s->name, s->buf, s->len, off, at, sizeof(at));
            return mrun_err_prefix(err, "%s", at);
        }
        s->in_record = true;
        return 0;
    }
    if (kl == 2 && memcmp(l, "DA", 2) == 0)
        return lcov_da(s, v, vl, off, err);
    if (kl == 2 && (memcmp(l, "LF", 2) == 0 || memcmp(l, "LH", 2) == 0)) {
        uint64_t x;
        if (!s->in_record)
            return lcov_fail(s, off, err, "LF/LH outside a record");
        if (cov_parse_u64(v, vl, UINT32_MAX, &x) < 0)
            return lcov_fail(s, off, err, "LF/LH is not a non-negative number");
        if (l[1] == 'F')
            s->lf = x, s->has_lf = true;
        else
            s->lh = x, s->has_lh = true;
        return 0;
    }
    return 0; /* TN, FN, FNDA, FNF, FNH, BRDA, BRF, BRH, VER, FNL, FNA...: not line coverage */
}

static int parse_lcov(mrun_cov_report *r, const char *name, const uint8_t *buf, size_t len, mrun_err *err)
{
    lcov_state s = {.r = r, .name = name, .buf = buf, .len = len};
    for (size_t off = 0; off < len;) {
        const uint8_t *nl = memchr(buf + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
        size_t ln = n;
        while (ln && (buf[off + ln - 1] == '\r' || buf[off + ln - 1] == ' ' || buf[off + ln - 1] == '\t'))
            ln--;
        if (ln && memchr(buf + off, '\0', ln))
            return lcov_fail(&s, off, err, "NUL byte in an lcov line");
        if (ln && lcov_line(&s, (const char *)buf + off, ln, off, err) < 0)
            return -1;
        off += n + (nl != NULL);
    }
    if (s.in_record)
        return lcov_fail(&s, len, err, "truncated: the last record has no end_of_record");
    return 0;
}

/* ---- the model ---- */

static int cmp_line(const void *a, const void *b)
{
    const cov_line *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const cov_file *)a)->path, ((const cov_file *)b)->path);
}

/* The root's lines-valid/lines-covered/line-rate: used when there are no <line> records, else compared. */
static void cobertura_summary(mrun_cov_report *r)
{
    if (r->n_records == 0) {
        if (r->sum_counts) {
            r->valid = r->sum_valid;
            r->covered = r->sum_covered;
        }
        return;
    }
    double pct = 100.0 * (double)r->covered / (double)r->valid;
    if (r->sum_counts && (r->sum_valid != r->valid || r->sum_covered != r->covered))
        snprintf(r->note, sizeof(r->note),
                 "the report's root says %llu of %llu lines; its <line> records (used) say "
                 "%llu of %llu",
                 (unsigned long long)r->sum_covered, (unsigned long long)r->sum_valid, (unsigned long long)r->covered,
                 (unsigned long long)r->valid);
    else if (r->sum_rate >= 0 && fabs(r->sum_rate * 100 - pct) > 0.06)
        snprintf(r->note, sizeof(r->note), "the report's line-rate says %.1f%%; its <line> records (used) say %.1f%%",
                 r->sum_rate * 100, pct);
}

/* Merges each file's records by line number (covered when any record hit it) and sums the totals. */
static void finish(mrun_cov_report *r)
{
    bool lcov_mismatch = false;
    for (size_t i = 0; i < r->n_files; i++) {
        cov_file *f = &r->files[i];
        if (f->n)
            qsort(f->lines, f->n, sizeof(*f->lines), cmp_line);
        uint64_t valid = 0, covered = 0;
        for (size_t j = 0; j < f->n;) {
            uint32_t hit = 0, line = f->lines[j].line;
            for (; j < f->n && f->lines[j].line == line; j++)
                hit |= f->lines[j].hit;
            valid++;
            covered += hit;
        }
        if (f->n == 0 && f->declared) {
            valid = f->decl_valid;
            covered = f->decl_covered;
        } else if (f->declared && (valid != f->decl_valid || covered != f->decl_covered)) {
            lcov_mismatch = true;
        }
        f->pub.lines_valid = valid;
        f->pub.lines_covered = covered;
        r->valid += valid;
        r->covered += covered;
        if (f->declared) {
            r->sum_valid += f->decl_valid;
            r->sum_covered += f->decl_covered;
        }
    }
    if (r->n_files)
        qsort(r->files, r->n_files, sizeof(*r->files), cmp_file);
    for (size_t i = 0; i < r->n_files; i++)
        r->files[i].pub.path = r->files[i].path;
    free(r->index); /* the files moved; lookups are over */
    r->index = NULL;
    r->index_cap = 0;
    if (r->format == MRUN_COV_COBERTURA)
        cobertura_summary(r);
    else if (lcov_mismatch)
        snprintf(r->note, sizeof(r->note),
                 "the report's LF/LH (%llu of %llu lines) disagree with its DA lines, "
                 "which were used",
                 (unsigned long long)r->sum_covered, (unsigned long long)r->sum_valid);
}

int mrun_cov_format_parse(const char *s, mrun_cov_format *ret)
{
    if (strcmp(s, "auto") == 0)
        *ret = MRUN_COV_AUTO;
    else if (strcmp(s, "cobertura") == 0 || strcmp(s, "xml") == 0)
        *ret = MRUN_COV_COBERTURA;
    else if (strcmp(s, "lcov") == 0)
        *ret = MRUN_COV_LCOV;
    else
        return -1;
    return 0;
}

static int detect(const char *name, const uint8_t *buf, size_t len, mrun_cov_format *ret, mrun_err *err)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (i < len && buf[i] == '<') {
        *ret = MRUN_COV_COBERTURA;
        return 0;
    }
    static const char *const keys[] = {"TN:", "SF:", "VER:"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        size_t kl = strlen(keys[k]);
        if (len - i >= kl && memcmp(buf + i, keys[k], kl) == 0) {
            *ret = MRUN_COV_LCOV;
            return 0;
        }
    }
    if (i == len)
        return mrun_err_setx(err, EPROTO, "%.128s: empty coverage report", name);
    return mrun_err_setx(err, EPROTO,
                         "%.128s: not a coverage report this reads (Cobertura XML starts with '<', an lcov tracefile "
                         "with TN: or SF:)",
                         name);
}

int mrun_cov_parse(const char *name, const uint8_t *buf, size_t len, mrun_cov_format fmt, mrun_cov_report **ret,
                   mrun_err *err)
{
    if (len > MRUN_COV_MAX_REPORT)
        return mrun_err_setx(err, E2BIG, "%.128s: report larger than %zu MiB", name, MRUN_COV_MAX_REPORT >> 20);
    if (fmt == MRUN_COV_AUTO && detect(name, buf, len, &fmt, err) < 0)
        return -1;
    mrun_cleanup(mrun_cov_report_freep) mrun_cov_report *r = calloc(1, sizeof(*r));
    if (!r)
        return mrun_err_set(err, ENOMEM, "coverage");
    r->format = fmt;
    r->sum_rate = -1;
    int rc = fmt == MRUN_COV_LCOV ? parse_lcov(r, name, buf, len, err) : cov_parse_cobertura(r, name, buf, len, err);
    if (rc < 0)
        return -1;
    finish(r);
    *ret = mrun_steal_ptr(&r);
    return 0;
}

void mrun_cov_report_free(mrun_cov_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_files; i++) {
        free(r->files[i].path);
        free(r->files[i].lines);
    }
    free(r->files);
    free(r->index);
    free(r);
}

void mrun_cov_report_freep(mrun_cov_report **r)
{
    mrun_cov_report_free(*r);
}

mrun_cov_format mrun_cov_report_format(const mrun_cov_report *r)
{
    return r->format;
}

void mrun_cov_report_totals(const mrun_cov_report *r, uint64_t *ret_valid, uint64_t *ret_covered)
{
    *ret_valid = r->valid;
    *ret_covered = r->covered;
}

double mrun_cov_report_percent(const mrun_cov_report *r)
{
    if (r->valid)
        return 100.0 * (double)r->covered / (double)r->valid;
    return r->format == MRUN_COV_COBERTURA && r->n_records == 0 && r->sum_rate >= 0 ? r->sum_rate * 100 : -1;
}

size_t mrun_cov_report_count(const mrun_cov_report *r)
{
    return r->n_files;
}

const mrun_cov_file *mrun_cov_report_at(const mrun_cov_report *r, size_t i)
{
    return i < r->n_files ? &r->files[i].pub : NULL;
}

const char *mrun_cov_report_note(const mrun_cov_report *r)
{
    return r->note[0] ? r->note : NULL;
}

/* a below b: lower coverage first; covered*b_valid vs b_covered*valid avoids rounding (both under 2^32 lines) */
static bool lower(const mrun_cov_file *a, const mrun_cov_file *b)
{
    unsigned __int128 x = (unsigned __int128)a->lines_covered * b->lines_valid,
                      y = (unsigned __int128)b->lines_covered * a->lines_valid;
    return x != y ? x < y : strcmp(a->path, b->path) < 0;
}

size_t mrun_cov_report_lowest(const mrun_cov_report *r, const mrun_cov_file **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_files && max; i++) {
        const mrun_cov_file *f = &r->files[i].pub;
        if (!f->lines_valid)
            continue;
        if (n == max && !lower(f, out[n - 1]))
            continue;
        size_t j = n < max ? n++ : n - 1; /* insertion into the sorted top-max */
        while (j > 0 && lower(f, out[j - 1])) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = f;
    }
    return n;
}

int mrun_cov_parse_percent(const char *s, double *ret, mrun_err *err)
{
    char *end = NULL;
    errno = 0;
    size_t digits = s ? strspn(s, "0123456789.") : 0; /* strtod alone would take "0x50", "8e1" and "inf" */
    if (!digits || (s[digits] && s[digits] != ' ' && s[digits] != '%'))
        return mrun_err_setx(err, EINVAL, "'%.32s' is not a percentage (e.g. 80 or 72.5%%)", s ? s : "");
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (*end == '%')
        end++;
    if (errno || *end || !isfinite(v) || v < 0 || v > 100)
        return mrun_err_setx(err, EINVAL, "'%.32s' is not a percentage in 0..100 (e.g. 80 or 72.5%%)", s);
    *ret = v;
    return 0;
}
