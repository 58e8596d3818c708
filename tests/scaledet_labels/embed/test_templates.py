"""Template sets, custom templates and template files."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


def test_open_clip_sets_are_open_clips_own() -> None:
    from open_clip import zero_shot_metadata as meta

    for name, source in (
        ("simple", meta.SIMPLE_IMAGENET_TEMPLATES),
        ("openai", meta.OPENAI_IMAGENET_TEMPLATES),
    ):
        assert get_templates(name).render("dog") == tuple(t("dog") for t in source)
        assert all("{}" in t for t in get_templates(name))


def test_open_clip_sets_do_not_import_open_clip_or_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        from scaledet_labels.embed.templates import get_templates
        assert len(get_templates("openai")) == 80 and len(get_templates("simple")) == 7
        heavy = [m for m in ("torch", "open_clip") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


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
