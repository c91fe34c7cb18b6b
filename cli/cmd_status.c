/* cmd_status.c - `mrun status [ID]`: a pipeline and its stages, or the recent pipelines, from the coordinator's
 * HTTP API; --follow polls until the pipeline ends. Also owns mrun_cli_follow, which `mrun submit --wait` shares. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "cli.h"
#include "client.h"

#define MAX_STAGES      256
#define POLL_MS         500
#define MAX_LOG_CHUNKS  64 /* log requests per stage per round, so one chatty stage cannot starve the others */
#define MAX_DRAIN_ROUND 20 /* rounds after the pipeline ended that we wait for logs to say done */

static const char usage_text[] =
    "usage: mrun status [OPTIONS] [ID]\n"
    "\n"
    "Shows pipeline ID and its stages (state, attempt, duration, exit code), or without ID the recent pipelines.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  --json            print the server's JSON as is\n"
    "  -f, --follow      with ID: show stage changes every 500 ms until the pipeline ends\n"
    "  -n, --limit N     without ID: how many pipelines (default 20)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success (with ID: the pipeline passed or is not finished); 1 the pipeline failed or was\n"
    "cancelled, or a server error; 2 usage error.\n";

static bool finished(const char *state)
{
    return strcmp(state, "passed") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0 ||
           strcmp(state, "skipped") == 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static const char *fmt_dur(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
    else
        snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
    return buf;
}

/* started..finished, or started..now while it runs; "-" when it never started. */
static const char *stage_dur(const json_t *s, char *buf, size_t len)
{
    int64_t a = mrun_json_int(s, "started_ms", 0), b = mrun_json_int(s, "finished_ms", 0);
    if (a <= 0)
        return fmt_dur(-1, buf, len);
    return fmt_dur((b > 0 ? b : now_ms()) - a, buf, len);
}

static const char *fmt_time(int64_t ms, char *buf, size_t len)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms <= 0 || !localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

static void print_pipeline(const json_t *p)
{
    char a[80], b[200], c[40], d[32];
    int64_t created = mrun_json_int(p, "created_ms", 0), fin = mrun_json_int(p, "finished_ms", 0);
    printf("pipeline  %s\n", mrun_cli_clean(mrun_json_str(p, "id"), a, sizeof(a)));
    printf("name      %s\n", mrun_cli_clean(mrun_json_str(p, "name"), b, sizeof(b)));
    printf("state     %s\n", mrun_cli_clean(mrun_json_str(p, "state"), c, sizeof(c)));
    printf("event     %s %s\n", mrun_cli_clean(mrun_json_str(p, "event"), c, sizeof(c)),
           mrun_cli_clean(mrun_json_str(p, "ref"), b, sizeof(b)));
    printf("created   %s", fmt_time(created, a, sizeof(a)));
    if (created > 0 && fin > 0)
        printf(" (took %s)", fmt_dur(fin - created, d, sizeof(d)));
    printf("\n\n%-24s %-10s %-7s %-9s %s\n", "STAGE", "STATE", "ATTEMPT", "DURATION", "EXIT");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(p, "stages"), i, s)
    {
        const json_t *ec = json_object_get(s, "exit_code");
        char ecb[24] = "-";
        if (json_is_integer(ec))
            snprintf(ecb, sizeof(ecb), "%lld", (long long)json_integer_value(ec));
        printf("%-24s %-10s %-7lld %-9s %s\n", mrun_cli_clean(mrun_json_str(s, "name"), b, sizeof(b)),
               mrun_cli_clean(mrun_json_str(s, "state"), c, sizeof(c)), (long long)mrun_json_int(s, "attempt", 0),
               stage_dur(s, d, sizeof(d)), ecb);
    }
}

static void print_list(const json_t *l)
{
    char a[80], b[200], c[40], t[32];
    printf("%-32s %-10s %-19s %s\n", "ID", "STATE", "CREATED", "NAME");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(l, "pipelines"), i, p)
    {
        printf("%-32s %-10s %-19s %s\n", mrun_cli_clean(mrun_json_str(p, "id"), a, sizeof(a)),
               mrun_cli_clean(mrun_json_str(p, "state"), c, sizeof(c)),
               fmt_time(mrun_json_int(p, "created_ms", 0), t, sizeof(t)),
               mrun_cli_clean(mrun_json_str(p, "name"), b, sizeof(b)));
    }
}

/* What mrun_cli_follow has shown of one stage. */
typedef struct seen {
    char name[128];
    char state[16]; /* "" before the first poll saw it */
    int64_t attempt;
    uint64_t off;   /* log bytes shown */
    bool log_done;  /* the server said done */
    bool end_shown; /* the "<==" line is out */
} seen;

typedef struct follower {
    mrun_client *c;
    const char *id;
    bool logs;
    seen st[MAX_STAGES];
    size_t n;
} follower;

static seen *seen_for(follower *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->st[i].name, name) == 0)
            return &f->st[i];
    if (f->n >= MAX_STAGES || strlen(name) >= sizeof(f->st[0].name))
        return NULL;
    seen *s = &f->st[f->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

/* Prints the log bytes of one stage the server has beyond s->off, each line prefixed "[stage] ". */
static int drain_log(follower *f, seen *s, mrun_err *err)
{
    char esc[400], path[600], shown_name[140];
    if (!mrun_client_escape(s->name, esc, sizeof(esc)))
        return mrun_err_setx(err, EINVAL, "stage name too long");
    mrun_cli_clean(s->name, shown_name, sizeof(shown_name));
    for (int k = 0; k < MAX_LOG_CHUNKS && !s->log_done; k++) {
        snprintf(path, sizeof(path), "/api/v1/pipelines/%s/logs/%s?from=%llu&wait=0", f->id, esc,
                 (unsigned long long)s->off);
        mrun_cleanup(json_decrefp) json_t *j = NULL;
        if (mrun_client_get_json(f->c, path, 0, &j, err) < 0)
            return -1;
        const char *data = mrun_json_str(j, "data");
        int64_t next = mrun_json_int(j, "next", -1);
        bool at_start = true;
        for (const char *p = data; *p; p++) {
            if (at_start)
                printf("[%s] ", shown_name);
            putchar(*p);
            at_start = *p == '\n';
        }
        if (!at_start)
            putchar('\n');
        s->log_done = json_is_true(json_object_get(j, "done"));
        if (next < 0 || (uint64_t)next < s->off)
            return mrun_err_setx(err, EPROTO, "GET %s: malformed response: bad \"next\"", path);
        bool more = (uint64_t)next > s->off;
        s->off = (uint64_t)next;
        if (!more)
            break;
    }
    return 0;
}

/* One poll: prints what changed for each stage in pipeline order. Sets *all_logs_done. */
static int follow_round(follower *f, const json_t *p, bool *all_logs_done, mrun_err *err)
{
    char nm[140], d[32];
    size_t i;
    json_t *js;
    *all_logs_done = true;
    json_array_foreach(json_object_get(p, "stages"), i, js)
    {
        const char *state = mrun_json_str(js, "state");
        int64_t attempt = mrun_json_int(js, "attempt", 0);
        seen *s = seen_for(f, mrun_json_str(js, "name"));
        if (!s)
            continue;
        mrun_cli_clean(s->name, nm, sizeof(nm));
        bool was_started = strcmp(s->state, "running") == 0 || (finished(s->state) && strcmp(s->state, "skipped"));
        bool started = strcmp(state, "running") == 0 || (finished(state) && strcmp(state, "skipped") != 0);
        if (strcmp(state, "skipped") == 0 && strcmp(s->state, "skipped") != 0)
            printf("--- %s skipped\n", nm);
        else if (started && (!was_started || attempt != s->attempt)) {
            if (attempt > 1)
                printf("==> %s (attempt %lld)\n", nm, (long long)attempt);
            else
                printf("==> %s\n", nm);
            s->end_shown = false;
        }
        snprintf(s->state, sizeof(s->state), "%s", state);
        s->attempt = attempt;
        if (f->logs && started && !s->log_done && drain_log(f, s, err) < 0)
            return -1;
        if (f->logs && started && !s->log_done)
            *all_logs_done = false;
        if (started && finished(state) && !s->end_shown && (!f->logs || s->log_done)) {
            const json_t *ec = json_object_get(js, "exit_code");
            printf("<== %s %s in %s", nm, strcmp(state, "failed") == 0 ? "FAILED" : state, stage_dur(js, d, sizeof(d)));
            if (json_is_integer(ec) && json_integer_value(ec) != 0)
                printf(" (exit %lld)", (long long)json_integer_value(ec));
            putchar('\n');
            s->end_shown = true;
        }
    }
    fflush(stdout);
    return 0;
}

int mrun_cli_follow(mrun_client *c, const char *id, bool logs, char ret_state[16], mrun_err *err)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/pipelines/%s", id);
    follower *f = calloc(1, sizeof(*f));
    if (!f)
        return mrun_err_set(err, ENOMEM, "follow");
    f->c = c;
    f->id = id;
    f->logs = logs;
    int r = 0, after_end = 0;
    for (;;) {
        json_t *p = NULL;
        bool logs_done = true;
        if (mrun_client_get_json(c, path, 0, &p, err) < 0 || follow_round(f, p, &logs_done, err) < 0) {
            json_decref(p);
            r = -1;
            break;
        }
        const char *state = mrun_json_str(p, "state");
        bool end = finished(state);
        if (end && (logs_done || ++after_end > MAX_DRAIN_ROUND)) {
            snprintf(ret_state, 16, "%s", state);
            json_decref(p);
            break;
        }
        json_decref(p);
        sleep_ms(POLL_MS);
    }
    free(f);
    return r;
}

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_JSON };

int mrun_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mrun_client_config cfg = {0};
    bool json = false, follow = false;
    long limit = 20;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
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
        case 'f':
            follow = true;
            break;
        case 'n': {
            char *end;
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || limit < 1 || limit > 1000) {
                fprintf(stderr, "mrun status: --limit must be 1-1000\n");
                return 2;
            }
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun status: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "mrun status: one pipeline ID at most\n%s", usage_text);
        return 2;
    }
    const char *id = optind < argc ? argv[optind] : NULL;
    if (id && !mrun_cli_valid_id(id)) {
        fprintf(stderr, "mrun status: '%.64s' is not a pipeline ID (32 hex digits)\n", id);
        return 2;
    }
    if (follow && !id) {
        fprintf(stderr, "mrun status: --follow needs an ID\n%s", usage_text);
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&cfg, &cl, &err) < 0) {
        fprintf(stderr, "mrun status: %s\n", err.msg);
        return 2;
    }
    char path[128], state[16] = "";
    if (!id) {
        snprintf(path, sizeof(path), "/api/v1/pipelines?limit=%ld", limit);
    } else {
        snprintf(path, sizeof(path), "/api/v1/pipelines/%s", id);
        if (follow && mrun_cli_follow(cl, id, false, state, &err) < 0) {
            fprintf(stderr, "mrun status: %s\n", err.msg);
            return 1;
        }
    }
    mrun_autofree char *body = NULL;
    size_t len = 0;
    mrun_cleanup(json_decrefp) json_t *j = NULL;
    json_error_t je;
    if (mrun_client_request(cl, "GET", path, NULL, NULL, 0, 0, &body, &len, &err) < 0) {
        fprintf(stderr, "mrun status: %s\n", err.msg);
        return 1;
    }
    if (!(j = json_loadb(body, len, 0, &je)) || !json_is_object(j)) {
        fprintf(stderr, "mrun status: GET %s: malformed JSON response\n", path);
        return 1;
    }
    if (json) {
        fwrite(body, 1, len, stdout);
        if (len == 0 || body[len - 1] != '\n')
            putchar('\n');
    } else if (id) {
        if (follow)
            putchar('\n');
        print_pipeline(j);
    } else {
        print_list(j);
    }
    if (!id)
        return 0;
    const char *st = mrun_json_str(j, "state");
    return finished(st) && strcmp(st, "passed") != 0 ? 1 : 0;
}
