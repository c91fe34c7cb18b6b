/* test_merge.c - sb_merge_upper on real directories under /tmp: hand-built upper dirs with hostile content,
 * and (as root, in a private mount namespace) the upper dir of a real overlay mount. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/auto.h"
#include "sandbox/sandbox_int.h"

typedef struct fx {
    char base[64];   /* mkdtemp dir holding up/, ws/ and victim/ */
    char victim[96]; /* a dir hostile symlinks point at: must stay as the test left it */
    int up;
    int ws;
} fx;

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_path(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->base, sizeof(f->base), "/tmp/mrun-merge-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    char p[128];
    snprintf(p, sizeof(p), "%s/up", f->base);
    assert_int_equal(mkdir(p, 0755), 0);
    f->up = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(p, sizeof(p), "%s/ws", f->base);
    assert_int_equal(mkdir(p, 0755), 0);
    f->ws = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(f->victim, sizeof(f->victim), "%s/victim", f->base);
    assert_int_equal(mkdir(f->victim, 0755), 0);
    assert_true(f->up >= 0 && f->ws >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    close(f->up);
    close(f->ws);
    rm_path(f->base);
    free(f);
    return 0;
}

/* Fault injection for the read/write fallback, which no filesystem here needs: these definitions take
 * precedence over libc's for the whole executable (as -Wl,--wrap would), and pass through when off. */
static bool no_fast_copy;

ssize_t copy_file_range(int in, loff_t *in_off, int out, loff_t *out_off, size_t len, unsigned flags)
{
    if (no_fast_copy) {
        errno = ENOSYS;
        return -1;
    }
    return syscall(SYS_copy_file_range, in, in_off, out, out_off, len, flags);
}

ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    if (no_fast_copy) {
        errno = EINVAL;
        return -1;
    }
    return syscall(SYS_sendfile, out, in, off, count);
}

/* ---- helpers: paths with '/' are fine here, the test builds its own trees ---- */

static void put(int dfd, const char *path, const char *content, mode_t mode)
{
    mrun_autoclose int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0); /* umask-proof */
}

static void mkd(int dfd, const char *path, mode_t mode)
{
    assert_int_equal(mkdirat(dfd, path, mode), 0);
    assert_int_equal(fchmodat(dfd, path, mode, 0), 0);
}

/* Returns the file's content in a static buffer ("" when missing or not a regular file). */
static const char *slurp(int dfd, const char *path)
{
    static char buf[4096];
    buf[0] = '\0';
    mrun_autoclose int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static mode_t ftype(int dfd, const char *path)
{
    struct stat st;
    if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    return st.st_mode & S_IFMT;
}

static struct stat lst(int dfd, const char *path)
{
    struct stat st;
    assert_int_equal(fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
    return st;
}

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static void merge_ok(const fx *f, uid_t uid, gid_t gid)
{
    mrun_err err = MRUN_ERR_INIT;
    int r = sb_merge_upper(f->up, f->ws, uid, gid, &err);
    if (r != 0)
        print_error("sb_merge_upper: %s\n", err.msg);
    assert_int_equal(r, 0);
}

/* 0, or the errno that says this kernel/filesystem can't make the item (the caller skips). */
static int whiteout(int dfd, const char *path)
{
    return mknodat(dfd, path, S_IFCHR | 0, makedev(0, 0)) == 0 ? 0 : errno;
}

static int xset(int dfd, const char *path, const char *name, const char *val)
{
    mrun_autoclose int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    assert_true(fd >= 0);
    return fsetxattr(fd, name, val, strlen(val), 0) == 0 ? 0 : errno;
}

static void skip_unless(int e, int ok_errno)
{
    if (e == ok_errno) {
        print_message("skipped: %s\n", strerror(e));
        skip();
    }
    assert_int_equal(e, 0);
}

/* ---- hand-built upper dirs ---- */

static void test_new_tree(void **state)
{
    fx *f = *state;
    put(f->up, "a.txt", "hello", 0644);
    mkd(f->up, "d", 0755);
    mkd(f->up, "d/e", 0755);
    put(f->up, "d/e/f.txt", "deep", 0600);
    mkd(f->up, "empty", 0700);
    put(f->ws, "untouched", "host", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_string_equal(slurp(f->ws, "a.txt"), "hello");
    assert_string_equal(slurp(f->ws, "d/e/f.txt"), "deep");
    assert_int_equal(ftype(f->ws, "empty"), S_IFDIR);
    assert_string_equal(slurp(f->ws, "untouched"), "host");
    assert_int_equal(count_entries(f->victim), 0);
    /* the upper is read, never changed */
    assert_string_equal(slurp(f->up, "a.txt"), "hello");
}

static void test_replace_file(void **state)
{
    fx *f = *state;
    put(f->ws, "a.txt", "old old old", 0644);
    put(f->ws, "b.txt", "keep", 0644);
    put(f->up, "a.txt", "new", 0644);
    ino_t before = lst(f->ws, "a.txt").st_ino;
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_string_equal(slurp(f->ws, "a.txt"), "new");
    assert_string_equal(slurp(f->ws, "b.txt"), "keep");
    /* a new inode renamed over the old one, not a rewrite in place that a crash could leave half done */
    assert_int_not_equal(lst(f->ws, "a.txt").st_ino, before);
    assert_int_equal(count_entries(f->base), 3); /* no leftover temporaries anywhere near */
    char p[128];
    snprintf(p, sizeof(p), "%s/ws", f->base);
    assert_int_equal(count_entries(p), 2);
}

static void test_symlinks(void **state)
{
    fx *f = *state;
    assert_int_equal(symlinkat("/etc/passwd", f->up, "abs"), 0);
    assert_int_equal(symlinkat("../../../x", f->up, "rel"), 0);
    put(f->ws, "abs", "was a file", 0644);
    /* a host symlink where the upper has a file: the link is replaced, its target untouched */
    put(f->up, "tofile", "data", 0644);
    char vf[160];
    snprintf(vf, sizeof(vf), "%s/precious", f->victim);
    put(AT_FDCWD, vf, "precious", 0644);
    assert_int_equal(symlinkat(vf, f->ws, "tofile"), 0);
    merge_ok(f, (uid_t)-1, (gid_t)-1);

    char t[256];
    ssize_t n = readlinkat(f->ws, "abs", t, sizeof(t) - 1);
    assert_true(n > 0);
    t[n] = '\0';
    assert_string_equal(t, "/etc/passwd");
    n = readlinkat(f->ws, "rel", t, sizeof(t) - 1);
    assert_true(n > 0);
    t[n] = '\0';
    assert_string_equal(t, "../../../x");
    assert_int_equal(ftype(f->ws, "tofile"), S_IFREG);
    assert_string_equal(slurp(f->ws, "tofile"), "data");
    assert_string_equal(slurp(AT_FDCWD, vf), "precious");
}

static void test_whiteout_chardev(void **state)
{
    fx *f = *state;
    skip_unless(whiteout(f->up, "gone.txt"), EPERM);
    assert_int_equal(whiteout(f->up, "gonedir"), 0);
    assert_int_equal(whiteout(f->up, "never-existed"), 0);
    put(f->ws, "gone.txt", "x", 0644);
    mkd(f->ws, "gonedir", 0755);
    mkd(f->ws, "gonedir/sub", 0755);
    put(f->ws, "gonedir/sub/f", "x", 0644);
    assert_int_equal(symlinkat("/nonexistent", f->ws, "gonedir/sub/l"), 0);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_int_equal(ftype(f->ws, "gone.txt"), 0);
    assert_int_equal(ftype(f->ws, "gonedir"), 0);
    assert_int_equal(ftype(f->ws, "never-existed"), 0);
}

static void test_whiteout_xattr(void **state)
{
    fx *f = *state;
    put(f->up, "wo", "", 0644);
    skip_unless(xset(f->up, "wo", "user.overlay.whiteout", "y"), ENOTSUP);
    /* not empty: an ordinary file that happens to carry the xattr */
    put(f->up, "notwo", "content", 0644);
    assert_int_equal(xset(f->up, "notwo", "user.overlay.whiteout", "y"), 0);
    put(f->ws, "wo", "x", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_int_equal(ftype(f->ws, "wo"), 0);
    assert_string_equal(slurp(f->ws, "notwo"), "content");
}

static void test_opaque_dir(void **state)
{
    fx *f = *state;
    mkd(f->up, "opq", 0755);
    skip_unless(xset(f->up, "opq", "user.overlay.opaque", "y"), ENOTSUP);
    put(f->up, "opq/new", "n", 0644);
    mkd(f->ws, "opq", 0755);
    put(f->ws, "opq/old", "o", 0644);
    mkd(f->ws, "opq/olddir", 0755);
    put(f->ws, "opq/olddir/f", "o", 0644);
    /* not opaque: a union */
    mkd(f->up, "merged", 0755);
    put(f->up, "merged/new", "n", 0644);
    mkd(f->ws, "merged", 0755);
    put(f->ws, "merged/old", "o", 0644);
    /* "x" marks a dir holding xattr whiteouts (6.7+), it is not opaque */
    mkd(f->up, "xdir", 0755);
    assert_int_equal(xset(f->up, "xdir", "user.overlay.opaque", "x"), 0);
    mkd(f->ws, "xdir", 0755);
    put(f->ws, "xdir/old", "o", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_string_equal(slurp(f->ws, "opq/new"), "n");
    assert_int_equal(ftype(f->ws, "opq/old"), 0);
    assert_int_equal(ftype(f->ws, "opq/olddir"), 0);
    assert_string_equal(slurp(f->ws, "merged/new"), "n");
    assert_string_equal(slurp(f->ws, "merged/old"), "o");
    assert_string_equal(slurp(f->ws, "xdir/old"), "o");
}

static void test_opaque_trusted(void **state)
{
    fx *f = *state;
    mkd(f->up, "opq", 0755);
    int e = xset(f->up, "opq", "trusted.overlay.opaque", "y");
    if (e == EPERM) {
        print_message("skipped: trusted.* xattrs need CAP_SYS_ADMIN\n");
        skip();
    }
    skip_unless(e, ENOTSUP);
    mkd(f->ws, "opq", 0755);
    put(f->ws, "opq/old", "o", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_int_equal(ftype(f->ws, "opq/old"), 0);
    assert_int_equal(ftype(f->ws, "opq"), S_IFDIR);
}

static void test_file_replaces_dir(void **state)
{
    fx *f = *state;
    mkd(f->ws, "x", 0755);
    mkd(f->ws, "x/y", 0755);
    put(f->ws, "x/y/z", "old", 0644);
    put(f->up, "x", "now a file", 0640);
    assert_int_equal(symlinkat("target", f->up, "y"), 0);
    mkd(f->ws, "y", 0755);
    put(f->ws, "y/in", "old", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_int_equal(ftype(f->ws, "x"), S_IFREG);
    assert_string_equal(slurp(f->ws, "x"), "now a file");
    assert_int_equal(ftype(f->ws, "y"), S_IFLNK);
}

static void test_dir_replaces_file(void **state)
{
    fx *f = *state;
    put(f->ws, "x", "was a file", 0644);
    mkd(f->up, "x", 0750);
    put(f->up, "x/inner", "i", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_int_equal(ftype(f->ws, "x"), S_IFDIR);
    assert_int_equal(lst(f->ws, "x").st_mode & 07777, 0750);
    assert_string_equal(slurp(f->ws, "x/inner"), "i");
}

/* A symlink planted in the workspace where the job's upper has a directory must be replaced, not
 * followed: otherwise the merge writes (or deletes) wherever the link points. */
static void test_hostile_symlink_dir(void **state)
{
    fx *f = *state;
    char keep[160];
    snprintf(keep, sizeof(keep), "%s/keep", f->victim);
    put(AT_FDCWD, keep, "keep", 0644);
    assert_int_equal(symlinkat(f->victim, f->ws, "d"), 0);
    mkd(f->up, "d", 0755);
    put(f->up, "d/pwned", "x", 0644);
    mkd(f->up, "d/sub", 0755);
    put(f->up, "d/sub/pwned", "x", 0644);
    int e = whiteout(f->up, "d/keep");
    /* an opaque dir over a symlink: clearing "its contents" must not clear the victim */
    assert_int_equal(symlinkat(f->victim, f->ws, "o"), 0);
    mkd(f->up, "o", 0755);
    int xe = xset(f->up, "o", "user.overlay.opaque", "y");
    /* a whiteout over a symlink removes the link only */
    assert_int_equal(symlinkat(f->victim, f->ws, "w"), 0);
    if (e == 0)
        assert_int_equal(whiteout(f->up, "w"), 0);
    /* the same through a relative link climbing out of the workspace */
    assert_int_equal(symlinkat("../victim", f->ws, "r"), 0);
    mkd(f->up, "r", 0755);
    put(f->up, "r/keep", "overwritten?", 0644);

    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_int_equal(ftype(f->ws, "d"), S_IFDIR);
    assert_string_equal(slurp(f->ws, "d/pwned"), "x");
    assert_string_equal(slurp(f->ws, "d/sub/pwned"), "x");
    assert_int_equal(ftype(f->ws, "o"), S_IFDIR);
    assert_int_equal(ftype(f->ws, "r"), S_IFDIR);
    assert_string_equal(slurp(f->ws, "r/keep"), "overwritten?");
    if (e == 0)
        assert_int_equal(ftype(f->ws, "w"), 0);
    assert_int_equal(count_entries(f->victim), 1);
    assert_string_equal(slurp(AT_FDCWD, keep), "keep");
    (void)xe;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_large_file(void **state)
{
    fx *f = *state;
    enum { SIZE = 8 << 20, CH = 64 << 10 };
    mrun_autofree uint64_t *chunk = malloc(CH);
    mrun_autofree unsigned char *other = malloc(CH);
    assert_non_null(chunk);
    assert_non_null(other);
    uint64_t s = 0x9e3779b97f4a7c15u;
    {
        mrun_autoclose int fd = openat(f->up, "big", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        for (size_t off = 0; off < SIZE; off += CH) {
            for (size_t i = 0; i < CH / 8; i++)
                chunk[i] = xorshift(&s);
            assert_int_equal(write(fd, chunk, CH), CH);
        }
        assert_int_equal(write(fd, "tail", 4), 4); /* not a multiple of any chunk size */
    }
    put(f->ws, "big", "old", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);

    mrun_autoclose int a = openat(f->up, "big", O_RDONLY | O_CLOEXEC);
    mrun_autoclose int b = openat(f->ws, "big", O_RDONLY | O_CLOEXEC);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(lst(f->ws, "big").st_size, SIZE + 4);
    for (;;) {
        ssize_t na = read(a, chunk, CH), nb = read(b, other, CH);
        assert_int_equal(na, nb);
        if (na <= 0)
            break;
        assert_memory_equal(chunk, other, (size_t)na);
    }
}

/* tmpfs size= counts pages, not length: a sparse upper file must not turn into a dense copy. */
static void test_sparse_file(void **state)
{
    fx *f = *state;
    const off_t len = (off_t)1 << 30, at = (off_t)512 << 20;
    {
        mrun_autoclose int fd = openat(f->up, "sparse", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, len), 0);
        assert_int_equal(pwrite(fd, "island", 6, at), 6);
    }
    if (lst(f->up, "sparse").st_blocks * 512 > (1 << 20)) {
        print_message("skipped: /tmp does not keep holes\n");
        skip();
    }
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    struct stat st = lst(f->ws, "sparse");
    assert_int_equal(st.st_size, len);
    assert_true(st.st_blocks * 512 <= (1 << 20));
    mrun_autoclose int fd = openat(f->ws, "sparse", O_RDONLY | O_CLOEXEC);
    char buf[8] = {0};
    assert_int_equal(pread(fd, buf, 6, at), 6);
    assert_memory_equal(buf, "island", 6);
    assert_int_equal(pread(fd, buf, 1, 0), 1);
    assert_int_equal(buf[0], 0);
}

static void test_copy_fallback_rw(void **state)
{
    fx *f = *state;
    enum { SIZE = (1 << 20) + 333 };
    mrun_autofree unsigned char *buf = malloc(SIZE);
    assert_non_null(buf);
    uint64_t s = 42;
    for (size_t i = 0; i < SIZE; i++)
        buf[i] = (unsigned char)xorshift(&s);
    {
        mrun_autoclose int fd = openat(f->up, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, SIZE), SIZE);
        /* and a hole, then data again past it */
        assert_int_equal(pwrite(fd, "end", 3, (off_t)SIZE + (8 << 20)), 3);
    }
    no_fast_copy = true;
    mrun_err err = MRUN_ERR_INIT;
    int r = sb_merge_upper(f->up, f->ws, (uid_t)-1, (gid_t)-1, &err);
    no_fast_copy = false;
    assert_int_equal(r, 0);
    mrun_autoclose int fd = openat(f->ws, "f", O_RDONLY | O_CLOEXEC);
    mrun_autofree unsigned char *got = malloc(SIZE);
    assert_non_null(got);
    assert_int_equal(pread(fd, got, SIZE, 0), SIZE);
    assert_memory_equal(buf, got, SIZE);
    assert_int_equal(pread(fd, got, 16, (off_t)SIZE + (8 << 20)), 3);
    assert_memory_equal(got, "end", 3);
    assert_int_equal(pread(fd, got, 1, (off_t)SIZE + (4 << 20)), 1);
    assert_int_equal(got[0], 0);
}

static void test_modes_and_times(void **state)
{
    fx *f = *state;
    put(f->up, "suid", "x", 04755);
    put(f->up, "sgid", "x", 02750);
    put(f->up, "plain", "x", 0640);
    put(f->up, "sticky", "x", 01644);
    mkd(f->up, "dir", 0750);
    mkd(f->up, "sgdir", 02775);
    mkd(f->up, "keepsg", 02775);
    mkd(f->ws, "keepsg", 0755);
    assert_int_equal(fchmodat(f->ws, "keepsg", 02755, 0), 0);
    assert_int_equal(symlinkat("plain", f->up, "link"), 0);
    struct timespec ts[2] = {{1000000000, 5}, {1234567890, 123456789}};
    const char *names[] = {"suid", "plain", "dir", "sgdir", "keepsg", "link"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(utimensat(f->up, names[i], ts, AT_SYMLINK_NOFOLLOW), 0);
    merge_ok(f, (uid_t)-1, (gid_t)-1);

    assert_int_equal(lst(f->ws, "suid").st_mode & 07777, 0755);
    assert_int_equal(lst(f->ws, "sgid").st_mode & 07777, 0750);
    assert_int_equal(lst(f->ws, "plain").st_mode & 07777, 0640);
    assert_int_equal(lst(f->ws, "sticky").st_mode & 07777, 01644);
    assert_int_equal(lst(f->ws, "dir").st_mode & 07777, 0750);
    assert_int_equal(lst(f->ws, "sgdir").st_mode & 07777, 0775);   /* never added */
    assert_int_equal(lst(f->ws, "keepsg").st_mode & 07777, 02775); /* kept: the host had it */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct stat st = lst(f->ws, names[i]);
        assert_int_equal(st.st_mtim.tv_sec, 1234567890);
        assert_int_equal(st.st_mtim.tv_nsec, 123456789);
    }
}

static void test_ownership(void **state)
{
    fx *f = *state;
    if (geteuid() != 0) {
        print_message("skipped: needs root\n");
        skip();
    }
    put(f->up, "file", "x", 0644);
    mkd(f->up, "dir", 0755);
    put(f->up, "dir/inner", "x", 0644);
    assert_int_equal(symlinkat("file", f->up, "link"), 0);
    mkd(f->up, "existing", 0755);
    put(f->up, "existing/new", "x", 0644);
    mkd(f->ws, "existing", 0755);
    assert_int_equal(fchownat(f->ws, "existing", 42, 43, 0), 0);
    merge_ok(f, 1234, 1234);
    const char *mine[] = {"file", "dir", "dir/inner", "link", "existing/new"};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
        struct stat st = lst(f->ws, mine[i]);
        assert_int_equal(st.st_uid, 1234);
        assert_int_equal(st.st_gid, 1234);
    }
    struct stat st = lst(f->ws, "existing"); /* not created by the merge: keeps its owner */
    assert_int_equal(st.st_uid, 42);
    assert_int_equal(st.st_gid, 43);

    /* -1 leaves the creator's ids; only the group changes */
    put(f->up, "grp", "x", 0644);
    merge_ok(f, (uid_t)-1, 77);
    st = lst(f->ws, "grp");
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_gid, 77);
}

static void test_special_files_skipped(void **state)
{
    fx *f = *state;
    assert_int_equal(mkfifoat(f->up, "fifo", 0644), 0);
    put(f->ws, "fifo", "replaced by the job", 0644);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/up/sock", f->base);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    bool dev = mknodat(f->up, "null", S_IFCHR | 0666, makedev(1, 3)) == 0;
    bool blk = mknodat(f->up, "blk", S_IFBLK | 0600, makedev(7, 0)) == 0;
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_int_equal(ftype(f->ws, "fifo"), 0);
    assert_int_equal(ftype(f->ws, "sock"), 0);
    assert_int_equal(ftype(f->ws, "null"), 0);
    assert_int_equal(ftype(f->ws, "blk"), 0);
    (void)dev;
    (void)blk;
}

static void test_redirect_metacopy(void **state)
{
    fx *f = *state;
    mkd(f->up, "a", 0755);
    mkd(f->up, "a/b\nforged log line", 0755);
    skip_unless(xset(f->up, "a/b\nforged log line", "user.overlay.redirect", "/elsewhere"), ENOTSUP);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(sb_merge_upper(f->up, f->ws, (uid_t)-1, (gid_t)-1, &err), -1);
    assert_int_equal(err.sys_errno, EPROTO);
    assert_non_null(strstr(err.msg, "merge 'a/b?forged log line': "));
    assert_null(strchr(err.msg, '\n'));

    assert_int_equal(teardown(state), 0); /* a fresh fixture for the second case */
    assert_int_equal(setup(state), 0);
    f = *state;
    put(f->up, "meta", "", 0644);
    assert_int_equal(xset(f->up, "meta", "user.overlay.metacopy", ""), 0);
    err = (mrun_err)MRUN_ERR_INIT;
    assert_int_equal(sb_merge_upper(f->up, f->ws, (uid_t)-1, (gid_t)-1, &err), -1);
    assert_int_equal(err.sys_errno, EPROTO);
    assert_non_null(strstr(err.msg, "merge 'meta': "));
}

/* Builds a chain of n nested dirs "d" under dfd with a file at the bottom. */
static void chain(int dfd, int n)
{
    int cur = dup(dfd);
    for (int i = 0; i < n; i++) {
        assert_int_equal(mkdirat(cur, "d", 0755), 0);
        int next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(next >= 0);
        close(cur);
        cur = next;
    }
    put(cur, "bottom", "b", 0644);
    close(cur);
}

static void test_depth_limit(void **state)
{
    fx *f = *state;
    chain(f->up, 256);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    char p[256 * 2 + 16] = "";
    for (int i = 0; i < 256; i++)
        strncat(p, "d/", sizeof(p) - strlen(p) - 1);
    strncat(p, "bottom", sizeof(p) - strlen(p) - 1);
    assert_string_equal(slurp(f->ws, p), "b");
    /* one more level is refused with E2BIG */
    assert_int_equal(teardown(state), 0);
    assert_int_equal(setup(state), 0);
    f = *state;
    chain(f->up, 257);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(sb_merge_upper(f->up, f->ws, (uid_t)-1, (gid_t)-1, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_non_null(strstr(err.msg, "merge '.../d/d/d"));
}

static void test_depth_limit_removal(void **state)
{
    fx *f = *state;
    mkd(f->ws, "deep", 0755);
    int fd = openat(f->ws, "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    chain(fd, 300);
    close(fd);
    skip_unless(whiteout(f->up, "deep"), EPERM);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(sb_merge_upper(f->up, f->ws, (uid_t)-1, (gid_t)-1, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
}

static void test_hardlinks(void **state)
{
    fx *f = *state;
    put(f->up, "a", "shared", 0644);
    assert_int_equal(linkat(f->up, "a", f->up, "b", 0), 0);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    assert_string_equal(slurp(f->ws, "a"), "shared");
    assert_string_equal(slurp(f->ws, "b"), "shared");
    assert_int_not_equal(lst(f->ws, "a").st_ino, lst(f->ws, "b").st_ino);
}

static void test_hostile_names(void **state)
{
    fx *f = *state;
    char longname[256];
    memset(longname, 'L', 255);
    longname[255] = '\0';
    char tmp0[64], tmp1[64];
    /* names our own temporaries would take: a leftover in the workspace and a job file */
    snprintf(tmp0, sizeof(tmp0), ".mrun-merge.%ld.0", (long)getpid());
    snprintf(tmp1, sizeof(tmp1), ".mrun-merge.%ld.1", (long)getpid());
    const char *names[] = {"-rf", "a b", "new\nline", " ", "...", "\x01\xff", longname, tmp1};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        put(f->up, names[i], names[i], 0644);
    put(f->ws, tmp0, "leftover", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(slurp(f->ws, names[i]), names[i]);
    assert_string_equal(slurp(f->ws, tmp0), "leftover");
    char p[128];
    snprintf(p, sizeof(p), "%s/ws", f->base);
    assert_int_equal(count_entries(p), (int)(sizeof(names) / sizeof(names[0])) + 1);
}

static void test_upper_offset_untouched(void **state)
{
    fx *f = *state;
    put(f->up, "a", "a", 0644);
    put(f->up, "b", "b", 0644);
    merge_ok(f, (uid_t)-1, (gid_t)-1);
    merge_ok(f, (uid_t)-1, (gid_t)-1); /* idempotent, and the caller's fd still lists from the start */
    assert_int_equal(lseek(f->up, 0, SEEK_CUR), 0);
    assert_string_equal(slurp(f->ws, "b"), "b");
}

/* ---- end to end: a real overlay, changed through its merged view, then merged back ---- */

static uint64_t hash_file(const char *path)
{
    uint64_t h = 0xcbf29ce484222325u;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    unsigned char buf[65536];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 0x100000001b3u;
    close(fd);
    return h;
}

static int no_dots(const struct dirent *de)
{
    return strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
}

/* One line per entry, sorted: what a reader of the tree can observe (not inode numbers or atimes). */
static void snapshot(FILE *out, const char *root, const char *rel)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", root, rel);
    struct dirent **ents;
    int n = scandir(dir, &ents, no_dots, alphasort);
    if (n < 0) {
        fprintf(out, "ERROR scandir %s\n", rel);
        return;
    }
    for (int i = 0; i < n; i++) {
        char crel[PATH_MAX], path[PATH_MAX * 2];
        snprintf(crel, sizeof(crel), "%s%s%s", rel, *rel ? "/" : "", ents[i]->d_name);
        snprintf(path, sizeof(path), "%s/%s", root, crel);
        struct stat st;
        if (lstat(path, &st) < 0) {
            fprintf(out, "ERROR lstat %s\n", crel);
            continue;
        }
        fprintf(out, "%s mode=%o owner=%u:%u mtime=%lld.%09ld", crel, (unsigned)st.st_mode, (unsigned)st.st_uid,
                (unsigned)st.st_gid, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (S_ISREG(st.st_mode))
            fprintf(out, " size=%lld hash=%016llx", (long long)st.st_size, (unsigned long long)hash_file(path));
        if (S_ISLNK(st.st_mode)) {
            char t[PATH_MAX];
            ssize_t len = readlink(path, t, sizeof(t) - 1);
            t[len > 0 ? len : 0] = '\0';
            fprintf(out, " -> %s", t);
        }
        fputc('\n', out);
        if (S_ISDIR(st.st_mode))
            snapshot(out, root, crel);
        free(ents[i]);
    }
    free(ents);
}

static char *snapshot_str(const char *root)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (!m)
        return NULL;
    snapshot(m, root, "");
    fclose(m);
    return s;
}

static int wr(const char *root, const char *rel, const char *content, mode_t mode, bool append)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), mode);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, content, strlen(content));
    close(fd);
    return n == (ssize_t)strlen(content) ? 0 : -1;
}

static int mk(const char *root, const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    return mkdir(p, 0755);
}

/* mv(1) across a layer boundary: rename, or (EXDEV, redirect_dir off) copy and delete. */
static int mv_tree(const char *src, const char *dst)
{
    if (rename(src, dst) == 0)
        return 0;
    struct stat st;
    if (errno != EXDEV || lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
        return -1;
    if (mkdir(dst, st.st_mode & 07777) < 0)
        return -1;
    struct dirent **ents;
    int n = scandir(src, &ents, no_dots, alphasort);
    if (n < 0)
        return -1;
    int r = 0;
    for (int i = 0; i < n; i++) {
        char s[PATH_MAX], d[PATH_MAX];
        snprintf(s, sizeof(s), "%s/%s", src, ents[i]->d_name);
        snprintf(d, sizeof(d), "%s/%s", dst, ents[i]->d_name);
        if (r == 0 && mv_tree(s, d) < 0)
            r = -1;
        free(ents[i]);
    }
    free(ents);
    return r < 0 ? -1 : rmdir(src);
}

static void populate_lower(const char *L)
{
    assert_int_equal(wr(L, "keep.txt", "unchanged", 0644, false), 0);
    assert_int_equal(wr(L, "modify.txt", "old", 0644, false), 0);
    assert_int_equal(wr(L, "delete.txt", "bye", 0644, false), 0);
    assert_int_equal(wr(L, "chmod.sh", "#!/bin/sh\n", 0644, false), 0);
    assert_int_equal(mk(L, "dir_keep"), 0);
    assert_int_equal(wr(L, "dir_keep/a", "a", 0644, false), 0);
    assert_int_equal(mk(L, "dir_rmrf"), 0);
    assert_int_equal(mk(L, "dir_rmrf/sub"), 0);
    assert_int_equal(wr(L, "dir_rmrf/x", "x", 0644, false), 0);
    assert_int_equal(wr(L, "dir_rmrf/sub/z", "z", 0644, false), 0);
    assert_int_equal(mk(L, "dir_rename"), 0);
    assert_int_equal(mk(L, "dir_rename/sub"), 0);
    assert_int_equal(wr(L, "dir_rename/f1", "f1", 0644, false), 0);
    assert_int_equal(wr(L, "dir_rename/sub/f2", "f2", 0644, false), 0);
    assert_int_equal(mk(L, "dir_merge"), 0);
    assert_int_equal(wr(L, "dir_merge/old1", "1", 0644, false), 0);
    assert_int_equal(wr(L, "dir_merge/old2", "2", 0644, false), 0);
    assert_int_equal(wr(L, "file_to_dir", "f", 0644, false), 0);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/big_lower", L);
    FILE *big = fopen(p, "we");
    assert_non_null(big);
    for (unsigned i = 0; i < (2u << 20) / 4; i++)
        fwrite(&i, 4, 1, big);
    assert_int_equal(fclose(big), 0);
    assert_int_equal(mk(L, "dir_to_file"), 0);
    assert_int_equal(wr(L, "dir_to_file/q", "q", 0644, false), 0);
    snprintf(p, sizeof(p), "%s/link", L);
    assert_int_equal(symlink("keep.txt", p), 0);
}

/* What a build job does to its workspace; 0 or -1 (the child reports which step). */
static int change_merged(const char *M)
{
    char a[PATH_MAX], b[PATH_MAX];
#define P(buf, rel) (snprintf(buf, sizeof(buf), "%s/%s", M, rel), buf)
    if (wr(M, "new.txt", "created", 0600, false) < 0 || wr(M, "modify.txt", " appended", 0, true) < 0)
        return -1;
    if (unlink(P(a, "delete.txt")) < 0 || chmod(P(a, "chmod.sh"), 0755) < 0)
        return -1;
    rm_path(P(a, "dir_rmrf"));
    if (mk(M, "dir_rmrf") < 0 || wr(M, "dir_rmrf/fresh", "fresh", 0644, false) < 0)
        return -1;
    if (mv_tree(P(a, "dir_rename"), P(b, "dir_renamed")) < 0)
        return -1;
    if (wr(M, "dir_merge/new", "n", 0644, false) < 0 || unlink(P(a, "dir_merge/old1")) < 0)
        return -1;
    if (unlink(P(a, "file_to_dir")) < 0 || mk(M, "file_to_dir") < 0 || wr(M, "file_to_dir/c", "c", 0644, false) < 0)
        return -1;
    rm_path(P(a, "dir_to_file"));
    if (wr(M, "dir_to_file", "now a file", 0644, false) < 0)
        return -1;
    if (unlink(P(a, "link")) < 0 || symlink("dir_keep", P(a, "link")) < 0)
        return -1;
    if (mk(M, "new_dir") < 0 || mk(M, "new_dir/deeper") < 0 || wr(M, "new_dir/deeper/f", "f", 0644, false) < 0)
        return -1;
    int fd = open(P(a, "big.bin"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, 3 << 20) < 0 || pwrite(fd, "middle", 6, 1 << 20) != 6 || close(fd) < 0)
        return -1;
    fd = open(P(a, "big_lower"), O_WRONLY | O_CLOEXEC); /* copy-up of 2 MiB, one byte changed */
    if (fd < 0 || pwrite(fd, "X", 1, 1000000) != 1 || close(fd) < 0)
        return -1;
#undef P
    return 0;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Own user namespace, our ids mapped to 0 in it: as the sandbox mounts its overlay, and no root needed. */
static int enter_userns(void)
{
    char map[64];
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
        return -1;
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) < 0 || write_file("/proc/self/setgroups", "deny") < 0)
        return -1;
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
    return write_file("/proc/self/gid_map", map);
}

/* In a forked child: own mount namespace (so the host sees no mount), tmpfs for upper and work dirs,
 * overlay with opts, changes through the merged dir, then the merge back onto L. Exit 0 ok, 77 skip. */
static void e2e_child(const char *base, const char *opts, int expect_errno, bool userns)
{
    char L[128], T[128], M[128], U[160], W[160], mopts[600];
    snprintf(L, sizeof(L), "%s/L", base);
    snprintf(T, sizeof(T), "%s/t", base);
    snprintf(M, sizeof(M), "%s/m", base);
    snprintf(U, sizeof(U), "%s/U", T);
    snprintf(W, sizeof(W), "%s/W", T);
    if (userns ? enter_userns() < 0 : unshare(CLONE_NEWNS) < 0)
        _exit(77);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        _exit(77);
    if (mkdir(T, 0700) < 0 || mkdir(M, 0755) < 0 || mount("tmpfs", T, "tmpfs", 0, "size=64m") < 0)
        _exit(10);
    if (mkdir(U, 0755) < 0 || mkdir(W, 0700) < 0)
        _exit(11);
    snprintf(mopts, sizeof(mopts), "lowerdir=%s,upperdir=%s,workdir=%s%s%s", L, U, W, *opts ? "," : "", opts);
    if (mount("overlay", M, "overlay", 0, mopts) < 0) {
        fprintf(stderr, "mount overlay %s: %s\n", opts, strerror(errno));
        _exit(errno == EINVAL ? 77 : 12);
    }
    if (change_merged(M) < 0) {
        fprintf(stderr, "changing the merged dir: %s\n", strerror(errno));
        _exit(13);
    }
    char *want = snapshot_str(M);
    if (!want || umount(M) < 0)
        _exit(14);
    int up = open(U, O_RDONLY | O_DIRECTORY | O_CLOEXEC), lo = open(L, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    mrun_err err = MRUN_ERR_INIT;
    int r = sb_merge_upper(up, lo, (uid_t)-1, (gid_t)-1, &err);
    if (expect_errno) {
        if (r == -1 && err.sys_errno == expect_errno)
            _exit(0);
        fprintf(stderr, "expected errno %d, got r=%d: %s\n", expect_errno, r, err.msg);
        _exit(15);
    }
    if (r < 0) {
        fprintf(stderr, "sb_merge_upper: %s\n", err.msg);
        _exit(16);
    }
    char *got = snapshot_str(L);
    if (!got || strcmp(want, got) != 0) {
        fprintf(stderr, "merged view:\n%s\nlower after merge:\n%s\n", want, got ? got : "(null)");
        _exit(17);
    }
    _exit(0);
}

static void e2e(void **state, const char *opts, int expect_errno, bool userns)
{
    fx *f = *state;
    if (!userns && geteuid() != 0) {
        print_message("skipped: needs root (mount)\n");
        skip();
    }
    char L[128];
    snprintf(L, sizeof(L), "%s/L", f->base);
    assert_int_equal(mkdir(L, 0755), 0);
    populate_lower(L);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        e2e_child(f->base, opts, expect_errno, userns);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        print_message("skipped: no %s namespace or overlay option '%s'\n", userns ? "user" : "mount", opts);
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* what the sandbox does: the mount in a user namespace needs userxattr */
static void test_e2e_userns(void **state)
{
    e2e(state, "userxattr", 0, true);
}

/* the same options, mounted by real root */
static void test_e2e_userxattr(void **state)
{
    e2e(state, "userxattr", 0, false);
}

/* a mount made outside a user namespace: trusted.overlay.* xattrs */
static void test_e2e_trusted(void **state)
{
    e2e(state, "redirect_dir=nofollow,metacopy=off", 0, false);
}

/* a directory rename with redirect_dir=on leaves a redirect xattr, which the merge refuses */
static void test_e2e_redirect_refused(void **state)
{
    e2e(state, "redirect_dir=on,metacopy=off", EPROTO, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteout_chardev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteout_xattr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opaque_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opaque_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_replaces_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_replaces_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_symlink_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sparse_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_fallback_rw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modes_and_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_files_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect_metacopy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hardlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upper_offset_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_e2e_userns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_e2e_userxattr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_e2e_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_e2e_redirect_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
