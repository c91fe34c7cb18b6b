/* cmd_run.c - `mrun run [DIR]`: the pipeline of DIR with no server: an embedded coordinator and one embedded runner
 * in this process, joined by nng's inproc transport, state in SQLite under DIR/.mrun/cache/run (or --data). The
 * same code as a fleet; this file only packs, submits and shows progress and logs until the pipeline ends. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "../common/log.h"
#include "../coordinator/coord.h"
#include "../coordinator/pipeline.h"
#include "../coordinator/store.h"
#include "../runner/runner.h"
#include "../stages/attest.h"
#include "../stages/stages.h"
#include "cli.h"

#define MAX_PIPELINE_FILE (1 << 20)
#define MAX_STAGES 256

static volatile sig_atomic_t interrupted;

static void on_int(int sig)
{
    interrupted = sig;
}

static const char usage_text[] =
    "usage: mrun run [OPTIONS] [DIR]\n"
    "\n"
    "Runs the pipeline in DIR/.mrun/pipeline.yml (DIR defaults to .) with no server: an embedded coordinator and\n"
    "runner in this process, every step sandboxed. Shows each stage and its log live; exits 0 only if the pipeline\n"
    "passed.\n"
    "\n"
    "  --data DIR        where state is kept (default DIR/.mrun/cache/run)\n"
    "  --event EVENT     push (default), pull_request or manual: what `if:` sees as event\n"
    "  --ref REF         e.g. refs/heads/main (default); branch is derived from it\n"
    "  --slots N         stages at once (default 2)\n"
    "  --preview-listen ADDR  where previews are served (default 127.0.0.1:0, a free port)\n"
    "  --detach-previews don't wait for previews: they stop when this command exits\n"
    "  --keep-previews   serve previews until Ctrl-C or their TTL even when stdout is not a terminal\n"
    "  -v, --verbose     also show the coordinator's and runner's log lines\n"
    "  -h, --help        show this help\n";

typedef struct shown {
    char name[128];
    int state;
    uint64_t offset;
    int64_t started_ms;
} shown;

typedef struct progress {
    shown st[MAX_STAGES];
    size_t n;
    const char *pipeline_id;
    mrun_store *db;
    bool tty;
} progress;

static int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -1;
    if ((size_t)st.st_size > max) {
        errno = E2BIG;
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -1;
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    if (n != st.st_size) {
        free(buf);
        errno = EIO;
        return -1;
    }
    buf[n] = '\0';
    *ret = buf;
    *ret_len = (size_t)n;
    return 0;
}

typedef struct stage_now {
    char name[128];
    int state, attempt;
    int64_t started_ms, finished_ms;
    int exit_code;
    bool has_exit_code;
} stage_now;

typedef struct stage_snapshot {
    stage_now s[MAX_STAGES];
    size_t n;
} stage_snapshot;

static int collect_stage(const mrun_store_stage_info *s, void *ud)
{
    stage_snapshot *snap = ud;
    if (snap->n >= MAX_STAGES)
        return 1;
    stage_now *o = &snap->s[snap->n++];
    snprintf(o->name, sizeof(o->name), "%s", s->name);
    o->state = (int)s->state;
    o->attempt = s->attempt;
    o->started_ms = s->started_ms;
    o->finished_ms = s->finished_ms;
    o->exit_code = s->exit_code;
    o->has_exit_code = s->has_exit_code;
    return 0;
}

static shown *shown_for(progress *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->st[i].name, name) == 0)
            return &p->st[i];
    if (p->n >= MAX_STAGES)
        return NULL;
    shown *s = &p->st[p->n++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->state = -1;
    return s;
}

typedef struct log_print {
    const char *stage;
    bool at_line_start;
} log_print;

static int print_chunk(const mrun_store_log_chunk *c, void *ud)
{
    log_print *lp = ud;
    if (c->seq == 0 && c->attempt > 1) {
        if (!lp->at_line_start)
            putchar('\n');
        printf("  [%s] --- attempt %d ---\n", lp->stage, c->attempt);
        lp->at_line_start = true;
    }
    const char *d = c->data;
    for (size_t i = 0; i < c->len; i++) {
        if (lp->at_line_start) {
            printf("  [%s] ", lp->stage);
            lp->at_line_start = false;
        }
        putchar(d[i]);
        if (d[i] == '\n')
            lp->at_line_start = true;
    }
    return 0;
}

/* One round of showing what changed, stage by stage in pipeline order: "started", new log bytes, the outcome. */
static void show(progress *p)
{
    mrun_err err = MRUN_ERR_INIT;
    stage_snapshot *snap = calloc(1, sizeof(*snap));
    if (!snap || mrun_store_stage_list(p->db, p->pipeline_id, -1, collect_stage, snap, &err) < 0) {
        free(snap);
        return;
    }
    const char *on = p->tty ? "\033[1m" : "", *off = p->tty ? "\033[0m" : "";
    for (size_t i = 0; i < snap->n; i++) {
        stage_now *now = &snap->s[i];
        shown *sh = shown_for(p, now->name);
        if (!sh)
            continue;
        bool finished = now->state == MRUN_STORE_STAGE_PASSED || now->state == MRUN_STORE_STAGE_FAILED ||
                        now->state == MRUN_STORE_STAGE_SKIPPED || now->state == MRUN_STORE_STAGE_CANCELLED;
        bool began = now->attempt > 0 && (sh->state == -1 || sh->state == MRUN_STORE_STAGE_WAITING ||
                                           sh->state == MRUN_STORE_STAGE_READY);
        if (began && now->state != MRUN_STORE_STAGE_SKIPPED && now->state != sh->state)
            printf("%s==> %s%s%s\n", on, now->name, now->attempt > 1 ? " (retry)" : "", off);
        log_print lp = {.stage = now->name, .at_line_start = true};
        uint64_t next = sh->offset;
        if (mrun_store_log_read(p->db, p->pipeline_id, now->name, sh->offset, print_chunk, &lp, &next, &err) == 0)
            sh->offset = next;
        if (!lp.at_line_start)
            putchar('\n');
        if (finished && sh->state != now->state) {
            if (now->state == MRUN_STORE_STAGE_SKIPPED)
                printf("%s--- %s skipped%s\n", on, now->name, off);
            else
                printf("%s<== %s %s%s in %.1f s\n", on, now->name,
                       now->state == MRUN_STORE_STAGE_PASSED   ? "passed"
                       : now->state == MRUN_STORE_STAGE_FAILED ? "FAILED"
                                                               : "cancelled",
                       off, (double)(now->finished_ms - now->started_ms) / 1000.0);
        }
        sh->state = now->state;
    }
    free(snap);
    fflush(stdout);
}

typedef struct final_state {
    mrun_store_pipeline_state state;
    bool done;
} final_state;

static int get_state(const mrun_store_pipeline_info *pi, void *ud)
{
    final_state *f = ud;
    f->state = pi->state;
    f->done = pi->state != MRUN_STORE_PIPELINE_QUEUED && pi->state != MRUN_STORE_PIPELINE_RUNNING;
    return 0;
}

/* Previews of this run: each is announced once when it goes live, and `live` counts those still live. */
typedef struct previews {
    mrun_store *db;
    mrun_coord *coord;
    const char *pipeline_id;
    char seen[16][40];
    size_t n_seen;
    int live;
} previews;

static int on_preview(const mrun_store_preview_info *p, void *ud)
{
    previews *v = ud;
    if (strcmp(p->pipeline_id, v->pipeline_id) != 0 || p->state != MRUN_STORE_PREVIEW_LIVE)
        return 0;
    v->live++;
    for (size_t i = 0; i < v->n_seen; i++)
        if (strcmp(v->seen[i], p->id) == 0)
            return 0;
    if (v->n_seen < 16)
        snprintf(v->seen[v->n_seen++], sizeof(v->seen[0]), "%s", p->id);
    char url[512], when[32] = "?";
    time_t t = (time_t)(p->expires_ms / 1000);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
    if (mrun_coord_preview_url(v->coord, p->id, url, sizeof(url)) == 0)
        printf("preview of stage %s: %s (until %s)\n", p->stage, url, when);
    fflush(stdout);
    return 0;
}

static void announce(previews *v)
{
    mrun_err err = MRUN_ERR_INIT;
    v->live = 0;
    mrun_store_preview_list(v->db, true, 100, on_preview, v, &err);
}

/* Packs dir into memory (deterministic tar.gz honouring .gitignore/.mrunignore). */
/* Opens (creating) the directory rel beneath dfd, one component at a time, never through a symlink. */
static int mkdirs_beneath(int dfd, const char *rel, mrun_err *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
        return mrun_err_setx(err, E2BIG, "'%s': path too long", rel);
    int cur = dup(dfd);
    for (char *p = buf, *slash; cur >= 0 && *p; p = slash ? slash + 1 : p + strlen(p)) {
        slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (*p && strcmp(p, ".") != 0) {
            if (strcmp(p, "..") == 0) {
                close(cur);
                return mrun_err_setx(err, EINVAL, "'%s': '..' in an artifact path", rel);
            }
            if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST) {
                close(cur);
                return mrun_err_set(err, errno, "mkdir '%s'", rel);
            }
            int next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            close(cur);
            cur = next;
        }
        if (!slash)
            break;
    }
    return cur >= 0 ? cur : mrun_err_set(err, errno, "open '%s'", rel);
}

#define ATT_DIR ".mrun/attestations/"

typedef struct export_ctx {
    mrun_store *db;
    int out_fd; /* DIR/.mrun/out */
    size_t n, failed;
    char signed_stage[16][128], bundle[16][1024], subject[16][2048];
    size_t n_signed;
} export_ctx;

/* Writes one artifact blob to .mrun/out/STAGE/PATH (replacing an older file, never through a symlink). */
static int export_one(const mrun_store_artifact_info *a, void *ud)
{
    export_ctx *x = ud;
    mrun_err err = MRUN_ERR_INIT;
    char rel[2048];
    /* the coordinator's attestations sit beside the stage's files: out/STAGE/STAGE.sigstore.json */
    bool att = strncmp(a->path, ATT_DIR, strlen(ATT_DIR)) == 0;
    snprintf(rel, sizeof(rel), "%s/%s", a->stage, att ? a->path + strlen(ATT_DIR) : a->path);
    char *base = strrchr(rel, '/');
    *base++ = '\0';
    mrun_autoclose int dfd = mkdirs_beneath(x->out_fd, rel, &err);
    mrun_autoclose int in = -1, out = -1;
    uint64_t size = 0;
    if (dfd < 0 || mrun_store_blob_get(x->db, a->digest, &in, &size, &err) < 0) {
        fprintf(stderr, "mrun run: artifact %s/%s: %s\n", a->stage, a->path, err.msg);
        x->failed++;
        return 0;
    }
    unlinkat(dfd, base, 0);
    out = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    char buf[65536];
    ssize_t n = 0;
    while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    if (out < 0 || n < 0) {
        fprintf(stderr, "mrun run: artifact %s/%s: %s\n", a->stage, a->path, strerror(errno));
        x->failed++;
        return 0;
    }
    x->n++;
    size_t len = strlen(a->path);
    if (att && len > 14 && strcmp(a->path + len - 14, ".sigstore.json") == 0) {
        size_t i = 0;
        while (i < x->n_signed && strcmp(x->signed_stage[i], a->stage) != 0)
            i++;
        if (i == x->n_signed && x->n_signed < 16) {
            x->n_signed++;
            snprintf(x->signed_stage[i], sizeof(x->signed_stage[i]), "%s", a->stage);
            snprintf(x->bundle[i], sizeof(x->bundle[i]), "%.500s/%.500s", rel, base);
        }
    } else if (!att) {
        for (size_t i = 0; i < x->n_signed; i++)
            if (strcmp(x->signed_stage[i], a->stage) == 0 && !x->subject[i][0])
                snprintf(x->subject[i], sizeof(x->subject[i]), "%s/%s", a->stage, a->path);
    }
    return 0;
}

/* Copies the pipeline's artifacts (and the coordinator's signed provenance) to DIR/.mrun/out and says how to
 * verify them. */
static void export_artifacts(mrun_store *db, const char *pipeline_id, const char *dir, const char *data_dir)
{
    char out[4200];
    snprintf(out, sizeof(out), "%s/.mrun/out", dir);
    mkdir(out, 0755);
    export_ctx x = {.db = db, .out_fd = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    mrun_err err = MRUN_ERR_INIT;
    if (x.out_fd < 0) {
        fprintf(stderr, "mrun run: %s: %s\n", out, strerror(errno));
        return;
    }
    /* twice: attestations first to know which stages are signed, then the files to name a subject */
    if (mrun_store_artifact_list(db, pipeline_id, export_one, &x, &err) < 0 ||
        (x.n_signed && (x.n = 0, mrun_store_artifact_list(db, pipeline_id, export_one, &x, &err) < 0)))
        fprintf(stderr, "mrun run: artifacts: %s\n", err.msg);
    close(x.out_fd);
    if (x.n == 0)
        return;
    printf("artifacts: %zu file(s) in %s/\n", x.n, out);
    /* name the mrun beside this mrun-core, so the line works whether or not it is on PATH */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 8);
    char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
    if (slash)
        memcpy(slash + 1, "mrun", 5);
    for (size_t i = 0; i < x.n_signed; i++)
        if (x.subject[i][0])
            printf("provenance of stage %s, signed by this machine's run key; check it with:\n"
                   "  %s verify %s/%s --attestation %s/%s --key %s/keys/coordinator.pub\n",
                   x.signed_stage[i], slash ? self : "mrun", out, x.subject[i], out, x.bundle[i], data_dir);
}

/* The key the embedded coordinator signs provenance with: DATA/keys/coordinator.key, made on first use. */
static int run_key(const char *data_dir, char *path, size_t size, mrun_err *err)
{
    char prefix[4200];
    snprintf(prefix, sizeof(prefix), "%s/keys", data_dir);
    mkdir(prefix, 0700);
    snprintf(prefix, sizeof(prefix), "%s/keys/coordinator", data_dir);
    snprintf(path, size, "%s.key", prefix);
    if (access(path, R_OK) == 0)
        return 0;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *key = NULL;
    if (mrun_attest_key_generate(MRUN_KEY_ECDSA_P256, &key, err) < 0 ||
        mrun_attest_key_write(key, prefix, NULL, false, err) < 0)
        return mrun_err_prefix(err, "run key");
    return 0;
}

static int pack(const char *dir, uint8_t **ret, size_t *ret_len, mrun_err *err)
{
    mrun_autoclose int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return mrun_err_set(err, errno, "'%s'", dir);
    mrun_autoclose int mfd = memfd_create("mrun-src", MFD_CLOEXEC);
    if (mfd < 0)
        return mrun_err_set(err, errno, "memfd");
    mrun_pack_opts po = {.max_bytes = 512ll << 20};
    mrun_pack_stats ps;
    if (mrun_archive_pack_dir(dfd, &po, mfd, &ps, err) < 0)
        return -1;
    off_t size = lseek(mfd, 0, SEEK_END);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    if (!buf || pread(mfd, buf, (size_t)size, 0) != size) {
        free(buf);
        return mrun_err_set(err, EIO, "read packed source");
    }
    *ret = buf;
    *ret_len = (size_t)size;
    return 0;
}

/* The embedded runner offers every label the pipeline asks for: on a laptop, every stage runs here. */
static size_t pipeline_labels(const char *yaml, size_t len, const char **labels, size_t max, mrun_pipeline **keep)
{
    size_t n = 0;
    labels[n++] = "linux";
    labels[n] = NULL;
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_pipeline_parse("pipeline.yml", (const uint8_t *)yaml, len, &lim, mrun_stages_names(), keep, &err) < 0)
        return n; /* submit reports the error properly */
    for (size_t i = 0; i < mrun_pipeline_stage_count(*keep); i++) {
        const mrun_pipeline_stage *st = mrun_pipeline_stage_at(*keep, i);
        for (size_t k = 0; k < st->n_runs_on && n + 1 < max; k++) {
            size_t j = 0;
            while (j < n && strcmp(labels[j], st->runs_on[k]) != 0)
                j++;
            if (j == n)
                labels[n++] = st->runs_on[k];
        }
    }
    labels[n] = NULL;
    return n;
}

int mrun_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'}, {"event", required_argument, NULL, 'e'},
                                         {"ref", required_argument, NULL, 'r'},  {"slots", required_argument, NULL, 's'},
                                         {"verbose", no_argument, NULL, 'v'},    {"help", no_argument, NULL, 'h'},
                                         {"preview-listen", required_argument, NULL, 'P'},
                                         {"detach-previews", no_argument, NULL, 'D'},
                                         {"keep-previews", no_argument, NULL, 'K'},
                                         {NULL, 0, NULL, 0}};
    const char *data = NULL, *event = "push", *ref = "refs/heads/main";
    int slots = 2, verbose = 0, c;
    const char *preview_listen = "127.0.0.1:0";
    int wait_previews = isatty(STDOUT_FILENO); /* a script goes on; a person sees the preview until Ctrl-C */
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'e':
            event = optarg;
            break;
        case 'r':
            ref = optarg;
            break;
        case 's': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                fprintf(stderr, "mrun run: --slots must be 1-64\n");
                return 2;
            }
            slots = (int)v;
            break;
        }
        case 'v':
            verbose = 1;
            break;
        case 'P':
            preview_listen = optarg;
            break;
        case 'D':
            wait_previews = 0;
            break;
        case 'K':
            wait_previews = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun run: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "mrun run: one directory at most\n%s", usage_text);
        return 2;
    }
    mrun_autofree char *dir = realpath(optind < argc ? argv[optind] : ".", NULL);
    if (!dir) {
        fprintf(stderr, "mrun run: '%s': %s\n", optind < argc ? argv[optind] : ".", strerror(errno));
        return 2;
    }
    mrun_log_set_level(verbose ? MRUN_LOG_INFO : MRUN_LOG_WARN);
    char path[4096], data_dir[4096], work[4200], url[64];
    snprintf(path, sizeof(path), "%s/.mrun/pipeline.yml", dir);
    snprintf(data_dir, sizeof(data_dir), "%s", data ? data : "");
    if (!data) {
        snprintf(data_dir, sizeof(data_dir), "%s/.mrun/cache", dir);
        mkdir(data_dir, 0700);
        snprintf(data_dir, sizeof(data_dir), "%s/.mrun/cache/run", dir);
    }
    mkdir(data_dir, 0700);
    snprintf(work, sizeof(work), "%s/work", data_dir);
    snprintf(url, sizeof(url), "inproc://mrun-run-%d", (int)getpid());
    mrun_autofree char *yaml = NULL;
    size_t yaml_len = 0;
    if (read_file(path, MAX_PIPELINE_FILE, &yaml, &yaml_len) < 0) {
        fprintf(stderr, "mrun run: %s: %s\n", path, strerror(errno));
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_autofree uint8_t *src = NULL;
    size_t src_len = 0;
    if (pack(dir, &src, &src_len, &err) < 0) {
        fprintf(stderr, "mrun run: pack %s: %s\n", dir, err.msg);
        return 2;
    }
    const char *labels[64];
    mrun_cleanup(mrun_pipeline_freep) mrun_pipeline *pl = NULL;
    pipeline_labels(yaml, yaml_len, labels, 63, &pl);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_int;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* a closed terminal stops the run and its previews cleanly too */

    mrun_coord *coord = NULL;
    char key_path[4300];
    if (run_key(data_dir, key_path, sizeof(key_path), &err) < 0) {
        fprintf(stderr, "mrun run: %s\n", err.msg);
        return 2;
    }
    mrun_coord_config cc = {.data_dir = data_dir, .listen = url, .open_registration = 1, .signing_key = key_path,
                            .builder_id = "mrun://localhost/mrun-run", .preview_listen = preview_listen};
    if (mrun_coord_start(&cc, &coord, &err) < 0) {
        fprintf(stderr, "mrun run: %s\n", err.msg);
        return 2;
    }
    char branch[256];
    snprintf(branch, sizeof(branch), "%s", strncmp(ref, "refs/heads/", 11) == 0 ? ref + 11 : ref);
    const char *user = getenv("USER");
    mrun_coord_submit sub = {.file = ".mrun/pipeline.yml", .yaml = (const uint8_t *)yaml, .yaml_len = yaml_len,
                             .archive = src, .archive_len = src_len, .event = event, .ref = ref, .branch = branch,
                             .submitter = user ? user : "local", .agent = getenv("MRUN_AGENT")};
    char id[33];
    if (mrun_coord_submit_pipeline(coord, &sub, id, &err) < 0) {
        fprintf(stderr, "mrun run: %s\n", err.msg);
        mrun_coord_stop(coord);
        return 1;
    }
    mrun_runner *runner = NULL;
    mrun_runner_config rc = {.coordinator = url, .token = "embedded", .name = "embedded", .labels = labels, .slots = slots,
                             .work_dir = work};
    if (mrun_runner_start(&rc, &runner, &err) < 0) {
        fprintf(stderr, "mrun run: %s\n", err.msg);
        mrun_coord_stop(coord);
        return 2;
    }
    printf("pipeline %s (%s)\n", id, pl ? mrun_pipeline_name(pl) : "?");
    mrun_store *db = NULL;
    progress *p = calloc(1, sizeof(*p));
    final_state fin = {0};
    if (p && mrun_store_open(data_dir, &db, &err) == 0) {
        p->db = db;
        p->pipeline_id = id;
        p->tty = isatty(STDOUT_FILENO);
        previews pv = {.db = db, .coord = coord, .pipeline_id = id};
        while (!interrupted) {
            show(p);
            announce(&pv);
            if (mrun_store_pipeline_get(db, id, get_state, &fin, &err) < 0 || fin.done)
                break;
            usleep(50 * 1000);
        }
        show(p);
        announce(&pv);
        if (!interrupted) /* what the pipeline made, and how to verify it, before any wait for previews */
            export_artifacts(db, id, dir, data_dir);
        if (pv.live && !interrupted && wait_previews) {
            printf("serving %d preview(s) until Ctrl-C or their TTL\n", pv.live);
            fflush(stdout);
            while (!interrupted && pv.live > 0) {
                usleep(200 * 1000);
                announce(&pv);
            }
            if (!interrupted)
                printf("previews ended (TTL)\n");
            interrupted = 0; /* Ctrl-C ended the previews, not the pipeline */
        } else if (pv.live) {
            printf("%d preview(s) stop now that mrun run exits; to keep them, run it in a terminal or with "
                   "--keep-previews (Ctrl-C stops them)\n",
                   pv.live);
        }
    } else {
        fprintf(stderr, "mrun run: %s\n", err.msg);
    }
    mrun_runner_stop(runner, interrupted ? 0 : 1000);
    mrun_coord_stop(coord);
    mrun_store_close(db);
    free(p);
    if (interrupted) {
        fprintf(stderr, "mrun run: interrupted\n");
        return 130;
    }
    const char *names[] = {"queued", "running", "passed", "failed", "cancelled"};
    printf("pipeline %s %s\n", id, (unsigned)fin.state < 5 ? names[fin.state] : "?");
    return fin.done && fin.state == MRUN_STORE_PIPELINE_PASSED ? 0 : 1;
}
