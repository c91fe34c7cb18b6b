/* test_mask.c - secret masking across chunk boundaries, overlapping values, short values, and a brute-force
 * check of every split of a stream against masking it whole. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mask.h"

typedef struct sink {
    char buf[8192];
    size_t n;
} sink;

static void collect(void *ctx, const char *data, size_t len)
{
    sink *s = ctx;
    assert_true(s->n + len < sizeof(s->buf));
    memcpy(s->buf + s->n, data, len);
    s->n += len;
    s->buf[s->n] = '\0';
}

static void mask_chunks(const char *const *values, size_t nv, const char *const *chunks, size_t nc, sink *out)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_mask *m = NULL;
    memset(out, 0, sizeof(*out));
    assert_int_equal(mrun_mask_new(values, nv, collect, out, &m, &err), 0);
    for (size_t i = 0; i < nc; i++)
        mrun_mask_feed(m, chunks[i], strlen(chunks[i]));
    mrun_mask_flush(m);
    mrun_mask_free(m);
}

static void test_whole_and_split(void **state)
{
    (void)state;
    const char *const v[] = {"hunter2secret"};
    sink out;
    const char *const whole[] = {"token=hunter2secret done\n"};
    mask_chunks(v, 1, whole, 1, &out);
    assert_string_equal(out.buf, "token=*** done\n");
    const char *const split[] = {"token=hun", "ter2sec", "ret done\n"};
    mask_chunks(v, 1, split, 3, &out);
    assert_string_equal(out.buf, "token=*** done\n");
    const char *const bytes[] = {"h", "u", "n", "t", "e", "r", "2", "s", "e", "c", "r", "e", "t"};
    mask_chunks(v, 1, bytes, 13, &out);
    assert_string_equal(out.buf, "***");
}

static void test_prefix_not_secret_is_released(void **state)
{
    (void)state;
    const char *const v[] = {"abcdef"};
    sink out;
    const char *const c[] = {"xxabc", "dXabcde"};
    mask_chunks(v, 1, c, 2, &out);
    assert_string_equal(out.buf, "xxabcdXabcde"); /* held "abc" and "abcde" come out in the end */
}

static void test_overlapping_longest_wins(void **state)
{
    (void)state;
    const char *const v[] = {"pass", "password123"};
    sink out;
    const char *const c[] = {"a password123 and pass and passw"};
    mask_chunks(v, 2, c, 1, &out);
    assert_string_equal(out.buf, "a *** and *** and ***w");
}

static void test_short_values_ignored_long_refused(void **state)
{
    (void)state;
    const char *const v[] = {"ab", "1"};
    sink out;
    const char *const c[] = {"ab 1 ab"};
    mask_chunks(v, 2, c, 1, &out);
    assert_string_equal(out.buf, "ab 1 ab");

    char *big = malloc(MRUN_MASK_MAX_LEN + 2);
    memset(big, 'k', MRUN_MASK_MAX_LEN + 1);
    big[MRUN_MASK_MAX_LEN + 1] = '\0';
    const char *const vb[] = {big};
    mrun_mask *m = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_mask_new(vb, 1, collect, &out, &m, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_null(m);
    free(big);
}

/* Every way of cutting the stream in two (and in three at a few points) gives what masking it whole gives. */
static void test_every_split(void **state)
{
    (void)state;
    const char *const v[] = {"s3cr3t-token", "AKIAXXXXXXXXXXXX", "t0k3n"};
    const char *stream = "start s3cr3t-tokenAKIAXXXXXXXXXXXX mid s3cr3t-t0k3n s3cr3t-tok end t0k3n";
    sink whole, parts;
    const char *const one[] = {stream};
    mask_chunks(v, 3, one, 1, &whole);
    assert_null(strstr(whole.buf, "s3cr3t-token"));
    assert_null(strstr(whole.buf, "AKIA"));
    assert_null(strstr(whole.buf, "t0k3n"));
    size_t n = strlen(stream);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j += 7) {
            char a[256], b[256], c[256];
            memcpy(a, stream, i);
            a[i] = '\0';
            memcpy(b, stream + i, j - i);
            b[j - i] = '\0';
            memcpy(c, stream + j, n - j + 1);
            const char *const three[] = {a, b, c};
            mask_chunks(v, 3, three, 3, &parts);
            if (strcmp(parts.buf, whole.buf) != 0)
                fail_msg("split at %zu,%zu: '%s' != '%s'", i, j, parts.buf, whole.buf);
        }
    }
}

static void test_no_values_passthrough(void **state)
{
    (void)state;
    sink out;
    const char *const c[] = {"plain ", "text"};
    mask_chunks(NULL, 0, c, 2, &out);
    assert_string_equal(out.buf, "plain text");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_split),         cmocka_unit_test(test_prefix_not_secret_is_released),
        cmocka_unit_test(test_overlapping_longest_wins), cmocka_unit_test(test_short_values_ignored_long_refused),
        cmocka_unit_test(test_every_split),             cmocka_unit_test(test_no_values_passthrough),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
