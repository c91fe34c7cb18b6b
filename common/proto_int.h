/* proto_int.h - private to common/proto*.c: the field tables that drive decoding, encoding and freeing, and the
 * reader state that carries the dotted field path for error messages. */
#ifndef MRUN_PROTO_INT_H
#define MRUN_PROTO_INT_H

#include <string.h>

#include "proto.h"

_Static_assert(sizeof(mrun_log_stream) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(mrun_result_status) == sizeof(int), "enums are stored as int");

/* How a field is stored in C and on the wire. */
enum kind {
    F_U64,     /* uint64_t */
    F_U32,     /* uint32_t, at most max (0: UINT32_MAX) */
    F_I64,     /* int64_t */
    F_I32,     /* int32_t */
    F_BOOL,    /* bool */
    F_STR,     /* char *, checked by `check`, at most max bytes (0: lim->max_str) */
    F_HEX,     /* char[65], 64 lowercase hex */
    F_BIN,     /* mrun_bytes, at most max bytes */
    F_STRV,    /* mrun_strv, each checked by `check` */
    F_KVV,     /* mrun_kvv; keys checked by `check`, unique */
    F_ENV,     /* mrun_envv as the "env" map */
    F_SECRETS, /* the secret names of the mrun_envv at off, as an array (decoded into rd.secrets) */
    F_ENUMI,   /* int enum as an integer in [0, max] */
    F_ENUMS,   /* int enum as one of names[] */
    F_OBJ,     /* nested struct described by sub */
    F_OBJV,    /* {T *v; size_t n} of structs described by sub */
};

enum check { C_ANY, C_NAME, C_ID, C_LABEL, C_PATH, C_ENV, C_PRINT, C_WITH };

struct obj;
typedef struct rd rd;

/* One key of a wire object and where it lives in the C struct (off from the struct's start). Tables are static
 * const. */
struct field {
    const char *key;
    unsigned char kind, check, req;
    size_t off;
    uint64_t max;
    const struct obj *sub;
    const char *const *names;
};

struct obj {
    const struct field *f;
    size_t nf; /* at most 32: decoding tracks the keys seen in a uint32_t */
    size_t size;
    int (*post)(rd *r, char *base); /* cross-field rules, after all keys are read */
};

/* The reader: a cursor over the input plus the dotted path of the value being read ("lease.steps[3].run"), for
 * error messages. Encoding uses only path, plen and err. One per call, on the stack. */
struct rd {
    const uint8_t *p, *end;
    const mrun_proto_limits *lim;
    size_t depth;
    mrun_strv secrets; /* scratch for lease.secrets until proto_lease_post matches them to env */
    mrun_err *err;
    size_t plen;
    char path[192];
};

extern const struct obj proto_msg_objs[MRUN_MSG_TYPE_COUNT_]; /* by message type; NONE, NO_WORK, ACK have no fields */

/* Errors as "<path>: <cause>" (just the cause at the top level); return -1. */
int proto_fail(rd *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends a path segment; returns the old length to hand back to proto_pop. */
size_t proto_push(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void proto_pop(rd *r, size_t old);

/* Cross-field rules, run after all keys of an object are read (proto_dec.c). */
int proto_register_post(rd *r, char *base);
int proto_step_post(rd *r, char *base);
int proto_lease_post(rd *r, char *base);
int proto_blob_post(rd *r, char *base);
int proto_artifact_post(rd *r, char *base);
int proto_result_post(rd *r, char *base);

/* {T *v; size_t n} containers all share one layout; read and write them without type punning. */
static inline void *vec_ptr(const char *at)
{
    void *v;
    memcpy(&v, at, sizeof(v));
    return v;
}

static inline size_t vec_len(const char *at)
{
    size_t n;
    memcpy(&n, at + sizeof(void *), sizeof(n));
    return n;
}

static inline void vec_set(char *at, void *v, size_t n)
{
    memcpy(at, &v, sizeof(v));
    memcpy(at + sizeof(void *), &n, sizeof(n));
}

#endif
