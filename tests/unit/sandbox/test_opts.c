/* test_opts.c - sandbox options: defaults, mount specs, environment, checks and the JSON result. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

static void test_defaults(void **state)
{
    (void)state;
    mrun_sandbox_opts o;
    mrun_sandbox_opts_init(&o);
    assert_int_equal(o.mem_bytes, 512ll << 20);
    assert_int_equal(o.pids, 256);
    assert_int_equal(o.timeout_ms, 600000);
    assert_int_equal(o.disk_bytes, 1ll << 30);
    assert_int_equal(o.tmpfs_bytes, 256ll << 20);
    assert_int_equal(o.output_limit, 64ll << 20);
    assert_int_equal(o.net, MRUN_NET_NONE);
    assert_null(o.workspace);
    mrun_err e = MRUN_ERR_INIT;
    assert_int_equal(mrun_sandbox_opts_check(&o, &e), 0);
    mrun_sandbox_opts_fini(&o);
}

static void test_mounts(void **state)
{
    (void)state;
    mrun_sandbox_opts o;
    mrun_sandbox_opts_init(&o);
    mrun_err e = MRUN_ERR_INIT;
    assert_int_equal(mrun_sandbox_opts_add_mount(&o, "/opt/tools", false, &e), 0);
    assert_string_equal(o.mounts[0].host, "/opt/tools");
    assert_string_equal(o.mounts[0].path, "/opt/tools");
    assert_false(o.mounts[0].writable);
    assert_int_equal(mrun_sandbox_opts_add_mount(&o, "/srv/cache:/cache", true, &e), 0);
    assert_string_equal(o.mounts[1].host, "/srv/cache");
    assert_string_equal(o.mounts[1].path, "/cache");
    assert_true(o.mounts[1].writable);
    static const char *const bad[] = {"rel/path", "/x:rel", "/x:/", "/x:/proc", "/x:/proc/sys", "/x:/dev/null",
                                      "/x:/workspace", "/x:/a/../etc", "/x:/a/./b", "/x:/usr", "/x:/etc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mrun_sandbox_opts_add_mount(&o, bad[i], false, &e) != -1)
            fail_msg("mount '%s' accepted", bad[i]);
        assert_int_equal(e.sys_errno, EINVAL);
    }
    assert_int_equal(o.n_mounts, 2);
    mrun_sandbox_opts_fini(&o);
}

static void test_env(void **state)
{
    (void)state;
    mrun_sandbox_opts o;
    mrun_sandbox_opts_init(&o);
    mrun_err e = MRUN_ERR_INIT;
    assert_int_equal(mrun_sandbox_opts_add_env(&o, "A=1", &e), 0);
    assert_int_equal(mrun_sandbox_opts_add_env(&o, "B=x=y", &e), 0);
    assert_int_equal(mrun_sandbox_opts_add_env(&o, "A=2", &e), 0);
    assert_int_equal(o.n_env, 2);
    assert_string_equal(o.env[0], "A=2");
    assert_string_equal(o.env[1], "B=x=y");
    assert_int_equal(mrun_sandbox_opts_add_env(&o, "=1", &e), -1);
    assert_int_equal(mrun_sandbox_opts_add_env(&o, "NOVALUE", &e), -1);
    assert_int_equal(mrun_sandbox_opts_add_env(&o, "1A=1", &e), -1);
    assert_int_equal(mrun_sandbox_opts_add_env(&o, "A-B=1", &e), -1);
    mrun_sandbox_opts_fini(&o);
}

static void test_check(void **state)
{
    (void)state;
    mrun_sandbox_opts o;
    mrun_sandbox_opts_init(&o);
    mrun_err e = MRUN_ERR_INIT;
    o.mem_bytes = 1024;
    assert_int_equal(mrun_sandbox_opts_check(&o, &e), -1);
    o.mem_bytes = 64 << 20;
    o.pids = 1;
    assert_int_equal(mrun_sandbox_opts_check(&o, &e), -1);
    o.pids = 10;
    o.timeout_ms = 0;
    assert_int_equal(mrun_sandbox_opts_check(&o, &e), -1);
    o.timeout_ms = 1000;
    o.nofile = 3;
    assert_int_equal(mrun_sandbox_opts_check(&o, &e), -1);
    o.nofile = 64;
    assert_int_equal(mrun_sandbox_opts_check(&o, &e), 0);
    mrun_sandbox_opts_fini(&o);
}

static void test_result_json(void **state)
{
    (void)state;
    mrun_sandbox_result r;
    memset(&r, 0, sizeof(r));
    r.exit_code = 137;
    r.signal = 9;
    r.oom_killed = true;
    r.wall_ms = 12;
    r.cpu_ms = 3;
    r.peak_memory_bytes = -1;
    r.output_bytes = 5;
    char buf[512];
    int n = mrun_sandbox_result_json(&r, buf, sizeof(buf));
    assert_true(n > 0);
    assert_string_equal(buf, "{\"exit_code\":137,\"signal\":9,\"timed_out\":false,\"oom_killed\":true,\"wall_ms\":12,"
                             "\"cpu_ms\":3,\"peak_memory_bytes\":null,\"output_bytes\":5,\"output_truncated\":false}");
    assert_int_equal(mrun_sandbox_result_json(&r, buf, 10), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_mounts),      cmocka_unit_test(test_env),
        cmocka_unit_test(test_check),    cmocka_unit_test(test_result_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
