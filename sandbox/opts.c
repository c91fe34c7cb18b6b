/* opts.c - sandbox options: defaults, validation, mounts and environment, and the JSON result. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox_int.h"

void mrun_sandbox_opts_init(mrun_sandbox_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mem_bytes = 512ll << 20;
    o->pids = 256;
    o->cpu_milli = 0;
    o->timeout_ms = 10ll * 60 * 1000;
    o->disk_bytes = 1ll << 30;
    o->tmpfs_bytes = 256ll << 20;
    o->fsize_bytes = 0; /* 0: follow disk_bytes */
    o->nofile = 1024;
    o->output_limit = 64ll << 20;
    o->net = MRUN_NET_NONE;
    o->hostname = "sandbox";
}

void mrun_sandbox_opts_fini(mrun_sandbox_opts *o)
{
    if (!o)
        return;
    free(o->workspace);
    for (unsigned i = 0; i < o->n_mounts; i++) {
        free(o->mounts[i].host);
        free(o->mounts[i].path);
    }
    for (unsigned i = 0; i < o->n_env; i++)
        free(o->env[i]);
    memset(o, 0, sizeof(*o));
}

/* Paths the sandbox itself provides; a user mount may not replace them. */
static bool reserved(const char *path)
{
    static const char *const names[] = {"/", "/proc", "/dev", "/workspace", "/tmp", "/etc", "/usr"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(path, names[i]) == 0)
            return true;
    return strncmp(path, "/proc/", 6) == 0 || strncmp(path, "/dev/", 5) == 0;
}

/* Absolute, no "..", no empty or "." components: the in-sandbox path is resolved under the new root by
 * the child, which must not be talked into leaving it. */
static bool clean_abs_path(const char *p)
{
    if (p[0] != '/' || strlen(p) >= 500)
        return false;
    for (const char *c = p; *c;) {
        while (*c == '/')
            c++;
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (n == 0 && e)
            return false;
        c += n;
    }
    return true;
}

int mrun_sandbox_opts_add_mount(mrun_sandbox_opts *o, const char *spec, bool writable, mrun_err *err)
{
    if (o->n_mounts >= MRUN_SANDBOX_MAX_MOUNTS)
        return mrun_err_setx(err, E2BIG, "too many mounts (at most %d)", MRUN_SANDBOX_MAX_MOUNTS);
    const char *colon = strchr(spec, ':');
    char *host = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
    char *path = strdup(colon ? colon + 1 : spec);
    if (!host || !path) {
        free(host);
        free(path);
        return mrun_err_set(err, ENOMEM, "mount '%.64s'", spec);
    }
    const char *why = NULL;
    if (host[0] != '/')
        why = "the host path must be absolute";
    else if (!clean_abs_path(path))
        why = "the sandbox path must be absolute, without '.' or '..'";
    else if (reserved(path))
        why = "the sandbox provides that path itself";
    if (why) {
        mrun_err_setx(err, EINVAL, "mount '%.64s': %s", spec, why);
        free(host);
        free(path);
        return -1;
    }
    o->mounts[o->n_mounts].host = host;
    o->mounts[o->n_mounts].path = path;
    o->mounts[o->n_mounts].writable = writable;
    o->n_mounts++;
    return 0;
}

int mrun_sandbox_opts_add_env(mrun_sandbox_opts *o, const char *kv, mrun_err *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return mrun_err_setx(err, EINVAL, "environment '%.32s…': expected NAME=VALUE", kv);
    for (const char *c = kv; c < eq; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == '_' || (c > kv && *c >= '0' && *c <= '9')))
            return mrun_err_setx(err, EINVAL, "environment name '%.*s' is not a valid name", (int)(eq - kv), kv);
    size_t nl = (size_t)(eq - kv) + 1;
    char *dup = strdup(kv);
    if (!dup)
        return mrun_err_set(err, ENOMEM, "environment");
    for (unsigned i = 0; i < o->n_env; i++) {
        if (strncmp(o->env[i], kv, nl) == 0) {
            free(o->env[i]);
            o->env[i] = dup;
            return 0;
        }
    }
    if (o->n_env >= MRUN_SANDBOX_MAX_ENV) {
        free(dup);
        return mrun_err_setx(err, E2BIG, "too many environment variables (at most %d)", MRUN_SANDBOX_MAX_ENV);
    }
    o->env[o->n_env++] = dup;
    return 0;
}

int mrun_sandbox_opts_check(const mrun_sandbox_opts *o, mrun_err *err)
{
    if (o->mem_bytes < (4ll << 20))
        return mrun_err_setx(err, EINVAL, "--mem must be at least 4M");
    if (o->pids < 2 || o->pids > 4194304)
        return mrun_err_setx(err, EINVAL, "--pids must be between 2 and 4194304 (init and the command)");
    if (o->cpu_milli < 0 || o->cpu_milli > 1024 * 1000)
        return mrun_err_setx(err, EINVAL, "--cpus must be between 0.001 and 1024");
    if (o->timeout_ms <= 0)
        return mrun_err_setx(err, EINVAL, "--timeout must be positive");
    if (o->disk_bytes < (1ll << 20))
        return mrun_err_setx(err, EINVAL, "--disk must be at least 1M");
    if (o->tmpfs_bytes < (1ll << 20))
        return mrun_err_setx(err, EINVAL, "--tmpfs-size must be at least 1M");
    if (o->fsize_bytes < 0)
        return mrun_err_setx(err, EINVAL, "--fsize must not be negative");
    if (o->nofile < 16 || o->nofile > 1048576)
        return mrun_err_setx(err, EINVAL, "--nofile must be between 16 and 1048576");
    if (o->output_limit < 0)
        return mrun_err_setx(err, EINVAL, "--output-limit must not be negative");
    if (o->workspace && o->workspace[0] != '/')
        return mrun_err_setx(err, EINVAL, "--workspace must be an absolute path");
    return 0;
}

int mrun_sandbox_result_json(const mrun_sandbox_result *r, char *buf, unsigned len)
{
    char sig[16] = "null", peak[24] = "null";
    if (r->peak_memory_bytes >= 0)
        snprintf(peak, sizeof(peak), "%" PRId64, r->peak_memory_bytes);
    if (r->signal > 0)
        snprintf(sig, sizeof(sig), "%d", r->signal);
    int n = snprintf(buf, len,
                     "{\"exit_code\":%d,\"signal\":%s,\"timed_out\":%s,\"oom_killed\":%s,\"wall_ms\":%" PRId64
                     ",\"cpu_ms\":%" PRId64 ",\"peak_memory_bytes\":%s,\"output_bytes\":%" PRId64
                     ",\"output_truncated\":%s}",
                     r->exit_code, sig, r->timed_out ? "true" : "false", r->oom_killed ? "true" : "false", r->wall_ms,
                     r->cpu_ms, peak, r->output_bytes, r->output_truncated ? "true" : "false");
    if (n < 0 || (unsigned)n >= len)
        return -1;
    return n;
}
