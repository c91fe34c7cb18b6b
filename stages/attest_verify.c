/* attest_verify.c - `mrun verify`'s logic: an attestation (DSSE envelope, Sigstore bundle, or .intoto.jsonl) is
 * accepted for an artifact only when a signature verifies with the given public key, the payload is an in-toto
 * Statement v1, the artifact's sha256 is one of its subjects, and the SLSA fields match what the caller expects.
 * Checks run in that order and the first failure is reported, so the message says which one failed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "attest_int.h"

#define MAX_LINES 10000 /* envelopes in one .intoto.jsonl: each costs a signature check */

const char *mrun_attest_check_name(mrun_verify_check c)
{
    switch (c) {
    case MRUN_VERIFY_OK:
        return "ok";
    case MRUN_VERIFY_FORMAT:
        return "format";
    case MRUN_VERIFY_SIGNATURE:
        return "signature";
    case MRUN_VERIFY_STATEMENT:
        return "statement";
    case MRUN_VERIFY_SUBJECT:
        return "subject";
    case MRUN_VERIFY_SOURCE:
        return "source";
    case MRUN_VERIFY_BUILDER:
        return "builder";
    }
    return "?";
}

static int fail(mrun_verify_check c, mrun_verify_check *failed)
{
    if (failed)
        *failed = c;
    return -1;
}

/* A bundle has a mediaType at its top level; anything else is read as an envelope. */
static int parse_any(const uint8_t *buf, size_t len, mrun_dsse **ret_env, mrun_err *err)
{
    json_error_t jerr;
    mrun_autojson json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mrun_err_setx(err, EPROTO, "attestation:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    if (json_object_get(root, "mediaType")) {
        mrun_autofree char *hint = NULL;
        return mrun_attest_bundle_parse(buf, len, ret_env, &hint, err);
    }
    return mrun_attest_dsse_from_json(root, ret_env, err);
}

static bool is_subject(const json_t *subjects, const char *hex)
{
    size_t i;
    json_t *s;
    json_array_foreach(subjects, i, s)
    {
        const char *d = json_string_value(json_object_get(json_object_get(s, "digest"), "sha256"));
        char norm[65];
        if (d && mrun_attest_hex256_norm(d, norm) && strcmp(norm, hex) == 0)
            return true;
    }
    return false;
}

/* The "source" entry of resolvedDependencies (mrun's own statements name it so). */
static const char *source_digest(const json_t *pred)
{
    json_t *deps = json_object_get(json_object_get(pred, "buildDefinition"), "resolvedDependencies");
    size_t i;
    json_t *d;
    json_array_foreach(deps, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        if (name && strcmp(name, "source") == 0)
            return json_string_value(json_object_get(json_object_get(d, "digest"), "sha256"));
    }
    return NULL;
}

static int check_expectations(const json_t *st, const mrun_verify_expect *ex, mrun_verify_check *failed, mrun_err *err)
{
    if (!ex || (!ex->source_sha256 && !ex->builder_id))
        return 0;
    const char *pt = json_string_value(json_object_get(st, "predicateType"));
    if (!pt || strcmp(pt, MRUN_SLSA_PREDICATE_TYPE) != 0)
        return mrun_err_setx(err, EPERM, "predicateType '%.80s' is not %s: no builder or source to check",
                             pt ? pt : "(none)", MRUN_SLSA_PREDICATE_TYPE),
               fail(MRUN_VERIFY_STATEMENT, failed);
    json_t *pred = json_object_get(st, "predicate");
    if (ex->source_sha256) {
        char want[65], got[65];
        if (!mrun_attest_hex256_norm(ex->source_sha256, want))
            return mrun_err_setx(err, EINVAL, "expected source digest '%.80s' is not a sha256", ex->source_sha256),
                   fail(MRUN_VERIFY_SOURCE, failed);
        const char *d = source_digest(pred);
        if (!d || !mrun_attest_hex256_norm(d, got))
            return mrun_err_setx(err, EPERM, "source digest (none) != expected sha256:%s", want),
                   fail(MRUN_VERIFY_SOURCE, failed);
        if (strcmp(got, want) != 0)
            return mrun_err_setx(err, EPERM, "source digest sha256:%s != expected sha256:%s", got, want),
                   fail(MRUN_VERIFY_SOURCE, failed);
    }
    if (ex->builder_id) {
        const char *id =
            json_string_value(json_object_get(json_object_get(json_object_get(pred, "runDetails"), "builder"), "id"));
        if (!id || strcmp(id, ex->builder_id) != 0)
            return mrun_err_setx(err, EPERM, "builder id '%.100s' != expected '%.100s'", id ? id : "(none)",
                                 ex->builder_id),
                   fail(MRUN_VERIFY_BUILDER, failed);
    }
    return 0;
}

/* One envelope or bundle. */
static int verify_one(const char *hex, const char *name, const uint8_t *att, size_t len, const mrun_key *pub,
                      const mrun_verify_expect *ex, mrun_verify_check *failed, mrun_err *err)
{
    mrun_cleanup(mrun_attest_dsse_freep) mrun_dsse *env = NULL;
    if (parse_any(att, len, &env, err) < 0)
        return fail(MRUN_VERIFY_FORMAT, failed);
    if (mrun_attest_dsse_verify(env, pub, err) < 0)
        return fail(MRUN_VERIFY_SIGNATURE, failed);
    /* only now is the payload trusted enough to parse */
    if (strcmp(env->payload_type, MRUN_DSSE_PAYLOAD_TYPE) != 0)
        return mrun_err_setx(err, EPERM, "payloadType '%.80s' is not %s", env->payload_type, MRUN_DSSE_PAYLOAD_TYPE),
               fail(MRUN_VERIFY_STATEMENT, failed);
    json_error_t jerr;
    mrun_autojson json_t *st = json_loadb((const char *)env->payload, env->payload_len, JSON_REJECT_DUPLICATES, &jerr);
    const char *type = json_string_value(json_object_get(st, "_type"));
    json_t *subjects = json_object_get(st, "subject");
    if (!type || strcmp(type, MRUN_STATEMENT_TYPE) != 0 || !json_is_array(subjects))
        return mrun_err_setx(err, EPERM, "not an in-toto Statement v1 (%s)",
                             !st                        ? "payload is not JSON"
                             : !type                    ? "no _type"
                             : !json_is_array(subjects) ? "no subject list"
                                                        : "wrong _type"),
               fail(MRUN_VERIFY_STATEMENT, failed);
    if (!is_subject(subjects, hex))
        return mrun_err_setx(err, EPERM, "artifact %s%.200s%ssha256:%s is not a subject of the statement",
                             name ? "'" : "", name ? name : "", name ? "' " : "", hex),
               fail(MRUN_VERIFY_SUBJECT, failed);
    return check_expectations(st, ex, failed, err);
}

/* Lines of a .intoto.jsonl file: each must be one envelope; one passing line is enough. */
static int verify_lines(const char *hex, const char *name, const uint8_t *att, size_t len, const mrun_key *pub,
                        const mrun_verify_expect *ex, mrun_verify_check *failed, mrun_err *err)
{
    mrun_err first = MRUN_ERR_INIT;
    mrun_verify_check first_check = MRUN_VERIFY_FORMAT;
    size_t pos = 0, lines = 0;
    while (pos < len) {
        const uint8_t *nl = memchr(att + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - att) : len;
        size_t b = pos, e = end;
        while (b < e && (att[b] == ' ' || att[b] == '\t' || att[b] == '\r'))
            b++;
        while (e > b && (att[e - 1] == ' ' || att[e - 1] == '\t' || att[e - 1] == '\r'))
            e--;
        if (e > b) {
            if (++lines > MAX_LINES)
                return mrun_err_setx(err, E2BIG, "more than %d envelopes in one attestation file", MAX_LINES),
                       fail(MRUN_VERIFY_FORMAT, failed);
            mrun_err lerr = MRUN_ERR_INIT;
            mrun_verify_check c = MRUN_VERIFY_OK;
            if (verify_one(hex, name, att + b, e - b, pub, ex, &c, &lerr) == 0)
                return 0;
            /* the most specific failure wins: a line about this artifact says more than one about another */
            if (lines == 1 || c > first_check) {
                first = lerr;
                first_check = c;
                mrun_err_prefix(&first, "line %zu", lines);
            }
        }
        pos = end + 1;
    }
    if (lines == 0)
        return mrun_err_setx(err, EPROTO, "attestation is empty"), fail(MRUN_VERIFY_FORMAT, failed);
    *err = first;
    return fail(first_check, failed);
}

int mrun_attest_verify(const char *artifact_sha256, const char *artifact_name, const uint8_t *att, size_t att_len,
                       const mrun_key *pub, const mrun_verify_expect *expect, mrun_verify_check *failed, mrun_err *err)
{
    char hex[65];
    if (!mrun_attest_hex256_norm(artifact_sha256, hex))
        return mrun_err_setx(err, EINVAL, "artifact digest '%.80s' is not a sha256", artifact_sha256),
               fail(MRUN_VERIFY_FORMAT, failed);
    if (att_len > MRUN_ATTEST_MAX_BYTES)
        return mrun_err_setx(err, E2BIG, "attestation larger than %u bytes", MRUN_ATTEST_MAX_BYTES),
               fail(MRUN_VERIFY_FORMAT, failed);
    if (failed)
        *failed = MRUN_VERIFY_OK;
    /* one JSON document (possibly pretty-printed), or else JSON Lines */
    json_error_t jerr;
    json_t *whole = json_loadb((const char *)att, att_len, 0, &jerr);
    json_decref(whole);
    if (whole)
        return verify_one(hex, artifact_name, att, att_len, pub, expect, failed, err);
    return verify_lines(hex, artifact_name, att, att_len, pub, expect, failed, err);
}
