/* proto.c - wire messages: one table of fields per message type (the format of docs/protocol.md), which drives
 * decoding (proto_dec.c), encoding (proto_enc.c) and freeing (here). */
#include "proto_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[MRUN_MSG_TYPE_COUNT_] = {
    [MRUN_MSG_NONE] = "?",
    [MRUN_MSG_REGISTER] = "register",
    [MRUN_MSG_REGISTER_OK] = "register_ok",
    [MRUN_MSG_HEARTBEAT] = "heartbeat",
    [MRUN_MSG_HEARTBEAT_OK] = "heartbeat_ok",
    [MRUN_MSG_LEASE_REQ] = "lease_req",
    [MRUN_MSG_LEASE] = "lease",
    [MRUN_MSG_NO_WORK] = "no_work",
    [MRUN_MSG_LOG] = "log",
    [MRUN_MSG_ACK] = "ack",
    [MRUN_MSG_BLOB_GET] = "blob_get",
    [MRUN_MSG_BLOB] = "blob",
    [MRUN_MSG_ARTIFACT_PUT] = "artifact_put",
    [MRUN_MSG_RESULT] = "result",
    [MRUN_MSG_ERROR] = "error",
};

static const char *const status_names[] = {"passed", "failed", "cancelled", "error", NULL};

const char *mrun_msg_type_name(mrun_msg_type type)
{
    return (unsigned)type < MRUN_MSG_TYPE_COUNT_ ? type_names[type] : "?";
}

const char *mrun_result_status_name(mrun_result_status status)
{
    return (unsigned)status < 4 ? status_names[status] : "?";
}

/* ---- the field tables ---- */

/* clang-format off */
#define FLD(T, k, kind, chk, req, member, max) {k, kind, chk, req, offsetof(T, member), max, NULL, NULL}
#define OBJ(T, tab, post) {tab, sizeof(tab) / sizeof(tab[0]), sizeof(T), post}
/* clang-format on */

#define T mrun_msg_register
static const struct field f_register[] = {
    FLD(T, "runner_name", F_STR, C_ID, 1, runner_name, MRUN_PROTO_MAX_NAME),
    FLD(T, "token", F_STR, C_PRINT, 1, token, 1024),
    FLD(T, "labels", F_STRV, C_LABEL, 0, labels, MRUN_PROTO_MAX_NAME),
    FLD(T, "slots", F_U32, C_ANY, 1, slots, 0),
    FLD(T, "mrun_version", F_STR, C_PRINT, 1, mrun_version, 64),
};
#undef T
#define T mrun_msg_register_ok
static const struct field f_register_ok[] = {
    FLD(T, "runner_id", F_STR, C_ID, 1, runner_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "heartbeat_ms", F_U32, C_ANY, 1, heartbeat_ms, 0),
    FLD(T, "lease_timeout_ms", F_U32, C_ANY, 1, lease_timeout_ms, 0),
};
#undef T
#define T mrun_msg_heartbeat
static const struct field f_heartbeat[] = {
    FLD(T, "runner_id", F_STR, C_ID, 1, runner_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "lease_ids", F_STRV, C_ID, 1, lease_ids, MRUN_PROTO_MAX_NAME),
    FLD(T, "previews", F_KVV, C_WITH, 0, previews, 0),
};
#undef T
#define T mrun_msg_heartbeat_ok
static const struct field f_heartbeat_ok[] = {
    FLD(T, "cancel_lease_ids", F_STRV, C_ID, 0, cancel_lease_ids, MRUN_PROTO_MAX_NAME),
    FLD(T, "stop_preview_ids", F_STRV, C_ID, 0, stop_preview_ids, MRUN_PROTO_MAX_NAME),
    FLD(T, "preview_expiry", F_KVV, C_WITH, 0, preview_expiry, 0),
};
#undef T
#define T mrun_msg_lease_req
static const struct field f_lease_req[] = {
    FLD(T, "runner_id", F_STR, C_ID, 1, runner_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "free_slots", F_U32, C_ANY, 1, free_slots, 0),
    FLD(T, "wait_ms", F_U32, C_ANY, 1, wait_ms, 0),
};
#undef T
#define T mrun_step
static const struct field f_step[] = {
    FLD(T, "name", F_STR, C_NAME, 1, name, MRUN_PROTO_MAX_NAME),         FLD(T, "run", F_STR, C_ANY, 0, run, 0),
    FLD(T, "uses", F_STR, C_NAME, 0, uses, MRUN_PROTO_MAX_NAME),         FLD(T, "with", F_KVV, C_WITH, 0, with, 0),
    FLD(T, "continue_on_error", F_BOOL, C_ANY, 0, continue_on_error, 0),
};
static const struct obj o_step = OBJ(T, f_step, proto_step_post);
#undef T
#define T mrun_stage_limits
static const struct field f_limits[] = {
    FLD(T, "mem_bytes", F_U64, C_ANY, 0, mem_bytes, 0),   FLD(T, "pids", F_U32, C_ANY, 0, pids, 0),
    FLD(T, "cpu_milli", F_U32, C_ANY, 0, cpu_milli, 0),   FLD(T, "timeout_ms", F_U64, C_ANY, 0, timeout_ms, 0),
    FLD(T, "disk_bytes", F_U64, C_ANY, 0, disk_bytes, 0),
};
static const struct obj o_limits = OBJ(T, f_limits, NULL);
#undef T
#define T mrun_input
static const struct field f_input[] = {
    FLD(T, "stage", F_STR, C_NAME, 1, stage, MRUN_PROTO_MAX_NAME),
    FLD(T, "path", F_STR, C_PATH, 1, path, MRUN_PROTO_MAX_PATH),
    FLD(T, "digest", F_HEX, C_ANY, 1, digest, 0),
};
static const struct obj o_input = OBJ(T, f_input, NULL);
#undef T
#define T mrun_msg_lease
static const struct field f_lease[] = {
    FLD(T, "lease_id", F_STR, C_ID, 1, lease_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "pipeline_id", F_STR, C_ID, 1, pipeline_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "stage_name", F_STR, C_NAME, 1, stage_name, MRUN_PROTO_MAX_NAME),
    FLD(T, "attempt", F_U32, C_ANY, 1, attempt, 0),
    FLD(T, "source_digest", F_HEX, C_ANY, 1, source_digest, 0),
    {"steps", F_OBJV, C_ANY, 1, offsetof(T, steps), 0, &o_step, NULL},
    FLD(T, "env", F_ENV, C_ENV, 0, env, 0),
    FLD(T, "secrets", F_SECRETS, C_ENV, 0, env, 0),
    {"limits", F_OBJ, C_ANY, 1, offsetof(T, limits), 0, &o_limits, NULL},
    FLD(T, "artifacts", F_STRV, C_PATH, 0, artifacts, MRUN_PROTO_MAX_PATH),
    {"inputs", F_OBJV, C_ANY, 0, offsetof(T, inputs), 0, &o_input, NULL},
    FLD(T, "coverage_baseline", F_STR, C_PRINT, 0, coverage_baseline, 32),
    FLD(T, "preview_id", F_STR, C_ID, 0, preview_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "preview_artifact_sha256", F_STR, C_ID, 0, preview_artifact_sha256, 64),
    FLD(T, "preview_artifact_error", F_STR, C_PRINT, 0, preview_artifact_error, 512),
    FLD(T, "preview_require_signed", F_BOOL, C_ANY, 0, preview_require_signed, 0),
};
#undef T
#define T mrun_msg_log
static const struct field f_log[] = {
    FLD(T, "lease_id", F_STR, C_ID, 1, lease_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "seq", F_U64, C_ANY, 1, seq, 0),
    FLD(T, "stream", F_ENUMI, C_ANY, 1, stream, MRUN_STREAM_SYSTEM),
    FLD(T, "data", F_BIN, C_ANY, 1, data, MRUN_PROTO_MAX_LOG_DATA),
};
#undef T
#define T mrun_msg_blob_get
static const struct field f_blob_get[] = {
    FLD(T, "digest", F_HEX, C_ANY, 1, digest, 0),
    FLD(T, "offset", F_U64, C_ANY, 1, offset, 0),
    FLD(T, "max", F_U32, C_ANY, 1, max, 0),
};
#undef T
#define T mrun_msg_blob
static const struct field f_blob[] = {
    FLD(T, "digest", F_HEX, C_ANY, 1, digest, 0),
    FLD(T, "offset", F_U64, C_ANY, 1, offset, 0),
    FLD(T, "data", F_BIN, C_ANY, 1, data, MRUN_PROTO_MAX_CHUNK),
    FLD(T, "total_size", F_U64, C_ANY, 1, total_size, 0),
    FLD(T, "eof", F_BOOL, C_ANY, 1, eof, 0),
};
#undef T
#define T mrun_msg_artifact_put
static const struct field f_artifact_put[] = {
    FLD(T, "lease_id", F_STR, C_ID, 1, lease_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "path", F_STR, C_PATH, 1, path, MRUN_PROTO_MAX_PATH),
    FLD(T, "offset", F_U64, C_ANY, 1, offset, 0),
    FLD(T, "data", F_BIN, C_ANY, 1, data, MRUN_PROTO_MAX_CHUNK),
    FLD(T, "final", F_BOOL, C_ANY, 1, final, 0),
    FLD(T, "sha256", F_HEX, C_ANY, 0, sha256, 0),
    FLD(T, "total_size", F_U64, C_ANY, 1, total_size, 0),
};
#undef T
#define T mrun_msg_result
static const struct field f_result[] = {
    FLD(T, "lease_id", F_STR, C_ID, 1, lease_id, MRUN_PROTO_MAX_NAME),
    FLD(T, "attempt", F_U32, C_ANY, 1, attempt, 0),
    {"status", F_ENUMS, C_ANY, 1, offsetof(T, status), 0, NULL, status_names},
    FLD(T, "exit_code", F_I32, C_ANY, 1, exit_code, 0),
    FLD(T, "started_ms", F_I64, C_ANY, 1, started_ms, 0),
    FLD(T, "finished_ms", F_I64, C_ANY, 1, finished_ms, 0),
    FLD(T, "error_text", F_STR, C_ANY, 0, error_text, 0),
    FLD(T, "coverage", F_STR, C_PRINT, 0, coverage, 32),
    FLD(T, "preview_addr", F_STR, C_PRINT, 0, preview_addr, 300),
    FLD(T, "preview_expires_ms", F_I64, C_ANY, 0, preview_expires_ms, 0),
};
#undef T
#define T mrun_msg_error
static const struct field f_error[] = {
    FLD(T, "code", F_STR, C_ID, 1, code, 64),
    FLD(T, "message", F_STR, C_ANY, 1, message, 0),
};
#undef T

const struct obj proto_msg_objs[MRUN_MSG_TYPE_COUNT_] = {
    [MRUN_MSG_REGISTER] = OBJ(mrun_msg_register, f_register, proto_register_post),
    [MRUN_MSG_REGISTER_OK] = OBJ(mrun_msg_register_ok, f_register_ok, NULL),
    [MRUN_MSG_HEARTBEAT] = OBJ(mrun_msg_heartbeat, f_heartbeat, NULL),
    [MRUN_MSG_HEARTBEAT_OK] = OBJ(mrun_msg_heartbeat_ok, f_heartbeat_ok, NULL),
    [MRUN_MSG_LEASE_REQ] = OBJ(mrun_msg_lease_req, f_lease_req, NULL),
    [MRUN_MSG_LEASE] = OBJ(mrun_msg_lease, f_lease, proto_lease_post),
    [MRUN_MSG_LOG] = OBJ(mrun_msg_log, f_log, NULL),
    [MRUN_MSG_BLOB_GET] = OBJ(mrun_msg_blob_get, f_blob_get, NULL),
    [MRUN_MSG_BLOB] = OBJ(mrun_msg_blob, f_blob, proto_blob_post),
    [MRUN_MSG_ARTIFACT_PUT] = OBJ(mrun_msg_artifact_put, f_artifact_put, proto_artifact_post),
    [MRUN_MSG_RESULT] = OBJ(mrun_msg_result, f_result, proto_result_post),
    [MRUN_MSG_ERROR] = OBJ(mrun_msg_error, f_error, NULL),
    /* NONE, NO_WORK and ACK have no fields: nf == 0 */
};

/* ---- freeing ---- */

static void free_obj(const struct obj *o, char *base);

static void free_field(const struct field *f, char *at)
{
    void *v = NULL;
    size_t n = 0;
    switch (f->kind) {
    case F_STR:
        free(vec_ptr(at));
        return;
    case F_BIN:
        free(vec_ptr(at));
        break;
    case F_STRV:
        v = vec_ptr(at);
        n = vec_len(at);
        for (size_t i = 0; v && i < n; i++)
            free(((char **)v)[i]);
        free(v);
        break;
    case F_KVV:
        v = vec_ptr(at);
        n = vec_len(at);
        for (size_t i = 0; v && i < n; i++) {
            free(((mrun_kv *)v)[i].key);
            free(((mrun_kv *)v)[i].value);
        }
        free(v);
        break;
    case F_ENV:
        v = vec_ptr(at);
        n = vec_len(at);
        for (size_t i = 0; v && i < n; i++) {
            free(((mrun_env_var *)v)[i].name);
            free(((mrun_env_var *)v)[i].value);
        }
        free(v);
        break;
    case F_OBJ:
        free_obj(f->sub, at);
        return;
    case F_OBJV:
        v = vec_ptr(at);
        n = vec_len(at);
        for (size_t i = 0; v && i < n; i++)
            free_obj(f->sub, (char *)v + i * f->sub->size);
        free(v);
        break;
    default: /* scalars; F_SECRETS aliases F_ENV */
        return;
    }
    vec_set(at, NULL, 0);
}

static void free_obj(const struct obj *o, char *base)
{
    for (size_t i = 0; i < o->nf; i++)
        free_field(&o->f[i], base + o->f[i].off);
}

void mrun_msg_init(mrun_msg *msg, mrun_msg_type type)
{
    memset(msg, 0, sizeof(*msg));
    msg->type = type;
}

void mrun_msg_fini(mrun_msg *msg)
{
    if (!msg)
        return;
    if ((unsigned)msg->type < MRUN_MSG_TYPE_COUNT_)
        free_obj(&proto_msg_objs[msg->type], (char *)&msg->reg);
    mrun_msg_init(msg, MRUN_MSG_NONE);
}

/* ---- error paths ---- */

int proto_fail(rd *r, int code, const char *fmt, ...)
{
    char cause[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof(cause), fmt, ap);
    va_end(ap);
    if (!r->plen)
        return mrun_err_setx(r->err, code, "%s", cause);
    size_t room = sizeof(r->err->msg) - 3 - strlen(cause); /* >= 94: the cause is whole, the path loses its head */
    if (r->plen <= room)
        return mrun_err_setx(r->err, code, "%s: %s", r->path, cause);
    return mrun_err_setx(r->err, code, "...%s: %s", r->path + r->plen - (room - 3), cause);
}

size_t proto_push(rd *r, const char *fmt, ...)
{
    size_t old = r->plen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->path + old, sizeof(r->path) - old, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->plen = old + (size_t)n < sizeof(r->path) ? old + (size_t)n : sizeof(r->path) - 1;
    return old;
}

void proto_pop(rd *r, size_t old)
{
    r->plen = old;
    r->path[old] = '\0';
}
