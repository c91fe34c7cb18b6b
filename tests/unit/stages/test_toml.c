/* test_toml.c - the private TOML reader: every value form lockfiles use, the table-definition rules, and malformed
 * or hostile documents (errors with line:col, bounded nesting), run under ASan/UBSan. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stages/toml.h"

static mrun_toml *parse_ok(const char *text)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_toml *root = NULL;
    if (mrun_toml_parse((const uint8_t *)text, strlen(text), &root, &err) < 0)
        fail_msg("parse failed: %s", err.msg);
    return root;
}

/* Parses text, expects failure with errno code and a message starting with prefix. */
static void parse_bad(const char *text, int code, const char *prefix)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_toml *root = NULL;
    int r = mrun_toml_parse((const uint8_t *)text, strlen(text), &root, &err);
    if (r == 0) {
        mrun_toml_free(root);
        fail_msg("accepted: %s", text);
    }
    assert_null(root);
    assert_int_equal(err.sys_errno, code);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("for %s: got '%s', want prefix '%s'", text, err.msg, prefix);
}

static void test_scalars(void **state)
{
    (void)state;
    mrun_toml *r = parse_ok("# comment\n"
                            "a = \"x\\ty\\u00e9\\U0001F600\\\"\" # trailing\n"
                            "b = 'C:\\path'\n"
                            "c = -42\n"
                            "d = 0xff\n"
                            "e = 1_000\n"
                            "f = true\n"
                            "g = 6.02e23\n"
                            "h = 1979-05-27T07:32:00Z\n"
                            "i = 1979-05-27 07:32:00\n"
                            "j = \"\"\"\nline1\n  line2 \\\n    joined\"\"\"\n"
                            "k = '''\nraw \\n ''it'' '''\n"
                            "\"quoted key\" = 0o17\n"
                            "l = 0b101\n"
                            "m = -inf\n"
                            "n = \"\"\"x\"\"\"\"\"\n");
    assert_string_equal(mrun_toml_get_str(r, "a"), "x\ty\xc3\xa9\xf0\x9f\x98\x80\"");
    assert_string_equal(mrun_toml_get_str(r, "b"), "C:\\path");
    int64_t v;
    assert_true(mrun_toml_get_int(r, "c", &v));
    assert_int_equal(v, -42);
    assert_true(mrun_toml_get_int(r, "d", &v));
    assert_int_equal(v, 255);
    assert_true(mrun_toml_get_int(r, "e", &v));
    assert_int_equal(v, 1000);
    assert_true(mrun_toml_get_int(r, "quoted key", &v));
    assert_int_equal(v, 15);
    assert_true(mrun_toml_get_int(r, "l", &v));
    assert_int_equal(v, 5);
    bool b = false;
    assert_true(mrun_toml_get_bool(r, "f", &b));
    assert_true(b);
    assert_int_equal(mrun_toml_type_of(mrun_toml_get(r, "g")), MRUN_TOML_FLOAT);
    assert_string_equal(mrun_toml_str(mrun_toml_get(r, "g"), NULL), "6.02e23");
    assert_int_equal(mrun_toml_type_of(mrun_toml_get(r, "h")), MRUN_TOML_DATETIME);
    assert_string_equal(mrun_toml_str(mrun_toml_get(r, "i"), NULL), "1979-05-27 07:32:00");
    assert_string_equal(mrun_toml_get_str(r, "j"), "line1\n  line2 joined");
    assert_string_equal(mrun_toml_get_str(r, "k"), "raw \\n ''it'' ");
    assert_int_equal(mrun_toml_type_of(mrun_toml_get(r, "m")), MRUN_TOML_FLOAT);
    assert_string_equal(mrun_toml_get_str(r, "n"), "x\"\"");
    assert_null(mrun_toml_get_str(r, "c")); /* wrong type */
    assert_null(mrun_toml_get(r, "absent"));
    assert_int_equal(mrun_toml_line(mrun_toml_get(r, "c")), 4);
    mrun_toml_free(r);
}

static void test_tables(void **state)
{
    (void)state;
    mrun_toml *r = parse_ok("version = 3\n"
                            "[[package]]\nname = \"a\"\ndependencies = [\n \"b\",\n \"c 1.0\", # why\n]\n"
                            "[package.source]\ntype = \"git\"\n"
                            "[[package]]\nname = \"b\"\nsdist = { url = \"u\", hash = \"sha256:00\", size = 3 }\n"
                            "wheels = [{ url = \"w\" }, { url = \"x\" }]\n"
                            "[a.b.c]\nx.y = 1\nx.z = 2\n"
                            "[a]\nq = 1\n"
                            "[dotted . \"key\"]\n");
    const mrun_toml *pkgs = mrun_toml_get_array(r, "package");
    assert_int_equal(mrun_toml_len(pkgs), 2);
    const mrun_toml *a = mrun_toml_at(pkgs, 0);
    assert_int_equal(mrun_toml_line(a), 2);
    assert_string_equal(mrun_toml_get_str(a, "name"), "a");
    assert_int_equal(mrun_toml_len(mrun_toml_get_array(a, "dependencies")), 2);
    assert_string_equal(mrun_toml_str(mrun_toml_at(mrun_toml_get_array(a, "dependencies"), 1), NULL), "c 1.0");
    assert_string_equal(mrun_toml_get_str(mrun_toml_get_table(a, "source"), "type"), "git");
    const mrun_toml *b = mrun_toml_at(pkgs, 1);
    assert_string_equal(mrun_toml_get_str(mrun_toml_get_table(b, "sdist"), "hash"), "sha256:00");
    assert_string_equal(mrun_toml_get_str(mrun_toml_at(mrun_toml_get_array(b, "wheels"), 1), "url"), "x");
    const mrun_toml *x =
        mrun_toml_get_table(mrun_toml_get_table(mrun_toml_get_table(mrun_toml_get_table(r, "a"), "b"), "c"), "x");
    int64_t v = 0;
    assert_true(mrun_toml_get_int(x, "z", &v));
    assert_int_equal(v, 2);
    assert_string_equal(mrun_toml_key_at(x, 0), "y");
    assert_non_null(mrun_toml_get_table(mrun_toml_get_table(r, "dotted"), "key"));
    mrun_toml_free(r);
}

/* A table with many keys goes through the hash index: every key must still be found, duplicates still refused. */
static void test_many_keys(void **state)
{
    (void)state;
    size_t n = 5000, cap = n * 24 + 64;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(doc + at, cap - at, "\"checksum k%zu\" = %zu\n", i, i);
    mrun_toml *r = parse_ok(doc);
    assert_int_equal(mrun_toml_len(r), n);
    int64_t v = 0;
    assert_true(mrun_toml_get_int(r, "checksum k4321", &v));
    assert_int_equal(v, 4321);
    mrun_toml_free(r);
    snprintf(doc + at, cap - at, "\"checksum k17\" = 1\n");
    parse_bad(doc, EPROTO, "5001:1: key 'checksum k17' is already defined");
    free(doc);
}

static void test_errors(void **state)
{
    (void)state;
    parse_bad("a = 1\na = 2\n", EPROTO, "2:1: key 'a' is already defined");
    parse_bad("[t]\n[t]\n", EPROTO, "2:1: table 't' is already defined");
    parse_bad("[[p]]\n[p]\n", EPROTO, "2:1: table 'p' is already defined");
    parse_bad("p = [1]\n[[p]]\n", EPROTO, "2:1: 'p' is not an array of tables");
    parse_bad("a = {x = 1}\n[a.y]\n", EPROTO, "2:1: key 'a' is not a table");
    parse_bad("a = {x = 1}\na.y = 2\n", EPROTO, "2:1: key 'a' is already defined");
    parse_bad("[a]\nb.c = 1\n[a.b]\n", EPROTO, "3:1: table 'b' is already defined");
    parse_bad("a = \"unterminated\n", EPROTO, "1:18: newline in a single-line string");
    parse_bad("a = \"bad \\q\"\n", EPROTO, "1:11: invalid escape sequence");
    parse_bad("a = \"\\uD800\"\n", EPROTO, "1:8: escape is not a Unicode scalar value");
    parse_bad("a = 1 2\n", EPROTO, "1:7: expected the end of the line");
    parse_bad("a = 012\n", EPROTO, "1:5: leading zero in a number");
    parse_bad("a = 1__0\n", EPROTO, "1:5: invalid value");
    parse_bad("a = 99999999999999999999\n", EPROTO, "1:5: integer out of range");
    parse_bad("a = [1 2]\n", EPROTO, "1:8: expected ',' or ']' in array");
    parse_bad("a = {x = 1,}\n", EPROTO, "1:12: expected a key");
    parse_bad("a = {x = 1\n", EPROTO, "1:11: expected ',' or '}' in inline table");
    parse_bad("= 1\n", EPROTO, "1:1: expected a key");
    parse_bad("a =\n", EPROTO, "1:4: expected a value");
    parse_bad("[a\n", EPROTO, "1:3: expected ']'");
    parse_bad("a = 1\nb = \"\xff\"\n", EPROTO, "2:6: invalid UTF-8");
    parse_bad("a = \"\xed\xa0\x80\"\n", EPROTO, "1:6: invalid UTF-8"); /* an encoded surrogate */
    parse_bad("a = 1 # \x01\n", EPROTO, "1:9: control character in comment");
    parse_bad("a = \"x\x7fy\"\n", EPROTO, "1:7: control character in string");
    parse_bad("a = '''x''''''\n", EPROTO, "1:9: too many quotes");
    parse_bad("\"\"\"k\"\"\" = 1\n", EPROTO, "1:1: a multi-line string cannot be a key");
}

static void test_depth_bound(void **state)
{
    (void)state;
    char doc[400];
    size_t at = (size_t)snprintf(doc, sizeof(doc), "a = ");
    for (int i = 0; i < MRUN_TOML_MAX_DEPTH; i++)
        doc[at++] = '[';
    for (int i = 0; i < MRUN_TOML_MAX_DEPTH; i++)
        doc[at++] = ']';
    doc[at] = '\0';
    mrun_toml_free(parse_ok(doc)); /* exactly at the bound */
    at = (size_t)snprintf(doc, sizeof(doc), "a = ");
    for (int i = 0; i < MRUN_TOML_MAX_DEPTH + 1; i++)
        doc[at++] = '[';
    doc[at] = '\0';
    parse_bad(doc, E2BIG, "1:69: nested deeper than 64");
    parse_bad("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.A.B.C.D.E.F.G = 1\n", E2BIG,
              "1:65: key has more than 32 parts");
}

static void test_crlf_and_bom(void **state)
{
    (void)state;
    mrun_toml *r = parse_ok("\xef\xbb\xbf"
                            "a = \"\"\"\r\nx\r\ny\"\"\"\r\n[t]\r\nb = 1\r\n");
    assert_string_equal(mrun_toml_get_str(r, "a"), "x\ny");
    assert_int_equal(mrun_toml_line(mrun_toml_get(r, "t")), 4);
    mrun_toml_free(r);
    mrun_toml *e = parse_ok("");
    assert_int_equal(mrun_toml_len(e), 0);
    mrun_toml_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars), cmocka_unit_test(test_tables),      cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_errors),  cmocka_unit_test(test_depth_bound), cmocka_unit_test(test_crlf_and_bom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
