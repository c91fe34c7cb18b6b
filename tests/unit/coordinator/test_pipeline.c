/* test_pipeline.c - pipeline.yml parsing: the full example, every validation message with its position,
 * needs cycles, defaults merging, topological order, and the hostile-input bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/auto.h"
#include "coordinator/pipeline.h"

static const char *const uses[] = {"preview", "secret-scan", "license-check", "llm-lint", "test-presence",
                                   "coverage-gate", "sbom", "echo", NULL};

static const char example[] = "name: sales-discount\n"
                              "tier: 1\n"
                              "env: {APP_ENV: ci}\n"
                              "defaults:\n"
                              "  limits: {memory: 512M, pids: 256, cpus: 1, timeout: 10m}\n"
                              "stages:\n"
                              "  preflight:\n"
                              "    steps:\n"
                              "      - run: ./scripts/lint.sh\n"
                              "  test:\n"
                              "    needs: [preflight]\n"
                              "    runs-on: [linux]\n"
                              "    retry: 1\n"
                              "    limits: {memory: 1G}\n"
                              "    secrets: [PYPI_TOKEN]\n"
                              "    steps:\n"
                              "      - name: unit tests\n"
                              "        run: python3 -m pytest -q\n"
                              "        continue-on-error: false\n"
                              "    artifacts: [dist/, reports/junit.xml]\n"
                              "  deploy-preview:\n"
                              "    needs: [test]\n"
                              "    if: event == 'pull_request'\n"
                              "    steps:\n"
                              "      - uses: preview\n"
                              "        with: {port: 8080, ttl: 2h}\n";

static int parse_lim(const char *yaml, size_t len, const mrun_pipeline_limits *lim, mrun_pipeline **ret, mrun_err *e)
{
    return mrun_pipeline_parse("p.yml", (const uint8_t *)yaml, len, lim, uses, ret, e);
}

static mrun_pipeline *parse_ok(const char *yaml)
{
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    mrun_pipeline *pl = NULL;
    mrun_err e = MRUN_ERR_INIT;
    if (parse_lim(yaml, strlen(yaml), &lim, &pl, &e) < 0)
        fail_msg("rejected: %s", e.msg);
    return pl;
}

/* Asserts the parse fails with a message starting with prefix and containing word (if given). */
static void expect_err_lim(const char *yaml, size_t len, const mrun_pipeline_limits *lim, int sys_errno,
                           const char *prefix, const char *word)
{
    mrun_pipeline *pl = (mrun_pipeline *)0x1;
    mrun_err e = MRUN_ERR_INIT;
    if (parse_lim(yaml, len, lim, &pl, &e) == 0)
        fail_msg("accepted, expected '%s'", prefix);
    assert_ptr_equal(pl, (mrun_pipeline *)0x1); /* ret_ untouched on failure */
    if (strncmp(e.msg, prefix, strlen(prefix)) != 0)
        fail_msg("got '%s', expected prefix '%s'", e.msg, prefix);
    if (word && !strstr(e.msg, word))
        fail_msg("got '%s', expected it to mention '%s'", e.msg, word);
    assert_int_equal(e.sys_errno, sys_errno);
}

static void expect_err(const char *yaml, const char *prefix, const char *word)
{
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    expect_err_lim(yaml, strlen(yaml), &lim, EINVAL, prefix, word);
}

static void test_example(void **state)
{
    (void)state;
    mrun_cleanup(mrun_pipeline_freep) mrun_pipeline *pl = parse_ok(example);
    assert_string_equal(mrun_pipeline_name(pl), "sales-discount");
    assert_int_equal(mrun_pipeline_tier(pl), 1);
    size_t n = 0;
    const mrun_pipeline_kv *env = mrun_pipeline_env(pl, &n);
    assert_int_equal(n, 1);
    assert_string_equal(env[0].key, "APP_ENV");
    assert_string_equal(env[0].value, "ci");
    const mrun_pipeline_res *d = mrun_pipeline_defaults(pl);
    assert_true(d->memory_set && d->pids_set && d->cpus_set && d->timeout_set);
    assert_int_equal(d->memory_bytes, 512 << 20);
    assert_int_equal(d->pids, 256);
    assert_int_equal(d->cpus_milli, 1000);
    assert_int_equal(d->timeout_ms, 600000);

    assert_int_equal(mrun_pipeline_stage_count(pl), 3);
    const mrun_pipeline_stage *pre = mrun_pipeline_stage_at(pl, 0);
    assert_string_equal(pre->name, "preflight");
    assert_int_equal(pre->n_needs, 0);
    assert_int_equal(pre->n_runs_on, 0);
    assert_int_equal(pre->retry, 0);
    assert_int_equal(pre->limits.memory_bytes, 512 << 20);
    assert_int_equal(pre->n_steps, 1);
    assert_string_equal(pre->steps[0].run, "./scripts/lint.sh");
    assert_null(pre->steps[0].uses);
    assert_string_equal(pre->steps[0].name, "./scripts/lint.sh");
    assert_int_equal(pre->steps[0].line, 9);
    assert_int_equal(pre->steps[0].col, 9);
    assert_null(pre->if_text);
    assert_int_equal(pre->line, 7);
    assert_int_equal(pre->col, 3);

    const mrun_pipeline_stage *t = mrun_pipeline_stage_at(pl, 1);
    assert_string_equal(t->name, "test");
    assert_int_equal(t->n_needs, 1);
    assert_int_equal(t->needs[0], 0);
    assert_int_equal(t->n_runs_on, 1);
    assert_string_equal(t->runs_on[0], "linux");
    assert_int_equal(t->retry, 1);
    assert_true(t->limits.memory_set && t->limits.pids_set && t->limits.cpus_set && t->limits.timeout_set);
    assert_int_equal(t->limits.memory_bytes, 1 << 30);
    assert_int_equal(t->limits.pids, 256);
    assert_int_equal(t->limits.cpus_milli, 1000);
    assert_int_equal(t->limits.timeout_ms, 600000);
    assert_int_equal(t->n_secrets, 1);
    assert_string_equal(t->secrets[0], "PYPI_TOKEN");
    assert_int_equal(t->n_env, 0);
    assert_int_equal(t->n_steps, 1);
    assert_string_equal(t->steps[0].name, "unit tests");
    assert_string_equal(t->steps[0].run, "python3 -m pytest -q");
    assert_false(t->steps[0].continue_on_error);
    assert_int_equal(t->n_artifacts, 2);
    assert_string_equal(t->artifacts[0], "dist/");
    assert_string_equal(t->artifacts[1], "reports/junit.xml");

    const mrun_pipeline_stage *dp = mrun_pipeline_stage_at(pl, 2);
    assert_string_equal(dp->name, "deploy-preview");
    assert_int_equal(dp->n_needs, 1);
    assert_int_equal(dp->needs[0], 1);
    assert_string_equal(dp->if_text, "event == 'pull_request'");
    assert_int_equal(dp->if_line, 23);
    assert_int_equal(dp->if_col, 9);
    assert_null(dp->steps[0].run);
    assert_string_equal(dp->steps[0].uses, "preview");
    assert_int_equal(dp->steps[0].n_with, 2);
    assert_string_equal(dp->steps[0].with[0].key, "port");
    assert_string_equal(dp->steps[0].with[0].value, "8080");
    assert_string_equal(dp->steps[0].with[1].key, "ttl");
    assert_string_equal(dp->steps[0].with[1].value, "2h");
    assert_int_equal(mrun_pipeline_stage_find(pl, "test"), 1);
    assert_int_equal(mrun_pipeline_stage_find(pl, "nope"), -1);
}

static void test_topological_order_is_stable(void **state)
{
    (void)state;
    mrun_cleanup(mrun_pipeline_freep) mrun_pipeline *pl = parse_ok("stages:\n"
                                                                   "  deploy: {needs: [build, lint], steps: [{run: d}]}\n"
                                                                   "  build: {needs: [fetch], steps: [{run: b}]}\n"
                                                                   "  lint: {steps: [{run: l}]}\n"
                                                                   "  fetch: {steps: [{run: f}]}\n");
    const char *want[] = {"lint", "fetch", "build", "deploy"};
    assert_int_equal(mrun_pipeline_stage_count(pl), 4);
    for (size_t i = 0; i < 4; i++) {
        const mrun_pipeline_stage *s = mrun_pipeline_stage_at(pl, i);
        assert_string_equal(s->name, want[i]);
        for (size_t j = 0; j < s->n_needs; j++)
            assert_true(s->needs[j] < i);
    }
    const mrun_pipeline_stage *d = mrun_pipeline_stage_at(pl, 3);
    assert_int_equal(d->needs[0], 2); /* build, in the order written */
    assert_int_equal(d->needs[1], 0); /* lint */
    assert_string_equal(mrun_pipeline_name(pl), "p.yml"); /* no 'name' key */
    assert_int_equal(mrun_pipeline_tier(pl), 0);
}

static void test_defaults_merge(void **state)
{
    (void)state;
    /* stages before defaults in the file: defaults still apply */
    mrun_cleanup(mrun_pipeline_freep) mrun_pipeline *pl = parse_ok("stages:\n"
                                                                   "  a: {limits: {cpus: 0.5, pids: 10}, steps: [{run: x}]}\n"
                                                                   "  b: {steps: [{run: x}], env: {X: '1'}}\n"
                                                                   "defaults: {limits: {memory: 1G, cpus: 2}}\n");
    const mrun_pipeline_stage *a = mrun_pipeline_stage_at(pl, 0), *b = mrun_pipeline_stage_at(pl, 1);
    assert_true(a->limits.memory_set && a->limits.cpus_set && a->limits.pids_set);
    assert_false(a->limits.timeout_set);
    assert_int_equal(a->limits.memory_bytes, 1 << 30);
    assert_int_equal(a->limits.cpus_milli, 500);
    assert_int_equal(a->limits.pids, 10);
    assert_true(b->limits.memory_set && b->limits.cpus_set);
    assert_false(b->limits.pids_set || b->limits.timeout_set);
    assert_int_equal(b->limits.cpus_milli, 2000);
    assert_int_equal(b->n_env, 1);
    assert_string_equal(b->env[0].value, "1");
    const mrun_pipeline_res *d = mrun_pipeline_defaults(pl);
    assert_false(d->pids_set);
}

static void test_cycles(void **state)
{
    (void)state;
    expect_err("stages:\n"
               "  a: {needs: [c], steps: [{run: x}]}\n"
               "  b: {needs: [a], steps: [{run: x}]}\n"
               "  c: {needs: [b], steps: [{run: x}]}\n",
               "p.yml:3:15: cycle in needs: a -> c -> b -> a", NULL);
    expect_err("stages:\n  a: {needs: [a], steps: [{run: x}]}\n", "p.yml:2:15: cycle in needs: a -> a", NULL);
    expect_err("stages:\n"
               "  ok: {steps: [{run: x}]}\n"
               "  x: {needs: [ok, y], steps: [{run: x}]}\n"
               "  y: {needs: [x], steps: [{run: x}]}\n",
               "p.yml:4:15: cycle in needs: x -> y -> x", NULL);
}

struct bad {
    const char *yaml;
    const char *prefix;
    const char *word;
};

static void test_malformed(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"", "p.yml:1:1: empty file", NULL},
        {"# only a comment\n", "p.yml:1:1: empty file", NULL},
        {"- a\n- b\n", "p.yml:1:1: top level must be a mapping", NULL},
        {"name: x\n", "p.yml:1:1: missing 'stages'", NULL},
        {"stages:\n  test:\n    need: [a]\n", "p.yml:3:5: unknown key 'need' in stage 'test' (did you mean 'needs'?)", NULL},
        {"stage:\n  a: {}\n", "p.yml:1:1: unknown key 'stage' at top level (did you mean 'stages'?)", NULL},
        {"stages:\n  a:\n    retry: 11\n    steps: [{run: x}]\n", "p.yml:3:12: 'retry' must be an integer 0-10", NULL},
        {"stages:\n  a:\n    retry: [1]\n    steps: [{run: x}]\n", "p.yml:3:12: 'retry' must be an integer 0-10", NULL},
        {"tier: 4\nstages: {a: {steps: [{run: x}]}}\n", "p.yml:1:7: 'tier' must be an integer 0-3", NULL},
        {"stages:\n  a:\n    limits: {memory: 12X}\n    steps: [{run: x}]\n", "p.yml:3:22: 'memory' must be a size", "512M"},
        {"stages:\n  a:\n    limits: {timeout: soon}\n    steps: [{run: x}]\n", "p.yml:3:23: 'timeout' must be a duration",
         "10m"},
        {"stages:\n  a:\n    limits: {cpus: -1}\n    steps: [{run: x}]\n", "p.yml:3:20: 'cpus' must be a number", NULL},
        {"stages:\n  a:\n    limits: {mem: 1G}\n    steps: [{run: x}]\n",
         "p.yml:3:14: unknown key 'mem' in 'limits' in stage 'a' (did you mean 'memory'?)", NULL},
        {"stages:\n  Build:\n    steps: [{run: x}]\n", "p.yml:2:3: bad stage name 'Build'", "[a-z0-9][a-z0-9_-]*"},
        {"stages:\n  a:\n    needs: [tset]\n    steps: [{run: x}]\n  test: {steps: [{run: x}]}\n",
         "p.yml:3:13: unknown stage 'tset' in needs of stage 'a' (did you mean 'test'?)", NULL},
        {"stages:\n  a:\n    steps:\n      - uses: previw\n",
         "p.yml:4:15: unknown uses 'previw' in step 1 of stage 'a' (did you mean 'preview'?)", NULL},
        {"stages:\n  a:\n    steps:\n      - {run: x, uses: echo}\n", "p.yml:4:9: step 1 of stage 'a' has both 'run' and 'uses'",
         NULL},
        {"stages:\n  a:\n    steps:\n      - name: n\n", "p.yml:4:9: step 1 of stage 'a' has neither 'run' nor 'uses'", NULL},
        {"stages:\n  a:\n    retry: 1\n    retry: 2\n    steps: [{run: x}]\n", "p.yml:4:5: duplicate key 'retry' in stage 'a'",
         NULL},
        {"stages:\n  a: {steps: [{run: x}]}\n  a: {steps: [{run: y}]}\n", "p.yml:3:3: duplicate stage 'a'", "line 2"},
        {"stages:\n  a:\n    secrets: [pypi_token]\n    steps: [{run: x}]\n", "p.yml:3:15: 'secrets' must be a list of secret names",
         NULL},
        {"stages:\n  a:\n    artifacts: [../etc/passwd]\n    steps: [{run: x}]\n",
         "p.yml:3:17: 'artifacts' must be a list of relative paths without '..'", NULL},
        {"stages:\n  a:\n    artifacts: [/abs]\n    steps: [{run: x}]\n", "p.yml:3:17: 'artifacts' must be a list", NULL},
        {"stages:\n  a:\n    artifacts: [.mrun/attestations/a.sigstore.json]\n    steps: [{run: x}]\n",
         "p.yml:3:17: 'artifacts' must be a list of relative paths without '..', outside .mrun/", NULL},
        {"stages:\n  a:\n    steps: []\n", "p.yml:3:12: 'steps' of stage 'a' must be a non-empty list", NULL},
        {"stages:\n  a:\n    needs: [b]\n", "p.yml:2:3: stage 'a' has no 'steps'", NULL},
        {"stages:\n  a:\n    steps:\n      - run: x\n        continue-on-error: maybe\n",
         "p.yml:5:28: 'continue-on-error' must be true or false", NULL},
        {"stages:\n  a:\n    steps: [{run: x, with: {a: b}}]\n", "p.yml:3:22: 'with' needs 'uses'", NULL},
        {"stages:\n  a:\n    if: ''\n    steps: [{run: x}]\n", "p.yml:3:9: 'if' must not be empty", NULL},
        {"stages:\n  a: [1]\n", "p.yml:2:6: stage 'a' must be a mapping", NULL},
        {"stages: {a: {steps: [{run: x}]}}\n---\nx: 1\n", "p.yml:2:1: only one YAML document", NULL},
        {"stages:\n  a: {steps: [{run: x}]\n", "p.yml:3:1: YAML syntax error", NULL},
        {"env: {1X: y}\nstages: {a: {steps: [{run: x}]}}\n", "p.yml:1:7: bad name '1X' in 'env'", NULL},
        {"stages:\n  ? [a]\n  : x\n", "p.yml:2:5: mapping keys must be plain strings", NULL},
        {"stages: !!map {a: {steps: [{run: x}]}}\n", "p.yml:1:9: tags (tag:yaml.org,2002:map) are not allowed", NULL},
        {"x: \"a\\0b\"\n", "p.yml:1:4: NUL character in string", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_err(cases[i].yaml, cases[i].prefix, cases[i].word);
}

static void test_encoding(void **state)
{
    (void)state;
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    static const char nul[] = "stages:\n  a\0: {}\n";
    expect_err_lim(nul, sizeof(nul) - 1, &lim, EINVAL, "p.yml:2:4: NUL byte in input", NULL);
    expect_err("name: caf\xe9\n", "p.yml:1:10: truncated UTF-8", NULL);
    expect_err("name: \xc0\xaf\n", "p.yml:1:7: invalid UTF-8 byte 0xc0", NULL);
    expect_err("name: \xed\xa0\x80x\n", "p.yml:1:7: invalid UTF-8 sequence (overlong, surrogate", NULL);
    expect_err("\xff\xfe" "a\0", "p.yml:1:1: invalid UTF-8 byte 0xff", NULL);
    /* valid multi-byte text is fine, and columns count characters */
    mrun_cleanup(mrun_pipeline_freep) mrun_pipeline *pl = parse_ok("name: \"caf\xc3\xa9 \xf0\x9f\x9a\x80\"\n"
                                                                   "stages: {a: {steps: [{run: x}]}}\n");
    assert_string_equal(mrun_pipeline_name(pl), "caf\xc3\xa9 \xf0\x9f\x9a\x80");
    expect_err("name: \xc3\xa9\xc3\xa9\nstages: {a: {retry: x, steps: [{run: x}]}}\n", "p.yml:2:21: 'retry'", NULL);
}

static void test_billion_laughs(void **state)
{
    (void)state;
    static const char laughs[] = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                                 "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                                 "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                                 "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                                 "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                                 "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                                 "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                                 "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                                 "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    expect_err(laughs, "p.yml:1:4: anchors (&a) are not allowed", NULL);
    expect_err("a: *x\n", "p.yml:1:4: aliases (*x) are not allowed", NULL);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 10000;
    mrun_autofree char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    expect_err_lim(s, strlen(s), &lim, E2BIG, "p.yml:1:33: nesting deeper than 32 levels", NULL);
    /* within the limit the structure is fine, and the error is about meaning, not depth */
    expect_err("stages: {a: {steps: [{run: x, with: {k: [[[[1]]]]}}]}}\n", "p.yml:1:31: 'with' needs 'uses'", NULL);
}

static void test_size_bounds(void **state)
{
    (void)state;
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    lim.max_bytes = 64;
    char big[200];
    memset(big, '#', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_err_lim(big, strlen(big), &lim, E2BIG, "p.yml:1:1: file is 199 bytes, larger than the limit of 64", NULL);

    lim = (mrun_pipeline_limits)MRUN_PIPELINE_LIMITS_DEFAULT;
    lim.max_string = 8;
    const char *longs = "stages: {a: {steps: [{run: 123456789}]}}\n";
    expect_err_lim(longs, strlen(longs), &lim, E2BIG, "p.yml:1:28: string of 9 bytes is longer than the limit of 8", NULL);

    lim = (mrun_pipeline_limits)MRUN_PIPELINE_LIMITS_DEFAULT;
    lim.max_stages = 2;
    const char *three = "stages: {a: {steps: [{run: x}]}, b: {steps: [{run: x}]}, c: {steps: [{run: x}]}}\n";
    expect_err_lim(three, strlen(three), &lim, E2BIG, "p.yml:1:9: 3 stages, more than the limit of 2", NULL);

    lim = (mrun_pipeline_limits)MRUN_PIPELINE_LIMITS_DEFAULT;
    lim.max_steps = 1;
    const char *two = "stages: {a: {steps: [{run: x}, {run: y}]}}\n";
    expect_err_lim(two, strlen(two), &lim, E2BIG, "p.yml:1:21: stage 'a' has 2 steps, more than the limit of 1", NULL);

    lim = (mrun_pipeline_limits)MRUN_PIPELINE_LIMITS_DEFAULT;
    lim.max_events = 10;
    expect_err_lim(two, strlen(two), &lim, E2BIG, "p.yml:", "more than 10 YAML events");

    lim = (mrun_pipeline_limits)MRUN_PIPELINE_LIMITS_DEFAULT;
    lim.max_items = 2;
    const char *items = "stages: {a: {runs-on: [x, y, z], steps: [{run: x}]}}\n";
    expect_err_lim(items, strlen(items), &lim, E2BIG, "p.yml:1:30: more than 2 entries in one list", NULL);

    /* the default limits: 257 stages is one too many */
    size_t cap = 300 * 40;
    mrun_autofree char *many = malloc(cap);
    assert_non_null(many);
    size_t off = (size_t)snprintf(many, cap, "stages:\n");
    for (int i = 0; i < 257; i++)
        off += (size_t)snprintf(many + off, cap - off, "  s%d: {steps: [{run: x}]}\n", i);
    lim = (mrun_pipeline_limits)MRUN_PIPELINE_LIMITS_DEFAULT;
    expect_err_lim(many, strlen(many), &lim, E2BIG, "p.yml:2:3: 257 stages, more than the limit of 256", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),       cmocka_unit_test(test_topological_order_is_stable),
        cmocka_unit_test(test_defaults_merge), cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_malformed),     cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_billion_laughs), cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_size_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
