/* proto_dec.c - mrun_msg_decode: a bounds-checked msgpack reader over hostile bytes, driven by the field tables.
 * It reads msgpack itself instead of using msgpack_unpack: msgpack-c allocates count * sizeof(msgpack_object)
 * for an array header before it has seen the elements, so 6 bytes (dd ff ff ff ff 01) make msgpack-c 4.0 ask
 * mmap for 137 GB. Here every count
 * is checked against the bytes left and against the limits before anything is allocated. */
#include "proto_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reader ---- */

enum { H_NIL, H_BOOL, H_UINT, H_INT, H_FLOAT, H_STR, H_BIN, H_EXT, H_ARR, H_MAP };
static const char *const h_names[] = {"nil",      "a bool",      "an integer",   "an integer", "a float",
                                      "a string", "binary data", "an extension", "an array",   "a map"};

struct hd {
    int kind;
    uint64_t u; /* H_UINT value, H_BOOL value */
    int64_t i;  /* H_INT value (negative) */
    const uint8_t *ptr;
    size_t len; /* payload bytes (str, bin, ext) or element count (array, map) */
};

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t left(const rd *r)
{
    return (size_t)(r->end - r->p);
}

/* Takes n bytes: the size field of the format byte just read. */
static int take(rd *r, size_t n, uint64_t *ret)
{
    if (left(r) < n)
        return proto_fail(r, EPROTO, "truncated");
    *ret = be(r->p, n);
    r->p += n;
    return 0;
}

static int payload(rd *r, struct hd *h, int kind, size_t lenbytes, size_t extra)
{
    uint64_t n = 0;
    if (take(r, lenbytes, &n) < 0)
        return -1;
    if (n > left(r) || extra > left(r) - n)
        return proto_fail(r, EPROTO, "truncated");
    h->kind = kind;
    h->len = (size_t)n;
    r->p += extra; /* the ext type byte */
    h->ptr = r->p;
    r->p += n;
    return 0;
}

/* Reads one value header. Strings, bins and exts are consumed whole; arrays and maps leave their elements. */
static int rd_hd(rd *r, struct hd *h)
{
    memset(h, 0, sizeof(*h));
    if (left(r) < 1)
        return proto_fail(r, EPROTO, "truncated");
    uint8_t b = *r->p++;
    uint64_t n = 0;
    if (b <= 0x7f || b >= 0xe0) {
        h->kind = b <= 0x7f ? H_UINT : H_INT;
        h->u = b;
        h->i = (int8_t)b;
        return 0;
    }
    if (b <= 0x8f || (b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) {
        int map = b <= 0x8f || b == 0xde || b == 0xdf;
        if (b <= 0x9f)
            n = b & 0x0f;
        else if (take(r, b == 0xdc || b == 0xde ? 2 : 4, &n) < 0)
            return -1;
        h->kind = map ? H_MAP : H_ARR;
        h->len = (size_t)n;
        /* each element needs at least one byte: refuse counts the input cannot hold before anyone allocates */
        if (n > left(r) / (map ? 2 : 1))
            return proto_fail(r, EPROTO, "truncated: %s of %llu entries in %zu bytes", map ? "map" : "array",
                              (unsigned long long)n, left(r));
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        h->kind = H_STR;
        h->len = b & 0x1f;
        if (h->len > left(r))
            return proto_fail(r, EPROTO, "truncated");
        h->ptr = r->p;
        r->p += h->len;
        return 0;
    }
    switch (b) {
    case 0xc0:
        h->kind = H_NIL;
        return 0;
    case 0xc2:
    case 0xc3:
        h->kind = H_BOOL;
        h->u = b == 0xc3;
        return 0;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return payload(r, h, H_BIN, (size_t)1 << (b - 0xc4), 0);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        return payload(r, h, H_EXT, (size_t)1 << (b - 0xc7), 1);
    case 0xca:
    case 0xcb:
        h->kind = H_FLOAT;
        return take(r, b == 0xca ? 4 : 8, &n);
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        h->kind = H_UINT;
        return take(r, (size_t)1 << (b - 0xcc), &h->u);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        size_t w = (size_t)1 << (b - 0xd0);
        if (take(r, w, &n) < 0)
            return -1;
        int64_t v = w == 8 ? (int64_t)n : (int64_t)(n ^ (1ull << (8 * w - 1))) - (int64_t)(1ull << (8 * w - 1));
        h->kind = v < 0 ? H_INT : H_UINT;
        h->i = v;
        h->u = (uint64_t)v;
        return 0;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        if (left(r) < 1 + ((size_t)1 << (b - 0xd4)))
            return proto_fail(r, EPROTO, "truncated");
        h->kind = H_EXT;
        r->p += 1 + ((size_t)1 << (b - 0xd4));
        return 0;
    case 0xd9:
    case 0xda:
    case 0xdb:
        return payload(r, h, H_STR, (size_t)1 << (b - 0xd9), 0);
    default: /* 0xc1 */
        return proto_fail(r, EPROTO, "invalid msgpack byte 0x%02x", b);
    }
}

static int expect(rd *r, struct hd *h, int kind)
{
    if (rd_hd(r, h) < 0)
        return -1;
    if (h->kind == kind || (kind == H_UINT && h->kind == H_INT))
        return 0;
    return proto_fail(r, EPROTO, "expected %s, got %s", h_names[kind], h_names[h->kind]);
}

/* Opens an array or a map: checks its count and the nesting depth. Close it with r->depth--. */
static int rd_open(rd *r, int kind, size_t *ret_n)
{
    struct hd h;
    if (expect(r, &h, kind) < 0)
        return -1;
    size_t max = kind == H_MAP ? r->lim->max_map : r->lim->max_items;
    if (h.len > max)
        return proto_fail(r, E2BIG, "%zu entries, at most %zu allowed", h.len, max);
    if (r->depth + 1 > r->lim->max_depth)
        return proto_fail(r, E2BIG, "nested deeper than %zu", r->lim->max_depth);
    r->depth++;
    *ret_n = h.len;
    return 0;
}

/* Skips one value of an unknown key, within the same limits as known ones. */
static int skip(rd *r)
{
    const uint8_t *save = r->p;
    struct hd h;
    if (rd_hd(r, &h) < 0)
        return -1;
    if (h.kind != H_ARR && h.kind != H_MAP)
        return 0;
    r->p = save;
    size_t n;
    if (rd_open(r, h.kind, &n) < 0)
        return -1;
    for (size_t i = 0; i < n * (h.kind == H_MAP ? 2 : 1); i++)
        if (skip(r) < 0)
            return -1;
    r->depth--;
    return 0;
}

static int rd_uint(rd *r, uint64_t max, uint64_t *ret)
{
    struct hd h;
    if (expect(r, &h, H_UINT) < 0)
        return -1;
    if (h.kind == H_INT)
        return proto_fail(r, EPROTO, "expected a non-negative integer, got %lld", (long long)h.i);
    if (h.u > max)
        return proto_fail(r, EPROTO, "%llu out of range (at most %llu)", (unsigned long long)h.u,
                          (unsigned long long)max);
    *ret = h.u;
    return 0;
}

static int rd_int(rd *r, int64_t min, int64_t max, int64_t *ret)
{
    struct hd h;
    if (expect(r, &h, H_UINT) < 0)
        return -1;
    if (h.kind == H_UINT && h.u > (uint64_t)INT64_MAX)
        return proto_fail(r, EPROTO, "%llu out of range", (unsigned long long)h.u);
    int64_t v = h.kind == H_UINT ? (int64_t)h.u : h.i;
    if (v < min || v > max)
        return proto_fail(r, EPROTO, "%lld out of range", (long long)v);
    *ret = v;
    return 0;
}

static int is_lower_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(unsigned char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* Relative, no "..", no empty component except a trailing slash, no control bytes. */
static const char *path_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty path";
    if (s[0] == '/')
        return "absolute path";
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && (unsigned char)s[i] < 0x20)
            return "control character in path";
        if (i < len && s[i] != '/')
            continue;
        size_t clen = i - start;
        if (clen == 0 && i < len)
            return "empty path component";
        if (clen == 2 && s[start] == '.' && s[start + 1] == '.')
            return "\"..\" in path";
        start = i + 1;
    }
    return NULL;
}

/* Returns a description of what is wrong with the string, or NULL. The string has no NUL byte. */
static const char *str_problem(int check, const char *s, size_t len)
{
    if (check == C_ANY)
        return NULL;
    if (check == C_PATH)
        return path_problem(s, len);
    if (len == 0)
        return "must not be empty";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok;
        switch (check) {
        case C_NAME:
            ok = c >= 0x20 && c != 0x7f;
            break;
        case C_PRINT:
            ok = c >= 0x20 && c < 0x7f;
            break;
        case C_LABEL:
            ok = is_lower_alnum(c) || c == '_' || c == '.' || c == '-';
            break;
        case C_ID:
            ok = is_alnum(c) || c == '_' || c == '.' || c == '-';
            break;
        case C_WITH:
            ok = is_alnum(c) || c == '_' || c == '-';
            break;
        default: /* C_ENV */
            ok = c == '_' || (is_alnum(c) && !(i == 0 && c >= '0' && c <= '9'));
            break;
        }
        if (!ok) {
            static const char *const what[] = {
                [C_NAME] = "control character in name", [C_PRINT] = "must be printable ASCII",
                [C_LABEL] = "must match [a-z0-9_.-]+",  [C_ID] = "must match [A-Za-z0-9_.-]+",
                [C_WITH] = "must match [A-Za-z0-9_-]+", [C_ENV] = "must match [A-Za-z_][A-Za-z0-9_]*"};
            return what[check];
        }
    }
    return NULL;
}

/* Reads a string of at most max bytes (0: lim->max_str) that passes check; *ret is malloc'd. */
static int rd_str(rd *r, int check, uint64_t max, char **ret)
{
    struct hd h;
    if (expect(r, &h, H_STR) < 0)
        return -1;
    size_t lim = r->lim->max_str;
    if (max && max < lim)
        lim = (size_t)max;
    if (h.len > lim)
        return proto_fail(r, E2BIG, "string of %zu bytes, at most %zu allowed", h.len, lim);
    if (h.len && memchr(h.ptr, '\0', h.len))
        return proto_fail(r, EPROTO, "NUL byte in string");
    const char *why = str_problem(check, (const char *)h.ptr, h.len);
    if (why)
        return proto_fail(r, EPROTO, "%s", why);
    char *s = malloc(h.len + 1);
    if (!s)
        return proto_fail(r, ENOMEM, "out of memory");
    if (h.len)
        memcpy(s, h.ptr, h.len);
    s[h.len] = '\0';
    *ret = s;
    return 0;
}

static int rd_hex(rd *r, char *out)
{
    struct hd h;
    if (expect(r, &h, H_STR) < 0)
        return -1;
    if (h.len != 64)
        return proto_fail(r, EPROTO, "expected 64 lowercase hex characters, got %zu bytes", h.len);
    for (size_t i = 0; i < 64; i++) {
        unsigned char c = h.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return proto_fail(r, EPROTO, "expected 64 lowercase hex characters");
    }
    memcpy(out, h.ptr, 64);
    out[64] = '\0';
    return 0;
}

static int rd_bin(rd *r, uint64_t max, mrun_bytes *ret)
{
    struct hd h;
    if (expect(r, &h, H_BIN) < 0)
        return -1;
    size_t lim = r->lim->max_data;
    if (max && max < lim)
        lim = (size_t)max;
    if (h.len > lim)
        return proto_fail(r, E2BIG, "%zu bytes of data, at most %zu allowed", h.len, lim);
    ret->data = NULL;
    ret->len = 0;
    if (h.len == 0)
        return 0;
    if (!(ret->data = malloc(h.len)))
        return proto_fail(r, ENOMEM, "out of memory");
    memcpy(ret->data, h.ptr, h.len);
    ret->len = h.len;
    return 0;
}

static int dec_fields(rd *r, const struct obj *o, char *base, size_t n);

/* Opens an array and allocates n zeroed elements; the container owns them at once so a later failure frees them. */
static int rd_vec(rd *r, int kind, size_t elem, char *at, size_t *ret_n)
{
    size_t n;
    if (rd_open(r, kind, &n) < 0)
        return -1;
    void *v = NULL;
    if (n && !(v = calloc(n, elem)))
        return proto_fail(r, ENOMEM, "out of memory");
    vec_set(at, v, n);
    *ret_n = n;
    return 0;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a {str: str} map into an mrun_kvv (F_KVV) or an mrun_envv (F_ENV); keys pass f->check. */
static int rd_strmap(rd *r, const struct field *f, char *at)
{
    size_t n = 0;
    int env = f->kind == F_ENV;
    if (rd_vec(r, H_MAP, env ? sizeof(mrun_env_var) : sizeof(mrun_kv), at, &n) < 0)
        return -1;
    char *v = vec_ptr(at);
    for (size_t i = 0; i < n; i++) {
        char **key = env ? &((mrun_env_var *)v)[i].name : &((mrun_kv *)v)[i].key;
        char **val = env ? &((mrun_env_var *)v)[i].value : &((mrun_kv *)v)[i].value;
        size_t pl = proto_push(r, "{key %zu}", i);
        if (rd_str(r, f->check, MRUN_PROTO_MAX_NAME, key) < 0)
            return -1;
        proto_pop(r, pl);
        proto_push(r, "[\"%s\"]", *key);
        if (rd_str(r, C_ANY, 0, val) < 0)
            return -1;
        proto_pop(r, pl);
    }
    r->depth--;
    if (n < 2)
        return 0;
    /* keys must be unique: sort a copy of the key pointers, O(n log n) for up to max_map keys */
    char **keys = malloc(n * sizeof(*keys));
    if (!keys)
        return proto_fail(r, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        keys[i] = env ? ((mrun_env_var *)v)[i].name : ((mrun_kv *)v)[i].key;
    qsort(keys, n, sizeof(*keys), cmp_strp);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            dup = keys[i];
    free(keys);
    return dup ? proto_fail(r, EPROTO, "duplicate key \"%s\"", dup) : 0;
}

static int dec_field(rd *r, const struct field *f, char *at)
{
    uint64_t u = 0;
    int64_t s = 0;
    size_t n = 0;
    switch (f->kind) {
    case F_U64:
        return rd_uint(r, UINT64_MAX, (uint64_t *)(void *)at);
    case F_U32:
        if (rd_uint(r, f->max ? f->max : UINT32_MAX, &u) < 0)
            return -1;
        *(uint32_t *)(void *)at = (uint32_t)u;
        return 0;
    case F_ENUMI:
        if (rd_uint(r, f->max, &u) < 0)
            return -1;
        *(int *)(void *)at = (int)u;
        return 0;
    case F_I64:
        return rd_int(r, INT64_MIN, INT64_MAX, (int64_t *)(void *)at);
    case F_I32:
        if (rd_int(r, INT32_MIN, INT32_MAX, &s) < 0)
            return -1;
        *(int32_t *)(void *)at = (int32_t)s;
        return 0;
    case F_BOOL: {
        struct hd h;
        if (expect(r, &h, H_BOOL) < 0)
            return -1;
        *(bool *)(void *)at = h.u != 0;
        return 0;
    }
    case F_STR:
        return rd_str(r, f->check, f->max, (char **)(void *)at);
    case F_HEX:
        return rd_hex(r, at);
    case F_BIN:
        return rd_bin(r, f->max, (mrun_bytes *)(void *)at);
    case F_ENUMS: {
        struct hd h;
        if (expect(r, &h, H_STR) < 0)
            return -1;
        for (int i = 0; f->names[i]; i++)
            if (strlen(f->names[i]) == h.len && memcmp(f->names[i], h.ptr, h.len) == 0) {
                *(int *)(void *)at = i;
                return 0;
            }
        return proto_fail(r, EPROTO, "unknown value");
    }
    case F_STRV:
    case F_SECRETS: {
        if (f->kind == F_SECRETS)
            at = (char *)&r->secrets;
        if (rd_vec(r, H_ARR, sizeof(char *), at, &n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            size_t pl = proto_push(r, "[%zu]", i);
            if (rd_str(r, f->check, f->max ? f->max : MRUN_PROTO_MAX_NAME, (char **)vec_ptr(at) + i) < 0)
                return -1;
            proto_pop(r, pl);
        }
        r->depth--;
        return 0;
    }
    case F_KVV:
    case F_ENV:
        return rd_strmap(r, f, at);
    case F_OBJ:
        if (rd_open(r, H_MAP, &n) < 0 || dec_fields(r, f->sub, at, n) < 0)
            return -1;
        r->depth--;
        return 0;
    case F_OBJV:
        if (rd_vec(r, H_ARR, f->sub->size, at, &n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            size_t pl = proto_push(r, "[%zu]", i), m;
            if (rd_open(r, H_MAP, &m) < 0 || dec_fields(r, f->sub, (char *)vec_ptr(at) + i * f->sub->size, m) < 0)
                return -1;
            r->depth--;
            proto_pop(r, pl);
        }
        r->depth--;
        return 0;
    }
    return proto_fail(r, EPROTO, "internal: unknown field kind");
}

/* Reads the n remaining entries of an open map into the struct at base. */
static int dec_fields(rd *r, const struct obj *o, char *base, size_t n)
{
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct hd k;
        if (expect(r, &k, H_STR) < 0)
            return -1;
        size_t j = 0;
        while (j < o->nf && !(strlen(o->f[j].key) == k.len && memcmp(o->f[j].key, k.ptr, k.len) == 0))
            j++;
        if (j == o->nf) {
            if (skip(r) < 0)
                return -1;
            continue;
        }
        size_t pl = proto_push(r, ".%s", o->f[j].key);
        if (seen & (1u << j))
            return proto_fail(r, EPROTO, "duplicate key");
        seen |= 1u << j;
        if (dec_field(r, &o->f[j], base + o->f[j].off) < 0)
            return -1;
        proto_pop(r, pl);
    }
    for (size_t j = 0; j < o->nf; j++)
        if (o->f[j].req && !(seen & (1u << j))) {
            proto_push(r, ".%s", o->f[j].key);
            return proto_fail(r, EPROTO, "required key missing");
        }
    return o->post ? o->post(r, base) : 0;
}

/* ---- cross-field rules ---- */

int proto_register_post(rd *r, char *base)
{
    const mrun_msg_register *m = (const mrun_msg_register *)(void *)base;
    if (m->slots == 0) {
        proto_push(r, ".slots");
        return proto_fail(r, EPROTO, "must be at least 1");
    }
    return 0;
}

int proto_step_post(rd *r, char *base)
{
    const mrun_step *s = (const mrun_step *)(void *)base;
    if (!s->run == !s->uses)
        return proto_fail(r, EPROTO, "exactly one of \"run\" and \"uses\" is required");
    return 0;
}

int proto_lease_post(rd *r, char *base)
{
    mrun_msg_lease *m = (mrun_msg_lease *)(void *)base;
    for (size_t i = 0; i < r->secrets.n; i++) {
        size_t j = 0;
        while (j < m->env.n && strcmp(m->env.v[j].name, r->secrets.v[i]) != 0)
            j++;
        if (j == m->env.n) {
            proto_push(r, ".secrets[%zu]", i);
            return proto_fail(r, EPROTO, "\"%s\" is not in env", r->secrets.v[i]);
        }
        m->env.v[j].secret = true;
    }
    return 0;
}

static int chunk_fits(rd *r, uint64_t offset, size_t len, uint64_t total)
{
    if (offset > total || len > total - offset)
        return proto_fail(r, EPROTO, "offset %llu + %zu bytes is past total_size %llu", (unsigned long long)offset, len,
                          (unsigned long long)total);
    return 0;
}

int proto_blob_post(rd *r, char *base)
{
    const mrun_msg_blob *m = (const mrun_msg_blob *)(void *)base;
    if (chunk_fits(r, m->offset, m->data.len, m->total_size) < 0)
        return -1;
    if (m->eof && m->offset + m->data.len != m->total_size)
        return proto_fail(r, EPROTO, "eof before total_size");
    return 0;
}

int proto_artifact_post(rd *r, char *base)
{
    const mrun_msg_artifact_put *m = (const mrun_msg_artifact_put *)(void *)base;
    if (chunk_fits(r, m->offset, m->data.len, m->total_size) < 0)
        return -1;
    if (m->final && m->offset + m->data.len != m->total_size)
        return proto_fail(r, EPROTO, "final chunk does not end at total_size");
    if (m->final && !m->sha256[0]) {
        proto_push(r, ".sha256");
        return proto_fail(r, EPROTO, "required when final");
    }
    return 0;
}

int proto_result_post(rd *r, char *base)
{
    const mrun_msg_result *m = (const mrun_msg_result *)(void *)base;
    if (m->finished_ms < m->started_ms) {
        proto_push(r, ".finished_ms");
        return proto_fail(r, EPROTO, "before started_ms");
    }
    return 0;
}

/* ---- decoding ---- */

static void quote(const uint8_t *p, size_t len, char out[40])
{
    size_t o = 0;
    for (size_t i = 0; i < len && o < 32; i++)
        out[o++] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' ? (char)p[i] : '?';
    if (len > 32)
        out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o] = '\0';
}

static int key_is(rd *r, const char *want)
{
    struct hd k;
    if (expect(r, &k, H_STR) < 0)
        return -1;
    if (k.len != strlen(want) || memcmp(k.ptr, want, k.len) != 0)
        return proto_fail(r, EPROTO, "expected key \"%s\" here", want);
    return 0;
}

static int decode(rd *r, mrun_msg *m)
{
    size_t n;
    uint64_t v;
    struct hd t;
    if (rd_open(r, H_MAP, &n) < 0)
        return mrun_err_prefix(r->err, "message");
    if (n < 2)
        return proto_fail(r, EPROTO, "message: \"v\" and \"t\" are required");
    if (key_is(r, "v") < 0 || rd_uint(r, UINT64_MAX, &v) < 0)
        return mrun_err_prefix(r->err, "message: first key");
    if (v != MRUN_PROTO_VERSION)
        return proto_fail(r, EPROTO, "protocol version %llu, this side speaks version %d", (unsigned long long)v,
                          MRUN_PROTO_VERSION);
    if (key_is(r, "t") < 0 || expect(r, &t, H_STR) < 0)
        return mrun_err_prefix(r->err, "message: second key");
    int type = 1;
    while (type < MRUN_MSG_TYPE_COUNT_ && !(strlen(mrun_msg_type_name((mrun_msg_type)type)) == t.len &&
                                            memcmp(mrun_msg_type_name((mrun_msg_type)type), t.ptr, t.len) == 0))
        type++;
    if (type == MRUN_MSG_TYPE_COUNT_) {
        char q[40];
        quote(t.ptr, t.len, q);
        return proto_fail(r, EPROTO, "unknown message type '%s'", q);
    }
    m->type = (mrun_msg_type)type;
    proto_push(r, "%s", mrun_msg_type_name((mrun_msg_type)type));
    if (dec_fields(r, &proto_msg_objs[type], (char *)&m->reg, n - 2) < 0)
        return -1;
    if (r->p != r->end) {
        proto_pop(r, 0);
        return proto_fail(r, EPROTO, "%zu trailing bytes after the message", left(r));
    }
    return 0;
}

int mrun_msg_decode(const uint8_t *buf, size_t len, const mrun_proto_limits *lim, mrun_msg *ret, mrun_err *err)
{
    static const mrun_proto_limits defaults = MRUN_PROTO_LIMITS_DEFAULT;
    if (!lim)
        lim = &defaults;
    if (len > lim->max_msg)
        return mrun_err_setx(err, E2BIG, "message of %zu bytes, at most %zu allowed", len, lim->max_msg);
    if (!buf)
        buf = (const uint8_t *)"", len = 0;
    rd r = {.p = buf, .end = buf + len, .lim = lim, .err = err};
    mrun_msg m;
    mrun_msg_init(&m, MRUN_MSG_NONE);
    int rc = decode(&r, &m);
    for (size_t i = 0; i < r.secrets.n; i++)
        free(r.secrets.v[i]);
    free(r.secrets.v);
    if (rc < 0) {
        mrun_msg_fini(&m);
        return -1;
    }
    *ret = m;
    return 0;
}
