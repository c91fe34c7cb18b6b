import io
import os
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

from build import PageParser, build, check_site, find_secrets, main, minify_css, minify_html, parse_page

PAGE = """<!DOCTYPE html><html lang="en"><head><title>t</title><link rel="stylesheet" href="s.css"></head>
<body><h1 id="top">x</h1>{body}</body></html>
"""


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class MinifyTest(unittest.TestCase):
    def test_css_drops_comments_and_space(self):
        self.assertEqual(minify_css("/* c */\na , b > c {\n  color : red;\n  margin: 0 auto;\n}\n"),
                         "a,b>c{color :red;margin:0 auto}\n")

    def test_css_keeps_strings_and_comment_quotes(self):
        css = "/* don't */ p::after { content: \"a ; { b\"; }"
        self.assertEqual(minify_css(css), 'p::after{content:"a ; { b"}\n')

    def test_html_drops_indentation_and_comments_but_not_pre(self):
        src = "<div>\n    <!-- note -->\n    <p>hi</p>\n\n<pre>\n  keep   this\n</pre>\n  <i>x</i>\n</div>\n"
        self.assertEqual(minify_html(src), "<div>\n<p>hi</p>\n<pre>\n  keep   this\n</pre>\n<i>x</i>\n</div>\n")


class ParsePageTest(unittest.TestCase):
    def test_collects_urls_and_ids(self):
        page = parse_page('<a href="a.html#x" id="me">a</a><img src="i.png"><a name="old"></a>')
        self.assertIsInstance(page, PageParser)
        self.assertEqual(page.urls, [("href", "a.html#x"), ("src", "i.png")])
        self.assertEqual(page.ids, {"me", "old"})
        self.assertEqual(page.problems, [])

    def test_flags_inline_code(self):
        page = parse_page('<button onclick="go()">x</button><script>alert(1)</script><script src="ok.js"></script>')
        self.assertEqual(len(page.problems), 2)
        self.assertIn("onclick", page.problems[0])
        self.assertIn("inline <script>", page.problems[1])


class FindSecretsTest(unittest.TestCase):
    def test_finds_key_shapes(self):
        # built at run time so that this file itself holds no key-shaped literal
        key = "AKIA" + "Q7HD2KXW9PLMZ4RT"
        pem = "-----BEGIN " + "PRIVATE KEY-----"
        text = f"ok\nconst k = '{key}';\n{pem}\n"
        self.assertEqual(find_secrets(text), [(2, "AWS access key id"), (3, "private key")])

    def test_finds_assignments_not_prose(self):
        self.assertEqual(find_secrets('var apiKey = "x"; api_key: "q8Zr2LmN0pWx"'), [(1, "credential assignment")])
        self.assertEqual(find_secrets("Reset your password on the account page."), [])


class CheckSiteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        write(self.root, "s.css", "p{}")

    def tearDown(self):
        self.tmp.cleanup()

    def test_good_site(self):
        write(self.root, "index.html", PAGE.format(body='<a href="sub/">s</a><a href="#top">t</a>'))
        sub = PAGE.replace('href="s.css"', 'href="../s.css"')
        write(self.root, "sub/index.html", sub.format(body='<a href="../index.html#top">home</a>'
                                                      '<a href="https://example.org/x">ext</a>'))
        self.assertEqual(check_site(self.root), [])

    def test_broken_links(self):
        write(self.root, "index.html", PAGE.format(body='<a href="gone.html">a</a><a href="s.css#x">b</a>'
                                                       '<a href="index.html#nope">c</a><img src="../etc/passwd">'
                                                       '<a href="http://example.org">d</a><a href="/abs.html">e</a>'
                                                       '<a href="javascript:go()">f</a>'))
        problems = check_site(self.root)
        self.assertEqual(len(problems), 6, problems)
        joined = "\n".join(problems)
        for want in ("gone.html does not exist", "has no id 'nope'", "leaves the site", "plain http",
                     "javascript: URL"):
            self.assertIn(want, joined)

    def test_secrets_in_assets(self):
        write(self.root, "index.html", PAGE.format(body=""))
        write(self.root, "app.js", "const token = 'Zq81mWx0LpRt';\n")
        self.assertEqual(check_site(self.root), ["app.js:1: looks like a credential assignment"])


class BuildTest(unittest.TestCase):
    def test_builds_and_checks(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, "site"), os.path.join(tmp, "dist")
            write(src, "s.css", "p {\n  color: red;\n}\n")
            write(src, "index.html", PAGE.format(body='  <a href="#top">t</a>'))
            write(src, "healthz", "ok\n")
            write(dst, "stale.html", "left over from an earlier build")
            self.assertEqual(build(src, dst), 3)
            self.assertEqual(sorted(os.listdir(dst)), ["healthz", "index.html", "s.css"])
            with open(os.path.join(dst, "s.css"), encoding="utf-8") as f:
                self.assertEqual(f.read(), "p{color:red}\n")
            out = io.StringIO()
            with redirect_stdout(out):
                self.assertEqual(main(["build.py", src, dst]), 0)
            self.assertIn("every link resolves", out.getvalue())

    def test_main_fails_on_a_broken_link(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, "site"), os.path.join(tmp, "dist")
            write(src, "index.html", PAGE.format(body='<a href="missing.html">m</a>'))
            err = io.StringIO()
            with redirect_stderr(err):
                self.assertEqual(main(["build.py", src, dst]), 1)
            self.assertIn("missing.html does not exist", err.getvalue())

    def test_refuses_symlinks(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "site")
            write(src, "index.html", PAGE.format(body=""))
            os.symlink("/etc/hostname", os.path.join(src, "host.txt"))
            with self.assertRaisesRegex(ValueError, "symlinks"):
                build(src, os.path.join(tmp, "dist"))


if __name__ == "__main__":
    unittest.main()
