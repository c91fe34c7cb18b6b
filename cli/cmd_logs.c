/* cmd_logs.c - `mrun logs ID [STAGE]`: a stage's log, or every stage's in pipeline order, from the coordinator's
 * HTTP API; --follow long-polls (from/wait) until each stage is done. The log is the job's data: printed as is. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/auto.h"
#include "cli.h"
#include "client.h"

#define WAIT_MS 10000 /* one long poll; the request timeout is this plus the client's */

static const char usage_text[] =
    "usage: mrun logs [OPTIONS] ID [STAGE]\n"
    "\n"
    "Prints the log of STAGE of pipeline ID, or of every stage in pipeline order, each headed '==> STAGE'.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  -f, --follow      keep printing until the stage has finished (all stages: one after another)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success; 1 server error; 2 usage error.\n";

/* Prints one stage's log; *ends_line tells whether the last byte printed was a newline (or nothing was). */
static int print_log(mrun_client *c, const char *id, const char *stage, bool follow, bool *ends_line, mrun_err *err)
{
    char esc[400], path[600];
    if (!mrun_client_escape(stage, esc, sizeof(esc)))
        return mrun_err_setx(err, EINVAL, "stage name too long");
    uint64_t off = 0;
    for (;;) {
        snprintf(path, sizeof(path), "/api/v1/pipelines/%s/logs/%s?from=%llu&wait=%d", id, esc, (unsigned long long)off,
                 follow ? WAIT_MS : 0);
        mrun_cleanup(json_decrefp) json_t *j = NULL;
        if (mrun_client_get_json(c, path, follow ? WAIT_MS + MRUN_CLIENT_DEFAULT_TIMEOUT : 0, &j, err) < 0)
            return -1;
        const char *data = mrun_json_str(j, "data");
        size_t n = strlen(data);
        if (n) {
            fwrite(data, 1, n, stdout);
            fflush(stdout);
            *ends_line = data[n - 1] == '\n';
        }
        int64_t next = mrun_json_int(j, "next", -1);
        if (next < 0 || (uint64_t)next < off)
            return mrun_err_setx(err, EPROTO, "GET %s: malformed response: bad \"next\"", path);
        bool progress = (uint64_t)next > off;
        off = (uint64_t)next;
        if (json_is_true(json_object_get(j, "done")) || (!follow && !progress))
            return 0;
        if (!progress) { /* a server that answered at once with nothing: do not spin */
            struct timespec ts = {0, 500 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

/* One stage's log, after checking the pipeline has that stage: a long poll on a name that will never have a log
 * would otherwise wait forever. */
static int print_one(mrun_client *c, const char *id, const char *stage, bool follow, mrun_err *err)
{
    char path[128], nm[140];
    snprintf(path, sizeof(path), "/api/v1/pipelines/%s", id);
    mrun_cleanup(json_decrefp) json_t *p = NULL;
    if (mrun_client_get_json(c, path, 0, &p, err) < 0)
        return -1;
    size_t i;
    json_t *s;
    bool found = false;
    json_array_foreach(json_object_get(p, "stages"), i, s)
    {
        if (strcmp(mrun_json_str(s, "name"), stage) == 0)
            found = true;
    }
    if (!found)
        return mrun_err_setx(err, ENOENT, "pipeline %s has no stage '%s'", id, mrun_cli_clean(stage, nm, sizeof(nm)));
    bool ends_line = true;
    if (print_log(c, id, stage, follow, &ends_line, err) < 0)
        return -1;
    if (!ends_line)
        putchar('\n');
    return 0;
}

static int print_all(mrun_client *c, const char *id, bool follow, mrun_err *err)
{
    char path[128], nm[140];
    snprintf(path, sizeof(path), "/api/v1/pipelines/%s", id);
    mrun_cleanup(json_decrefp) json_t *p = NULL;
    if (mrun_client_get_json(c, path, 0, &p, err) < 0)
        return -1;
    bool ends_line = true;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(p, "stages"), i, s)
    {
        const char *name = mrun_json_str(s, "name");
        if (!ends_line)
            putchar('\n');
        ends_line = true;
        if (strcmp(mrun_json_str(s, "state"), "skipped") == 0) {
            printf("==> %s (skipped)\n", mrun_cli_clean(name, nm, sizeof(nm)));
            continue;
        }
        printf("==> %s\n", mrun_cli_clean(name, nm, sizeof(nm)));
        fflush(stdout);
        if (print_log(c, id, name, follow, &ends_line, err) < 0)
            return mrun_err_prefix(err, "stage '%s'", nm);
    }
    if (!ends_line)
        putchar('\n');
    return 0;
}

enum { OPT_SERVER = 256, OPT_TOKEN };

int mrun_cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mrun_client_config cfg = {0};
    bool follow = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER:
            cfg.server = optarg;
            break;
        case OPT_TOKEN:
            cfg.token = optarg;
            break;
        case 'f':
            follow = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun logs: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (argc - optind < 1 || argc - optind > 2) {
        fprintf(stderr, "mrun logs: expected ID and at most one STAGE\n%s", usage_text);
        return 2;
    }
    const char *id = argv[optind], *stage = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (!mrun_cli_valid_id(id)) {
        fprintf(stderr, "mrun logs: '%.64s' is not a pipeline ID (32 hex digits)\n", id);
        return 2;
    }
    if (stage && !*stage) {
        fprintf(stderr, "mrun logs: empty STAGE\n");
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&cfg, &cl, &err) < 0) {
        fprintf(stderr, "mrun logs: %s\n", err.msg);
        return 2;
    }
    int r = stage ? print_one(cl, id, stage, follow, &err) : print_all(cl, id, follow, &err);
    fflush(stdout);
    if (r < 0) {
        fprintf(stderr, "mrun logs: %s\n", err.msg);
        return 1;
    }
    return 0;
}
