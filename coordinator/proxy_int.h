/* proxy_int.h - private to the preview proxy: the HTTP/1.1 head parser and the chunked-framing scanner
 * (pure, fuzzed by tests/fuzz/fuzz_proxy_head.c), and the rewrite helpers the connection code uses. */
#ifndef MRUN_PROXY_INT_H
#define MRUN_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PROXY_HEAD_MAX (16 * 1024) /* whole head, request or response: 431 / 502 past it */
#define PROXY_LINE_MAX (8 * 1024)  /* request line: 414 past it */
#define PROXY_HEADERS_MAX 100      /* header fields: 431 past it */
#define PROXY_CHUNK_LINE_MAX 4096  /* chunk-size line with extensions, and each trailer line */

/* One header field; name and value point into the parsed buffer (not NUL-terminated). The value has its
 * surrounding whitespace trimmed. */
typedef struct proxy_hdr {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} proxy_hdr;

/* A parsed head. Pointers borrow the buffer given to proxy_head_parse, which must outlive the struct.
 * Invariant after a successful parse: not both chunked and content_length >= 0. */
typedef struct proxy_head {
    bool response;
    const char *method; /* request: method token */
    size_t method_len;
    const char *target; /* request: request-target */
    size_t target_len;
    int status;         /* response: 100..999 */
    int minor;          /* HTTP/1.<minor>, 0 or 1 */
    proxy_hdr hdrs[PROXY_HEADERS_MAX];
    size_t nhdrs;
    int64_t content_length; /* -1: absent */
    bool chunked;           /* Transfer-Encoding is exactly "chunked" */
    bool other_te;          /* Transfer-Encoding present and not just "chunked" */
    const char *host;       /* request: the Host value, NULL if absent */
    size_t host_len;
} proxy_head;

/* Finds the end of a head ("\r\n\r\n") in buf; returns the head length including it, or 0 if not complete. */
size_t proxy_head_end(const char *buf, size_t len);

/* Parses a complete head (as returned by proxy_head_end, CRLF CRLF included). Pure. Errors, with the HTTP
 * status a request gets: E2BIG (431, too large or too many fields), ENAMETOOLONG (414, request line),
 * EPROTO (400: syntax, obs-fold, bare CR or LF, NUL, two Content-Length, Content-Length with
 * Transfer-Encoding, two Host), ENOTSUP (501: a request Transfer-Encoding other than chunked). */
int proxy_head_parse(const char *buf, size_t len, bool response, proxy_head *ret_head, mrun_err *err);

/* Finds a header by case-insensitive name; returns the first match or NULL. */
const proxy_hdr *proxy_head_get(const proxy_head *h, const char *name);

/* True when the comma-separated list value contains token (case-insensitive). */
bool proxy_list_has(const char *value, size_t len, const char *token);

/* Scans chunked framing (RFC 9112 7.1) incrementally so the proxy can forward bytes verbatim and know where
 * the body ends. Zero-initialise; feed bytes in order. */
typedef struct proxy_chunked {
    int state;
    uint64_t remaining; /* data bytes left in the current chunk */
    size_t line_len;    /* bytes of the current size or trailer line */
    int digits;
    bool done;
} proxy_chunked;

/* Consumes up to len bytes; *ret_used says how many belong to the body (less than len only once done).
 * Errors: EPROTO on bad framing, E2BIG on an over-long line or a size past 2^60. */
int proxy_chunked_feed(proxy_chunked *c, const char *buf, size_t len, size_t *ret_used, mrun_err *err);

/* Rewrites a Location value for a path-based preview: "/x" -> "<prefix>/x", and an absolute http(s) URL whose
 * authority is one of the given authorities (backend host:port, the client's Host) -> "<prefix><path>".
 * Other values are copied. Writes at most cap bytes (NUL included); returns -1 if it does not fit. */
int proxy_rewrite_location(const char *v, size_t vlen, const char *prefix, const char *const *authorities,
                           size_t nauth, char *out, size_t cap);

/* Rewrites the Path attribute of a Set-Cookie value: "Path=/x" -> "Path=<prefix>/x". Same contract. */
int proxy_rewrite_cookie_path(const char *v, size_t vlen, const char *prefix, char *out, size_t cap);

#endif
