/* secrets.c - the secret-scan matcher: one pass over the bytes on a first-byte table of literal anchors, then a
 * hand-written validator per candidate, then overlap resolution (specific rules beat generic ones) and findings.
 * The compiled table is immutable after mrun_secrets_new; all per-scan state lives on the caller's stack. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/codec.h"
#include "../common/auto.h"
#include "secrets.h"

#define WIN         65536u  /* no validator reads further than this from its anchor: long lines are windows */
#define MAX_MATCHES 100000u /* candidates kept per file before E2BIG */

/* Priorities for overlapping matches: the more specific rule wins. */
enum { P_GENERIC = 0, P_URL = 1, P_SPECIFIC = 2, P_CONTAINER = 3 };

typedef struct match {
    size_t off, len;
    unsigned rule;
    int prio;
} match;

/* Private-key labels and URL schemes resolve to rule indices at _new. */
#define N_PEM         8
#define N_SCHEMES_MAX 32
typedef struct resolved {
    unsigned pem[N_PEM];
    unsigned url[N_SCHEMES_MAX];
} resolved;

/* Per-scan state; lives on the scanning thread's stack. */
typedef struct scan {
    const uint8_t *b;
    size_t n;
    match *m;
    size_t nm, cap;
    bool oom, full;
    int docker_auths; /* -1 not looked yet, else 0/1: the file has a Docker "auths" object */
    bool gcp_done;
    const struct resolved *res;
} scan;

struct anchor;
typedef void (*validator)(scan *s, const struct anchor *a, unsigned rule, size_t pos);

/* Character classes for prefix rules. */
enum cls { C_ALNUM, C_HEXL, C_HEX, C_B64URL, C_B64, C_UPNUM, C_WORD, C_HEXDASH, C_B64URLEQ };

typedef struct pfx {
    enum cls cls;
    unsigned min, max;
} pfx;

typedef struct anchor {
    const char *lit;
    bool icase;
    const char *rule; /* rule id, resolved at _new; NULL for validators that choose their rule */
    validator fn;
    const void *arg;
} anchor;

typedef struct anchor_rt {
    const anchor *a;
    size_t len;
    unsigned rule;
} anchor_rt;

struct mrun_secrets {
    resolved res;
    anchor_rt *anchors;
    size_t n_anchors;
    unsigned *idx;     /* anchors indices grouped by first byte */
    size_t start[257]; /* idx[start[c] .. start[c+1]) are the anchors that may begin with byte c */
};

/* ---- small helpers ---- */

static bool is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hexl(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool in_cls(enum cls k, uint8_t c)
{
    switch (k) {
    case C_ALNUM:
        return is_alnum(c);
    case C_HEXL:
        return is_hexl(c);
    case C_HEX:
        return is_hexl(c) || (c >= 'A' && c <= 'F');
    case C_B64URL:
        return is_alnum(c) || c == '_' || c == '-';
    case C_B64URLEQ:
        return is_alnum(c) || c == '_' || c == '-' || c == '=';
    case C_B64:
        return is_alnum(c) || c == '+' || c == '/' || c == '=';
    case C_UPNUM:
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    case C_WORD:
        return is_alnum(c) || c == '_';
    case C_HEXDASH:
        return is_hexl(c) || c == '-';
    }
    return false;
}

static size_t run(const scan *s, size_t i, enum cls k, size_t cap)
{
    size_t j = i;
    while (j < s->n && j - i < cap && in_cls(k, s->b[j]))
        j++;
    return j - i;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Case-insensitive search for lit in [from, to). */
static bool has_ci(const scan *s, size_t from, size_t to, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t i = from; i + l <= to && i + l <= s->n; i++) {
        size_t k = 0;
        while (k < l && lower(s->b[i + k]) == (uint8_t)lit[k])
            k++;
        if (k == l)
            return true;
    }
    return false;
}

static bool has_sub_ci(const uint8_t *v, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t i = 0; i + l <= len; i++) {
        size_t k = 0;
        while (k < l && lower(v[i + k]) == (uint8_t)lit[k])
            k++;
        if (k == l)
            return true;
    }
    return false;
}

/* Shannon entropy in bits per byte. */
static double entropy(const uint8_t *v, size_t len)
{
    unsigned cnt[256] = {0};
    double h = 0;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        cnt[v[i]]++;
    for (int c = 0; c < 256; c++)
        if (cnt[c]) {
            double p = (double)cnt[c] / (double)len;
            h -= p * log2(p);
        }
    return h;
}

/* Documented example values, published and harmless; matched as substrings. */
static const char *const known_examples[] = {
    "EXAMPLE",                                     /* AWS docs: AKIAIOSFODNN7EXAMPLE, wJalrXUtnFEMI/...EXAMPLEKEY */
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", /* jwt.io default signature */
    "4eC39HqLyjWDarjtT1zdp7dc",                    /* Stripe docs test key */
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq", /* Azurite dev storage key */
    "4twFt5NiznN84AWoo1d7KO1T_yoc0Z6XOpOVswacPZg",                    /* PyJWT README token */
    "2YotnFZFEjr1zCsicMWpAA",
    "tGzv3JOkF0XG5Qx2TlKWIA", /* RFC 6749 example access and refresh tokens */
};

/* A token-shaped value that is a placeholder or a documented example rather than a credential. */
static bool fake_token(const uint8_t *v, size_t len)
{
    static const char *const subs[] = {"example",  "xxxx",  "****",       "....",       "<",
                                       ">",        "${",    "{{",         "your",       "placeholder",
                                       "redacted", "dummy", "0000000000", "1234567890", "abcdefgh"};
    for (size_t i = 0; i < sizeof(known_examples) / sizeof(known_examples[0]); i++)
        if (memmem(v, len, known_examples[i], strlen(known_examples[i])))
            return true;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (has_sub_ci(v, len, subs[i]))
            return true;
    return len >= 16 && entropy(v, len) < 2.5;
}

static void add(scan *s, unsigned rule, size_t off, size_t len, int prio)
{
    if (s->nm == s->cap) {
        if (s->cap >= MAX_MATCHES) {
            s->full = true;
            return;
        }
        size_t nc = s->cap ? s->cap * 2 : 32;
        match *nm = realloc(s->m, nc * sizeof(*nm));
        if (!nm) {
            s->oom = true;
            return;
        }
        s->m = nm;
        s->cap = nc;
    }
    s->m[s->nm++] = (match){off, len, rule, prio};
}

/* The anchor starts a token: the byte before it is not alphanumeric. */
static bool left_ok(const scan *s, size_t pos)
{
    return pos == 0 || !is_alnum(s->b[pos - 1]);
}

/* ---- validators ---- */

/* literal prefix + a run of one class with a length range; the value is prefix + run. */
static void v_prefix(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    const pfx *p = a->arg;
    size_t pl = strlen(a->lit);
    if (!left_ok(s, pos))
        return;
    size_t r = run(s, pos + pl, p->cls, p->max + 1);
    if (r < p->min || r > p->max)
        return;
    if (fake_token(s->b + pos, pl + r))
        return;
    add(s, rule, pos, pl + r, P_SPECIFIC);
}

static void v_hf(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    if (!left_ok(s, pos))
        return;
    size_t r = run(s, pos + 3, C_ALNUM, 41);
    if (r < 30 || r > 40 || (pos + 3 + r < s->n && s->b[pos + 3 + r] == '_'))
        return;
    bool up = false, lo = false;
    for (size_t i = pos + 3; i < pos + 3 + r; i++) {
        up |= s->b[i] >= 'A' && s->b[i] <= 'Z';
        lo |= s->b[i] >= 'a' && s->b[i] <= 'z';
    }
    if (up && lo && !fake_token(s->b + pos, 3 + r))
        add(s, rule, pos, 3 + r, P_SPECIFIC);
}

/* sk-<48 alnum>: legacy OpenAI keys; sk-proj-/sk-ant- are their own anchors. */
static void v_openai(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    if (!left_ok(s, pos))
        return;
    size_t r = run(s, pos + 3, C_ALNUM, 49);
    if (r == 48 && (pos + 3 + r >= s->n || !in_cls(C_B64URL, s->b[pos + 3 + r])) && !fake_token(s->b + pos, 51))
        add(s, rule, pos, 51, P_SPECIFIC);
}

/* xox?- and xapp-: digits-digits-...-secret, at least 10 digits overall. */
static void v_slack(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    size_t pl = strlen(a->lit), i = pos + pl, digits = 0, dashes = 0;
    if (!left_ok(s, pos))
        return;
    while (i < s->n && i - pos < 256 && (is_alnum(s->b[i]) || s->b[i] == '-')) {
        digits += s->b[i] >= '0' && s->b[i] <= '9';
        dashes += s->b[i] == '-';
        i++;
    }
    if (i - pos - pl < 20 || digits < 10 || dashes < 2 || s->b[i - 1] == '-')
        return;
    if (!fake_token(s->b + pos, i - pos))
        add(s, rule, pos, i - pos, P_SPECIFIC);
}

/* Skips a key's tail, closing quotes, blanks and one assignment operator; returns the value start or 0. */
static size_t after_assign(const scan *s, size_t i)
{
    size_t lim = i + 96;
    while (i < s->n && i < lim && (is_alnum(s->b[i]) || s->b[i] == '_' || s->b[i] == '-' || s->b[i] == '.'))
        i++;
    while (i < s->n && i < lim && (s->b[i] == '"' || s->b[i] == '\'' || s->b[i] == ']' || s->b[i] == '`'))
        i++;
    while (i < s->n && (s->b[i] == ' ' || s->b[i] == '\t'))
        i++;
    if (i >= s->n)
        return 0;
    if (s->b[i] == ':' && i + 1 < s->n && s->b[i + 1] == '=')
        i += 2;
    else if (s->b[i] == '=' && i + 1 < s->n && s->b[i + 1] == '>')
        i += 2;
    else if (s->b[i] == '=' && i + 1 < s->n && s->b[i + 1] == '=')
        return 0;
    else if (s->b[i] == ':' && i + 1 < s->n && s->b[i + 1] == ':')
        return 0;
    else if (s->b[i] == '=' || s->b[i] == ':')
        i++;
    else
        return 0;
    while (i < s->n && (s->b[i] == ' ' || s->b[i] == '\t'))
        i++;
    return i < s->n ? i : 0;
}

static void v_aws_secret(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    size_t i = after_assign(s, pos + strlen(a->lit));
    if (!i)
        return;
    if (s->b[i] == '"' || s->b[i] == '\'')
        i++;
    size_t r = run(s, i, C_B64, 41);
    while (r > 0 && s->b[i + r - 1] == '=')
        r--;
    if (r != 40 || fake_token(s->b + i, r) || entropy(s->b + i, r) < 3.0)
        return;
    add(s, rule, i, r, P_SPECIFIC);
}

static bool find_lit(const scan *s, size_t from, size_t to, const char *lit, size_t *ret)
{
    size_t l = strlen(lit);
    if (to > s->n)
        to = s->n;
    if (to - from > WIN && to > from)
        to = from + WIN;
    if (from >= to || to - from < l)
        return false;
    const uint8_t *p = memmem(s->b + from, to - from, lit, l);
    if (!p)
        return false;
    *ret = (size_t)(p - s->b);
    return true;
}

/* "type": "service_account" with a "private_key": "-----BEGIN..." in the same file (within 8 KiB). */
static void v_gcp_sa(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    size_t k;
    if (s->gcp_done || pos < 6 || !has_ci(s, pos > 32 ? pos - 32 : 0, pos, "\"type\""))
        return;
    s->gcp_done = true;
    size_t from = pos > 8192 ? pos - 8192 : 0;
    if (!find_lit(s, from, pos + 8192, "\"private_key\"", &k))
        return;
    size_t i = k + 13;
    while (i < s->n && (s->b[i] == ' ' || s->b[i] == ':' || s->b[i] == '\t'))
        i++;
    if (i >= s->n || s->b[i] != '"' || i + 11 >= s->n || memcmp(s->b + i + 1, "-----BEGIN", 10) != 0)
        return;
    size_t e = i + 1;
    while (e < s->n && e - i < 8192 && s->b[e] != '"' && s->b[e] != '\n')
        e++;
    if (e - i < 100 || !memmem(s->b + i, e - i, "PRIVATE KEY", 11))
        return;
    add(s, rule, i + 1, e - i - 1, P_CONTAINER);
}

static void v_azure_key(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    size_t i = pos + strlen(a->lit), r = run(s, i, C_B64, 120);
    if (r < 40 || r >= 120 || fake_token(s->b + i, r))
        return;
    add(s, rule, i, r, P_SPECIFIC);
}

/* Entra ID client secret: [A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}; the anchor is the Q~. */
static void v_azure_cs(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    if (pos < 4 || !(s->b[pos - 1] >= '0' && s->b[pos - 1] <= '9'))
        return;
    size_t st = pos - 4;
    for (size_t i = st; i < pos - 1; i++)
        if (!(is_alnum(s->b[i]) || s->b[i] == '_' || s->b[i] == '~' || s->b[i] == '.'))
            return;
    if (st > 0 && (is_alnum(s->b[st - 1]) || s->b[st - 1] == '_' || s->b[st - 1] == '~'))
        return;
    size_t i = pos + 2;
    while (i < s->n && i - pos < 40 && (is_alnum(s->b[i]) || strchr("_~.-", s->b[i]) != NULL))
        i++;
    size_t r = i - pos - 2;
    if (r < 31 || r > 34 || fake_token(s->b + st, i - st))
        return;
    add(s, rule, st, i - st, P_SPECIFIC);
}

static void v_azure_sas(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    if (pos == 0 || (s->b[pos - 1] != '&' && s->b[pos - 1] != '?'))
        return;
    size_t from = pos > 512 ? pos - 512 : 0;
    for (size_t i = pos; i > from; i--)
        if (s->b[i - 1] == '\n' || s->b[i - 1] == ' ' || s->b[i - 1] == '"') {
            from = i;
            break;
        }
    if (!has_ci(s, from, pos, "sv=20"))
        return;
    size_t i = pos + 4, e = i;
    while (e < s->n && e - i < 200 &&
           (is_alnum(s->b[e]) || s->b[e] == '%' || s->b[e] == '+' || s->b[e] == '/' || s->b[e] == '='))
        e++;
    if (e - i >= 30 && !fake_token(s->b + i, e - i))
        add(s, rule, i, e - i, P_SPECIFIC);
}

static void v_slack_hook(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    size_t i = pos + strlen(a->lit), st = i;
    if (i >= s->n || s->b[i] != 'T')
        return;
    size_t r = run(s, i, C_UPNUM, 16);
    if (r < 8 || i + r >= s->n || s->b[i + r] != '/')
        return;
    i += r + 1;
    r = run(s, i, C_UPNUM, 16);
    if (r < 8 || s->b[i] != 'B' || i + r >= s->n || s->b[i + r] != '/')
        return;
    i += r + 1;
    r = run(s, i, C_ALNUM, 33);
    if (r < 24 || r > 32 || fake_token(s->b + i, r))
        return;
    add(s, rule, st, i + r - st, P_SPECIFIC);
}

/* A standalone 32-hex run in [from, to), not an SID itself. */
static bool find_hex32(const scan *s, size_t from, size_t to, size_t skip, size_t *ret)
{
    for (size_t i = from; i + 32 <= to && i + 32 <= s->n; i++) {
        if (i == skip || (i > 0 && is_alnum(s->b[i - 1])))
            continue;
        size_t r = run(s, i, C_HEXL, 33);
        if (r == 32 && !fake_token(s->b + i, 32)) {
            *ret = i;
            return true;
        }
        i += r;
    }
    return false;
}

/* AC<32 hex> account SID with an auth token (32 hex) named auth/token within 400 bytes. */
static void v_twilio_ac(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    size_t t;
    if (!left_ok(s, pos) || run(s, pos + 2, C_HEXL, 33) != 32)
        return;
    size_t from = pos > 400 ? pos - 400 : 0, to = pos + 434;
    if (!has_ci(s, from, to, "auth") && !has_ci(s, from, to, "token"))
        return;
    if (find_hex32(s, from, to, pos + 2, &t))
        add(s, rule, t, 32, P_SPECIFIC);
}

static void v_npmrc(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    size_t i = pos + strlen(a->lit), e = i;
    if (pos > 0 && s->b[pos - 1] != ':' && s->b[pos - 1] != '\n')
        return;
    if (i < s->n && s->b[i] == '"')
        i++, e++;
    while (e < s->n && e - i < 512 && s->b[e] > ' ' && s->b[e] != '"')
        e++;
    if (e - i < 12 || s->b[i] == '$' || fake_token(s->b + i, e - i) || entropy(s->b + i, e - i) < 3.0)
        return;
    add(s, rule, i, e - i, P_SPECIFIC);
}

/* Decodes standard or URL base64 (no padding needed) into out; returns bytes written. */
static size_t b64dec(const uint8_t *v, size_t len, uint8_t *out, size_t cap)
{
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < len && o < cap; i++) {
        int d = mrun_b64_value(v[i]);
        if (d < 0)
            break;
        acc = (acc << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

static void v_docker(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    uint8_t dec[192];
    size_t i = pos + strlen(a->lit);
    if (s->docker_auths < 0)
        s->docker_auths = memmem(s->b, s->n, "\"auths\"", 7) != NULL;
    if (!s->docker_auths)
        return;
    while (i < s->n && (s->b[i] == ' ' || s->b[i] == ':' || s->b[i] == '\t'))
        i++;
    if (i >= s->n || s->b[i] != '"')
        return;
    i++;
    size_t r = run(s, i, C_B64, 256);
    if (r < 8 || r >= 256 || i + r >= s->n || s->b[i + r] != '"')
        return;
    size_t d = b64dec(s->b + i, r, dec, sizeof(dec));
    uint8_t *colon = memchr(dec, ':', d);
    if (!colon || colon == dec || (size_t)(colon - dec) + 1 >= d || fake_token(dec, d))
        return;
    add(s, rule, i, r, P_SPECIFIC);
}

/* <32 hex>-us<1-2 digits>; the anchor is -us. */
static void v_mailchimp(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    if (pos < 32)
        return;
    size_t st = pos - 32;
    for (size_t i = st; i < pos; i++)
        if (!is_hexl(s->b[i]))
            return;
    if (!left_ok(s, st))
        return;
    size_t r = run(s, pos + 3, C_ALNUM, 3);
    if (r < 1 || r > 2 || !(s->b[pos + 3] >= '0' && s->b[pos + 3] <= '9') || fake_token(s->b + st, 32))
        return;
    add(s, rule, st, 35 + r, P_SPECIFIC);
}

static bool is_uuid_at(const scan *s, size_t i)
{
    static const unsigned groups[] = {8, 4, 4, 4, 12};
    for (int g = 0; g < 5; g++) {
        if (run(s, i, C_HEX, groups[g] + 1) != groups[g])
            return false;
        i += groups[g];
        if (g < 4) {
            if (i >= s->n || s->b[i] != '-')
                return false;
            i++;
        }
    }
    return true;
}

/* A UUID within 40 bytes after "heroku" (the legacy API key shape). */
static void v_heroku(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    for (size_t i = pos + strlen(a->lit); i < s->n && i < pos + 46; i++) {
        if (s->b[i] == '\n')
            return;
        if ((i == 0 || !is_alnum(s->b[i - 1])) && is_uuid_at(s, i)) {
            if (!fake_token(s->b + i, 36))
                add(s, rule, i, 36, P_SPECIFIC);
            return;
        }
    }
}

/* [MNO]<23-27 alnum>.<6-7>.<27-40> within 120 bytes after "discord". */
static void v_discord_bot(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    for (size_t i = pos + strlen(a->lit); i < s->n && i < pos + 127; i++) {
        uint8_t c = s->b[i];
        if (c == '\n')
            return;
        if ((c != 'M' && c != 'N' && c != 'O') || is_alnum(s->b[i - 1]))
            continue;
        size_t r1 = run(s, i, C_ALNUM, 29);
        if (r1 < 24 || r1 > 28 || i + r1 >= s->n || s->b[i + r1] != '.')
            continue;
        size_t j = i + r1 + 1, r2 = run(s, j, C_B64URL, 8);
        if (r2 < 6 || r2 > 7 || j + r2 >= s->n || s->b[j + r2] != '.')
            continue;
        size_t k = j + r2 + 1, r3 = run(s, k, C_B64URL, 41);
        if (r3 < 27 || r3 > 40 || fake_token(s->b + i, k + r3 - i))
            continue;
        add(s, rule, i, k + r3 - i, P_SPECIFIC);
        return;
    }
}

static void v_discord_hook(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    size_t from = pos > 20 ? pos - 20 : 0;
    if (!has_ci(s, from, pos, "discord.com") && !has_ci(s, from, pos, "discordapp.com"))
        return;
    size_t i = pos + strlen(a->lit), r = run(s, i, C_ALNUM, 21);
    if (r < 17 || r > 20 || i + r >= s->n || s->b[i + r] != '/')
        return;
    size_t j = i + r + 1, r2 = run(s, j, C_B64URL, 81);
    if (r2 < 60 || r2 > 80 || fake_token(s->b + j, r2))
        return;
    add(s, rule, i, j + r2 - i, P_SPECIFIC);
}

/* <8-10 digits>:AA<33 url-safe>; the anchor is :AA. */
static void v_telegram(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    size_t st = pos;
    while (st > 0 && pos - st < 11 && s->b[st - 1] >= '0' && s->b[st - 1] <= '9')
        st--;
    if (pos - st < 8 || pos - st > 10 || !left_ok(s, st))
        return;
    size_t r = run(s, pos + 3, C_B64URL, 34);
    if (r != 33 || fake_token(s->b + pos + 1, 35))
        return;
    add(s, rule, st, pos + 36 - st, P_SPECIFIC);
}

static const struct {
    const char *label, *rule;
} pem_labels[N_PEM] = {
    {"RSA PRIVATE KEY", "private-key-rsa"},
    {"EC PRIVATE KEY", "private-key-ec"},
    {"DSA PRIVATE KEY", "private-key-dsa"},
    {"OPENSSH PRIVATE KEY", "private-key-openssh"},
    {"ENCRYPTED PRIVATE KEY", "private-key-encrypted"},
    {"SSH2 ENCRYPTED PRIVATE KEY", "private-key-encrypted"},
    {"PGP PRIVATE KEY BLOCK", "private-key-pgp"},
    {"PRIVATE KEY", "private-key-pkcs8"},
};

static void v_pem(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)rule;
    (void)a;
    const unsigned *ids = s->res->pem; /* rule index per label, resolved by _new */
    size_t i = pos + strlen(a->lit), e;
    if (!find_lit(s, i, i + 40, "-----", &e))
        return;
    int which = -1;
    for (size_t k = 0; k < N_PEM; k++)
        if (e - i == strlen(pem_labels[k].label) && memcmp(s->b + i, pem_labels[k].label, e - i) == 0)
            which = (int)k;
    if (which < 0)
        return;
    /* a body: a run of 40+ base64 characters within 600 bytes (blank lines, headers and "\n" escapes between) */
    size_t best = 0, cur = 0;
    for (size_t j = e + 5; j < s->n && j < e + 600; j++) {
        uint8_t c = s->b[j];
        if (c == '\\' && j + 1 < s->n && s->b[j + 1] == 'n') {
            j++;
            continue;
        }
        if (c == '\n' || c == '\r')
            continue;
        if (c == '-' && cur == 0)
            break;
        cur = (is_alnum(c) || c == '+' || c == '/' || c == '=') ? cur + 1 : 0;
        if (cur > best)
            best = cur;
    }
    if (best < 40)
        return;
    size_t end = e + 5, fin;
    if (find_lit(s, e + 5, e + 5 + 16384, "-----END", &fin) && find_lit(s, fin + 8, fin + 48, "-----", &end))
        end += 5;
    if (fake_token(s->b + e + 5, end - e - 5) && best < 64)
        return;
    add(s, ids[which], pos, end - pos, P_SPECIFIC);
}

static void v_putty(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    size_t k;
    if (!find_lit(s, pos, pos + 4096, "Private-Lines:", &k))
        return;
    size_t e = pos + strlen(a->lit);
    while (e < s->n && s->b[e] != '\n')
        e++;
    size_t body = k + 14;
    while (body < s->n && s->b[body] != '\n')
        body++;
    if (run(s, body + 1, C_B64, 64) < 40)
        return;
    add(s, rule, pos, e - pos, P_SPECIFIC);
}

static void v_jwt(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    uint8_t dec[400];
    if (pos > 0 && (in_cls(C_B64URL, s->b[pos - 1]) || s->b[pos - 1] == '.'))
        return;
    size_t r1 = run(s, pos, C_B64URL, 4096);
    if (r1 < 10 || pos + r1 >= s->n || s->b[pos + r1] != '.')
        return;
    size_t j = pos + r1 + 1, r2 = run(s, j, C_B64URL, 16384);
    if (r2 < 10 || j + r2 >= s->n || s->b[j + r2] != '.')
        return;
    size_t k = j + r2 + 1, r3 = run(s, k, C_B64URL, 4096);
    if (r3 < 16)
        return;
    size_t d = b64dec(s->b + pos, r1 < 512 ? r1 : 512, dec, sizeof(dec));
    if (d < 8 || dec[0] != '{' || !memmem(dec, d, "\"alg\"", 5) || fake_token(s->b + k, r3))
        return;
    add(s, rule, pos, k + r3 - pos, P_SPECIFIC);
}

/* ---- credentials in URLs ---- */

static const struct {
    const char *scheme, *rule;
} url_schemes[] = {
    {"postgres", "postgres-url-password"},
    {"postgresql", "postgres-url-password"},
    {"pgsql", "postgres-url-password"},
    {"mysql", "mysql-url-password"},
    {"mysql2", "mysql-url-password"},
    {"mariadb", "mysql-url-password"},
    {"mysqlx", "mysql-url-password"},
    {"mongodb", "mongodb-url-password"},
    {"mongodb+srv", "mongodb-url-password"},
    {"redis", "redis-url-password"},
    {"rediss", "redis-url-password"},
    {"amqp", "amqp-url-password"},
    {"amqps", "amqp-url-password"},
    {"ftp", "ftp-url-password"},
    {"ftps", "ftp-url-password"},
    {"sftp", "ftp-url-password"},
    {"smtp", "smtp-url-password"},
    {"smtps", "smtp-url-password"},
    {"ldap", "ldap-url-password"},
    {"ldaps", "ldap-url-password"},
    {"mssql", "mssql-url-password"},
    {"sqlserver", "mssql-url-password"},
    {"http", "url-basic-auth"},
    {"https", "url-basic-auth"},
};
#define N_SCHEMES (sizeof(url_schemes) / sizeof(url_schemes[0]))

static bool placeholder_value(const uint8_t *v, size_t len);

static void v_url(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)rule;
    (void)a;
    const unsigned *ids = s->res->url;
    size_t st = pos;
    while (st > 0 && pos - st < 16 && (is_alnum(s->b[st - 1]) || s->b[st - 1] == '+'))
        st--;
    int which = -1;
    for (size_t k = 0; k < N_SCHEMES; k++)
        if (pos - st == strlen(url_schemes[k].scheme) &&
            strncasecmp((const char *)s->b + st, url_schemes[k].scheme, pos - st) == 0)
            which = (int)k;
    if (which < 0)
        return;
    size_t i = pos + 3, u = i;
    while (u < s->n && u - i < 128 && s->b[u] > ' ' && !strchr(":@/?#\"'<>", s->b[u]))
        u++;
    if (u >= s->n || s->b[u] != ':') /* an empty user is fine: redis://:password@host */
        return;
    size_t p = u + 1, e = p;
    while (e < s->n && e - p < 256 && s->b[e] > ' ' && !strchr("@/?#\"'<>", s->b[e]))
        e++;
    if (e >= s->n || s->b[e] != '@' || e == p || e + 1 >= s->n || !(is_alnum(s->b[e + 1]) || s->b[e + 1] == '['))
        return;
    if (placeholder_value(s->b + p, e - p) || (u > i && placeholder_value(s->b + i, u - i)) || e - p < 3)
        return;
    if (ids[which] == ids[N_SCHEMES - 1] && (e - p < 6 || entropy(s->b + p, e - p) < 2.0))
        return;
    add(s, ids[which], p, e - p, P_URL);
}

/* ---- generic name = value assignments ---- */

typedef struct gen_kind {
    unsigned min_len;
    double min_entropy;
} gen_kind;

static const gen_kind gen_password = {8, 2.5}, gen_other = {16, 3.0};

static bool placeholder_value(const uint8_t *v, size_t len)
{
    static const char *const subs[] = {
        "changeme", "change_me",   "change-me", "your",  "here",       "example",  "sample", "dummy",
        "redacted", "placeholder", "xxxx",      "****",  "...",        "<",        ">",      "${",
        "{{",       "}}",          "%(",        "$(",    "#{",         "test",     "fake",   "foobar",
        "secret",   "password",    "passwd",    "token", "replace",    "insert",   "todo",   "fixme",
        "mask",     "%s",          "(?",        "[^",    "1234567890", "abcdefgh", "true|",  "|false"};
    static const char *const whole[] = {"null",  "none",  "nil",    "true",     "false",    "undefined",
                                        "empty", "str",   "string", "required", "optional", "env",
                                        "pass",  "admin", "root",   "user",     "guest"};
    static const char *const starts[] = {
        "$",       "%",       "os.environ",    "os.getenv", "getenv",   "process.env", "env[",
        "env.",    "env(",    "system.getenv", "secrets.",  "vars.",    "config.",     "settings.",
        "self.",   "this.",   "params",        "args.",     "request.", "sha1-",       "sha256-",
        "sha384-", "sha512-", "sha256:",       "ask:",      "vault:",   "file:",       "input(",
        "prompt(", "http://", "https://",      "/",         "./",       "~/"};
    if (len == 0)
        return true;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (has_sub_ci(v, len, subs[i]))
            return true;
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
        if (len == strlen(whole[i]) && strncasecmp((const char *)v, whole[i], len) == 0)
            return true;
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        if (len >= strlen(starts[i]) && strncasecmp((const char *)v, starts[i], strlen(starts[i])) == 0)
            return true;
    for (size_t i = 0; i < sizeof(known_examples) / sizeof(known_examples[0]); i++)
        if (memmem(v, len, known_examples[i], strlen(known_examples[i])))
            return true;
    size_t same = 1;
    for (size_t i = 1; i < len; i++)
        if (v[i] != v[0])
            break;
        else
            same++;
    return same == len;
}

static bool all_cls(const uint8_t *v, size_t len, enum cls k)
{
    for (size_t i = 0; i < len; i++)
        if (!in_cls(k, v[i]))
            return false;
    return true;
}

/* Names that hold something about a secret rather than the secret (token_url, password_file, secret_name...). */
static bool meta_name(const scan *s, size_t from, size_t to)
{
    static const char *const tails[] = {
        "url",       "uri",         "file",    "path",     "name",   "type",     "id",      "length", "len",
        "field",     "env",         "var",     "endpoint", "header", "prefix",   "expires", "expiry", "ttl",
        "count",     "policy",      "kind",    "format",   "dir",    "size",     "hash",    "ref",    "arn",
        "label",     "regex",       "pattern", "mode",     "min",    "max",      "limit",   "hint",   "required",
        "prompt",    "placeholder", "command", "cmd",      "store",  "provider", "source",  "key_id", "encryption",
        "algorithm", "method",      "scheme",  "cipher",   "digest", "rounds",   "timeout"};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        size_t l = strlen(tails[i]);
        if (to - from > l && strncasecmp((const char *)s->b + to - l, tails[i], l) == 0 &&
            strchr("_-.", s->b[to - l - 1]) != NULL)
            return true;
    }
    return false;
}

static void v_generic(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    const gen_kind *g = a->arg;
    size_t ne = pos + strlen(a->lit);
    while (ne < s->n && ne - pos < 64 && (is_alnum(s->b[ne]) || s->b[ne] == '_' || s->b[ne] == '-' || s->b[ne] == '.'))
        ne++;
    if (meta_name(s, pos, ne))
        return;
    size_t i = after_assign(s, ne);
    if (!i)
        return;
    if (i + 1 < s->n && strchr("rbfu", s->b[i]) && (s->b[i + 1] == '"' || s->b[i + 1] == '\''))
        i++;
    size_t vs = i, ve;
    bool quoted = s->b[i] == '"' || s->b[i] == '\'' || s->b[i] == '`';
    if (quoted) {
        vs = ++i;
        while (i < s->n && i - vs < 257 && s->b[i] != s->b[vs - 1] && s->b[i] != '\n')
            i++;
        if (i >= s->n || s->b[i] != s->b[vs - 1] || i - vs > 256)
            return;
        ve = i;
    } else {
        while (i < s->n && i - vs < 257 && s->b[i] > ' ' && !strchr(",;&", s->b[i]))
            i++;
        ve = i;
        /* a bare word is code (a variable, a call, a path) unless it mixes letters with digits or symbols */
        bool digit = false, alpha = false, sym = false;
        for (size_t k = vs; k < ve; k++) {
            uint8_t c = s->b[k];
            digit |= c >= '0' && c <= '9';
            alpha |= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            sym |= !is_alnum(c) && c != '_' && c != '.';
            if (strchr("()[]{}<>\"'`", c))
                return;
        }
        if (!(alpha && (digit || sym)))
            return;
        if (all_cls(s->b + vs, ve - vs, C_WORD) && memchr(s->b + vs, '_', ve - vs) && !digit)
            return;
    }
    size_t len = ve - vs;
    const uint8_t *v = s->b + vs;
    if (len < g->min_len || len > 256 || memchr(v, ' ', len) || memchr(v, '\t', len))
        return;
    if (placeholder_value(v, len) || (len == 40 && all_cls(v, len, C_HEXL)))
        return;
    /* letters only with few case changes is a word or identifier (_EllipticCurvePrivateKey); random letters
     * change case about every other character */
    bool letters_only = true;
    size_t flips = 0;
    for (size_t k = 0; k < len && letters_only; k++) {
        letters_only = (v[k] >= 'a' && v[k] <= 'z') || (v[k] >= 'A' && v[k] <= 'Z') || v[k] == '_';
        flips += k > 0 && v[k] != '_' && v[k - 1] != '_' && ((v[k] >= 'a') != (v[k - 1] >= 'a'));
    }
    if (letters_only && flips * 3 < len)
        return;
    if (len == 36 && is_uuid_at(&(scan){.b = v, .n = len}, 0))
        return;
    if (entropy(v, len) < g->min_entropy)
        return;
    /* base64 of a placeholder ("not my real password") is still a placeholder */
    uint8_t dec[192];
    size_t d = len >= 12 && all_cls(v, len, C_B64) ? b64dec(v, len, dec, sizeof(dec)) : 0;
    bool printable = d > 0;
    for (size_t k = 0; k < d && printable; k++)
        printable = dec[k] >= ' ' && dec[k] < 127;
    if (printable && placeholder_value(dec, d))
        return;
    /* dotted identifiers (a.b.c) are references to settings, not secrets */
    bool dotted = !quoted && memchr(v, '.', len) != NULL;
    for (size_t k = 0; k < len && dotted; k++)
        dotted = is_alnum(v[k]) || v[k] == '_' || v[k] == '.';
    if (dotted)
        return;
    add(s, rule, vs, len, P_GENERIC);
}

/* ---- tables ---- */

static const pfx p36 = {C_ALNUM, 36, 36}, p36p = {C_ALNUM, 36, 255}, p82 = {C_WORD, 80, 90}, glpat = {C_B64URL, 20, 64},
                 hex40 = {C_HEXL, 40, 40}, hex32 = {C_HEXL, 32, 32}, hex32any = {C_HEX, 32, 32},
                 hex64 = {C_HEXL, 64, 64}, live = {C_ALNUM, 24, 247}, whsec = {C_ALNUM, 32, 128},
                 aws = {C_UPNUM, 16, 16}, aiza = {C_B64URL, 35, 35}, gocspx = {C_B64URL, 28, 28},
                 pypi = {C_B64URL, 50, 512}, proj = {C_B64URL, 40, 256}, ant = {C_B64URL, 80, 200},
                 mg = {C_ALNUM, 32, 32}, eaaa = {C_B64URL, 60, 60}, sq22 = {C_B64URL, 22, 22},
                 sq43 = {C_B64URL, 43, 43}, hrku = {C_B64URL, 60, 60}, dapi = {C_HEXL, 32, 34},
                 atatt = {C_B64URLEQ, 100, 300}, hvs = {C_B64URL, 24, 256}, nrak = {C_UPNUM, 27, 27},
                 pmak = {C_HEXDASH, 59, 59}, age = {C_UPNUM, 58, 58}, lin = {C_ALNUM, 40, 40}, dp = {C_ALNUM, 43, 43},
                 glc = {C_B64, 32, 400}, glsa = {C_WORD, 41, 41}, sntry = {C_B64, 50, 400};

static void v_sendgrid(scan *s, const anchor *a, unsigned rule, size_t pos)
{
    (void)a;
    if (!left_ok(s, pos))
        return;
    size_t r1 = run(s, pos + 3, C_B64URL, 23);
    if (r1 != 22 || pos + 25 >= s->n || s->b[pos + 25] != '.')
        return;
    size_t r2 = run(s, pos + 26, C_B64URL, 44);
    if (r2 != 43 || fake_token(s->b + pos, 69))
        return;
    add(s, rule, pos, 69, P_SPECIFIC);
}

static const anchor anchors[] = {
    {"AKIA", false, "aws-access-key-id", v_prefix, &aws},
    {"ASIA", false, "aws-access-key-id", v_prefix, &aws},
    {"secret_access_key", true, "aws-secret-access-key", v_aws_secret, NULL},
    {"secretaccesskey", true, "aws-secret-access-key", v_aws_secret, NULL},
    {"secret-access-key", true, "aws-secret-access-key", v_aws_secret, NULL},
    {"aws_secret_key", true, "aws-secret-access-key", v_aws_secret, NULL},
    {"\"service_account\"", false, "gcp-service-account", v_gcp_sa, NULL},
    {"AIza", false, "gcp-api-key", v_prefix, &aiza},
    {"GOCSPX-", false, "gcp-oauth-client-secret", v_prefix, &gocspx},
    {"AccountKey=", false, "azure-storage-account-key", v_azure_key, NULL},
    {"Q~", false, "azure-client-secret", v_azure_cs, NULL},
    {"sig=", false, "azure-sas-token", v_azure_sas, NULL},
    {"ghp_", false, "github-pat", v_prefix, &p36},
    {"gho_", false, "github-oauth-token", v_prefix, &p36},
    {"ghu_", false, "github-user-token", v_prefix, &p36},
    {"ghs_", false, "github-app-token", v_prefix, &p36},
    {"ghr_", false, "github-refresh-token", v_prefix, &p36p},
    {"github_pat_", false, "github-fine-grained-pat", v_prefix, &p82},
    {"glpat-", false, "gitlab-pat", v_prefix, &glpat},
    {"glptt-", false, "gitlab-pipeline-trigger-token", v_prefix, &hex40},
    {"glrt-", false, "gitlab-runner-token", v_prefix, &glpat},
    {"gldt-", false, "gitlab-deploy-token", v_prefix, &glpat},
    {"xoxb-", false, "slack-bot-token", v_slack, NULL},
    {"xoxp-", false, "slack-user-token", v_slack, NULL},
    {"xapp-", false, "slack-app-token", v_slack, NULL},
    {"xoxa-", false, "slack-legacy-token", v_slack, NULL},
    {"xoxr-", false, "slack-legacy-token", v_slack, NULL},
    {"xoxs-", false, "slack-legacy-token", v_slack, NULL},
    {"xoxo-", false, "slack-legacy-token", v_slack, NULL},
    {"hooks.slack.com/services/", false, "slack-webhook-url", v_slack_hook, NULL},
    {"sk_live_", false, "stripe-secret-key", v_prefix, &live},
    {"rk_live_", false, "stripe-restricted-key", v_prefix, &live},
    {"sk_test_", false, "stripe-test-secret-key", v_prefix, &live},
    {"whsec_", false, "stripe-webhook-secret", v_prefix, &whsec},
    {"SK", false, "twilio-api-key", v_prefix, &hex32},
    {"AC", false, "twilio-auth-token", v_twilio_ac, NULL},
    {"SG.", false, "sendgrid-api-key", v_sendgrid, NULL},
    {"npm_", false, "npm-access-token", v_prefix, &p36},
    {"_authToken=", false, "npmrc-auth-token", v_npmrc, NULL},
    {"_auth=", false, "npmrc-auth-token", v_npmrc, NULL},
    {"_password=", false, "npmrc-auth-token", v_npmrc, NULL},
    {"pypi-AgEIcHlwaS5vcmc", false, "pypi-upload-token", v_prefix, &pypi},
    {"pypi-AgENdGVzdC5weXBpLm9yZw", false, "pypi-upload-token", v_prefix, &pypi},
    {"\"auth\"", false, "docker-config-auth", v_docker, NULL},
    {"sk-", false, "openai-api-key", v_openai, NULL},
    {"sk-proj-", false, "openai-project-key", v_prefix, &proj},
    {"sk-svcacct-", false, "openai-project-key", v_prefix, &proj},
    {"sk-admin-", false, "openai-project-key", v_prefix, &proj},
    {"sk-ant-", false, "anthropic-api-key", v_prefix, &ant},
    {"hf_", false, "huggingface-token", v_hf, NULL},
    {"key-", false, "mailgun-api-key", v_prefix, &mg},
    {"-us", false, "mailchimp-api-key", v_mailchimp, NULL},
    {"shpat_", false, "shopify-access-token", v_prefix, &hex32any},
    {"shpca_", false, "shopify-custom-app-token", v_prefix, &hex32any},
    {"shppa_", false, "shopify-private-app-token", v_prefix, &hex32any},
    {"shpss_", false, "shopify-shared-secret", v_prefix, &hex32any},
    {"EAAA", false, "square-access-token", v_prefix, &eaaa},
    {"sq0atp-", false, "square-access-token", v_prefix, &sq22},
    {"sq0csp-", false, "square-oauth-secret", v_prefix, &sq43},
    {"HRKU-", false, "heroku-api-key", v_prefix, &hrku},
    {"heroku", true, "heroku-api-key", v_heroku, NULL},
    {"dop_v1_", false, "digitalocean-pat", v_prefix, &hex64},
    {"doo_v1_", false, "digitalocean-oauth-token", v_prefix, &hex64},
    {"dor_v1_", false, "digitalocean-refresh-token", v_prefix, &hex64},
    {"dapi", false, "databricks-token", v_prefix, &dapi},
    {"ATATT3", false, "atlassian-api-token", v_prefix, &atatt},
    {"discord", true, "discord-bot-token", v_discord_bot, NULL},
    {"/api/webhooks/", false, "discord-webhook-url", v_discord_hook, NULL},
    {":AA", false, "telegram-bot-token", v_telegram, NULL},
    {"hvs.", false, "hashicorp-vault-token", v_prefix, &hvs},
    {"hvb.", false, "hashicorp-vault-token", v_prefix, &hvs},
    {"NRAK-", false, "newrelic-user-api-key", v_prefix, &nrak},
    {"PMAK-", false, "postman-api-key", v_prefix, &pmak},
    {"AGE-SECRET-KEY-1", false, "age-secret-key", v_prefix, &age},
    {"lin_api_", false, "linear-api-key", v_prefix, &lin},
    {"pul-", false, "pulumi-access-token", v_prefix, &hex40},
    {"dp.pt.", false, "doppler-token", v_prefix, &dp},
    {"glc_", false, "grafana-cloud-token", v_prefix, &glc},
    {"glsa_", false, "grafana-cloud-token", v_prefix, &glsa},
    {"sntrys_", false, "sentry-auth-token", v_prefix, &sntry},
    {"-----BEGIN ", false, NULL, v_pem, NULL},
    {"PuTTY-User-Key-File-", false, "private-key-putty", v_putty, NULL},
    {"eyJ", false, "jwt", v_jwt, NULL},
    {"://", false, NULL, v_url, NULL},
    {"password", true, "generic-password", v_generic, &gen_password},
    {"passwd", true, "generic-password", v_generic, &gen_password},
    {"secret", true, "generic-secret", v_generic, &gen_other},
    {"token", true, "generic-token", v_generic, &gen_other},
    {"api_key", true, "generic-api-key", v_generic, &gen_other},
    {"apikey", true, "generic-api-key", v_generic, &gen_other},
    {"api-key", true, "generic-api-key", v_generic, &gen_other},
    {"access_key", true, "generic-api-key", v_generic, &gen_other},
    {"accesskey", true, "generic-api-key", v_generic, &gen_other},
    {"private_key", true, "generic-api-key", v_generic, &gen_other},
};
#define N_ANCHORS (sizeof(anchors) / sizeof(anchors[0]))

/* ---- compile and scan ---- */

static int rule_index(const char *id, unsigned *ret)
{
    size_t n;
    const mrun_rule *r = mrun_secrets_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].id, id) == 0) {
            *ret = (unsigned)i;
            return 0;
        }
    return -1;
}

void mrun_secrets_free(mrun_secrets *s)
{
    if (!s)
        return;
    free(s->anchors);
    free(s->idx);
    free(s);
}

void mrun_secrets_freep(mrun_secrets **s)
{
    mrun_secrets_free(*s);
}

static int resolve(mrun_secrets *s, mrun_err *err)
{
    for (size_t k = 0; k < N_PEM; k++)
        if (rule_index(pem_labels[k].rule, &s->res.pem[k]) < 0)
            return mrun_err_setx(err, EINVAL, "secrets: unknown rule '%s'", pem_labels[k].rule);
    if (N_SCHEMES > N_SCHEMES_MAX)
        return mrun_err_setx(err, EINVAL, "secrets: too many URL schemes");
    for (size_t k = 0; k < N_SCHEMES; k++)
        if (rule_index(url_schemes[k].rule, &s->res.url[k]) < 0)
            return mrun_err_setx(err, EINVAL, "secrets: unknown rule '%s'", url_schemes[k].rule);
    for (size_t i = 0; i < N_ANCHORS; i++) {
        const anchor *a = &anchors[i];
        s->anchors[i] = (anchor_rt){a, strlen(a->lit), 0};
        if (a->rule && rule_index(a->rule, &s->anchors[i].rule) < 0)
            return mrun_err_setx(err, EINVAL, "secrets: anchor '%s': unknown rule '%s'", a->lit, a->rule);
        for (const char *c = a->lit; a->icase && *c; c++)
            if (lower((uint8_t)*c) != (uint8_t)*c)
                return mrun_err_setx(err, EINVAL, "secrets: case-insensitive anchor '%s' is not lowercase", a->lit);
    }
    return 0;
}

int mrun_secrets_new(mrun_secrets **ret, mrun_err *err)
{
    mrun_cleanup(mrun_secrets_freep) mrun_secrets *s = calloc(1, sizeof(*s));
    size_t count[256] = {0};
    if (!s)
        return mrun_err_set(err, ENOMEM, "secrets: allocate matcher");
    s->n_anchors = N_ANCHORS;
    s->anchors = calloc(N_ANCHORS, sizeof(*s->anchors));
    s->idx = calloc(2 * N_ANCHORS, sizeof(*s->idx));
    if (!s->anchors || !s->idx)
        return mrun_err_set(err, ENOMEM, "secrets: allocate matcher");
    if (resolve(s, err) < 0)
        return -1;
    /* first-byte table: a case-insensitive anchor is listed under both cases of its first letter */
    for (size_t i = 0; i < N_ANCHORS; i++) {
        uint8_t c = (uint8_t)anchors[i].lit[0];
        count[c]++;
        if (anchors[i].icase && c >= 'a' && c <= 'z')
            count[c - 32]++;
    }
    s->start[0] = 0;
    for (int c = 0; c < 256; c++)
        s->start[c + 1] = s->start[c] + count[c];
    size_t fill[256];
    memcpy(fill, s->start, sizeof(fill));
    for (size_t i = 0; i < N_ANCHORS; i++) {
        uint8_t c = (uint8_t)anchors[i].lit[0];
        s->idx[fill[c]++] = (unsigned)i;
        if (anchors[i].icase && c >= 'a' && c <= 'z')
            s->idx[fill[c - 32]++] = (unsigned)i;
    }
    *ret = mrun_steal_ptr(&s);
    return 0;
}

static bool anchor_at(const scan *s, const anchor_rt *ar, size_t i)
{
    if (s->n - i < ar->len)
        return false;
    if (!ar->a->icase)
        return memcmp(s->b + i, ar->a->lit, ar->len) == 0;
    for (size_t k = 0; k < ar->len; k++)
        if (lower(s->b[i + k]) != (uint8_t)ar->a->lit[k])
            return false;
    return true;
}

static int cmp_match(const void *x, const void *y)
{
    const match *a = x, *b = y;
    if (a->off != b->off)
        return a->off < b->off ? -1 : 1;
    if (a->prio != b->prio)
        return a->prio > b->prio ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->rule < b->rule ? -1 : a->rule > b->rule;
}

/* Sorts and drops overlapping matches, keeping the higher priority one; returns the count kept. */
static size_t resolve_overlaps(match *m, size_t n)
{
    size_t k = 0;
    if (n == 0)
        return 0;
    qsort(m, n, sizeof(*m), cmp_match);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && m[i].off < m[k - 1].off + m[k - 1].len) {
            if (m[i].prio > m[k - 1].prio)
                m[k - 1] = m[i];
            continue;
        }
        m[k++] = m[i];
    }
    return k;
}

int mrun_secrets_scan(const mrun_secrets *sec, const char *path, const uint8_t *buf, size_t len, mrun_findings *out,
                      mrun_err *err)
{
    mrun_autofree match *owned = NULL;
    scan s = {.b = buf, .n = len, .docker_auths = -1, .res = &sec->res};
    const mrun_rule *rules;
    size_t n_rules;

    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        for (size_t k = sec->start[c]; k < sec->start[c + 1]; k++) {
            const anchor_rt *ar = &sec->anchors[sec->idx[k]];
            if (anchor_at(&s, ar, i))
                ar->a->fn(&s, ar->a, ar->rule, i);
        }
        if (s.oom || s.full)
            break;
    }
    owned = s.m;
    if (s.oom)
        return mrun_err_set(err, ENOMEM, "secret-scan '%s'", path);
    if (s.full)
        return mrun_err_setx(err, E2BIG, "secret-scan '%s': more than %u candidates", path, MAX_MATCHES);
    size_t n = resolve_overlaps(s.m, s.nm);
    rules = mrun_secrets_rules(&n_rules);
    unsigned line = 1;
    size_t at = 0, line_start = 0;
    for (size_t i = 0; i < n; i++) {
        for (; at < s.m[i].off; at++)
            if (buf[at] == '\n') {
                line++;
                line_start = at + 1;
            }
        unsigned col = (unsigned)(s.m[i].off - line_start + 1);
        if (mrun_findings_add(out, &rules[s.m[i].rule], path, line, col, (const char *)buf + s.m[i].off, s.m[i].len,
                              err) < 0)
            return mrun_err_prefix(err, "secret-scan '%s'", path);
    }
    return 0;
}
