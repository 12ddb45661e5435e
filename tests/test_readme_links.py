"""The front door and its pages: README.md and docs/*.md.

Every relative link resolves to a file of the checkout, and every ``#anchor`` to a heading of the page it names
(GitHub's heading ids); the README is at most 15,000 bytes; no line is over 300 characters; no page speaks as a
diary ("this morning", "today", "issue 20", …); each docs/ page is dated once ("2026-12-07." at the start of a
line). Pages other engineers still have to bring to these rules are marked ``xfail(strict=True)`` per check, so
the mark fails as soon as the page complies and must then be removed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_BYTES = 15_000
LINE_MAX = 300

# Diary words: what a page says must be true whenever it is read, not on the day it was written. The kit's own
# issue numbers (1–99) are diary words too; upstream issues (expanso#395, nats-server 4014) are references.
DIARY = re.compile(
    r"\b(this morning|the morning|today|tonight|yesterday|the afternoon|this afternoon|the day's start|"
    r"a review's tests|issue [0-9]{1,2})\b",
    re.IGNORECASE,
)
DATE_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}\.(\s|$)")

# (page, check) -> why it is expected to fail still. Each entry is a page another engineer owns.
KNOWN: dict[tuple[str, str], str] = {}

# Pages the README links to that are still being written (a link to one is not counted as broken); none now.
PENDING: dict[Path, str] = {}

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, line))
    return out


def slug(heading: str) -> str:
    """GitHub's id for a heading: the rendered text, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every id a link may point at in a Markdown page: headings (with GitHub's -1, -2 for repeats) and <a id>."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            k = seen.get(base, 0)
            out.add(base if k == 0 else f"{base}-{k}")
            seen[base] = k + 1
        out.update(_HTML_ID.findall(line))
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of ``path`` whose file or #anchor does not exist (or lies outside ``root``). A link's
    text may run over several lines; fenced code and inline code are not links."""
    lines = path.read_text(encoding="utf-8").splitlines()
    prose = {n for n, _ in _prose_lines("\n".join(lines))}
    text = "\n".join(_INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line) if n in prose else ""
                     for n, line in enumerate(lines, 1))
    bad: list[str] = []
    for m in _LINK.finditer(text):
        target, n = m.group(1), text.count("\n", 0, m.start()) + 1
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto: … are not ours to check offline
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"line {n}: {target} (no such file)")
            continue
        if not dest.is_relative_to(root):
            bad.append(f"line {n}: {target} (outside the checkout)")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"line {n}: {target} (no heading #{anchor} in {dest.relative_to(root).as_posix()})")
    return bad


def _param(check: str) -> list:
    out = []
    for p in pages():
        why = KNOWN.get((_rel(p), check))
        marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
        out.append(pytest.param(p, id=_rel(p), marks=marks))
    return out


def _not_pending(problem: str) -> bool:
    return not any(problem.split(": ", 1)[1].startswith(f"{_rel(p)} ") for p in PENDING if not p.exists())


@pytest.mark.parametrize("page", _param("links"))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert [b for b in broken_links(page) if _not_pending(b)] == []


def test_readme_is_a_front_door() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size:,} bytes; move reference material to docs/"


@pytest.mark.parametrize("page", _param("lines"))
def test_no_line_over_300_characters(page: Path) -> None:
    long = [(n, len(line)) for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
            if len(line) > LINE_MAX]
    assert long == []


@pytest.mark.parametrize("page", _param("diary"))
def test_no_diary_words(page: Path) -> None:
    hits = [(n, m.group(0)) for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
            for m in DIARY.finditer(line)]
    assert hits == []


@pytest.mark.parametrize("page", [p for p in _param("dated") if p.values[0] != README])
def test_each_docs_page_is_dated_once(page: Path) -> None:
    dated = [n for n, line in _prose_lines(page.read_text(encoding="utf-8")) if DATE_LINE.match(line)]
    assert len(dated) == 1, f"{_rel(page)}: date lines at {dated or 'none'}"


def linked_pages(path: Path) -> set[Path]:
    """The Markdown pages of the checkout that ``path`` links to."""
    text = "\n".join(line for _, line in _prose_lines(path.read_text(encoding="utf-8")))
    out = set()
    for target in _LINK.findall(_INLINE_CODE.sub("", text)):
        file_part = target.partition("#")[0]
        if file_part.endswith(".md") and not re.match(r"^[a-z][a-z0-9+.-]*:", file_part, re.IGNORECASE):
            dest = (path.parent / file_part).resolve()
            if dest.is_file() and dest.is_relative_to(ROOT):
                out.add(dest)
    return out


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    """Moved, not lost: a newcomer following links from the README reaches every page under docs/."""
    seen, todo = {README.resolve()}, [README.resolve()]
    while todo:
        for dest in linked_pages(todo.pop()) - seen:
            seen.add(dest)
            todo.append(dest)
    assert sorted(_rel(p) for p in DOCS.rglob("*.md") if p.resolve() not in seen) == []


def test_the_checker_finds_a_broken_file_a_broken_anchor_and_a_repeat(tmp_path: Path) -> None:
    """The checks above could fail: a missing file, a missing anchor, and GitHub's -1 for a repeated heading."""
    page = DOCS / "cli.md"
    fake = tmp_path / "page.md"
    fake.write_text(
        "# Top\n\n## A `code` heading: with, punctuation!\n\n## Top\n\n"
        f"[ok]({page.as_posix()}#commands) [ok2](#a-code-heading-with-punctuation) [ok3](#top-1)\n"
        "[gone](nowhere.md) [bad](#no-such-heading) `[in code](nowhere-either.md)`\n"
        "```\n[in a fence](nowhere-at-all.md)\n```\n[web](https://example.com/x)\n"
        "![a picture whose text runs\nover two lines](img/missing.png)\n",
        encoding="utf-8",
    )
    assert broken_links(fake, root=Path("/")) == [
        "line 8: nowhere.md (no such file)",
        f"line 8: #no-such-heading (no heading #no-such-heading in {fake.relative_to('/').as_posix()})",
        "line 13: img/missing.png (no such file)",
    ]
    outside = tmp_path / "outside.md"
    outside.write_text(f"[up]({fake.as_posix()})\n", encoding="utf-8")
    assert broken_links(outside, root=DOCS) == [f"line 1: {fake.as_posix()} (outside the checkout)"]
    assert DIARY.search("as measured this morning") and DIARY.search("see issue 20")
    assert not DIARY.search("expanso#395, issue 395 and nats-server issue 4014")
