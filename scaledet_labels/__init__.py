"""scaledet-labels: unified label spaces and label embeddings for multi-dataset detection.

Example:
    >>> import scaledet_labels as sl
    >>> space = sl.LabelSpace.union(["coco", "lvis", "objects365", "oid"])
    >>> len(space), space.offsets.tolist()
    (2249, [0, 80, 1283, 1648, 2249])
"""

from scaledet_labels._version import __version__
from scaledet_labels.errors import (
    LabelSpaceError,
    ScaleDetError,
    UnknownVocabularyError,
    VocabularyError,
    VocabularyTypeError,
)
from scaledet_labels.label_space import LabelSpace, UnifiedLabel
from scaledet_labels.names import clean_name
from scaledet_labels.registry import (
    available_vocabularies,
    load_vocabulary,
    register_vocabulary,
    unregister_vocabulary,
)
from scaledet_labels.vocabulary import Label, Vocabulary

__all__ = [
    "Label",
    "LabelSpace",
    "LabelSpaceError",
    "ScaleDetError",
    "UnifiedLabel",
    "UnknownVocabularyError",
    "Vocabulary",
    "VocabularyError",
    "VocabularyTypeError",
    "__version__",
    "available_vocabularies",
    "clean_name",
    "load_vocabulary",
    "register_vocabulary",
    "unregister_vocabulary",
]
