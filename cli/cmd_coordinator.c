/* cmd_coordinator.c - `mrun coordinator`: the control plane as a daemon, until SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../coordinator/coord.h"
#include "cli.h"

static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
    stop_sig = sig;
}

static const char usage_text[] =
    "usage: mrun coordinator [OPTIONS]\n"
    "\n"
    "Runs the coordinator: keeps pipelines in DATA (SQLite + blobs), hands stages to runners over nng, serves the\n"
    "HTTP API. Stops cleanly on SIGTERM or SIGINT. Environment: MRUN_DATA, MRUN_LISTEN, MRUN_HTTP, MRUN_LOG_LEVEL.\n"
    "\n"
    "  --data DIR            state directory (default /var/lib/mrun)\n"
    "  --listen URL          nng address for runners (default tcp://0.0.0.0:7700; tls+tcp://... with TLS)\n"
    "  --tls-cert FILE       PEM certificate (chain) for a tls+tcp:// listen address\n"
    "  --tls-key FILE        its PEM private key\n"
    "  --http-tls-cert FILE  serve the HTTP API as HTTPS with this PEM certificate (chain)\n"
    "  --http-tls-key FILE   and this key\n"
    "  --http ADDR           HTTP API address (default 0.0.0.0:7070; 'none' for no API)\n"
    "  --lease-timeout DUR   a silent runner's stages go back to the queue after this (default 4000 ms:\n"
    "                        with the 0.5 s sweep, a dead runner's stages are requeued within 5 s)\n"
    "  --default-branch NAME passing pipelines of this branch set the coverage baselines (default main)\n"
    "  --insecure-open       accept runners and API calls without tokens (for a trusted, local network only)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  --config FILE         settings as `key = value` lines, keys as these options (or MRUN_CONFIG)\n"
    "  -h, --help            show this help\n";

int mrun_cmd_coordinator(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},          {"listen", required_argument, NULL, 'l'},
        {"http", required_argument, NULL, 'H'},          {"lease-timeout", required_argument, NULL, 't'},
        {"insecure-open", no_argument, NULL, 'o'},       {"log-level", required_argument, NULL, 'L'},
        {"tls-cert", required_argument, NULL, 'T'},    {"tls-key", required_argument, NULL, 'K'},
        {"http-tls-cert", required_argument, NULL, 'P'}, {"http-tls-key", required_argument, NULL, 'Q'},
        {"default-branch", required_argument, NULL, 'B'},
        {"config", required_argument, NULL, 'C'},      {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0}};
    const char *data = getenv("MRUN_DATA"), *listen = getenv("MRUN_LISTEN"), *http = getenv("MRUN_HTTP");
    const char *level = getenv("MRUN_LOG_LEVEL");
    long lease_ms = 4000;
    const char *tls_cert = NULL, *tls_key = NULL, *http_cert = NULL, *http_key = NULL, *default_branch = NULL;
    int open = 0, c;
    /* --config FILE (or MRUN_CONFIG): the file's settings, overridden by the flags */
    if (mrun_cli_daemon_config("coordinator", opts, &argc, &argv) != 0)
        return 2;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'H':
            http = optarg;
            break;
        case 't': {
            char *end;
            lease_ms = strtol(optarg, &end, 10);
            if (*end || lease_ms < 100 || lease_ms > 3600000) {
                fprintf(stderr, "mrun coordinator: --lease-timeout must be 100-3600000 ms\n");
                return 2;
            }
            break;
        }
        case 'o':
            open = 1;
            break;
        case 'L':
            level = optarg;
            break;
        case 'T':
            tls_cert = optarg;
            break;
        case 'K':
            tls_key = optarg;
            break;
        case 'P':
            http_cert = optarg;
            break;
        case 'Q':
            http_key = optarg;
            break;
        case 'B':
            default_branch = optarg;
            break;
        case 'C':
            break; /* read above */
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun coordinator: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (mrun_cli_daemon_start("coordinator", level, on_stop) != 0)
        return 2;
    mrun_coord_config cfg = {.data_dir = data ? data : "/var/lib/mrun",
                             .listen = listen ? listen : "tcp://0.0.0.0:7700",
                             .http = http && strcmp(http, "none") == 0 ? NULL : (http ? http : "0.0.0.0:7070"),
                             .lease_timeout_ms = lease_ms,
                             .open_registration = open,
                             .open_api = open,
                             .tls_cert = tls_cert,
                             .tls_key = tls_key,
                             .http_tls_cert = http_cert,
                             .http_tls_key = http_key,
                             .default_branch = default_branch};
    mrun_err err = MRUN_ERR_INIT;
    mrun_coord *coord = NULL;
    if (mrun_coord_start(&cfg, &coord, &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, "coordinator", "%s", err.msg);
        return 1;
    }
    mrun_log(MRUN_LOG_INFO, "coordinator", "up: data %s", cfg.data_dir);
    while (!stop_sig)
        pause();
    mrun_log(MRUN_LOG_INFO, "coordinator", "stopping (signal %d)", (int)stop_sig);
    mrun_coord_stop(coord);
    mrun_log(MRUN_LOG_INFO, "coordinator", "down");
    return 0;
}
