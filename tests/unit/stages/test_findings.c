/* test_findings.c - the shared machinery of the checks: the workspace walk (real trees in mkdtemp dirs), the
 * findings list (fingerprints, redaction, bound), inline and baseline suppression, and the three reports. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include <jansson.h>

#include "common/auto.h"
#include "stages/findings.h"

static const mrun_rule rules[] = {
    {"aws-access-key-id", "AWS access key ID", "Revoke the key and load it from a secret", "Keys in code leak.",
     MRUN_SEV_CRITICAL},
    {"generic-password", "Password assignment", "Move it to a secret", "Passwords in code leak.", MRUN_SEV_HIGH},
    {"tls-verify-off", "TLS verification disabled", "Verify certificates", "MITM.", MRUN_SEV_MEDIUM},
    {"todo-marker", "TODO left in code", "Finish it", "Loose ends.", MRUN_SEV_LOW},
};
#define AWS  (&rules[0])
#define PASS (&rules[1])
#define TLS  (&rules[2])
#define TODO (&rules[3])

/* ---- temp trees ---- */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    remove(p);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
}

static int tmpdir(char path[64])
{
    snprintf(path, 64, "/tmp/mrun-findings-XXXXXX");
    assert_non_null(mkdtemp(path));
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* Writes rel (parent directories created) with len bytes of data. */
static void put_file(int dfd, const char *rel, const void *data, size_t len)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", rel);
    for (char *p = dir; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdirat(dfd, dir, 0755);
        *p = '/';
    }
    int fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void put_text(int dfd, const char *rel, const char *text)
{
    put_file(dfd, rel, text, strlen(text));
}

/* What a walk saw: "path" per scanned file, "path: reason" per skip, in order. */
typedef struct seen {
    char scanned[32][128];
    size_t n_scanned;
    size_t lens[32];
    char skipped[32][128];
    size_t n_skipped;
} seen;

static int on_file(void *ctx, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    (void)err;
    seen *s = ctx;
    assert_non_null(buf);
    assert_true(s->n_scanned < 32);
    s->lens[s->n_scanned] = len;
    snprintf(s->scanned[s->n_scanned++], 128, "%s", path);
    return 0;
}

static void on_skip(void *ctx, const char *path, const char *reason)
{
    seen *s = ctx;
    assert_true(s->n_skipped < 32);
    snprintf(s->skipped[s->n_skipped++], 128, "%s: %s", path, reason);
}

static bool has(char list[][128], size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], want) == 0)
            return true;
    return false;
}

static bool any_prefix(char list[][128], size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(list[i], prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

/* ---- walk ---- */

static void test_walk_order(void **state)
{
    (void)state;
    char root[64];
    int dfd = tmpdir(root);
    put_text(dfd, "b.txt", "b");
    put_text(dfd, "a/z.txt", "z");
    put_text(dfd, "a/b/c.txt", "c");
    put_text(dfd, "C.txt", "upper");
    put_text(dfd, "empty", "");
    put_text(dfd, ".git/config", "[core]");
    put_text(dfd, ".mrun/cache/x", "cached");
    put_text(dfd, ".mrun/conf", "kept");
    put_text(dfd, "d/.git/HEAD", "ref");
    seen s = {0};
    mrun_scan_stats st;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_scan_walk(dfd, 0, on_file, on_skip, &s, &st, &err), 0);
    const char *want[] = {".mrun/conf", "C.txt", "a/b/c.txt", "a/z.txt", "b.txt", "empty"};
    assert_int_equal(s.n_scanned, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(s.scanned[i], want[i]);
    assert_int_equal(s.lens[5], 0);
    assert_int_equal(st.files_scanned, 6);
    assert_int_equal(st.files_skipped, 0);
    assert_int_equal(st.bytes_scanned, 4 + 5 + 1 + 1 + 1);
    close(dfd);
    rm_rf(root);
}

static void test_walk_symlinks_not_followed(void **state)
{
    (void)state;
    char root[64];
    int dfd = tmpdir(root);
    put_text(dfd, "ok.txt", "fine");
    assert_int_equal(symlinkat("/etc", dfd, "etc"), 0);
    assert_int_equal(symlinkat("/etc/passwd", dfd, "passwd"), 0);
    assert_int_equal(symlinkat("ok.txt", dfd, "inside"), 0);
    seen s = {0};
    mrun_scan_stats st;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_scan_walk(dfd, 0, on_file, on_skip, &s, &st, &err), 0);
    assert_int_equal(s.n_scanned, 1);
    assert_string_equal(s.scanned[0], "ok.txt");
    assert_false(any_prefix(s.scanned, s.n_scanned, "etc/"));
    assert_true(has(s.skipped, s.n_skipped, "etc: symlink"));
    assert_true(has(s.skipped, s.n_skipped, "passwd: symlink"));
    assert_true(has(s.skipped, s.n_skipped, "inside: symlink"));
    assert_int_equal(st.files_skipped, 3);
    close(dfd);
    rm_rf(root);
}

static void test_walk_ignore_files(void **state)
{
    (void)state;
    char root[64];
    int dfd = tmpdir(root);
    put_text(dfd, ".gitignore", "*.log\nbuild/\n");
    put_text(dfd, "app.log", "x");
    put_text(dfd, "build/out.txt", "x");
    put_text(dfd, "src/main.c", "x");
    put_text(dfd, "src/.mrunignore", "fixtures/\n!keep.log\n");
    put_text(dfd, "src/fixtures/key.pem", "x");
    put_text(dfd, "src/keep.log", "x");
    put_text(dfd, "src/deep/.gitignore", "secret.txt\n");
    put_text(dfd, "src/deep/secret.txt", "x");
    put_text(dfd, "secret.txt", "x"); /* the nested rule does not reach up */
    seen s = {0};
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_scan_walk(dfd, 0, on_file, NULL, &s, NULL, &err), 0);
    assert_true(has(s.scanned, s.n_scanned, "src/main.c"));
    assert_true(has(s.scanned, s.n_scanned, "src/keep.log"));
    assert_true(has(s.scanned, s.n_scanned, "secret.txt"));
    assert_true(has(s.scanned, s.n_scanned, ".gitignore"));
    assert_false(has(s.scanned, s.n_scanned, "app.log"));
    assert_false(any_prefix(s.scanned, s.n_scanned, "build/"));
    assert_false(any_prefix(s.scanned, s.n_scanned, "src/fixtures/"));
    assert_false(has(s.scanned, s.n_scanned, "src/deep/secret.txt"));
    close(dfd);
    rm_rf(root);
}

static void test_walk_binary_and_large(void **state)
{
    (void)state;
    char root[64];
    int dfd = tmpdir(root);
    char bin[100] = "ELF";
    bin[50] = '\0';
    put_file(dfd, "prog", bin, sizeof(bin));
    char big[2000];
    memset(big, 'a', sizeof(big));
    put_file(dfd, "big.txt", big, sizeof(big));
    put_file(dfd, "edge.txt", big, 1000);
    /* a NUL past the first 8 KiB does not make a file binary */
    char *late = calloc(1, 9000);
    memset(late, 'x', 8192);
    put_file(dfd, "late-nul.txt", late, 9000);
    free(late);
    assert_int_equal(mkfifoat(dfd, "fifo", 0644), 0);
    seen s = {0};
    mrun_scan_stats st;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_scan_walk(dfd, 1000, on_file, on_skip, &s, &st, &err), 0);
    assert_int_equal(s.n_scanned, 1);
    assert_string_equal(s.scanned[0], "edge.txt");
    assert_true(has(s.skipped, s.n_skipped, "prog: binary"));
    assert_true(has(s.skipped, s.n_skipped, "big.txt: larger than 1000 bytes"));
    assert_true(has(s.skipped, s.n_skipped, "late-nul.txt: larger than 1000 bytes"));
    assert_true(has(s.skipped, s.n_skipped, "fifo: not a regular file"));
    assert_int_equal(st.files_skipped, 4);

    memset(&s, 0, sizeof(s));
    assert_int_equal(mrun_scan_walk(dfd, 1 << 20, on_file, on_skip, &s, &st, &err), 0);
    assert_true(has(s.scanned, s.n_scanned, "late-nul.txt"));
    assert_true(has(s.skipped, s.n_skipped, "prog: binary"));
    close(dfd);
    rm_rf(root);
}

static int stop_at_second(void *ctx, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    (void)path;
    (void)buf;
    (void)len;
    int *n = ctx;
    if (++*n == 2)
        return mrun_err_setx(err, EPROTO, "stop");
    return 0;
}

static void test_walk_stop_and_depth(void **state)
{
    (void)state;
    char root[64];
    int dfd = tmpdir(root);
    put_text(dfd, "a", "1");
    put_text(dfd, "b", "2");
    put_text(dfd, "c", "3");
    int n = 0;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_scan_walk(dfd, 0, stop_at_second, NULL, &n, NULL, &err), -1);
    assert_int_equal(n, 2);
    assert_int_equal(err.sys_errno, EPROTO);

    char deep[400] = "d";
    for (int i = 1; i < 70; i++)
        strncat(deep, "/d", sizeof(deep) - strlen(deep) - 1);
    strncat(deep, "/f", sizeof(deep) - strlen(deep) - 1);
    put_text(dfd, deep, "x");
    seen s = {0};
    assert_int_equal(mrun_scan_walk(dfd, 0, on_file, NULL, &s, NULL, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    close(dfd);
    rm_rf(root);
}

/* ---- list, fingerprints, redaction ---- */

static void test_redaction(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    const char *key = "AKIAIOSFODNN7EXAMPLE";
    assert_int_equal(mrun_findings_add(f, AWS, "a.py", 3, 5, key, strlen(key), &err), 0);
    assert_int_equal(mrun_findings_add(f, PASS, "a.py", 4, 1, "hunter2", 7, &err), 0);
    assert_int_equal(mrun_findings_add(f, PASS, "a.py", 5, 1, "\x1b[31mabcdef", 11, &err), 0);
    assert_int_equal(mrun_findings_add(f, TODO, "a.py", 6, 1, NULL, 0, &err), 0);
    assert_string_equal(mrun_findings_at(f, 0)->redacted, "AKIA\xe2\x80\xa6(20 chars)");
    assert_string_equal(mrun_findings_at(f, 1)->redacted, "(7 chars)");
    assert_string_equal(mrun_findings_at(f, 2)->redacted, "?[31\xe2\x80\xa6(11 chars)");
    assert_null(mrun_findings_at(f, 3)->redacted);
    /* never more than the first 4 characters: no 5-byte window of the value appears */
    const char *r = mrun_findings_at(f, 0)->redacted;
    for (size_t i = 0; i + 5 <= strlen(key); i++)
        assert_null(memmem(r, strlen(r), key + i, 5));
    assert_null(strstr(mrun_findings_at(f, 1)->redacted, "hun"));
    /* the list copies its strings */
    char path[8] = "x.c";
    assert_int_equal(mrun_findings_add(f, TODO, path, 1, 1, NULL, 0, &err), 0);
    path[0] = 'y';
    assert_string_equal(mrun_findings_at(f, 4)->path, "x.c");
    assert_int_equal(mrun_findings_count(f), 5);
}

static void test_fingerprints(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_findings_add(f, AWS, "a", 1, 1, "secretvalue1", 12, &err), 0);
    assert_int_equal(mrun_findings_add(f, AWS, "a", 9, 4, "secretvalue1", 12, &err), 0); /* moved: same id */
    assert_int_equal(mrun_findings_add(f, AWS, "b", 1, 1, "secretvalue1", 12, &err), 0);
    assert_int_equal(mrun_findings_add(f, PASS, "a", 1, 1, "secretvalue1", 12, &err), 0);
    assert_int_equal(mrun_findings_add(f, TODO, "a", 1, 0, NULL, 0, &err), 0);
    assert_int_equal(mrun_findings_add(f, TODO, "a", 2, 0, NULL, 0, &err), 0);
    const char *fp0 = mrun_findings_at(f, 0)->fingerprint;
    assert_int_equal(strlen(fp0), 64);
    assert_string_equal(fp0, mrun_findings_at(f, 1)->fingerprint);
    assert_string_not_equal(fp0, mrun_findings_at(f, 2)->fingerprint);
    assert_string_not_equal(fp0, mrun_findings_at(f, 3)->fingerprint);
    assert_string_not_equal(mrun_findings_at(f, 4)->fingerprint, mrun_findings_at(f, 5)->fingerprint);
    /* sha256("aws-access-key-id\0a\0secretvalue1"), computed independently with sha256sum */
    assert_string_equal(fp0, "078ed9dc098638c956d329810090a7921dea6f7c70a233b12596869eaa609a4e");
}

static void test_bound(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    for (unsigned i = 0; i < 100000; i++)
        assert_int_equal(mrun_findings_add(f, TODO, "a", i + 1, 1, NULL, 0, &err), 0);
    assert_int_equal(mrun_findings_add(f, TODO, "a", 1, 1, NULL, 0, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_int_equal(mrun_findings_count(f), 100000);
}

static void test_severity(void **state)
{
    (void)state;
    mrun_severity s;
    assert_int_equal(mrun_severity_parse("critical", &s), 0);
    assert_int_equal(s, MRUN_SEV_CRITICAL);
    assert_int_equal(mrun_severity_parse("low", &s), 0);
    assert_int_equal(s, MRUN_SEV_LOW);
    assert_int_equal(mrun_severity_parse("severe", &s), -1);
    assert_string_equal(mrun_severity_name(MRUN_SEV_MEDIUM), "medium");
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_findings_max_severity(f), -1);
    assert_int_equal(mrun_findings_add(f, TLS, "a", 1, 1, NULL, 0, &err), 0);
    assert_int_equal(mrun_findings_add(f, AWS, "a", 2, 1, "AKIAIOSFODNN7EXAMPLE", 20, &err), 0);
    assert_int_equal(mrun_findings_max_severity(f), MRUN_SEV_CRITICAL);
    const char *src = "x\n# mrun:allow aws-access-key-id test fixture\nkey\n";
    mrun_findings_apply_inline(f, "a", (const uint8_t *)src, strlen(src));
    assert_int_equal(mrun_findings_max_severity(f), MRUN_SEV_MEDIUM);
}

/* ---- suppression ---- */

static void test_inline(void **state)
{
    (void)state;
    const char *src = "line1\n"
                      "key = 'AKIA' # mrun:allow aws-access-key-id docs example, not a key\n"
                      "// mrun:allow generic-password test fixture */\n"
                      "password = 'x'\n"
                      "password = 'y' // mrun:allow generic-password\n"
                      "# mrun:allow tls-verify-off\n"
                      "verify=False\n"
                      "# mrun:allow generic-password far above\n"
                      "\n"
                      "password = 'z'\n"
                      "verify=False <!-- mrun:allow todo-marker wrong rule -->\n"
                      "<!-- mrun:allow todo-marker xml -->\n"
                      "TODO";
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_findings_add(f, AWS, "a.py", 2, 7, "AKIAIOSFODNN7EXAMPLE", 20, &err), 0); /* 0 */
    assert_int_equal(mrun_findings_add(f, PASS, "a.py", 4, 1, "x", 1, &err), 0);                    /* 1 */
    assert_int_equal(mrun_findings_add(f, PASS, "a.py", 5, 1, "y", 1, &err), 0);                    /* 2 */
    assert_int_equal(mrun_findings_add(f, TLS, "a.py", 7, 1, NULL, 0, &err), 0);                    /* 3 */
    assert_int_equal(mrun_findings_add(f, PASS, "a.py", 10, 1, "z", 1, &err), 0);                   /* 4 */
    assert_int_equal(mrun_findings_add(f, TLS, "a.py", 11, 1, NULL, 0, &err), 0);                   /* 5 */
    assert_int_equal(mrun_findings_add(f, TODO, "a.py", 13, 1, NULL, 0, &err), 0);                  /* 6 */
    assert_int_equal(mrun_findings_add(f, AWS, "b.py", 2, 7, "AKIAIOSFODNN7EXAMPLE", 20, &err), 0); /* 7 */
    assert_int_equal(mrun_findings_add(f, TODO, "a.py", 99, 1, NULL, 0, &err), 0);                  /* 8 */
    mrun_findings_apply_inline(f, "a.py", (const uint8_t *)src, strlen(src));
    assert_true(mrun_findings_at(f, 0)->suppressed);
    assert_string_equal(mrun_findings_at(f, 0)->suppressed_by, "inline: docs example, not a key");
    assert_true(mrun_findings_at(f, 1)->suppressed);
    assert_string_equal(mrun_findings_at(f, 1)->suppressed_by, "inline: test fixture");
    assert_false(mrun_findings_at(f, 2)->suppressed); /* no reason */
    assert_null(mrun_findings_at(f, 2)->suppressed_by);
    assert_false(mrun_findings_at(f, 3)->suppressed); /* no reason */
    assert_false(mrun_findings_at(f, 4)->suppressed); /* two lines above */
    assert_false(mrun_findings_at(f, 5)->suppressed); /* another rule */
    assert_true(mrun_findings_at(f, 6)->suppressed);
    assert_string_equal(mrun_findings_at(f, 6)->suppressed_by, "inline: xml");
    assert_false(mrun_findings_at(f, 7)->suppressed); /* another file */
    assert_false(mrun_findings_at(f, 8)->suppressed); /* past the end */

    /* the reason is cut at 200 characters */
    char longsrc[600] = "x # mrun:allow todo-marker ";
    size_t k = strlen(longsrc);
    memset(longsrc + k, 'r', 400);
    longsrc[k + 400] = '\0';
    mrun_cleanup(mrun_findings_freep) mrun_findings *g = NULL;
    assert_int_equal(mrun_findings_new(&g, &err), 0);
    assert_int_equal(mrun_findings_add(g, TODO, "c", 1, 1, NULL, 0, &err), 0);
    mrun_findings_apply_inline(g, "c", (const uint8_t *)longsrc, strlen(longsrc));
    assert_true(mrun_findings_at(g, 0)->suppressed);
    assert_int_equal(strlen(mrun_findings_at(g, 0)->suppressed_by), strlen("inline: ") + 200);
    /* an empty file suppresses nothing and reads nothing */
    mrun_findings_apply_inline(g, "c", (const uint8_t *)"", 0);
}

static char *write_to_string(mrun_findings *f, int fmt, bool baseline, bool color, const mrun_scan_stats *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    mrun_err err = MRUN_ERR_INIT;
    if (baseline)
        assert_int_equal(mrun_findings_write_baseline(f, out, &err), 0);
    else
        assert_int_equal(mrun_findings_report(f, fmt, "mrun secret-scan", rules, 4, st, color, out, &err), 0);
    fclose(out);
    return buf;
}

static void add_sample(mrun_findings *f)
{
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_add(f, AWS, "src/app.py", 12, 9, "AKIAIOSFODNN7EXAMPLE", 20, &err), 0);
    assert_int_equal(mrun_findings_add(f, PASS, "src/app.py", 3, 1, "correcthorsebattery", 19, &err), 0);
    assert_int_equal(mrun_findings_add(f, TLS, "lib/net.py", 7, 2, NULL, 0, &err), 0);
    assert_int_equal(mrun_findings_add(f, TODO, "README", 0, 0, NULL, 0, &err), 0);
}

static void test_baseline_round_trip(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_cleanup(mrun_findings_freep) mrun_findings *g = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_findings_new(&g, &err), 0);
    add_sample(f);
    add_sample(g);
    assert_int_equal(mrun_findings_add(f, AWS, "src/app.py", 40, 9, "AKIAIOSFODNN7EXAMPLE", 20, &err), 0); /* dup */
    mrun_autofree char *json = write_to_string(f, 0, true, false, NULL);
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(root, "tool")), "mrun");
    assert_int_equal(json_array_size(json_object_get(root, "findings")), 4); /* once per fingerprint */
    json_decref(root);
    assert_null(strstr(json, "EXAMPLE"));
    assert_null(strstr(json, "horse"));

    assert_int_equal(mrun_findings_apply_baseline(g, (const uint8_t *)json, strlen(json), &err), 0);
    for (size_t i = 0; i < mrun_findings_count(g); i++) {
        assert_true(mrun_findings_at(g, i)->suppressed);
        assert_string_equal(mrun_findings_at(g, i)->suppressed_by, "baseline");
    }
    assert_int_equal(mrun_findings_max_severity(g), -1);
    /* a new secret is not covered */
    assert_int_equal(mrun_findings_add(g, AWS, "src/app.py", 12, 9, "AKIAIOSFODNN7EXAMPLF", 20, &err), 0);
    assert_int_equal(mrun_findings_apply_baseline(g, (const uint8_t *)json, strlen(json), &err), 0);
    assert_false(mrun_findings_at(g, 4)->suppressed);
}

static void test_baseline_malformed(void **state)
{
    (void)state;
    const char *fp = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char ok[256];
    snprintf(ok, sizeof(ok),
             "{\"version\":1,\"tool\":\"mrun\",\"findings\":[{\"rule\":\"r\",\"path\":\"p\",\"fingerprint\":\"%s\"}]}",
             fp);
    char bad_rule[256];
    snprintf(bad_rule, sizeof(bad_rule), "{\"version\":1,\"findings\":[{\"rule\":5,\"fingerprint\":\"%s\"}]}", fp);
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{\"version\":2,\"findings\":[]}",
        "{\"version\":\"1\",\"findings\":[]}",
        "{\"version\":1}",
        "{\"version\":1,\"findings\":{}}",
        "{\"version\":1,\"findings\":[5]}",
        "{\"version\":1,\"findings\":[{\"fingerprint\":7}]}",
        "{\"version\":1,\"findings\":[{\"fingerprint\":\"abc\"}]}",
        "{\"version\":1,\"version\":1,\"findings\":[]}",
        bad_rule,
    };
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    add_sample(f);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = (mrun_err)MRUN_ERR_INIT;
        assert_int_equal(mrun_findings_apply_baseline(f, (const uint8_t *)bad[i], strlen(bad[i]), &err), -1);
        assert_int_equal(err.sys_errno, EINVAL);
        assert_non_null(strstr(err.msg, "baseline"));
    }
    assert_int_equal(mrun_findings_apply_baseline(f, (const uint8_t *)ok, strlen(ok), &err), 0);
    size_t big = (16u << 20) + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    assert_int_equal(mrun_findings_apply_baseline(f, (const uint8_t *)huge, big, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    free(huge);
    for (size_t i = 0; i < mrun_findings_count(f); i++)
        assert_false(mrun_findings_at(f, i)->suppressed);
}

/* ---- reports ---- */

static void test_report_text(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    add_sample(f);
    assert_int_equal(mrun_findings_add(f, TODO, "evil\n/tmp/x:1:1: forged", 1, 1, NULL, 0, &err), 0);
    const char *src = "a\nb\n# mrun:allow generic-password test data\npassword=1\n";
    mrun_findings_apply_inline(f, "src/app.py", (const uint8_t *)src, strlen(src));
    mrun_scan_stats st = {.files_scanned = 7, .files_skipped = 2, .bytes_scanned = 100};
    mrun_autofree char *txt = write_to_string(f, MRUN_FORMAT_TEXT, false, false, &st);
    assert_non_null(strstr(txt, "src/app.py:12:9: critical aws-access-key-id: AWS access key ID \xe2\x80\x94 Revoke"));
    assert_non_null(strstr(txt, "\n  value: AKIA\xe2\x80\xa6(20 chars)\n"));
    assert_non_null(strstr(txt, "lib/net.py:7:2: medium tls-verify-off"));
    assert_non_null(strstr(txt, "README: low todo-marker"));
    assert_non_null(strstr(txt, "(suppressed: inline: test data)"));
    assert_non_null(strstr(txt, "5 findings (1 suppressed), 7 files scanned, 2 skipped\n"));
    assert_null(strstr(txt, "\x1b["));
    assert_null(strstr(txt, "horse"));
    assert_null(strstr(txt, "\n/tmp/x")); /* a newline in a path cannot forge a line */
    /* suppressed ones come after the others */
    assert_true(strstr(txt, "(suppressed:") > strstr(txt, "README: low"));
    mrun_autofree char *colored = write_to_string(f, MRUN_FORMAT_TEXT, false, true, NULL);
    assert_non_null(strstr(colored, "\x1b["));
    assert_non_null(strstr(colored, "5 findings (1 suppressed)\n"));
}

static void test_report_json(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    add_sample(f);
    assert_int_equal(mrun_findings_add(f, TODO, "bad-\xff-utf8", 1, 1, NULL, 0, &err), 0);
    const char *src = "a\nb\npassword=1 # mrun:allow generic-password test data\n";
    mrun_findings_apply_inline(f, "src/app.py", (const uint8_t *)src, strlen(src));
    mrun_scan_stats st = {.files_scanned = 7, .files_skipped = 2, .bytes_scanned = 100};
    mrun_autofree char *txt = write_to_string(f, MRUN_FORMAT_JSON, false, false, &st);
    json_error_t je;
    json_t *root = json_loads(txt, 0, &je);
    assert_non_null(root);
    json_t *list = json_object_get(root, "findings");
    assert_int_equal(json_array_size(list), 5);
    bool saw_aws = false, saw_supp = false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *keys[] = {"rule",     "severity",    "path",       "line",         "col",
                              "redacted", "fingerprint", "suppressed", "suppressed_by"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            assert_non_null(json_object_get(e, keys[k]));
        if (strcmp(json_string_value(json_object_get(e, "rule")), "aws-access-key-id") == 0) {
            saw_aws = true;
            assert_string_equal(json_string_value(json_object_get(e, "severity")), "critical");
            assert_string_equal(json_string_value(json_object_get(e, "path")), "src/app.py");
            assert_int_equal(json_integer_value(json_object_get(e, "line")), 12);
            assert_int_equal(json_integer_value(json_object_get(e, "col")), 9);
            assert_string_equal(json_string_value(json_object_get(e, "redacted")), "AKIA\xe2\x80\xa6(20 chars)");
            assert_true(json_is_false(json_object_get(e, "suppressed")));
            assert_true(json_is_null(json_object_get(e, "suppressed_by")));
        }
        if (json_is_true(json_object_get(e, "suppressed"))) {
            saw_supp = true;
            assert_string_equal(json_string_value(json_object_get(e, "suppressed_by")), "inline: test data");
        }
    }
    assert_true(saw_aws && saw_supp);
    json_t *stats = json_object_get(root, "stats");
    assert_int_equal(json_integer_value(json_object_get(stats, "files_scanned")), 7);
    assert_int_equal(json_integer_value(json_object_get(stats, "suppressed")), 1);
    assert_null(strstr(txt, "horse"));
    json_decref(root);
}

static void test_report_sarif(void **state)
{
    (void)state;
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    add_sample(f);
    const char *src = "a\nb\npassword=1 # mrun:allow generic-password test data\n";
    mrun_findings_apply_inline(f, "src/app.py", (const uint8_t *)src, strlen(src));
    char base[256];
    snprintf(base, sizeof(base),
             "{\"version\":1,\"findings\":[{\"rule\":\"tls-verify-off\",\"path\":\"lib/net.py\","
             "\"fingerprint\":\"%s\"}]}",
             mrun_findings_at(f, 2)->fingerprint);
    assert_int_equal(mrun_findings_apply_baseline(f, (const uint8_t *)base, strlen(base), &err), 0);
    mrun_autofree char *txt = write_to_string(f, MRUN_FORMAT_SARIF, false, false, NULL);
    json_error_t je;
    json_t *root = json_loads(txt, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "version")), "2.1.0");
    assert_non_null(json_object_get(root, "$schema"));
    json_t *run = json_array_get(json_object_get(root, "runs"), 0);
    json_t *driver = json_object_get(json_object_get(run, "tool"), "driver");
    assert_string_equal(json_string_value(json_object_get(driver, "name")), "mrun secret-scan");
    json_t *jrules = json_object_get(driver, "rules");
    assert_int_equal(json_array_size(jrules), 4);
    json_t *r0 = json_array_get(jrules, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "id")), "aws-access-key-id");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r0, "shortDescription"), "text")),
                        "AWS access key ID");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r0, "properties"), "security-severity")),
                        "9.0");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r0, "defaultConfiguration"), "level")),
                        "error");
    json_t *results = json_object_get(run, "results");
    assert_int_equal(json_array_size(results), 4);
    size_t n_supp = 0;
    for (size_t i = 0; i < 4; i++) {
        json_t *res = json_array_get(results, i);
        const char *id = json_string_value(json_object_get(res, "ruleId"));
        size_t idx = (size_t)json_integer_value(json_object_get(res, "ruleIndex"));
        assert_string_equal(json_string_value(json_object_get(json_array_get(jrules, idx), "id")), id);
        const char *level = json_string_value(json_object_get(res, "level"));
        const char *want = strcmp(id, "tls-verify-off") == 0 ? "warning"
                           : strcmp(id, "todo-marker") == 0  ? "note"
                                                             : "error";
        assert_string_equal(level, want);
        assert_int_equal(strlen(json_string_value(
                             json_object_get(json_object_get(res, "partialFingerprints"), "mrunFingerprint/v1"))),
                         64);
        json_t *phys = json_object_get(json_array_get(json_object_get(res, "locations"), 0), "physicalLocation");
        assert_non_null(json_object_get(json_object_get(phys, "artifactLocation"), "uri"));
        json_t *region = json_object_get(phys, "region");
        if (strcmp(id, "todo-marker") == 0) {
            assert_null(region); /* line 0: the whole file */
        } else {
            assert_non_null(json_object_get(region, "startLine"));
            assert_non_null(json_object_get(region, "startColumn"));
        }
        const char *msg = json_string_value(json_object_get(json_object_get(res, "message"), "text"));
        if (strcmp(id, "aws-access-key-id") == 0)
            assert_string_equal(msg, "AWS access key ID (AKIA\xe2\x80\xa6(20 chars))");
        json_t *supp = json_object_get(res, "suppressions");
        if (strcmp(id, "generic-password") == 0 || strcmp(id, "tls-verify-off") == 0) {
            n_supp++;
            json_t *s0 = json_array_get(supp, 0);
            const char *kind = json_string_value(json_object_get(s0, "kind"));
            if (strcmp(id, "generic-password") == 0) {
                assert_string_equal(kind, "inSource");
                assert_string_equal(json_string_value(json_object_get(s0, "justification")), "test data");
            } else {
                assert_string_equal(kind, "external");
            }
        } else {
            assert_null(supp);
        }
    }
    assert_int_equal(n_supp, 2);
    assert_null(strstr(txt, "horse"));
    json_decref(root);
}

/* A rule a finding names but the check did not list still gets a SARIF rule entry, so ruleIndex stays valid. */
static void test_report_sarif_unlisted_rule(void **state)
{
    (void)state;
    static const mrun_rule extra = {"extra-rule", "Extra", "Fix", "Help", MRUN_SEV_LOW};
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_findings_add(f, &extra, "a", 1, 1, NULL, 0, &err), 0);
    mrun_autofree char *txt = write_to_string(f, MRUN_FORMAT_SARIF, false, false, NULL);
    json_t *root = json_loads(txt, 0, NULL);
    assert_non_null(root);
    json_t *run = json_array_get(json_object_get(root, "runs"), 0);
    json_t *jrules = json_object_get(json_object_get(json_object_get(run, "tool"), "driver"), "rules");
    assert_int_equal(json_array_size(jrules), 5);
    json_t *res = json_array_get(json_object_get(run, "results"), 0);
    assert_int_equal(json_integer_value(json_object_get(res, "ruleIndex")), 4);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_order),
        cmocka_unit_test(test_walk_symlinks_not_followed),
        cmocka_unit_test(test_walk_ignore_files),
        cmocka_unit_test(test_walk_binary_and_large),
        cmocka_unit_test(test_walk_stop_and_depth),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_severity),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_baseline_round_trip),
        cmocka_unit_test(test_baseline_malformed),
        cmocka_unit_test(test_report_text),
        cmocka_unit_test(test_report_json),
        cmocka_unit_test(test_report_sarif),
        cmocka_unit_test(test_report_sarif_unlisted_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
