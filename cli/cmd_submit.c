/* cmd_submit.c - `mrun submit [DIR]`: packs DIR (honouring .gitignore/.mrunignore), uploads it as a blob, submits
 * DIR/.mrun/pipeline.yml against it and prints the pipeline id; with --wait follows it with the stages' logs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "cli.h"
#include "client.h"

#define MAX_PIPELINE_FILE (1 << 20)
#define MAX_SOURCE_BYTES  (512ll << 20) /* file content packed; the server has its own limit on the blob */

static const char usage_text[] =
    "usage: mrun submit [OPTIONS] [DIR]\n"
    "\n"
    "Packs DIR (default .) as the runner will see it (.git, .mrun/cache and what .gitignore/.mrunignore exclude\n"
    "are left out), uploads it, submits DIR/.mrun/pipeline.yml and prints the pipeline ID on the first line.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  --event EVENT     push (default), pull_request or manual: what `if:` sees as event\n"
    "  --ref REF         default refs/heads/main; the branch is REF without refs/heads/\n"
    "  --agent NAME      run only on this runner (default $MRUN_AGENT)\n"
    "  --wait            follow the stages and their logs until the pipeline ends (default on a terminal)\n"
    "  --no-wait         print the ID and return at once (default otherwise)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 submitted (with --wait: the pipeline passed); 1 the pipeline failed, or a server error;\n"
    "2 usage error, or DIR or its pipeline file unusable.\n";

/* Reads dfd/.mrun/pipeline.yml, at most MAX_PIPELINE_FILE bytes; *ret is NUL-terminated (free()). */
static int read_pipeline(int dfd, char **ret, size_t *ret_len, mrun_err *err)
{
    static const char name[] = ".mrun/pipeline.yml";
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return mrun_err_set(err, errno, "%s", name);
    mrun_autofree char *buf = malloc(MAX_PIPELINE_FILE + 1);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "%s", name);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, MAX_PIPELINE_FILE + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mrun_err_set(err, errno, "read %s", name);
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > MAX_PIPELINE_FILE)
            return mrun_err_setx(err, E2BIG, "%s: over %d bytes", name, MAX_PIPELINE_FILE);
    }
    buf[len] = '\0';
    *ret_len = len;
    *ret = mrun_steal_ptr(&buf);
    return 0;
}

/* Packs dfd into a fresh memfd (deterministic tar.gz) and returns it. */
static int pack(int dfd, int *ret_fd, mrun_err *err)
{
    mrun_autoclose int mfd = memfd_create("mrun-submit", MFD_CLOEXEC);
    if (mfd < 0)
        return mrun_err_set(err, errno, "memfd_create");
    mrun_pack_opts po = {.max_bytes = MAX_SOURCE_BYTES};
    mrun_pack_stats ps;
    if (mrun_archive_pack_dir(dfd, &po, mfd, &ps, err) < 0)
        return mrun_err_prefix(err, "pack");
    *ret_fd = mrun_steal_fd(&mfd);
    return 0;
}

/* The POST /api/v1/pipelines body; NULL with err when yaml is not UTF-8 or on ENOMEM. */
static json_t *request_body(const char *yaml, size_t yaml_len, const char *digest, const char *event, const char *ref,
                            const char *agent, mrun_err *err)
{
    const char *branch = strncmp(ref, "refs/heads/", 11) == 0 ? ref + 11 : ref;
    json_t *yj = json_stringn(yaml, yaml_len);
    if (!yj) {
        mrun_err_setx(err, EINVAL, ".mrun/pipeline.yml: not valid UTF-8");
        return NULL;
    }
    json_t *b = json_object();
    const char *user = getenv("USER");
    if (!b || json_object_set_new(b, "pipeline", yj) < 0 ||
        json_object_set_new(b, "file", json_string(".mrun/pipeline.yml")) < 0 ||
        json_object_set_new(b, "source", json_string(digest)) < 0 ||
        json_object_set_new(b, "event", json_string(event)) < 0 ||
        json_object_set_new(b, "ref", json_string(ref)) < 0 ||
        json_object_set_new(b, "branch", json_string(branch)) < 0 ||
        (agent && *agent && json_object_set_new(b, "agent", json_string(agent)) < 0) ||
        (user && *user && json_object_set_new(b, "submitter", json_string(user)) < 0)) {
        json_decref(b);
        mrun_err_setx(err, EINVAL, "build the request: ref, agent or $USER not valid UTF-8");
        return NULL;
    }
    return b;
}

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_EVENT, OPT_REF, OPT_AGENT, OPT_WAIT, OPT_NO_WAIT };

typedef struct submit_args {
    mrun_client_config cfg;
    const char *dir, *event, *ref, *agent;
    int wait; /* -1: decide by isatty */
} submit_args;

/* Returns 1 to go on, 0 after --help, -1 on a usage error (printed). */
static int parse_args(int argc, char **argv, submit_args *a)
{
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"event", required_argument, NULL, OPT_EVENT},
                                         {"ref", required_argument, NULL, OPT_REF},
                                         {"agent", required_argument, NULL, OPT_AGENT},
                                         {"wait", no_argument, NULL, OPT_WAIT},
                                         {"no-wait", no_argument, NULL, OPT_NO_WAIT},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER:
            a->cfg.server = optarg;
            break;
        case OPT_TOKEN:
            a->cfg.token = optarg;
            break;
        case OPT_EVENT:
            a->event = optarg;
            break;
        case OPT_REF:
            a->ref = optarg;
            break;
        case OPT_AGENT:
            a->agent = optarg;
            break;
        case OPT_WAIT:
            a->wait = 1;
            break;
        case OPT_NO_WAIT:
            a->wait = 0;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun submit: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return -1;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "mrun submit: one directory at most\n%s", usage_text);
        return -1;
    }
    a->dir = optind < argc ? argv[optind] : ".";
    if (strcmp(a->event, "push") != 0 && strcmp(a->event, "pull_request") != 0 && strcmp(a->event, "manual") != 0) {
        fprintf(stderr, "mrun submit: --event must be push, pull_request or manual\n");
        return -1;
    }
    if (!*a->ref || strncmp(a->ref, "refs/", 5) != 0 || strlen(a->ref) > 255) {
        fprintf(stderr, "mrun submit: --ref must look like refs/heads/NAME (at most 255 bytes)\n");
        return -1;
    }
    return 1;
}

int mrun_cmd_submit(int argc, char **argv)
{
    submit_args a = {.event = "push", .ref = "refs/heads/main", .agent = getenv("MRUN_AGENT"), .wait = -1};
    int r = parse_args(argc, argv, &a);
    if (r <= 0)
        return r == 0 ? 0 : 2;
    bool wait = a.wait < 0 ? isatty(STDOUT_FILENO) : a.wait;

    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&a.cfg, &cl, &err) < 0) {
        fprintf(stderr, "mrun submit: %s\n", err.msg);
        return 2;
    }
    mrun_autoclose int dfd = open(a.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        fprintf(stderr, "mrun submit: '%s': %s\n", a.dir, strerror(errno));
        return 2;
    }
    mrun_autofree char *yaml = NULL;
    size_t yaml_len = 0;
    if (read_pipeline(dfd, &yaml, &yaml_len, &err) < 0) {
        fprintf(stderr, "mrun submit: '%s': %s\n", a.dir, err.msg);
        return 2;
    }
    mrun_autoclose int src = -1;
    char digest[65];
    if (pack(dfd, &src, &err) < 0 || mrun_client_put_blob(cl, src, digest, &err) < 0) {
        fprintf(stderr, "mrun submit: %s\n", err.msg);
        return 1;
    }
    mrun_cleanup(json_decrefp) json_t *body = request_body(yaml, yaml_len, digest, a.event, a.ref, a.agent, &err);
    if (!body) {
        fprintf(stderr, "mrun submit: %s\n", err.msg);
        return 2;
    }
    mrun_cleanup(json_decrefp) json_t *resp = NULL;
    if (mrun_client_post_json(cl, "/api/v1/pipelines", body, &resp, &err) < 0) {
        fprintf(stderr, "mrun submit: %s\n", err.msg);
        return 1;
    }
    char id[33];
    const char *rid = mrun_json_str(resp, "id");
    if (!mrun_cli_valid_id(rid)) {
        fprintf(stderr, "mrun submit: POST /api/v1/pipelines: malformed response: no pipeline id\n");
        return 1;
    }
    snprintf(id, sizeof(id), "%s", rid);
    printf("%s\n", id);
    fflush(stdout);
    if (!wait)
        return 0;

    char state[16] = "";
    if (mrun_cli_follow(cl, id, true, state, &err) < 0) {
        fprintf(stderr, "mrun submit: %s\n", err.msg);
        return 1;
    }
    printf("pipeline %s %s\n", id, state);
    return strcmp(state, "passed") == 0 ? 0 : 1;
}
