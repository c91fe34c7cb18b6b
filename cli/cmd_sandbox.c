/* cmd_sandbox.c - `mrun sandbox`: run one command under the sandbox, pass its output through, exit with its
 * status. Signals to mrun are forwarded; mrun's own death (or its parent's) takes the sandbox down. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/parse.h"
#include "../sandbox/sandbox.h"
#include "cli.h"

#define GRACE_MS 5000

static volatile sig_atomic_t got_signal; /* the one allowed global: set by the handler, read by the loop */

static void on_signal(int sig)
{
    got_signal = sig;
}

static const char usage_text[] =
    "usage: mrun sandbox [OPTIONS] -- CMD [ARG...]\n"
    "\n"
    "Runs CMD isolated: new user, pid, mount, net, uts, ipc and cgroup namespaces; a minimal read-only root;\n"
    "no capabilities; a seccomp allow-list; cgroup limits and rlimits; no network but loopback.\n"
    "\n"
    "  --workspace DIR      host directory at /workspace; the job's changes are merged back when it ends\n"
    "                       (default: a fresh empty directory, discarded)\n"
    "  --ro HOST[:PATH]     bind HOST read-only at PATH (default: the same path)\n"
    "  --rw HOST[:PATH]     bind HOST read-write at PATH\n"
    "  --env NAME=VALUE     set a variable (the environment is otherwise PATH, HOME, LANG, TERM)\n"
    "  --mem SIZE           memory limit, files in /tmp and /workspace included (default 512M)\n"
    "  --pids N             process and thread limit (default 256)\n"
    "  --cpus FLOAT         CPU quota in CPUs, e.g. 0.5 (default: no quota)\n"
    "  --timeout DURATION   wall-clock limit; the whole tree is killed, exit 124 (default 10m)\n"
    "  --disk SIZE          what the job may add to /workspace (default 1G)\n"
    "  --tmpfs-size SIZE    size of /tmp and of /dev/shm (default 256M)\n"
    "  --fsize SIZE         largest file the job may write (default: --disk)\n"
    "  --nofile N           open file limit (default 1024)\n"
    "  --output-limit SIZE  stdout+stderr passed through; the rest is counted and dropped (default 64M)\n"
    "  --net none|loopback  network: only lo in a new namespace, for both today (default none)\n"
    "  --json FILE          write the result as one JSON object to FILE ('-' for stdout)\n"
    "  -q, --quiet          do not warn about limits that cannot be enforced\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: CMD's own; 128+N if killed by signal N; 124 on timeout; 125 if the sandbox could not be set\n"
    "up (nothing ran; the reason is on stderr); 126 if CMD cannot be executed; 127 if CMD was not found.\n"
    "Sizes take K, M, G, T (binary); durations take ms, s, m, h, d (90s, 10m, 1h30m).\n";

enum { OPT_WS = 256, OPT_RO, OPT_RW, OPT_ENV, OPT_MEM, OPT_PIDS, OPT_CPUS, OPT_TIMEOUT, OPT_DISK, OPT_TMPFS, OPT_FSIZE,
       OPT_NOFILE, OPT_OUTPUT, OPT_NET, OPT_JSON };

static const struct option long_opts[] = {
    {"workspace", required_argument, NULL, OPT_WS},   {"ro", required_argument, NULL, OPT_RO},
    {"rw", required_argument, NULL, OPT_RW},          {"env", required_argument, NULL, OPT_ENV},
    {"mem", required_argument, NULL, OPT_MEM},        {"pids", required_argument, NULL, OPT_PIDS},
    {"cpus", required_argument, NULL, OPT_CPUS},      {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"disk", required_argument, NULL, OPT_DISK},      {"tmpfs-size", required_argument, NULL, OPT_TMPFS},
    {"fsize", required_argument, NULL, OPT_FSIZE},    {"nofile", required_argument, NULL, OPT_NOFILE},
    {"output-limit", required_argument, NULL, OPT_OUTPUT}, {"net", required_argument, NULL, OPT_NET},
    {"json", required_argument, NULL, OPT_JSON},      {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},                 {NULL, 0, NULL, 0},
};

/* Parses argv into opts; returns the index of CMD, 0 for --help, -1 on a usage error, -2 for an unusable
 * workspace (both printed). */
static int parse_args(int argc, char **argv, mrun_sandbox_opts *o, const char **json, int *quiet)
{
    mrun_err err = MRUN_ERR_INIT;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+hq", long_opts, NULL)) != -1) {
        int r = 0;
        int64_t v = 0;
        switch (c) {
        case OPT_WS: {
            char *abs = realpath(optarg, NULL);
            if (!abs) {
                /* a workspace that cannot be used is a setup failure (125), not a usage error */
                fprintf(stderr, "mrun sandbox: sandbox setup failed: workspace '%s': %s (exit 125: nothing ran)\n",
                        optarg, strerror(errno));
                return -2;
            }
            free(o->workspace);
            o->workspace = abs;
            break;
        }
        case OPT_RO:
        case OPT_RW:
            r = mrun_sandbox_opts_add_mount(o, optarg, c == OPT_RW, &err);
            break;
        case OPT_ENV:
            r = mrun_sandbox_opts_add_env(o, optarg, &err);
            break;
        case OPT_MEM:
            r = mrun_parse_size(optarg, &o->mem_bytes, &err);
            break;
        case OPT_PIDS:
            r = mrun_parse_int(optarg, 1, 4194304, &o->pids, &err);
            break;
        case OPT_CPUS:
            r = mrun_parse_milli(optarg, 1024 * 1000, &o->cpu_milli, &err);
            if (r == 0 && o->cpu_milli == 0)
                r = mrun_err_setx(&err, EINVAL, "--cpus must be more than 0");
            break;
        case OPT_TIMEOUT:
            r = mrun_parse_duration(optarg, &o->timeout_ms, &err);
            break;
        case OPT_DISK:
            r = mrun_parse_size(optarg, &o->disk_bytes, &err);
            break;
        case OPT_TMPFS:
            r = mrun_parse_size(optarg, &o->tmpfs_bytes, &err);
            break;
        case OPT_FSIZE:
            r = mrun_parse_size(optarg, &o->fsize_bytes, &err);
            break;
        case OPT_NOFILE:
            r = mrun_parse_int(optarg, 1, 1048576, &v, &err);
            o->nofile = v;
            break;
        case OPT_OUTPUT:
            r = mrun_parse_size(optarg, &o->output_limit, &err);
            break;
        case OPT_NET:
            if (strcmp(optarg, "none") == 0)
                o->net = MRUN_NET_NONE;
            else if (strcmp(optarg, "loopback") == 0)
                o->net = MRUN_NET_LOOPBACK;
            else
                r = mrun_err_setx(&err, EINVAL, "--net must be none or loopback, not '%.32s'", optarg);
            break;
        case OPT_JSON:
            *json = optarg;
            break;
        case 'q':
            *quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun sandbox: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return -1;
        }
        if (r < 0) {
            fprintf(stderr, "mrun sandbox: %s\n", err.msg);
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "mrun sandbox: no command given\n%s", usage_text);
        return -1;
    }
    if (mrun_sandbox_opts_check(o, &err) < 0) {
        fprintf(stderr, "mrun sandbox: %s\n", err.msg);
        return -1;
    }
    return optind;
}

static void warn_unenforced(unsigned bits)
{
    if (!bits)
        return;
    fprintf(stderr, "mrun sandbox: warning: no writable cgroup for%s%s%s; these limits are not enforced%s\n",
            bits & MRUN_SANDBOX_LIMIT_MEM ? " memory" : "", bits & MRUN_SANDBOX_LIMIT_PIDS ? " pids" : "",
            bits & MRUN_SANDBOX_LIMIT_CPU ? " cpu" : "",
            bits & MRUN_SANDBOX_LIMIT_PIDS ? " (RLIMIT_NPROC stands in for pids)" : "");
}

static int write_json(const char *path, const mrun_sandbox_result *res)
{
    char buf[512];
    int n = mrun_sandbox_result_json(res, buf, sizeof(buf) - 1);
    if (n < 0)
        return -1;
    buf[n++] = '\n';
    mrun_autoclose int fd = strcmp(path, "-") == 0 ? dup(STDOUT_FILENO)
                                                  : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, buf, (size_t)n) != n) {
        fprintf(stderr, "mrun sandbox: --json '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int status_for(const mrun_err *err)
{
    switch (err->sys_errno) {
    case ENOENT:
        return MRUN_SANDBOX_EXIT_NOTFOUND;
    case ENOEXEC:
        return MRUN_SANDBOX_EXIT_NOEXEC;
    default:
        return MRUN_SANDBOX_EXIT_SETUP;
    }
}

int mrun_cmd_sandbox(int argc, char **argv)
{
    mrun_sandbox_opts o;
    mrun_sandbox_opts_init(&o);
    const char *json = NULL;
    int quiet = 0;
    int cmd = parse_args(argc, argv, &o, &json, &quiet);
    if (cmd <= 0) {
        mrun_sandbox_opts_fini(&o);
        return cmd == 0 ? 0 : cmd == -2 ? MRUN_SANDBOX_EXIT_SETUP : 2;
    }

    /* Handlers before start: a signal during setup must not kill mrun and orphan the cgroup. Our parent's
     * death counts as a SIGTERM. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() == 1 && getpid() != 1)
        got_signal = SIGTERM; /* our parent was already gone */

    mrun_err err = MRUN_ERR_INIT;
    mrun_sandbox_io io = {.stdin_fd = STDIN_FILENO, .stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO};
    mrun_cleanup(mrun_sandbox_freep) mrun_sandbox *sb = NULL;
    if (mrun_sandbox_start(&o, argv + cmd, &io, &sb, &err) < 0) {
        int st = status_for(&err);
        if (st == MRUN_SANDBOX_EXIT_SETUP)
            fprintf(stderr, "mrun sandbox: %s (exit 125: nothing ran)\n", err.msg);
        else
            fprintf(stderr, "mrun sandbox: %s\n", err.msg);
        mrun_sandbox_opts_fini(&o);
        return st;
    }
    mrun_sandbox_opts_fini(&o);
    if (!quiet)
        warn_unenforced(mrun_sandbox_unenforced(sb)); /* before the job's output, so it is not missed */
    mrun_sandbox_result res;
    int forwarded = 0;
    int64_t kill_after = -1;
    for (;;) {
        int r = mrun_sandbox_wait(sb, forwarded ? 200 : -1, &res, &err);
        if (r < 0) {
            fprintf(stderr, "mrun sandbox: %s\n", err.msg);
            /* the job's status stands even when the merge failed */
            if (mrun_sandbox_wait(sb, 0, &res, &err) != 0)
                return MRUN_SANDBOX_EXIT_SETUP;
            break;
        }
        if (r == 0)
            break;
        if (got_signal && !forwarded) {
            mrun_sandbox_kill(sb, got_signal, &err);
            forwarded = got_signal;
            kill_after = GRACE_MS / 200;
        } else if (forwarded && --kill_after == 0) {
            mrun_sandbox_kill(sb, SIGKILL, &err);
        }
    }
    if (res.oom_killed && !quiet)
        fprintf(stderr, "mrun sandbox: the command was killed for exceeding its memory limit\n");
    if (res.timed_out && !quiet)
        fprintf(stderr, "mrun sandbox: timed out; the whole process tree was killed\n");
    if (json && write_json(json, &res) < 0)
        return MRUN_SANDBOX_EXIT_SETUP;
    return res.exit_code;
}
