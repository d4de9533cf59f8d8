"""The documentation holds together: every relative link in README.md and docs/**/*.md points to a
file that exists and, with `#anchor`, to a heading of that file (GitHub's slugs); the front page
stays a front page (at most 15,000 bytes) and names only scripts that exist."""
import pathlib
import re
from urllib.parse import unquote

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_BYTES = 15_000

# [text](target) and ![alt](target); target up to the first space or ")" (an optional "title" after it)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# `python x.py`, `python3 x.py`, `.venv/bin/python x.py`; not `python -m pkg`
SCRIPT = re.compile(r"\bpython3?\s+([\w./-]+\.py)\b")


def markdown_files():
    return [README] + sorted((ROOT / "docs").rglob("*.md"))


def prose_lines(text):
    """The lines outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def strip_code_spans(line):
    return re.sub(r"(`+).*?\1", "", line)


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lowercase, every character but letters,
    digits, '_', '-' and spaces removed, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)     # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text)                            # inline HTML
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor of a markdown file, duplicates numbered as GitHub does (x, x-1, x-2)."""
    seen, out = {}, set()
    for line in prose_lines(path.read_text()):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path):
    """(line number, target) of every link in the file's prose (code spans and blocks skipped)."""
    out, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if fenced:
            continue
        for m in LINK.finditer(strip_code_spans(line)):
            out.append((number, m.group(1)))
    return out


def broken_links(path, root=None):
    root = root or ROOT
    problems = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):       # http(s):, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
            continue
        if anchor:
            if dest.is_dir() or dest.suffix.lower() != ".md":
                problems.append(f"{where}: an anchor into a file that is not markdown")
            elif unquote(anchor).lower() not in anchors(dest):
                problems.append(f"{where}: no heading with anchor #{anchor} in {dest.relative_to(root)}")
    return problems


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    problems = broken_links(path)
    assert not problems, "\n".join(problems)


def test_docs_pages_exist_and_the_front_page_links_each_one():
    text = README.read_text()
    pages = sorted((ROOT / "docs").rglob("*.md"))
    assert len(pages) >= 8, pages
    for page in pages:
        rel = page.relative_to(ROOT).as_posix()
        assert f"({rel})" in text or f"({rel}#" in text, f"README.md does not link {rel}"


def test_readme_is_a_front_page():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size:,} bytes; the front page may be {README_MAX_BYTES:,} at most"


def test_front_page_commands_name_existing_scripts():
    scripts = set(SCRIPT.findall(README.read_text()))
    assert scripts, "the front page names no `python <script>.py` command"
    missing = sorted(s for s in scripts if not (ROOT / s).is_file() or "/" in s)
    assert not missing, f"README.md runs scripts that are not in the repository root: {missing}"


# ------------------------------------------------------------------ the checker itself can fail

def test_the_checker_catches_a_broken_file_anchor_and_image(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Use it: the `app.py` (new)\n\n## Use it: the `app.py` (new)\n")
    good = tmp_path / "README.md"
    good.write_text("[p](docs/page.md) [a](docs/page.md#use-it-the-apppy-new) "
                    "[b](docs/page.md#use-it-the-apppy-new-1) [w](https://example.com/x#y) "
                    "[m](mailto:a@b.c) [self](#top)\n\n# Top\n\n```\n[not a link](nowhere.md)\n```\n"
                    "`[in code](nowhere.md)`\n")
    assert broken_links(good, tmp_path) == []
    bad = tmp_path / "BAD.md"
    bad.write_text("[x](docs/missing.md) ![img](docs/images/none.png) [y](docs/page.md#no-such-heading) "
                   "[z](#nowhere)\n")
    problems = broken_links(bad, tmp_path)
    assert len(problems) == 4, problems


def test_slug_follows_github():
    assert slug("A. Face inpainting with MSE + perceptual + GAN loss, global and local discriminators "
                "(GLCIC-style)") == ("a-face-inpainting-with-mse--perceptual--gan-loss-global-and-local-"
                                     "discriminators-glcic-style")
    assert slug("Paper A: GLCIC-style face inpainting (`models/iizuka.py`, `train_iizuka.py`, `inpaint.py`)") \
        == "paper-a-glcic-style-face-inpainting-modelsiizukapy-train_iizukapy-inpaintpy"
    assert slug("Evaluate: the papers' tables") == "evaluate-the-papers-tables"
