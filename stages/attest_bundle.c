/* attest_bundle.c - Sigstore bundles (github.com/sigstore/protobuf-specs, protos/sigstore_bundle.proto, in its
 * protobuf JSON form) carrying a DSSE envelope, keyed: verificationMaterial.publicKey.hint names the key, with no
 * certificate, no transparency-log entry and no timestamp. Also reading such a bundle back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "attest_int.h"

int mrun_attest_bundle_json(const mrun_dsse *env, const mrun_key *key, char **ret_json, mrun_err *err)
{
    json_t *dsse = mrun_attest_dsse_to_json(env, err);
    if (!dsse)
        return -1;
    /* field order as in the protobuf-specs examples: mediaType, verificationMaterial, then the content */
    mrun_autojson json_t *b = json_pack("{s:s, s:{s:{s:s}, s:[], s:{s:[]}}, s:o}", "mediaType", MRUN_BUNDLE_MEDIA_TYPE,
                                        "verificationMaterial", "publicKey", "hint", key->id, "tlogEntries",
                                        "timestampVerificationData", "rfc3161Timestamps", "dsseEnvelope", dsse);
    if (!b)
        return mrun_err_set(err, ENOMEM, "bundle JSON");
    char *s = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return mrun_err_set(err, ENOMEM, "bundle JSON");
    *ret_json = s;
    return 0;
}

static bool known_media_type(const char *mt)
{
    static const char *const ok[] = {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(mt, ok[i]) == 0)
            return true;
    return false;
}

int mrun_attest_bundle_parse(const uint8_t *buf, size_t len, mrun_dsse **ret_env, char **ret_hint, mrun_err *err)
{
    if (len > MRUN_ATTEST_MAX_BYTES)
        return mrun_err_setx(err, E2BIG, "bundle larger than %u bytes", MRUN_ATTEST_MAX_BYTES);
    json_error_t jerr;
    mrun_autojson json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mrun_err_setx(err, EPROTO, "bundle:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    const char *mt = json_string_value(json_object_get(root, "mediaType"));
    if (!mt)
        return mrun_err_setx(err, EPROTO, "bundle: 'mediaType' is missing");
    if (!known_media_type(mt))
        return mrun_err_setx(err, EPROTO, "bundle: unsupported mediaType '%.80s'", mt);
    json_t *vm = json_object_get(root, "verificationMaterial");
    if (!json_is_object(vm))
        return mrun_err_setx(err, EPROTO, "bundle: 'verificationMaterial' is missing");
    json_t *env_json = json_object_get(root, "dsseEnvelope");
    if (!env_json)
        return mrun_err_setx(err, EPROTO,
                             "bundle: no 'dsseEnvelope' (message-signature bundles are not "
                             "attestations)");
    const char *hint = json_string_value(json_object_get(json_object_get(vm, "publicKey"), "hint"));
    if (hint && strlen(hint) > 256)
        return mrun_err_setx(err, EPROTO, "bundle: public key hint longer than 256 bytes");
    mrun_autofree char *hint_copy = hint ? strdup(hint) : NULL;
    if (hint && !hint_copy)
        return mrun_err_set(err, ENOMEM, "bundle");
    mrun_dsse *env = NULL;
    if (mrun_attest_dsse_from_json(env_json, &env, err) < 0)
        return mrun_err_prefix(err, "bundle");
    *ret_env = env;
    *ret_hint = mrun_steal_ptr(&hint_copy);
    return 0;
}

int mrun_attest_sign_statement(const mrun_key *key, const char *statement, size_t len, bool bundle, char **ret_json,
                               mrun_err *err)
{
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *env = NULL;
    if (mrun_attest_dsse_sign(key, MRUN_DSSE_PAYLOAD_TYPE, (const uint8_t *)statement, len, &env, err) < 0)
        return -1;
    return bundle ? mrun_attest_bundle_json(env, key, ret_json, err) : mrun_attest_dsse_json(env, ret_json, err);
}
