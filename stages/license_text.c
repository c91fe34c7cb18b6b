/* license_text.c - names the license in a LICENSE/COPYING file: the text is normalised (case, punctuation, bullets,
 * wrapping, copyright lines), cut into word 3-grams, and compared with the reference texts of the common licenses
 * (data/spdx/spdx_data.c) by Dice similarity; the best reference wins, and how close it is says whether the text
 * is that license, a modified copy of it, or a longer text that contains it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spdx.h"

#define EXACT_DICE   0.95
#define NEAR_DICE    0.80
#define CONTAINMENT  0.95
#define MAX_EXTRA    6 /* an exact copy adds at most this many 3-grams (+2.5% of the reference): a title, an address */
#define MIN_SHINGLES 8 /* fewer 3-grams than this says too little to name a license */
#define MAX_TEXT     (1u << 20)

typedef struct ref {
    const char *id;
    uint64_t *h; /* sorted, unique 3-gram hashes */
    size_t n;
} ref;

struct mrun_license_texts {
    ref *refs;
    size_t n;
};

typedef struct hashes {
    uint64_t *v;
    size_t n, cap;
} hashes;

static int push(hashes *h, uint64_t x)
{
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 256;
        uint64_t *nv = realloc(h->v, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        h->v = nv;
        h->cap = ncap;
    }
    h->v[h->n++] = x;
    return 0;
}

static bool is_alnum(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* The words of one line: lowercase alphanumeric runs. Returns their count (at most max). */
typedef struct word {
    const uint8_t *p;
    size_t n;
} word;

static size_t line_words(const uint8_t *s, size_t len, word *w, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k < max;) {
        while (i < len && !is_alnum(lower(s[i])))
            i++;
        size_t st = i;
        while (i < len && is_alnum(lower(s[i])))
            i++;
        if (i > st)
            w[k++] = (word){s + st, i - st};
    }
    return k;
}

static bool word_is(const word *w, const char *s)
{
    size_t n = strlen(s);
    if (w->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(w->p[i]) != (uint8_t)s[i])
            return false;
    return true;
}

static bool all_digits(const word *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->p[i] < '0' || w->p[i] > '9')
            return false;
    return true;
}

/* Copyright notices differ in every copy of a license and say nothing about which license it is (the same
 * predicate as is_copyright in data/spdx/gen.py). */
static bool copyright_line(const word *w, size_t n)
{
    return n > 0 && (word_is(&w[0], "copyright") || (word_is(&w[0], "c") && n > 1 && all_digits(&w[1])) ||
                     (n > 2 && word_is(&w[0], "all") && word_is(&w[1], "rights") && word_is(&w[2], "reserved")));
}

/* FNV-1a of one token, with the spelling variants the SPDX matching guidelines treat as equal folded. */
static uint64_t token_hash(const word *w)
{
    static const struct {
        const char *from, *to;
    } same[] = {{"licence", "license"}, {"licences", "licenses"}, {"https", "http"}};
    const uint8_t *p = w->p;
    size_t n = w->n;
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
        if (word_is(w, same[i].from)) {
            p = (const uint8_t *)same[i].to;
            n = strlen(same[i].to);
        }
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ lower(p[i])) * 1099511628211ull;
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct words {
    word *v;
    size_t n, cap;
} words;

static int push_word(words *t, word w)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        word *nv = realloc(t->v, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        t->v = nv;
        t->cap = ncap;
    }
    t->v[t->n++] = w;
    return 0;
}

/* The tokens of a text: words of its non-copyright lines, without one-character and all-digit words (bullets,
 * numbering, years: "1.", "(a)"). */
static int tokenize(const uint8_t *buf, size_t len, words *out)
{
    word w[512];
    for (size_t i = 0; i < len;) {
        const uint8_t *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = line_words(buf + i, end - i, w, sizeof(w) / sizeof(w[0]));
        if (n == sizeof(w) / sizeof(w[0])) /* a very long line: take it in pieces */
            end = (size_t)(w[n - 1].p + w[n - 1].n - buf);
        i = end + (nl && end == (size_t)(nl - buf) ? 1 : 0);
        if (copyright_line(w, n))
            continue;
        for (size_t k = 0; k < n; k++)
            if (w[k].n > 1 && !all_digits(&w[k]) && push_word(out, w[k]) < 0)
                return -1;
    }
    return 0;
}

/* Places where copies of a license put a name instead of the template's words ("Neither the name of <the
 * University> nor...", "PROVIDED BY <Google Inc.> AS IS", "IN NO EVENT SHALL <the author> BE LIABLE"): up to
 * MAX_GAP words between a prefix and a suffix become one placeholder, in the references and the candidate. */
#define MAX_GAP 12
static const struct {
    const char *pre[4], *suf[2];
} holders[] = {
    {{"neither", "the", "name", "of"}, {"nor", NULL}},
    {{"provided", "by", NULL, NULL}, {"as", "is"}},
    {{"in", "no", "event", "shall"}, {"be", "liable"}},
};

static size_t match_seq(const words *t, size_t at, const char *const *seq, size_t max)
{
    size_t k = 0;
    while (k < max && seq[k]) {
        if (at + k >= t->n || !word_is(&t->v[at + k], seq[k]))
            return 0;
        k++;
    }
    return k;
}

static void fold_holders(words *t)
{
    static const uint8_t holder[] = "holder";
    size_t o = 0;
    for (size_t i = 0; i < t->n;) {
        bool folded = false;
        for (size_t r = 0; r < sizeof(holders) / sizeof(holders[0]) && !folded; r++) {
            size_t np = match_seq(t, i, holders[r].pre, 4);
            if (np == 0)
                continue;
            for (size_t g = 1; g <= MAX_GAP && i + np + g < t->n; g++) {
                size_t ns = match_seq(t, i + np + g, holders[r].suf, 2);
                if (ns == 0)
                    continue;
                for (size_t k = 0; k < np; k++)
                    t->v[o++] = t->v[i + k];
                t->v[o++] = (word){holder, 6};
                i += np + g;
                folded = true;
                break;
            }
        }
        if (!folded)
            t->v[o++] = t->v[i++];
    }
    t->n = o;
}

/* Normalises text and returns its sorted unique word 3-gram hashes. */
static int shingle(const uint8_t *buf, size_t len, hashes *out)
{
    words t = {0};
    if (tokenize(buf, len, &t) < 0) {
        free(t.v);
        return -1;
    }
    fold_holders(&t);
    for (size_t k = 2; k < t.n; k++) {
        uint64_t h = (token_hash(&t.v[k - 2]) * 31 + token_hash(&t.v[k - 1])) * 1000003ull ^ token_hash(&t.v[k]);
        if (push(out, h) < 0) {
            free(t.v);
            return -1;
        }
    }
    free(t.v);
    if (out->n) {
        qsort(out->v, out->n, sizeof(uint64_t), cmp_u64);
        size_t u = 1;
        for (size_t k = 1; k < out->n; k++)
            if (out->v[k] != out->v[u - 1])
                out->v[u++] = out->v[k];
        out->n = u;
    }
    return 0;
}

static size_t common(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else
            c++, i++, j++;
    }
    return c;
}

void mrun_license_texts_free(mrun_license_texts *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->refs[i].h);
    free(t->refs);
    free(t);
}

int mrun_license_texts_new(mrun_license_texts **ret, mrun_err *err)
{
    mrun_license_texts *t = calloc(1, sizeof(*t));
    if (!t || !(t->refs = calloc(mrun_spdx_n_texts, sizeof(ref)))) {
        free(t);
        return mrun_err_set(err, ENOMEM, "license texts");
    }
    for (size_t i = 0; i < mrun_spdx_n_texts; i++) {
        hashes h = {0};
        const char *s = mrun_spdx_texts[i].text;
        if (shingle((const uint8_t *)s, strlen(s), &h) < 0) {
            free(h.v);
            mrun_license_texts_free(t);
            return mrun_err_set(err, ENOMEM, "license texts");
        }
        t->refs[t->n++] = (ref){mrun_spdx_texts[i].id, h.v, h.n};
    }
    *ret = t;
    return 0;
}

mrun_text_id mrun_license_identify(const mrun_license_texts *t, const uint8_t *buf, size_t len)
{
    mrun_text_id r = {NULL, 0, MRUN_TEXT_NONE};
    hashes h = {0};
    if (shingle(buf, len > MAX_TEXT ? MAX_TEXT : len, &h) < 0 || h.n < MIN_SHINGLES) {
        free(h.v);
        return r;
    }
    double best = 0, best_cont = 0;
    size_t best_c = 0;
    const ref *bref = NULL, *cref = NULL;
    for (size_t i = 0; i < t->n; i++) {
        const ref *f = &t->refs[i];
        size_t c = common(h.v, h.n, f->h, f->n);
        double dice = 2.0 * (double)c / (double)(h.n + f->n);
        double cont = f->n ? (double)c / (double)f->n : 0;
        if (dice > best)
            best = dice, bref = f, best_c = c;
        if (f->n >= MIN_SHINGLES && (cont > best_cont || (cont == best_cont && cref && f->n > cref->n)))
            best_cont = cont, cref = f;
    }
    size_t extra = h.n - best_c;
    free(h.v);
    if (bref && best >= NEAR_DICE) {
        bool exact = best >= EXACT_DICE && extra <= MAX_EXTRA + bref->n / 40;
        return (mrun_text_id){bref->id, best, exact ? MRUN_TEXT_EXACT : MRUN_TEXT_NEAR};
    }
    if (cref && best_cont >= CONTAINMENT)
        return (mrun_text_id){cref->id, best_cont, MRUN_TEXT_CONTAINS};
    if (bref)
        r = (mrun_text_id){bref->id, best, MRUN_TEXT_NONE}; /* for "resembles X (n%)" in messages */
    return r;
}
