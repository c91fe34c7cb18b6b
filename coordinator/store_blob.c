/* store_blob.c - the content-addressed blob store: data_dir/blobs/ab/cdef... named by the sha256 of the bytes.
 * A blob is written to an unnamed (O_TMPFILE) or hidden temp file in blobs/, fsync'd, then linked under its
 * digest; link never replaces an existing name, so a stored digest is never overwritten, and the directory is
 * fsync'd so the name survives a crash. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../common/auto.h"
#include "store_int.h"

/* Owned by one thread; fd and md are released by mrun_store_blob_writer_free, which also removes a named temp. */
struct mrun_store_blob_writer {
    mrun_store *st;
    int fd;
    EVP_MD_CTX *md;
    char tmp[32]; /* ".tmp-<hex>" in blobs/ when O_TMPFILE is unsupported; "" for an unnamed file */
    bool failed;  /* an update failed: finish must not store a partial blob */
};

void mrun_store_blob_writer_free(mrun_store_blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp[0])
        unlinkat(w->st->blobs_fd, w->tmp, 0);
    EVP_MD_CTX_free(w->md);
    free(w);
}

static void writer_freep(mrun_store_blob_writer **w)
{
    mrun_store_blob_writer_free(*w);
}

int mrun_store_blob_put_init(mrun_store *st, mrun_store_blob_writer **ret_w, mrun_err *err)
{
    mrun_cleanup(writer_freep) mrun_store_blob_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return mrun_err_set(err, ENOMEM, "blob");
    w->st = st;
    w->fd = openat(st->blobs_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0640);
    if (w->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char hex[17];
        if (store_random_hex(hex, 8, err) < 0)
            return mrun_err_prefix(err, "blob");
        snprintf(w->tmp, sizeof(w->tmp), ".tmp-%s", hex);
        w->fd = openat(st->blobs_fd, w->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (w->fd < 0)
            w->tmp[0] = '\0';
    }
    if (w->fd < 0)
        return mrun_err_set(err, errno, "blob: temp file");
    w->md = EVP_MD_CTX_new();
    if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
        return mrun_err_setx(err, ENOMEM, "blob: sha256 init failed");
    *ret_w = mrun_steal_ptr(&w);
    return 0;
}

int mrun_store_blob_put_update(mrun_store_blob_writer *w, const void *buf, size_t len, mrun_err *err)
{
    const unsigned char *p = buf;
    if (w->failed)
        return mrun_err_setx(err, EIO, "blob: an earlier write failed");
    if (len && EVP_DigestUpdate(w->md, p, len) != 1) {
        w->failed = true;
        return mrun_err_setx(err, EIO, "blob: sha256 update failed");
    }
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            w->failed = true;
            return mrun_err_set(err, n < 0 ? errno : EIO, "blob: write");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Opens blobs/ab/, creating it durably (fsync of blobs/) the first time. */
static int open_fanout(mrun_store *st, const char *digest, int *ret_fd, mrun_err *err)
{
    char sub[3] = {digest[0], digest[1], '\0'};
    if (mkdirat(st->blobs_fd, sub, 0700) == 0) {
        if (fsync(st->blobs_fd) < 0)
            return mrun_err_set(err, errno, "fsync blobs/");
    } else if (errno != EEXIST) {
        return mrun_err_set(err, errno, "mkdir blobs/%s", sub);
    }
    int fd = openat(st->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mrun_err_set(err, errno, "open blobs/%s", sub);
    *ret_fd = fd;
    return 0;
}

static int link_blob(mrun_store_blob_writer *w, const char *digest, mrun_err *err)
{
    mrun_autoclose int dir = -1;
    if (open_fanout(w->st, digest, &dir, err) < 0)
        return -1;
    int r;
    if (w->tmp[0]) {
        r = linkat(w->st->blobs_fd, w->tmp, dir, digest + 2, 0);
    } else {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
        r = linkat(AT_FDCWD, proc, dir, digest + 2, AT_SYMLINK_FOLLOW);
    }
    if (r < 0 && errno == EEXIST) {
        /* same digest, same bytes: already stored. Its mtime says "used now", so the collector's grace period
         * keeps it until the row that references it is written. */
        utimensat(dir, digest + 2, NULL, 0);
        return 0;
    }
    if (r < 0)
        return mrun_err_set(err, errno, "link blob");
    if (fsync(dir) < 0)
        return mrun_err_set(err, errno, "fsync blobs/%.2s", digest);
    return 0;
}

int mrun_store_blob_put_finish(mrun_store_blob_writer *w, const char *expected_digest,
                               char ret_digest[MRUN_STORE_DIGEST_LEN + 1], mrun_err *err)
{
    mrun_cleanup(writer_freep) mrun_store_blob_writer *own = w; /* consumed whatever happens */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char digest[MRUN_STORE_DIGEST_LEN + 1];
    if (own->failed)
        return mrun_err_setx(err, EIO, "blob: an earlier write failed");
    if (EVP_DigestFinal_ex(own->md, md, &mdlen) != 1 || mdlen * 2 != MRUN_STORE_DIGEST_LEN)
        return mrun_err_setx(err, EIO, "blob: sha256 final failed");
    store_hex(md, mdlen, digest);
    if (expected_digest && strcmp(expected_digest, digest) != 0)
        return mrun_err_setx(err, EINVAL, "blob: digest mismatch: expected %.64s, got %s", expected_digest, digest);
    if (fsync(own->fd) < 0)
        return mrun_err_set(err, errno, "blob %s: fsync", digest);
    if (link_blob(own, digest, err) < 0)
        return mrun_err_prefix(err, "blob %s", digest);
    memcpy(ret_digest, digest, sizeof(digest));
    return 0;
}

static int blob_path(const char *digest, char path[MRUN_STORE_DIGEST_LEN + 2], mrun_err *err)
{
    if (!store_digest_valid(digest))
        return mrun_err_setx(err, EINVAL, "blob: bad digest (expected 64 lowercase hex characters)");
    snprintf(path, MRUN_STORE_DIGEST_LEN + 2, "%.2s/%s", digest, digest + 2);
    return 0;
}

int mrun_store_blob_get(mrun_store *st, const char *digest, int *ret_fd, uint64_t *ret_size, mrun_err *err)
{
    char path[MRUN_STORE_DIGEST_LEN + 2];
    if (blob_path(digest, path, err) < 0)
        return -1;
    mrun_autoclose int fd = openat(st->blobs_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mrun_err_set(err, errno, "blob %s", digest);
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return mrun_err_set(err, errno, "blob %s: stat", digest);
    if (!S_ISREG(sb.st_mode))
        return mrun_err_setx(err, EIO, "blob %s: not a regular file", digest);
    *ret_size = (uint64_t)sb.st_size;
    *ret_fd = mrun_steal_fd(&fd);
    return 0;
}

int mrun_store_blob_has(mrun_store *st, const char *digest, bool *ret_has, mrun_err *err)
{
    char path[MRUN_STORE_DIGEST_LEN + 2];
    if (blob_path(digest, path, err) < 0)
        return -1;
    struct stat sb;
    if (fstatat(st->blobs_fd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT)
            return mrun_err_set(err, errno, "blob %s", digest);
        *ret_has = false;
        return 0;
    }
    *ret_has = S_ISREG(sb.st_mode);
    return 0;
}
