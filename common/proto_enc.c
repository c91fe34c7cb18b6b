/* proto_enc.c - mrun_msg_encode: packs a message with msgpack-c's packer, driven by the field tables. */
#include "proto_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

/* The writer: msgpack-c's packer into a growing sbuffer; r carries the path and err for messages. */
typedef struct wr {
    msgpack_packer pk;
    int rc; /* any packer failure (only ENOMEM is possible with an sbuffer) */
    rd *r;
} wr;

static int enc_obj(wr *w, const struct obj *o, const char *base, int header);

static int need_str(wr *w, const char *s)
{
    return s ? 0 : proto_fail(w->r, EINVAL, "required string is NULL");
}

static void pk_str(wr *w, const char *s)
{
    size_t len = strlen(s);
    w->rc |= msgpack_pack_str(&w->pk, len);
    if (len)
        w->rc |= msgpack_pack_str_body(&w->pk, s, len);
}

static int present(const struct field *f, const char *at)
{
    if (f->kind == F_STR && !f->req)
        return vec_ptr(at) != NULL;
    if (f->kind == F_HEX && !f->req)
        return at[0] != '\0';
    if (f->kind == F_SECRETS) {
        const mrun_env_var *v = vec_ptr(at);
        for (size_t i = 0; i < vec_len(at); i++)
            if (v[i].secret)
                return 1;
        return 0;
    }
    return 1;
}

static int enc_strmap(wr *w, const struct field *f, const char *at)
{
    const char *v = vec_ptr(at);
    size_t n = vec_len(at);
    w->rc |= msgpack_pack_map(&w->pk, n);
    for (size_t i = 0; i < n; i++) {
        const char *key = f->kind == F_ENV ? ((const mrun_env_var *)v)[i].name : ((const mrun_kv *)v)[i].key;
        const char *val = f->kind == F_ENV ? ((const mrun_env_var *)v)[i].value : ((const mrun_kv *)v)[i].value;
        size_t pl = proto_push(w->r, "[%zu]", i);
        if (need_str(w, key) < 0 || need_str(w, val) < 0)
            return -1;
        proto_pop(w->r, pl);
        pk_str(w, key);
        pk_str(w, val);
    }
    return 0;
}

static int enum_name_ok(const struct field *f, int e)
{
    for (int i = 0; f->names[i]; i++)
        if (i == e)
            return 1;
    return 0;
}

static int enc_field(wr *w, const struct field *f, const char *at)
{
    msgpack_packer *pk = &w->pk;
    uint64_t u;
    int64_t s;
    int e;
    switch (f->kind) {
    case F_U64:
        memcpy(&u, at, sizeof(u));
        w->rc |= msgpack_pack_uint64(pk, u);
        return 0;
    case F_U32:
        w->rc |= msgpack_pack_uint32(pk, *(const uint32_t *)(const void *)at);
        return 0;
    case F_I64:
        memcpy(&s, at, sizeof(s));
        w->rc |= msgpack_pack_int64(pk, s);
        return 0;
    case F_I32:
        w->rc |= msgpack_pack_int32(pk, *(const int32_t *)(const void *)at);
        return 0;
    case F_BOOL:
        w->rc |= *(const bool *)(const void *)at ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        return 0;
    case F_ENUMI:
    case F_ENUMS:
        memcpy(&e, at, sizeof(e));
        if (e < 0 || (f->kind == F_ENUMI && (uint64_t)e > f->max) || (f->kind == F_ENUMS && !enum_name_ok(f, e)))
            return proto_fail(w->r, EINVAL, "enum value %d out of range", e);
        if (f->kind == F_ENUMI)
            w->rc |= msgpack_pack_uint32(pk, (uint32_t)e);
        else
            pk_str(w, f->names[e]);
        return 0;
    case F_STR:
        if (need_str(w, vec_ptr(at)) < 0)
            return -1;
        pk_str(w, vec_ptr(at));
        return 0;
    case F_HEX:
        if (strnlen(at, 65) != 64)
            return proto_fail(w->r, EINVAL, "digest must be 64 hex characters");
        pk_str(w, at);
        return 0;
    case F_BIN: {
        const mrun_bytes *b = (const mrun_bytes *)(const void *)at;
        if (b->len > f->max)
            return proto_fail(w->r, E2BIG, "%zu bytes of data, at most %llu allowed", b->len,
                              (unsigned long long)f->max);
        w->rc |= msgpack_pack_bin(pk, b->len);
        if (b->len)
            w->rc |= msgpack_pack_bin_body(pk, b->data, b->len);
        return 0;
    }
    case F_STRV: {
        const mrun_strv *v = (const mrun_strv *)(const void *)at;
        w->rc |= msgpack_pack_array(pk, v->n);
        for (size_t i = 0; i < v->n; i++) {
            size_t pl = proto_push(w->r, "[%zu]", i);
            if (need_str(w, v->v[i]) < 0)
                return -1;
            proto_pop(w->r, pl);
            pk_str(w, v->v[i]);
        }
        return 0;
    }
    case F_SECRETS: {
        const mrun_envv *v = (const mrun_envv *)(const void *)at;
        size_t n = 0;
        for (size_t i = 0; i < v->n; i++)
            n += v->v[i].secret;
        w->rc |= msgpack_pack_array(pk, n);
        for (size_t i = 0; i < v->n; i++)
            if (v->v[i].secret)
                pk_str(w, v->v[i].name); /* checked non-NULL by "env", which comes first */
        return 0;
    }
    case F_KVV:
    case F_ENV:
        return enc_strmap(w, f, at);
    case F_OBJ:
        return enc_obj(w, f->sub, at, 1);
    case F_OBJV: {
        const char *v = vec_ptr(at);
        size_t n = vec_len(at);
        w->rc |= msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
            size_t pl = proto_push(w->r, "[%zu]", i);
            if (enc_obj(w, f->sub, v + i * f->sub->size, 1) < 0)
                return -1;
            proto_pop(w->r, pl);
        }
        return 0;
    }
    }
    return proto_fail(w->r, EINVAL, "internal: unknown field kind");
}

static size_t count_present(const struct obj *o, const char *base)
{
    size_t n = 0;
    for (size_t i = 0; i < o->nf; i++)
        n += present(&o->f[i], base + o->f[i].off) != 0;
    return n;
}

/* Packs the fields of base as map entries, after the map header unless the caller wrote it (the message map). */
static int enc_obj(wr *w, const struct obj *o, const char *base, int header)
{
    if (header)
        w->rc |= msgpack_pack_map(&w->pk, count_present(o, base));
    for (size_t i = 0; i < o->nf; i++) {
        const struct field *f = &o->f[i];
        if (!present(f, base + f->off))
            continue;
        size_t pl = proto_push(w->r, ".%s", f->key);
        pk_str(w, f->key);
        if (enc_field(w, f, base + f->off) < 0)
            return -1;
        proto_pop(w->r, pl);
    }
    return 0;
}

int mrun_msg_encode(const mrun_msg *msg, uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    if (msg->type <= MRUN_MSG_NONE || msg->type >= MRUN_MSG_TYPE_COUNT_)
        return mrun_err_setx(err, EINVAL, "encode: invalid message type %d", (int)msg->type);
    const struct obj *o = &proto_msg_objs[msg->type];
    const char *base = (const char *)&msg->reg;
    rd r = {.err = err};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    wr w = {.r = &r};
    msgpack_packer_init(&w.pk, &sb, msgpack_sbuffer_write);
    w.rc |= msgpack_pack_map(&w.pk, 2 + count_present(o, base));
    pk_str(&w, "v");
    w.rc |= msgpack_pack_uint32(&w.pk, MRUN_PROTO_VERSION);
    pk_str(&w, "t");
    pk_str(&w, mrun_msg_type_name(msg->type));
    proto_push(&r, "%s", mrun_msg_type_name(msg->type));
    if (enc_obj(&w, o, base, 0) < 0) {
        msgpack_sbuffer_destroy(&sb);
        return mrun_err_prefix(err, "encode");
    }
    if (w.rc != 0) {
        msgpack_sbuffer_destroy(&sb);
        return mrun_err_setx(err, ENOMEM, "encode %s: out of memory", mrun_msg_type_name(msg->type));
    }
    *ret_len = sb.size;
    *ret_buf = (uint8_t *)msgpack_sbuffer_release(&sb);
    return 0;
}
