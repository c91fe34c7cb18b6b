/* bench_sbom.c - `mrun sbom` against @cyclonedx/cyclonedx-npm in lockfile-only mode on the same npm lockfile (by
 * default the 1,567-package tests/data/sbom/npm-big). A program, not a test: the two tools run interleaved in one
 * process (each round runs mrun several times and cyclonedx-npm once, the first tool alternating), so machine
 * noise hits both; it prints per tool the runs, median/min/max wall time and median CPU time (the tool and every
 * process it waited for), the cyclonedx-npm/mrun ratio of medians, and the component count of each tool's output
 * so a reader sees both did the work. See docs/benchmarks.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/parse.h"

extern char **environ;

#ifndef MRUN_SOURCE_DIR
#define MRUN_SOURCE_DIR "."
#endif
#define DEFAULT_DIR "/tmp/bench-sbom"
#define DEFAULT_CDX "/tmp/cdx-npm/node_modules/.bin/cyclonedx-npm"
#define MAX_RUNS    100000

typedef struct tool {
    const char *name;
    const char *argv[16];
    double *wall, *cpu;
    unsigned n;
} tool;

static const char usage[] =
    "usage: bench_sbom [--runs N] [--cdx-runs M] [--mrun PATH] [--cdx PATH] [--dir DIR]\n"
    "Times N runs (default 100) of `mrun sbom DIR` and M runs (default 10) of `cyclonedx-npm --package-lock-only`\n"
    "in DIR, interleaved, and prints medians and their ratio. DIR (default " DEFAULT_DIR ") must hold a package.json\n"
    "and a package-lock.json; by default it is made from tests/data/sbom/npm-big. One-time setup:\n"
    "  npm install --prefix /tmp/cdx-npm @cyclonedx/cyclonedx-npm\n";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs argv in dir with stdout to out_path (or /dev/null) and stderr to /dev/null; 0 when it exited 0. */
static int run(const char *const *argv, const char *dir, const char *out_path, double *ret_wall, double *ret_cpu)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (dir)
        posix_spawn_file_actions_addchdir_np(&fa, dir);
    pid_t pid;
    double t0 = now_ms();
    int e = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        fprintf(stderr, "bench_sbom: %s: %s\n", argv[0], strerror(e));
        return -1;
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        return -1;
    *ret_wall = now_ms() - t0;
    *ret_cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_sbom: %s exited with %d\n", argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Lines of path that hold a "purl": one per component (and the root). */
static long count_purls(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    long n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, "\"purl\"") != NULL;
    fclose(f);
    return n;
}

static int make_dir(const char *dir)
{
    char lock[PATH_MAX], src[PATH_MAX];
    snprintf(lock, sizeof(lock), "%s/package-lock.json", dir);
    if (access(lock, R_OK) == 0)
        return 0;
    if (strcmp(dir, DEFAULT_DIR) != 0) {
        fprintf(stderr, "bench_sbom: %s has no package-lock.json\n", dir);
        return -1;
    }
    mkdir(dir, 0755);
    snprintf(src, sizeof(src), "%s/tests/data/sbom/npm-big/package-lock.json.gz", MRUN_SOURCE_DIR);
    const char *gz[] = {"/bin/gzip", "-dc", src, NULL};
    double w, c;
    if (run(gz, NULL, lock, &w, &c) < 0)
        return -1;
    const char *cp[] = {"/bin/cp", MRUN_SOURCE_DIR "/tests/data/sbom/npm-big/package.json", dir, NULL};
    return run(cp, NULL, NULL, &w, &c);
}

static int parse_args(int argc, char **argv, int64_t *runs, int64_t *cdx_runs, const char **mrun, const char **cdx,
                      const char **dir)
{
    mrun_err err = MRUN_ERR_INIT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "bench_sbom: '%s' needs a value\n%s", a, usage);
            return -1;
        }
        i++;
        if (strcmp(a, "--runs") == 0 || strcmp(a, "--cdx-runs") == 0) {
            if (mrun_parse_int(v, 1, MAX_RUNS, strcmp(a, "--runs") == 0 ? runs : cdx_runs, &err) < 0) {
                fprintf(stderr, "bench_sbom: %s: %s\n", a, err.msg);
                return -1;
            }
        } else if (strcmp(a, "--mrun") == 0) {
            *mrun = v;
        } else if (strcmp(a, "--cdx") == 0) {
            *cdx = v;
        } else if (strcmp(a, "--dir") == 0) {
            *dir = v;
        } else {
            fprintf(stderr, "bench_sbom: unknown option '%s'\n%s", a, usage);
            return -1;
        }
    }
    return 0;
}

static void report(tool *t)
{
    double lo = t->wall[0], hi = t->wall[0];
    for (unsigned i = 1; i < t->n; i++) {
        lo = t->wall[i] < lo ? t->wall[i] : lo;
        hi = t->wall[i] > hi ? t->wall[i] : hi;
    }
    printf("%-14s %6u %12.2f %10.2f %10.2f %12.2f\n", t->name, t->n, median(t->wall, t->n), lo, hi,
           median(t->cpu, t->n));
}

int main(int argc, char **argv)
{
    int64_t runs = 100, cdx_runs = 10;
    const char *mrun = "build/mrun", *cdx = DEFAULT_CDX, *dir = DEFAULT_DIR;
    if (parse_args(argc, argv, &runs, &cdx_runs, &mrun, &cdx, &dir) < 0)
        return 2;
    if (access(cdx, X_OK) != 0) {
        fprintf(stderr,
                "bench_sbom: %s is missing; install it once with\n  npm install --prefix /tmp/cdx-npm "
                "@cyclonedx/cyclonedx-npm\n",
                cdx);
        return 2;
    }
    if (make_dir(dir) < 0)
        return 2;
    char mrun_out[PATH_MAX], cdx_out[PATH_MAX];
    snprintf(mrun_out, sizeof(mrun_out), "%s.mrun.json", dir);
    snprintf(cdx_out, sizeof(cdx_out), "%s.cdx.json", dir);
    tool m = {"mrun sbom", {mrun, "sbom", dir, NULL}, NULL, NULL, 0};
    tool c = {"cyclonedx-npm",
              {cdx, "--ignore-npm-errors", "--package-lock-only", "--flatten-components", "--output-reproducible",
               "--spec-version", "1.6", "--output-format", "JSON", "--output-file", "-", NULL},
              NULL,
              NULL,
              0};
    m.wall = calloc((size_t)runs, sizeof(double));
    m.cpu = calloc((size_t)runs, sizeof(double));
    c.wall = calloc((size_t)cdx_runs, sizeof(double));
    c.cpu = calloc((size_t)cdx_runs, sizeof(double));
    if (!m.wall || !m.cpu || !c.wall || !c.cpu)
        return 2;
    double w, u; /* one untimed warm-up each, which also writes the outputs counted below */
    if (run(m.argv, NULL, mrun_out, &w, &u) < 0 || run(c.argv, dir, cdx_out, &w, &u) < 0)
        return 1;
    int64_t per_round = (runs + cdx_runs - 1) / cdx_runs;
    for (int64_t r = 0; r < cdx_runs; r++) {
        for (int pass = 0; pass < 2; pass++) {
            bool cdx_now = (pass == 0) == (r % 2 == 0);
            if (cdx_now) {
                if (run(c.argv, dir, NULL, &c.wall[c.n], &c.cpu[c.n]) < 0)
                    return 1;
                c.n++;
            } else {
                for (int64_t k = 0; k < per_round && m.n < (unsigned)runs; k++, m.n++)
                    if (run(m.argv, NULL, NULL, &m.wall[m.n], &m.cpu[m.n]) < 0)
                        return 1;
            }
        }
    }
    printf("lockfile: %s/package-lock.json; components in the output: mrun %ld, cyclonedx-npm %ld (purl lines)\n", dir,
           count_purls(mrun_out), count_purls(cdx_out));
    printf("mrun: %s sbom %s\ncyclonedx-npm: (cd %s && %s --ignore-npm-errors --package-lock-only ...)\n\n", mrun, dir,
           dir, cdx);
    printf("%-14s %6s %12s %10s %10s %12s\n", "tool", "runs", "median ms", "min ms", "max ms", "cpu med ms");
    double mm = median(m.wall, m.n), cm = median(c.wall, c.n);
    report(&m);
    report(&c);
    printf("\ncyclonedx-npm / mrun (median wall time): %.1fx\n", cm / mm);
    free(m.wall);
    free(m.cpu);
    free(c.wall);
    free(c.cpu);
    return 0;
}
