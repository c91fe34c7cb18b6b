/* cmd_artifacts_gc.c - `mrun artifacts gc`: the coordinator's retention sweep by hand, on its data directory (run
 * it on the coordinator host, like `mrun tokens`). Says what it deletes; --dry-run only says. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/parse.h"
#include "../coordinator/store.h"
#include "cli.h"

static const char usage_text[] =
    "usage: mrun artifacts gc [OPTIONS]\n"
    "\n"
    "Applies the retention rules to the coordinator's store: the artifacts of finished pipelines beyond the newest\n"
    "N of their app and branch, and of pull-request pipelines older than the TTL, are forgotten (the pipelines and\n"
    "their logs stay); then every blob nothing references any more (no artifact, no unexpired pipeline's source,\n"
    "no pin of a live preview or production deploy) is deleted. Prints each deletion. The running coordinator does\n"
    "the same every --gc-interval.\n"
    "\n"
    "  --data DIR         the coordinator's state directory (default $MRUN_DATA, else /var/lib/mrun)\n"
    "  --keep N           pipelines per app and branch whose artifacts are kept (default 10)\n"
    "  --pr-ttl DUR       pull-request artifacts expire after this (default 7d)\n"
    "  --grace DUR        never delete a blob written or reused more recently than this (default 1h)\n"
    "  -n, --dry-run      say what would be deleted, delete nothing\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 done; 1 the store could not be read or changed; 2 usage error.\n";

static void say(void *ud, const char *kind, const char *pipeline_id, const char *stage, const char *path,
                const char *digest, uint64_t size)
{
    const char *verb = *(const bool *)ud ? "would delete" : "deleted";
    if (strcmp(kind, "artifact") == 0)
        printf("%s artifact %s/%s of pipeline %s (sha256:%.12s)\n", verb, stage, path, pipeline_id, digest);
    else
        printf("%s blob sha256:%s (%llu bytes)\n", verb, digest, (unsigned long long)size);
}

int mrun_cmd_artifacts_gc(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},  {"keep", required_argument, NULL, 'k'},
        {"pr-ttl", required_argument, NULL, 'p'}, {"grace", required_argument, NULL, 'g'},
        {"dry-run", no_argument, NULL, 'n'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *data = getenv("MRUN_DATA");
    mrun_store_retention r = {0};
    bool dry_run = false;
    mrun_err err = MRUN_ERR_INIT;
    int64_t keep = 0;
    int c, bad = 0;
    optind = 1;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'k':
            bad = mrun_parse_int(optarg, 1, 1000000, &keep, &err) < 0;
            r.keep_per_branch = (int)keep;
            break;
        case 'p':
            bad = mrun_parse_duration(optarg, &r.pr_ttl_ms, &err) < 0;
            break;
        case 'g':
            bad = mrun_parse_duration(optarg, &r.grace_ms, &err) < 0;
            break;
        case 'n':
            dry_run = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun artifacts gc: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (bad || optind != argc) {
        fprintf(stderr, "mrun artifacts gc: %s\n", bad ? err.msg : "no arguments expected");
        return 2;
    }
    mrun_store *st = NULL;
    if (mrun_store_open(data ? data : "/var/lib/mrun", &st, &err) < 0) {
        fprintf(stderr, "mrun artifacts gc: %s\n", err.msg);
        return 1;
    }
    mrun_store_gc_report rep;
    int rc = mrun_store_gc(st, &r, dry_run, (int64_t)time(NULL) * 1000, say, &dry_run, &rep, &err);
    mrun_store_close(st);
    if (rc < 0) {
        fprintf(stderr, "mrun artifacts gc: %s\n", err.msg);
        return 1;
    }
    printf("%s: %zu pipeline(s) expired, %zu artifact(s) and %zu blob(s), %llu bytes\n",
           dry_run ? "dry run, would delete" : "deleted", rep.pipelines, rep.artifacts, rep.blobs,
           (unsigned long long)rep.bytes);
    return 0;
}
