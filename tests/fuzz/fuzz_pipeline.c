/* fuzz_pipeline.c - fuzz target for mrun_pipeline_parse (.mrun/pipeline.yml comes from untrusted repositories). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known_uses[] = {"preview",       "secret-scan",   "license-check", "llm-lint", "test-presence",
                                         "coverage-gate", "sbom",          "echo",          NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    mrun_pipeline *pl = NULL;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_pipeline_parse("fuzz.yml", data, size, &lim, known_uses, &pl, &err) < 0) {
        if (pl || strncmp(err.msg, "fuzz.yml", 8) != 0)
            abort(); /* nothing partial, and every error names the file */
        return 0;
    }
    /* Walk everything so ASan sees any dangling pointer, and check the order invariant. */
    size_t n = mrun_pipeline_stage_count(pl), total = strlen(mrun_pipeline_name(pl));
    for (size_t i = 0; i < n; i++) {
        const mrun_pipeline_stage *s = mrun_pipeline_stage_at(pl, i);
        if (s->n_steps == 0 || mrun_pipeline_stage_find(pl, s->name) != (long)i)
            abort();
        for (size_t j = 0; j < s->n_needs; j++)
            if (s->needs[j] >= i)
                abort();
        for (size_t j = 0; j < s->n_steps; j++) {
            const mrun_pipeline_step *st = &s->steps[j];
            if (!st->run == !st->uses)
                abort();
            total += strlen(st->name);
            for (size_t k = 0; k < st->n_with; k++)
                total += strlen(st->with[k].key) + strlen(st->with[k].value);
        }
        for (size_t j = 0; j < s->n_runs_on; j++)
            total += strlen(s->runs_on[j]);
        for (size_t j = 0; j < s->n_secrets; j++)
            total += strlen(s->secrets[j]);
        for (size_t j = 0; j < s->n_artifacts; j++)
            total += strlen(s->artifacts[j]);
        for (size_t j = 0; j < s->n_env; j++)
            total += strlen(s->env[j].key) + strlen(s->env[j].value);
        if (s->if_text)
            total += strlen(s->if_text);
    }
    size_t ne = 0;
    const mrun_pipeline_kv *env = mrun_pipeline_env(pl, &ne);
    for (size_t j = 0; j < ne; j++)
        total += strlen(env[j].key) + strlen(env[j].value);
    if (total > size * 4 + 4096)
        abort(); /* output can't be much bigger than input: no expansion */
    mrun_pipeline_free(pl);
    return 0;
}
