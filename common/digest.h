/* digest.h - sha256 of a file's bytes as lowercase hex: how artifacts, bundles and archives are named. */
#ifndef MRUN_DIGEST_H
#define MRUN_DIGEST_H

#include "err.h"

/* Hashes fd from offset 0 to its end with pread (the file offset is not moved) into ret_hex (64 hex digits and a
 * NUL). EIO or the read's errno. Any thread. */
int mrun_sha256_fd(int fd, char ret_hex[65], mrun_err *err);

#endif
