/* main.c - mrun: one binary, one subcommand per file (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "../common/log.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"artifacts", mrun_cmd_artifacts, "list or download a pipeline's artifacts"},
    {"attest", mrun_cmd_attest, "sign SLSA provenance for files by hand (DSSE or Sigstore bundle)"},
    {"cancel", mrun_cmd_cancel, "cancel a pipeline's unfinished stages"},
    {"coordinator", mrun_cmd_coordinator, "run the coordinator daemon"},
    {"coverage", mrun_cmd_coverage, "apply the coverage gate to a Cobertura or lcov report"},
    {"init", mrun_cmd_init, "create a micro app from a template (--list shows them)"},
    {"keys", mrun_cmd_keys, "generate the signing key pair, or print a public key's id"},
    {"logs", mrun_cmd_logs, "show a pipeline's stage logs (--follow)"},
    {"pack", mrun_cmd_pack, "pack a directory into a reproducible tar.gz"},
    {"preview", mrun_cmd_preview, "list, extend or remove previews"},
    {"retry", mrun_cmd_retry, "run a finished pipeline's failed stages again"},
    {"run", mrun_cmd_run, "run DIR's pipeline here, with no server"},
    {"runner", mrun_cmd_runner, "run a runner daemon"},
    {"runners", mrun_cmd_runners, "list the coordinator's runners"},
    {"sandbox", mrun_cmd_sandbox, "run a command in an isolated sandbox"},
    {"sbom", mrun_cmd_sbom, "write a CycloneDX or SPDX SBOM of DIR's dependencies"},
    {"scan", mrun_cmd_scan, "check a directory before pushing: secrets, licenses, lint, tests"},
    {"secrets", mrun_cmd_secrets, "store a secret for stages (on the coordinator host)"},
    {"status", mrun_cmd_status, "show pipelines and their stages"},
    {"submit", mrun_cmd_submit, "send DIR's pipeline to a coordinator"},
    {"tokens", mrun_cmd_tokens, "create runner and API tokens (on the coordinator host)"},
    {"unpack", mrun_cmd_unpack, "extract a tar archive safely, or refuse it"},
    {"verify", mrun_cmd_verify, "check an artifact's signed provenance (exit 0 only when it holds)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mrun [--version] [--help] COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'mrun COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("mrun %s\n", MRUN_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "mrun: unknown command '%.64s'\n", argv[1]);
    usage(stderr);
    return 2;
}
