/* err.h - the one error type: an errno plus a "context: cause" message.
 * Fallible functions return -1 (or NULL) and fill *err; callers add context
 * with mrun_err_prefix and never overwrite the cause. */
#ifndef MRUN_ERR_H
#define MRUN_ERR_H

typedef struct mrun_err {
    int sys_errno; /* errno at the failure; our own checks use EINVAL, E2BIG, EPROTO, EPERM or ETIMEDOUT */
    char msg[256]; /* "context: context: cause" */
} mrun_err;

#define MRUN_ERR_INIT {0, {0}}

/* Sets the error (first failure wins is the caller's job) and returns -1.
 * When sys_errno is a real errno, ": strerror" is appended. */
int mrun_err_set(mrun_err *err, int sys_errno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like mrun_err_set but never appends strerror: for our own validation errors. */
int mrun_err_setx(mrun_err *err, int sys_errno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the message; truncates the context, never the cause. Returns -1. */
int mrun_err_prefix(mrun_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
