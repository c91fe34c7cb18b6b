/* cmd_sbom.c - `mrun sbom [DIR]`: a CycloneDX 1.6 or SPDX 2.3 SBOM of DIR's dependencies, read from its lockfiles
 * and manifests without running anything (the same code as `uses: sbom`). Exit 0 with the document written, 2 on
 * usage or I/O errors; a lockfile that does not parse is named on stderr and left out. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../stages/deps.h"
#include "../stages/sbom.h"
#include "cli.h"

static const char usage_text[] =
    "usage: mrun sbom [OPTIONS] [DIR]\n"
    "\n"
    "Writes a software bill of materials for DIR (default .): every package its lockfiles and manifests name\n"
    "(package-lock.json, npm-shrinkwrap.json, yarn.lock, pnpm-lock.yaml, requirements*.txt, poetry.lock,\n"
    "Pipfile.lock, uv.lock, go.mod, go.sum, Cargo.lock, Gemfile.lock, composer.lock; in subfolders too), with its\n"
    "purl, declared license, hashes, whether it is a dev or optional dependency, and who depends on whom. Nothing is\n"
    "installed or run. The time is SOURCE_DATE_EPOCH when set, else now; the serial number is derived from the\n"
    "content, so the same lockfiles give the same document.\n"
    "\n"
    "  --format cyclonedx|spdx   CycloneDX 1.6 JSON (default) or SPDX 2.3 JSON\n"
    "  -o, --output FILE         write the SBOM to FILE instead of stdout\n"
    "  --name APP                the application's name (default: the lockfile's project, else DIR's name)\n"
    "  --version V               the application's version (default: the project's)\n"
    "  -h, --help                show this help\n"
    "\n"
    "Field mapping, scopes and purl rules: docs/sbom.md.\n";

static void print_warn(void *ctx, const char *path, const char *reason)
{
    int *n = ctx;
    (*n)++;
    fprintf(stderr, "mrun sbom: skipped %.512s: %s\n", path, reason);
}

/* DIR's own name, for an inventory with no single project to name the app after. */
static char *dir_name(const char *dir)
{
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return strdup("app");
    const char *slash = strrchr(real, '/');
    const char *base = slash && slash[1] ? slash + 1 : "app";
    return strdup(base);
}

static size_t count_projects(const mrun_deps *d)
{
    size_t n = 0;
    for (size_t i = 0; i < mrun_deps_count(d); i++)
        n += mrun_deps_at(d, i)->is_project;
    return n;
}

static int write_output(const mrun_deps *d, const mrun_sbom_opts *o, const char *output)
{
    mrun_err err = MRUN_ERR_INIT;
    FILE *out = output ? fopen(output, "we") : stdout;
    if (!out) {
        fprintf(stderr, "mrun sbom: '%s': %s\n", output, strerror(errno));
        return 2;
    }
    int r = mrun_sbom_write(d, o, out, &err);
    if (output && fclose(out) != 0 && r == 0)
        r = mrun_err_set(&err, errno, "'%s'", output);
    if (r < 0) {
        fprintf(stderr, "mrun sbom: %s\n", err.msg);
        if (output)
            unlink(output);
        return 2;
    }
    return 0;
}

int mrun_cmd_sbom(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'}, {"output", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'n'},   {"version", required_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    mrun_sbom_opts o = {.format = MRUN_SBOM_CYCLONEDX};
    const char *output = NULL;
    mrun_err err = MRUN_ERR_INIT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (mrun_sbom_format_parse(optarg, &o.format, &err) < 0) {
                fprintf(stderr, "mrun sbom: --format must be cyclonedx or spdx\n");
                return 2;
            }
            break;
        case 'o':
            output = optarg;
            break;
        case 'n':
            o.app_name = optarg;
            break;
        case 'V':
            o.app_version = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun sbom: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "mrun sbom: one directory at most\n");
        return 2;
    }
    const char *dir = optind < argc ? argv[optind] : ".";
    mrun_autoclose int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        fprintf(stderr, "mrun sbom: '%s': %s\n", dir, strerror(errno));
        return 2;
    }
    mrun_cleanup(mrun_deps_freep) mrun_deps *d = NULL;
    int n_warn = 0;
    if (mrun_deps_new(&d, &err) < 0 || mrun_deps_scan(root, d, print_warn, &n_warn, &err) < 0 ||
        mrun_sbom_timestamp(&o.timestamp, &err) < 0) {
        fprintf(stderr, "mrun sbom: %s\n", err.msg);
        return 2;
    }
    if (mrun_deps_count(d) == 0)
        fprintf(stderr, "mrun sbom: no lockfile or manifest found in '%s'%s\n", dir,
                n_warn ? " that could be read" : "");
    mrun_autofree char *name = NULL;
    if (!o.app_name && count_projects(d) != 1) {
        if (!(name = dir_name(dir))) {
            fprintf(stderr, "mrun sbom: out of memory\n");
            return 2;
        }
        o.app_name = name;
    }
    return write_output(d, &o, output);
}
