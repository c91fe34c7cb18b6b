/* archive.h - source archives: safe extraction of hostile tar/tar.gz/tar.zst into an empty directory (runner),
 * deterministic tar.gz packing of a work tree for `mrun submit`, and the .gitignore/.mrunignore rules it honours.
 * Everything is fd-relative; nothing here follows a symlink, logs, or touches global state. */
#ifndef MRUN_ARCHIVE_H
#define MRUN_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Limits on one extraction. A field left 0 takes the MRUN_UNPACK_DEFAULT_* value, so
 * `mrun_unpack_limits lim = {.max_bytes = 1 << 20};` is complete. Each is checked before anything is written. */
typedef struct mrun_unpack_limits {
    int64_t max_bytes;      /* sum of the declared sizes of all entries */
    int64_t max_entries;    /* archive entries, "." and directories included */
    int64_t max_file_bytes; /* one entry; default: max_bytes */
    int64_t max_path_len;   /* bytes of a name or a symlink target */
    int64_t max_depth;      /* path components; at most MRUN_UNPACK_MAX_DEPTH whatever is asked */
} mrun_unpack_limits;

#define MRUN_UNPACK_DEFAULT_BYTES    (1024ll << 20)
#define MRUN_UNPACK_DEFAULT_ENTRIES  100000
#define MRUN_UNPACK_DEFAULT_PATH_LEN 4095 /* also the most allowed */
#define MRUN_UNPACK_DEFAULT_DEPTH    64
#define MRUN_UNPACK_MAX_DEPTH        256

typedef struct mrun_unpack_stats {
    int64_t entries; /* archive entries read, "." included */
    int64_t files;   /* regular files written */
    int64_t dirs;    /* directories created, implicit parents included */
    int64_t symlinks;
    int64_t hardlinks;
    int64_t bytes; /* file content bytes written */
} mrun_unpack_stats;

/* Extracts a tar (ustar, pax, gnu), plain or gzip- or zstd-compressed, from buf into dir_fd, which must be an
 * empty directory. Any other format (zip, cpio, ar, iso, 7z, ...) is refused. Hostile input is expected:
 * absolute or ".." names, names through a symlink, symlinks whose target leaves the tree, hardlinks to
 * anything but a regular file extracted earlier from the same archive, devices, fifos, sockets, and any
 * entry replacing a symlink or a directory are refused; modes become 0755 or 0644 (directories 0755), owners,
 * xattrs, ACLs and capabilities are not applied, mtimes in the future become now, the metadata of "." is ignored.
 * On any refusal or error nothing created is left behind (dir_fd is empty again) and err says
 * "entry N 'NAME': reason" (EPERM for a refused entry, E2BIG for a limit, EPROTO for a corrupt archive or an
 * unsupported format, or the errno of a failed system call). Blocks on the file system; any thread. */
int mrun_archive_unpack(const uint8_t *buf, size_t len, int dir_fd, const mrun_unpack_limits *lim,
                        mrun_unpack_stats *ret_stats, mrun_err *err);

/* Same, streaming from in_fd (a file or a pipe) instead of memory; reads no further than it needs. */
int mrun_archive_unpack_fd(int in_fd, int dir_fd, const mrun_unpack_limits *lim, mrun_unpack_stats *ret_stats,
                           mrun_err *err);

/* A compiled set of gitignore rules. Rules from several files apply in the order they were added, the last
 * match winning, so add a directory's files before those of its subdirectories (.gitignore then .mrunignore).
 * Not thread-safe for adding; matching is read-only. */
typedef struct mrun_ignore mrun_ignore;

mrun_ignore *mrun_ignore_new(void); /* NULL only on ENOMEM */
void mrun_ignore_free(mrun_ignore *ig);
void mrun_ignore_freep(mrun_ignore **ig);

/* Adds the lines of one ignore file found in directory base ("" for the root, "a/b" otherwise; no trailing
 * slash); its patterns apply only to paths under base. Fails only on ENOMEM or a line over 4096 bytes (EINVAL,
 * "source:line: ..."). */
int mrun_ignore_add_file(mrun_ignore *ig, const char *base, const char *text, size_t len, const char *source,
                         mrun_err *err);

/* True when path (relative to the root, "a/b/c", no leading or trailing slash) is ignored: the last rule
 * matching it says so, or one of its parent directories is ignored (nothing under an ignored directory can
 * be re-included). is_dir says whether path itself is a directory. */
bool mrun_ignore_match(const mrun_ignore *ig, const char *path, bool is_dir);

/* Adds the .gitignore and .mrunignore of directory dfd (rel: its path from the root, "" for the root), read
 * without following a symlink; E2BIG past 1 MiB, with the file named. */
int mrun_ignore_load_dir(mrun_ignore *ig, int dfd, const char *rel, mrun_err *err);

/* The entries of dfd except "." and "..", sorted by bytes (so walks and archives do not depend on creation order
 * or the file system). dfd stays open. Free with mrun_dir_names_free. */
int mrun_dir_names(int dfd, char ***ret_names, size_t *ret_n, mrun_err *err);
void mrun_dir_names_free(char **names, size_t n);

typedef struct mrun_pack_opts {
    int64_t max_bytes;    /* file content bytes; 0: no limit. Over it the pack fails with E2BIG */
    int64_t max_entries;  /* 0: no limit */
    bool no_ignore_files; /* do not read .gitignore / .mrunignore (.git and .mrun/cache are skipped anyway) */
    const char *const *only; /* when set: pack only these relative paths (files, or directories whole) and the
                                directories that lead to them; "dist/" and "dist" mean the same */
    size_t n_only;
} mrun_pack_opts;

typedef struct mrun_pack_stats {
    int64_t entries; /* files, directories and symlinks written */
    int64_t bytes;   /* file content bytes */
    int64_t ignored; /* paths left out by the ignore rules (an ignored directory counts once) */
    int64_t skipped; /* devices, fifos and sockets, which are never packed */
} mrun_pack_stats;

/* Writes the tree under dir_fd to out_fd as a deterministic tar.gz: depth first, each directory in byte order,
 * mtime 0, uid/gid 0 without names, modes 0755/0644 (directories 0755), symlinks stored as symlinks (never
 * followed), hardlinks stored as copies, no atime/ctime, gzip header without time or name. The same tree
 * always gives the same bytes. Skips ".git" at any depth, ".mrun/cache", ".mrun/out", and whatever the .gitignore and
 * .mrunignore files (root and nested) exclude. o may be NULL. Blocks; any thread. */
int mrun_archive_pack_dir(int dir_fd, const mrun_pack_opts *o, int out_fd, mrun_pack_stats *ret_stats, mrun_err *err);

#endif
