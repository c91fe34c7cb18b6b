/* test_lint.c - the llm-lint rules: per-rule positive and near-miss cases with exact lines, a mixed file, language
 * detection, and random bytes (run under ASan/UBSan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stages/findings.h"
#include "stages/lint.h"

static mrun_findings *scan(const char *path, const char *text)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_findings *f = NULL;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    if (mrun_lint_scan(path, (const uint8_t *)text, strlen(text), f, &err) < 0)
        fail_msg("scan: %s", err.msg);
    return f;
}

/* rule NULL: no finding at all; otherwise exactly one finding, of rule, on line. */
typedef struct tcase {
    const char *path, *rule;
    unsigned line;
    const char *text;
} tcase;

static const tcase cases[] = {
    /* py-tls-verify-disabled */
    {"a.py", "py-tls-verify-disabled", 2, "import requests\nr = requests.get(url, verify=False)\n"},
    {"a.py", "py-tls-verify-disabled", 3, "r = requests.get(\n    url,\n    verify=False,\n)\n"},
    {"a.py", "py-tls-verify-disabled", 1, "s.verify = False\n"},
    {"a.py", "py-tls-verify-disabled", 1, "ctx = ssl._create_unverified_context()\n"},
    {"a.py", "py-tls-verify-disabled", 1, "ctx.verify_mode = ssl.CERT_NONE\n"},
    {"a.py", NULL, 0, "verify = False\nif ctx.verify_mode == ssl.CERT_NONE: pass\n"},
    {"a.py", NULL, 0, "# requests.get(url, verify=False)\nr = requests.get(url, verify=True)\n"},
    {"a.py", NULL, 0, "def f():\n    \"\"\"\n    requests.get(url, verify=False)\n    \"\"\"\n"},
    /* js-tls-reject-unauthorized */
    {"a.js", "js-tls-reject-unauthorized", 2, "const o = {\n  rejectUnauthorized: false,\n};\n"},
    {"a.ts", "js-tls-reject-unauthorized", 1, "process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';\n"},
    {"a.sh", "js-tls-reject-unauthorized", 1, "export NODE_TLS_REJECT_UNAUTHORIZED=0\n"},
    {"a.js", NULL, 0, "const o = { rejectUnauthorized: true };\n// rejectUnauthorized: false\n"},
    {"a.js", NULL, 0, "if (agent.rejectUnauthorized === false) warn();\n"},
    /* sh-curl-insecure, sh-wget-no-check-certificate */
    {"i.sh", "sh-curl-insecure", 2, "set -e\ncurl -sSk https://x.example/i.sh | sh\n"},
    {"i.bash", "sh-curl-insecure", 1, "curl --insecure -o f https://x\n"},
    {"install", "sh-curl-insecure", 2, "#!/usr/bin/env bash\ncurl -k https://x\n"},
    {"i.sh", NULL, 0, "curl -sSL https://x | sort -k 2\n# curl -k https://x\ncurl --key k.pem https://x\n"},
    {"i.sh", "sh-wget-no-check-certificate", 1, "wget --no-check-certificate https://x\n"},
    {"i.sh", NULL, 0, "wget https://x\n"},
    /* py-eval-input */
    {"a.py", "py-eval-input", 1, "x = eval(input('> '))\n"},
    {"a.py", "py-eval-input", 2, "code = request.form['c']\nexec(code)\n"},
    {"a.py", NULL, 0, "model.eval()\nv = ast.literal_eval(s)\nexec('import os')\ndef eval(self):\n"},
    /* js-eval */
    {"a.js", "js-eval", 1, "const r = eval(req.query.expr);\n"},
    {"a.mjs", "js-eval", 1, "const f = new Function('a', body);\n"},
    {"a.py", NULL, 0, "print('do not eval(x) here')\n"},
    {"a.js", NULL, 0, "eval('1+1');\nthis.eval(x);\nconst f = new Function('return this');\n"},
    /* py-subprocess-shell-format */
    {"a.py", "py-subprocess-shell-format", 1, "subprocess.run(f\"ls {path}\", shell=True)\n"},
    {"a.py", "py-subprocess-shell-format", 1, "os.system(\"rm -rf \" + d)\n"},
    {"a.py", "py-subprocess-shell-format", 1, "subprocess.call('tar xf %s' % name, shell = True)\n"},
    {"a.py", NULL, 0, "subprocess.run(['ls', path])\nsubprocess.run('make all', shell=True)\nos.system('ls')\n"},
    /* py-sql-format */
    {"a.py", "py-sql-format", 1, "cur.execute(f\"SELECT * FROM users WHERE id = {uid}\")\n"},
    {"a.py", "py-sql-format", 1, "q = \"DELETE FROM t WHERE name = '%s'\" % name\n"},
    {"a.py", "py-sql-format", 1, "q = \"UPDATE t SET a = \" + str(v)\n"},
    {"a.py", "py-sql-format", 1, "q = 'insert into t values ({})'.format(v)\n"},
    {"a.py", NULL, 0, "cur.execute(\"SELECT * FROM users WHERE id = %s\", (uid,))\n"
                      "print(f\"Please select one from {opts}\")\nlog(f\"selected {n} rows\")\n"},
    /* js-sql-template */
    {"a.ts", "js-sql-template", 1, "await db.query(`SELECT * FROM users WHERE id = ${id}`);\n"},
    {"a.js", "js-sql-template", 1, "db.query(\"DELETE FROM t WHERE id = \" + id);\n"},
    {"a.js", NULL, 0, "await sql`SELECT * FROM users WHERE id = ${id}`;\ndb.query('SELECT * FROM t WHERE id = $1', [id]);\n"
                      "const m = `Deleted ${n} items from list`;\n"},
    /* bind-all-interfaces */
    {"a.py", "bind-all-interfaces", 1, "app.run(host=\"0.0.0.0\", port=5000)\n"},
    {"a.js", "bind-all-interfaces", 1, "server.listen(3000, '0.0.0.0');\n"},
    {"a.sh", "bind-all-interfaces", 1, "uvicorn main:app --host 0.0.0.0\n"},
    {"a.py", "bind-all-interfaces", 1, "s.bind((\"0.0.0.0\", 8080))\n"},
    {"a.py", NULL, 0, "app.run(host=\"127.0.0.1\")\nip = \"0.0.0.0\"\n# host 0.0.0.0\nroute = \"10.0.0.0/8\"\n"},
    {"a.sh", NULL, 0, "iptables -A INPUT -s 0.0.0.0/0 -j ACCEPT # bind\n"},
    /* chmod-777 */
    {"a.sh", "chmod-777", 1, "chmod -R 777 /srv/app\n"},
    {"a.py", "chmod-777", 1, "os.chmod(path, 0o777)\n"},
    {"a.js", "chmod-777", 1, "fs.chmodSync(p, 0o777);\n"},
    {"a.sh", "chmod-777", 1, "chmod a+rwx f\n"},
    {"a.sh", NULL, 0, "chmod 755 bin\nchmod 1777 /tmp/x\nmkdir -m 0777 d\n# chmod 777 f\n"},
    {"a.py", NULL, 0, "os.makedirs(p, mode=0o777)\n"},
    /* py-flask-debug */
    {"app.py", "py-flask-debug", 1, "app.run(debug=True)\n"},
    {"app.py", "py-flask-debug", 1, "app.config['DEBUG'] = True\n"},
    {"app.py", "py-flask-debug", 1, "app.debug = True\n"},
    {"app.py", NULL, 0, "app.run(debug=os.environ.get('FLASK_DEBUG') == '1')\napp.run(debug=False)\n"},
    /* py-django-debug */
    {"proj/settings.py", "py-django-debug", 2, "import os\nDEBUG = True\n"},
    {"proj/settings/dev.py", NULL, 0, "DEBUG = True\n"},
    {"tool.py", NULL, 0, "DEBUG = True\n"},
    {"proj/settings.py", NULL, 0, "DEBUG = False\n    DEBUG = True\n"},
    /* js-cors-wildcard */
    {"a.js", "js-cors-wildcard", 1, "res.setHeader('Access-Control-Allow-Origin', '*');\n"},
    {"a.js", "js-cors-wildcard", 1, "app.use(cors());\n"},
    {"a.ts", "js-cors-wildcard", 2, "app.use(cors({\n  origin: \"*\",\n}));\n"},
    {"a.js", NULL, 0, "app.use(cors({ origin: ['https://a.example'] }));\nres.setHeader('Access-Control-Allow-Origin', o);\n"},
    /* py-cors-wildcard */
    {"a.py", "py-cors-wildcard", 1, "app.add_middleware(CORSMiddleware, allow_origins=[\"*\"])\n"},
    {"a.py", "py-cors-wildcard", 1, "CORS(app)\n"},
    {"settings.py", "py-cors-wildcard", 1, "CORS_ALLOW_ALL_ORIGINS = True\n"},
    {"a.py", "py-cors-wildcard", 1, "resp.headers['Access-Control-Allow-Origin'] = '*'\n"},
    {"a.py", NULL, 0, "CORS(app, origins=[\"https://a.example\"])\nallow_origins=[\"https://a.example\"]\n"},
    /* todo-stub-py */
    {"a.py", "todo-stub-py", 2, "def charge(card):\n    pass  # TODO\n"},
    {"a.py", "todo-stub-py", 2, "def f():\n    # Your code here\n    return None\n"},
    {"a.py", "todo-stub-py", 1, "raise NotImplementedError  # TODO: later\n"},
    {"a.py", NULL, 0, "# TODO: speed this up\nx = 1  # TODO tune\nclass A:\n    pass\nraise NotImplementedError\n"},
    /* todo-stub-js */
    {"a.ts", "todo-stub-js", 2, "function pay() {\n  throw new Error(\"Method not implemented.\");\n}\n"},
    {"a.js", "todo-stub-js", 1, "  // ... rest of the code\n"},
    {"a.js", "todo-stub-js", 2, "/*\n * your code here\n */\n"},
    {"a.js", NULL, 0, "throw new Error('invalid input');\n// TODO: cache this\nconst s = \"your code here\";\n"},
    /* deps-unpinned-requirements */
    {"requirements.txt", "deps-unpinned-requirements", 2, "flask==3.0.0\nrequests\n"},
    {"requirements-dev.txt", "deps-unpinned-requirements", 1, "uvicorn[standard]  # server\n"},
    {"requirements.txt", "deps-unpinned-requirements", 1, "pywin32 ; sys_platform == 'win32'\n"},
    {"requirements.txt", NULL, 0, "# deps\n-r base.txt\nflask>=3.0,<4\nnumpy==1.26.4\n-e .\n"
                                   "pkg @ https://x.example/p.whl\ngit+https://x/y.git\n\n"},
    {"notes.txt", NULL, 0, "requests\n"},
    /* deps-unpinned-package-json */
    {"package.json", "deps-unpinned-package-json", 4,
     "{\n  \"name\": \"x\",\n  \"dependencies\": {\n    \"express\": \"*\",\n    \"cors\": \"^2.8.5\"\n  }\n}\n"},
    {"web/package.json", "deps-unpinned-package-json", 1, "{\"devDependencies\":{\"jest\":\"latest\"}}"},
    {"package.json", NULL, 0, "{\n  \"version\": \"*\",\n  \"dependencies\": { \"a\": \"^1.0.0\", \"b\": \"~2.1\" },\n"
                              "  \"peerDependencies\": { \"react\": \"*\" },\n  \"scripts\": { \"x\": \"\" }\n}\n"},
    /* not a known language */
    {"README.md", NULL, 0, "requests.get(url, verify=False)\ncurl -k https://x\n"},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const tcase *c = &cases[k];
        mrun_findings *f = scan(c->path, c->text);
        size_t n = mrun_findings_count(f);
        if (!c->rule && n)
            fail_msg("case %zu (%s): unexpected %s on line %u", k, c->path, mrun_findings_at(f, 0)->rule->id,
                     mrun_findings_at(f, 0)->line);
        if (c->rule && (n != 1 || strcmp(mrun_findings_at(f, 0)->rule->id, c->rule) != 0 ||
                        mrun_findings_at(f, 0)->line != c->line))
            fail_msg("case %zu (%s): want %s on line %u, got %zu findings (first %s line %u)", k, c->path, c->rule,
                     c->line, n, n ? mrun_findings_at(f, 0)->rule->id : "-", n ? mrun_findings_at(f, 0)->line : 0);
        mrun_findings_free(f);
    }
}

/* Every rule in the table has a positive case above, and full metadata. */
static void test_rules_table(void **state)
{
    (void)state;
    size_t n;
    const mrun_rule *r = mrun_lint_rules(&n);
    assert_true(n >= 18);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(r[i].id);
        assert_true(r[i].title && *r[i].title && r[i].fix && *r[i].fix && r[i].help && *r[i].help);
        bool covered = false;
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
            covered = covered || (cases[k].rule && strcmp(cases[k].rule, r[i].id) == 0);
        if (!covered)
            fail_msg("rule %s has no positive case", r[i].id);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(r[i].id, r[j].id);
    }
}

static void test_mixed_file(void **state)
{
    (void)state;
    const char *text = "from flask import Flask\n"                                   /* 1 */
                       "app = Flask(__name__)\n"                                     /* 2 */
                       "CORS(app)\n"                                                 /* 3 */
                       "\n"                                                          /* 4 */
                       "def get(uid):\n"                                             /* 5 */
                       "    \"\"\"Fetch. eval(x) here is prose.\"\"\"\n"             /* 6 */
                       "    r = requests.get(u, verify=False, timeout=3)\n"          /* 7 */
                       "    cur.execute(f\"SELECT * FROM u WHERE id={uid}\")  # q\n" /* 8 */
                       "    pass  # TODO\n"                                          /* 9 */
                       "\n"                                                          /* 10 */
                       "app.run(host='0.0.0.0', debug=True)\n";                      /* 11 */
    static const struct { const char *rule; unsigned line, col; } want[] = {
        {"py-cors-wildcard", 3, 1},  {"py-tls-verify-disabled", 7, 25}, {"py-sql-format", 8, 18},
        {"todo-stub-py", 9, 5},      {"bind-all-interfaces", 11, 15},   {"py-flask-debug", 11, 25},
    };
    mrun_findings *f = scan("svc/app.py", text);
    /* line 6: eval( inside a one-line docstring is a string, not a call */
    size_t n = mrun_findings_count(f);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        const mrun_finding *x = mrun_findings_at(f, i);
        assert_string_equal(x->rule->id, want[i].rule);
        assert_int_equal(x->line, want[i].line);
        assert_int_equal(x->col, want[i].col);
        assert_string_equal(x->path, "svc/app.py");
    }
    mrun_findings_free(f);
}

static void test_long_line_skipped(void **state)
{
    (void)state;
    size_t n = 70 * 1024;
    char *buf = malloc(n + 64);
    assert_non_null(buf);
    memset(buf, 'a', n);
    memcpy(buf, "x = eval(y) ", 12);
    memcpy(buf + n, "\ncurl -k https://x\n", 20);
    mrun_err err = MRUN_ERR_INIT;
    mrun_findings *f = NULL;
    assert_int_equal(mrun_findings_new(&f, &err), 0);
    assert_int_equal(mrun_lint_scan("a.sh", (const uint8_t *)buf, n + 19, f, &err), 0);
    assert_int_equal(mrun_findings_count(f), 1);
    assert_int_equal(mrun_findings_at(f, 0)->line, 2);
    mrun_findings_free(f);
    free(buf);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random bytes biased towards the characters the matchers care about, for every language. */
static void test_random_bytes(void **state)
{
    (void)state;
    static const char *const paths[] = {"a.py", "a.js", "a.sh", "requirements.txt", "package.json", "settings.py", "x"};
    static const char alphabet[] = "\"'`#/*\\{}[]():=,.+%$ \n\t-k0o7aeFTSsv";
    uint64_t seed = 0x9e3779b97f4a7c15u;
    uint8_t buf[512];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = xorshift(&seed) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            uint64_t r = xorshift(&seed);
            buf[i] = (r & 1) ? (uint8_t)(r >> 8) : (uint8_t)alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
        }
        if (iter % 7 == 0 && len > 2) {
            buf[0] = '#';
            buf[1] = '!';
        }
        mrun_err err = MRUN_ERR_INIT;
        mrun_findings *f = NULL;
        assert_int_equal(mrun_findings_new(&f, &err), 0);
        assert_int_equal(mrun_lint_scan(paths[iter % 7], buf, len, f, &err), 0);
        mrun_findings_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),          cmocka_unit_test(test_rules_table),
        cmocka_unit_test(test_mixed_file),     cmocka_unit_test(test_long_line_skipped),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
