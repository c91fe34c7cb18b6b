/* test_exec.c - a stage's steps in real sandboxes over one workspace: order and shared files, failure stops the
 * stage, continue-on-error, secrets masked even when printed in pieces, stage timeout, cancel, and a `uses:`
 * built-in. Needs user namespaces (exit 77 without). */
#include <errno.h>
#include <pthread.h>
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

#include "runner/exec.h"

typedef struct logbuf {
    char text[1 << 16];
    size_t n;
    size_t by_stream[4];
} logbuf;

static void collect(void *ctx, int stream, const char *data, size_t len)
{
    logbuf *b = ctx;
    if (b->n + len >= sizeof(b->text))
        len = sizeof(b->text) - 1 - b->n;
    memcpy(b->text + b->n, data, len);
    b->n += len;
    b->text[b->n] = '\0';
    if (stream >= 1 && stream <= 3)
        b->by_stream[stream] += len;
}

static char ws[64];
static mrun_sandbox_opts limits;

static int setup(void **state)
{
    (void)state;
    snprintf(ws, sizeof(ws), "/tmp/mrun-exec.XXXXXX");
    if (!mkdtemp(ws))
        return -1;
    mrun_sandbox_opts_init(&limits);
    limits.mem_bytes = 256ll << 20;
    limits.timeout_ms = 30000;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "%s", ws);
    /* the workspace holds only what the tests wrote */
    const char *const files[] = {"a.txt", "b.txt", NULL};
    for (int i = 0; files[i]; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", ws, files[i]);
        unlink(p);
    }
    rmdir(ws);
    return 0;
}

static int run(const mrun_exec_step *steps, size_t n, const char *const *env, size_t n_env,
               const char *const *secrets, size_t n_secrets, const volatile int *cancel, logbuf *log,
               mrun_exec_result *res)
{
    mrun_exec_stage st = {.workspace = ws, .steps = steps, .n_steps = n, .env = env, .n_env = n_env,
                          .secret_values = secrets, .n_secret_values = n_secrets, .limits = &limits};
    memset(log, 0, sizeof(*log));
    mrun_err err = MRUN_ERR_INIT;
    int r = mrun_exec_stage_run(&st, collect, log, cancel, res, &err);
    if (r < 0)
        fail_msg("exec: %s", err.msg);
    return r;
}

static void test_steps_share_the_workspace(void **state)
{
    (void)state;
    mrun_exec_step steps[] = {
        {.name = "write", .run = "echo hello > a.txt; echo to-stderr >&2"},
        {.name = "read", .run = "cat a.txt; test \"$(cat a.txt)\" = hello"},
    };
    logbuf log;
    mrun_exec_result res;
    run(steps, 2, NULL, 0, NULL, 0, NULL, &log, &res);
    assert_true(res.passed);
    assert_int_equal(res.failed_step, -1);
    assert_non_null(strstr(log.text, "==> step 1/2: write"));
    assert_non_null(strstr(log.text, "==> step 2/2: read"));
    assert_non_null(strstr(log.text, "hello\n"));
    assert_true(log.by_stream[MRUN_EXEC_STDERR] >= strlen("to-stderr\n"));
    struct stat sb;
    char p[128];
    snprintf(p, sizeof(p), "%s/a.txt", ws);
    assert_int_equal(stat(p, &sb), 0); /* the workspace keeps what the steps wrote */
}

static void test_failure_stops_and_continue_on_error(void **state)
{
    (void)state;
    mrun_exec_step steps[] = {
        {.name = "soft", .run = "exit 4", .continue_on_error = true},
        {.name = "hard", .run = "false; echo not-reached"},
        {.name = "never", .run = "echo never-runs > b.txt"},
    };
    logbuf log;
    mrun_exec_result res;
    run(steps, 3, NULL, 0, NULL, 0, NULL, &log, &res);
    assert_false(res.passed);
    assert_int_equal(res.failed_step, 1);
    assert_int_equal(res.exit_code, 1);
    assert_non_null(strstr(log.text, "continue-on-error"));
    assert_null(strstr(log.text, "not-reached")); /* sh -e */
    assert_null(strstr(log.text, "==> step 3/3"));
    char p[128];
    snprintf(p, sizeof(p), "%s/b.txt", ws);
    assert_int_equal(access(p, F_OK), -1);
}

static void test_secrets_masked_even_in_pieces(void **state)
{
    (void)state;
    const char *const env[] = {"API_TOKEN=sk-live-1234567890abcdef", "PLAIN=visible"};
    const char *const secrets[] = {"sk-live-1234567890abcdef"};
    mrun_exec_step steps[] = {
        {.name = "leak", .run = "echo \"$API_TOKEN\"; printf 'sk-live-'; sleep 0.2; printf '1234567890abcdef\\n'; "
                                "echo \"$PLAIN\"; echo \"$API_TOKEN\" >&2"},
    };
    logbuf log;
    mrun_exec_result res;
    run(steps, 1, env, 2, secrets, 1, NULL, &log, &res);
    assert_true(res.passed);
    assert_null(strstr(log.text, "sk-live-1234567890abcdef"));
    assert_null(strstr(log.text, "1234567890abcdef"));
    assert_non_null(strstr(log.text, "***"));
    assert_non_null(strstr(log.text, "visible"));
}

static void test_stage_timeout(void **state)
{
    (void)state;
    mrun_sandbox_opts saved = limits;
    limits.timeout_ms = 1000;
    mrun_exec_step steps[] = {{.name = "quick", .run = "true"}, {.name = "slow", .run = "sleep 30"}};
    logbuf log;
    mrun_exec_result res;
    run(steps, 2, NULL, 0, NULL, 0, NULL, &log, &res);
    limits = saved;
    assert_false(res.passed);
    assert_true(res.timed_out);
    assert_int_equal(res.failed_step, 1);
    assert_true(res.wall_ms < 5000);
}

static volatile int cancel_flag;

static void *cancel_later(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    cancel_flag = 1;
    return NULL;
}

static void test_cancel_within_two_seconds(void **state)
{
    (void)state;
    cancel_flag = 0;
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, NULL);
    mrun_exec_step steps[] = {{.name = "long", .run = "sleep 60"}, {.name = "after", .run = "true"}};
    logbuf log;
    mrun_exec_result res;
    run(steps, 2, NULL, 0, NULL, 0, &cancel_flag, &log, &res);
    pthread_join(t, NULL);
    assert_true(res.cancelled);
    assert_false(res.passed);
    assert_true(res.wall_ms < 2000);
    assert_null(strstr(log.text, "==> step 2/2"));
}

static void test_uses_builtin(void **state)
{
    (void)state;
    const char *const keys[] = {"paths"};
    const char *const present[] = {"a.txt"};
    const char *const missing[] = {"a.txt nope.txt"};
    mrun_exec_step ok[] = {{.name = "mk", .run = "echo x > a.txt"},
                           {.name = "req", .uses = "require-files", .with_keys = keys, .with_values = present,
                            .n_with = 1}};
    logbuf log;
    mrun_exec_result res;
    run(ok, 2, NULL, 0, NULL, 0, NULL, &log, &res);
    assert_true(res.passed);
    mrun_exec_step bad[] = {{.name = "req", .uses = "require-files", .with_keys = keys, .with_values = missing,
                             .n_with = 1}};
    run(bad, 1, NULL, 0, NULL, 0, NULL, &log, &res);
    assert_false(res.passed);
    assert_non_null(strstr(log.text, "MISSING"));
    assert_non_null(strstr(log.text, "nope.txt"));
    const char *const typo_keys[] = {"path"};
    mrun_exec_step typo[] = {{.name = "req", .uses = "require-files", .with_keys = typo_keys, .with_values = present,
                              .n_with = 1}};
    run(typo, 1, NULL, 0, NULL, 0, NULL, &log, &res);
    assert_false(res.passed);
    assert_non_null(strstr(log.text, "did you mean 'paths'"));
}

int main(void)
{
    if (access("/proc/self/ns/user", F_OK) != 0)
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_share_the_workspace),
        cmocka_unit_test(test_failure_stops_and_continue_on_error),
        cmocka_unit_test(test_secrets_masked_even_in_pieces),
        cmocka_unit_test(test_stage_timeout),
        cmocka_unit_test(test_cancel_within_two_seconds),
        cmocka_unit_test(test_uses_builtin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
