/* client.c - the CLI's HTTP client: one curl easy handle, a bearer token, bounded response bodies, JSON decode
 * of answers and of {"error":{"code","message"}} failures into one-line mrun_err messages. */
#include "client.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"

#ifndef MRUN_VERSION
#define MRUN_VERSION "dev"
#endif

#define CONNECT_TIMEOUT_MS 10000
#define MAX_URL            4096

/* Owned by one thread. base has no trailing slash. auth is the whole "Authorization: Bearer ..." header line,
 * wiped before it is freed; it is handed to curl only as a header, never formatted into a message. */
struct mrun_client {
    CURL *h;
    char *base;
    char *auth;
    long timeout_ms;
    size_t max_body;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct sink {
    char *buf;
    size_t len, cap, max;
    bool too_big;
} sink;

typedef struct source {
    int fd;
    int64_t off, size;
    int err; /* errno of a failed pread */
} source;

static void slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t add = size * n; /* curl guarantees size == 1 */
    if (add > s->max - s->len) {
        s->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    source *s = ud;
    size_t want = size * n;
    if ((int64_t)want > s->size - s->off)
        want = (size_t)(s->size - s->off);
    if (want == 0)
        return 0;
    ssize_t r;
    do
        r = pread(s->fd, buf, want, (off_t)s->off);
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        s->err = r < 0 ? errno : EIO; /* a file that shrank under us is as bad as a read error */
        return CURL_READFUNC_ABORT;
    }
    s->off += r;
    return (size_t)r;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int mrun_client_new(const mrun_client_config *cfg, mrun_client **ret_client, mrun_err *err)
{
    static const mrun_client_config none = {0};
    if (!cfg)
        cfg = &none;
    const char *server = cfg->server ? cfg->server : getenv("MRUN_SERVER");
    if (!server || !*server)
        server = MRUN_CLIENT_DEFAULT_SERVER;
    const char *token = cfg->token ? cfg->token : getenv("MRUN_TOKEN");
    if (strncmp(server, "http://", 7) != 0 && strncmp(server, "https://", 8) != 0)
        return mrun_err_setx(err, EINVAL, "server '%.100s': not an http:// or https:// URL", server);
    if (has_ctl(server) || strlen(server) > MAX_URL / 2)
        return mrun_err_setx(err, EINVAL, "server URL: control characters or too long");
    if (token && has_ctl(token))
        return mrun_err_setx(err, EINVAL, "token: control characters"); /* a header injection; never echo it */

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return mrun_err_setx(err, ENOMEM, "curl_global_init failed");
    mrun_client *c = calloc(1, sizeof(*c));
    if (!c) {
        curl_global_cleanup();
        return mrun_err_set(err, ENOMEM, "client");
    }
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : MRUN_CLIENT_DEFAULT_TIMEOUT;
    c->max_body = cfg->max_body ? cfg->max_body : MRUN_CLIENT_DEFAULT_MAX_BODY;
    c->h = curl_easy_init();
    c->base = strdup(server);
    if (c->base) {
        size_t n = strlen(c->base);
        while (n > 0 && c->base[n - 1] == '/')
            c->base[--n] = '\0';
    }
    if (token && *token) {
        static const char pre[] = "Authorization: Bearer ";
        size_t n = sizeof(pre) + strlen(token);
        c->auth = malloc(n);
        if (c->auth)
            snprintf(c->auth, n, "%s%s", pre, token);
    }
    if (!c->h || !c->base || (token && *token && !c->auth)) {
        mrun_client_free(c);
        return mrun_err_set(err, ENOMEM, "client");
    }
    *ret_client = c;
    return 0;
}

void mrun_client_free(mrun_client *c)
{
    if (!c)
        return;
    if (c->h)
        curl_easy_cleanup(c->h);
    if (c->auth)
        explicit_bzero(c->auth, strlen(c->auth));
    free(c->auth);
    free(c->base);
    free(c);
    curl_global_cleanup();
}

void mrun_client_freep(mrun_client **c)
{
    mrun_client_free(*c);
}

const char *mrun_client_server(const mrun_client *c)
{
    return c->base;
}

const char *mrun_cli_clean(const char *s, char *buf, size_t len)
{
    assert(buf && len >= 4);
    size_t i = 0;
    for (; s && *s && i + 1 < len; s++, i++) {
        unsigned char ch = (unsigned char)*s;
        buf[i] = ch == '\n' || ch == '\t' || ch == '\r' ? ' ' : ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    buf[i] = '\0';
    if (s && *s)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

bool mrun_cli_valid_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!isxdigit((unsigned char)id[n]))
            return false;
    return n == 32;
}

const char *mrun_client_escape(const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            if (o + 1 >= len)
                return NULL;
            buf[o++] = (char)ch;
        } else {
            if (o + 3 >= len)
                return NULL;
            buf[o++] = '%';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    if (o >= len)
        return NULL;
    buf[o] = '\0';
    return buf;
}

const char *mrun_json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

int64_t mrun_json_int(const json_t *o, const char *key, int64_t def)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return def;
}

/* Turns a non-2xx answer into err: the server's {"error":{"code","message"}} when there is one. */
static int http_error(long status, const char *method, const char *path, const sink *body, mrun_err *err)
{
    int pl = (int)strcspn(path, "?"); /* the query (offsets, waits) is noise in a message */
    int e = status == 401 || status == 403 ? EPERM : status == 404 ? ENOENT : EPROTO;
    mrun_cleanup(json_decrefp) json_t *j = body->len ? json_loadb(body->buf, body->len, 0, NULL) : NULL;
    json_t *eo = json_object_get(j, "error");
    const char *code = mrun_json_str(eo, "code"), *msg = mrun_json_str(eo, "message");
    char cc[64], cm[200];
    if (*msg)
        return mrun_err_setx(err, e, "%s %.*s: %s%s%s", method, pl, path,
                             *code ? mrun_cli_clean(code, cc, sizeof(cc)) : "", *code ? ": " : "",
                             mrun_cli_clean(msg, cm, sizeof(cm)));
    if (*code)
        return mrun_err_setx(err, e, "%s %.*s: %s (HTTP %ld)", method, pl, path, mrun_cli_clean(code, cc, sizeof(cc)),
                             status);
    return mrun_err_setx(err, e, "%s %.*s: HTTP %ld", method, pl, path, status);
}

/* One request. src, when set, is streamed as a PUT body instead of body/len. */
static int perform(mrun_client *c, const char *method, const char *path, const char *content_type, const void *body,
                   size_t len, source *src, long timeout_ms, sink *out, mrun_err *err)
{
    char url[MAX_URL];
    assert(path[0] == '/');
    if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url))
        return mrun_err_setx(err, EINVAL, "%s %.100s: URL too long", method, path);
    mrun_cleanup(slist_freep) struct curl_slist *hdr = NULL;
    char ct[128];
    const char *lines[] = {"Accept: application/json", "Expect:", c->auth, NULL};
    if (content_type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        lines[3] = ct;
    }
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i])
            continue;
        struct curl_slist *n = curl_slist_append(hdr, lines[i]);
        if (!n)
            return mrun_err_set(err, ENOMEM, "%s %s", method, path);
        hdr = n;
    }

    CURL *h = c->h;
    curl_easy_reset(h); /* keeps the connection cache */
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https"); /* no file://, no redirects to elsewhere */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mrun/" MRUN_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (src) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, src);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src->size);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : c->timeout_ms);
        if (body || strcmp(method, "POST") == 0) { /* a bodiless POST still says Content-Length: 0 */
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        }
        if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (src && strcmp(method, "PUT") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        if (out->too_big)
            return mrun_err_setx(err, E2BIG, "%s %s: response over %zu bytes", method, path, out->len);
        if (src && src->err)
            return mrun_err_set(err, src->err, "%s %s: read upload", method, path);
        int pl = (int)strcspn(path, "?");
        int e = rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : rc == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EIO;
        return mrun_err_setx(err, e, "%s %.*s: %s", method, pl, path,
                             c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return http_error(status, method, path, out, err);
    return 0;
}

static int take(sink *out, char **ret_body, size_t *ret_len, mrun_err *err)
{
    if (!out->buf && !(out->buf = calloc(1, 1)))
        return mrun_err_set(err, ENOMEM, "response");
    if (ret_len)
        *ret_len = out->len;
    if (ret_body)
        *ret_body = mrun_steal_ptr(&out->buf);
    return 0;
}

int mrun_client_request(mrun_client *c, const char *method, const char *path, const char *content_type,
                        const void *body, size_t len, long timeout_ms, char **ret_body, size_t *ret_len, mrun_err *err)
{
    sink out = {.max = c->max_body};
    int r = perform(c, method, path, content_type, body, len, NULL, timeout_ms, &out, err);
    if (r == 0)
        r = take(&out, ret_body, ret_len, err);
    free(out.buf);
    return r;
}

static int decode(const char *method, const char *path, const char *buf, size_t len, json_t **ret_json, mrun_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    if (!j)
        return mrun_err_setx(err, EPROTO, "%s %s: malformed JSON response: %d:%d: %s", method, path, je.line, je.column,
                             je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return mrun_err_setx(err, EPROTO, "%s %s: malformed response: not a JSON object", method, path);
    }
    if (ret_json)
        *ret_json = j;
    else
        json_decref(j);
    return 0;
}

int mrun_client_get_json(mrun_client *c, const char *path, long timeout_ms, json_t **ret_json, mrun_err *err)
{
    mrun_autofree char *buf = NULL;
    size_t len = 0;
    if (mrun_client_request(c, "GET", path, NULL, NULL, 0, timeout_ms, &buf, &len, err) < 0)
        return -1;
    return decode("GET", path, buf, len, ret_json, err);
}

int mrun_client_post_json(mrun_client *c, const char *path, const json_t *body, json_t **ret_json, mrun_err *err)
{
    mrun_autofree char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return mrun_err_setx(err, EINVAL, "POST %s: cannot encode the request (invalid UTF-8?)", path);
    mrun_autofree char *buf = NULL;
    size_t len = 0;
    if (mrun_client_request(c, "POST", path, "application/json", text, strlen(text), 0, &buf, &len, err) < 0)
        return -1;
    return decode("POST", path, buf, len, ret_json, err);
}

int mrun_client_put_blob(mrun_client *c, int fd, char ret_digest[65], mrun_err *err)
{
    static const char path[] = "/api/v1/blobs";
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "PUT %s: stat the upload", path);
    source src = {.fd = fd, .size = st.st_size};
    sink out = {.max = c->max_body};
    int r = perform(c, "PUT", path, "application/octet-stream", NULL, 0, &src, 0, &out, err);
    json_t *j = NULL;
    if (r == 0)
        r = decode("PUT", path, out.buf ? out.buf : "", out.len, &j, err);
    free(out.buf);
    if (r < 0)
        return -1;
    const char *d = mrun_json_str(j, "digest");
    size_t n = 0;
    while (n < 64 && isxdigit((unsigned char)d[n]))
        n++;
    if (n != 64 || d[64] != '\0') {
        json_decref(j);
        return mrun_err_setx(err, EPROTO, "PUT %s: malformed response: no 64-hex digest", path);
    }
    memcpy(ret_digest, d, 65);
    json_decref(j);
    return 0;
}
