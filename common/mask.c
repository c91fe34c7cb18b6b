/* mask.c - streaming secret masking. Values are kept sorted longest first, so where two overlap at one position
 * the longer wins. The held-back tail is the part of the stream that is a proper prefix of some value. */
#include "mask.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auto.h"

#define STARS "***"
#define CHUNK 65536

struct mrun_mask {
    char **values; /* longest first */
    size_t *lens;
    size_t n;
    size_t max_len;
    char *held;    /* capacity max_len: bytes that may begin a value */
    char *work;    /* capacity max_len + CHUNK: held bytes followed by the next piece of input */
    size_t n_held;
    mrun_mask_out_fn out;
    void *ctx;
};

void mrun_mask_free(mrun_mask *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->values[i]);
    free(m->values);
    free(m->lens);
    free(m->held);
    free(m->work);
    free(m);
}

void mrun_mask_freep(mrun_mask **m)
{
    mrun_mask_free(*m);
    *m = NULL;
}

static int by_len_desc(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return (la < lb) - (la > lb);
}

int mrun_mask_new(const char *const *values, size_t n, mrun_mask_out_fn out, void *ctx, mrun_mask **ret_mask,
                  mrun_err *err)
{
    if (n > MRUN_MASK_MAX_SECRETS)
        return mrun_err_setx(err, E2BIG, "too many secrets to mask (%zu, at most %d)", n, MRUN_MASK_MAX_SECRETS);
    mrun_cleanup(mrun_mask_freep) mrun_mask *m = calloc(1, sizeof(*m));
    if (!m || !(m->values = calloc(n + 1, sizeof(char *))) || !(m->lens = calloc(n + 1, sizeof(size_t))))
        return mrun_err_set(err, ENOMEM, "mask");
    m->out = out;
    m->ctx = ctx;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(values[i]);
        if (len < MRUN_MASK_MIN_LEN)
            continue;
        if (len > MRUN_MASK_MAX_LEN)
            return mrun_err_setx(err, E2BIG, "a secret value is longer than %d bytes and cannot be masked",
                                 MRUN_MASK_MAX_LEN);
        if (!(m->values[m->n] = strdup(values[i])))
            return mrun_err_set(err, ENOMEM, "mask");
        m->n++;
    }
    qsort(m->values, m->n, sizeof(char *), by_len_desc);
    for (size_t i = 0; i < m->n; i++) {
        m->lens[i] = strlen(m->values[i]);
        if (m->lens[i] > m->max_len)
            m->max_len = m->lens[i];
    }
    if (!(m->held = malloc(m->max_len + 1)) || !(m->work = malloc(m->max_len + CHUNK)))
        return mrun_err_set(err, ENOMEM, "mask");
    *ret_mask = mrun_steal_ptr(&m);
    return 0;
}

/* At s[0..avail): 1 and *ret_len when a whole value starts here, 2 when the bytes are a proper prefix of a value
 * (more input could complete it), 0 otherwise. */
static int match_at(const mrun_mask *m, const char *s, size_t avail, size_t *ret_len)
{
    int partial = 0;
    for (size_t i = 0; i < m->n; i++) {
        size_t l = m->lens[i];
        if (avail >= l) {
            if (memcmp(s, m->values[i], l) == 0) {
                *ret_len = l;
                return 1;
            }
        } else if (memcmp(s, m->values[i], avail) == 0) {
            partial = 2;
        }
    }
    return partial;
}

/* Masks buf[0..len); emits everything that cannot start a value, and returns how many trailing bytes are held
 * (they may begin a value that the next chunk completes). final: the stream ends, hold nothing. */
static size_t scan(mrun_mask *m, const char *buf, size_t len, bool final)
{
    size_t start = 0, i = 0;
    while (i < len) {
        size_t l = 0;
        int r = match_at(m, buf + i, len - i, &l);
        if (r == 1) {
            if (i > start)
                m->out(m->ctx, buf + start, i - start);
            m->out(m->ctx, STARS, sizeof(STARS) - 1);
            i += l;
            start = i;
        } else if (r == 2 && !final) {
            break; /* buf[i..len) may begin a value */
        } else {
            i++;
        }
    }
    if (i > start)
        m->out(m->ctx, buf + start, i - start);
    return len - i;
}

void mrun_mask_feed(mrun_mask *m, const char *data, size_t len)
{
    if (m->n == 0) {
        if (len)
            m->out(m->ctx, data, len);
        return;
    }
    /* The held tail is scanned again together with the next piece of input, so a value split across chunks
     * is seen whole. held stays below max_len, so each round makes progress. */
    while (len > 0) {
        size_t take = len < CHUNK ? len : CHUNK;
        memcpy(m->work, m->held, m->n_held);
        memcpy(m->work + m->n_held, data, take);
        size_t total = m->n_held + take;
        size_t held = scan(m, m->work, total, false);
        memcpy(m->held, m->work + total - held, held);
        m->n_held = held;
        data += take;
        len -= take;
    }
}

void mrun_mask_flush(mrun_mask *m)
{
    if (m->n_held == 0)
        return;
    size_t n = m->n_held;
    memcpy(m->work, m->held, n);
    m->n_held = 0;
    scan(m, m->work, n, true);
}
