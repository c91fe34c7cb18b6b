/* deps_php.c - Composer's composer.lock (JSON): "packages" (required) and "packages-dev" (dev), each with name,
 * version (kept as written, "v1.2.3" included), license (an array: alternatives, joined with OR), dist (url,
 * shasum: SHA-1 when not empty) and require (edges; platform requirements such as php and ext-* are not packages). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../common/auto.h"
#include "deps_lang.h"

#define PHP_MAX_LICENSES 32

/* php, php-64bit, hhvm, ext-*, lib-*, composer, composer-plugin-api, composer-runtime-api: the platform. */
static bool is_platform(const char *name)
{
    return !strchr(name, '/') || strncmp(name, "ext-", 4) == 0 || strncmp(name, "lib-", 4) == 0;
}

/* ["MIT"] -> "MIT"; ["GPL-2.0-only", "MIT"] -> "(GPL-2.0-only OR MIT)" (Composer: the user may pick one). */
static int license_expr(lang_set *s, size_t i, json_t *lic, const char *name, mrun_err *err)
{
    if (!lic)
        return 0;
    if (json_is_string(lic)) { /* older locks */
        s->v[i].t.license = (char *)json_string_value(lic);
        return 0;
    }
    size_t n = json_array_size(lic);
    if (!json_is_array(lic) || n > PHP_MAX_LICENSES)
        return lang_err(err, s->path, 0, "license of '%.64s' is not an array of at most %d strings", name,
                        PHP_MAX_LICENSES);
    if (n == 0)
        return 0;
    size_t total = 3;
    for (size_t k = 0; k < n; k++) {
        const char *l = json_string_value(json_array_get(lic, k));
        if (!l || !*l || strlen(l) > 256)
            return lang_err(err, s->path, 0, "bad license of '%.64s'", name);
        total += strlen(l) + 4;
    }
    char *out = lang_keep(s, malloc(total), err);
    if (!out)
        return -1;
    size_t at = 0;
    if (n > 1)
        out[at++] = '(';
    for (size_t k = 0; k < n; k++) {
        const char *l = json_string_value(json_array_get(lic, k));
        if (k)
            memcpy(out + at, " OR ", 4), at += 4;
        memcpy(out + at, l, strlen(l)), at += strlen(l);
    }
    if (n > 1)
        out[at++] = ')';
    out[at] = '\0';
    s->v[i].t.license = out;
    return 0;
}

static int php_package(lang_set *s, json_t *pkg, size_t k, mrun_dep_scope scope, mrun_err *err)
{
    const char *name = json_string_value(json_object_get(pkg, "name"));
    const char *version = json_string_value(json_object_get(pkg, "version"));
    if (!json_is_object(pkg) || !name || !version)
        return lang_err(err, s->path, 0, "%s[%zu]: package without a name and version",
                        scope == MRUN_DEP_DEV ? "packages-dev" : "packages", k);
    size_t i;
    if (lang_add(s, name, version, 0, &i, err) < 0)
        return -1;
    s->v[i].t.scope = scope;
    json_t *dist = json_object_get(pkg, "dist");
    s->v[i].t.resolved = (char *)json_string_value(json_object_get(dist, "url"));
    const char *sum = json_string_value(json_object_get(dist, "shasum"));
    if (sum && *sum && lang_hash(s, i, MRUN_HASH_SHA1, sum, strlen(sum), err) < 0)
        return -1;
    return license_expr(s, i, json_object_get(pkg, "license"), name, err);
}

static int php_section(lang_set *s, json_t *doc, const char *key, mrun_dep_scope scope, mrun_err *err)
{
    json_t *arr = json_object_get(doc, key);
    if (arr && !json_is_array(arr))
        return lang_err(err, s->path, 0, "'%s' is not an array", key);
    size_t k;
    json_t *pkg;
    json_array_foreach(arr, k, pkg)
    {
        if (php_package(s, pkg, k, scope, err) < 0)
            return -1;
    }
    return 0;
}

/* require: {"psr/log": "^3.0"}: an edge to that package when the lock has it (a virtual package such as
 * psr/log-implementation is provided by another and has no edge). */
static int php_edges(lang_set *s, json_t *doc, mrun_err *err)
{
    static const char *const keys[] = {"packages", "packages-dev"};
    size_t i = 0;
    for (size_t g = 0; g < 2; g++) {
        size_t k;
        json_t *pkg;
        json_array_foreach(json_object_get(doc, keys[g]), k, pkg)
        {
            const char *dep;
            json_t *constraint;
            json_object_foreach(json_object_get(pkg, "require"), dep, constraint)
            {
                size_t to = is_platform(dep) ? SIZE_MAX : lang_find_one(s, dep, NULL);
                if (to != SIZE_MAX && lang_edge(s, i, to, MRUN_DEP_REQUIRED, err) < 0)
                    return -1;
            }
            i++;
        }
    }
    return 0;
}

int mrun_deps_parse_composer_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return mrun_err_setx(err, EPROTO, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    mrun_cleanup(lang_set_fini) lang_set s;
    lang_set_init(&s, path, "composer", false);
    int r = -1;
    if (!json_is_object(doc))
        lang_err(err, path, 0, "not a JSON object");
    else if (php_section(&s, doc, "packages", MRUN_DEP_REQUIRED, err) == 0 &&
             php_section(&s, doc, "packages-dev", MRUN_DEP_DEV, err) == 0 && lang_index(&s, err) == 0 &&
             php_edges(&s, doc, err) == 0)
        r = lang_commit(&s, d, err);
    json_decref(doc); /* after the commit: the set borrows its strings */
    return r;
}
