/* config.c - daemon config files: `key = value` lines whose keys are the command's long options (one table, the
 * getopt table, so a setting and its flag can never drift apart). The file's settings go first and the command
 * line after, so flags override the file. */
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "../common/log.h"
#include "cli.h"

#define MAX_CONFIG (64 << 10)
#define MAX_SETTINGS 64

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int mrun_cli_config(const char *path, const struct option *opts, int *argc, char ***argv, mrun_err *err)
{
    mrun_autoclose_file FILE *f = fopen(path, "re");
    if (!f)
        return mrun_err_set(err, errno, "config '%s'", path);
    mrun_autofree char *text = malloc(MAX_CONFIG + 1);
    if (!text)
        return mrun_err_set(err, ENOMEM, "config");
    size_t len = fread(text, 1, MAX_CONFIG + 1, f);
    if (len > MAX_CONFIG)
        return mrun_err_setx(err, E2BIG, "config '%s': larger than %d bytes", path, MAX_CONFIG);
    text[len] = '\0';
    /* argv[0], the settings as --key value, then the original arguments */
    char **out = calloc((size_t)*argc + 2 * MAX_SETTINGS + 1, sizeof(char *));
    if (!out)
        return mrun_err_set(err, ENOMEM, "config");
    int n = 0;
    out[n++] = (*argv)[0];
    unsigned line = 0;
    for (char *p = text, *next; p && *p; p = next) {
        line++;
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        char *l = trim(p);
        if (*l == '\0' || *l == '#')
            continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            free(out);
            return mrun_err_setx(err, EINVAL, "%s:%u:1: expected 'key = value'", path, line);
        }
        *eq = '\0';
        char *key = trim(l), *value = trim(eq + 1);
        const struct option *o = opts;
        while (o->name && (strcmp(o->name, key) != 0 || strcmp(key, "help") == 0 || strcmp(key, "config") == 0))
            o++;
        if (!o->name) {
            free(out);
            return mrun_err_setx(err, EINVAL, "%s:%u:1: unknown setting '%.64s'", path, line, key);
        }
        if (n + 2 > 2 * MAX_SETTINGS) {
            free(out);
            return mrun_err_setx(err, E2BIG, "%s:%u:1: too many settings", path, line);
        }
        if (o->has_arg == no_argument) {
            if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
                free(out);
                return mrun_err_setx(err, EINVAL, "%s:%u:1: '%s' takes true or false", path, line, key);
            }
            if (strcmp(value, "false") == 0)
                continue;
        }
        size_t kl = strlen(key);
        char *flag = malloc(kl + 3);
        char *val = o->has_arg == no_argument ? NULL : strdup(value);
        if (!flag || (o->has_arg != no_argument && !val)) {
            free(flag);
            free(val);
            free(out);
            return mrun_err_set(err, ENOMEM, "config");
        }
        flag[0] = flag[1] = '-';
        memcpy(flag + 2, key, kl + 1);
        out[n++] = flag;
        if (val)
            out[n++] = val;
    }
    for (int i = 1; i < *argc; i++)
        out[n++] = (*argv)[i];
    out[n] = NULL;
    /* the strings are kept for the life of the process (a daemon's settings) */
    *argc = n;
    *argv = out;
    return 0;
}

int mrun_cli_daemon_config(const char *cmd, const struct option *opts, int *argc, char ***argv)
{
    const char *config = getenv("MRUN_CONFIG");
    for (int i = 1; i + 1 < *argc; i++)
        if (strcmp((*argv)[i], "--config") == 0)
            config = (*argv)[i + 1];
    if (!config)
        return 0;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_cli_config(config, opts, argc, argv, &err) < 0) {
        fprintf(stderr, "mrun %s: %s\n", cmd, err.msg);
        return 2;
    }
    return 0;
}

int mrun_cli_daemon_start(const char *cmd, const char *level, void (*on_stop)(int))
{
    if (level) {
        int l = mrun_log_parse_level(level);
        if (l < 0) {
            fprintf(stderr, "mrun %s: bad log level '%s'\n", cmd, level);
            return 2;
        }
        mrun_log_set_level(l);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}
