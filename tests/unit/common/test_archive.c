/* test_archive.c - safe extraction (each hostile case alone, then benign archives), gitignore rules, and
 * deterministic packing; archives are written here with libarchive so they hold exactly what each test means. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "common/archive.h"

/* ---- temp dirs ---- */

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

/* A fresh directory: path filled in, an O_DIRECTORY fd returned. */
static int tmpdir(char path[64])
{
    snprintf(path, 64, "/tmp/mrun-archive-XXXXXX");
    assert_non_null(mkdtemp(path));
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static int count_entries(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
    DIR *d = fdopendir(fd);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* ---- archive builder ---- */

enum { F_NONE, F_GZIP, F_ZSTD };
enum { T_PAX, T_USTAR, T_GNU, T_ZIP, T_CPIO };

typedef struct tb {
    struct archive *a;
    uint8_t *data;
    size_t len, cap;
} tb;

static la_ssize_t tb_cb(struct archive *a, void *ud, const void *buf, size_t n)
{
    (void)a;
    tb *b = ud;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n)
            ncap *= 2;
        b->data = realloc(b->data, ncap);
        assert_non_null(b->data);
        b->cap = ncap;
    }
    memcpy(b->data + b->len, buf, n);
    b->len += n;
    return (la_ssize_t)n;
}

static void tb_begin_level(tb *b, int format, int filter, const char *gzip_opts)
{
    memset(b, 0, sizeof(*b));
    b->a = archive_write_new();
    int r = format == T_PAX     ? archive_write_set_format_pax(b->a)
            : format == T_USTAR ? archive_write_set_format_ustar(b->a)
            : format == T_GNU   ? archive_write_set_format_gnutar(b->a)
            : format == T_ZIP   ? archive_write_set_format_zip(b->a)
                                : archive_write_set_format_cpio(b->a);
    assert_int_equal(r, ARCHIVE_OK);
    if (filter == F_GZIP) {
        assert_int_equal(archive_write_add_filter_gzip(b->a), ARCHIVE_OK);
        archive_write_set_options(b->a, gzip_opts);
    }
    if (filter == F_ZSTD)
        assert_int_equal(archive_write_add_filter_zstd(b->a), ARCHIVE_OK);
    archive_write_set_bytes_in_last_block(b->a, 1);
    assert_int_equal(archive_write_open(b->a, b, NULL, tb_cb, NULL), ARCHIVE_OK);
}

static void tb_begin(tb *b, int format, int filter)
{
    tb_begin_level(b, format, filter, "gzip:compression-level=1"); /* fast: some tests write 100s of MiB */
}

static void tb_end(tb *b)
{
    assert_int_equal(archive_write_close(b->a), ARCHIVE_OK);
    archive_write_free(b->a);
    b->a = NULL;
}

static struct archive_entry *ent(const char *name, mode_t type, mode_t perm, int64_t size)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, 1700000000, 0);
    return e;
}

static void put(tb *b, struct archive_entry *e)
{
    int r = archive_write_header(b->a, e);
    if (r != ARCHIVE_OK)
        fail_msg("write_header '%s': %s", archive_entry_pathname(e), archive_error_string(b->a));
    archive_entry_free(e);
}

static void tb_file(tb *b, const char *name, const char *content, mode_t perm)
{
    size_t n = strlen(content);
    put(b, ent(name, AE_IFREG, perm, (int64_t)n));
    if (n)
        assert_int_equal(archive_write_data(b->a, content, n), (la_ssize_t)n);
}

/* A file of size bytes of 'z', written in chunks so nothing large is held. */
static void tb_big(tb *b, const char *name, int64_t size)
{
    static char chunk[65536];
    memset(chunk, 'z', sizeof(chunk));
    put(b, ent(name, AE_IFREG, 0644, size));
    for (int64_t left = size; left > 0;) {
        size_t n = left < (int64_t)sizeof(chunk) ? (size_t)left : sizeof(chunk);
        assert_int_equal(archive_write_data(b->a, chunk, n), (la_ssize_t)n);
        left -= (int64_t)n;
    }
}

static void tb_dir(tb *b, const char *name, mode_t perm)
{
    put(b, ent(name, AE_IFDIR, perm, 0));
}

static void tb_symlink(tb *b, const char *name, const char *target)
{
    struct archive_entry *e = ent(name, AE_IFLNK, 0777, 0);
    archive_entry_set_symlink(e, target);
    put(b, e);
}

static void tb_hardlink(tb *b, const char *name, const char *target)
{
    struct archive_entry *e = ent(name, AE_IFREG, 0644, 0);
    archive_entry_set_hardlink(e, target);
    put(b, e);
}

static void tb_special(tb *b, const char *name, mode_t type)
{
    struct archive_entry *e = ent(name, type, 0666, 0);
    archive_entry_set_rdev(e, makedev(1, 3));
    put(b, e);
}

static void tb_free(tb *b)
{
    if (b->a)
        archive_write_free(b->a);
    free(b->data);
}

/* ---- unpack helpers ---- */

/* With MRUN_ARCHIVE_CORPUS=DIR set, every archive a test unpacks (up to 64 KiB) is also written to DIR as a
 * seed for tests/fuzz/corpus/unpack. */
static void corpus_dump(const tb *b, const char *kind)
{
    static int seq;
    const char *dir = getenv("MRUN_ARCHIVE_CORPUS");
    if (!dir || b->len > 64 * 1024)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s-%03d", dir, kind, ++seq);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b->data, b->len), (ssize_t)b->len);
    close(fd);
}

/* Unpacks b into a fresh directory, expects a refusal mentioning want, and an empty directory afterwards. */
static void refused_lim(tb *b, const mrun_unpack_limits *lim, const char *want)
{
    char path[64];
    int dfd = tmpdir(path);
    corpus_dump(b, "hostile");
    mrun_err err = MRUN_ERR_INIT;
    mrun_unpack_stats st = {.entries = -7};
    int r = mrun_archive_unpack(b->data, b->len, dfd, lim, &st, &err);
    if (r != -1)
        fail_msg("accepted, expected '%s'", want);
    if (!strstr(err.msg, want))
        fail_msg("reason '%s' lacks '%s'", err.msg, want);
    assert_int_equal(st.entries, -7); /* ret_ untouched on failure */
    assert_int_equal(count_entries(dfd), 0);
    close(dfd);
    rm_rf(path);
    tb_free(b);
}

static void refused(tb *b, const char *want)
{
    refused_lim(b, NULL, want);
}

/* Unpacks b into a fresh directory that the caller must rm_rf(path) and close. */
static int unpacked(tb *b, char path[64], mrun_unpack_stats *st)
{
    int dfd = tmpdir(path);
    corpus_dump(b, "benign");
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_archive_unpack(b->data, b->len, dfd, NULL, st, &err) < 0)
        fail_msg("refused: %s", err.msg);
    tb_free(b);
    return dfd;
}

static char *slurp_at(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        fail_msg("open '%s': %s", name, strerror(errno));
    static char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

static mode_t mode_at(int dfd, const char *name)
{
    struct stat st;
    assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    return st.st_mode;
}

/* ---- hostile archives: each refused alone, nothing left behind ---- */

static void test_absolute(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "ok.txt", "fine", 0644);
    tb_file(&b, "/tmp/mrun-archive-abs", "x", 0644);
    tb_end(&b);
    refused(&b, "entry 2 '/tmp/mrun-archive-abs': absolute name");
    assert_int_equal(access("/tmp/mrun-archive-abs", F_OK), -1);
}

static void test_dotdot(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "../x", "x", 0644);
    tb_end(&b);
    refused(&b, "entry 1 '../x': path leaves the directory");

    tb_begin(&b, T_USTAR, F_NONE);
    tb_file(&b, "a/b", "x", 0644);
    tb_file(&b, "a/../../etc/passwd", "x", 0644);
    tb_end(&b);
    refused(&b, "entry 2 'a/../../etc/passwd': path leaves the directory");

    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "a/../b", "x", 0644); /* stays inside, still refused: no ".." at all */
    tb_end(&b);
    refused(&b, "entry 1 'a/../b': path contains '..'");
}

static void test_empty_name(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_GNU, F_NONE);
    tb_file(&b, "a", "x", 0644);
    tb_file(&b, "", "x", 0644);
    tb_end(&b);
    refused(&b, "entry 2 '': empty name");
}

/* "l -> /etc" then "l/passwd": the symlink itself is refused, so nothing is ever written through it. */
static void test_symlink_absolute_then_write(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_symlink(&b, "l", "/etc");
    tb_file(&b, "l/passwd", "root::0:0::/:/bin/sh\n", 0644);
    tb_end(&b);
    refused(&b, "entry 1 'l': symlink target '/etc' is absolute");
}

static void test_symlink_escape_then_write(void **state)
{
    (void)state;
    char outer[64];
    int ofd = tmpdir(outer);
    assert_int_equal(mkdirat(ofd, "a", 0755), 0);
    assert_int_equal(mkdirat(ofd, "a/b", 0755), 0);
    int dfd = openat(ofd, "a/b", O_RDONLY | O_DIRECTORY);
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_symlink(&b, "l", "../..");
    tb_file(&b, "l/x", "escaped", 0644);
    tb_end(&b);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_archive_unpack(b.data, b.len, dfd, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "entry 1 'l': symlink target '../..' leaves the directory");
    assert_int_equal(err.sys_errno, EPERM);
    assert_int_equal(count_entries(dfd), 0);
    assert_int_equal(faccessat(ofd, "x", F_OK, 0), -1);
    tb_free(&b);
    close(dfd);
    close(ofd);
    rm_rf(outer);

    tb_begin(&b, T_PAX, F_NONE);
    tb_dir(&b, "d", 0755);
    tb_symlink(&b, "d/l", "../../x");
    tb_end(&b);
    refused(&b, "entry 2 'd/l': symlink target '../../x' leaves the directory");
}

/* An allowed symlink still cannot be written through. */
static void test_write_through_inside_symlink(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_dir(&b, "sub", 0755);
    tb_symlink(&b, "l", "sub");
    tb_file(&b, "l/x", "through", 0644);
    tb_end(&b);
    refused(&b, "entry 3 'l/x': path goes through a symlink or mount 'l'");
}

/* Lexically "d/s/../.." is the root; for the kernel, with d/s -> ., it is the root's parent. Both orders. */
static void test_symlink_through_symlink(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_dir(&b, "d", 0755);
    tb_symlink(&b, "d/s", ".");
    tb_symlink(&b, "t", "d/s/../..");
    tb_end(&b);
    refused(&b, "entry 3 't': symlink target 'd/s/../..' goes through symlink 'd/s'");

    tb_begin(&b, T_PAX, F_NONE);
    tb_symlink(&b, "t", "d/s/../../x");
    tb_dir(&b, "d", 0755);
    tb_symlink(&b, "d/s", ".");
    tb_end(&b);
    refused(&b, "entry 1 't': symlink target 'd/s/../../x' goes through symlink 'd/s'");
}

static void test_hardlink_outside(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_hardlink(&b, "h", "/etc/passwd");
    tb_end(&b);
    refused(&b, "entry 1 'h': absolute hardlink target");

    tb_begin(&b, T_PAX, F_NONE);
    tb_hardlink(&b, "h", "../../../../etc/passwd");
    tb_end(&b);
    refused(&b, "entry 1 'h': hardlink target: path leaves the directory");

    tb_begin(&b, T_PAX, F_NONE);
    tb_hardlink(&b, "h", "not-extracted");
    tb_end(&b);
    refused(&b, "entry 1 'h': hardlink target 'not-extracted' is not a file extracted earlier");

    tb_begin(&b, T_PAX, F_NONE);
    tb_dir(&b, "d", 0755);
    tb_symlink(&b, "s", "d");
    tb_hardlink(&b, "h1", "d");
    tb_end(&b);
    refused(&b, "entry 3 'h1': hardlink target 'd' is not a file extracted earlier");

    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "f", "x", 0644);
    tb_symlink(&b, "s", "f");
    tb_hardlink(&b, "h1", "s");
    tb_end(&b);
    refused(&b, "entry 3 'h1': hardlink target 's' is not a file extracted earlier");
}

static void test_devices(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_special(&b, "null", AE_IFCHR);
    tb_end(&b);
    refused(&b, "entry 1 'null': character device entries are not allowed");

    tb_begin(&b, T_USTAR, F_NONE);
    tb_special(&b, "sda", AE_IFBLK);
    tb_end(&b);
    refused(&b, "entry 1 'sda': block device entries are not allowed");

    tb_begin(&b, T_GNU, F_GZIP);
    tb_file(&b, "a", "x", 0644);
    tb_special(&b, "fifo", AE_IFIFO);
    tb_end(&b);
    refused(&b, "entry 2 'fifo': fifo entries are not allowed");
}

static void test_setuid_stripped(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "suid", "#!/bin/sh\n", 04755);
    tb_file(&b, "sgid", "x", 02777);
    tb_file(&b, "sticky", "x", 01666);
    tb_file(&b, "ro", "x", 0400);
    tb_dir(&b, "d", 07777);
    tb_end(&b);
    char path[64];
    mrun_unpack_stats st;
    int dfd = unpacked(&b, path, &st);
    assert_int_equal(mode_at(dfd, "suid") & 07777, 0755);
    assert_int_equal(mode_at(dfd, "sgid") & 07777, 0755);
    assert_int_equal(mode_at(dfd, "sticky") & 07777, 0644);
    assert_int_equal(mode_at(dfd, "ro") & 07777, 0644);
    assert_int_equal(mode_at(dfd, "d") & 07777, 0755);
    close(dfd);
    rm_rf(path);
}

static void test_replace_symlink(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "target", "keep", 0644);
    tb_symlink(&b, "l", "target");
    tb_file(&b, "l", "overwrite", 0644);
    tb_end(&b);
    refused(&b, "entry 3 'l': replaces an earlier symlink");

    tb_begin(&b, T_PAX, F_NONE);
    tb_dir(&b, "d", 0755);
    tb_file(&b, "d", "x", 0644);
    tb_end(&b);
    refused(&b, "entry 2 'd': replaces a directory");

    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "f", "x", 0644);
    tb_symlink(&b, "f", "g");
    tb_end(&b);
    refused(&b, "entry 2 'f': replaces an earlier entry of another type");
    tb_begin(&b, T_PAX, F_NONE);
    tb_dir(&b, "sub", 0755);
    tb_symlink(&b, "l", "sub");
    tb_dir(&b, "l/", 0755);
    tb_end(&b);
    refused(&b, "entry 3 'l/': replaces an earlier symlink");

    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "sub/x", "x", 0644);
    tb_symlink(&b, "l", "sub");
    tb_hardlink(&b, "h", "l/x"); /* the file exists, but not by that name */
    tb_end(&b);
    refused(&b, "entry 3 'h': hardlink target 'l/x' is not a file extracted earlier");
}

static void test_deep_paths(void **state)
{
    (void)state;
    /* 10k components: over the name length limit long before the depth limit */
    char *deep = malloc(20001);
    for (int i = 0; i < 10000; i++)
        memcpy(deep + 2 * i, "a/", 2);
    memcpy(deep + 19998, "f", 2);
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, deep, "x", 0644);
    tb_end(&b);
    refused(&b, "name longer than 4095 bytes");

    /* 100 components in 200 bytes: the depth limit */
    deep[199] = '\0';
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, deep, "x", 0644);
    tb_end(&b);
    refused(&b, "name deeper than 64 components");
    mrun_unpack_limits lim = {.max_depth = 10};
    deep[21] = '\0'; /* "a/" x 10 + "a": 11 components */
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, deep, "x", 0644);
    tb_end(&b);
    refused_lim(&b, &lim, "name deeper than 10 components");
    free(deep);
}

static void test_too_many_entries(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_USTAR, F_GZIP);
    char name[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        put(&b, ent(name, AE_IFREG, 0644, 0));
    }
    tb_end(&b);
    mrun_unpack_limits lim = {.max_entries = 1000};
    refused_lim(&b, &lim, "entry 1001 'f1000': too many entries (limit 1000)");

    /* implicit parent directories count as well */
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "a/b/c/d/e/f", "x", 0644);
    tb_end(&b);
    lim.max_entries = 3;
    refused_lim(&b, &lim, "entry 1 'a/b/c/d/e/f': too many entries (limit 3)");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the fd variant from a file holding b and returns how many compressed bytes it read before refusing. */
static off_t refused_fd(tb *b, const mrun_unpack_limits *lim, const char *want)
{
    int in = memfd_create("bomb", MFD_CLOEXEC);
    assert_int_equal(write(in, b->data, b->len), (ssize_t)b->len);
    assert_int_equal(lseek(in, 0, SEEK_SET), 0);
    char path[64];
    int dfd = tmpdir(path);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_archive_unpack_fd(in, dfd, lim, NULL, &err), -1);
    if (!strstr(err.msg, want))
        fail_msg("reason '%s' lacks '%s'", err.msg, want);
    assert_int_equal(count_entries(dfd), 0);
    off_t used = lseek(in, 0, SEEK_CUR);
    close(in);
    close(dfd);
    rm_rf(path);
    return used;
}

/* 250 KiB of gzip expanding to 256 MiB must stop at the header, long before the data. */
static void test_zip_bomb(void **state)
{
    (void)state;
    tb b;
    tb_begin_level(&b, T_PAX, F_GZIP, "gzip:compression-level=9");
    tb_big(&b, "bomb", 256ll << 20);
    tb_end(&b);
    mrun_unpack_limits lim = {.max_bytes = 1 << 20};
    double t0 = now_s();
    off_t used = refused_fd(&b, &lim, "entry 1 'bomb': file larger than 1048576 bytes");
    print_message("bomb: refused after %.3f s, read %lld of %zu compressed bytes\n", now_s() - t0, (long long)used,
                  b.len);
    assert_true(now_s() - t0 < 0.5);
    assert_true(used <= 128 * 1024); /* one read of the input, not all of it */
    assert_true(b.len > 200 * 1024 && b.len < 512 * 1024);
    tb_free(&b);

    /* 400 files of 256 KiB: refused at the 5th (4 x 256 KiB = the limit), the rest never decompressed */
    tb_begin(&b, T_PAX, F_GZIP);
    char name[32];
    for (int i = 0; i < 400; i++) {
        snprintf(name, sizeof(name), "part%03d", i);
        tb_big(&b, name, 256 * 1024);
    }
    tb_end(&b);
    used = refused_fd(&b, &lim, "entry 5 'part004': archive larger than 1048576 bytes");
    print_message("bomb: read %lld of %zu compressed bytes\n", (long long)used, b.len);
    assert_true(used <= 128 * 1024 && b.len > 400 * 1024);
    tb_free(&b);
}

static void test_file_too_large(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_ZSTD);
    tb_file(&b, "small", "ok", 0644);
    tb_big(&b, "big", 2000);
    tb_end(&b);
    mrun_unpack_limits lim = {.max_file_bytes = 1000};
    refused_lim(&b, &lim, "entry 2 'big': file larger than 1000 bytes");
}

static void test_dot_entry(void **state)
{
    (void)state;
    char path[64];
    int dfd = tmpdir(path);
    assert_int_equal(fchmod(dfd, 0700), 0);
    struct stat before;
    assert_int_equal(fstat(dfd, &before), 0);
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_dir(&b, ".", 0777);
    tb_dir(&b, "./", 07777);
    tb_file(&b, "./a", "x", 0644);
    tb_end(&b);
    mrun_err err = MRUN_ERR_INIT;
    mrun_unpack_stats st;
    assert_int_equal(mrun_archive_unpack(b.data, b.len, dfd, NULL, &st, &err), 0);
    struct stat after;
    assert_int_equal(fstat(dfd, &after), 0);
    assert_int_equal(after.st_mode & 07777, 0700);
    assert_int_equal(after.st_uid, before.st_uid);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.files, 1);
    tb_free(&b);
    close(dfd);
    rm_rf(path);

    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, ".", "x", 0644);
    tb_end(&b);
    refused(&b, "entry 1 '.': entry names the target directory itself");
}

static void test_unsupported_formats(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_ZIP, F_NONE);
    tb_file(&b, "a", "x", 0644);
    tb_end(&b);
    refused(&b, "not a tar, tar.gz or tar.zst archive");

    tb_begin(&b, T_CPIO, F_GZIP);
    tb_file(&b, "a", "x", 0644);
    tb_end(&b);
    refused(&b, "not a tar, tar.gz or tar.zst archive");

    tb_begin(&b, T_PAX, F_NONE);
    tb_end(&b);
    b.len = 0;
    refused(&b, "not a tar, tar.gz or tar.zst archive");
}

static void test_truncated(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "a", "first", 0644);
    tb_big(&b, "b", 10000);
    tb_end(&b);
    b.len = 3000; /* inside b's data */
    refused(&b, "entry 2 'b': corrupt archive: Truncated");

    tb_begin(&b, T_PAX, F_GZIP);
    tb_file(&b, "a", "first", 0644);
    tb_big(&b, "b", 100000);
    tb_end(&b);
    b.len /= 2;
    refused(&b, "corrupt archive");
}

static void test_target_not_empty(void **state)
{
    (void)state;
    char path[64];
    int dfd = tmpdir(path);
    int fd = openat(dfd, "mine", O_CREAT | O_WRONLY, 0644);
    close(fd);
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    tb_file(&b, "a", "x", 0644);
    tb_file(&b, "/abs", "x", 0644);
    tb_end(&b);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_archive_unpack(b.data, b.len, dfd, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "target directory is not empty");
    assert_int_equal(faccessat(dfd, "mine", F_OK, 0), 0); /* what was there stays */
    tb_free(&b);
    close(dfd);
    rm_rf(path);
}

/* ---- benign archives ---- */

static void test_benign_tree(void **state)
{
    (void)state;
    int filters[] = {F_NONE, F_GZIP, F_ZSTD};
    int formats[] = {T_PAX, T_USTAR, T_GNU};
    for (int i = 0; i < 3; i++) {
        tb b;
        tb_begin(&b, formats[i], filters[i]);
        tb_dir(&b, "src", 0755);
        tb_dir(&b, "src/lib", 0700);
        tb_file(&b, "src/lib/a.c", "int a;\n", 0644);
        tb_file(&b, "src/run.sh", "#!/bin/sh\n", 0775);
        tb_file(&b, "implicit/parent/x", "x", 0644); /* parents with no entries of their own */
        tb_file(&b, "empty", "", 0644);
        tb_symlink(&b, "link", "src/lib/a.c");
        tb_symlink(&b, "src/lib/up", "../run.sh");
        tb_symlink(&b, "src/dangling", "lib/later");
        tb_hardlink(&b, "hard", "src/lib/a.c");
        tb_file(&b, "dup", "old", 0644);
        tb_hardlink(&b, "dup-link", "dup");
        tb_file(&b, "dup", "new", 0644); /* replaces; the hardlink keeps the old content */
        tb_dir(&b, "src", 0700);         /* a repeated directory changes nothing */
        tb_file(&b, "./dotted//name", "n", 0644);
        tb_end(&b);
        char path[64];
        mrun_unpack_stats st;
        int dfd = unpacked(&b, path, &st);
        assert_string_equal(slurp_at(dfd, "src/lib/a.c"), "int a;\n");
        assert_string_equal(slurp_at(dfd, "implicit/parent/x"), "x");
        assert_string_equal(slurp_at(dfd, "empty"), "");
        assert_string_equal(slurp_at(dfd, "dup"), "new");
        assert_string_equal(slurp_at(dfd, "dup-link"), "old");
        assert_string_equal(slurp_at(dfd, "dotted/name"), "n");
        assert_int_equal(mode_at(dfd, "src/run.sh") & 07777, 0755);
        assert_int_equal(mode_at(dfd, "src/lib") & 07777, 0755);
        assert_true(S_ISLNK(mode_at(dfd, "link")));
        char t[64] = {0};
        assert_true(readlinkat(dfd, "src/lib/up", t, sizeof(t) - 1) > 0);
        assert_string_equal(t, "../run.sh");
        struct stat s1, s2;
        assert_int_equal(fstatat(dfd, "hard", &s1, 0), 0);
        assert_int_equal(fstatat(dfd, "src/lib/a.c", &s2, 0), 0);
        assert_int_equal(s1.st_ino, s2.st_ino);
        assert_int_equal(s1.st_mtime, 1700000000);
        assert_int_equal(st.entries, 15);
        assert_int_equal(st.symlinks, 3);
        assert_int_equal(st.hardlinks, 2);
        assert_int_equal(st.files, 7);
        close(dfd);
        rm_rf(path);
    }
}

static void test_unicode_names(void **state)
{
    (void)state;
    int formats[] = {T_PAX, T_GNU};
    for (int i = 0; i < 2; i++) {
        tb b;
        if (formats[i] == T_PAX) /* pax names are UTF-8 on the wire: write them as a UTF-8 locale would */
            assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
        tb_begin(&b, formats[i], F_GZIP);
        tb_file(&b, "d\xc3\xa9j\xc3\xa0/\xe6\x97\xa5\xe6\x9c\xac.txt", "jp", 0644);
        tb_file(&b, "emoji-\xf0\x9f\x98\x80", "e", 0644);
        tb_end(&b);
        setlocale(LC_CTYPE, "C"); /* and read them as a daemon without a locale does */
        char path[64];
        mrun_unpack_stats st;
        int dfd = unpacked(&b, path, &st);
        assert_string_equal(slurp_at(dfd, "d\xc3\xa9j\xc3\xa0/\xe6\x97\xa5\xe6\x9c\xac.txt"), "jp");
        assert_string_equal(slurp_at(dfd, "emoji-\xf0\x9f\x98\x80"), "e");
        close(dfd);
        rm_rf(path);
    }
}

static void test_future_mtime(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_NONE);
    struct archive_entry *e = ent("future", AE_IFREG, 0644, 0);
    archive_entry_set_mtime(e, time(NULL) + 10 * 365 * 86400, 0);
    put(&b, e);
    tb_end(&b);
    char path[64];
    mrun_unpack_stats st;
    time_t before = time(NULL);
    int dfd = unpacked(&b, path, &st);
    struct stat s;
    assert_int_equal(fstatat(dfd, "future", &s, 0), 0);
    assert_true(s.st_mtime >= before && s.st_mtime <= time(NULL));
    close(dfd);
    rm_rf(path);
}

static void test_unpack_fd(void **state)
{
    (void)state;
    tb b;
    tb_begin(&b, T_PAX, F_ZSTD);
    tb_file(&b, "a/b", "streamed", 0644);
    tb_end(&b);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(write(pfd[1], b.data, b.len), (ssize_t)b.len); /* small: fits the pipe */
    close(pfd[1]);
    char path[64];
    int dfd = tmpdir(path);
    mrun_err err = MRUN_ERR_INIT;
    mrun_unpack_stats st;
    assert_int_equal(mrun_archive_unpack_fd(pfd[0], dfd, NULL, &st, &err), 0);
    assert_string_equal(slurp_at(dfd, "a/b"), "streamed");
    assert_int_equal(st.bytes, 8);
    close(pfd[0]);
    close(dfd);
    rm_rf(path);
    tb_free(&b);
}

/* ---- ignore rules ---- */

typedef struct icase {
    const char *rules;
    const char *path;
    bool is_dir;
    bool ignored;
} icase;

static const icase icases[] = {
    {"\n\n", "a", false, false},                /* blank lines match nothing */
    {"# comment\n", "# comment", false, false}, /* a comment */
    {"\\#hash\n", "#hash", false, true},        /* escaped # */
    {"\\!bang\n", "!bang", false, true},        /* escaped ! */
    {"*.o\n", "main.o", false, true},           /* no slash: any depth */
    {"*.o\n", "src/deep/main.o", false, true},
    {"*.o\n", "main.c", false, false},
    {"foo/\n", "foo", true, true}, /* trailing slash: directories only */
    {"foo/\n", "foo", false, false},
    {"foo/\n", "a/foo", true, true},
    {"foo/\n", "foo/bar", false, true}, /* under an excluded directory */
    {"/foo\n", "foo", false, true},     /* leading slash anchors */
    {"/foo\n", "a/foo", false, false},
    {"doc/frotz\n", "doc/frotz", false, true}, /* a middle slash anchors too */
    {"doc/frotz\n", "a/doc/frotz", false, false},
    {"frotz/\n", "a/frotz", true, true},
    {"**/foo\n", "foo", false, true}, /* leading ** */
    {"**/foo\n", "a/b/foo", false, true},
    {"**/foo/bar\n", "x/foo/bar", false, true},
    {"**/foo/bar\n", "foo/bar", false, true},
    {"abc/**\n", "abc/x/y", false, true}, /* trailing ** */
    {"abc/**\n", "abc", true, false},
    {"a/**/b\n", "a/b", false, true}, /* middle **: zero or more directories */
    {"a/**/b\n", "a/x/y/b", false, true},
    {"a/**/b\n", "a/xb", false, false},
    {"a**b\n", "axxb", false, true}, /* ** inside a name is a * */
    {"a**b\n", "ax/yb", false, false},
    {"*.txt\n!keep.txt\n", "keep.txt", false, false}, /* negation, last match wins */
    {"*.txt\n!keep.txt\n", "other.txt", false, true},
    {"build/\n!build/keep.txt\n", "build/keep.txt", false, true}, /* no way back under an excluded dir */
    {"/*\n!/foo\n/foo/*\n!/foo/bar\n", "foo/bar/x", false, false},
    {"/*\n!/foo\n/foo/*\n!/foo/bar\n", "foo/baz", false, true},
    {"/*\n!/foo\n/foo/*\n!/foo/bar\n", "other", false, true},
    {"?.c\n", "a.c", false, true},
    {"?.c\n", "ab.c", false, false},
    {"a?b\n", "a/b", false, false}, /* ? never matches / */
    {"[abc].txt\n", "b.txt", false, true},
    {"[!abc].txt\n", "a.txt", false, false},
    {"[^abc].txt\n", "d.txt", false, true},
    {"[a-c]x\n", "dx", false, false},
    {"[]]x\n", "]x", false, true},
    {"[[:digit:]]*.txt\n", "1a.txt", false, true},
    {"[[:digit:]]*.txt\n", "a1.txt", false, false},
    {"a/*.c\n", "a/b/x.c", false, false}, /* * never matches / */
    {"**/*.log\n", "x/y/z.log", false, true},
    {"foo bar  \n", "foo bar", false, true}, /* trailing spaces dropped */
    {"foo\\ \n", "foo ", false, true},       /* unless escaped */
    {"\\*lit\n", "*lit", false, true},
    {"\\*lit\n", "xlit", false, false},
    {"x.o\r\n", "x.o", false, true},      /* CRLF files */
    {"!\n/\n", "anything", false, false}, /* empty patterns are dropped */
    {"*\n", "a/b/c", false, true},
    {"foo/**/\n", "foo/a/b", false, true},
};

static void test_ignore_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(icases) / sizeof(icases[0]); i++) {
        const icase *c = &icases[i];
        mrun_ignore *ig = mrun_ignore_new();
        mrun_err err = MRUN_ERR_INIT;
        assert_int_equal(mrun_ignore_add_file(ig, "", c->rules, strlen(c->rules), ".gitignore", &err), 0);
        if (mrun_ignore_match(ig, c->path, c->is_dir) != c->ignored)
            fail_msg("case %zu: rules '%s' path '%s'%s: expected %s", i, c->rules, c->path, c->is_dir ? "/" : "",
                     c->ignored ? "ignored" : "kept");
        mrun_ignore_free(ig);
    }
}

static void test_ignore_nested(void **state)
{
    (void)state;
    mrun_ignore *ig = mrun_ignore_new();
    mrun_err err = MRUN_ERR_INIT;
    const char *root = "*.log\n";
    const char *sub = "!important.log\n*.tmp\n/only\n";
    assert_int_equal(mrun_ignore_add_file(ig, "", root, strlen(root), ".gitignore", &err), 0);
    assert_int_equal(mrun_ignore_add_file(ig, "sub", sub, strlen(sub), "sub/.gitignore", &err), 0);
    assert_true(mrun_ignore_match(ig, "important.log", false));
    assert_false(mrun_ignore_match(ig, "sub/important.log", false)); /* deeper file wins */
    assert_true(mrun_ignore_match(ig, "sub/x/y.tmp", false));
    assert_false(mrun_ignore_match(ig, "x.tmp", false)); /* sub's rules stay in sub */
    assert_true(mrun_ignore_match(ig, "sub/only", false));
    assert_false(mrun_ignore_match(ig, "sub/a/only", false));
    assert_false(mrun_ignore_match(ig, "only", false));
    assert_false(mrun_ignore_match(ig, "subway/x.tmp", false));
    char big[5000];
    memset(big, 'a', sizeof(big));
    assert_int_equal(mrun_ignore_add_file(ig, "", big, sizeof(big), "x/.mrunignore", &err), -1);
    assert_string_equal(err.msg, "x/.mrunignore:1: line longer than 4096 bytes");
    mrun_ignore_free(ig);
    mrun_ignore_free(NULL);
}

/* ---- packing ---- */

static void put_file(int dfd, const char *name, const char *content, mode_t mode)
{
    int fd = openat(dfd, name, O_CREAT | O_TRUNC | O_WRONLY, mode);
    if (fd < 0)
        fail_msg("create '%s': %s", name, strerror(errno));
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* The same tree, its names created in the given order (or reversed), with ignore files and ignored parts. */
static void build_tree(int dfd, bool reverse)
{
    static const char *dirs[] = {"b", "dir", "dir/empty", "sub", "build", ".git", ".mrun", ".mrun/cache", "z\xc3\xa9"};
    size_t nd = sizeof(dirs) / sizeof(dirs[0]);
    for (size_t i = 0; i < nd; i++)
        assert_int_equal(mkdirat(dfd, dirs[i], 0755), 0);
    static const struct {
        const char *name, *content;
        mode_t mode;
    } files[] = {
        {"a.txt", "alpha\n", 0644},    {"b/c.txt", "gamma\n", 0600},
        {"x.sh", "#!/bin/sh\n", 0700}, {".gitignore", "*.o\nbuild/\n", 0644},
        {"main.o", "obj", 0644},       {"build/out", "bin", 0755},
        {".git/HEAD", "ref", 0644},    {".mrun/cache/blob", "c", 0644},
        {".mrun/config", "cfg", 0644}, {"sub/.mrunignore", "secret\n", 0644},
        {"sub/secret", "s", 0644},     {"sub/public", "p", 0644},
        {"z\xc3\xa9/f", "u", 0644},
    };
    size_t nf = sizeof(files) / sizeof(files[0]);
    for (size_t k = 0; k < nf; k++) {
        size_t i = reverse ? nf - 1 - k : k;
        put_file(dfd, files[i].name, files[i].content, files[i].mode);
    }
    assert_int_equal(symlinkat("a.txt", dfd, "link"), 0);
}

static void sha256_fd(int fd, char hex[65], uint8_t head[4], size_t *ret_len)
{
    off_t len = lseek(fd, 0, SEEK_END);
    assert_true(len > 0);
    uint8_t *p = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(p != MAP_FAILED);
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(p, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (head)
        memcpy(head, p + 4, 4); /* gzip MTIME */
    if (ret_len)
        *ret_len = (size_t)len;
    munmap(p, (size_t)len);
}

static int pack_to_memfd(int dfd, mrun_pack_stats *st)
{
    int out = memfd_create("pack", MFD_CLOEXEC);
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_archive_pack_dir(dfd, NULL, out, st, &err) < 0)
        fail_msg("pack: %s", err.msg);
    return out;
}

static void test_pack_deterministic(void **state)
{
    (void)state;
    char p1[64], p2[64];
    int d1 = tmpdir(p1), d2 = tmpdir(p2);
    build_tree(d1, false);
    build_tree(d2, true);
    char h1[65], h2[65], h3[65], h4[65];
    uint8_t mtime[4];
    mrun_pack_stats st;
    int o1 = pack_to_memfd(d1, &st);
    sha256_fd(o1, h1, mtime, NULL);
    assert_memory_equal(mtime, "\0\0\0\0", 4);
    int o2 = pack_to_memfd(d1, NULL);
    sha256_fd(o2, h2, NULL, NULL);
    assert_string_equal(h1, h2);
    struct timespec ts[2] = {{12345, 0}, {67890, 0}};
    assert_int_equal(utimensat(d1, "a.txt", ts, 0), 0);
    assert_int_equal(utimensat(d1, "b", ts, 0), 0);
    assert_int_equal(utimensat(d1, "link", ts, AT_SYMLINK_NOFOLLOW), 0);
    int o3 = pack_to_memfd(d1, NULL);
    sha256_fd(o3, h3, NULL, NULL);
    assert_string_equal(h1, h3);
    int o4 = pack_to_memfd(d2, NULL); /* created in the opposite order */
    sha256_fd(o4, h4, NULL, NULL);
    assert_string_equal(h1, h4);
    close(o1);
    close(o2);
    close(o3);
    close(o4);
    close(d1);
    close(d2);
    rm_rf(p1);
    rm_rf(p2);
}

static void test_pack_ignores(void **state)
{
    (void)state;
    char p1[64], p2[64];
    int d1 = tmpdir(p1), d2 = tmpdir(p2);
    build_tree(d1, false);
    mrun_pack_stats pst;
    int out = pack_to_memfd(d1, &pst);
    assert_int_equal(lseek(out, 0, SEEK_SET), 0);
    mrun_err err = MRUN_ERR_INIT;
    mrun_unpack_stats ust;
    if (mrun_archive_unpack_fd(out, d2, NULL, &ust, &err) < 0)
        fail_msg("unpack: %s", err.msg);
    assert_int_equal(faccessat(d2, "main.o", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(faccessat(d2, "build", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(faccessat(d2, ".git", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(faccessat(d2, ".mrun/cache", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(faccessat(d2, "sub/secret", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    char t[32] = {0};
    assert_int_equal(readlinkat(d2, "link", t, sizeof(t) - 1), 5);
    assert_string_equal(t, "a.txt");
    assert_string_equal(slurp_at(d2, ".mrun/config"), "cfg");
    assert_string_equal(slurp_at(d2, "sub/public"), "p");
    assert_string_equal(slurp_at(d2, "sub/.mrunignore"), "secret\n");
    assert_string_equal(slurp_at(d2, "z\xc3\xa9/f"), "u");
    assert_int_equal(mode_at(d2, "x.sh") & 07777, 0755);
    assert_int_equal(mode_at(d2, "b/c.txt") & 07777, 0644);
    assert_true(S_ISDIR(mode_at(d2, "dir/empty")));
    assert_int_equal(pst.ignored, 3); /* main.o, build, sub/secret */
    assert_int_equal(pst.entries, ust.entries);
    close(out);
    close(d1);
    close(d2);
    rm_rf(p1);
    rm_rf(p2);
}

/* Symlinks are stored as links, whatever they point at, and never followed into. */
static void test_pack_symlinks_not_followed(void **state)
{
    (void)state;
    char p1[64];
    int d1 = tmpdir(p1);
    assert_int_equal(symlinkat("/etc/passwd", d1, "abs-link"), 0);
    assert_int_equal(symlinkat("/etc", d1, "dirlink"), 0);
    int out = pack_to_memfd(d1, NULL);
    assert_int_equal(lseek(out, 0, SEEK_SET), 0);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    assert_int_equal(archive_read_open_fd(a, out, 4096), ARCHIVE_OK);
    struct archive_entry *e;
    int n = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        n++;
        assert_int_equal(archive_entry_filetype(e), AE_IFLNK);
        assert_int_equal(archive_entry_mtime(e), 0);
        assert_int_equal(archive_entry_uid(e), 0);
        assert_true(archive_entry_uname(e) == NULL || !*archive_entry_uname(e));
        assert_true(archive_entry_gname(e) == NULL || !*archive_entry_gname(e));
        assert_false(archive_entry_atime_is_set(e));
        assert_false(archive_entry_ctime_is_set(e));
        if (strcmp(archive_entry_pathname(e), "abs-link") == 0)
            assert_string_equal(archive_entry_symlink(e), "/etc/passwd");
        else
            assert_string_equal(archive_entry_pathname(e), "dirlink");
    }
    assert_int_equal(n, 2);
    archive_read_free(a);
    close(out);
    close(d1);
    rm_rf(p1);
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_add(sbuf *b, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, line, (size_t)n + 1);
    b->len += (size_t)n;
}

/* One line per path: type, mode, content or link target; names in byte order. */
static void listing(int dfd, const char *rel, sbuf *out)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
    DIR *d = fdopendir(fd);
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && n < 256)
            names[n++] = strdup(de->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (int i = 0; i < n; i++) {
        struct stat st;
        assert_int_equal(fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW), 0);
        if (S_ISDIR(st.st_mode)) {
            sb_add(out, "d %o %s%s\n", st.st_mode & 07777, rel, names[i]);
            char sub[512];
            snprintf(sub, sizeof(sub), "%s%s/", rel, names[i]);
            int sfd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            listing(sfd, sub, out);
            close(sfd);
        } else if (S_ISLNK(st.st_mode)) {
            char t[256] = {0};
            assert_true(readlinkat(dfd, names[i], t, sizeof(t) - 1) >= 0);
            sb_add(out, "l %s%s -> %s\n", rel, names[i], t);
        } else {
            sb_add(out, "f %o %s%s = %s\n", st.st_mode & 07777, rel, names[i], slurp_at(dfd, names[i]));
        }
        free(names[i]);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    char p1[64], p2[64];
    int d1 = tmpdir(p1), d2 = tmpdir(p2);
    assert_int_equal(mkdirat(d1, "src", 0755), 0);
    assert_int_equal(mkdirat(d1, "src/deep", 0755), 0);
    assert_int_equal(mkdirat(d1, "src/deep/er", 0755), 0);
    assert_int_equal(mkdirat(d1, "empty", 0755), 0);
    put_file(d1, "README", "read me\n", 0644);
    put_file(d1, "src/main.c", "int main(void) { return 0; }\n", 0644);
    put_file(d1, "src/build.sh", "#!/bin/sh\nmake\n", 0755);
    put_file(d1, "src/deep/er/leaf", "", 0644);
    put_file(d1, "\xe6\x97\xa5\xe6\x9c\xac", "nihon", 0644);
    char longname[300];
    memset(longname, 'n', 250);
    longname[250] = '\0';
    put_file(d1, longname, "long names go through pax", 0644);
    assert_int_equal(symlinkat("src/main.c", d1, "main-link"), 0);
    assert_int_equal(symlinkat("../../main.c", d1, "src/deep/er/up"), 0);
    int out = pack_to_memfd(d1, NULL);
    assert_int_equal(lseek(out, 0, SEEK_SET), 0);
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_archive_unpack_fd(out, d2, NULL, NULL, &err) < 0)
        fail_msg("unpack: %s", err.msg);
    sbuf a = {0}, b = {0};
    listing(d1, "", &a);
    listing(d2, "", &b);
    assert_string_equal(a.p, b.p);
    free(a.p);
    free(b.p);
    close(out);
    close(d1);
    close(d2);
    rm_rf(p1);
    rm_rf(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absolute),
        cmocka_unit_test(test_dotdot),
        cmocka_unit_test(test_empty_name),
        cmocka_unit_test(test_symlink_absolute_then_write),
        cmocka_unit_test(test_symlink_escape_then_write),
        cmocka_unit_test(test_write_through_inside_symlink),
        cmocka_unit_test(test_symlink_through_symlink),
        cmocka_unit_test(test_hardlink_outside),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_setuid_stripped),
        cmocka_unit_test(test_replace_symlink),
        cmocka_unit_test(test_deep_paths),
        cmocka_unit_test(test_too_many_entries),
        cmocka_unit_test(test_zip_bomb),
        cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_dot_entry),
        cmocka_unit_test(test_unsupported_formats),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_target_not_empty),
        cmocka_unit_test(test_benign_tree),
        cmocka_unit_test(test_unicode_names),
        cmocka_unit_test(test_future_mtime),
        cmocka_unit_test(test_unpack_fd),
        cmocka_unit_test(test_ignore_table),
        cmocka_unit_test(test_ignore_nested),
        cmocka_unit_test(test_pack_deterministic),
        cmocka_unit_test(test_pack_ignores),
        cmocka_unit_test(test_pack_symlinks_not_followed),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
