/* cmd_runners.c - `mrun runners`: the runners the coordinator knows, from its HTTP API, as a table or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/auto.h"
#include "cli.h"
#include "client.h"

static const char usage_text[] =
    "usage: mrun runners [OPTIONS]\n"
    "\n"
    "Lists the runners the coordinator knows: name, id, labels, slots, whether online, and when last seen.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  --json            print the server's JSON as is\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success; 1 server error; 2 usage error.\n";

static const char *fmt_ago(int64_t ms, char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t age = ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) - ms;
    if (ms <= 0)
        snprintf(buf, len, "never");
    else if (age < 1000)
        snprintf(buf, len, "just now");
    else if (age < 120000)
        snprintf(buf, len, "%llds ago", (long long)(age / 1000));
    else if (age < 7200000)
        snprintf(buf, len, "%lldm ago", (long long)(age / 60000));
    else if (age < 172800000)
        snprintf(buf, len, "%lldh ago", (long long)(age / 3600000));
    else
        snprintf(buf, len, "%lldd ago", (long long)(age / 86400000));
    return buf;
}

static void print_table(const json_t *j)
{
    char name[64], id[64], labels[128], ago[32];
    printf("%-20s %-24s %-24s %5s %-7s %s\n", "NAME", "ID", "LABELS", "SLOTS", "ONLINE", "LAST SEEN");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "runners"), i, r)
    {
        const char *l = mrun_json_str(r, "labels");
        printf("%-20s %-24s %-24s %5lld %-7s %s\n", mrun_cli_clean(mrun_json_str(r, "name"), name, sizeof(name)),
               mrun_cli_clean(mrun_json_str(r, "id"), id, sizeof(id)),
               *l ? mrun_cli_clean(l, labels, sizeof(labels)) : "-", (long long)mrun_json_int(r, "slots", 0),
               json_is_true(json_object_get(r, "online")) ? "yes" : "no",
               fmt_ago(mrun_json_int(r, "last_seen_ms", 0), ago, sizeof(ago)));
    }
}

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_JSON };

int mrun_cmd_runners(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mrun_client_config cfg = {0};
    bool json = false;
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
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun runners: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mrun runners: no arguments expected (see mrun runners --help)\n");
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&cfg, &cl, &err) < 0) {
        fprintf(stderr, "mrun runners: %s\n", err.msg);
        return 2;
    }
    mrun_cleanup(json_decrefp) json_t *j = NULL;
    if (mrun_client_get_json(cl, "/api/v1/runners", 0, &j, &err) < 0) {
        fprintf(stderr, "mrun runners: %s\n", err.msg);
        return 1;
    }
    if (json) {
        mrun_autofree char *text = json_dumps(j, JSON_COMPACT);
        if (text)
            puts(text);
        return text ? 0 : 1;
    }
    print_table(j);
    return 0;
}
