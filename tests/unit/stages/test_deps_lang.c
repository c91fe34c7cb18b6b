/* test_deps_lang.c - the Python, Go, Rust, Ruby and PHP lockfile readers over real-format files in
 * tests/data/deps/ and hostile variants: exact components, versions, scopes, hashes, edges and direct flags, and
 * EPROTO "path:line:" errors that leave the inventory as it was (run under ASan/UBSan from the source root). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "stages/deps_int.h"

#define DATA "tests/data/deps/"

static int setup(void **state)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_deps *d = NULL;
    assert_int_equal(mrun_deps_new(&d, &err), 0);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    mrun_deps_free(*state);
    return 0;
}

/* Parses the data file file as if it were at path as. */
static void parse_file(mrun_deps *d, const char *file, const char *as)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        fail_msg("%s: %s (run from the source root)", file, strerror(errno));
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_deps_parse(d, as, buf, n, &err) != 0)
        fail_msg("%s: %s", file, err.msg);
}

/* Expects text, parsed as path, to fail with EPROTO and a message starting with prefix; d must be unchanged. */
static void parse_bad_n(mrun_deps *d, const char *path, const char *text, size_t len, const char *prefix)
{
    size_t before = mrun_deps_count(d);
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_deps_parse(d, path, (const uint8_t *)text, len, &err) != -1)
        fail_msg("accepted %s: %s", path, text);
    assert_int_equal(err.sys_errno, EPROTO);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("got '%s', want prefix '%s'", err.msg, prefix);
    assert_int_equal(mrun_deps_count(d), before);
}

static void parse_bad(mrun_deps *d, const char *path, const char *text, const char *prefix)
{
    parse_bad_n(d, path, text, strlen(text), prefix);
}

static void parse_text(mrun_deps *d, const char *path, const char *text)
{
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_deps_parse(d, path, (const uint8_t *)text, strlen(text), &err) != 0)
        fail_msg("%s: %s", path, err.msg);
}

static const mrun_dep *get(mrun_deps *d, const char *eco, const char *name, const char *version)
{
    size_t i = mrun_deps_find(d, eco, name, version);
    if (i == SIZE_MAX)
        fail_msg("no %s %s %s", eco, name, version ? version : "(any)");
    return mrun_deps_at(d, i);
}

static size_t idx(mrun_deps *d, const char *eco, const char *name, const char *version)
{
    return mrun_deps_find(d, eco, name, version);
}

static bool has_edge(const mrun_dep *from, size_t to)
{
    for (size_t i = 0; i < from->n_deps; i++)
        if (from->deps[i] == to)
            return true;
    return false;
}

static const char *hash(const mrun_dep *p, mrun_hash_alg alg, size_t nth)
{
    for (size_t i = 0; i < p->n_hashes; i++)
        if (p->hashes[i].alg == alg && nth-- == 0)
            return p->hashes[i].hex;
    return NULL;
}

static void assert_str_or_null(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

/* ---- cargo ---- */

static void test_cargo(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "cargo/Cargo.lock", "rs/Cargo.lock");
    assert_int_equal(mrun_deps_count(d), 9);
    const mrun_dep *cli = get(d, "cargo", "demo-cli", "0.1.0"), *core = get(d, "cargo", "demo-core", "0.1.0");
    assert_true(cli->is_project && core->is_project);
    assert_false(cli->direct || core->direct); /* members are projects, not dependencies */
    assert_string_equal(cli->source, "rs/Cargo.lock");
    const mrun_dep *anyhow = get(d, "cargo", "anyhow", "1.0.75");
    assert_false(anyhow->is_project);
    assert_true(anyhow->direct);
    assert_int_equal(anyhow->scope, MRUN_DEP_REQUIRED);
    assert_int_equal(anyhow->n_hashes, 1);
    assert_string_equal(hash(anyhow, MRUN_HASH_SHA256, 0),
                        "a4668cab20f66d8d020e1fbc0ebe47217433c1b6c8f2040faf858554e394ace6");
    assert_true(has_edge(cli, idx(d, "cargo", "syn", "2.0.39")));
    assert_false(has_edge(cli, idx(d, "cargo", "syn", "1.0.109")));
    assert_true(has_edge(core, idx(d, "cargo", "syn", "1.0.109")));
    assert_true(has_edge(cli, idx(d, "cargo", "demo-core", NULL)));
    assert_int_equal(cli->n_deps, 3);
    assert_true(get(d, "cargo", "syn", "1.0.109")->direct);
    assert_false(get(d, "cargo", "proc-macro2", NULL)->direct);
    assert_false(get(d, "cargo", "unicode-ident", NULL)->direct);
    const mrun_dep *git = get(d, "cargo", "tiny-git", "0.3.0");
    assert_string_equal(git->resolved,
                        "git+https://github.com/example/tiny-git?branch=main#8f1c2a9d5e3b4c6d7e8f9a0b1c2d3e4f5a6b7c8d");
    assert_int_equal(git->n_hashes, 0);
    assert_null(anyhow->resolved);
}

static void test_cargo_v1(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "cargo/v1/Cargo.lock", "Cargo.lock");
    assert_int_equal(mrun_deps_count(d), 2);
    const mrun_dep *hello = get(d, "cargo", "hello", "0.1.0"), *libc = get(d, "cargo", "libc", "0.2.40");
    assert_true(hello->is_project);
    assert_true(has_edge(hello, idx(d, "cargo", "libc", NULL)));
    assert_true(libc->direct);
    assert_string_equal(hash(libc, MRUN_HASH_SHA256, 0),
                        "6fd41f331ac7c5b8ac259b8bf82c75c0fb2e469bbf37d2becbba9a6a2221965b");
}

static void test_cargo_bad(void **state)
{
    mrun_deps *d = *state;
    parse_bad(d, "x/Cargo.lock", "version = 3\n[[package]]\nname = \"a\"\nversion = \"1\"\ndependencies = [\"b\"]\n",
              "x/Cargo.lock:2: dependency 'b' of 'a' is not in the lockfile");
    parse_bad(d, "Cargo.lock", "version = 9\n", "Cargo.lock:1: unsupported lockfile version");
    parse_bad(d, "Cargo.lock", "[[package]]\nname = \"a\"\n", "Cargo.lock:1: package without a name and version");
    parse_bad(d, "Cargo.lock", "[[package]]\nname = \"a\"\nversion = \"1\"\nchecksum = \"abc\"\n",
              "Cargo.lock:1: bad SHA-256 hash of 'a'");
    parse_bad(d, "Cargo.lock", "[[package]]\nname = \"a\nversion = \"1\"\n",
              "Cargo.lock:2:10: newline in a single-line string");
    parse_bad(d, "Cargo.lock", "package = 1\n", "Cargo.lock:1: package is not an array of tables");
    /* good packages before a bad one are not kept */
    parse_bad(d, "Cargo.lock",
              "[[package]]\nname = \"ok\"\nversion = \"1\"\n[[package]]\nname = \"a\"\nversion = \"1\"\n"
              "dependencies = [\"zz 1 (nowhere)\"]\n",
              "Cargo.lock:4: dependency 'zz 1 (nowhere)'");
    assert_int_equal(mrun_deps_count(d), 0);
}

/* ---- python ---- */

static void test_requirements(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "python/requirements.txt", "requirements.txt");
    assert_int_equal(mrun_deps_count(d), 9);
    assert_string_equal(get(d, "pypi", "other-lib", NULL)->resolved, "git+https://github.com/example/other.git@main");
    const mrun_dep *req = get(d, "pypi", "requests", "2.31.0");
    assert_true(req->direct);
    assert_int_equal(req->scope, MRUN_DEP_REQUIRED);
    assert_int_equal(req->n_hashes, 2);
    assert_string_equal(hash(req, MRUN_HASH_SHA256, 1),
                        "942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1");
    get(d, "pypi", "Django", "4.2.7"); /* spelled as written, extras and marker dropped */
    get(d, "pypi", "charset_normalizer", "3.3.2");
    assert_null(get(d, "pypi", "urllib3", NULL)->version);
    assert_null(get(d, "pypi", "numpy", NULL)->version); /* ==1.26.* is a range */
    const mrun_dep *url = get(d, "pypi", "mypkg", NULL);
    assert_null(url->version);
    assert_string_equal(url->resolved, "https://example.com/packages/mypkg-1.0.tar.gz");
    assert_string_equal(get(d, "pypi", "tool", NULL)->resolved, "git+https://github.com/example/tool.git@v1.2");
    const mrun_dep *idna = get(d, "pypi", "idna", "3.4");
    assert_int_equal(idna->n_hashes, 1);
    assert_int_equal(idna->n_deps, 0);

    parse_file(d, DATA "python/requirements-dev.txt", "sub/requirements-dev.txt");
    const mrun_dep *pytest = get(d, "pypi", "pytest", "7.4.3");
    assert_int_equal(pytest->scope, MRUN_DEP_DEV);
    assert_string_equal(pytest->source, "sub/requirements-dev.txt");
}

static void test_requirements_bad(void **state)
{
    mrun_deps *d = *state;
    parse_bad(d, "requirements.txt", "ok==1\n!!nope\n", "requirements.txt:2: not a requirement");
    parse_bad(d, "requirements.txt", "a==1 \\\n  --hash=sha256:abcd\n", "requirements.txt:1: bad SHA-256 hash of 'a'");
    parse_bad(d, "requirements.txt", "a==1 --hash=crc32:00\n", "requirements.txt:1: unknown hash 'crc32:00' of 'a'");
    parse_bad(d, "requirements.txt", "a==1 --hash\n", "requirements.txt:1: --hash without a value");
    parse_bad(d, "requirements.txt", "a[x==1\n", "requirements.txt:1: unclosed extras");
    parse_bad(d, "requirements.txt", "a 1.0\n", "requirements.txt:1: bad version specifier after 'a'");
    parse_bad_n(d, "requirements.txt", "# c\n\na==1\x00\n", 11, "requirements.txt:3: NUL byte");
    /* a logical line past the bound */
    size_t n = 70000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    parse_bad(d, "requirements.txt", big, "requirements.txt:1: line longer than 65536 bytes");
    free(big);
    /* comments, continuation, CRLF */
    parse_text(d, "requirements_test.txt",
               "x==1 \\\r\n  ; python_version < \"3.8\"\r\n#y==2\r\nw @ https://x/w.whl#sha256=00 # c\r\n");
    assert_int_equal(get(d, "pypi", "x", "1")->scope, MRUN_DEP_DEV);
    assert_string_equal(get(d, "pypi", "w", NULL)->resolved, "https://x/w.whl#sha256=00");
    assert_int_equal(mrun_deps_count(d), 2);
}

static void test_poetry(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "python/poetry.lock", "poetry.lock");
    assert_int_equal(mrun_deps_count(d), 6);
    const mrun_dep *certifi = get(d, "pypi", "certifi", "2023.11.17");
    assert_int_equal(certifi->scope, MRUN_DEP_REQUIRED);
    assert_int_equal(certifi->n_hashes, 2);
    assert_string_equal(hash(certifi, MRUN_HASH_SHA256, 1),
                        "9b469f3a900bf28dc19b8cfbf8019bf47f7fdd1a65a1d4ffb98fc14166beb4d1");
    assert_int_equal(get(d, "pypi", "colorama", NULL)->scope, MRUN_DEP_DEV);
    const mrun_dep *pytest = get(d, "pypi", "pytest", "7.4.3");
    assert_int_equal(pytest->scope, MRUN_DEP_DEV);
    assert_true(has_edge(pytest, idx(d, "pypi", "colorama", NULL)));
    assert_int_equal(get(d, "pypi", "pysocks", NULL)->scope, MRUN_DEP_OPTIONAL);
    const mrun_dep *req = get(d, "pypi", "requests", NULL);
    assert_true(has_edge(req, idx(d, "pypi", "certifi", NULL)));
    assert_true(has_edge(req, idx(d, "pypi", "pysocks", NULL))); /* "PySocks" matched by PEP 503 */
    assert_int_equal(req->n_deps, 2);
    assert_false(req->direct); /* poetry.lock does not say: pyproject.toml does */
    assert_string_equal(get(d, "pypi", "tool", NULL)->resolved, "https://github.com/example/tool.git");

    parse_file(d, DATA "python/old/poetry.lock", "old/poetry.lock");
    const mrun_dep *attrs = get(d, "pypi", "attrs", "21.4.0");
    assert_int_equal(attrs->scope, MRUN_DEP_DEV);
    assert_int_equal(attrs->n_hashes, 2);
    assert_int_equal(get(d, "pypi", "six", NULL)->n_hashes, 1);
    assert_int_equal(get(d, "pypi", "six", NULL)->scope, MRUN_DEP_REQUIRED);

    parse_bad(d, "poetry.lock", "[[package]]\nname = \"a\"\n", "poetry.lock:1: package without a name and version");
    parse_bad(d, "poetry.lock", "[[package]]\nname = \"a\"\nversion = \"1\"\nfiles = [{hash = \"md5:00\"}]\n",
              "poetry.lock:1: bad MD5 hash of 'a'");
}

static void test_pipfile(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "python/Pipfile.lock", "Pipfile.lock");
    assert_int_equal(mrun_deps_count(d), 5);
    const mrun_dep *flask = get(d, "pypi", "flask", "3.0.0");
    assert_int_equal(flask->scope, MRUN_DEP_REQUIRED);
    assert_int_equal(flask->n_hashes, 2);
    assert_true(get(d, "pypi", "myapp", NULL)->is_project);
    assert_int_equal(get(d, "pypi", "werkzeug", "3.0.1")->scope, MRUN_DEP_REQUIRED); /* in both: shipped */
    assert_int_equal(get(d, "pypi", "pytest", "7.4.3")->scope, MRUN_DEP_DEV);
    const mrun_dep *git = get(d, "pypi", "gitdep", NULL);
    assert_null(git->version);
    assert_string_equal(git->resolved, "https://github.com/example/gitdep.git");
    parse_bad(d, "Pipfile.lock", "{\"default\": {\"a\": {\"version\": \"==1\",\n \"hashes\": [\"sha256:zz\"]}}}",
              "Pipfile.lock: bad SHA-256 hash of 'a'");
    parse_bad(d, "Pipfile.lock", "{\"default\": {\n\"a\": }}", "Pipfile.lock:2:6:");
    parse_bad(d, "Pipfile.lock", "{\"default\": [1]}", "Pipfile.lock: 'default' is not an object");
}

static void test_uv(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "python/uv.lock", "uv.lock");
    assert_int_equal(mrun_deps_count(d), 7);
    const mrun_dep *demo = get(d, "pypi", "demo", "0.1.0");
    assert_true(demo->is_project);
    assert_false(demo->direct);
    const mrun_dep *anyio = get(d, "pypi", "anyio", "4.4.0");
    assert_true(anyio->direct);
    assert_int_equal(anyio->scope, MRUN_DEP_REQUIRED);
    assert_int_equal(anyio->n_hashes, 2);
    assert_string_equal(hash(anyio, MRUN_HASH_SHA256, 1),
                        "c1b2d8f46a8a812513012e1107cb0e68c17159a7a594208005a57dc776e1bdc7");
    assert_string_equal(anyio->resolved,
                        "https://files.pythonhosted.org/packages/e6/e3/"
                        "c4c8d473d6780ef1853d630d581f70d655b4f8d7553c6997958c283039a2/anyio-4.4.0.tar.gz");
    const mrun_dep *click = get(d, "pypi", "click", NULL), *pytest = get(d, "pypi", "pytest", NULL);
    assert_true(click->direct && pytest->direct);
    assert_int_equal(click->scope, MRUN_DEP_OPTIONAL);
    assert_int_equal(pytest->scope, MRUN_DEP_DEV);
    assert_int_equal(get(d, "pypi", "iniconfig", NULL)->scope, MRUN_DEP_DEV);
    const mrun_dep *sniffio = get(d, "pypi", "sniffio", NULL); /* reached from anyio (required) and pytest (dev) */
    assert_int_equal(sniffio->scope, MRUN_DEP_REQUIRED);
    assert_false(sniffio->direct);
    assert_int_equal(get(d, "pypi", "idna", NULL)->scope, MRUN_DEP_REQUIRED);
    assert_true(has_edge(demo, idx(d, "pypi", "click", NULL)));
    assert_true(has_edge(anyio, idx(d, "pypi", "sniffio", NULL)));
    assert_int_equal(demo->n_deps, 3);

    parse_bad(d, "uv.lock",
              "version = 1\n[[package]]\nname = \"a\"\nversion = \"1\"\ndependencies = [{ name = \"b\" }]\n",
              "uv.lock:5: dependency 'b' of 'a' is not in the lockfile");
    parse_bad(d, "uv.lock", "version = 2\n", "uv.lock: not a uv.lock of version 1");
}

/* ---- go ---- */

static void test_go(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "go/go.mod", "svc/go.mod");
    assert_int_equal(mrun_deps_count(d), 6);
    const mrun_dep *proj = get(d, "golang", "github.com/example/webapp", NULL);
    assert_true(proj->is_project);
    assert_null(proj->version);
    const mrun_dep *mux = get(d, "golang", "github.com/gorilla/mux", "v1.8.1");
    assert_true(mux->direct);
    assert_false(get(d, "golang", "golang.org/x/sys", "v0.15.0")->direct);
    assert_false(get(d, "golang", "github.com/stretchr/testify", "v1.8.4")->direct); /* "indirect; used by tests" */
    assert_int_equal(idx(d, "golang", "github.com/pkg/errors", NULL), SIZE_MAX);     /* replaced */
    const mrun_dep *fork = get(d, "golang", "github.com/example/errors", "v0.9.2-fix");
    assert_true(fork->direct);
    const mrun_dep *yaml = get(d, "golang", "gopkg.in/yaml.v3", "v3.0.1"); /* quoted path; replaced by a directory */
    assert_string_equal(yaml->locator, "./third_party/yaml");
    assert_true(has_edge(proj, idx(d, "golang", "github.com/gorilla/mux", NULL)));
    assert_false(has_edge(proj, idx(d, "golang", "golang.org/x/sys", NULL)));
    assert_int_equal(proj->n_deps, 3);

    /* go.sum elsewhere adds nothing; beside it adds h1 hashes to the modules required */
    parse_file(d, DATA "go/go.sum", "other/go.sum");
    assert_int_equal(mux->n_hashes, 0);
    parse_file(d, DATA "go/go.sum", "svc/go.sum");
    assert_int_equal(mrun_deps_count(d), 6);
    mux = get(d, "golang", "github.com/gorilla/mux", "v1.8.1");
    assert_int_equal(mux->n_hashes, 1);
    assert_string_equal(hash(mux, MRUN_HASH_SHA256, 0),
                        "4ee04be3db57c20ac561686aacd82b50d118f76bbcd523e1bbbb137734048966");
    assert_string_equal(hash(get(d, "golang", "github.com/example/errors", NULL), MRUN_HASH_SHA256, 0),
                        "14404bc75cd2db5e28c298f2eeab017a2c5b51192e850030acae54c0b193c2de");
    assert_int_equal(get(d, "golang", "golang.org/x/sys", NULL)->n_hashes, 1);
    assert_int_equal(get(d, "golang", "gopkg.in/yaml.v3", NULL)->n_hashes, 0);

    /* a bad line later in go.sum undoes the hashes it added before */
    parse_bad(d, "svc/go.sum", "gopkg.in/yaml.v3 v3.0.1 h1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=\nbad line\n",
              "svc/go.sum:2: expected: module version hash");
    assert_int_equal(get(d, "golang", "gopkg.in/yaml.v3", NULL)->n_hashes, 0);
    parse_bad(d, "svc/go.sum", "a v1.0.0 h1:notbase64!\n", "svc/go.sum:1: bad h1 hash");
}

static void test_go_bad(void **state)
{
    mrun_deps *d = *state;
    parse_bad(d, "go.mod", "module a\nrequire (\n  b v1.0.0\n", "go.mod:3: unclosed require block");
    parse_bad(d, "go.mod", "module a\nfrobnicate x\n", "go.mod:2: unknown directive 'frobnicate'");
    parse_bad(d, "go.mod", "require b v1.0.0\n", "go.mod: no module directive");
    parse_bad(d, "go.mod", "module a\nrequire b 1.0.0\n", "go.mod:2: usage: require module/path v1.2.3");
    parse_bad(d, "go.mod", "module a\nreplace b => \n", "go.mod:2: usage: replace");
    parse_bad(d, "go.mod", "module \"a\n", "go.mod:1: unterminated string");
    parse_bad(d, "go.mod", "module a\nmodule b\n", "go.mod:2: usage: module module/path (once)");
}

/* ---- ruby ---- */

static void test_gemfile(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "ruby/Gemfile.lock", "Gemfile.lock");
    assert_int_equal(mrun_deps_count(d), 7);
    const mrun_dep *app = get(d, "gem", "myapp", "1.0.0");
    assert_true(app->is_project);
    assert_false(app->direct);
    const mrun_dep *fl = get(d, "gem", "fancy_logger", "0.3.0");
    assert_string_equal(fl->resolved, "https://github.com/example/fancy_logger.git");
    assert_true(fl->direct);
    assert_true(has_edge(fl, idx(d, "gem", "rack", NULL)));
    const mrun_dep *noko = get(d, "gem", "nokogiri", "1.15.4"); /* two platforms, one component */
    assert_true(noko->direct);                                  /* through myapp's gemspec */
    assert_int_equal(noko->n_hashes, 2);
    assert_true(has_edge(noko, idx(d, "gem", "mini_portile2", NULL)));
    assert_true(has_edge(noko, idx(d, "gem", "racc", NULL)));
    assert_int_equal(noko->n_deps, 2);
    assert_true(get(d, "gem", "rack", "2.2.8")->direct);
    assert_false(get(d, "gem", "racc", "1.7.3")->direct);
    const mrun_dep *rake = get(d, "gem", "rake", "13.1.0");
    assert_true(rake->direct);
    assert_int_equal(rake->n_hashes, 0);
    assert_string_equal(hash(get(d, "gem", "racc", NULL), MRUN_HASH_SHA256, 0),
                        "b785ab8a30ec43bce073c51dbbe791fd27000f68d1c996c95da98bf685316905");

    parse_bad(d, "Gemfile.lock", "GEM\n  remote: https://rubygems.org/\n  specs:\n    rack\n",
              "Gemfile.lock:4: expected 'name (version)'");
    parse_bad(d, "Gemfile.lock", "  rack (1.0)\n", "Gemfile.lock:1: indented text before any section");
    parse_bad(d, "Gemfile.lock", "GEM\n  specs:\n[[package]]\n", "Gemfile.lock:3: expected a section name in capitals");
    parse_bad(d, "Gemfile.lock", "GEM\n  specs:\n     rack (1.0)\n", "Gemfile.lock:3: unexpected indentation");
    parse_bad(d, "Gemfile.lock", "GEM\n  specs:\n    a (1.0)\nCHECKSUMS\n  a (1.0) sha256=12\n",
              "Gemfile.lock:3: bad SHA-256 hash of 'a'");
}

/* ---- php ---- */

static void test_composer(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "php/composer.lock", "web/composer.lock");
    assert_int_equal(mrun_deps_count(d), 4);
    const mrun_dep *mono = get(d, "composer", "monolog/monolog", "3.5.0");
    assert_string_equal(mono->license, "MIT");
    assert_int_equal(mono->n_hashes, 0); /* empty shasum */
    assert_string_equal(mono->resolved, "https://api.github.com/repos/Seldaek/monolog/zipball/"
                                        "c915e2634718dbc8a4a15c61b0e62e7a44e14448");
    assert_true(has_edge(mono, idx(d, "composer", "psr/log", NULL)));
    assert_int_equal(mono->n_deps, 1); /* php is the platform */
    const mrun_dep *log = get(d, "composer", "psr/log", "3.0.0");
    assert_string_equal(hash(log, MRUN_HASH_SHA1, 0), "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b");
    assert_int_equal(log->n_deps, 0);
    const mrun_dep *poly = get(d, "composer", "symfony/polyfill-ctype", "v1.28.0");
    assert_string_equal(poly->license, "(GPL-2.0-or-later OR MIT)");
    assert_int_equal(poly->n_deps, 0); /* psr/log-implementation is virtual */
    const mrun_dep *unit = get(d, "composer", "phpunit/phpunit", "10.5.2");
    assert_int_equal(unit->scope, MRUN_DEP_DEV);
    assert_int_equal(poly->scope, MRUN_DEP_REQUIRED);
    assert_true(has_edge(unit, idx(d, "composer", "symfony/polyfill-ctype", NULL)));

    parse_bad(d, "composer.lock", "{\"packages\": [{\"name\": \"a/b\"}]}",
              "composer.lock: packages[0]: package without a name and version");
    parse_bad(d, "composer.lock", "{\"packages\": [\n{\"name\": \"a/b\",, }]}", "composer.lock:2:");
    parse_bad(d, "composer.lock", "{\"packages\": [{\"name\": \"a/b\", \"version\": \"1\", \"license\": 3}]}",
              "composer.lock: license of 'a/b' is not an array");
    parse_bad(d, "composer.lock", "{\"packages-dev\": {}}", "composer.lock: 'packages-dev' is not an array");
    parse_bad(d, "composer.lock", "[]", "composer.lock: not a JSON object");
}

/* ---- through the scan: go.sum after the go.mod beside it, one warning for a bad file ---- */

static void copy_to(const char *from, const char *dir, const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
    FILE *in = fopen(from, "rb"), *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), in)) > 0;)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void count_warning(void *ctx, const char *path, const char *reason)
{
    (void)reason;
    assert_string_equal(path, "bad/Gemfile.lock");
    (*(int *)ctx)++;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void test_scan(void **state)
{
    mrun_deps *d = *state;
    char dir[] = "/tmp/mrun-depslang-XXXXXX";
    assert_non_null(mkdtemp(dir));
    copy_to(DATA "go/go.sum", dir, "svc/go.sum");
    copy_to(DATA "go/go.mod", dir, "svc/go.mod");
    copy_to(DATA "cargo/Cargo.lock", dir, "rs/Cargo.lock");
    copy_to(DATA "python/requirements-dev.txt", dir, "requirements-dev.txt");
    copy_to(DATA "cargo/v1/Cargo.lock", dir, "bad/Gemfile.lock"); /* not a Gemfile.lock */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), warnings = 0;
    assert_true(fd >= 0);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_deps_scan(fd, d, count_warning, &warnings, &err), 0);
    close(fd);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    assert_int_equal(warnings, 1);
    assert_int_equal(mrun_deps_count(d), 6 + 9 + 1);
    const mrun_dep *mux = get(d, "golang", "github.com/gorilla/mux", "v1.8.1");
    assert_string_equal(mux->source, "svc/go.mod");
    assert_int_equal(mux->n_hashes, 1);
    assert_string_equal(get(d, "cargo", "anyhow", NULL)->source, "rs/Cargo.lock");
}

/* ---- everything in one inventory ---- */

static void test_all_together(void **state)
{
    mrun_deps *d = *state;
    parse_file(d, DATA "php/composer.lock", "composer.lock");
    parse_file(d, DATA "ruby/Gemfile.lock", "Gemfile.lock");
    parse_file(d, DATA "cargo/Cargo.lock", "Cargo.lock");
    size_t n = mrun_deps_count(d);
    assert_int_equal(n, 4 + 7 + 9);
    for (size_t i = 0; i < n; i++) /* edges stay inside their own file */
        for (size_t k = 0; k < mrun_deps_at(d, i)->n_deps; k++)
            assert_string_equal(mrun_deps_at(d, mrun_deps_at(d, i)->deps[k])->source, mrun_deps_at(d, i)->source);
    assert_str_or_null(get(d, "gem", "rake", NULL)->license, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cargo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cargo_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cargo_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requirements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requirements_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poetry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_go_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gemfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_composer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_together, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
