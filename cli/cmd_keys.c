/* cmd_keys.c - `mrun keys generate|id`: the coordinator's signing key pair (docs/supply-chain.md), and the
 * passphrase options that `mrun attest` shares. Never prints key material or passphrases. */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "../stages/attest.h"
#include "cli.h"

#define PASS_MAX 1024

void mrun_cli_passphrase_free(char *pass)
{
    if (pass) {
        OPENSSL_cleanse(pass, strlen(pass));
        free(pass);
    }
}

int mrun_cli_passphrase(const char *env_name, const char *file, char **ret_pass, mrun_err *err)
{
    if (env_name && file)
        return mrun_err_setx(err, EINVAL, "give --passphrase-env or --passphrase-file, not both");
    if (env_name) {
        const char *v = getenv(env_name);
        if (!v || !v[0])
            return mrun_err_setx(err, EINVAL, "environment variable %.64s is unset or empty", env_name);
        if (strlen(v) > PASS_MAX)
            return mrun_err_setx(err, E2BIG, "passphrase in %.64s is longer than %d bytes", env_name, PASS_MAX);
        if (!(*ret_pass = strdup(v)))
            return mrun_err_set(err, ENOMEM, "passphrase");
        return 0;
    }
    if (!file) {
        *ret_pass = NULL;
        return 0;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (mrun_attest_read_file(file, PASS_MAX + 2, &buf, &len, err) < 0)
        return mrun_err_prefix(err, "passphrase file");
    /* the first line, without its line ending */
    size_t n = strcspn((char *)buf, "\r\n");
    if (n == 0 || memchr(buf, 0, len)) {
        OPENSSL_cleanse(buf, len);
        free(buf);
        return mrun_err_setx(err, EINVAL, "passphrase file '%s' is empty or binary", file);
    }
    OPENSSL_cleanse(buf + n, len - n);
    buf[n] = 0;
    *ret_pass = (char *)buf;
    return 0;
}

static const char usage_text[] =
    "usage: mrun keys generate [--type ecdsa-p256|ed25519] [--output PREFIX] [--passphrase-env VAR |\n"
    "                          --passphrase-file FILE] [--force]\n"
    "       mrun keys id PUBLIC.pem\n"
    "\n"
    "generate: writes PREFIX.key (PKCS#8 PEM, mode 0600; encrypted with AES-256-CBC/PBKDF2 when a passphrase is\n"
    "  given) and PREFIX.pub (public key PEM), and prints the key id. PREFIX defaults to mrun-signing. Existing\n"
    "  files are never replaced without --force, and a symlink is never written through.\n"
    "id: prints a public key's id (sha256 of its DER SubjectPublicKeyInfo, hex), the keyid in envelopes and the\n"
    "  public-key hint in Sigstore bundles.\n"
    "\n"
    "The coordinator signs provenance with this key; keep the .key file on the coordinator host only.\n"
    "Formats and verification without mrun: docs/supply-chain.md.\n";

static int keys_generate(int argc, char **argv)
{
    static const struct option opts[] = {{"type", required_argument, NULL, 't'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"passphrase-env", required_argument, NULL, 'e'},
                                         {"passphrase-file", required_argument, NULL, 'p'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *prefix = "mrun-signing", *env_name = NULL, *pass_file = NULL;
    mrun_key_type type = MRUN_KEY_ECDSA_P256;
    bool force = false;
    mrun_err err = MRUN_ERR_INIT;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:o:fh", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (mrun_attest_key_type_parse(optarg, &type, &err) < 0) {
                fprintf(stderr, "mrun keys: %s\n", err.msg);
                return 2;
            }
            break;
        case 'o':
            prefix = optarg;
            break;
        case 'e':
            env_name = optarg;
            break;
        case 'p':
            pass_file = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    mrun_cleanup(mrun_attest_key_freep) mrun_key *key = NULL;
    char *pass = NULL;
    if (mrun_cli_passphrase(env_name, pass_file, &pass, &err) < 0) {
        fprintf(stderr, "mrun keys: %s\n", err.msg);
        return 2;
    }
    bool encrypted = pass != NULL;
    int rc = mrun_attest_key_generate(type, &key, &err);
    if (rc == 0)
        rc = mrun_attest_key_write(key, prefix, pass, force, &err);
    mrun_cli_passphrase_free(pass);
    if (rc < 0) {
        fprintf(stderr, "mrun keys: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s.key (private, 0600%s) and %s.pub\nkey id %s\n", prefix, encrypted ? ", encrypted" : "", prefix,
           mrun_attest_key_id(key));
    return 0;
}

static int keys_id(int argc, char **argv)
{
    if (argc != 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *key = NULL;
    if (mrun_attest_key_load_public(argv[1], &key, &err) < 0) {
        fprintf(stderr, "mrun keys: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", mrun_attest_key_id(key));
    return 0;
}

int mrun_cmd_keys(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "generate") == 0)
        return keys_generate(argc - 1, argv + 1);
    if (strcmp(argv[1], "id") == 0)
        return keys_id(argc - 1, argv + 1);
    fprintf(stderr, "mrun keys: unknown action '%.64s'\n%s", argv[1], usage_text);
    return 2;
}
