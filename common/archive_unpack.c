/* archive_unpack.c - extraction of hostile source archives (tar, tar.gz, tar.zst) into an empty directory.
 * libarchive only parses; every file, directory and link is created here with *at() calls relative to the
 * target, each parent opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so no entry can reach
 * outside through "..", an absolute name or a symlink (the CVE-2021-20197 / "tar slip" family). */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "archive.h"
#include "auto.h"

#define COPY_BUF (64 * 1024)

enum kind { K_NONE, K_DIR, K_FILE, K_LINK };

/* Every path this extraction created, by normalized name ("a/b"), with what it is now. Owns the keys. */
typedef struct ptab {
    char **key;
    uint8_t *kind;
    size_t cap, n;
} ptab;

/* A symlink created, re-checked once the whole archive is known (see check_link_traversal). */
typedef struct link_rec {
    char *path; /* normalized entry path */
    char *target;
    int64_t entry_no;
} link_rec;

/* One extraction. The archive reader and dir_fd are borrowed; the tables and buffer are owned. */
typedef struct ux {
    struct archive *a;
    int dir_fd;
    mrun_unpack_limits lim;
    mrun_unpack_stats st;
    int64_t declared; /* sum of declared entry sizes so far */
    int64_t created;  /* objects created, implicit parent directories included */
    time_t now;
    int64_t entry_no;
    const char *raw; /* the current entry's name as in the archive, for messages */
    ptab paths;
    link_rec *links;
    size_t nlinks, links_cap;
    char *buf;
    mrun_err *err;
} ux;

/* ---- path table ---- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static size_t ptab_slot(const ptab *t, const char *k)
{
    size_t i = (size_t)hash(k) & (t->cap - 1);
    while (t->key[i] && strcmp(t->key[i], k) != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static enum kind ptab_get(const ptab *t, const char *k)
{
    if (t->cap == 0)
        return K_NONE;
    size_t i = ptab_slot(t, k);
    return t->key[i] ? (enum kind)t->kind[i] : K_NONE;
}

static int ptab_grow(ptab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 256;
    char **nk = calloc(ncap, sizeof(*nk));
    uint8_t *nd = calloc(ncap, 1);
    if (!nk || !nd) {
        free(nk);
        free(nd);
        return -1;
    }
    ptab old = *t;
    t->key = nk;
    t->kind = nd;
    t->cap = ncap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.key[i]) {
            size_t j = ptab_slot(t, old.key[i]);
            t->key[j] = old.key[i];
            t->kind[j] = old.kind[i];
        }
    }
    free(old.key);
    free(old.kind);
    return 0;
}

static int ptab_set(ptab *t, const char *k, enum kind kd)
{
    if ((t->n + 1) * 2 > t->cap && ptab_grow(t) < 0)
        return -1;
    size_t i = ptab_slot(t, k);
    if (!t->key[i]) {
        t->key[i] = strdup(k);
        if (!t->key[i])
            return -1;
        t->n++;
    }
    t->kind[i] = (uint8_t)kd;
    return 0;
}

static void ptab_fini(ptab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->key[i]);
    free(t->key);
    free(t->kind);
}

/* ---- errors ---- */

/* Copies an untrusted name for a message: control bytes become '?', long names are cut with "...". */
static const char *quote(const char *s, char *out, size_t outlen)
{
    size_t i = 0;
    if (!s)
        s = "";
    for (; *s && i + 4 < outlen; s++)
        out[i++] = ((uint8_t)*s < 0x20 || *s == 0x7f) ? '?' : *s;
    if (*s) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

__attribute__((format(printf, 4, 5))) static int fail(ux *u, int sys_errno, bool with_strerror, const char *fmt, ...)
{
    char why[200], q[84];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    mrun_err *err = u->err;
    if (with_strerror)
        mrun_err_set(err, sys_errno, "%s", why);
    else
        mrun_err_setx(err, sys_errno, "%s", why);
    if (u->raw)
        return mrun_err_prefix(err, "entry %lld '%s'", (long long)u->entry_no, quote(u->raw, q, sizeof(q)));
    return mrun_err_prefix(err, "entry %lld", (long long)u->entry_no);
}

/* ---- names ---- */

/* Splits a name into its components in place (in is a private copy), dropping empty and "." ones.
 * Returns the count, or -1 with *why set. Sets *ret_escapes when ".." climbs above the start. */
static int split(char *in, char **comp, int max, const char **why)
{
    int n = 0, level = 0;
    bool dotdot = false, escapes = false;
    for (char *p = in; p;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (strcmp(p, "..") == 0) {
            dotdot = true;
            if (--level < 0)
                escapes = true;
        } else if (*p && strcmp(p, ".") != 0) {
            if (n == max) {
                *why = "path too deep";
                return -1;
            }
            comp[n++] = p;
            level++;
        }
        p = slash ? slash + 1 : NULL;
    }
    if (escapes) {
        *why = "path leaves the directory";
        return -1;
    }
    if (dotdot) {
        *why = "path contains '..'";
        return -1;
    }
    return n;
}

/* Joins comp[0..n) with '/' into out (big enough: the source name was at least as long). */
static char *join(char **comp, int n, char *out)
{
    char *o = out;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(comp[i]);
        if (i)
            *o++ = '/';
        memcpy(o, comp[i], l);
        o += l;
    }
    *o = '\0';
    return out;
}

/* The entry's name checked and normalized: *ret_comp (pointing into *ret_copy) and the count, 0 for the
 * target directory itself ("." or "./"). */
static int entry_name(ux *u, const char *name, const char *what, char **ret_copy, char ***ret_comp, int *ret_n)
{
    if (!name)
        return fail(u, EPROTO, false, "%s cannot be decoded", what);
    size_t len = strlen(name);
    if (len == 0)
        return fail(u, EPERM, false, "empty %s", what);
    if ((int64_t)len > u->lim.max_path_len)
        return fail(u, E2BIG, false, "%s longer than %lld bytes", what, (long long)u->lim.max_path_len);
    if (name[0] == '/')
        return fail(u, EPERM, false, "absolute %s", what);
    mrun_autofree char *copy = strdup(name);
    mrun_autofree char **comp = calloc((size_t)u->lim.max_depth + 1, sizeof(char *));
    if (!copy || !comp)
        return fail(u, ENOMEM, true, "%s", what);
    const char *why = NULL;
    int n = split(copy, comp, (int)u->lim.max_depth, &why);
    if (n < 0) {
        if (strcmp(why, "path too deep") == 0)
            return fail(u, E2BIG, false, "%s deeper than %lld components", what, (long long)u->lim.max_depth);
        return fail(u, EPERM, false, "%s%s", strcmp(what, "name") == 0 ? "" : "hardlink target: ", why);
    }
    *ret_copy = mrun_steal_ptr(&copy);
    *ret_comp = mrun_steal_ptr(&comp);
    *ret_n = n;
    return 0;
}

/* ---- creation ---- */

static int open_beneath(int dfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long r;
    do
        r = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
    while (r < 0 && errno == EAGAIN); /* openat2 may ask to retry when a rename raced with RESOLVE_BENEATH */
    return (int)r;
}

static int count_created(ux *u)
{
    if (++u->created > u->lim.max_entries)
        return fail(u, E2BIG, false, "too many entries (limit %lld)", (long long)u->lim.max_entries);
    return 0;
}

static int parent_error(ux *u, int e, char **comp, int upto)
{
    char path[PATH_MAX];
    char q[84];
    if (e == ELOOP || e == EXDEV)
        return fail(u, EPERM, false, "path goes through a symlink or mount '%s'",
                    quote(join(comp, upto, path), q, sizeof(q)));
    if (e == ENOTDIR)
        return fail(u, EPERM, false, "path goes through a non-directory '%s'",
                    quote(join(comp, upto, path), q, sizeof(q)));
    return fail(u, e, true, "open parent directory");
}

/* Opens (O_PATH) the directory holding comp[n-1], creating missing parents with mode 0755. Refuses a path
 * through anything but a directory this extraction made: the table says so for names it knows, and openat2
 * refuses any symlink or mount on disk whatever the table says. */
static int open_parent(ux *u, char **comp, int n, char *scratch, int *ret_fd)
{
    for (int i = 1; i < n; i++) {
        enum kind k = ptab_get(&u->paths, join(comp, i, scratch));
        if (k == K_LINK)
            return parent_error(u, ELOOP, comp, i);
        if (k == K_FILE)
            return parent_error(u, ENOTDIR, comp, i);
    }
    if (n <= 1) {
        int fd = open_beneath(u->dir_fd, ".", O_PATH | O_DIRECTORY);
        if (fd < 0)
            return fail(u, errno, true, "open target directory");
        *ret_fd = fd;
        return 0;
    }
    int fd = open_beneath(u->dir_fd, join(comp, n - 1, scratch), O_PATH | O_DIRECTORY);
    if (fd >= 0) {
        *ret_fd = fd;
        return 0;
    }
    if (errno != ENOENT)
        return parent_error(u, errno, comp, n - 1);
    /* Walk one component at a time, creating what is missing. */
    mrun_autoclose int cur = open_beneath(u->dir_fd, ".", O_PATH | O_DIRECTORY);
    if (cur < 0)
        return fail(u, errno, true, "open target directory");
    for (int i = 0; i < n - 1; i++) {
        int next = open_beneath(cur, comp[i], O_PATH | O_DIRECTORY);
        if (next < 0 && errno == ENOENT) {
            if (count_created(u) < 0)
                return -1;
            if (mkdirat(cur, comp[i], 0755) < 0)
                return fail(u, errno, true, "create parent directory");
            if (ptab_set(&u->paths, join(comp, i + 1, scratch), K_DIR) < 0)
                return fail(u, ENOMEM, true, "path table");
            u->st.dirs++;
            next = open_beneath(cur, comp[i], O_RDONLY | O_DIRECTORY);
            if (next >= 0 && fchmod(next, 0755) < 0) /* mkdirat's mode went through the umask */
                return fail(u, errno, true, "chmod parent directory");
        }
        if (next < 0)
            return parent_error(u, errno, comp, i + 1);
        close(cur);
        cur = next;
    }
    *ret_fd = mrun_steal_fd(&cur);
    return 0;
}

static struct timespec entry_mtime(ux *u, struct archive_entry *e)
{
    struct timespec ts = {u->now, 0};
    if (archive_entry_mtime_is_set(e) && archive_entry_mtime(e) <= u->now) {
        ts.tv_sec = archive_entry_mtime(e);
        ts.tv_nsec = archive_entry_mtime_nsec(e);
        if (ts.tv_nsec < 0 || ts.tv_nsec > 999999999)
            ts.tv_nsec = 0;
        if (ts.tv_sec == u->now)
            ts.tv_nsec = 0; /* never past now */
    }
    return ts;
}

/* What is already at parent/leaf decides whether a new entry may take its place: a regular file may replace
 * a regular file (unlinked first, so nothing is written through it or into another link to it); nothing
 * else replaces anything. Returns 1 when the name is free again, 0 when it holds a directory (dirs only). */
static int make_room(ux *u, int pfd, const char *leaf, bool new_is_file, bool new_is_dir)
{
    struct stat st;
    if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(u, errno, true, "inspect earlier entry");
    if (S_ISLNK(st.st_mode))
        return fail(u, EPERM, false, "replaces an earlier symlink");
    if (S_ISDIR(st.st_mode)) {
        if (new_is_dir)
            return 0;
        return fail(u, EPERM, false, "replaces a directory");
    }
    if (!S_ISREG(st.st_mode) || !new_is_file)
        return fail(u, EPERM, false, "replaces an earlier entry of another type");
    if (unlinkat(pfd, leaf, 0) < 0)
        return fail(u, errno, true, "remove earlier entry");
    return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int extract_file(ux *u, struct archive_entry *e, int pfd, const char *leaf, const char *path)
{
    int64_t size = archive_entry_size(e);
    if (size > u->lim.max_file_bytes)
        return fail(u, E2BIG, false, "file larger than %lld bytes", (long long)u->lim.max_file_bytes);
    mrun_autoclose int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        if (make_room(u, pfd, leaf, true, false) < 0)
            return -1;
        fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    } else if (fd >= 0 && count_created(u) < 0) {
        return -1;
    }
    if (fd < 0)
        return fail(u, errno, true, "create file");
    if (ptab_set(&u->paths, path, K_FILE) < 0)
        return fail(u, ENOMEM, true, "path table");
    int64_t written = 0;
    for (;;) {
        la_ssize_t r = archive_read_data(u->a, u->buf, COPY_BUF);
        if (r == 0)
            break;
        if (r < 0)
            return fail(u, EPROTO, false, "corrupt archive: %s", archive_error_string(u->a));
        /* The declared sizes were checked already; this guards a reader that returns more than declared. */
        if (written + r > u->lim.max_file_bytes || u->st.bytes + r > u->lim.max_bytes)
            return fail(u, E2BIG, false, "data past the size limit");
        if (write_all(fd, u->buf, (size_t)r) < 0)
            return fail(u, errno, true, "write file");
        written += r;
        u->st.bytes += r;
    }
    if (written < size) { /* a sparse file ending in a hole: libarchive leaves the tail to us */
        if (ftruncate(fd, size) < 0)
            return fail(u, errno, true, "extend sparse file");
        u->st.bytes += size - written;
    }
    mode_t mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644; /* no setuid/setgid/sticky, no group/other write */
    if (fchmod(fd, mode) < 0)
        return fail(u, errno, true, "chmod file");
    struct timespec ts[2] = {entry_mtime(u, e), entry_mtime(u, e)};
    if (futimens(fd, ts) < 0)
        return fail(u, errno, true, "set file time");
    u->st.files++;
    return 0;
}

static int extract_hardlink(ux *u, struct archive_entry *e, int pfd, const char *leaf, const char *path)
{
    const char *t = archive_entry_hardlink(e);
    if (!t)
        t = archive_entry_hardlink_utf8(e);
    mrun_autofree char *copy = NULL;
    mrun_autofree char **comp = NULL;
    int n = 0;
    if (entry_name(u, t, "hardlink target", &copy, &comp, &n) < 0)
        return -1;
    char tpath[PATH_MAX], q[84];
    if (n == 0 || (int64_t)strlen(t) >= PATH_MAX || ptab_get(&u->paths, join(comp, n, tpath)) != K_FILE)
        return fail(u, EPERM, false, "hardlink target '%s' is not a file extracted earlier", quote(t, q, sizeof(q)));
    mrun_autoclose int tfd = -1;
    if (n > 1) {
        char tparent[PATH_MAX];
        tfd = open_beneath(u->dir_fd, join(comp, n - 1, tparent), O_PATH | O_DIRECTORY);
    } else {
        tfd = open_beneath(u->dir_fd, ".", O_PATH | O_DIRECTORY);
    }
    if (tfd < 0)
        return fail(u, errno, true, "open hardlink target directory");
    int r = linkat(tfd, comp[n - 1], pfd, leaf, 0); /* flags 0: a symlink source is never followed */
    if (r < 0 && errno == EEXIST) {
        if (strcmp(tpath, path) == 0)
            return fail(u, EPERM, false, "hardlink to itself");
        if (make_room(u, pfd, leaf, true, false) < 0)
            return -1;
        r = linkat(tfd, comp[n - 1], pfd, leaf, 0);
    } else if (r == 0 && count_created(u) < 0) {
        return -1;
    }
    if (r < 0)
        return fail(u, errno, true, "create hardlink");
    if (ptab_set(&u->paths, path, K_FILE) < 0)
        return fail(u, ENOMEM, true, "path table");
    u->st.hardlinks++;
    return 0;
}

/* Resolves target lexically from the directory comp[0..n-1) and fails when it climbs out. When tab is given,
 * also fails when it walks through a symlink created from this archive: "d/s -> ." makes "d/s/.." the root's
 * parent for the kernel while it is "d" lexically. Writes the offending prefix into bad. */
static int resolve_target(const ptab *tab, char **dir, int n, const char *target, char *bad)
{
    size_t tlen = strlen(target);
    mrun_autofree char *copy = strdup(target);
    mrun_autofree char **stack = calloc((size_t)n + tlen / 2 + 2, sizeof(char *));
    if (!copy || !stack)
        return -ENOMEM;
    int sp = 0;
    for (; sp < n; sp++)
        stack[sp] = dir[sp];
    char *p = copy;
    while (p) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        char *next = slash ? slash + 1 : NULL;
        if (strcmp(p, "..") == 0) {
            if (sp == 0)
                return -EPERM;
            sp--;
        } else if (*p && strcmp(p, ".") != 0) {
            stack[sp++] = p;
            bool more = false;
            for (char *q = next; q && *q && !more; q++)
                more = *q != '/';
            if (tab && more && ptab_get(tab, join(stack, sp, bad)) == K_LINK)
                return -ELOOP;
        }
        p = next;
    }
    return 0;
}

static int extract_symlink(ux *u, struct archive_entry *e, int pfd, const char *leaf, char **comp, int n,
                           const char *path)
{
    const char *t = archive_entry_symlink(e);
    if (!t)
        t = archive_entry_symlink_utf8(e);
    char q[84];
    if (!t)
        return fail(u, EPROTO, false, "symlink target cannot be decoded");
    if (!*t)
        return fail(u, EPERM, false, "empty symlink target");
    if ((int64_t)strlen(t) > u->lim.max_path_len || strlen(t) >= PATH_MAX)
        return fail(u, E2BIG, false, "symlink target longer than %lld bytes", (long long)u->lim.max_path_len);
    if (t[0] == '/')
        return fail(u, EPERM, false, "symlink target '%s' is absolute", quote(t, q, sizeof(q)));
    char bad[2 * PATH_MAX];
    int r = resolve_target(NULL, comp, n - 1, t, bad);
    if (r == -ENOMEM)
        return fail(u, ENOMEM, true, "symlink target");
    if (r < 0)
        return fail(u, EPERM, false, "symlink target '%s' leaves the directory", quote(t, q, sizeof(q)));
    if (symlinkat(t, pfd, leaf) < 0) {
        if (errno == EEXIST)
            return make_room(u, pfd, leaf, false, false);
        return fail(u, errno, true, "create symlink");
    }
    if (count_created(u) < 0)
        return -1;
    if (ptab_set(&u->paths, path, K_LINK) < 0)
        return fail(u, ENOMEM, true, "path table");
    if (u->nlinks == u->links_cap) {
        size_t ncap = u->links_cap ? u->links_cap * 2 : 64;
        link_rec *nl = realloc(u->links, ncap * sizeof(*nl));
        if (!nl)
            return fail(u, ENOMEM, true, "symlink table");
        u->links = nl;
        u->links_cap = ncap;
    }
    link_rec *l = &u->links[u->nlinks];
    l->path = strdup(path);
    l->target = strdup(t);
    l->entry_no = u->entry_no;
    if (!l->path || !l->target) {
        free(l->path);
        free(l->target);
        return fail(u, ENOMEM, true, "symlink table");
    }
    u->nlinks++;
    struct timespec ts[2] = {entry_mtime(u, e), entry_mtime(u, e)};
    if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(u, errno, true, "set symlink time");
    u->st.symlinks++;
    return 0;
}

static int extract_dir(ux *u, int pfd, const char *leaf, const char *path)
{
    if (mkdirat(pfd, leaf, 0755) < 0) {
        if (errno != EEXIST)
            return fail(u, errno, true, "create directory");
        return make_room(u, pfd, leaf, false, true) < 0 ? -1 : 0; /* a repeated directory: metadata ignored */
    }
    if (count_created(u) < 0)
        return -1;
    if (ptab_set(&u->paths, path, K_DIR) < 0)
        return fail(u, ENOMEM, true, "path table");
    mrun_autoclose int fd = open_beneath(pfd, leaf, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fchmod(fd, 0755) < 0)
        return fail(u, errno, true, "chmod directory");
    u->st.dirs++;
    return 0;
}

/* Symlinks may point at names that appear later, so only at the end is it known whether a target walks
 * through another symlink; lexical resolution is only sound when it does not. */
static int check_link_traversal(ux *u)
{
    for (size_t i = 0; i < u->nlinks; i++) {
        link_rec *l = &u->links[i];
        mrun_autofree char *copy = strdup(l->path);
        mrun_autofree char **comp = calloc((size_t)u->lim.max_depth + 1, sizeof(char *));
        if (!copy || !comp)
            return fail(u, ENOMEM, true, "symlink check");
        const char *why = NULL;
        int n = split(copy, comp, (int)u->lim.max_depth, &why);
        char bad[2 * PATH_MAX], q[84], q2[84];
        int r = resolve_target(&u->paths, comp, n - 1, l->target, bad);
        if (r == 0)
            continue;
        u->entry_no = l->entry_no;
        u->raw = l->path;
        if (r == -ENOMEM)
            return fail(u, ENOMEM, true, "symlink check");
        return fail(u, EPERM, false, "symlink target '%s' goes through symlink '%s'", quote(l->target, q, sizeof(q)),
                    quote(bad, q2, sizeof(q2)));
    }
    return 0;
}

static const char *type_name(mode_t type)
{
    switch (type) {
    case AE_IFCHR:
        return "character device";
    case AE_IFBLK:
        return "block device";
    case AE_IFIFO:
        return "fifo";
    case AE_IFSOCK:
        return "socket";
    default:
        return "unknown type";
    }
}

static int extract_entry(ux *u, struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    if (!name)
        name = archive_entry_pathname_utf8(e);
    u->raw = name;
    if (u->entry_no > u->lim.max_entries)
        return fail(u, E2BIG, false, "too many entries (limit %lld)", (long long)u->lim.max_entries);
    const char *hl = archive_entry_hardlink(e);
    if (!hl)
        hl = archive_entry_hardlink_utf8(e);
    mode_t type = archive_entry_filetype(e);
    int64_t size = archive_entry_size(e) > 0 ? archive_entry_size(e) : 0;
    if (!hl && type == AE_IFREG && size > u->lim.max_file_bytes)
        return fail(u, E2BIG, false, "file larger than %lld bytes", (long long)u->lim.max_file_bytes);
    if (size > u->lim.max_bytes - u->declared) /* every entry's size counts: data the reader skips too */
        return fail(u, E2BIG, false, "archive larger than %lld bytes", (long long)u->lim.max_bytes);
    u->declared += size;

    mrun_autofree char *copy = NULL;
    mrun_autofree char **comp = NULL;
    int n = 0;
    if (entry_name(u, name, "name", &copy, &comp, &n) < 0)
        return -1;
    if (n == 0) {
        if (type == AE_IFDIR && !hl)
            return 0; /* "." or "./": the target itself, whose mode and times are not the archive's to set */
        return fail(u, EPERM, false, "entry names the target directory itself");
    }
    if (!hl && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return fail(u, EPERM, false, "%s entries are not allowed", type_name(type));
    char path[PATH_MAX], scratch[PATH_MAX];
    join(comp, n, path);
    mrun_autoclose int pfd = -1;
    if (open_parent(u, comp, n, scratch, &pfd) < 0)
        return -1;
    const char *leaf = comp[n - 1];
    if (hl)
        return extract_hardlink(u, e, pfd, leaf, path);
    if (ptab_get(&u->paths, path) == K_LINK)
        return fail(u, EPERM, false, "replaces an earlier symlink");
    if (type == AE_IFREG)
        return extract_file(u, e, pfd, leaf, path);
    if (type == AE_IFLNK)
        return extract_symlink(u, e, pfd, leaf, comp, n, path);
    return extract_dir(u, pfd, leaf, path);
}

/* Removes everything under dfd without following symlinks. depth bounds the recursion (and open fds). */
static void remove_contents(int dfd, int depth)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dfd, de->d_name, 0) == 0 || (errno != EISDIR && errno != EPERM))
            continue;
        if (depth > 0) {
            int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                remove_contents(sub, depth - 1);
                close(sub);
            }
        }
        unlinkat(dfd, de->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

static int is_empty_dir(int dfd, mrun_err *err)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "target directory");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return mrun_err_set(err, errno, "target directory");
    }
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            r = mrun_err_setx(err, ENOTEMPTY, "target directory is not empty");
    closedir(d);
    return r;
}

static mrun_unpack_limits effective(const mrun_unpack_limits *in)
{
    mrun_unpack_limits l = in ? *in : (mrun_unpack_limits){0};
    if (l.max_bytes <= 0)
        l.max_bytes = MRUN_UNPACK_DEFAULT_BYTES;
    if (l.max_entries <= 0)
        l.max_entries = MRUN_UNPACK_DEFAULT_ENTRIES;
    if (l.max_file_bytes <= 0 || l.max_file_bytes > l.max_bytes)
        l.max_file_bytes = l.max_bytes;
    if (l.max_path_len <= 0 || l.max_path_len > MRUN_UNPACK_DEFAULT_PATH_LEN)
        l.max_path_len = MRUN_UNPACK_DEFAULT_PATH_LEN;
    if (l.max_depth <= 0)
        l.max_depth = MRUN_UNPACK_DEFAULT_DEPTH;
    if (l.max_depth > MRUN_UNPACK_MAX_DEPTH)
        l.max_depth = MRUN_UNPACK_MAX_DEPTH;
    return l;
}

static void archive_freep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}

/* Only tar, only through gzip or zstd (or no filter): every other reader libarchive has is attack surface. */
static struct archive *new_reader(mrun_err *err)
{
    struct archive *a = archive_read_new();
    if (!a) {
        mrun_err_set(err, ENOMEM, "archive reader");
        return NULL;
    }
    if (archive_read_support_format_tar(a) != ARCHIVE_OK || archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
        mrun_err_setx(err, EPROTO, "archive reader: %s", archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static int unpack_all(ux *u)
{
    for (;;) {
        struct archive_entry *e = NULL;
        u->entry_no++;
        u->raw = NULL;
        int r = archive_read_next_header(u->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            const char *msg = archive_error_string(u->a);
            if (u->entry_no == 1 && archive_format(u->a) == 0 && msg && strstr(msg, "Unrecognized archive format"))
                return fail(u, EPROTO, false, "not a tar, tar.gz or tar.zst archive");
            return fail(u, EPROTO, false, "corrupt archive: %s", msg ? msg : "unknown error");
        }
        if (extract_entry(u, e) < 0)
            return -1;
    }
    u->entry_no--;
    u->st.entries = u->entry_no;
    return check_link_traversal(u);
}

static int run(struct archive *a, int dir_fd, const mrun_unpack_limits *lim, mrun_unpack_stats *ret_stats,
               mrun_err *err)
{
    ux u = {.a = a, .dir_fd = dir_fd, .lim = effective(lim), .now = time(NULL), .err = err};
    u.buf = malloc(COPY_BUF);
    int r = u.buf ? unpack_all(&u) : mrun_err_set(err, ENOMEM, "archive buffer");
    if (r < 0)
        remove_contents(dir_fd, MRUN_UNPACK_MAX_DEPTH + 1); /* all or nothing: the directory was empty */
    else if (ret_stats)
        *ret_stats = u.st;
    for (size_t i = 0; i < u.nlinks; i++) {
        free(u.links[i].path);
        free(u.links[i].target);
    }
    free(u.links);
    ptab_fini(&u.paths);
    free(u.buf);
    return r;
}

/* libarchive detects the filter and the format when opening, so a zip or a cut gzip stream fails here. */
static int open_failed(struct archive *a, mrun_err *err)
{
    const char *msg = archive_error_string(a);
    if (!msg)
        msg = "unknown error";
    if (archive_format(a) == 0 && strstr(msg, "Unrecognized archive format"))
        return mrun_err_setx(err, EPROTO, "not a tar, tar.gz or tar.zst archive");
    return mrun_err_setx(err, EPROTO, "corrupt archive: %s", msg);
}

int mrun_archive_unpack(const uint8_t *buf, size_t len, int dir_fd, const mrun_unpack_limits *lim,
                        mrun_unpack_stats *ret_stats, mrun_err *err)
{
    assert(buf || len == 0);
    if (is_empty_dir(dir_fd, err) < 0)
        return -1;
    mrun_cleanup(archive_freep) struct archive *a = new_reader(err);
    if (!a)
        return -1;
    if (archive_read_open_memory(a, len ? buf : (const uint8_t *)"", len) != ARCHIVE_OK)
        return open_failed(a, err);
    return run(a, dir_fd, lim, ret_stats, err);
}

int mrun_archive_unpack_fd(int in_fd, int dir_fd, const mrun_unpack_limits *lim, mrun_unpack_stats *ret_stats,
                           mrun_err *err)
{
    if (is_empty_dir(dir_fd, err) < 0)
        return -1;
    mrun_cleanup(archive_freep) struct archive *a = new_reader(err);
    if (!a)
        return -1;
    if (archive_read_open_fd(a, in_fd, COPY_BUF) != ARCHIVE_OK)
        return open_failed(a, err);
    return run(a, dir_fd, lim, ret_stats, err);
}
