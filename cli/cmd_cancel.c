/* cmd_cancel.c - `mrun cancel ID`: cancels every unfinished stage of a pipeline through the coordinator's HTTP API
 * (a running stage's runner kills the step at its next heartbeat). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../common/auto.h"
#include "cli.h"
#include "client.h"

static const char usage_text[] =
    "usage: mrun cancel [OPTIONS] ID\n"
    "\n"
    "Cancels every stage of pipeline ID that has not finished; a running step is killed within about 2 s.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success (also when nothing was left to cancel); 1 server error; 2 usage error.\n";

enum { OPT_SERVER = 256, OPT_TOKEN };

int mrun_cmd_cancel(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mrun_client_config cfg = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER:
            cfg.server = optarg;
            break;
        case OPT_TOKEN:
            cfg.token = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun cancel: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "mrun cancel: one pipeline ID expected (see mrun cancel --help)\n");
        return 2;
    }
    const char *id = argv[optind];
    if (!mrun_cli_valid_id(id)) {
        fprintf(stderr, "mrun cancel: '%.64s' is not a pipeline ID (32 hex digits)\n", id);
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&cfg, &cl, &err) < 0) {
        fprintf(stderr, "mrun cancel: %s\n", err.msg);
        return 2;
    }
    char path[128];
    /* the cancel endpoint answers 0 for an unknown id; ask first so a typo says so */
    snprintf(path, sizeof(path), "/api/v1/pipelines/%s", id);
    mrun_cleanup(json_decrefp) json_t *p = NULL;
    mrun_cleanup(json_decrefp) json_t *j = NULL;
    json_t *empty = json_object();
    int r = mrun_client_get_json(cl, path, 0, &p, &err);
    if (r == 0) {
        snprintf(path, sizeof(path), "/api/v1/pipelines/%s/cancel", id);
        r = mrun_client_post_json(cl, path, empty, &j, &err);
    }
    json_decref(empty);
    if (r < 0) {
        fprintf(stderr, "mrun cancel: %s\n", err.msg);
        return 1;
    }
    printf("cancelled %lld stage(s)\n", (long long)mrun_json_int(j, "cancelled", 0));
    return 0;
}
