/* cmd_attest.c - `mrun attest ARTIFACT... --key KEY --builder-id ID`: signs SLSA provenance for files by hand,
 * with the same code the coordinator uses after a stage passes (useful for tests and to compare with its output).
 * Writes a DSSE envelope, or a Sigstore bundle with --bundle, to --output or stdout. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../stages/attest.h"
#include "cli.h"

#define MAX_ARTIFACTS 1000

static const char usage_text[] =
    "usage: mrun attest ARTIFACT... --key PRIVATE.key --builder-id ID [--passphrase-env VAR | --passphrase-file F]\n"
    "                   [--source DIGEST] [--pipeline FILE] [--stage NAME] [--event E] [--ref REF] [--agent NAME]\n"
    "                   [--invocation-id ID] [--output FILE] [--bundle]\n"
    "\n"
    "Signs an in-toto Statement v1 with SLSA provenance v1 whose subjects are the ARTIFACTs' sha256 digests, as a\n"
    "DSSE envelope (or a Sigstore bundle v0.3 with --bundle). --source is the source archive's sha256; --pipeline\n"
    "names the pipeline file (its digest is computed); --stage defaults to 'manual'. Output goes to stdout unless\n"
    "--output FILE. Check it with `mrun verify ARTIFACT --attestation FILE --key PUBLIC.pem`.\n";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int write_out(const char *path, const char *json, mrun_err *err)
{
    if (!path) {
        printf("%s\n", json);
        return fflush(stdout) == 0 ? 0 : mrun_err_set(err, errno, "write stdout");
    }
    mrun_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return mrun_err_set(err, errno, "create '%s'", path);
    if (write_all(fd, json, strlen(json)) < 0 || write_all(fd, "\n", 1) < 0)
        return mrun_err_set(err, errno ? errno : EIO, "write '%s'", path);
    return 0;
}

typedef struct attest_opts {
    const char *key, *env_name, *pass_file, *output, *pipeline;
    bool bundle;
} attest_opts;

static int parse_opts(int argc, char **argv, attest_opts *o, mrun_provenance *p)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"passphrase-env", required_argument, NULL, 'e'},
                                         {"passphrase-file", required_argument, NULL, 'p'},
                                         {"builder-id", required_argument, NULL, 'B'},
                                         {"source", required_argument, NULL, 's'},
                                         {"pipeline", required_argument, NULL, 'P'},
                                         {"stage", required_argument, NULL, 'S'},
                                         {"event", required_argument, NULL, 'E'},
                                         {"ref", required_argument, NULL, 'r'},
                                         {"agent", required_argument, NULL, 'A'},
                                         {"invocation-id", required_argument, NULL, 'i'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"bundle", no_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            o->key = optarg;
            break;
        case 'e':
            o->env_name = optarg;
            break;
        case 'p':
            o->pass_file = optarg;
            break;
        case 'B':
            p->builder_id = optarg;
            break;
        case 's':
            p->source_sha256 = optarg;
            break;
        case 'P':
            o->pipeline = optarg;
            break;
        case 'S':
            p->stage = optarg;
            break;
        case 'E':
            p->event = optarg;
            break;
        case 'r':
            p->ref = optarg;
            break;
        case 'A':
            p->agent = optarg;
            break;
        case 'i':
            p->invocation_id = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'b':
            o->bundle = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind >= argc || !o->key || !p->builder_id) {
        fprintf(stderr, "mrun attest: give at least one ARTIFACT, --key and --builder-id\n%s", usage_text);
        return 2;
    }
    if (argc - optind > MAX_ARTIFACTS) {
        fprintf(stderr, "mrun attest: more than %d artifacts\n", MAX_ARTIFACTS);
        return 2;
    }
    return -1; /* go on */
}

/* Digests of the artifacts and the pipeline file, the statement, then the signature. */
static int attest(int nart, char **arts, attest_opts *o, mrun_provenance *p, mrun_err *err)
{
    mrun_autofree mrun_attest_digest *subj = calloc((size_t)nart, sizeof(*subj));
    mrun_autofree char(*hex)[65] = calloc((size_t)nart, 65);
    char pipe_hex[65];
    if (!subj || !hex)
        return mrun_err_set(err, ENOMEM, "artifacts");
    for (int i = 0; i < nart; i++) {
        if (mrun_attest_file_sha256(arts[i], hex[i], err) < 0)
            return -1;
        subj[i].name = arts[i];
        subj[i].sha256 = hex[i];
    }
    if (o->pipeline) {
        if (mrun_attest_file_sha256(o->pipeline, pipe_hex, err) < 0)
            return -1;
        p->pipeline_file = o->pipeline;
        p->pipeline_sha256 = pipe_hex;
    }
    p->subjects = subj;
    p->nsubjects = (size_t)nart;
    mrun_autofree char *st = NULL, *out = NULL;
    size_t st_len = 0;
    if (mrun_attest_statement(p, &st, &st_len, err) < 0)
        return -1;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *key = NULL;
    char *pass = NULL;
    if (mrun_cli_passphrase(o->env_name, o->pass_file, &pass, err) < 0)
        return -1;
    int rc = mrun_attest_key_load_private(o->key, pass, &key, err);
    mrun_cli_passphrase_free(pass);
    if (rc < 0)
        return -1;
    if (mrun_attest_sign_statement(key, st, st_len, o->bundle, &out, err) < 0)
        return -1;
    return write_out(o->output, out, err);
}

int mrun_cmd_attest(int argc, char **argv)
{
    attest_opts o = {0};
    mrun_provenance p = {.stage = "manual"};
    p.started_ms = p.finished_ms = now_ms();
    int rc = parse_opts(argc, argv, &o, &p);
    if (rc >= 0)
        return rc;
    mrun_err err = MRUN_ERR_INIT;
    if (attest(argc - optind, argv + optind, &o, &p, &err) < 0) {
        fprintf(stderr, "mrun attest: %s\n", err.msg);
        return 1;
    }
    return 0;
}
