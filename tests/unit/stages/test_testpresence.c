/* test_testpresence.c - the test-presence check over real trees in mkdtemp directories: Python and JS/TS public
 * names, each test-file layout, private names, vendored and symlinked files (run under ASan/UBSan). */
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

#include "stages/findings.h"
#include "stages/testpresence.h"

typedef struct tree {
    char dir[64];
    int fd;
    mrun_findings *f;
} tree;

static int setup(void **state)
{
    tree *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/mrun-tp-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    t->fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(t->fd >= 0);
    *state = t;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    tree *t = *state;
    mrun_findings_free(t->f);
    close(t->fd);
    nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

/* Writes rel (creating its directories) under the tree. */
static void put(tree *t, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
    for (char *p = path + strlen(t->dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void run_with(tree *t, const mrun_testpresence_opts *o)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_findings_free(t->f);
    t->f = NULL;
    assert_int_equal(mrun_findings_new(&t->f, &err), 0);
    mrun_scan_stats st;
    if (mrun_check_testpresence(t->fd, o, t->f, &st, &err) < 0)
        fail_msg("check: %s", err.msg);
}

static void run(tree *t)
{
    run_with(t, NULL);
}

/* The finding of rule on path:line, or NULL. */
static const mrun_finding *find(tree *t, const char *rule, const char *path, unsigned line)
{
    for (size_t i = 0; i < mrun_findings_count(t->f); i++) {
        const mrun_finding *x = mrun_findings_at(t->f, i);
        if (strcmp(x->rule->id, rule) == 0 && strcmp(x->path, path) == 0 && x->line == line)
            return x;
    }
    return NULL;
}

static void py_one_untested(void **state)
{
    tree *t = *state;
    put(t, "pkg/mod.py", "import os\n\ndef parse(s):\n    return s\n\n\nasync def render(x):\n    pass\n");
    put(t, "tests/test_mod.py",
        "from pkg.mod import parse\n\ndef test_parse():\n    assert parse('a') == 'a'\n"
        "# renderer, rendering, render_all\n");
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 1);
    const mrun_finding *x = find(t, "test-function-untested", "pkg/mod.py", 7);
    assert_non_null(x);
    assert_int_equal(x->col, 11);
    assert_int_equal(x->rule->severity, MRUN_SEV_MEDIUM);
}

static void py_missing_names_both(void **state)
{
    tree *t = *state;
    put(t, "lib.py", "def alpha():\n    pass\n\nclass Beta:\n    def method(self):\n        pass\n");
    put(t, "tests/test_other.py", "alpha Beta\n");
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 1);
    const mrun_finding *x = find(t, "test-file-missing", "lib.py", 0);
    assert_non_null(x);
    assert_non_null(x->redacted);
    assert_string_equal(x->redacted, "alpha, Beta"); /* function names are no secret: shown whole */
}

static void py_private_and_exempt(void **state)
{
    tree *t = *state;
    put(t, "a.py",
        "def _helper():\n    pass\n\nclass _Impl:\n    def public_method(self):\n        pass\n"
        "    def nested():\n        pass\nx = 'def fake(): pass'\n");
    put(t, "setup.py", "def setup_all():\n    pass\n");
    put(t, "conftest.py", "def fixture():\n    pass\n");
    put(t, "pkg/__init__.py", "");
    put(t, "test_a.py", "def test_x():\n    pass\n");
    put(t, "b_test.py", "def check():\n    pass\n");
    put(t, "tests/helpers.py", "def helper():\n    pass\n");
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 0);
}

static void py_layouts(void **state)
{
    tree *t = *state;
    put(t, "src/one.py", "def one():\n    pass\n");
    put(t, "src/test_one.py", "one()\n");
    put(t, "src/two.py", "def two():\n    pass\n");
    put(t, "src/two_test.py", "two()\n");
    put(t, "pkg/__init__.py", "def make():\n    pass\n");
    put(t, "test/test_pkg.py", "make()\n");
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 0);
}

static void js_export_variants(void **state)
{
    tree *t = *state;
    put(t, "src/util.js",
        "export function a() {}\n"
        "export async function b() {}\n"
        "export const c = () => 1;\n"
        "export default function d() {}\n"
        "module.exports.e = function () {};\n"
        "exports.f = 1;\n"
        "function g() {}\n"
        "export const h: Handler = () => 2;\n"
        "if (exports.q == 1) {}\n"
        "export default function () {}\n");
    put(t, "src/util.test.js", "import d, { a, b, c } from './util';\ntest('x', () => { a(); b(); c(); });\n");
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 3); /* d is named by the default import */
    assert_non_null(find(t, "test-function-untested", "src/util.js", 5));
    assert_non_null(find(t, "test-function-untested", "src/util.js", 6));
    assert_non_null(find(t, "test-function-untested", "src/util.js", 8));
    assert_int_equal(find(t, "test-function-untested", "src/util.js", 5)->col, 16);
}

static void js_tests_dir_and_spec(void **state)
{
    tree *t = *state;
    put(t, "lib/x.ts", "export function foo(): void {}\n");
    put(t, "lib/__tests__/x.ts", "import { foo } from '../x';\nfoo();\n");
    put(t, "lib/y.ts", "export function yes() {}\nexport function no() {}\n");
    put(t, "lib/y.spec.tsx", "yes(); noMore();\n");
    put(t, "calc.mjs", "export const add = (a, b) => a + b;\n");
    put(t, "tests/calc.test.js", "add(1, 2)\n");
    put(t, "lonely.jsx", "export default function Lonely() {}\n");
    put(t, "jest.config.js", "export default function config() {}\n");
    put(t, "types.d.ts", "export function declared(): void;\n");
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 2);
    assert_non_null(find(t, "test-function-untested", "lib/y.ts", 2));
    assert_non_null(find(t, "test-file-missing", "lonely.jsx", 0));
}

static void vendored_and_symlink(void **state)
{
    tree *t = *state;
    put(t, "node_modules/pkg/index.js", "exports.lib = 1;\n");
    put(t, "web/node_modules/x/a.ts", "export function z() {}\n");
    char outside[64] = "/tmp/mrun-tp-out-XXXXXX", target[128], link[512];
    assert_non_null(mkdtemp(outside));
    snprintf(target, sizeof(target), "%s/real.py", outside);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fputs("def secret_fn():\n    pass\n", f);
    fclose(f);
    snprintf(link, sizeof(link), "%s/linked.py", t->dir);
    assert_int_equal(symlink(target, link), 0);
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 0);
    unlink(target);
    rmdir(outside);
}

static void inline_allow(void **state)
{
    tree *t = *state;
    put(t, "m.py",
        "# mrun:allow test-function-untested thin wrapper\ndef wrap():\n    pass\n\ndef used():\n    pass\n");
    put(t, "tests/test_m.py", "used()\n");
    run(t);
    assert_int_equal(mrun_findings_count(t->f), 1);
    const mrun_finding *x = find(t, "test-function-untested", "m.py", 2);
    assert_non_null(x);
    assert_true(x->suppressed);
}

static void rules_table(void **state)
{
    (void)state;
    size_t n = 0;
    const mrun_rule *r = mrun_testpresence_rules(&n);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].id, "test-file-missing");
    assert_string_equal(r[1].id, "test-function-untested");
}

/* The user's own layouts: spec/{stem}_spec.{ext} and {dir}checks/{stem}_check.py find the tests, and the spec
 * files themselves are not sources that need tests; without the patterns the same tree has findings. */
static void custom_patterns(void **state)
{
    tree *t = *state;
    put(t, "app/pricing.py", "def total(items):\n    return sum(items)\n\ndef tax(x):\n    return x\n");
    put(t, "spec/pricing_spec.py", "from app.pricing import total, tax\n\ndef it_adds():\n    total([1]); tax(1)\n");
    put(t, "web/cart.js", "export function addItem(c, i) { return c; }\n");
    put(t, "spec/cart_spec.js", "import { addItem } from '../web/cart.js';\naddItem([], 1);\n");
    put(t, "lib/util.py", "def clamp(x):\n    return x\n");
    put(t, "lib/checks/util_check.py", "from lib.util import clamp\nclamp(1)\n");
    run(t);
    assert_non_null(find(t, "test-file-missing", "app/pricing.py", 0));
    assert_non_null(find(t, "test-file-missing", "lib/util.py", 0));
    const char *patterns[] = {"spec/{stem}_spec.{ext}", "{dir}checks/{stem}_check.py"};
    mrun_testpresence_opts o = {.patterns = patterns, .n_patterns = 2};
    run_with(t, &o);
    for (size_t i = 0; i < mrun_findings_count(t->f); i++)
        fail_msg("unexpected finding %s on %s", mrun_findings_at(t->f, i)->rule->id, mrun_findings_at(t->f, i)->path);
    /* a pattern that finds a file which does not name the function still reports the function */
    put(t, "spec/pricing_spec.py", "from app.pricing import total\ntotal([1])\n");
    run_with(t, &o);
    assert_int_equal(mrun_findings_count(t->f), 1);
    assert_non_null(find(t, "test-function-untested", "app/pricing.py", 4));
}

static void pattern_check(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_testpresence_pattern_check("spec/{stem}_spec.{ext}", &err), 0);
    assert_int_equal(mrun_testpresence_pattern_check("{dir}__checks__/{stem}.py", &err), 0);
    assert_int_equal(mrun_testpresence_pattern_check("tests/{stem}.py", &err), 0);
    const char *bad[] = {"", "/abs/{stem}_t.py", "../{stem}_t.py", "tests/x.py", "{stem}/x_test.py",
                         "{dir}{stem}.{ext}", "{stem}.{ext}", "t/{stem}_*.py", "t/{name}_t.py", "t/{stem}[1].py",
                         "{stem}.py", "{dir}{stem}.ts", "{dir}/{stem}.js"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mrun_testpresence_pattern_check(bad[i], &err) == 0)
            fail_msg("pattern '%s' was accepted", bad[i]);
        assert_int_equal(err.sys_errno, EINVAL);
    }
    /* a bad pattern stops the check before any walk */
    const char *patterns[] = {"{stem}.{ext}"};
    mrun_testpresence_opts o = {.patterns = patterns, .n_patterns = 1};
    mrun_findings *f = NULL;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_check_testpresence(AT_FDCWD, &o, f, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "every file would be a test"));
    mrun_findings_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(custom_patterns, setup, teardown),
        cmocka_unit_test(pattern_check),
        cmocka_unit_test_setup_teardown(py_one_untested, setup, teardown),
        cmocka_unit_test_setup_teardown(py_missing_names_both, setup, teardown),
        cmocka_unit_test_setup_teardown(py_private_and_exempt, setup, teardown),
        cmocka_unit_test_setup_teardown(py_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(js_export_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(js_tests_dir_and_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(vendored_and_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(inline_allow, setup, teardown),
        cmocka_unit_test(rules_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
