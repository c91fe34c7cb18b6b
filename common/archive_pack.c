/* archive_pack.c - `mrun submit`'s packer: a work tree to a deterministic tar.gz (same tree, same sha256),
 * walking by fd without following symlinks, leaving out .git, .mrun/cache, .mrun/out (what `mrun run` writes) and what the ignore files say. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "archive.h"
#include "auto.h"

#define COPY_BUF        (64 * 1024)
#define MAX_DEPTH       256

/* One packing run; the writer, rules and buffer are owned by mrun_archive_pack_dir. */
typedef struct px {
    struct archive *a;
    mrun_ignore *ig; /* NULL with no_ignore_files */
    mrun_pack_opts o;
    mrun_pack_stats st;
    char *buf;
    mrun_err *err;
} px;


static int write_header(px *x, struct archive_entry *e, const char *path)
{
    if (x->o.max_entries > 0 && x->st.entries >= x->o.max_entries)
        return mrun_err_setx(x->err, E2BIG, "more than %lld entries", (long long)x->o.max_entries);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int r = archive_write_header(x->a, e);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) /* WARN: a name that is not UTF-8, written as bytes */
        return mrun_err_setx(x->err, archive_errno(x->a) > 0 ? archive_errno(x->a) : EIO, "'%s': %s", path,
                             archive_error_string(x->a));
    x->st.entries++;
    return 0;
}

static struct archive_entry *new_entry(const char *path, mode_t type, mode_t perm, int64_t size)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return NULL;
    archive_entry_copy_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, size);
    return e;
}

static void entry_freep(struct archive_entry **e)
{
    if (*e)
        archive_entry_free(*e);
}

static int pack_file(px *x, int dfd, const char *name, const char *path)
{
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return mrun_err_set(x->err, errno, "'%s'", path);
    if (!S_ISREG(st.st_mode)) /* replaced since the walk looked: leave it out */
        return 0;
    if (x->o.max_bytes > 0 && st.st_size > x->o.max_bytes - x->st.bytes)
        return mrun_err_setx(x->err, E2BIG, "'%s': the tree is larger than %lld bytes", path,
                             (long long)x->o.max_bytes);
    mrun_cleanup(entry_freep) struct archive_entry *e =
        new_entry(path, AE_IFREG, (st.st_mode & 0111) ? 0755 : 0644, st.st_size);
    if (!e)
        return mrun_err_set(x->err, ENOMEM, "'%s'", path);
    if (write_header(x, e, path) < 0)
        return -1;
    int64_t left = st.st_size; /* a file that grows is cut, one that shrinks is padded by libarchive */
    while (left > 0) {
        ssize_t r = read(fd, x->buf, left < COPY_BUF ? (size_t)left : COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mrun_err_set(x->err, errno, "read '%s'", path);
        if (r == 0)
            break;
        if (archive_write_data(x->a, x->buf, (size_t)r) != r)
            return mrun_err_setx(x->err, EIO, "'%s': %s", path, archive_error_string(x->a));
        left -= r;
    }
    x->st.bytes += st.st_size;
    return 0;
}

static int pack_symlink(px *x, int dfd, const char *name, const char *path)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
    if (n < 0)
        return mrun_err_set(x->err, errno, "'%s'", path);
    target[n] = '\0';
    mrun_cleanup(entry_freep) struct archive_entry *e = new_entry(path, AE_IFLNK, 0777, 0);
    if (!e)
        return mrun_err_set(x->err, ENOMEM, "'%s'", path);
    archive_entry_copy_symlink(e, target);
    return write_header(x, e, path);
}

static int walk(px *x, int dfd, const char *rel, int depth);

/* With o.only: 2 when path is selected (itself or under a selected directory), 1 when it is a directory on the
 * way to one, 0 when it is left out. Without o.only everything is selected. */
static int selected(const px *x, const char *path)
{
    if (!x->o.only)
        return 2;
    int best = 0;
    size_t n = strlen(path);
    for (size_t i = 0; i < x->o.n_only && best < 2; i++) {
        const char *s = x->o.only[i];
        size_t m = strlen(s);
        while (m > 0 && s[m - 1] == '/')
            m--;
        if (m == 0)
            continue;
        if ((n == m || (n > m && path[m] == '/')) && strncmp(path, s, m) == 0)
            best = 2; /* the path itself, or beneath it */
        else if (m > n && s[n] == '/' && strncmp(path, s, n) == 0)
            best = 1; /* a directory leading to it */
    }
    return best;
}

static int pack_dir(px *x, int dfd, const char *name, const char *path, int depth)
{
    if (depth >= MAX_DEPTH)
        return mrun_err_setx(x->err, E2BIG, "'%s': deeper than %d directories", path, MAX_DEPTH);
    mrun_autoclose int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return mrun_err_set(x->err, errno, "'%s'", path);
    mrun_cleanup(entry_freep) struct archive_entry *e = new_entry(path, AE_IFDIR, 0755, 0);
    if (!e)
        return mrun_err_set(x->err, ENOMEM, "'%s'", path);
    if (write_header(x, e, path) < 0)
        return -1;
    return walk(x, sub, path, depth + 1);
}

/* Packs the contents of dfd, whose path is rel ("" for the root): this directory's ignore files first, then
 * each name in byte order, depth first. */
static int walk(px *x, int dfd, const char *rel, int depth)
{
    if (x->ig && mrun_ignore_load_dir(x->ig, dfd, rel, x->err) < 0)
        return -1;
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(dfd, &names, &n, x->err) < 0)
        return mrun_err_prefix(x->err, "'%s'", *rel ? rel : ".");
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *name = names[i];
        if (strcmp(name, ".git") == 0 || (strcmp(rel, ".mrun") == 0 && (strcmp(name, "cache") == 0 || strcmp(name, "out") == 0)))
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name) >= sizeof(path)) {
            r = mrun_err_setx(x->err, ENAMETOOLONG, "'%s/%s': path too long", rel, name);
            break;
        }
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = mrun_err_set(x->err, errno, "'%s'", path);
            break;
        }
        if (x->ig && mrun_ignore_match(x->ig, path, S_ISDIR(st.st_mode))) {
            x->st.ignored++;
            continue;
        }
        int sel = selected(x, path);
        if (sel == 0 || (sel == 1 && !S_ISDIR(st.st_mode)))
            continue;
        if (S_ISREG(st.st_mode))
            r = pack_file(x, dfd, name, path);
        else if (S_ISLNK(st.st_mode))
            r = pack_symlink(x, dfd, name, path);
        else if (S_ISDIR(st.st_mode))
            r = pack_dir(x, dfd, name, path, depth);
        else
            x->st.skipped++;
    }
    mrun_dir_names_free(names, n);
    return r;
}

static void writer_freep(struct archive **a)
{
    if (*a)
        archive_write_free(*a);
}

/* The work of mrun_archive_pack_dir, run under a UTF-8 LC_CTYPE (or with binary pax names when there is none). */
static int pack(int dir_fd, const mrun_pack_opts *o, int out_fd, bool binary_names, mrun_pack_stats *ret_stats,
                mrun_err *err)
{
    mrun_cleanup(writer_freep) struct archive *a = archive_write_new();
    mrun_cleanup(mrun_ignore_freep) mrun_ignore *ig = NULL;
    mrun_autofree char *buf = malloc(COPY_BUF);
    if (!a || !buf)
        return mrun_err_set(err, ENOMEM, "pack");
    px x = {.a = a, .o = o ? *o : (mrun_pack_opts){0}, .buf = buf, .err = err};
    if (!x.o.no_ignore_files) {
        if (!(ig = mrun_ignore_new()))
            return mrun_err_set(err, ENOMEM, "pack");
        x.ig = ig;
    }
    /* pax only where ustar cannot say it (long or non-ASCII names), no times but mtime 0, gzip without the
     * time of packing in its header: the bytes depend on the tree alone. */
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_options(a, binary_names ? "gzip:!timestamp,hdrcharset=BINARY" : "gzip:!timestamp") !=
            ARCHIVE_OK)
        return mrun_err_setx(err, EINVAL, "pack: %s", archive_error_string(a));
    /* libarchive pads the last block of a pipe or a device with zeros but not of a regular file: fix the
     * choice so the bytes do not depend on where they go */
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
        return mrun_err_setx(err, EIO, "pack: %s", archive_error_string(a));
    if (walk(&x, dir_fd, "", 0) < 0)
        return mrun_err_prefix(err, "pack");
    if (archive_write_close(a) != ARCHIVE_OK)
        return mrun_err_setx(err, archive_errno(a) > 0 ? archive_errno(a) : EIO, "pack: %s", archive_error_string(a));
    if (ret_stats)
        *ret_stats = x.st;
    return 0;
}

int mrun_archive_pack_dir(int dir_fd, const mrun_pack_opts *o, int out_fd, mrun_pack_stats *ret_stats, mrun_err *err)
{
    /* libarchive converts names through the locale: under C it cannot write a pax UTF-8 name at all. A
     * thread-local UTF-8 LC_CTYPE makes names on disk go out as their own bytes whatever the process locale
     * is (a name that is not UTF-8 gets hdrcharset=BINARY from libarchive). No global locale is touched. */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!utf8)
        return pack(dir_fd, o, out_fd, true, ret_stats, err);
    locale_t old = uselocale(utf8);
    int r = pack(dir_fd, o, out_fd, false, ret_stats, err);
    uselocale(old);
    freelocale(utf8);
    return r;
}
