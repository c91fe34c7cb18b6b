/* test_licenses.c - the license check: SPDX expressions and free-text spellings, license text identification
 * against real license files (tests/data/licenses/texts), the policy file and its verdicts, and the whole check
 * over the sample apps in tests/data/licenses/ and hostile trees built in mkdtemp directories. Run from the source
 * root (ctest sets the working directory). */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stages/findings.h"
#include "stages/licenses.h"
#include "stages/spdx.h"
#include "stages/stages.h"

#define DATA "tests/data/licenses"

/* ---- SPDX expressions ---- */

static void expect_expr(const char *in, const char *want)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    if (mrun_spdx_parse(in, strlen(in), &e, &err) < 0)
        fail_msg("'%s': %s", in, err.msg);
    char *s = mrun_spdx_to_string(e);
    assert_non_null(s);
    if (strcmp(s, want) != 0)
        fail_msg("'%s' -> '%s', want '%s'", in, s, want);
    /* the canonical text parses to itself */
    mrun_spdx_expr *again = NULL;
    assert_int_equal(mrun_spdx_parse(s, strlen(s), &again, &err), 0);
    char *s2 = mrun_spdx_to_string(again);
    assert_string_equal(s, s2);
    free(s2);
    mrun_spdx_free(again);
    free(s);
    mrun_spdx_free(e);
}

static void spdx_valid(void **state)
{
    (void)state;
    expect_expr("MIT", "MIT");
    expect_expr("mit", "MIT");
    expect_expr("(MIT OR Apache-2.0)", "MIT OR Apache-2.0");
    expect_expr("Apache-2.0 AND MIT", "Apache-2.0 AND MIT");
    expect_expr("MIT and Apache-2.0 or ISC", "MIT AND Apache-2.0 OR ISC");
    expect_expr("(MIT OR Apache-2.0) AND BSD-3-Clause", "(MIT OR Apache-2.0) AND BSD-3-Clause");
    expect_expr("MIT AND (Apache-2.0 OR BSD-2-Clause)", "MIT AND (Apache-2.0 OR BSD-2-Clause)");
    expect_expr("GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0");
    expect_expr("gpl-2.0-only with classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0");
    expect_expr("LicenseRef-acme-internal", "LicenseRef-acme-internal");
    expect_expr("DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2", "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2");
    /* deprecated ids become their current form */
    expect_expr("GPL-2.0", "GPL-2.0-only");
    expect_expr("GPL-2.0+", "GPL-2.0-or-later");
    expect_expr("LGPL-2.1+", "LGPL-2.1-or-later");
    expect_expr("GPL-3.0-only+", "GPL-3.0-or-later");
    expect_expr("AGPL-3.0", "AGPL-3.0-only");
    expect_expr("GPL-2.0-with-classpath-exception", "GPL-2.0-only WITH Classpath-exception-2.0");
    expect_expr("Apache-2.0+", "Apache-2.0+");
    expect_expr("  ( ( MIT ) )  ", "MIT");
}

static void expect_bad(const char *in, int code)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    if (mrun_spdx_parse(in, strlen(in), &e, &err) == 0)
        fail_msg("'%s' parsed", in);
    assert_null(e);
    if (err.sys_errno != code)
        fail_msg("'%.40s': errno %d (%s), want %d", in, err.sys_errno, err.msg, code);
}

static void spdx_invalid(void **state)
{
    (void)state;
    expect_bad("", EPROTO);
    expect_bad("MIT OR", EPROTO);
    expect_bad("(MIT", EPROTO);
    expect_bad("MIT)", EPROTO);
    expect_bad("AND MIT", EPROTO);
    expect_bad("MIT WITH", EPROTO);
    expect_bad("MIT Apache-2.0", EPROTO);
    expect_bad("MIT OR OR ISC", EPROTO);
    expect_bad("Mit Or Isc", EPROTO); /* operators are all upper or all lower case */
    expect_bad("MIT/ISC", EPROTO);
    char deep[200] = "";
    memset(deep, '(', 40);
    expect_bad(deep, E2BIG);
    char *many = malloc(4000);
    assert_non_null(many);
    size_t used = 0;
    for (int i = 0; i < 300; i++)
        used += (size_t)snprintf(many + used, 4000 - used, "%s", i ? " OR MIT" : "MIT");
    expect_bad(many, E2BIG);
    free(many);
    char *longs = malloc(MRUN_SPDX_MAX_EXPR + 2);
    memset(longs, 'a', MRUN_SPDX_MAX_EXPR + 1);
    longs[MRUN_SPDX_MAX_EXPR + 1] = '\0';
    expect_bad(longs, E2BIG);
    free(longs);
}

static void expect_declared(const char *in, const char *want, bool known)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    assert_int_equal(mrun_spdx_read_declared(in, strlen(in), &e, &err), 0);
    char *s = mrun_spdx_to_string(e);
    if (strcmp(s, want) != 0)
        fail_msg("'%s' -> '%s', want '%s'", in, s, want);
    bool all = true;
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].kind == MRUN_SPDX_LEAF && !e->nodes[i].known)
            all = false;
    if (all != known)
        fail_msg("'%s': known %d, want %d", in, all, known);
    free(s);
    mrun_spdx_free(e);
}

static void declared_spellings(void **state)
{
    (void)state;
    expect_declared("MIT", "MIT", true);
    expect_declared("MIT License", "MIT", true);
    expect_declared("The MIT License (MIT)", "MIT", true);
    expect_declared("Apache 2.0", "Apache-2.0", true);
    expect_declared("Apache License, Version 2.0", "Apache-2.0", true);
    expect_declared("Apache-2", "Apache-2.0", true);
    expect_declared("ASL 2.0", "Apache-2.0", true);
    expect_declared("BSD-3", "BSD-3-Clause", true);
    expect_declared("New BSD License", "BSD-3-Clause", true);
    expect_declared("GPLv3+", "GPL-3.0-or-later", true);
    expect_declared("GPL v2 or later", "GPL-2.0-or-later", true);
    expect_declared("GNU General Public License v2 (GPLv2)", "GPL-2.0-only", true);
    expect_declared("GNU Lesser General Public License v2 or later (LGPLv2+)", "LGPL-2.0-or-later", true);
    expect_declared("GNU Affero General Public License v3", "AGPL-3.0-only", true);
    expect_declared("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0", true);
    expect_declared("ISC License (ISCL)", "ISC", true);
    expect_declared("Python Software Foundation License", "PSF-2.0", true);
    expect_declared("(MIT OR Apache-2.0)", "MIT OR Apache-2.0", true);
    /* ambiguous or unknown: kept as written, not guessed */
    expect_declared("BSD", "BSD", false);
    expect_declared("Apache Software License", "Apache Software License", false);
    expect_declared("Proprietary, ask Bob", "Proprietary, ask Bob", false);
    expect_declared("UNLICENSED", "UNLICENSED", false);
    expect_declared("Foo-1.0 OR MIT", "Foo-1.0 OR MIT", false);
}

static void leaf_categories(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        mrun_lic_category cat;
    } cases[] = {
        {"GPL-3.0-only", MRUN_LIC_STRONG},
        {"AGPL-3.0-or-later", MRUN_LIC_STRONG},
        {"LGPL-2.1-only", MRUN_LIC_WEAK},
        {"MPL-2.0", MRUN_LIC_WEAK},
        {"MIT", MRUN_LIC_PERMISSIVE},
        {"Apache-2.0", MRUN_LIC_PERMISSIVE},
        {"CC-BY-NC-4.0", MRUN_LIC_OTHER},
        {"SSPL-1.0", MRUN_LIC_STRONG},
        {"GPL-2.0-only WITH Classpath-exception-2.0", MRUN_LIC_WEAK},
        {"GPL-3.0-only WITH GCC-exception-3.1", MRUN_LIC_WEAK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mrun_err err = MRUN_ERR_INIT;
        mrun_spdx_expr *e = NULL;
        assert_int_equal(mrun_spdx_parse(cases[i].expr, strlen(cases[i].expr), &e, &err), 0);
        if (mrun_spdx_leaf_category(&e->nodes[e->root]) != cases[i].cat)
            fail_msg("%s: category %d, want %d", cases[i].expr, mrun_spdx_leaf_category(&e->nodes[e->root]),
                     cases[i].cat);
        mrun_spdx_free(e);
    }
}

/* ---- license texts ---- */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    static uint8_t buf[1 << 20];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

static void texts_identified(void **state)
{
    (void)state;
    static const struct {
        const char *file, *id;
        mrun_text_match match;
    } cases[] = {
        {"mit-1.txt", "MIT", MRUN_TEXT_EXACT},                 /* title, two copyright lines, rewrapped */
        {"mit-2.txt", "MIT", MRUN_TEXT_EXACT},                 /* curly quotes, one paragraph per line */
        {"bsd-3-clause.txt", "BSD-3-Clause", MRUN_TEXT_EXACT}, /* a company name in the three places */
        {"bsd-3-clause-regents.txt", "BSD-3-Clause", MRUN_TEXT_EXACT},
        {"apache-2.0.txt", "Apache-2.0", MRUN_TEXT_EXACT},
        {"gpl-3.0.txt", "GPL-3.0-only", MRUN_TEXT_EXACT},
        {"gpl-2.0.txt", "GPL-2.0-only", MRUN_TEXT_EXACT},
        {"lgpl-2.1.txt", "LGPL-2.1-only", MRUN_TEXT_EXACT},
        {"mpl-2.0.txt", "MPL-2.0", MRUN_TEXT_EXACT},
        {"mit-modified.txt", "MIT", MRUN_TEXT_NEAR},      /* one added sentence: never a confident MIT */
        {"mit-noncommercial.txt", "MIT", MRUN_TEXT_NEAR}, /* a changed grant */
        {"readme.txt", NULL, MRUN_TEXT_NONE},
        {"gpl-3.0-head.txt", NULL, MRUN_TEXT_NONE}, /* the first 3 KB only */
    };
    mrun_err err = MRUN_ERR_INIT;
    mrun_license_texts *t = NULL;
    assert_int_equal(mrun_license_texts_new(&t, &err), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), DATA "/texts/%s", cases[i].file);
        size_t len;
        const uint8_t *buf = slurp(path, &len);
        mrun_text_id r = mrun_license_identify(t, buf, len);
        if (r.match != cases[i].match || (cases[i].id && (!r.id || strcmp(r.id, cases[i].id) != 0)))
            fail_msg("%s: %s %.3f match %d, want %s match %d", cases[i].file, r.id ? r.id : "-", r.confidence, r.match,
                     cases[i].id ? cases[i].id : "-", cases[i].match);
        if (r.match == MRUN_TEXT_EXACT)
            assert_true(r.confidence >= 0.95);
        if (r.match == MRUN_TEXT_NEAR)
            assert_true(r.confidence >= 0.80 && r.confidence < 1.0);
    }
    /* hostile input: empty, binary, one enormous line */
    assert_int_equal(mrun_license_identify(t, (const uint8_t *)"", 0).match, MRUN_TEXT_NONE);
    uint8_t *junk = malloc(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++)
        junk[i] = (uint8_t)(i * 7919 % 251);
    assert_int_equal(mrun_license_identify(t, junk, 1 << 20).match, MRUN_TEXT_NONE);
    free(junk);
    mrun_license_texts_free(t);
}

/* ---- policy ---- */

static mrun_license_policy *policy(const char *yaml)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_license_policy *p = NULL;
    if (mrun_license_policy_parse("policy.yml", (const uint8_t *)yaml, strlen(yaml), &p, &err) < 0)
        fail_msg("policy: %s", err.msg);
    return p;
}

static void expect_policy_error(const char *yaml, const char *want)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_license_policy *p = NULL;
    if (mrun_license_policy_parse("policy.yml", (const uint8_t *)yaml, strlen(yaml), &p, &err) == 0)
        fail_msg("accepted: %s", yaml);
    if (!strstr(err.msg, want))
        fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void policy_parse(void **state)
{
    (void)state;
    mrun_license_policy *p = policy("# app policy\n"
                                    "tier: 2\n"
                                    "licenses:\n"
                                    "  allow: [MIT, Apache-2.0, 'BSD-*', GPL-2.0-only WITH Classpath-exception-2.0]\n"
                                    "  deny:\n"
                                    "    - AGPL-*\n"
                                    "    - gpl-3.0\n"
                                    "  unknown: fail\n"
                                    "  exceptions:\n"
                                    "    - package: lodash-gpl\n"
                                    "      version: 1.0.0\n"
                                    "      reason: approved by legal, TICKET-123\n");
    assert_int_equal(p->tier, 2);
    assert_true(p->allow_list);
    assert_int_equal(p->n_allow, 4);
    assert_string_equal(p->allow[2], "BSD-*");
    assert_string_equal(p->allow[3], "GPL-2.0-only WITH Classpath-exception-2.0");
    assert_int_equal(p->n_deny, 2);
    assert_string_equal(p->deny[1], "GPL-3.0-only"); /* canonical */
    assert_int_equal(p->unknown, MRUN_UNKNOWN_FAIL);
    assert_int_equal(p->n_exceptions, 1);
    assert_non_null(mrun_license_policy_exception(p, "lodash-gpl", "1.0.0"));
    assert_null(mrun_license_policy_exception(p, "lodash-gpl", "1.0.1"));
    assert_null(mrun_license_policy_exception(p, "lodash", "1.0.0"));
    mrun_license_policy_free(p);
    p = policy(""); /* empty: defaults */
    assert_int_equal(p->tier, 1);
    assert_false(p->allow_list);
    assert_int_equal(p->unknown, MRUN_UNKNOWN_WARN);
    mrun_license_policy_free(p);
}

static void policy_errors(void **state)
{
    (void)state;
    expect_policy_error("tier: 1\nlicences:\n  deny: [MIT]\n", "policy.yml:2:1: unknown key 'licences' in the policy "
                                                               "(did you mean 'licenses'?)");
    expect_policy_error("licenses:\n  alow: [MIT]\n", "policy.yml:2:3: unknown key 'alow' in licenses (did you mean "
                                                      "'allow'?)");
    expect_policy_error("tier: 5\n", "policy.yml:1:7: tier must be 0, 1, 2 or 3");
    expect_policy_error("tier: [1]\n", "tier must be a single value");
    expect_policy_error("licenses:\n  allow: [Apache2.0]\n", "not an SPDX license id (did you mean 'Apache-2.0'?)");
    expect_policy_error("licenses:\n  deny: [MIT OR ISC]\n", "one license per entry");
    expect_policy_error("licenses:\n  deny: MIT\n", "deny must be a list");
    expect_policy_error("licenses:\n  unknown: maybe\n", "unknown must be fail, warn or allow");
    expect_policy_error("licenses:\n  exceptions:\n    - package: x\n", "needs a 'reason'");
    expect_policy_error("licenses:\n  exceptions:\n    - reason: because\n", "needs 'package'");
    expect_policy_error("licenses:\n  exceptions:\n    - package: x\n      reasn: y\n", "did you mean 'reason'?");
    expect_policy_error("tier: 1\ntier: 2\n", "policy.yml:2:1: duplicate key 'tier'");
    expect_policy_error("a: &x [MIT]\nb: *x\n", "anchors are not allowed");
    expect_policy_error("licenses: {deny: [MIT]\n", "YAML syntax error");
    expect_policy_error("- tier\n", "the policy must be a mapping");
    expect_policy_error("tier: 1\n---\ntier: 2\n", "one YAML document only");
    char deep[200] = "";
    memset(deep, '[', 40);
    expect_policy_error(deep, "nested deeper");
}

static mrun_verdict verdict(const mrun_license_policy *p, const char *expr, const char **why)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    assert_int_equal(mrun_spdx_read_declared(expr, strlen(expr), &e, &err), 0);
    mrun_verdict v = mrun_license_policy_judge(p, e, why, NULL);
    mrun_spdx_free(e);
    return v;
}

static void policy_verdicts(void **state)
{
    (void)state;
    const char *why = NULL;
    mrun_license_policy *p = policy("tier: 1\n");
    assert_int_equal(verdict(p, "MIT", &why), MRUN_VERDICT_ALLOW);
    assert_int_equal(verdict(p, "GPL-3.0-only", &why), MRUN_VERDICT_DENY);
    assert_string_equal(why, "is denied for tier 1 apps (strong copyleft)");
    assert_int_equal(verdict(p, "AGPL-3.0-or-later", &why), MRUN_VERDICT_DENY);
    assert_int_equal(verdict(p, "MIT OR GPL-3.0-only", &why), MRUN_VERDICT_ALLOW); /* the licensee may pick MIT */
    assert_int_equal(verdict(p, "MIT AND GPL-3.0-only", &why), MRUN_VERDICT_DENY); /* both apply */
    assert_int_equal(verdict(p, "LGPL-2.1-only", &why), MRUN_VERDICT_WEAK);
    assert_int_equal(verdict(p, "GPL-2.0-only WITH Classpath-exception-2.0", &why), MRUN_VERDICT_WEAK);
    assert_int_equal(verdict(p, "Proprietary", &why), MRUN_VERDICT_UNKNOWN);
    assert_int_equal(verdict(p, "LicenseRef-acme", &why), MRUN_VERDICT_UNKNOWN);
    assert_int_equal(verdict(p, "GPL-3.0-only OR Foo", &why), MRUN_VERDICT_UNKNOWN); /* unknown beats denied in OR */
    mrun_license_policy_free(p);

    p = policy("tier: 0\n");
    assert_int_equal(verdict(p, "GPL-3.0-only", &why), MRUN_VERDICT_STRONG);
    mrun_license_policy_free(p);

    p = policy("tier: 0\nlicenses:\n  deny: [GPL-*, LicenseRef-evil]\n");
    assert_int_equal(verdict(p, "GPL-3.0-only", &why), MRUN_VERDICT_DENY);
    assert_string_equal(why, "is denied by the policy's deny list");
    assert_int_equal(verdict(p, "LGPL-3.0-only", &why), MRUN_VERDICT_WEAK); /* GPL-* is a prefix: not LGPL */
    assert_int_equal(verdict(p, "LicenseRef-evil", &why), MRUN_VERDICT_DENY);
    mrun_license_policy_free(p);

    p = policy("licenses:\n  allow: [MIT, BSD-*, LicenseRef-acme, GPL-2.0-only WITH Classpath-exception-2.0]\n");
    assert_int_equal(verdict(p, "MIT", &why), MRUN_VERDICT_ALLOW);
    assert_int_equal(verdict(p, "BSD-2-Clause", &why), MRUN_VERDICT_ALLOW);
    assert_int_equal(verdict(p, "LicenseRef-acme", &why), MRUN_VERDICT_ALLOW);
    assert_int_equal(verdict(p, "GPL-2.0-only WITH Classpath-exception-2.0", &why), MRUN_VERDICT_ALLOW);
    assert_int_equal(verdict(p, "GPL-2.0-only", &why), MRUN_VERDICT_DENY);
    assert_int_equal(verdict(p, "ISC", &why), MRUN_VERDICT_DENY);
    assert_string_equal(why, "is not on the policy's allow list");
    assert_int_equal(verdict(p, "ISC OR MIT", &why), MRUN_VERDICT_ALLOW);
    mrun_license_policy_free(p);

    /* an explicit allow of a strong copyleft license beats the tier default; a deny beats an equal allow */
    p = policy("tier: 2\nlicenses:\n  deny: [GPL-3.0-only, MPL-*]\n  allow: [GPL-2.0-only, MPL-2.0]\n");
    assert_int_equal(verdict(p, "GPL-3.0-only", &why), MRUN_VERDICT_DENY);
    assert_int_equal(verdict(p, "MPL-2.0", &why), MRUN_VERDICT_ALLOW); /* the exact id is more specific */
    assert_int_equal(verdict(p, "MPL-1.1", &why), MRUN_VERDICT_DENY);
    mrun_license_policy_free(p);
}

/* ---- the whole check ---- */

typedef struct tree {
    char dir[64];
    int fd;
    mrun_findings *f;
    mrun_scan_stats st;
} tree;

static int setup(void **state)
{
    tree *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/mrun-lic-XXXXXX");
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

/* Runs the check over dir (a data directory) or the tree; returns -1 with err on failure. */
static int run_at(tree *t, int fd, const char *policy_path, const char *baseline, mrun_err *err)
{
    mrun_findings_free(t->f);
    t->f = NULL;
    assert_int_equal(mrun_findings_new(&t->f, err), 0);
    mrun_check_opts o = {.baseline_dirfd = fd, .baseline = baseline};
    return mrun_check_licenses(fd, &o, policy_path, t->f, &t->st, err);
}

static void run(tree *t, const char *policy_path)
{
    mrun_err err = MRUN_ERR_INIT;
    if (run_at(t, t->fd, policy_path, NULL, &err) < 0)
        fail_msg("check: %s", err.msg);
}

static void run_data(tree *t, const char *app)
{
    char dir[256];
    snprintf(dir, sizeof(dir), DATA "/%s", app);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("%s: %s (run from the source root)", dir, strerror(errno));
    mrun_err err = MRUN_ERR_INIT;
    if (run_at(t, fd, NULL, NULL, &err) < 0)
        fail_msg("check %s: %s", app, err.msg);
    close(fd);
}

/* The finding of rule whose value contains needle, or NULL. */
static const mrun_finding *find(tree *t, const char *rule, const char *needle)
{
    for (size_t i = 0; i < mrun_findings_count(t->f); i++) {
        const mrun_finding *x = mrun_findings_at(t->f, i);
        if (strcmp(x->rule->id, rule) == 0 && x->redacted && strstr(x->redacted, needle))
            return x;
    }
    return NULL;
}

static void app_with_gpl_dependency(void **state)
{
    tree *t = *state;
    run_data(t, "gpl-app");
    const mrun_finding *x = find(t, "license-denied", "lodash-gpl@1.0.0");
    assert_non_null(x);
    assert_string_equal(x->path, "package-lock.json");
    assert_int_equal(x->line, 40); /* "node_modules/lodash-gpl" */
    assert_string_equal(x->redacted, "GPL-3.0-only (lodash-gpl@1.0.0) is denied for tier 1 apps (strong copyleft)");
    assert_int_equal(x->rule->severity, MRUN_SEV_HIGH);
    assert_non_null(strstr(x->rule->fix, ".mrun/policy.yml"));
    assert_non_null(find(t, "license-copyleft-weak", "mpl-thing@1.2.0"));
    assert_null(find(t, "license-denied", "gpl-test-runner")); /* a dev dependency is not shipped */
    assert_null(find(t, "license-denied", "dual-lib"));        /* MIT OR GPL: MIT is chosen */
    assert_int_equal(mrun_findings_count(t->f), 2);            /* the MIT LICENSE is fine */
    assert_int_equal(mrun_findings_max_severity(t->f), MRUN_SEV_HIGH);
    assert_int_equal(t->st.files_scanned, 2);
}

static void app_node_modules(void **state)
{
    tree *t = *state;
    run_data(t, "node-app");
    assert_non_null(find(t, "license-denied", "AGPL-3.0-only (@acme/agpl-widget@3.1.0)"));
    assert_non_null(find(t, "license-denied", "GPL-2.0-or-later (inner-gpl@0.2.0)"));   /* nested node_modules */
    const mrun_finding *x = find(t, "license-denied", "GPL-3.0-only (see-file@1.0.0)"); /* SEE LICENSE IN */
    assert_non_null(x);
    assert_string_equal(x->path, "node_modules/see-file/package.json");
    assert_int_equal(x->line, 4);
    assert_non_null(find(t, "license-unknown", "no license declared (nothing@0.0.1)"));
    /* WTFPL, {type: MIT}, [MIT, Apache-2.0], a BSD LICENSE file, "Apache License, Version 2.0": fine */
    assert_int_equal(mrun_findings_count(t->f), 4);
}

static void app_python(void **state)
{
    tree *t = *state;
    run_data(t, "py-app");
    assert_non_null(find(t, "license-denied", "GPL-2.0-or-later (gplold@1.0)"));
    assert_non_null(find(t, "license-copyleft-weak", "LGPL-3.0-only (lgpl-lib@2.0)"));
    const mrun_finding *x = find(t, "license-unknown", "Proprietary, ask Bob (weird@1.0)");
    assert_non_null(x);
    assert_int_equal(x->line, 4);
    /* requests (License: Apache 2.0), modern (MIT OR GPL), bsdish (licenses/LICENSE), textual (the whole MIT text in
     * License:) are fine; the description's "License:" line is not a header */
    assert_int_equal(mrun_findings_count(t->f), 3);
}

static void app_rust_and_go(void **state)
{
    tree *t = *state;
    run_data(t, "rust-app");
    assert_non_null(find(t, "license-denied", "GPL-2.0-only (gplcrate@0.3.0)")); /* license-file: COPYING */
    assert_int_equal(mrun_findings_count(t->f), 1);                              /* LICENSE-MIT is the project's */
    run_data(t, "go-app");
    const mrun_finding *x = find(t, "license-denied", "GPL-3.0-only (github.com/gnu/thing@v0.4.0)");
    assert_non_null(x);
    assert_non_null(find(t, "project-license-missing", "no LICENSE"));
    assert_int_equal(mrun_findings_count(t->f), 2);
}

static const char lock[] =
    "{\"name\": \"app\", \"lockfileVersion\": 3, \"packages\": {\n"
    "  \"\": {\"name\": \"app\", \"dependencies\": {\"gpl-thing\": \"1\", \"mpl-thing\": \"1\"}},\n"
    "  \"node_modules/gpl-thing\": {\"version\": \"1.0.0\", \"license\": \"GPL-3.0-only\"},\n"
    "  \"node_modules/mpl-thing\": {\"version\": \"2.0.0\", \"license\": \"MPL-2.0\"},\n"
    "  \"node_modules/mystery\": {\"version\": \"0.1.0\"}\n"
    "}}\n";

static void policy_tiers_and_exceptions(void **state)
{
    tree *t = *state;
    put(t, "package-lock.json", lock);
    put(t, "LICENSE", "Proprietary. All rights reserved by Acme.\n");
    run(t, NULL); /* no policy file: tier 1 */
    assert_non_null(find(t, "license-denied", "gpl-thing@1.0.0"));
    const mrun_finding *u = find(t, "license-unchecked", "1 in package-lock.json: mystery@0.1.0");
    assert_non_null(u);
    assert_int_equal(u->line, 0);
    assert_non_null(find(t, "license-unknown", "LICENSE is no license text mrun knows"));

    put(t, ".mrun/policy.yml", "tier: 0\n");
    run(t, NULL);
    assert_null(find(t, "license-denied", "gpl-thing"));
    assert_non_null(find(t, "license-copyleft-strong", "gpl-thing@1.0.0"));
    assert_int_equal(mrun_findings_max_severity(t->f), MRUN_SEV_MEDIUM);

    put(t, ".mrun/policy.yml",
        "tier: 2\nlicenses:\n  unknown: fail\n  exceptions:\n"
        "    - {package: gpl-thing, reason: 'dual-licensed to us commercially, CONTRACT-7'}\n");
    run(t, NULL);
    assert_null(find(t, "license-denied", "gpl-thing"));
    assert_non_null(find(t, "license-unknown-denied", "mystery@0.1.0"));

    put(t, ".mrun/policy.yml", "licenses:\n  allow: [MIT]\n  unknown: allow\n");
    run(t, NULL);
    assert_non_null(find(t, "license-denied", "MPL-2.0 (mpl-thing@2.0.0) is not on the policy's allow list"));
    assert_null(find(t, "license-unchecked", "mystery"));

    put(t, "other/policy.yml", "tier: 0\n");
    run(t, "other/policy.yml");
    assert_non_null(find(t, "license-copyleft-strong", "gpl-thing@1.0.0"));

    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(run_at(t, t->fd, "missing.yml", NULL, &err), -1);
    assert_int_equal(err.sys_errno, ENOENT);
    put(t, ".mrun/policy.yml", "tier: 1\nlicenses:\n  deny: [GPL-3]\n");
    assert_int_equal(run_at(t, t->fd, NULL, NULL, &err), -1);
    if (!strstr(err.msg, ".mrun/policy.yml:3:10: 'GPL-3' is not an SPDX license id (did you mean 'GPL-3.0-only'?)"))
        fail_msg("%s", err.msg);
}

static void count_skip(void *ctx, const char *path, const char *reason)
{
    char *log = ctx;
    size_t used = strlen(log);
    snprintf(log + used, 1024 - used, "%s (%s)\n", path, reason);
}

/* pnpm: packages live in node_modules/.pnpm and are linked from node_modules/; the links are not followed (nor
 * reported), the store is read. A symlink elsewhere is reported as skipped. */
static void pnpm_layout_and_links(void **state)
{
    tree *t = *state;
    put(t, "LICENSE", "");
    put(t, "node_modules/.pnpm/gpl-lib@1.0.0/node_modules/gpl-lib/package.json",
        "{\"name\": \"gpl-lib\", \"version\": \"1.0.0\", \"license\": \"GPL-3.0-only\"}");
    put(t, "node_modules/.pnpm/mit-lib@2.0.0/node_modules/mit-lib/package.json",
        "{\"name\": \"mit-lib\", \"version\": \"2.0.0\", \"license\": \"MIT\"}");
    assert_int_equal(symlinkat("../../gpl-lib@1.0.0/node_modules/gpl-lib", t->fd,
                               "node_modules/.pnpm/mit-lib@2.0.0/node_modules/gpl-lib"),
                     0);
    assert_int_equal(symlinkat(".pnpm/gpl-lib@1.0.0/node_modules/gpl-lib", t->fd, "node_modules/gpl-lib"), 0);
    assert_int_equal(symlinkat("/usr/lib/node_modules/npm", t->fd, "node_modules/planted"), 0);
    char log[1024] = "";
    mrun_err err = MRUN_ERR_INIT;
    mrun_findings_free(t->f);
    assert_int_equal(mrun_findings_new(&t->f, &err), 0);
    mrun_check_opts o = {.baseline_dirfd = t->fd, .skip = count_skip, .skip_ctx = log};
    assert_int_equal(mrun_check_licenses(t->fd, &o, NULL, t->f, &t->st, &err), 0);
    const mrun_finding *x = find(t, "license-denied", "GPL-3.0-only (gpl-lib@1.0.0)");
    assert_non_null(x);
    assert_string_equal(x->path, "node_modules/.pnpm/gpl-lib@1.0.0/node_modules/gpl-lib/package.json");
    assert_int_equal(mrun_findings_count(t->f), 2); /* reported once, and the empty LICENSE */
    assert_string_equal(log, "node_modules/planted (symlink)\n");
    assert_int_equal(t->st.files_skipped, 1);
}

/* requirements.txt names packages without licenses: the installed dist-infos supply them (names compared as PEP 503
 * normalises them), and the rest are listed once as unchecked. */
static void lockfile_without_licenses(void **state)
{
    tree *t = *state;
    put(t, "LICENSE", "");
    put(t, "requirements.txt", "requests==2.31.0\nFlask_Cors==4.0.0\nnotinstalled==1.0\nalsonot==2.0\n");
    put(t, ".venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
        "Name: requests\nVersion: 2.31.0\nLicense: GPLv3\n");
    put(t, ".venv/lib/python3.11/site-packages/flask_cors-4.0.0.dist-info/METADATA",
        "Name: Flask-Cors\nVersion: 4.0.0\nLicense-Expression: MIT\n");
    run(t, NULL);
    const mrun_finding *x = find(t, "license-denied", "GPL-3.0-only (requests@2.31.0)");
    assert_non_null(x);
    assert_string_equal(x->path, "requirements.txt"); /* reported where it is declared */
    assert_int_equal(x->line, 1);
    assert_null(find(t, "license-denied", "Flask"));
    x = find(t, "license-unchecked", "2 in requirements.txt: notinstalled@1.0, alsonot@2.0");
    assert_non_null(x);
    assert_int_equal(x->rule->severity, MRUN_SEV_MEDIUM);
    assert_int_equal(mrun_findings_count(t->f), 3); /* and the empty LICENSE */
}

static void suppressions(void **state)
{
    tree *t = *state;
    put(t, "LICENSE", "");
    put(t, "vendor/a/Cargo.toml",
        "[package]\nname = \"a\"\nversion = \"1.0.0\"\n"
        "license = \"GPL-3.0-only\" # mrun:allow license-denied only used by the build script\n");
    put(t, "vendor/b/Cargo.toml", "[package]\nname = \"b\"\nversion = \"1.0.0\"\nlicense = \"AGPL-3.0-only\"\n");
    run(t, NULL);
    const mrun_finding *a = find(t, "license-denied", "(a@1.0.0)");
    assert_non_null(a);
    assert_true(a->suppressed);
    assert_string_equal(a->suppressed_by, "inline: only used by the build script");
    const mrun_finding *b = find(t, "license-denied", "(b@1.0.0)");
    assert_non_null(b);
    assert_false(b->suppressed);
    /* a baseline accepts b */
    char path[128];
    snprintf(path, sizeof(path), "%s/baseline.json", t->dir);
    FILE *out = fopen(path, "w");
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_write_baseline(t->f, out, &err), 0);
    fclose(out);
    assert_int_equal(run_at(t, t->fd, NULL, "baseline.json", &err), 0);
    assert_true(find(t, "license-denied", "(b@1.0.0)")->suppressed);
    assert_true(mrun_findings_max_severity(t->f) < MRUN_SEV_HIGH); /* the empty LICENSE: medium */
}

static void hostile_tree(void **state)
{
    tree *t = *state;
    put(t, "LICENSE", "");
    /* symlinks are never followed: a package dir, a package.json, a LICENSE, a policy */
    put(t, "outside/package.json", "{\"name\": \"outside\", \"version\": \"1.0.0\", \"license\": \"GPL-3.0-only\"}");
    char target[256], link[256];
    snprintf(target, sizeof(target), "%s/outside", t->dir);
    snprintf(link, sizeof(link), "%s/node_modules/linked", t->dir);
    put(t, "node_modules/real/package.json", "{\"name\": \"real\", \"version\": \"1.0.0\", \"license\": \"MIT\"}");
    assert_int_equal(symlink(target, link), 0);
    snprintf(target, sizeof(target), "%s/outside/package.json", t->dir);
    snprintf(link, sizeof(link), "%s/node_modules/half/package.json", t->dir);
    put(t, "node_modules/half/index.js", "");
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(symlinkat("/etc/passwd", t->fd, ".mrun-policy-link"), 0);
    /* malformed metadata is skipped, not fatal */
    put(t, "node_modules/broken/package.json", "{\"name\": \"broken\", \"license\": ");
    put(t, "node_modules/notobj/package.json", "[1, 2, 3]");
    put(t, "node_modules/weird-types/package.json", "{\"name\": 7, \"license\": {\"type\": [\"x\"]}}");
    put(t, "site-packages/x.dist-info/METADATA", "\n\n\nName: not-a-header\n");
    put(t, "site-packages/y.dist-info/METADATA", "Name: y\nClassifier: License :: \nLicense:\n");
    put(t, "vendor/bad/Cargo.toml", "[package\nname = ");
    run(t, NULL);
    assert_null(find(t, "license-denied", "outside"));
    for (size_t i = 0; i < mrun_findings_count(t->f); i++)
        assert_null(strstr(mrun_findings_at(t->f, i)->path, "outside"));
    assert_non_null(find(t, "license-unknown", "no license declared (y)"));
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(run_at(t, t->fd, ".mrun-policy-link", NULL, &err), -1); /* a symlinked policy is refused */
    assert_int_equal(mkdirat(t->fd, ".mrun", 0755), 0);
    assert_int_equal(symlinkat("/etc/passwd", t->fd, ".mrun/policy.yml"), 0);
    assert_int_equal(run_at(t, t->fd, NULL, NULL, &err), -1); /* also the default one: no quiet fallback */
    assert_non_null(strstr(err.msg, "symlinks are not followed"));
    assert_int_equal(unlinkat(t->fd, ".mrun/policy.yml", 0), 0);

    /* deep nesting is refused, not skipped silently */
    char deep[4096] = "node_modules";
    size_t used = strlen(deep);
    for (int i = 0; i < 30; i++)
        used += (size_t)snprintf(deep + used, sizeof(deep) - used, "/a/node_modules");
    snprintf(deep + used, sizeof(deep) - used, "/x/package.json");
    put(t, deep, "{}");
    assert_int_equal(run_at(t, t->fd, NULL, NULL, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
}

typedef struct logbuf {
    char text[8192];
    size_t len;
} logbuf;

static void log_fn(void *ctx, int stream, const char *data, size_t len)
{
    logbuf *l = ctx;
    (void)stream;
    size_t n = len < sizeof(l->text) - 1 - l->len ? len : sizeof(l->text) - 1 - l->len;
    memcpy(l->text + l->len, data, n);
    l->len += n;
    l->text[l->len] = '\0';
}

/* `uses: license-check` blocks the sample app with a GPL dependency and tells the author how to fix it. */
static void stage_blocks_gpl_app(void **state)
{
    tree *t = *state;
    put(t, "package-lock.json", lock);
    put(t, "LICENSE", "");
    const mrun_stage_def *def = mrun_stages_find("license-check");
    assert_non_null(def);
    mrun_stage_opt with[] = {{"sarif", "out/licenses.sarif"}, {"fail-on", "high"}};
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_stages_check_options(def, with, 2, &err), 0);
    mrun_stage_opt bad[] = {{"polcy", "x"}};
    assert_int_equal(mrun_stages_check_options(def, bad, 1, &err), -1);
    assert_non_null(strstr(err.msg, "did you mean 'policy'?"));
    logbuf l = {.len = 0};
    mrun_stage_ctx ctx = {.workspace_fd = t->fd, .with = with, .n_with = 2, .log = log_fn, .log_ctx = &l};
    assert_int_equal(def->run(&ctx, &err), 1);
    assert_non_null(strstr(l.text, "package-lock.json:3:3: high license-denied"));
    assert_non_null(strstr(l.text, "GPL-3.0-only (gpl-thing@1.0.0) is denied for tier 1 apps (strong copyleft)"));
    assert_non_null(strstr(l.text, "record an exception (package, reason) under licenses.exceptions"));
    struct stat st;
    assert_int_equal(fstatat(t->fd, "out/licenses.sarif", &st, 0), 0);
    assert_true(st.st_size > 500);
    /* tier 0 warns only: the stage passes */
    put(t, ".mrun/policy.yml", "tier: 0\n");
    l.len = 0;
    ctx.n_with = 0;
    assert_int_equal(def->run(&ctx, &err), 0);
    assert_non_null(strstr(l.text, "license-copyleft-strong"));
    /* a broken policy stops the stage with the file's line and column */
    put(t, "p.yml", "tier: 1\nlicenses:\n  unkown: fail\n");
    mrun_stage_opt pol[] = {{"policy", "p.yml"}};
    ctx.with = pol;
    ctx.n_with = 1;
    assert_int_equal(def->run(&ctx, &err), -1);
    assert_non_null(strstr(err.msg, "p.yml:3:3: unknown key 'unkown' in licenses (did you mean 'unknown'?)"));
}

/* A typical micro app: a lockfile with 400 packages, all of them installed. */
static void many_dependencies(void **state)
{
    tree *t = *state;
    enum { N = 400 };
    size_t cap = N * 200 + 256, used = 0;
    char *lockbuf = malloc(cap);
    used += (size_t)snprintf(lockbuf + used, cap - used,
                             "{\"name\": \"big\", \"lockfileVersion\": 3, \"packages\": {\"\": {\"name\": \"big\"}");
    for (int i = 0; i < N; i++) {
        const char *lic = i % 50 == 7 ? "GPL-3.0-only" : i % 3 ? "MIT" : "(MIT OR Apache-2.0)";
        used +=
            (size_t)snprintf(lockbuf + used, cap - used,
                             ",\n  \"node_modules/pkg%d\": {\"version\": \"1.%d.0\", \"license\": \"%s\"}", i, i, lic);
        char rel[128], pj[256];
        snprintf(rel, sizeof(rel), "node_modules/pkg%d/package.json", i);
        snprintf(pj, sizeof(pj), "{\"name\": \"pkg%d\", \"version\": \"1.%d.0\", \"license\": \"%s\"}", i, i, lic);
        put(t, rel, pj);
        snprintf(rel, sizeof(rel), "node_modules/pkg%d/LICENSE", i);
        put(t, rel, "MIT License\n");
    }
    snprintf(lockbuf + used, cap - used, "\n}}\n");
    put(t, "package-lock.json", lockbuf);
    free(lockbuf);
    put(t, "LICENSE", "");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    run(t, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    print_message("license check over %d packages (lockfile + node_modules): %.1f ms\n", N, ms);
    size_t denied = 0;
    for (size_t i = 0; i < mrun_findings_count(t->f); i++)
        denied += strcmp(mrun_findings_at(t->f, i)->rule->id, "license-denied") == 0;
    assert_int_equal(denied, 8); /* reported once each, at the lockfile, though installed too */
    assert_true(ms < 3000);      /* generous for ASan; see docs/checks.md for the release-build figure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spdx_valid),
        cmocka_unit_test(spdx_invalid),
        cmocka_unit_test(declared_spellings),
        cmocka_unit_test(leaf_categories),
        cmocka_unit_test(texts_identified),
        cmocka_unit_test(policy_parse),
        cmocka_unit_test(policy_errors),
        cmocka_unit_test(policy_verdicts),
        cmocka_unit_test_setup_teardown(app_with_gpl_dependency, setup, teardown),
        cmocka_unit_test_setup_teardown(app_node_modules, setup, teardown),
        cmocka_unit_test_setup_teardown(app_python, setup, teardown),
        cmocka_unit_test_setup_teardown(app_rust_and_go, setup, teardown),
        cmocka_unit_test_setup_teardown(policy_tiers_and_exceptions, setup, teardown),
        cmocka_unit_test_setup_teardown(lockfile_without_licenses, setup, teardown),
        cmocka_unit_test_setup_teardown(pnpm_layout_and_links, setup, teardown),
        cmocka_unit_test_setup_teardown(suppressions, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(stage_blocks_gpl_app, setup, teardown),
        cmocka_unit_test_setup_teardown(many_dependencies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
