/* stage_sbom.c - `uses: sbom`: the workspace's dependencies as CycloneDX 1.6 and/or SPDX 2.3 JSON files written
 * into the workspace (to keep as artifacts), read from lockfiles without running anything. The log gets a summary:
 * components per ecosystem, dev and optional counts, and every lockfile that could not be read. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "deps.h"
#include "sbom.h"
#include "stages_int.h"

static void log_line(const mrun_stage_ctx *ctx, int stream, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void log_line(const mrun_stage_ctx *ctx, int stream, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        ctx->log(ctx->log_ctx, stream, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void log_warn(void *ctx, const char *path, const char *reason)
{
    log_line(ctx, 2, "sbom: skipped %.256s: %.400s\n", path, reason);
}

static int write_one(const mrun_stage_ctx *ctx, const mrun_deps *d, mrun_sbom_opts *o, const char *prefix,
                     mrun_err *err)
{
    char path[1024];
    const char *ext = o->format == MRUN_SBOM_SPDX ? ".spdx.json" : ".cdx.json";
    if (snprintf(path, sizeof(path), "%s%s", prefix, ext) >= (int)sizeof(path))
        return mrun_err_setx(err, E2BIG, "output path too long");
    mrun_autoclose int fd = mrun_stage_create_file(ctx->workspace_fd, path, err);
    if (fd < 0)
        return mrun_err_prefix(err, "output");
    FILE *out = fdopen(mrun_steal_fd(&fd), "w");
    if (!out)
        return mrun_err_set(err, errno, "'%s'", path);
    int r = mrun_sbom_write(d, o, out, err);
    if (fclose(out) != 0 && r == 0)
        r = mrun_err_set(err, errno, "'%s'", path);
    if (r < 0)
        return mrun_err_prefix(err, "'%s'", path);
    log_line(ctx, 1, "sbom: wrote %s (%s)\n", path, o->format == MRUN_SBOM_SPDX ? "SPDX 2.3" : "CycloneDX 1.6");
    return 0;
}

/* "sbom: 1234 components: npm 1200, pypi 34; 310 dev, 12 optional" */
static void log_summary(const mrun_stage_ctx *ctx, const mrun_deps *d)
{
    static const char *const eco[] = {"npm", "pypi", "golang", "cargo", "gem", "composer"};
    size_t per[sizeof(eco) / sizeof(eco[0]) + 1] = {0}, n = 0, dev = 0, opt = 0;
    for (size_t i = 0; i < mrun_deps_count(d); i++) {
        const mrun_dep *c = mrun_deps_at(d, i);
        if (c->is_project)
            continue;
        size_t k = 0;
        while (k < sizeof(eco) / sizeof(eco[0]) && (!c->ecosystem || strcmp(eco[k], c->ecosystem) != 0))
            k++;
        per[k]++;
        n++;
        dev += c->scope == MRUN_DEP_DEV;
        opt += c->scope == MRUN_DEP_OPTIONAL;
    }
    char by[256] = "";
    size_t len = 0;
    for (size_t k = 0; k <= sizeof(eco) / sizeof(eco[0]); k++)
        if (per[k] && len < sizeof(by))
            len += (size_t)snprintf(by + len, sizeof(by) - len, "%s%s %zu", len ? ", " : "",
                                    k < sizeof(eco) / sizeof(eco[0]) ? eco[k] : "other", per[k]);
    log_line(ctx, 1, "sbom: %zu components%s%s; %zu dev, %zu optional\n", n, len ? ": " : "", by, dev, opt);
}

int mrun_stage_sbom(const mrun_stage_ctx *ctx, mrun_err *err)
{
    const char *format = mrun_stage_opt_get(ctx, "format");
    const char *output = mrun_stage_opt_get(ctx, "output");
    bool cdx = true, spdx = true;
    if (format && strcmp(format, "both") != 0) {
        mrun_sbom_format f;
        if (mrun_sbom_format_parse(format, &f, err) < 0)
            return mrun_err_setx(err, EINVAL, "format must be cyclonedx, spdx or both");
        cdx = f == MRUN_SBOM_CYCLONEDX;
        spdx = f == MRUN_SBOM_SPDX;
    }
    mrun_sbom_opts o = {.app_name = mrun_stage_opt_get(ctx, "name"), .app_version = mrun_stage_opt_get(ctx, "version")};
    if (mrun_sbom_timestamp(&o.timestamp, err) < 0)
        return -1;
    mrun_cleanup(mrun_deps_freep) mrun_deps *d = NULL;
    if (mrun_deps_new(&d, err) < 0 || mrun_deps_scan(ctx->workspace_fd, d, log_warn, (void *)ctx, err) < 0)
        return -1;
    if (mrun_deps_count(d) == 0)
        log_line(ctx, 1, "sbom: no lockfile or manifest found; the SBOM lists the app alone\n");
    log_summary(ctx, d);
    o.format = MRUN_SBOM_CYCLONEDX;
    if (cdx && write_one(ctx, d, &o, output ? output : "sbom", err) < 0)
        return -1;
    o.format = MRUN_SBOM_SPDX;
    if (spdx && write_one(ctx, d, &o, output ? output : "sbom", err) < 0)
        return -1;
    return 0;
}
