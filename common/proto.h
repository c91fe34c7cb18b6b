/* proto.h - the coordinator <-> runner wire protocol: msgpack maps {"v":1,"t":"<type>", ...} over nng REQ/REP.
 * One tagged struct (mrun_msg) covers every message; mrun_msg_decode is the hostile-input boundary and
 * mrun_msg_encode the only writer. The format is described in docs/protocol.md. */
#ifndef MRUN_PROTO_H
#define MRUN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MRUN_PROTO_VERSION 1

/* Hard protocol caps, independent of mrun_proto_limits (which may only be tighter). */
#define MRUN_PROTO_MAX_LOG_DATA (64u * 1024u)   /* log.data */
#define MRUN_PROTO_MAX_CHUNK    (1024u * 1024u) /* blob.data, artifact_put.data */
#define MRUN_PROTO_MAX_NAME     128u            /* stage, step, env, label, id names */
#define MRUN_PROTO_MAX_PATH     1024u           /* artifact and input paths */

/* Error codes carried by an "error" reply (mrun_msg_error.code). Unknown codes must be treated as MRUN_PERR_INTERNAL.
 */
#define MRUN_PERR_BAD_REQUEST    "bad_request"    /* the request did not decode or validate */
#define MRUN_PERR_VERSION        "version"        /* protocol version mismatch */
#define MRUN_PERR_BAD_TOKEN      "bad_token"      /* register refused */
#define MRUN_PERR_UNKNOWN_RUNNER "unknown_runner" /* runner_id expired or never registered: register again */
#define MRUN_PERR_UNKNOWN_LEASE  "unknown_lease"  /* lease expired, cancelled or not this runner's */
#define MRUN_PERR_TOO_LARGE      "too_large"
#define MRUN_PERR_INTERNAL       "internal"

typedef enum mrun_msg_type {
    MRUN_MSG_NONE = 0, /* after mrun_msg_init(msg, MRUN_MSG_NONE) and after fini */
    MRUN_MSG_REGISTER,
    MRUN_MSG_REGISTER_OK,
    MRUN_MSG_HEARTBEAT,
    MRUN_MSG_HEARTBEAT_OK,
    MRUN_MSG_LEASE_REQ,
    MRUN_MSG_LEASE,
    MRUN_MSG_NO_WORK,
    MRUN_MSG_LOG,
    MRUN_MSG_ACK,
    MRUN_MSG_BLOB_GET,
    MRUN_MSG_BLOB,
    MRUN_MSG_ARTIFACT_PUT,
    MRUN_MSG_RESULT,
    MRUN_MSG_ERROR,
    MRUN_MSG_TYPE_COUNT_
} mrun_msg_type;

typedef enum mrun_log_stream { MRUN_STREAM_STDOUT = 0, MRUN_STREAM_STDERR = 1, MRUN_STREAM_SYSTEM = 2 } mrun_log_stream;

typedef enum mrun_result_status {
    MRUN_RESULT_PASSED = 0,
    MRUN_RESULT_FAILED,
    MRUN_RESULT_CANCELLED,
    MRUN_RESULT_ERROR
} mrun_result_status;

/* Containers. In a decoded message every pointer is malloc'd and owned by the message; `n` counts the slots
 * of `v`. In a message built for encoding the pointers may be borrowed (then don't call mrun_msg_fini). */
typedef struct mrun_strv {
    char **v;
    size_t n;
} mrun_strv;

typedef struct mrun_bytes {
    uint8_t *data; /* may contain NULs; NULL when len == 0 */
    size_t len;
} mrun_bytes;

typedef struct mrun_kv {
    char *key;
    char *value;
} mrun_kv;

typedef struct mrun_kvv { /* a string map; keys are unique */
    mrun_kv *v;
    size_t n;
} mrun_kvv;

typedef struct mrun_env_var {
    char *name; /* [A-Za-z_][A-Za-z0-9_]* */
    char *value;
    bool secret; /* the runner masks this value in logs */
} mrun_env_var;

typedef struct mrun_envv {
    mrun_env_var *v;
    size_t n;
} mrun_envv;

typedef struct mrun_step {
    char *name; /* non-empty */
    char *run;  /* exactly one of run and uses is non-NULL */
    char *uses;
    mrun_kvv with;
    bool continue_on_error;
} mrun_step;

typedef struct mrun_stepv {
    mrun_step *v;
    size_t n;
} mrun_stepv;

typedef struct mrun_input {
    char *stage;     /* the needed stage that produced it */
    char *path;      /* relative, no ".." */
    char digest[65]; /* sha256, 64 lowercase hex */
} mrun_input;

typedef struct mrun_inputv {
    mrun_input *v;
    size_t n;
} mrun_inputv;

typedef struct mrun_stage_limits { /* 0 means "the runner's default" */
    uint64_t mem_bytes;
    uint32_t pids;
    uint32_t cpu_milli;
    uint64_t timeout_ms;
    uint64_t disk_bytes;
} mrun_stage_limits;

/* Requests (runner -> coordinator) and replies (coordinator -> runner). Names are on the wire as written. */
typedef struct mrun_msg_register {
    char *runner_name;  /* [A-Za-z0-9_.-]+ */
    char *token;        /* printable ASCII; never log it */
    mrun_strv labels;   /* each [a-z0-9_.-]+ */
    uint32_t slots;     /* >= 1 */
    char *mrun_version; /* printable ASCII */
} mrun_msg_register;

typedef struct mrun_msg_register_ok {
    char *runner_id; /* [A-Za-z0-9_.-]+, opaque session id */
    uint32_t heartbeat_ms;
    uint32_t lease_timeout_ms;
} mrun_msg_register_ok;

typedef struct mrun_msg_heartbeat {
    char *runner_id;
    mrun_strv lease_ids; /* leases the runner is still working on */
    mrun_kvv previews;   /* optional: live previews on this runner, id -> "sandbox_ms peak_mem_bytes" */
} mrun_msg_heartbeat;

typedef struct mrun_msg_heartbeat_ok {
    mrun_strv cancel_lease_ids;
    mrun_strv stop_preview_ids; /* optional: previews to stop now (removed, replaced, expired) */
    mrun_kvv preview_expiry;    /* optional: preview id -> new expiry, unix ms in decimal (extended) */
} mrun_msg_heartbeat_ok;

typedef struct mrun_msg_lease_req {
    char *runner_id;
    uint32_t free_slots;
    uint32_t wait_ms; /* long poll: the coordinator answers no_work after at most this long */
} mrun_msg_lease_req;

typedef struct mrun_msg_lease {
    char *lease_id; /* ids are opaque strings, [A-Za-z0-9_.-]+ (the coordinator's are 32 hex digits) */
    char *pipeline_id;
    char *stage_name;
    uint32_t attempt;
    char source_digest[65];
    mrun_stepv steps;
    mrun_envv env; /* on the wire: "env" map plus "secrets" array of names */
    mrun_stage_limits limits;
    mrun_strv artifacts; /* relative paths to upload */
    mrun_inputv inputs;
    char *coverage_baseline; /* optional: the app's stored line coverage, percent as a decimal ("81.25") */
    char *preview_id;        /* optional: the id a `uses: preview` step of this stage must use (32 hex) */
    char *preview_artifact_sha256; /* optional: the preview's `artifact:` as verified against signed provenance */
    char *preview_artifact_error;  /* optional: why it could not be verified */
    bool preview_require_signed;   /* the pipeline's tier requires that verification */
} mrun_msg_lease;

typedef struct mrun_msg_log {
    char *lease_id;
    uint64_t seq; /* per lease, from 0 */
    mrun_log_stream stream;
    mrun_bytes data; /* <= MRUN_PROTO_MAX_LOG_DATA */
} mrun_msg_log;

typedef struct mrun_msg_blob_get {
    char digest[65];
    uint64_t offset;
    uint32_t max; /* >= 1; the coordinator answers at most min(max, MRUN_PROTO_MAX_CHUNK) bytes */
} mrun_msg_blob_get;

typedef struct mrun_msg_blob {
    char digest[65];
    uint64_t offset;
    mrun_bytes data; /* offset + data.len <= total_size */
    uint64_t total_size;
    bool eof;
} mrun_msg_blob;

typedef struct mrun_msg_artifact_put {
    char *lease_id;
    char *path;
    uint64_t offset;
    mrun_bytes data; /* offset + data.len <= total_size */
    bool final;      /* then offset + data.len == total_size and sha256 is set */
    char sha256[65]; /* "" when absent */
    uint64_t total_size;
} mrun_msg_artifact_put;

typedef struct mrun_msg_result {
    char *lease_id;
    uint32_t attempt;
    mrun_result_status status;
    int32_t exit_code;  /* -1 when there is none */
    int64_t started_ms; /* unix epoch ms; finished_ms >= started_ms */
    int64_t finished_ms;
    char *error_text; /* optional (NULL) */
    char *coverage;   /* optional: line coverage a coverage-gate step measured, percent as a decimal */
    char *preview_addr;  /* optional: host:port of the relay of the preview this stage started (it is live) */
    int64_t preview_expires_ms; /* with preview_addr: when the runner will stop it by itself */
} mrun_msg_result;

typedef struct mrun_msg_error {
    char *code; /* MRUN_PERR_* or a newer one, [A-Za-z0-9_.-]+ */
    char *message;
} mrun_msg_error;

/* One message. no_work and ack carry no fields. Not thread-safe; owned by whoever holds it. */
typedef struct mrun_msg {
    mrun_msg_type type;
    union {
        mrun_msg_register reg;
        mrun_msg_register_ok reg_ok;
        mrun_msg_heartbeat heartbeat;
        mrun_msg_heartbeat_ok heartbeat_ok;
        mrun_msg_lease_req lease_req;
        mrun_msg_lease lease;
        mrun_msg_log log;
        mrun_msg_blob_get blob_get;
        mrun_msg_blob blob;
        mrun_msg_artifact_put artifact_put;
        mrun_msg_result result;
        mrun_msg_error error;
    };
} mrun_msg;

/* Bounds for mrun_msg_decode. Every count and length is checked against them before anything is allocated. */
typedef struct mrun_proto_limits {
    size_t max_msg;   /* whole encoded message, bytes */
    size_t max_str;   /* any string, bytes */
    size_t max_items; /* any array, elements */
    size_t max_map;   /* any map (including the message itself), entries */
    size_t max_data;  /* any bin payload, bytes (also capped by the per-type protocol caps) */
    size_t max_depth; /* nesting of maps and arrays; the message map is depth 1 */
} mrun_proto_limits;

#define MRUN_PROTO_LIMITS_DEFAULT                                                                                      \
    {                                                                                                                  \
        2u << 20, 64u << 10, 4096, 4096, 1u << 20, 8                                                                   \
    }

/* Zeroes msg and sets its type. */
void mrun_msg_init(mrun_msg *msg, mrun_msg_type type);

/* Frees everything msg owns and leaves it as after mrun_msg_init(msg, MRUN_MSG_NONE). Accepts NULL and
 * half-built messages (every pointer NULL or malloc'd, every `n` not above what `v` holds). */
void mrun_msg_fini(mrun_msg *msg);

/* Encodes msg; *ret_buf is malloc'd (free it with free()). Checks that required strings are set and that data
 * fits the protocol caps (EINVAL, E2BIG), not the full validation the receiver does. Pure, thread-safe. */
int mrun_msg_encode(const mrun_msg *msg, uint8_t **ret_buf, size_t *ret_len, mrun_err *err);

/* Decodes and validates one message from hostile bytes; on success *ret owns everything (mrun_msg_fini).
 * lim may be NULL for MRUN_PROTO_LIMITS_DEFAULT. Errors name the field ("lease.steps[3].run: expected a
 * string"): EPROTO for malformed input, a version mismatch or an unknown type, E2BIG past a limit, ENOMEM.
 * Unknown keys are skipped (bounded by lim). Pure: no I/O, no globals, no logging; thread-safe. */
int mrun_msg_decode(const uint8_t *buf, size_t len, const mrun_proto_limits *lim, mrun_msg *ret, mrun_err *err);

/* "register", "lease", ... ("?" when out of range). */
const char *mrun_msg_type_name(mrun_msg_type type);
/* "passed", "failed", "cancelled", "error" ("?" when out of range). */
const char *mrun_result_status_name(mrun_result_status status);

#endif
