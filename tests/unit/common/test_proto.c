/* test_proto.c - wire messages: round trips of every type, ~60 malformed inputs (bad ids among them) with the field
 * named in the error, and a fixed-seed mutation loop that must never crash (run under ASan/UBSan).
 * `test_proto --write-corpus DIR` writes the fuzz seeds (tests/fuzz/corpus/proto) from the same samples. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/proto.h"

static const char D1[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char D2[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/* ids as the coordinator makes them: 32 lowercase hex digits */
#define LEASE1 "9f2c4e7a1b3d5f6081a2c3d4e5f60718"
#define LEASE2 "00000000000000000000000000000001"
#define LEASE3 "ffffffffffffffffffffffffffffffff"
#define PIPE1  "6b86b273ff34fce19d6b804eff5a3f57"

static char *xs(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    return p;
}

static mrun_bytes bytes(const void *data, size_t len)
{
    mrun_bytes b = {NULL, len};
    if (len) {
        b.data = malloc(len);
        assert_non_null(b.data);
        memcpy(b.data, data, len);
    }
    return b;
}

static mrun_strv strv(size_t n, ...)
{
    mrun_strv v = {xcalloc(n, sizeof(char *)), n};
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        v.v[i] = xs(va_arg(ap, const char *));
    va_end(ap);
    return v;
}

static void sample_lease(mrun_msg_lease *l)
{
    l->lease_id = xs(LEASE1);
    l->pipeline_id = xs(PIPE1);
    l->stage_name = xs("build & test");
    l->attempt = 3;
    memcpy(l->source_digest, D1, 65);
    l->steps.n = 4;
    l->steps.v = xcalloc(4, sizeof(mrun_step));
    l->steps.v[0].name = xs("deps");
    l->steps.v[0].run = xs("npm ci\nnpm run lint");
    l->steps.v[1].name = xs("scan");
    l->steps.v[1].uses = xs("secret-scan");
    l->steps.v[1].with.n = 2;
    l->steps.v[1].with.v = xcalloc(2, sizeof(mrun_kv));
    l->steps.v[1].with.v[0] = (mrun_kv){xs("fail-on"), xs("high")};
    l->steps.v[1].with.v[1] = (mrun_kv){xs("paths"), xs("")};
    l->steps.v[1].continue_on_error = true;
    l->steps.v[2].name = xs("unit");
    l->steps.v[2].run = xs("");
    l->steps.v[3].name = xs("coverage");
    l->steps.v[3].uses = xs("coverage-gate");
    l->env.n = 3;
    l->env.v = xcalloc(3, sizeof(mrun_env_var));
    l->env.v[0] = (mrun_env_var){xs("CI"), xs("1"), false};
    l->env.v[1] = (mrun_env_var){xs("NPM_TOKEN"), xs("s3cr3t"), true};
    l->env.v[2] = (mrun_env_var){xs("_EMPTY"), xs(""), false};
    l->limits = (mrun_stage_limits){512u << 20, 256, 1500, 600000, 1ull << 33};
    l->artifacts = strv(3, "dist/", "coverage/lcov.info", "./out/app.tar.gz");
    l->inputs.n = 2;
    l->inputs.v = xcalloc(2, sizeof(mrun_input));
    l->inputs.v[0] = (mrun_input){xs("build"), xs("dist/app.js"), ""};
    memcpy(l->inputs.v[0].digest, D2, 65);
    l->inputs.v[1] = (mrun_input){xs("gen"), xs("schema.json"), ""};
    memcpy(l->inputs.v[1].digest, D1, 65);
}

/* A message of each type with non-trivial content, all malloc'd so mrun_msg_fini frees it. */
static void sample(mrun_msg_type t, mrun_msg *m)
{
    static const uint8_t bin[] = {0, 1, 0, 0xff, 'x', 0, 0xc1, 0xdd};
    mrun_msg_init(m, t);
    switch (t) {
    case MRUN_MSG_REGISTER:
        m->reg = (mrun_msg_register){xs("runner-01.eu"), xs("tok_ABC.123/+="), strv(3, "linux", "x86_64", "big-mem"), 4,
                                     xs("0.3.0 (abc123)")};
        break;
    case MRUN_MSG_REGISTER_OK:
        m->reg_ok = (mrun_msg_register_ok){xs("r-7f3a"), 5000, 30000};
        break;
    case MRUN_MSG_HEARTBEAT:
        m->heartbeat.runner_id = xs("r-7f3a");
        m->heartbeat.lease_ids = strv(3, LEASE1, LEASE2, LEASE3);
        break;
    case MRUN_MSG_HEARTBEAT_OK:
        m->heartbeat_ok.cancel_lease_ids = strv(1, LEASE2);
        break;
    case MRUN_MSG_LEASE_REQ:
        m->lease_req = (mrun_msg_lease_req){xs("r-7f3a"), 2, 25000};
        break;
    case MRUN_MSG_LEASE:
        sample_lease(&m->lease);
        break;
    case MRUN_MSG_LOG:
        m->log = (mrun_msg_log){xs(LEASE1), 7, MRUN_STREAM_STDERR, bytes(bin, sizeof(bin))};
        break;
    case MRUN_MSG_BLOB_GET:
        memcpy(m->blob_get.digest, D2, 65);
        m->blob_get.offset = 1u << 20;
        m->blob_get.max = 1u << 20;
        break;
    case MRUN_MSG_BLOB:
        memcpy(m->blob.digest, D2, 65);
        m->blob.offset = 100;
        m->blob.data = bytes(bin, sizeof(bin));
        m->blob.total_size = 108;
        m->blob.eof = true;
        break;
    case MRUN_MSG_ARTIFACT_PUT:
        m->artifact_put.lease_id = xs(LEASE1);
        m->artifact_put.path = xs("dist/app.js");
        m->artifact_put.offset = 0;
        m->artifact_put.data = bytes(bin, sizeof(bin));
        m->artifact_put.final = true;
        memcpy(m->artifact_put.sha256, D1, 65);
        m->artifact_put.total_size = sizeof(bin);
        break;
    case MRUN_MSG_RESULT:
        m->result = (mrun_msg_result){
            xs(LEASE1), 3, MRUN_RESULT_FAILED, -9, 1764349200000, 1764349260123, xs("step 'unit': killed")};
        break;
    case MRUN_MSG_ERROR:
        m->error = (mrun_msg_error){xs(MRUN_PERR_UNKNOWN_LEASE), xs("lease " LEASE1 " is not yours")};
        break;
    default: /* NO_WORK, ACK */
        break;
    }
}

static void enc(const mrun_msg *m, uint8_t **buf, size_t *len)
{
    mrun_err e = MRUN_ERR_INIT;
    if (mrun_msg_encode(m, buf, len, &e) < 0)
        fail_msg("encode %s: %s", mrun_msg_type_name(m->type), e.msg);
}

/* encode -> decode -> encode gives the same bytes; returns the decoded message in *out. */
static void round_trip(const mrun_msg *m, mrun_msg *out)
{
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t l1, l2;
    mrun_err e = MRUN_ERR_INIT;
    enc(m, &b1, &l1);
    if (mrun_msg_decode(b1, l1, NULL, out, &e) < 0)
        fail_msg("decode %s: %s", mrun_msg_type_name(m->type), e.msg);
    assert_int_equal(out->type, m->type);
    enc(out, &b2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);
}

static void test_round_trip_every_type(void **state)
{
    (void)state;
    for (int t = 1; t < MRUN_MSG_TYPE_COUNT_; t++) {
        mrun_msg m, d;
        sample((mrun_msg_type)t, &m);
        round_trip(&m, &d);
        mrun_msg_fini(&m);
        mrun_msg_fini(&d);
        assert_int_equal(d.type, MRUN_MSG_NONE);
    }
}

static void test_round_trip_fields(void **state)
{
    (void)state;
    mrun_msg m, d;
    sample(MRUN_MSG_LEASE, &m);
    round_trip(&m, &d);
    const mrun_msg_lease *l = &d.lease;
    assert_string_equal(l->lease_id, LEASE1);
    assert_string_equal(l->pipeline_id, PIPE1);
    assert_string_equal(l->stage_name, "build & test");
    assert_string_equal(l->source_digest, D1);
    assert_int_equal(l->steps.n, 4);
    assert_string_equal(l->steps.v[0].run, "npm ci\nnpm run lint");
    assert_null(l->steps.v[0].uses);
    assert_string_equal(l->steps.v[1].uses, "secret-scan");
    assert_true(l->steps.v[1].continue_on_error);
    assert_string_equal(l->steps.v[1].with.v[1].key, "paths");
    assert_string_equal(l->steps.v[1].with.v[1].value, "");
    assert_string_equal(l->steps.v[2].run, "");
    assert_int_equal(l->env.n, 3);
    assert_false(l->env.v[0].secret);
    assert_true(l->env.v[1].secret);
    assert_string_equal(l->env.v[1].value, "s3cr3t");
    assert_int_equal(l->limits.disk_bytes, 1ull << 33);
    assert_int_equal(l->limits.cpu_milli, 1500);
    assert_string_equal(l->artifacts.v[2], "./out/app.tar.gz");
    assert_string_equal(l->inputs.v[0].digest, D2);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    sample(MRUN_MSG_HEARTBEAT, &m);
    round_trip(&m, &d);
    assert_int_equal(d.heartbeat.lease_ids.n, 3);
    assert_string_equal(d.heartbeat.lease_ids.v[0], LEASE1);
    assert_string_equal(d.heartbeat.lease_ids.v[2], LEASE3);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    sample(MRUN_MSG_HEARTBEAT_OK, &m);
    round_trip(&m, &d);
    assert_int_equal(d.heartbeat_ok.cancel_lease_ids.n, 1);
    assert_string_equal(d.heartbeat_ok.cancel_lease_ids.v[0], LEASE2);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    sample(MRUN_MSG_LOG, &m);
    round_trip(&m, &d);
    assert_string_equal(d.log.lease_id, LEASE1);
    assert_int_equal(d.log.stream, MRUN_STREAM_STDERR);
    assert_int_equal(d.log.data.len, 8);
    assert_memory_equal(d.log.data.data, m.log.data.data, 8);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    sample(MRUN_MSG_RESULT, &m);
    round_trip(&m, &d);
    assert_string_equal(d.result.lease_id, LEASE1);
    assert_int_equal(d.result.exit_code, -9);
    assert_int_equal(d.result.status, MRUN_RESULT_FAILED);
    assert_int_equal(d.result.finished_ms, 1764349260123);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);
}

static void test_round_trip_empty(void **state)
{
    (void)state;
    mrun_msg m, d;
    mrun_msg_init(&m, MRUN_MSG_LEASE);
    m.lease.lease_id = xs(LEASE1);
    m.lease.pipeline_id = xs(PIPE1);
    m.lease.stage_name = xs("s");
    memcpy(m.lease.source_digest, D1, 65);
    round_trip(&m, &d);
    assert_int_equal(d.lease.steps.n, 0);
    assert_int_equal(d.lease.env.n, 0);
    assert_int_equal(d.lease.inputs.n, 0);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    mrun_msg_init(&m, MRUN_MSG_HEARTBEAT);
    m.heartbeat.runner_id = xs("r");
    round_trip(&m, &d);
    assert_int_equal(d.heartbeat.lease_ids.n, 0);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    mrun_msg_init(&m, MRUN_MSG_LOG); /* empty data, seq 0, stdout */
    m.log.lease_id = xs(LEASE1);
    round_trip(&m, &d);
    assert_int_equal(d.log.data.len, 0);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    mrun_msg_init(&m, MRUN_MSG_RESULT); /* no error_text: omitted, decodes as NULL */
    m.result.lease_id = xs(LEASE1);
    round_trip(&m, &d);
    assert_null(d.result.error_text);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);
}

static void test_round_trip_max_sizes(void **state)
{
    (void)state;
    mrun_msg m, d;
    uint8_t *big = malloc(MRUN_PROTO_MAX_CHUNK + 1);
    assert_non_null(big);
    for (size_t i = 0; i <= MRUN_PROTO_MAX_CHUNK; i++)
        big[i] = (uint8_t)(i * 7);

    mrun_msg_init(&m, MRUN_MSG_LOG);
    m.log.lease_id = xs(LEASE1);
    m.log.data = bytes(big, MRUN_PROTO_MAX_LOG_DATA);
    m.log.seq = UINT64_MAX;
    round_trip(&m, &d);
    assert_memory_equal(d.log.data.data, big, MRUN_PROTO_MAX_LOG_DATA);
    mrun_msg_fini(&d);
    free(m.log.data.data);
    m.log.data = bytes(big, MRUN_PROTO_MAX_LOG_DATA + 1);
    uint8_t *out = NULL;
    size_t len = 0;
    mrun_err e = MRUN_ERR_INIT;
    assert_int_equal(mrun_msg_encode(&m, &out, &len, &e), -1);
    assert_int_equal(e.sys_errno, E2BIG);
    assert_non_null(strstr(e.msg, "log.data"));
    mrun_msg_fini(&m);

    mrun_msg_init(&m, MRUN_MSG_ARTIFACT_PUT);
    m.artifact_put.lease_id = xs(LEASE1);
    m.artifact_put.path = xs("a/b");
    m.artifact_put.data = bytes(big, MRUN_PROTO_MAX_CHUNK);
    m.artifact_put.total_size = UINT64_MAX;
    m.artifact_put.offset = UINT64_MAX - MRUN_PROTO_MAX_CHUNK;
    round_trip(&m, &d);
    assert_memory_equal(d.artifact_put.data.data, big, MRUN_PROTO_MAX_CHUNK);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    mrun_proto_limits lim = MRUN_PROTO_LIMITS_DEFAULT;
    char *s = malloc(lim.max_str + 2);
    assert_non_null(s);
    memset(s, 'x', lim.max_str + 1);
    s[lim.max_str] = '\0';
    mrun_msg_init(&m, MRUN_MSG_ERROR);
    m.error.code = xs("internal");
    m.error.message = s;
    round_trip(&m, &d);
    assert_int_equal(strlen(d.error.message), lim.max_str);
    mrun_msg_fini(&d);
    s[lim.max_str] = 'x';
    s[lim.max_str + 1] = '\0';
    assert_int_equal(mrun_msg_encode(&m, &out, &len, &e), 0);
    assert_int_equal(mrun_msg_decode(out, len, &lim, &d, &e), -1);
    assert_int_equal(e.sys_errno, E2BIG);
    assert_string_equal(e.msg, "error.message: string of 65537 bytes, at most 65536 allowed");
    free(out);
    mrun_msg_fini(&m);
    free(big);
}

/* ---- malformed inputs ---- */

typedef struct pk {
    msgpack_sbuffer sb;
    msgpack_packer p;
} pk;

static void pk_init(pk *k)
{
    msgpack_sbuffer_init(&k->sb);
    msgpack_packer_init(&k->p, &k->sb, msgpack_sbuffer_write);
}

static void s(pk *k, const char *str)
{
    msgpack_pack_str(&k->p, strlen(str));
    msgpack_pack_str_body(&k->p, str, strlen(str));
}

/* Starts {"v":1,"t":type} with n more entries. */
static void head(pk *k, const char *type, size_t n)
{
    pk_init(k);
    msgpack_pack_map(&k->p, n + 2);
    s(k, "v");
    msgpack_pack_uint8(&k->p, 1);
    s(k, "t");
    s(k, type);
}

static void expect_fail_lim(const void *buf, size_t len, const mrun_proto_limits *lim, int code, const char *msg)
{
    mrun_msg m;
    mrun_msg_init(&m, MRUN_MSG_ACK);
    mrun_err e = MRUN_ERR_INIT;
    if (mrun_msg_decode(buf, len, lim, &m, &e) == 0)
        fail_msg("decoded, expected '%s'", msg);
    assert_int_equal(m.type, MRUN_MSG_ACK); /* ret_ untouched on failure */
    if (!strstr(e.msg, msg))
        fail_msg("got '%s', expected '%s'", e.msg, msg);
    assert_int_equal(e.sys_errno, code);
}

static void expect_fail(pk *k, int code, const char *msg)
{
    expect_fail_lim(k->sb.data, k->sb.size, NULL, code, msg);
    msgpack_sbuffer_destroy(&k->sb);
}

/* Encodes a struct the encoder accepts but the receiver must refuse. */
static void expect_fail_msg(mrun_msg *m, int code, const char *msg)
{
    uint8_t *b;
    size_t l;
    enc(m, &b, &l);
    expect_fail_lim(b, l, NULL, code, msg);
    free(b);
    mrun_msg_fini(m);
}

static void test_envelope(void **state)
{
    (void)state;
    pk k;
    pk_init(&k);
    msgpack_pack_map(&k.p, 2);
    s(&k, "v");
    msgpack_pack_uint8(&k.p, 2);
    s(&k, "t");
    s(&k, "lease");
    expect_fail(&k, EPROTO, "protocol version 2, this side speaks version 1");

    pk_init(&k);
    msgpack_pack_map(&k.p, 2);
    s(&k, "t");
    s(&k, "ack");
    s(&k, "v");
    msgpack_pack_uint8(&k.p, 1);
    expect_fail(&k, EPROTO, "message: first key: expected key \"v\" here");

    pk_init(&k);
    msgpack_pack_map(&k.p, 2);
    s(&k, "v");
    s(&k, "1");
    expect_fail(&k, EPROTO, "first key: expected an integer, got a string");

    head(&k, "frobnicate\n'x", 0);
    expect_fail(&k, EPROTO, "unknown message type 'frobnicate??x'");

    pk_init(&k);
    msgpack_pack_array(&k.p, 2);
    s(&k, "v");
    s(&k, "t");
    expect_fail(&k, EPROTO, "message: expected a map, got an array");

    pk_init(&k);
    msgpack_pack_map(&k.p, 1);
    s(&k, "v");
    msgpack_pack_uint8(&k.p, 1);
    expect_fail(&k, EPROTO, "\"v\" and \"t\" are required");

    head(&k, "ack", 0);
    msgpack_pack_nil(&k.p);
    expect_fail(&k, EPROTO, "1 trailing bytes");

    expect_fail_lim("", 0, NULL, EPROTO, "truncated");
    expect_fail_lim("\xc1", 1, NULL, EPROTO, "invalid msgpack byte 0xc1");
    mrun_proto_limits lim = MRUN_PROTO_LIMITS_DEFAULT;
    lim.max_msg = 10;
    expect_fail_lim("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", 11, &lim, E2BIG, "message of 11 bytes");
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    for (int t = 1; t < MRUN_MSG_TYPE_COUNT_; t++) {
        mrun_msg m;
        uint8_t *b;
        size_t l;
        sample((mrun_msg_type)t, &m);
        enc(&m, &b, &l);
        for (size_t cut = 0; cut < l; cut++) {
            uint8_t *c = malloc(cut ? cut : 1); /* exact size so ASan sees any overread */
            assert_non_null(c);
            memcpy(c, b, cut);
            expect_fail_lim(c, cut, NULL, EPROTO, "truncated");
            free(c);
        }
        free(b);
        mrun_msg_fini(&m);
    }
}

static void test_huge_counts_fail_fast(void **state)
{
    (void)state;
    /* 10 bytes: a map32 claiming 2^32-1 entries. Any allocation of that size would abort under ASan. */
    static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01, 0xa1, 't'};
    mrun_proto_limits lim = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX}; /* only the input bounds it */
    expect_fail_lim(map32, sizeof(map32), &lim, EPROTO, "truncated: map of 4294967295 entries in 5 bytes");
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0};
    expect_fail_lim(arr32, sizeof(arr32), &lim, EPROTO, "truncated: array of 4294967295 entries");

    pk k;
    head(&k, "heartbeat", 2);
    s(&k, "runner_id");
    s(&k, "r");
    s(&k, "lease_ids");
    msgpack_pack_array(&k.p, UINT32_MAX);
    s(&k, LEASE1);
    expect_fail_lim(k.sb.data, k.sb.size, &lim, EPROTO, "heartbeat.lease_ids: truncated: array of 4294967295");
    expect_fail(&k, EPROTO, "heartbeat.lease_ids: truncated");

    head(&k, "error", 2);
    s(&k, "code");
    s(&k, "x");
    s(&k, "message");
    msgpack_pack_str(&k.p, UINT32_MAX); /* str32 with 4 GiB claimed, nothing behind it */
    expect_fail(&k, EPROTO, "error.message: truncated");

    head(&k, "log", 1);
    s(&k, "data");
    msgpack_pack_bin(&k.p, UINT32_MAX);
    expect_fail(&k, EPROTO, "log.data: truncated");
}

static void test_limits(void **state)
{
    (void)state;
    pk k;
    mrun_proto_limits lim = MRUN_PROTO_LIMITS_DEFAULT;
    lim.max_items = 3;
    lim.max_map = 8;
    head(&k, "heartbeat", 2);
    s(&k, "runner_id");
    s(&k, "r");
    s(&k, "lease_ids");
    msgpack_pack_array(&k.p, 4);
    for (int i = 0; i < 4; i++)
        s(&k, LEASE1);
    expect_fail_lim(k.sb.data, k.sb.size, &lim, E2BIG, "heartbeat.lease_ids: 4 entries, at most 3 allowed");
    msgpack_sbuffer_destroy(&k.sb);

    head(&k, "ack", 7); /* 9 entries with v and t */
    for (int i = 0; i < 7; i++) {
        char key[8];
        snprintf(key, sizeof(key), "x%d", i);
        s(&k, key);
        msgpack_pack_nil(&k.p);
    }
    expect_fail_lim(k.sb.data, k.sb.size, &lim, E2BIG, "message: 9 entries, at most 8 allowed");
    msgpack_sbuffer_destroy(&k.sb);

    head(&k, "ack", 1); /* unknown keys are skipped, but within the depth limit */
    s(&k, "future");
    for (int i = 0; i < 8; i++)
        msgpack_pack_array(&k.p, 1);
    msgpack_pack_nil(&k.p);
    expect_fail(&k, E2BIG, "nested deeper than 8");

    head(&k, "log", 4);
    s(&k, "lease_id");
    s(&k, LEASE1);
    s(&k, "seq");
    msgpack_pack_uint8(&k.p, 0);
    s(&k, "stream");
    msgpack_pack_uint8(&k.p, 0);
    s(&k, "data");
    static uint8_t zero[MRUN_PROTO_MAX_LOG_DATA + 1];
    msgpack_pack_bin(&k.p, sizeof(zero));
    msgpack_pack_bin_body(&k.p, zero, sizeof(zero));
    expect_fail(&k, E2BIG, "log.data: 65537 bytes of data, at most 65536 allowed");
}

static void test_unknown_keys_ignored(void **state)
{
    (void)state;
    pk k;
    head(&k, "lease_req", 5);
    s(&k, "future_map");
    msgpack_pack_map(&k.p, 1);
    s(&k, "a");
    msgpack_pack_array(&k.p, 2);
    msgpack_pack_double(&k.p, 1.5);
    msgpack_pack_ext(&k.p, 3, 7);
    msgpack_pack_ext_body(&k.p, "abc", 3);
    s(&k, "runner_id");
    s(&k, "r-1");
    s(&k, "free_slots");
    msgpack_pack_uint8(&k.p, 1);
    s(&k, "wait_ms");
    msgpack_pack_uint16(&k.p, 30000);
    s(&k, "zz");
    msgpack_pack_int8(&k.p, -3);
    mrun_msg m;
    mrun_err e = MRUN_ERR_INIT;
    if (mrun_msg_decode((const uint8_t *)k.sb.data, k.sb.size, NULL, &m, &e) < 0)
        fail_msg("%s", e.msg);
    assert_int_equal(m.type, MRUN_MSG_LEASE_REQ);
    assert_string_equal(m.lease_req.runner_id, "r-1");
    assert_int_equal(m.lease_req.wait_ms, 30000);
    mrun_msg_fini(&m);
    msgpack_sbuffer_destroy(&k.sb);
}

static void test_wrong_types_and_keys(void **state)
{
    (void)state;
    pk k;
    mrun_msg m;
    uint8_t *b;
    size_t l;

    /* lease.steps[3].run as an integer: re-pack the sample lease with a patched step */
    sample(MRUN_MSG_LEASE, &m);
    free(m.lease.steps.v[3].uses);
    m.lease.steps.v[3].uses = NULL;
    m.lease.steps.v[3].run = xs("@@@@");
    enc(&m, &b, &l);
    uint8_t *at = memmem(b, l, "\xa4@@@@", 5);
    assert_non_null(at);
    memcpy(at, "\x05\xc0\xc0\xc0\xc0", 5); /* "run": 5, and nils after it (never read) */
    mrun_msg_fini(&m);
    expect_fail_lim(b, l, NULL, EPROTO, "lease.steps[3].run: expected a string, got an integer");
    free(b);

    head(&k, "register", 4);
    s(&k, "runner_name");
    s(&k, "r");
    s(&k, "slots");
    msgpack_pack_uint8(&k.p, 1);
    s(&k, "mrun_version");
    s(&k, "1");
    s(&k, "labels");
    msgpack_pack_array(&k.p, 0);
    expect_fail(&k, EPROTO, "register.token: required key missing");

    head(&k, "register_ok", 3);
    s(&k, "runner_id");
    s(&k, "r");
    s(&k, "heartbeat_ms");
    msgpack_pack_uint64(&k.p, 1ull << 32);
    s(&k, "lease_timeout_ms");
    msgpack_pack_uint8(&k.p, 1);
    expect_fail(&k, EPROTO, "register_ok.heartbeat_ms: 4294967296 out of range");

    head(&k, "register_ok", 2);
    s(&k, "runner_id");
    s(&k, "r");
    s(&k, "runner_id");
    s(&k, "r");
    expect_fail(&k, EPROTO, "register_ok.runner_id: duplicate key");

    head(&k, "heartbeat", 2);
    s(&k, "runner_id");
    s(&k, "r");
    s(&k, "lease_ids");
    msgpack_pack_array(&k.p, 2);
    s(&k, LEASE1);
    msgpack_pack_uint64(&k.p, 42); /* the old integer ids */
    expect_fail(&k, EPROTO, "heartbeat.lease_ids[1]: expected a string, got an integer");

    head(&k, "result", 1);
    s(&k, "lease_id");
    msgpack_pack_uint64(&k.p, 42);
    expect_fail(&k, EPROTO, "result.lease_id: expected a string, got an integer");

    head(&k, "artifact_put", 1);
    s(&k, "lease_id");
    msgpack_pack_nil(&k.p);
    expect_fail(&k, EPROTO, "artifact_put.lease_id: expected a string, got nil");

    head(&k, "error", 2);
    s(&k, "code");
    s(&k, "x");
    s(&k, "message");
    msgpack_pack_str(&k.p, 3);
    msgpack_pack_str_body(&k.p, "a\0b", 3);
    expect_fail(&k, EPROTO, "error.message: NUL byte in string");

    head(&k, "log", 4);
    s(&k, "lease_id");
    s(&k, LEASE1);
    s(&k, "seq");
    msgpack_pack_uint8(&k.p, 0);
    s(&k, "stream");
    msgpack_pack_uint8(&k.p, 3);
    s(&k, "data");
    s(&k, "text, not bin");
    expect_fail(&k, EPROTO, "log.stream: 3 out of range (at most 2)");

    head(&k, "log", 1);
    s(&k, "data");
    s(&k, "text, not bin");
    expect_fail(&k, EPROTO, "log.data: expected binary data, got a string");

    head(&k, "lease", 1);
    s(&k, "env");
    msgpack_pack_map(&k.p, 2);
    s(&k, "A");
    s(&k, "1");
    s(&k, "A");
    s(&k, "2");
    expect_fail(&k, EPROTO, "lease.env: duplicate key \"A\"");

    head(&k, "lease", 1);
    s(&k, "env");
    msgpack_pack_map(&k.p, 1);
    s(&k, "1BAD");
    s(&k, "1");
    expect_fail(&k, EPROTO, "lease.env{key 0}: must match [A-Za-z_][A-Za-z0-9_]*");

    head(&k, "lease", 1);
    s(&k, "steps");
    msgpack_pack_array(&k.p, 1);
    msgpack_pack_map(&k.p, 1);
    s(&k, "name");
    s(&k, "x");
    expect_fail(&k, EPROTO, "lease.steps[0]: exactly one of \"run\" and \"uses\" is required");
}

static void test_validation(void **state)
{
    (void)state;
    mrun_msg m;

    sample(MRUN_MSG_LEASE, &m);
    m.lease.source_digest[5] = 'A';
    expect_fail_msg(&m, EPROTO, "lease.source_digest: expected 64 lowercase hex characters");

    sample(MRUN_MSG_LEASE, &m);
    m.lease.inputs.v[1].digest[63] = 'g';
    expect_fail_msg(&m, EPROTO, "lease.inputs[1].digest: expected 64 lowercase hex characters");

    pk k;
    head(&k, "blob_get", 1);
    s(&k, "digest");
    s(&k, D1 + 1);
    expect_fail(&k, EPROTO, "blob_get.digest: expected 64 lowercase hex characters, got 63 bytes");

    sample(MRUN_MSG_LEASE, &m);
    free(m.lease.artifacts.v[1]);
    m.lease.artifacts.v[1] = xs("dist/../../etc/passwd");
    expect_fail_msg(&m, EPROTO, "lease.artifacts[1]: \"..\" in path");

    sample(MRUN_MSG_LEASE, &m);
    free(m.lease.inputs.v[0].path);
    m.lease.inputs.v[0].path = xs("..");
    expect_fail_msg(&m, EPROTO, "lease.inputs[0].path: \"..\" in path");

    sample(MRUN_MSG_ARTIFACT_PUT, &m);
    free(m.artifact_put.path);
    m.artifact_put.path = xs("/etc/shadow");
    expect_fail_msg(&m, EPROTO, "artifact_put.path: absolute path");

    sample(MRUN_MSG_ARTIFACT_PUT, &m);
    free(m.artifact_put.path);
    m.artifact_put.path = xs("a//b");
    expect_fail_msg(&m, EPROTO, "artifact_put.path: empty path component");

    sample(MRUN_MSG_ARTIFACT_PUT, &m);
    m.artifact_put.sha256[0] = '\0';
    expect_fail_msg(&m, EPROTO, "artifact_put.sha256: required when final");

    sample(MRUN_MSG_ARTIFACT_PUT, &m);
    m.artifact_put.total_size = 100;
    expect_fail_msg(&m, EPROTO, "artifact_put: final chunk does not end at total_size");

    sample(MRUN_MSG_BLOB, &m);
    m.blob.total_size = 101;
    expect_fail_msg(&m, EPROTO, "blob: offset 100 + 8 bytes is past total_size 101");

    sample(MRUN_MSG_REGISTER, &m);
    free(m.reg.labels.v[2]);
    m.reg.labels.v[2] = xs("Big-Mem");
    expect_fail_msg(&m, EPROTO, "register.labels[2]: must match [a-z0-9_.-]+");

    sample(MRUN_MSG_REGISTER, &m);
    m.reg.slots = 0;
    expect_fail_msg(&m, EPROTO, "register.slots: must be at least 1");

    sample(MRUN_MSG_REGISTER, &m);
    free(m.reg.runner_name);
    m.reg.runner_name = xs("runner 1");
    expect_fail_msg(&m, EPROTO, "register.runner_name: must match [A-Za-z0-9_.-]+");

    /* ids: [A-Za-z0-9_.-]+, at most MRUN_PROTO_MAX_NAME bytes; the encoder does not check, the decoder must */
    sample(MRUN_MSG_LOG, &m);
    free(m.log.lease_id);
    m.log.lease_id = xs("a/b");
    expect_fail_msg(&m, EPROTO, "log.lease_id: must match [A-Za-z0-9_.-]+");

    sample(MRUN_MSG_LEASE, &m);
    free(m.lease.pipeline_id);
    m.lease.pipeline_id = xs("../" PIPE1);
    expect_fail_msg(&m, EPROTO, "lease.pipeline_id: must match [A-Za-z0-9_.-]+");

    sample(MRUN_MSG_ARTIFACT_PUT, &m);
    free(m.artifact_put.lease_id);
    m.artifact_put.lease_id = xs("");
    expect_fail_msg(&m, EPROTO, "artifact_put.lease_id: must not be empty");

    sample(MRUN_MSG_HEARTBEAT, &m);
    free(m.heartbeat.lease_ids.v[1]);
    m.heartbeat.lease_ids.v[1] = xs(LEASE2 "\n");
    expect_fail_msg(&m, EPROTO, "heartbeat.lease_ids[1]: must match [A-Za-z0-9_.-]+");

    char longid[MRUN_PROTO_MAX_NAME + 2];
    memset(longid, 'f', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0'; /* 129 bytes */
    sample(MRUN_MSG_RESULT, &m);
    free(m.result.lease_id);
    m.result.lease_id = xs(longid);
    expect_fail_msg(&m, E2BIG, "result.lease_id: string of 129 bytes, at most 128 allowed");

    sample(MRUN_MSG_HEARTBEAT_OK, &m);
    free(m.heartbeat_ok.cancel_lease_ids.v[0]);
    m.heartbeat_ok.cancel_lease_ids.v[0] = xs(longid);
    expect_fail_msg(&m, E2BIG, "heartbeat_ok.cancel_lease_ids[0]: string of 129 bytes, at most 128 allowed");

    longid[MRUN_PROTO_MAX_NAME] = '\0'; /* exactly 128 bytes: accepted */
    mrun_msg d;
    sample(MRUN_MSG_RESULT, &m);
    free(m.result.lease_id);
    m.result.lease_id = xs(longid);
    round_trip(&m, &d);
    assert_string_equal(d.result.lease_id, longid);
    mrun_msg_fini(&m);
    mrun_msg_fini(&d);

    sample(MRUN_MSG_LEASE, &m);
    free(m.lease.stage_name);
    m.lease.stage_name = xs("");
    expect_fail_msg(&m, EPROTO, "lease.stage_name: must not be empty");

    sample(MRUN_MSG_LEASE, &m);
    free(m.lease.steps.v[2].name);
    m.lease.steps.v[2].name = xs("a\x1b[2Jb");
    expect_fail_msg(&m, EPROTO, "lease.steps[2].name: control character in name");

    sample(MRUN_MSG_LEASE, &m);
    m.lease.steps.v[0].uses = xs("x");
    expect_fail_msg(&m, EPROTO, "lease.steps[0]: exactly one of");

    sample(MRUN_MSG_RESULT, &m);
    m.result.finished_ms = m.result.started_ms - 1;
    expect_fail_msg(&m, EPROTO, "result.finished_ms: before started_ms");

    head(&k, "result", 1);
    s(&k, "status");
    s(&k, "ok");
    expect_fail(&k, EPROTO, "result.status: unknown value");

    head(&k, "lease", 2); /* a secret that is not in env */
    s(&k, "env");
    msgpack_pack_map(&k.p, 0);
    s(&k, "secrets");
    msgpack_pack_array(&k.p, 1);
    s(&k, "TOKEN");
    expect_fail(&k, EPROTO, "lease.lease_id: required key missing");
    /* with all required keys, the secrets rule is reached */
    sample(MRUN_MSG_LEASE, &m);
    uint8_t *b;
    size_t l;
    enc(&m, &b, &l);
    uint8_t *at = memmem(b, l, "\xa9NPM_TOKEN\xa6s3cr3t", 17);
    assert_non_null(at);
    memcpy(at + 1, "NPM_TOKEX", 9); /* rename the env var; "secrets" still says NPM_TOKEN */
    expect_fail_lim(b, l, NULL, EPROTO, "lease.secrets[0]: \"NPM_TOKEN\" is not in env");
    free(b);
    mrun_msg_fini(&m);
}

static void test_encode_errors(void **state)
{
    (void)state;
    mrun_msg m;
    uint8_t *b = NULL;
    size_t l = 0;
    mrun_err e = MRUN_ERR_INIT;
    sample(MRUN_MSG_LEASE, &m);
    free(m.lease.steps.v[1].name);
    m.lease.steps.v[1].name = NULL;
    assert_int_equal(mrun_msg_encode(&m, &b, &l, &e), -1);
    assert_string_equal(e.msg, "encode: lease.steps[1].name: required string is NULL");
    assert_int_equal(e.sys_errno, EINVAL);
    assert_null(b);
    mrun_msg_fini(&m);
    sample(MRUN_MSG_HEARTBEAT, &m);
    free(m.heartbeat.lease_ids.v[2]);
    m.heartbeat.lease_ids.v[2] = NULL;
    assert_int_equal(mrun_msg_encode(&m, &b, &l, &e), -1);
    assert_string_equal(e.msg, "encode: heartbeat.lease_ids[2]: required string is NULL");
    mrun_msg_fini(&m);
    mrun_msg_init(&m, MRUN_MSG_LOG); /* ids are required strings now: no default 0 */
    assert_int_equal(mrun_msg_encode(&m, &b, &l, &e), -1);
    assert_string_equal(e.msg, "encode: log.lease_id: required string is NULL");
    assert_null(b);
    mrun_msg_init(&m, MRUN_MSG_NONE);
    assert_int_equal(mrun_msg_encode(&m, &b, &l, &e), -1);
    mrun_msg_fini(NULL);
    assert_string_equal(mrun_msg_type_name(MRUN_MSG_ARTIFACT_PUT), "artifact_put");
    assert_string_equal(mrun_result_status_name(MRUN_RESULT_CANCELLED), "cancelled");
    assert_string_equal(mrun_msg_type_name((mrun_msg_type)99), "?");
}

/* ---- mutation loop ---- */

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Decodes; on success re-encodes, and the re-encoding must decode to the same bytes again. */
static int check_input(const uint8_t *buf, size_t len, const mrun_proto_limits *lim)
{
    mrun_msg m, m2;
    mrun_err e = MRUN_ERR_INIT;
    if (mrun_msg_decode(buf, len, lim, &m, &e) < 0) {
        assert_true(e.msg[0] != '\0');
        return 0;
    }
    uint8_t *b1, *b2;
    size_t l1, l2;
    enc(&m, &b1, &l1);
    if (mrun_msg_decode(b1, l1, NULL, &m2, &e) < 0)
        fail_msg("re-encoded %s does not decode: %s", mrun_msg_type_name(m.type), e.msg);
    enc(&m2, &b2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);
    mrun_msg_fini(&m);
    mrun_msg_fini(&m2);
    return 1;
}

static void test_mutations_never_crash(void **state)
{
    (void)state;
    static const uint8_t magic[] = {0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xc4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff};
    mrun_proto_limits small = {4096, 64, 8, 8, 64, 4};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int ok = 0, total = 0;
    for (int t = 1; t < MRUN_MSG_TYPE_COUNT_; t++) {
        mrun_msg m;
        uint8_t *b;
        size_t l;
        sample((mrun_msg_type)t, &m);
        enc(&m, &b, &l);
        mrun_msg_fini(&m);
        for (int iter = 0; iter < 3000; iter++) {
            size_t cap = l + 16;
            uint8_t *c = malloc(cap);
            assert_non_null(c);
            memcpy(c, b, l);
            size_t n = l;
            int edits = 1 + (int)(xorshift(&x) % 4);
            for (int j = 0; j < edits && n > 0; j++) {
                size_t pos = xorshift(&x) % n;
                switch (xorshift(&x) % 5) {
                case 0:
                    c[pos] ^= (uint8_t)(1u << (xorshift(&x) % 8));
                    break;
                case 1:
                    c[pos] = magic[xorshift(&x) % sizeof(magic)];
                    break;
                case 2:
                    n = pos;
                    break; /* truncate */
                case 3:
                    if (n < cap) {
                        memmove(c + pos + 1, c + pos, n - pos);
                        c[pos] = (uint8_t)xorshift(&x);
                        n++;
                    }
                    break;
                default:
                    memmove(c + pos, c + pos + 1, n - pos - 1);
                    n--;
                    break;
                }
            }
            uint8_t *exact = malloc(n ? n : 1); /* exact size so ASan catches overreads */
            assert_non_null(exact);
            memcpy(exact, c, n);
            ok += check_input(exact, n, iter % 4 == 3 ? &small : NULL);
            total++;
            free(exact);
            free(c);
        }
        free(b);
    }
    print_message("mutations: %d of %d still decoded\n", ok, total);
}

/* ---- corpus writer ---- */

static void put(const char *dir, const char *name, const uint8_t *b, size_t l)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, l, f) != l || fclose(f) != 0) {
        fprintf(stderr, "%s: write failed\n", path);
        exit(1);
    }
}

static int write_corpus(const char *dir)
{
    int files = 0;
    uint64_t x = 12345;
    for (int t = 1; t < MRUN_MSG_TYPE_COUNT_; t++) {
        mrun_msg m;
        uint8_t *b;
        size_t l;
        char name[64];
        sample((mrun_msg_type)t, &m);
        enc(&m, &b, &l);
        snprintf(name, sizeof(name), "ok_%s.bin", mrun_msg_type_name(m.type));
        put(dir, name, b, l), files++;
        if (l > 8 && t % 2 == 0) {
            snprintf(name, sizeof(name), "trunc_%s.bin", mrun_msg_type_name(m.type));
            put(dir, name, b, l / 2), files++;
        }
        if (l > 8 && t % 2 == 1) {
            b[8 + xorshift(&x) % (l - 8)] ^= 0x41;
            snprintf(name, sizeof(name), "corrupt_%s.bin", mrun_msg_type_name(m.type));
            put(dir, name, b, l), files++;
        }
        free(b);
        mrun_msg_fini(&m);
    }
    static const uint8_t v2[] = {0x82, 0xa1, 'v', 0x02, 0xa1, 't', 0xa3, 'a', 'c', 'k'};
    static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01, 0xa1, 't'};
    static const uint8_t unknown[] = {0x82, 0xa1, 'v', 0x01, 0xa1, 't', 0xa4, 'n', 'o', 'p', 'e'};
    static const uint8_t deep[] = {0x83, 0xa1, 'v',  0x01, 0xa1, 't',  0xa3, 'a',  'c',  'k',  0xa1,
                                   'x',  0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0};
    put(dir, "bad_version.bin", v2, sizeof(v2));
    put(dir, "bad_map32.bin", map32, sizeof(map32));
    put(dir, "bad_type.bin", unknown, sizeof(unknown));
    put(dir, "bad_deep.bin", deep, sizeof(deep));
    files += 4;
    /* well-formed logs whose lease_id the decoder must refuse: a path separator, 129 bytes, an integer (the old
     * format) */
    char longid[MRUN_PROTO_MAX_NAME + 2];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    static const char *const bad_names[] = {"bad_id_char.bin", "bad_id_long.bin", "bad_id_int.bin"};
    for (int i = 0; i < 3; i++) {
        pk k;
        head(&k, "log", 4);
        s(&k, "lease_id");
        if (i < 2)
            s(&k, i == 0 ? "a/b" : longid);
        else
            msgpack_pack_uint64(&k.p, 42);
        s(&k, "seq");
        msgpack_pack_uint8(&k.p, 0);
        s(&k, "stream");
        msgpack_pack_uint8(&k.p, 0);
        s(&k, "data");
        msgpack_pack_bin(&k.p, 2);
        msgpack_pack_bin_body(&k.p, "hi", 2);
        put(dir, bad_names[i], (const uint8_t *)k.sb.data, k.sb.size), files++;
        msgpack_sbuffer_destroy(&k.sb);
    }
    printf("wrote %d files to %s\n", files, dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_round_trip_fields),
        cmocka_unit_test(test_round_trip_empty),
        cmocka_unit_test(test_round_trip_max_sizes),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_huge_counts_fail_fast),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_wrong_types_and_keys),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
