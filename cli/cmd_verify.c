/* cmd_verify.c - `mrun verify ARTIFACT --attestation FILE --key PUB.pem`: exit 0 only when a signature verifies
 * with the key, the artifact's sha256 is a subject of the in-toto statement, and the expectations hold; exit 1
 * naming the check that failed; exit 2 on usage or I/O errors. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "../stages/attest.h"
#include "cli.h"

static const char usage_text[] =
    "usage: mrun verify ARTIFACT --attestation FILE --key PUBLIC.pem [--expect-source DIGEST]\n"
    "                   [--expect-builder ID] [--json]\n"
    "\n"
    "Checks, in order: FILE is a DSSE envelope, a Sigstore bundle or a .intoto.jsonl file; a signature verifies\n"
    "with the key; the payload is an in-toto Statement v1; ARTIFACT's sha256 is one of its subjects; the SLSA\n"
    "provenance names the source archive digest (--expect-source, sha256 hex, 'sha256:' prefix allowed) and the\n"
    "builder id (--expect-builder) given. Exit 0 when all pass, 1 naming the first that failed, 2 on errors.\n"
    "\n"
    "  --json   print {\"verified\", \"artifact\", \"sha256\", \"key_id\", \"failed_check\", \"error\"}\n"
    "\n"
    "Verifying without mrun (openssl, sigstore-js): docs/supply-chain.md.\n";

static int report(bool json, const char *artifact, const char *hex, const char *key_id, mrun_verify_check c,
                  const char *msg)
{
    if (json) {
        json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s?, s:s?}", "verified", c == MRUN_VERIFY_OK, "artifact", artifact,
                              "sha256", hex, "key_id", key_id, "failed_check",
                              c == MRUN_VERIFY_OK ? NULL : mrun_attest_check_name(c), "error", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else if (c == MRUN_VERIFY_OK) {
        printf("verified: %s (sha256:%s) is attested by key %s\n", artifact, hex, key_id);
    } else {
        fprintf(stderr, "mrun verify: FAILED (%s): %s\n", mrun_attest_check_name(c), msg);
    }
    return c == MRUN_VERIFY_OK ? 0 : 1;
}

int mrun_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"attestation", required_argument, NULL, 'a'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"expect-source", required_argument, NULL, 's'},
                                         {"expect-builder", required_argument, NULL, 'b'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *att_path = NULL, *key_path = NULL;
    mrun_verify_expect ex = {0};
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            att_path = optarg;
            break;
        case 'k':
            key_path = optarg;
            break;
        case 's':
            ex.source_sha256 = optarg;
            break;
        case 'b':
            ex.builder_id = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind + 1 != argc || !att_path || !key_path) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *artifact = argv[optind];
    mrun_err err = MRUN_ERR_INIT;
    char hex[65];
    mrun_cleanup(mrun_attest_key_freep) mrun_key *key = NULL;
    mrun_autofree uint8_t *att = NULL;
    size_t att_len = 0;
    if (mrun_attest_file_sha256(artifact, hex, &err) < 0 || mrun_attest_key_load_public(key_path, &key, &err) < 0 ||
        mrun_attest_read_file(att_path, MRUN_ATTEST_MAX_BYTES, &att, &att_len, &err) < 0) {
        fprintf(stderr, "mrun verify: %s\n", err.msg);
        return 2;
    }
    mrun_verify_check failed = MRUN_VERIFY_OK;
    if (mrun_attest_verify(hex, artifact, att, att_len, key, &ex, &failed, &err) < 0 && failed == MRUN_VERIFY_OK)
        failed = MRUN_VERIFY_FORMAT;
    return report(json, artifact, hex, mrun_attest_key_id(key), failed, failed == MRUN_VERIFY_OK ? NULL : err.msg);
}
