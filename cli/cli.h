/* cli.h - the subcommands of the mrun binary. Each returns the process exit status. */
#ifndef MRUN_CLI_H
#define MRUN_CLI_H

int mrun_cmd_sandbox(int argc, char **argv);
int mrun_cmd_unpack(int argc, char **argv);
int mrun_cmd_run(int argc, char **argv);
int mrun_cmd_coordinator(int argc, char **argv);
int mrun_cmd_runner(int argc, char **argv);
int mrun_cmd_tokens(int argc, char **argv);
int mrun_cmd_secrets(int argc, char **argv);
int mrun_cmd_submit(int argc, char **argv);
int mrun_cmd_status(int argc, char **argv);
int mrun_cmd_logs(int argc, char **argv);

#endif
