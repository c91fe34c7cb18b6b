/* fuzz_http_json.c - fuzz target for API request bodies: mrun_http_parse_json (depth pre-check + jansson), then
 * the response helpers on what it produced, and the query-string lookup on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan catches any read past len (the parser must not need a NUL). */
    uint8_t *b = malloc(size ? size : 1);
    if (!b)
        return 0;
    if (size)
        memcpy(b, data, size);
    mrun_err err = MRUN_ERR_INIT;
    json_t *j = NULL;
    if (mrun_http_parse_json(b, size, 16, &j, &err) == 0) {
        if (!j || !(json_is_object(j) || json_is_array(j)))
            abort();
        mrun_http_resp resp = {0};
        if (mrun_http_json(&resp, 200, json_incref(j)) == 0 && (!resp.body || strlen(resp.body) != resp.body_len))
            abort();
        free(resp.body);
        json_decref(j);
    } else if (j || err.msg[0] == '\0' || memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
               strncmp(err.msg, "body:", 5) != 0) {
        abort();
    }
    /* The same bytes as a query string (NUL-terminated copy) and as an error message argument. */
    char *q = malloc(size + 1);
    if (q) {
        memcpy(q, data, size);
        q[size] = '\0';
        mrun_http_req req = {.query = q};
        char v[64];
        int n = mrun_http_query(&req, "from", v, sizeof(v));
        if (n >= 0 && (size_t)n != strlen(v))
            abort();
        mrun_http_resp resp = {0};
        if (mrun_http_error(&resp, 400, "bad", "%s", q) == 0 && !resp.body)
            abort();
        free(resp.body);
        free(q);
    }
    free(b);
    return 0;
}
