/* cmd_coordinator.c - `mrun coordinator`: the control plane as a daemon, until SIGTERM or SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/log.h"
#include "../common/parse.h"
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
    "  --signing-key FILE    PEM private key (`mrun keys generate`) that signs provenance for every stage with\n"
    "                        artifacts; its passphrase, if any, from MRUN_SIGNING_PASSPHRASE or:\n"
    "  --signing-passphrase-file FILE\n"
    "  --builder-id URI      builder.id in provenance (default mrun://HOSTNAME/coordinator)\n"
    "  --keep-artifacts N    keep the artifacts of the newest N pipelines per app and branch (default 10)\n"
    "  --pr-artifact-ttl DUR pull-request pipelines' artifacts expire after this (default 7d)\n"
    "  --gc-interval DUR     how often the retention sweep runs (default 1h; 'off' for never)\n"
    "  --preview-listen ADDR the preview proxy's address, e.g. 0.0.0.0:7080 (default: no previews)\n"
    "  --preview-url URL     how users reach that proxy, for printed URLs (default http://LISTEN)\n"
    "  --require-signed-tier N  previews of pipelines of tier N and above run only an `artifact:` that matches\n"
    "                        provenance this coordinator signed (default 2; 4: never)\n"
    "  --preview-domain D    also route ID.D to preview ID (host-based; needs a wildcard DNS record)\n"
    "  --preview-ttl-max CAP no preview lives longer, whatever its pipeline asks: DUR for every tier, or per tier\n"
    "                        TIER=DUR,... e.g. 0=4h,1=1d,2=7d (default 7d)\n"
    "  --default-branch NAME passing pipelines of this branch set the coverage baselines (default main)\n"
    "  --insecure-open       accept runners and API calls without tokens (for a trusted, local network only)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  --config FILE         settings as `key = value` lines, keys as these options (or MRUN_CONFIG)\n"
    "  -h, --help            show this help\n";

/* "DUR" (every tier) or "TIER=DUR,TIER=DUR" (tiers 0-3) into caps[4]. */
static int parse_ttl_caps(const char *s, int64_t caps[4], mrun_err *err)
{
    char buf[256];
    if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
        return mrun_err_setx(err, E2BIG, "too long");
    if (!strchr(buf, '=')) {
        int64_t ms;
        if (mrun_parse_duration(buf, &ms, err) < 0 || ms <= 0)
            return mrun_err_setx(err, EINVAL, "'%s' is not a duration such as 1d", s);
        for (int t = 0; t < 4; t++)
            caps[t] = ms;
        return 0;
    }
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        int64_t ms;
        if (!(p[0] >= '0' && p[0] <= '3' && p[1] == '=') || mrun_parse_duration(p + 2, &ms, err) < 0 || ms <= 0)
            return mrun_err_setx(err, EINVAL, "'%s' is not TIER=DURATION with a tier of 0-3", p);
        caps[p[0] - '0'] = ms;
    }
    return 0;
}

/* The first line of a passphrase file (the trailing newline is not part of it). */
static int read_passphrase(const char *path, char *buf, size_t size, mrun_err *err)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mrun_err_set(err, errno, "--signing-passphrase-file '%s'", path);
    ssize_t n = read(fd, buf, size - 1);
    if (n < 0)
        return mrun_err_set(err, errno, "--signing-passphrase-file '%s'", path);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

int mrun_cmd_coordinator(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},          {"listen", required_argument, NULL, 'l'},
        {"http", required_argument, NULL, 'H'},          {"lease-timeout", required_argument, NULL, 't'},
        {"insecure-open", no_argument, NULL, 'o'},       {"log-level", required_argument, NULL, 'L'},
        {"tls-cert", required_argument, NULL, 'T'},    {"tls-key", required_argument, NULL, 'K'},
        {"http-tls-cert", required_argument, NULL, 'P'}, {"http-tls-key", required_argument, NULL, 'Q'},
        {"default-branch", required_argument, NULL, 'B'},
        {"signing-key", required_argument, NULL, 'S'},   {"signing-passphrase-file", required_argument, NULL, 'F'},
        {"builder-id", required_argument, NULL, 'I'},
        {"keep-artifacts", required_argument, NULL, 'k'}, {"pr-artifact-ttl", required_argument, NULL, 'p'},
        {"gc-interval", required_argument, NULL, 'g'},
        {"preview-listen", required_argument, NULL, 'v'}, {"preview-url", required_argument, NULL, 'u'},
        {"preview-domain", required_argument, NULL, 'm'}, {"preview-ttl-max", required_argument, NULL, 'x'},
        {"require-signed-tier", required_argument, NULL, 'q'},
        {"config", required_argument, NULL, 'C'},      {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0}};
    const char *data = getenv("MRUN_DATA"), *listen = getenv("MRUN_LISTEN"), *http = getenv("MRUN_HTTP");
    const char *level = getenv("MRUN_LOG_LEVEL");
    long lease_ms = 4000;
    const char *tls_cert = NULL, *tls_key = NULL, *http_cert = NULL, *http_key = NULL, *default_branch = NULL;
    const char *signing_key = NULL, *passphrase_file = NULL, *builder_id = NULL;
    mrun_store_retention retention = {0};
    const char *preview_listen = NULL, *preview_url = NULL, *preview_domain = NULL;
    int64_t preview_ttl_max[4] = {0}, signed_tier = 2;
    int64_t gc_interval = 0, keep = 0;
    mrun_err perr = MRUN_ERR_INIT;
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
        case 'S':
            signing_key = optarg;
            break;
        case 'F':
            passphrase_file = optarg;
            break;
        case 'I':
            builder_id = optarg;
            break;
        case 'k':
            if (mrun_parse_int(optarg, 1, 1000000, &keep, &perr) < 0) {
                fprintf(stderr, "mrun coordinator: --keep-artifacts: %s\n", perr.msg);
                return 2;
            }
            retention.keep_per_branch = (int)keep;
            break;
        case 'p':
            if (mrun_parse_duration(optarg, &retention.pr_ttl_ms, &perr) < 0 || retention.pr_ttl_ms <= 0) {
                fprintf(stderr, "mrun coordinator: --pr-artifact-ttl: %s\n", perr.msg[0] ? perr.msg : "must be > 0");
                return 2;
            }
            break;
        case 'v':
            preview_listen = optarg;
            break;
        case 'u':
            preview_url = optarg;
            break;
        case 'q':
            if (mrun_parse_int(optarg, 0, 4, &signed_tier, &perr) < 0) {
                fprintf(stderr, "mrun coordinator: --require-signed-tier: %s\n", perr.msg);
                return 2;
            }
            break;
        case 'm':
            preview_domain = optarg;
            break;
        case 'x':
            if (parse_ttl_caps(optarg, preview_ttl_max, &perr) < 0) {
                fprintf(stderr, "mrun coordinator: --preview-ttl-max: %s\n", perr.msg);
                return 2;
            }
            break;
        case 'g':
            if (strcmp(optarg, "off") == 0) {
                gc_interval = -1;
            } else if (mrun_parse_duration(optarg, &gc_interval, &perr) < 0 || gc_interval < 1000) {
                fprintf(stderr, "mrun coordinator: --gc-interval: %s\n", perr.msg[0] ? perr.msg : "at least 1s");
                return 2;
            }
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
                             .default_branch = default_branch,
                             .signing_key = signing_key,
                             .builder_id = builder_id,
                             .retention = retention,
                             .gc_interval_ms = gc_interval,
                             .preview_listen = preview_listen,
                             .preview_url = preview_url,
                             .preview_domain = preview_domain,
                             .require_signed_tier = (int)signed_tier + 1,
                             .preview_ttl_max_ms = {preview_ttl_max[0], preview_ttl_max[1], preview_ttl_max[2],
                                                    preview_ttl_max[3]}};
    mrun_err err = MRUN_ERR_INIT;
    char passphrase[1024] = "";
    if (passphrase_file && read_passphrase(passphrase_file, passphrase, sizeof(passphrase), &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, "coordinator", "%s", err.msg);
        return 2;
    }
    const char *env_pass = getenv("MRUN_SIGNING_PASSPHRASE");
    cfg.signing_passphrase = passphrase[0] ? passphrase : env_pass;
    mrun_coord *coord = NULL;
    int started = mrun_coord_start(&cfg, &coord, &err);
    explicit_bzero(passphrase, sizeof(passphrase)); /* the key is loaded; the passphrase is not needed again */
    if (started < 0) {
        mrun_log(MRUN_LOG_ERROR, "coordinator", "%s", err.msg);
        return 1;
    }
    mrun_log(MRUN_LOG_INFO, "coordinator", "up: data %s%s", cfg.data_dir,
             signing_key ? ", signing provenance" : ", no --signing-key: provenance is not signed");
    while (!stop_sig)
        pause();
    mrun_log(MRUN_LOG_INFO, "coordinator", "stopping (signal %d)", (int)stop_sig);
    mrun_coord_stop(coord);
    mrun_log(MRUN_LOG_INFO, "coordinator", "down");
    return 0;
}
