/* findings.c - the findings list every check fills (bounded, with fingerprints and redacted values), the two
 * suppressions (`mrun:allow` comments and baseline files), and the text, JSON and SARIF 2.1.0 reports.
 * The matched value itself is never stored: only its fingerprint and a redaction showing at most 4 bytes. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "../common/auto.h"
#include "findings.h"

#define MAX_FINDINGS    100000
#define MAX_BASELINE    (16u << 20)
#define MAX_REASON      200
#define REDACT_SHOW     4 /* bytes of the value shown */
#define REDACT_MIN      8 /* shorter values show only their length */
#define FINGERPRINT_HEX 64

/* The list. Owns every finding's strings; the rules are borrowed from the checks (static data). One thread. */
struct mrun_findings {
    mrun_finding *v;
    size_t n, cap;
};

int mrun_findings_new(mrun_findings **ret, mrun_err *err)
{
    mrun_findings *f = calloc(1, sizeof(*f));
    if (!f)
        return mrun_err_set(err, ENOMEM, "findings");
    *ret = f;
    return 0;
}

static void finding_fini(mrun_finding *x)
{
    free(x->path);
    free(x->redacted);
    free(x->fingerprint);
    free(x->suppressed_by);
}

void mrun_findings_free(mrun_findings *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        finding_fini(&f->v[i]);
    free(f->v);
    free(f);
}

void mrun_findings_freep(mrun_findings **f)
{
    mrun_findings_free(*f);
}

size_t mrun_findings_count(const mrun_findings *f)
{
    return f->n;
}

const mrun_finding *mrun_findings_at(const mrun_findings *f, size_t i)
{
    assert(i < f->n);
    return &f->v[i];
}

/* sha256 hex of "rule\0path\0value", or of "rule\0path\0<line>" when there is no value. */
static char *fingerprint(const char *rule, const char *path, unsigned line, const char *value, size_t value_len)
{
    char num[16];
    if (!value) {
        int k = snprintf(num, sizeof(num), "%u", line);
        value = num;
        value_len = (size_t)k;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(c, rule, strlen(rule) + 1) == 1 &&
              EVP_DigestUpdate(c, path, strlen(path) + 1) == 1 && EVP_DigestUpdate(c, value, value_len) == 1 &&
              EVP_DigestFinal_ex(c, md, &md_len) == 1;
    EVP_MD_CTX_free(c);
    if (!ok || md_len * 2 != FINGERPRINT_HEX)
        return NULL;
    char *hex = malloc(FINGERPRINT_HEX + 1);
    if (!hex)
        return NULL;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < md_len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[FINGERPRINT_HEX] = '\0';
    return hex;
}

/* "AKIA…(20 chars)", or "(5 chars)" under REDACT_MIN. Shown bytes outside printable ASCII become '?', so the
 * redaction is always valid UTF-8 and never carries a terminal escape. */
static char *redact(const char *value, size_t len)
{
    char shown[REDACT_SHOW + 1] = {0};
    if (len >= REDACT_MIN)
        for (size_t i = 0; i < REDACT_SHOW; i++)
            shown[i] = (value[i] >= 0x20 && value[i] < 0x7f) ? value[i] : '?';
    char buf[64];
    int k = snprintf(buf, sizeof(buf), "%s%s(%zu chars)", shown, *shown ? "\xe2\x80\xa6" : "", len);
    if (k < 0 || (size_t)k >= sizeof(buf))
        return NULL;
    return strdup(buf);
}

/* For rules whose value is no secret (a function name): the value itself, at most 200 bytes, non-printable bytes
 * as '?'. */
static char *shown_whole(const char *value, size_t len)
{
    size_t n = len < 200 ? len : 200;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = (value[i] >= 0x20 && value[i] < 0x7f) ? value[i] : '?';
    out[n] = '\0';
    return out;
}

int mrun_findings_add(mrun_findings *f, const mrun_rule *rule, const char *path, unsigned line, unsigned col,
                      const char *value, size_t value_len, mrun_err *err)
{
    assert(f && rule && rule->id && path);
    if (f->n >= MAX_FINDINGS)
        return mrun_err_setx(err, E2BIG, "more than %d findings", MAX_FINDINGS);
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 64;
        mrun_finding *nv = realloc(f->v, ncap * sizeof(*nv));
        if (!nv)
            return mrun_err_set(err, ENOMEM, "findings");
        f->v = nv;
        f->cap = ncap;
    }
    if (value && value_len == 0)
        value = NULL;
    mrun_finding x = {.rule = rule, .line = line, .col = col};
    x.path = strdup(path);
    x.fingerprint = fingerprint(rule->id, path, line, value, value_len);
    x.redacted = !value ? NULL : rule->show_value ? shown_whole(value, value_len) : redact(value, value_len);
    if (!x.path || !x.fingerprint || (value && !x.redacted)) {
        finding_fini(&x);
        return mrun_err_set(err, ENOMEM, "findings");
    }
    f->v[f->n++] = x;
    return 0;
}

/* ---- inline suppression ---- */

/* The reason of a `mrun:allow <rule> <reason>` for rule on line [s, e), copied into out; false without one. */
static bool allow_on_line(const char *s, const char *e, const char *rule, char *out, size_t out_size)
{
    static const char tag[] = "mrun:allow";
    size_t rule_len = strlen(rule);
    for (const char *p = s; (size_t)(e - p) >= sizeof(tag) - 1;) {
        const char *hit = memmem(p, (size_t)(e - p), tag, sizeof(tag) - 1);
        if (!hit)
            return false;
        const char *q = hit + sizeof(tag) - 1;
        p = q;
        if (q == e || (*q != ' ' && *q != '\t'))
            continue;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        const char *id = q;
        while (q < e && *q != ' ' && *q != '\t' && *q != '\r')
            q++;
        if ((size_t)(q - id) != rule_len || memcmp(id, rule, rule_len) != 0)
            continue;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        const char *end = e;
        for (;;) { /* trailing blanks and comment closers are not part of the reason */
            while (end > q && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
            if (end - q >= 2 && memcmp(end - 2, "*/", 2) == 0)
                end -= 2;
            else if (end - q >= 3 && memcmp(end - 3, "-->", 3) == 0)
                end -= 3;
            else
                break;
        }
        if (end == q)
            continue; /* a reason is required */
        size_t n = (size_t)(end - q) < out_size - 1 ? (size_t)(end - q) : out_size - 1;
        for (size_t i = 0; i < n; i++)
            out[i] = (q[i] >= 0x20 && q[i] < 0x7f) ? q[i] : '?';
        out[n] = '\0';
        return true;
    }
    return false;
}

/* Where each line of buf starts: lines[i] is the offset of 1-based line i + 1; lines[n] is len + 1. */
static size_t *index_lines(const char *buf, size_t len, size_t *ret_n)
{
    size_t n = 1;
    for (const char *p = buf, *end = buf + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        n++;
    size_t *lines = malloc((n + 1) * sizeof(*lines));
    if (!lines)
        return NULL;
    size_t k = 0;
    lines[k++] = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n')
            lines[k++] = i + 1;
    lines[n] = len + 1;
    *ret_n = n;
    return lines;
}

/* The allow comment for x on its line or the line above, as "inline: <reason>"; NULL when there is none. */
static char *allowed_by(const mrun_finding *x, const char *text, const size_t *lines, size_t n_lines)
{
    char reason[MAX_REASON + 1];
    for (int above = 0; above < 2; above++) {
        unsigned l = x->line - (unsigned)above; /* x->line >= 1 */
        if (l == 0 || l > n_lines)
            continue;
        const char *s = text + lines[l - 1], *e = text + lines[l] - 1;
        if (allow_on_line(s, e, x->rule->id, reason, sizeof(reason))) {
            size_t n = strlen(reason) + sizeof("inline: ");
            char *by = malloc(n);
            if (by)
                snprintf(by, n, "inline: %s", reason);
            return by; /* out of memory: the finding stays reported, the safe side */
        }
    }
    return NULL;
}

void mrun_findings_apply_inline(mrun_findings *f, const char *path, const uint8_t *buf, size_t len)
{
    const char *text = (const char *)buf;
    mrun_autofree size_t *lines = NULL;
    size_t n_lines = 0;
    for (size_t i = 0; i < f->n; i++) {
        mrun_finding *x = &f->v[i];
        if (x->suppressed || x->line == 0 || strcmp(x->path, path) != 0)
            continue;
        if (!lines && !(lines = index_lines(text, len, &n_lines)))
            return; /* out of memory: nothing suppressed, the safe side */
        if ((x->suppressed_by = allowed_by(x, text, lines, n_lines)))
            x->suppressed = true;
    }
}

/* ---- baseline ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_fingerprint(const char *s)
{
    if (strlen(s) != FINGERPRINT_HEX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Checks the baseline's shape and collects its fingerprints (borrowed from root). */
static int baseline_fingerprints(json_t *root, const char ***ret_fps, size_t *ret_n, mrun_err *err)
{
    json_t *ver = json_object_get(root, "version");
    json_t *list = json_object_get(root, "findings");
    if (!json_is_object(root))
        return mrun_err_setx(err, EINVAL, "baseline: not a JSON object");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1)
        return mrun_err_setx(err, EINVAL, "baseline: \"version\" must be the integer 1");
    if (!json_is_array(list))
        return mrun_err_setx(err, EINVAL, "baseline: \"findings\" must be an array");
    size_t n = json_array_size(list);
    const char **fps = calloc(n ? n : 1, sizeof(*fps));
    if (!fps)
        return mrun_err_set(err, ENOMEM, "baseline");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        json_t *fp = json_object_get(e, "fingerprint"), *rule = json_object_get(e, "rule"),
               *path = json_object_get(e, "path");
        if (!json_is_object(e) || !json_is_string(fp) || !is_fingerprint(json_string_value(fp)) ||
            (rule && !json_is_string(rule)) || (path && !json_is_string(path))) {
            free(fps);
            return mrun_err_setx(err, EINVAL,
                                 "baseline: findings[%zu]: want {\"rule\": string, \"path\": string, "
                                 "\"fingerprint\": 64 lowercase hex digits}",
                                 i);
        }
        fps[i] = json_string_value(fp);
    }
    if (n)
        qsort(fps, n, sizeof(*fps), cmp_str);
    *ret_fps = fps;
    *ret_n = n;
    return 0;
}

int mrun_findings_apply_baseline(mrun_findings *f, const uint8_t *json, size_t len, mrun_err *err)
{
    if (len > MAX_BASELINE)
        return mrun_err_setx(err, E2BIG, "baseline: larger than %u bytes", MAX_BASELINE);
    json_error_t je;
    mrun_cleanup(json_decrefp) json_t *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mrun_err_setx(err, EINVAL, "baseline:%d:%d: %s", je.line, je.column, je.text);
    const char **fps = NULL;
    size_t n = 0;
    if (baseline_fingerprints(root, &fps, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        mrun_finding *x = &f->v[i];
        const char *key = x->fingerprint;
        if (x->suppressed || !n || !bsearch(&key, fps, n, sizeof(*fps), cmp_str))
            continue;
        if (!(x->suppressed_by = strdup("baseline"))) {
            free(fps);
            return mrun_err_set(err, ENOMEM, "baseline");
        }
        x->suppressed = true;
    }
    free(fps);
    return 0;
}

/* jansson string from bytes that may not be UTF-8 (paths are bytes): invalid bytes become '?'. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    mrun_autofree char *c = strdup(s);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return json_string(c);
}

/* Sets key to a new value; false on ENOMEM (value was NULL). */
static bool put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

static bool push(json_t *a, json_t *v)
{
    return v && json_array_append_new(a, v) == 0;
}

static int dump(json_t *root, FILE *out, const char *what, mrun_err *err)
{
    if (json_dumpf(root, out, JSON_INDENT(2)) < 0 || fputc('\n', out) == EOF || fflush(out) == EOF)
        return mrun_err_set(err, errno ? errno : EIO, "write %s", what);
    return 0;
}

static int cmp_baseline(const void *a, const void *b)
{
    const mrun_finding *x = *(const mrun_finding *const *)a, *y = *(const mrun_finding *const *)b;
    int c = strcmp(x->path, y->path);
    if (!c)
        c = strcmp(x->rule->id, y->rule->id);
    return c ? c : strcmp(x->fingerprint, y->fingerprint);
}

/* Every finding not suppressed inline (those are settled in the source), once per fingerprint, ordered by path
 * and rule so that a regenerated baseline diffs cleanly. */
int mrun_findings_write_baseline(const mrun_findings *f, FILE *out, mrun_err *err)
{
    mrun_autofree const mrun_finding **v = malloc((f->n ? f->n : 1) * sizeof(*v));
    mrun_cleanup(json_decrefp) json_t *root = json_object();
    json_t *list = json_array();
    if (!v || !put(root, "version", json_integer(1)) || !put(root, "tool", json_string("mrun")) ||
        !put(root, "findings", list))
        return mrun_err_set(err, ENOMEM, "baseline");
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (!f->v[i].suppressed_by || strncmp(f->v[i].suppressed_by, "inline:", 7) != 0)
            v[n++] = &f->v[i];
    if (n)
        qsort(v, n, sizeof(*v), cmp_baseline);
    for (size_t i = 0; i < n; i++) {
        const mrun_finding *x = v[i];
        if (i && strcmp(v[i - 1]->fingerprint, x->fingerprint) == 0)
            continue;
        json_t *e = json_object();
        if (!push(list, e) || !put(e, "rule", json_string(x->rule->id)) || !put(e, "path", jstr(x->path)) ||
            !put(e, "fingerprint", json_string(x->fingerprint)))
            return mrun_err_set(err, ENOMEM, "baseline");
    }
    return dump(root, out, "baseline", err);
}

/* ---- severity ---- */

static const char *const sev_names[] = {"low", "medium", "high", "critical"};

const char *mrun_severity_name(mrun_severity s)
{
    return (unsigned)s < sizeof(sev_names) / sizeof(sev_names[0]) ? sev_names[s] : "unknown";
}

int mrun_severity_parse(const char *s, mrun_severity *ret)
{
    for (size_t i = 0; i < sizeof(sev_names) / sizeof(sev_names[0]); i++)
        if (strcmp(s, sev_names[i]) == 0) {
            *ret = (mrun_severity)i;
            return 0;
        }
    return -1;
}

int mrun_findings_max_severity(const mrun_findings *f)
{
    int max = -1;
    for (size_t i = 0; i < f->n; i++)
        if (!f->v[i].suppressed && (int)f->v[i].rule->severity > max)
            max = (int)f->v[i].rule->severity;
    return max;
}

/* ---- reports ---- */

static int cmp_findings(const void *a, const void *b)
{
    const mrun_finding *x = *(const mrun_finding *const *)a, *y = *(const mrun_finding *const *)b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    c = strcmp(x->rule->id, y->rule->id);
    return c ? c : strcmp(x->fingerprint, y->fingerprint);
}

/* The findings in report order (path, line, col, rule), borrowed; NULL on ENOMEM. */
static const mrun_finding **sorted(const mrun_findings *f)
{
    const mrun_finding **v = malloc((f->n ? f->n : 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < f->n; i++)
        v[i] = &f->v[i];
    if (f->n)
        qsort(v, f->n, sizeof(*v), cmp_findings);
    return v;
}

/* Writes s with control bytes as '?': paths and reasons come from the workspace and must not drive the terminal
 * or forge report lines. */
static void put_safe(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

static const char *sev_color(mrun_severity s)
{
    return s >= MRUN_SEV_HIGH ? "\033[1;31m" : s == MRUN_SEV_MEDIUM ? "\033[33m" : "\033[36m";
}

static void text_one(const mrun_finding *x, bool color, FILE *out)
{
    if (color && x->suppressed)
        fputs("\033[2m", out);
    put_safe(out, x->path);
    if (x->line)
        fprintf(out, ":%u:%u", x->line, x->col);
    fputs(": ", out);
    if (color && !x->suppressed)
        fprintf(out, "%s%s\033[0m", sev_color(x->rule->severity), mrun_severity_name(x->rule->severity));
    else
        fputs(mrun_severity_name(x->rule->severity), out);
    fprintf(out, " %s: %s \xe2\x80\x94 %s", x->rule->id, x->rule->title ? x->rule->title : "",
            x->rule->fix ? x->rule->fix : "");
    if (x->suppressed) {
        fputs(" (suppressed: ", out);
        put_safe(out, x->suppressed_by ? x->suppressed_by : "");
        fputc(')', out);
    }
    if (color && x->suppressed)
        fputs("\033[0m", out);
    fputc('\n', out);
    if (x->redacted) {
        fputs("  value: ", out);
        put_safe(out, x->redacted);
        fputc('\n', out);
    }
}

static int report_text(const mrun_findings *f, const mrun_scan_stats *stats, bool color, FILE *out, mrun_err *err)
{
    mrun_autofree const mrun_finding **v = sorted(f);
    if (!v)
        return mrun_err_set(err, ENOMEM, "report");
    size_t suppressed = 0;
    for (int pass = 0; pass < 2; pass++) /* the ones to act on first, then the suppressed ones */
        for (size_t i = 0; i < f->n; i++)
            if (v[i]->suppressed == (pass == 1)) {
                text_one(v[i], color, out);
                suppressed += pass;
            }
    fprintf(out, "%zu finding%s (%zu suppressed)", f->n, f->n == 1 ? "" : "s", suppressed);
    if (stats)
        fprintf(out, ", %zu file%s scanned, %zu skipped", stats->files_scanned, stats->files_scanned == 1 ? "" : "s",
                stats->files_skipped);
    fputc('\n', out);
    if (ferror(out) || fflush(out) == EOF)
        return mrun_err_set(err, errno ? errno : EIO, "write report");
    return 0;
}

static json_t *json_stats(const mrun_findings *f, const mrun_scan_stats *stats)
{
    size_t suppressed = 0;
    for (size_t i = 0; i < f->n; i++)
        suppressed += f->v[i].suppressed;
    json_t *o = json_object();
    if (!put(o, "findings", json_integer((json_int_t)f->n)) ||
        !put(o, "suppressed", json_integer((json_int_t)suppressed)) ||
        (stats && (!put(o, "files_scanned", json_integer((json_int_t)stats->files_scanned)) ||
                   !put(o, "files_skipped", json_integer((json_int_t)stats->files_skipped)) ||
                   !put(o, "bytes_scanned", json_integer((json_int_t)stats->bytes_scanned))))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int report_json(const mrun_findings *f, const char *tool, const mrun_scan_stats *stats, FILE *out, mrun_err *err)
{
    mrun_autofree const mrun_finding **v = sorted(f);
    mrun_cleanup(json_decrefp) json_t *root = json_object();
    json_t *list = json_array();
    if (!v || !put(root, "tool", jstr(tool)) || !put(root, "findings", list))
        return mrun_err_set(err, ENOMEM, "report");
    for (size_t i = 0; i < f->n; i++) {
        const mrun_finding *x = v[i];
        json_t *e = json_object();
        if (!push(list, e) || !put(e, "rule", json_string(x->rule->id)) ||
            !put(e, "severity", json_string(mrun_severity_name(x->rule->severity))) ||
            !put(e, "title", jstr(x->rule->title)) || !put(e, "path", jstr(x->path)) ||
            !put(e, "line", json_integer(x->line)) || !put(e, "col", json_integer(x->col)) ||
            !put(e, "redacted", jstr(x->redacted)) || !put(e, "fingerprint", json_string(x->fingerprint)) ||
            !put(e, "suppressed", json_boolean(x->suppressed)) || !put(e, "suppressed_by", jstr(x->suppressed_by)))
            return mrun_err_set(err, ENOMEM, "report");
    }
    if (!put(root, "stats", json_stats(f, stats)))
        return mrun_err_set(err, ENOMEM, "report");
    return dump(root, out, "report", err);
}

/* SARIF levels and GitHub code scanning's security-severity scores, by severity. */
static const char *sarif_level(mrun_severity s)
{
    return s >= MRUN_SEV_HIGH ? "error" : s == MRUN_SEV_MEDIUM ? "warning" : "note";
}

static const char *sarif_score(mrun_severity s)
{
    static const char *const scores[] = {"2.0", "4.0", "7.0", "9.0"};
    return (unsigned)s < 4 ? scores[s] : "2.0";
}

static json_t *text_obj(const char *s)
{
    json_t *o = json_object();
    if (!put(o, "text", jstr(s ? s : ""))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *sarif_rule(const mrun_rule *r)
{
    json_t *o = json_object(), *cfg = json_object(), *props = json_object();
    if (!put(o, "id", json_string(r->id)) || !put(o, "name", json_string(r->id)) ||
        !put(o, "shortDescription", text_obj(r->title)) || !put(o, "fullDescription", text_obj(r->help)) ||
        !put(o, "help", text_obj(r->fix)) || !put(o, "defaultConfiguration", cfg) ||
        !put(cfg, "level", json_string(sarif_level(r->severity))) || !put(o, "properties", props) ||
        !put(props, "security-severity", json_string(sarif_score(r->severity)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The rules SARIF lists: the check's, then any rule a finding names that the check did not list. Borrowed. */
static const mrun_rule **rule_table(const mrun_findings *f, const mrun_rule *rules, size_t n_rules, size_t *ret_n)
{
    const mrun_rule **t = malloc((n_rules + f->n + 1) * sizeof(*t));
    if (!t)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_rules + f->n; i++) {
        const mrun_rule *r = i < n_rules ? &rules[i] : f->v[i - n_rules].rule;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(t[k]->id, r->id) == 0;
        if (!seen)
            t[n++] = r;
    }
    *ret_n = n;
    return t;
}

static size_t rule_index(const mrun_rule **t, size_t n, const mrun_rule *r)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] == r || strcmp(t[i]->id, r->id) == 0)
            return i;
    assert(!"rule_table lists every finding's rule");
    return 0;
}

static json_t *sarif_location(const mrun_finding *x)
{
    json_t *locs = json_array(), *loc = json_object(), *phys = json_object(), *art = json_object();
    bool ok = push(locs, loc) && put(loc, "physicalLocation", phys) && put(phys, "artifactLocation", art) &&
              put(art, "uri", jstr(x->path));
    if (ok && x->line) {
        json_t *region = json_object();
        ok = put(phys, "region", region) && put(region, "startLine", json_integer(x->line)) &&
             (!x->col || put(region, "startColumn", json_integer(x->col)));
    }
    if (!ok) { /* a failed *_new call has released its value already */
        json_decref(locs);
        return NULL;
    }
    return locs;
}

static json_t *sarif_suppressions(const mrun_finding *x)
{
    const char *by = x->suppressed_by ? x->suppressed_by : "";
    bool in_source = strncmp(by, "inline: ", 8) == 0;
    json_t *a = json_array(), *s = json_object();
    if (!push(a, s) || !put(s, "kind", json_string(in_source ? "inSource" : "external")) ||
        !put(s, "justification", jstr(in_source ? by + 8 : by))) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *sarif_result(const mrun_finding *x, size_t idx)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s%s%s%s", x->rule->title ? x->rule->title : x->rule->id, x->redacted ? " (" : "",
             x->redacted ? x->redacted : "", x->redacted ? ")" : "");
    json_t *r = json_object(), *fp = json_object();
    bool ok = put(r, "ruleId", json_string(x->rule->id)) && put(r, "ruleIndex", json_integer((json_int_t)idx)) &&
              put(r, "level", json_string(sarif_level(x->rule->severity))) && put(r, "message", text_obj(msg)) &&
              put(r, "locations", sarif_location(x)) && put(r, "partialFingerprints", fp) &&
              put(fp, "mrunFingerprint/v1", json_string(x->fingerprint)) &&
              (!x->suppressed || put(r, "suppressions", sarif_suppressions(x)));
    if (!ok) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static int report_sarif(const mrun_findings *f, const char *tool, const mrun_rule *rules, size_t n_rules, FILE *out,
                        mrun_err *err)
{
    size_t n_table = 0;
    mrun_autofree const mrun_finding **v = sorted(f);
    mrun_autofree const mrun_rule **table = rule_table(f, rules, n_rules, &n_table);
    mrun_cleanup(json_decrefp) json_t *root = json_object();
    json_t *runs = json_array(), *run = json_object(), *t = json_object(), *driver = json_object(),
           *jrules = json_array(), *results = json_array();
    bool ok = v && table && put(root, "version", json_string("2.1.0")) &&
              put(root, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json")) &&
              put(root, "runs", runs) && push(runs, run) && put(run, "tool", t) && put(t, "driver", driver) &&
              put(driver, "name", jstr(tool)) &&
              put(driver, "informationUri", json_string("https://github.com/mrun")) && put(driver, "rules", jrules) &&
              put(run, "results", results);
    for (size_t i = 0; ok && i < n_table; i++)
        ok = push(jrules, sarif_rule(table[i]));
    for (size_t i = 0; ok && i < f->n; i++)
        ok = push(results, sarif_result(v[i], rule_index(table, n_table, v[i]->rule)));
    if (!ok)
        return mrun_err_set(err, ENOMEM, "report");
    return dump(root, out, "report", err);
}

int mrun_findings_report(const mrun_findings *f, mrun_report_format fmt, const char *tool, const mrun_rule *rules,
                         size_t n_rules, const mrun_scan_stats *stats, bool color, FILE *out, mrun_err *err)
{
    switch (fmt) {
    case MRUN_FORMAT_TEXT:
        return report_text(f, stats, color, out, err);
    case MRUN_FORMAT_JSON:
        return report_json(f, tool ? tool : "mrun", stats, out, err);
    case MRUN_FORMAT_SARIF:
        return report_sarif(f, tool ? tool : "mrun", rules, n_rules, out, err);
    }
    return mrun_err_setx(err, EINVAL, "report: unknown format %d", (int)fmt);
}
