/* digest.c - sha256 of a file (digest.h). */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <unistd.h>

#include "codec.h"

int mrun_sha256_fd(int fd, char ret_hex[65], mrun_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return mrun_err_setx(err, ENOMEM, "sha256");
    }
    uint8_t buf[65536];
    off_t off = 0;
    ssize_t n;
    int ok = 1;
    while (ok && ((n = pread(fd, buf, sizeof(buf), off)) > 0 || (n < 0 && errno == EINTR))) {
        if (n > 0) {
            ok = EVP_DigestUpdate(md, buf, (size_t)n) == 1;
            off += n;
        }
    }
    int e = errno;
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ok = ok && n == 0 && EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
    EVP_MD_CTX_free(md);
    if (!ok)
        return mrun_err_set(err, n < 0 ? e : EIO, "sha256");
    mrun_hex_encode(out, 32, ret_hex);
    return 0;
}
