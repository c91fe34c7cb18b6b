/* scan_walk.c - mrun_scan_walk: the checks' read-only walk of an untrusted workspace, by fd, never following a
 * symlink, in byte order of names (stable reports), honouring .gitignore/.mrunignore, skipping .git and
 * .mrun/cache, and handing each bounded text file to the check as a read-only mapping. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "findings.h"

#define MAX_DEPTH         64
#define BINARY_PROBE      8192
#define DEFAULT_MAX_BYTES (1u << 20) /* max_file_bytes 0 */

/* One walk; everything is borrowed from mrun_scan_walk's frame. One thread. */
typedef struct walker {
    mrun_ignore *ig;
    uint64_t max_bytes;
    mrun_scan_file_fn fn;
    mrun_scan_skip_fn skip_fn;
    void *ctx;
    mrun_scan_stats st;
    mrun_err *err;
} walker;


static void skip(walker *w, const char *path, const char *reason)
{
    w->st.files_skipped++;
    if (w->skip_fn)
        w->skip_fn(w->ctx, path, reason);
}

/* Maps one regular file and gives it to the check. The mapping is private and read-only; a file truncated
 * while mapped would raise SIGBUS, so the walk must not run while the job can still write the workspace. */
static int scan_file(walker *w, int dfd, const char *name, const char *path)
{
    static const uint8_t empty[1] = {0};
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 && (errno == ELOOP || errno == ENOENT)) /* replaced or removed since the listing */
        return errno == ELOOP ? (skip(w, path, "symlink"), 0) : 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return mrun_err_set(w->err, errno, "'%s'", path);
    if (!S_ISREG(st.st_mode)) {
        skip(w, path, "not a regular file");
        return 0;
    }
    if ((uint64_t)st.st_size > w->max_bytes) {
        char why[64];
        snprintf(why, sizeof(why), "larger than %llu bytes", (unsigned long long)w->max_bytes);
        skip(w, path, why);
        return 0;
    }
    if (st.st_size == 0) {
        w->st.files_scanned++;
        return w->fn(w->ctx, path, empty, 0, w->err);
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return mrun_err_set(w->err, errno, "map '%s'", path);
    if (memchr(map, 0, len < BINARY_PROBE ? len : BINARY_PROBE)) {
        munmap(map, len);
        skip(w, path, "binary");
        return 0;
    }
    w->st.files_scanned++;
    w->st.bytes_scanned += len;
    int r = w->fn(w->ctx, path, map, len, w->err);
    munmap(map, len);
    return r;
}

static int walk(walker *w, int dfd, const char *rel, int depth);

static int scan_dir(walker *w, int dfd, const char *name, const char *path, int depth)
{
    /* Refused, not skipped: a skipped subtree would be a place to hide what the check looks for. */
    if (depth >= MAX_DEPTH)
        return mrun_err_setx(w->err, E2BIG, "'%s': deeper than %d directories", path, MAX_DEPTH);
    mrun_autoclose int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 && (errno == ELOOP || errno == ENOTDIR)) { /* replaced by a symlink or a file since the listing */
        skip(w, path, "symlink");
        return 0;
    }
    if (sub < 0)
        return mrun_err_set(w->err, errno, "'%s'", path);
    return walk(w, sub, path, depth + 1);
}

/* Scans the contents of dfd, whose path is rel ("" for the root): its ignore files first (so they apply to
 * its own entries), then each name in byte order, depth first. */
static int walk(walker *w, int dfd, const char *rel, int depth)
{
    if (mrun_ignore_load_dir(w->ig, dfd, rel, w->err) < 0)
        return -1;
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(dfd, &names, &n, w->err) < 0)
        return mrun_err_prefix(w->err, "'%s'", *rel ? rel : ".");
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *name = names[i];
        if (strcmp(name, ".git") == 0 || (strcmp(rel, ".mrun") == 0 && strcmp(name, "cache") == 0))
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name) >= sizeof(path)) {
            r = mrun_err_setx(w->err, ENAMETOOLONG, "'%s/%s': path too long", rel, name);
            break;
        }
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            r = mrun_err_set(w->err, errno, "'%s'", path);
            break;
        }
        if (mrun_ignore_match(w->ig, path, S_ISDIR(st.st_mode)))
            continue;
        if (S_ISLNK(st.st_mode))
            skip(w, path, "symlink");
        else if (S_ISDIR(st.st_mode))
            r = scan_dir(w, dfd, name, path, depth);
        else if (S_ISREG(st.st_mode))
            r = scan_file(w, dfd, name, path);
        else
            skip(w, path, "not a regular file");
    }
    mrun_dir_names_free(names, n);
    return r;
}

/* max_file_bytes 0 means 1 MiB. Blocks on the file system; one thread; ret_stats is written only on success. */
int mrun_scan_walk(int root_fd, uint64_t max_file_bytes, mrun_scan_file_fn fn, mrun_scan_skip_fn skip_fn, void *ctx,
                   mrun_scan_stats *ret_stats, mrun_err *err)
{
    assert(fn);
    mrun_cleanup(mrun_ignore_freep) mrun_ignore *ig = mrun_ignore_new();
    if (!ig)
        return mrun_err_set(err, ENOMEM, "scan");
    walker w = {.ig = ig,
                .max_bytes = max_file_bytes ? max_file_bytes : DEFAULT_MAX_BYTES,
                .fn = fn,
                .skip_fn = skip_fn,
                .ctx = ctx,
                .err = err};
    if (walk(&w, root_fd, "", 0) < 0)
        return -1;
    if (ret_stats)
        *ret_stats = w.st;
    return 0;
}
