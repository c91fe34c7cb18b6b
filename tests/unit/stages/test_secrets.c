/* test_secrets.c - the secret scanner: per-rule positive and negative cases, positions, overlap resolution,
 * long lines, and the labelled corpus in tests/data/secrets (recall and precision must each reach 0.95). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/auto.h"
#include "stages/findings.h"
#include "stages/secrets.h"

static mrun_secrets *sec;

static int setup(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_secrets_new(&sec, &err) < 0) {
        fprintf(stderr, "mrun_secrets_new: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mrun_secrets_free(sec);
    return 0;
}

static mrun_findings *scan_text(const char *text, size_t len)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_findings *f = NULL;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    if (mrun_secrets_scan(sec, "t.txt", (const uint8_t *)text, len, f, &err) < 0)
        fail_msg("scan: %s", err.msg);
    return f;
}

/* ---- table-driven rule cases: the text yields exactly `rule` once, or nothing when rule is NULL ---- */

typedef struct tcase {
    const char *rule;
    const char *text;
} tcase;

static const tcase cases[] = {
    {"aws-access-key-id", "id = AKIAZ7VQ2MNB4XK3LP6D\n"},
    {NULL, "id = AKIAIOSFODNN7EXAMPLE\n"},
    {NULL, "xAKIAZ7VQ2MNB4XK3LP6D\n"},
    {"aws-secret-access-key", "aws_secret_access_key = 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\n"},
    {NULL, "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"},
    {"gcp-api-key", "k=AIzaSyD3x9Kq_7bLmN2pQrStUvWxYz0123456-A\n"},
    {NULL, "k=AIzaSy...\n"},
    {"github-pat", "GITHUB_TOKEN=ghp_Q7mZ2kL9xV4bN1cR8tY6uW3sA5dF0gH2jK4L\n"},
    {NULL, "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"},
    {NULL, "gh ghp_Q7mZ2kL9xV4bN1cR8tY6uW3sA5dF0gH2jK4LQ\n"}, /* 37 chars: not the format */
    {"gitlab-pat", "glpat-Ab3dE6gH9jK2mN5pQ8sT\n"},
    {"slack-bot-token", "xoxb-493817265012-5730918264013-Ab3dE6gH9jK2mN5pQ8sTuVwX\n"},
    {NULL, "xoxb-your-bot-token\n"},
    {"slack-webhook-url", "https://hooks.slack.com/services/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\n"},
    {"stripe-secret-key", "sk_live_Ab3dE6gH9jK2mN5pQ8sTuVwX\n"},
    {"stripe-test-secret-key", "sk_test_Ab3dE6gH9jK2mN5pQ8sTuVwX\n"},
    {NULL, "sk_test_4eC39HqLyjWDarjtT1zdp7dc\n"},
    {"twilio-api-key", "SK0123456789abcdef0123456789abcdef\n"},
    {"twilio-auth-token", "sid=AC0123456789abcdef0123456789abcdef auth_token=9f8e7d6c5b4a39281706f5e4d3c2b1a0\n"},
    {NULL, "sid=AC0123456789abcdef0123456789abcdef\n"},
    {"sendgrid-api-key", "SG.Ab3dE6gH9jK2mN5pQ8sTuV.Ab3dE6gH9jK2mN5pQ8sTuVwXyZ0123456789_-AbCdE\n"},
    {"npmrc-auth-token", "//registry.npmjs.org/:_authToken=9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0\n"},
    {NULL, "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n"},
    {"openai-api-key", "sk-Ab3dE6gH9jK2mN5pQ8sTT3BlbkFJuVwXyZ0123456789EfGh\n"},
    {"anthropic-api-key",
     "sk-ant-api03-Ab3dE6gH9jK2mN5pQ8sTuVwXyZ0123456789_-Ab3dE6gH9jK2mN5pQ8sTuVwXyZ0123456789_-Ab3dE6gH9jK2mN5pAA\n"},
    {NULL, "mask-Ab3dE6gH9jK2mN5pQ8sTT3BlbkFJuVwXyZ0123456789AbCdEfGh\n"},
    {"huggingface-token", "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\n"},
    {NULL, "hf_hub_download(repo)\n"},
    {"mailchimp-api-key", "0123456789abcdef0123456789abcdef-us6\n"},
    {"telegram-bot-token", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawA\n"},
    {NULL, "time 12:34:56 AA\n"},
    {"discord-webhook-url", "https://discord.com/api/webhooks/123456789012345678/"
                            "Ab3dE6gH9jK2mN5pQ8sTuVwXyZ0123456789_-Ab3dE6gH9jK2mN5pQ8sTuVwXyZ012345\n"},
    {"heroku-api-key", "HEROKU_API_KEY=01234567-89ab-4cde-8f01-23456789abcd\n"},
    {NULL, "id: 01234567-89ab-4cde-8f01-23456789abcd\n"},
    {"private-key-openssh", "-----BEGIN OPENSSH PRIVATE "
                            "KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----"
                            "END OPENSSH PRIVATE KEY-----\n"},
    {NULL, "-----BEGIN PUBLIC "
           "KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0t\n-----END PUBLIC "
           "KEY-----\n"},
    {NULL, "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n"},
    {"jwt", "Bearer "
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInJvbGUiOiJjaSJ9."
            "Ab3dE6gH9jK2mN5pQ8sTuVwXyZ0123456789_-AbCd\n"},
    {NULL, "x = eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiI0MiIsInJvbGUiOiJjaSJ9.Ab3dE6gH9jK2mN5pQ8sTuVwXyZ\n"}, /* no "alg" */
    {"postgres-url-password", "DATABASE_URL=postgres://ci:Zk3pQ9vL2mX7@db:5432/app\n"},
    {NULL, "DATABASE_URL=postgres://ci:${DB_PASSWORD}@db:5432/app\n"},
    {NULL, "https://github.com/mrun/mrun.git\n"},
    {"mongodb-url-password", "mongodb+srv://app:Zk3pQ9vL2mX7@cluster0.x.mongodb.net/db\n"},
    {"url-basic-auth", "https://deploy:Zk3pQ9vL2mX7@nexus.internal/repo\n"},
    {NULL, "https://user:password@example.com/\n"},
    {"generic-password", "DB_PASSWORD=\"Zk3pQ9vL2mX7\"\n"},
    {"generic-password", "password: Zk3pQ9vL2mX7\n"},
    {NULL, "password = os.environ[\"DB_PASSWORD\"]\n"},
    {NULL, "password: changeme\n"},
    {NULL, "token: ${{ secrets.GITHUB_TOKEN }}\n"},
    {NULL, "if password == other:\n"},
    {NULL, "password_file = /run/secrets/pw9\n"},
    {"generic-secret", "SECRET_KEY = 'p9Zk3Q+vL2mX7bN4cR8tY6uW'\n"},
    {NULL, "SECRET_KEY = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa'\n"},
    {"generic-token", "auth_token: 9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c\x35"
                      "5b\n"},
    {NULL, "token = \"da39a3ee5e6b4b0d3255bfef95601890afd80709\"\n"},
    {NULL, "token: 123e4567-e89b-12d3-a456-426614174000\n"},
    {"generic-api-key", "API_KEY = \"Zk3pQ9vL2mX7bN4cR8tY6uW1\"\n"},
    {NULL, "\"integrity\": \"sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ==\"\n"},
    {"azure-storage-account-key",
     "AccountName=x;AccountKey=Zk3pQ9vL2mX7bN4cR8tY6uW1Zk3pQ9vL2mX7bN4cR8tY6uW1Zk3pQ9vL2mX7bN4cR8tY6uW1Zk3pQ9vL2mX7bN=="
     "\n"},
    {"azure-client-secret", "AZURE_CLIENT_SECRET=abc8Q~Zk3pQ9vL2mX7bN4cR8tY6uW1Zk3pQ9vL2\n"},
    {"databricks-token", "dapi0123456789abcdef0123456789abcdef\n"},
    {"age-secret-key", "AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE\n"},
    {NULL, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0 ci@host\n"},
};

static void test_cases(void **state)
{
    (void)state;
    size_t fails = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mrun_cleanup(mrun_findings_freep) mrun_findings *f = scan_text(cases[i].text, strlen(cases[i].text));
        size_t n = mrun_findings_count(f);
        bool ok = cases[i].rule ? n == 1 && strcmp(mrun_findings_at(f, 0)->rule->id, cases[i].rule) == 0 : n == 0;
        if (!ok) {
            fails++;
            fprintf(stderr, "case %zu (%s): got %zu finding(s)%s%s: %.60s\n", i, cases[i].rule ? cases[i].rule : "none",
                    n, n ? ", first " : "", n ? mrun_findings_at(f, 0)->rule->id : "", cases[i].text);
        }
    }
    assert_int_equal(fails, 0);
}

static void test_rule_table(void **state)
{
    (void)state;
    size_t n;
    const mrun_rule *r = mrun_secrets_rules(&n);
    assert_true(n >= 60);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(r[i].title);
        assert_non_null(r[i].fix);
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(r[i].id, r[j].id);
    }
}

static void test_position_and_value(void **state)
{
    (void)state;
    const char *text = "a: 1\nb: 2\n  key: AKIAZ7VQ2MNB4XK3LP6D\n";
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = scan_text(text, strlen(text));
    assert_int_equal(mrun_findings_count(f), 1);
    const mrun_finding *x = mrun_findings_at(f, 0);
    assert_int_equal(x->line, 3);
    assert_int_equal(x->col, 8);
    assert_string_equal(x->path, "t.txt");
    assert_null(strstr(x->redacted ? x->redacted : "", "AKIAZ7VQ2MNB4XK3LP6D"));
}

/* A specific token under a generic name is reported once, as the specific rule. */
static void test_specific_beats_generic(void **state)
{
    (void)state;
    const char *text = "token = \"ghp_Q7mZ2kL9xV4bN1cR8tY6uW3sA5dF0gH2jK4L\"\n"
                       "private_key = \"-----BEGIN PRIVATE "
                       "KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\n-----END PRIVATE KEY-----\"\n"
                       "url = https://x-access-token:ghp_Q7mZ2kL9xV4bN1cR8tY6uW3sA5dF0gH2jK4L@github.com/o/r\n";
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = scan_text(text, strlen(text));
    assert_int_equal(mrun_findings_count(f), 3);
    assert_string_equal(mrun_findings_at(f, 0)->rule->id, "github-pat");
    assert_string_equal(mrun_findings_at(f, 1)->rule->id, "private-key-pkcs8");
    assert_string_equal(mrun_findings_at(f, 2)->rule->id, "github-pat");
}

/* A secret at the end of a 200 KiB line is found, with its byte column. */
static void test_long_line(void **state)
{
    (void)state;
    size_t pad = 200 * 1024;
    const char *tok = " ghp_Q7mZ2kL9xV4bN1cR8tY6uW3sA5dF0gH2jK4L\n";
    mrun_autofree char *text = malloc(pad + strlen(tok) + 1);
    assert_non_null(text);
    for (size_t i = 0; i < pad; i++)
        text[i] = "ab+/c="[i % 6];
    memcpy(text + pad, tok, strlen(tok) + 1);
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = scan_text(text, strlen(text));
    assert_int_equal(mrun_findings_count(f), 1);
    assert_int_equal(mrun_findings_at(f, 0)->col, pad + 2);
}

static void test_empty_and_binaryish(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = scan_text("", 0);
    assert_int_equal(mrun_findings_count(f), 0);
    uint8_t junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
    }
    mrun_cleanup(mrun_findings_freep) mrun_findings *g = scan_text((const char *)junk, sizeof(junk));
    (void)g; /* no crash, no sanitizer report */
}

/* Inputs that put an anchor every few bytes: each must finish (bounded work per byte) without sanitizer reports. */
static void test_adversarial(void **state)
{
    (void)state;
    static const char *const pats[] = {"password=",
                                       "eyJ",
                                       "-----BEGIN ",
                                       "AC0123456789abcdef0123456789abcdef ",
                                       "a://b:",
                                       "\"type\": \"service_account\" ",
                                       "1Q~",
                                       "?sv=2020&sig=",
                                       "discord M",
                                       "token",
                                       "0123456789abcdef0123456789abcdef-us",
                                       ":AA"};
    size_t n = 256 * 1024;
    mrun_autofree char *text = malloc(n);
    assert_non_null(text);
    for (size_t p = 0; p < sizeof(pats) / sizeof(pats[0]); p++) {
        size_t l = strlen(pats[p]);
        for (size_t i = 0; i < n; i++)
            text[i] = pats[p][i % l];
        mrun_cleanup(mrun_findings_freep) mrun_findings *f = scan_text(text, n);
        assert_true(mrun_findings_count(f) <= 1);
    }
}

/* ---- the corpus ---- */

static char corpus_dir[4096];

static const char *corpus(void)
{
    if (!corpus_dir[0]) {
        const char *env = getenv("MRUN_SECRETS_CORPUS");
        if (env) {
            snprintf(corpus_dir, sizeof(corpus_dir), "%s", env);
        } else {
            const char *me = __FILE__, *cut = strstr(me, "tests/unit/stages/test_secrets.c");
            snprintf(corpus_dir, sizeof(corpus_dir), "%.*stests/data/secrets", cut ? (int)(cut - me) : 0, me);
        }
    }
    return corpus_dir;
}

static char *slurp(const char *path, size_t *ret_len)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    char *b = malloc((size_t)st.st_size + 1);
    if (!b)
        return NULL;
    ssize_t r = read(fd, b, (size_t)st.st_size);
    if (r != st.st_size) {
        free(b);
        return NULL;
    }
    b[r] = 0;
    *ret_len = (size_t)r;
    return b;
}

static void closedirp_(DIR **d)
{
    if (*d)
        closedir(*d);
}

/* Splits off the next field of *cur at any of delims. */
static char *next_field(char **cur, const char *delims)
{
    char *p = *cur + strspn(*cur, delims);
    if (!*p)
        return NULL;
    char *e = p + strcspn(p, delims);
    *cur = *e ? e + 1 : e;
    *e = 0;
    return p;
}

typedef struct tally {
    size_t expected, tp, fp;
} tally;

/* Scans one file; counts expected rule ids found (tp) and every other finding (fp). */
static void score_file(const char *path, const char *name, char *expect, tally *t)
{
    size_t len = 0;
    mrun_autofree char *buf = slurp(path, &len);
    assert_non_null(buf);
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = scan_text(buf, len);
    size_t n = mrun_findings_count(f);
    bool used[64] = {false};
    char *cur = expect;
    for (char *id = expect ? next_field(&cur, " \t\n") : NULL; id; id = next_field(&cur, " \t\n")) {
        t->expected++;
        bool hit = false;
        for (size_t i = 0; i < n && i < 64 && !hit; i++)
            if (!used[i] && strcmp(mrun_findings_at(f, i)->rule->id, id) == 0)
                used[i] = hit = true;
        if (hit)
            t->tp++;
        else
            fprintf(stderr, "  miss: %s expected %s\n", name, id);
    }
    for (size_t i = 0; i < n; i++)
        if (i >= 64 || !used[i]) {
            t->fp++;
            fprintf(stderr, "  false positive: %s:%u:%u %s\n", name, mrun_findings_at(f, i)->line,
                    mrun_findings_at(f, i)->col, mrun_findings_at(f, i)->rule->id);
        }
}

static void test_corpus(void **state)
{
    (void)state;
    char path[8192];
    tally t = {0};
    size_t n_pos = 0, n_neg = 0, n_rules;
    const mrun_rule *rules = mrun_secrets_rules(&n_rules);
    bool covered[256] = {false};
    assert_true(n_rules <= 256);

    snprintf(path, sizeof(path), "%s/labels.txt", corpus());
    size_t len;
    mrun_autofree char *labels = slurp(path, &len);
    assert_non_null(labels);
    char *cur = labels;
    for (char *ln = next_field(&cur, "\n"); ln; ln = next_field(&cur, "\n")) {
        if (ln[0] == '#' || !ln[0])
            continue;
        char *sp = strchr(ln, ' ');
        assert_non_null(sp);
        *sp = 0;
        for (size_t r = 0; r < n_rules; r++)
            if (strstr(sp + 1, rules[r].id))
                covered[r] = true;
        snprintf(path, sizeof(path), "%s/positives/%s", corpus(), ln);
        score_file(path, ln, sp + 1, &t);
        n_pos++;
    }
    mrun_cleanup(closedirp_) DIR *d = NULL;
    snprintf(path, sizeof(path), "%s/negatives", corpus());
    d = opendir(path);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/negatives/%s", corpus(), e->d_name);
        score_file(path, e->d_name, NULL, &t);
        n_neg++;
    }
    double recall = t.expected ? (double)t.tp / (double)t.expected : 0;
    double precision = t.tp + t.fp ? (double)t.tp / (double)(t.tp + t.fp) : 0;
    printf("secret-scan corpus: %zu positive files (%zu expected), %zu negative files: tp=%zu fp=%zu fn=%zu "
           "recall=%.4f precision=%.4f\n",
           n_pos, t.expected, n_neg, t.tp, t.fp, t.expected - t.tp, recall, precision);
    for (size_t r = 0; r < n_rules; r++)
        if (!covered[r])
            fprintf(stderr, "  rule without a positive: %s\n", rules[r].id);
    for (size_t r = 0; r < n_rules; r++)
        assert_true(covered[r]);
    assert_true(n_pos >= 120 && n_neg >= 120);
    assert_true(recall >= 0.95);
    assert_true(precision >= 0.95);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_table),         cmocka_unit_test(test_cases),
        cmocka_unit_test(test_position_and_value), cmocka_unit_test(test_specific_beats_generic),
        cmocka_unit_test(test_long_line),          cmocka_unit_test(test_empty_and_binaryish),
        cmocka_unit_test(test_adversarial),        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
