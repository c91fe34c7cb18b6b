/* err.c - mrun_err formatting. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0))) static int set(mrun_err *err, int sys_errno, int with_strerror, const char *fmt,
                                                   va_list ap)
{
    if (!err)
        return -1;
    err->sys_errno = sys_errno;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (with_strerror && sys_errno > 0 && n >= 0 && (size_t)n < sizeof(err->msg)) {
        char buf[128];
        const char *s = strerror_r(sys_errno, buf, sizeof(buf)); /* GNU variant */
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", s);
    }
    return -1;
}

int mrun_err_set(mrun_err *err, int sys_errno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, sys_errno, 1, fmt, ap);
    va_end(ap);
    return -1;
}

int mrun_err_setx(mrun_err *err, int sys_errno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(err, sys_errno, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int mrun_err_prefix(mrun_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char ctx[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    size_t cause = strlen(err->msg);
    size_t room = sizeof(err->msg) - 1;
    if (cause + 2 >= room)
        return -1; /* the cause already fills the buffer: keep it whole */
    size_t clen = (size_t)n;
    if (clen > room - cause - 2)
        clen = room - cause - 2; /* truncate the context, never the cause */
    memmove(err->msg + clen + 2, err->msg, cause + 1);
    memcpy(err->msg, ctx, clen);
    err->msg[clen] = ':';
    err->msg[clen + 1] = ' ';
    return -1;
}
