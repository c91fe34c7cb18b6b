/* cmd_unpack.c - `mrun unpack`: the runner's safe extraction from the command line, to check by hand what a
 * submitted archive would become (or why it is refused) before anything runs on it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "../common/parse.h"
#include "cli.h"

static const char usage_text[] =
    "usage: mrun unpack [OPTIONS] ARCHIVE DIR\n"
    "\n"
    "Extracts a tar, tar.gz or tar.zst ARCHIVE ('-' for stdin) into DIR as the runner does with submitted\n"
    "sources: DIR is created if missing and must be empty. Archives with absolute or '..' names, names through\n"
    "a symlink, symlinks or hardlinks leading out of DIR, devices, fifos or sockets, other formats (zip, cpio,\n"
    "...), or more than the limits below are refused whole: DIR is left empty. Modes become 0755 or 0644,\n"
    "owners, xattrs and ACLs are not applied.\n"
    "\n"
    "  --max-bytes SIZE   total size of all entries (default 1G)\n"
    "  --max-entries N    entries, directories included (default 100000)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 unpacked; 1 refused or failed (the reason is on stderr); 2 usage error.\n"
    "Sizes take K, M, G, T (binary).\n";

enum { OPT_MAX_BYTES = 256, OPT_MAX_ENTRIES };

static const struct option long_opts[] = {
    {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
    {"max-entries", required_argument, NULL, OPT_MAX_ENTRIES},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Fills lim from argv; returns the index of ARCHIVE, 0 after --help, -1 on a usage error (printed). */
static int parse_args(int argc, char **argv, mrun_unpack_limits *lim)
{
    mrun_err err = MRUN_ERR_INIT;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case OPT_MAX_BYTES:
            r = mrun_parse_size(optarg, &lim->max_bytes, &err);
            if (r == 0 && lim->max_bytes == 0)
                r = mrun_err_setx(&err, EINVAL, "--max-bytes must be more than 0");
            break;
        case OPT_MAX_ENTRIES:
            r = mrun_parse_int(optarg, 1, INT32_MAX, &lim->max_entries, &err);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun unpack: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return -1;
        }
        if (r < 0) {
            fprintf(stderr, "mrun unpack: %s\n", err.msg);
            return -1;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "mrun unpack: expected ARCHIVE and DIR\n%s", usage_text);
        return -1;
    }
    return optind;
}

int mrun_cmd_unpack(int argc, char **argv)
{
    mrun_unpack_limits lim = {0};
    int first = parse_args(argc, argv, &lim);
    if (first <= 0)
        return first == 0 ? 0 : 2;
    const char *archive = argv[first], *dir = argv[first + 1];

    mrun_autoclose int in = strcmp(archive, "-") == 0 ? dup(STDIN_FILENO) : open(archive, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "mrun unpack: '%s': %s\n", archive, strerror(errno));
        return 1;
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mrun unpack: create '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    mrun_autoclose int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        fprintf(stderr, "mrun unpack: '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    mrun_err err = MRUN_ERR_INIT;
    mrun_unpack_stats st;
    if (mrun_archive_unpack_fd(in, dfd, &lim, &st, &err) < 0) {
        fprintf(stderr, "mrun unpack: '%s': %s\n", archive, err.msg);
        return 1;
    }
    printf("unpacked %lld entries, %lld bytes\n", (long long)st.entries, (long long)st.bytes);
    return 0;
}
