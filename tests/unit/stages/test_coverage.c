/* test_coverage.c - the coverage parsers on real reports (coverage.py 6.5 Cobertura, Node 20 lcov, under
 * tests/data/coverage/), merging, summaries, hostile reports, the gate's verdict and text, and the coverage-gate
 * stage over a real workspace (symlinked and escaping report paths refused, SARIF written). Runs from the source
 * root (ctest WORKING_DIRECTORY). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "stages/coverage.h"
#include "stages/stages.h"

#define DATA "tests/data/coverage/"

static uint8_t *slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    *ret_len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static mrun_cov_report *parse_file(const char *path, mrun_cov_format fmt, mrun_err *err)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    mrun_cov_report *r = NULL;
    int rc = mrun_cov_parse(path, buf, len, fmt, &r, err);
    free(buf);
    assert_true(rc == 0 || r == NULL);
    return r;
}

static mrun_cov_report *parse_str(const char *s, mrun_err *err)
{
    mrun_cov_report *r = NULL;
    if (mrun_cov_parse("mem", (const uint8_t *)s, strlen(s), MRUN_COV_AUTO, &r, err) < 0)
        return NULL;
    return r;
}

static const mrun_cov_file *file_named(const mrun_cov_report *r, const char *path)
{
    for (size_t i = 0; i < mrun_cov_report_count(r); i++)
        if (strcmp(mrun_cov_report_at(r, i)->path, path) == 0)
            return mrun_cov_report_at(r, i);
    fail_msg("no file '%s' in the report", path);
    return NULL;
}

static void assert_totals(const mrun_cov_report *r, uint64_t valid, uint64_t covered)
{
    uint64_t v, c;
    mrun_cov_report_totals(r, &v, &c);
    assert_int_equal(v, valid);
    assert_int_equal(c, covered);
}

/* coverage.py 6.5 on a two-module app: its own report says 21 of 29 lines, 72% (app/store.py 65%, calc 83%). */
static void test_coverage_py(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    const char *files[] = {DATA "python-cobertura.xml", DATA "python-cobertura-branch.xml"};
    for (size_t i = 0; i < 2; i++) {
        mrun_cov_report *r = parse_file(files[i], MRUN_COV_AUTO, &err);
        assert_non_null(r);
        assert_int_equal(mrun_cov_report_format(r), MRUN_COV_COBERTURA);
        assert_totals(r, 29, 21);
        assert_int_equal(mrun_cov_report_count(r), 3);
        assert_int_equal(file_named(r, "app/store.py")->lines_valid, 17);
        assert_int_equal(file_named(r, "app/store.py")->lines_covered, 11);
        assert_int_equal(file_named(r, "app/calc.py")->lines_covered, 10);
        assert_int_equal(file_named(r, "app/__init__.py")->lines_valid, 0);
        assert_null(mrun_cov_report_note(r)); /* line-rate 0.7241 agrees */
        const mrun_cov_file *low[5];
        assert_int_equal(mrun_cov_report_lowest(r, low, 5), 2); /* __init__.py has no lines: not listed */
        assert_string_equal(low[0]->path, "app/store.py");
        assert_string_equal(low[1]->path, "app/calc.py");
        mrun_cov_report_free(r);
    }
}

/* node --test --experimental-test-coverage --test-reporter=lcov: 44 of 60 lines, 73.33% by Node's own table. */
static void test_node_lcov(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_report *r = parse_file(DATA "node-lcov.info", MRUN_COV_AUTO, &err);
    assert_non_null(r);
    assert_int_equal(mrun_cov_report_format(r), MRUN_COV_LCOV);
    assert_totals(r, 60, 44);
    assert_true(mrun_cov_report_percent(r) > 73.33 && mrun_cov_report_percent(r) < 73.34);
    assert_int_equal(file_named(r, "src/money.js")->lines_covered, 8);
    assert_int_equal(file_named(r, "src/slug.js")->lines_valid, 30);
    assert_null(mrun_cov_report_note(r));
    mrun_cov_report_free(r);
    /* forcing the wrong format is an error, not a zero */
    assert_null(parse_file(DATA "node-lcov.info", MRUN_COV_COBERTURA, &err));
    assert_int_equal(err.sys_errno, EPROTO);
}

/* The same file in two packages is merged by line number; the root's figures lose to the lines, with a note. */
static void test_merge_cobertura(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_report *r = parse_file(DATA "merged.xml", MRUN_COV_AUTO, &err);
    assert_non_null(r);
    assert_int_equal(mrun_cov_report_count(r), 2);
    assert_int_equal(file_named(r, "a.py")->lines_valid, 4);         /* 1 2 3 4; method's line 1 not counted twice */
    assert_int_equal(file_named(r, "a.py")->lines_covered, 2);       /* 2, and 3 hit in the second package */
    assert_int_equal(file_named(r, "dir/b&c.py")->lines_covered, 1); /* &amp; decoded */
    assert_totals(r, 6, 3);
    assert_non_null(mrun_cov_report_note(r));
    assert_non_null(strstr(mrun_cov_report_note(r), "4 of 7"));
    mrun_cov_report_free(r);
}

static void test_merge_lcov(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_report *r = parse_file(DATA "merged.info", MRUN_COV_AUTO, &err);
    assert_non_null(r);
    assert_int_equal(file_named(r, "src/a.js")->lines_valid, 4);
    assert_int_equal(file_named(r, "src/a.js")->lines_covered, 2); /* line 1 hit in the second record */
    assert_int_equal(file_named(r, "src/b.js")->lines_valid, 10);  /* no DA: its LF/LH */
    assert_int_equal(file_named(r, "src/b.js")->lines_covered, 9);
    assert_totals(r, 14, 11);
    assert_non_null(mrun_cov_report_note(r)); /* LF/LH of a.js disagree with its DA lines */
    mrun_cov_report_free(r);
}

static void test_summary_only(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_report *r = parse_file(DATA "summary-only.xml", MRUN_COV_AUTO, &err);
    assert_non_null(r);
    assert_totals(r, 16, 13);
    assert_true(mrun_cov_report_percent(r) > 81.24 && mrun_cov_report_percent(r) < 81.26);
    mrun_cov_report_free(r);
    r = parse_str("<coverage line-rate=\"0.5\"></coverage>", &err);
    assert_non_null(r);
    assert_true(mrun_cov_report_percent(r) == 50.0);
    mrun_cov_report_free(r);
    r = parse_str("<coverage></coverage>", &err);
    assert_non_null(r);
    assert_true(mrun_cov_report_percent(r) < 0);
    mrun_cov_report_free(r);
}

/* Each hostile report is refused with EPROTO or E2BIG, a file:line:col and the cause. */
static void test_hostile_files(void **state)
{
    (void)state;
    static const struct {
        const char *file, *cause, *where;
    } cases[] = {
        {"billion-laughs.xml", "internal subset", ":2:1:"},   {"xxe.xml", "internal subset", ":2:1:"},
        {"undeclared-entity.xml", "entity reference", ":4:"}, {"truncated.xml", "truncated", ""},
        {"negative-hits.xml", "hits=\"-1\"", ":2:"},          {"overflow-hits.xml", "not a whole number", ":2:"},
        {"nonnumeric-hits.xml", "hits=\"many\"", ":2:"},      {"negative-line.xml", "number=\"-3\"", ":2:"},
        {"negative-da.info", "hit count", ":4:1:"},           {"overflow-da.info", "hit count", ":2:1:"},
        {"truncated.info", "no end_of_record", ""},           {"da-before-sf.info", "outside a record", ":2:1:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), DATA "hostile/%s", cases[i].file);
        mrun_err err = MRUN_ERR_INIT;
        mrun_cov_report *r = parse_file(path, MRUN_COV_AUTO, &err);
        if (r || err.sys_errno != EPROTO || !strstr(err.msg, cases[i].cause) || !strstr(err.msg, cases[i].where))
            fail_msg("%s: got '%s' (errno %d)", cases[i].file, err.msg, err.sys_errno);
        assert_non_null(strstr(err.msg, path)); /* the message names the file */
    }
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void test_hostile_bounds(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    /* deep nesting: 300 open elements */
    char *deep = repeat("<coverage>", "<a>", 300, "");
    assert_null(parse_str(deep, &err));
    assert_int_equal(err.sys_errno, E2BIG);
    assert_non_null(strstr(err.msg, "deeper than 256"));
    free(deep);
    /* a 100 KiB attribute */
    char *huge = repeat("<coverage><packages><package name=\"", "x", 100 << 10, "\"/></packages></coverage>");
    assert_null(parse_str(huge, &err));
    assert_int_equal(err.sys_errno, E2BIG);
    assert_non_null(strstr(err.msg, "64 KiB"));
    free(huge);
    /* a 10 KiB file name (under the attribute bound, over the path bound) */
    char *longname = repeat("<coverage><packages><package name=\"p\"><classes><class name=\"c\" filename=\"", "d/",
                            5 << 10, "\"/></classes></package></packages></coverage>");
    assert_null(parse_str(longname, &err));
    assert_int_equal(err.sys_errno, E2BIG);
    free(longname);
    /* too many attributes */
    char many[2048] = "<coverage";
    for (int i = 0; i < 70; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), " a%d=\"1\"", i);
    snprintf(many + strlen(many), sizeof(many) - strlen(many), "/>");
    assert_null(parse_str(many, &err));
    assert_int_equal(err.sys_errno, E2BIG);
    /* over the report bound, refused before reading a byte (the buffer is never touched) */
    mrun_cov_report *r = NULL;
    assert_int_equal(mrun_cov_parse("big", (const uint8_t *)"", MRUN_COV_MAX_REPORT + 1, MRUN_COV_AUTO, &r, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "hello",
        "<report/>",
        "<coverage><a></b></coverage>",
        "<coverage a=1/>",
        "<coverage a=\"1\" a=\"2\"/>",
        "<coverage/><coverage/>",
        "<coverage/>trailing",
        "<coverage line-rate=\"1.5\"/>",
        "<coverage line-rate=\"nan\"/>",
        "<coverage lines-valid=\"3\" lines-covered=\"4\"/>",
        "<coverage><packages><package><classes><class name=\"x\"><lines/></class></classes></package></packages>"
        "</coverage>",
        "<coverage><classes><class filename=\"a.py\"><lines><line number=\"0\" hits=\"1\"/></lines></class>"
        "</classes></coverage>",
        "<coverage><classes><class filename=\"a.py\"><lines><line number=\"1\"/></lines></class></classes></coverage>",
        "<coverage a=\"&#0;\"/>",
        "<coverage a=\"&#xD800;\"/>",
        "<coverage a=\"<\"/>",
        "<!DOCTYPE coverage",
        "<coverage><!-- never closed </coverage>",
        "<!ELEMENT coverage ANY><coverage/>",
        "SF:a.js\nDA:x,1\nend_of_record\n",
        "SF:a.js\nDA:0,1\nend_of_record\n",
        "SF:a.js\nDA:1\nend_of_record\n",
        "SF:a.js\nSF:b.js\nend_of_record\n",
        "SF:a.js\nLF:1\nLH:2\nend_of_record\n",
        "SF:a.js\nlower:1\nend_of_record\n",
        "SF:\nend_of_record\n",
        "TN:\nend_of_record\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mrun_err err = MRUN_ERR_INIT;
        mrun_cov_report *r = parse_str(bad[i], &err);
        if (r) {
            mrun_cov_report_free(r);
            fail_msg("accepted: %s", bad[i]);
        }
        assert_true(err.sys_errno == EPROTO || err.sys_errno == E2BIG);
        assert_true(strncmp(err.msg, "mem", 3) == 0);
    }
}

static void test_accepted_forms(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    /* BOM, PI, comment, SYSTEM DOCTYPE (never fetched), single quotes, char refs, CRLF lcov, unknown lcov keys */
    const char *xml = "\xef\xbb\xbf<?xml version='1.0'?>\n<!-- c -->\n<!DOCTYPE coverage SYSTEM \"http://x/y>.dtd\">\n"
                      "<coverage><packages><package name='p'><classes><class name='c' filename='s&#47;&#x41;.py'>"
                      "<lines><line number='7' hits='0'/><line number='8' hits='1'></line></lines></class></classes>"
                      "</package></packages></coverage>\n";
    mrun_cov_report *r = parse_str(xml, &err);
    assert_non_null(r);
    assert_string_equal(mrun_cov_report_at(r, 0)->path, "s/A.py");
    assert_totals(r, 2, 1);
    mrun_cov_report_free(r);
    r = parse_str("TN:\r\nVER:2.0\r\nSF:a\x01.js\r\nFNL:0,1,2\r\nDA:1,0,abc\r\nDA:2,7\r\nend_of_record\r\n", &err);
    assert_non_null(r);
    assert_string_equal(mrun_cov_report_at(r, 0)->path, "a?.js"); /* control characters never reach a log */
    assert_totals(r, 2, 1);
    mrun_cov_report_free(r);
}

static void test_percent_and_format(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    double d;
    assert_int_equal(mrun_cov_parse_percent("80", &d, &err), 0);
    assert_true(d == 80);
    assert_int_equal(mrun_cov_parse_percent("72.5%", &d, &err), 0);
    assert_true(d == 72.5);
    assert_int_equal(mrun_cov_parse_percent("0", &d, &err), 0);
    assert_int_equal(mrun_cov_parse_percent("100 %", &d, &err), 0);
    static const char *const bad[] = {"",    "-1",  "101", "eighty", "80%%", "nan",
                                      "inf", " 80", "80x", "0x50",   "8e1",  "1..2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mrun_cov_parse_percent(bad[i], &d, &err) == 0)
            fail_msg("accepted '%s'", bad[i]);
    mrun_cov_format f;
    assert_int_equal(mrun_cov_format_parse("lcov", &f), 0);
    assert_int_equal(f, MRUN_COV_LCOV);
    assert_int_equal(mrun_cov_format_parse("xml", &f), 0);
    assert_int_equal(f, MRUN_COV_COBERTURA);
    assert_int_equal(mrun_cov_format_parse("jacoco", &f), -1);
}

static char *text_of(const mrun_cov_report *r, const mrun_cov_gate *g, mrun_cov_verdict *v)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_gate_eval(r, g, v);
    assert_int_equal(mrun_cov_write_text(r, g, v, mem, &err), 0);
    fclose(mem);
    return text;
}

static void test_gate(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_report *r = parse_file(DATA "python-cobertura.xml", MRUN_COV_AUTO, &err); /* 72.41% */
    mrun_cov_verdict v;
    char *t = text_of(r, &(mrun_cov_gate){80, -1, 0}, &v);
    assert_false(v.passed);
    assert_true(v.below_min);
    assert_non_null(strstr(t, "coverage: 72.4% of lines (21 of 29) in 3 files"));
    assert_non_null(strstr(t, "FAILED: add tests for app/store.py (64.7%); coverage 72.4% is below min 80%"));
    assert_true(strstr(t, "app/store.py (11 of 17") < strstr(t, "app/calc.py (10 of 12")); /* lowest first */
    free(t);
    t = text_of(r, &(mrun_cov_gate){70, 72.4, 0}, &v);
    assert_true(v.passed);
    assert_non_null(strstr(t, "passed: 72.4% meets min 70% and no drop from the default branch's 72.4%"));
    free(t);
    t = text_of(r, &(mrun_cov_gate){-1, 75, 0}, &v);
    assert_true(v.dropped && !v.passed);
    assert_non_null(strstr(t, "dropped below the default branch's 75.0%"));
    free(t);
    t = text_of(r, &(mrun_cov_gate){-1, 75, 3}, &v); /* 72.41 >= 75 - 3 */
    assert_true(v.passed);
    free(t);
    t = text_of(r, &(mrun_cov_gate){72.42, -1, 0}, &v); /* shown rounded down: never "72.5% is below 72.42" */
    assert_false(v.passed);
    assert_non_null(strstr(t, "coverage 72.4% is below min 72.42%"));
    free(t);
    mrun_cov_report_free(r);
    /* no lines at all: fails a gate, passes without one */
    r = parse_str("<coverage/>", &err);
    t = text_of(r, &(mrun_cov_gate){50, -1, 0}, &v);
    assert_false(v.passed);
    assert_non_null(strstr(t, "no line data"));
    free(t);
    t = text_of(r, &(mrun_cov_gate){-1, -1, 0}, &v);
    assert_true(v.passed);
    free(t);
    mrun_cov_report_free(r);
}

static void test_json(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_report *r = parse_file(DATA "node-lcov.info", MRUN_COV_AUTO, &err);
    mrun_cov_gate g = {80, -1, 0};
    mrun_cov_verdict v;
    mrun_cov_gate_eval(r, &g, &v);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_int_equal(mrun_cov_write_json(r, &g, &v, mem, &err), 0);
    fclose(mem);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "format")), "lcov");
    assert_true(json_real_value(json_object_get(o, "percent")) == 73.33);
    assert_true(json_is_false(json_object_get(o, "passed")));
    assert_int_equal(json_array_size(json_object_get(o, "files")), 3);
    assert_true(json_is_null(json_object_get(o, "baseline")));
    json_decref(o);
    free(text);
    mrun_cov_report_free(r);
}

/* ---- the stage over a real workspace ---- */

typedef struct ws {
    char dir[64];
    int fd;
    char log[8192];
    size_t log_len;
} ws;

static void logfn(void *ctx, int stream, const char *data, size_t len)
{
    ws *w = ctx;
    (void)stream;
    size_t n = len < sizeof(w->log) - 1 - w->log_len ? len : sizeof(w->log) - 1 - w->log_len;
    memcpy(w->log + w->log_len, data, n);
    w->log_len += n;
    w->log[w->log_len] = '\0';
}

static int ws_setup(void **state)
{
    ws *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    snprintf(w->dir, sizeof(w->dir), "/tmp/mrun-cov-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    w->fd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(w->fd >= 0);
    *state = w;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int ws_teardown(void **state)
{
    ws *w = *state;
    close(w->fd);
    nftw(w->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(w);
    return 0;
}

static void copy_in(ws *w, const char *src, const char *rel)
{
    size_t len;
    uint8_t *buf = slurp(src, &len);
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", w->dir, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
}

static int run_gate(ws *w, const mrun_stage_opt *with, size_t n, double baseline, double *ret_cov, mrun_err *err)
{
    const mrun_stage_def *def = mrun_stages_find("coverage-gate");
    assert_non_null(def);
    assert_int_equal(mrun_stages_check_options(def, with, n, err), 0);
    w->log_len = 0;
    w->log[0] = '\0';
    mrun_stage_ctx ctx = {.workspace_fd = w->fd,
                          .with = with,
                          .n_with = n,
                          .log = logfn,
                          .log_ctx = w,
                          .coverage_baseline = baseline,
                          .ret_coverage = ret_cov};
    return def->run(&ctx, err);
}

static void test_stage(void **state)
{
    ws *w = *state;
    mrun_err err = MRUN_ERR_INIT;
    copy_in(w, DATA "python-cobertura.xml", "coverage.xml");
    double cov = -2;
    mrun_stage_opt with[] = {{"report", "coverage.xml"}, {"min", "80%"}, {"sarif", "out.sarif"}};
    assert_int_equal(run_gate(w, with, 3, -1, &cov, &err), 1);
    assert_true(cov > 72.41 && cov < 72.42);
    assert_non_null(strstr(w->log, "coverage 72.4% is below min 80%"));
    /* the SARIF names the rule, the report and the lowest file */
    char path[256];
    snprintf(path, sizeof(path), "%s/out.sarif", w->dir);
    json_t *s = json_load_file(path, 0, NULL);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "version")), "2.1.0");
    json_t *res = json_object_get(json_array_get(json_object_get(s, "runs"), 0), "results");
    int seen_min = 0, seen_file = 0;
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *x = json_array_get(res, i);
        const char *id = json_string_value(json_object_get(x, "ruleId"));
        const char *uri = json_string_value(json_object_get(
            json_object_get(json_object_get(json_array_get(json_object_get(x, "locations"), 0), "physicalLocation"),
                            "artifactLocation"),
            "uri"));
        if (strcmp(id, "coverage-below-min") == 0 && strcmp(uri, "coverage.xml") == 0)
            seen_min++;
        if (strcmp(id, "coverage-file-low") == 0 && strcmp(uri, "app/store.py") == 0)
            seen_file++;
    }
    assert_int_equal(seen_min, 1);
    assert_int_equal(seen_file, 1);
    json_decref(s);

    /* no-drop against the stored baseline, with and without tolerance */
    mrun_stage_opt nd[] = {{"report", "coverage.xml"}, {"no-drop", "true"}, {"tolerance", "1"}};
    assert_int_equal(run_gate(w, nd, 3, 73.0, NULL, &err), 0);
    assert_int_equal(run_gate(w, nd, 3, 74.0, NULL, &err), 1);
    assert_non_null(strstr(w->log, "dropped below the default branch's 74.0%"));
    assert_int_equal(run_gate(w, nd, 2, -1, NULL, &err), 0); /* no baseline yet: passes and says so */
    assert_non_null(strstr(w->log, "no baseline for the default branch yet"));
    /* the same coverage measured again does not "drop" below its own baseline rounded to 4 places (the wire's),
     * a hundredth of a point does */
    cov = -1;
    assert_int_equal(run_gate(w, nd, 2, -1, &cov, &err), 0);
    char rounded[32];
    snprintf(rounded, sizeof(rounded), "%.4f", cov + 0.00004);
    assert_int_equal(run_gate(w, nd, 2, strtod(rounded, NULL), NULL, &err), 0);
    assert_int_equal(run_gate(w, nd, 2, cov + 0.01, NULL, &err), 1);
    mrun_stage_opt off[] = {{"report", "coverage.xml"}, {"no-drop", "false"}};
    assert_int_equal(run_gate(w, off, 2, 99.0, NULL, &err), 0);
}

static void test_stage_refuses(void **state)
{
    ws *w = *state;
    mrun_err err = MRUN_ERR_INIT;
    char outside[128], link[256];
    snprintf(outside, sizeof(outside), "%s-outside.xml", w->dir);
    FILE *f = fopen(outside, "w");
    assert_non_null(f);
    fputs("<coverage line-rate=\"1\"/>", f);
    fclose(f);
    snprintf(link, sizeof(link), "%s/cov.xml", w->dir);
    assert_int_equal(symlink(outside, link), 0);
    snprintf(link, sizeof(link), "%s/sub", w->dir);
    assert_int_equal(symlink("/tmp", link), 0);
    static const char *const paths[] = {"cov.xml", "../x.xml", "/etc/passwd", "sub/whatever.xml", "missing.xml"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        mrun_stage_opt with[] = {{"report", paths[i]}, {"min", "10"}};
        double cov = -2;
        err = (mrun_err)MRUN_ERR_INIT;
        assert_int_equal(run_gate(w, with, 2, -1, &cov, &err), -1);
        assert_true(cov == -2); /* nothing measured, nothing stored */
        assert_non_null(strstr(err.msg, "coverage-gate"));
    }
    unlink(outside);
    /* bad options are errors before anything is read */
    copy_in(w, DATA "node-lcov.info", "lcov.info");
    mrun_stage_opt bad1[] = {{"report", "lcov.info"}, {"min", "eighty"}};
    assert_int_equal(run_gate(w, bad1, 2, -1, NULL, &err), -1);
    mrun_stage_opt bad2[] = {{"report", "lcov.info"}, {"no-drop", "yes"}};
    assert_int_equal(run_gate(w, bad2, 2, -1, NULL, &err), -1);
    mrun_stage_opt bad3[] = {{"report", "lcov.info"}, {"format", "cobertura"}};
    assert_int_equal(run_gate(w, bad3, 2, -1, NULL, &err), -1);
    assert_int_equal(err.sys_errno, EPROTO);
    /* unknown and missing options, through the registry */
    const mrun_stage_def *def = mrun_stages_find("coverage-gate");
    mrun_stage_opt typo[] = {{"report", "lcov.info"}, {"mni", "80"}};
    assert_int_equal(mrun_stages_check_options(def, typo, 2, &err), -1);
    assert_non_null(strstr(err.msg, "did you mean 'min'"));
    mrun_stage_opt no_report[] = {{"min", "80"}};
    assert_int_equal(mrun_stages_check_options(def, no_report, 1, &err), -1);
    assert_non_null(strstr(err.msg, "missing required option 'report'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coverage_py),
        cmocka_unit_test(test_node_lcov),
        cmocka_unit_test(test_merge_cobertura),
        cmocka_unit_test(test_merge_lcov),
        cmocka_unit_test(test_summary_only),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_hostile_bounds),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_percent_and_format),
        cmocka_unit_test(test_gate),
        cmocka_unit_test(test_json),
        cmocka_unit_test_setup_teardown(test_stage, ws_setup, ws_teardown),
        cmocka_unit_test_setup_teardown(test_stage_refuses, ws_setup, ws_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
