/* merge.c - applies an overlay upper dir (what a job wrote to its workspace) onto the host workspace,
 * fd-relative and never following a symlink on either side. Stops at the first error: what was applied
 * before it stays applied (each entry is replaced atomically, the tree as a whole is not). */
#include "sandbox_int.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../common/auto.h"

/* Directory levels below the roots, merging and removal together. Each level holds two fds open (upper
 * and destination), so this also bounds fd use to about 512. */
#define MERGE_MAX_DEPTH     256
#define MERGE_MAX_DEPTH_STR "256"
#define COPY_CHUNK          (1 << 20) /* per copy_file_range/sendfile call */
#define RW_BUF_SIZE         (128 * 1024)
#define TMP_TRIES           100
#define NO_SETID            (~(mode_t)(S_ISUID | S_ISGID))

typedef enum { COPY_CFR = 0, COPY_SENDFILE = 1, COPY_RW = 2 } copy_method;

/* One call's state; single-threaded. xbuf and iobuf are owned and freed by ctx_fini. */
typedef struct merge_ctx {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    unsigned long tmp_seq;
    copy_method method; /* only ever moves down the list, when the kernel refuses the faster one */
    char *xbuf;         /* XATTR_LIST_MAX + 1 bytes for flistxattr */
    char *iobuf;        /* RW_BUF_SIZE, allocated on the first read/write fallback */
    mrun_err *err;
} merge_ctx;

/* One level of the path being worked on, for error messages only. Frames live on the recursion's stack;
 * name points into the parent's dirent, which stays valid because the parent's readdir waits for us. */
typedef struct frame {
    const struct frame *up;
    const char *name;
} frame;

/* A temporary entry in a destination dir: unlinked by the cleanup unless install() renamed it into place. */
typedef struct tmp_entry {
    int dir_fd;
    char name[64];
} tmp_entry;

static int merge_dir(merge_ctx *c, DIR *ud, int dfd, const frame *f, unsigned depth);

static void ctx_fini(merge_ctx *c)
{
    free(c->xbuf);
    free(c->iobuf);
}

static void closedirp(DIR **d)
{
    if (*d) {
        int saved = errno;
        closedir(*d);
        errno = saved;
    }
}

static void tmp_entry_drop(tmp_entry *t)
{
    if (t->name[0]) {
        int saved = errno;
        unlinkat(t->dir_fd, t->name, 0);
        errno = saved;
    }
}

/* Writes f's path, tail first so a deep path keeps its last components. Control bytes become '?': the
 * names are the job's, and the message ends up in a log line. */
static void frame_path(const frame *f, char *buf, size_t size)
{
    assert(size > 8);
    size_t pos = size - 1;
    buf[pos] = '\0';
    if (!f) {
        memcpy(buf, ".", 2);
        return;
    }
    bool cut = false;
    for (; f; f = f->up) {
        /* room keeps 3 bytes for "..."; a name too long for it keeps its tail */
        size_t n = strlen(f->name), sep = f->up ? 1 : 0, room = pos - 3;
        size_t take = n < room ? n : room;
        pos -= take;
        for (size_t i = 0; i < take; i++) {
            unsigned char ch = (unsigned char)f->name[n - take + i];
            buf[pos + i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
        }
        if (n + sep > room) {
            cut = true;
            break;
        }
        if (sep)
            buf[--pos] = '/';
    }
    if (cut) {
        pos -= 3;
        memcpy(buf + pos, "...", 3);
    }
    memmove(buf, buf + pos, size - pos);
}

/* "merge 'a/b': what: strerror". The path is context, so a long one is truncated before the cause is. */
static int fail(merge_ctx *c, const frame *f, int sys_errno, const char *what)
{
    char path[128];
    frame_path(f, path, sizeof(path));
    mrun_err_set(c->err, sys_errno, "%s", what);
    return mrun_err_prefix(c->err, "merge '%s'", path);
}

/* As fail, for our own checks: no strerror. */
static int failx(merge_ctx *c, const frame *f, int sys_errno, const char *what)
{
    char path[128];
    frame_path(f, path, sizeof(path));
    mrun_err_setx(c->err, sys_errno, "%s", what);
    return mrun_err_prefix(c->err, "merge '%s'", path);
}

/* Opens a subdirectory without following a symlink and without crossing into another mount: overlayfs
 * never showed the job a submount of its lower dir, so merging into one (or deleting from it) would touch
 * data the job never saw. openat2 is 5.6+; older kernels get the plain O_NOFOLLOW open. */
static int open_dir_at(int dfd, const char *name)
{
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS)
        return (int)fd;
    return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* fdopendir that consumes fd even on failure, so callers can hand over and forget. */
static DIR *dir_take(int fd)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return d;
}

static bool is_dot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

enum {
    X_OPAQUE = 1u << 0,   /* overlay.opaque = "y"; "x" only marks a dir holding xattr whiteouts */
    X_WHITEOUT = 1u << 1, /* overlay.whiteout: a whiteout if the file is also empty */
    X_FOREIGN = 1u << 2,  /* overlay.redirect or overlay.metacopy: content lives elsewhere, we can't apply it */
};

/* Classifies fd by its overlay xattrs, under both the userxattr ("user.") and the privileged ("trusted.")
 * prefix. One flistxattr in the common case of no xattrs at all. -1 with errno on failure. */
static int xattr_scan(merge_ctx *c, int fd, unsigned *ret_flags)
{
    ssize_t n = flistxattr(fd, c->xbuf, XATTR_LIST_MAX);
    if (n < 0 && errno != ENOTSUP)
        return -1;
    unsigned flags = 0;
    for (ssize_t i = 0; i < n;) {
        const char *name = c->xbuf + i;
        size_t len = strnlen(name, (size_t)(n - i));
        i += (ssize_t)len + 1;
        const char *s = NULL;
        if (!strncmp(name, "user.overlay.", 13))
            s = name + 13;
        else if (!strncmp(name, "trusted.overlay.", 16))
            s = name + 16;
        if (!s || (size_t)(s - name) >= len)
            continue;
        if (!strcmp(s, "redirect") || !strcmp(s, "metacopy")) {
            flags |= X_FOREIGN;
        } else if (!strcmp(s, "whiteout")) {
            flags |= X_WHITEOUT;
        } else if (!strcmp(s, "opaque")) {
            char v[2];
            ssize_t r = fgetxattr(fd, name, v, sizeof(v));
            if (r < 0 && errno != ERANGE && errno != ENODATA)
                return -1;
            if (r == 1 && v[0] == 'y')
                flags |= X_OPAQUE;
        }
    }
    *ret_flags = flags;
    return 0;
}

/* Removes dfd/name whatever it is; missing is fine. A symlink is unlinked, never descended into. */
static int rm_tree(merge_ctx *c, int dfd, const char *name, const frame *f, unsigned depth)
{
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR)
        return fail(c, f, errno, "remove");
    if (depth > MERGE_MAX_DEPTH)
        return failx(c, f, E2BIG, "removing a tree deeper than " MERGE_MAX_DEPTH_STR " levels");
    int fd = open_dir_at(dfd, name);
    if (fd < 0)
        return fail(c, f, errno, "open for removal");
    mrun_cleanup(closedirp) DIR *d = dir_take(fd);
    if (!d)
        return fail(c, f, errno, "read directory");
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                return fail(c, f, errno, "read directory");
            break;
        }
        if (is_dot(de->d_name))
            continue;
        frame cf = {f, de->d_name};
        if (rm_tree(c, fd, de->d_name, &cf, depth + 1) < 0)
            return -1;
    }
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return fail(c, f, errno, "remove directory");
    return 0;
}

/* Empties the directory fd (at f) without removing it. */
static int rm_children(merge_ctx *c, int fd, const frame *f, unsigned depth)
{
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own file offset for readdir */
    if (own < 0)
        return fail(c, f, errno, "open for removal");
    mrun_cleanup(closedirp) DIR *d = dir_take(own);
    if (!d)
        return fail(c, f, errno, "read directory");
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de)
            return errno ? fail(c, f, errno, "read directory") : 0;
        if (is_dot(de->d_name))
            continue;
        frame cf = {f, de->d_name};
        if (rm_tree(c, fd, de->d_name, &cf, depth + 1) < 0)
            return -1;
    }
}

static bool copy_unsupported(int e)
{
    return e == EXDEV || e == EINVAL || e == ENOSYS || e == EOPNOTSUPP;
}

static ssize_t copy_rw(merge_ctx *c, int in, int out, off_t off, size_t want)
{
    if (!c->iobuf && !(c->iobuf = malloc(RW_BUF_SIZE)))
        return -1;
    if (want > RW_BUF_SIZE)
        want = RW_BUF_SIZE;
    ssize_t n;
    do
        n = pread(in, c->iobuf, want, off);
    while (n < 0 && errno == EINTR);
    for (ssize_t done = 0; n > 0 && done < n;) {
        ssize_t w = pwrite(out, c->iobuf + done, (size_t)(n - done), off + done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        done += w;
    }
    return n;
}

/* Copies up to want bytes at off (same offset on both sides); 0 at the source's end. Falls back from
 * copy_file_range (EXDEV between tmpfs and the workspace fs since 5.19) to sendfile to read/write. */
static ssize_t copy_once(merge_ctx *c, int in, int out, off_t off, size_t want)
{
    for (;;) {
        ssize_t n;
        if (c->method == COPY_CFR) {
            loff_t ioff = off, ooff = off;
            n = copy_file_range(in, &ioff, out, &ooff, want, 0);
            if (n == 0) { /* some filesystems say 0 where they mean "not supported": let the next method decide */
                c->method = COPY_SENDFILE;
                continue;
            }
        } else if (c->method == COPY_SENDFILE) {
            off_t ioff = off;
            if (lseek(out, off, SEEK_SET) < 0)
                return -1;
            n = sendfile(out, in, &ioff, want);
        } else {
            return copy_rw(c, in, out, off, want);
        }
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (!copy_unsupported(errno))
            return -1;
        c->method = c->method == COPY_CFR ? COPY_SENDFILE : COPY_RW;
    }
}

/* Copies [0, size) of in to out, data segments only: a file on the upper tmpfs may be sparse with a huge
 * length (tmpfs size= counts pages, not length), and writing its holes out as zeros would let a job fill
 * the host disk far past its quota. Nothing is buffered beyond one chunk. */
static int copy_data(merge_ctx *c, int in, int out, off_t size)
{
    for (off_t off = 0; off < size;) {
        off_t data = lseek(in, off, SEEK_DATA), hole = size;
        if (data < 0 && errno == ENXIO)
            break; /* only a hole is left */
        if (data < 0 && errno != EINVAL)
            return -1;
        if (data < 0)
            data = off; /* no SEEK_DATA here: treat the rest as data */
        else if ((hole = lseek(in, data, SEEK_HOLE)) < 0)
            return -1;
        if (data >= size)
            break;
        if (hole > size)
            hole = size;
        for (off = data; off < hole;) {
            off_t left = hole - off;
            ssize_t n = copy_once(c, in, out, off, left > COPY_CHUNK ? COPY_CHUNK : (size_t)left);
            if (n < 0)
                return -1;
            if (n == 0)
                return ftruncate(out, size); /* the source shrank under us: keep its length, zero-filled */
            off += n;
        }
    }
    return ftruncate(out, size);
}

/* Makes a fresh temporary entry in t->dir_fd: a 0600 file (returns its fd) or, with link_target, a
 * symlink (returns 0). Names collide only with leftovers or the job's own files, which O_EXCL skips. */
static int make_tmp(merge_ctx *c, tmp_entry *t, const char *link_target)
{
    for (int i = 0; i < TMP_TRIES; i++) {
        snprintf(t->name, sizeof(t->name), ".mrun-merge.%ld.%lu", (long)c->pid, c->tmp_seq++);
        int r = link_target ? symlinkat(link_target, t->dir_fd, t->name)
                            : openat(t->dir_fd, t->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (r >= 0)
            return r;
        if (errno != EEXIST)
            break;
    }
    t->name[0] = '\0'; /* nothing of ours to unlink */
    return -1;
}

static bool want_chown(const merge_ctx *c)
{
    return c->uid != (uid_t)-1 || c->gid != (gid_t)-1;
}

/* Renames the finished temporary over name, so a crash leaves the old entry or the new one. rename(2)
 * cannot put a non-directory over a directory, so a directory there is removed first. */
static int install(merge_ctx *c, tmp_entry *t, const char *name, const frame *f, unsigned depth)
{
    if (renameat(t->dir_fd, t->name, t->dir_fd, name) < 0) {
        if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST)
            return fail(c, f, errno, "rename into place");
        if (rm_tree(c, t->dir_fd, name, f, depth) < 0)
            return -1;
        if (renameat(t->dir_fd, t->name, t->dir_fd, name) < 0)
            return fail(c, f, errno, "rename into place");
    }
    t->name[0] = '\0';
    return 0;
}

static int merge_file(merge_ctx *c, int ufd, int dfd, const char *name, const frame *f, unsigned depth)
{
    /* O_NONBLOCK: if the entry was swapped for a FIFO since fstatat, the open must not hang */
    mrun_autoclose int in = openat(ufd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (in < 0)
        return fail(c, f, errno, "open");
    struct stat st;
    if (fstat(in, &st) < 0)
        return fail(c, f, errno, "stat");
    if (!S_ISREG(st.st_mode))
        return failx(c, f, EPROTO, "changed type during the merge");
    unsigned x;
    if (xattr_scan(c, in, &x) < 0)
        return fail(c, f, errno, "read xattrs");
    if (x & X_FOREIGN)
        return failx(c, f, EPROTO, "overlay redirect/metacopy xattr: unsupported (mount with both off)");
    if ((x & X_WHITEOUT) && st.st_size == 0)
        return rm_tree(c, dfd, name, f, depth); /* xattr whiteout (6.7+) */

    mrun_cleanup(tmp_entry_drop) tmp_entry t = {dfd, ""};
    mrun_autoclose int out = make_tmp(c, &t, NULL);
    if (out < 0)
        return fail(c, f, errno, "create temporary file");
    if (copy_data(c, in, out, st.st_size) < 0)
        return fail(c, f, errno, "copy");
    if (want_chown(c) && fchown(out, c->uid, c->gid) < 0)
        return fail(c, f, errno, "chown");
    /* set-id bits are dropped: the job must not plant a setuid file for whoever runs things on the host */
    if (fchmod(out, st.st_mode & 07777 & NO_SETID) < 0)
        return fail(c, f, errno, "chmod");
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    if (futimens(out, ts) < 0)
        return fail(c, f, errno, "set times");
    return install(c, &t, name, f, depth);
}

static int merge_symlink(merge_ctx *c, int ufd, int dfd, const char *name, const struct stat *st, const frame *f,
                         unsigned depth)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(ufd, name, target, sizeof(target));
    if (n < 0)
        return fail(c, f, errno, "read symlink");
    if ((size_t)n >= sizeof(target))
        return failx(c, f, ENAMETOOLONG, "symlink target too long");
    target[n] = '\0';

    /* the text is copied as is: a symlink pointing out of the workspace is the reader's problem, and
     * nothing here ever follows one */
    mrun_cleanup(tmp_entry_drop) tmp_entry t = {dfd, ""};
    if (make_tmp(c, &t, target) < 0)
        return fail(c, f, errno, "create symlink");
    if (want_chown(c) && fchownat(dfd, t.name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(c, f, errno, "chown");
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (utimensat(dfd, t.name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(c, f, errno, "set times");
    return install(c, &t, name, f, depth);
}

/* Opens the destination directory for name, replacing any non-directory there (a symlink included: it
 * is removed, never followed). Sets *ret_created when it made the directory. */
static int open_dest_dir(merge_ctx *c, int dfd, const char *name, const frame *f, bool *ret_created)
{
    mrun_autoclose int fd = open_dir_at(dfd, name);
    if (fd >= 0) {
        *ret_created = false;
        return mrun_steal_fd(&fd);
    }
    if (errno == ENOTDIR || errno == ELOOP) {
        if (unlinkat(dfd, name, 0) < 0)
            return fail(c, f, errno, "remove");
    } else if (errno != ENOENT) {
        return fail(c, f, errno, "open");
    }
    if (mkdirat(dfd, name, 0700) < 0) /* private until its final mode is set after the contents */
        return fail(c, f, errno, "create directory");
    fd = open_dir_at(dfd, name);
    if (fd < 0)
        return fail(c, f, errno, "open");
    if (want_chown(c) && fchown(fd, c->uid, c->gid) < 0)
        return fail(c, f, errno, "chown");
    *ret_created = true;
    return mrun_steal_fd(&fd);
}

/* Gives a merged directory the upper's mode and times, after its contents (which change its mtime).
 * Set-id bits are never added; a setgid the host directory already had is kept. */
static int finish_dir(merge_ctx *c, int fd, const struct stat *ust, const frame *f)
{
    struct stat cur;
    if (fstat(fd, &cur) < 0)
        return fail(c, f, errno, "stat");
    mode_t mode = (ust->st_mode & 07777 & NO_SETID) | (ust->st_mode & cur.st_mode & S_ISGID);
    if ((cur.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
        return fail(c, f, errno, "chmod");
    struct timespec ts[2] = {ust->st_atim, ust->st_mtim};
    if (futimens(fd, ts) < 0)
        return fail(c, f, errno, "set times");
    return 0;
}

static int merge_subdir(merge_ctx *c, int ufd, int dfd, const char *name, const frame *f, unsigned depth)
{
    if (depth > MERGE_MAX_DEPTH)
        return failx(c, f, E2BIG, "tree deeper than " MERGE_MAX_DEPTH_STR " levels");
    int in = open_dir_at(ufd, name);
    if (in < 0)
        return fail(c, f, errno, "open");
    mrun_cleanup(closedirp) DIR *ud = dir_take(in);
    if (!ud)
        return fail(c, f, errno, "read directory");
    struct stat st;
    if (fstat(in, &st) < 0)
        return fail(c, f, errno, "stat");
    unsigned x;
    if (xattr_scan(c, in, &x) < 0)
        return fail(c, f, errno, "read xattrs");
    if (x & X_FOREIGN)
        return failx(c, f, EPROTO, "overlay redirect/metacopy xattr: unsupported (mount with both off)");

    bool created;
    mrun_autoclose int out = open_dest_dir(c, dfd, name, f, &created);
    if (out < 0)
        return -1;
    /* opaque: the job saw none of the old contents (rm -rf then mkdir), so none may survive */
    if ((x & X_OPAQUE) && !created && rm_children(c, out, f, depth) < 0)
        return -1;
    if (merge_dir(c, ud, out, f, depth) < 0)
        return -1;
    return finish_dir(c, out, &st, f);
}

static int merge_entry(merge_ctx *c, int ufd, int dfd, const char *name, const frame *f, unsigned depth)
{
    struct stat st;
    if (fstatat(ufd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(c, f, errno, "stat");
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        return merge_file(c, ufd, dfd, name, f, depth);
    case S_IFDIR:
        return merge_subdir(c, ufd, dfd, name, f, depth);
    case S_IFLNK:
        return merge_symlink(c, ufd, dfd, name, &st, f, depth);
    default:
        /* A 0:0 char device is a whiteout. FIFOs, sockets and other device nodes are not workspace
         * content (and a job cannot make a working device node): they are not created, but the job's view
         * had them in place of the old entry, so that goes like under a whiteout. */
        return rm_tree(c, dfd, name, f, depth);
    }
}

/* Applies every entry of the upper dir ud (at f, consumed by the caller's cleanup) onto dfd. */
static int merge_dir(merge_ctx *c, DIR *ud, int dfd, const frame *f, unsigned depth)
{
    int ufd = dirfd(ud);
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(ud);
        if (!de)
            return errno ? fail(c, f, errno, "read directory") : 0;
        if (is_dot(de->d_name))
            continue;
        frame cf = {f, de->d_name};
        if (strchr(de->d_name, '/')) /* cannot come from getdents; checked because it would escape dfd */
            return failx(c, &cf, EPROTO, "name contains '/'");
        if (merge_entry(c, ufd, dfd, de->d_name, &cf, depth + 1) < 0)
            return -1;
    }
}

int sb_merge_upper(int upper_fd, int dir_fd, uid_t owner_uid, gid_t owner_gid, mrun_err *err)
{
    assert(upper_fd >= 0 && dir_fd >= 0);
    mrun_cleanup(ctx_fini) merge_ctx c = {.uid = owner_uid, .gid = owner_gid, .pid = getpid(), .err = err};
    c.xbuf = malloc(XATTR_LIST_MAX + 1);
    if (!c.xbuf)
        return fail(&c, NULL, errno, "allocate");
    /* a new open file description: readdir must not move the caller's upper_fd offset */
    int u = openat(upper_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (u < 0)
        return fail(&c, NULL, errno, "open upper dir");
    mrun_cleanup(closedirp) DIR *ud = dir_take(u);
    if (!ud)
        return fail(&c, NULL, errno, "read upper dir");
    /* the workspace root's own mode, owner and times are the host's business: left as they are */
    return merge_dir(&c, ud, dir_fd, NULL, 0);
}
