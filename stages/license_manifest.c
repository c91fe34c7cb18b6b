/* license_manifest.c - what one package manifest says about its package's license: package.json, composer.json,
 * *.dist-info/METADATA and *.egg-info/PKG-INFO (RFC 822 headers; the body is never read), and Cargo.toml. Pure
 * functions over a buffer (the fuzzable entry point is mrun_license_manifest_parse); license_meta.c finds the files
 * and falls back to license texts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../common/auto.h"
#include "spdx.h"
#include "toml.h"

#define SET(dst, ...) snprintf((dst), sizeof(dst), __VA_ARGS__)

/* ---- package.json, composer.json ---- */

/* A JSON license value: "MIT", {"type": "MIT"}, or an array of either (alternatives: joined with OR). */
static void json_license(json_t *v, char *out, size_t cap)
{
    out[0] = '\0';
    if (json_is_object(v))
        v = json_object_get(v, "type");
    if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
        return;
    }
    if (!json_is_array(v))
        return;
    size_t used = 0, i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (json_is_object(e))
            e = json_object_get(e, "type");
        if (!json_is_string(e) || i >= 16)
            continue;
        const char *s = json_string_value(e);
        bool paren = strchr(s, ' ') != NULL;
        int w = snprintf(out + used, cap - used, "%s%s%s%s", used ? " OR " : "", paren ? "(" : "", s, paren ? ")" : "");
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
}

static int json_manifest(const char *base, const uint8_t *buf, size_t len, mrun_license_decl *d, mrun_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return mrun_err_setx(err, EPROTO, "%s:%d:%d: %s", base, jerr.line, jerr.column,
                             root ? "not a JSON object" : jerr.text);
    }
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *version = json_string_value(json_object_get(root, "version"));
    SET(d->name, "%s", name ? name : "");
    SET(d->version, "%s", version ? version : "");
    json_license(json_object_get(root, "license"), d->license, sizeof(d->license));
    if (!d->license[0])
        json_license(json_object_get(root, "licenses"), d->license, sizeof(d->license));
    if (strncasecmp(d->license, "SEE LICENSE IN ", 15) == 0) { /* npm: the terms are in a file of the package */
        SET(d->file, "%s", d->license + 15);
        SET(d->fallback, "%s", d->license);
        d->license[0] = '\0';
    }
    json_decref(root);
    return 0;
}

/* ---- METADATA, PKG-INFO ---- */

/* The end of one header field, continuation lines (starting with a blank or tab) included. */
static const char *field_end(const char *p, const char *end)
{
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return end;
        if (nl + 1 < end && (nl[1] == ' ' || nl[1] == '\t'))
            p = nl + 1;
        else
            return nl;
    }
}

static bool key_is(const char *p, size_t kl, const char *key)
{
    return kl == strlen(key) && strncasecmp(p, key, kl) == 0;
}

/* True when text reads as one or more known SPDX licenses (so a vaguer source is not needed). */
static bool resolves(const char *text)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    if (!*text || mrun_spdx_read_declared(text, strlen(text), &e, &err) < 0)
        return false;
    bool ok = true;
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].kind == MRUN_SPDX_LEAF && !e->nodes[i].known)
            ok = false;
    mrun_spdx_free(e);
    return ok;
}

/* Adds one classifier's license ("License :: OSI Approved :: MIT License" -> "MIT License") to out as an OR
 * alternative; *all_known goes false when one does not resolve. */
static void add_classifier(const char *v, size_t vl, char *out, size_t cap, bool *all_known)
{
    const char *tail = memrchr(v, ':', vl);
    tail = tail ? tail + 1 : v;
    while (tail < v + vl && *tail == ' ')
        tail++;
    char one[200];
    snprintf(one, sizeof(one), "%.*s", (int)(v + vl - tail), tail);
    if (strcmp(one, "OSI Approved") == 0 || !one[0])
        return;
    mrun_err err = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    char *s = NULL;
    if (!resolves(one) || mrun_spdx_read_declared(one, strlen(one), &e, &err) < 0 || !(s = mrun_spdx_to_string(e)))
        *all_known = false;
    else {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s(%s)", used ? " OR " : "", s);
    }
    free(s);
    mrun_spdx_free(e);
}

typedef struct pyinfo {
    char expr[512], license[512], classifiers[512];
    bool classifiers_known;
} pyinfo;

static void py_field(const char *k, size_t kl, const char *v, size_t vl, pyinfo *pi, mrun_license_decl *d)
{
    if (key_is(k, kl, "Name"))
        SET(d->name, "%.*s", (int)vl, v);
    else if (key_is(k, kl, "Version"))
        SET(d->version, "%.*s", (int)vl, v);
    else if (key_is(k, kl, "License-Expression"))
        SET(pi->expr, "%.*s", (int)vl, v);
    else if (key_is(k, kl, "License")) {
        if (memchr(v, '\n', vl) || vl > 200) { /* setuptools puts the whole LICENSE file here */
            d->text = (const uint8_t *)v;
            d->text_len = vl;
        } else {
            SET(pi->license, "%.*s", (int)vl, v);
        }
    } else if (key_is(k, kl, "Classifier") && vl > 11 && strncmp(v, "License :: ", 11) == 0) {
        add_classifier(v, vl, pi->classifiers, sizeof(pi->classifiers), &pi->classifiers_known);
    }
}

static int python_manifest(const uint8_t *buf, size_t len, mrun_license_decl *d)
{
    mrun_autofree pyinfo *pi = calloc(1, sizeof(*pi));
    if (!pi)
        return -1;
    pi->classifiers_known = true;
    const char *p = (const char *)buf, *end = p + len;
    while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) { /* headers end at a blank line */
        const char *fe = field_end(p, end);
        const char *colon = memchr(p, ':', (size_t)(fe - p));
        if (colon) {
            const char *v = colon + 1;
            while (v < fe && (*v == ' ' || *v == '\t'))
                v++;
            size_t vl = (size_t)(fe - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            py_field(p, (size_t)(colon - p), v, vl, pi, d);
        }
        p = fe < end ? fe + 1 : end;
    }
    if (pi->expr[0])
        SET(d->license, "%s", pi->expr);
    else if (pi->classifiers[0] && pi->classifiers_known)
        SET(d->license, "%s", pi->classifiers);
    else if (pi->license[0] && resolves(pi->license))
        SET(d->license, "%s", pi->license);
    else
        SET(d->fallback, "%s", pi->license); /* free text nobody could read: shown when nothing better is found */
    if (d->license[0])
        d->text = NULL, d->text_len = 0;
    return 0;
}

/* ---- Cargo.toml ---- */

static int cargo_manifest(const uint8_t *buf, size_t len, mrun_license_decl *d, mrun_err *err)
{
    mrun_cleanup(mrun_toml_freep) mrun_toml *root = NULL;
    if (mrun_toml_parse(buf, len, &root, err) < 0)
        return mrun_err_prefix(err, "Cargo.toml");
    const mrun_toml *pkg = mrun_toml_get_table(root, "package");
    const char *s;
    if ((s = mrun_toml_get_str(pkg, "name")))
        SET(d->name, "%s", s);
    if ((s = mrun_toml_get_str(pkg, "version")))
        SET(d->version, "%s", s);
    if ((s = mrun_toml_get_str(pkg, "license")))
        SET(d->license, "%s", s);
    else if ((s = mrun_toml_get_str(pkg, "license-file")))
        SET(d->file, "%s", s);
    return 0;
}

int mrun_license_manifest_parse(const char *base, const uint8_t *buf, size_t len, mrun_license_decl *ret,
                                mrun_err *err)
{
    memset(ret, 0, sizeof(*ret));
    if (strcmp(base, "package.json") == 0 || strcmp(base, "composer.json") == 0)
        return json_manifest(base, buf, len, ret, err);
    if (strcmp(base, "METADATA") == 0 || strcmp(base, "PKG-INFO") == 0)
        return python_manifest(buf, len, ret) < 0 ? mrun_err_set(err, ENOMEM, "%s", base) : 0;
    if (strcmp(base, "Cargo.toml") == 0)
        return cargo_manifest(buf, len, ret, err);
    return mrun_err_setx(err, EINVAL, "%s: not a manifest the license check reads", base);
}
