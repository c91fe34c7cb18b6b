/* proxy.h - the preview reverse proxy: its own HTTP/1.1 listener in front of running previews.
 * Path-based `/preview/<id>/...` and (with a preview domain) host-based `<id>.<domain>` routing, private previews
 * behind a bearer token or a signed link, streaming bodies and websockets passed through. See docs/previews.md. */
#ifndef MRUN_PROXY_H
#define MRUN_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

typedef struct mrun_proxy mrun_proxy;

#define MRUN_PROXY_ID_MIN     16
#define MRUN_PROXY_ID_MAX     64
#define MRUN_PROXY_SECRET_MAX 64

typedef struct mrun_proxy_config {
    const char *listen;         /* "127.0.0.1:7080" or "[::1]:7080"; port 0 picks a free port (mrun_proxy_port) */
    const char *preview_domain; /* "preview.example.com": enables <id>.<domain>; NULL turns host-based routing off */
    const uint8_t *secret;      /* HMAC key for signed links; NULL: 32 random bytes (links die with the process) */
    size_t secret_len;          /* 16..MRUN_PROXY_SECRET_MAX when secret is set */
    int max_conns;              /* concurrent client connections, 503 past it; 0: 256 */
    int idle_timeout_ms;        /* no byte either way for this long closes a connection; 0: 60000 */
    int connect_timeout_ms;     /* backend connect; 502 on refusal, 504 past it; 0: 5000 */
} mrun_proxy_config;

/* Binds, listens and starts the accept thread. The config is copied. Errors: EINVAL (bad address, secret,
 * preview domain), or the errno of socket/bind/listen. */
int mrun_proxy_start(const mrun_proxy_config *cfg, mrun_proxy **ret_proxy, mrun_err *err);

/* The bound TCP port (useful with port 0). */
int mrun_proxy_port(const mrun_proxy *proxy);

/* Closes the listener and every connection, joins all threads and frees the proxy. NULL does nothing. Blocks
 * for at most about a second beyond the time the threads need to notice (they poll a stop pipe). */
void mrun_proxy_stop(mrun_proxy *proxy);

/* Adds or replaces the route for id ([a-z0-9]{16,64}) to target_host:target_port (an IP literal or a host
 * name resolved at connect time). expires_ms: wall-clock ms since the epoch after which the id answers 404;
 * 0: never. private routes need credentials: a bearer token whose SHA-256 (64 lowercase hex, see
 * mrun_proxy_token_hash) is token_hash, or a signed link (mrun_proxy_sign_query). token_hash may be NULL
 * (then only signed links work). Thread-safe; callable from any thread while connections are served.
 * Errors: EINVAL for a bad id, host, port or hash; ENOMEM. */
int mrun_proxy_route_set(mrun_proxy *proxy, const char *id, const char *target_host, int target_port,
                         int64_t expires_ms, bool private_, const char *token_hash, mrun_err *err);

/* Removes the route; new requests for it get 404 (connections in flight finish). Returns 0, or -1 if the id
 * had no route. Thread-safe. */
int mrun_proxy_route_remove(mrun_proxy *proxy, const char *id);

/* Makes the query string of a signed link for id valid until exp_unix (seconds since the epoch):
 * "mrun_exp=<exp>&mrun_sig=<hex HMAC-SHA256(secret, id "\n" exp)>". Append it to the preview URL with '?'.
 * *ret_query is malloc'd. Errors: EINVAL for a bad id. */
int mrun_proxy_sign_query(const mrun_proxy *proxy, const char *id, int64_t exp_unix, char **ret_query, mrun_err *err);

/* Writes the lowercase hex SHA-256 of token (65 bytes with the NUL) into ret_hex: the token_hash format. */
void mrun_proxy_token_hash(const char *token, char ret_hex[65]);

/* True when id matches [a-z0-9]{16,64}. */
bool mrun_proxy_id_valid(const char *id, size_t len);

#endif
