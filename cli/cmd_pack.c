/* cmd_pack.c - `mrun pack`: the deterministic tar.gz that `mrun submit` sends, for a release tarball by hand.
 * The same tree gives the same bytes, so the same sha256, on any machine and in any run. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "../common/digest.h"
#include "cli.h"

static const char usage_text[] =
    "usage: mrun pack [OPTIONS] DIR -o FILE\n"
    "\n"
    "Packs DIR into a reproducible tar.gz: entries in byte order, mtime 0, uid/gid 0 without names, modes\n"
    "0755/0644, symlinks kept as symlinks (never followed), no gzip timestamp or name. Leaves out .git,\n"
    ".mrun/cache, .mrun/out and what .gitignore/.mrunignore exclude. Prints the archive's sha256.\n"
    "\n"
    "  -o, --output FILE  where to write ('-' for stdout); required\n"
    "  --no-ignore        pack what the ignore files exclude too (.git and .mrun/cache are still left out)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 packed; 1 failed (the reason is on stderr); 2 usage error.\n";

enum { OPT_NO_IGNORE = 256 };

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"no-ignore", no_argument, NULL, OPT_NO_IGNORE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Whether output would land inside dir (the walk would then pack a half-written archive into itself). Checked
 * on the output's parent directory, before anything is created or truncated. */
static bool inside(const char *dir, const char *output)
{
    char parent[4096], real_dir[4096], real_parent[4096];
    snprintf(parent, sizeof(parent), "%s", output);
    char *slash = strrchr(parent, '/');
    if (slash)
        slash == parent ? (void)(parent[1] = '\0') : (void)(*slash = '\0');
    else
        snprintf(parent, sizeof(parent), ".");
    if (!realpath(dir, real_dir) || !realpath(parent, real_parent))
        return false; /* the open or the walk will say what is wrong */
    size_t n = strlen(real_dir);
    return strncmp(real_parent, real_dir, n) == 0 && (real_parent[n] == '/' || real_parent[n] == '\0');
}

int mrun_cmd_pack(int argc, char **argv)
{
    const char *output = NULL;
    mrun_pack_opts o = {0};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", long_opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case OPT_NO_IGNORE:
            o.no_ignore_files = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun pack: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (argc - optind != 1 || !output) {
        fprintf(stderr, "mrun pack: expected DIR and -o FILE\n%s", usage_text);
        return 2;
    }
    const char *dir = argv[optind];
    mrun_autoclose int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        fprintf(stderr, "mrun pack: '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    bool to_stdout = strcmp(output, "-") == 0;
    if (!to_stdout && inside(dir, output)) {
        fprintf(stderr, "mrun pack: '%s' is inside '%s': write the archive outside the tree\n", output, dir);
        return 2;
    }
    mrun_autoclose int out = to_stdout ? dup(STDOUT_FILENO)
                                       : open(output, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
        fprintf(stderr, "mrun pack: '%s': %s\n", output, strerror(errno));
        return 1;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_pack_stats st;
    if (mrun_archive_pack_dir(dfd, &o, out, &st, &err) < 0) {
        fprintf(stderr, "mrun pack: '%s': %s\n", dir, err.msg);
        if (!to_stdout)
            unlink(output);
        return 1;
    }
    char hex[65] = "";
    if (!to_stdout && mrun_sha256_fd(out, hex, &err) < 0) {
        fprintf(stderr, "mrun pack: '%s': cannot read back: %s\n", output, err.msg);
        return 1;
    }
    fprintf(to_stdout ? stderr : stdout, "packed %lld entries, %lld bytes%s%s%s\n", (long long)st.entries,
            (long long)st.bytes, hex[0] ? " (sha256:" : "", hex, hex[0] ? ")" : "");
    return 0;
}
