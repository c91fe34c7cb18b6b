/* stage_preview.c - `uses: preview`: checks the step's options and asks the runner (ctx->preview) to start the
 * stage's workspace as a long-running sandboxed app behind a relay. The runner owns the preview afterwards: the
 * step passes once the app answers its health path, and the preview lives until its TTL, a newer preview of the
 * same app and ref, or `mrun preview rm`. Docs: docs/previews.md. */
#include <errno.h>
#include <string.h>

#include "../common/parse.h"
#include "stages_int.h"

#define DEFAULT_TTL_MS   (2ll * 3600 * 1000)
#define MAX_TTL_MS       (7ll * 24 * 3600 * 1000) /* the coordinator's per-tier cap may be lower */
#define DEFAULT_READY_MS (30ll * 1000)
#define DEFAULT_MEMORY   (256ll << 20)

static int parse_req(const mrun_stage_ctx *ctx, mrun_stage_preview_req *r, mrun_err *err)
{
    const char *port = mrun_stage_opt_get(ctx, "port"), *ttl = mrun_stage_opt_get(ctx, "ttl");
    const char *ready = mrun_stage_opt_get(ctx, "ready-timeout"), *mem = mrun_stage_opt_get(ctx, "memory");
    const char *vis = mrun_stage_opt_get(ctx, "visibility"), *health = mrun_stage_opt_get(ctx, "health");
    *r = (mrun_stage_preview_req){.command = mrun_stage_opt_get(ctx, "command"),
                                  .health = health ? health : "/healthz",
                                  .ttl_ms = DEFAULT_TTL_MS,
                                  .ready_ms = DEFAULT_READY_MS,
                                  .memory_bytes = DEFAULT_MEMORY};
    int64_t v = 0;
    if (!r->command || !*r->command)
        return mrun_err_setx(err, EINVAL, "preview: command is required");
    if (!port || mrun_parse_int(port, 1, 65535, &v, err) < 0)
        return mrun_err_setx(err, EINVAL, "preview: port must be 1-65535");
    r->port = (int)v;
    if (r->health[0] != '/' || strpbrk(r->health, " \r\n\t") || strlen(r->health) > 512)
        return mrun_err_setx(err, EINVAL, "preview: health must be a path such as /healthz");
    if (ttl && (mrun_parse_duration(ttl, &r->ttl_ms, err) < 0 || r->ttl_ms <= 0 || r->ttl_ms > MAX_TTL_MS))
        return mrun_err_setx(err, EINVAL, "preview: ttl must be a duration up to 7d, e.g. 2h");
    if (ready && (mrun_parse_duration(ready, &r->ready_ms, err) < 0 || r->ready_ms <= 0 || r->ready_ms > 600000))
        return mrun_err_setx(err, EINVAL, "preview: ready-timeout must be a duration up to 10m");
    if (mem && (mrun_parse_size(mem, &r->memory_bytes, err) < 0 || r->memory_bytes < (16 << 20)))
        return mrun_err_setx(err, EINVAL, "preview: memory must be a size of at least 16M");
    if (vis && strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0)
        return mrun_err_setx(err, EINVAL, "preview: visibility must be public or private");
    r->private_ = vis && strcmp(vis, "private") == 0;
    r->artifact = mrun_stage_opt_get(ctx, "artifact");
    if (r->artifact && (!*r->artifact || r->artifact[0] == '/' || strstr(r->artifact, "..")))
        return mrun_err_setx(err, EINVAL, "preview: artifact must be a relative path in the workspace, without '..'");
    return 0;
}

int mrun_stage_preview(const mrun_stage_ctx *ctx, mrun_err *err)
{
    mrun_stage_preview_req r;
    if (parse_req(ctx, &r, err) < 0)
        return -1;
    if (!ctx->preview)
        return mrun_err_setx(err, ENOTSUP, "preview: this runner cannot host previews");
    int rc = ctx->preview(ctx->preview_ctx, &r, err);
    if (r.note[0]) {
        ctx->log(ctx->log_ctx, 1, r.note, strlen(r.note));
        ctx->log(ctx->log_ctx, 1, "\n", 1);
    }
    if (rc < 0) {
        const char *msg = err->msg;
        ctx->log(ctx->log_ctx, 2, msg, strlen(msg));
        ctx->log(ctx->log_ctx, 2, "\n", 1);
        return 1; /* the app did not come up, or its artifact was refused: a failed step, the reason in the log */
    }
    return 0;
}
