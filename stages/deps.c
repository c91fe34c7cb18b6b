/* deps.c - the dependency inventory (components, edges, hashes, a name index), the dispatch of one file to its
 * lockfile reader by base name, and the workspace scan that finds lockfiles without following symlinks. The
 * readers themselves live in deps_<ecosystem>.c. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "deps_int.h"

#define SCAN_MAX_DEPTH 64

/* A change made by a parser to a component that existed before the parse started; undone if the parse fails. */
typedef struct undo {
    size_t index;
    bool is_hash; /* else an edge */
} undo;

/* Invariants: bucket[] has nbucket (a power of two, or 0) heads of chains linked through next[], holding every
 * index < n by hash(ecosystem, name). mark is the count when the current mrun_deps_parse began (SIZE_MAX outside
 * one); changes to components below mark are journalled in undo[]. */
struct mrun_deps {
    mrun_dep *v;
    size_t n, cap;
    size_t *bucket, nbucket;
    size_t *next;
    size_t mark;
    undo *undo;
    size_t n_undo, cap_undo;
    bool full; /* an add failed at MRUN_DEPS_MAX_COMPONENTS */
};

int mrun_deps_new(mrun_deps **ret, mrun_err *err)
{
    mrun_deps *d = calloc(1, sizeof(*d));
    if (!d)
        return mrun_err_set(err, ENOMEM, "dependency inventory");
    d->mark = SIZE_MAX;
    *ret = d;
    return 0;
}

static void dep_fini(mrun_dep *p)
{
    free(p->name);
    free(p->version);
    free(p->license);
    free(p->source);
    free(p->locator);
    free(p->resolved);
    for (size_t i = 0; i < p->n_hashes; i++)
        free(p->hashes[i].hex);
    free(p->hashes);
    free(p->deps);
    memset(p, 0, sizeof(*p));
}

void mrun_deps_free(mrun_deps *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        dep_fini(&d->v[i]);
    free(d->v);
    free(d->bucket);
    free(d->next);
    free(d->undo);
    free(d);
}

void mrun_deps_freep(mrun_deps **d)
{
    mrun_deps_free(*d);
    *d = NULL;
}

size_t mrun_deps_count(const mrun_deps *d)
{
    return d->n;
}

const mrun_dep *mrun_deps_at(const mrun_deps *d, size_t i)
{
    return i < d->n ? &d->v[i] : NULL;
}

mrun_dep *mrun_deps_edit(mrun_deps *d, size_t i)
{
    assert(i < d->n);
    return &d->v[i];
}

/* FNV-1a over "ecosystem\0name". */
static size_t key_hash(const char *eco, const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = eco ? eco : ""; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *s = name ? name : ""; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static void index_insert(mrun_deps *d, size_t i)
{
    size_t b = key_hash(d->v[i].ecosystem, d->v[i].name) & (d->nbucket - 1);
    d->next[i] = d->bucket[b];
    d->bucket[b] = i;
}

static void index_rebuild(mrun_deps *d)
{
    for (size_t b = 0; b < d->nbucket; b++)
        d->bucket[b] = SIZE_MAX;
    for (size_t i = 0; i < d->n; i++)
        index_insert(d, i);
}

/* Makes room for one more component (array, next[], buckets). */
static int grow(mrun_deps *d, mrun_err *err)
{
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 64;
        mrun_dep *nv = realloc(d->v, ncap * sizeof(*nv));
        if (!nv)
            return mrun_err_set(err, ENOMEM, "dependency inventory");
        d->v = nv;
        size_t *nn = realloc(d->next, ncap * sizeof(*nn));
        if (!nn)
            return mrun_err_set(err, ENOMEM, "dependency inventory");
        d->next = nn;
        d->cap = ncap;
    }
    if (d->n + 1 > d->nbucket) {
        size_t nb = d->nbucket ? d->nbucket * 2 : 64;
        size_t *bk = malloc(nb * sizeof(*bk));
        if (!bk)
            return mrun_err_set(err, ENOMEM, "dependency inventory");
        free(d->bucket);
        d->bucket = bk;
        d->nbucket = nb;
        index_rebuild(d);
    }
    return 0;
}

static int dup_str(const char *s, char **ret, mrun_err *err)
{
    *ret = NULL;
    if (s && !(*ret = strdup(s)))
        return mrun_err_set(err, ENOMEM, "dependency inventory");
    return 0;
}

static bool has_hash(const mrun_dep *p, mrun_hash_alg alg, const char *hex)
{
    for (size_t i = 0; i < p->n_hashes; i++)
        if (p->hashes[i].alg == alg && strcmp(p->hashes[i].hex, hex) == 0)
            return true;
    return false;
}

/* Appends a copy of (alg, hex) to p unless it is there; *ret_added says whether it was. */
static int push_hash(mrun_dep *p, mrun_hash_alg alg, const char *hex, bool *ret_added, mrun_err *err)
{
    *ret_added = false;
    if (has_hash(p, alg, hex))
        return 0;
    mrun_dep_hash *nh = realloc(p->hashes, (p->n_hashes + 1) * sizeof(*nh));
    if (!nh)
        return mrun_err_set(err, ENOMEM, "dependency inventory");
    p->hashes = nh;
    char *copy = strdup(hex);
    if (!copy)
        return mrun_err_set(err, ENOMEM, "dependency inventory");
    p->hashes[p->n_hashes++] = (mrun_dep_hash){alg, copy};
    *ret_added = true;
    return 0;
}

static int copy_dep(const mrun_dep *t, mrun_dep *p, mrun_err *err)
{
    memset(p, 0, sizeof(*p));
    p->ecosystem = t->ecosystem;
    p->scope = t->scope;
    p->is_project = t->is_project;
    p->direct = t->direct;
    if (dup_str(t->name, &p->name, err) < 0 || dup_str(t->version, &p->version, err) < 0 ||
        dup_str(t->license, &p->license, err) < 0 || dup_str(t->source, &p->source, err) < 0 ||
        dup_str(t->locator, &p->locator, err) < 0 || dup_str(t->resolved, &p->resolved, err) < 0)
        return -1;
    for (size_t i = 0; i < t->n_hashes; i++) {
        bool added;
        if (!t->hashes[i].hex)
            continue;
        if (push_hash(p, t->hashes[i].alg, t->hashes[i].hex, &added, err) < 0)
            return -1;
    }
    return 0;
}

int mrun_deps_add(mrun_deps *d, const mrun_dep *tmpl, size_t *ret_index, mrun_err *err)
{
    if (d->n >= MRUN_DEPS_MAX_COMPONENTS) {
        d->full = true;
        return mrun_err_setx(err, E2BIG, "more than %d components", MRUN_DEPS_MAX_COMPONENTS);
    }
    if (grow(d, err) < 0)
        return -1;
    mrun_dep *p = &d->v[d->n];
    if (copy_dep(tmpl, p, err) < 0) {
        dep_fini(p);
        return -1;
    }
    index_insert(d, d->n);
    if (ret_index)
        *ret_index = d->n;
    d->n++;
    return 0;
}

static int journal(mrun_deps *d, size_t index, bool is_hash, mrun_err *err)
{
    if (d->mark == SIZE_MAX || index >= d->mark)
        return 0;
    if (d->n_undo == d->cap_undo) {
        size_t ncap = d->cap_undo ? d->cap_undo * 2 : 64;
        undo *nu = realloc(d->undo, ncap * sizeof(*nu));
        if (!nu)
            return mrun_err_set(err, ENOMEM, "dependency inventory");
        d->undo = nu;
        d->cap_undo = ncap;
    }
    d->undo[d->n_undo++] = (undo){index, is_hash};
    return 0;
}

int mrun_deps_add_edge(mrun_deps *d, size_t from, size_t to, mrun_err *err)
{
    if (from >= d->n || to >= d->n)
        return mrun_err_setx(err, EINVAL, "dependency edge %zu -> %zu out of range", from, to);
    mrun_dep *p = &d->v[from];
    for (size_t i = 0; i < p->n_deps; i++)
        if (p->deps[i] == to)
            return 0;
    if (journal(d, from, false, err) < 0)
        return -1;
    size_t *nd = realloc(p->deps, (p->n_deps + 1) * sizeof(*nd));
    if (!nd) {
        if (d->mark != SIZE_MAX && from < d->mark)
            d->n_undo--;
        return mrun_err_set(err, ENOMEM, "dependency inventory");
    }
    p->deps = nd;
    p->deps[p->n_deps++] = to;
    return 0;
}

int mrun_deps_add_hash(mrun_deps *d, size_t i, mrun_hash_alg alg, const char *hex, mrun_err *err)
{
    if (i >= d->n)
        return mrun_err_setx(err, EINVAL, "dependency %zu out of range", i);
    if (has_hash(&d->v[i], alg, hex))
        return 0;
    if (journal(d, i, true, err) < 0)
        return -1;
    bool added;
    if (push_hash(&d->v[i], alg, hex, &added, err) < 0) {
        if (d->mark != SIZE_MAX && i < d->mark)
            d->n_undo--;
        return -1;
    }
    return 0;
}

/* Drops component n.. and the edges of earlier components that point at them. */
void mrun_deps_truncate(mrun_deps *d, size_t n)
{
    if (n >= d->n)
        return;
    for (size_t i = n; i < d->n; i++)
        dep_fini(&d->v[i]);
    d->n = n;
    for (size_t i = 0; i < n; i++) {
        mrun_dep *p = &d->v[i];
        size_t k = 0;
        for (size_t j = 0; j < p->n_deps; j++)
            if (p->deps[j] < n)
                p->deps[k++] = p->deps[j];
        p->n_deps = k;
    }
    index_rebuild(d);
}

/* Reverts the journalled changes to components that existed before the failed parse, newest first. */
static void rollback(mrun_deps *d)
{
    while (d->n_undo > 0) {
        undo u = d->undo[--d->n_undo];
        mrun_dep *p = &d->v[u.index];
        if (u.is_hash && p->n_hashes > 0)
            free(p->hashes[--p->n_hashes].hex);
        else if (!u.is_hash && p->n_deps > 0)
            p->n_deps--;
    }
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

size_t mrun_deps_find(const mrun_deps *d, const char *ecosystem, const char *name, const char *version)
{
    if (!d->nbucket)
        return SIZE_MAX;
    size_t best = SIZE_MAX;
    for (size_t i = d->bucket[key_hash(ecosystem, name) & (d->nbucket - 1)]; i != SIZE_MAX; i = d->next[i]) {
        const mrun_dep *p = &d->v[i];
        if (!same(p->ecosystem, ecosystem) || !same(p->name, name))
            continue;
        if (version && !same(p->version, version))
            continue;
        if (i < best)
            best = i;
    }
    return best;
}

const char *mrun_dep_scope_name(mrun_dep_scope s)
{
    switch (s) {
    case MRUN_DEP_REQUIRED:
        return "required";
    case MRUN_DEP_OPTIONAL:
        return "optional";
    case MRUN_DEP_DEV:
        return "dev";
    }
    return "unknown";
}

const char *mrun_hash_alg_name(mrun_hash_alg a)
{
    switch (a) {
    case MRUN_HASH_MD5:
        return "MD5";
    case MRUN_HASH_SHA1:
        return "SHA-1";
    case MRUN_HASH_SHA256:
        return "SHA-256";
    case MRUN_HASH_SHA384:
        return "SHA-384";
    case MRUN_HASH_SHA512:
        return "SHA-512";
    }
    return "unknown";
}

/* ---- the readers' string map ---- */

static size_t str_hash(const char *s)
{
    return key_hash(NULL, s);
}

static int map_rehash(mrun_deps_map *m, mrun_err *err)
{
    size_t ns = m->nslot ? m->nslot * 2 : 256;
    const char **nk = calloc(ns, sizeof(*nk));
    size_t *nv = malloc(ns * sizeof(*nv));
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return mrun_err_set(err, ENOMEM, "dependency map");
    }
    for (size_t i = 0; i < m->nslot; i++) {
        if (!m->keys[i])
            continue;
        size_t h = str_hash(m->keys[i]) & (ns - 1);
        while (nk[h])
            h = (h + 1) & (ns - 1);
        nk[h] = m->keys[i];
        nv[h] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->nslot = ns;
    return 0;
}

int mrun_deps_map_put(mrun_deps_map *m, const char *key, size_t val, bool *ret_existed, mrun_err *err)
{
    if (2 * (m->n + 1) > m->nslot && map_rehash(m, err) < 0)
        return -1;
    size_t h = str_hash(key) & (m->nslot - 1);
    for (; m->keys[h]; h = (h + 1) & (m->nslot - 1)) {
        if (strcmp(m->keys[h], key) == 0) {
            if (ret_existed)
                *ret_existed = true;
            return 0;
        }
    }
    m->keys[h] = key;
    m->vals[h] = val;
    m->n++;
    if (ret_existed)
        *ret_existed = false;
    return 0;
}

size_t mrun_deps_map_get(const mrun_deps_map *m, const char *key)
{
    if (!m->nslot)
        return SIZE_MAX;
    for (size_t h = str_hash(key) & (m->nslot - 1); m->keys[h]; h = (h + 1) & (m->nslot - 1))
        if (strcmp(m->keys[h], key) == 0)
            return m->vals[h];
    return SIZE_MAX;
}

void mrun_deps_map_fini(mrun_deps_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    mrun_deps_parser parse;
} parsers[] = {
    {"package-lock.json", mrun_deps_parse_npm_lock},
    {"npm-shrinkwrap.json", mrun_deps_parse_npm_lock},
    {"yarn.lock", mrun_deps_parse_yarn_lock},
    {"pnpm-lock.yaml", mrun_deps_parse_pnpm_lock},
    {"poetry.lock", mrun_deps_parse_poetry_lock},
    {"Pipfile.lock", mrun_deps_parse_pipfile_lock},
    {"uv.lock", mrun_deps_parse_uv_lock},
    {"go.mod", mrun_deps_parse_go_mod},
    {"go.sum", mrun_deps_parse_go_sum},
    {"Cargo.lock", mrun_deps_parse_cargo_lock},
    {"Gemfile.lock", mrun_deps_parse_gemfile_lock},
    {"composer.lock", mrun_deps_parse_composer_lock},
};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The reader for a base name, or NULL. requirements*.txt covers requirements-dev.txt and the like. */
static mrun_deps_parser parser_for(const char *base)
{
    for (size_t i = 0; i < sizeof(parsers) / sizeof(parsers[0]); i++)
        if (strcmp(base, parsers[i].name) == 0)
            return parsers[i].parse;
    size_t len = strlen(base);
    if (strncmp(base, "requirements", 12) == 0 && len >= 16 && strcmp(base + len - 4, ".txt") == 0)
        return mrun_deps_parse_requirements;
    return NULL;
}

int mrun_deps_parse(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_deps_parser parse = parser_for(base_name(path));
    if (!parse)
        return 1;
    size_t n0 = d->n;
    d->mark = n0;
    d->n_undo = 0;
    int r = parse(d, path, buf, len, err);
    if (r < 0) {
        rollback(d);
        mrun_deps_truncate(d, n0);
    }
    d->mark = SIZE_MAX;
    d->n_undo = 0;
    return r < 0 ? -1 : 0;
}

/* ---- scan ---- */

typedef struct scan {
    mrun_deps *d;
    mrun_ignore *ig;
    mrun_deps_warn_fn warn;
    void *warn_ctx;
} scan;

static void warnf(scan *s, const char *path, const char *reason)
{
    if (s->warn)
        s->warn(s->warn_ctx, path, reason);
}

/* Reads a regular file (not a symlink, not a fifo) of at most MRUN_DEPS_MAX_FILE bytes. */
static int read_bounded(int dfd, const char *name, uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    mrun_autoclose int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "open");
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "stat");
    if (!S_ISREG(st.st_mode))
        return mrun_err_setx(err, EINVAL, "not a regular file");
    if (st.st_size > (off_t)MRUN_DEPS_MAX_FILE)
        return mrun_err_setx(err, E2BIG, "larger than %u bytes", MRUN_DEPS_MAX_FILE);
    size_t cap = (size_t)st.st_size + 1; /* one more byte tells a file that grew since fstat */
    mrun_autofree uint8_t *buf = malloc(cap);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "read");
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mrun_err_set(err, errno, "read");
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got == cap)
        return mrun_err_setx(err, E2BIG, "grew while being read");
    *ret_buf = mrun_steal_ptr(&buf);
    *ret_len = got;
    return 0;
}

/* yarn.lock records neither the project's own dependency lists nor dev dependencies, and pnpm-lock.yaml not the
 * project's name: the package.json beside it does. A missing or unreadable one leaves the inventory as the
 * lockfile gave it. */
static int scan_package_json(scan *s, int dfd, const char *lock_rel, const char *lock_name, size_t first, mrun_err *err)
{
    mrun_autofree uint8_t *buf = NULL;
    size_t len = 0;
    mrun_err e = MRUN_ERR_INIT;
    char pj[4096];
    snprintf(pj, sizeof(pj), "%.*spackage.json", (int)(strlen(lock_rel) - strlen(lock_name)), lock_rel);
    if (read_bounded(dfd, "package.json", &buf, &len, &e) < 0) {
        if (e.sys_errno == ENOMEM)
            return mrun_err_setx(err, ENOMEM, "%s: %s", pj, e.msg);
        if (e.sys_errno != ENOENT)
            warnf(s, pj, e.msg);
        return 0;
    }
    if (mrun_deps_apply_package_json(s->d, first, lock_rel, strcmp(lock_name, "yarn.lock") == 0, buf, len, &e) < 0) {
        if (e.sys_errno == ENOMEM) {
            *err = e;
            return -1;
        }
        warnf(s, pj, e.msg);
    }
    return 0;
}

/* Parses one candidate file; a failure is warned about, and only ENOMEM or a full inventory stop the scan. */
static int scan_file(scan *s, int dfd, const char *name, const char *rel, mrun_err *err)
{
    mrun_autofree uint8_t *buf = NULL;
    size_t len = 0;
    mrun_err e = MRUN_ERR_INIT;
    if (read_bounded(dfd, name, &buf, &len, &e) < 0) {
        if (e.sys_errno == ENOMEM)
            return mrun_err_setx(err, ENOMEM, "%s: %s", rel, e.msg);
        warnf(s, rel, e.msg);
        return 0;
    }
    size_t first = s->d->n;
    if (mrun_deps_parse(s->d, rel, buf, len, &e) < 0) {
        if (e.sys_errno == ENOMEM || s->d->full) {
            *err = e;
            return -1;
        }
        warnf(s, rel, e.msg);
        return 0;
    }
    if (strcmp(name, "yarn.lock") == 0 || strcmp(name, "pnpm-lock.yaml") == 0)
        return scan_package_json(s, dfd, rel, name, first, err);
    return 0;
}

static bool has_entry(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Directories whose lockfiles describe installed or vendored copies, not the workspace's own declarations. */
static bool skip_dir(const char *name, const char *rel, int dfd)
{
    if (strcmp(name, ".git") == 0 || strcmp(name, "node_modules") == 0 || strcmp(name, ".venv") == 0 ||
        strcmp(name, "venv") == 0 || strcmp(name, ".virtualenvs") == 0 || strcmp(rel, ".mrun/cache") == 0)
        return true;
    if (has_entry(dfd, "pyvenv.cfg")) /* a virtualenv under any name */
        return true;
    /* Go's `go mod vendor` (modules.txt) and Composer's vendor/ (autoload.php) hold copies of dependencies */
    if (strcmp(name, "vendor") == 0 && (has_entry(dfd, "modules.txt") || has_entry(dfd, "autoload.php")))
        return true;
    return false;
}

static int scan_dir(scan *s, int dfd, const char *rel, int depth, mrun_err *err);

static int scan_entry(scan *s, int dfd, const char *rel, const char *name, int depth, mrun_err *err)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return 0; /* not reachable under PATH_MAX anyway */
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0; /* vanished */
    if (S_ISREG(st.st_mode)) {
        if (!parser_for(name) || mrun_ignore_match(s->ig, path, false))
            return 0;
        return scan_file(s, dfd, name, path, err);
    }
    if (!S_ISDIR(st.st_mode) || mrun_ignore_match(s->ig, path, true))
        return 0;
    if (depth + 1 > SCAN_MAX_DEPTH) {
        warnf(s, path, "deeper than 64 directories, not scanned");
        return 0;
    }
    mrun_autoclose int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return 0; /* replaced by a symlink since, or unreadable: nothing to read */
    if (skip_dir(name, path, sub))
        return 0;
    return scan_dir(s, sub, path, depth + 1, err);
}

static int scan_dir(scan *s, int dfd, const char *rel, int depth, mrun_err *err)
{
    mrun_err e = MRUN_ERR_INIT;
    if (mrun_ignore_load_dir(s->ig, dfd, rel, &e) < 0) {
        if (e.sys_errno == ENOMEM) {
            *err = e;
            return -1;
        }
        warnf(s, *rel ? rel : ".", e.msg);
    }
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(dfd, &names, &n, &e) < 0) {
        if (depth == 0 || e.sys_errno == ENOMEM) {
            *err = e;
            return -1;
        }
        warnf(s, rel, e.msg);
        return 0;
    }
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = scan_entry(s, dfd, rel, names[i], depth, err);
    mrun_dir_names_free(names, n);
    return r;
}

int mrun_deps_scan(int root_fd, mrun_deps *d, mrun_deps_warn_fn warn, void *warn_ctx, mrun_err *err)
{
    mrun_cleanup(mrun_ignore_freep) mrun_ignore *ig = mrun_ignore_new();
    if (!ig)
        return mrun_err_set(err, ENOMEM, "scan dependencies");
    scan s = {d, ig, warn, warn_ctx};
    if (scan_dir(&s, root_fd, "", 0, err) < 0)
        return mrun_err_prefix(err, "scan dependencies");
    return 0;
}
