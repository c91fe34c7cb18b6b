"""Builds {{app}}: copies site/ into dist/, strips comments and blank space from CSS and indentation from HTML, then
checks what it wrote: every local link and asset exists (fragments included), no page has inline scripts, event
handler attributes, javascript: or plain-http URLs, and no file holds something that looks like a credential.

Usage: python3 scripts/build.py [SRC [DST]]   (default: site dist). Exit 1 with one line per problem. Standard
library only."""
import html.parser
import os
import posixpath
import re
import shutil
import sys
import urllib.parse

MAX_FILE = 4 * 1024 * 1024
TEXT_EXT = {".html", ".css", ".js", ".txt", ".svg", ".json", ""}
SECRET_PATTERNS = [
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("Stripe live key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{24,}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("credential assignment",
     re.compile(r"""(?i)\b(?:api[_-]?key|secret|token|passw(?:or)?d)\b["']?\s*[:=]\s*["'][^"'\s]{8,}["']""")),
]


def minify_css(text):
    """CSS without comments and without blank space that separates nothing; quoted strings are kept as they are."""
    out = []
    for token in re.split(r"""(/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')""", text, flags=re.S):
        if token.startswith("/*"):
            continue
        if token.startswith(("'", '"')):
            out.append(token)
            continue
        token = re.sub(r"\s+", " ", token)
        token = re.sub(r"\s*([{};,>}])\s*", r"\1", token)
        out.append(re.sub(r":\s+", ":", token))
    return "".join(out).replace(";}", "}").strip() + "\n"


def minify_html(text):
    """HTML without comments, indentation and blank lines; <pre> and <textarea> are kept as they are."""
    out, keep = [], False
    for line in re.sub(r"<!--(?!\[).*?-->", "", text, flags=re.S).splitlines():
        if keep:
            out.append(line)
        elif line.strip():
            out.append(line.strip())
        opens = len(re.findall(r"<(?:pre|textarea)\b", line, re.I))
        closes = len(re.findall(r"</(?:pre|textarea)>", line, re.I))
        keep = (keep or opens > closes) and not (closes > opens)
    return "\n".join(out) + "\n"


class PageParser(html.parser.HTMLParser):
    """Collects a page's URLs (attribute, value), its ids, and what a strict Content-Security-Policy would block."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls = []
        self.ids = set()
        self.problems = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "name" in attrs:
            self.ids.add(attrs["name"])
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"inline event handler {name}= on <{tag}>")
            if name in ("href", "src", "action", "poster") and value is not None:
                self.urls.append((name, value.strip()))
        if tag == "script":
            self._in_script = "src" not in attrs

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("inline <script> (put the code in a .js file)")


def parse_page(text):
    """A PageParser fed with the whole page."""
    parser = PageParser()
    parser.feed(text)
    parser.close()
    return parser


def find_secrets(text):
    """Names of the credential patterns found in text, with their line numbers."""
    found = []
    for name, pattern in SECRET_PATTERNS:
        for m in pattern.finditer(text):
            found.append((text.count("\n", 0, m.start()) + 1, name))
    return sorted(found)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _check_url(root, page_rel, attr, url, pages):
    """A problem with one URL of a page, or None."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "http":
        return f"{attr}={url!r}: plain http (use https)"
    if scheme == "javascript":
        return f"{attr}={url!r}: javascript: URL"
    if scheme or parts.netloc:
        return None  # external (https:, mailto:, data:, //host): not fetched, the build has no network
    path = urllib.parse.unquote(parts.path)
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page_rel), path)) if path else page_rel
    if path.endswith("/"):
        target = posixpath.join(target, "index.html")
    if target.startswith("../") or target == ".." or path.startswith("/"):
        return f"{attr}={url!r}: leaves the site (use a relative link inside it)"
    if not os.path.isfile(os.path.join(root, target)):
        return f"{attr}={url!r}: {target} does not exist"
    if parts.fragment and target in pages and parts.fragment not in pages[target].ids:
        return f"{attr}={url!r}: {target} has no id '{parts.fragment}'"
    return None


def check_site(root):
    """Every problem in the built site at root, as 'path: message' lines; empty when the site is good."""
    pages, problems = {}, []
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            files.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/"))
    for rel in files:
        if os.path.splitext(rel)[1] not in TEXT_EXT:
            continue
        text = _read(os.path.join(root, rel))
        problems += [f"{rel}:{line}: looks like a {name}" for line, name in find_secrets(text)]
        if rel.endswith(".html"):
            pages[rel] = parse_page(text)
            problems += [f"{rel}: {p}" for p in pages[rel].problems]
    for rel, page in sorted(pages.items()):
        for attr, url in page.urls:
            problem = _check_url(root, rel, attr, url, pages)
            if problem:
                problems.append(f"{rel}: {problem}")
    return problems


def build(src, dst):
    """Copies src into a fresh dst, minifying CSS and HTML; returns the number of files written. Refuses symlinks
    and files over 4 MiB."""
    shutil.rmtree(dst, ignore_errors=True)
    count = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        out_dir = os.path.join(dst, os.path.relpath(dirpath, src))
        os.makedirs(out_dir, exist_ok=True)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or os.path.getsize(path) > MAX_FILE:
                raise ValueError(f"{path}: symlinks and files over {MAX_FILE} bytes are not built")
            ext = os.path.splitext(name)[1]
            if ext in (".css", ".html"):
                text = _read(path)
                with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
                    f.write(minify_css(text) if ext == ".css" else minify_html(text))
            else:
                shutil.copyfile(path, os.path.join(out_dir, name))
            count += 1
    return count


def main(argv):
    """Builds and checks; returns the exit status."""
    src = argv[1] if len(argv) > 1 else "site"
    dst = argv[2] if len(argv) > 2 else "dist"
    count = build(src, dst)
    problems = check_site(dst)
    for p in problems:
        print(f"{dst}/{p}", file=sys.stderr)
    if problems:
        print(f"build: {len(problems)} problems in {dst}/", file=sys.stderr)
        return 1
    print(f"build: {count} files in {dst}/, every link resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
