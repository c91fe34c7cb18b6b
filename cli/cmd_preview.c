/* cmd_preview.c - `mrun preview ls|extend|rm`: the coordinator's previews from its HTTP API. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/auto.h"
#include "../common/parse.h"
#include "cli.h"
#include "client.h"

static const char usage_text[] =
    "usage: mrun preview ls [--all] [--json]\n"
    "       mrun preview extend ID DURATION\n"
    "       mrun preview rm ID\n"
    "\n"
    "ls lists the live previews (--all: ended ones too): id, app, ref, state, URL, time left, sandbox-seconds and\n"
    "peak memory. extend moves a live preview's expiry to now + DURATION (capped by the coordinator). rm stops one:\n"
    "the proxy forgets it at once, its runner stops the sandbox within a heartbeat.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  --all             ls: ended previews too\n"
    "  --json            ls: print the server's JSON as is\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success; 1 server error or unknown preview; 2 usage error.\n";

static void left(int64_t expires_ms, char *buf, size_t n)
{
    int64_t ms = expires_ms - (int64_t)time(NULL) * 1000;
    if (ms <= 0)
        snprintf(buf, n, "-");
    else if (ms < 120000)
        snprintf(buf, n, "%llds", (long long)(ms / 1000));
    else if (ms < 7200000)
        snprintf(buf, n, "%lldm", (long long)(ms / 60000));
    else
        snprintf(buf, n, "%lldh%02lldm", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
}

static void print_table(const json_t *j)
{
    char id[40], app[32], ref[40], url[160], l[32];
    printf("%-32s %-16s %-20s %-8s %6s %9s %8s %s\n", "ID", "APP", "REF", "STATE", "LEFT", "SANDBOX-S", "PEAK-MB",
           "URL");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "previews"), i, p)
    {
        const char *state = mrun_json_str(p, "state");
        left(strcmp(state, "live") == 0 || strcmp(state, "starting") == 0 ? mrun_json_int(p, "expires_ms", 0) : 0, l,
             sizeof(l));
        json_t *secs = json_object_get(p, "sandbox_seconds");
        printf("%-32s %-16s %-20s %-8s %6s %9.1f %8.1f %s\n", mrun_cli_clean(mrun_json_str(p, "id"), id, sizeof(id)),
               mrun_cli_clean(mrun_json_str(p, "app"), app, sizeof(app)),
               mrun_cli_clean(mrun_json_str(p, "ref"), ref, sizeof(ref)), state, l,
               json_is_number(secs) ? json_number_value(secs) : 0.0,
               (double)mrun_json_int(p, "peak_memory_bytes", 0) / (1 << 20),
               *mrun_json_str(p, "url") ? mrun_cli_clean(mrun_json_str(p, "url"), url, sizeof(url)) : "-");
    }
}

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_JSON, OPT_ALL };

/* Preview ids are 32 lowercase hex digits; anything else never reaches a URL. */
static bool id_ok(const char *id)
{
    return strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

static int run(mrun_client *cl, char **argv, bool json, bool all, mrun_err *err)
{
    const char *verb = argv[0];
    char path[256];
    if (strcmp(verb, "ls") == 0) {
        mrun_cleanup(json_decrefp) json_t *j = NULL;
        if (mrun_client_get_json(cl, all ? "/api/v1/previews?all=1" : "/api/v1/previews", 0, &j, err) < 0)
            return -1;
        if (json) {
            mrun_autofree char *text = json_dumps(j, JSON_COMPACT);
            puts(text ? text : "{}");
        } else {
            print_table(j);
        }
        return 0;
    }
    if (!id_ok(argv[1]))
        return mrun_err_setx(err, EINVAL, "'%.64s' is not a preview id", argv[1]);
    if (strcmp(verb, "extend") == 0) {
        mrun_cleanup(json_decrefp) json_t *body = json_pack("{s:s}", "ttl", argv[2]), *ans = NULL;
        snprintf(path, sizeof(path), "/api/v1/previews/%s/extend", argv[1]);
        if (!body || mrun_client_post_json(cl, path, body, &ans, err) < 0)
            return -1;
        time_t t = (time_t)(mrun_json_int(ans, "expires_ms", 0) / 1000);
        char when[32] = "?";
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        printf("preview %s now expires at %s\n", argv[1], when);
        return 0;
    }
    snprintf(path, sizeof(path), "/api/v1/previews/%s", argv[1]);
    if (mrun_client_request(cl, "DELETE", path, NULL, NULL, 0, 0, NULL, NULL, err) < 0)
        return -1;
    printf("preview %s stopped\n", argv[1]);
    return 0;
}

int mrun_cmd_preview(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER}, {"token", required_argument, NULL, OPT_TOKEN},
        {"json", no_argument, NULL, OPT_JSON},           {"all", no_argument, NULL, OPT_ALL},
        {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0}};
    mrun_client_config cfg = {0};
    bool json = false, all = false;
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
        case OPT_ALL:
            all = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun preview: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    int n = argc - optind;
    const char *verb = n > 0 ? argv[optind] : "";
    if (!((strcmp(verb, "ls") == 0 && n == 1) || (strcmp(verb, "extend") == 0 && n == 3) ||
          (strcmp(verb, "rm") == 0 && n == 2))) {
        fprintf(stderr, "mrun preview: expected ls, extend ID DURATION or rm ID\n%s", usage_text);
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    int64_t ms;
    if (strcmp(verb, "extend") == 0 && mrun_parse_duration(argv[optind + 2], &ms, &err) < 0) {
        fprintf(stderr, "mrun preview: %s\n", err.msg);
        return 2;
    }
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&cfg, &cl, &err) < 0 || run(cl, argv + optind, json, all, &err) < 0) {
        fprintf(stderr, "mrun preview %s: %s\n", verb, err.msg);
        return 1;
    }
    return 0;
}
