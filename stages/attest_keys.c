/* attest_keys.c - the coordinator's signing keys: ECDSA P-256 or Ed25519 with OpenSSL 3, written as PKCS#8 PEM
 * (0600, optionally AES-256-CBC/PBKDF2 encrypted) plus the SubjectPublicKeyInfo PEM; loading them back; key ids.
 * Also the bounded file helpers the CLI and tests use. Private key bytes only ever sit in secure-heap BIOs. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "attest_int.h"

#define KEY_FILE_MAX (64u << 10)

static void bio_freep(BIO **b)
{
    BIO_free(*b);
}
static void pkey_freep(EVP_PKEY **p)
{
    EVP_PKEY_free(*p);
}
static void pctx_freep(EVP_PKEY_CTX **p)
{
    EVP_PKEY_CTX_free(*p);
}

/* The first queued OpenSSL error as text (and the queue cleared), for messages. */
static const char *ossl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, len, "unknown OpenSSL error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

int mrun_attest_key_type_parse(const char *s, mrun_key_type *ret_type, mrun_err *err)
{
    if (strcmp(s, "ecdsa-p256") == 0)
        *ret_type = MRUN_KEY_ECDSA_P256;
    else if (strcmp(s, "ed25519") == 0)
        *ret_type = MRUN_KEY_ED25519;
    else
        return mrun_err_setx(err, EINVAL, "key type '%.32s': expected ecdsa-p256 or ed25519", s);
    return 0;
}

/* Wraps pkey (consumed) after checking it is P-256 or Ed25519, and computes its id. */
static int key_wrap(EVP_PKEY *pkey, bool has_private, mrun_key **ret_key, mrun_err *err)
{
    mrun_cleanup(pkey_freep) EVP_PKEY *owned = pkey;
    mrun_key_type type;
    char name[64] = "";
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        type = MRUN_KEY_ED25519;
    } else if (EVP_PKEY_is_a(pkey, "EC") && EVP_PKEY_get_group_name(pkey, name, sizeof(name), NULL) == 1 &&
               (strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0)) {
        type = MRUN_KEY_ECDSA_P256;
    } else {
        return mrun_err_setx(err, EINVAL, "unsupported key type %.32s (expected ECDSA P-256 or Ed25519)",
                             EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "?");
    }
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    if (n <= 0)
        return mrun_err_setx(err, EINVAL, "cannot encode the public key");
    unsigned char md[32];
    unsigned mdlen = 0;
    int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok)
        return mrun_err_setx(err, EINVAL, "sha256 failed");
    mrun_key *k = calloc(1, sizeof(*k));
    if (!k)
        return mrun_err_set(err, ENOMEM, "key");
    k->pkey = mrun_steal_ptr(&owned);
    k->type = type;
    k->has_private = has_private;
    mrun_attest_hex(md, 32, k->id);
    *ret_key = k;
    return 0;
}

int mrun_attest_key_generate(mrun_key_type type, mrun_key **ret_key, mrun_err *err)
{
    mrun_cleanup(pctx_freep) EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_from_name(NULL, type == MRUN_KEY_ED25519 ? "ED25519" : "EC", NULL);
    EVP_PKEY *pkey = NULL;
    char buf[256];
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0)
        return mrun_err_setx(err, EINVAL, "key generation: %s", ossl_reason(buf, sizeof(buf)));
    if (type == MRUN_KEY_ECDSA_P256 && EVP_PKEY_CTX_set_group_name(ctx, "P-256") <= 0)
        return mrun_err_setx(err, EINVAL, "key generation: %s", ossl_reason(buf, sizeof(buf)));
    if (EVP_PKEY_generate(ctx, &pkey) <= 0)
        return mrun_err_setx(err, EINVAL, "key generation: %s", ossl_reason(buf, sizeof(buf)));
    return key_wrap(pkey, true, ret_key, err);
}

/* Creates path exclusively (never through a symlink) and writes len bytes. force unlinks what is there first. */
static int write_new_file(const char *path, const void *data, size_t len, mode_t mode, bool force, mrun_err *err)
{
    if (force && unlink(path) < 0 && errno != ENOENT)
        return mrun_err_set(err, errno, "remove '%s'", path);
    mrun_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return mrun_err_setx(err, EEXIST, "'%s' exists (use --force to replace it)", path);
        return mrun_err_set(err, errno, "create '%s'", path);
    }
    if (fchmod(fd, mode) < 0) /* the umask may have narrowed it; never widen past mode */
        return mrun_err_set(err, errno, "chmod '%s'", path);
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            unlink(path);
            return mrun_err_set(err, e, "write '%s'", path);
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0)
        return mrun_err_set(err, errno, "fsync '%s'", path);
    return 0;
}

static int write_bio_file(BIO *bio, const char *path, mode_t mode, bool force, mrun_err *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        return mrun_err_setx(err, EINVAL, "'%s': nothing to write", path);
    return write_new_file(path, data, (size_t)n, mode, force, err);
}

int mrun_attest_key_write(const mrun_key *key, const char *prefix, const char *passphrase, bool force, mrun_err *err)
{
    char buf[256];
    if (!key->has_private)
        return mrun_err_setx(err, EINVAL, "not a private key");
    size_t plen = strlen(prefix);
    mrun_autofree char *priv_path = malloc(plen + 5), *pub_path = malloc(plen + 5);
    if (!priv_path || !pub_path)
        return mrun_err_set(err, ENOMEM, "key paths");
    snprintf(priv_path, plen + 5, "%s.key", prefix);
    snprintf(pub_path, plen + 5, "%s.pub", prefix);
    /* secure-heap memory BIO: cleansed when freed (OpenSSL 3 BIO_s_secmem) */
    mrun_cleanup(bio_freep) BIO *priv = BIO_new(BIO_s_secmem());
    mrun_cleanup(bio_freep) BIO *pub = BIO_new(BIO_s_mem());
    if (!priv || !pub)
        return mrun_err_set(err, ENOMEM, "key buffers");
    int ok = passphrase
                 ? PEM_write_bio_PKCS8PrivateKey(priv, key->pkey, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)passphrase)
                 : PEM_write_bio_PKCS8PrivateKey(priv, key->pkey, NULL, NULL, 0, NULL, NULL);
    if (!ok || !PEM_write_bio_PUBKEY(pub, key->pkey))
        return mrun_err_setx(err, EINVAL, "encode key: %s", ossl_reason(buf, sizeof(buf)));
    if (!force && access(pub_path, F_OK) == 0) /* fail before writing half a pair */
        return mrun_err_setx(err, EEXIST, "'%s' exists (use --force to replace it)", pub_path);
    if (write_bio_file(priv, priv_path, 0600, force, err) < 0)
        return -1;
    if (write_bio_file(pub, pub_path, 0644, force, err) < 0) {
        unlink(priv_path);
        return -1;
    }
    return 0;
}

int mrun_attest_read_file(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "stat '%s'", path);
    if (!S_ISREG(st.st_mode))
        return mrun_err_setx(err, EINVAL, "'%s' is not a regular file", path);
    if ((uint64_t)st.st_size > max)
        return mrun_err_setx(err, E2BIG, "'%s' is larger than %zu bytes", path, max);
    size_t cap = (size_t)st.st_size + 1, len = 0;
    mrun_autofree uint8_t *buf = malloc(cap);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "read '%s'", path);
    for (;;) {
        if (len + 1 == cap) { /* the file grew since fstat: allow up to max */
            if (cap > max)
                return mrun_err_setx(err, E2BIG, "'%s' is larger than %zu bytes", path, max);
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb)
                return mrun_err_set(err, ENOMEM, "read '%s'", path);
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mrun_err_set(err, errno, "read '%s'", path);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max)
        return mrun_err_setx(err, E2BIG, "'%s' is larger than %zu bytes", path, max);
    buf[len] = 0;
    *ret_buf = mrun_steal_ptr(&buf);
    *ret_len = len;
    return 0;
}

int mrun_attest_file_sha256(const char *path, char ret_hex[65], mrun_err *err)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "open '%s'", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        return mrun_err_set(err, ENOMEM, "sha256");
    }
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            EVP_MD_CTX_free(md);
            return mrun_err_set(err, e, "read '%s'", path);
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
    }
    unsigned char out[32];
    unsigned outlen = 0;
    int ok = EVP_DigestFinal_ex(md, out, &outlen);
    EVP_MD_CTX_free(md);
    if (!ok)
        return mrun_err_setx(err, EINVAL, "sha256 of '%s' failed", path);
    mrun_attest_hex(out, 32, ret_hex);
    return 0;
}

/* Hands OpenSSL the passphrase; with none, fails instead of prompting on the terminal. */
static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pass = u;
    if (!pass)
        return -1;
    size_t n = strlen(pass);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, pass, n);
    return (int)n;
}

int mrun_attest_key_load_private(const char *path, const char *passphrase, mrun_key **ret_key, mrun_err *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (mrun_attest_read_file(path, KEY_FILE_MAX, &data, &len, err) < 0)
        return mrun_err_prefix(err, "private key");
    bool encrypted = strstr((char *)data, "ENCRYPTED") != NULL;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, pass_cb, (void *)passphrase) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(data, len);
    free(data);
    char buf[256];
    if (!pkey) {
        ossl_reason(buf, sizeof(buf));
        if (encrypted && !passphrase)
            return mrun_err_setx(err, EPERM, "'%s' is encrypted: give its passphrase", path);
        if (encrypted)
            return mrun_err_setx(err, EPERM, "'%s': cannot decrypt (wrong passphrase?)", path);
        return mrun_err_setx(err, EINVAL, "'%s' is not a PEM private key (%s)", path, buf);
    }
    if (key_wrap(pkey, true, ret_key, err) < 0)
        return mrun_err_prefix(err, "'%s'", path);
    return 0;
}

int mrun_attest_key_parse_public(const uint8_t *pem, size_t len, mrun_key **ret_key, mrun_err *err)
{
    char buf[256];
    if (len > KEY_FILE_MAX)
        return mrun_err_setx(err, E2BIG, "public key larger than %u bytes", KEY_FILE_MAX);
    mrun_cleanup(bio_freep) BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return mrun_err_set(err, ENOMEM, "public key");
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, pass_cb, NULL);
    if (!pkey) {
        ossl_reason(buf, sizeof(buf));
        if (memmem(pem, len, "PRIVATE KEY", 11) != NULL) {
            BIO_reset(bio);
            pkey = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, NULL); /* unencrypted only */
        }
        if (!pkey)
            return mrun_err_setx(err, EINVAL, "not a PEM public key (%s)", buf);
        /* keep only the public half */
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(pkey, &der);
        EVP_PKEY_free(pkey);
        const unsigned char *p = der;
        pkey = n > 0 ? d2i_PUBKEY(NULL, &p, n) : NULL;
        OPENSSL_free(der);
        if (!pkey)
            return mrun_err_setx(err, EINVAL, "cannot extract the public key");
    }
    return key_wrap(pkey, false, ret_key, err);
}

int mrun_attest_key_load_public(const char *path, mrun_key **ret_key, mrun_err *err)
{
    mrun_autofree uint8_t *data = NULL;
    size_t len = 0;
    if (mrun_attest_read_file(path, KEY_FILE_MAX, &data, &len, err) < 0)
        return mrun_err_prefix(err, "public key");
    int rc = mrun_attest_key_parse_public(data, len, ret_key, err);
    if (memmem(data, len, "PRIVATE KEY", 11) != NULL)
        OPENSSL_cleanse(data, len);
    if (rc < 0)
        return mrun_err_prefix(err, "'%s'", path);
    return 0;
}

const char *mrun_attest_key_id(const mrun_key *key)
{
    return key->id;
}

mrun_key_type mrun_attest_key_get_type(const mrun_key *key)
{
    return key->type;
}

void mrun_attest_key_free(mrun_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

void mrun_attest_key_freep(mrun_key **key)
{
    mrun_attest_key_free(*key);
}
