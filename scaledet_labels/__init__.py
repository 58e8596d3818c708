"""scaledet-labels: unified label spaces and label embeddings for multi-dataset detection.

Examples:
    >>> import scaledet_labels as sl
    >>> space = sl.LabelSpace.union(["coco", "lvis", "objects365", "oid"])
    >>> len(space), space.offsets.tolist()
    (2249, [0, 80, 1283, 1648, 2249])
"""

from scaledet_labels import _moved
from scaledet_labels._version import __version__
from scaledet_labels.bundle.build import build_label_space, load_precomputed
from scaledet_labels.bundle.container import LabelSpaceBundle, load, load_bundle
from scaledet_labels.bundle.export import EXPORT_FORMATS, export_bundle
from scaledet_labels.bundle.similarity import label_similarity
from scaledet_labels.embed.cache import cache_info, clear_cache, default_cache_dir
from scaledet_labels.embed.embeddings import RECIPE, EncodeStats, LabelEmbeddings, embed_labels
from scaledet_labels.embed.encoders import (
    CallableEncoder,
    Encoder,
    HFTextEncoder,
    MiniLMEncoder,
    OpenCLIPEncoder,
    load_encoder,
)
from scaledet_labels.embed.prompts import build_prompts
from scaledet_labels.embed.templates import (
    DEFAULT_TEMPLATES,
    TEMPLATE_SETS,
    TemplateSet,
    get_templates,
)
from scaledet_labels.errors import (
    BundleError,
    CacheError,
    EncoderError,
    EncoderSpecError,
    LabelSpaceError,
    ModelNotAvailableError,
    PromptError,
    PromptTooLongError,
    ReportDependencyError,
    ScaleDetError,
    SimilarityError,
    TemplateError,
    UnknownVocabularyError,
    VocabularyError,
    VocabularyTypeError,
)
from scaledet_labels.vocab.label_space import LabelSpace, UnifiedLabel
from scaledet_labels.vocab.names import clean_name
from scaledet_labels.vocab.registry import (
    available_vocabularies,
    load_vocabulary,
    register_vocabulary,
    unregister_vocabulary,
)
from scaledet_labels.vocab.vocabulary import Label, Vocabulary

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
    "ReportDependencyError",
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
    "load_bundle",
    "load_encoder",
    "load_precomputed",
    "load_vocabulary",
    "register_vocabulary",
    "unregister_vocabulary",
]

_moved.install()  # old module paths (scaledet_labels.cache, ...) keep working, with a warning
