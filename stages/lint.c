/* lint.c - the llm-lint rules table and its hand-written per-language line matchers (no regex). Each line is split
 * into code and trailing comment first, so most rules never look at comments; only the stub rules read them. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "../common/auto.h"
#include "lint.h"
#include "notebook.h"

#define MAX_LINE (64u << 10) /* longer lines (minified bundles, data) are not matched */
#define NPOS ((size_t)-1)

enum {
    R_PY_TLS, R_JS_TLS, R_SH_CURL, R_SH_WGET, R_PY_EVAL, R_JS_EVAL, R_PY_SUBPROC, R_PY_SQL, R_JS_SQL, R_BIND,
    R_CHMOD, R_FLASK, R_DJANGO, R_JS_CORS, R_PY_CORS, R_TODO_PY, R_TODO_JS, R_DEPS_REQ, R_DEPS_PKG, R_N
};

static const mrun_rule rules[R_N] = {
    [R_PY_TLS] = {"py-tls-verify-disabled", "TLS certificate verification disabled",
                  "remove verify=False / CERT_NONE; pass verify='/path/ca.pem' for a private CA",
                  "Without certificate verification anyone on the network path can impersonate the server and read or "
                  "alter the traffic, credentials included.", MRUN_SEV_HIGH},
    [R_JS_TLS] = {"js-tls-reject-unauthorized", "TLS certificate verification disabled",
                  "remove rejectUnauthorized: false / NODE_TLS_REJECT_UNAUTHORIZED=0; pass the private CA in `ca`",
                  "Turning off rejectUnauthorized accepts any certificate, so a man in the middle can read and alter "
                  "the traffic. NODE_TLS_REJECT_UNAUTHORIZED=0 does so for the whole process.", MRUN_SEV_HIGH},
    [R_SH_CURL] = {"sh-curl-insecure", "curl run with -k/--insecure",
                   "drop -k; use --cacert FILE for a private CA",
                   "curl -k accepts any certificate, so a download (often piped into a shell) can be replaced by "
                   "anyone on the path.", MRUN_SEV_HIGH},
    [R_SH_WGET] = {"sh-wget-no-check-certificate", "wget run with --no-check-certificate",
                   "drop the flag; use --ca-certificate FILE for a private CA",
                   "wget --no-check-certificate accepts any certificate, so the download can be replaced in transit.",
                   MRUN_SEV_HIGH},
    [R_PY_EVAL] = {"py-eval-input", "eval/exec of a non-constant expression",
                   "parse the input (json.loads, ast.literal_eval, int()) instead of executing it",
                   "eval and exec run whatever string they get; if any part comes from a user, a file or the network, "
                   "that is remote code execution.", MRUN_SEV_HIGH},
    [R_JS_EVAL] = {"js-eval", "eval/new Function of a non-constant expression",
                   "parse the input (JSON.parse, Number()) or use a lookup table instead of evaluating code",
                   "eval and new Function run arbitrary code; with user-controlled input that is code injection "
                   "(XSS in a browser, RCE in Node).", MRUN_SEV_HIGH},
    [R_PY_SUBPROC] = {"py-subprocess-shell-format", "shell command built by string formatting",
                      "pass an argument list without shell=True: subprocess.run(['ls', path])",
                      "With shell=True (or os.system) a formatted string is parsed by /bin/sh, so a value containing "
                      "; $() or backticks runs extra commands.", MRUN_SEV_HIGH},
    [R_PY_SQL] = {"py-sql-format", "SQL built by string formatting",
                  "use placeholders: cur.execute('SELECT ... WHERE id = %s', (id,))",
                  "Formatting values into SQL text lets a value change the statement (SQL injection); the driver's "
                  "parameters keep data and code apart.", MRUN_SEV_HIGH},
    [R_JS_SQL] = {"js-sql-template", "SQL built by a template literal or concatenation",
                  "use placeholders (db.query('... WHERE id = $1', [id])) or a tagged sql`` template",
                  "Interpolating values into SQL text lets a value change the statement (SQL injection).",
                  MRUN_SEV_HIGH},
    [R_BIND] = {"bind-all-interfaces", "server bound to 0.0.0.0",
                "bind 127.0.0.1 for local use; make the address configurable for deployments",
                "0.0.0.0 listens on every interface, exposing a development or internal service to the whole "
                "network.", MRUN_SEV_MEDIUM},
    [R_CHMOD] = {"chmod-777", "world-writable permissions (777)",
                 "grant the least needed: 0755 for directories and programs, 0644 for files",
                 "Mode 777 lets every local user replace the file or directory contents, e.g. swap a script that "
                 "later runs with more privilege.", MRUN_SEV_MEDIUM},
    [R_FLASK] = {"py-flask-debug", "Flask debug mode enabled in code",
                 "drive debug from the environment (FLASK_DEBUG) and keep it off in production",
                 "The Werkzeug debugger gives anyone who can reach the app an interactive Python console.",
                 MRUN_SEV_HIGH},
    [R_DJANGO] = {"py-django-debug", "Django DEBUG = True in settings",
                  "DEBUG = os.environ.get('DJANGO_DEBUG') == '1'",
                  "With DEBUG on, error pages show settings, source and SQL to any visitor.", MRUN_SEV_MEDIUM},
    [R_JS_CORS] = {"js-cors-wildcard", "CORS allows every origin",
                   "list the allowed origins: cors({ origin: ['https://app.example'] })",
                   "A wildcard (and the cors() default) lets any website call the API from a visitor's browser.",
                   MRUN_SEV_MEDIUM},
    [R_PY_CORS] = {"py-cors-wildcard", "CORS allows every origin",
                   "list the allowed origins (allow_origins=['https://app.example'], CORS(app, origins=[...]))",
                   "A wildcard (and flask-cors' CORS(app) default) lets any website call the API from a visitor's "
                   "browser.", MRUN_SEV_MEDIUM},
    [R_TODO_PY] = {"todo-stub-py", "placeholder stub left in a code path",
                   "implement the branch, or raise an error that says what is missing",
                   "A `pass  # TODO` or 'your code here' stub silently does nothing; generated code often leaves them "
                   "where real logic was expected.", MRUN_SEV_MEDIUM},
    [R_TODO_JS] = {"todo-stub-js", "placeholder stub left in a code path",
                   "implement the function, or remove the dead path",
                   "throw new Error('not implemented') and 'your code here' comments are generated placeholders that "
                   "fail, or do nothing, at run time.", MRUN_SEV_MEDIUM},
    [R_DEPS_REQ] = {"deps-unpinned-requirements", "requirement without any version",
                    "pin it (name==1.2.3) or at least bound it (name>=1.2,<2); use a lock or hashes for deploys",
                    "A bare name installs whatever is newest at build time, so builds are not reproducible and a "
                    "compromised or breaking release is picked up silently.", MRUN_SEV_LOW},
    [R_DEPS_PKG] = {"deps-unpinned-package-json", "dependency with version * or latest",
                    "use a semver range (^1.2.3) and commit the lockfile",
                    "\"*\" and \"latest\" accept any future release, including a breaking or malicious one.",
                    MRUN_SEV_LOW},
};

const mrun_rule *mrun_lint_rules(size_t *ret_n)
{
    *ret_n = R_N;
    return rules;
}

typedef enum { L_NONE, L_PY, L_JS, L_SH, L_REQ, L_PKG } lang;

typedef struct scan {
    const char *path;
    mrun_findings *out;
    mrun_err *err;
    int rc;
    bool django_settings;
    unsigned no; /* current line number */
} scan;

/* ---- small helpers over [c, c+n) ---- */

static bool is_id(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '$';
}

static size_t skip_ws(const char *c, size_t n, size_t i)
{
    while (i < n && (c[i] == ' ' || c[i] == '\t'))
        i++;
    return i;
}

static size_t find(const char *c, size_t n, size_t from, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t i = from; i + l <= n; i++)
        if (c[i] == lit[0] && memcmp(c + i, lit, l) == 0)
            return i;
    return NPOS;
}

static size_t find_ci(const char *c, size_t n, size_t from, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t i = from; i + l <= n; i++)
        if (strncasecmp(c + i, lit, l) == 0)
            return i;
    return NPOS;
}

/* lit at i as a whole word (no identifier character on either side) */
static bool word_at(const char *c, size_t n, size_t i, const char *lit)
{
    size_t l = strlen(lit);
    return i + l <= n && memcmp(c + i, lit, l) == 0 && (i == 0 || !is_id(c[i - 1])) && (i + l == n || !is_id(c[i + l]));
}

static size_t find_word(const char *c, size_t n, size_t from, const char *lit)
{
    for (size_t i = from; (i = find(c, n, i, lit)) != NPOS; i++)
        if (word_at(c, n, i, lit))
            return i;
    return NPOS;
}

/* After position i: spaces, '=' (not '=='), spaces, then word w. */
static bool assign_word(const char *c, size_t n, size_t i, const char *w)
{
    i = skip_ws(c, n, i);
    if (i >= n || c[i] != '=' || (i + 1 < n && c[i + 1] == '='))
        return false;
    return word_at(c, n, skip_ws(c, n, i + 1), w);
}

static void hit(scan *s, unsigned rule, const char *line, size_t at, size_t vlen)
{
    if (s->rc < 0)
        return;
    if (mrun_findings_add(s->out, &rules[rule], s->path, s->no, (unsigned)at + 1, line + at, vlen, s->err) < 0)
        s->rc = -1;
}

/* ---- string literals ---- */

typedef struct lit {
    size_t open, s, e, end; /* quote, content [s, e), one past the closing quote (n when unterminated) */
    bool fprefix;            /* Python f-string */
    bool tagged;             /* JS tagged template (sql`...`) */
    char q;
} lit;

/* The next string literal at or after *pos; false when there is none. */
static bool next_lit(const char *c, size_t n, size_t *pos, lang lg, lit *ret)
{
    for (size_t i = *pos; i < n; i++) {
        char q = c[i];
        if (q != '"' && q != '\'' && !(lg == L_JS && q == '`'))
            continue;
        lit l = {.open = i, .q = q};
        size_t ql = (lg == L_PY && i + 2 < n && c[i + 1] == q && c[i + 2] == q) ? 3 : 1;
        if (lg == L_PY)
            for (size_t k = i; k > 0 && k + 2 >= i && isalpha((unsigned char)c[k - 1]); k--)
                if (c[k - 1] == 'f' || c[k - 1] == 'F')
                    l.fprefix = true;
        if (lg == L_JS && q == '`' && i > 0 && is_id(c[i - 1]))
            l.tagged = true;
        l.s = i + ql;
        size_t j = l.s;
        while (j < n && !(c[j] == q && (ql == 1 || (j + 2 < n && c[j + 1] == q && c[j + 2] == q))))
            j += (c[j] == '\\' && j + 1 < n) ? 2 : 1;
        l.e = j < n ? j : n;
        l.end = j < n ? j + ql : n;
        *pos = l.end;
        *ret = l;
        return true;
    }
    return false;
}

/* ---- comments: code is [0, code_n); the comment (without its marker) is [cmt, n) or NULL ---- */

typedef struct split {
    size_t code_n;
    const char *cmt;
    size_t cmt_n;
} split;

static split split_line(const char *c, size_t n, lang lg, bool *in_block)
{
    split sp = {n, NULL, 0};
    char q = 0;
    for (size_t i = 0; i < n; i++) {
        if (q) {
            if (c[i] == '\\')
                i++;
            else if (c[i] == q)
                q = 0;
            continue;
        }
        if (c[i] == '"' || c[i] == '\'' || (lg == L_JS && c[i] == '`')) {
            q = c[i];
        } else if (lg != L_JS && c[i] == '#' && (lg == L_PY || i == 0 || c[i - 1] == ' ' || c[i - 1] == '\t')) {
            sp = (split){i, c + i + 1, n - i - 1};
            break;
        } else if (lg == L_JS && c[i] == '/' && i + 1 < n && (c[i + 1] == '/' || c[i + 1] == '*')) {
            size_t close = c[i + 1] == '*' ? find(c, n, i + 2, "*/") : NPOS;
            if (c[i + 1] == '*' && close != NPOS) { /* an inline block comment: treat as the comment, keep going */
                sp.cmt = c + i + 2;
                sp.cmt_n = close - i - 2;
                i = close + 1;
                continue;
            }
            if (c[i + 1] == '*')
                *in_block = true;
            sp = (split){i, c + i + 2, n - i - 2};
            break;
        }
    }
    return sp;
}

/* ---- shared matchers ---- */

enum { K_SELECT = 1, K_FROM = 2, K_INSERT = 4, K_INTO = 8, K_UPDATE = 16, K_SET = 32, K_DELETE = 64 };

/* Does the text look like a SQL statement? Keywords count when upper case, or in any case when the text starts
 * with a SQL verb (so "Please select one from ..." is prose, "select * from t" is SQL). */
static bool is_sql(const char *c, size_t n)
{
    static const struct { const char *w; unsigned bit; } kw[] = {
        {"select", K_SELECT}, {"from", K_FROM}, {"insert", K_INSERT}, {"into", K_INTO},
        {"update", K_UPDATE}, {"set", K_SET},   {"delete", K_DELETE},
    };
    unsigned mask = 0;
    bool first = true, lower_ok = false;
    for (size_t i = 0; i < n;) {
        if (!isalpha((unsigned char)c[i])) {
            i++;
            continue;
        }
        size_t j = i;
        bool upper = true;
        while (j < n && (isalnum((unsigned char)c[j]) || c[j] == '_')) {
            upper = upper && !islower((unsigned char)c[j]);
            j++;
        }
        for (size_t k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
            if (j - i == strlen(kw[k].w) && strncasecmp(c + i, kw[k].w, j - i) == 0) {
                if (first && (kw[k].bit & (K_SELECT | K_INSERT | K_UPDATE | K_DELETE)))
                    lower_ok = true;
                if (upper || lower_ok)
                    mask |= kw[k].bit;
            }
        first = false;
        i = j;
    }
    return ((mask & K_SELECT) && (mask & K_FROM)) || ((mask & K_INSERT) && (mask & K_INTO)) ||
           ((mask & K_UPDATE) && (mask & K_SET)) || ((mask & K_DELETE) && (mask & K_FROM));
}

/* Is the literal glued to others by + (either side), or followed by % or .format( (Python)? */
static bool lit_formatted(const char *c, size_t n, const lit *l, lang lg)
{
    size_t b = l->open;
    for (int k = 0; lg == L_PY && k < 2 && b > 0 && isalpha((unsigned char)c[b - 1]); k++)
        b--; /* the f/r/b prefix */
    while (b > 0 && (c[b - 1] == ' ' || c[b - 1] == '\t'))
        b--;
    if (b > 0 && c[b - 1] == '+')
        return true;
    if (l->end >= n)
        return false;
    if (lg == L_PY && find(c, n, l->end, ".format(") == l->end)
        return true;
    size_t a = skip_ws(c, n, l->end);
    if (a < n && c[a] == '+')
        return true;
    return lg == L_PY && a < n && c[a] == '%' && (a + 1 == n || c[a + 1] != '=');
}

static bool has_py_formatting(const char *c, size_t n)
{
    lit l;
    for (size_t p = 0; next_lit(c, n, &p, L_PY, &l);)
        if ((l.fprefix && memchr(c + l.s, '{', l.e - l.s)) || lit_formatted(c, n, &l, L_PY))
            return true;
    return false;
}

static void sql_rule(scan *s, const char *c, size_t n, lang lg)
{
    lit l;
    for (size_t p = 0; next_lit(c, n, &p, lg, &l);) {
        if (!is_sql(c + l.s, l.e - l.s))
            continue;
        bool fmt = lg == L_PY ? ((l.fprefix && memchr(c + l.s, '{', l.e - l.s)) || lit_formatted(c, n, &l, lg))
                              : ((l.q == '`' && !l.tagged && find(c, l.e, l.s, "${") != NPOS) ||
                                 (l.q != '`' && lit_formatted(c, n, &l, lg)));
        if (fmt) {
            hit(s, lg == L_PY ? R_PY_SQL : R_JS_SQL, c, l.open, l.end - l.open);
            return;
        }
    }
}

/* "0.0.0.0" after host/bind/listen on the same line (a keyword argument, an assignment, a CLI flag). */
static void bind_rule(scan *s, const char *c, size_t n)
{
    for (size_t i = 0; (i = find(c, n, i, "0.0.0.0")) != NPOS; i++) {
        if ((i > 0 && (isdigit((unsigned char)c[i - 1]) || c[i - 1] == '.')) ||
            (i + 7 < n && (isdigit((unsigned char)c[i + 7]) || c[i + 7] == '.' || c[i + 7] == '/')))
            continue;
        size_t k = find_ci(c, i, 0, "host"), b = find_ci(c, i, 0, "bind"), l = find_ci(c, i, 0, "listen");
        if (k != NPOS || b != NPOS || l != NPOS) {
            hit(s, R_BIND, c, i, 7);
            return;
        }
    }
}

/* chmod ... 777 / 0777 / 0o777 / a+rwx (not 1777, the sticky /tmp mode). */
static void chmod_rule(scan *s, const char *c, size_t n)
{
    size_t i = find(c, n, 0, "chmod");
    if (i == NPOS || (i > 0 && is_id(c[i - 1])))
        return;
    for (size_t k = i + 5; k + 3 <= n; k++) {
        if (memcmp(c + k, "777", 3) != 0 || (k + 3 < n && isdigit((unsigned char)c[k + 3])))
            continue;
        size_t b = k;
        if (b >= 2 && c[b - 1] == 'o' && c[b - 2] == '0')
            b -= 2;
        else if (b >= 1 && c[b - 1] == '0')
            b--;
        if (b == 0 || !isalnum((unsigned char)c[b - 1])) {
            hit(s, R_CHMOD, c, b, k + 3 - b);
            return;
        }
    }
    size_t a = find(c, n, i + 5, "a+rwx");
    if (a != NPOS && (a == 0 || !isalnum((unsigned char)c[a - 1])))
        hit(s, R_CHMOD, c, a, 5);
}

/* kw, then up to 12 of ` "'`:=[],(`, then "*" followed by a quote: origins="*", 'Access-Control-Allow-Origin', '*'. */
static size_t kw_star(const char *c, size_t n, const char *kw)
{
    for (size_t i = 0; (i = find(c, n, i, kw)) != NPOS; i++) {
        if (i > 0 && is_id(c[i - 1]))
            continue;
        size_t j = i + strlen(kw), lim = j + 12;
        if (j < n && is_id(c[j]))
            continue;
        while (j < n && j < lim && strchr(" \t\"'`:=[],(", c[j]))
            j++;
        if (j + 1 < n && c[j] == '*' && (c[j + 1] == '"' || c[j + 1] == '\'' || c[j + 1] == '`'))
            return i;
    }
    return NPOS;
}

static const char *const stub_phrases[] = {
    "todo: implement", "todo implement", "your code here", "rest of the code", "rest of your code",
    "implementation goes here", "implement me", "add your logic", "placeholder implementation", "not implemented yet",
};

static size_t stub_phrase(const char *c, size_t n)
{
    for (size_t k = 0; k < sizeof(stub_phrases) / sizeof(stub_phrases[0]); k++) {
        size_t i = find_ci(c, n, 0, stub_phrases[k]);
        if (i != NPOS)
            return i;
    }
    return NPOS;
}

/* Is position i inside a string literal (prose mentioning eval( is not a call)? */
static bool in_lit(const char *c, size_t n, size_t i, lang lg)
{
    lit l;
    for (size_t p = 0; next_lit(c, n, &p, lg, &l) && l.open < i;)
        if (i < l.end)
            return true;
    return false;
}

/* The argument after '(' at i is a plain string literal, or nothing. */
static bool const_arg(const char *c, size_t n, size_t i, lang lg)
{
    i = skip_ws(c, n, i);
    if (i < n && c[i] == ')')
        return true;
    lit l;
    size_t p = i;
    if (i >= n || !next_lit(c, n, &p, lg, &l) || l.open != i || l.fprefix || l.end >= n)
        return false;
    if (l.q == '`' && find(c, l.e, l.s, "${") != NPOS)
        return false;
    size_t a = skip_ws(c, n, l.end);
    return a < n && c[a] == ')';
}

/* ---- Python ---- */

static void py_tls(scan *s, const char *c, size_t n)
{
    for (size_t i = 0; (i = find_word(c, n, i, "verify")) != NPOS; i++) {
        if (!assign_word(c, n, i + 6, "False"))
            continue;
        size_t p = i;
        while (p > 0 && (c[p - 1] == ' ' || c[p - 1] == '\t'))
            p--;
        size_t f = find(c, n, i, "False"), after = skip_ws(c, n, f + 5);
        /* a keyword argument (f(x, verify=False), or alone on a continuation line), or session.verify = False */
        if ((p > 0 && (c[p - 1] == '(' || c[p - 1] == ',' || c[p - 1] == '.')) ||
            (p == 0 && after < n && (c[after] == ',' || c[after] == ')'))) {
            hit(s, R_PY_TLS, c, i, f + 5 - i);
            return;
        }
    }
    size_t i = find(c, n, 0, "_create_unverified_context");
    if (i != NPOS) {
        hit(s, R_PY_TLS, c, i, 26);
        return;
    }
    for (i = 0; (i = find_word(c, n, i, "CERT_NONE")) != NPOS; i++) {
        size_t p = i;
        if (p >= 4 && memcmp(c + p - 4, "ssl.", 4) == 0)
            p -= 4;
        while (p > 0 && (c[p - 1] == ' ' || c[p - 1] == '\t'))
            p--;
        if (p > 0 && c[p - 1] == '=' && (p < 2 || !strchr("=!<>", c[p - 2]))) {
            hit(s, R_PY_TLS, c, i, 9);
            return;
        }
    }
}

static void py_eval(scan *s, const char *c, size_t n)
{
    static const char *const fns[] = {"eval", "exec"};
    for (size_t f = 0; f < 2; f++)
        for (size_t i = 0; (i = find_word(c, n, i, fns[f])) != NPOS; i++) {
            size_t j = skip_ws(c, n, i + 4);
            if ((i > 0 && c[i - 1] == '.') || (i >= 4 && memcmp(c + i - 4, "def ", 4) == 0) || j >= n ||
                c[j] != '(' || in_lit(c, n, i, L_PY))
                continue;
            if (!const_arg(c, n, j + 1, L_PY)) {
                hit(s, R_PY_EVAL, c, i, 4);
                return;
            }
        }
}

static void py_subprocess(scan *s, const char *c, size_t n)
{
    size_t i = NPOS;
    for (size_t k = 0; (k = find_word(c, n, k, "shell")) != NPOS; k++)
        if (assign_word(c, n, k + 5, "True")) {
            i = k;
            break;
        }
    if (i == NPOS) {
        i = find(c, n, 0, "os.system(");
        if (i == NPOS)
            i = find(c, n, 0, "os.popen(");
    }
    if (i != NPOS && has_py_formatting(c, n))
        hit(s, R_PY_SUBPROC, c, i, 5);
}

static void py_flask(scan *s, const char *c, size_t n)
{
    size_t r = find(c, n, 0, ".run(");
    if (r != NPOS)
        for (size_t i = r; (i = find_word(c, n, i, "debug")) != NPOS; i++)
            if (assign_word(c, n, i + 5, "True")) {
                hit(s, R_FLASK, c, i, 5);
                return;
            }
    size_t i = find(c, n, 0, ".debug");
    if (i != NPOS && (i + 6 == n || !is_id(c[i + 6])) && assign_word(c, n, i + 6, "True")) {
        hit(s, R_FLASK, c, i + 1, 5);
        return;
    }
    static const char *const keys[] = {"[\"DEBUG\"]", "['DEBUG']"};
    for (size_t k = 0; k < 2; k++)
        if ((i = find(c, n, 0, keys[k])) != NPOS && assign_word(c, n, i + 9, "True")) {
            hit(s, R_FLASK, c, i + 2, 5);
            return;
        }
}

static void py_cors(scan *s, const char *c, size_t n)
{
    static const char *const kws[] = {"allow_origins", "origins", "Access-Control-Allow-Origin", "CORS_ORIGINS"};
    for (size_t k = 0; k < sizeof(kws) / sizeof(kws[0]); k++) {
        size_t i = kw_star(c, n, kws[k]);
        if (i != NPOS) {
            hit(s, R_PY_CORS, c, i, strlen(kws[k]));
            return;
        }
    }
    static const char *const all[] = {"CORS_ALLOW_ALL_ORIGINS", "CORS_ORIGIN_ALLOW_ALL"};
    for (size_t k = 0; k < 2; k++) {
        size_t i = find_word(c, n, 0, all[k]);
        if (i != NPOS && assign_word(c, n, i + strlen(all[k]), "True")) {
            hit(s, R_PY_CORS, c, i, strlen(all[k]));
            return;
        }
    }
    /* flask-cors: CORS(app) with no options allows every origin */
    size_t i = find_word(c, n, 0, "CORS");
    if (i == NPOS)
        return;
    size_t j = skip_ws(c, n, i + 4);
    if (j >= n || c[j] != '(')
        return;
    j = skip_ws(c, n, j + 1);
    size_t id = j;
    while (j < n && is_id(c[j]))
        j++;
    j = skip_ws(c, n, j);
    if (j > id && j < n && c[j] == ')')
        hit(s, R_PY_CORS, c, i, j + 1 - i);
}

static void py_todo(scan *s, const char *line, size_t n, const split *sp)
{
    size_t a = skip_ws(line, sp->code_n, 0), e = sp->code_n;
    while (e > a && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    if (!sp->cmt)
        return;
    bool stub_stmt = (e - a == 4 && memcmp(line + a, "pass", 4) == 0) || (e - a == 3 && memcmp(line + a, "...", 3) == 0) ||
                     (e - a >= 25 && memcmp(line + a, "raise NotImplementedError", 25) == 0);
    const char *cm = sp->cmt;
    if (stub_stmt && (find(cm, sp->cmt_n, 0, "TODO") != NPOS || find(cm, sp->cmt_n, 0, "FIXME") != NPOS)) {
        hit(s, R_TODO_PY, line, a, e - a);
        return;
    }
    size_t p = stub_phrase(cm, sp->cmt_n);
    if (p != NPOS)
        hit(s, R_TODO_PY, line, (size_t)(cm - line) + p, sp->cmt_n - p);
    (void)n;
}

static void py_line(scan *s, const char *line, size_t n, const split *sp)
{
    size_t cn = sp->code_n;
    py_tls(s, line, cn);
    py_eval(s, line, cn);
    py_subprocess(s, line, cn);
    sql_rule(s, line, cn, L_PY);
    bind_rule(s, line, cn);
    chmod_rule(s, line, cn);
    py_flask(s, line, cn);
    if (s->django_settings && word_at(line, cn, 0, "DEBUG") && assign_word(line, cn, 5, "True"))
        hit(s, R_DJANGO, line, 0, 5);
    py_cors(s, line, cn);
    py_todo(s, line, n, sp);
}

/* ---- JavaScript / TypeScript ---- */

static void js_tls(scan *s, const char *c, size_t n)
{
    for (size_t i = 0; (i = find_word(c, n, i, "rejectUnauthorized")) != NPOS; i++) {
        size_t j = skip_ws(c, n, i + 18);
        if (j < n && c[j] == ':' && word_at(c, n, skip_ws(c, n, j + 1), "false")) {
            hit(s, R_JS_TLS, c, i, 18);
            return;
        }
        if (assign_word(c, n, i + 18, "false")) {
            hit(s, R_JS_TLS, c, i, 18);
            return;
        }
    }
    size_t i = find(c, n, 0, "NODE_TLS_REJECT_UNAUTHORIZED");
    if (i == NPOS)
        return;
    size_t j = i + 28;
    while (j < n && (c[j] == '\'' || c[j] == '"' || c[j] == ']'))
        j++;
    j = skip_ws(c, n, j);
    if (j >= n || c[j] != '=' || (j + 1 < n && c[j + 1] == '='))
        return;
    j = skip_ws(c, n, j + 1);
    if (j < n && (c[j] == '\'' || c[j] == '"'))
        j++;
    if (j < n && c[j] == '0' && (j + 1 == n || !isdigit((unsigned char)c[j + 1])))
        hit(s, R_JS_TLS, c, i, 28);
}

static void js_eval(scan *s, const char *c, size_t n)
{
    for (size_t i = 0; (i = find_word(c, n, i, "eval")) != NPOS; i++) {
        size_t j = skip_ws(c, n, i + 4);
        if ((i > 0 && c[i - 1] == '.') || j >= n || c[j] != '(' || in_lit(c, n, i, L_JS))
            continue;
        if (!const_arg(c, n, j + 1, L_JS)) {
            hit(s, R_JS_EVAL, c, i, 4);
            return;
        }
    }
    for (size_t i = 0; (i = find(c, n, i, "new Function")) != NPOS; i++) {
        size_t j = skip_ws(c, n, i + 12);
        if (j < n && c[j] == '(' && (i == 0 || !is_id(c[i - 1])) && !const_arg(c, n, j + 1, L_JS)) {
            hit(s, R_JS_EVAL, c, i, 12);
            return;
        }
    }
}

static void js_cors(scan *s, const char *c, size_t n)
{
    static const char *const kws[] = {"Access-Control-Allow-Origin", "origin"};
    for (size_t k = 0; k < 2; k++) {
        size_t i = kw_star(c, n, kws[k]);
        if (i != NPOS) {
            hit(s, R_JS_CORS, c, i, strlen(kws[k]));
            return;
        }
    }
    /* the cors package with no options answers every origin */
    for (size_t i = 0; (i = find_word(c, n, i, "cors")) != NPOS; i++) {
        size_t j = skip_ws(c, n, i + 4);
        if (j < n && c[j] == '(' && (j = skip_ws(c, n, j + 1)) < n && c[j] == ')' && (i == 0 || c[i - 1] != '.')) {
            hit(s, R_JS_CORS, c, i, j + 1 - i);
            return;
        }
    }
}

static void js_todo(scan *s, const char *line, size_t n, const split *sp)
{
    size_t cn = sp->code_n;
    for (size_t i = 0; (i = find(line, cn, i, "throw new Error(")) != NPOS; i++) {
        lit l;
        size_t p = skip_ws(line, cn, i + 16);
        if (!next_lit(line, cn, &p, L_JS, &l) || l.open != skip_ws(line, cn, i + 16))
            continue;
        const char *m = line + l.s;
        size_t ml = l.e - l.s;
        if (find_ci(m, ml, 0, "not implemented") != NPOS || find_ci(m, ml, 0, "unimplemented") != NPOS ||
            find(m, ml, 0, "TODO") != NPOS) {
            hit(s, R_TODO_JS, line, i, l.end - i);
            return;
        }
    }
    if (sp->cmt) {
        size_t p = stub_phrase(sp->cmt, sp->cmt_n);
        if (p != NPOS)
            hit(s, R_TODO_JS, line, (size_t)(sp->cmt - line) + p, sp->cmt_n - p);
    }
    (void)n;
}

static void js_line(scan *s, const char *line, size_t n, const split *sp)
{
    size_t cn = sp->code_n;
    js_tls(s, line, cn);
    js_eval(s, line, cn);
    sql_rule(s, line, cn, L_JS);
    bind_rule(s, line, cn);
    chmod_rule(s, line, cn);
    js_cors(s, line, cn);
    js_todo(s, line, n, sp);
}

/* ---- shell ---- */

/* End of the simple command starting at i: the first | ; & outside quotes. */
static size_t cmd_end(const char *c, size_t n, size_t i)
{
    char q = 0;
    for (; i < n; i++) {
        if (q) {
            if (c[i] == q)
                q = 0;
        } else if (c[i] == '\'' || c[i] == '"') {
            q = c[i];
        } else if (c[i] == '|' || c[i] == ';' || c[i] == '&') {
            break;
        }
    }
    return i;
}

static void sh_curl(scan *s, const char *c, size_t n)
{
    for (size_t i = 0; (i = find_word(c, n, i, "curl")) != NPOS; i++) {
        if ((i > 0 && (c[i - 1] == '-' || c[i - 1] == '.' || c[i - 1] == '/')) || (i + 4 < n && c[i + 4] != ' ' && c[i + 4] != '\t'))
            continue;
        size_t end = cmd_end(c, n, i + 4);
        for (size_t t = i + 4; t < end;) {
            t = skip_ws(c, end, t);
            size_t te = t;
            while (te < end && c[te] != ' ' && c[te] != '\t')
                te++;
            bool insecure = te - t == 10 && memcmp(c + t, "--insecure", 10) == 0;
            if (!insecure && te - t >= 2 && c[t] == '-' && c[t + 1] != '-') {
                bool letters = true, k = false;
                for (size_t x = t + 1; x < te; x++) {
                    letters = letters && isalpha((unsigned char)c[x]);
                    k = k || c[x] == 'k';
                }
                insecure = letters && k;
            }
            if (insecure) {
                hit(s, R_SH_CURL, c, t, te - t);
                return;
            }
            t = te;
        }
    }
}

static void sh_line(scan *s, const char *line, size_t n, const split *sp)
{
    size_t cn = sp->code_n;
    (void)n;
    sh_curl(s, line, cn);
    size_t w = find_word(line, cn, 0, "wget");
    if (w != NPOS) {
        size_t f = find(line, cmd_end(line, cn, w), w, "--no-check-certificate");
        if (f != NPOS)
            hit(s, R_SH_WGET, line, f, 22);
    }
    size_t e = find(line, cn, 0, "NODE_TLS_REJECT_UNAUTHORIZED=");
    if (e != NPOS) {
        size_t v = e + 29 + (e + 29 < cn && (line[e + 29] == '"' || line[e + 29] == '\''));
        if (v < cn && line[v] == '0' && (v + 1 == cn || !isdigit((unsigned char)line[v + 1])))
            hit(s, R_JS_TLS, line, e, 28);
    }
    bind_rule(s, line, cn);
    chmod_rule(s, line, cn);
}

/* ---- dependency manifests ---- */

/* requirements*.txt: a bare name (optionally with [extras] or a ; marker) pins nothing. */
static void req_line(scan *s, const char *c, size_t n)
{
    size_t i = skip_ws(c, n, 0);
    if (i >= n || c[i] == '#' || c[i] == '-' || c[i] == '.' || c[i] == '/' || find(c, n, i, "://") != NPOS)
        return;
    size_t st = i;
    while (i < n && (isalnum((unsigned char)c[i]) || c[i] == '.' || c[i] == '_' || c[i] == '-'))
        i++;
    if (i == st)
        return;
    size_t name_e = i;
    i = skip_ws(c, n, i);
    if (i < n && c[i] == '[') {
        while (i < n && c[i] != ']')
            i++;
        i = skip_ws(c, n, i + (i < n));
    }
    if (i >= n || c[i] == ';' || (c[i] == '#' && i > name_e))
        hit(s, R_DEPS_REQ, c, st, name_e - st);
}

/* package.json: dependencies / devDependencies / optionalDependencies entries whose version is "*", "latest",
 * "x" or "". A small JSON tokenizer over the whole file keeps compact one-line manifests working. */
static void pkg_scan(scan *s, const char *c, size_t n)
{
    static const char *const sections[] = {"dependencies", "devDependencies", "optionalDependencies"};
    unsigned depth = 0, deps_depth = 0;
    bool pending = false;
    size_t ls = 0, key_s = 0, key_e = 0, key_ls = 0;
    unsigned key_no = 0;
    s->no = 1;
    for (size_t i = 0; i < n && s->rc == 0; i++) {
        if (c[i] == '\n') {
            s->no++;
            ls = i + 1;
        } else if (c[i] == '{') {
            depth++;
            if (pending && deps_depth == 0)
                deps_depth = depth;
            pending = false;
        } else if (c[i] == '}') {
            if (depth == deps_depth)
                deps_depth = 0;
            depth -= depth > 0;
        } else if (c[i] == '"') {
            size_t st = i + 1, j = st;
            while (j < n && c[j] != '"' && c[j] != '\n')
                j += (c[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j >= n || c[j] != '"') {
                i = j - (j >= n);
                continue; /* unterminated: let the newline (if any) be counted */
            }
            size_t a = j + 1;
            while (a < n && (c[a] == ' ' || c[a] == '\t' || c[a] == '\r' || c[a] == '\n'))
                a++;
            if (a < n && c[a] == ':') {
                pending = false;
                for (size_t k = 0; depth == 1 && k < 3; k++)
                    pending = pending || (j - st == strlen(sections[k]) && memcmp(c + st, sections[k], j - st) == 0);
                key_s = st, key_e = j, key_ls = ls, key_no = s->no;
            } else if (deps_depth && depth == deps_depth && key_e > key_s) {
                size_t vl = j - st;
                if (vl == 0 || (vl == 1 && (c[st] == '*' || c[st] == 'x' || c[st] == 'X')) ||
                    (vl == 6 && memcmp(c + st, "latest", 6) == 0)) {
                    unsigned cur = s->no;
                    s->no = key_no;
                    hit(s, R_DEPS_PKG, c + key_ls, key_s - key_ls, key_e - key_s);
                    s->no = cur;
                }
                key_e = key_s;
            }
            i = j;
        }
    }
}

/* ---- file dispatch ---- */

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static lang lang_of(const char *path, const uint8_t *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strcmp(base, "package.json") == 0)
        return L_PKG;
    if (strncmp(base, "requirements", 12) == 0 && ends_with(base, ".txt"))
        return L_REQ;
    if (ends_with(base, ".py"))
        return L_PY;
    static const char *const js[] = {".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx"};
    for (size_t k = 0; k < 6; k++)
        if (ends_with(base, js[k]))
            return L_JS;
    if (ends_with(base, ".sh") || ends_with(base, ".bash"))
        return L_SH;
    if (strchr(base, '.') || len < 3 || buf[0] != '#' || buf[1] != '!')
        return L_NONE;
    /* shebang: the interpreter's last path component, or env's argument */
    const char *c = (const char *)buf;
    size_t e = 2;
    while (e < len && e < 256 && c[e] != '\n')
        e++;
    static const char *const shells[] = {"/sh", "/bash", "env sh", "env bash", "/dash"};
    for (size_t k = 0; k < 5; k++) {
        size_t i = find(c, e, 2, shells[k]);
        if (i != NPOS && (i + strlen(shells[k]) == e || c[i + strlen(shells[k])] == ' ' || c[i + strlen(shells[k])] == '\r'))
            return L_SH;
    }
    if (find(c, e, 2, "python") != NPOS)
        return L_PY;
    if (find(c, e, 2, "node") != NPOS)
        return L_JS;
    return L_NONE;
}

/* Python: lines inside a triple-quoted string (docstrings, long text) are data, not code. */
static bool py_in_string(const char *c, size_t n, const char **delim)
{
    if (*delim) {
        if (find(c, n, 0, *delim) != NPOS)
            *delim = NULL;
        return true;
    }
    static const char *const ds[] = {"\"\"\"", "'''"};
    for (size_t k = 0; k < 2; k++) {
        unsigned cnt = 0;
        for (size_t i = 0; (i = find(c, n, i, ds[k])) != NPOS; i += 3)
            cnt++;
        if (cnt % 2) {
            *delim = ds[k];
            size_t a = skip_ws(c, n, 0);
            return a < n && memcmp(c + a, ds[k], 3 <= n - a ? 3 : n - a) == 0; /* a docstring opening */
        }
    }
    return false;
}

int mrun_lint_scan(const char *path, const uint8_t *buf, size_t len, mrun_findings *out, mrun_err *err)
{
    lang lg = lang_of(path, buf, len);
    mrun_autofree char *nb = NULL; /* a notebook's code cells, on the notebook's own lines (notebook.h) */
    if (lg == L_NONE && mrun_notebook_is(path)) {
        mrun_err nb_err = MRUN_ERR_INIT;
        size_t nb_len = 0;
        if (mrun_notebook_code(path, buf, len, &nb, &nb_len, &nb_err) < 0)
            return 0; /* not a notebook this reads: nothing to lint, like an unknown language */
        buf = (const uint8_t *)nb, len = nb_len, lg = L_PY;
    }
    if (lg == L_NONE)
        return 0;
    scan s = {.path = path, .out = out, .err = err};
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    s.django_settings = strstr(path, "settings") && !strstr(base, "dev") && !strstr(base, "local") &&
                        !strstr(base, "test");
    if (lg == L_PKG) {
        pkg_scan(&s, (const char *)buf, len);
        return s.rc;
    }
    const char *c = (const char *)buf, *delim = NULL;
    bool in_block = false;
    size_t ls = 0;
    for (s.no = 1; ls < len && s.rc == 0; s.no++) {
        const char *nl = memchr(c + ls, '\n', len - ls);
        size_t le = nl ? (size_t)(nl - c) : len, n = le - ls;
        const char *line = c + ls;
        ls = le + 1;
        if (n && line[n - 1] == '\r')
            n--;
        if (lg == L_JS && in_block) {
            size_t e = find(line, n, 0, "*/");
            split sp = {0, line, e == NPOS ? n : e};
            if (n <= MAX_LINE)
                js_todo(&s, line, n, &sp);
            if (e == NPOS)
                continue;
            in_block = false; /* code after the comment on the closing line is not matched */
            continue;
        }
        if (lg == L_PY && py_in_string(line, n, &delim))
            continue;
        if (n > MAX_LINE)
            continue;
        split sp = split_line(line, n, lg, &in_block);
        switch (lg) {
        case L_PY: py_line(&s, line, n, &sp); break;
        case L_JS: js_line(&s, line, n, &sp); break;
        case L_SH: sh_line(&s, line, n, &sp); break;
        case L_REQ: req_line(&s, line, sp.code_n); break;
        default: break;
        }
    }
    return s.rc;
}
