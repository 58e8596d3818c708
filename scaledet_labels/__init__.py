"""scaledet-labels: unified label spaces and label embeddings for multi-dataset detection.

Examples:
    >>> import scaledet_labels as sl
    >>> space = sl.LabelSpace.union(["coco", "lvis", "objects365", "oid"])
    >>> len(space), space.offsets.tolist()
    (2249, [0, 80, 1283, 1648, 2249])
"""

from scaledet_labels._version import __version__
from scaledet_labels.build import build_label_space, load_precomputed
from scaledet_labels.bundle import BundleError, LabelSpaceBundle, load
from scaledet_labels.cache import CacheError, cache_info, clear_cache, default_cache_dir
from scaledet_labels.embeddings import RECIPE, EncodeStats, LabelEmbeddings, embed_labels
from scaledet_labels.encoders import (
    CallableEncoder,
    Encoder,
    EncoderError,
    EncoderSpecError,
    HFTextEncoder,
    MiniLMEncoder,
    ModelNotAvailableError,
    OpenCLIPEncoder,
    load_encoder,
)
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
from scaledet_labels.prompts import PromptError, PromptTooLongError, build_prompts
from scaledet_labels.registry import (
    available_vocabularies,
    load_vocabulary,
    register_vocabulary,
    unregister_vocabulary,
)
from scaledet_labels.similarity import SimilarityError, label_similarity
from scaledet_labels.templates import (
    DEFAULT_TEMPLATES,
    TEMPLATE_SETS,
    TemplateError,
    TemplateSet,
    get_templates,
)
from scaledet_labels.vocabulary import Label, Vocabulary

__all__ = [
    "DEFAULT_TEMPLATES",
    "EXPORT_FORMATS",
    "RECIPE",
    "TEMPLATE_SETS",
    "BundleError",
    "CacheError",
    "CallableEncoder",
    "EncodeStats",
    "Encoder",
    "EncoderError",
    "EncoderSpecError",
    "HFTextEncoder",
    "Label",
    "LabelEmbeddings",
    "LabelSpace",
    "LabelSpaceBundle",
    "LabelSpaceError",
    "MiniLMEncoder",
    "ModelNotAvailableError",
    "OpenCLIPEncoder",
    "PromptError",
    "PromptTooLongError",
    "ScaleDetError",
    "SimilarityError",
    "TemplateError",
    "TemplateSet",
    "UnifiedLabel",
    "UnknownVocabularyError",
    "Vocabulary",
    "VocabularyError",
    "VocabularyTypeError",
    "__version__",
    "available_vocabularies",
    "build_label_space",
    "build_prompts",
    "cache_info",
    "clean_name",
    "clear_cache",
    "default_cache_dir",
    "embed_labels",
    "export_bundle",
    "get_templates",
    "label_similarity",
    "load",
    "load_encoder",
    "load_precomputed",
    "load_vocabulary",
    "register_vocabulary",
    "unregister_vocabulary",
]
