/* fuzz_proxy_head.c - fuzz target for the preview proxy's wire parsing: request and response heads from
 * clients and preview apps, chunked framing, and the Location / Set-Cookie rewrites of app-sent values.
 * The first byte picks the parser; the rest is the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/proxy_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void head(const char *s, size_t n, bool response)
{
    proxy_head h;
    mrun_err err = MRUN_ERR_INIT;
    size_t end = proxy_head_end(s, n);
    if (proxy_head_parse(s, end ? end : n, response, &h, &err) < 0)
        return;
    /* the framing invariant the proxy relies on against smuggling */
    if (h.content_length >= 0 && (h.chunked || h.other_te))
        abort();
    if (h.nhdrs > PROXY_HEADERS_MAX)
        abort();
    for (size_t i = 0; i < h.nhdrs; i++) {
        const proxy_hdr *f = &h.hdrs[i];
        if (f->name < s || f->value + f->value_len > s + n || memchr(f->value, '\r', f->value_len) ||
            memchr(f->value, '\n', f->value_len))
            abort();
    }
    proxy_head_get(&h, "connection");
}

static void chunked(const char *s, size_t n)
{
    proxy_chunked c = {0};
    mrun_err err = MRUN_ERR_INIT;
    size_t used = 0, half = n / 2;
    if (proxy_chunked_feed(&c, s, half, &used, &err) < 0)
        return;
    if (used > half || (!c.done && used != half))
        abort();
    if (!c.done && proxy_chunked_feed(&c, s + half, n - half, &used, &err) == 0 && used > n - half)
        abort();
}

static void rewrites(const char *s, size_t n)
{
    char out[512];
    const char *auth[] = {"127.0.0.1:8000", "example.test"};
    if (proxy_rewrite_location(s, n, "/preview/abcdef0123456789", auth, 2, out, sizeof(out)) == 0 &&
        strlen(out) >= sizeof(out))
        abort();
    if (proxy_rewrite_cookie_path(s, n, "/preview/abcdef0123456789", out, sizeof(out)) == 0 &&
        strlen(out) >= sizeof(out))
        abort();
    proxy_list_has(s, n, "upgrade");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        head(s, n, false);
        break;
    case 1:
        head(s, n, true);
        break;
    case 2:
        chunked(s, n);
        break;
    default:
        rewrites(s, n);
        break;
    }
    return 0;
}
