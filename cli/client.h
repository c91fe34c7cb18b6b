/* client.h - the CLI's HTTP client for the coordinator's /api/v1 (libcurl + jansson), and the few helpers the
 * submit, status and logs subcommands share. One mrun_client per thread: it owns one curl easy handle and
 * reuses its connection across requests. Nothing here logs or prints, except mrun_cli_follow* (stdout). */
#ifndef MRUN_CLI_CLIENT_H
#define MRUN_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define MRUN_CLIENT_DEFAULT_SERVER   "http://127.0.0.1:7070"
#define MRUN_CLIENT_DEFAULT_MAX_BODY (64u << 20) /* bytes of one response body */
#define MRUN_CLIENT_DEFAULT_TIMEOUT  60000       /* ms for one request, long polls get their wait on top */

typedef struct mrun_client_config {
    const char *server; /* base URL ("http://host:port", a path prefix allowed); NULL: $MRUN_SERVER, else the default */
    const char *token;  /* bearer token; NULL: $MRUN_TOKEN; "" or unset: none. Never printed, sent only as a header */
    long timeout_ms;    /* 0: MRUN_CLIENT_DEFAULT_TIMEOUT */
    size_t max_body;    /* 0: MRUN_CLIENT_DEFAULT_MAX_BODY; a longer response fails with E2BIG */
} mrun_client_config;

typedef struct mrun_client mrun_client;

/* Copies what it needs from cfg. Fails with EINVAL on a URL that is not http(s):// or a token with control
 * characters, ENOMEM otherwise. */
int mrun_client_new(const mrun_client_config *cfg, mrun_client **ret_client, mrun_err *err);
void mrun_client_free(mrun_client *c); /* NULL does nothing */
void mrun_client_freep(mrun_client **c);

/* The base URL without a trailing slash; borrowed until mrun_client_free. */
const char *mrun_client_server(const mrun_client *c);

/* Sends METHOD server+path (path starts with '/', segments escaped with mrun_client_escape) with an optional body
 * (content_type NULL: none). timeout_ms 0 means the client's. On a 2xx status returns 0 and hands over the body,
 * NUL-terminated, in *ret_body (free()); ret_body and ret_len may be NULL. Otherwise -1 with err one line:
 * "POST /api/v1/pipelines: invalid_pipeline: p.yml:3:5: ..." for an {"error":{...}} response, else
 * "...: HTTP 502" or the curl error. sys_errno: EPERM (401/403), ENOENT (404), EPROTO (other HTTP errors or
 * a malformed response), E2BIG (body too long), ETIMEDOUT, ECONNREFUSED or EIO (transport). Blocks. */
int mrun_client_request(mrun_client *c, const char *method, const char *path, const char *content_type,
                        const void *body, size_t len, long timeout_ms, char **ret_body, size_t *ret_len, mrun_err *err);

/* GET path and decode a JSON object into *ret_json (json_decref). */
int mrun_client_get_json(mrun_client *c, const char *path, long timeout_ms, json_t **ret_json, mrun_err *err);

/* POST body (not consumed) as application/json and decode the JSON object answer into *ret_json (json_decref);
 * ret_json may be NULL. */
int mrun_client_post_json(mrun_client *c, const char *path, const json_t *body, json_t **ret_json, mrun_err *err);

/* PUT /api/v1/blobs with the whole of fd (a regular file or memfd, read from offset 0 with pread, so the offset
 * is untouched) and writes the 64 hex digits the server answered into ret_digest. No total timeout: an upload
 * fails only when it moves less than 1 KiB in 60 s. */
int mrun_client_put_blob(mrun_client *c, int fd, char ret_digest[65], mrun_err *err);

/* Percent-encodes s as one path segment into buf (RFC 3986 unreserved characters kept). Returns buf, or NULL
 * when it does not fit. */
const char *mrun_client_escape(const char *s, char *buf, size_t len);

/* JSON readers that tolerate absent or mistyped fields: "" / def. The string is borrowed from o. */
const char *mrun_json_str(const json_t *o, const char *key);
int64_t mrun_json_int(const json_t *o, const char *key, int64_t def);

/* Copies s into buf for a terminal: control characters and DEL become '?', at most len-1 bytes (cut marked
 * with "..."). For names that come from the server. Returns buf. */
const char *mrun_cli_clean(const char *s, char *buf, size_t len);

/* True for a 32-hex-digit pipeline id (lower or upper case). */
bool mrun_cli_valid_id(const char *id);

/* Shared by status --follow and submit --wait (defined in cmd_status.c): polls the pipeline every 500 ms,
 * printing each stage's state changes to stdout and, with logs, each stage's new log lines prefixed "[stage] ",
 * until the pipeline is finished (and, with logs, every started stage's log is done). *ret_state receives the final
 * pipeline state ("passed", ...; at most 15 bytes). Returns 0, or -1 on a server or transport error. */
int mrun_cli_follow(mrun_client *c, const char *id, bool logs, char ret_state[16], mrun_err *err);

#endif
