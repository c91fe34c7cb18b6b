/* cli.h - the subcommands of the mrun binary. Each returns the process exit status. */
#ifndef MRUN_CLI_H
#define MRUN_CLI_H

#include <getopt.h>

#include "../common/err.h"

/* Daemons' config files (config.c): reads `key = value` lines whose keys are long options of opts and rebuilds
 * argc and argv as argv[0], the file's settings as flags, then the original arguments (flags override the file).
 * Errors name file:line. The new argv lives for the rest of the process. */
int mrun_cli_config(const char *path, const struct option *opts, int *argc, char ***argv, mrun_err *err);
/* For a daemon command: applies --config FILE (or MRUN_CONFIG) if given. Returns 0, or 2 after printing why. */
int mrun_cli_daemon_config(const char *cmd, const struct option *opts, int *argc, char ***argv);
/* Sets the log level (NULL: keep) and routes SIGTERM/SIGINT to on_stop, ignoring SIGPIPE. 0, or 2 (printed). */
int mrun_cli_daemon_start(const char *cmd, const char *level, void (*on_stop)(int));

int mrun_cmd_sandbox(int argc, char **argv);
int mrun_cmd_unpack(int argc, char **argv);
int mrun_cmd_pack(int argc, char **argv);
int mrun_cmd_preview(int argc, char **argv);
int mrun_cmd_run(int argc, char **argv);
int mrun_cmd_coordinator(int argc, char **argv);
int mrun_cmd_runner(int argc, char **argv);
int mrun_cmd_tokens(int argc, char **argv);
int mrun_cmd_secrets(int argc, char **argv);
int mrun_cmd_submit(int argc, char **argv);
int mrun_cmd_status(int argc, char **argv);
int mrun_cmd_logs(int argc, char **argv);
int mrun_cmd_scan(int argc, char **argv);
int mrun_cmd_sbom(int argc, char **argv);
int mrun_cmd_coverage(int argc, char **argv);
int mrun_cmd_cancel(int argc, char **argv);
int mrun_cmd_retry(int argc, char **argv);
int mrun_cmd_artifacts(int argc, char **argv);
int mrun_cmd_artifacts_gc(int argc, char **argv);
int mrun_cmd_runners(int argc, char **argv);
/* -- attest -- (cmd_keys.c, cmd_verify.c, cmd_attest.c) */
int mrun_cmd_keys(int argc, char **argv);
int mrun_cmd_verify(int argc, char **argv);
int mrun_cmd_attest(int argc, char **argv);
/* --passphrase-env VAR / --passphrase-file F (first line): *ret_pass is NULL when neither is given; free it with
 * mrun_cli_passphrase_free, which wipes it. */
int mrun_cli_passphrase(const char *env_name, const char *file, char **ret_pass, mrun_err *err);
void mrun_cli_passphrase_free(char *pass);
int mrun_cmd_init(int argc, char **argv);

#endif
