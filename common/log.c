/* log.c - the stderr log sink. One write(2) per line so concurrent lines do not interleave. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int mrun_log_level = MRUN_LOG_INFO;

void mrun_log_set_level(int level)
{
    mrun_log_level = level;
}

int mrun_log_parse_level(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"error", MRUN_LOG_ERROR}, {"warn", MRUN_LOG_WARN}, {"info", MRUN_LOG_INFO}, {"debug", MRUN_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    return -1;
}

static const char *level_name(int level)
{
    switch (level) {
    case MRUN_LOG_ERROR:
        return "ERROR";
    case MRUN_LOG_WARN:
        return "WARN";
    case MRUN_LOG_INFO:
        return "INFO";
    default:
        return "DEBUG";
    }
}

void mrun_log_write(int level, const char *comp, int with_errno, const char *fmt, ...)
{
    int saved = errno;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     level_name(level), comp);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    if (with_errno) {
        char eb[128];
        n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror_r(saved, eb, sizeof(eb)));
        if ((size_t)n >= sizeof(line) - 2)
            n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
    errno = saved;
}
