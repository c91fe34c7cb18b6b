/* license_meta.c - the licenses of packages installed or vendored in a workspace, read from their own metadata:
 * node_modules package.json, Python *.dist-info/METADATA and *.egg-info/PKG-INFO, vendored Cargo.toml and
 * composer.json, and the LICENSE/COPYING files of vendored Go modules and other vendor/ trees (identified by text).
 * Everything is read through directory fds with O_NOFOLLOW, bounded in size, depth and directory entries. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "spdx.h"

#define MAX_LICENSE_FILES 8
#define MAX_LICENSE_TEXT  (1u << 20)

/* One scan; borrowed pointers from mrun_license_meta_scan's frame; one thread. */
typedef struct meta {
    uint64_t max;
    const mrun_license_texts *texts;
    mrun_deps *d;
    mrun_deps_warn_fn warn;
    void *warn_ctx;
    size_t files, entries;
    mrun_err *err;
} meta;

static void warn(meta *m, const char *path, const char *why)
{
    if (m->warn)
        m->warn(m->warn_ctx, path, why);
}

/* Reads name in dfd whole: 0, 1 when absent / a symlink / not a regular file / too large (told through warn), -1. */
static int read_at(meta *m, int dfd, const char *name, const char *path, uint8_t **ret, size_t *ret_len)
{
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == EACCES
                   ? 1
                   : mrun_err_set(m->err, errno, "'%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mrun_err_set(m->err, errno, "'%s'", path);
    if (!S_ISREG(st.st_mode))
        return 1;
    if ((uint64_t)st.st_size > m->max) {
        char why[64];
        snprintf(why, sizeof(why), "larger than %llu bytes", (unsigned long long)m->max);
        warn(m, path, why);
        return 1;
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        return mrun_err_set(m->err, ENOMEM, "'%s'", path);
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    m->files++;
    *ret = buf;
    *ret_len = got;
    return 0;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

bool mrun_license_is_file_name(const char *name)
{
    static const char *const pre[] = {"LICENSE", "LICENCE", "COPYING", "UNLICENSE"};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
        size_t n = strlen(pre[i]);
        if (strncasecmp(name, pre[i], n) == 0 &&
            (name[n] == '\0' || name[n] == '.' || name[n] == '-' || name[n] == '_'))
            return true;
    }
    return false;
}

/* The license an identified text names: the id, "LicenseRef-mrun-near-<id>" for a modified copy, or
 * "LicenseRef-mrun-unidentified-text". */
static void text_license(meta *m, const uint8_t *buf, size_t len, char *out, size_t cap)
{
    mrun_text_id t = mrun_license_identify(m->texts, buf, len);
    if (t.match == MRUN_TEXT_EXACT || t.match == MRUN_TEXT_CONTAINS)
        snprintf(out, cap, "%s", t.id);
    else if (t.match == MRUN_TEXT_NEAR)
        snprintf(out, cap, "LicenseRef-mrun-near-%s", t.id);
    else
        snprintf(out, cap, "LicenseRef-mrun-unidentified-text");
}

/* The licenses of the LICENSE/COPYING files directly in dfd, joined with AND (every file applies), or "" when
 * there is none. names is dfd's listing. */
static int license_files(meta *m, int dfd, const char *rel, char **names, size_t n, char *out, size_t cap)
{
    out[0] = '\0';
    size_t used = 0, found = 0;
    for (size_t i = 0; i < n && found < MAX_LICENSE_FILES; i++) {
        if (!mrun_license_is_file_name(names[i]))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", rel, names[i]);
        mrun_autofree uint8_t *buf = NULL;
        size_t len;
        int r = read_at(m, dfd, names[i], path, &buf, &len);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        char id[128];
        text_license(m, buf, len, id, sizeof(id));
        if (strstr(out, id)) /* LICENSE and LICENSE.md with the same text */
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", found ? " AND " : "", id);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
        found++;
    }
    return 0;
}

static int add(meta *m, const char *eco, const char *name, const char *version, const char *license, const char *source)
{
    if (!name || !*name)
        return 0;
    mrun_dep t = {.ecosystem = eco,
                  .name = (char *)name,
                  .version = (char *)version,
                  .license = license && *license ? (char *)license : NULL,
                  .source = (char *)source};
    size_t idx;
    return mrun_deps_add(m->d, &t, &idx, m->err);
}

/* ---- package manifests ---- */

/* Reads a license file the manifest names (no path components: it must sit beside the manifest). */
static int named_file(meta *m, int dfd, const char *rel, const char *file, char *out, size_t cap)
{
    if (!file[0] || strchr(file, '/'))
        return 0;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", rel, file) >= sizeof(path))
        return 0;
    mrun_autofree uint8_t *buf = NULL;
    size_t len;
    int r = read_at(m, dfd, file, path, &buf, &len);
    if (r == 0)
        text_license(m, buf, len, out, cap);
    return r < 0 ? -1 : 0;
}

/* The license files of a metadata 2.4 wheel: <dist-info>/licenses/. */
static int wheel_licenses(meta *m, int dfd, const char *rel, char *out, size_t cap)
{
    mrun_autoclose int sub = openat(dfd, "licenses", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return 0;
    char **names = NULL;
    size_t n = 0;
    char srel[PATH_MAX];
    if ((size_t)snprintf(srel, sizeof(srel), "%s/licenses", rel) >= sizeof(srel))
        return 0;
    if (mrun_dir_names(sub, &names, &n, m->err) < 0)
        return -1;
    int r = license_files(m, sub, srel, names, n, out, cap);
    mrun_dir_names_free(names, n);
    return r;
}

/* A package directory with a manifest (package.json, composer.json, METADATA, PKG-INFO, Cargo.toml): the license it
 * declares, else the file it names, else the license text it holds, else its LICENSE/COPYING files (and a wheel's
 * licenses/), else the free text it declared. names is dfd's listing. */
static int manifest_dir(meta *m, int dfd, const char *rel, const char *file, const char *eco, char **names, size_t n)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", rel, file) >= sizeof(path))
        return 0;
    mrun_autofree uint8_t *buf = NULL;
    size_t len;
    int r = read_at(m, dfd, file, path, &buf, &len);
    if (r != 0)
        return r < 0 ? -1 : 0;
    mrun_autofree mrun_license_decl *d = malloc(sizeof(*d));
    if (!d)
        return mrun_err_set(m->err, ENOMEM, "'%s'", path);
    mrun_err perr = MRUN_ERR_INIT;
    if (mrun_license_manifest_parse(file, buf, len, d, &perr) < 0) {
        if (perr.sys_errno == ENOMEM) {
            *m->err = perr;
            return -1;
        }
        warn(m, path, perr.msg);
        return 0;
    }
    char lic[512];
    snprintf(lic, sizeof(lic), "%s", d->license);
    if (!lic[0] && named_file(m, dfd, rel, d->file, lic, sizeof(lic)) < 0)
        return -1;
    if (!lic[0] && d->text)
        text_license(m, d->text, d->text_len, lic, sizeof(lic));
    if (!lic[0] || strncmp(lic, "LicenseRef-mrun-", 16) == 0) {
        char files[512];
        if (license_files(m, dfd, rel, names, n, files, sizeof(files)) < 0 ||
            (!files[0] && ends_with(rel, ".dist-info") && wheel_licenses(m, dfd, rel, files, sizeof(files)) < 0))
            return -1;
        if (files[0])
            snprintf(lic, sizeof(lic), "%s", files);
        else if (!lic[0])
            snprintf(lic, sizeof(lic), "%s", d->fallback);
    }
    return add(m, eco, d->name, d->version[0] ? d->version : NULL, lic, path);
}

static int python_meta(meta *m, int dfd, const char *rel, char **names, size_t n)
{
    return manifest_dir(m, dfd, rel, ends_with(rel, ".dist-info") ? "METADATA" : "PKG-INFO", "pypi", names, n);
}

/* ---- the walk ---- */

typedef enum { AREA_PROJECT, AREA_VENDOR } area;

typedef struct vendor_root {
    const char *rel; /* the vendor directory */
    bool go;         /* it has modules.txt: Go modules */
    char *modules;   /* modules.txt ("# path version" lines), or NULL */
} vendor_root;

static int walk(meta *m, int dfd, const char *rel, int depth, area a, const vendor_root *vr);

static int open_sub(meta *m, int dfd, const char *name, const char *path)
{
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 && errno != ELOOP && errno != ENOTDIR && errno != ENOENT && errno != EACCES)
        return mrun_err_set(m->err, errno, "'%s'", path);
    return sub < 0 ? -2 : sub;
}

static bool has(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* The version modules.txt records for a Go module path, into out ("" when absent). */
static void go_version(const vendor_root *vr, const char *module, char *out, size_t cap)
{
    out[0] = '\0';
    size_t ml = strlen(module);
    for (const char *p = vr->modules; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > ml + 3 && strncmp(p, "# ", 2) == 0 && strncmp(p + 2, module, ml) == 0 && p[2 + ml] == ' ') {
            const char *v = p + 3 + ml;
            size_t vl = strcspn(v, " \n");
            snprintf(out, cap, "%.*s", (int)vl, v);
            return;
        }
        p = nl ? nl + 1 : p + n;
    }
}

/* A directory below vendor/: a component when it holds a manifest or a license file (then not descended). */
static int vendor_dir(meta *m, int dfd, const char *rel, char **names, size_t n, const vendor_root *vr, bool *done)
{
    *done = true;
    if (has(names, n, "composer.json"))
        return manifest_dir(m, dfd, rel, "composer.json", "composer", names, n);
    if (has(names, n, "Cargo.toml"))
        return manifest_dir(m, dfd, rel, "Cargo.toml", "cargo", names, n);
    if (has(names, n, "package.json"))
        return manifest_dir(m, dfd, rel, "package.json", "npm", names, n);
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = mrun_license_is_file_name(names[i]);
    if (!any) {
        *done = false;
        return 0;
    }
    char lic[512];
    if (license_files(m, dfd, rel, names, n, lic, sizeof(lic)) < 0)
        return -1;
    const char *name = rel + strlen(vr->rel) + 1;
    char version[128];
    go_version(vr, name, version, sizeof(version));
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++)
        if (mrun_license_is_file_name(names[i])) {
            snprintf(path, sizeof(path), "%s/%s", rel, names[i]);
            break;
        }
    return add(m, vr->go ? "golang" : "generic", name, version[0] ? version : NULL, lic, path);
}

static bool skip_dir(const char *name)
{
    static const char *const skip[] = {".git",          ".hg",  ".svn",   "__pycache__", ".mypy_cache",
                                       ".pytest_cache", ".tox", "target", ".cache"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (strcmp(name, skip[i]) == 0)
            return true;
    return false;
}

static bool is_vendor_name(const char *name)
{
    return strcmp(name, "vendor") == 0 || strcmp(name, "_vendor") == 0 || strcmp(name, "third_party") == 0 ||
           strcmp(name, "third-party") == 0;
}

static int enter_vendor(meta *m, int sub, const char *path, int depth)
{
    vendor_root vr = {.rel = path};
    uint8_t *mods = NULL;
    size_t ml;
    char mpath[PATH_MAX + 16];
    snprintf(mpath, sizeof(mpath), "%s/modules.txt", path);
    int r = read_at(m, sub, "modules.txt", mpath, &mods, &ml);
    if (r < 0)
        return -1;
    vr.go = r == 0;
    vr.modules = (char *)mods;
    r = walk(m, sub, path, depth + 1, AREA_VENDOR, &vr);
    free(mods);
    return r;
}

static int node_modules(meta *m, int dfd, const char *rel, int depth, bool scope, bool links_ok);

/* One installed npm package: its package.json, then its own node_modules. */
static int npm_package(meta *m, int dfd, const char *path, int depth)
{
    char **pn = NULL;
    size_t pc = 0;
    int r = mrun_dir_names(dfd, &pn, &pc, m->err);
    if (r == 0 && has(pn, pc, "package.json"))
        r = manifest_dir(m, dfd, path, "package.json", "npm", pn, pc);
    int nm = r == 0 && has(pn, pc, "node_modules") ? open_sub(m, dfd, "node_modules", path) : -2;
    if (nm == -1)
        r = -1;
    if (nm >= 0) {
        char npath[PATH_MAX];
        if ((size_t)snprintf(npath, sizeof(npath), "%s/node_modules", path) < sizeof(npath))
            r = node_modules(m, nm, npath, depth + 2, false, false);
        close(nm);
    }
    mrun_dir_names_free(pn, pc);
    return r;
}

/* pnpm keeps every package in node_modules/.pnpm/<name>@<version>/node_modules/<name> and links to it: read the
 * store, where the links inside are its own. */
static int pnpm_store(meta *m, int dfd, const char *rel, int depth)
{
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(dfd, &names, &n, m->err) < 0)
        return mrun_err_prefix(m->err, "'%s'", rel);
    int r = (m->entries += n) > MRUN_META_MAX_ENTRIES
                ? mrun_err_setx(m->err, E2BIG, "more than %u directory entries", MRUN_META_MAX_ENTRIES)
                : 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s/node_modules", rel, names[i]) >= sizeof(path))
            continue;
        int sub = open_sub(m, dfd, names[i], path);
        int nm = sub >= 0 ? open_sub(m, sub, "node_modules", path) : sub;
        if (nm >= 0)
            r = node_modules(m, nm, path, depth + 2, false, true);
        else if (nm == -1)
            r = -1;
        if (nm >= 0)
            close(nm);
        if (sub >= 0)
            close(sub);
    }
    mrun_dir_names_free(names, n);
    return r;
}

/* A symlink where a package belongs is not followed; say so unless it is pnpm's own link into its store. */
static void npm_link(meta *m, int dfd, const char *name, const char *path, bool links_ok)
{
    char target[PATH_MAX];
    ssize_t tl = readlinkat(dfd, name, target, sizeof(target) - 1);
    if (tl >= 0)
        target[tl] = '\0';
    if (!links_ok && (tl < 0 || (!strstr(target, ".pnpm/") && strncmp(target, "../", 3) != 0)))
        warn(m, path, "symlink");
}

/* node_modules: each entry is a package (or an @scope holding packages); a package's own node_modules nests.
 * links_ok: inside pnpm's store, where links point at packages read elsewhere. */
static int node_modules(meta *m, int dfd, const char *rel, int depth, bool scope, bool links_ok)
{
    if (depth >= MRUN_META_MAX_DEPTH)
        return mrun_err_setx(m->err, E2BIG, "'%s': deeper than %d directories", rel, MRUN_META_MAX_DEPTH);
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(dfd, &names, &n, m->err) < 0)
        return mrun_err_prefix(m->err, "'%s'", rel);
    int r = 0;
    if ((m->entries += n) > MRUN_META_MAX_ENTRIES)
        r = mrun_err_setx(m->err, E2BIG, "more than %u directory entries", MRUN_META_MAX_ENTRIES);
    for (size_t i = 0; i < n && r == 0; i++) {
        char path[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", rel, names[i]) >= sizeof(path) ||
            fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            npm_link(m, dfd, names[i], path, links_ok);
            continue;
        }
        if (names[i][0] == '.' && (scope || strcmp(names[i], ".pnpm") != 0))
            continue; /* .bin, .cache, .package-lock.json */
        int sub = open_sub(m, dfd, names[i], path);
        if (sub == -1)
            r = -1;
        if (sub < 0)
            continue;
        if (!scope && strcmp(names[i], ".pnpm") == 0)
            r = pnpm_store(m, sub, path, depth + 1);
        else if (!scope && names[i][0] == '@')
            r = node_modules(m, sub, path, depth + 1, true, links_ok);
        else
            r = npm_package(m, sub, path, depth);
        close(sub);
    }
    mrun_dir_names_free(names, n);
    return r;
}

static int walk_entry(meta *m, int dfd, const char *rel, const char *name, int depth, area a, const vendor_root *vr,
                      bool site_packages)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name) >= sizeof(path))
        return 0;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (S_ISLNK(st.st_mode) && (a == AREA_VENDOR || strcmp(name, "node_modules") == 0 || is_vendor_name(name) ||
                                ends_with(name, ".dist-info")))
        warn(m, path, "symlink"); /* where packages live: say that one was not followed */
    if (!S_ISDIR(st.st_mode) || skip_dir(name))
        return 0; /* symlinks are never followed; files are read by the directory that owns them */
    /* an egg-info outside site-packages and vendor/ is the project's own (pip install -e .), not a dependency */
    bool py = ends_with(name, ".dist-info") ||
              (ends_with(name, ".egg-info") && (site_packages || a == AREA_VENDOR || strstr(rel, "site-packages")));
    if (site_packages && !py)
        return 0; /* installed modules: their dist-info says everything */
    int sub = open_sub(m, dfd, name, path);
    if (sub == -1)
        return -1;
    if (sub < 0)
        return 0;
    int r;
    if (strcmp(name, "node_modules") == 0) {
        r = node_modules(m, sub, path, depth + 1, false, false);
    } else if (py) {
        char **pn = NULL;
        size_t pc = 0;
        r = mrun_dir_names(sub, &pn, &pc, m->err);
        if (r == 0)
            r = python_meta(m, sub, path, pn, pc);
        mrun_dir_names_free(pn, pc);
    } else if (a == AREA_PROJECT && is_vendor_name(name)) {
        r = enter_vendor(m, sub, path, depth);
    } else {
        r = walk(m, sub, path, depth + 1, a, vr);
    }
    close(sub);
    return r;
}

static int walk(meta *m, int dfd, const char *rel, int depth, area a, const vendor_root *vr)
{
    if (depth >= MRUN_META_MAX_DEPTH)
        return mrun_err_setx(m->err, E2BIG, "'%s': deeper than %d directories", rel, MRUN_META_MAX_DEPTH);
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(dfd, &names, &n, m->err) < 0)
        return mrun_err_prefix(m->err, "'%s'", *rel ? rel : ".");
    int r = 0;
    if ((m->entries += n) > MRUN_META_MAX_ENTRIES)
        r = mrun_err_setx(m->err, E2BIG, "more than %u directory entries", MRUN_META_MAX_ENTRIES);
    bool done = false;
    if (r == 0 && a == AREA_VENDOR && strcmp(rel, vr->rel) != 0)
        r = vendor_dir(m, dfd, rel, names, n, vr, &done);
    bool site = false;
    for (size_t i = 0; i < n && !site; i++)
        site = ends_with(names[i], ".dist-info");
    for (size_t i = 0; i < n && r == 0 && !done; i++)
        r = walk_entry(m, dfd, rel, names[i], depth, a, vr, site);
    mrun_dir_names_free(names, n);
    return r;
}

int mrun_license_meta_scan(int root_fd, uint64_t max_bytes, const mrun_license_texts *texts, mrun_deps *d,
                           mrun_deps_warn_fn warn_fn, void *warn_ctx, size_t *files_read, mrun_err *err)
{
    meta m = {.max = max_bytes ? max_bytes : (1u << 20),
              .texts = texts,
              .d = d,
              .warn = warn_fn,
              .warn_ctx = warn_ctx,
              .err = err};
    int r = walk(&m, root_fd, "", 0, AREA_PROJECT, NULL);
    if (files_read)
        *files_read += m.files;
    return r;
}

int mrun_license_read_beneath(int dir_fd, const char *rel, uint64_t max, uint8_t **ret_buf, size_t *ret_len,
                              mrun_err *err)
{
    char buf[PATH_MAX];
    if (rel[0] == '/' || (size_t)snprintf(buf, sizeof(buf), "%s", rel) >= sizeof(buf))
        return 1;
    mrun_autoclose int dfd = dup(dir_fd);
    if (dfd < 0)
        return mrun_err_set(err, errno, "'%s'", rel);
    char *p = buf;
    for (char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        *slash = '\0';
        if (strcmp(p, "..") == 0)
            return 1;
        int next = openat(dfd, *p ? p : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return 1;
        close(dfd);
        dfd = next;
    }
    meta m = {.max = max, .err = err};
    return read_at(&m, dfd, p, rel, ret_buf, ret_len);
}
