/* test_cgroup.c - layout parsing over literal mountinfo and /proc/self/cgroup texts (pure), and, as root
 * with cgroups, a real cgroup's life: limits, attach, accounting, OOM, kill, removal. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox_int.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* ---- pure: parsing ---------------------------------------------------------------------------------------- */

/* This machine (CI's kind): cgroup v1 controllers each on their own hierarchy, an empty cgroup2 at
 * /sys/fs/cgroup/unified (it offers only hugetlb), and a memory cgroup below the hierarchy's root. */
static const char this_mountinfo[] =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334556k,nr_inodes=3083639,mode=755\n"
    "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684100k\n"
    "26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
    "28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs "
    "model_tools_unavailable ro,size=4k,mode=755\n"
    "29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000\n"
    "30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684100k\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
static const char this_cgroup[] = "9:name=systemd:/\n"
                                  "8:pids:/\n"
                                  "7:blkio:/\n"
                                  "6:freezer:/\n"
                                  "5:devices:/\n"
                                  "4:memory:/process_api/0585ffea13dd0eb32b919451c80357c1\n"
                                  "3:cpuset:/\n"
                                  "2:cpuacct:/\n"
                                  "1:cpu:/\n"
                                  "0::/\n";

static sb_cg_layout parse_ok(const char *mi, const char *cg, const char *ctrl)
{
    sb_cg_layout l;
    memset(&l, 0x5a, sizeof(l));
    mrun_err err = MRUN_ERR_INIT;
    int r = sb_cgroup_parse_layout(mi, cg, ctrl, &l, &err);
    if (r != 0)
        fail_msg("parse failed: %s", err.msg);
    return l;
}

/* What the sandbox's child does to join its cgroup: write "0" to each entry fd it was handed. */
static int join_self(const sb_cgroup *cg)
{
    int fds[8];
    unsigned n = sb_cgroup_entry_fds(cg, fds, 8);
    for (unsigned i = 0; i < n; i++)
        if (write(fds[i], "0", 1) != 1)
            return -errno;
    return 0;
}

static void test_parse_this_machine(void **state)
{
    (void)state;
    /* The unified mount's cgroup.controllers here says "hugetlb": not one of ours, so still v1. */
    const char *ctrls[] = {"hugetlb\n", "", NULL};
    for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
        sb_cg_layout l = parse_ok(this_mountinfo, this_cgroup, ctrls[i]);
        assert_int_equal(l.version, SB_CG_V1);
        assert_string_equal(l.v1_memory, "/sys/fs/cgroup/memory/process_api/0585ffea13dd0eb32b919451c80357c1");
        assert_string_equal(l.v1_pids, "/sys/fs/cgroup/pids");
        assert_string_equal(l.v1_cpu, "/sys/fs/cgroup/cpu");
        assert_string_equal(l.v1_cpuacct, "/sys/fs/cgroup/cpuacct");
        assert_string_equal(l.v2_base, "");
    }
}

static const char v2_mountinfo[] =
    "21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro\n"
    "27 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "28 21 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw\n";

static void test_parse_pure_v2(void **state)
{
    (void)state;
    sb_cg_layout l = parse_ok(v2_mountinfo, "0::/user.slice/user-1000.slice/session-2.scope\n",
                              "cpuset cpu io memory hugetlb pids rdma misc\n");
    assert_int_equal(l.version, SB_CG_V2);
    assert_string_equal(l.v2_base, "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope");
    assert_string_equal(l.v1_memory, "");
    assert_string_equal(l.v1_pids, "");
    assert_string_equal(l.v1_cpu, "");
    assert_string_equal(l.v1_cpuacct, "");

    /* A process in the root cgroup (a VM without systemd): the base is the mount itself. */
    l = parse_ok(v2_mountinfo, "0::/\n", "cpu memory pids\n");
    assert_int_equal(l.version, SB_CG_V2);
    assert_string_equal(l.v2_base, "/sys/fs/cgroup");

    /* Moved into the supervisor leaf by an earlier detect: the base stays the service's cgroup. */
    l = parse_ok(v2_mountinfo, "0::/system.slice/mrun-runner.service/mrun-supervisor\n", "cpu memory pids\n");
    assert_int_equal(l.version, SB_CG_V2);
    assert_string_equal(l.v2_base, "/sys/fs/cgroup/system.slice/mrun-runner.service");

    /* One controller of ours is enough to count. */
    l = parse_ok(v2_mountinfo, "0::/a\n", "io pids");
    assert_int_equal(l.version, SB_CG_V2);
    assert_string_equal(l.v2_base, "/sys/fs/cgroup/a");
}

static void test_parse_v2_nothing_delegated(void **state)
{
    (void)state;
    const char *ctrls[] = {"", "\n", "cpuset io\n", "cpuacct memoryx pid\n", NULL};
    for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
        sb_cg_layout l =
            parse_ok(v2_mountinfo, "0::/user.slice/user-1000.slice/user@1000.service/app.slice\n", ctrls[i]);
        assert_int_equal(l.version, SB_CG_NONE);
        assert_string_equal(l.v2_base, "");
    }
}

/* Ubuntu 20.04-style hybrid: every controller on v1, systemd's own tree on an empty unified mount. */
static const char hybrid_mountinfo[] =
    "25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
    "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n"
    "32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids\n"
    "33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset\n";
static const char hybrid_cgroup[] = "12:cpuset:/\n"
                                    "7:pids:/user.slice/user-1000.slice/session-2.scope\n"
                                    "5:memory:/user.slice/user-1000.slice/session-2.scope\n"
                                    "3:cpu,cpuacct:/user.slice\n"
                                    "1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n"
                                    "0::/user.slice/user-1000.slice/session-2.scope\n";

static void test_parse_hybrid_cpu_cpuacct_joined(void **state)
{
    (void)state;
    sb_cg_layout l = parse_ok(hybrid_mountinfo, hybrid_cgroup, "");
    assert_int_equal(l.version, SB_CG_V1);
    assert_string_equal(l.v1_memory, "/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-2.scope");
    assert_string_equal(l.v1_pids, "/sys/fs/cgroup/pids/user.slice/user-1000.slice/session-2.scope");
    assert_string_equal(l.v1_cpu, "/sys/fs/cgroup/cpu,cpuacct/user.slice");
    assert_string_equal(l.v1_cpuacct, "/sys/fs/cgroup/cpu,cpuacct/user.slice");
    assert_string_equal(l.v2_base, "");

    /* cpuset must not be taken for cpu: without the cpu,cpuacct mount there is no cpu hierarchy. */
    char mi[sizeof(hybrid_mountinfo)];
    const char *cut = strstr(hybrid_mountinfo, "30 25");
    const char *rest = strstr(hybrid_mountinfo, "31 25");
    int n = snprintf(mi, sizeof(mi), "%.*s%s", (int)(cut - hybrid_mountinfo), hybrid_mountinfo, rest);
    assert_true(n > 0);
    l = parse_ok(mi, hybrid_cgroup, "");
    assert_int_equal(l.version, SB_CG_V1);
    assert_string_equal(l.v1_cpu, "");
    assert_string_equal(l.v1_cpuacct, "");
    assert_string_equal(l.v1_memory, "/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-2.scope");
}

static void test_parse_escapes(void **state)
{
    (void)state;
    const char mi[] = "40 31 0:37 / /run/my\\040cg/mem\\011ory rw - cgroup cgroup rw,memory\n"
                      "41 31 0:38 /a\\134b /srv/p\\134ids rw - cgroup cgroup rw,pids\n"
                      "42 31 0:39 / /x\\1 rw - cgroup cgroup rw,cpu\n";
    const char cg[] = "3:memory:/job 1\n2:pids:/a\\b/c\n1:cpu:/\n";
    sb_cg_layout l = parse_ok(mi, cg, NULL);
    assert_int_equal(l.version, SB_CG_V1);
    assert_string_equal(l.v1_memory, "/run/my cg/mem\tory/job 1");
    assert_string_equal(l.v1_pids, "/srv/p\\ids/c");
    assert_string_equal(l.v1_cpu, "/x\\1"); /* not a full escape: kept as it is */
}

/* Docker without a cgroup namespace on v1: each hierarchy is mounted from our own cgroup down. */
static void test_parse_mount_root(void **state)
{
    (void)state;
    const char mi[] = "700 690 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
                      "701 690 0:36 /docker/abc /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids\n"
                      "702 690 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n";
    sb_cg_layout l = parse_ok(mi, "5:memory:/docker/abc\n4:pids:/docker/abc/sub\n3:cpu,cpuacct:/docker/abcdef\n", "");
    assert_int_equal(l.version, SB_CG_V1);
    assert_string_equal(l.v1_memory, "/sys/fs/cgroup/memory");
    assert_string_equal(l.v1_pids, "/sys/fs/cgroup/pids/sub");
    assert_string_equal(l.v1_cpu, ""); /* "/docker/abcdef" is not below "/docker/abc" */
    assert_string_equal(l.v1_cpuacct, "");

    /* A cgroup namespace shows a root outside our view: unusable, never guessed. */
    l = parse_ok(mi, "5:memory:/\n4:pids:/\n3:cpu,cpuacct:/\n", "");
    assert_int_equal(l.version, SB_CG_NONE);

    /* "." and ".." in a path could point outside the mount. */
    l = parse_ok(this_mountinfo, "4:memory:/a/../../etc\n0::/\n", "memory");
    assert_string_equal(l.v1_memory, "");
}

static void test_parse_shadowed_and_missing(void **state)
{
    (void)state;
    /* A container runtime mounted a fresh tmpfs and cgroup2 over the host's v1 tree: only v2 is visible. */
    char mi[4096];
    int n = snprintf(mi, sizeof(mi),
                     "%s"
                     "90 23 0:60 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                     "91 90 0:61 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                     this_mountinfo);
    assert_true(n > 0 && (size_t)n < sizeof(mi));
    sb_cg_layout l = parse_ok(mi, this_cgroup, "memory pids cpu\n");
    assert_int_equal(l.version, SB_CG_V2);
    assert_string_equal(l.v2_base, "/sys/fs/cgroup");
    assert_string_equal(l.v1_memory, "");

    /* No cgroup mounts at all. */
    l = parse_ok("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n", this_cgroup, NULL);
    assert_int_equal(l.version, SB_CG_NONE);

    /* Listed in /proc/self/cgroup but not mounted, and the reverse. */
    l = parse_ok(this_mountinfo, "0::/\n", "");
    assert_int_equal(l.version, SB_CG_NONE);
    l = parse_ok("", this_cgroup, NULL);
    assert_int_equal(l.version, SB_CG_NONE);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    sb_cg_layout l;
    memset(&l, 0x5a, sizeof(l));
    const sb_cg_layout before = l;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(
        sb_cgroup_parse_layout("27 1 254:0 / / rw - ext4 /dev/vda rw\n1 2 3 / /x rw\n", this_cgroup, NULL, &l, &err),
        -1);
    assert_int_equal(err.sys_errno, EPROTO);
    assert_non_null(strstr(err.msg, "mountinfo:2:1: "));
    assert_memory_equal(&l, &before, sizeof(l)); /* ret_ written only on success */

    const char *bad_cgroup[] = {"memory\n", "4:memory\n", ":memory:/\n", "4:memory:\n", "4:memory:relative\n"};
    for (size_t i = 0; i < sizeof(bad_cgroup) / sizeof(bad_cgroup[0]); i++) {
        err = (mrun_err)MRUN_ERR_INIT;
        assert_int_equal(sb_cgroup_parse_layout(this_mountinfo, bad_cgroup[i], NULL, &l, &err), -1);
        assert_int_equal(err.sys_errno, EPROTO);
        assert_non_null(strstr(err.msg, "/proc/self/cgroup:1:1: "));
    }
    /* No trailing newline, blank lines, and a ':' inside a path are fine. */
    l = parse_ok(this_mountinfo, "\n4:memory:/a:b\n\n0::/", NULL);
    assert_string_equal(l.v1_memory, "/sys/fs/cgroup/memory/a:b");
}

/* ---- no cgroups: everything is a harmless no-op ----------------------------------------------------------- */

static void test_create_without_cgroups(void **state)
{
    (void)state;
    sb_cg_layout none;
    memset(&none, 0, sizeof(none));
    sb_cg_limits lim = {.mem_bytes = 64 << 20, .pids = 16, .cpu_milli = 500};
    sb_cgroup *cg = NULL;
    unsigned un = 0;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(sb_cgroup_create(&none, "mrun-test-none", &lim, &cg, &un, &err), 0);
    assert_non_null(cg);
    assert_int_equal(un, MRUN_SANDBOX_LIMIT_MEM | MRUN_SANDBOX_LIMIT_PIDS | MRUN_SANDBOX_LIMIT_CPU);
    assert_int_equal(sb_cgroup_fd(cg), -1);
    assert_int_equal(sb_cgroup_attach(cg, getpid(), &err), 0);
    int fds[4];
    assert_int_equal(sb_cgroup_entry_fds(cg, fds, 4), 0); /* no cgroup: nothing to join */
    sb_cg_stats st;
    sb_cgroup_stats_read(cg, &st);
    assert_int_equal(st.peak_memory_bytes, -1);
    assert_int_equal(st.cpu_usage_ms, -1);
    assert_false(st.oom_killed);
    sb_cgroup_kill(cg);
    sb_cgroup_destroy(cg);
    sb_cgroup_destroy(NULL);

    /* Only requested limits are reported. */
    sb_cg_limits mem_only = {.mem_bytes = 1 << 20};
    assert_int_equal(sb_cgroup_create(&none, "mrun-test-none", &mem_only, &cg, &un, &err), 0);
    assert_int_equal(un, MRUN_SANDBOX_LIMIT_MEM);
    sb_cgroup_destroy(cg);

    /* A base that does not exist (or is not ours) enforces nothing rather than failing. */
    sb_cg_layout gone;
    memset(&gone, 0, sizeof(gone));
    gone.version = SB_CG_V1;
    snprintf(gone.v1_memory, sizeof(gone.v1_memory), "/nonexistent/mrun/memory");
    assert_int_equal(sb_cgroup_create(&gone, "mrun-test-gone", &lim, &cg, &un, &err), 0);
    assert_int_equal(un, MRUN_SANDBOX_LIMIT_MEM | MRUN_SANDBOX_LIMIT_PIDS | MRUN_SANDBOX_LIMIT_CPU);
    assert_int_equal(sb_cgroup_fd(cg), -1);
    sb_cgroup_destroy(cg);
}

static void test_create_bad_name(void **state)
{
    (void)state;
    sb_cg_layout none;
    memset(&none, 0, sizeof(none));
    sb_cg_limits lim = {0};
    const char *bad[] = {"", ".", "..", "a/b", "/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_cgroup *cg = NULL;
        unsigned un = 99;
        mrun_err err = MRUN_ERR_INIT;
        assert_int_equal(sb_cgroup_create(&none, bad[i], &lim, &cg, &un, &err), -1);
        assert_int_equal(err.sys_errno, EINVAL);
        assert_null(cg);
        assert_int_equal(un, 99);
    }
}

/* An ordinary user without a delegated cgroup: nothing is created, every requested limit is unenforced.
 * As root, a child drops to nobody to check it. Exit status: 0 ok, 1 failed, 77 nothing to check. */
static int unprivileged_check(void)
{
    sb_cg_layout l;
    mrun_err err = MRUN_ERR_INIT;
    if (sb_cgroup_detect(&l, &err) < 0 || l.version == SB_CG_NONE)
        return 77;
    sb_cg_limits lim = {.mem_bytes = 64 << 20, .pids = 16, .cpu_milli = 500};
    sb_cgroup *cg = NULL;
    unsigned un = 0;
    char name[64];
    snprintf(name, sizeof(name), "mrun-test-user-%d", (int)getpid());
    if (sb_cgroup_create(&l, name, &lim, &cg, &un, &err) < 0)
        return 1;
    bool ok = un == (MRUN_SANDBOX_LIMIT_MEM | MRUN_SANDBOX_LIMIT_PIDS | MRUN_SANDBOX_LIMIT_CPU) &&
              sb_cgroup_fd(cg) == -1 && sb_cgroup_attach(cg, getpid(), &err) == 0;
    sb_cgroup_destroy(cg);
    return ok ? 0 : 1;
}

static void test_unprivileged_enforces_nothing(void **state)
{
    (void)state;
    int rc;
    if (geteuid() != 0) {
        rc = unprivileged_check();
    } else {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                _exit(2);
            _exit(unprivileged_check());
        }
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFEXITED(ws));
        rc = WEXITSTATUS(ws);
    }
    if (rc == 77)
        skip();
    assert_int_equal(rc, 0);
}

/* ---- as root, with real cgroups ----------------------------------------------------------------------------- */

typedef struct fixture {
    sb_cg_layout layout;
    sb_cgroup *cg;
    pid_t pid;
    int go_w, ready_r; /* parent ends of the child's pipes */
    char name[64];
} fixture;

static int fx_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->pid = -1;
    f->go_w = f->ready_r = -1;
    static unsigned seq;
    snprintf(f->name, sizeof(f->name), "mrun-test-%d-%u", (int)getpid(), seq++);
    *state = f;
    return 0;
}

/* Runs after a failed assertion too: no child or cgroup outlives the test. */
static int fx_teardown(void **state)
{
    fixture *f = *state;
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    if (f->go_w >= 0)
        close(f->go_w);
    if (f->ready_r >= 0)
        close(f->ready_r);
    sb_cgroup_kill(f->cg);
    sb_cgroup_destroy(f->cg);
    free(f);
    return 0;
}

/* Skips unless root on a host with cgroups; fills f->layout. */
static void need_cgroups(fixture *f)
{
    mrun_err err = MRUN_ERR_INIT;
    if (geteuid() != 0 || sb_cgroup_detect(&f->layout, &err) < 0 || f->layout.version == SB_CG_NONE)
        skip();
}

static int read_text(const char *dir, const char *name, const char *file, char *buf, size_t len)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static void assert_file(const char *dir, const char *name, const char *file, const char *want)
{
    char buf[256];
    if (read_text(dir, name, file, buf, sizeof(buf)) < 0)
        fail_msg("cannot read %s/%s/%s", dir, name, file);
    if (strcmp(buf, want) != 0)
        fail_msg("%s/%s/%s holds '%s', want '%s'", dir, name, file, buf, want);
}

static bool dir_exists(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* What the child does once it may run: optionally enter the cgroup itself, touch touch_mb of memory, fork
 * n_kids sleepers, report readiness, then wait for EOF on go. */
static void child_body(const sb_cgroup *cg, bool self_attach, int go_r, int ready_w, unsigned touch_mb, unsigned n_kids)
{
    char c;
    if (self_attach) {
        if (join_self(cg) < 0)
            _exit(3);
    } else if (read(go_r, &c, 1) != 1) {
        _exit(4);
    }
    if (touch_mb) {
        char *p = malloc((size_t)touch_mb << 20);
        if (!p)
            _exit(5);
        memset(p, 1, (size_t)touch_mb << 20);
    }
    for (unsigned i = 0; i < n_kids; i++) {
        pid_t k = fork();
        if (k == 0) {
            while (read(go_r, &c, 1) > 0)
                ;
            _exit(0);
        }
    }
    if (write(ready_w, "r", 1) != 1)
        _exit(6);
    while (read(go_r, &c, 1) > 0)
        ;
    _exit(0);
}

/* Forks the child; with self_attach it enters the cgroup itself, else the parent moves it by pid. */
static void start_child(fixture *f, bool self_attach, unsigned touch_mb, unsigned n_kids)
{
    int go[2], ready[2];
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        close(go[1]);
        close(ready[0]);
        child_body(f->cg, self_attach, go[0], ready[1], touch_mb, n_kids);
    }
    close(go[0]);
    close(ready[1]);
    f->go_w = go[1];
    f->ready_r = ready[0];
    if (!self_attach) {
        mrun_err err = MRUN_ERR_INIT;
        if (sb_cgroup_attach(f->cg, f->pid, &err) < 0)
            fail_msg("attach: %s", err.msg);
        assert_int_equal(write(f->go_w, "g", 1), 1);
    }
    char c;
    assert_int_equal(read(f->ready_r, &c, 1), 1);
}

/* Whether /proc/PID/cgroup puts pid in our cgroup for the hierarchy whose line lists ctrl ("" for v2). */
static bool in_cgroup(pid_t pid, const char *ctrl, const char *name)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *p = c2 + 1;
        bool match = *ctrl ? false : *ctrls == '\0';
        for (const char *t = ctrls; *ctrl && *t;) {
            size_t l = strcspn(t, ",");
            if (l == strlen(ctrl) && strncmp(t, ctrl, l) == 0)
                match = true;
            t += l + (t[l] == ',');
        }
        size_t pl = strlen(p), nl = strlen(name);
        if (match && pl > nl && p[pl - nl - 1] == '/' && strcmp(p + pl - nl, name) == 0)
            return true;
    }
    return false;
}

static void create_or_fail(fixture *f, const sb_cg_limits *lim, unsigned *un)
{
    mrun_err err = MRUN_ERR_INIT;
    if (sb_cgroup_create(&f->layout, f->name, lim, &f->cg, un, &err) < 0)
        fail_msg("create: %s", err.msg);
}

/* create, limits in the files, attach, /proc/PID/cgroup, stats, kill, destroy, dirs gone. */
static void lifecycle(fixture *f, bool self_attach)
{
    need_cgroups(f);
    sb_cg_limits lim = {.mem_bytes = 64 << 20, .pids = 16, .cpu_milli = 500};
    unsigned un = 99;
    create_or_fail(f, &lim, &un);
    const sb_cg_layout *l = &f->layout;
    if (l->version == SB_CG_V1) {
        unsigned want_un = (l->v1_memory[0] ? 0 : MRUN_SANDBOX_LIMIT_MEM) |
                           (l->v1_pids[0] ? 0 : MRUN_SANDBOX_LIMIT_PIDS) | (l->v1_cpu[0] ? 0 : MRUN_SANDBOX_LIMIT_CPU);
        assert_int_equal(un, want_un);
        assert_int_equal(sb_cgroup_fd(f->cg), -1);
        if (l->v1_memory[0]) {
            assert_file(l->v1_memory, f->name, "memory.limit_in_bytes", "67108864");
            char buf[64];
            if (read_text(l->v1_memory, f->name, "memory.memsw.limit_in_bytes", buf, sizeof(buf)) == 0)
                assert_string_equal(buf, "67108864");
        }
        if (l->v1_pids[0])
            assert_file(l->v1_pids, f->name, "pids.max", "16");
        if (l->v1_cpu[0])
            assert_file(l->v1_cpu, f->name, "cpu.cfs_quota_us", "50000");
    } else {
        assert_true(sb_cgroup_fd(f->cg) >= 0);
        if (!(un & MRUN_SANDBOX_LIMIT_MEM))
            assert_file(l->v2_base, f->name, "memory.max", "67108864");
        if (!(un & MRUN_SANDBOX_LIMIT_PIDS))
            assert_file(l->v2_base, f->name, "pids.max", "16");
        if (!(un & MRUN_SANDBOX_LIMIT_CPU))
            assert_file(l->v2_base, f->name, "cpu.max", "50000 100000");
    }

    start_child(f, self_attach, 8, 0);
    if (l->version == SB_CG_V1) {
        const char *dirs[] = {l->v1_memory, l->v1_pids, l->v1_cpu, l->v1_cpuacct};
        const char *ctrls[] = {"memory", "pids", "cpu", "cpuacct"};
        for (int i = 0; i < 4; i++)
            if (dirs[i][0] && !in_cgroup(f->pid, ctrls[i], f->name))
                fail_msg("child not in the %s cgroup %s", ctrls[i], f->name);
    } else {
        assert_true(in_cgroup(f->pid, "", f->name));
    }

    sb_cg_stats st;
    sb_cgroup_stats_read(f->cg, &st);
    if ((l->version == SB_CG_V1 && l->v1_memory[0]) || (l->version == SB_CG_V2 && !(un & MRUN_SANDBOX_LIMIT_MEM)))
        assert_true(st.peak_memory_bytes >= 8 << 20 || st.peak_memory_bytes == -1 /* v2 before memory.peak */);
    if (l->version == SB_CG_V2 || l->v1_cpuacct[0])
        assert_true(st.cpu_usage_ms >= 0);
    assert_false(st.oom_killed);

    sb_cgroup_kill(f->cg);
    int ws;
    assert_int_equal(waitpid(f->pid, &ws, 0), f->pid);
    f->pid = -1;
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);

    sb_cgroup_destroy(f->cg);
    f->cg = NULL;
    const char *all[] = {l->v2_base, l->v1_memory, l->v1_pids, l->v1_cpu, l->v1_cpuacct};
    for (int i = 0; i < 5; i++)
        if (all[i][0] && dir_exists(all[i], f->name))
            fail_msg("%s/%s still exists", all[i], f->name);
}

static void test_lifecycle_attach_by_pid(void **state)
{
    lifecycle(*state, false);
}

static void test_lifecycle_attach_self(void **state)
{
    lifecycle(*state, true);
}

static void test_oom_is_reported(void **state)
{
    fixture *f = *state;
    need_cgroups(f);
    sb_cg_limits lim = {.mem_bytes = 32 << 20};
    unsigned un;
    create_or_fail(f, &lim, &un);
    if (un & MRUN_SANDBOX_LIMIT_MEM)
        skip();
    int go[2], ready[2];
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        close(go[1]);
        close(ready[0]);
        child_body(f->cg, true, go[0], ready[1], 128, 0); /* 128M against a 32M limit */
    }
    close(go[0]);
    close(ready[1]);
    close(go[1]); /* a child that survives (swap not limited) then exits on EOF instead of hanging */
    f->ready_r = ready[0];
    int ws;
    assert_int_equal(waitpid(f->pid, &ws, 0), f->pid);
    f->pid = -1;
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    sb_cg_stats st;
    sb_cgroup_stats_read(f->cg, &st);
    assert_true(st.oom_killed);
    assert_true(st.peak_memory_bytes == -1 || st.peak_memory_bytes <= (33 << 20));
}

/* The pids limit stops a fork; the kill reaches grandchildren (the v1 path reads cgroup.procs in a loop). */
static void test_pids_limit_and_kill_tree(void **state)
{
    fixture *f = *state;
    need_cgroups(f);
    sb_cg_limits lim = {.pids = 4};
    unsigned un;
    create_or_fail(f, &lim, &un);
    if (un & MRUN_SANDBOX_LIMIT_PIDS)
        skip();
    start_child(f, true, 0, 3); /* the child and 3 sleepers: 4 of 4 */

    /* Moving a 5th process in is allowed (pids.max limits forks only), but its fork must fail. */
    pid_t probe = fork();
    if (probe == 0) {
        if (join_self(f->cg) < 0)
            _exit(2);
        pid_t g = fork();
        if (g == 0)
            _exit(0);
        _exit(g < 0 && errno == EAGAIN ? 0 : 1);
    }
    assert_true(probe > 0);
    int ws;
    assert_int_equal(waitpid(probe, &ws, 0), probe);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);

    sb_cgroup_kill(f->cg);
    assert_int_equal(waitpid(f->pid, &ws, 0), f->pid);
    f->pid = -1;
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    sb_cgroup_destroy(f->cg); /* fails (EBUSY, then gives up) if a grandchild survived */
    f->cg = NULL;
    const char *base = f->layout.version == SB_CG_V2 ? f->layout.v2_base : f->layout.v1_pids;
    assert_false(dir_exists(base, f->name));
}

/* The v2 code paths on a v1 host: the hybrid's unified hierarchy has none of our controllers, but it takes
 * cgroups, CLONE_INTO_CGROUP, cgroup.kill and cpu.stat all the same. */
static void test_v2_paths_on_unified(void **state)
{
    fixture *f = *state;
    struct statfs sfs;
    if (geteuid() != 0 || statfs("/sys/fs/cgroup/unified", &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC)
        skip();
    char self[4096];
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, self, sizeof(self) - 1);
    close(fd);
    assert_true(n > 0);
    self[n] = '\0';
    const char *v2 = strstr(self, "0::/");
    assert_non_null(v2);
    const char *own = v2 + 3;
    int own_len = (int)strcspn(own, "\n");
    if (own_len == 1)
        own_len = 0; /* "/": the mount itself */
    memset(&f->layout, 0, sizeof(f->layout));
    f->layout.version = SB_CG_V2;
    snprintf(f->layout.v2_base, sizeof(f->layout.v2_base), "/sys/fs/cgroup/unified%.*s", own_len, own);

    sb_cg_limits lim = {.mem_bytes = 64 << 20, .pids = 16, .cpu_milli = 500};
    unsigned un = 0;
    create_or_fail(f, &lim, &un);
    assert_int_equal(un, MRUN_SANDBOX_LIMIT_MEM | MRUN_SANDBOX_LIMIT_PIDS | MRUN_SANDBOX_LIMIT_CPU);
    int cfd = sb_cgroup_fd(f->cg);
    assert_true(cfd >= 0);

    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.flags = CLONE_INTO_CGROUP;
    ca.exit_signal = SIGCHLD;
    ca.cgroup = (uint64_t)cfd;
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL))
        skip();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    f->pid = (pid_t)pid;
    assert_true(in_cgroup(f->pid, "", f->name));

    /* The fallback for kernels without CLONE_INTO_CGROUP: the child writes "0" to cgroup.procs. */
    int ready[2];
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    pid_t other = fork();
    if (other == 0) {
        char c = join_self(f->cg) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(c, 'y');
    assert_true(in_cgroup(other, "", f->name));

    sb_cg_stats st;
    sb_cgroup_stats_read(f->cg, &st);
    assert_true(st.cpu_usage_ms >= 0); /* cpu.stat's usage_usec needs no controller */
    assert_false(st.oom_killed);

    sb_cgroup_kill(f->cg); /* cgroup.kill */
    int ws;
    assert_int_equal(waitpid(other, &ws, 0), other);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    assert_int_equal(waitpid(f->pid, &ws, 0), f->pid);
    f->pid = -1;
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    sb_cgroup_destroy(f->cg);
    f->cg = NULL;
    assert_false(dir_exists(f->layout.v2_base, f->name));
}

static void test_detect_override(void **state)
{
    (void)state;
    sb_cg_layout l;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(setenv("MRUN_CGROUP_ROOT", "relative/path", 1), 0);
    assert_int_equal(sb_cgroup_detect(&l, &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
    assert_int_equal(setenv("MRUN_CGROUP_ROOT", "/tmp", 1), 0);
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(sb_cgroup_detect(&l, &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
    assert_non_null(strstr(err.msg, "not a cgroup v2"));
    assert_int_equal(unsetenv("MRUN_CGROUP_ROOT"), 0);
    err = (mrun_err)MRUN_ERR_INIT;
    if (sb_cgroup_detect(&l, &err) < 0)
        fail_msg("detect: %s", err.msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_this_machine),
        cmocka_unit_test(test_parse_pure_v2),
        cmocka_unit_test(test_parse_v2_nothing_delegated),
        cmocka_unit_test(test_parse_hybrid_cpu_cpuacct_joined),
        cmocka_unit_test(test_parse_escapes),
        cmocka_unit_test(test_parse_mount_root),
        cmocka_unit_test(test_parse_shadowed_and_missing),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_create_without_cgroups),
        cmocka_unit_test(test_create_bad_name),
        cmocka_unit_test(test_detect_override),
        cmocka_unit_test(test_unprivileged_enforces_nothing),
        cmocka_unit_test_setup_teardown(test_lifecycle_attach_by_pid, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_attach_self, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_oom_is_reported, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pids_limit_and_kill_tree, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_v2_paths_on_unified, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
