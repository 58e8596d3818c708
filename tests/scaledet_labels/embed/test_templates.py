"""Template sets, custom templates and template files."""

from __future__ import annotations

import ast
import datetime
import importlib
import json
import logging
import re
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import scaledet_labels
from scaledet_labels.embed.templates import (
    DEFAULT_TEMPLATES,
    TEMPLATE_SETS,
    TemplateError,
    TemplateSet,
    article_for,
    get_templates,
    load_template_file,
    normalize_template,
    render_template,
)
from scaledet_labels.errors import ScaleDetError


def test_builtin_sets() -> None:
    counts = {name: len(get_templates(name)) for name in TEMPLATE_SETS}
    assert counts == {"a": 1, "photo": 1, "simple": 7, "openai": 80, "vild": 63}
    assert get_templates("a").templates == ("a {}",)
    assert get_templates("photo").render("dog") == ("a photo of a dog.",)
    assert get_templates(None) == get_templates(DEFAULT_TEMPLATES)


def _package_data(name: str) -> dict[str, Any]:
    data = resources.files("scaledet_labels").joinpath("data", "templates", f"{name}.json")
    loaded: dict[str, Any] = json.loads(data.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize(
    ("name", "attr"),
    [("simple", "SIMPLE_IMAGENET_TEMPLATES"), ("openai", "OPENAI_IMAGENET_TEMPLATES")],
)
def test_open_clip_sets_equal_open_clips_own(name: str, attr: str) -> None:
    # The shipped copies must render exactly what the installed open_clip renders: the
    # prompts, hence every cached embedding and bundle identity, stay the same.
    from open_clip import zero_shot_metadata as meta

    source = getattr(meta, attr)
    shipped = get_templates(name)
    assert shipped.templates == tuple(t("{}") for t in source)
    assert tuple(_package_data(name)["templates"]) == shipped.templates
    for label in ("dog", "apple", "traffic light", "a {weird} name"):
        assert shipped.render(label) == tuple(t(label) for t in source)
    assert all("{}" in t for t in shipped)


@pytest.mark.parametrize(
    ("name", "attr", "count"),
    [("simple", "SIMPLE_IMAGENET_TEMPLATES", 7), ("openai", "OPENAI_IMAGENET_TEMPLATES", 80)],
)
def test_open_clip_sets_carry_provenance(name: str, attr: str, count: int) -> None:
    data = _package_data(name)
    assert data["name"] == name and len(data["templates"]) == count
    assert "open_clip/zero_shot_metadata.py" in data["source"]
    assert "openai/CLIP" in data["source"]  # where open_clip took them from
    assert data["source_file"] == "open_clip/zero_shot_metadata.py"
    assert data["source_attribute"] == attr
    assert data["license"] == "MIT" and "Ilharco" in data["copyright"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", data["open_clip_version"])
    assert datetime.date.fromisoformat(data["generated"])
    assert data["generator"] == "scripts/generate_templates.py"
    assert data["description"]


def test_no_module_executes_files_by_path() -> None:
    # Grep the package's sources (as syntax trees, so that a loader *defining* the
    # exec_module protocol method, as _moved.py's alias finder does, is not a hit) for any
    # use of the machinery that executes a file by path.
    banned = {
        "exec_module",
        "spec_from_file_location",
        "module_from_spec",
        "SourceFileLoader",
        "run_path",
    }
    package = Path(scaledet_labels.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text, str(path))):
            used = (
                node.attr
                if isinstance(node, ast.Attribute)
                else node.id
                if isinstance(node, ast.Name)
                else node.name
                if isinstance(node, ast.alias)
                else None
            )
            if used in banned:
                offenders.append(f"{path.relative_to(package)}:{node.lineno}: {used}")
        assert "spec_from_file_location" not in text, path  # not even in a string
    assert not offenders


def test_listing_templates_imports_neither_open_clip_nor_torch() -> None:
    code = (
        "import sys; from scaledet_labels.embed.templates import get_templates; "
        "get_templates('openai'); print('open_clip' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False"


def test_builtin_sets_need_no_open_clip() -> None:
    # With open_clip and torch unimportable, every named set still loads and renders.
    code = textwrap.dedent(
        """
        import sys
        sys.modules["open_clip"] = None
        sys.modules["torch"] = None
        from scaledet_labels.embed.templates import TEMPLATE_SETS, get_templates
        print({name: len(get_templates(name).render("owl")) for name in TEMPLATE_SETS})
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'a': 1, 'photo': 1, 'simple': 7, 'openai': 80, 'vild': 63}"


NAMES = ("simple", "openai")
SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "generate_templates.py"


def test_generate_templates_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    monkeypatch.delitem(sys.modules, SCRIPT.stem, raising=False)
    script = importlib.import_module(SCRIPT.stem)
    lines: list[str] = []

    def run(*args: str) -> int:
        lines.clear()
        status: int = script.main([*args, "--dir", str(tmp_path)], out=lines.append)
        return status

    # The shipped files are up to date with the installed open_clip.
    package = Path(scaledet_labels.__file__).parent / "data" / "templates"
    shipped = {name: (package / f"{name}.json").read_text(encoding="utf-8") for name in NAMES}
    for name, text in shipped.items():
        (tmp_path / f"{name}.json").write_text(text, encoding="utf-8")
    assert run("--check") == 0
    assert run() == 0 and all("left as it is" in line for line in lines)  # no churn
    assert {name: (tmp_path / f"{name}.json").read_text() for name in NAMES} == shipped
    # A changed template or a missing file is caught; regenerating restores the templates.
    data = json.loads(shipped["openai"])
    data["templates"][3] = "a photo of a {} (edited)."
    (tmp_path / "openai.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "simple.json").unlink()
    assert run("--check") == 1
    assert "stale: simple, openai" in lines[-1]
    assert run() == 0 and run("--check") == 0
    for name, text in shipped.items():
        regenerated = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        assert regenerated["templates"] == json.loads(text)["templates"]


def test_vild_articles() -> None:
    vild = get_templates("vild")
    assert vild.render("apple")[0] == "There is an apple in the scene."
    assert vild.render("dog")[0] == "There is a dog in the scene."
    assert "{article}" in vild.templates[0]
    assert article_for("Owl") == "an" and article_for("unicorn") == "an" and article_for("x") == "a"


@pytest.mark.parametrize(
    ("template", "normal"),
    [
        ("a photo of a {}.", "a photo of a {}."),
        ("a photo of a {c}.", "a photo of a {}."),
        ("{article} {c}", "{article} {}"),
        ("{{literal}} {}", "{{literal}} {}"),
    ],
)
def test_normalize(template: str, normal: str) -> None:
    assert normalize_template(template) == normal


def test_literal_braces_render() -> None:
    assert render_template(normalize_template("{{x}} {c}"), "dog") == "{x} dog"
    assert render_template("{}", "a {weird} name") == "a {weird} name"


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("a photo", "no class-name placeholder"),
        ("{} and {}", "2 placeholders"),
        ("{c} {}", "2 placeholders"),
        ("a {name}", "unknown field {name}"),
        ("a {0}", "unknown field {0}"),
        ("a {:>10}", "format spec"),
        ("a {!r}", "format spec"),
        ("a { photo", "unbalanced braces"),
        ("a } photo {}", "unbalanced braces"),
        (3, "must be a string"),
    ],
)
def test_bad_templates(template: object, match: str) -> None:
    with pytest.raises(TemplateError, match=match) as info:
        get_templates([template])  # type: ignore[list-item]
    assert isinstance(info.value, ValueError) and isinstance(info.value, ScaleDetError)


def test_custom_lists() -> None:
    ts = get_templates(["a {}", "the {c}"])
    assert ts.name == "custom" and ts.templates == ("a {}", "the {}")
    assert get_templates("a {} in the wild").templates == ("a {} in the wild",)
    assert get_templates(ts) is ts
    with pytest.raises(TemplateError, match="empty"):
        get_templates([])


def test_duplicates_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ts = TemplateSet.from_strings(["a {}", "a {c}"])
    assert ts.templates == ("a {}",)
    assert "duplicate" in caplog.text


def test_unknown_set_lists_allowed() -> None:
    allowed = r"allowed: \['a', 'photo', 'simple', 'openai', 'vild'\]"
    with pytest.raises(TemplateError, match=allowed):
        get_templates("imagenet")
    with pytest.raises(TemplateError):
        get_templates(3)  # type: ignore[arg-type]


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_json_list(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.json", ["a {c}.", "the {}."])
    ts = get_templates(str(path))
    assert ts.name == "mine" and ts.templates == ("a {}.", "the {}.")
    assert get_templates(path) == ts  # a Path works too


def test_json_vild_shape(tmp_path: Path) -> None:
    path = write(tmp_path / "v.json", {"name": "myvild", "templates": ["{article} {}"]})
    ts = load_template_file(path)
    assert ts.name == "myvild" and ts.render("eel") == ("an eel",)


def test_json_clip_benchmark_shape(tmp_path: Path) -> None:
    sets = {"cifar10": ["a photo of a {c}."], "mnist": ['a photo of the number: "{c}".']}
    path = write(tmp_path / "cb.json", sets)
    with pytest.raises(TemplateError, match="pick one with"):
        get_templates(str(path))
    assert get_templates(f"{path}#mnist").render("7") == ('a photo of the number: "7".',)
    assert load_template_file(path, "cifar10").name == "cifar10"
    with pytest.raises(TemplateError, match="did you mean 'cifar10'"):
        get_templates(f"{path}#cifar1")
    single = write(tmp_path / "one.json", {"imagenet1k": ["itap of a {c}."]})
    assert get_templates(str(single)).templates == ("itap of a {}.",)


def test_json_errors(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        get_templates(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('[\n"a {}",\n', encoding="utf-8")
    with pytest.raises(TemplateError, match=r"bad.json:\d+: not valid JSON"):
        get_templates(str(bad))
    with pytest.raises(TemplateError, match="got a JSON int"):
        get_templates(str(write(tmp_path / "n.json", 3)))
    with pytest.raises(TemplateError, match="no list of templates"):
        get_templates(str(write(tmp_path / "d.json", {"a": 1})))
    with pytest.raises(TemplateError, match="template 1"):
        get_templates(str(write(tmp_path / "t.json", ["a {}", "no placeholder"])))
