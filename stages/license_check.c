/* license_check.c - the license check as a whole: the lockfile inventory (deps.h) and the installed/vendored
 * metadata (license_meta.c) give each dependency's declared license, spdx.c reads it as an SPDX expression, the
 * policy judges it, and each verdict that is not "allowed" becomes a finding at the line of the lockfile or
 * manifest that names the package; then the project's own LICENSE. */
#include <ctype.h>
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
#include "licenses.h"
#include "stages_int.h"
#include "spdx.h"

#define FIX_DENIED                                                                                                     \
    "replace the dependency with one under an allowed license, or record an exception (package, reason) under "        \
    "licenses.exceptions in .mrun/policy.yml"
#define FIX_UNKNOWN                                                                                                    \
    "find the package's real license and allow it in .mrun/policy.yml (licenses.allow, or an exception with a "        \
    "reason), or replace the package"

enum { R_DENIED, R_UNKNOWN_DENIED, R_UNKNOWN, R_UNCHECKED, R_STRONG, R_WEAK, R_PROJECT_MISSING, R_N };

static const mrun_rule rules[R_N] = {
    [R_DENIED] = {"license-denied", "dependency license is denied by the license policy", FIX_DENIED,
                  "The dependency's license is not acceptable for this app under .mrun/policy.yml: strong copyleft "
                  "(GPL, AGPL, SSPL, OSL...) is denied by default for tier 1 and higher apps, because shipping the "
                  "app would oblige you to publish all of its source under the same license; a deny list or an "
                  "allow list in the policy can deny others.",
                  MRUN_SEV_HIGH, true},
    [R_UNKNOWN_DENIED] = {"license-unknown-denied", "dependency license is unknown, and the policy fails on unknown",
                          FIX_UNKNOWN,
                          "The package declares no license, or one mrun cannot read as an SPDX license, and the "
                          "policy says `unknown: fail`. Without a license nobody may use the code at all.",
                          MRUN_SEV_HIGH, true},
    [R_UNKNOWN] = {"license-unknown", "license is unknown", FIX_UNKNOWN,
                   "The package (or the project's LICENSE file) declares no license, a free-text license that names "
                   "no single SPDX license, or a license text that is a modified copy of a known one. Someone has to "
                   "read it: unlicensed code may not be used at all, and a modified license may add terms.",
                   MRUN_SEV_MEDIUM, true},
    [R_UNCHECKED] = {"license-unchecked", "dependencies whose license the lockfile does not record, not installed",
                     "install the dependencies into the workspace before the check (npm ci, pip install --target or "
                     "a .venv, go mod vendor, cargo vendor), or use a lockfile that records licenses "
                     "(package-lock.json)",
                     "Most lockfiles (yarn.lock, pnpm-lock.yaml, requirements.txt, poetry.lock, Cargo.lock, go.sum...) "
                     "name packages without their licenses. The check reads a package's license from its installed "
                     "metadata; these packages were not installed in the workspace, so their licenses were not "
                     "checked. One finding per lockfile lists them.",
                     MRUN_SEV_MEDIUM, true},
    [R_STRONG] = {"license-copyleft-strong", "strong copyleft dependency (allowed for tier 0 apps only)",
                  "fine for a tier 0 app; before the app moves to tier 1, replace the dependency",
                  "Strong copyleft (GPL, AGPL...) requires the whole program that includes it to be published under "
                  "the same license when it is distributed (AGPL: when it is offered over a network).",
                  MRUN_SEV_MEDIUM, true},
    [R_WEAK] = {"license-copyleft-weak", "weak copyleft dependency",
                "use it unmodified, or publish your changes to it under its license",
                "Weak copyleft (LGPL, MPL, EPL, CDDL...) covers the component itself: changes to it must be "
                "published under its license, and LGPL asks that users can replace the library. Using it "
                "unmodified as a separate library is usually fine.",
                MRUN_SEV_LOW, true},
    [R_PROJECT_MISSING] = {"project-license-missing", "the project has no LICENSE file",
                           "add a LICENSE file with the license the app is published under (for internal code, say "
                           "so: e.g. 'Proprietary. All rights reserved.')",
                           "Without a LICENSE at the top of the project, nobody else may use, copy or change the "
                           "code, and tools cannot tell which license the app's own code is under.",
                           MRUN_SEV_LOW, true},
};

const mrun_rule *mrun_licenses_rules(size_t *ret_n)
{
    *ret_n = R_N;
    return rules;
}

/* Files findings point into: read on demand for line numbers and inline suppressions; owned by the check. */
typedef struct src {
    char *path;
    uint8_t *buf; /* NULL when it could not be read */
    size_t len;
    bool has_findings;
} src;

typedef struct unchecked {
    const char *source; /* borrowed from the inventory */
    size_t count;
    char names[512];
} unchecked;

typedef struct check {
    int root_fd;
    const mrun_check_opts *o;
    const mrun_license_policy *policy;
    mrun_findings *out;
    src *srcs;
    size_t n_srcs, cap_srcs;
    size_t *slots; /* index of srcs by path: n_slots (a power of two) entries, SIZE_MAX when empty */
    size_t n_slots;
    unchecked *unchecked;
    size_t n_unchecked;
    size_t skipped;
    mrun_err *err;
} check;

static void on_warn(void *ctx, const char *path, const char *reason)
{
    check *c = ctx;
    c->skipped++;
    if (c->o->skip)
        c->o->skip(c->o->skip_ctx, path, reason);
}

static size_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The slot of path in the open-addressing index (holding it, or empty: SIZE_MAX). */
static size_t *slot(const check *c, const char *path)
{
    size_t mask = c->n_slots - 1;
    for (size_t i = path_hash(path) & mask;; i = (i + 1) & mask)
        if (c->slots[i] == SIZE_MAX || strcmp(c->srcs[c->slots[i]].path, path) == 0)
            return &c->slots[i];
}

/* Keeps the index at most half full (a power of two). */
static int grow_index(check *c)
{
    if ((c->n_srcs + 1) * 2 <= c->n_slots)
        return 0;
    size_t n = c->n_slots ? c->n_slots * 2 : 64;
    size_t *nv = malloc(n * sizeof(*nv));
    if (!nv)
        return -1;
    for (size_t i = 0; i < n; i++)
        nv[i] = SIZE_MAX;
    free(c->slots);
    c->slots = nv;
    c->n_slots = n;
    for (size_t i = 0; i < c->n_srcs; i++)
        *slot(c, c->srcs[i].path) = i;
    return 0;
}

/* The source file at path, read on first use (hostile trees give one per package: indexed, not searched). */
static src *source(check *c, const char *path)
{
    if (grow_index(c) < 0)
        return NULL;
    size_t *sl = slot(c, path);
    if (*sl != SIZE_MAX)
        return &c->srcs[*sl];
    if (c->n_srcs == c->cap_srcs) {
        size_t ncap = c->cap_srcs ? c->cap_srcs * 2 : 16;
        src *nv = realloc(c->srcs, ncap * sizeof(*nv));
        if (!nv)
            return NULL;
        c->srcs = nv;
        c->cap_srcs = ncap;
    }
    src *s = &c->srcs[c->n_srcs];
    *s = (src){.path = strdup(path)};
    if (!s->path)
        return NULL;
    mrun_err e = MRUN_ERR_INIT;
    uint64_t max = c->o->max_file_bytes ? c->o->max_file_bytes : (1u << 20);
    if (max < MRUN_DEPS_MAX_FILE)
        max = MRUN_DEPS_MAX_FILE; /* lockfiles the inventory read may be larger than the scan limit */
    if (mrun_license_read_beneath(c->root_fd, path, max, &s->buf, &s->len, &e) != 0)
        s->buf = NULL;
    *sl = c->n_srcs++;
    return s;
}

/* 1-based line and column of the first needle in buf, or 0. */
static unsigned find_line(const uint8_t *buf, size_t len, const char *needle, unsigned *ret_col)
{
    size_t n = strlen(needle);
    const uint8_t *hit = n ? memmem(buf, len, needle, n) : NULL;
    if (!hit)
        return 0;
    unsigned line = 1;
    const uint8_t *bol = buf;
    for (const uint8_t *p = buf; p < hit; p++)
        if (*p == '\n')
            line++, bol = p + 1;
    *ret_col = (unsigned)(hit - bol) + 1;
    return line;
}

/* Where a component is named in its source: the lockfile entry (npm locator, quoted name, name@), or the license
 * field of a manifest. */
static unsigned locate(const src *s, const mrun_dep *d, unsigned *col)
{
    if (!s->buf)
        return 0;
    char needle[600];
    unsigned line = 0;
    if (d->locator && snprintf(needle, sizeof(needle), "\"%s\"", d->locator) < (int)sizeof(needle) &&
        (line = find_line(s->buf, s->len, needle, col)))
        return line;
    static const char *const fields[] = {
        "\"license\"", "\"licenses\"", "License-Expression:", "License:", "Classifier: License ::", "license"};
    const char *base = strrchr(s->path, '/');
    base = base ? base + 1 : s->path;
    bool manifest = strcmp(base, "package.json") == 0 || strcmp(base, "composer.json") == 0 ||
                    strcmp(base, "METADATA") == 0 || strcmp(base, "PKG-INFO") == 0 || strcmp(base, "Cargo.toml") == 0;
    for (size_t i = 0; manifest && i < sizeof(fields) / sizeof(fields[0]); i++)
        if ((line = find_line(s->buf, s->len, fields[i], col)))
            return line;
    if (manifest || mrun_license_is_file_name(base))
        return 0;
    static const char *const around[][2] = {{"\"", "\""}, {"", "@"}, {"", "="}, {"", ""}};
    for (size_t i = 0; d->name && i < sizeof(around) / sizeof(around[0]); i++)
        if (snprintf(needle, sizeof(needle), "%s%s%s", around[i][0], d->name, around[i][1]) < (int)sizeof(needle) &&
            (line = find_line(s->buf, s->len, needle, col)))
            return line;
    return 0;
}

static int report(check *c, int rule, const mrun_dep *d, const char *value)
{
    src *s = source(c, d->source ? d->source : ".");
    if (!s)
        return mrun_err_set(c->err, ENOMEM, "license check");
    unsigned col = 0, line = locate(s, d, &col);
    s->has_findings = true;
    return mrun_findings_add(c->out, &rules[rule], s->path, line, line ? col : 0, value, strlen(value), c->err);
}

/* Judges one component and reports what is not plainly allowed. */
static int judge_dep(check *c, const mrun_dep *d)
{
    if (mrun_license_policy_exception(c->policy, d->name, d->version))
        return 0;
    char who[300], value[1024];
    snprintf(who, sizeof(who), "%.200s%s%.60s", d->name ? d->name : "?", d->version ? "@" : "",
             d->version ? d->version : "");
    if (!d->license || !*d->license) {
        snprintf(value, sizeof(value), "no license declared (%s)", who);
        return c->policy->unknown == MRUN_UNKNOWN_ALLOW
                   ? 0
                   : report(c, c->policy->unknown == MRUN_UNKNOWN_FAIL ? R_UNKNOWN_DENIED : R_UNKNOWN, d, value);
    }
    mrun_cleanup(mrun_spdx_freep) mrun_spdx_expr *e = NULL;
    if (mrun_spdx_read_declared(d->license, strlen(d->license), &e, c->err) < 0)
        return -1;
    const char *why = NULL;
    const mrun_spdx_node *leaf = NULL;
    mrun_verdict v = mrun_license_policy_judge(c->policy, e, &why, &leaf);
    if (v == MRUN_VERDICT_ALLOW || (v == MRUN_VERDICT_UNKNOWN && c->policy->unknown == MRUN_UNKNOWN_ALLOW))
        return 0;
    mrun_autofree char *text = mrun_spdx_to_string(e);
    if (!text)
        return mrun_err_set(c->err, ENOMEM, "license check");
    bool compound = e->n > 1 && leaf;
    snprintf(value, sizeof(value), "%.300s (%s)%s%.100s %s", text, who, compound ? ": " : "", compound ? leaf->id : "",
             why);
    int rule = v == MRUN_VERDICT_DENY                    ? R_DENIED
               : v == MRUN_VERDICT_STRONG                ? R_STRONG
               : v == MRUN_VERDICT_WEAK                  ? R_WEAK
               : c->policy->unknown == MRUN_UNKNOWN_FAIL ? R_UNKNOWN_DENIED
                                                         : R_UNKNOWN;
    return report(c, rule, d, value);
}

/* ---- merging the two inventories ---- */

/* Python package names compare as PEP 503 normalises them: case-insensitive, runs of '-', '_', '.' equal. */
static int cmp_pypi(const char *a, const char *b)
{
    for (;;) {
        bool sa = *a == '-' || *a == '_' || *a == '.', sb = *b == '-' || *b == '_' || *b == '.';
        if (sa && sb) {
            while (*a == '-' || *a == '_' || *a == '.')
                a++;
            while (*b == '-' || *b == '_' || *b == '.')
                b++;
            continue;
        }
        int x = sa ? '-' : tolower((unsigned char)*a), y = sb ? '-' : tolower((unsigned char)*b);
        if (x != y || !x)
            return x - y;
        a++, b++;
    }
}

static int cmp_key(const mrun_dep *a, const mrun_dep *b)
{
    int r = strcmp(a->ecosystem ? a->ecosystem : "", b->ecosystem ? b->ecosystem : "");
    if (r == 0)
        r = a->ecosystem && strcmp(a->ecosystem, "pypi") == 0 ? cmp_pypi(a->name ? a->name : "", b->name ? b->name : "")
                                                              : strcmp(a->name ? a->name : "", b->name ? b->name : "");
    if (r == 0)
        r = strcmp(a->version ? a->version : "", b->version ? b->version : "");
    return r;
}

static int cmp_idx(const void *x, const void *y, void *ctx)
{
    const mrun_deps *d = ctx;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    int r = cmp_key(mrun_deps_at(d, i), mrun_deps_at(d, j));
    return r ? r : (i > j) - (i < j);
}

/* The first metadata entry with d's ecosystem, name and version, or SIZE_MAX. */
static size_t find_meta(const mrun_deps *meta, const size_t *idx, size_t n, const mrun_dep *d)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(mrun_deps_at(meta, idx[mid]), d) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && cmp_key(mrun_deps_at(meta, idx[lo]), d) == 0 ? lo : SIZE_MAX;
}

/* Lockfile components with no license anywhere, counted and named per lockfile. */
static int unchecked_add(check *c, const mrun_dep *d)
{
    if (mrun_license_policy_exception(c->policy, d->name, d->version) || c->policy->unknown == MRUN_UNKNOWN_ALLOW)
        return 0;
    unchecked *u = NULL;
    for (size_t i = c->n_unchecked; i-- > 0 && !u;) /* the latest first: a lockfile's components come together */
        if (strcmp(c->unchecked[i].source, d->source ? d->source : ".") == 0)
            u = &c->unchecked[i];
    if (!u) {
        unchecked *nv = realloc(c->unchecked, (c->n_unchecked + 1) * sizeof(*nv));
        if (!nv)
            return mrun_err_set(c->err, ENOMEM, "license check");
        c->unchecked = nv;
        u = &nv[c->n_unchecked++];
        *u = (unchecked){.source = d->source ? d->source : "."};
    }
    size_t used = strlen(u->names);
    if (used < sizeof(u->names) - 1)
        snprintf(u->names + used, sizeof(u->names) - used, "%s%s%s%s", u->count ? ", " : "", d->name ? d->name : "?",
                 d->version ? "@" : "", d->version ? d->version : "");
    u->count++;
    return 0;
}

static int unchecked_report(check *c)
{
    for (size_t i = 0; i < c->n_unchecked; i++) {
        const unchecked *u = &c->unchecked[i];
        src *s = source(c, u->source);
        if (!s)
            return mrun_err_set(c->err, ENOMEM, "license check");
        char value[300];
        bool cut = strlen(u->names) >= 150;
        snprintf(value, sizeof(value), "%zu in %s: %.150s%s", u->count, u->source, u->names, cut ? "..." : "");
        int rule = c->policy->unknown == MRUN_UNKNOWN_FAIL ? R_UNKNOWN_DENIED : R_UNCHECKED;
        if (mrun_findings_add(c->out, &rules[rule], s->path, 0, 0, value, strlen(value), c->err) < 0)
            return -1;
    }
    return 0;
}

static int judge_all(check *c, const mrun_deps *lock, const mrun_deps *meta)
{
    size_t n = mrun_deps_count(meta);
    mrun_autofree size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    mrun_autofree bool *used = calloc(n ? n : 1, sizeof(*used));
    if (!idx || !used)
        return mrun_err_set(c->err, ENOMEM, "license check");
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), cmp_idx, (void *)meta);
    for (size_t i = 0; i < mrun_deps_count(lock); i++) {
        const mrun_dep *d = mrun_deps_at(lock, i);
        if (d->is_project)
            continue;
        size_t k = find_meta(meta, idx, n, d);
        for (size_t j = k; j != SIZE_MAX && j < n && cmp_key(mrun_deps_at(meta, idx[j]), d) == 0; j++)
            used[j] = true;
        if (d->scope == MRUN_DEP_DEV) /* built and tested with, not shipped: its license does not reach the app */
            continue;
        mrun_dep merged = *d;
        if ((!d->license || !*d->license) && k != SIZE_MAX)
            merged.license = mrun_deps_at(meta, idx[k])->license; /* the lockfile does not say; the package does */
        else if (!d->license || !*d->license) {
            if (unchecked_add(c, d) < 0) /* nobody says: one finding per lockfile */
                return -1;
            continue;
        }
        if (judge_dep(c, &merged) < 0)
            return -1;
    }
    if (unchecked_report(c) < 0)
        return -1;
    for (size_t j = 0; j < n; j++) { /* installed or vendored, and in no lockfile: judged where found, once */
        if (used[j] || (j > 0 && cmp_key(mrun_deps_at(meta, idx[j - 1]), mrun_deps_at(meta, idx[j])) == 0))
            continue;
        if (judge_dep(c, mrun_deps_at(meta, idx[j])) < 0)
            return -1;
    }
    return 0;
}

/* ---- the project's own license ---- */

static int project_license(check *c, const mrun_license_texts *texts, size_t *files)
{
    char **names = NULL;
    size_t n = 0;
    if (mrun_dir_names(c->root_fd, &names, &n, c->err) < 0)
        return mrun_err_prefix(c->err, "license check");
    int r = 0;
    bool found = false;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct stat st;
        if (!mrun_license_is_file_name(names[i]) || fstatat(c->root_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISREG(st.st_mode)) {
            on_warn(c, names[i], S_ISLNK(st.st_mode) ? "symlink" : "not a regular file");
            continue;
        }
        found = true;
        src *s = source(c, names[i]);
        if (!s) {
            r = mrun_err_set(c->err, ENOMEM, "license check");
            break;
        }
        if (!s->buf)
            continue; /* too large: the walk's skip list says so */
        (*files)++;
        mrun_text_id t = mrun_license_identify(texts, s->buf, s->len);
        if (t.match == MRUN_TEXT_EXACT || t.match == MRUN_TEXT_CONTAINS)
            continue;
        char value[300];
        if (t.match == MRUN_TEXT_NEAR)
            snprintf(value, sizeof(value), "%s resembles %s (%.0f%% similar) but is modified", names[i], t.id,
                     t.confidence * 100);
        else if (t.id && t.confidence > 0.2)
            snprintf(value, sizeof(value), "%s is no license text mrun knows (closest: %s, %.0f%% similar)", names[i],
                     t.id, t.confidence * 100);
        else
            snprintf(value, sizeof(value), "%s is no license text mrun knows", names[i]);
        s->has_findings = true;
        r = mrun_findings_add(c->out, &rules[R_UNKNOWN], names[i], 0, 0, value, strlen(value), c->err);
    }
    mrun_dir_names_free(names, n);
    if (r == 0 && !found) {
        static const char v[] = "no LICENSE, LICENCE or COPYING file at the top of the project";
        r = mrun_findings_add(c->out, &rules[R_PROJECT_MISSING], "LICENSE", 0, 0, v, sizeof(v) - 1, c->err);
    }
    return r;
}

/* ---- policy and baseline ---- */

/* True when .mrun or .mrun/policy.yml exists as something other than what the check reads (a symlink, a fifo). */
static bool present(int root_fd, const char *rel)
{
    struct stat st;
    if (fstatat(root_fd, ".mrun", &st, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    if (!S_ISDIR(st.st_mode))
        return true;
    mrun_autoclose int dfd = openat(root_fd, ".mrun", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return dfd < 0 || fstatat(dfd, rel + strlen(".mrun/"), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int load_policy(int root_fd, const char *path, mrun_license_policy **ret, mrun_err *err)
{
    const char *p = path ? path : MRUN_LICENSES_POLICY;
    mrun_autofree uint8_t *buf = NULL;
    size_t len = 0;
    int r;
    if (p[0] == '/') {
        mrun_autoclose int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = dfd < 0 ? mrun_err_set(err, errno, "/")
                    : mrun_license_read_beneath(dfd, p + 1, MRUN_POLICY_MAX_FILE, &buf, &len, err);
    } else {
        r = mrun_license_read_beneath(root_fd, p, MRUN_POLICY_MAX_FILE, &buf, &len, err);
    }
    if (r < 0)
        return mrun_err_prefix(err, "policy '%s'", p);
    if (r > 0) {
        if (path || present(root_fd, p)) /* a symlinked .mrun/policy.yml must not quietly fall back to defaults */
            return mrun_err_setx(err, ENOENT, "policy '%s': no such regular file (symlinks are not followed)", p);
        return mrun_license_policy_default(ret, err);
    }
    return mrun_license_policy_parse(p, buf, len, ret, err);
}

static void check_fini(check *c)
{
    for (size_t i = 0; i < c->n_srcs; i++) {
        free(c->srcs[i].path);
        free(c->srcs[i].buf);
    }
    free(c->srcs);
    free(c->slots);
    free(c->unchecked);
}

static void texts_freep(mrun_license_texts **t)
{
    mrun_license_texts_free(*t);
}

static int run(check *c, const char *policy_path, mrun_scan_stats *st)
{
    mrun_cleanup(mrun_license_policy_freep) mrun_license_policy *policy = NULL;
    if (load_policy(c->root_fd, policy_path, &policy, c->err) < 0)
        return -1;
    c->policy = policy;
    mrun_cleanup(texts_freep) mrun_license_texts *texts = NULL;
    mrun_cleanup(mrun_deps_freep) mrun_deps *lock = NULL;
    mrun_cleanup(mrun_deps_freep) mrun_deps *meta = NULL;
    if (mrun_license_texts_new(&texts, c->err) < 0 || mrun_deps_new(&lock, c->err) < 0 ||
        mrun_deps_new(&meta, c->err) < 0)
        return -1;
    if (mrun_deps_scan(c->root_fd, lock, on_warn, c, c->err) < 0)
        return -1;
    size_t files = 0;
    if (mrun_license_meta_scan(c->root_fd, c->o->max_file_bytes, texts, meta, on_warn, c, &files, c->err) < 0)
        return mrun_err_prefix(c->err, "installed packages");
    if (judge_all(c, lock, meta) < 0 || project_license(c, texts, &files) < 0)
        return -1;
    const char *last = NULL; /* a lockfile's components are added together: count each file once */
    for (size_t i = 0; i < mrun_deps_count(lock); i++) {
        const char *s = mrun_deps_at(lock, i)->source;
        files += s && (!last || strcmp(s, last) != 0);
        last = s ? s : last;
    }
    for (size_t i = 0; i < c->n_srcs; i++)
        if (c->srcs[i].has_findings && c->srcs[i].buf)
            mrun_findings_apply_inline(c->out, c->srcs[i].path, c->srcs[i].buf, c->srcs[i].len);
    *st = (mrun_scan_stats){.files_scanned = files, .files_skipped = c->skipped};
    return mrun_check_apply_baseline(c->o, c->out, c->err);
}

int mrun_check_licenses(int root_fd, const mrun_check_opts *o, const char *policy_path, mrun_findings *out,
                        mrun_scan_stats *ret_stats, mrun_err *err)
{
    check c = {.root_fd = root_fd, .o = o, .out = out, .err = err};
    mrun_scan_stats st;
    int r = run(&c, policy_path, &st);
    check_fini(&c);
    if (r == 0 && ret_stats)
        *ret_stats = st;
    return r;
}
