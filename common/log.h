/* log.h - leveled logging to a sink; levels use syslog numbers, every line has a component tag.
 * The level and sink are set once in main() before any thread starts. */
#ifndef MRUN_LOG_H
#define MRUN_LOG_H

#include <stdarg.h>

enum {
    MRUN_LOG_ERROR = 3,
    MRUN_LOG_WARN = 4,
    MRUN_LOG_INFO = 6,
    MRUN_LOG_DEBUG = 7,
};

extern int mrun_log_level;

void mrun_log_set_level(int level);
/* Parses "error|warn|info|debug"; returns -1 on anything else. */
int mrun_log_parse_level(const char *s);

void mrun_log_write(int level, const char *comp, int with_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define mrun_log(level, comp, ...)                                                                                     \
    do {                                                                                                               \
        if ((level) <= mrun_log_level)                                                                                 \
            mrun_log_write((level), (comp), 0, __VA_ARGS__);                                                          \
    } while (0)

/* Appends ": strerror(errno)". */
#define mrun_log_errno(level, comp, ...)                                                                               \
    do {                                                                                                               \
        if ((level) <= mrun_log_level)                                                                                 \
            mrun_log_write((level), (comp), 1, __VA_ARGS__);                                                          \
    } while (0)

#endif
