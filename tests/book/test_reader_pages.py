"""The reader pages and the book's apparatus stay true to the package they describe.

Checked without building the book: every citation has a bibliography entry with a link; every
message the troubleshooting page lists is still the package's own text; the glossary and the
troubleshooting page are as complete as promised; every exercise has a hint whose package names
exist; comparisons with other tools stay in chapter 1; every reader page is in the table of
contents.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
PACKAGE = ROOT / "companion" / "closedloop"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
READER_PAGES = ["install", "troubleshooting", "enterprise", "cost", "glossary", "references",
                "execution"]
#: Peer tools and the phrases that argued with them; chapter 1's related work is their one place.
PEER_TALK = re.compile(r"reference implementations?|reference demos?|improves on|Evidently|"
                       r"NannyML|dbdemos|mlops-end2end|end-to-end demo")


def _markdown(chapter: Path) -> list[str]:
    nb = json.loads(chapter.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def _all_markdown() -> dict[str, str]:
    texts = {c.stem: "\n".join(_markdown(c)) for c in CHAPTERS}
    texts.update({p.stem: p.read_text() for p in BOOK.glob("*.md")})
    return texts


def _bib_entries() -> dict[str, str]:
    text = (BOOK / "references.bib").read_text()
    starts = list(re.finditer(r"(?m)^@\w+\{([^,\s]+),", text))
    return {m.group(1): text[m.start():(starts[i + 1].start() if i + 1 < len(starts) else None)]
            for i, m in enumerate(starts)}


def test_every_citation_has_an_entry_with_a_link():
    entries = _bib_entries()
    assert len(entries) >= 14
    unlinked = [key for key, entry in entries.items() if not re.search(r"url\s*=\s*\{http", entry)]
    assert not unlinked, f"bibliography entries without a url: {unlinked}"
    cited = {(page, key.strip()) for page, text in _all_markdown().items()
             for keys in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", text) for key in keys.split(",")}
    missing = sorted(f"{page}: {key}" for page, key in cited if key not in entries)
    assert not missing, f"citations without a bibliography entry: {missing}"
    assert any(key == "sun2014" for _, key in cited), "chapter 4's fast DeLong is not cited"


def test_the_bibliography_is_configured():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    assert "{bibliography}" in (BOOK / "references.md").read_text()


def _package_strings() -> str:
    """Every .py file of the package as one text: adjacent string literals joined as Python
    joins them, and ``{NAME}`` of a module-level string constant (``CHAMPION``) replaced by its
    value, as the f-string prints it."""
    files = [p.read_text() for p in PACKAGE.rglob("*.py")]
    constants: dict[str, str] = {}
    for tree in map(ast.parse, files):
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                names, values = node.targets[0], node.value
                if isinstance(names, ast.Tuple) and isinstance(values, ast.Tuple):
                    pairs = zip(names.elts, values.elts)
                else:
                    pairs = [(names, values)]
                constants.update((n.id, v.value) for n, v in pairs if isinstance(n, ast.Name)
                                 and isinstance(v, ast.Constant) and isinstance(v.value, str))
    text = re.sub(r"[\"']\s*\n\s*(?:\+\s*)?[rf]?[\"']", "", "\n".join(files))
    return re.sub(r"\{([A-Z][A-Z_]+)\}", lambda m: constants.get(m.group(1), m.group(0)), text)


def _troubleshooting_entries() -> list[tuple[str, str]]:
    """``(heading, body)`` of each ``### ...`` entry of the troubleshooting page."""
    text = (BOOK / "troubleshooting.md").read_text()
    parts = re.split(r"(?m)^### (.+)$", text)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_troubleshooting_quotes_the_package_s_own_messages():
    """Each entry's heading quotes the fixed part of a message (``...`` where it varies); each
    part must be in the package's source, and the entry's example must show the message."""
    entries = _troubleshooting_entries()
    assert len(entries) >= 15, f"only {len(entries)} troubleshooting entries"
    source = _package_strings()
    stale, unshown = [], []
    for heading, body in entries:
        for phrase in re.findall(r"`([^`]+)`", heading):
            if "JAVA_GATEWAY" in phrase:  # PySpark's message, not the package's
                continue
            pieces = [piece for piece in phrase.split("...") if piece.strip()]
            stale += [piece for piece in pieces if piece not in source]
            pattern = ".*?".join(re.escape(" ".join(piece.split())) for piece in pieces)
            if not re.search(pattern, " ".join(body.split())):
                unshown.append(phrase)
    assert not stale, f"messages the package no longer has: {stale}"
    assert not unshown, f"entries whose example does not show their message: {unshown}"


def test_glossary_defines_the_book_s_terms():
    text = (BOOK / "glossary.md").read_text()
    block = re.search(r"```\{glossary\}\n(.*?)```", text, re.S)
    assert block, "glossary.md has no {glossary} directive"
    terms = re.findall(r"(?m)^(\S.*)$", block.group(1))
    assert len(terms) >= 25, f"only {len(terms)} glossary terms"
    for term in ["Champion", "Challenger", "Alias", "PSI", "CBPE", "Drift", "Concept drift",
                 "Ground truth", "Backfill", "Gate", "Non-inferiority", "DeLong test",
                 "O'Brien-Fleming", "mSPRT", "SRM", "Inference log"]:
        assert term in terms, f"glossary lacks {term!r}"


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_every_exercise_has_a_hint_naming_real_functions(chapter: Path):
    cells = [t for t in _markdown(chapter) if t.lstrip().startswith("## Exercises")]
    assert len(cells) == 1, f"{chapter.name}: want one Exercises cell"
    exercises = re.findall(r"(?m)^\d+\. ", cells[0])
    hints = re.findall(r"(?m)^ +:::\{dropdown\} Hint$", cells[0])
    assert exercises and len(hints) == len(exercises), (
        f"{chapter.name}: {len(exercises)} exercises, {len(hints)} hints")
    names = set(re.findall(r"closedloop(?:\.[A-Za-z_]\w*)+", cells[0]))
    unknown = sorted(n for n in names if not _resolves(n))
    assert not unknown, f"{chapter.name}: hints name what the package does not have: {unknown}"


def test_comparisons_with_other_tools_stay_in_chapter_one():
    found = [f"{chapter.stem}: {line.strip()[:100]}"
             for chapter in CHAPTERS if not chapter.stem.startswith("01_")
             for text in _markdown(chapter) for line in text.splitlines()
             if PEER_TALK.search(line)]
    assert not found, "comparisons outside chapter 1's related work:\n" + "\n".join(found)
    intro = "\n".join(_markdown(CHAPTERS[0]))
    assert "{cite:p}`dbdemos_mlops`" in intro


def test_reader_pages_are_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    missing = [p for p in READER_PAGES
               if not (BOOK / f"{p}.md").is_file() or f"file: book/{p}\n" not in toc]
    assert not missing, f"reader pages missing or not in _toc.yml: {missing}"
