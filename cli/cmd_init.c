/* cmd_init.c - `mrun init`: a new micro app from one of the templates embedded in the binary (templates.h, generated
 * from templates/ by gen_templates). Writes into a new or empty directory (or any with --force), substituting the
 * app name and tier in text files, and never writes through a symlink: every directory is opened O_NOFOLLOW and
 * every file created O_EXCL. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "../common/suggest.h"
#include "cli.h"
#include "templates.h"

#define MAX_APP_NAME 40

static const char usage_text[] =
    "usage: mrun init --list\n"
    "       mrun init --template NAME [--name APP] [--tier 0|1|2] [--force] DIR\n"
    "\n"
    "Creates a micro app in DIR (created if missing; it must be empty unless --force) from a template: the app,\n"
    "its unit tests, .mrun/pipeline.yml with every check mrun has, .mrun/policy.yml, an infra/ Terraform module,\n"
    "a README with the tier's approval rules, pre-commit hooks, .gitignore and .mrunignore. Then `mrun run DIR`.\n"
    "\n"
    "  -l, --list           list the templates\n"
    "  -t, --template NAME  the template to use\n"
    "  -n, --name APP       the app's name: lowercase letters, digits and '-', starting with a letter, at most 40\n"
    "                       (default: DIR's last component, lowercased)\n"
    "      --tier N         0: personal or prototype, 1: team app (default), 2: business-critical\n"
    "  -f, --force          write into a non-empty DIR, replacing files with the same names\n"
    "  -h, --help           show this help\n"
    "\n"
    "Templates and tiers: docs/templates.md.\n";

/* What {{tier_rules}} becomes; the approval rules docs/templates.md describes. */
static const char *const tier_rules[] = {
    "personal or prototype: no approval is needed, the pipeline's checks still gate every change",
    "a team app: a production deploy needs one approver besides the author",
    "business-critical: a production deploy needs two approvers besides the author, and only artifacts with mrun's "
    "signed provenance are deployed",
};

typedef struct subst {
    const char *key;
    const char *value;
} subst;

static const mrun_tpl *find_template(const char *name)
{
    for (size_t i = 0; i < mrun_tpl_count; i++)
        if (strcmp(mrun_tpl_all[i].name, name) == 0)
            return &mrun_tpl_all[i];
    return NULL;
}

static void list_templates(FILE *f)
{
    for (size_t i = 0; i < mrun_tpl_count; i++)
        fprintf(f, "  %-14s %s\n", mrun_tpl_all[i].name, mrun_tpl_all[i].summary);
}

static void unknown_template(const char *name)
{
    const char *best = NULL;
    size_t best_d = 4; /* suggest only close names */
    for (size_t i = 0; i < mrun_tpl_count; i++) {
        const char *t = mrun_tpl_all[i].name;
        size_t d = mrun_edit_distance(name, strlen(name), t, strlen(t));
        if (d < best_d) {
            best_d = d;
            best = t;
        }
    }
    if (best)
        fprintf(stderr, "mrun init: unknown template '%.64s' (did you mean '%s'?)\n", name, best);
    else
        fprintf(stderr, "mrun init: unknown template '%.64s'\n", name);
    fprintf(stderr, "templates:\n");
    list_templates(stderr);
}

/* App names end up in package names, S3 bucket names and tags: [a-z][a-z0-9-]*, no "--", not ending in '-'. */
static bool valid_app_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_APP_NAME || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-' || strstr(s, "--"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* DIR's last component, lowercased, '_', '.' and ' ' turned into '-'; may still be invalid (the caller checks). */
static void name_from_dir(const char *dir, char *out, size_t cap)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    size_t o = 0;
    for (size_t i = start; i < end && o + 1 < cap; i++) {
        char c = dir[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (c == '_' || c == '.' || c == ' ')
            c = '-';
        out[o++] = c;
    }
    out[o] = '\0';
}

/* The file's bytes with every {{key}} of vars replaced; other text, "{{" included, is kept as it is. */
static int expand(const mrun_tpl_file *f, const subst *vars, size_t n_vars, char **ret, size_t *ret_len, mrun_err *err)
{
    size_t cap = f->len + 1;
    for (int pass = 0; pass < 2; pass++) {
        mrun_autofree char *out = pass ? malloc(cap) : NULL;
        if (pass && !out)
            return mrun_err_set(err, ENOMEM, "%s", f->path);
        size_t o = 0;
        for (size_t i = 0; i < f->len;) {
            const subst *hit = NULL;
            if (f->text && f->data[i] == '{')
                for (size_t v = 0; v < n_vars && !hit; v++) {
                    size_t k = strlen(vars[v].key);
                    if (f->len - i >= k && memcmp(f->data + i, vars[v].key, k) == 0)
                        hit = &vars[v];
                }
            const char *src = hit ? hit->value : (const char *)f->data + i;
            size_t n = hit ? strlen(hit->value) : 1;
            if (pass)
                memcpy(out + o, src, n);
            else if (hit)
                cap += n; /* an upper bound: the key's bytes are counted too */
            o += n;
            i += hit ? strlen(hit->key) : 1;
        }
        if (pass) {
            out[o] = '\0';
            *ret_len = o;
            *ret = mrun_steal_ptr(&out);
        }
    }
    return 0;
}

/* Opens (creating as needed) the directories of path below root, never through a symlink; *ret_base points at
 * path's last component. */
static int open_parent(int root, const char *path, int *ret_fd, const char **ret_base, mrun_err *err)
{
    mrun_autoclose int fd = dup(root);
    if (fd < 0)
        return mrun_err_set(err, errno, "dup");
    const char *p = path;
    for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        char comp[256];
        if ((size_t)(slash - p) >= sizeof(comp))
            return mrun_err_setx(err, E2BIG, "%s: name too long", path);
        memcpy(comp, p, (size_t)(slash - p));
        comp[slash - p] = '\0';
        bool made = mkdirat(fd, comp, 0755) == 0;
        if (!made && errno != EEXIST)
            return mrun_err_set(err, errno, "create %.*s", (int)(slash - path), path);
        int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return mrun_err_set(err, errno, "%.*s (symlinks are not followed)", (int)(slash - path), path);
        if (made && fchmod(sub, 0755) < 0) { /* exactly 0755, whatever the umask; existing directories are kept */
            int e = errno;
            close(sub);
            return mrun_err_set(err, e, "chmod %.*s", (int)(slash - path), path);
        }
        close(fd);
        fd = sub;
    }
    *ret_base = p;
    *ret_fd = mrun_steal_fd(&fd);
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Creates path with O_EXCL|O_NOFOLLOW; with force, an existing non-directory of that name (a symlink included:
 * the link is removed, never followed) is replaced. The mode is set exactly, whatever the umask. */
static int write_file(int root, const mrun_tpl_file *f, const char *data, size_t len, bool force, mrun_err *err)
{
    mrun_autoclose int dfd = -1;
    const char *base = NULL;
    if (open_parent(root, f->path, &dfd, &base, err) < 0)
        return -1;
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    mrun_autoclose int fd = openat(dfd, base, flags, (mode_t)f->mode);
    if (fd < 0 && errno == EEXIST && force) {
        struct stat st;
        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            return mrun_err_setx(err, EISDIR, "%s: a directory is in the way", f->path);
        if (unlinkat(dfd, base, 0) < 0)
            return mrun_err_set(err, errno, "replace %s", f->path);
        fd = openat(dfd, base, flags, (mode_t)f->mode);
    }
    if (fd < 0)
        return mrun_err_set(err, errno, "create %s", f->path);
    if (write_all(fd, data, len) < 0 || fchmod(fd, (mode_t)f->mode) < 0)
        return mrun_err_set(err, errno, "write %s", f->path);
    return 0;
}

/* Creates dir and its missing parents (the path the user gave may go through symlinks of their own). */
static int make_dirs(const char *dir, mrun_err *err)
{
    char buf[4096];
    if ((size_t)snprintf(buf, sizeof(buf), "%s", dir) >= sizeof(buf))
        return mrun_err_setx(err, E2BIG, "%.64s...: path too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) == 0 ? chmod(buf, 0755) < 0 : errno != EEXIST)
            return mrun_err_set(err, errno, "create %s", buf);
        *p = c;
        if (c == '\0')
            return 0;
    }
}

static int open_target(const char *dir, bool force, int *ret_fd, mrun_err *err)
{
    if (make_dirs(dir, err) < 0)
        return -1;
    mrun_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "%s", dir);
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(fd, &names, &n, err) < 0)
        return mrun_err_prefix(err, "%s", dir);
    mrun_dir_names_free(names, n);
    if (n > 0 && !force)
        return mrun_err_setx(err, EEXIST,
                             "%s is not empty (%zu entries); pick a new directory, or add --force to write into it "
                             "(files with the same names are replaced)",
                             dir, n);
    *ret_fd = mrun_steal_fd(&fd);
    return 0;
}

static int write_template(const mrun_tpl *t, const char *dir, const subst *vars, size_t n_vars, bool force,
                          mrun_err *err)
{
    mrun_autoclose int root = -1;
    if (open_target(dir, force, &root, err) < 0)
        return -1;
    for (size_t i = 0; i < t->n_files; i++) {
        mrun_autofree char *data = NULL;
        size_t len = 0;
        if (expand(&t->files[i], vars, n_vars, &data, &len, err) < 0 ||
            write_file(root, &t->files[i], data, len, force, err) < 0)
            return mrun_err_prefix(err, "%s (partly written)", dir);
    }
    return 0;
}

typedef struct init_args {
    const char *tname, *app, *dir;
    bool list, force;
    int tier;
} init_args;

/* Fills a from the command line; returns -1 to go on, or the exit status (help shown, or a usage error printed). */
static int parse_args(int argc, char **argv, init_args *a)
{
    static const struct option opts[] = {{"list", no_argument, NULL, 'l'},
                                         {"template", required_argument, NULL, 't'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"tier", required_argument, NULL, 'T'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "lt:n:fh", opts, NULL)) != -1) {
        if (c == 'l')
            a->list = true;
        else if (c == 't')
            a->tname = optarg;
        else if (c == 'n')
            a->app = optarg;
        else if (c == 'f')
            a->force = true;
        else if (c == 'T' && strlen(optarg) == 1 && optarg[0] >= '0' && optarg[0] <= '2')
            a->tier = optarg[0] - '0';
        else if (c == 'T') {
            fprintf(stderr, "mrun init: --tier must be 0, 1 or 2\n");
            return 2;
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return 0;
        } else {
            fprintf(stderr, "mrun init: unknown or incomplete option '%.64s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (a->list)
        return -1;
    if (!a->tname || optind != argc - 1) {
        fprintf(stderr, "mrun init: %s\n%s",
                a->tname ? "give exactly one DIR" : "--template NAME is required (see --list)", usage_text);
        return 2;
    }
    a->dir = argv[optind];
    return -1;
}

/* The app's name: --name, or one derived from DIR (for "." or "..", from the directory they stand for). */
static const char *app_name(const init_args *a, char *buf, size_t cap)
{
    if (a->app)
        return a->app;
    mrun_autofree char *real = NULL;
    const char *last = strrchr(a->dir, '/') ? strrchr(a->dir, '/') + 1 : a->dir;
    if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
        real = realpath(a->dir, NULL);
    name_from_dir(real ? real : a->dir, buf, cap);
    return buf;
}

int mrun_cmd_init(int argc, char **argv)
{
    init_args a = {.tier = 1};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.list) {
        printf("templates (mrun init --template NAME DIR):\n");
        list_templates(stdout);
        return 0;
    }
    const mrun_tpl *t = find_template(a.tname);
    if (!t) {
        unknown_template(a.tname);
        return 2;
    }
    char derived[MAX_APP_NAME * 4];
    const char *app = app_name(&a, derived, sizeof(derived));
    if (!valid_app_name(app)) {
        fprintf(stderr,
                "mrun init: bad app name '%.64s' (lowercase letters, digits and '-', starting with a letter, at most "
                "%d characters)%s\n",
                app, MAX_APP_NAME, a.app ? "" : "; give one with --name");
        return 2;
    }
    char tier_s[2] = {(char)('0' + a.tier), '\0'};
    const subst vars[] = {{"{{app}}", app}, {"{{tier}}", tier_s}, {"{{tier_rules}}", tier_rules[a.tier]}};
    mrun_err err = MRUN_ERR_INIT;
    if (write_template(t, a.dir, vars, sizeof(vars) / sizeof(vars[0]), a.force, &err) < 0) {
        fprintf(stderr, "mrun init: %s\n", err.msg);
        return 1;
    }
    printf("created %s from template %s: app '%s', tier %d, %zu files\n\nnext:\n  mrun run %s    # its pipeline, "
           "here\n  read %s/README.md\n",
           a.dir, t->name, app, a.tier, t->n_files, a.dir, a.dir);
    return 0;
}
