/* fuzz_coverage.c - fuzz target for coverage reports (Cobertura XML and lcov), which a test step in the workspace
 * writes. The first byte selects the format (0: auto, 1: cobertura, 2: lcov); the rest is the report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "stages/coverage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mrun_cov_format fmt = data[0] % 3 == 1 ? MRUN_COV_COBERTURA : data[0] % 3 == 2 ? MRUN_COV_LCOV : MRUN_COV_AUTO;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cov_report *r = NULL;
    if (mrun_cov_parse("fuzz", data + 1, size - 1, fmt, &r, &err) < 0)
        return 0;
    /* whatever was accepted must be consistent: covered never above valid, per file and in total; the total is the
     * files' sum unless no file has lines (a Cobertura root's summary alone) */
    uint64_t valid, covered, sum_v = 0, sum_c = 0;
    mrun_cov_report_totals(r, &valid, &covered);
    for (size_t i = 0; i < mrun_cov_report_count(r); i++) {
        const mrun_cov_file *f = mrun_cov_report_at(r, i);
        if (f->lines_covered > f->lines_valid || !f->path[0])
            abort();
        sum_v += f->lines_valid;
        sum_c += f->lines_covered;
    }
    double p = mrun_cov_report_percent(r);
    if (covered > valid || (sum_v && (sum_v != valid || sum_c != covered)) || p > 100.0)
        abort();
    const mrun_cov_file *low[5];
    size_t n = mrun_cov_report_lowest(r, low, 5);
    for (size_t i = 1; i < n; i++) /* lowest first */
        if (low[i]->lines_covered * low[i - 1]->lines_valid < low[i - 1]->lines_covered * low[i]->lines_valid)
            abort();
    mrun_cov_gate g = {80, 70, 1};
    mrun_cov_verdict v;
    mrun_cov_gate_eval(r, &g, &v);
    FILE *out = fopen("/dev/null", "w");
    if (out) {
        mrun_cov_write_text(r, &g, &v, out, &err);
        mrun_cov_write_json(r, &g, &v, out, &err);
        fclose(out);
    }
    mrun_cov_report_free(r);
    return 0;
}
