/* fuzz_dsse.c - fuzz target for attestations a verifier reads from anywhere: DSSE envelopes, Sigstore bundles and
 * the whole `mrun verify` path (format detection, JSON Lines, statement checks) with a fixed public key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A P-256 public key; nothing signed by its private half is in the corpus, so only the parsing runs deep. */
static const char pub_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEgCPwE4Mi5Wkb80zxSzuGEnFy9iXU\n"
                              "Pq0OsSY93ObBq4T2D8bRnm8VNC10i4KlmDHbFrsCv96sOLXokp8cM7EUTA==\n"
                              "-----END PUBLIC KEY-----\n";

static void check_env(const mrun_dsse *env)
{
    if (!env->payload_type || !env->payload || env->nsigs == 0 || env->nsigs > MRUN_DSSE_MAX_SIGS)
        abort();
    if (env->payload[env->payload_len] != 0)
        abort();
    for (size_t i = 0; i < env->nsigs; i++)
        if (!env->sigs[i].keyid || !env->sigs[i].sig)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mrun_key *key;
    mrun_err err = MRUN_ERR_INIT;
    if (!key && mrun_attest_key_parse_public((const uint8_t *)pub_pem, sizeof(pub_pem) - 1, &key, &err) < 0)
        abort();
    mrun_dsse *env = NULL;
    if (mrun_attest_dsse_parse(data, size, &env, &err) == 0) {
        check_env(env);
        char *json = NULL;
        if (mrun_attest_dsse_json(env, &json, &err) == 0) { /* re-encoding round-trips */
            mrun_dsse *back = NULL;
            if (mrun_attest_dsse_parse((const uint8_t *)json, strlen(json), &back, &err) < 0)
                abort();
            if (back->payload_len != env->payload_len || memcmp(back->payload, env->payload, env->payload_len))
                abort();
            mrun_attest_dsse_free(back);
            free(json);
        }
        mrun_attest_dsse_verify(env, key, &err);
        mrun_attest_dsse_free(env);
    }
    char *hint = NULL;
    env = NULL;
    if (mrun_attest_bundle_parse(data, size, &env, &hint, &err) == 0) {
        check_env(env);
        mrun_attest_dsse_free(env);
        free(hint);
    }
    mrun_verify_expect ex = {.source_sha256 = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                             .builder_id = "https://ci.example.com/mrun/coordinator/1"};
    mrun_verify_check c = MRUN_VERIFY_OK;
    if (mrun_attest_verify("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "a", data, size, key,
                           &ex, &c, &err) == 0)
        abort(); /* nothing in the corpus is signed by this key */
    if (c == MRUN_VERIFY_OK)
        abort();
    return 0;
}
