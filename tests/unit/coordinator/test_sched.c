/* test_sched.c - the DAG state machine: readiness, `if:` with status functions, skip cascades, retries, cancel,
 * pipeline state, label matching and `if:` compile errors with their file positions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "coordinator/pipeline.h"
#include "coordinator/sched.h"

static const char *const known_uses[] = {"preview", "echo", NULL};

static mrun_pipeline *parse(const char *yaml)
{
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    mrun_err err = MRUN_ERR_INIT;
    mrun_pipeline *pl = NULL;
    if (mrun_pipeline_parse("p.yml", (const uint8_t *)yaml, strlen(yaml), &lim, known_uses, &pl, &err) < 0)
        fail_msg("parse: %s", err.msg);
    return pl;
}

static mrun_sched *compile(const mrun_pipeline *pl)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_sched *s = NULL;
    if (mrun_sched_new(pl, "p.yml", &s, &err) < 0)
        fail_msg("sched: %s", err.msg);
    return s;
}

static size_t idx(const mrun_pipeline *pl, const char *name)
{
    long i = mrun_pipeline_stage_find(pl, name);
    assert_true(i >= 0);
    return (size_t)i;
}

static const mrun_sched_event push = {"push", "refs/heads/main", "main"};
static const mrun_sched_event pr = {"pull_request", "refs/pull/7/head", "feature"};

static const char linear[] = "stages:\n"
                             "  a: {steps: [{run: 'true'}]}\n"
                             "  b: {needs: [a], steps: [{run: 'true'}]}\n"
                             "  c: {needs: [b], steps: [{run: 'true'}]}\n"
                             "  d: {steps: [{run: 'true'}]}\n";

static void test_linear_pass_and_fail_cascade(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse(linear);
    mrun_sched *s = compile(pl);
    mrun_stage_state st[4];
    size_t a = idx(pl, "a"), b = idx(pl, "b"), c = idx(pl, "c"), d = idx(pl, "d");
    mrun_sched_init(s, &push, st);
    assert_int_equal(st[a], MRUN_STAGE_READY);
    assert_int_equal(st[d], MRUN_STAGE_READY);
    assert_int_equal(st[b], MRUN_STAGE_WAITING);
    assert_int_equal(st[c], MRUN_STAGE_WAITING);
    assert_int_equal(mrun_sched_pipeline_state(st, 4), MRUN_PIPELINE_QUEUED);

    st[a] = MRUN_STAGE_RUNNING;
    assert_int_equal(mrun_sched_pipeline_state(st, 4), MRUN_PIPELINE_RUNNING);
    assert_int_equal(mrun_sched_advance(s, &push, st), 0); /* nothing finished yet */
    int used = 0;
    assert_int_equal(mrun_sched_finish(s, a, true, &used, st), MRUN_STAGE_PASSED);
    assert_int_equal(mrun_sched_advance(s, &push, st), 1);
    assert_int_equal(st[b], MRUN_STAGE_READY);
    assert_int_equal(st[c], MRUN_STAGE_WAITING);

    st[b] = MRUN_STAGE_RUNNING;
    assert_int_equal(mrun_sched_finish(s, b, false, &used, st), MRUN_STAGE_FAILED);
    mrun_sched_advance(s, &push, st);
    assert_int_equal(st[c], MRUN_STAGE_SKIPPED); /* implicit success(): a failed need skips */
    st[d] = MRUN_STAGE_PASSED;
    assert_int_equal(mrun_sched_pipeline_state(st, 4), MRUN_PIPELINE_FAILED);
    mrun_sched_free(s);
    mrun_pipeline_free(pl);
}

static const char conditional[] = "stages:\n"
                                  "  build: {steps: [{run: make}]}\n"
                                  "  preview:\n"
                                  "    needs: [build]\n"
                                  "    if: event == 'pull_request'\n"
                                  "    steps: [{run: 'true'}]\n"
                                  "  after-preview: {needs: [preview], steps: [{run: 'true'}]}\n"
                                  "  notify:\n"
                                  "    needs: [build]\n"
                                  "    if: failure()\n"
                                  "    steps: [{run: 'true'}]\n"
                                  "  cleanup:\n"
                                  "    needs: [preview]\n"
                                  "    if: always()\n"
                                  "    steps: [{run: 'true'}]\n";

static void run_conditional(const mrun_sched_event *ev, bool build_passes, mrun_stage_state *st,
                            const mrun_pipeline *pl, const mrun_sched *s)
{
    mrun_sched_init(s, ev, st);
    int used = 0;
    size_t build = idx(pl, "build");
    assert_int_equal(st[build], MRUN_STAGE_READY);
    st[build] = MRUN_STAGE_RUNNING;
    mrun_sched_finish(s, build, build_passes, &used, st);
    mrun_sched_advance(s, ev, st);
}

static void test_if_and_status_functions(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse(conditional);
    mrun_sched *s = compile(pl);
    mrun_stage_state st[5];
    size_t preview = idx(pl, "preview"), after = idx(pl, "after-preview"), notify = idx(pl, "notify"),
           cleanup = idx(pl, "cleanup");

    /* push: preview's condition is false -> skipped, and so is what needs it; cleanup runs anyway. */
    run_conditional(&push, true, st, pl, s);
    assert_int_equal(st[preview], MRUN_STAGE_SKIPPED);
    assert_int_equal(st[after], MRUN_STAGE_SKIPPED);
    assert_int_equal(st[notify], MRUN_STAGE_SKIPPED);
    assert_int_equal(st[cleanup], MRUN_STAGE_READY);

    /* pull request: preview runs; notify (failure()) does not. */
    run_conditional(&pr, true, st, pl, s);
    assert_int_equal(st[preview], MRUN_STAGE_READY);
    assert_int_equal(st[notify], MRUN_STAGE_SKIPPED);
    assert_int_equal(st[cleanup], MRUN_STAGE_WAITING);

    /* pull request, build fails: preview skipped (implicit success()), notify runs. */
    run_conditional(&pr, false, st, pl, s);
    assert_int_equal(st[preview], MRUN_STAGE_SKIPPED);
    assert_int_equal(st[notify], MRUN_STAGE_READY);
    assert_int_equal(st[cleanup], MRUN_STAGE_READY);
    mrun_sched_free(s);
    mrun_pipeline_free(pl);
}

static void test_retries(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse("stages:\n  t: {retry: 2, steps: [{run: 'false'}]}\n");
    mrun_sched *s = compile(pl);
    mrun_stage_state st[1];
    mrun_sched_init(s, &push, st);
    int used = 0;
    st[0] = MRUN_STAGE_RUNNING;
    assert_int_equal(mrun_sched_finish(s, 0, false, &used, st), MRUN_STAGE_READY);
    assert_int_equal(used, 1);
    st[0] = MRUN_STAGE_RUNNING;
    assert_int_equal(mrun_sched_finish(s, 0, false, &used, st), MRUN_STAGE_READY);
    assert_int_equal(used, 2);
    st[0] = MRUN_STAGE_RUNNING;
    assert_int_equal(mrun_sched_finish(s, 0, false, &used, st), MRUN_STAGE_FAILED);
    assert_int_equal(used, 2);
    assert_int_equal(mrun_sched_pipeline_state(st, 1), MRUN_PIPELINE_FAILED);
    mrun_sched_free(s);
    mrun_pipeline_free(pl);
}

static void test_cancel(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse(linear);
    mrun_sched *s = compile(pl);
    mrun_stage_state st[4];
    mrun_sched_init(s, &push, st);
    size_t a = idx(pl, "a"), d = idx(pl, "d");
    st[a] = MRUN_STAGE_RUNNING;
    st[d] = MRUN_STAGE_PASSED;
    assert_int_equal(mrun_sched_cancel(st, 4), 3);
    assert_int_equal(st[d], MRUN_STAGE_PASSED);
    assert_int_equal(mrun_sched_pipeline_state(st, 4), MRUN_PIPELINE_CANCELLED);
    assert_int_equal(mrun_sched_advance(s, &push, st), 0);
    mrun_sched_free(s);
    mrun_pipeline_free(pl);
}

static void test_all_skipped_passes(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse("stages:\n  p: {if: \"event == 'pull_request'\", steps: [{run: 'true'}]}\n");
    mrun_sched *s = compile(pl);
    mrun_stage_state st[1];
    mrun_sched_init(s, &push, st);
    assert_int_equal(st[0], MRUN_STAGE_SKIPPED);
    assert_int_equal(mrun_sched_pipeline_state(st, 1), MRUN_PIPELINE_PASSED);
    mrun_sched_free(s);
    mrun_pipeline_free(pl);
}

static void test_tier_in_if(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse("tier: 2\nstages:\n  gate: {if: 'tier >= 2', steps: [{run: 'true'}]}\n"
                              "  low: {if: 'tier < 2', steps: [{run: 'true'}]}\n");
    mrun_sched *s = compile(pl);
    mrun_stage_state st[2];
    mrun_sched_init(s, &push, st);
    assert_int_equal(st[idx(pl, "gate")], MRUN_STAGE_READY);
    assert_int_equal(st[idx(pl, "low")], MRUN_STAGE_SKIPPED);
    mrun_sched_free(s);
    mrun_pipeline_free(pl);
}

static void test_if_errors_have_positions(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse("stages:\n  x:\n    if: event == 'push' && brnch == 'main'\n    steps: [{run: 'true'}]\n");
    mrun_err err = MRUN_ERR_INIT;
    mrun_sched *s = (mrun_sched *)0x1;
    assert_int_equal(mrun_sched_new(pl, "p.yml", &s, &err), -1);
    assert_ptr_equal(s, (mrun_sched *)0x1); /* untouched on error */
    assert_int_equal(err.sys_errno, EINVAL);
    /* the expression starts at column 9 of line 3; 'brnch' is its 20th byte, column 28 */
    if (strncmp(err.msg, "p.yml:3:28: stage 'x': if: ", 27) != 0)
        fail_msg("message: %s", err.msg);
    assert_non_null(strstr(err.msg, "branch"));
    mrun_pipeline_free(pl);
}

static void test_labels(void **state)
{
    (void)state;
    mrun_pipeline *pl = parse("stages:\n  t: {runs-on: [linux, python], steps: [{run: 'true'}]}\n"
                              "  any: {steps: [{run: 'true'}]}\n");
    const mrun_pipeline_stage *t = mrun_pipeline_stage_at(pl, (size_t)idx(pl, "t"));
    const mrun_pipeline_stage *any = mrun_pipeline_stage_at(pl, (size_t)idx(pl, "any"));
    const char *const both[] = {"python", "gpu", "linux"};
    const char *const one[] = {"linux"};
    assert_true(mrun_sched_labels_match(t, both, 3));
    assert_false(mrun_sched_labels_match(t, one, 1));
    assert_false(mrun_sched_labels_match(t, NULL, 0));
    assert_true(mrun_sched_labels_match(any, NULL, 0));
    mrun_pipeline_free(pl);
}

static void test_names(void **state)
{
    (void)state;
    for (int i = MRUN_STAGE_WAITING; i <= MRUN_STAGE_CANCELLED; i++) {
        mrun_stage_state back;
        assert_int_equal(mrun_stage_state_parse(mrun_stage_state_name((mrun_stage_state)i), &back), 0);
        assert_int_equal(back, i);
    }
    mrun_stage_state x;
    assert_int_equal(mrun_stage_state_parse("bogus", &x), -1);
    assert_string_equal(mrun_pipeline_state_name(MRUN_PIPELINE_CANCELLED), "cancelled");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_pass_and_fail_cascade),
        cmocka_unit_test(test_if_and_status_functions),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_all_skipped_passes),
        cmocka_unit_test(test_tier_in_if),
        cmocka_unit_test(test_if_errors_have_positions),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
