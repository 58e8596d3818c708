"""Layer 3, bundles: similarity, building, the bundle container and its files, queries,
exports and the HTML report. Imports only :mod:`scaledet_labels.embed`,
:mod:`scaledet_labels.vocab` and the root helpers.

Examples:
    >>> from scaledet_labels.bundle import LabelSpaceBundle, load_bundle
"""

from scaledet_labels.bundle.container import LabelSpaceBundle, load, load_bundle
from scaledet_labels.bundle.io import BUNDLE_SCHEMA
from scaledet_labels.errors import BundleError

__all__ = ["BUNDLE_SCHEMA", "BundleError", "LabelSpaceBundle", "load", "load_bundle"]
