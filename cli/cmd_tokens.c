/* cmd_tokens.c - `mrun tokens create --role ROLE` and `mrun secrets set NAME`: admin commands that work on the
 * coordinator's data directory directly (run them on the coordinator host). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../coordinator/store.h"
#include "cli.h"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *data_arg(int argc, char **argv, int *first)
{
    const char *data = getenv("MRUN_DATA");
    for (int i = *first; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[i + 1];
    }
    return data ? data : "/var/lib/mrun";
}

static const char tokens_usage[] = "usage: mrun tokens create --role viewer|submitter|approver|admin|runner [--data DIR]\n"
                                   "\n"
                                   "Creates a token and prints it once; the coordinator keeps only its hash.\n";

int mrun_cmd_tokens(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(tokens_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "create") != 0) {
        fprintf(stderr, "mrun tokens: unknown action '%s'\n%s", argv[1], tokens_usage);
        return 2;
    }
    const char *role = NULL;
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], "--role") == 0)
            role = argv[i + 1];
    static const char *const roles[] = {"viewer", "submitter", "approver", "admin", "runner"};
    bool ok = false;
    for (size_t i = 0; role && i < sizeof(roles) / sizeof(roles[0]); i++)
        ok = ok || strcmp(role, roles[i]) == 0;
    if (!ok) {
        fprintf(stderr, "mrun tokens: --role must be viewer, submitter, approver, admin or runner\n");
        return 2;
    }
    int first = 2;
    mrun_err err = MRUN_ERR_INIT;
    mrun_store *st = NULL;
    if (mrun_store_open(data_arg(argc, argv, &first), &st, &err) < 0) {
        fprintf(stderr, "mrun tokens: %s\n", err.msg);
        return 1;
    }
    char token[MRUN_STORE_TOKEN_LEN + 1];
    int r = mrun_store_token_create(st, role, wall_ms(), token, &err);
    mrun_store_close(st);
    if (r < 0) {
        fprintf(stderr, "mrun tokens: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", token);
    return 0;
}

static const char secrets_usage[] = "usage: mrun secrets set NAME [--data DIR]   (the value is read from stdin)\n"
                                    "\n"
                                    "Stores a secret a stage can ask for with `secrets: [NAME]`; it reaches only those\n"
                                    "stages' steps, as an environment variable, and is masked in their logs.\n";

int mrun_cmd_secrets(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "set") != 0) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs(secrets_usage, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    char value[65536];
    size_t n = fread(value, 1, sizeof(value) - 1, stdin);
    if (n == sizeof(value) - 1 && !feof(stdin)) {
        fprintf(stderr, "mrun secrets: the value is longer than %zu bytes\n", sizeof(value) - 2);
        return 2;
    }
    while (n > 0 && (value[n - 1] == '\n' || value[n - 1] == '\r'))
        n--;
    value[n] = '\0';
    int first = 3;
    mrun_err err = MRUN_ERR_INIT;
    mrun_store *st = NULL;
    if (mrun_store_open(data_arg(argc, argv, &first), &st, &err) < 0) {
        fprintf(stderr, "mrun secrets: %s\n", err.msg);
        return 1;
    }
    int r = mrun_store_secret_set(st, argv[2], value, wall_ms(), &err);
    mrun_store_close(st);
    explicit_bzero(value, sizeof(value));
    if (r < 0) {
        fprintf(stderr, "mrun secrets: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "secret %s set\n", argv[2]);
    return 0;
}
