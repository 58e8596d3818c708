"""Recipes for parity: build presets that reproduce what a consumer was trained with.

A detector trained on one text encoder's label embeddings only understands embeddings from
that encoder, made with the same prompts. Each recipe names the encoder spec, templates and
synonym setting of :func:`~scaledet_labels.build_label_space` that give them, for the
released models of a consumer:

=============  =================================  ==========  =========  ==================
recipe         encoder                            templates   synonyms   reproduces
=============  =================================  ==========  =========  ==================
``detic``      ``openclip:ViT-B-32/openai``       ``a {}``    off        Detic's shipped
                                                                         ``*_clip_a+cname``
                                                                         files
``yoloworld``  ``openclip:ViT-B-32/openai``       ``{}``      off        ultralytics
                                                                         YOLO-World's
                                                                         ``set_classes``
``yoloe``      ``openclip:MobileCLIP-B/``         ``{}``      off        YOLOE-v8/11's text
               ``datacompdr_lt``                                         prompts
``scaledet``   ``openclip:ViT-B-32/openai``       ``simple``  on         a ScaleDet-style
                                                  (7)                    ensemble, 512-d
=============  =================================  ==========  =========  ==================

All four are 512-d. The encoder weights must be on disk (or downloadable): these machines
cannot fetch them, so parity is documented, not tested here. With your own copy of the
weights, override the encoder and keep the rest: ``build_with_recipe(["coco"], "detic",
encoder="openclip:ViT-B-32@/path/to/openai-vit-b-32.pt")``.

Examples:
    >>> get_recipe("yoloworld").cli()
    "--encoder openclip:ViT-B-32/openai --templates '{}' --no-synonyms"
    >>> get_recipe("detic").build_kwargs()
    {'encoder': 'openclip:ViT-B-32/openai', 'templates': 'a', 'synonyms': False}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scaledet_labels.bundle.build import build_label_space
from scaledet_labels.bundle.export import CONSUMERS
from scaledet_labels.embed.templates import DEFAULT_TEMPLATES
from scaledet_labels.errors import BundleError

if TYPE_CHECKING:
    from scaledet_labels.bundle.container import LabelSpaceBundle
    from scaledet_labels.vocab.label_space import LabelSpace
    from scaledet_labels.vocab.registry import VocabularySource

__all__ = ["RECIPES", "Recipe", "build_with_recipe", "get_recipe"]


@dataclass(frozen=True)
class Recipe:
    """A named set of build options that reproduces a consumer's label embeddings.

    Attributes:
        name: The recipe's name (a key of :data:`RECIPES`).
        encoder: The encoder spec.
        templates: The ``templates=`` argument (a set name or one template string).
        synonyms: Whether synonyms are averaged in.
        dim: The embedding width it gives.
        reproduces: What it reproduces, in words.
    """

    name: str
    encoder: str
    templates: str
    synonyms: bool
    dim: int
    reproduces: str

    def build_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~scaledet_labels.build_label_space`."""
        return {"encoder": self.encoder, "templates": self.templates, "synonyms": self.synonyms}

    def cli(self) -> str:
        """The ``scaledet-labels build`` options."""
        flags = f"--encoder {self.encoder} --templates '{self.templates}'"
        return flags if self.synonyms else flags + " --no-synonyms"


def _from_consumer(format: str, reproduces: str) -> Recipe:
    consumer = CONSUMERS[format]
    return Recipe(
        name=format,
        encoder=consumer.encoder_spec,
        templates=consumer.templates,
        synonyms=consumer.synonyms,
        dim=consumer.dim,
        reproduces=reproduces,
    )


#: The named recipes (see the module table).
RECIPES: Mapping[str, Recipe] = {
    "detic": _from_consumer(
        "detic",
        "Detic's released classifiers (datasets/metadata/*_clip_a+cname.npy): OpenAI CLIP "
        "ViT-B/32, prompt 'a {}' on each class name, no synonyms",
    ),
    "yoloworld": _from_consumer(
        "yoloworld",
        "ultralytics YOLO-World's set_classes: OpenAI CLIP ViT-B/32 (clip:ViT-B/32) on the "
        "bare class names",
    ),
    "yoloe": _from_consumer(
        "yoloe",
        "ultralytics YOLOE-v8/11's text prompts: MobileCLIP-B (LT) (mobileclip:blt) on the "
        "bare class names, before the model's own text head; YOLOE-26 uses MobileCLIP2-B "
        "(encoder='openclip:MobileCLIP2-B/dfndr2b')",
    ),
    "scaledet": Recipe(
        name="scaledet",
        encoder="openclip:ViT-B-32/openai",
        templates=DEFAULT_TEMPLATES,
        synonyms=True,
        dim=512,
        reproduces="a ScaleDet-style prompt ensemble: this library's default templates "
        "(open_clip's 7 'simple' ImageNet templates) with synonyms, on OpenAI CLIP ViT-B/32, "
        "the width Detic's and YOLO-World's checkpoints use",
    ),
}


def get_recipe(name: str | Recipe) -> Recipe:
    """The recipe called ``name`` (a :class:`Recipe` is returned as is).

    Raises:
        BundleError: An unknown name; the message lists the recipes.
    """
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise BundleError(f"unknown recipe {name!r}; recipes: {sorted(RECIPES)}")
    return RECIPES[name]


def build_with_recipe(
    vocabularies: LabelSpace | Sequence[VocabularySource],
    recipe: str | Recipe,
    **options: Any,
) -> LabelSpaceBundle:
    """:func:`~scaledet_labels.build_label_space` with a recipe's encoder and prompts.

    Args:
        vocabularies: As for :func:`~scaledet_labels.build_label_space`.
        recipe: A recipe name (``detic``, ``yoloworld``, ``yoloe``, ``scaledet``) or a
            :class:`Recipe`.
        **options: Any other :func:`~scaledet_labels.build_label_space` option; these
            override the recipe's (``encoder="openclip:ViT-B-32@/path/to/weights.pt"``
            for a local copy of the same weights).

    Raises:
        BundleError: An unknown recipe name.

    Examples:
        >>> bundle = build_with_recipe(["coco"], "detic")  # doctest: +SKIP
        >>> bundle.dim  # doctest: +SKIP
        512
    """
    return build_label_space(vocabularies, **(get_recipe(recipe).build_kwargs() | options))
