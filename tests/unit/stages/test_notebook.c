/* test_notebook.c - notebooks for the line-based checks: real nbformat 4 files (written by python3-nbformat 5.5,
 * under tests/data/notebook/) laid out on their own lines, the llm-lint rules finding code-cell problems at the
 * notebook's line and column and nothing in markdown, outputs, magics or other kernels, and malformed notebooks
 * refused. Runs from the source root (ctest WORKING_DIRECTORY). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stages/findings.h"
#include "stages/lint.h"
#include "stages/notebook.h"

#define DATA "tests/data/notebook/"

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

/* Line n (1-based) of text, into out. */
static void line_of(const char *text, unsigned n, char *out, size_t cap)
{
    const char *p = text;
    for (unsigned i = 1; i < n && p; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    assert_non_null(p);
    size_t len = strcspn(p, "\n");
    snprintf(out, cap, "%.*s", (int)len, p);
}

static void test_layout(void **state)
{
    (void)state;
    size_t len, tl;
    uint8_t *buf = slurp(DATA "prices.ipynb", &len);
    char *text, line[256];
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_notebook_code("prices.ipynb", buf, len, &text, &tl, &err), 0);
    assert_int_equal(strlen(text), tl);
    /* the notebook's line 40 is `    "resp = requests.get(url, verify=False)  # ...\n",`: the code starts at column 6
     */
    line_of(text, 40, line, sizeof(line));
    assert_string_equal(line, "     resp = requests.get(url, verify=False)  # the model said this fixes SSL errors");
    line_of(text, 20, line, sizeof(line));
    assert_string_equal(line, "     import requests");
    line_of(text, 19, line, sizeof(line)); /* %pip magic */
    assert_string_equal(line, "");
    line_of(text, 9, line, sizeof(line)); /* markdown */
    assert_string_equal(line, "");
    line_of(text, 34, line, sizeof(line)); /* an output */
    assert_string_equal(line, "");
    line_of(text, 52, line, sizeof(line)); /* %%bash cell */
    assert_string_equal(line, "");
    free(text);
    free(buf);
}

typedef struct expect {
    const char *rule;
    unsigned line, col;
} expect;

static mrun_findings *lint_file(const char *path)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_lint_scan(path, buf, len, f, &err), 0);
    free(buf);
    return f;
}

static bool has(const mrun_findings *f, const char *rule, unsigned line, unsigned col)
{
    for (size_t i = 0; i < mrun_findings_count(f); i++) {
        const mrun_finding *x = mrun_findings_at(f, i);
        if (strcmp(x->rule->id, rule) == 0 && x->line == line && (!col || x->col == col))
            return true;
    }
    return false;
}

static void dump(const mrun_findings *f)
{
    for (size_t i = 0; i < mrun_findings_count(f); i++) {
        const mrun_finding *x = mrun_findings_at(f, i);
        print_message("  %s %u:%u\n", x->rule->id, x->line, x->col);
    }
}

static void test_lint_notebook(void **state)
{
    (void)state;
    mrun_findings *f = lint_file(DATA "prices.ipynb");
    static const expect want[] = {
        {"py-tls-verify-disabled", 40, 31}, /* `verify=False` at the notebook's column 31 */
        {"py-subprocess-shell-format", 64, 0},
        {"py-eval-input", 65, 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!has(f, want[i].rule, want[i].line, want[i].col)) {
            dump(f);
            fail_msg("missing %s at %u:%u", want[i].rule, want[i].line, want[i].col);
        }
    /* nothing from the markdown (9), the output (34), the %%bash cell (52) or the docstring (76) */
    for (size_t i = 0; i < mrun_findings_count(f); i++) {
        unsigned l = mrun_findings_at(f, i)->line;
        if (l == 9 || l == 34 || l == 52 || l == 76) {
            dump(f);
            fail_msg("finding on line %u", l);
        }
    }
    assert_string_equal(mrun_findings_at(f, 0)->path, DATA "prices.ipynb");
    mrun_findings_free(f);
}

/* Other layouts: one multi-line string per cell, and everything on one line; the same rules fire. */
static void test_other_layouts(void **state)
{
    (void)state;
    mrun_findings *f = lint_file(DATA "prices-strings.ipynb");
    assert_true(has(f, "py-tls-verify-disabled", 32, 0)); /* the cell's string starts on 31; its second line */
    assert_true(has(f, "py-eval-input", 50, 0));
    mrun_findings_free(f);
    f = lint_file(DATA "prices-compact.ipynb");
    assert_true(has(f, "py-tls-verify-disabled", 5, 0)); /* one JSON line: code lines follow one another */
    assert_true(has(f, "py-eval-input", 9, 0));
    mrun_findings_free(f);
    f = lint_file(DATA "r-kernel.ipynb"); /* not Python: nothing */
    assert_int_equal(mrun_findings_count(f), 0);
    mrun_findings_free(f);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *json, *cause;
    } bad[] = {
        {"", "nb.ipynb:1:"},
        {"[1,2]", "not a notebook"},
        {"{\"nbformat\": 4}", "no \"cells\""},
        {"{\"cells\": {}}", "no \"cells\""},
        {"{\"nbformat\": 3, \"worksheets\": []}", "nbformat 3"},
        {"{\"cells\": [{\"cell_type\": \"code\"}]}", "cell 1"},
        {"{\"cells\": [{\"cell_type\": \"code\", \"source\": [\"a\", 1]}]}", "cell 1"},
        {"{\"cells\": [{\"source\": \"x\"}]}", "cell 1"},
        {"{\"cells\": [], \"cells\": []}", "duplicate"},
        {"{\"cells\": [\n{\"cell_type\": \"code\", \"source\": \"x\"},\n]}", "nb.ipynb:3:"},
        {"{\"cells\": [{\"cell_type\": \"code\", \"source\": \"a\\u0000b\"}]}", "nb.ipynb:1:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = NULL;
        size_t tl;
        mrun_err err = MRUN_ERR_INIT;
        int rc = mrun_notebook_code("nb.ipynb", (const uint8_t *)bad[i].json, strlen(bad[i].json), &text, &tl, &err);
        if (rc == 0 || !strstr(err.msg, bad[i].cause)) {
            free(text);
            fail_msg("case %zu: rc %d, '%s'", i, rc, err.msg);
        }
        assert_true(err.sys_errno == EPROTO);
        /* the lint treats an unreadable notebook as nothing to lint, not as a failed scan */
        mrun_findings *f = NULL;
        assert_int_equal(mrun_findings_new(&f, &err), 0);
        assert_int_equal(mrun_lint_scan("nb.ipynb", (const uint8_t *)bad[i].json, strlen(bad[i].json), f, &err), 0);
        assert_int_equal(mrun_findings_count(f), 0);
        mrun_findings_free(f);
    }
    mrun_err err = MRUN_ERR_INIT;
    char *text = NULL;
    size_t tl;
    assert_int_equal(
        mrun_notebook_code("big.ipynb", (const uint8_t *)"", MRUN_NOTEBOOK_MAX_BYTES + 1, &text, &tl, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
}

/* Keys spelled with escapes make the position pass lose track: lines are then placed one after another, and the
 * code is still linted. */
static void test_escaped_keys(void **state)
{
    (void)state;
    const char *nb = "{\"\\u0063ells\": [\n {\"cell_type\": \"code\",\n  \"source\": [\"import requests\\n\",\n"
                     "   \"requests.get(u, verify=False)\"]}]}";
    char *text = NULL;
    size_t tl;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_notebook_code("e.ipynb", (const uint8_t *)nb, strlen(nb), &text, &tl, &err), 0);
    assert_string_equal(text, "import requests\nrequests.get(u, verify=False)\n");
    free(text);
    assert_true(mrun_notebook_is("a/b.ipynb"));
    assert_false(mrun_notebook_is("a/b.ipynb.txt"));
    assert_false(mrun_notebook_is("ipynb"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),    cmocka_unit_test(test_lint_notebook), cmocka_unit_test(test_other_layouts),
        cmocka_unit_test(test_malformed), cmocka_unit_test(test_escaped_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
