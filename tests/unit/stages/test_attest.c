/* test_attest.c - keys (generate, write 0600 / O_EXCL, encrypted, reload), DSSE (PAE, sign, verify, JSON both
 * ways), the SLSA statement, bundles and mrun_attest_verify: round trips for ECDSA P-256 and Ed25519, and tamper
 * tests (one flipped byte in artifact, payload, signature, payloadType; keyid swap; wrong key) that must be refused. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/auto.h"
#include "stages/attest.h"
#include "stages/attest_int.h"

#define ART     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" /* sha256("test") */
#define SRC     "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define PIPE    "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
#define SBOM    "3fc9b689459d738f8c88a3a48aa9e33542016b7a4052e001aaa536fca74813cb"
#define BUILDER "https://ci.example.com/mrun/coordinator/1"

static char tmpdir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mrun-attest-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static mrun_key *gen(mrun_key_type t)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_key *k = NULL;
    assert_int_equal(mrun_attest_key_generate(t, &k, &err), 0);
    assert_int_equal(strlen(mrun_attest_key_id(k)), 64);
    return k;
}

static const mrun_attest_digest subjects[] = {{"dist/app.tar.gz", ART}, {"dist/other.bin", SRC}};
static const mrun_attest_digest byproducts[] = {{"sbom.cdx.json", SBOM}};

static mrun_provenance sample(void)
{
    mrun_provenance p = {
        .subjects = subjects,
        .nsubjects = 2,
        .pipeline_file = "mrun.yml",
        .pipeline_sha256 = PIPE,
        .event = "push",
        .ref = "refs/heads/main",
        .stage = "build",
        .agent = "claude-code",
        .submitter = "alice",
        .runner_id = "runner-7",
        .limits_json = "{\"memory\":\"512M\",\"cpus\":\"1\"}",
        .source_sha256 = SRC,
        .source_uri = "mrun:pipelines/42/source.tar",
        .toolchain_uri = "pkg:deb/debian/gcc-12@12.2.0",
        .builder_id = BUILDER,
        .invocation_id = "42/build/1",
        .started_ms = 1764357600000,
        .finished_ms = 1764357601234,
        .byproducts = byproducts,
        .nbyproducts = 1,
    };
    return p;
}

static char *statement(void)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_provenance p = sample();
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(mrun_attest_statement(&p, &json, &len, &err), 0);
    assert_int_equal(strlen(json), len);
    return json;
}

/* ---- keys ---- */

static void key_files(mrun_key_type t, const char *name, const char *pass)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *k = gen(t);
    char prefix[128], path[140];
    snprintf(prefix, sizeof(prefix), "%s/%s", tmpdir, name);
    umask(0);
    assert_int_equal(mrun_attest_key_write(k, prefix, pass, false, &err), 0);
    umask(022);
    struct stat st;
    snprintf(path, sizeof(path), "%s.key", prefix);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    mrun_autofree uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(mrun_attest_read_file(path, 1 << 16, &data, &len, &err), 0);
    assert_non_null(strstr((char *)data, pass ? "BEGIN ENCRYPTED PRIVATE KEY" : "BEGIN PRIVATE KEY"));
    if (pass)
        assert_null(memmem(data, len, pass, strlen(pass)));

    mrun_cleanup(mrun_attest_key_freep) mrun_key *priv = NULL;
    assert_int_equal(mrun_attest_key_load_private(path, pass, &priv, &err), 0);
    assert_string_equal(mrun_attest_key_id(priv), mrun_attest_key_id(k));
    assert_int_equal(mrun_attest_key_get_type(priv), t);
    snprintf(path, sizeof(path), "%s.pub", prefix);
    mrun_cleanup(mrun_attest_key_freep) mrun_key *pub = NULL;
    assert_int_equal(mrun_attest_key_load_public(path, &pub, &err), 0);
    assert_string_equal(mrun_attest_key_id(pub), mrun_attest_key_id(k));

    /* a second write refuses to replace either file */
    mrun_err e2 = MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_key_write(k, prefix, pass, false, &e2), -1);
    assert_int_equal(e2.sys_errno, EEXIST);
    assert_non_null(strstr(e2.msg, "--force"));
    /* a public key cannot sign */
    mrun_dsse *env = NULL;
    assert_int_equal(mrun_attest_dsse_sign(pub, "x", (const uint8_t *)"y", 1, &env, &e2), -1);
}

static void test_key_files_ecdsa(void **s)
{
    (void)s;
    key_files(MRUN_KEY_ECDSA_P256, "ec", NULL);
}

static void test_key_files_ed25519(void **s)
{
    (void)s;
    key_files(MRUN_KEY_ED25519, "ed", NULL);
}

static void test_key_files_encrypted(void **s)
{
    (void)s;
    key_files(MRUN_KEY_ECDSA_P256, "enc", "correct horse battery staple");
    char path[140];
    snprintf(path, sizeof(path), "%s/enc.key", tmpdir);
    mrun_err err = MRUN_ERR_INIT;
    mrun_key *k = NULL;
    assert_int_equal(mrun_attest_key_load_private(path, "wrong horse", &k, &err), -1);
    assert_int_equal(err.sys_errno, EPERM);
    assert_non_null(strstr(err.msg, "wrong passphrase"));
    assert_null(strstr(err.msg, "horse"));
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_key_load_private(path, NULL, &k, &err), -1);
    assert_int_equal(err.sys_errno, EPERM);
    assert_non_null(strstr(err.msg, "is encrypted"));
    assert_null(k);
}

static void test_key_force_replaces_symlink_not_target(void **s)
{
    (void)s;
    char target[128], prefix[128], link[140];
    snprintf(target, sizeof(target), "%s/victim", tmpdir);
    snprintf(prefix, sizeof(prefix), "%s/lnk", tmpdir);
    snprintf(link, sizeof(link), "%s.key", prefix);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fputs("keep me\n", f);
    fclose(f);
    assert_int_equal(symlink(target, link), 0);
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *k = gen(MRUN_KEY_ED25519);
    assert_int_equal(mrun_attest_key_write(k, prefix, NULL, false, &err), -1); /* O_EXCL: the link exists */
    assert_int_equal(mrun_attest_key_write(k, prefix, NULL, true, &err), 0);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 8); /* the link's target was never written */
}

static void test_key_bad_inputs(void **s)
{
    (void)s;
    mrun_err err = MRUN_ERR_INIT;
    mrun_key_type t;
    assert_int_equal(mrun_attest_key_type_parse("rsa", &t, &err), -1);
    assert_int_equal(mrun_attest_key_type_parse("ed25519", &t, &err), 0);
    assert_int_equal(t, MRUN_KEY_ED25519);
    mrun_key *k = NULL;
    static const char junk[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert_int_equal(mrun_attest_key_parse_public((const uint8_t *)junk, sizeof(junk) - 1, &k, &err), -1);
    assert_non_null(strstr(err.msg, "not a PEM public key"));
    /* an RSA key is refused by type */
    EVP_PKEY *rsa = EVP_RSA_gen(1024);
    assert_non_null(rsa);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa), 1);
    char *pem = NULL;
    long n = BIO_get_mem_data(bio, &pem);
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_key_parse_public((const uint8_t *)pem, (size_t)n, &k, &err), -1);
    assert_non_null(strstr(err.msg, "unsupported key type RSA"));
    BIO_free(bio);
    EVP_PKEY_free(rsa);
    assert_null(k);
}

/* ---- DSSE ---- */

static void test_pae(void **s)
{
    (void)s;
    /* the example in the DSSE protocol spec */
    mrun_err err = MRUN_ERR_INIT;
    mrun_autofree uint8_t *pae = NULL;
    size_t len = 0;
    assert_int_equal(
        mrun_attest_pae("http://example.com/HelloWorld", (const uint8_t *)"hello world", 11, &pae, &len, &err), 0);
    static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(pae, want, len);
    mrun_autofree uint8_t *empty = NULL;
    assert_int_equal(mrun_attest_pae("", NULL, 0, &empty, &len, &err), 0);
    assert_string_equal((char *)empty, "DSSEv1 0  0 ");
}

static void test_base64(void **s)
{
    (void)s;
    mrun_err err = MRUN_ERR_INIT;
    mrun_autofree char *e = mrun_attest_b64_encode((const uint8_t *)"\xfb\xff\x01", 3);
    assert_string_equal(e, "+/8B");
    uint8_t *d = NULL;
    size_t n = 0;
    assert_int_equal(mrun_attest_b64_decode("-_8B", 4, "t", &d, &n, &err), 0); /* URL-safe too */
    assert_int_equal(n, 3);
    assert_memory_equal(d, "\xfb\xff\x01", 3);
    free(d);
    assert_int_equal(mrun_attest_b64_decode("aGk", 3, "t", &d, &n, &err), 0); /* padding optional */
    assert_string_equal((char *)d, "hi");
    free(d);
    assert_int_equal(mrun_attest_b64_decode("aGl=", 4, "t", &d, &n, &err), -1); /* non-canonical bits */
    assert_int_equal(mrun_attest_b64_decode("aG k", 4, "t", &d, &n, &err), -1);
    assert_int_equal(mrun_attest_b64_decode("a", 1, "t", &d, &n, &err), -1);
    assert_int_equal(mrun_attest_b64_decode("aGk==", 5, "t", &d, &n, &err), -1);
    assert_non_null(strstr(err.msg, "t: malformed base64"));
}

static void dsse_round_trip(mrun_key_type t)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *k = gen(t);
    mrun_autofree char *st = statement();
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *env = NULL;
    assert_int_equal(mrun_attest_dsse_sign(k, MRUN_DSSE_PAYLOAD_TYPE, (uint8_t *)st, strlen(st), &env, &err), 0);
    if (t == MRUN_KEY_ECDSA_P256)
        assert_int_equal(env->sigs[0].sig[0], 0x30); /* DER SEQUENCE, as Sigstore expects */
    else
        assert_int_equal(env->sigs[0].sig_len, 64);
    mrun_autofree char *json = NULL;
    assert_int_equal(mrun_attest_dsse_json(env, &json, &err), 0);
    assert_non_null(strstr(json, "\"payloadType\":\"application/vnd.in-toto+json\""));
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *back = NULL;
    assert_int_equal(mrun_attest_dsse_parse((uint8_t *)json, strlen(json), &back, &err), 0);
    assert_int_equal(back->payload_len, strlen(st));
    assert_memory_equal(back->payload, st, strlen(st));
    assert_string_equal(back->sigs[0].keyid, mrun_attest_key_id(k));
    assert_int_equal(mrun_attest_dsse_verify(back, k, &err), 0);

    /* tamper: one byte of payload, of the signature, of the payload type */
    back->payload[10] ^= 1;
    assert_int_equal(mrun_attest_dsse_verify(back, k, &err), -1);
    assert_int_equal(err.sys_errno, EPERM);
    assert_non_null(strstr(err.msg, "signature does not verify with key"));
    back->payload[10] ^= 1;
    back->sigs[0].sig[back->sigs[0].sig_len / 2] ^= 0x40;
    assert_int_equal(mrun_attest_dsse_verify(back, k, &err), -1);
    back->sigs[0].sig[back->sigs[0].sig_len / 2] ^= 0x40;
    back->payload_type[0] = 'b';
    assert_int_equal(mrun_attest_dsse_verify(back, k, &err), -1);
    back->payload_type[0] = 'a';
    assert_int_equal(mrun_attest_dsse_verify(back, k, &err), 0);
    /* keyid naming another key: not this key's signature */
    back->sigs[0].keyid[0] = back->sigs[0].keyid[0] == 'a' ? 'b' : 'a';
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_dsse_verify(back, k, &err), -1);
    assert_non_null(strstr(err.msg, "signed by keyid"));
    /* an empty keyid is only a missing hint */
    back->sigs[0].keyid[0] = 0;
    assert_int_equal(mrun_attest_dsse_verify(back, k, &err), 0);
    /* another key of the same type */
    mrun_cleanup(mrun_attest_key_freep) mrun_key *other = gen(t);
    assert_int_equal(mrun_attest_dsse_verify(back, other, &err), -1);
}

static void test_dsse_ecdsa(void **s)
{
    (void)s;
    dsse_round_trip(MRUN_KEY_ECDSA_P256);
}

static void test_dsse_ed25519(void **s)
{
    (void)s;
    dsse_round_trip(MRUN_KEY_ED25519);
}

static void test_dsse_malformed(void **s)
{
    (void)s;
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"", "envelope:"},
        {"[]", "not a JSON object"},
        {"{\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"AA==\"}]}", "'payload' is missing"},
        {"{\"payload\":1,\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"AA==\"}]}", "'payload' is not a string"},
        {"{\"payload\":\"aGk=\",\"signatures\":[{\"sig\":\"AA==\"}]}", "'payloadType' is missing"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"\",\"signatures\":[{\"sig\":\"AA==\"}]}", "'payloadType' is empty"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"t\"}", "'signatures' is missing"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[]}", "'signatures' is missing or empty"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[1]}", "signatures[0] is not an object"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{}]}", "'sig' is missing"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"\"}]}", "sig is empty"},
        {"{\"payload\":\"a*k=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"AA==\"}]}", "invalid base64"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"A\"}]}", "signatures[0].sig"},
        {"{\"payload\":\"aGk=\",\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"AA==\"}]}",
         "duplicate"},
        {"{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"AA==\",\"keyid\":7}]}",
         "'keyid' is not a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mrun_err err = MRUN_ERR_INIT;
        mrun_dsse *env = NULL;
        int rc = mrun_attest_dsse_parse((const uint8_t *)cases[i].json, strlen(cases[i].json), &env, &err);
        if (rc != -1 || !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: rc %d, message '%s', want '%s'", i, rc, err.msg, cases[i].msg);
        assert_null(env);
    }
    /* too many signatures */
    char big[4096] = "{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[";
    for (int i = 0; i <= MRUN_DSSE_MAX_SIGS; i++)
        strncat(big, i ? ",{\"sig\":\"AA==\"}" : "{\"sig\":\"AA==\"}", sizeof(big) - strlen(big) - 1);
    strncat(big, "]}", sizeof(big) - strlen(big) - 1);
    mrun_err err = MRUN_ERR_INIT;
    mrun_dsse *env = NULL;
    assert_int_equal(mrun_attest_dsse_parse((const uint8_t *)big, strlen(big), &env, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
}

/* ---- statement ---- */

static void test_statement_fields(void **s)
{
    (void)s;
    mrun_autofree char *st = statement();
    mrun_autofree char *again = statement();
    assert_string_equal(st, again); /* stable bytes */
    static const char *const want[] = {
        "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"dist/app.tar.gz\",\"digest\":{"
        "\"sha256\":\"" ART "\"}},",
        "\"predicateType\":\"https://slsa.dev/provenance/v1\",\"predicate\":{\"buildDefinition\":{\"buildType\":"
        "\"https://mrun.dev/buildtypes/stage/v1\",\"externalParameters\":{\"pipeline\":{\"path\":\"mrun.yml\","
        "\"digest\":{\"sha256\":\"" PIPE "\"}},\"event\":\"push\",\"ref\":\"refs/heads/main\",\"stage\":\"build\","
        "\"agent\":\"claude-code\"},",
        "\"internalParameters\":{\"submitter\":\"alice\",\"runnerId\":\"runner-7\",\"sandboxLimits\":{\"memory\":"
        "\"512M\",\"cpus\":\"1\"}}",
        "\"resolvedDependencies\":[{\"name\":\"source\",\"uri\":\"mrun:pipelines/42/source.tar\",\"digest\":{"
        "\"sha256\":\"" SRC "\"}},{\"name\":\"toolchain\",\"uri\":\"pkg:deb/debian/gcc-12@12.2.0\"}]",
        "\"runDetails\":{\"builder\":{\"id\":\"" BUILDER "\"},\"metadata\":{\"invocationId\":\"42/build/1\","
        "\"startedOn\":\"2025-11-28T19:20:00Z\",\"finishedOn\":\"2025-11-28T19:20:01.234Z\"},\"byproducts\":[{"
        "\"name\":\"sbom.cdx.json\",\"digest\":{\"sha256\":\"" SBOM "\"}}]}}}",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(st, want[i]))
            fail_msg("missing %s\nin %s", want[i], st);
}

/* only what `mrun attest` needs: optional parts are left out, not written as null or empty */
static void test_statement_minimal(void **s)
{
    (void)s;
    mrun_provenance p = {.subjects = subjects, .nsubjects = 1, .stage = "manual", .builder_id = BUILDER};
    mrun_err err = MRUN_ERR_INIT;
    mrun_autofree char *json = NULL;
    size_t len = 0;
    assert_int_equal(mrun_attest_statement(&p, &json, &len, &err), 0);
    assert_string_equal(json,
                        "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"dist/app.tar.gz\","
                        "\"digest\":{\"sha256\":\"" ART "\"}}],\"predicateType\":\"https://slsa.dev/provenance/v1\","
                        "\"predicate\":{\"buildDefinition\":{\"buildType\":\"https://mrun.dev/buildtypes/stage/v1\","
                        "\"externalParameters\":{\"stage\":\"manual\"}},\"runDetails\":{\"builder\":{\"id\":\"" BUILDER
                        "\"}}}}");
    /* without a source entry, --expect-source cannot hold */
    mrun_cleanup(mrun_attest_key_freep) mrun_key *k = gen(MRUN_KEY_ED25519);
    mrun_autofree char *env = NULL;
    assert_int_equal(mrun_attest_sign_statement(k, json, len, false, &env, &err), 0);
    mrun_verify_expect ex = {.source_sha256 = SRC};
    mrun_verify_check c;
    assert_int_equal(mrun_attest_verify(ART, NULL, (uint8_t *)env, strlen(env), k, &ex, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_SOURCE);
    assert_non_null(strstr(err.msg, "source digest (none) != expected sha256:" SRC));
}

static void test_statement_invalid(void **s)
{
    (void)s;
    mrun_provenance p;
    mrun_err err;
    char *json = NULL;
    size_t len;
#define BAD(field, value, wmsg)                                                                                        \
    do {                                                                                                               \
        p = sample();                                                                                                  \
        p.field = value;                                                                                               \
        err = (mrun_err)MRUN_ERR_INIT;                                                                                 \
        assert_int_equal(mrun_attest_statement(&p, &json, &len, &err), -1);                                            \
        if (!strstr(err.msg, wmsg))                                                                                    \
            fail_msg("%s: got '%s'", #field, err.msg);                                                                 \
        assert_null(json);                                                                                             \
    } while (0)
    BAD(builder_id, NULL, "builder id missing");
    BAD(nsubjects, 0, "subjects missing");
    BAD(source_sha256, "abc", "source digest: not a sha256");
    BAD(pipeline_sha256, NULL, "pipeline digest");
    BAD(limits_json, "[1]", "limits are not a JSON object");
    BAD(finished_ms, -5, "finish time out of range");
    BAD(started_ms, INT64_MAX, "start time out of range");
    BAD(agent, "\xff\xfe", "agent is not UTF-8");
    static const mrun_attest_digest bad[] = {{"x", "zz"}};
    BAD(subjects, bad, "subjects: not a sha256");
#undef BAD
}

/* ---- bundle and verify ---- */

static void verify_all(mrun_key_type t)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *k = gen(t);
    mrun_autofree char *st = statement();
    mrun_autofree char *env = NULL, *bundle = NULL;
    assert_int_equal(mrun_attest_sign_statement(k, st, strlen(st), false, &env, &err), 0);
    assert_int_equal(mrun_attest_sign_statement(k, st, strlen(st), true, &bundle, &err), 0);
    assert_non_null(strstr(bundle, "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
                                   "\"verificationMaterial\":{\"publicKey\":{\"hint\":\""));
    assert_non_null(strstr(bundle, "\"tlogEntries\":[]"));
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *benv = NULL;
    mrun_autofree char *hint = NULL;
    assert_int_equal(mrun_attest_bundle_parse((uint8_t *)bundle, strlen(bundle), &benv, &hint, &err), 0);
    assert_string_equal(hint, mrun_attest_key_id(k));

    /* envelope, bundle, and JSON Lines with an unrelated line first */
    char jsonl[16384];
    snprintf(jsonl, sizeof(jsonl),
             "{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"AA==\"}]}\n"
             "%s\n",
             env);
    const char *forms[] = {env, bundle, jsonl};
    mrun_verify_expect ex = {.source_sha256 = "sha256:" SRC, .builder_id = BUILDER};
    for (size_t i = 0; i < 3; i++) {
        mrun_verify_check c = MRUN_VERIFY_FORMAT;
        err = (mrun_err)MRUN_ERR_INIT;
        if (mrun_attest_verify(ART, "app", (uint8_t *)forms[i], strlen(forms[i]), k, &ex, &c, &err) != 0)
            fail_msg("form %zu: %s", i, err.msg);
        assert_int_equal(c, MRUN_VERIFY_OK);
        /* the second subject too, in upper case with a prefix */
        assert_int_equal(mrun_attest_verify("SHA256:2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE",
                                            NULL, (uint8_t *)forms[i], strlen(forms[i]), k, NULL, &c, &err),
                         0);
    }
    /* one flipped bit in the artifact's digest */
    char art[65] = ART;
    art[0] = '8';
    mrun_verify_check c;
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_verify(art, "app.tar.gz", (uint8_t *)bundle, strlen(bundle), k, &ex, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_SUBJECT);
    assert_non_null(strstr(err.msg, "artifact 'app.tar.gz' sha256:8f86d0"));
    assert_non_null(strstr(err.msg, "is not a subject of the statement"));
    /* expectations */
    mrun_verify_expect bad_src = {.source_sha256 = PIPE};
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_verify(ART, NULL, (uint8_t *)env, strlen(env), k, &bad_src, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_SOURCE);
    assert_non_null(strstr(err.msg, "source digest sha256:" SRC " != expected sha256:" PIPE));
    mrun_verify_expect bad_builder = {.builder_id = "https://evil.example/"};
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_verify(ART, NULL, (uint8_t *)env, strlen(env), k, &bad_builder, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_BUILDER);
    assert_non_null(strstr(err.msg, "builder id '" BUILDER "' != expected 'https://evil.example/'"));
    /* wrong key */
    mrun_cleanup(mrun_attest_key_freep) mrun_key *other = gen(t);
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(mrun_attest_verify(ART, NULL, (uint8_t *)bundle, strlen(bundle), other, NULL, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_SIGNATURE);
    assert_non_null(strstr(err.msg, "signature does not verify"));
    /* one flipped byte in the envelope's base64 payload or signature */
    for (int which = 0; which < 2; which++) {
        mrun_autofree char *copy = strdup(env);
        char *p = strstr(copy, which ? "\"sig\":\"" : "\"payload\":\"");
        p += which ? 20 : 40;
        *p = *p == 'A' ? 'B' : 'A';
        err = (mrun_err)MRUN_ERR_INIT;
        assert_int_equal(mrun_attest_verify(ART, NULL, (uint8_t *)copy, strlen(copy), k, NULL, &c, &err), -1);
        assert_true(c == MRUN_VERIFY_SIGNATURE || c == MRUN_VERIFY_FORMAT); /* FORMAT: non-canonical base64 */
    }
}

static void test_verify_ecdsa(void **s)
{
    (void)s;
    verify_all(MRUN_KEY_ECDSA_P256);
}

static void test_verify_ed25519(void **s)
{
    (void)s;
    verify_all(MRUN_KEY_ED25519);
}

static void test_verify_not_a_statement(void **s)
{
    (void)s;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_attest_key_freep) mrun_key *k = gen(MRUN_KEY_ECDSA_P256);
    static const char *const payloads[] = {"not json",
                                           "{\"_type\":\"https://in-toto.io/Statement/v0.1\",\"subject\":[]}",
                                           "{\"_type\":\"https://in-toto.io/Statement/v1\"}"};
    for (size_t i = 0; i < 3; i++) {
        mrun_autofree char *env = NULL;
        assert_int_equal(mrun_attest_sign_statement(k, payloads[i], strlen(payloads[i]), false, &env, &err), 0);
        mrun_verify_check c;
        err = (mrun_err)MRUN_ERR_INIT;
        assert_int_equal(mrun_attest_verify(ART, NULL, (uint8_t *)env, strlen(env), k, NULL, &c, &err), -1);
        assert_int_equal(c, MRUN_VERIFY_STATEMENT);
        assert_non_null(strstr(err.msg, "not an in-toto Statement v1"));
    }
    /* a signed payload of another type */
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *env = NULL;
    mrun_autofree char *st = statement(), *json = NULL;
    assert_int_equal(mrun_attest_dsse_sign(k, "text/plain", (uint8_t *)st, strlen(st), &env, &err), 0);
    assert_int_equal(mrun_attest_dsse_json(env, &json, &err), 0);
    mrun_verify_check c;
    assert_int_equal(mrun_attest_verify(ART, NULL, (uint8_t *)json, strlen(json), k, NULL, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_STATEMENT);
    assert_non_null(strstr(err.msg, "payloadType 'text/plain'"));
    /* garbage and a message-signature bundle */
    static const char msgb[] = "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
                               "\"verificationMaterial\":{},\"messageSignature\":{}}";
    assert_int_equal(mrun_attest_verify(ART, NULL, (const uint8_t *)msgb, strlen(msgb), k, NULL, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_FORMAT);
    assert_non_null(strstr(err.msg, "no 'dsseEnvelope'"));
    assert_int_equal(mrun_attest_verify(ART, NULL, (const uint8_t *)"\n\n", 2, k, NULL, &c, &err), -1);
    assert_int_equal(c, MRUN_VERIFY_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_files_ecdsa),
        cmocka_unit_test(test_key_files_ed25519),
        cmocka_unit_test(test_key_files_encrypted),
        cmocka_unit_test(test_key_force_replaces_symlink_not_target),
        cmocka_unit_test(test_key_bad_inputs),
        cmocka_unit_test(test_pae),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_dsse_ecdsa),
        cmocka_unit_test(test_dsse_ed25519),
        cmocka_unit_test(test_dsse_malformed),
        cmocka_unit_test(test_statement_fields),
        cmocka_unit_test(test_statement_minimal),
        cmocka_unit_test(test_statement_invalid),
        cmocka_unit_test(test_verify_ecdsa),
        cmocka_unit_test(test_verify_ed25519),
        cmocka_unit_test(test_verify_not_a_statement),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
