/* coverage_gate.c - the coverage gate's verdict (a minimum, and no drop below the default branch's baseline) and
 * its reports: the text a person reads in the stage log or `mrun coverage`, and the same as JSON. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "coverage.h"

#define LOWEST 5

void mrun_cov_gate_eval(const mrun_cov_report *r, const mrun_cov_gate *g, mrun_cov_verdict *ret)
{
    mrun_cov_verdict v = {.percent = mrun_cov_report_percent(r)};
    v.no_lines = v.percent < 0;
    bool gated = g->min >= 0 || g->baseline >= 0;
    if (!v.no_lines) {
        v.below_min = g->min >= 0 && v.percent < g->min;
        /* the baseline travels as a decimal with 4 places: the same coverage measured again must not "drop" by
         * that rounding, so a difference under a thousandth of a point is no drop */
        v.dropped = g->baseline >= 0 && v.percent < g->baseline - (g->tolerance > 0 ? g->tolerance : 0) - 0.001;
    }
    v.passed = !(v.no_lines && gated) && !v.below_min && !v.dropped;
    *ret = v;
}

/* One decimal, rounded down so that 79.96 never reads "80.0% is below min 80%". */
static double shown(double p)
{
    return floor(p * 10 + 1e-9) / 10;
}

static const char *fmt_name(mrun_cov_format f)
{
    return f == MRUN_COV_LCOV ? "lcov" : f == MRUN_COV_COBERTURA ? "Cobertura" : "unknown";
}

/* "add tests for a.py (12.5%), b.py (40.0%)" from the lowest files below the target. */
static void fix_hint(const mrun_cov_file *const *low, size_t n, double target, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++) {
        double p = 100.0 * (double)low[i]->lines_covered / (double)low[i]->lines_valid;
        if (p >= target && i > 0)
            break;
        int w = snprintf(out + o, cap - o, "%s%.120s (%.1f%%)", o ? ", " : "add tests for ", low[i]->path, shown(p));
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (!out[0])
        snprintf(out, cap, "add tests for the uncovered code");
}

static void write_verdict(const mrun_cov_gate *g, const mrun_cov_verdict *v, const mrun_cov_file *const *low,
                          size_t n_low, FILE *out)
{
    char hint[700];
    if (v->no_lines && (g->min >= 0 || g->baseline >= 0)) {
        fprintf(out, "FAILED: the report has no line data; check that the test step measured the app's code\n");
        return;
    }
    if (v->below_min) {
        fix_hint(low, n_low, g->min, hint, sizeof(hint));
        fprintf(out, "FAILED: %s; coverage %.1f%% is below min %g%%\n", hint, shown(v->percent), g->min);
    }
    if (v->dropped) {
        fix_hint(low, n_low, g->baseline, hint, sizeof(hint));
        fprintf(out, "FAILED: %s; coverage %.1f%% dropped below the default branch's %.1f%%", hint, shown(v->percent),
                shown(g->baseline));
        if (g->tolerance > 0)
            fprintf(out, " (tolerance %g points)", g->tolerance);
        fputs(" (no-drop)\n", out);
    }
    if (!v->passed)
        return;
    fprintf(out, "passed");
    if (g->min >= 0)
        fprintf(out, ": %.1f%% meets min %g%%", shown(v->percent), g->min);
    if (g->baseline >= 0)
        fprintf(out, "%s no drop from the default branch's %.1f%%", g->min >= 0 ? " and" : ":", shown(g->baseline));
    fputc('\n', out);
}

int mrun_cov_write_text(const mrun_cov_report *r, const mrun_cov_gate *g, const mrun_cov_verdict *v, FILE *out,
                        mrun_err *err)
{
    uint64_t valid, covered;
    mrun_cov_report_totals(r, &valid, &covered);
    size_t n_files = mrun_cov_report_count(r);
    if (v->percent < 0)
        fprintf(out, "coverage: no line data in the %s report (%zu files)\n", fmt_name(mrun_cov_report_format(r)),
                n_files);
    else if (valid == 0)
        fprintf(out, "coverage: %.1f%% of lines (from the %s report's line-rate; it lists no lines)\n",
                shown(v->percent), fmt_name(mrun_cov_report_format(r)));
    else
        fprintf(out, "coverage: %.1f%% of lines (%llu of %llu) in %zu file%s (%s report)\n", shown(v->percent),
                (unsigned long long)covered, (unsigned long long)valid, n_files, n_files == 1 ? "" : "s",
                fmt_name(mrun_cov_report_format(r)));
    const mrun_cov_file *low[LOWEST];
    size_t n_low = mrun_cov_report_lowest(r, low, LOWEST);
    if (n_low)
        fprintf(out, "lowest:\n");
    for (size_t i = 0; i < n_low; i++)
        fprintf(out, "  %5.1f%%  %.512s (%llu of %llu lines)\n",
                shown(100.0 * (double)low[i]->lines_covered / (double)low[i]->lines_valid), low[i]->path,
                (unsigned long long)low[i]->lines_covered, (unsigned long long)low[i]->lines_valid);
    if (mrun_cov_report_note(r))
        fprintf(out, "note: %s\n", mrun_cov_report_note(r));
    write_verdict(g, v, low, n_low, out);
    if (ferror(out))
        return mrun_err_set(err, EIO, "coverage report");
    return 0;
}

static json_t *num_or_null(double d)
{
    return d >= 0 ? json_real(round(d * 100) / 100) : json_null();
}

static bool put(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

static json_t *json_files(const mrun_cov_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < mrun_cov_report_count(r); i++) {
        const mrun_cov_file *f = mrun_cov_report_at(r, i);
        json_t *o = json_object();
        double p = f->lines_valid ? 100.0 * (double)f->lines_covered / (double)f->lines_valid : -1;
        if (!o || json_array_append_new(a, o) < 0 || !put(o, "path", json_string(f->path)) ||
            !put(o, "lines_valid", json_integer((json_int_t)f->lines_valid)) ||
            !put(o, "lines_covered", json_integer((json_int_t)f->lines_covered)) ||
            !put(o, "percent", num_or_null(p))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int mrun_cov_write_json(const mrun_cov_report *r, const mrun_cov_gate *g, const mrun_cov_verdict *v, FILE *out,
                        mrun_err *err)
{
    uint64_t valid, covered;
    mrun_cov_report_totals(r, &valid, &covered);
    json_t *o = json_object();
    const char *note = mrun_cov_report_note(r);
    bool ok = o && put(o, "format", json_string(mrun_cov_report_format(r) == MRUN_COV_LCOV ? "lcov" : "cobertura")) &&
              put(o, "percent", num_or_null(v->percent)) && put(o, "lines_valid", json_integer((json_int_t)valid)) &&
              put(o, "lines_covered", json_integer((json_int_t)covered)) && put(o, "min", num_or_null(g->min)) &&
              put(o, "baseline", num_or_null(g->baseline)) && put(o, "tolerance", json_real(g->tolerance)) &&
              put(o, "passed", json_boolean(v->passed)) && put(o, "below_min", json_boolean(v->below_min)) &&
              put(o, "dropped", json_boolean(v->dropped)) && put(o, "note", note ? json_string(note) : json_null()) &&
              put(o, "files", json_files(r));
    int rc = ok ? json_dumpf(o, out, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : -1;
    json_decref(o);
    if (rc < 0)
        return mrun_err_set(err, ENOMEM, "coverage: json");
    fputc('\n', out);
    return ferror(out) ? mrun_err_set(err, EIO, "coverage: json") : 0;
}
