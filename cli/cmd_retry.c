/* cmd_retry.c - `mrun retry ID [STAGE]`: sends a finished pipeline's failed or cancelled stages (or one stage)
 * back to the scheduler through the coordinator's HTTP API; --wait follows it like `mrun status --follow`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../common/auto.h"
#include "cli.h"
#include "client.h"

static const char usage_text[] =
    "usage: mrun retry [OPTIONS] ID [STAGE]\n"
    "\n"
    "Runs a finished pipeline again from where it failed: STAGE, or every failed or cancelled stage, goes back\n"
    "to ready with fresh retries, and the stages skipped or cancelled because of it wait for it again. Stages\n"
    "that passed are not run again.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  -w, --wait        follow the pipeline until it ends, showing stage changes\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success (with --wait: the pipeline passed); 1 server error, or with --wait the pipeline\n"
    "failed or was cancelled; 2 usage error.\n";

enum { OPT_SERVER = 256, OPT_TOKEN };

int mrun_cmd_retry(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mrun_client_config cfg = {0};
    bool wait = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "wh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER:
            cfg.server = optarg;
            break;
        case OPT_TOKEN:
            cfg.token = optarg;
            break;
        case 'w':
            wait = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun retry: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (argc - optind < 1 || argc - optind > 2) {
        fprintf(stderr, "mrun retry: a pipeline ID and at most one STAGE expected (see mrun retry --help)\n");
        return 2;
    }
    const char *id = argv[optind], *stage = argc - optind == 2 ? argv[optind + 1] : NULL;
    if (!mrun_cli_valid_id(id)) {
        fprintf(stderr, "mrun retry: '%.64s' is not a pipeline ID (32 hex digits)\n", id);
        return 2;
    }
    if (stage && !*stage) {
        fprintf(stderr, "mrun retry: empty STAGE\n");
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&cfg, &cl, &err) < 0) {
        fprintf(stderr, "mrun retry: %s\n", err.msg);
        return 2;
    }
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/pipelines/%s/retry", id);
    mrun_cleanup(json_decrefp) json_t *body = stage ? json_pack("{s:s}", "stage", stage) : json_object();
    mrun_cleanup(json_decrefp) json_t *j = NULL;
    if (!body) {
        fprintf(stderr, "mrun retry: STAGE is not valid UTF-8\n");
        return 2;
    }
    if (mrun_client_post_json(cl, path, body, &j, &err) < 0) {
        fprintf(stderr, "mrun retry: %s\n", err.msg);
        return 1;
    }
    printf("retried %lld stage(s)\n", (long long)mrun_json_int(j, "retried", 0));
    if (!wait)
        return 0;
    fflush(stdout);
    char state[16] = "";
    if (mrun_cli_follow(cl, id, false, state, &err) < 0) {
        fprintf(stderr, "mrun retry: %s\n", err.msg);
        return 1;
    }
    printf("pipeline %s %s\n", id, state);
    return strcmp(state, "passed") == 0 ? 0 : 1;
}
