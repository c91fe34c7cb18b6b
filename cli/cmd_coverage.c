/* cmd_coverage.c - `mrun coverage REPORT`: the pipeline's coverage gate run by hand on a Cobertura or lcov report,
 * with the same code as `uses: coverage-gate`. Exit 1 when the gate fails, 0 when it passes, 2 on usage or I/O
 * errors. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../stages/coverage.h"
#include "cli.h"

static const char usage_text[] =
    "usage: mrun coverage REPORT [OPTIONS]\n"
    "\n"
    "Reads a line coverage report (Cobertura XML from coverage.py, gcovr or JaCoCo converters; an lcov tracefile from\n"
    "node --test --experimental-test-coverage, c8 or lcov), recomputes the totals from its per-line records, shows "
    "the\n"
    "files with the lowest coverage and applies the same gate as `uses: coverage-gate`.\n"
    "\n"
    "  --min PERCENT        fail below this line coverage (e.g. 80 or 80%)\n"
    "  --baseline PERCENT   fail below this coverage (the default branch's), like no-drop: true\n"
    "  --tolerance POINTS   percent points allowed below --baseline (default 0)\n"
    "  --format auto|cobertura|lcov   the report's format (default auto: by content)\n"
    "  --json               print the result as JSON (every file with its figures)\n"
    "  -h, --help           show this help\n";

static int read_file(const char *path, uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "'%.200s'", path);
    if (!S_ISREG(st.st_mode))
        return mrun_err_setx(err, EINVAL, "'%.200s' is not a regular file", path);
    if ((uint64_t)st.st_size > MRUN_COV_MAX_REPORT)
        return mrun_err_setx(err, E2BIG, "'%.200s' is larger than %zu MiB", path, MRUN_COV_MAX_REPORT >> 20);
    size_t cap = (size_t)st.st_size + 1, len = 0;
    mrun_autofree uint8_t *buf = malloc(cap);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "'%.200s'", path);
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mrun_err_set(err, errno, "'%.200s'", path);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len == cap)
        return mrun_err_setx(err, EAGAIN, "'%.200s' changed while it was read", path);
    *ret_buf = mrun_steal_ptr(&buf);
    *ret_len = len;
    return 0;
}

static int percent_opt(const char *flag, const char *arg, double *ret)
{
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_cov_parse_percent(arg, ret, &err) == 0)
        return 0;
    fprintf(stderr, "mrun coverage: %s: %s\n", flag, err.msg);
    return -1;
}

int mrun_cmd_coverage(int argc, char **argv)
{
    static const struct option opts[] = {{"min", required_argument, NULL, 'm'},
                                         {"baseline", required_argument, NULL, 'b'},
                                         {"tolerance", required_argument, NULL, 't'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mrun_cov_gate g = {.min = -1, .baseline = -1, .tolerance = 0};
    mrun_cov_format fmt = MRUN_COV_AUTO;
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (percent_opt("--min", optarg, &g.min) < 0)
                return 2;
            break;
        case 'b':
            if (percent_opt("--baseline", optarg, &g.baseline) < 0)
                return 2;
            break;
        case 't':
            if (percent_opt("--tolerance", optarg, &g.tolerance) < 0)
                return 2;
            break;
        case 'F':
            if (mrun_cov_format_parse(optarg, &fmt) < 0) {
                fprintf(stderr, "mrun coverage: --format must be auto, cobertura or lcov\n");
                return 2;
            }
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun coverage: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "mrun coverage: one REPORT expected\n%s", usage_text);
        return 2;
    }
    const char *path = argv[optind];
    mrun_err err = MRUN_ERR_INIT;
    mrun_autofree uint8_t *buf = NULL;
    size_t len = 0;
    mrun_cleanup(mrun_cov_report_freep) mrun_cov_report *r = NULL;
    if (read_file(path, &buf, &len, &err) < 0 || mrun_cov_parse(path, buf, len, fmt, &r, &err) < 0) {
        fprintf(stderr, "mrun coverage: %s\n", err.msg);
        return 2;
    }
    mrun_cov_verdict v;
    mrun_cov_gate_eval(r, &g, &v);
    int rc = json ? mrun_cov_write_json(r, &g, &v, stdout, &err) : mrun_cov_write_text(r, &g, &v, stdout, &err);
    if (rc < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "mrun coverage: %s\n", err.msg[0] ? err.msg : strerror(errno));
        return 2;
    }
    return v.passed ? 0 : 1;
}
