/* cmd_runner.c - `mrun runner`: a runner daemon; drains on SIGTERM (finishes or hands back its stages). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../runner/runner.h"
#include "cli.h"

static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
    stop_sig = sig;
}

static const char usage_text[] =
    "usage: mrun runner [OPTIONS]\n"
    "\n"
    "Runs stages for a coordinator, each step in a sandbox. On SIGTERM it takes no new work and lets running\n"
    "stages finish for up to --drain, then cancels them. Environment: MRUN_COORDINATOR, MRUN_TOKEN, MRUN_LOG_LEVEL.\n"
    "\n"
    "  --coordinator URL    nng address of the coordinator (default tcp://127.0.0.1:7700; tls+tcp://... with TLS)\n"
    "  --tls-ca FILE        CA (PEM) the coordinator's certificate must chain to, for tls+tcp://\n"
    "  --tls-server-name N  the name in the coordinator's certificate (default: the URL's host)\n"
    "  --preview-bind ADDR  where previews' relays listen: an address the coordinator's proxy reaches and nobody\n"
    "                       else should (default 127.0.0.1: a coordinator on this host)\n"
    "  --token TOKEN        runner token from `mrun tokens create --role runner` (or MRUN_TOKEN)\n"
    "  --name NAME          shown in `mrun runners` (default: the host name)\n"
    "  --labels A,B         labels stages can ask for with runs-on (default linux)\n"
    "  --slots N            stages at once (default 1)\n"
    "  --work DIR           workspaces (default /var/lib/mrun-runner)\n"
    "  --drain SECONDS      how long SIGTERM waits for running stages (default 60)\n"
    "  --log-level LEVEL    error, warn, info (default) or debug\n"
    "  --config FILE         settings as `key = value` lines, keys as these options (or MRUN_CONFIG)\n"
    "  -h, --help           show this help\n";

int mrun_cmd_runner(int argc, char **argv)
{
    static const struct option opts[] = {
        {"coordinator", required_argument, NULL, 'c'}, {"token", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'n'},        {"labels", required_argument, NULL, 'l'},
        {"slots", required_argument, NULL, 's'},       {"work", required_argument, NULL, 'w'},
        {"drain", required_argument, NULL, 'D'},       {"log-level", required_argument, NULL, 'L'},
        {"tls-ca", required_argument, NULL, 'A'},      {"tls-server-name", required_argument, NULL, 'S'},
        {"preview-bind", required_argument, NULL, 'B'},
        {"config", required_argument, NULL, 'C'},      {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    const char *preview_bind = NULL;
    const char *coord = getenv("MRUN_COORDINATOR"), *token = getenv("MRUN_TOKEN"), *name = NULL;
    const char *work = "/var/lib/mrun-runner", *level = getenv("MRUN_LOG_LEVEL");
    char labels_buf[1024] = "linux";
    const char *tls_ca = NULL, *tls_name = NULL;
    long slots = 1, drain = 60;
    int c;
    /* --config FILE (or MRUN_CONFIG): the file's settings, overridden by the flags */
    if (mrun_cli_daemon_config("runner", opts, &argc, &argv) != 0)
        return 2;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'c':
            coord = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'l':
            if (strlen(optarg) >= sizeof(labels_buf)) {
                fprintf(stderr, "mrun runner: --labels too long\n");
                return 2;
            }
            snprintf(labels_buf, sizeof(labels_buf), "%s", optarg);
            break;
        case 's':
            slots = strtol(optarg, &end, 10);
            if (*end || slots < 1 || slots > 64) {
                fprintf(stderr, "mrun runner: --slots must be 1-64\n");
                return 2;
            }
            break;
        case 'w':
            work = optarg;
            break;
        case 'D':
            drain = strtol(optarg, &end, 10);
            if (*end || drain < 0 || drain > 86400) {
                fprintf(stderr, "mrun runner: --drain must be 0-86400 seconds\n");
                return 2;
            }
            break;
        case 'L':
            level = optarg;
            break;
        case 'A':
            tls_ca = optarg;
            break;
        case 'S':
            tls_name = optarg;
            break;
        case 'B':
            preview_bind = optarg;
            break;
        case 'C':
            break; /* read above */
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun runner: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (!token || !*token) {
        fprintf(stderr, "mrun runner: a token is needed (--token or MRUN_TOKEN)\n");
        return 2;
    }
    const char *labels[33];
    size_t n = 0;
    for (char *p = labels_buf; *p && n < 32;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (*p)
            labels[n++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    labels[n] = NULL;
    if (mrun_cli_daemon_start("runner", level, on_stop) != 0)
        return 2;
    mrun_runner_config cfg = {.coordinator = coord ? coord : "tcp://127.0.0.1:7700", .token = token, .name = name,
                              .labels = labels, .slots = (int)slots, .work_dir = work, .tls_ca = tls_ca,
                              .tls_server_name = tls_name,
                              .preview_bind = preview_bind};
    mrun_err err = MRUN_ERR_INIT;
    mrun_runner *r = NULL;
    if (mrun_runner_start(&cfg, &r, &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, "runner", "%s", err.msg);
        return 1;
    }
    while (!stop_sig)
        pause();
    mrun_log(MRUN_LOG_INFO, "runner", "draining (signal %d)", (int)stop_sig);
    mrun_runner_stop(r, drain * 1000);
    mrun_log(MRUN_LOG_INFO, "runner", "down");
    return 0;
}
