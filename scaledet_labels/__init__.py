"""scaledet-labels: unified label spaces and label embeddings for multi-dataset detection.

Example:
    >>> import scaledet_labels as sl
    >>> space = sl.LabelSpace.union(["coco", "lvis", "objects365", "oid"])
    >>> len(space), space.offsets.tolist()
    (2249, [0, 80, 1283, 1648, 2249])
"""

from scaledet_labels._version import __version__
from scaledet_labels.build import build_label_space, load_precomputed
from scaledet_labels.bundle import BundleError, LabelSpaceBundle, load
from scaledet_labels.errors import (
    LabelSpaceError,
    ScaleDetError,
    UnknownVocabularyError,
    VocabularyError,
    VocabularyTypeError,
)
from scaledet_labels.export import EXPORT_FORMATS, export_bundle
from scaledet_labels.label_space import LabelSpace, UnifiedLabel
from scaledet_labels.names import clean_name
from scaledet_labels.registry import (
    available_vocabularies,
    load_vocabulary,
    register_vocabulary,
    unregister_vocabulary,
)
from scaledet_labels.similarity import SimilarityError, label_similarity
from scaledet_labels.vocabulary import Label, Vocabulary

__all__ = [
    "EXPORT_FORMATS",
    "BundleError",
    "Label",
    "LabelSpace",
    "LabelSpaceBundle",
    "LabelSpaceError",
    "ScaleDetError",
    "SimilarityError",
    "UnifiedLabel",
    "UnknownVocabularyError",
    "Vocabulary",
    "VocabularyError",
    "VocabularyTypeError",
    "__version__",
    "available_vocabularies",
    "build_label_space",
    "clean_name",
    "export_bundle",
    "label_similarity",
    "load",
    "load_precomputed",
    "load_vocabulary",
    "register_vocabulary",
    "unregister_vocabulary",
]
