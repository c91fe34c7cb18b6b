/* bench_secrets.c - throughput of `mrun scan secrets` against secretlint (recommended preset) on the same tree.
 * A program, not a test: the two tools run round-robin in one process, so machine noise hits them alike; it
 * prints the tree size, per tool p50/min wall time and MB/s, the secretlint/mrun ratio of p50, and each tool's
 * finding and file counts from one extra run, so a reader sees both really scanned. See docs/benchmarks.md. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/auto.h"
#include "common/err.h"
#include "common/parse.h"

extern char **environ;

#define MAX_ARGS     16
#define CAPTURE_SHOW 8192          /* bytes of a failed tool's stderr we print */
#define BINARY_PROBE 8192          /* as mrun's scan walk: a NUL in the first 8 KiB makes a file binary */
#define MAX_FILE     (1 << 20)     /* mrun scan secrets' default --max-file-size */
#define DEFAULT_TREE "/tmp/bench-secrets-tree"
#define DEFAULT_SLDIR "/tmp/secretlint-bench"
#define RC_JSON      "{\"rules\":[{\"id\":\"@secretlint/secretlint-rule-preset-recommend\"}]}\n"
#define PATH_ENV     "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct tool {
    const char *name;
    const char *argv[MAX_ARGS]; /* the timed command (default output format, stdout to /dev/null) */
    const char *count_argv[MAX_ARGS]; /* the same with --format json, run once for the counts */
    const char *cwd;            /* working directory of the child, or NULL */
    double *ms;
    unsigned n;
} tool;

typedef struct tree_size {
    uint64_t files, bytes;          /* every regular file (symlinks not followed) */
    uint64_t text_files, text_bytes; /* of them: not binary, not over 1 MiB, outside .git and node_modules */
} tree_size;

typedef struct bench {
    int64_t runs, warmup;
    char mrun[PATH_MAX], node[PATH_MAX];
    char sldir[PATH_MAX], slbin[PATH_MAX], slrc[PATH_MAX];
    char tree[PATH_MAX], source[PATH_MAX];
    bool tree_given;
    int null_fd, out_fd, err_fd;
    tool t[2]; /* 0 mrun, 1 secretlint */
} bench;

static const char usage[] =
    "usage: bench_secrets [--runs N] [--warmup N] [--mrun PATH] [--node PATH] [--secretlint-dir DIR]\n"
    "                     [--secretlintrc FILE] [--tree DIR | --source DIR]\n"
    "Times N interleaved runs (default 5, after 1 warmup) of `mrun scan secrets TREE` and of secretlint with its\n"
    "recommended preset on TREE. Without --tree, a copy of the text files of --source (default\n"
    "/usr/lib/python3/dist-packages, else /usr/share/doc) is made once in " DEFAULT_TREE ".\n"
    "One-time setup: npm install --prefix " DEFAULT_SLDIR " secretlint @secretlint/secretlint-rule-preset-recommend\n";

/* ---- helpers -------------------------------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int resolve_exe(const char *name, char *ret, size_t len, mrun_err *err)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) < 0)
            return mrun_err_set(err, errno, "'%s'", name);
        snprintf(ret, len, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = PATH_ENV;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char cand[PATH_MAX];
        int w = snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, name);
        if (n > 0 && w > 0 && (size_t)w < sizeof(cand) && access(cand, X_OK) == 0) {
            snprintf(ret, len, "%s", cand);
            return 0;
        }
        p += n + (p[n] == ':');
    }
    return mrun_err_setx(err, ENOENT, "'%s' not found in PATH (pass its path)", name);
}

static int set_path(char *dst, size_t len, mrun_err *err, const char *a, const char *b)
{
    int w = snprintf(dst, len, "%s%s", a, b);
    if (w < 0 || (size_t)w >= len)
        return mrun_err_setx(err, ENAMETOOLONG, "path too long: %s%s", a, b);
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* ---- the tree: walk, filter, copy ----------------------------------------------------------------------- */

/* Names neither tool should see: VCS and dependency dirs one of them skips by default, and ignore or config
 * files that would make one of them skip more than the other. */
static bool excluded_name(const char *n)
{
    return strcmp(n, ".git") == 0 || strcmp(n, "node_modules") == 0 || strcmp(n, ".gitignore") == 0 ||
           strcmp(n, ".mrunignore") == 0 || strcmp(n, ".mrun") == 0 || strncmp(n, ".secretlint", 11) == 0;
}

/* Reads a file that is eligible for both scanners (regular, at most 1 MiB, no NUL in its first 8 KiB) into a
 * malloc'd buffer; returns 1 and the buffer, 0 when not eligible, -1 on error. */
static int read_text(int dfd, const char *name, const struct stat *st, char **ret, mrun_err *err)
{
    *ret = NULL;
    if (st->st_size > MAX_FILE)
        return 0;
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == EACCES ? 0 : mrun_err_set(err, errno, "open '%s'", name);
    size_t len = (size_t)st->st_size;
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "read '%s'", name);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return r < 0 ? mrun_err_set(err, errno, "read '%s'", name) : 0;
        }
        got += (size_t)r;
    }
    if (memchr(buf, 0, len < BINARY_PROBE ? len : BINARY_PROBE)) {
        free(buf);
        return 0;
    }
    *ret = buf;
    return 1;
}

static int write_file(int dfd, const char *name, const char *buf, size_t len, mode_t mode, mrun_err *err)
{
    mrun_autoclose int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return mrun_err_set(err, errno, "create '%s'", name);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return mrun_err_set(err, errno, "write '%s'", name);
        off += (size_t)w;
    }
    return 0;
}

/* Walks the directory sfd, never following a symlink, adding to *sz. With dfd >= 0, copies every eligible
 * file (and the directories leading to it) into dfd. */
static int walk(int sfd, int dfd, tree_size *sz, mrun_err *err)
{
    int dup_fd = dup(sfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return mrun_err_set(err, errno, "opendir");
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(sfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int csfd = openat(sfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (csfd < 0)
                continue;
            int cdfd = -1;
            tree_size sub = {0};
            if (dfd >= 0 && !excluded_name(n)) {
                if (mkdirat(dfd, n, 0755) < 0 && errno != EEXIST)
                    r = mrun_err_set(err, errno, "mkdir '%s'", n);
                else if ((cdfd = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                    r = mrun_err_set(err, errno, "open '%s'", n);
            }
            if (r == 0)
                r = walk(csfd, cdfd, &sub, err);
            close(csfd);
            if (cdfd >= 0)
                close(cdfd);
            sz->files += sub.files;
            sz->bytes += sub.bytes;
            if (!excluded_name(n)) {
                sz->text_files += sub.text_files;
                sz->text_bytes += sub.text_bytes;
            }
            if (r == 0 && dfd >= 0 && sub.text_files == 0 && !excluded_name(n))
                unlinkat(dfd, n, AT_REMOVEDIR); /* no empty dirs in the copy */
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        sz->files++;
        sz->bytes += (uint64_t)st.st_size;
        if (excluded_name(n))
            continue;
        char *buf = NULL;
        int ok = read_text(sfd, n, &st, &buf, err);
        if (ok < 0) {
            r = -1;
            break;
        }
        if (ok == 0)
            continue;
        sz->text_files++;
        sz->text_bytes += (uint64_t)st.st_size;
        if (dfd >= 0)
            r = write_file(dfd, n, buf, (size_t)st.st_size, 0644, err);
        free(buf);
    }
    closedir(d);
    return r;
}

static int walk_path(const char *src, const char *dst, tree_size *sz, mrun_err *err)
{
    mrun_autoclose int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return mrun_err_set(err, errno, "open '%s'", src);
    mrun_autoclose int dfd = -1;
    if (dst) {
        if (mkdir(dst, 0755) < 0)
            return mrun_err_set(err, errno, "mkdir '%s'", dst);
        dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return mrun_err_set(err, errno, "open '%s'", dst);
    }
    return walk(sfd, dfd, sz, err) < 0 ? mrun_err_prefix(err, "%s", src) : 0;
}

/* The default tree: a filtered copy of --source in DEFAULT_TREE, made once; TREE.done marks it complete. */
static int ensure_tree(bench *b, mrun_err *err)
{
    if (b->tree_given)
        return is_dir(b->tree) ? 0 : mrun_err_setx(err, ENOTDIR, "--tree '%s' is not a directory", b->tree);
    char done[PATH_MAX];
    if (set_path(done, sizeof(done), err, b->tree, ".done") < 0)
        return -1;
    if (access(done, F_OK) == 0 && is_dir(b->tree))
        return 0;
    if (nftw(b->tree, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return mrun_err_set(err, errno, "remove stale '%s'", b->tree);
    fprintf(stderr, "bench_secrets: copying the text files of %s to %s (once)\n", b->source, b->tree);
    tree_size sz = {0};
    if (walk_path(b->source, b->tree, &sz, err) < 0)
        return -1;
    mrun_autoclose int fd = open(done, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return mrun_err_set(err, errno, "create '%s'", done);
    return 0;
}

/* ---- setup of secretlint -------------------------------------------------------------------------------- */

static int ensure_secretlint(bench *b, mrun_err *err)
{
    if (set_path(b->slbin, sizeof(b->slbin), err, b->sldir, "/node_modules/.bin/secretlint") < 0)
        return -1;
    char preset[PATH_MAX];
    if (set_path(preset, sizeof(preset), err, b->sldir,
                 "/node_modules/@secretlint/secretlint-rule-preset-recommend/package.json") < 0)
        return -1;
    if (access(b->slbin, F_OK) < 0 || access(preset, F_OK) < 0)
        return mrun_err_setx(err, ENOENT,
                             "secretlint is not installed in %s; once: npm install --prefix %s secretlint "
                             "@secretlint/secretlint-rule-preset-recommend",
                             b->sldir, b->sldir);
    if (b->slrc[0])
        return access(b->slrc, R_OK) == 0 ? 0 : mrun_err_set(err, errno, "--secretlintrc '%s'", b->slrc);
    if (set_path(b->slrc, sizeof(b->slrc), err, b->sldir, "/.secretlintrc.json") < 0)
        return -1;
    if (access(b->slrc, F_OK) == 0)
        return 0;
    mrun_autoclose int dfd = open(b->sldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return mrun_err_set(err, errno, "open '%s'", b->sldir);
    return write_file(dfd, ".secretlintrc.json", RC_JSON, strlen(RC_JSON), 0644, err);
}

static void build_tools(bench *b)
{
    tool *m = &b->t[0], *s = &b->t[1];
    m->name = "mrun";
    const char *ma[] = {b->mrun, "scan", "secrets", b->tree, NULL};
    const char *mc[] = {b->mrun, "scan", "secrets", "--format", "json", b->tree, NULL};
    memcpy(m->argv, ma, sizeof(ma));
    memcpy(m->count_argv, mc, sizeof(mc));
    s->name = "secretlint";
    s->cwd = b->tree; /* secretlint globs relative to its working directory */
    const char *sa[] = {b->node, b->slbin, "--secretlintrc", b->slrc, "**/*", NULL};
    const char *sc[] = {b->node, b->slbin, "--secretlintrc", b->slrc, "--format", "json", "**/*", NULL};
    memcpy(s->argv, sa, sizeof(sa));
    memcpy(s->count_argv, sc, sizeof(sc));
}

/* ---- running -------------------------------------------------------------------------------------------- */

static int reset_capture(int fd, mrun_err *err)
{
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return mrun_err_set(err, errno, "reset capture file");
    return 0;
}

static void show_capture(int fd, const char *what)
{
    char buf[CAPTURE_SHOW + 1];
    ssize_t n = pread(fd, buf, CAPTURE_SHOW, 0);
    if (n <= 0) {
        fprintf(stderr, "--- %s: (empty)\n", what);
        return;
    }
    buf[n] = '\0';
    fprintf(stderr, "--- %s:\n%s%s", what, buf, buf[n - 1] == '\n' ? "" : "\n");
}

static void print_cmd(FILE *f, const tool *t, const char *const *argv)
{
    if (t->cwd)
        fprintf(f, "(cd %s &&", t->cwd);
    for (unsigned i = 0; argv[i]; i++)
        fprintf(f, strchr(argv[i], '*') ? " '%s'" : " %s", argv[i]);
    fprintf(f, "%s", t->cwd ? ")" : "");
}

/* Runs argv once, stdout into out_fd, stderr into err_fd (reset first). Both scanners exit 1 on findings, so
 * 0 and 1 count as success. */
static int run_once(bench *b, const tool *t, const char *const *argv, int out_fd, double *ret_ms, mrun_err *err)
{
    if (reset_capture(b->err_fd, err) < 0 || (out_fd != b->null_fd && reset_capture(out_fd, err) < 0))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, b->null_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, b->err_fd, 2);
    if (t->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, t->cwd);
    pid_t pid;
    int status = 0;
    double t0 = now_ms();
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    while (rc == 0 && waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            rc = errno;
    }
    double t1 = now_ms();
    posix_spawn_file_actions_destroy(&fa);
    *ret_ms = t1 - t0;
    if (rc != 0)
        return mrun_err_set(err, rc, "%s: spawn '%s'", t->name, argv[0]);
    if (WIFSIGNALED(status))
        return mrun_err_setx(err, EPROTO, "%s: killed by signal %d", t->name, WTERMSIG(status));
    if (WEXITSTATUS(status) > 1)
        return mrun_err_setx(err, EPROTO, "%s: exited with status %d", t->name, WEXITSTATUS(status));
    return 0;
}

static void report_failure(bench *b, const tool *t, const char *const *argv, const mrun_err *err)
{
    fprintf(stderr, "bench_secrets: %s\ncommand:", err->msg);
    print_cmd(stderr, t, argv);
    fputc('\n', stderr);
    show_capture(b->err_fd, "its stderr");
}

/* Iteration i runs both tools, starting with tool i % 2. */
static int run_all(bench *b)
{
    mrun_err err = MRUN_ERR_INIT;
    for (int64_t i = 0; i < b->warmup + b->runs; i++) {
        for (unsigned k = 0; k < 2; k++) {
            tool *t = &b->t[(unsigned)((i + k) % 2)];
            double ms = 0;
            if (run_once(b, t, t->argv, b->null_fd, &ms, &err) < 0) {
                report_failure(b, t, t->argv, &err);
                return -1;
            }
            if (i >= b->warmup)
                t->ms[t->n++] = ms;
            fprintf(stderr, "bench_secrets: %s %s %lld: %.0f ms\n", i < b->warmup ? "warmup" : "run", t->name,
                    (long long)(i < b->warmup ? i + 1 : i - b->warmup + 1), ms);
        }
    }
    return 0;
}

/* ---- counts from one JSON run --------------------------------------------------------------------------- */

typedef struct counts {
    long long findings, files, skipped, bytes; /* -1: not in the output */
    long long binary;
} counts;

static long long count_str(const char *buf, size_t len, const char *needle)
{
    long long n = 0;
    size_t nl = strlen(needle);
    for (const char *p = buf; (p = memmem(p, len - (size_t)(p - buf), needle, nl)) != NULL; p += nl)
        n++;
    return n;
}

/* The integer after "key": at or after from, or -1. */
static long long json_int_after(const char *buf, size_t len, const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = memmem(from, len - (size_t)(from - buf), pat, strlen(pat));
    if (!p)
        return -1;
    p += strlen(pat);
    while (p < buf + len && (*p == ' ' || *p == '\n'))
        p++;
    if (p >= buf + len || *p < '0' || *p > '9')
        return -1;
    long long v = 0;
    for (; p < buf + len && *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return v;
}

/* mrun: the "stats" object. secretlint: one result per file it read, with "sourceContentType" text or binary,
 * and one "ruleId" per message (a key, so it cannot occur unescaped inside the file contents it echoes). */
static int count_run(bench *b, unsigned k, counts *c, mrun_err *err)
{
    tool *t = &b->t[k];
    double ms;
    memset(c, 0xff, sizeof(*c));
    if (run_once(b, t, t->count_argv, b->out_fd, &ms, err) < 0) {
        report_failure(b, t, t->count_argv, err);
        return -1;
    }
    struct stat st;
    if (fstat(b->out_fd, &st) < 0)
        return mrun_err_set(err, errno, "stat capture");
    size_t len = (size_t)st.st_size;
    if (len == 0)
        return mrun_err_setx(err, EPROTO, "%s: empty JSON output", t->name);
    char *buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, b->out_fd, 0);
    if (buf == MAP_FAILED)
        return mrun_err_set(err, errno, "mmap capture");
    if (k == 0) {
        const char *s = memmem(buf, len, "\"stats\"", 7);
        if (s) {
            c->findings = json_int_after(buf, len, s, "findings");
            c->files = json_int_after(buf, len, s, "files_scanned");
            c->skipped = json_int_after(buf, len, s, "files_skipped");
            c->bytes = json_int_after(buf, len, s, "bytes_scanned");
        }
    } else {
        c->findings = count_str(buf, len, "\"ruleId\":");
        c->files = count_str(buf, len, "\"sourceContentType\":\"text\"");
        c->binary = count_str(buf, len, "\"sourceContentType\":\"binary\"");
    }
    munmap(buf, len);
    return 0;
}

/* ---- report --------------------------------------------------------------------------------------------- */

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

static double percentile(const double *sorted, unsigned n, double p)
{
    double pos = p * (double)(n - 1);
    unsigned lo = (unsigned)pos;
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + (pos - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

static void machine_print(void)
{
    struct utsname u;
    char cpu[128] = "unknown", line[256];
    FILE *f = fopen("/proc/cpuinfo", "re");
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    printf("machine: nproc %ld, kernel %s %s %s, cpu %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           uname(&u) == 0 ? u.sysname : "?", uname(&u) == 0 ? u.release : "?", uname(&u) == 0 ? u.machine : "?",
           cpu);
}

static void report(bench *b, const tree_size *sz, const counts *c)
{
    printf("bench_secrets: %lld runs per tool after %lld warmup, interleaved round-robin\n", (long long)b->runs,
           (long long)b->warmup);
    machine_print();
    printf("tree: %s: %llu regular files, %.1f MB; of them text (no NUL in the first 8 KiB, at most 1 MiB, outside "
           ".git/node_modules): %llu files, %.1f MB\n",
           b->tree, (unsigned long long)sz->files, (double)sz->bytes / 1e6, (unsigned long long)sz->text_files,
           (double)sz->text_bytes / 1e6);
    printf("commands (stdout to /dev/null):\n");
    for (unsigned k = 0; k < 2; k++) {
        printf("  %-10s ", b->t[k].name);
        print_cmd(stdout, &b->t[k], b->t[k].argv);
        putchar('\n');
    }
    printf("one run with --format json: mrun %lld findings, %lld files scanned, %lld skipped, %lld bytes; "
           "secretlint %lld findings, %lld text files read, %lld read as binary\n",
           c[0].findings, c[0].files, c[0].skipped, c[0].bytes, c[1].findings, c[1].files, c[1].binary);
    if (c[0].files != c[1].files || c[1].binary > 0 || (uint64_t)c[0].files != sz->text_files)
        printf("WARNING: the tools did not scan the same set of files (see the counts above)\n");
    double mb = (double)sz->text_bytes / 1e6, p50[2];
    printf("\n%-10s %5s %10s %10s %10s %10s %12s %12s\n", "tool", "runs", "p50 ms", "min ms", "mean ms", "max ms",
           "MB/s at p50", "MB/s at min");
    for (unsigned k = 0; k < 2; k++) {
        tool *t = &b->t[k];
        qsort(t->ms, t->n, sizeof(double), cmp_double);
        double sum = 0;
        for (unsigned i = 0; i < t->n; i++)
            sum += t->ms[i];
        p50[k] = percentile(t->ms, t->n, 0.5);
        printf("%-10s %5u %10.1f %10.1f %10.1f %10.1f %12.1f %12.1f\n", t->name, t->n, p50[k], t->ms[0],
               sum / t->n, t->ms[t->n - 1], mb / (p50[k] / 1e3), mb / (t->ms[0] / 1e3));
    }
    printf("ratio secretlint/mrun: p50 %.1fx, min %.1fx (goal: at least 40x at p50: %s)\n", p50[1] / p50[0],
           b->t[1].ms[0] / b->t[0].ms[0], p50[1] / p50[0] >= 40 ? "met" : "NOT met");
}

/* ---- main ----------------------------------------------------------------------------------------------- */

static int parse_args(bench *b, int argc, char **argv, mrun_err *err)
{
    const char *mrun = "mrun", *node = "node";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return mrun_err_setx(err, EINVAL, "unknown or incomplete option '%s'", a);
        const char *val = argv[++i];
        char *dst = NULL;
        if (strcmp(a, "--runs") == 0) {
            if (mrun_parse_int(val, 1, 100000, &b->runs, err) < 0)
                return mrun_err_prefix(err, "--runs");
        } else if (strcmp(a, "--warmup") == 0) {
            if (mrun_parse_int(val, 0, 100000, &b->warmup, err) < 0)
                return mrun_err_prefix(err, "--warmup");
        } else if (strcmp(a, "--mrun") == 0) {
            mrun = val;
        } else if (strcmp(a, "--node") == 0) {
            node = val;
        } else if (strcmp(a, "--secretlint-dir") == 0) {
            dst = b->sldir;
        } else if (strcmp(a, "--secretlintrc") == 0) {
            dst = b->slrc;
        } else if (strcmp(a, "--tree") == 0) {
            dst = b->tree;
            b->tree_given = true;
        } else if (strcmp(a, "--source") == 0) {
            dst = b->source;
        } else {
            return mrun_err_setx(err, EINVAL, "unknown option '%s'", a);
        }
        /* absolute, since secretlint runs in the tree and mrun gets the tree as an argument */
        if (dst && !realpath(val, dst))
            return mrun_err_set(err, errno, "%s '%s'", a, val);
    }
    if (!b->sldir[0])
        snprintf(b->sldir, sizeof(b->sldir), "%s", DEFAULT_SLDIR);
    if (!b->tree[0])
        snprintf(b->tree, sizeof(b->tree), "%s", DEFAULT_TREE);
    if (!b->source[0])
        snprintf(b->source, sizeof(b->source), "%s",
                 is_dir("/usr/lib/python3/dist-packages") ? "/usr/lib/python3/dist-packages" : "/usr/share/doc");
    if (resolve_exe(mrun, b->mrun, sizeof(b->mrun), err) < 0)
        return mrun_err_prefix(err, "--mrun");
    if (resolve_exe(node, b->node, sizeof(b->node), err) < 0)
        return mrun_err_prefix(err, "--node");
    if (b->mrun[0] != '/') { /* mrun gets an absolute tree; keep its path valid whatever the cwd */
        char abs[PATH_MAX];
        if (!realpath(b->mrun, abs))
            return mrun_err_set(err, errno, "--mrun '%s'", b->mrun);
        snprintf(b->mrun, sizeof(b->mrun), "%s", abs);
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench b = {.runs = 5, .warmup = 1, .null_fd = -1, .out_fd = -1, .err_fd = -1};
    mrun_err err = MRUN_ERR_INIT;
    if (parse_args(&b, argc, argv, &err) < 0) {
        fprintf(stderr, "bench_secrets: %s\n%s", err.msg, usage);
        return 2;
    }
    int rc = 1;
    tree_size sz = {0};
    counts c[2];
    if (ensure_secretlint(&b, &err) < 0 || ensure_tree(&b, &err) < 0 || walk_path(b.tree, NULL, &sz, &err) < 0) {
        fprintf(stderr, "bench_secrets: %s\n", err.msg);
        return 2;
    }
    build_tools(&b);
    b.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    b.out_fd = memfd_create("bench-stdout", MFD_CLOEXEC);
    b.err_fd = memfd_create("bench-stderr", MFD_CLOEXEC);
    b.t[0].ms = calloc((size_t)b.runs, sizeof(double));
    b.t[1].ms = calloc((size_t)b.runs, sizeof(double));
    if (b.null_fd < 0 || b.out_fd < 0 || b.err_fd < 0 || !b.t[0].ms || !b.t[1].ms) {
        fprintf(stderr, "bench_secrets: set-up: %s\n", strerror(errno));
        goto out;
    }
    if (run_all(&b) < 0)
        goto out;
    if (count_run(&b, 0, &c[0], &err) < 0 || count_run(&b, 1, &c[1], &err) < 0) {
        fprintf(stderr, "bench_secrets: %s\n", err.msg);
        goto out;
    }
    report(&b, &sz, c);
    rc = 0;
out:
    free(b.t[0].ms);
    free(b.t[1].ms);
    mrun_closep(&b.null_fd);
    mrun_closep(&b.out_fd);
    mrun_closep(&b.err_fd);
    return rc;
}
