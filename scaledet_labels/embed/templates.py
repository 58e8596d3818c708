"""Prompt templates: named sets, custom lists and JSON files, checked and rendered.

A template is a string with exactly one class-name placeholder, ``{}`` or ``{c}`` (the
CLIP_benchmark spelling), and optionally ``{article}``, which renders as ``a`` or ``an``
from the name's first letter (ViLD's convention). Templates are kept in a normal form with
``{}`` as the placeholder; that form is what results and cache manifests record.

Named sets:

========== ===== =====================================================================
name       count source
========== ===== =====================================================================
``a``      1     ``"a {}"``, Detic's default prompt
``photo``  1     ``"a photo of a {}."``
``simple`` 7     open_clip's ``SIMPLE_IMAGENET_TEMPLATES`` (default), package data
``openai`` 80    open_clip's ``OPENAI_IMAGENET_TEMPLATES``, package data
``vild``   63    ViLD's ensemble, package data
========== ===== =====================================================================

Package data sets live in ``scaledet_labels/data/templates/<name>.json``. ``simple`` and
``openai`` are open_clip's ImageNet templates (``open_clip/zero_shot_metadata.py``, MIT
license), which open_clip took from OpenAI's CLIP prompt-engineering notebook; their files
record that provenance, the open_clip version they were generated from and the date. The
library never reads open_clip's files, so an open_clip release cannot change the default
prompts, and listing or rendering templates imports neither open_clip nor torch. The
repository script ``scripts/generate_templates.py`` regenerates the two files from the
installed open_clip; its ``--check`` mode reports a difference.

Examples:
    >>> get_templates("photo").render("dog")
    ('a photo of a dog.',)
    >>> get_templates(["a {c} in the wild", "{article} {}"]).render("eagle")
    ('a eagle in the wild', 'an eagle')
"""

from __future__ import annotations

import json
import logging
import os
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal, overload

from scaledet_labels.errors import TemplateError

__all__ = [
    "DEFAULT_TEMPLATES",
    "TEMPLATE_SETS",
    "TemplateError",
    "TemplateSet",
    "TemplateSetName",
    "TemplatesArg",
    "article_for",
    "get_templates",
    "load_template_file",
    "normalize_template",
    "render_template",
]

logger = logging.getLogger(__name__)

TemplateSetName = Literal["a", "photo", "simple", "openai", "vild"]
TEMPLATE_SETS: tuple[str, ...] = ("a", "photo", "simple", "openai", "vild")
DEFAULT_TEMPLATES: TemplateSetName = "simple"

#: Sets shipped as package data, ``scaledet_labels/data/templates/<name>.json``.
_PACKAGE_DATA_SETS = ("simple", "openai", "vild")
_CLASS_FIELDS = ("", "c")
_ARTICLE_FIELD = "article"
_FORMATTER = string.Formatter()


def article_for(name: str) -> str:
    """The indefinite article ViLD puts before ``name``: ``an`` before a vowel letter.

    Examples:
        >>> article_for("apple"), article_for("Umbrella"), article_for("dog")
        ('an', 'an', 'a')
    """
    return "an" if name[:1].casefold() in ("a", "e", "i", "o", "u") else "a"


def normalize_template(template: object, where: str = "") -> str:
    """Check one template and return its normal form (``{}`` placeholder).

    Args:
        template: The template string.
        where: Where it came from, for error messages (``"file.json: template 3"``).

    Returns:
        The template with ``{c}`` spelled ``{}``; ``{article}`` and literal braces kept.

    Raises:
        TemplateError: Not a string, no placeholder, more than one, an unknown field
            (``{name}``, ``{0}``), a format spec or conversion, or unbalanced braces.

    Examples:
        >>> normalize_template("a photo of a {c}.")
        'a photo of a {}.'
    """
    place = f"{where}: " if where else ""
    if not isinstance(template, str):
        raise TemplateError(
            f"{place}a template must be a string, got {type(template).__name__} {template!r}"
        )
    try:
        pieces = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"{place}template {template!r} has unbalanced braces ({exc}); write a literal "
            "brace as '{{' or '}}'"
        ) from None
    out: list[str] = []
    n_class = 0
    for literal, field, spec, conversion in pieces:
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if spec or conversion:
            raise TemplateError(
                f"{place}template {template!r}: placeholders take no format spec or "
                f"conversion ({{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}})"
            )
        if field in _CLASS_FIELDS:
            n_class += 1
            out.append("{}")
        elif field == _ARTICLE_FIELD:
            out.append("{article}")
        else:
            raise TemplateError(
                f"{place}template {template!r} has an unknown field {{{field}}}; allowed: "
                "'{}' or '{c}' for the class name (exactly once) and '{article}'"
            )
    if n_class != 1:
        problem = "no class-name placeholder" if n_class == 0 else f"{n_class} placeholders"
        raise TemplateError(
            f"{place}template {template!r} has {problem}; it needs exactly one '{{}}' or "
            "'{c}' where the class name goes"
        )
    return "".join(out)


def render_template(template: str, name: str) -> str:
    """Render one template (normal form) for one class name.

    Examples:
        >>> render_template("{article} {}", "owl")
        'an owl'
    """
    return template.format(name, article=article_for(name))


@dataclass(frozen=True)
class TemplateSet(Sequence[str]):
    """An ordered, checked collection of templates.

    Attributes:
        name: The set's name (``"simple"``, a file stem, ``"custom"``).
        templates: Templates in normal form (``{}`` placeholder), duplicates removed.
        source: Where they came from (``"Detic"``, a JSON file's path, ``"<list>"``).

    Examples:
        >>> ts = TemplateSet.from_strings(["a {}", "the {c}"], name="mine")
        >>> ts.templates, ts.render("cat")
        (('a {}', 'the {}'), ('a cat', 'the cat'))
    """

    name: str
    templates: tuple[str, ...]
    source: str = ""

    @classmethod
    def from_strings(
        cls, templates: Sequence[object], *, name: str = "custom", source: str = "<list>"
    ) -> TemplateSet:
        """Check and normalize a list of template strings.

        Raises:
            TemplateError: The list is empty or not a list, or a template is bad.
        """
        if isinstance(templates, (str, bytes)) or not isinstance(templates, Sequence):
            raise TemplateError(
                f"{source}: templates must be a list of strings, got {type(templates).__name__}"
            )
        if len(templates) == 0:
            raise TemplateError(f"{source}: the template list is empty")
        normal: dict[str, None] = {}
        for i, template in enumerate(templates):
            key = normalize_template(template, f"{source}: template {i}")
            if key in normal:
                logger.warning("%s: duplicate template %r dropped", source, template)
            normal.setdefault(key, None)
        return cls(name=name, templates=tuple(normal), source=source)

    def render(self, name: str) -> tuple[str, ...]:
        """All prompts for one class name, in template order."""
        return tuple(render_template(t, name) for t in self.templates)

    def __len__(self) -> int:
        return len(self.templates)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self.templates[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.templates)


# -- built-in sets ---------------------------------------------------------------------------
#: What a ``templates=`` argument accepts: a set name, a JSON file, a list, a set or ``None``.
TemplatesArg = str | os.PathLike[str] | Sequence[str] | TemplateSet | None


@cache
def _builtin(name: str) -> TemplateSet:
    if name == "a":
        return TemplateSet.from_strings(["a {}"], name="a", source="Detic")
    if name == "photo":
        return TemplateSet.from_strings(["a photo of a {}."], name="photo", source="CLIP")
    if name in _PACKAGE_DATA_SETS:
        data = resources.files("scaledet_labels").joinpath("data", "templates", f"{name}.json")
        with resources.as_file(data) as path:
            return load_template_file(path, name=name)
    raise TemplateError(  # pragma: no cover - callers check the name first
        f"unknown template set {name!r}; allowed: {list(TEMPLATE_SETS)}"
    )


# -- files -----------------------------------------------------------------------------------
def load_template_file(
    path: str | os.PathLike[str], key: str | None = None, *, name: str | None = None
) -> TemplateSet:
    """Read templates from a JSON file.

    Accepted shapes: a list of strings; ``{"templates": [...]}`` (with optional ``"name"``,
    as in ``data/templates/vild.json``); or ``{set_name: [...], ...}`` as CLIP_benchmark
    ships them, where ``key`` picks the set (optional when there is only one).

    Args:
        path: The JSON file.
        key: Which set of a ``{set_name: [...]}`` file to use.
        name: Name for the resulting set (default: the key, the file's ``"name"`` or stem).

    Raises:
        TemplateError: Missing file, bad JSON, unknown key, wrong shape or bad templates.

    Examples:
        >>> import json, tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "t.json")
        >>> json.dump({"cifar10": ["a photo of a {c}."]}, open(f, "w"))
        >>> load_template_file(f).templates
        ('a photo of a {}.',)
    """
    file = Path(path)
    where = str(file)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"template file {where} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"template file {where} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"{where}:{exc.lineno}: not valid JSON ({exc.msg}); expected a list of templates, "
            '{"templates": [...]} or {set_name: [...]}'
        ) from None
    if isinstance(data, list):
        if key is not None:
            raise TemplateError(f"{where}: holds one list of templates, key {key!r} not usable")
        return TemplateSet.from_strings(data, name=name or file.stem, source=where)
    if not isinstance(data, Mapping):
        raise TemplateError(
            f'{where}: expected a list of templates, {{"templates": [...]}} or '
            f"{{set_name: [...]}}, got a JSON {type(data).__name__}"
        )
    if key is None and isinstance(data.get("templates"), list):
        set_name = name or str(data.get("name") or file.stem)
        return TemplateSet.from_strings(data["templates"], name=set_name, source=where)
    sets = {k: v for k, v in data.items() if isinstance(v, list)}
    if not sets:
        raise TemplateError(f"{where}: no list of templates found (keys: {sorted(data)})")
    if key is None:
        if len(sets) > 1:
            raise TemplateError(
                f"{where}: holds {len(sets)} template sets ({', '.join(sorted(sets)[:8])}"
                f"{', ...' if len(sets) > 8 else ''}); pick one with '{where}#KEY' or key=..."
            )
        key = next(iter(sets))
    if key not in sets:
        import difflib

        close = difflib.get_close_matches(key, list(sets), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise TemplateError(f"{where}: no template set {key!r}{hint}")
    return TemplateSet.from_strings(sets[key], name=name or key, source=f"{where}#{key}")


def _looks_like_file(spec: str) -> bool:
    base = spec.split("#", 1)[0]
    return base.lower().endswith(".json") or os.path.sep in base or os.path.isfile(base)


def get_templates(templates: TemplatesArg = DEFAULT_TEMPLATES) -> TemplateSet:
    """Resolve a ``templates=`` argument to a :class:`TemplateSet`.

    Args:
        templates: A set name (one of :data:`TEMPLATE_SETS`); a JSON file path, optionally
            ``"file.json#KEY"`` to pick a set from a CLIP_benchmark-style file; a single
            template string containing ``{}``; a list of template strings; a
            :class:`TemplateSet`; or ``None`` for :data:`DEFAULT_TEMPLATES`.

    Raises:
        TemplateError: Unknown name, unreadable file or a bad template.

    Examples:
        >>> len(get_templates("vild")), get_templates("a {} on a table").templates
        (63, ('a {} on a table',))
    """
    if templates is None:
        return _builtin(DEFAULT_TEMPLATES)
    if isinstance(templates, TemplateSet):
        return templates
    if isinstance(templates, os.PathLike):
        return load_template_file(templates)
    if isinstance(templates, str):
        if templates in TEMPLATE_SETS:
            return _builtin(templates)
        if "{" in templates and not _looks_like_file(templates):
            return TemplateSet.from_strings([templates], name="custom", source="<string>")
        if _looks_like_file(templates):
            base, _, key = templates.partition("#")
            return load_template_file(base, key or None)
        raise TemplateError(
            f"unknown template set {templates!r}; allowed: {list(TEMPLATE_SETS)}, a JSON file "
            "path, a template string with '{}', or a list of template strings"
        )
    if isinstance(templates, Sequence):
        return TemplateSet.from_strings(templates)
    raise TemplateError(
        f"templates must be a set name, a JSON path or a list of strings, got "
        f"{type(templates).__name__}"
    )
