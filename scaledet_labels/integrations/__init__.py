"""Putting bundles into the detectors people run.

==============================================  ==============================================
module                                          what it gives
==============================================  ==============================================
:mod:`scaledet_labels.integrations.recipes`     named build presets that reproduce the text
                                                embeddings a consumer was trained with
                                                (``detic``, ``yoloworld``, ``yoloe``,
                                                ``scaledet``)
:mod:`scaledet_labels.integrations.ultralytics` ``set_vocabulary(model, bundle)``: a bundle's
                                                embeddings and names in a YOLO-World or YOLOE
                                                model
==============================================  ==============================================

This layer sits above :mod:`scaledet_labels.bundle` and is not imported by
``import scaledet_labels``; the detector frameworks themselves (ultralytics, torch) are
imported only inside the functions that need them.

Examples:
    >>> from scaledet_labels.integrations import RECIPES
    >>> RECIPES["detic"].encoder, RECIPES["detic"].templates
    ('openclip:ViT-B-32/openai', 'a')
"""

from scaledet_labels.integrations.recipes import RECIPES, Recipe, build_with_recipe, get_recipe
from scaledet_labels.integrations.ultralytics import set_embeddings, set_vocabulary

__all__ = [
    "RECIPES",
    "Recipe",
    "build_with_recipe",
    "get_recipe",
    "set_embeddings",
    "set_vocabulary",
]
