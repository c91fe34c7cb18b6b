/* cmd_artifacts.c - `mrun artifacts ls ID` and `mrun artifacts get ID PATH`: a pipeline's artifacts from the
 * coordinator's HTTP API. get checks the bytes against the listed sha256 before writing any of them, and never
 * replaces an existing file unless --force. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/codec.h"
#include "cli.h"
#include "client.h"

#define MAX_ARTIFACT (256u << 20) /* what the coordinator serves at most */

static const char usage_text[] =
    "usage: mrun artifacts ls [OPTIONS] ID\n"
    "       mrun artifacts get [OPTIONS] ID PATH\n"
    "       mrun artifacts gc [--dry-run] ...   (on the coordinator host; see mrun artifacts gc --help)\n"
    "\n"
    "ls lists the artifacts of pipeline ID (stage, path, size, sha256). get downloads the artifact PATH, checks\n"
    "its sha256 and writes it to -o FILE; without -o (or with -o -) to stdout when that is not a terminal, else\n"
    "to PATH's last component in the current directory. An existing file is never replaced without --force.\n"
    "\n"
    "  --server URL      coordinator (default $MRUN_SERVER, else " MRUN_CLIENT_DEFAULT_SERVER ")\n"
    "  --token TOKEN     bearer token (default $MRUN_TOKEN)\n"
    "  --json            ls: print the server's JSON as is\n"
    "  -s, --stage S     get: the artifact of stage S (needed when several stages have PATH)\n"
    "  -o, --output F    get: write to F ('-': stdout)\n"
    "  -f, --force       get: replace F if it exists\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 success; 1 server error, a digest mismatch or a file that exists; 2 usage error.\n";

typedef struct get_args {
    const char *stage, *output;
    bool force;
} get_args;

static int do_ls(mrun_client *cl, const char *id, bool json, mrun_err *err)
{
    char path[128], stage[64], p[512];
    snprintf(path, sizeof(path), "/api/v1/pipelines/%s/artifacts", id);
    mrun_cleanup(json_decrefp) json_t *j = NULL;
    if (mrun_client_get_json(cl, path, 0, &j, err) < 0)
        return -1;
    if (json) {
        mrun_autofree char *text = json_dumps(j, JSON_COMPACT);
        if (!text)
            return mrun_err_setx(err, ENOMEM, "encode the answer");
        puts(text);
        return 0;
    }
    printf("%-20s %-40s %10s %s\n", "STAGE", "PATH", "SIZE", "SHA256");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(j, "artifacts"), i, a)
    {
        printf("%-20s %-40s %10lld %s\n", mrun_cli_clean(mrun_json_str(a, "stage"), stage, sizeof(stage)),
               mrun_cli_clean(mrun_json_str(a, "path"), p, sizeof(p)), (long long)mrun_json_int(a, "size", 0),
               mrun_cli_clean(mrun_json_str(a, "digest"), path, sizeof(path)));
    }
    return 0;
}

static bool digest_ok(const char *d)
{
    size_t i = 0;
    for (; d[i]; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return false;
    return i == 64;
}

/* Finds PATH (of stage, if given) in the listing: its digest and size. ENOENT none, EINVAL several stages. */
static int find_artifact(mrun_client *cl, const char *id, const char *want, const char *stage, char digest[65],
                         int64_t *ret_size, mrun_err *err)
{
    char path[128], nm[160];
    snprintf(path, sizeof(path), "/api/v1/pipelines/%s/artifacts", id);
    mrun_cleanup(json_decrefp) json_t *j = NULL;
    if (mrun_client_get_json(cl, path, 0, &j, err) < 0)
        return -1;
    const json_t *hit = NULL;
    size_t i, n = 0;
    json_t *a;
    json_array_foreach(json_object_get(j, "artifacts"), i, a)
    {
        if (strcmp(mrun_json_str(a, "path"), want) == 0 && (!stage || strcmp(mrun_json_str(a, "stage"), stage) == 0)) {
            hit = a;
            n++;
        }
    }
    mrun_cli_clean(want, nm, sizeof(nm));
    if (n == 0)
        return mrun_err_setx(err, ENOENT, "pipeline %s has no artifact '%s'%s", id, nm, stage ? " of that stage" : "");
    if (n > 1)
        return mrun_err_setx(err, EINVAL, "several stages have an artifact '%s': choose one with --stage", nm);
    const char *d = mrun_json_str(hit, "digest");
    int64_t size = mrun_json_int(hit, "size", -1);
    if (!digest_ok(d) || size < 0)
        return mrun_err_setx(err, EPROTO, "GET %s: malformed artifact entry", path);
    if (size > (int64_t)MAX_ARTIFACT)
        return mrun_err_setx(err, E2BIG, "artifact '%s' has %lld bytes, more than the server sends", nm,
                             (long long)size);
    memcpy(digest, d, 65);
    *ret_size = size;
    return 0;
}

static int check_sha256(const char *data, size_t len, const char *digest, mrun_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return mrun_err_setx(err, EIO, "sha256 failed");
    mrun_hex_encode(md, mdlen, hex);
    if (strcmp(hex, digest) != 0)
        return mrun_err_setx(err, EPROTO, "digest mismatch: got sha256 %s, want %s; nothing written", hex, digest);
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, data, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        data += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Where get writes: -o FILE, stdout when it is not a terminal, else PATH's last component here. */
static int write_out(const char *want, const get_args *ga, const char *data, size_t len, mrun_err *err)
{
    const char *file = ga->output;
    if (!file || strcmp(file, "-") == 0) {
        if (!isatty(STDOUT_FILENO)) {
            if (write_all(STDOUT_FILENO, data, len) < 0)
                return mrun_err_set(err, errno, "write to stdout");
            return 0;
        }
        const char *slash = strrchr(want, '/');
        file = slash ? slash + 1 : want;
        if (!*file || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
            return mrun_err_setx(err, EINVAL, "no file name in the artifact path: use -o FILE");
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (ga->force ? O_TRUNC : O_EXCL);
    mrun_autoclose int fd = open(file, flags, 0644);
    if (fd < 0 && errno == EEXIST)
        return mrun_err_setx(err, EEXIST, "'%s' exists (use --force to replace it)", file);
    if (fd < 0)
        return mrun_err_set(err, errno, "create '%s'", file);
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        unlink(file);
        return mrun_err_set(err, e, "write '%s'", file);
    }
    return 0;
}

static int do_get(mrun_client *cl, const char *id, const char *want, const get_args *ga, mrun_err *err)
{
    char digest[65], path[128];
    int64_t size = 0;
    if (find_artifact(cl, id, want, ga->stage, digest, &size, err) < 0)
        return -1;
    snprintf(path, sizeof(path), "/api/v1/blobs/%s", digest);
    mrun_autofree char *data = NULL;
    size_t len = 0;
    if (mrun_client_request(cl, "GET", path, NULL, NULL, 0, 0, &data, &len, err) < 0)
        return -1;
    if ((int64_t)len != size)
        return mrun_err_setx(err, EPROTO, "GET %s: %zu bytes, want %lld; nothing written", path, len, (long long)size);
    if (check_sha256(data, len, digest, err) < 0)
        return mrun_err_prefix(err, "GET %s", path);
    return write_out(want, ga, data, len, err);
}

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_JSON };

int mrun_cmd_artifacts(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"stage", required_argument, NULL, 's'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc > 1 && strcmp(argv[1], "gc") == 0)
        return mrun_cmd_artifacts_gc(argc - 1, argv + 1);
    mrun_client_config cfg = {.max_body = MAX_ARTIFACT + 1};
    get_args ga = {0};
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:o:fh", opts, NULL)) != -1) {
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
        case 's':
            ga.stage = optarg;
            break;
        case 'o':
            ga.output = optarg;
            break;
        case 'f':
            ga.force = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun artifacts: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    int npos = argc - optind;
    const char *sub = npos > 0 ? argv[optind] : "";
    bool ls = strcmp(sub, "ls") == 0, get = strcmp(sub, "get") == 0;
    if ((!ls && !get) || (ls && npos != 2) || (get && npos != 3)) {
        fprintf(stderr, "mrun artifacts: expected 'ls ID' or 'get ID PATH' (see mrun artifacts --help)\n");
        return 2;
    }
    if (ls && (ga.stage || ga.output || ga.force)) {
        fprintf(stderr, "mrun artifacts: --stage, --output and --force are for get\n");
        return 2;
    }
    if (get && json) {
        fprintf(stderr, "mrun artifacts: --json is for ls\n");
        return 2;
    }
    const char *id = argv[optind + 1];
    if (!mrun_cli_valid_id(id)) {
        fprintf(stderr, "mrun artifacts: '%.64s' is not a pipeline ID (32 hex digits)\n", id);
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_client_freep) mrun_client *cl = NULL;
    if (mrun_client_new(&cfg, &cl, &err) < 0) {
        fprintf(stderr, "mrun artifacts: %s\n", err.msg);
        return 2;
    }
    int r = ls ? do_ls(cl, id, json, &err) : do_get(cl, id, argv[optind + 2], &ga, &err);
    if (r < 0) {
        fprintf(stderr, "mrun artifacts: %s\n", err.msg);
        return err.sys_errno == EINVAL ? 2 : 1;
    }
    return 0;
}
