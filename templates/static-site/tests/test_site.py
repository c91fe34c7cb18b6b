"""The real site under site/, built into a scratch directory: every page is complete and every link resolves."""
import os
import tempfile
import unittest

from build import build, check_site, parse_page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SiteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dist = os.path.join(cls.tmp.name, "dist")
        build(os.path.join(ROOT, "site"), cls.dist)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def read(self, rel):
        with open(os.path.join(self.dist, rel), encoding="utf-8") as f:
            return f.read()

    def pages(self):
        return sorted(name for name in os.listdir(self.dist) if name.endswith(".html"))

    def test_no_problems(self):
        self.assertEqual(check_site(self.dist), [])

    def test_healthz_and_404(self):
        self.assertEqual(self.read("healthz"), "ok\n")
        self.assertIn("Not found", self.read("404.html"))

    def test_every_page_is_complete(self):
        self.assertIn("index.html", self.pages())
        for name in self.pages():
            text = self.read(name)
            with self.subTest(page=name):
                self.assertTrue(text.startswith("<!DOCTYPE html>"))
                self.assertIn('<html lang="', text)
                self.assertRegex(text, r"<title>[^<]+</title>")
                self.assertIn('http-equiv="Content-Security-Policy"', text)
                self.assertEqual(parse_page(text).problems, [])

    def test_pages_link_to_each_other(self):
        for name in ("index.html", "about.html"):
            links = {url for _, url in parse_page(self.read(name)).urls}
            self.assertLessEqual({"index.html", "about.html", "css/style.css", "js/main.js"}, links)


if __name__ == "__main__":
    unittest.main()
