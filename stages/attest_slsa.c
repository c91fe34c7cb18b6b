/* attest_slsa.c - SLSA provenance v1 (slsa.dev/spec/v1.0/provenance) inside an in-toto Statement v1
 * (github.com/in-toto/attestation spec/v1/statement.md), built from what the coordinator knows when a stage with
 * artifacts passes. Output is compact JSON in a fixed key order, so equal inputs give equal bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/auto.h"
#include "attest_int.h"

#define MAX_DIGESTS 10000

/* unix ms -> RFC 3339 UTC ("2026-11-28T19:20:00Z", or with .mmm when there are milliseconds) */
static int rfc3339(int64_t ms, char *out, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r(&s, &tm) || tm.tm_year + 1900 > 9999)
        return -1;
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        return -1;
    if (ms % 1000)
        snprintf(out + n, len - n, ".%03dZ", (int)(ms % 1000));
    else
        snprintf(out + n, len - n, "Z");
    return 0;
}

/* {"sha256": hex}, or NULL with err set when hex is not a sha256 */
static json_t *digest_obj(const char *hex, const char *what, mrun_err *err)
{
    char norm[65];
    if (!hex || !mrun_attest_hex256_norm(hex, norm)) {
        mrun_err_setx(err, EINVAL, "provenance: %s: not a sha256 (64 hex digits)", what);
        return NULL;
    }
    return json_pack("{s:s}", "sha256", norm);
}

/* [{"name", "digest"}] for subjects and byproducts */
static json_t *descriptors(const mrun_attest_digest *d, size_t n, const char *what, mrun_err *err)
{
    if (n > MAX_DIGESTS) {
        mrun_err_setx(err, E2BIG, "provenance: more than %d %s", MAX_DIGESTS, what);
        return NULL;
    }
    mrun_autojson json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (!d[i].name || !d[i].name[0]) {
            mrun_err_setx(err, EINVAL, "provenance: %s[%zu] has no name", what, i);
            return NULL;
        }
        json_t *dig = digest_obj(d[i].sha256, what, err);
        if (!dig)
            return NULL;
        if (json_array_append_new(arr, json_pack("{s:s, s:o}", "name", d[i].name, "digest", dig)) < 0) {
            mrun_err_setx(err, EINVAL, "provenance: %s[%zu]: name is not UTF-8", what, i);
            return NULL;
        }
    }
    if (!arr)
        mrun_err_set(err, ENOMEM, "provenance");
    return mrun_steal_ptr(&arr);
}

/* Sets key to a string when s is not NULL; fails on invalid UTF-8. */
static int opt_str(json_t *obj, const char *key, const char *s, mrun_err *err)
{
    if (!s)
        return 0;
    json_t *v = json_string(s);
    if (!v || json_object_set_new(obj, key, v) < 0)
        return mrun_err_setx(err, EINVAL, "provenance: %s is not UTF-8", key);
    return 0;
}

static json_t *external_params(const mrun_provenance *p, mrun_err *err)
{
    mrun_autojson json_t *o = json_object();
    if (!o)
        return mrun_err_set(err, ENOMEM, "provenance"), NULL;
    if (p->pipeline_file || p->pipeline_sha256) {
        json_t *dig = digest_obj(p->pipeline_sha256, "pipeline digest", err);
        if (!dig)
            return NULL;
        if (!p->pipeline_file)
            return json_decref(dig), mrun_err_setx(err, EINVAL, "provenance: pipeline file missing"), NULL;
        json_t *pipe = json_pack("{s:s, s:o}", "path", p->pipeline_file, "digest", dig);
        if (!pipe || json_object_set_new(o, "pipeline", pipe) < 0)
            return mrun_err_setx(err, EINVAL, "provenance: pipeline file is not UTF-8"), NULL;
    }
    if (opt_str(o, "event", p->event, err) < 0 || opt_str(o, "ref", p->ref, err) < 0 ||
        opt_str(o, "stage", p->stage, err) < 0 || opt_str(o, "agent", p->agent, err) < 0)
        return NULL;
    return mrun_steal_ptr(&o);
}

static json_t *internal_params(const mrun_provenance *p, mrun_err *err)
{
    mrun_autojson json_t *o = json_object();
    if (!o)
        return mrun_err_set(err, ENOMEM, "provenance"), NULL;
    if (opt_str(o, "submitter", p->submitter, err) < 0 || opt_str(o, "runnerId", p->runner_id, err) < 0)
        return NULL;
    if (p->limits_json) {
        json_error_t jerr;
        json_t *lim = json_loads(p->limits_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(lim)) {
            json_decref(lim);
            return mrun_err_setx(err, EINVAL, "provenance: limits are not a JSON object"), NULL;
        }
        json_object_set_new(o, "sandboxLimits", lim);
    }
    return mrun_steal_ptr(&o);
}

static json_t *resolved_deps(const mrun_provenance *p, mrun_err *err)
{
    mrun_autojson json_t *arr = json_array();
    if (!arr)
        return mrun_err_set(err, ENOMEM, "provenance"), NULL;
    if (p->source_sha256 || p->source_uri) {
        json_t *dig = digest_obj(p->source_sha256, "source digest", err);
        if (!dig)
            return NULL;
        json_t *src = json_pack("{s:s, s:s*, s:o}", "name", "source", "uri", p->source_uri, "digest", dig);
        if (!src || json_array_append_new(arr, src) < 0)
            return mrun_err_setx(err, EINVAL, "provenance: source uri is not UTF-8"), NULL;
    }
    if (p->toolchain_uri) {
        json_t *tc = json_pack("{s:s, s:s}", "name", "toolchain", "uri", p->toolchain_uri);
        if (!tc || json_array_append_new(arr, tc) < 0)
            return mrun_err_setx(err, EINVAL, "provenance: toolchain uri is not UTF-8"), NULL;
        if (p->toolchain_sha256) {
            json_t *td = digest_obj(p->toolchain_sha256, "toolchain digest", err);
            if (!td)
                return NULL;
            json_object_set_new(tc, "digest", td);
        }
    }
    return mrun_steal_ptr(&arr);
}

static json_t *run_details(const mrun_provenance *p, mrun_err *err)
{
    json_t *builder = json_pack("{s:s}", "id", p->builder_id);
    mrun_autojson json_t *rd = json_pack("{s:o}", "builder", builder);
    json_t *meta = json_object();
    if (!rd || !meta || json_object_set_new(rd, "metadata", meta) < 0)
        return mrun_err_setx(err, EINVAL, "provenance: builder id is not UTF-8"), NULL;
    if (opt_str(meta, "invocationId", p->invocation_id, err) < 0)
        return NULL;
    char ts[40];
    if (p->started_ms) {
        if (rfc3339(p->started_ms, ts, sizeof(ts)) < 0)
            return mrun_err_setx(err, EINVAL, "provenance: start time out of range"), NULL;
        json_object_set_new(meta, "startedOn", json_string(ts));
    }
    if (p->finished_ms) {
        /* recorded as given: a wall clock stepped back must not cost the artifact its provenance */
        if (rfc3339(p->finished_ms, ts, sizeof(ts)) < 0)
            return mrun_err_setx(err, EINVAL, "provenance: finish time out of range"), NULL;
        json_object_set_new(meta, "finishedOn", json_string(ts));
    }
    if (json_object_size(meta) == 0)
        json_object_del(rd, "metadata");
    if (p->nbyproducts) {
        json_t *bp = descriptors(p->byproducts, p->nbyproducts, "byproducts", err);
        if (!bp)
            return NULL;
        json_object_set_new(rd, "byproducts", bp);
    }
    return mrun_steal_ptr(&rd);
}

static int check_required(const mrun_provenance *p, mrun_err *err)
{
    const char *missing = !p->subjects || p->nsubjects == 0     ? "subjects"
                          : !p->stage                           ? "stage"
                          : !p->builder_id || !p->builder_id[0] ? "builder id"
                                                                : NULL;
    if (missing)
        return mrun_err_setx(err, EINVAL, "provenance: %s missing", missing);
    return 0;
}

int mrun_attest_statement(const mrun_provenance *p, char **ret_json, size_t *ret_len, mrun_err *err)
{
    if (check_required(p, err) < 0)
        return -1;
    json_t *subjects = descriptors(p->subjects, p->nsubjects, "subjects", err);
    if (!subjects)
        return -1;
    mrun_autojson json_t *st = json_pack("{s:s, s:o, s:s}", "_type", MRUN_STATEMENT_TYPE, "subject", subjects,
                                         "predicateType", MRUN_SLSA_PREDICATE_TYPE);
    json_t *ext = external_params(p, err);
    json_t *in = ext ? internal_params(p, err) : NULL;
    json_t *deps = in ? resolved_deps(p, err) : NULL;
    json_t *run = deps ? run_details(p, err) : NULL;
    if (!st || !run) {
        json_decref(ext);
        json_decref(in);
        json_decref(deps);
        json_decref(run);
        return st ? -1 : mrun_err_set(err, ENOMEM, "provenance");
    }
    /* internalParameters and resolvedDependencies are optional in SLSA v1: left out when empty */
    if (json_object_size(in) == 0)
        json_decref(in), in = NULL;
    if (json_array_size(deps) == 0)
        json_decref(deps), deps = NULL;
    json_t *bd = json_pack("{s:s, s:o, s:o*, s:o*}", "buildType", MRUN_BUILD_TYPE, "externalParameters", ext,
                           "internalParameters", in, "resolvedDependencies", deps);
    json_t *pred = json_pack("{s:o, s:o}", "buildDefinition", bd, "runDetails", run);
    if (!pred || json_object_set_new(st, "predicate", pred) < 0)
        return mrun_err_set(err, ENOMEM, "provenance");
    char *s = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return mrun_err_set(err, ENOMEM, "provenance");
    *ret_len = strlen(s);
    *ret_json = s;
    return 0;
}
