"""Recipes for parity: each names the encoder, prompts and synonym setting of a consumer, and
builds with them (a stand-in encoder here: CLIP weights cannot be fetched offline)."""

from __future__ import annotations

import shlex

import numpy as np
import pytest

from scaledet_labels.bundle.export import CONSUMERS
from scaledet_labels.cli.parser import build_parser
from scaledet_labels.errors import BundleError
from scaledet_labels.integrations import RECIPES, build_with_recipe, get_recipe


def _encoder(texts: list[str]) -> np.ndarray:
    return np.random.default_rng(len(texts)).normal(size=(len(texts), 512))


def test_the_named_recipes() -> None:
    assert set(RECIPES) == {"detic", "yoloworld", "yoloe", "scaledet"}
    assert {r.dim for r in RECIPES.values()} == {512}
    detic, world = RECIPES["detic"], RECIPES["yoloworld"]
    assert (detic.encoder, detic.templates, detic.synonyms) == (
        "openclip:ViT-B-32/openai",
        "a",
        False,
    )
    assert (world.encoder, world.templates, world.synonyms) == (
        "openclip:ViT-B-32/openai",
        "{}",
        False,
    )
    assert RECIPES["yoloe"].encoder == "openclip:MobileCLIP-B/datacompdr_lt"
    assert RECIPES["scaledet"].synonyms and RECIPES["scaledet"].templates == "simple"
    for fmt in ("detic", "yoloworld", "yoloe"):  # one source of truth with the export check
        assert RECIPES[fmt].encoder == CONSUMERS[fmt].encoder_spec
        assert RECIPES[fmt].cli() == CONSUMERS[fmt].build_flags()


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_cli_flags_parse_to_the_same_options(name: str) -> None:
    recipe = RECIPES[name]
    args = build_parser().parse_args(["build", "coco", *shlex.split(recipe.cli())])
    assert args.encoder == recipe.encoder and args.templates == recipe.templates
    assert args.no_synonyms == (not recipe.synonyms)


@pytest.mark.parametrize(
    ("name", "templates", "synonyms"),
    [("detic", ["a {}"], False), ("yoloworld", ["{}"], False), ("scaledet", None, True)],
)
def test_build_with_recipe(name: str, templates: list[str] | None, synonyms: bool) -> None:
    bundle = build_with_recipe(["lvis"], name, encoder=_encoder, cache=False)
    manifest = bundle.manifest
    assert manifest["synonyms"] is synonyms
    if templates is not None:
        assert manifest["templates"] == templates
    else:
        assert len(manifest["templates"]) == 7  # the default 'simple' ensemble
    assert bundle.dim == 512


def test_unknown_recipe() -> None:
    with pytest.raises(BundleError, match=r"unknown recipe 'detik'; recipes: \['detic'"):
        get_recipe("detik")
    assert get_recipe(RECIPES["detic"]) is RECIPES["detic"]
