/* coord_attest.c - the provenance the coordinator signs when a stage with artifacts passes: SLSA provenance v1 in
 * an in-toto Statement v1, signed with the coordinator's key as a DSSE envelope, and kept as two more artifacts of
 * the stage under .mrun/attestations/ (a Sigstore bundle v0.3 and the envelope as .intoto.jsonl). Everything in it
 * comes from what the coordinator recorded itself (the digests it computed on upload, the source archive it
 * stored, the lease it handed out), never from what the job claims. Worker thread only. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "../common/auto.h"
#include "../common/codec.h"
#include "../common/log.h"
#include "../stages/attest.h"
#include "coord_int.h"

#define LOG "coordinator"
#define MAX_SUBJECTS 256

typedef struct collected {
    const char *stage;
    mrun_attest_digest subj[MAX_SUBJECTS], by[16];
    char names[MAX_SUBJECTS][1024], digests[MAX_SUBJECTS][65];
    char by_names[16][1024], by_digests[16][65];
    size_t n, n_by;
} collected;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int collect(const mrun_store_artifact_info *a, void *ud)
{
    collected *k = ud;
    if (strncmp(a->path, ".mrun/", 6) == 0)
        return 0; /* the coordinator's own attestations */
    if (strcmp(a->stage, k->stage) == 0 && k->n < MAX_SUBJECTS) {
        snprintf(k->names[k->n], sizeof(k->names[0]), "%s", a->path);
        snprintf(k->digests[k->n], sizeof(k->digests[0]), "%s", a->digest);
        k->subj[k->n] = (mrun_attest_digest){k->names[k->n], k->digests[k->n]};
        k->n++;
    } else if ((ends_with(a->path, ".cdx.json") || ends_with(a->path, ".spdx.json")) && k->n_by < 16) {
        /* an SBOM an earlier stage of the pipeline produced describes what this one built from */
        snprintf(k->by_names[k->n_by], sizeof(k->by_names[0]), "%s/%s", a->stage, a->path);
        snprintf(k->by_digests[k->n_by], sizeof(k->by_digests[0]), "%s", a->digest);
        k->by[k->n_by] = (mrun_attest_digest){k->by_names[k->n_by], k->by_digests[k->n_by]};
        k->n_by++;
    }
    return 0;
}

typedef struct lease_row {
    char pipeline_id[MRUN_STORE_ID_LEN + 1], stage[128], runner_id[128];
    int attempt;
    bool active;
} lease_row;

static int on_lease(const mrun_store_lease_info *l, void *ud)
{
    lease_row *r = ud;
    snprintf(r->pipeline_id, sizeof(r->pipeline_id), "%s", l->pipeline_id);
    snprintf(r->stage, sizeof(r->stage), "%s", l->stage);
    snprintf(r->runner_id, sizeof(r->runner_id), "%s", l->runner_id);
    r->attempt = l->attempt;
    r->active = l->state && strcmp(l->state, "active") == 0;
    return 0;
}

typedef struct pl_row {
    char event[32], ref[256], submitter[128], agent[128], source[65], yaml_sha256[65];
} pl_row;

static int on_pipeline(const mrun_store_pipeline_info *p, void *ud)
{
    pl_row *r = ud;
    snprintf(r->event, sizeof(r->event), "%s", p->event);
    snprintf(r->ref, sizeof(r->ref), "%s", p->ref);
    snprintf(r->submitter, sizeof(r->submitter), "%s", p->submitter);
    snprintf(r->agent, sizeof(r->agent), "%s", p->agent);
    snprintf(r->source, sizeof(r->source), "%s", p->source_digest);
    unsigned char md[32];
    unsigned len = 0;
    if (p->yaml && EVP_Digest(p->yaml, strlen(p->yaml), md, &len, EVP_sha256(), NULL) == 1)
        mrun_hex_encode(md, len, r->yaml_sha256);
    return 0;
}

/* Stores bytes as a blob and records them as an artifact of the stage. */
static int put_artifact(mrun_coord *c, const lease_row *l, const char *path, const char *data, size_t len,
                        mrun_err *err)
{
    mrun_store_blob_writer *w = NULL;
    char digest[MRUN_STORE_DIGEST_LEN + 1];
    if (mrun_store_blob_put_init(c->st, &w, err) < 0)
        return -1;
    if (mrun_store_blob_put_update(w, data, len, err) < 0 || mrun_store_blob_put_finish(w, NULL, digest, err) < 0) {
        mrun_store_blob_writer_free(w);
        return -1;
    }
    return mrun_store_artifact_add(c->st, l->pipeline_id, l->stage, path, digest, len, coord_wall_ms(), err);
}

static void limits_json(const mrun_pipeline_res *r, char *out, size_t n)
{
    int k = snprintf(out, n, "{");
    const char *sep = "";
    if (r->memory_set)
        k += snprintf(out + k, n - (size_t)k, "%s\"memory_bytes\":%lld", sep, (long long)r->memory_bytes), sep = ",";
    if (r->pids_set)
        k += snprintf(out + k, n - (size_t)k, "%s\"pids\":%lld", sep, (long long)r->pids), sep = ",";
    if (r->cpus_set)
        k += snprintf(out + k, n - (size_t)k, "%s\"cpus_milli\":%lld", sep, (long long)r->cpus_milli), sep = ",";
    if (r->timeout_set)
        k += snprintf(out + k, n - (size_t)k, "%s\"timeout_ms\":%lld", sep, (long long)r->timeout_ms), sep = ",";
    snprintf(out + k, n - (size_t)k, "%s\"network\":false}", sep);
}

int coord_attest_stage(mrun_coord *c, const mrun_msg_result *r, mrun_err *err)
{
    if (!c->key)
        return 0;
    lease_row l = {0};
    if (mrun_store_lease_get(c->st, r->lease_id, on_lease, &l, err) < 0)
        return -1;
    if (!l.active || l.attempt != (int)r->attempt)
        return 0; /* a repeated or stale result: it was signed the first time, or does not count */
    collected *k = calloc(1, sizeof(*k));
    if (!k)
        return mrun_err_set(err, ENOMEM, "provenance");
    k->stage = l.stage;
    int rc = -1;
    pl_row p = {0};
    char limits[256], invocation[256], toolchain[256];
    mrun_autofree char *stmt = NULL, *bundle = NULL, *envelope = NULL, *line = NULL;
    size_t stmt_len = 0;
    if (mrun_store_artifact_list(c->st, l.pipeline_id, collect, k, err) < 0)
        goto out;
    if (k->n == 0) {
        rc = 0; /* nothing to attest */
        goto out;
    }
    if (mrun_store_pipeline_get(c->st, l.pipeline_id, on_pipeline, &p, err) < 0)
        goto out;
    pl_cached *pc = coord_pipeline_load(c, l.pipeline_id);
    long si = pc ? mrun_pipeline_stage_find(pc->pl, l.stage) : -1;
    if (si < 0) {
        mrun_err_setx(err, ENOENT, "stage '%s' is not in its pipeline", l.stage);
        goto out;
    }
    limits_json(&mrun_pipeline_stage_at(pc->pl, (size_t)si)->limits, limits, sizeof(limits));
    snprintf(invocation, sizeof(invocation), "%s/%s/%d", l.pipeline_id, l.stage, l.attempt);
    struct utsname u;
    snprintf(toolchain, sizeof(toolchain), "pkg:generic/mrun-sandbox@%s?host-kernel=%s", MRUN_VERSION,
             uname(&u) == 0 ? u.release : "unknown");
    mrun_provenance prov = {
        .subjects = k->subj,
        .nsubjects = k->n,
        .pipeline_file = ".mrun/pipeline.yml",
        .pipeline_sha256 = p.yaml_sha256,
        .event = p.event[0] ? p.event : NULL,
        .ref = p.ref[0] ? p.ref : NULL,
        .stage = l.stage,
        .agent = p.agent[0] ? p.agent : NULL,
        .submitter = p.submitter[0] ? p.submitter : NULL,
        .runner_id = l.runner_id[0] ? l.runner_id : NULL,
        .limits_json = limits,
        .source_sha256 = p.source,
        .toolchain_uri = toolchain,
        .builder_id = c->cfg.builder_id,
        .invocation_id = invocation,
        .started_ms = r->started_ms,
        .finished_ms = r->finished_ms,
        .byproducts = k->n_by ? k->by : NULL,
        .nbyproducts = k->n_by,
    };
    if (mrun_attest_statement(&prov, &stmt, &stmt_len, err) < 0 ||
        mrun_attest_sign_statement(c->key, stmt, stmt_len, true, &bundle, err) < 0 ||
        mrun_attest_sign_statement(c->key, stmt, stmt_len, false, &envelope, err) < 0)
        goto out;
    char path[256];
    snprintf(path, sizeof(path), ".mrun/attestations/%s.sigstore.json", l.stage);
    if (put_artifact(c, &l, path, bundle, strlen(bundle), err) < 0)
        goto out;
    snprintf(path, sizeof(path), ".mrun/attestations/%s.intoto.jsonl", l.stage);
    size_t n = strlen(envelope);
    line = malloc(n + 2);
    if (!line) {
        mrun_err_set(err, ENOMEM, "provenance");
        goto out;
    }
    memcpy(line, envelope, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    if (put_artifact(c, &l, path, line, n + 1, err) < 0)
        goto out;
    mrun_log(MRUN_LOG_INFO, LOG, "pipeline %s stage '%s': signed provenance for %zu artifact(s) with key %.16s",
             l.pipeline_id, l.stage, k->n, mrun_attest_key_id(c->key));
    rc = 0;
out:
    free(k);
    return rc < 0 ? mrun_err_prefix(err, "provenance of stage '%s'", l.stage) : 0;
}
