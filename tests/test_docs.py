"""The documentation runs: every ```python block of README.md and docs/**/*.md.

Rules (also stated in docs/index.md, "About the examples"):

* The blocks of one file run in order, in one shared namespace, in a fresh temporary
  working directory, with ``SCALEDET_CACHE`` pointed at a temporary directory and
  ``HF_HUB_OFFLINE=1``.
* A block whose opening fence is immediately preceded by ``<!-- requires: NAME -->``
  (an external framework such as ``detectron2``, or ``slow``) is only compiled. Set
  ``SCALEDET_DOCS_RUN=NAME[,NAME...]`` (or ``all``) to run those blocks too.
* ``SCALEDET_DOCS_CACHE=DIR`` reuses one prompt-embedding cache for every file and run
  (faster local reruns); by default each file starts with an empty cache.

Shell blocks are not executed, but every option of the CLI must appear in docs/cli.md and
every relative link between pages must resolve.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "examples" / "README.md",
        ROOT / "benchmarks" / "RESULTS.md",
        *DOCS.rglob("*.md"),
    ]
)

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)$")
_REQUIRES = re.compile(r"^\s*<!--\s*requires:\s*(?P<names>[^>]*?)\s*-->\s*$")
_PYTHON = {"python", "py", "python3"}
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the first code line
    language: str
    source: str
    requires: tuple[str, ...]


def extract_blocks(path: Path) -> list[Block]:
    """Every fenced code block of ``path`` with its language and ``requires:`` names."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        info = match["info"].strip()
        language = info.split()[0].lower() if info else ""
        marker = _REQUIRES.match(lines[i - 1]) if i > 0 else None
        requires = (
            tuple(n.strip() for n in marker["names"].split(",") if n.strip()) if marker else ()
        )
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = lines[j].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            j += 1
        blocks.append(Block(path, i + 2, language, "\n".join(body) + "\n", requires))
        i = j + 1
    return blocks


def _enabled() -> set[str]:
    return {n.strip() for n in os.environ.get("SCALEDET_DOCS_RUN", "").split(",") if n.strip()}


def _runs(block: Block) -> bool:
    enabled = _enabled()
    return not block.requires or "all" in enabled or set(block.requires) <= enabled


def _compile(block: Block) -> types.CodeType:
    name = str(block.path.relative_to(ROOT))
    # pad so that tracebacks show the line numbers of the Markdown file
    return compile("\n" * (block.line - 1) + block.source, name, "exec")


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture
def docs_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry: None
) -> Iterator[Path]:
    """A fresh working directory and an empty prompt cache for one file's blocks."""
    work = tmp_path / "work"
    work.mkdir()
    cache = os.environ.get("SCALEDET_DOCS_CACHE", "").strip() or str(tmp_path / "cache")
    monkeypatch.chdir(work)
    monkeypatch.setenv("SCALEDET_CACHE", cache)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # ultralytics (docs/integration/ultralytics.md): no settings file in the user's home,
    # no network probe
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    yield work


def test_doc_files_found() -> None:
    names = {_id(p) for p in DOC_FILES}
    for page in ("index", "concepts", "vocabularies", "label-space", "bundles", "cli", "faq"):
        assert f"docs/{page}.md" in names
    assert "README.md" in names


@pytest.mark.parametrize("path", DOC_FILES, ids=_id)
def test_python_blocks(path: Path, docs_env: Path) -> None:
    """Run (or, for ``requires:`` blocks, compile) every Python block of one file."""
    blocks = [b for b in extract_blocks(path) if b.language in _PYTHON]
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in blocks:
        code = _compile(block)
        if _runs(block):
            exec(code, namespace)  # running the docs is the point of this test


def _prose(path: Path) -> str:
    """A page without its fenced code blocks (links and headings in code do not count)."""
    text = path.read_text(encoding="utf-8")
    return re.sub(r"^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1", "", text, flags=re.S | re.M)


def _anchors(path: Path) -> set[str]:
    """GitHub-style heading anchors of a page (the slugs most Markdown tools generate)."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", _prose(path), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


@pytest.mark.parametrize("path", DOC_FILES, ids=_id)
def test_relative_links_resolve(path: Path) -> None:
    """Every relative link of a page points to an existing file and heading."""
    broken = []
    for match in _LINK.finditer(_prose(path)):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # external URL
        file, _, anchor = target.partition("#")
        page = (path.parent / file) if file else path
        if not page.exists() or (anchor and page.suffix == ".md" and anchor not in _anchors(page)):
            broken.append(target)
    assert not broken, f"{_id(path)}: broken links {broken}"


def test_index_links_every_page() -> None:
    """docs/index.md is the table of contents of every page."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {m["target"].split("#", 1)[0] for m in _LINK.finditer(index)}
    expected = {
        "concepts.md",
        "vocabularies.md",
        "label-space.md",
        "bundles.md",
        "embeddings.md",
        "loss.md",
        "cli.md",
        "faq.md",
        "architecture.md",
        "integration/torchvision.md",
        "integration/detectron2.md",
        "integration/mmdetection.md",
    }
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")} - {"index.md"}
    missing = (expected | pages) - linked
    assert not missing, f"docs/index.md does not link {sorted(missing)}"


def test_cli_page_lists_every_option() -> None:
    """docs/cli.md names every command and every option of the parser."""
    import argparse

    from scaledet_labels.cli import build_parser

    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for command, sub in subparsers.choices.items():
        if f"scaledet-labels {command}" not in page:
            missing.append(command)
        for action in sub._actions:
            missing += [
                f"{command} {opt}"
                for opt in action.option_strings
                if opt not in ("-h", "--help") and opt not in page
            ]
    assert not missing, f"docs/cli.md does not mention {missing}"


def test_extract_blocks_rules(tmp_path: Path) -> None:
    """The block parser: languages, requires markers (only on the line just before)."""
    page = tmp_path / "page.md"
    page.write_text(
        "text\n"
        "```python\nx = 1\n```\n"
        "<!-- requires: detectron2, slow -->\n"
        "```python\nimport detectron2\n```\n"
        "<!-- requires: slow -->\n\n"
        "```python\ny = x\n```\n"
        "````bash\necho '```'\n````\n"
        "1. item\n\n   ```python\n   z = 2\n   ```\n",
        encoding="utf-8",
    )
    blocks = extract_blocks(page)
    assert [(b.language, b.requires) for b in blocks] == [
        ("python", ()),
        ("python", ("detectron2", "slow")),
        ("python", ()),
        ("bash", ()),
        ("python", ()),
    ]
    assert blocks[0].line == 3 and blocks[0].source == "x = 1\n"
    assert blocks[3].source == "echo '```'\n"
    assert blocks[4].source == "z = 2\n"


def test_anchor_slugs(tmp_path: Path) -> None:
    """Heading anchors follow GitHub's slugs; headings inside code blocks do not count."""
    page = tmp_path / "page.md"
    page.write_text(
        "# `scaledet-labels list`\n## 3. S, normalised to [0, 1]\n## Notes\n## Notes\n"
        "```bash\n# not a heading\n```\n",
        encoding="utf-8",
    )
    assert _anchors(page) == {
        "scaledet-labels-list",
        "3-s-normalised-to-0-1",
        "notes",
        "notes-1",
    }
